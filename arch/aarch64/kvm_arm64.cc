#include "arch/aarch64/kvm_arm64.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "qvm/vdev.h"
#include "arch/aarch64/regs.h"
#include "vmm/log.h"

namespace qvm::arm64 {
namespace {

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(errno)));
}

constexpr uint64_t kCore = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE;

// System registers (op0, op1, CRn, CRm, op2).
constexpr uint64_t SysReg(unsigned op0, unsigned op1, unsigned crn, unsigned crm,
                          unsigned op2) {
  return KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM64_SYSREG |
         (uint64_t(op0) << KVM_REG_ARM64_SYSREG_OP0_SHIFT) |
         (uint64_t(op1) << KVM_REG_ARM64_SYSREG_OP1_SHIFT) |
         (uint64_t(crn) << KVM_REG_ARM64_SYSREG_CRN_SHIFT) |
         (uint64_t(crm) << KVM_REG_ARM64_SYSREG_CRM_SHIFT) |
         (uint64_t(op2) << KVM_REG_ARM64_SYSREG_OP2_SHIFT);
}
constexpr uint64_t kSctlrEl1 = SysReg(3, 0, 1, 0, 0);
constexpr uint64_t kTtbr0El1 = SysReg(3, 0, 2, 0, 0);
constexpr uint64_t kTtbr1El1 = SysReg(3, 0, 2, 0, 1);
constexpr uint64_t kTcrEl1 = SysReg(3, 0, 2, 0, 2);

constexpr uint64_t kPstateEl1h = 0x5;

// Linux 6.4+ (not in Debian 12's headers): a VM-wide counter offset.
constexpr long kKvmCapCounterOffset = 227;
struct KvmArmCounterOffset {
  uint64_t counter_offset;
  uint64_t reserved;
};
constexpr unsigned long kKvmArmSetCounterOffset = _IOW(KVMIO, 0xb5, KvmArmCounterOffset);

// The per-vCPU output bits of ABI 1.3 are KVM's device_irq_level bits.
static_assert(QVM_VCPU_OUT_VTIMER == KVM_ARM_DEV_EL1_VTIMER &&
              QVM_VCPU_OUT_PTIMER == KVM_ARM_DEV_EL1_PTIMER &&
              QVM_VCPU_OUT_PMU == KVM_ARM_DEV_PMU);
constexpr uint64_t kPstateDaif = 0xfull << 6;

}  // namespace

uint64_t CoreRegX(unsigned n) {
  return kCore | (offsetof(kvm_regs, regs.regs) / 4 + n * 2);
}
uint64_t CoreRegPc() { return kCore | (offsetof(kvm_regs, regs.pc) / 4); }
uint64_t CoreRegPstate() { return kCore | (offsetof(kvm_regs, regs.pstate) / 4); }
uint64_t CoreRegSp() { return kCore | (offsetof(kvm_regs, regs.sp) / 4); }
uint64_t CoreRegSpEl1() { return kCore | (offsetof(kvm_regs, sp_el1) / 4); }

absl::Status KvmArm64Vm::init(unsigned ncpus, UnsupportedPolicy unsupported) {
  ncpus_ = ncpus;
  unsupported_ = unsupported;
  absl::Status st = vm_.open();
  if (!st.ok()) return st;
  if (!vm_.check_extension(KVM_CAP_ARM_PSCI_0_2))
    return absl::FailedPreconditionError("KVM lacks KVM_CAP_ARM_PSCI_0_2");
  if (ioctl(vm_.vm_fd(), KVM_ARM_PREFERRED_TARGET, &target_) != 0)
    return Errno("KVM_ARM_PREFERRED_TARGET");
  if (vm_.check_extension(KVM_CAP_ARM_NISV_TO_USER))
    nisv_ = vm_.enable_cap(KVM_CAP_ARM_NISV_TO_USER, 0).ok();
  counter_ioctl_ = vm_.check_extension(kKvmCapCounterOffset) > 0;
  return absl::OkStatus();
}

KvmArm64Vm::~KvmArm64Vm() {
  if (gic_fd_ >= 0) close(gic_fd_);
}

