// The system-call filters (vmm/syscall_filter.h): the BPF program run
// through a small interpreter of the classic-BPF subset it uses, for both
// lists (what a vCPU thread and the main loop may call, what they may not,
// clone only for threads, clone3 ENOSYS, another ABI refused), then the
// real thing: the vCPU filter installed in a forked child, where allowed
// calls work and open(2) ends the child with exit 7 and a report naming
// `openat` and the thread.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/audit.h>
#include <sched.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "test/unit/temp_dir.h"
#include "vmm/log.h"
#include "vmm/syscall_filter.h"

namespace {

using namespace qvm;

// Runs a classic-BPF seccomp program over `d`: the instructions
// BuildSyscallFilter emits (absolute word loads, JEQ/JSET/JA with
// constants, RET constant); anything else fails the test.
uint32_t RunBpf(const std::vector<sock_filter>& prog, const seccomp_data& d) {
  uint32_t a = 0;
  size_t pc = 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(&d);
  for (unsigned steps = 0; steps < 100000 && pc < prog.size(); steps++) {
    const sock_filter& i = prog[pc];
    switch (i.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        REQUIRE(i.k + 4 <= sizeof d);
        memcpy(&a, bytes + i.k, 4);
        pc++;
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
        pc += 1 + (a == i.k ? i.jt : i.jf);
        break;
      case BPF_JMP | BPF_JSET | BPF_K:
        pc += 1 + ((a & i.k) ? i.jt : i.jf);
        break;
      case BPF_JMP | BPF_JA:
        pc += 1 + i.k;
        break;
      case BPF_RET | BPF_K:
        return i.k;
      default:
        FAIL("unexpected BPF instruction " << i.code << " at " << pc);
    }
  }
  FAIL("the program ran off its end");
  return 0;
}

seccomp_data Call(long nr, uint64_t arg0 = 0, uint32_t arch = HostSyscallTable().audit_arch) {
  seccomp_data d{};
  d.nr = int(nr);
  d.arch = arch;
  d.args[0] = arg0;
  return d;
}

std::vector<sock_filter> Program(FilterKind k) {
  auto rules = SyscallAllowList(k);
  return BuildSyscallFilter(HostSyscallTable(), rules);
}

TEST_CASE("syscall filter: the vCPU list", "[seccomp]") {
  auto p = Program(FilterKind::Vcpu);
  REQUIRE(p.size() < BPF_MAXINSNS);
  for (long nr : {SYS_read, SYS_write, SYS_ioctl, SYS_futex, SYS_mmap, SYS_munmap, SYS_madvise,
                  SYS_pread64, SYS_pwrite64, SYS_preadv, SYS_pwritev, SYS_fdatasync, SYS_sendmsg,
                  SYS_recvmsg, SYS_epoll_pwait, SYS_timerfd_settime, SYS_clock_nanosleep,
                  SYS_rt_sigreturn, SYS_tgkill, SYS_exit, SYS_exit_group, SYS_gettid})
    CHECK(RunBpf(p, Call(nr)) == SECCOMP_RET_ALLOW);
  for (long nr : {SYS_openat, SYS_execve, SYS_socket, SYS_ptrace, SYS_accept4, SYS_unlinkat,
                  SYS_connect, SYS_bind, SYS_kill})
    CHECK(RunBpf(p, Call(nr)) == SECCOMP_RET_TRAP);
#ifdef SYS_open
  CHECK(RunBpf(p, Call(SYS_open)) == SECCOMP_RET_TRAP);
#endif
#ifdef SYS_fork
  CHECK(RunBpf(p, Call(SYS_fork)) == SECCOMP_RET_TRAP);
  CHECK(RunBpf(p, Call(SYS_vfork)) == SECCOMP_RET_TRAP);
#endif
  // clone: a thread (pthread_create's flags) yes, a process (fork's) no.
  const uint64_t thread = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                          CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |
                          CLONE_CHILD_CLEARTID;
  CHECK(RunBpf(p, Call(SYS_clone, thread)) == SECCOMP_RET_ALLOW);
  CHECK(RunBpf(p, Call(SYS_clone, CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD)) ==
        SECCOMP_RET_TRAP);
  CHECK(RunBpf(p, Call(SYS_clone, CLONE_VM | CLONE_VFORK | SIGCHLD)) == SECCOMP_RET_TRAP);
#ifdef SYS_clone3
  CHECK(RunBpf(p, Call(SYS_clone3)) == (SECCOMP_RET_ERRNO | ENOSYS));
#endif
  // Another architecture's numbering: refused whatever the number.
  CHECK(RunBpf(p, Call(SYS_read, 0, AUDIT_ARCH_I386 == HostSyscallTable().audit_arch
                                        ? AUDIT_ARCH_X86_64
                                        : AUDIT_ARCH_I386)) == SECCOMP_RET_TRAP);
  if (HostSyscallTable().foreign_nr_bits)
    CHECK(RunBpf(p, Call(SYS_read | HostSyscallTable().foreign_nr_bits)) == SECCOMP_RET_TRAP);
}

TEST_CASE("syscall filter: the main loop's list", "[seccomp]") {
  auto p = Program(FilterKind::Main);
  REQUIRE(p.size() < BPF_MAXINSNS);
  for (long nr : {SYS_accept4, SYS_openat, SYS_unlinkat, SYS_read, SYS_ioctl, SYS_epoll_pwait})
    CHECK(RunBpf(p, Call(nr)) == SECCOMP_RET_ALLOW);
  for (long nr : {SYS_execve, SYS_ptrace, SYS_execveat})
    CHECK(RunBpf(p, Call(nr)) == SECCOMP_RET_TRAP);
  CHECK(RunBpf(p, Call(SYS_clone, SIGCHLD)) == SECCOMP_RET_TRAP);
  // Everything a vCPU thread may call, the main loop may: a vCPU thread
  // started at a reset carries both filters.
  auto vcpu = Program(FilterKind::Vcpu);
  for (const SyscallRule& r : SyscallAllowList(FilterKind::Vcpu)) {
    INFO("nr " << r.nr);
    CHECK(RunBpf(p, Call(r.nr, CLONE_THREAD)) == RunBpf(vcpu, Call(r.nr, CLONE_THREAD)));
  }
}

TEST_CASE("syscall filter: names in the report", "[seccomp]") {
  CHECK(SyscallDescription(SYS_openat) ==
        "system call openat (" + std::to_string(SYS_openat) + ")");
  CHECK(SyscallDescription(SYS_execve) ==
        "system call execve (" + std::to_string(SYS_execve) + ")");
  CHECK(SyscallDescription(4000) == "system call # (4000)");
}

// Runs `body` in a forked child (which then exits 0); returns its wait
// status and what it wrote to stderr.
template <typename F>
int ForkCapture(F body, std::string* err) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    body();
    _exit(0);
  }
  close(fds[1]);
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) err->append(buf, size_t(n));
  close(fds[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return status;
}

// Runs `body` in a forked child under the vCPU filter. A child that cannot
// install the filter exits 99 with the reason: a user-mode emulator (the
// arm64 unit suites run under qemu-aarch64-static) has no seccomp.
int InChild(void (*body)(), std::string* err) {
  return ForkCapture(
      [body] {
        absl::Status st = InstallSyscallFilter(FilterKind::Vcpu, "vcpu-test");
        if (!st.ok()) {
          std::string m(st.message());
          ssize_t w = write(2, m.data(), m.size());
          (void)w;
          _exit(99);
        }
        body();
      },
      err);
}

TEST_CASE("syscall filter: installed in a child", "[seccomp]") {
  std::string err;
  int status = InChild(
      [] {
        // Allowed: I/O on an existing descriptor, memory, the clock, ids.
        char c = 'x';
        if (write(2, &c, 0) != 0 || getpid() <= 0 || syscall(SYS_gettid) <= 0) _exit(2);
        void* m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED || munmap(m, 4096) != 0) _exit(3);
        timespec ts;
        if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) _exit(4);
      },
      &err);
  // Only ENOSYS from seccomp(2) itself is "not here"; a program the kernel
  // refuses (EINVAL) fails the test.
  if (WIFEXITED(status) && WEXITSTATUS(status) == 99 &&
      err.find(std::string("seccomp(SECCOMP_SET_MODE_FILTER): ") + strerror(ENOSYS)) !=
          std::string::npos) {
    WARN("no seccomp(2) here (a user-mode emulator): " << err);
    return;
  }
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(err.empty());

  err.clear();
  status = InChild(
      [] {
        int fd = open("/etc/hostname", O_RDONLY);
        _exit(fd >= 0 ? 10 : 11);  // not reached: the open traps
      },
      &err);
  INFO(err);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 7);
  CHECK(err.find("qvm: internal error: system call openat (" + std::to_string(SYS_openat) +
                 ") on thread vcpu-test (tid ") != std::string::npos);
}

