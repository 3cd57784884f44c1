// KVM on arm64: the VM (in-kernel vGIC v2/v3, PSCI 0.2+ and the generic
// timer in the kernel) and its vCPUs (KVM_ARM_VCPU_INIT with the preferred
// target, ONE_REG register access, MMIO and system-event exits, and MMIO
// aborts without a syndrome decoded with Capstone and emulated here).
#pragma once

#include <pthread.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <optional>
#include <vector>

#include "arch/aarch64/a64_decode.h"
#include "vmm/backend.h"
#include "vmm/config.h"
#include "arch/kvm/kvm.h"
#include "vmm/unsupported.h"
#include "vmm/log.h"

namespace qvm::arm64 {

struct GicPlan {
  unsigned kind = 0;  // enum qvm_irqchip_kind
  uint64_t dist = 0, cpu_or_redist = 0;
  unsigned nirqs = 0;
  bool user = false;  // emulated by a vdev (qvm_irqchip_user): no vGIC
};

class KvmArm64Vcpu;

// The guest's generic-timer counter across the VM's life (kept by the
// machine, so that it survives a reset in place, which makes a new VM).
// guest virtual counter = host counter - offset.
struct CounterState {
  bool known = false;   // offset set (`set counter-offset`, or the first start)
  uint64_t offset = 0;
  bool freeze = true;   // the counter stops while the VM is paused
  bool paused = false;
  uint64_t paused_at = 0;  // guest counter when the VM was paused
};

// The generic timer's interrupts as KVM raises them and the device tree
// describes them (boot/fdt.cc: PPI 11 and 14).
constexpr unsigned kTimerIntidVirt = 27, kTimerIntidPhys = 30;

// The PMUv3 overflow interrupt: PPI 7 (INTID 23), level-high, the same on
// every vCPU (KVM_ARM_VCPU_PMU_V3_IRQ with the in-kernel vGIC; the
// user-space GICv2 raises it from KVM_ARM_DEV_PMU) and in the device tree.
constexpr unsigned kPmuIntid = 23;

// Whether this host's KVM gives guests a PMUv3 (KVM_CAP_ARM_PMU_V3 on
// /dev/kvm); nullopt when /dev/kvm cannot be used.
std::optional<bool> HostHasPmuV3();

// The host's counter (CNTVCT_EL0 of a host process: the physical count).
uint64_t HostCounter();

class KvmArm64Vm : public VmBackend {
 public:
  // Closes the in-kernel vGIC's device fd: it holds a reference to the KVM
  // VM, which would otherwise outlive this backend (every reset in place
  // makes a new VM).
  ~KvmArm64Vm() override;
  absl::Status init(unsigned ncpus, UnsupportedPolicy unsupported);
  // Creates the in-kernel GIC and sets its addresses (before the vCPUs).
  absl::Status create_gic(const GicPlan& p);
  // NR_IRQS + CTRL_INIT, after every vCPU exists.
  absl::Status finalize_gic();
  // After every vCPU exists, before the first run: the guest counter per
  // `st` (its offset is fixed here on the VM's first start).
  absl::Status start_counter(CounterState* st);
  // Every vCPU parked (pause) / about to run again (resume): with
  // `st->freeze`, the counter continues from where it stopped.
  void paused() override;
  void resuming() override;
  bool has_counter_offset_ioctl() const { return counter_ioctl_; }
  // `set pmu`: every vCPU gets a PMUv3 (KVM_ARM_VCPU_PMU_V3). Before the
  // first vCPU; FailedPrecondition when KVM lacks KVM_CAP_ARM_PMU_V3.
  absl::Status enable_pmu();
  bool pmu() const { return pmu_; }
  // After the vGIC is initialised and before any vCPU runs, on every vCPU:
  // the overflow interrupt (kPmuIntid; in-kernel vGIC only: without one
  // KVM reports the level in device_irq_level instead) and PMU_V3_INIT.
  absl::Status init_pmu();
  std::string describe() const override;
  absl::Status map_memory(const GuestMemory& mem) override;
  absl::StatusOr<std::unique_ptr<VcpuBackend>> create_vcpu(unsigned index) override;
  absl::Status signal_msi(uint64_t address, uint32_t data) override;
  absl::Status set_msi_route(unsigned gsi, uint64_t address, uint32_t data,
                             bool masked) override;
  absl::Status irq_line(unsigned intid, bool level) override;
  absl::Status ioeventfd(int fd, uint64_t addr, unsigned len, bool io, bool match,
                         uint64_t datamatch, bool assign) override {
    return vm_.ioeventfd(fd, addr, len, io, match, datamatch, assign);
  }
  absl::Status irqfd(int fd, unsigned gsi, bool assign) override {
    return vm_.irqfd(fd, gsi, assign);
  }
  absl::Status map_host_memory(uint64_t gpa, void* host, uint64_t size, bool writable,
                               bool assign) override {
    return vm_.map_host_memory(gpa, host, size, writable, assign);
  }
  // MSI irqfds need MSI routes, which need a GIC ITS (not modelled).
  bool notifiers_supported(bool irq) const override {
    return !irq && vm_.notifiers_supported(false);
  }

