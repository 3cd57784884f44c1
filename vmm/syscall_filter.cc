#include "vmm/syscall_filter.h"

#include <errno.h>
#include <linux/audit.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "vmm/exit_codes.h"

namespace qvm {

namespace {

using R = SyscallRule;

// What a vCPU thread may call once it runs the guest. Device emulation
// runs here (every plug-in's register handlers), so this is what a
// legitimate path of qvm and its plug-ins can use: memory (malloc, thread
// stacks), locks and condition variables, I/O on descriptors opened during
// set-up (virtio-blk's reads, writes, flushes, discards; network sends;
// consoles; log files and the system log's socket), guest entry and every
// KVM ioctl, timers, signals (the kick, raise/abort), threads (a plug-in may
// start a worker when the guest enables a device), scheduling, the clock.
// Not here: opening files, executing, creating processes, creating
// sockets, ptrace.
const SyscallRule kVcpuRules[] = {
    // Memory.
    {__NR_mmap}, {__NR_munmap}, {__NR_mremap}, {__NR_mprotect}, {__NR_madvise},
    {__NR_brk}, {__NR_msync}, {__NR_mincore},
    // Locks, threads.
    {__NR_futex}, {__NR_sched_yield}, {__NR_set_robust_list}, {__NR_get_robust_list},
    {__NR_clone, R::AllowThread},
#ifdef __NR_clone3
    {__NR_clone3, R::Enosys},
#endif
#ifdef __NR_rseq
    {__NR_rseq},
#endif
#ifdef __NR_futex_waitv
    {__NR_futex_waitv},
#endif
#ifdef __NR_membarrier
    {__NR_membarrier},
#endif
    {__NR_set_tid_address}, {__NR_exit}, {__NR_exit_group},
    {__NR_gettid}, {__NR_getpid}, {__NR_getppid}, {__NR_getuid}, {__NR_geteuid},
    {__NR_getgid}, {__NR_getegid}, {__NR_getrandom}, {__NR_uname}, {__NR_getrusage},
    {__NR_prlimit64}, {__NR_sysinfo},
    {__NR_prctl},  // PR_SET_NAME (pthread_setname_np), PR_SET_NO_NEW_PRIVS
    {__NR_seccomp},  // a stricter filter only: filters stack, none is removed
    {__NR_sched_getaffinity}, {__NR_sched_setaffinity}, {__NR_sched_setscheduler},
    {__NR_sched_getscheduler}, {__NR_sched_setparam}, {__NR_sched_getparam},
    {__NR_sched_get_priority_min}, {__NR_sched_get_priority_max}, {__NR_getcpu},
    {__NR_restart_syscall},
    // Signals: the vCPU kick (SIGRTMIN), raise/abort, this filter's SIGSYS.
    {__NR_rt_sigaction}, {__NR_rt_sigprocmask}, {__NR_rt_sigreturn},
    {__NR_rt_sigtimedwait}, {__NR_rt_sigpending}, {__NR_sigaltstack},
    {__NR_tgkill}, {__NR_tkill},
    // Time.
    {__NR_clock_gettime}, {__NR_clock_getres}, {__NR_clock_nanosleep},
    {__NR_nanosleep}, {__NR_gettimeofday},
    {__NR_timerfd_settime}, {__NR_timerfd_gettime}, {__NR_timer_settime},
    {__NR_timer_gettime},
#ifdef __NR_time
    {__NR_time},
#endif
    // I/O on descriptors that exist.
    {__NR_read}, {__NR_write}, {__NR_readv}, {__NR_writev}, {__NR_pread64},
    {__NR_pwrite64}, {__NR_preadv}, {__NR_pwritev}, {__NR_preadv2}, {__NR_pwritev2},
    {__NR_lseek}, {__NR_fsync}, {__NR_fdatasync}, {__NR_sync_file_range},
    {__NR_fallocate}, {__NR_ftruncate}, {__NR_ioctl}, {__NR_fcntl}, {__NR_close},
    {__NR_dup}, {__NR_dup3}, {__NR_fstat}, {__NR_newfstatat}, {__NR_statx},
    {__NR_fstatfs}, {__NR_flock},
    {__NR_eventfd2}, {__NR_pipe2}, {__NR_timerfd_create},
    {__NR_epoll_ctl}, {__NR_epoll_pwait}, {__NR_ppoll}, {__NR_pselect6},
#ifdef __NR_epoll_pwait2
    {__NR_epoll_pwait2},
#endif
#ifdef __NR_epoll_wait
    {__NR_epoll_wait},
#endif
#ifdef __NR_poll
    {__NR_poll},
#endif
#ifdef __NR_select
    {__NR_select},
#endif
#ifdef __NR_dup2
    {__NR_dup2},
#endif
#ifdef __NR_pipe
    {__NR_pipe},
#endif
#ifdef __NR_eventfd
    {__NR_eventfd},
#endif
    // Sockets that exist (network backends, the system log, the gdb stub's
    // connection, /dev/qvm clients).
    {__NR_sendmsg}, {__NR_sendto}, {__NR_recvmsg}, {__NR_recvfrom},
    {__NR_sendmmsg}, {__NR_recvmmsg}, {__NR_shutdown}, {__NR_getsockopt},
    {__NR_setsockopt}, {__NR_getsockname}, {__NR_getpeername},
};

// What a plug-in's own thread adds to the vCPU list: the calls glibc makes
// in every thread of the process when one thread changes the process's
// credentials (`user`, vmm/privileges.h: its SIGSETXID broadcast), which
// a worker started before that change must be able to make. They give
// nothing: before the change the process is root anyway, after it every
// ID is the same unprivileged one and no capability is left.
const SyscallRule kWorkerRules[] = {
    {__NR_setgroups}, {__NR_setresgid}, {__NR_setresuid},
};

// What the main loop adds: it accepts /dev/qvm and gdb connections, writes
// dumps into files it creates (`qvmctl dump`, SIGUSR2), and between boots
// (a reset in place) rebuilds the accelerator VM (/dev/kvm opened again),
// reloads the guest's images, re-maps passthrough objects and may load
// Capstone for an exit trace (dlopen). It also reconnects the system log
// when its socket broke (vmm/log.h) and removes its socket and
// shared-memory objects at exit. Not here: executing, creating processes,
// ptrace (a `dump "|CMD"`'s command runs from the spawner, vmm/spawner.h).
const SyscallRule kMainRules[] = {
    {__NR_accept4}, {__NR_accept}, {__NR_socket}, {__NR_connect}, {__NR_bind},
    {__NR_listen}, {__NR_socketpair},
    {__NR_openat}, {__NR_unlinkat}, {__NR_readlinkat}, {__NR_faccessat},
    {__NR_mkdirat}, {__NR_renameat}, {__NR_fchmod}, {__NR_fchown}, {__NR_getdents64},
    {__NR_fchmodat}, {__NR_fchownat}, {__NR_statfs}, {__NR_getcwd}, {__NR_umask},
    {__NR_memfd_create}, {__NR_epoll_create1}, {__NR_signalfd4}, {__NR_fadvise64},
    {__NR_kill}, {__NR_sync}, {__NR_syncfs}, {__NR_munlock}, {__NR_mlock},
#ifdef __NR_faccessat2
    {__NR_faccessat2},
#endif
#ifdef __NR_renameat2
    {__NR_renameat2},
#endif
#ifdef __NR_open
    {__NR_open},
#endif
#ifdef __NR_unlink
    {__NR_unlink},
#endif
#ifdef __NR_readlink
    {__NR_readlink},
#endif
#ifdef __NR_access
    {__NR_access},
#endif
#ifdef __NR_stat
    {__NR_stat},
#endif
#ifdef __NR_lstat
    {__NR_lstat},
#endif
#ifdef __NR_mkdir
    {__NR_mkdir},
#endif
#ifdef __NR_rename
    {__NR_rename},
#endif
#ifdef __NR_rmdir
    {__NR_rmdir},
#endif
#ifdef __NR_chmod
    {__NR_chmod},
#endif
#ifdef __NR_getdents
    {__NR_getdents},
#endif
#ifdef __NR_epoll_create
    {__NR_epoll_create},
#endif
#ifdef __NR_signalfd
    {__NR_signalfd},
#endif
};

// The calling thread's name in a SIGSYS report (async-signal-safe to read).
thread_local char t_label[16];

// Appends `s` to buf (bounded); async-signal-safe.
void Put(char* buf, size_t cap, size_t* len, const char* s) {
  while (*s && *len + 1 < cap) buf[(*len)++] = *s++;
}
void PutNum(char* buf, size_t cap, size_t* len, unsigned long v, unsigned base = 10) {
  char tmp[24];
  int n = 0;
  do {
    unsigned d = unsigned(v % base);
    tmp[n++] = char(d < 10 ? '0' + d : 'a' + d - 10);
    v /= base;
  } while (v && n < 24);
  while (n && *len + 1 < cap) buf[(*len)++] = tmp[--n];
}

// The report, into buf; async-signal-safe. Returns its length.
size_t Describe(char* buf, size_t cap, long nr, uint32_t arch) {
  size_t len = 0;
  const HostSyscalls& host = HostSyscallTable();
  const char* name = arch == host.audit_arch ? host.name(nr) : nullptr;
  Put(buf, cap, &len, "system call ");
  Put(buf, cap, &len, name ? name : "#");
  Put(buf, cap, &len, " (");
  if (nr < 0) {
    Put(buf, cap, &len, "-");
    PutNum(buf, cap, &len, (unsigned long)(-nr));
  } else {
    PutNum(buf, cap, &len, (unsigned long)nr);
  }
  if (arch != host.audit_arch) {
    Put(buf, cap, &len, ", audit arch 0x");
    PutNum(buf, cap, &len, arch, 16);
  }
  Put(buf, cap, &len, ")");
  return len;
}

void OnSigsys(int, siginfo_t* si, void*) {
  char buf[320];
  size_t len = 0;
  Put(buf, sizeof buf, &len, "qvm: internal error: ");
  len += Describe(buf + len, sizeof buf - len, si->si_syscall, si->si_arch);
  Put(buf, sizeof buf, &len, " on thread ");
  Put(buf, sizeof buf, &len, t_label[0] ? t_label : "?");
  Put(buf, sizeof buf, &len, " (tid ");
  PutNum(buf, sizeof buf, &len, (unsigned long)syscall(SYS_gettid));
  Put(buf, sizeof buf, &len,
      ") is not allowed by qvm's system-call filter (`set seccomp off` disables "
      "it); exiting with 7\n");
  size_t off = 0;
  while (off < len) {
    ssize_t n = write(2, buf + off, len - off);
    if (n <= 0) break;
    off += size_t(n);
  }
  syscall(SYS_exit_group, int(kExitUnexpected));
}

}  // namespace

std::vector<SyscallRule> SyscallAllowList(FilterKind kind, std::span<const int> extra) {
  std::vector<SyscallRule> v(std::begin(kVcpuRules), std::end(kVcpuRules));
  if (kind == FilterKind::Main) v.insert(v.end(), std::begin(kMainRules), std::end(kMainRules));
  if (kind == FilterKind::Worker) {
    v.insert(v.end(), std::begin(kWorkerRules), std::end(kWorkerRules));
    for (int nr : extra) {
      bool have = false;
      for (const SyscallRule& r : v) have = have || (r.nr == nr && r.action == R::Allow);
      // A declared clone or clone3 becomes a plain Allow placed before the
      // base rule (the first comparison that matches decides).
      if (!have) v.insert(v.begin(), SyscallRule{nr});
    }
  }
  return v;
}

absl::StatusOr<std::vector<int>> SyscallNumbers(const char* const* names) {
  std::vector<int> out;
  if (!names) return out;
  const HostSyscalls& host = HostSyscallTable();
  for (size_t i = 0; names[i]; i++) {
    if (i >= 256) return absl::InvalidArgumentError("more than 256 system calls");
    long nr = host.number(names[i]);
    if (nr < 0)
      return absl::InvalidArgumentError(absl::StrCat(
          "system call `", names[i],
          "` is unknown to this qvm on this architecture (arch/syscall_names.inc)"));
    out.push_back(int(nr));
  }
  return out;
}

std::vector<sock_filter> BuildSyscallFilter(const HostSyscalls& host,
                                            std::span<const SyscallRule> rules) {
  std::vector<sock_filter> p;
  auto stmt = [&](uint16_t code, uint32_t k) { p.push_back(BPF_STMT(code, k)); };
  auto jump = [&](uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
    p.push_back(BPF_JUMP(code, k, jt, jf));
  };
  // Another architecture's calls (a 32-bit ABI the kernel also runs) have
  // other numbers: trap, the handler names the arch.
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
  jump(BPF_JMP | BPF_JEQ | BPF_K, host.audit_arch, 1, 0);
  stmt(BPF_RET | BPF_K, SECCOMP_RET_TRAP);
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
  if (host.foreign_nr_bits) {
    jump(BPF_JMP | BPF_JSET | BPF_K, host.foreign_nr_bits, 0, 1);
    stmt(BPF_RET | BPF_K, SECCOMP_RET_TRAP);
  }
  // The low 32 bits of the first argument (clone's flags).
  constexpr uint32_t kArg0Low = offsetof(seccomp_data, args) +
                                (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? 4 : 0);
  for (const SyscallRule& r : rules) {
    switch (r.action) {
      case SyscallRule::Allow:
        jump(BPF_JMP | BPF_JEQ | BPF_K, uint32_t(r.nr), 0, 1);
        stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        break;
      case SyscallRule::Enosys:
        jump(BPF_JMP | BPF_JEQ | BPF_K, uint32_t(r.nr), 0, 1);
        stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
        break;
      case SyscallRule::AllowThread:
        jump(BPF_JMP | BPF_JEQ | BPF_K, uint32_t(r.nr), 0, 4);
        stmt(BPF_LD | BPF_W | BPF_ABS, kArg0Low);
        jump(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1);
        stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        stmt(BPF_RET | BPF_K, SECCOMP_RET_TRAP);
        break;
    }
  }
  stmt(BPF_RET | BPF_K, SECCOMP_RET_TRAP);
  return p;
}

bool SyscallFilterSupported(std::string* why) {
#if defined(QVM_SANITIZER_BUILD) || defined(__SANITIZE_ADDRESS__) || \
    defined(__SANITIZE_THREAD__)
  *why =
      "a sanitizer build: the sanitizer runtimes make system calls of their own "
      "(LeakSanitizer forks a tracer that ptraces qvm at exit)";
  return false;
#else
  (void)why;
  return true;
#endif
}

void InstallSigsysHandler() {
  static std::atomic<bool> done{false};
  if (done.exchange(true)) return;
  struct sigaction sa {};
  sa.sa_sigaction = OnSigsys;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSYS, &sa, nullptr);
}

absl::Status InstallSyscallFilter(FilterKind kind, const char* label,
                                  std::span<const int> extra) {
  strncpy(t_label, label, sizeof t_label - 1);
  t_label[sizeof t_label - 1] = 0;
  InstallSigsysHandler();
  // SIGSYS must reach this thread's handler: a blocked one would kill qvm
  // without a report.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGSYS);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  std::vector<SyscallRule> rules = SyscallAllowList(kind, extra);
  std::vector<sock_filter> prog = BuildSyscallFilter(HostSyscallTable(), rules);
  sock_fprog fp{};
  fp.len = static_cast<unsigned short>(prog.size());
  fp.filter = prog.data();
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return absl::InternalError(absl::StrCat("prctl(PR_SET_NO_NEW_PRIVS): ", strerror(errno)));
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) != 0)
    return absl::InternalError(absl::StrCat("seccomp(SECCOMP_SET_MODE_FILTER): ", strerror(errno)));
  return absl::OkStatus();
}

std::string SyscallDescription(long nr) {
  char buf[128];
  size_t len = Describe(buf, sizeof buf, nr, HostSyscallTable().audit_arch);
  return std::string(buf, len);
}

}  // namespace qvm