absl::Status KvmArm64Vm::create_gic(const GicPlan& p) {
  gic_ = p;
  kvm_create_device cd{};
  cd.type = p.kind == QVM_IRQCHIP_GICV3 ? KVM_DEV_TYPE_ARM_VGIC_V3 : KVM_DEV_TYPE_ARM_VGIC_V2;
  if (ioctl(vm_.vm_fd(), KVM_CREATE_DEVICE, &cd) != 0)
    return Errno(p.kind == QVM_IRQCHIP_GICV3 ? "KVM_CREATE_DEVICE vGICv3"
                                             : "KVM_CREATE_DEVICE vGICv2");
  gic_fd_ = int(cd.fd);
  auto set_addr = [&](uint64_t type, uint64_t addr) -> absl::Status {
    kvm_device_attr a{};
    a.group = KVM_DEV_ARM_VGIC_GRP_ADDR;
    a.attr = type;
    a.addr = reinterpret_cast<uint64_t>(&addr);
    if (ioctl(gic_fd_, KVM_SET_DEVICE_ATTR, &a) != 0)
      return Errno(absl::StrFormat("vGIC address 0x%x", addr));
    return absl::OkStatus();
  };
  absl::Status st;
  if (p.kind == QVM_IRQCHIP_GICV3) {
    st = set_addr(KVM_VGIC_V3_ADDR_TYPE_DIST, p.dist);
    if (st.ok()) st = set_addr(KVM_VGIC_V3_ADDR_TYPE_REDIST, p.cpu_or_redist);
  } else {
    st = set_addr(KVM_VGIC_V2_ADDR_TYPE_DIST, p.dist);
    if (st.ok()) st = set_addr(KVM_VGIC_V2_ADDR_TYPE_CPU, p.cpu_or_redist);
  }
  return st;
}

absl::Status KvmArm64Vm::finalize_gic() {
  if (gic_fd_ < 0) return absl::OkStatus();
  Log(LogLevel::Debug, "vGIC: %u interrupts, initialising", gic_.nirqs);
  uint32_t n = gic_.nirqs;
  kvm_device_attr a{};
  a.group = KVM_DEV_ARM_VGIC_GRP_NR_IRQS;
  a.addr = reinterpret_cast<uint64_t>(&n);
  if (ioctl(gic_fd_, KVM_SET_DEVICE_ATTR, &a) != 0) return Errno("vGIC NR_IRQS");
  kvm_device_attr init{};
  init.group = KVM_DEV_ARM_VGIC_GRP_CTRL;
  init.attr = KVM_DEV_ARM_VGIC_CTRL_INIT;
  if (ioctl(gic_fd_, KVM_SET_DEVICE_ATTR, &init) != 0) return Errno("vGIC CTRL_INIT");
  Log(LogLevel::Debug, "vGIC initialised");
  std::lock_guard<std::mutex> g(lines_mu_);
  gic_ready_ = true;
  for (unsigned intid : early_high_) {
    kvm_irq_level l{};
    l.irq = (uint32_t(KVM_ARM_IRQ_TYPE_SPI) << KVM_ARM_IRQ_TYPE_SHIFT) | intid;
    l.level = 1;
    if (ioctl(vm_.vm_fd(), KVM_IRQ_LINE, &l) != 0) return Errno("KVM_IRQ_LINE");
  }
  early_high_.clear();
  return absl::OkStatus();
}

std::string KvmArm64Vm::describe() const {
  std::string gic = user_irqchip_ ? "interrupt controller in user space (KVM_CAP_ARM_USER_IRQ)"
                    : gic_fd_ < 0 ? "no vGIC"
                    : gic_.kind == QVM_IRQCHIP_GICV3 ? "in-kernel vGICv3"
                                                     : "in-kernel vGICv2";
  return absl::StrFormat("KVM API %d (arm64, target %u), %s, PSCI in the kernel%s%s",
                         KVM_API_VERSION, target_.target, gic,
                         nisv_ ? ", syndrome-less aborts to user space" : "",
                         pmu_ ? ", PMUv3 (overflow PPI 23)" : "");
}

absl::Status KvmArm64Vm::map_memory(const GuestMemory& mem) {
  mem_ = &mem;
  return vm_.map_memory(mem);
}

absl::StatusOr<std::unique_ptr<VcpuBackend>> KvmArm64Vm::create_vcpu(unsigned index) {
  auto v = std::make_unique<KvmArm64Vcpu>(index, mem_, unsupported_);
  kvm_vcpu_init t = target_;
  std::memset(t.features, 0, sizeof t.features);
  t.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
  if (pmu_) t.features[0] |= 1u << KVM_ARM_VCPU_PMU_V3;  // `set pmu`
  // Secondary vCPUs start powered off; PSCI CPU_ON (in the kernel) starts them.
  if (index > 0) t.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
  absl::Status st = v->init(vm_, t);
  if (!st.ok()) return st;
  // Hardware breakpoints for a debugger (0 when KVM has none to give).
  int bps = vm_.check_extension(KVM_CAP_GUEST_DEBUG_HW_BPS);
  v->set_hw_breakpoints(bps > 0 ? unsigned(bps) : 0);
  // The timer interrupts KVM raises are the ones the device tree names.
  if (gic_fd_ >= 0) {
    st = v->set_timer_irqs(kTimerIntidVirt, kTimerIntidPhys);
    if (!st.ok()) return st;
  }
  vcpus_.push_back(v.get());
  if (user_irqchip_) {
    if (outputs_fn_) v->set_outputs_listener(&outputs_fn_);
    // Lines the user-space controller set before this vCPU existed.
    std::lock_guard<std::mutex> g(cpu_mu_);
    if (index < 256) {
      cpu_created_[index] = true;
      cpu_obj_[index] = v.get();
      v->set_line_owner(this);
      for (unsigned in = 0; in < 2; in++)
        if (cpu_lines_[index] & (1u << in)) {
          st = cpu_irq_ioctl(index, in, true);
          if (!st.ok()) return st;
        }
    }
  }
  return std::unique_ptr<VcpuBackend>(std::move(v));
}

