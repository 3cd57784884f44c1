// The VM core's plan: what the architecture-neutral part of qvm reads from
// the configuration's `set` variables, read once (build step 1) into typed
// fields. The variables are declared here (VmVariables()); a machine's are
// declared by its own plan (arch/<arch>/plan.h).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "vmm/config.h"
#include "vmm/vars.h"

namespace qvm {

struct VmPlan {
  bool reboot_exit = false;   // `set reboot-exit`: a guest reset ends qvm (exit 0)
  unsigned trace_exits = 0;   // `set trace-exits N`: exits kept per vCPU (0: none)
  unsigned reset_loop = 10;   // `set reset-loop N`: N guest resets within the window stop qvm (0: never)
  std::string resmgr_path;    // `set resmgr-path`, relative to its file ("": default rules)
  std::string resmgr_group;   // `set resmgr-group` ("": owner only)
  // `set gdb tcp:[HOST:]PORT` or `set gdb PATH` (a Unix socket, relative to
  // its file): the gdb remote stub's endpoint ("": no stub). The host
  // defaults to 127.0.0.1.
  std::string gdb_path;       // Unix socket, or "" for TCP
  std::string gdb_host;       // TCP
  uint16_t gdb_port = 0;      // TCP; 0: no TCP endpoint
  bool gdb = false;           // a stub is configured
  bool gdb_wait = false;      // `set gdb-wait`: no instruction runs before a debugger attaches
  // `set seccomp`: vCPU threads and the main loop run under their
  // system-call filters (vmm/syscall_filter.h) after set-up.
  bool seccomp = true;
};

// `set gdb VALUE` as the plan reads it: false (with `why`) when VALUE is
// not `tcp:[HOST:]PORT` with PORT 1-65535, or an empty path.
bool ParseGdbEndpoint(const std::string& value, VmPlan* plan, std::string* why);

// The window of `set reset-loop`: that many resets by the guest within it
// are a reset loop (a guest that triple-faults at once resets many times a
// second; a real reboot takes longer than a second).
inline constexpr uint64_t kResetLoopWindowNs = 10'000'000'000ull;

// The most exits a vCPU's trace keeps (`set trace-exits` above it: this).
inline constexpr unsigned kMaxTraceExits = 4096;

std::span<const VarDecl> VmVariables();

// Cannot fail: the parser has typed every value by its declaration.
VmPlan MakeVmPlan(const Config& cfg);

}  // namespace qvm
