#include "vmm/log.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <vector>

namespace qvm {
namespace {

struct Sink {
  unsigned mask;  // bit per LogLevel
  int fd;         // kSyslog: the host's system log (`logger ... slog`)
};
constexpr int kSyslog = -1;

int SyslogPriority(LogLevel l) {
  switch (l) {
    case LogLevel::Fatal: return LOG_CRIT;
    case LogLevel::Internal: return LOG_ERR;
    case LogLevel::Error: return LOG_ERR;
    case LogLevel::Warn: return LOG_WARNING;
    case LogLevel::Info: return LOG_INFO;
    case LogLevel::Debug:
    case LogLevel::Verbose: return LOG_DEBUG;
  }
  return LOG_INFO;
}

std::mutex g_log_mu;
std::vector<Sink> g_sinks = {{0x1f, 2}};  // fatal..info → stderr

// The system log's connection (under g_log_mu). log.h says who connects.
struct Syslog {
  int fd = -1;
  bool stream = false;
  long owner_tid = 0;  // the thread that may connect (LogConfigure's)
  std::deque<std::string> kept;  // lines a thread could not send
  uint64_t dropped = 0;          // lines neither sent nor kept
  void (*hook)(void*) = nullptr;
  void* hook_ctx = nullptr;
} g_slog;
constexpr size_t kSyslogKept = 64;

long Tid() { return long(syscall(SYS_gettid)); }

// Connects to the host's syslog socket (datagram, else stream, as glibc
// does). Caller holds g_log_mu, on the owner thread.
bool SyslogConnect() {
  if (g_slog.fd >= 0) return true;
  const char* path = getenv("QVM_SYSLOG_SOCKET");
  if (!path || !*path) path = "/dev/log";
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  strncpy(sa.sun_path, path, sizeof sa.sun_path - 1);
  for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
      g_slog.fd = fd;
      g_slog.stream = type == SOCK_STREAM;
      return true;
    }
    close(fd);
  }
  return false;
}

// One message on the socket, never blocking (a full socket drops it).
// Returns false when the connection is broken (closed here).
bool SyslogSendOne(const std::string& m) {
  if (g_slog.fd < 0) return false;
  ssize_t n = send(g_slog.fd, m.data(), m.size() + (g_slog.stream ? 1 : 0),
                   MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n >= 0) return true;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
    g_slog.dropped++;
    return true;
  }
  close(g_slog.fd);
  g_slog.fd = -1;
  return false;
}

// "<PRI>Mmm dd hh:mm:ss qvm[PID]: " + text: what syslog(3) sends.
std::string SyslogFormat(int prio, const char* text, size_t len) {
  char head[96];
  time_t now = time(nullptr);
  struct tm tm;
  localtime_r(&now, &tm);
  char ts[32];
  strftime(ts, sizeof ts, "%b %e %T", &tm);
  snprintf(head, sizeof head, "<%d>%s qvm[%d]: ", LOG_DAEMON | prio, ts, int(getpid()));
  return std::string(head) + std::string(text, len);
}

// Sends the kept lines, then m (may be empty). On the owner thread it
// connects (again) as needed; elsewhere a broken connection keeps the line.
// Returns true when the main loop should be woken to reconnect.
bool SyslogSend(std::string m) {
  bool owner = Tid() == g_slog.owner_tid;
  if (!m.empty()) {
    if (g_slog.kept.size() < kSyslogKept) g_slog.kept.push_back(std::move(m));
    else g_slog.dropped++;
  }
  for (int attempt = 0; attempt < 2; attempt++) {
    if (owner && g_slog.fd < 0) SyslogConnect();
    while (!g_slog.kept.empty() && SyslogSendOne(g_slog.kept.front())) g_slog.kept.pop_front();
    if (g_slog.kept.empty() || !owner) break;
  }
  if (owner && !g_slog.kept.empty()) {
    // No syslog daemon at all: keep nothing.
    g_slog.dropped += g_slog.kept.size();
    g_slog.kept.clear();
  }
  if (g_slog.kept.empty() && g_slog.dropped && g_slog.fd >= 0) {
    uint64_t n = g_slog.dropped;
    g_slog.dropped = 0;
    char text[96];
    int len = snprintf(text, sizeof text, "warning: %llu earlier line(s) not sent to the system log",
                       static_cast<unsigned long long>(n));
    if (!SyslogSendOne(SyslogFormat(LOG_WARNING, text, size_t(len)))) g_slog.dropped += n;
  }
  return !owner && !g_slog.kept.empty();
}


