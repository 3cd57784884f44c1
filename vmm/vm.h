// One virtual machine: guest memory, buses, devices, vCPU threads and the
// power state machine. Built from a Config; run() returns qvm's exit code.
//
// The whole VM, as one recipe (main.cc: ParseArgs, then these):
//   build(), once:
//     1. plan()              refuse what is not supported; the VM plan
//                            (vm_plan.h) and the machine plan (Machine::plan):
//                            every `set` variable and policy, read once
//     2. build_memory()      guest RAM and ROM
//     3. build_devices()     plug-ins: load, configure, interrupts, resources
//     4. describe_devices()  their ACPI / FDT parts
//     5. load_guest()        boot step a of the first boot
//   run(), every boot (the first, and each reset in place, alike):
//     a. load_guest()        Machine::load: images and boot tables into memory
//     b. start_backend()     Machine::create_backend, memory mapped
//     c. reset_devices()     notifiers replayed, QVM_CTRL_RESET (first boot:
//                            then QVM_CTRL_GUEST_CONFIGURED)
//     d. start_vcpus()       vCPUs created and prepared (Machine::prepare_vcpu),
//                            Machine::finalize, then the vCPU threads
//     then the event loop until the guest resets, powers off or qvm stops.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "vmm/arch.h"
#include "vmm/backend.h"
#include "vmm/bus.h"
#include "vmm/config.h"
#include "vmm/control.h"
#include "vmm/dump.h"
#include "vmm/event_loop.h"
#include "vmm/exit.h"
#include "vmm/exit_codes.h"
#include "vmm/exit_trace.h"
#include "vmm/gdb_server.h"
#include "vmm/guest_memory.h"
#include "vmm/log.h"
#include "vmm/passthrough.h"
#include "vmm/privileges.h"
#include "vmm/spawner.h"
#include "vmm/vdev_host.h"
#include "vmm/vm_plan.h"

namespace qvm {

class GdbLink;

class Vm : public VdevHost, public ControlTarget {
 public:
  // `loader` (may be null: one with the default search path) is the one
  // the configuration was parsed with, whose factories told the parser
  // how their options are written.
  Vm(Config cfg, std::unique_ptr<Machine> machine,
     std::unique_ptr<VdevLoader> loader = nullptr);
  ~Vm() override;

  // Build steps 1-5 (above). InvalidArgument statuses are configuration
  // errors (exit 65), anything else is fatal (exit 64).
  absl::Status build();
  void print(FILE* out) const;  // dryrun
  int run();

  // VdevHost
  GuestMemory& memory() override { return mem_; }
  Bus* bus(uint32_t space) override;
  qvm_vdev* find_device(const std::string& name) override;
  qvm_vdev* find_controller(const std::string& name) override;
  EventLoop& events() override { return loop_; }
  int signal_msi(uint64_t address, uint32_t data) override;
  int set_msi_route(unsigned gsi, uint64_t address, uint32_t data,
                    bool masked) override;
  int cpu_extint(qvm_vdev* pic, bool level) override;
  void request_power(int what) override;
  int request_dump(int then) override;
  void request_exit(int code) override;
  bool guest_running() const override { return running_.load(); }
  const std::string& system_name() const override {
    std::call_once(system_name_once_, [this] { system_name_ = node_name(); });
    return system_name_;
  }
  int open_hostdev(qvm_vdev* dev, const char* spec, int for_write) override;
  const char* runtime_dir() override;
  bool filter_threads() const override;
  std::vector<qvm_vdev*> all_devices() override;
  bool irqchip_supported(unsigned kind) const override;
  const Config* config() const override { return &cfg_; }
  int irqchip_line(unsigned intid, bool level) override;
  // Notifications without exits (vmm/vdev_notify.cc keeps the registrations).
  int notifiers_supported(bool irq) override;
  int ioeventfd(int fd, uint64_t addr, unsigned len, bool io, bool match,
                uint64_t datamatch, bool assign) override;
  int irqfd(int fd, unsigned gsi, bool assign) override;
  // Host memory slots (vmm/vdev_memmap.cc keeps the mappings).
  int map_host_memory(uint64_t gpa, void* host, uint64_t size, bool writable,
                      bool assign) override;
  bool user_irqchip_supported(unsigned kind) const override;
  int vcpu_irq(unsigned vcpu, unsigned input, bool level) override;

