#include "arch/x86_64/kvm_x86.h"

#include <cpuid.h>
#include <sys/ioctl.h>
#include <x86intrin.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "arch/x86_64/regs.h"
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

// KVM_GET_MSRS with the C-layout header (see arch/kvm/kvm.h).
constexpr unsigned long kKvmGetMsrs = _IOWR(KVMIO, 0x88, KvmFlexHeader);

unsigned Log2Ceil(unsigned n) {
  unsigned s = 0;
  while ((1u << s) < n) s++;
  return s;
}

// Leaf 0xB/0x1F sub-leaf `e.index`: every vCPU is one core of one package
// (SMT level width 0, core level width `shift`, x2APIC ID = vCPU index).
void Topology(kvm_cpuid_entry2& e, unsigned index, unsigned ncpus, unsigned shift) {
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
  e.edx = index;
}

}  // namespace

std::vector<kvm_cpuid_entry2> ApplyCpuidPolicy(const std::vector<kvm_cpuid_entry2>& supported,
                                               unsigned index, unsigned ncpus,
                                               const CpuidOptions& opt) {
  auto hv_leaf = [](uint32_t f) { return f >= 0x40000000u && f <= 0x4fffffffu; };
  std::vector<kvm_cpuid_entry2> out;
  out.reserve(supported.size() + 1);
  unsigned shift = Log2Ceil(ncpus);
  bool qvm_slot_taken = false;
  for (kvm_cpuid_entry2 e : supported) {
    if (hv_leaf(e.function)) {
      if (opt.hide_hypervisor) continue;
      if ((e.function & 0xffffff00u) == kQvmCpuidBase) qvm_slot_taken = true;
    }
    // The brand string: KVM hands these leaves out as zeros (a VMM names
    // its processor); a guest then calls it by family/model ("AMD 17/01").
    if (e.function >= 0x80000002u && e.function <= 0x80000004u && !opt.brand.empty() &&
        (e.eax | e.ebx | e.ecx | e.edx) == 0) {
      char b[48] = {};
      std::memcpy(b, opt.brand.data(), std::min(opt.brand.size(), sizeof b - 1));
      std::memcpy(&e.eax, b + 16 * (e.function - 0x80000002u), 16);
    }
    switch (e.function) {
      case 1:
        e.ebx = (e.ebx & 0x0000ffff) | (index << 24) | ((ncpus & 0xff) << 16);
        if (opt.hide_hypervisor)
          e.ecx &= ~(1u << 31);
        else
          e.ecx |= 1u << 31;  // running under a hypervisor
        if (ncpus > 1) e.edx |= 1u << 28;
        break;
      case 0xa:  // no architectural PMU
        e.eax = e.ebx = e.ecx = e.edx = 0;
        break;
      case 0xb:
      case 0x1f:
        Topology(e, index, ncpus, shift);
        break;
      default:
        break;
    }
    out.push_back(e);
  }
  // Leaves 0xB/0x1F: KVM may list only some sub-leaves (on AMD hosts only
  // sub-leaf 0), and a sub-leaf missing from the table reads as zeros: a
  // guest would see no core level. Every vCPU gets levels 0 (SMT), 1 (core)
  // and the invalid level 2 that ends a guest's walk.
  for (uint32_t leaf : {0xbu, 0x1fu}) {
    bool present = false, have[3] = {false, false, false};
    for (const auto& e : out)
      if (e.function == leaf) {
        present = true;
        if (e.index < 3) have[e.index] = true;
      }
    if (!present) continue;
    for (uint32_t i = 0; i < 3; i++) {
      if (have[i] || out.size() >= 255) continue;
      kvm_cpuid_entry2 e{};
      e.function = leaf;
      e.index = i;
      e.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
      Topology(e, index, ncpus, shift);
      out.push_back(e);
    }
  }
  // qvm's identification range, in the next 0x100 slot after KVM's. Guests
  // scan 0x40000000..0x4000ff00 in 0x100 steps for the signature they know
  // (Linux: hypervisor_cpuid_base), so this one never hides KVM's leaves;
  // KVM's own table limit is 256 entries.
  if (opt.qvm_leaf && !opt.hide_hypervisor && !qvm_slot_taken && out.size() < 256) {
    kvm_cpuid_entry2 q{};
    q.function = kQvmCpuidBase;
    q.eax = kQvmCpuidBase;
    std::memcpy(&q.ebx, "QVMQ", 4);
    std::memcpy(&q.ecx, "VMQV", 4);
    std::memcpy(&q.edx, "M\0\0\0", 4);
    out.push_back(q);
  }
  return out;
}

