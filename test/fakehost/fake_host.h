// The fake qvm host of the vdev and virtio unit tests.
//
// Implements the host functions declared in sdk/include/qvm/vdev.h once
// (all but the PCI-host side, qvm_pci_enum, qvm_pci_bar_map and
// qvm_pci_set_state, which only the pci-host plug-in calls and no test here
// loads, and qvm_devctl_reply, which no plug-in calls), for both ways a test meets a plug-in: qvm-vdev-tests dlopen()s the real
// vdev-*.so plug-ins (linked with -rdynamic, so their undefined qvm_*
// symbols resolve here) and creates instances through Host::create();
// qvm-virtio-tests links libvirtio and device objects in and drives them
// directly on a device from Host::attach(). It records what devices ask of
// the host (regions, interrupt levels, MSIs, MSI routes, PCI functions,
// external-interrupt output, power/exit requests, logs, ioeventfd/irqfd
// registrations), owns one guest RAM window, a controllable clock for
// qvm_time_ns, and fires timers only when a test advances that clock
// (advance) or runs one round of the event loop (pump).
#pragma once

#include <qvm/vdev.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

struct qvm_timer {
  qvm_vdev_t *dev = nullptr;
  qvm_timer_fn fn = nullptr;
  void *arg = nullptr;
  bool armed = false;
  bool destroyed = false;
  uint64_t when = 0;
  uint64_t period = 0;
  uint64_t fired = 0;
};

namespace fake {

struct Region {
  uint32_t space;
  uint64_t base;
  uint64_t size;  // 0: released (qvm_region_free)
  bool allocated = false;  // from qvm_region_alloc (ABI 1.5)
};

struct IntrSpec {
  std::string controller;
  unsigned line;
};

struct Msi {
  uint64_t address;
  uint32_t data;
};

struct MsiRoute {
  uint64_t address;
  uint32_t data;
  int masked;
};

struct NamedIrq {
  std::string controller;
  unsigned line;
  int level;
};

struct FdWatch {
  int fd;
  qvm_timer_fn fn;
  void *arg;
};

// An ABI 1.3 notification: a real eventfd handed out by qvm_ioeventfd (irq
// false: its region/offset/size/flags/match) or qvm_irqfd_msi (irq true: the
// MSI last set by qvm_irqfd_msi_set).
struct Note {
  int fd;
  bool irq;
  unsigned region;
  uint64_t offset;
  unsigned size;
  unsigned flags;
  uint64_t match;
  uint64_t addr;
  uint32_t data;
  int masked;
};

// Options for creating an instance.
struct Config {
  std::string name;                                       // default TYPE+N
  std::vector<std::pair<std::string, std::string>> options;  // name, value
  std::vector<std::pair<uint32_t, uint64_t>> locs;        // space, base
  std::vector<IntrSpec> intrs;                            // configured
};

}  // namespace fake

