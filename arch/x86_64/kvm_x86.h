// KVM on x86_64: the VM (split irqchip: local APICs in the kernel, IOAPIC
// and 8259 as vdevs) and its vCPUs (CPUID, MSRs, exit decoding).
#pragma once

#include <functional>
#include <memory>
#include <mutex>

#include "arch/x86_64/plan.h"
#include "boot/x86.h"
#include "vmm/backend.h"
#include "arch/kvm/kvm.h"

namespace qvm::x86 {

// Number of interrupt-controller inputs reserved for the user-space IOAPIC.
inline constexpr unsigned kIoapicPins = 24;

// qvm's hypervisor identification leaf: EAX = highest leaf of the range
// (itself), EBX:ECX:EDX = "QVMQVMQVM\0\0\0".
inline constexpr uint32_t kQvmCpuidBase = 0x40000100;

// Applies qvm's CPUID policy for vCPU `index` of `ncpus` to KVM's supported
// set (pure function, unit-tested).
std::vector<kvm_cpuid_entry2> ApplyCpuidPolicy(const std::vector<kvm_cpuid_entry2>& supported,
                                               unsigned index, unsigned ncpus,
                                               const CpuidOptions& opt);

class KvmX86Vm : public VmBackend {
 public:
  absl::Status init(unsigned ncpus, const CpuidOptions& cpuid = {});
  std::string describe() const override;
  absl::Status map_memory(const GuestMemory& mem) override;
  absl::StatusOr<std::unique_ptr<VcpuBackend>> create_vcpu(unsigned index) override;
  absl::Status signal_msi(uint64_t address, uint32_t data) override;
  absl::Status set_msi_route(unsigned gsi, uint64_t address, uint32_t data,
                             bool masked) override;
  absl::Status ioeventfd(int fd, uint64_t addr, unsigned len, bool io, bool match,
                         uint64_t datamatch, bool assign) override {
    return vm_.ioeventfd(fd, addr, len, io, match, datamatch, assign);
  }
  absl::Status irqfd(int fd, unsigned gsi, bool assign) override {
    return vm_.irqfd(fd, gsi, assign);
  }
  bool notifiers_supported(bool irq) const override { return vm_.notifiers_supported(irq); }
  absl::Status map_host_memory(uint64_t gpa, void* host, uint64_t size, bool writable,
                               bool assign) override {
    return vm_.map_host_memory(gpa, host, size, writable, assign);
  }

 private:
  KvmVmFd vm_;
  unsigned ncpus_ = 1;
  bool user_msr_ = false;
  bool msr_filter_ = false;    // KVM_X86_SET_MSR_FILTER usable
  bool tsc_emulated_ = false;  // MSR 0x10 handled in user space
  std::vector<kvm_cpuid_entry2> cpuid_;
  CpuidOptions cpuid_opt_;
  const GuestMemory* mem_ = nullptr;  // from map_memory(), for the vCPUs
};

// Guest-virtual to guest-physical through the guest's own page tables as
// SR (the vCPU's special registers) describes them: 4- or 5-level (LA57)
// long mode with 1 GiB and 2 MiB pages, 3-level PAE, 2-level 32-bit with
// PSE; paging off is flat. Every table read is a checked guest-memory
// read; a missing or unreadable entry ends the walk (false). No access
// checks (user, write, SMAP): what a debugger or a trace may read.
bool Translate(const GuestMemory& mem, const kvm_sregs& sr, uint64_t va, uint64_t* pa);

class KvmX86Vcpu : public VcpuBackend {
 public:
  // MEM: the guest's RAM, for walking its page tables (translate()).
  KvmX86Vcpu(unsigned index, const GuestMemory* mem) : index_(index), mem_(mem) {}
  absl::Status init(const KvmVmFd& vm, const std::vector<kvm_cpuid_entry2>& cpuid,
                    unsigned ncpus, const CpuidOptions& opt);
  absl::StatusOr<Exit*> run() override;
  void kick() override { fd_.kick(); }
  absl::Status bind_thread() override {
    fd_.bind_thread();
    return absl::OkStatus();
  }
  void set_extint(bool level, std::function<int()> ack) override;
  absl::StatusOr<VcpuRegs> regs() override;
  InsnContext current_insn(const GuestMemory& mem) override;
  unsigned index() const override { return index_; }
  absl::Status set_regs(const VcpuRegs& regs) override;
  absl::StatusOr<uint64_t> translate(uint64_t va) override;
  absl::Status set_guest_debug(const GuestDebug& d) override;
  unsigned hw_slots(bool) const override { return 4; }  // DR0-DR3, shared

  // True when the kernel does not model IA32_TIME_STAMP_COUNTER (reads 0).
  bool kernel_tsc_msr_missing();
  void set_tsc_emulated(bool on) { tsc_emulated_ = on; }

  // Loads the boot register state (boot vCPU only).
  absl::Status set_entry(const boot::EntryState& st);

 private:
  void complete_previous();
  void inject_extint();

  unsigned index_;
  const GuestMemory* mem_;
  KvmVcpuFd fd_;
  Exit exit_;
  bool pending_msr_ = false;
  bool tsc_emulated_ = false;
  uint64_t tsc_offset_ = 0;  // guest TSC - host TSC (emulated MSR 0x10)
  std::mutex extint_mu_;
  bool extint_level_ = false;
  std::function<int()> extint_ack_;
};

}  // namespace qvm::x86