TEST_CASE("syscall filter: a device thread's list", "[seccomp]") {
  // The base is the vCPU list; a factory's thread_syscalls add to it.
  auto nrs = SyscallNumbers(nullptr);
  REQUIRE(nrs.ok());
  CHECK(nrs->empty());
  const char* const names[] = {"openat", "socket", nullptr};
  nrs = SyscallNumbers(names);
  REQUIRE(nrs.ok());
  CHECK(*nrs == std::vector<int>{SYS_openat, SYS_socket});
  const char* const bad[] = {"openat", "no_such_call", nullptr};
  auto refused = SyscallNumbers(bad);
  REQUIRE(!refused.ok());
  CHECK(std::string(refused.status().message()).find("`no_such_call`") != std::string::npos);

  auto base = SyscallAllowList(FilterKind::Worker);
  auto plain = BuildSyscallFilter(HostSyscallTable(), base);
  CHECK(RunBpf(plain, Call(SYS_openat)) == SECCOMP_RET_TRAP);
  CHECK(RunBpf(plain, Call(SYS_pwritev)) == SECCOMP_RET_ALLOW);
  // The vCPU list plus the three calls glibc's set*id broadcast makes on
  // every thread (`user`, vmm/privileges.h), which the vCPU list refuses.
  CHECK(base.size() == SyscallAllowList(FilterKind::Vcpu).size() + 3);
  auto vcpu_only = BuildSyscallFilter(HostSyscallTable(), SyscallAllowList(FilterKind::Vcpu));
  for (long nr : {long(SYS_setgroups), long(SYS_setresgid), long(SYS_setresuid)}) {
    CHECK(RunBpf(plain, Call(nr)) == SECCOMP_RET_ALLOW);
    CHECK(RunBpf(vcpu_only, Call(nr)) == SECCOMP_RET_TRAP);
  }
  CHECK(RunBpf(plain, Call(SYS_setuid)) == SECCOMP_RET_TRAP);
  auto more = BuildSyscallFilter(HostSyscallTable(), SyscallAllowList(FilterKind::Worker, *nrs));
  CHECK(RunBpf(more, Call(SYS_openat)) == SECCOMP_RET_ALLOW);
  CHECK(RunBpf(more, Call(SYS_socket)) == SECCOMP_RET_ALLOW);
  CHECK(RunBpf(more, Call(SYS_execve)) == SECCOMP_RET_TRAP);
  // Extra calls do nothing for the other kinds.
  auto vcpu = BuildSyscallFilter(HostSyscallTable(), SyscallAllowList(FilterKind::Vcpu, *nrs));
  CHECK(RunBpf(vcpu, Call(SYS_openat)) == SECCOMP_RET_TRAP);
}