  // User-space interrupt controller (no vGIC): KVM_CAP_ARM_USER_IRQ must be
  // there; vCPU IRQ/FIQ lines via KVM_IRQ_LINE type CPU, the timers' levels
  // from kvm_run->s.regs.device_irq_level after every exit.
  absl::Status enable_user_irqchip();
  absl::Status cpu_irq_line(unsigned vcpu, unsigned input, bool level) override;
  absl::Status watch_vcpu_outputs(std::function<void(unsigned, uint32_t)> fn) override;
  // On vCPU `vcpu`'s own thread right before KVM_RUN: when another thread
  // changed its inputs since `*seen`, apply them again from here. KVM keeps
  // the IRQ/FIQ lines in the vCPU's HCR_EL2 copy, which the vCPU's own
  // thread rewrites non-atomically when it loads the vCPU (KVM_RUN, being
  // scheduled in), so a KVM_IRQ_LINE from another thread at that moment can
  // be lost; such changes therefore also kick the vCPU, which then re-applies
  // them before entering the guest again.
  void sync_cpu_lines(unsigned vcpu, uint32_t* seen);
  void vcpu_gone(unsigned vcpu);

 private:
  absl::Status cpu_irq_ioctl(unsigned vcpu, unsigned input, bool level);
  // guest counter = host counter - offset, on every vCPU.
  absl::Status apply_counter_offset(uint64_t offset);
  bool counter_ioctl_ = false;  // KVM_CAP_COUNTER_OFFSET (Linux 6.4+)
  bool pmu_ = false;            // `set pmu`: KVM_ARM_VCPU_PMU_V3 on every vCPU
  CounterState* counter_ = nullptr;
  std::vector<KvmArm64Vcpu*> vcpus_;  // owned by the Vm, outlive us in use
  bool user_irqchip_ = false;
  std::mutex cpu_mu_;  // cpu_lines_, cpu_created_, cpu_obj_
  KvmArm64Vcpu* cpu_obj_[256] = {};
  std::atomic<uint32_t> cpu_gen_[256] = {};  // cross-thread changes per vCPU
  uint8_t cpu_lines_[256] = {};  // per vCPU: bit 0 IRQ, bit 1 FIQ (as last asked)
  bool cpu_created_[256] = {};
  std::function<void(unsigned, uint32_t)> outputs_fn_;
  KvmVmFd vm_;
  unsigned ncpus_ = 1;
  bool nisv_ = false;
  kvm_vcpu_init target_{};
  int gic_fd_ = -1;
  GicPlan gic_;
  std::mutex lines_mu_;
  bool gic_ready_ = false;
  std::set<unsigned> early_high_;  // SPIs raised before the vGIC was ready
  UnsupportedPolicy unsupported_;
  const GuestMemory* mem_ = nullptr;
};

class KvmArm64Vcpu : public VcpuBackend {
 public:
  KvmArm64Vcpu(unsigned index, const GuestMemory* mem, UnsupportedPolicy u)
      : index_(index), mem_(mem), unsupported_(std::move(u)) {}
  absl::Status init(const KvmVmFd& vm, const kvm_vcpu_init& target);
  absl::StatusOr<Exit*> run() override;
  void kick() override { fd_.kick(); }
  absl::Status bind_thread() override {
    Log(LogLevel::Debug, "vcpu %u: thread bound", index_);
    fd_.bind_thread();
    thread_ = pthread_self();
    bound_.store(true, std::memory_order_release);
    return absl::OkStatus();
  }
  ~KvmArm64Vcpu() override;
  // User irqchip: the VM whose input levels this vCPU re-applies.
  void set_line_owner(KvmArm64Vm* vm) { line_owner_ = vm; }
  bool on_own_thread() const {
    return bound_.load(std::memory_order_acquire) && pthread_equal(thread_, pthread_self());
  }
  void set_extint(bool, std::function<int()>) override {}
  absl::StatusOr<VcpuRegs> regs() override;
  unsigned index() const override { return index_; }
  // Debugger: core registers; stage-1 translation (the 4 KiB granule, as
  // translate_pc); software breakpoints (brk #0), single step, and hardware
  // breakpoints in the DBGBCR/DBGBVR pairs KVM gives the debugger
  // (KVM_CAP_GUEST_DEBUG_HW_BPS, at most 16). Watchpoints are not offered:
  // every slot is an instruction breakpoint (a data point is refused).
  absl::Status set_regs(const VcpuRegs& regs) override;
  absl::StatusOr<uint64_t> translate(uint64_t va) override { return translate_pc(va); }
  absl::Status set_guest_debug(const GuestDebug& d) override;
  unsigned hw_slots(bool watch) const override { return watch ? 0 : hw_bps_; }
  // How many hardware breakpoints KVM offers (the VM's
  // KVM_CAP_GUEST_DEBUG_HW_BPS); set once before the vCPU runs.
  void set_hw_breakpoints(unsigned n) { hw_bps_ = n < kMaxHwBps ? n : kMaxHwBps; }