  // ControlTarget (/dev/qvm/<system>; loop thread)
  std::string env_json() override;
  std::string status(bool json) override;
  int pause() override;
  int resume() override;
  int reset() override;
  int power_button() override;
  int power_cut() override;
  int dump(std::string* out) override;
  int gdb(const std::string& endpoint, std::string* out) override;  // vm_gdb.cc
  StatsSnapshot stats() override;
  std::vector<std::string> device_names() override;
  bool has_device(const std::string& name) override;
  int vdev_devctl(const std::string& dev, uint32_t cmd, std::string_view in,
                  std::string* out) override;
  bool has_console(const std::string& dev) override;
  int console_input(const std::string& dev, std::string_view data,
                    uint32_t* written) override;

  // The name below the resmgr directory: `system NAME`, or qvm-PID when the
  // configuration names none (so that unnamed VMs never collide).
  std::string node_name() const;
  mutable std::once_flag system_name_once_;
  mutable std::string system_name_;

  const std::vector<std::unique_ptr<qvm_vdev>>& devices() const {
    return devs_;
  }

 private:
  friend class GdbLink;  // vmm/vm_gdb.cc: the debugger's all-stop target
  enum class Request { None = 0, Reset = 1, PowerOff = 2, Exit = 3 };
  // post(Request::Reset, code): who asked. The guest's resets count towards
  // the reset-loop limit; a reset asked for through /dev/qvm does not.
  static constexpr int kResetByGuest = 0, kResetByControl = 1;
  absl::Status plan();
  absl::Status build_memory();
  absl::Status build_devices();
  absl::Status describe_devices();
  absl::Status load_guest();
  absl::Status start_backend(bool first);
  void reset_devices(bool first);
  absl::Status refuse_unsupported() const;
  void note_accepted() const;
  absl::Status check_reserved() const;
  std::vector<DeviceInfo> device_info() const;
  absl::Status start_vcpus();
  void stop_vcpus();
  void vcpu_main(unsigned index);
  void post(Request r, int code);
  void on_wake();
  void on_signal(int sig);
  void status_report();
  absl::Status attach_control();
  absl::StatusOr<std::string> resmgr_dir() const;  // the plan's resmgr-path and the defaults
  std::once_flag runtime_dir_once_;
  std::string runtime_dir_;
  void press_power_button(const char* why);
  void build_stat_regions();
  void drain_stream(size_t i);
  void drain_streams();
  void on_stdin();
  std::string state_name();
  unsigned ncpus() const;

  Config cfg_;
  VmPlan plan_;  // step 1: what the core reads of the configuration
  // The system-call filters (vmm/syscall_filter.h) to install: decided once
  // in run() from `set seccomp` and the build.
  bool filter_vcpus_ = false;
  bool filter_main_ = false;
  void plan_syscall_filters();
  // Runs `dump "|CMD"`'s command (vmm/spawner.h): started in build() while
  // qvm has one thread, so that the main loop keeps its filter.
  Spawner spawner_;
  std::optional<Credentials> user_;  // `user`, resolved by plan()
  absl::Status become_user();
  std::unique_ptr<Machine> machine_;
  GuestMemory mem_;
  Bus io_{"io", 0x10000};
  Bus mmio_{"mmio", 0};
  EventLoop loop_;
  std::unique_ptr<VdevLoader> loader_;
  std::vector<std::unique_ptr<qvm_vdev>> devs_;
  Passthrough pass_;  // `pass loc mem` / `pass loc io` (on the buses below devs_)