absl::Status KvmArm64Vm::enable_user_irqchip() {
  if (gic_fd_ >= 0) return absl::FailedPreconditionError("an in-kernel vGIC exists already");
  if (!vm_.check_extension(KVM_CAP_ARM_USER_IRQ))
    return absl::FailedPreconditionError(
        "KVM lacks KVM_CAP_ARM_USER_IRQ: a user-space interrupt controller would never "
        "see the generic timer (use the in-kernel vGIC)");
  user_irqchip_ = true;
  return absl::OkStatus();
}

absl::Status KvmArm64Vm::cpu_irq_ioctl(unsigned vcpu, unsigned input, bool level) {
  kvm_irq_level l{};
  l.irq = (uint32_t(KVM_ARM_IRQ_TYPE_CPU) << KVM_ARM_IRQ_TYPE_SHIFT) |
          ((vcpu & KVM_ARM_IRQ_VCPU_MASK) << KVM_ARM_IRQ_VCPU_SHIFT) |
          (input ? KVM_ARM_IRQ_CPU_FIQ : KVM_ARM_IRQ_CPU_IRQ);
  l.level = level ? 1 : 0;
  if (ioctl(vm_.vm_fd(), KVM_IRQ_LINE, &l) != 0)
    return Errno(absl::StrFormat("KVM_IRQ_LINE vcpu %u %s", vcpu, input ? "FIQ" : "IRQ"));
  return absl::OkStatus();
}

absl::Status KvmArm64Vm::cpu_irq_line(unsigned vcpu, unsigned input, bool level) {
  if (!user_irqchip_) return absl::FailedPreconditionError("the vGIC drives the vCPUs' inputs");
  if (vcpu >= ncpus_ || vcpu >= 256 || input > 1)
    return absl::InvalidArgumentError("no such vCPU input");
  std::lock_guard<std::mutex> g(cpu_mu_);
  uint8_t bit = uint8_t(1u << input);
  cpu_lines_[vcpu] = level ? uint8_t(cpu_lines_[vcpu] | bit) : uint8_t(cpu_lines_[vcpu] & ~bit);
  if (!cpu_created_[vcpu]) return absl::OkStatus();  // applied at creation
  absl::Status st = cpu_irq_ioctl(vcpu, input, level);
  KvmArm64Vcpu* target = cpu_obj_[vcpu];
  if (target && !target->on_own_thread()) {
    // See sync_cpu_lines: make the target re-apply it from its own thread.
    cpu_gen_[vcpu].fetch_add(1, std::memory_order_acq_rel);
    target->kick();
  }
  return st;
}

void KvmArm64Vm::sync_cpu_lines(unsigned vcpu, uint32_t* seen) {
  if (vcpu >= 256 || cpu_gen_[vcpu].load(std::memory_order_acquire) == *seen) return;
  std::lock_guard<std::mutex> g(cpu_mu_);
  *seen = cpu_gen_[vcpu].load(std::memory_order_acquire);
  for (unsigned in = 0; in < 2; in++) {
    absl::Status st = cpu_irq_ioctl(vcpu, in, (cpu_lines_[vcpu] >> in) & 1);
    if (!st.ok())
      QVM_LOG_RL(LogLevel::Warn, "vcpu %u: %s", vcpu, std::string(st.message()).c_str());
  }
}

void KvmArm64Vm::vcpu_gone(unsigned vcpu) {
  std::lock_guard<std::mutex> g(cpu_mu_);
  if (vcpu < 256) {
    cpu_obj_[vcpu] = nullptr;
    cpu_created_[vcpu] = false;
  }
}

KvmArm64Vcpu::~KvmArm64Vcpu() {
  if (line_owner_) line_owner_->vcpu_gone(index_);
}

absl::Status KvmArm64Vm::watch_vcpu_outputs(std::function<void(unsigned, uint32_t)> fn) {
  if (!user_irqchip_)
    return absl::FailedPreconditionError("per-vCPU outputs reach user space only without a vGIC");
  outputs_fn_ = std::move(fn);
  return absl::OkStatus();
}

