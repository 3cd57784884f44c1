// The host's system calls as the system-call filter sees them
// (vmm/syscall_filter.h): seccomp_data.arch of this build's calls, and the
// names of the calls a SIGSYS report is likely to meet (every call of the
// allow-lists and the ones they leave out on purpose). Built for x86_64 only.
#include <linux/audit.h>
#include <string.h>
#include <sys/syscall.h>

#include "vmm/syscall_filter.h"

namespace qvm {

namespace {

struct Named {
  long nr;
  const char* name;
};

constexpr Named kNames[] = {
#include "arch/syscall_names.inc"
};

// Async-signal-safe: a scan of a constant table.
const char* Name(long nr) {
  for (const Named& n : kNames)
    if (n.nr == nr) return n.name;
  return nullptr;
}

// The number of a name, -1 when the table has none.
long Number(const char* name) {
  for (const Named& n : kNames)
    if (strcmp(n.name, name) == 0) return n.nr;
  return -1;
}

// x32 calls (__X32_SYSCALL_BIT set) carry AUDIT_ARCH_X86_64 too: refused.
constexpr HostSyscalls kHost = {AUDIT_ARCH_X86_64, __X32_SYSCALL_BIT, Name, Number};

}  // namespace

const HostSyscalls& HostSyscallTable() { return kHost; }

}  // namespace qvm
