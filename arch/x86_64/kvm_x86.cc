#include "arch/x86_64/kvm_x86.h"

#include <sys/ioctl.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "vmm/log.h"

namespace qvm::x86 {
namespace {

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(errno)));
}

kvm_segment ToKvm(const boot::Segment& s) {
  kvm_segment k{};
  k.base = s.base;
  k.limit = s.limit;
  k.selector = s.selector;
  k.type = s.type;
  k.present = s.present;
  k.dpl = s.dpl;
  k.db = s.db;
  k.s = s.s;
  k.l = s.l;
  k.g = s.g;
  k.unusable = s.present ? 0 : 1;
  return k;
}

unsigned Log2Ceil(unsigned n) {
  unsigned s = 0;
  while ((1u << s) < n) s++;
  return s;
}

}  // namespace

absl::Status KvmX86Vm::init(unsigned ncpus) {
  ncpus_ = ncpus;
  absl::Status st = vm_.open();
  if (!st.ok()) return st;
  // VMX needs these three pages outside guest RAM; SVM ignores them.
  if (ioctl(vm_.vm_fd(), KVM_SET_TSS_ADDR, 0xfffbd000ul) != 0)
    return Errno("KVM_SET_TSS_ADDR");
  if (!vm_.check_extension(KVM_CAP_SPLIT_IRQCHIP))
    return absl::FailedPreconditionError(
        "KVM lacks KVM_CAP_SPLIT_IRQCHIP (in-kernel local APIC with a user-space IOAPIC)");
  st = vm_.enable_cap(KVM_CAP_SPLIT_IRQCHIP, kIoapicPins);
  if (!st.ok()) return st;
  if (vm_.check_extension(KVM_CAP_X86_USER_SPACE_MSR)) {
    // Unknown MSRs come to qvm, where the `unsupported` policy decides.
    user_msr_ = vm_.enable_cap(KVM_CAP_X86_USER_SPACE_MSR,
                               KVM_MSR_EXIT_REASON_UNKNOWN).ok();
  }
  // CPUID: what KVM supports, adjusted per vCPU at creation.
  for (size_t n = 256; n <= 4096; n *= 2) {
    KvmFlexArray<kvm_cpuid_entry2> c(n);
    if (ioctl(vm_.kvm_fd(), kKvmGetSupportedCpuid, c.data()) == 0) {
      cpuid_.assign(c.entries(), c.entries() + c.count());
      return absl::OkStatus();
    }
    if (errno != E2BIG) return Errno("KVM_GET_SUPPORTED_CPUID");
  }
  return absl::InternalError("KVM_GET_SUPPORTED_CPUID: too many entries");
}

std::string KvmX86Vm::describe() const {
  return absl::StrCat(DescribeKvmHost(), ", split irqchip",
                      user_msr_ ? ", user-space MSR exits" : "");
}

absl::Status KvmX86Vm::map_memory(const GuestMemory& mem) {
  return vm_.map_memory(mem);
}

absl::StatusOr<std::unique_ptr<VcpuBackend>> KvmX86Vm::create_vcpu(unsigned index) {
  auto v = std::make_unique<KvmX86Vcpu>(index);
  absl::Status st = v->init(vm_, cpuid_, ncpus_);
  if (!st.ok()) return st;
  return std::unique_ptr<VcpuBackend>(std::move(v));
}

absl::Status KvmX86Vm::signal_msi(uint64_t address, uint32_t data) {
  return vm_.signal_msi(address, data);
}

absl::Status KvmX86Vm::set_msi_route(unsigned gsi, uint64_t address, uint32_t data,
                                     bool masked) {
  return vm_.set_msi_route(gsi, address, data, masked);
}