  std::mutex backend_mu_;  // guards backend_ pointer changes vs. users
  std::unique_ptr<VmBackend> backend_;
  struct Vcpu {
    std::unique_ptr<VcpuBackend> be;
    std::thread thread;
    ExitStats stats;
    std::atomic<pid_t> tid{0};
    std::atomic<bool> alive{false};
    DumpVcpu snap;  // registers taken when the vCPU parked (pause)
    std::unique_ptr<std::atomic<uint64_t>[]> region_hits;
    std::unique_ptr<ExitTrace> trace;  // `set trace-exits N`
  };
  void park(Vcpu& v);
  // gdb remote stub (vmm/vm_gdb.cc): `set gdb`'s socket, the debug exits.
  absl::Status attach_gdb();
  ExitAction debug_exit(Vcpu& v, unsigned index, const Exit& e);
  void on_gdb_stop();
  void trace_exit(Vcpu& v, const Exit& e);
  std::vector<std::string> trace_lines() const;
  void count_region(Vcpu& v, const Exit& e);
  // A triple fault: its vCPU thread captures what it was doing
  // (report_shutdown); the loop formats and logs it (log_shutdown_report:
  // the disassembly may load Capstone, which no vCPU thread's system-call
  // filter allows, and keeping it unloaded until then keeps its relocated
  // tables, about 3 MiB, out of qvm's resident set).
  struct ShutdownReport {
    unsigned vcpu = 0;
    uint64_t dropped = 0;  // earlier reports the rate limit suppressed
    uint64_t at_ns = 0;
    InsnContext insn;
    std::string regs;
    bool traced = false;
    std::vector<TraceEntry> trace;
  };
  void report_shutdown(Vcpu& v, unsigned index);
  void log_shutdown_report();
  bool reset_loop(uint64_t now_ns);
  // Filled and cleared by run()'s thread only, under extint_mu_ because
  // device threads read vcpus_[0] through cpu_extint().
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};
  std::atomic<int> terminate_code_{0};
  std::mutex req_mu_;
  Request req_ = Request::None;
  int req_code_ = 0;
  // qvm_guest_dump: a dump the loop writes at its next wake-up, and the
  // follow-ups (qvm_power values) to request once it is written.
  bool dump_pending_ = false;
  std::vector<int> dump_then_;
  // Loop thread only: when the last device-requested dump was written.
  static constexpr uint64_t kDeviceDumpGapNs = 10'000'000'000ull;
  uint64_t last_device_dump_ns_ = 0;
  RateLimiter device_dump_rl_{4, 1};
  bool power_button_pressed_ = false;
  std::mutex extint_mu_;
  qvm_vdev* extint_pic_ = nullptr;
  bool extint_level_ = false;
  ExitContext exit_ctx_;
  uint64_t start_ns_ = 0;
  unsigned resets_ = 0;
  std::vector<uint64_t> guest_resets_ns_;  // the guest's resets in the last window
  RateLimiter shutdown_rl_{4, 1};          // report_shutdown: the guest can loop
  std::vector<ShutdownReport> shutdown_reports_;  // under req_mu_, at most 64

  // Pause: vCPUs park at the top of their loop (registers snapshotted).
  std::mutex pause_mu_;
  std::condition_variable pause_cv_;
  std::atomic<bool> pause_req_{false};
  unsigned parked_ = 0;
  bool paused_ = false;
  // Exit statistics per device region: io_ regions, then mmio_ regions,
  // then "unassigned io", "unassigned mem".
  struct StatRegion {
    uint32_t space;
    uint64_t base, size;
    std::string dev;
  };
  std::vector<StatRegion> stat_regions_;
  size_t n_io_stat_ = 0;
  // Host streams the vdevs opened (qvm_hostdev_open), relayed by the loop
  // so /dev/qvm/<system>/<vdev> can serve them as a console.
  struct OutStream {
    qvm_vdev* dev;
    int rfd;   // read end of the pipe the device writes to
    int real;  // the real destination (stdout, a file)
  };
  struct InStream {
    qvm_vdev* dev;
    int wfd;   // write end of the pipe the device reads
  };
  std::vector<OutStream> outs_;
  std::vector<InStream> ins_;
  bool stdin_forwarded_ = false;
  uint64_t start_wall_ns_ = 0;
  std::string dump_dir_;
  // gdb: a debugger is attached (vCPU threads read it); the debug events
  // since the last resume, at most one per vCPU, for the loop (under
  // pause_mu_).
  std::atomic<bool> gdb_attached_{false};
  std::vector<gdb::Stop> gdb_stops_;
  std::unique_ptr<GdbLink> gdb_;
  std::unique_ptr<Control> control_;  // last: detached before the rest goes
};

}  // namespace qvm