struct qvm_vdev {
  const qvm_factory *factory = nullptr;
  std::string name;
  std::unique_ptr<unsigned char[]> state_mem;
  void *state = nullptr;
  std::vector<std::pair<uint32_t, uint64_t>> locs;
  std::vector<fake::IntrSpec> intrs;  // effective (configured or defaults)
  bool intrs_configured = false;
  std::vector<fake::Region> regions;
  std::vector<int> intr_level;             // current level per intr index
  std::vector<std::vector<int>> intr_log;  // every level set, per index
  std::vector<fake::Msi> msis;
  std::map<unsigned, fake::MsiRoute> routes;
  std::vector<fake::NamedIrq> named;
  int extint = 0;
  std::vector<int> extint_log;
  std::vector<int> power;
  std::vector<int> dumps;  // qvm_guest_dump (ABI 1.7): each request's follow-up
  // qvm_thread_create (ABI 1.8): the names of the threads started (plain
  // threads here: no system-call filter in the unit tests)
  std::vector<std::string> threads;
  std::vector<int> exit_codes;
  std::vector<int> exit_statuses;  // qvm_exit_status (ABI 1.2)
  std::vector<std::string> logs;
  std::vector<fake::FdWatch> watches;
  std::string acpi_hid, acpi_cid;  // from qvm_acpi_device
  // ABI 1.4 typed ACPI contributions (QVM_CTRL_GEN_ACPI), as given.
  std::optional<qvm_acpi_pm> acpi_pm;
  std::optional<qvm_acpi_pci> acpi_pci_host;
  std::optional<std::pair<uint64_t, uint32_t>> acpi_hpet;    // base, block id
  std::optional<std::pair<uint64_t, uint32_t>> acpi_ioapic;  // base, GSI base
  unsigned acpi_legacy = 0;
  // ABI 1.2 device tree (Host::gen_fdt opens the node window): the node's
  // name/compatible and its properties in order (big-endian bytes).
  bool fdt_open = false;
  std::string fdt_name, fdt_compatible;
  std::vector<std::pair<std::string, std::string>> fdt_props;
  uint32_t fdt_phandle = 0;  // assigned at creation (1, 2, ...)
  // ABI 1.2 accelerated interrupt controller: kind/nirqs from
  // qvm_irqchip_accel, every qvm_irqchip_line call (intid, level).
  unsigned irqchip_kind = 0, irqchip_nirqs = 0;
  std::vector<std::pair<unsigned, int>> irqchip_lines;
  // ABI 1.3 user irqchip (qvm_irqchip_user): its outputs callback, the
  // current level of each vCPU's IRQ/FIQ input (qvm_vcpu_irq) and how many
  // times each was driven.
  bool irqchip_user = false;
  qvm_vcpu_outputs_fn vcpu_outputs_fn = nullptr;
  int cpu_input[8][2] = {};
  unsigned cpu_input_calls = 0;
  std::vector<qvm_timer *> timers;
  // PCI: the function from qvm_pci_declare (its capabilities copied into
  // pci_caps, as qvm copies them) and what qvm_pci_state answers.
  qvm_pci_function pci{};
  std::vector<uint8_t> pci_caps;
  uint32_t pci_state = 0;
  // The instance lock (qvm_dev_lock), held like qvm holds it around the
  // lifecycle controls, Host::control and register accesses, so that a
  // device's own threads see qvm's rules.
  std::recursive_mutex mu;
  // ABI 1.5: host memory laid over regions (qvm_mem_map), as given.
  struct MemMap {
    unsigned region;
    uint64_t offset, size;
    void *host;
    bool writable;
  };
  std::vector<MemMap> memmaps;

  // Rising edges seen on intr index i (0->1 transitions).
  int rises(unsigned i) const;
  // Times intr index i was set to 1.
  int raises(unsigned i) const;
  bool watched(int fd) const;
};

namespace fake {

// qvm_log may be called from a device's own threads: it appends to
// qvm_vdev::logs under this mutex; LogsOf copies them under it.
std::mutex &LogMutex();
std::vector<std::string> LogsOf(const qvm_vdev *dev);

// The one host of the test process. reset() destroys every instance.
class Host {
 public:
  static Host &get();

  // dlopen()s vdev-NAME.so from $QVM_VDEV_DIR (default build/lib/qvm).
  // Returns the factory or nullptr (and fails the test through Catch).
  const qvm_factory *load(const std::string &type);

  // Runs OPTIONS_START, OPTION*, OPTIONS_END, RESOURCES, GUEST_CONFIGURED,
  // RESET. On failure returns nullptr and stores the failing rc in last_rc.
  qvm_vdev *create(const std::string &type, const Config &cfg = {});
  int last_rc = 0;

  // A device for a plug-in linked into the test and driven directly: no
  // factory and no lifecycle (the test owns its state and its controls).
  qvm_vdev *attach(const std::string &name, const Config &cfg = {});

  // Terminate and free every instance, timers and notifications; the clock,
  // guest RAM (zeroed) and every knob below back at their defaults.
  void reset();

  // Guest accesses through the device's regions (address = absolute address
  // in `space`). Returns the callback status; value via *out.
  int read(qvm_vdev *d, uint32_t space, uint64_t addr, unsigned size,
           uint64_t *out);
  int write(qvm_vdev *d, uint32_t space, uint64_t addr, unsigned size,
            uint64_t value);
  // Convenience for I/O ports.
  uint64_t inb(qvm_vdev *d, uint16_t port) { return in(d, port, 1); }
  uint64_t in(qvm_vdev *d, uint16_t port, unsigned size);
  void outb(qvm_vdev *d, uint16_t port, uint8_t v) { out(d, port, 1, v); }
  void out(qvm_vdev *d, uint16_t port, unsigned size, uint64_t v);
  uint64_t mread(qvm_vdev *d, uint64_t addr, unsigned size);
  void mwrite(qvm_vdev *d, uint64_t addr, unsigned size, uint64_t v);

