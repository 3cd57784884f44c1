#include "vmm/spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace qvm {

namespace {

constexpr size_t kMaxCmd = 8192;

// One message: `len` bytes and, when fd >= 0, that descriptor.
bool SendMsg(int sock, const void* buf, size_t len, int fd) {
  iovec iov{const_cast<void*>(buf), len};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  ssize_t n;
  do n = sendmsg(sock, &m, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == ssize_t(len);
}

// Receives one message into buf (at most cap bytes); *fd gets a passed
// descriptor or -1. Returns its length, 0 at end of file, -1 on error.
ssize_t RecvMsg(int sock, void* buf, size_t cap, int* fd) {
  iovec iov{buf, cap};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))];
  m.msg_control = ctl;
  m.msg_controllen = sizeof ctl;
  ssize_t n;
  do n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (fd) *fd = -1;
  if (n > 0 && fd)
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
        memcpy(fd, CMSG_DATA(c), sizeof *fd);
  return n;
}

// The spawner process: one request at a time (the command line), answered
// by two messages: {errno, pid} with the pipe's write end, then {status}
// once the command has ended. Ends when qvm closes its end (or dies).
[[noreturn]] void Serve(int sock) {
  // Terminal signals are qvm's to act on (the power button), not ours.
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGUSR1, SIG_IGN);
  signal(SIGUSR2, SIG_IGN);
  static char cmd[kMaxCmd + 1];
  for (;;) {
    ssize_t n = RecvMsg(sock, cmd, kMaxCmd, nullptr);
    if (n <= 0) _exit(0);
    cmd[n] = 0;
    int reply[2] = {0, -1};
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
      reply[0] = errno;
      SendMsg(sock, reply, sizeof reply, -1);
      continue;
    }
    pid_t pid = fork();
    if (pid == 0) {
      // The command: qvm's stdout and stderr, the pipe as stdin, default
      // signal dispositions (qvm ignores SIGPIPE) and an empty mask.
      dup2(p[0], 0);
      for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2})
        signal(s, SIG_DFL);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      execl("/bin/sh", "sh", "-c", cmd, static_cast<char*>(nullptr));
      _exit(127);
    }
    close(p[0]);
    if (pid < 0) reply[0] = errno;
    reply[1] = int(pid);
    SendMsg(sock, reply, sizeof reply, pid < 0 ? -1 : p[1]);
    close(p[1]);
    if (pid < 0) continue;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    SendMsg(sock, &status, sizeof status, -1);
  }
}

}  // namespace

// Not reaped here: the main loop's filter has no wait4, and qvm is about
// to exit (the spawner's parent, then init, reaps it).
Spawner::~Spawner() {
  if (sock_ >= 0) close(sock_);
}

absl::Status Spawner::start(const Credentials* user) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return absl::InternalError(absl::StrCat("spawner: socketpair: ", strerror(errno)));
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(sv[0]);
    close(sv[1]);
    return absl::InternalError(absl::StrCat("spawner: fork: ", strerror(e)));
  }
  if (pid == 0) {
    close(sv[0]);
    if (user) {
      // `user`: the commands run as the user qvm becomes (the spawner
      // needs no privilege, and a root spawner would hand root back to a
      // qvm that gave it up).
      absl::Status st = DropPrivileges(*user);
      if (!st.ok()) {
        std::string m = absl::StrCat("qvm: spawner: ", st.message(), "\n");
        ssize_t w = write(2, m.data(), m.size());
        (void)w;
        _exit(1);
      }
    }
    Serve(sv[1]);
  }
  close(sv[1]);
  sock_ = sv[0];
  pid_ = pid;
  return absl::OkStatus();
}

absl::StatusOr<int> Spawner::run(const std::string& cmd) {
  if (sock_ < 0) return absl::FailedPreconditionError("no spawner process");
  if (cmd.size() > kMaxCmd) return absl::InvalidArgumentError("command too long");
  if (!SendMsg(sock_, cmd.data(), cmd.size(), -1))
    return absl::InternalError(absl::StrCat("spawner: send: ", strerror(errno)));
  int reply[2];
  int fd = -1;
  ssize_t n = RecvMsg(sock_, reply, sizeof reply, &fd);
  if (n != ssize_t(sizeof reply)) {
    if (fd >= 0) close(fd);
    return absl::InternalError("spawner: no answer (the spawner process ended)");
  }
  if (reply[0] != 0 || fd < 0) {
    if (fd >= 0) close(fd);
    return absl::InternalError(
        absl::StrCat("cannot run `", cmd, "`: ", strerror(reply[0] ? reply[0] : EIO)));
  }
  return fd;
}

absl::StatusOr<int> Spawner::wait() {
  int status;
  if (RecvMsg(sock_, &status, sizeof status, nullptr) != ssize_t(sizeof status))
    return absl::InternalError("spawner: no exit status (the spawner process ended)");
  return status;
}

}  // namespace qvm