absl::Status KvmX86Vcpu::init(const KvmVmFd& vm, const std::vector<kvm_cpuid_entry2>& cpuid_in,
                              unsigned ncpus) {
  absl::Status st = fd_.open(vm, index_);
  if (!st.ok()) return st;
  KvmFlexArray<kvm_cpuid_entry2> c(cpuid_in.size());
  std::copy(cpuid_in.begin(), cpuid_in.end(), c.entries());
  unsigned shift = Log2Ceil(ncpus);
  for (uint32_t i = 0; i < c.count(); i++) {
    kvm_cpuid_entry2& e = c.entries()[i];
    switch (e.function) {
      case 1:
        e.ebx = (e.ebx & 0x0000ffff) | (index_ << 24) | ((ncpus & 0xff) << 16);
        e.ecx |= 1u << 31;  // running under a hypervisor
        if (ncpus > 1) e.edx |= 1u << 28;
        break;
      case 0xa:  // no architectural PMU
        e.eax = e.ebx = e.ecx = e.edx = 0;
        break;
      case 0xb:
      case 0x1f:
        // Topology: every vCPU is one core of one package.
        if (e.index == 0) {
          e.eax = 0;
          e.ebx = 1;
          e.ecx = 0x100;  // SMT level
        } else if (e.index == 1) {
          e.eax = shift;
          e.ebx = ncpus;
          e.ecx = 0x201;  // core level
        } else {
          e.eax = e.ebx = 0;
          e.ecx = e.index;
        }
        e.edx = index_;
        break;
      default:
        break;
    }
  }
  if (ioctl(fd_.fd(), kKvmSetCpuid2, c.data()) != 0) return Errno("KVM_SET_CPUID2");
  // MSRs a firmware would have set: fast strings, and MTRRs enabled with
  // write-back default so that the guest's PAT setup works.
  KvmFlexArray<kvm_msr_entry> msrs(2);
  msrs.entries()[0] = kvm_msr_entry{};
  msrs.entries()[0].index = 0x1a0;  // IA32_MISC_ENABLE: fast strings
  msrs.entries()[0].data = 1;
  msrs.entries()[1] = kvm_msr_entry{};
  msrs.entries()[1].index = 0x2ff;  // IA32_MTRR_DEF_TYPE: E | FE | WB
  msrs.entries()[1].data = 0xc06;
  int n = ioctl(fd_.fd(), kKvmSetMsrs, msrs.data());
  if (n != 2) Log(LogLevel::Debug, "vcpu %u: KVM_SET_MSRS set %d of 2", index_, n);
  return absl::OkStatus();
}

absl::Status KvmX86Vcpu::set_entry(const boot::EntryState& s) {
  kvm_sregs sr{};
  if (ioctl(fd_.fd(), KVM_GET_SREGS, &sr) != 0) return Errno("KVM_GET_SREGS");
  sr.cs = ToKvm(s.cs);
  sr.ds = sr.es = sr.fs = sr.gs = sr.ss = ToKvm(s.ds);
  sr.tr = ToKvm(s.tr);
  sr.gdt.base = s.gdt_base;
  sr.gdt.limit = s.gdt_limit;
  sr.idt.base = 0;
  sr.idt.limit = 0;
  sr.cr0 = s.cr0;
  sr.cr3 = s.cr3;
  sr.cr4 = s.cr4;
  sr.efer = s.efer;
  if (ioctl(fd_.fd(), KVM_SET_SREGS, &sr) != 0) return Errno("KVM_SET_SREGS");
  kvm_regs r{};
  r.rip = s.rip;
  r.rsp = s.rsp;
  r.rflags = s.rflags;
  r.rax = s.rax;
  r.rbx = s.rbx;
  r.rcx = s.rcx;
  r.rdx = s.rdx;
  r.rsi = s.rsi;
  r.rdi = s.rdi;
  r.rbp = s.rbp;
  if (ioctl(fd_.fd(), KVM_SET_REGS, &r) != 0) return Errno("KVM_SET_REGS");
  return absl::OkStatus();
}

void KvmX86Vcpu::set_extint(bool level, std::function<int()> ack) {
  {
    std::lock_guard<std::mutex> g(extint_mu_);
    extint_level_ = level;
    extint_ack_ = std::move(ack);
  }
  if (level) kick();
}

void KvmX86Vcpu::inject_extint() {
  kvm_run* run = fd_.run_page();
  std::function<int()> ack;
  {
    std::lock_guard<std::mutex> g(extint_mu_);
    if (!extint_level_ || !extint_ack_) {
      run->request_interrupt_window = 0;
      return;
    }
    ack = extint_ack_;
  }
  if (run->ready_for_interrupt_injection && run->if_flag) {
    int vec = ack();
    if (vec >= 0 && vec < 256) {
      kvm_interrupt irq{};
      irq.irq = uint32_t(vec);
      if (ioctl(fd_.fd(), KVM_INTERRUPT, &irq) != 0)
        QVM_LOG_RL(LogLevel::Warn, "vcpu %u: KVM_INTERRUPT: %s", index_, strerror(errno));
    }
    run->request_interrupt_window = 0;
  } else {
    run->request_interrupt_window = 1;
  }
}

