// A decoded guest exit and its architecture-neutral dispatch. The arch code
// turns the accelerator's exit record into an Exit; HandleExit() sends it to
// the owning device through the buses. HandleExit is a plain function that
// unit tests call without any accelerator.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "vmm/config.h"
#include "vmm/unsupported.h"

namespace qvm {

class Bus;

enum class ExitKind : uint32_t {
  Pio,          // port I/O (string I/O: count > 1)
  Mmio,         // memory-mapped I/O
  MsrRead,      // model-specific register read not handled in the kernel
  MsrWrite,     // model-specific register write not handled in the kernel
  Eoi,          // local APIC EOI of a level-triggered vector
  Halt,         // guest halted with nothing to wake it
  Shutdown,     // triple fault / guest reset request
  PowerOff,     // firmware-interface poweroff (PSCI SYSTEM_OFF)
  Reset,        // firmware-interface reset (PSCI SYSTEM_RESET)
  IrqWindow,    // the guest can take an external interrupt now
  Interrupted,  // kick() or a signal
  Fatal,        // the accelerator cannot continue (entry failure, ...)
  Debug,        // a debugger's event: breakpoint, watchpoint, single step
  Count
};
const char* ExitKindName(ExitKind k);

struct Exit {
  ExitKind kind = ExitKind::Fatal;
  uint64_t addr = 0;     // port, guest-physical address or MSR index
  uint32_t size = 0;     // bytes per element: 1, 2, 4 (PIO) or 1..8 (MMIO)
  uint32_t count = 1;    // PIO elements (string I/O)
  bool write = false;
  uint8_t* data = nullptr;  // size * count bytes, owned by the backend
  uint64_t msr_value = 0;   // MSR read result / write value
  bool msr_fault = false;   // set by HandleExit: inject #GP
  uint32_t vector = 0;      // Eoi
  std::string reason;       // Fatal: what happened
  // Debug (addr: the guest's pc as the debugger sees it): what stopped the
  // vCPU, and for HwBreak/Watch the slot of GuestDebug::hw that fired.
  enum class DebugWhy : uint8_t { SwBreak, HwBreak, Watch, Step, Other };
  DebugWhy debug_why = DebugWhy::Other;
  int debug_slot = -1;
};

// What the vCPU loop should do next.
enum class ExitAction { Continue, Stop, Reset, PowerOff, Terminate };

// Exit counters per kind, per vCPU (read by status and statistics).
struct ExitStats {
  std::atomic<uint64_t> by_kind[static_cast<size_t>(ExitKind::Count)] = {};
};

// What an exit can reach: the exit context a vCPU thread hands to
// HandleExit. Not owning.
struct ExitContext {
  const Bus* io = nullptr;   // may be null on architectures without ports
  const Bus* mem = nullptr;
  // What an access nothing handles does (unassigned I/O, unknown MSRs).
  UnsupportedPolicy unsupported;
  // Called for Eoi exits (broadcast to interrupt controllers).
  void (*eoi)(void* ctx, uint32_t vector) = nullptr;
  void* eoi_ctx = nullptr;
  ExitStats* stats = nullptr;
  // Called for Debug exits on the vCPU thread (a debugger is attached):
  // returns when the debugger lets the vCPU run again. Null: a Debug exit
  // with no debugger (a late event after a detach) is dropped.
  ExitAction (*debug)(void* ctx, unsigned vcpu, const Exit& e) = nullptr;
  void* debug_ctx = nullptr;
  // Set when qvm must stop (a device asked to terminate, `unsupported
  // terminate`, a fatal exit): the exit code (vmm/exit_codes.h).
  std::atomic<int>* terminate_code = nullptr;
};

// One exit handler per ExitKind (HandleExit looks it up in a table indexed
// by the kind, in the manner of bhyve's vmexit_handlers[]).
using ExitHandler = ExitAction (*)(const ExitContext& c, unsigned vcpu, Exit& e);

ExitAction HandleExit(const ExitContext& c, unsigned vcpu, Exit& e);

}  // namespace qvm