  int control(qvm_vdev *d, unsigned ctrl, int arg = 0,
              const char *value = nullptr);

  // ABI 1.2: runs QVM_CTRL_GEN_FDT with the FDT window open (the device's
  // previous node is discarded first); returns the control's rc.
  int gen_fdt(qvm_vdev *d);
  // Property `prop` of d's FDT node, or nullptr.
  const std::string *fdt_prop(qvm_vdev *d, const std::string &prop) const;
  // Whether qvm_irqchip_accel succeeds (a machine without an in-kernel
  // interrupt controller answers -ENOTSUP), and what qvm_irqchip_line
  // returns while no guest runs (-EAGAIN) or 0.
  bool irqchip_supported = true;
  int irqchip_line_rc = 0;
  // ABI 1.3: whether qvm_irqchip_user succeeds, and calls the device's
  // per-vCPU outputs callback as a vCPU thread would.
  bool user_irqchip_supported = true;
  void vcpu_outputs(qvm_vdev *d, unsigned vcpu, uint32_t mask);
  // The vCPU that read()/write() accesses come from (acc->vcpu).
  unsigned access_vcpu = 0;

  // Clock and timers.
  uint64_t now() const { return now_; }
  void set_now(uint64_t t) { now_ = t; }
  // Advance the clock to now+ns, firing due timers in time order.
  void advance(uint64_t ns);
  size_t armed_timers(qvm_vdev *d) const;
  // Earliest armed timer of d, or UINT64_MAX.
  uint64_t next_timer(qvm_vdev *d) const;

  // Run fd watches whose fd is readable (poll with zero timeout); a watch
  // removed by an earlier callback of the same round is skipped. Returns the
  // number of callbacks run.
  int poll_fds();
  // One round of an event loop: every armed timer fires once, whatever its
  // deadline (disarmed first), then poll_fds(). Callbacks get the device's
  // state pointer (for a device from attach(): the one the test set).
  // Returns the number of callbacks run.
  int pump();
  // Timer callbacks run so far (advance and pump), destroyed timers included.
  uint64_t timer_fires() const;

  // Named controller lookup (by instance name).
  qvm_vdev *find(const std::string &name);

  // Host streams for qvm_hostdev_open: spec -> fd handed out (dup'ed).
  // qvm_console_open (ABI 1.4) takes its output the same way and its input
  // from hostdevs["<-"] (the console relay's pipe in qvm).
  std::map<std::string, int> hostdevs;
  // qvm_runtime_dir (ABI 1.4); empty: none (NULL).
  std::string runtime_dir;
  // The specs qvm_console_open was asked for, in order.
  std::vector<std::string> console_specs;

  // Guest RAM for qvm_gmem_*: 1 MiB at 1 MiB. Accesses outside it fail and
  // are counted.
  static constexpr uint64_t kRamBase = 0x100000;
  uint64_t ram_base = kRamBase;
  std::vector<unsigned char> ram = std::vector<unsigned char>(1 << 20);
  uint64_t bad_accesses = 0;
  // ABI 1.3 notifications: without notify_ok this host is an accelerator
  // without ioeventfd or irqfd (-ENOTSUP, devices keep their exit path);
  // with it they are real eventfds, recorded here until qvm_notify_close.
  bool notify_ok = false;
  std::vector<Note> notes;
  Note *note(int fd);
  // ABI 1.3: qvm_vcpu_count / qvm_cmdline answers (qvm_ram_region reports
  // the one region above).
  unsigned vcpus = 1;
  std::string cmdline;

  std::vector<std::unique_ptr<qvm_vdev>> devs;
  std::vector<std::unique_ptr<qvm_timer>> timers;
  std::map<std::string, unsigned> instance_counts;

  uint64_t now_ = 1000000000000ull;  // arbitrary non-zero start

  static constexpr uint64_t kStart = 1000000000000ull;
};

}  // namespace fake

// Registry filled by qvm_register_factory (plug-ins dlopen()ed or linked in).
std::vector<const qvm_factory *> &fake_factories();