// The system log (`logger ... slog`, vmm/log.h): a filtered thread that
// finds the socket broken neither traps nor loses the line; the main
// thread's reconnect sends it to the new socket. In a child: the log's
// configuration and the filter stay there. Exit codes name the failing step.
TEST_CASE("system log: no reconnect on a filtered thread", "[seccomp]") {
  qvm::test::TempDir dir;
  std::string path = dir / "log";
  std::string err;
  int status = ForkCapture([&] {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    auto serve = [&] {
      int s = socket(AF_UNIX, SOCK_DGRAM, 0);
      if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) _exit(20);
      timeval tv{5, 0};
      setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      return s;
    };
    auto got = [](int s, const char* want) {
      char buf[512];
      ssize_t n = recv(s, buf, sizeof buf - 1, 0);
      if (n <= 0) return false;
      buf[n] = 0;
      return strstr(buf, want) != nullptr && strstr(buf, "qvm[") != nullptr;
    };
    int s1 = serve();
    setenv("QVM_SYSLOG_SOCKET", path.c_str(), 1);
    LoggerSpec spec;
    spec.levels = {LogLevel::Info};
    spec.dest = "slog";
    if (!LogConfigure({spec}).ok()) _exit(21);
    Log(LogLevel::Info, "first line");
    if (!got(s1, "info: first line")) _exit(22);
    // The daemon restarts: the connected socket is gone, a new one listens.
    close(s1);
    unlink(path.c_str());
    int s2 = serve();
    static std::atomic<int> woken{0};
    LogSetReconnectHook([](void*) { woken++; }, nullptr);
    std::string why;
    bool filter = SyscallFilterSupported(&why);
    std::atomic<int> thread_rc{0};
    std::thread t([&] {
      if (filter && !InstallSyscallFilter(FilterKind::Vcpu, "log-test").ok()) {
        thread_rc = 23;
        return;
      }
      Log(LogLevel::Info, "second line");  // a trap here ends the child with 7
    });
    t.join();
    if (thread_rc) _exit(thread_rc);
    if (woken != 1) _exit(24);
    LogReconnect();  // what the main loop does when woken
    if (!got(s2, "info: second line")) _exit(25);
    Log(LogLevel::Info, "third line");
    if (!got(s2, "info: third line")) _exit(26);
  }, &err);
  INFO(err);
  REQUIRE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 23) {
    WARN("no seccomp(2) here (a user-mode emulator)");
    return;
  }
  CHECK(WEXITSTATUS(status) == 0);
}

}  // namespace
