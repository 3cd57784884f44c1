#include "vmm/exit.h"

#include <sched.h>

#include <cstring>

#include "vmm/bus.h"
#include "vmm/log.h"

namespace qvm {

const char* ExitKindName(ExitKind k) {
  switch (k) {
    case ExitKind::Pio: return "pio";
    case ExitKind::Mmio: return "mmio";
    case ExitKind::MsrRead: return "msr-read";
    case ExitKind::MsrWrite: return "msr-write";
    case ExitKind::Eoi: return "eoi";
    case ExitKind::Halt: return "halt";
    case ExitKind::Shutdown: return "shutdown";
    case ExitKind::PowerOff: return "poweroff";
    case ExitKind::Reset: return "reset";
    case ExitKind::IrqWindow: return "irq-window";
    case ExitKind::Interrupted: return "interrupted";
    case ExitKind::Fatal: return "fatal";
    case ExitKind::Count: break;
  }
  return "?";
}

namespace {

constexpr int kExitUnsupported = 5;
constexpr int kExitVdevError = 6;
constexpr int kExitFatalAfterStart = 96;
// A device answering Retry gets this many more tries before the access is
// completed as unassigned: a guest (or a buggy device) cannot spin a vCPU
// thread forever inside qvm.
constexpr int kMaxRetries = 1000;

void SetTerminate(const Peripherals& p, int code) {
  if (!p.terminate_code) return;
  int expected = 0;
  p.terminate_code->compare_exchange_strong(expected, code);
}

// Policy for an access nothing handles. Returns false when qvm must stop.
bool Unsupported(const Peripherals& p, const char* what, unsigned vcpu,
                 uint64_t addr, uint32_t size, bool write) {
  switch (p.unsupported) {
    case UnsupportedAction::Ignore:
      return true;
    case UnsupportedAction::Log:
    case UnsupportedAction::Fault:
      // Without an explicit `unsupported`, probes of absent hardware (PCI
      // config ports, COM2, ...) are normal guest behaviour: debug level.
      QVM_LOG_RL(p.unsupported_set ? LogLevel::Warn : LogLevel::Debug, "vcpu %u: unhandled %s %s at 0x%llx size %u",
                 vcpu, what, write ? "write" : "read",
                 (unsigned long long)addr, size);
      return true;
    case UnsupportedAction::Terminate:
      Log(LogLevel::Error,
          "vcpu %u: unhandled %s %s at 0x%llx size %u: terminating "
          "(unsupported terminate)",
          vcpu, what, write ? "write" : "read", (unsigned long long)addr, size);
      SetTerminate(p, kExitUnsupported);
      return false;
  }
  return true;
}

// One bus access with the status handling shared by PIO and MMIO.
ExitAction Access(const Peripherals& p, const Bus* bus, const char* what,
                  unsigned vcpu, uint64_t addr, uint32_t size, bool write,
                  uint8_t* data) {
  BusStatus st = BusStatus::Unassigned;
  for (int tries = 0; tries <= kMaxRetries; tries++) {
    if (bus == nullptr) break;
    st = write ? bus->write(addr, size, data, vcpu)
               : bus->read(addr, size, data, vcpu);
    if (st != BusStatus::Retry) break;
    sched_yield();
  }
  switch (st) {
    case BusStatus::Done:
      return ExitAction::Continue;
    case BusStatus::Terminate:
      Log(LogLevel::Error, "vcpu %u: device at %s 0x%llx requested termination",
          vcpu, what, (unsigned long long)addr);
      SetTerminate(p, kExitVdevError);
      return ExitAction::Terminate;
    case BusStatus::BusError:
      QVM_LOG_RL(LogLevel::Warn, "vcpu %u: bus error on %s %s at 0x%llx", vcpu,
                 what, write ? "write" : "read", (unsigned long long)addr);
      if (!write) std::memset(data, 0xff, size);
      return ExitAction::Continue;
    case BusStatus::Retry:
    case BusStatus::Unassigned:
      break;
  }
  // Nothing answered: reads float high like an empty ISA/PCI bus.
  if (!write) std::memset(data, 0xff, size);
  if (!Unsupported(p, what, vcpu, addr, size, write))
    return ExitAction::Terminate;
  return ExitAction::Continue;
}

}  // namespace

bool Peripherals::MsrLogOnce::first(uint64_t index, bool write) {
  std::lock_guard<std::mutex> g(mu);
  if (seen.size() >= kMaxLogged) return true;  // rate limiting still applies
  return seen.insert((index << 1) | (write ? 1 : 0)).second;
}

ExitAction HandleExit(const Peripherals& p, unsigned vcpu, Exit& e) {
  if (p.stats && e.kind < ExitKind::Count)
    p.stats->by_kind[static_cast<size_t>(e.kind)].fetch_add(
        1, std::memory_order_relaxed);
  switch (e.kind) {
    case ExitKind::Pio: {
      if (e.data == nullptr || (e.size != 1 && e.size != 2 && e.size != 4) ||
          e.count == 0) {
        e.reason = "malformed port I/O exit";
        SetTerminate(p, kExitFatalAfterStart);
        return ExitAction::Terminate;
      }
      for (uint32_t i = 0; i < e.count; i++) {
        ExitAction a = Access(p, p.io, "port", vcpu, e.addr, e.size, e.write,
                              e.data + size_t(i) * e.size);
        if (a != ExitAction::Continue) return a;
      }
      return ExitAction::Continue;
    }
    case ExitKind::Mmio:
      if (e.data == nullptr || e.size == 0 || e.size > 8) {
        e.reason = "malformed MMIO exit";
        SetTerminate(p, kExitFatalAfterStart);
        return ExitAction::Terminate;
      }
      return Access(p, p.mem, "mmio", vcpu, e.addr, e.size, e.write, e.data);
    case ExitKind::MsrRead:
    case ExitKind::MsrWrite: {
      bool write = e.kind == ExitKind::MsrWrite;
      // Unknown MSRs: architectural #GP unless the policy (`set
      // msr-unknown`, else `unsupported`) says otherwise.
      UnsupportedAction a = p.msr_unknown_set ? p.msr_unknown
                            : p.unsupported_set ? p.unsupported
                                                : UnsupportedAction::Fault;
      if (!write) e.msr_value = 0;
      switch (a) {
        case UnsupportedAction::Ignore:
          e.msr_fault = false;
          return ExitAction::Continue;
        case UnsupportedAction::Log:
          // Once per MSR and direction: guests poll the same MSR often.
          if (!p.msr_logged || p.msr_logged->first(e.addr, write))
            QVM_LOG_RL(LogLevel::Warn, "vcpu %u: unhandled MSR %s 0x%llx (logged once per MSR)",
                       vcpu, write ? "write" : "read", (unsigned long long)e.addr);
          e.msr_fault = false;
          return ExitAction::Continue;
        case UnsupportedAction::Fault:
          QVM_LOG_RL(LogLevel::Debug, "vcpu %u: #GP for MSR %s 0x%llx", vcpu,
                     write ? "write" : "read", (unsigned long long)e.addr);
          e.msr_fault = true;
          return ExitAction::Continue;
        case UnsupportedAction::Terminate:
          Log(LogLevel::Error, "vcpu %u: unhandled MSR %s 0x%llx: terminating",
              vcpu, write ? "write" : "read", (unsigned long long)e.addr);
          SetTerminate(p, kExitUnsupported);
          return ExitAction::Terminate;
      }
      return ExitAction::Continue;
    }
    case ExitKind::Eoi:
      if (p.eoi) p.eoi(p.eoi_ctx, e.vector);
      return ExitAction::Continue;
    case ExitKind::Halt:
    case ExitKind::IrqWindow:
    case ExitKind::Interrupted:
      return ExitAction::Continue;
    case ExitKind::Shutdown:
    case ExitKind::Reset:
      return ExitAction::Reset;
    case ExitKind::PowerOff:
      return ExitAction::PowerOff;
    case ExitKind::Fatal:
    case ExitKind::Count:
      break;
  }
  Log(LogLevel::Error, "vcpu %u: %s", vcpu,
      e.reason.empty() ? "fatal exit" : e.reason.c_str());
  SetTerminate(p, kExitFatalAfterStart);
  return ExitAction::Terminate;
}

}  // namespace qvm