absl::Status KvmX86Vm::init(unsigned ncpus, const CpuidOptions& cpuid) {
  ncpus_ = ncpus;
  cpuid_opt_ = cpuid;
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
    // FILTER: MSRs qvm emulates itself (the TSC, see KvmX86Vcpu::init).
    user_msr_ = vm_.enable_cap(KVM_CAP_X86_USER_SPACE_MSR,
                               KVM_MSR_EXIT_REASON_UNKNOWN |
                                   KVM_MSR_EXIT_REASON_FILTER).ok();
    msr_filter_ = user_msr_ && vm_.check_extension(KVM_CAP_X86_MSR_FILTER);
  }
  // The host's brand string, for the leaves KVM leaves empty.
  if (cpuid_opt_.brand.empty()) {
    unsigned a, b, c, d;
    __cpuid(0x80000000u, a, b, c, d);
    if (a >= 0x80000004u) {
      char s[49] = {};
      for (unsigned i = 0; i < 3; i++) {
        __cpuid(0x80000002u + i, a, b, c, d);
        std::memcpy(s + 16 * i, &a, 4);
        std::memcpy(s + 16 * i + 4, &b, 4);
        std::memcpy(s + 16 * i + 8, &c, 4);
        std::memcpy(s + 16 * i + 12, &d, 4);
      }
      cpuid_opt_.brand = s;  // up to the first NUL
    }
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
                      user_msr_ ? ", user-space MSR exits" : "",
                      tsc_emulated_ ? ", TSC MSR emulated in qvm" : "");
}

absl::Status KvmX86Vm::map_memory(const GuestMemory& mem) {
  mem_ = &mem;
  return vm_.map_memory(mem);
}

absl::StatusOr<std::unique_ptr<VcpuBackend>> KvmX86Vm::create_vcpu(unsigned index) {
  auto v = std::make_unique<KvmX86Vcpu>(index, mem_);
  absl::Status st = v->init(vm_, cpuid_, ncpus_, cpuid_opt_);
  if (!st.ok()) return st;
  // IA32_TIME_STAMP_COUNTER (0x10): a KVM that models it (hardware KVM)
  // reads back the guest TSC, which is non-zero once the vCPU exists. One
  // that does not (kvm_pvm: reads 0, ignores writes) gets the MSR filtered
  // to user space, where each vCPU keeps its own offset (see
  // arch/x86_64/README.md: RDTSC itself cannot follow there).
  if (index == 0 && msr_filter_ && v->kernel_tsc_msr_missing()) {
    static uint8_t deny[1] = {0};  // bit clear = exit to user space
    kvm_msr_filter f{};
    f.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
    f.ranges[0].flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
    f.ranges[0].nmsrs = 1;
    f.ranges[0].base = 0x10;
    f.ranges[0].bitmap = deny;
    if (ioctl(vm_.vm_fd(), KVM_X86_SET_MSR_FILTER, &f) == 0)
      tsc_emulated_ = true;
    else
      Log(LogLevel::Warn, "KVM_X86_SET_MSR_FILTER: %s (TSC MSR writes ignored)",
          strerror(errno));
  }
  v->set_tsc_emulated(tsc_emulated_);
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
                              unsigned ncpus, const CpuidOptions& opt) {
  absl::Status st = fd_.open(vm, index_);
  if (!st.ok()) return st;
  std::vector<kvm_cpuid_entry2> set = ApplyCpuidPolicy(cpuid_in, index_, ncpus, opt);
  KvmFlexArray<kvm_cpuid_entry2> c(set.size());
  std::copy(set.begin(), set.end(), c.entries());
  if (ioctl(fd_.fd(), kKvmSetCpuid2, c.data()) != 0) return Errno("KVM_SET_CPUID2");
  // MSRs a firmware would have set: fast strings, and MTRRs enabled with
  // write-back default so that the guest's PAT setup works.
  KvmFlexArray<kvm_msr_entry> msrs(2);
  msrs.entries()[0] = kvm_msr_entry{};
  msrs.entries()[0].index = 0x1a0;  // IA32_MISC_ENABLE: fast strings
  msrs.entries()[0].data = 1;
  msrs.entries()[1] = kvm_msr_entry{};
  msrs.entries()[1].index = 0x2ff;  // IA32_MTRR_DEF_TYPE: E | FE | WB by default
  msrs.entries()[1].data = opt.mtrr_def_type;
  int n = ioctl(fd_.fd(), kKvmSetMsrs, msrs.data());
  if (n != 2) Log(LogLevel::Debug, "vcpu %u: KVM_SET_MSRS set %d of 2", index_, n);
  return absl::OkStatus();
}