std::optional<bool> HostHasPmuV3() {
  int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<bool> r;
  if (ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION)
    r = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_PMU_V3) > 0;
  close(fd);
  return r;
}

absl::Status KvmArm64Vm::enable_pmu() {
  if (!vcpus_.empty()) return absl::InternalError("enable_pmu after the first vCPU");
  if (vm_.check_extension(KVM_CAP_ARM_PMU_V3) <= 0)
    return absl::FailedPreconditionError(
        "this host's KVM gives guests no PMUv3 (KVM_CAP_ARM_PMU_V3 missing: no host PMU "
        "driver, or a PMU KVM cannot virtualise)");
  pmu_ = true;
  return absl::OkStatus();
}

absl::Status KvmArm64Vm::init_pmu() {
  if (!pmu_) return absl::OkStatus();
  // With the in-kernel vGIC KVM raises the interrupt itself (the same PPI
  // on every vCPU, set before PMU_V3_INIT, which needs the vGIC
  // initialised). Without one, KVM refuses an interrupt number and reports
  // the overflow level in kvm_run->s.regs.device_irq_level (KVM_ARM_DEV_PMU)
  // for the user-space controller.
  unsigned intid = gic_fd_ >= 0 ? kPmuIntid : 0;
  if (gic_fd_ < 0 && !user_irqchip_)
    return absl::FailedPreconditionError("PMUv3: no interrupt controller for its overflow interrupt");
  for (KvmArm64Vcpu* v : vcpus_) {
    absl::Status st = v->init_pmu(intid);
    if (!st.ok()) return st;
  }
  Log(LogLevel::Debug, "PMUv3 on %zu vCPU(s), overflow interrupt %u (%s)", vcpus_.size(),
      kPmuIntid, intid ? "in-kernel vGIC" : "user-space GIC via device_irq_level");
  return absl::OkStatus();
}

absl::Status KvmArm64Vcpu::init_pmu(unsigned intid) {
  auto set = [&](uint64_t attr, const void* value, const char* what) -> absl::Status {
    kvm_device_attr a{};
    a.group = KVM_ARM_VCPU_PMU_V3_CTRL;
    a.attr = attr;
    a.addr = reinterpret_cast<uint64_t>(value);
    if (ioctl(fd_.fd(), KVM_SET_DEVICE_ATTR, &a) != 0)
      return Errno(absl::StrFormat("vcpu %u: PMUv3 %s", index_, what));
    return absl::OkStatus();
  };
  if (intid) {
    int irq = int(intid);
    absl::Status st = set(KVM_ARM_VCPU_PMU_V3_IRQ, &irq, "overflow interrupt");
    if (!st.ok()) return st;
  }
  return set(KVM_ARM_VCPU_PMU_V3_INIT, nullptr, "KVM_ARM_VCPU_PMU_V3_INIT");
}

uint64_t HostCounter() {
  uint64_t v;
  asm volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(v) : : "memory");
  return v;
}

