// A decoded guest exit and its architecture-neutral dispatch. The arch code
// turns the accelerator's exit record into an Exit; HandleExit() sends it to
// the owning device through the buses. HandleExit is a plain function that
// unit tests call without any accelerator.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "vmm/config.h"

namespace qvm {

class Bus;

enum class ExitKind : uint32_t {
  Pio,          // port I/O (string I/O: count > 1)
  Mmio,         // memory-mapped I/O
  MsrRead,      // x86 RDMSR not handled in the kernel
  MsrWrite,     // x86 WRMSR not handled in the kernel
  Eoi,          // local APIC EOI of a level-triggered vector
  Halt,         // guest halted with nothing to wake it
  Shutdown,     // triple fault / guest reset request
  PowerOff,     // firmware-interface poweroff (PSCI SYSTEM_OFF)
  Reset,        // firmware-interface reset (PSCI SYSTEM_RESET)
  IrqWindow,    // the guest can take an external interrupt now
  Interrupted,  // kick() or a signal
  Fatal,        // the accelerator cannot continue (entry failure, ...)
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
};

// What the vCPU loop should do next.
enum class ExitAction { Continue, Stop, Reset, PowerOff, Terminate };

// Exit counters per kind, per vCPU (read by status and statistics).
struct ExitStats {
  std::atomic<uint64_t> by_kind[static_cast<size_t>(ExitKind::Count)] = {};
};

// The things an exit can reach. Not owning.
struct Peripherals {
  const Bus* io = nullptr;   // may be null on architectures without ports
  const Bus* mem = nullptr;
  UnsupportedAction unsupported = UnsupportedAction::Log;
  bool unsupported_set = false;  // `unsupported` given explicitly
  // Unknown MSRs: `set msr-unknown ACTION` overrides `unsupported` for
  // MSRs only; without either, an unknown MSR is an architectural #GP.
  UnsupportedAction msr_unknown = UnsupportedAction::Fault;
  bool msr_unknown_set = false;
  // `log` for MSRs: each MSR index (and direction) is logged once; past
  // kMaxLogged distinct ones, rate-limited lines follow.
  struct MsrLogOnce {
    static constexpr size_t kMaxLogged = 1024;
    std::mutex mu;
    std::set<uint64_t> seen;  // index << 1 | write
    // True the first time (index, write) is seen (or when the set is full).
    bool first(uint64_t index, bool write);
  };
  std::shared_ptr<MsrLogOnce> msr_logged = std::make_shared<MsrLogOnce>();
  // Called for Eoi exits (broadcast to interrupt controllers).
  void (*eoi)(void* ctx, uint32_t vector) = nullptr;
  void* eoi_ctx = nullptr;
  ExitStats* stats = nullptr;
  // Set when a device asked to terminate qvm (QVM_TERMINATE): exit code.
  std::atomic<int>* terminate_code = nullptr;
};

ExitAction HandleExit(const Peripherals& p, unsigned vcpu, Exit& e);

}  // namespace qvm