bool KvmX86Vcpu::kernel_tsc_msr_missing() {
  // Write a marker value and read it back: a KVM that models the MSR returns
  // the marker plus the few cycles since; one that does not returns 0. The
  // TSC is then put back to 0 (its value at vCPU creation).
  constexpr uint64_t kMark = uint64_t{1} << 40;
  KvmFlexArray<kvm_msr_entry> m(1);
  m.entries()[0] = kvm_msr_entry{};
  m.entries()[0].index = 0x10;
  m.entries()[0].data = kMark;
  if (ioctl(fd_.fd(), kKvmSetMsrs, m.data()) != 1) return true;
  m.entries()[0].data = 0;
  if (ioctl(fd_.fd(), kKvmGetMsrs, m.data()) != 1) return true;
  uint64_t got = m.entries()[0].data;
  m.entries()[0].data = 0;
  ioctl(fd_.fd(), kKvmSetMsrs, m.data());
  return got < kMark || got - kMark > (uint64_t{1} << 36);
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
  kvm_run* run = fd_.run_page();
again:
  inject_extint();
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
    case KVM_EXIT_IOAPIC_EOI:
      exit_.kind = ExitKind::Eoi;
      exit_.vector = run->eoi.vector;
      break;
    case KVM_EXIT_X86_RDMSR:
    case KVM_EXIT_X86_WRMSR:
      if (tsc_emulated_ && run->msr.index == 0x10 &&
          run->msr.reason == KVM_MSR_EXIT_REASON_FILTER) {
        // The guest TSC is the host's plus this vCPU's offset; a write
        // moves it (forwards or backwards) and it keeps counting.
        if (run->exit_reason == KVM_EXIT_X86_RDMSR)
          run->msr.data = __rdtsc() + tsc_offset_;
        else
          tsc_offset_ = run->msr.data - __rdtsc();
        run->msr.error = 0;
        goto again;
      }
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
    case KVM_EXIT_SHUTDOWN:
      exit_.kind = ExitKind::Shutdown;
      break;
    case KVM_EXIT_DEBUG: {
      // #BP (int3 under KVM_GUESTDBG_USE_SW_BP): pc is the int3's address.
      // #DB: DR6 says which of DR0-DR3 fired (B0-B3) or a single step (BS).
      exit_.kind = ExitKind::Debug;
      exit_.addr = run->debug.arch.pc;
      uint64_t dr6 = run->debug.arch.dr6;
      if (run->debug.arch.exception == 3) {
        exit_.debug_why = Exit::DebugWhy::SwBreak;
      } else if (run->debug.arch.exception == 1 && (dr6 & 0xf)) {
        int slot = __builtin_ctzll(dr6 & 0xf);
        // DR7's R/W bits of that slot: 00 = instruction, else data.
        unsigned rw = unsigned(run->debug.arch.dr7 >> (16 + 4 * slot)) & 3;
        exit_.debug_why = rw == 0 ? Exit::DebugWhy::HwBreak : Exit::DebugWhy::Watch;
        exit_.debug_slot = slot;
      } else if (run->debug.arch.exception == 1 && (dr6 & 0x4000)) {
        exit_.debug_why = Exit::DebugWhy::Step;
      }
      break;
    }
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
      DecodeCommonExit(*run, &exit_);
  }
  return &exit_;
}

