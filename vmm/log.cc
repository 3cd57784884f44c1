#include "vmm/log.h"

#include <fcntl.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
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
      // /dev/log), tagged "qvm" with the pid.
      openlog("qvm", LOG_PID | LOG_NDELAY, LOG_DAEMON);
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
  std::lock_guard<std::mutex> g(g_log_mu);
  for (const auto& s : g_sinks)
    if (s.mask & (1u << unsigned(level))) {
      if (s.fd == kSyslog) {
        // Without the "qvm: " prefix and the newline (syslog adds its own).
        syslog(SyslogPriority(level), "%.*s", int(len - 5 - 1), buf + 5);
        continue;
      }
      ssize_t w = write(s.fd, buf, len);
      (void)w;
    }
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