const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::Fatal: return "fatal";
    case LogLevel::Internal: return "internal";
    case LogLevel::Error: return "error";
    case LogLevel::Warn: return "warning";
    case LogLevel::Info: return "info";
    case LogLevel::Debug: return "debug";
    case LogLevel::Verbose: return "verbose";
  }
  return "?";
}

}  // namespace

uint64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

absl::Status LogConfigure(const std::vector<LoggerSpec>& specs) {
  if (specs.empty()) return absl::OkStatus();
  std::vector<Sink> sinks;
  for (const auto& s : specs) {
    unsigned mask = 0;
    for (LogLevel l : s.levels) mask |= 1u << unsigned(l);
    int fd;
    if (s.dest == "stdout") fd = 1;
    else if (s.dest == "stderr") fd = 2;
    else if (s.dest == "none") continue;
    else if (s.dest == "slog") {
      // QNX's slogger2; on Linux the system log (journald or syslogd read
      // /dev/log), tagged "qvm" with the pid, facility daemon.
      std::lock_guard<std::mutex> g(g_log_mu);
      g_slog.owner_tid = Tid();
      SyslogConnect();
      fd = kSyslog;
    } else {
      fd = open(s.dest.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd < 0)
        return ConfigError(s.where, "logger: cannot open `" + s.dest + "`");
    }
    sinks.push_back({mask, fd});
  }
  std::lock_guard<std::mutex> g(g_log_mu);
  g_sinks = std::move(sinks);
  return absl::OkStatus();
}

bool LogEnabled(LogLevel level) {
  std::lock_guard<std::mutex> g(g_log_mu);
  for (const auto& s : g_sinks)
    if (s.mask & (1u << unsigned(level))) return true;
  return false;
}

void LogV(LogLevel level, const char* fmt, va_list ap) {
  char buf[1024];
  int n = snprintf(buf, sizeof buf, "qvm: %s: ", LevelName(level));
  if (n < 0) return;
  int m = vsnprintf(buf + n, sizeof buf - size_t(n) - 1, fmt, ap);
  if (m < 0) return;
  size_t len = std::min(sizeof buf - 2, size_t(n) + size_t(m));
  buf[len++] = '\n';
  bool wake = false;
  void (*hook)(void*) = nullptr;
  void* ctx = nullptr;
  {
    std::lock_guard<std::mutex> g(g_log_mu);
    for (const auto& s : g_sinks)
      if (s.mask & (1u << unsigned(level))) {
        if (s.fd == kSyslog) {
          // Without the "qvm: " prefix and the newline.
          wake = SyslogSend(SyslogFormat(SyslogPriority(level), buf + 5, len - 5 - 1));
          continue;
        }
        ssize_t w = write(s.fd, buf, len);
        (void)w;
      }
    hook = g_slog.hook;
    ctx = g_slog.hook_ctx;
  }
  if (wake && hook) hook(ctx);
}

void LogSetReconnectHook(void (*hook)(void*), void* ctx) {
  std::lock_guard<std::mutex> g(g_log_mu);
  g_slog.hook = hook;
  g_slog.hook_ctx = ctx;
}

void LogReconnect() {
  std::lock_guard<std::mutex> g(g_log_mu);
  if (!g_slog.kept.empty()) SyslogSend(std::string());
}

void Log(LogLevel level, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  LogV(level, fmt, ap);
  va_end(ap);
}

bool RateLimiter::allow(uint64_t* suppressed) {
  uint64_t now = MonotonicNs();
  if (!init_.exchange(true)) {
    tokens_milli_ = uint64_t(burst_) * 1000;
    last_ns_ = now;
  }
  uint64_t last = last_ns_.exchange(now);
  uint64_t elapsed = now > last ? now - last : 0;
  uint64_t add = elapsed / 1000000 * per_second_;  // milli-tokens per ms
  uint64_t cap = uint64_t(burst_) * 1000;
  uint64_t t = std::min(cap, tokens_milli_.load() + add);
  if (t < 1000) {
    tokens_milli_ = t;
    dropped_++;
    return false;
  }
  tokens_milli_ = t - 1000;
  *suppressed = dropped_.exchange(0);
  return true;
}

void LogLimited(RateLimiter& rl, LogLevel level, const char* fmt, ...) {
  if (!LogEnabled(level)) return;
  uint64_t suppressed = 0;
  if (!rl.allow(&suppressed)) return;
  if (suppressed) Log(level, "(%llu similar messages suppressed)", (unsigned long long)suppressed);
  va_list ap;
  va_start(ap, fmt);
  LogV(level, fmt, ap);
  va_end(ap);
}

}  // namespace qvm