absl::StatusOr<VcpuRegs> KvmX86Vcpu::regs() {
  kvm_regs r{};
  if (ioctl(fd_.fd(), KVM_GET_REGS, &r) != 0) return Errno("KVM_GET_REGS");
  kvm_sregs sr{};
  if (ioctl(fd_.fd(), KVM_GET_SREGS, &sr) != 0) return Errno("KVM_GET_SREGS");
  VcpuRegs out;
  out.pc = r.rip;
  out.sp = r.rsp;
  X86_64Regs x;
  x.rax = r.rax, x.rbx = r.rbx, x.rcx = r.rcx, x.rdx = r.rdx;
  x.rsi = r.rsi, x.rdi = r.rdi, x.rbp = r.rbp, x.rsp = r.rsp;
  x.r8 = r.r8, x.r9 = r.r9, x.r10 = r.r10, x.r11 = r.r11;
  x.r12 = r.r12, x.r13 = r.r13, x.r14 = r.r14, x.r15 = r.r15;
  x.rip = r.rip, x.rflags = r.rflags;
  x.cs = sr.cs.selector, x.ss = sr.ss.selector, x.ds = sr.ds.selector;
  x.es = sr.es.selector, x.fs = sr.fs.selector, x.gs = sr.gs.selector;
  x.fs_base = sr.fs.base, x.gs_base = sr.gs.base;
  x.cr0 = sr.cr0, x.cr2 = sr.cr2, x.cr3 = sr.cr3, x.cr4 = sr.cr4, x.efer = sr.efer;
  SetRegs(out, X86_64CpuModel(), x);
  out.text = absl::StrFormat("rip=%016x rsp=%016x rflags=%08x rax=%016x cs=%04x cr0=%08x cr3=%x",
                             r.rip, r.rsp, r.rflags, r.rax, sr.cs.selector, sr.cr0, sr.cr3);
  return out;
}

absl::Status KvmX86Vcpu::set_regs(const VcpuRegs& in) {
  if (in.model != &X86_64CpuModel()) return absl::InvalidArgumentError("not an x86_64 snapshot");
  X86_64Regs x = RegsAs<X86_64Regs>(in);
  kvm_regs r{};
  kvm_sregs sr{};
  if (ioctl(fd_.fd(), KVM_GET_REGS, &r) != 0) return Errno("KVM_GET_REGS");
  if (ioctl(fd_.fd(), KVM_GET_SREGS, &sr) != 0) return Errno("KVM_GET_SREGS");
  // A selector alone says nothing of its descriptor (base, limit, type):
  // the debugger may write back what it read, not load a new one.
  if (x.cs != sr.cs.selector || x.ss != sr.ss.selector || x.ds != sr.ds.selector ||
      x.es != sr.es.selector || x.fs != sr.fs.selector || x.gs != sr.gs.selector)
    return absl::InvalidArgumentError("segment selectors cannot be changed from a debugger");
  r.rax = x.rax, r.rbx = x.rbx, r.rcx = x.rcx, r.rdx = x.rdx;
  r.rsi = x.rsi, r.rdi = x.rdi, r.rbp = x.rbp, r.rsp = x.rsp;
  r.r8 = x.r8, r.r9 = x.r9, r.r10 = x.r10, r.r11 = x.r11;
  r.r12 = x.r12, r.r13 = x.r13, r.r14 = x.r14, r.r15 = x.r15;
  r.rip = x.rip;
  r.rflags = (x.rflags & ~0x2ull) | 0x2;  // bit 1 reads as one
  if (ioctl(fd_.fd(), KVM_SET_REGS, &r) != 0) return Errno("KVM_SET_REGS");
  if (x.fs_base != sr.fs.base || x.gs_base != sr.gs.base || x.cr0 != sr.cr0 ||
      x.cr2 != sr.cr2 || x.cr3 != sr.cr3 || x.cr4 != sr.cr4 || x.efer != sr.efer) {
    sr.fs.base = x.fs_base, sr.gs.base = x.gs_base;
    sr.cr0 = x.cr0, sr.cr2 = x.cr2, sr.cr3 = x.cr3, sr.cr4 = x.cr4, sr.efer = x.efer;
    if (ioctl(fd_.fd(), KVM_SET_SREGS, &sr) != 0) return Errno("KVM_SET_SREGS");
  }
  return absl::OkStatus();
}

