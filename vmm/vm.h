// One virtual machine: guest memory, buses, devices, vCPU threads and the
// power state machine. Built from a Config; run() returns qvm's exit code.
#pragma once

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "vmm/arch.h"
#include "vmm/backend.h"
#include "vmm/bus.h"
#include "vmm/config.h"
#include "vmm/event_loop.h"
#include "vmm/exit.h"
#include "vmm/guest_memory.h"
#include "vmm/vdev_host.h"

namespace qvm {

// Exit codes (spec §4).
enum ExitCode {
  kExitOk = 0,
  kExitPowerCut = 3,
  kExitWatchdog = 4,
  kExitUnsupported = 5,
  kExitVdevError = 6,
  kExitUnexpected = 7,
  kExitFatalBeforeStart = 64,
  kExitConfig = 65,
  kExitFatalAfterStart = 96,
};

class Vm : public VdevHost {
 public:
  Vm(Config cfg, std::unique_ptr<Machine> machine);
  ~Vm() override;

  // Builds memory and devices and loads the guest. InvalidArgument statuses
  // are configuration errors (exit 65), anything else is fatal (exit 64).
  absl::Status build();
  void print(FILE* out) const;  // dryrun
  int run();

  // VdevHost
  GuestMemory& memory() override { return mem_; }
  Bus* bus(uint32_t space) override;
  VdevInstance* find_device(const std::string& name) override;
  EventLoop& events() override { return loop_; }
  int signal_msi(uint64_t address, uint32_t data) override;
  int set_msi_route(unsigned gsi, uint64_t address, uint32_t data,
                    bool masked) override;
  int cpu_extint(VdevInstance* pic, bool level) override;
  void request_power(int what) override;
  void request_exit(int code) override;
  bool guest_running() const override { return running_.load(); }

  const std::vector<std::unique_ptr<VdevInstance>>& devices() const {
    return devs_;
  }

 private:
  enum class Request { None = 0, Reset = 1, PowerOff = 2, Exit = 3 };
  absl::Status build_memory();
  absl::Status build_devices();
  absl::Status refuse_unsupported() const;
  std::vector<DeviceInfo> device_info() const;
  absl::Status start_vcpus();
  void stop_vcpus();
  void vcpu_main(unsigned index);
  void post(Request r, int code);
  void on_wake();
  void on_signal(int sig);
  void status_report();
  unsigned ncpus() const;

  Config cfg_;
  std::unique_ptr<Machine> machine_;
  GuestMemory mem_;
  Bus io_{"io", 0x10000};
  Bus mmio_{"mmio", 0};
  EventLoop loop_;
  VdevLoader loader_;
  std::vector<std::unique_ptr<VdevInstance>> devs_;

  std::mutex backend_mu_;  // guards backend_ pointer changes vs. users
  std::unique_ptr<VmBackend> backend_;
  struct Vcpu {
    std::unique_ptr<VcpuBackend> be;
    std::thread thread;
    ExitStats stats;
  };
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};
  std::atomic<int> terminate_code_{0};
  std::mutex req_mu_;
  Request req_ = Request::None;
  int req_code_ = 0;
  bool power_button_pressed_ = false;
  std::mutex extint_mu_;
  VdevInstance* extint_pic_ = nullptr;
  bool extint_level_ = false;
  Peripherals periph_;
  uint64_t start_ns_ = 0;
  unsigned resets_ = 0;
};

}  // namespace qvm
