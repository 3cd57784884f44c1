#include "vmm/exit.h"

#include <sched.h>

#include <cstring>

#include "vmm/bus.h"
#include "vmm/exit_codes.h"
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
    case ExitKind::Debug: return "debug";
    case ExitKind::Count: break;
  }
  return "?";
}

namespace {

// A device answering Retry gets this many more tries before the access is
// completed as unassigned: a guest (or a buggy device) cannot spin a vCPU
// thread forever inside qvm.
constexpr int kMaxRetries = 1000;

void SetTerminate(const ExitContext& c, int code) {
  if (!c.terminate_code) return;
  int expected = 0;
  c.terminate_code->compare_exchange_strong(expected, code);
}

// An access nothing handles, after the `unsupported` policy. Returns false
// when qvm must stop.
bool Unassigned(const ExitContext& c, const char* what, unsigned vcpu,
                uint64_t addr, uint32_t size, bool write) {
  switch (c.unsupported.action(Unsupported::Unassigned)) {
    case UnsupportedAction::Ignore:
      return true;
    case UnsupportedAction::Log:
    case UnsupportedAction::Fault:
      QVM_LOG_RL(c.unsupported.log_level(), "vcpu %u: unhandled %s %s at 0x%llx size %u",
                 vcpu, what, write ? "write" : "read",
                 (unsigned long long)addr, size);
      return true;
    case UnsupportedAction::Terminate:
      Log(LogLevel::Error,
          "vcpu %u: unhandled %s %s at 0x%llx size %u: terminating "
          "(unsupported terminate)",
          vcpu, what, write ? "write" : "read", (unsigned long long)addr, size);
      SetTerminate(c, kExitUnsupported);
      return false;
  }
  return true;
}

// One bus access with the status handling shared by PIO and MMIO.
ExitAction Access(const ExitContext& c, const Bus* bus, const char* what,
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
      SetTerminate(c, kExitVdevError);
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
  if (!Unassigned(c, what, vcpu, addr, size, write))
    return ExitAction::Terminate;
  return ExitAction::Continue;
}

ExitAction OnFatal(const ExitContext& c, unsigned vcpu, Exit& e) {
  Log(LogLevel::Error, "vcpu %u: %s", vcpu,
      e.reason.empty() ? "fatal exit" : e.reason.c_str());
  SetTerminate(c, kExitFatalAfterStart);
  return ExitAction::Terminate;
}

ExitAction OnPio(const ExitContext& c, unsigned vcpu, Exit& e) {
  if (e.data == nullptr || (e.size != 1 && e.size != 2 && e.size != 4) ||
      e.count == 0) {
    e.reason = "malformed port I/O exit";
    SetTerminate(c, kExitFatalAfterStart);
    return ExitAction::Terminate;
  }
  for (uint32_t i = 0; i < e.count; i++) {
    ExitAction a = Access(c, c.io, "port", vcpu, e.addr, e.size, e.write,
                          e.data + size_t(i) * e.size);
    if (a != ExitAction::Continue) return a;
  }
  return ExitAction::Continue;
}

ExitAction OnMmio(const ExitContext& c, unsigned vcpu, Exit& e) {
  if (e.data == nullptr || e.size == 0 || e.size > 8) {
    e.reason = "malformed MMIO exit";
    SetTerminate(c, kExitFatalAfterStart);
    return ExitAction::Terminate;
  }
  return Access(c, c.mem, "mmio", vcpu, e.addr, e.size, e.write, e.data);
}

// Unknown MSRs: architectural #GP unless the policy says otherwise.
ExitAction OnMsr(const ExitContext& c, unsigned vcpu, Exit& e) {
  bool write = e.kind == ExitKind::MsrWrite;
  if (!write) e.msr_value = 0;
  switch (c.unsupported.action(Unsupported::Msr)) {
    case UnsupportedAction::Ignore:
      e.msr_fault = false;
      return ExitAction::Continue;
    case UnsupportedAction::Log:
      // Once per MSR and direction: guests poll the same MSR often.
      if (c.unsupported.first_msr(e.addr, write))
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
      SetTerminate(c, kExitUnsupported);
      return ExitAction::Terminate;
  }
  return ExitAction::Continue;
}

ExitAction OnEoi(const ExitContext& c, unsigned, Exit& e) {
  if (c.eoi) c.eoi(c.eoi_ctx, e.vector);
  return ExitAction::Continue;
}

ExitAction OnDebug(const ExitContext& c, unsigned vcpu, Exit& e) {
  if (!c.debug) {
    QVM_LOG_RL(LogLevel::Debug, "vcpu %u: debug exit at 0x%llx without a debugger", vcpu,
               (unsigned long long)e.addr);
    return ExitAction::Continue;
  }
  return c.debug(c.debug_ctx, vcpu, e);
}

ExitAction OnResume(const ExitContext&, unsigned, Exit&) { return ExitAction::Continue; }
ExitAction OnReset(const ExitContext&, unsigned, Exit&) { return ExitAction::Reset; }
ExitAction OnPowerOff(const ExitContext&, unsigned, Exit&) { return ExitAction::PowerOff; }

struct HandlerEntry {
  ExitKind kind;
  ExitHandler fn;
};

// The exit-handler table, in ExitKind order (checked below).
constexpr HandlerEntry kHandlers[] = {
    {ExitKind::Pio, OnPio},
    {ExitKind::Mmio, OnMmio},
    {ExitKind::MsrRead, OnMsr},
    {ExitKind::MsrWrite, OnMsr},
    {ExitKind::Eoi, OnEoi},
    {ExitKind::Halt, OnResume},
    {ExitKind::Shutdown, OnReset},
    {ExitKind::PowerOff, OnPowerOff},
    {ExitKind::Reset, OnReset},
    {ExitKind::IrqWindow, OnResume},
    {ExitKind::Interrupted, OnResume},
    {ExitKind::Fatal, OnFatal},
    {ExitKind::Debug, OnDebug},
};

constexpr bool TableInOrder() {
  size_t n = sizeof kHandlers / sizeof kHandlers[0];
  if (n != static_cast<size_t>(ExitKind::Count)) return false;
  for (size_t i = 0; i < n; i++)
    if (static_cast<size_t>(kHandlers[i].kind) != i || kHandlers[i].fn == nullptr) return false;
  return true;
}
static_assert(TableInOrder(), "kHandlers must list every ExitKind once, in order");

}  // namespace

ExitAction HandleExit(const ExitContext& c, unsigned vcpu, Exit& e) {
  size_t k = static_cast<size_t>(e.kind);
  if (k >= static_cast<size_t>(ExitKind::Count)) return OnFatal(c, vcpu, e);
  if (c.stats) c.stats->by_kind[k].fetch_add(1, std::memory_order_relaxed);
  return kHandlers[k].fn(c, vcpu, e);
}

}  // namespace qvm