// A guest-virtual address through the vCPU's own page tables, walked here
// in the guest's RAM (Translate above). Not KVM_TRANSLATE: KVM walks as a
// supervisor data access, so with the guest's SMAP on (CR4.SMAP, which
// Linux sets) every user-space address fails, e.g. the stack of a vCPU that
// gdb stopped in a user process. KVM_TRANSLATE only without the RAM.
absl::StatusOr<uint64_t> KvmX86Vcpu::translate(uint64_t va) {
  if (mem_) {
    kvm_sregs sr{};
    if (ioctl(fd_.fd(), KVM_GET_SREGS, &sr) != 0) return Errno("KVM_GET_SREGS");
    uint64_t pa = 0;
    if (!Translate(*mem_, sr, va, &pa)) return absl::NotFoundError("not mapped");
    return pa;
  }
  kvm_translation t{};
  t.linear_address = va;
  if (ioctl(fd_.fd(), KVM_TRANSLATE, &t) != 0) return Errno("KVM_TRANSLATE");
  if (!t.valid) return absl::NotFoundError("not mapped");
  return uint64_t(t.physical_address);
}

absl::Status KvmX86Vcpu::set_guest_debug(const GuestDebug& d) {
  kvm_guest_debug g{};
  if (d.enable) {
    if (d.hw.size() > 4) return absl::ResourceExhaustedError("x86 has 4 debug registers");
    g.control = KVM_GUESTDBG_ENABLE;
    if (d.sw_breakpoints) g.control |= KVM_GUESTDBG_USE_SW_BP;
    if (d.single_step) g.control |= KVM_GUESTDBG_SINGLESTEP;
    uint64_t dr7 = 0x600;  // GE and the reserved bit 10, as the SDM sets them
    for (size_t i = 0; i < d.hw.size(); i++) {
      const HwPoint& p = d.hw[i];
      unsigned rw, len;
      switch (p.kind) {
        case HwPoint::kExec: rw = 0; break;
        case HwPoint::kWrite: rw = 1; break;
        case HwPoint::kAccess: rw = 3; break;
        default: return absl::InvalidArgumentError("x86 cannot watch reads alone");
      }
      switch (p.kind == HwPoint::kExec ? 1 : p.len) {
        case 1: len = 0; break;
        case 2: len = 1; break;
        case 4: len = 3; break;
        case 8: len = 2; break;
        default: return absl::InvalidArgumentError("x86 watches 1, 2, 4 or 8 bytes");
      }
      // A data breakpoint's address is aligned to its length.
      if (p.kind != HwPoint::kExec && (p.addr & (p.len - 1)))
        return absl::InvalidArgumentError("x86 watches only aligned ranges");
      g.arch.debugreg[i] = p.addr;
      dr7 |= (2ull << (2 * i)) | (uint64_t(rw) << (16 + 4 * i)) | (uint64_t(len) << (18 + 4 * i));
    }
    if (!d.hw.empty()) {
      g.control |= KVM_GUESTDBG_USE_HW_BP;
      g.arch.debugreg[7] = dr7;
    }
  }
  if (ioctl(fd_.fd(), KVM_SET_GUEST_DEBUG, &g) != 0) return Errno("KVM_SET_GUEST_DEBUG");
  return absl::OkStatus();
}

}  // namespace qvm::x86

