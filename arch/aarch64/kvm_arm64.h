// KVM on arm64: the VM (in-kernel vGIC v2/v3, PSCI 0.2+ and the generic
// timer in the kernel) and its vCPUs (KVM_ARM_VCPU_INIT with the preferred
// target, ONE_REG register access, MMIO and system-event exits, and MMIO
// aborts without a syndrome decoded with Capstone and emulated here).
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <optional>

#include "arch/aarch64/a64_decode.h"
#include "vmm/backend.h"
#include "vmm/config.h"
#include "vmm/kvm.h"
#include "vmm/log.h"

namespace qvm::arm64 {

struct GicPlan {
  unsigned kind = 0;  // enum qvm_irqchip_kind
  uint64_t dist = 0, cpu_or_redist = 0;
  unsigned nirqs = 0;
};

class KvmArm64Vm : public VmBackend {
 public:
  absl::Status init(unsigned ncpus, UnsupportedAction unsupported);
  // Creates the in-kernel GIC and sets its addresses (before the vCPUs).
  absl::Status create_gic(const GicPlan& p);
  // NR_IRQS + CTRL_INIT, after every vCPU exists.
  absl::Status finalize_gic();
  std::string describe() const override;
  absl::Status map_memory(const GuestMemory& mem) override;
  absl::StatusOr<std::unique_ptr<VcpuBackend>> create_vcpu(unsigned index) override;
  absl::Status signal_msi(uint64_t address, uint32_t data) override;
  absl::Status set_msi_route(unsigned gsi, uint64_t address, uint32_t data,
                             bool masked) override;
  absl::Status irq_line(unsigned intid, bool level) override;

 private:
  KvmVmFd vm_;
  unsigned ncpus_ = 1;
  bool nisv_ = false;
  kvm_vcpu_init target_{};
  int gic_fd_ = -1;
  GicPlan gic_;
  std::mutex lines_mu_;
  bool gic_ready_ = false;
  std::set<unsigned> early_high_;  // SPIs raised before the vGIC was ready
  UnsupportedAction unsupported_ = UnsupportedAction::Log;
  const GuestMemory* mem_ = nullptr;
};

class KvmArm64Vcpu : public VcpuBackend {
 public:
  KvmArm64Vcpu(unsigned index, const GuestMemory* mem, UnsupportedAction u)
      : index_(index), mem_(mem), unsupported_(u) {}
  absl::Status init(const KvmVmFd& vm, const kvm_vcpu_init& target);
  absl::StatusOr<Exit*> run() override;
  void kick() override { fd_.kick(); }
  absl::Status bind_thread() override {
    Log(LogLevel::Debug, "vcpu %u: thread bound", index_);
    fd_.bind_thread();
    return absl::OkStatus();
  }
  void set_extint(bool, std::function<int()>) override {}
  absl::StatusOr<VcpuRegs> regs() override;
  unsigned index() const override { return index_; }

  // Boot state: PC, X0 (the FDT), EL1h with interrupts masked.
  absl::Status set_entry(uint64_t pc, uint64_t x0);

  absl::StatusOr<uint64_t> get_reg(uint64_t id);
  absl::Status set_reg(uint64_t id, uint64_t v);

 private:
  // An MMIO abort without a valid syndrome: decode and start emulating.
  void nisv(uint64_t ipa);
  // Finishes the emulated access the previous exit handed out; true when a
  // further element (second register of a pair) was handed out instead.
  absl::StatusOr<bool> complete_emulation();
  absl::StatusOr<uint64_t> translate_pc(uint64_t pc);
  void unsupported(const std::string& why);

  unsigned index_;
  const GuestMemory* mem_;
  UnsupportedAction unsupported_;
  KvmVcpuFd fd_;
  Exit exit_;
  uint8_t buf_[8] = {};
  // Emulation in progress (NISV).
  bool emulating_ = false;
  a64::MemAccess acc_;
  uint64_t ipa_ = 0;
  unsigned element_ = 0;
  uint64_t loaded_[2] = {0, 0};
  bool skip_pending_ = false;
  bool entered_once_ = false;  // `ignore`/`log` policy: step over the insn
};

// ONE_REG id of general-purpose register n (0..30), SP_EL0, SP_EL1, PC,
// PSTATE.
uint64_t CoreRegX(unsigned n);
uint64_t CoreRegPc();
uint64_t CoreRegPstate();
uint64_t CoreRegSp();
uint64_t CoreRegSpEl1();

}  // namespace qvm::arm64