absl::Status KvmArm64Vm::apply_counter_offset(uint64_t offset) {
  if (counter_ioctl_) {
    // One VM-wide offset for the virtual and the physical counter.
    KvmArmCounterOffset o{offset, 0};
    if (ioctl(vm_.vm_fd(), kKvmArmSetCounterOffset, &o) != 0)
      return Errno("KVM_ARM_SET_COUNTER_OFFSET");
    return absl::OkStatus();
  }
  // Older kernels (Debian 12's 6.1): the virtual counter's value, the same
  // on every vCPU (each write moves the VM's virtual offset).
  uint64_t value = HostCounter() - offset;
  for (KvmArm64Vcpu* v : vcpus_) {
    absl::Status st = v->set_reg(KVM_REG_ARM_TIMER_CNT, value);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status KvmArm64Vm::start_counter(CounterState* st) {
  counter_ = st;
  if (!st->known) {  // the VM's first start: the guest counter begins at 0
    st->offset = HostCounter();
    st->known = true;
  }
  st->paused = false;
  absl::Status s = apply_counter_offset(st->offset);
  if (s.ok())
    Log(LogLevel::Debug, "generic timer: guest counter = host counter - 0x%llx (%s)",
        (unsigned long long)st->offset,
        counter_ioctl_ ? "KVM_ARM_SET_COUNTER_OFFSET" : "KVM_REG_ARM_TIMER_CNT");
  return s;
}

void KvmArm64Vm::paused() {
  if (!counter_ || !counter_->freeze || vcpus_.empty()) return;
  uint64_t now = HostCounter() - counter_->offset;
  if (!counter_ioctl_) {  // what the vCPUs really count
    auto r = vcpus_[0]->get_reg(KVM_REG_ARM_TIMER_CNT);
    if (r.ok()) now = *r;
  }
  counter_->paused_at = now;
  counter_->paused = true;
}

void KvmArm64Vm::resuming() {
  if (!counter_ || !counter_->paused) return;
  counter_->paused = false;
  uint64_t offset = HostCounter() - counter_->paused_at;
  absl::Status st = apply_counter_offset(offset);
  if (!st.ok()) {
    Log(LogLevel::Error, "resume: guest counter not restored (%s): it jumps by the paused time",
        std::string(st.message()).c_str());
    return;
  }
  counter_->offset = offset;
}

absl::Status KvmArm64Vcpu::set_timer_irqs(unsigned vtimer, unsigned ptimer) {
  const std::pair<uint64_t, unsigned> irqs[] = {{KVM_ARM_VCPU_TIMER_IRQ_VTIMER, vtimer},
                                                {KVM_ARM_VCPU_TIMER_IRQ_PTIMER, ptimer}};
  for (const auto& [attr, intid] : irqs) {
    int value = int(intid);
    kvm_device_attr a{};
    a.group = KVM_ARM_VCPU_TIMER_CTRL;
    a.attr = attr;
    a.addr = reinterpret_cast<uint64_t>(&value);
    if (ioctl(fd_.fd(), KVM_HAS_DEVICE_ATTR, &a) != 0) continue;  // KVM's defaults: the same
    if (ioctl(fd_.fd(), KVM_SET_DEVICE_ATTR, &a) != 0)
      return Errno(absl::StrFormat("vcpu %u: timer interrupt %u", index_, intid));
  }
  return absl::OkStatus();
}

absl::Status KvmArm64Vm::signal_msi(uint64_t, uint32_t) {
  return absl::UnimplementedError("MSI needs a GIC ITS (not modelled)");
}

absl::Status KvmArm64Vm::set_msi_route(unsigned, uint64_t, uint32_t, bool) {
  return absl::UnimplementedError("MSI routes need a GIC ITS (not modelled)");
}

absl::Status KvmArm64Vm::irq_line(unsigned intid, bool level) {
  if (gic_fd_ < 0) return absl::FailedPreconditionError("no in-kernel GIC");
  if (intid < 32 || intid >= gic_.nirqs) return absl::InvalidArgumentError("not an SPI");
  {
    // Before CTRL_INIT the vGIC refuses lines (EBUSY): remember them.
    std::lock_guard<std::mutex> g(lines_mu_);
    if (!gic_ready_) {
      if (level) early_high_.insert(intid);
      else early_high_.erase(intid);
      return absl::OkStatus();
    }
  }
  kvm_irq_level l{};
  l.irq = (uint32_t(KVM_ARM_IRQ_TYPE_SPI) << KVM_ARM_IRQ_TYPE_SHIFT) | intid;
  l.level = level ? 1 : 0;
  if (ioctl(vm_.vm_fd(), KVM_IRQ_LINE, &l) != 0) return Errno("KVM_IRQ_LINE");
  return absl::OkStatus();
}

absl::Status KvmArm64Vcpu::init(const KvmVmFd& vm, const kvm_vcpu_init& target) {
  absl::Status st = fd_.open(vm, index_);
  if (!st.ok()) return st;
  if (ioctl(fd_.fd(), KVM_ARM_VCPU_INIT, &target) != 0) return Errno("KVM_ARM_VCPU_INIT");
  Log(LogLevel::Debug, "vcpu %u: created (target %u)", index_, target.target);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> KvmArm64Vcpu::get_reg(uint64_t id) {
  uint64_t v = 0;
  kvm_one_reg r{id, reinterpret_cast<uint64_t>(&v)};
  if (ioctl(fd_.fd(), KVM_GET_ONE_REG, &r) != 0)
    return Errno(absl::StrFormat("KVM_GET_ONE_REG 0x%x", id));
  return v;
}

absl::Status KvmArm64Vcpu::set_reg(uint64_t id, uint64_t v) {
  kvm_one_reg r{id, reinterpret_cast<uint64_t>(&v)};
  if (ioctl(fd_.fd(), KVM_SET_ONE_REG, &r) != 0)
    return Errno(absl::StrFormat("KVM_SET_ONE_REG 0x%x", id));
  return absl::OkStatus();
}

absl::Status KvmArm64Vcpu::set_entry(uint64_t pc, uint64_t x0) {
  absl::Status st = set_reg(CoreRegPstate(), kPstateEl1h | kPstateDaif);
  for (unsigned i = 0; st.ok() && i < 4; i++) st = set_reg(CoreRegX(i), i == 0 ? x0 : 0);
  if (st.ok()) st = set_reg(CoreRegPc(), pc);
  return st;
}

// Stage-1 translation of the PC (4 KiB granule, as Linux and the BSDs use)
// so the faulting instruction can be fetched. Every descriptor is read
// through the checked guest-memory accessors.
absl::StatusOr<uint64_t> KvmArm64Vcpu::translate_pc(uint64_t pc) {
  auto sctlr = get_reg(kSctlrEl1);
  if (!sctlr.ok()) return sctlr.status();
  if (!(*sctlr & 1)) return pc;  // MMU off: flat
  auto tcr = get_reg(kTcrEl1);
  if (!tcr.ok()) return tcr.status();
  bool upper = (pc >> 55) & 1;
  unsigned txsz = upper ? (*tcr >> 16) & 0x3f : *tcr & 0x3f;
  unsigned tg = upper ? (*tcr >> 30) & 3 : (*tcr >> 14) & 3;
  bool g4k = upper ? tg == 2 : tg == 0;
  if (!g4k) return absl::UnimplementedError("instruction fetch: only the 4 KiB granule is walked");
  if (txsz < 16 || txsz > 39) return absl::InvalidArgumentError("instruction fetch: bad TxSZ");
  auto ttbr = get_reg(upper ? kTtbr1El1 : kTtbr0El1);
  if (!ttbr.ok()) return ttbr.status();
  unsigned bits = 64 - txsz;
  int level = bits > 39 ? 0 : bits > 30 ? 1 : 2;
  uint64_t table = *ttbr & 0x0000fffffffff000ull;
  for (; level <= 3; level++) {
    unsigned shift = 12 + 9 * unsigned(3 - level);
    uint64_t idx = (pc >> shift) & 0x1ff;
    uint64_t desc = 0;
    if (!mem_ || !mem_->read(table + idx * 8, &desc, 8))
      return absl::InvalidArgumentError("instruction fetch: page table outside RAM");
    if (!(desc & 1)) return absl::InvalidArgumentError("instruction fetch: unmapped PC");
    uint64_t oa = desc & 0x0000fffffffff000ull;
    if (level == 3) return oa | (pc & 0xfff);
    if (!(desc & 2)) {  // block
      if (level == 0) return absl::InvalidArgumentError("instruction fetch: bad descriptor");
      uint64_t mask = (1ull << shift) - 1;
      return (oa & ~mask) | (pc & mask);
    }
    table = oa;
  }
  return absl::InvalidArgumentError("instruction fetch: walk did not end");
}

void KvmArm64Vcpu::unsupported(const std::string& why) {
  switch (unsupported_.action(Unsupported::SyndromelessAbort)) {
    case UnsupportedAction::Terminate:
      exit_.kind = ExitKind::Fatal;
      exit_.reason = absl::StrCat("MMIO abort without syndrome: ", why);
      return;
    case UnsupportedAction::Fault: {
      QVM_LOG_RL(LogLevel::Warn, "vcpu %u: MMIO abort without syndrome: %s (external abort)",
                 index_, why.c_str());
      kvm_vcpu_events ev{};
      ev.exception.ext_dabt_pending = 1;
      if (ioctl(fd_.fd(), KVM_SET_VCPU_EVENTS, &ev) != 0) {
        exit_.kind = ExitKind::Fatal;
        exit_.reason = absl::StrCat("cannot inject an external abort: ", strerror(errno));
        return;
      }
      exit_.kind = ExitKind::Interrupted;  // re-enter: the guest takes the abort
      return;
    }
    case UnsupportedAction::Log:
      QVM_LOG_RL(LogLevel::Warn, "vcpu %u: MMIO abort without syndrome: %s (skipped)",
                 index_, why.c_str());
      [[fallthrough]];
    case UnsupportedAction::Ignore:
      skip_pending_ = true;
      exit_.kind = ExitKind::Interrupted;
      return;
  }
}

void KvmArm64Vcpu::nisv(uint64_t ipa) {
  auto pc = get_reg(CoreRegPc());
  if (!pc.ok()) {
    exit_.kind = ExitKind::Fatal;
    exit_.reason = std::string(pc.status().message());
    return;
  }
  auto pa = translate_pc(*pc);
  if (!pa.ok()) return unsupported(absl::StrFormat("pc 0x%x: %s", *pc, pa.status().message()));
  uint32_t insn = 0;
  if (!mem_ || !mem_->read(*pa, &insn, 4))
    return unsupported(absl::StrFormat("pc 0x%x: instruction not in RAM", *pc));
  auto acc = a64::DecodeLoadStore(insn);
  if (!acc.ok()) return unsupported(absl::StrFormat("pc 0x%x: %s", *pc, acc.status().message()));
  acc_ = *acc;
  ipa_ = ipa;
  element_ = 0;
  emulating_ = true;
  loaded_[0] = loaded_[1] = 0;
  // Hand out the first element.
  exit_.kind = ExitKind::Mmio;
  exit_.addr = ipa_;
  exit_.size = acc_.size;
  exit_.write = !acc_.load;
  std::memset(buf_, 0, sizeof buf_);
  if (!acc_.load) {
    uint64_t v = 0;
    if (acc_.rt[0] != 31) {
      auto r = get_reg(CoreRegX(acc_.rt[0]));
      if (!r.ok()) {
        exit_.kind = ExitKind::Fatal;
        exit_.reason = std::string(r.status().message());
        emulating_ = false;
        return;
      }
      v = *r;
    }
    std::memcpy(buf_, &v, acc_.size);
  }
  exit_.data = buf_;
}

absl::StatusOr<bool> KvmArm64Vcpu::complete_emulation() {
  if (acc_.load) {
    uint64_t raw = 0;
    std::memcpy(&raw, buf_, acc_.size);
    loaded_[element_] = a64::LoadResult(acc_, raw);
  }
  if (element_ + 1 < acc_.count) {
    element_++;
    exit_ = Exit{};
    exit_.kind = ExitKind::Mmio;
    exit_.addr = ipa_ + uint64_t(acc_.size) * element_;
    exit_.size = acc_.size;
    exit_.write = !acc_.load;
    std::memset(buf_, 0, sizeof buf_);
    if (!acc_.load && acc_.rt[element_] != 31) {
      auto r = get_reg(CoreRegX(acc_.rt[element_]));
      if (!r.ok()) return r.status();
      std::memcpy(buf_, &*r, acc_.size);
    }
    exit_.data = buf_;
    return true;
  }
  emulating_ = false;
  if (acc_.load)
    for (unsigned i = 0; i < acc_.count; i++)
      if (acc_.rt[i] != 31) {
        absl::Status st = set_reg(CoreRegX(acc_.rt[i]), loaded_[i]);
        if (!st.ok()) return st;
      }
  if (acc_.writeback) {
    uint64_t id = CoreRegX(acc_.rn);
    if (acc_.rn == 31) {
      auto ps = get_reg(CoreRegPstate());
      if (!ps.ok()) return ps.status();
      id = (*ps & 0xf) == kPstateEl1h ? CoreRegSpEl1() : CoreRegSp();
    }
    auto base = get_reg(id);
    if (!base.ok()) return base.status();
    absl::Status st = set_reg(id, *base + uint64_t(acc_.wb_offset));
    if (!st.ok()) return st;
  }
  auto pc = get_reg(CoreRegPc());
  if (!pc.ok()) return pc.status();
  absl::Status st = set_reg(CoreRegPc(), *pc + 4);
  if (!st.ok()) return st;
  return false;
}

absl::StatusOr<Exit*> KvmArm64Vcpu::run() {
  if (emulating_) {
    auto more = complete_emulation();
    if (!more.ok()) return more.status();
    if (*more) return &exit_;
  }
  if (skip_pending_) {
    skip_pending_ = false;
    auto pc = get_reg(CoreRegPc());
    if (!pc.ok()) return pc.status();
    absl::Status st = set_reg(CoreRegPc(), *pc + 4);
    if (!st.ok()) return st;
  }
  kvm_run* run = fd_.run_page();
  exit_ = Exit{};
  if (!entered_once_) {
    entered_once_ = true;
    Log(LogLevel::Debug, "vcpu %u: first entry", index_);
  }
  if (line_owner_) line_owner_->sync_cpu_lines(index_, &lines_seen_);
  auto entered = fd_.enter();
  if (!entered.ok()) return entered.status();
  if (outputs_fn_) {
    // User irqchip: KVM reports the timers' levels on every exit (and exits
    // with EINTR when one changed before re-entering the guest).
    uint32_t now = uint32_t(run->s.regs.device_irq_level) &
                   (KVM_ARM_DEV_EL1_VTIMER | KVM_ARM_DEV_EL1_PTIMER | KVM_ARM_DEV_PMU);
    if (now != outputs_) {
      outputs_ = now;
      (*outputs_fn_)(index_, now);
    }
  }
  if (!*entered) {
    exit_.kind = ExitKind::Interrupted;
    return &exit_;
  }
  switch (run->exit_reason) {
    case KVM_EXIT_ARM_NISV:
      nisv(run->arm_nisv.fault_ipa);
      break;
    case KVM_EXIT_DEBUG: {
      // The syndrome's exception class: BRK (0x3c), software step (0x32,
      // 0x33), hardware breakpoint (0x30, 0x31), watchpoint (0x34, 0x35).
      exit_.kind = ExitKind::Debug;
      unsigned ec = unsigned(run->debug.arch.hsr >> 26) & 0x3f;
      exit_.debug_why = ec == 0x3c                 ? Exit::DebugWhy::SwBreak
                        : ec == 0x32 || ec == 0x33 ? Exit::DebugWhy::Step
                        : ec == 0x30 || ec == 0x31 ? Exit::DebugWhy::HwBreak
                        : ec == 0x34 || ec == 0x35 ? Exit::DebugWhy::Watch
                                                   : Exit::DebugWhy::Other;
      auto pc = get_reg(CoreRegPc());
      exit_.addr = pc.ok() ? *pc : 0;
      // A hardware breakpoint's slot: the armed address the PC stands at.
      exit_.debug_slot = -1;
      if (exit_.debug_why == Exit::DebugWhy::HwBreak)
        for (unsigned i = 0; i < hw_armed_; i++)
          if (hw_addr_[i] == (exit_.addr & ~3ull)) exit_.debug_slot = int(i);
      break;
    }
    default:
      DecodeCommonExit(*run, &exit_);
  }
  return &exit_;
}

absl::StatusOr<VcpuRegs> KvmArm64Vcpu::regs() {
  VcpuRegs out;
  Aarch64Regs a;
  for (unsigned i = 0; i < 31; i++) {
    auto r = get_reg(CoreRegX(i));
    if (!r.ok()) return r.status();
    a.x[i] = *r;
  }
  auto pc = get_reg(CoreRegPc());
  auto ps = get_reg(CoreRegPstate());
  if (!pc.ok()) return pc.status();
  if (!ps.ok()) return ps.status();
  auto sp = get_reg((*ps & 0xf) == kPstateEl1h ? CoreRegSpEl1() : CoreRegSp());
  if (!sp.ok()) return sp.status();
  out.pc = a.pc = *pc;
  out.sp = a.sp = *sp;
  a.pstate = *ps;
  SetRegs(out, Aarch64CpuModel(), a);
  out.text = absl::StrFormat("pc=%016x sp=%016x pstate=%08x x0=%016x x30=%016x", *pc, *sp,
                             *ps, a.x[0], a.x[30]);
  return out;
}

absl::Status KvmArm64Vcpu::set_regs(const VcpuRegs& in) {
  if (in.model != &Aarch64CpuModel()) return absl::InvalidArgumentError("not an aarch64 snapshot");
  Aarch64Regs a = RegsAs<Aarch64Regs>(in);
  auto ps = get_reg(CoreRegPstate());
  if (!ps.ok()) return ps.status();
  absl::Status st;
  for (unsigned i = 0; st.ok() && i < 31; i++) st = set_reg(CoreRegX(i), a.x[i]);
  // sp is the current exception level's, chosen by the pstate it had.
  if (st.ok()) st = set_reg((*ps & 0xf) == kPstateEl1h ? CoreRegSpEl1() : CoreRegSp(), a.sp);
  if (st.ok()) st = set_reg(CoreRegPc(), a.pc);
  if (st.ok() && a.pstate != *ps) st = set_reg(CoreRegPstate(), a.pstate);
  return st;
}

absl::Status KvmArm64Vcpu::set_guest_debug(const GuestDebug& d) {
  kvm_guest_debug g{};
  unsigned armed = 0;
  if (d.enable) {
    if (d.hw.size() > hw_bps_)
      return absl::ResourceExhaustedError(
          absl::StrFormat("KVM offers %u hardware breakpoints", hw_bps_));
    g.control = KVM_GUESTDBG_ENABLE;
    if (d.sw_breakpoints) g.control |= KVM_GUESTDBG_USE_SW_BP;
    if (d.single_step) g.control |= KVM_GUESTDBG_SINGLESTEP;
    for (size_t i = 0; i < d.hw.size(); i++) {
      const HwPoint& p = d.hw[i];
      if (p.kind != HwPoint::kExec)
        return absl::UnimplementedError("watchpoints: not on aarch64 yet");
      if (p.addr & 3) return absl::InvalidArgumentError("an A64 instruction is 4-byte aligned");
      // DBGBVR: the address; DBGBCR: E (bit 0), PMC 0b11 (EL1 and EL0),
      // BAS 0b1111 (the whole A64 instruction), an unlinked address match.
      g.arch.dbg_bvr[i] = p.addr;
      g.arch.dbg_bcr[i] = 1u | (3u << 1) | (0xfu << 5);
    }
    armed = unsigned(d.hw.size());
    if (armed) g.control |= KVM_GUESTDBG_USE_HW;
  }
  if (ioctl(fd_.fd(), KVM_SET_GUEST_DEBUG, &g) != 0) return Errno("KVM_SET_GUEST_DEBUG");
  for (unsigned i = 0; i < armed; i++) hw_addr_[i] = g.arch.dbg_bvr[i];
  hw_armed_ = armed;
  return absl::OkStatus();
}

}  // namespace qvm::arm64