namespace qvm::x86 {

bool Translate(const GuestMemory& mem, const kvm_sregs& sr, uint64_t va, uint64_t* pa) {
  if (!(sr.cr0 & 0x80000000)) {  // paging off
    *pa = va & 0xffffffffull;
    return true;
  }
  auto rd64 = [&](uint64_t a, uint64_t* v) { auto r = mem.read_obj<uint64_t>(a); if (!r) return false; *v = *r; return true; };
  auto rd32 = [&](uint64_t a, uint32_t* v) { auto r = mem.read_obj<uint32_t>(a); if (!r) return false; *v = *r; return true; };
  constexpr uint64_t kAddr = 0x000ffffffffff000ull;
  if (sr.efer & 0x400) {  // long mode: (PML5 ->) PML4 -> PDPT -> PD -> PT
    uint64_t table = sr.cr3 & kAddr, e = 0;
    int top = (sr.cr4 & 0x1000) ? 4 : 3;  // CR4.LA57: five levels
    for (int level = top; level >= 0; level--) {
      unsigned idx = unsigned((va >> (12 + 9 * level)) & 0x1ff);
      if (!rd64(table + idx * 8, &e) || !(e & 1)) return false;
      if (level > 0 && level < 3 && (e & 0x80)) {  // 1 GiB or 2 MiB page
        uint64_t span = 1ull << (12 + 9 * level);
        *pa = (e & kAddr & ~(span - 1)) | (va & (span - 1));
        return true;
      }
      table = e & kAddr;
    }
    *pa = table | (va & 0xfff);
    return true;
  }
  if (sr.cr4 & 0x20) {  // PAE: PDPT (4 entries) -> PD -> PT
    uint64_t e = 0;
    if (!rd64((sr.cr3 & 0xffffffe0ull) + ((va >> 30) & 3) * 8, &e) || !(e & 1)) return false;
    uint64_t pd = e & kAddr;
    if (!rd64(pd + ((va >> 21) & 0x1ff) * 8, &e) || !(e & 1)) return false;
    if (e & 0x80) {
      *pa = (e & kAddr & ~0x1fffffull) | (va & 0x1fffff);
      return true;
    }
    if (!rd64((e & kAddr) + ((va >> 12) & 0x1ff) * 8, &e) || !(e & 1)) return false;
    *pa = (e & kAddr) | (va & 0xfff);
    return true;
  }
  uint32_t e = 0;  // 32-bit: PD -> PT, 4 MiB pages with PSE
  if (!rd32((sr.cr3 & 0xfffff000u) + ((va >> 22) & 0x3ff) * 4, &e) || !(e & 1)) return false;
  if ((e & 0x80) && (sr.cr4 & 0x10)) {
    *pa = (e & 0xffc00000u) | (va & 0x3fffff);
    return true;
  }
  if (!rd32((e & 0xfffff000u) + ((va >> 12) & 0x3ff) * 4, &e) || !(e & 1)) return false;
  *pa = (e & 0xfffff000u) | (va & 0xfff);
  return true;
}

InsnContext KvmX86Vcpu::current_insn(const GuestMemory& mem) {
  InsnContext c;
  kvm_regs r{};
  kvm_sregs sr{};
  if (ioctl(fd_.fd(), KVM_GET_REGS, &r) != 0 || ioctl(fd_.fd(), KVM_GET_SREGS, &sr) != 0)
    return c;
  bool long_mode = (sr.efer & 0x400) && sr.cs.l;
  c.mode = long_mode ? 64 : ((sr.cr0 & 1) && sr.cs.db) ? 32 : 16;
  c.pc = long_mode ? r.rip : sr.cs.base + (c.mode == 16 ? (r.rip & 0xffff) : (r.rip & 0xffffffff));
  auto byte_at = [&](uint64_t va) -> int {
    uint64_t pa;
    if (!Translate(mem, sr, va, &pa)) return -1;
    auto b = mem.read_obj<uint8_t>(pa);
    return b ? int(*b) : -1;
  };
  // KVM completes a single OUT before exiting: RIP is already past it. Step
  // back over `out dx, al/ax/eax` (EE/EF) or `out imm8, ...` (E6/E7), with
  // an operand-size prefix, so the trace shows the instruction itself.
  if (exit_.kind == ExitKind::Pio && exit_.write && exit_.count == 1 && c.pc >= 3) {
    int b1 = byte_at(c.pc - 1), b2 = byte_at(c.pc - 2);
    uint64_t back = 0;
    if (b1 == 0xee || b1 == 0xef) back = 1;
    else if (b2 == 0xe6 || b2 == 0xe7) back = 2;
    if (back && byte_at(c.pc - back - 1) == 0x66) back++;
    c.pc -= back;
  }
  // Byte by byte across a possible page boundary (at most 15 reads).
  for (unsigned i = 0; i < 15; i++) {
    uint64_t pa;
    if (!Translate(mem, sr, c.pc + i, &pa)) break;
    auto b = mem.read_obj<uint8_t>(pa);
    if (!b) break;
    c.bytes[i] = *b;
    c.len = uint8_t(i + 1);
  }
  return c;
}

}  // namespace qvm::x86