void KvmX86Vcpu::complete_previous() {
  if (!pending_msr_) return;
  pending_msr_ = false;
  kvm_run* run = fd_.run_page();
  run->msr.error = exit_.msr_fault ? 1 : 0;
  if (exit_.kind == ExitKind::MsrRead) run->msr.data = exit_.msr_value;
}

absl::StatusOr<Exit*> KvmX86Vcpu::run() {
  complete_previous();
  inject_extint();
  kvm_run* run = fd_.run_page();
  exit_ = Exit{};
  auto entered = fd_.enter();
  if (!entered.ok()) return entered.status();
  if (!*entered) {
    exit_.kind = ExitKind::Interrupted;
    return &exit_;
  }
  switch (run->exit_reason) {
    case KVM_EXIT_IO: {
      uint64_t bytes = uint64_t(run->io.size) * run->io.count;
      if (run->io.data_offset > fd_.run_size() ||
          bytes > fd_.run_size() - run->io.data_offset) {
        exit_.kind = ExitKind::Fatal;
        exit_.reason = "port I/O data outside the kvm_run page";
        break;
      }
      exit_.kind = ExitKind::Pio;
      exit_.addr = run->io.port;
      exit_.size = run->io.size;
      exit_.count = run->io.count;
      exit_.write = run->io.direction == KVM_EXIT_IO_OUT;
      exit_.data = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
      break;
    }
    case KVM_EXIT_MMIO:
      exit_.kind = ExitKind::Mmio;
      exit_.addr = run->mmio.phys_addr;
      exit_.size = run->mmio.len;
      exit_.write = run->mmio.is_write;
      exit_.data = run->mmio.data;
      break;
    case KVM_EXIT_IOAPIC_EOI:
      exit_.kind = ExitKind::Eoi;
      exit_.vector = run->eoi.vector;
      break;
    case KVM_EXIT_X86_RDMSR:
    case KVM_EXIT_X86_WRMSR:
      exit_.kind = run->exit_reason == KVM_EXIT_X86_RDMSR ? ExitKind::MsrRead
                                                          : ExitKind::MsrWrite;
      exit_.addr = run->msr.index;
      exit_.msr_value = run->msr.data;
      pending_msr_ = true;
      break;
    case KVM_EXIT_HLT:
      exit_.kind = ExitKind::Halt;
      break;
    case KVM_EXIT_IRQ_WINDOW_OPEN:
      exit_.kind = ExitKind::IrqWindow;
      break;
    case KVM_EXIT_INTR:
      exit_.kind = ExitKind::Interrupted;
      break;
    case KVM_EXIT_SHUTDOWN:
      exit_.kind = ExitKind::Shutdown;
      break;
    case KVM_EXIT_SYSTEM_EVENT:
      switch (run->system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN:
          exit_.kind = ExitKind::PowerOff;
          break;
        case KVM_SYSTEM_EVENT_RESET:
          exit_.kind = ExitKind::Reset;
          break;
        default:
          exit_.kind = ExitKind::Fatal;
          exit_.reason = absl::StrFormat("system event %u", run->system_event.type);
      }
      break;
    case KVM_EXIT_FAIL_ENTRY:
      exit_.kind = ExitKind::Fatal;
      exit_.reason = absl::StrFormat(
          "guest entry failed (hardware reason 0x%llx)",
          (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
      break;
    case KVM_EXIT_INTERNAL_ERROR: {
      exit_.kind = ExitKind::Fatal;
      kvm_regs r{};
      ioctl(fd_.fd(), KVM_GET_REGS, &r);
      exit_.reason = absl::StrFormat(
          "KVM internal error, suberror %u, at rip 0x%llx",
          run->internal.suberror, (unsigned long long)r.rip);
      break;
    }
    default:
      exit_.kind = ExitKind::Fatal;
      exit_.reason = absl::StrFormat("unexpected KVM exit reason %u", run->exit_reason);
  }
  return &exit_;
}

absl::StatusOr<VcpuRegs> KvmX86Vcpu::regs() {
  kvm_regs r{};
  if (ioctl(fd_.fd(), KVM_GET_REGS, &r) != 0) return Errno("KVM_GET_REGS");
  VcpuRegs out;
  out.pc = r.rip;
  out.sp = r.rsp;
  uint64_t g[16] = {r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp,
                    r.r8,  r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15};
  std::memcpy(out.gpr, g, sizeof g);
  out.ngpr = 16;
  out.text = absl::StrFormat("rip=%016x rsp=%016x rflags=%08x rax=%016x", r.rip,
                             r.rsp, r.rflags, r.rax);
  return out;
}

}  // namespace qvm::x86
