// A VdevHost for unit tests of the host side of the vdev ABI (vmm/vdev_*.cc):
// no VM, no accelerator; knobs for what a test wants the VM to answer.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <string>
#include <tuple>
#include <vector>

#include "vmm/vdev_host.h"

namespace qvm::test {

inline int NopControl(qvm_vdev_t*, void*, unsigned, int, const char*) { return 0; }

// A factory with no registers and a control callback that accepts all.
inline qvm_factory TestFactory(const char* name, uint32_t flags, uint32_t access_sizes) {
  qvm_factory f{};
  f.abi_major = QVM_VDEV_ABI_MAJOR;
  f.abi_minor = QVM_VDEV_ABI_MINOR;
  f.struct_size = sizeof(qvm_factory);
  f.name = name;
  f.description = "test";
  f.flags = flags;
  f.access_sizes = access_sizes;
  f.state_size = 8;
  f.control = NopControl;
  return f;
}

class FakeVdevHost : public VdevHost {
 public:
  GuestMemory& memory() override { return mem_; }
  Bus* bus(uint32_t) override { return nullptr; }
  qvm_vdev* find_device(const std::string&) override { return nullptr; }
  EventLoop& events() override { return loop_; }
  int signal_msi(uint64_t, uint32_t) override { return -ENOTSUP; }
  int set_msi_route(unsigned, uint64_t, uint32_t, bool) override { return -ENOTSUP; }
  int cpu_extint(qvm_vdev*, bool) override { return -ENOTSUP; }
  void request_power(int) override {}
  void request_exit(int) override {}
  bool guest_running() const override { return running; }
  const std::string& system_name() const override { return name_; }
  bool irqchip_supported(unsigned) const override { return true; }
  bool user_irqchip_supported(unsigned kind) const override {
    return user_ok && kind == QVM_IRQCHIP_GICV2;
  }
  int vcpu_irq(unsigned vcpu, unsigned input, bool level) override {
    calls.emplace_back(vcpu, input, level);
    return 0;
  }
  std::vector<qvm_vdev*> all_devices() override { return devs; }
  int open_hostdev(qvm_vdev*, const char* spec, int for_write) override {
    opened.emplace_back(spec, for_write != 0);
    auto& fd = for_write ? console_out : console_in;
    if (std::string(spec) == (for_write ? ">-" : "<-") && fd >= 0) return dup(fd);
    return -ENOSYS;
  }
  const char* runtime_dir() override { return run_dir.empty() ? nullptr : run_dir.c_str(); }

  bool running = false, user_ok = true;
  std::vector<std::tuple<unsigned, unsigned, bool>> calls;
  std::vector<qvm_vdev*> devs;
  // The console relay's pipes (open_hostdev ">-" / "<-"); -1: none.
  int console_out = -1, console_in = -1;
  std::vector<std::pair<std::string, bool>> opened;  // spec, for_write
  std::string run_dir;

 private:
  GuestMemory mem_;
  EventLoop loop_;
  std::string name_ = "t";
};

}  // namespace qvm::test