  // Boot state: PC, X0 (the FDT), EL1h with interrupts masked.
  absl::Status set_entry(uint64_t pc, uint64_t x0);
  // The INTIDs of the virtual and physical timer (in-kernel vGIC only).
  absl::Status set_timer_irqs(unsigned vtimer, unsigned ptimer);
  // PMUv3 (the vCPU was initialised with KVM_ARM_VCPU_PMU_V3): the overflow
  // interrupt when `intid` is non-zero, then KVM_ARM_VCPU_PMU_V3_INIT.
  absl::Status init_pmu(unsigned intid);

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

  static constexpr unsigned kMaxHwBps = 16;  // KVM_ARM_MAX_DBG_REGS
  unsigned hw_bps_ = 0;
  // The addresses set_guest_debug armed (slot i = GuestDebug::hw[i]), to
  // name the slot of a hardware-breakpoint exit. Written only while the
  // vCPU is stopped (the debugger's park), read on its own thread.
  uint64_t hw_addr_[kMaxHwBps] = {};
  unsigned hw_armed_ = 0;

  unsigned index_;
  const GuestMemory* mem_;
  UnsupportedPolicy unsupported_;
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
  // User irqchip: the VM's output listener and the last reported mask.
  const std::function<void(unsigned, uint32_t)>* outputs_fn_ = nullptr;
  uint32_t outputs_ = 0;
  KvmArm64Vm* line_owner_ = nullptr;
  uint32_t lines_seen_ = 0;
  pthread_t thread_{};
  std::atomic<bool> bound_{false};

 public:
  void set_outputs_listener(const std::function<void(unsigned, uint32_t)>* fn) {
    outputs_fn_ = fn;
  }
};

// ONE_REG id of general-purpose register n (0..30), SP_EL0, SP_EL1, PC,
// PSTATE.
uint64_t CoreRegX(unsigned n);
uint64_t CoreRegPc();
uint64_t CoreRegPstate();
uint64_t CoreRegSp();
uint64_t CoreRegSpEl1();

}  // namespace qvm::arm64
