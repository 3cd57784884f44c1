// System-call filters (seccomp-bpf): after set-up every vCPU thread and the
// main loop run under an allow-list of the system calls they need; any
// other call traps (SIGSYS), and the handler reports an internal error
// naming the call and the thread, then ends qvm with exit 7
// (kExitUnexpected). The BPF program is written here by hand (no library),
// installed per thread (no TSYNC: each thread kind has its own list).
// `set seccomp off` disables it (vm_plan.h). vmm/README.md, "System-call
// filter", says what each list allows and why.
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qvm {

// What the host architecture provides (arch/<arch>/syscalls.cc, the one
// being built): the AUDIT_ARCH_* value seccomp_data.arch carries for this
// build's system calls, the bits of a system-call number that mark another
// ABI sharing that value (refused), and the name of a number (a small
// table; nullptr when the table has no name) and the number of a name (-1
// when the table has none: what a plug-in may declare for its threads).
// `name` is async-signal-safe.
struct HostSyscalls {
  uint32_t audit_arch;
  uint32_t foreign_nr_bits;
  const char* (*name)(long nr);
  long (*number)(const char* name);
};
const HostSyscalls& HostSyscallTable();

enum class FilterKind {
  Vcpu,  // a vCPU thread, before its first guest entry
  Main,  // the main loop, after the first boot's set-up
  // A plug-in's own thread (qvm_thread_create, vdev ABI 1.8): the vCPU
  // list plus the calls its factory declares (`thread_syscalls`).
  Worker,
};

// One rule of an allow-list.
struct SyscallRule {
  enum Action {
    Allow,
    // clone(2) only with CLONE_THREAD in its flags (a thread, not a process).
    AllowThread,
    // Fails with ENOSYS (clone3: its flags are in memory the filter cannot
    // read; glibc then falls back to clone, which AllowThread checks).
    Enosys,
  };
  int nr;
  Action action = Allow;
};

// The allow-list of a thread kind. The main loop's list contains the vCPU
// list (vCPU threads created at a reset inherit the main loop's filter and
// then stack their own).
// `extra` (Worker only) adds plain Allow rules.
std::vector<SyscallRule> SyscallAllowList(FilterKind kind, std::span<const int> extra = {});

// The numbers of system-call names (a factory's `thread_syscalls`, a
// NULL-terminated list); an error naming the first unknown one.
absl::StatusOr<std::vector<int>> SyscallNumbers(const char* const* names);

// The BPF program: the architecture checked first (another one: killed),
// numbers with a foreign ABI's bits trap, then one comparison per rule,
// SECCOMP_RET_TRAP for anything else.
std::vector<sock_filter> BuildSyscallFilter(const HostSyscalls& host,
                                            std::span<const SyscallRule> rules);

// Whether filters can be installed in this build: false (with the reason)
// in a sanitizer build, whose runtimes make system calls of their own
// (LeakSanitizer forks a tracer and ptraces qvm at exit).
bool SyscallFilterSupported(std::string* why);

// Installs the SIGSYS handler (process-wide; idempotent).
void InstallSigsysHandler();

// Installs the filter of `kind` on the calling thread (PR_SET_NO_NEW_PRIVS,
// then seccomp(SECCOMP_SET_MODE_FILTER)). `label` names the thread in the
// SIGSYS report ("vcpu0", "main"); it must outlive the thread (a string
// literal or storage the thread owns), at most 15 characters are kept.
// `extra`: see SyscallAllowList.
absl::Status InstallSyscallFilter(FilterKind kind, const char* label,
                                  std::span<const int> extra = {});

// The SIGSYS report's text for a call (what the handler writes, minus the
// thread): "system call NAME (NR)". For tests.
std::string SyscallDescription(long nr);

}  // namespace qvm
