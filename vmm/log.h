// qvm's log: levels and destinations from `logger`, and a rate limiter for
// every line a guest can trigger.
#pragma once

#include <atomic>
#include <cstdarg>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "vmm/config.h"

namespace qvm {

// Configure from the `logger` specs (default: fatal..info to stderr).
absl::Status LogConfigure(const std::vector<LoggerSpec>& specs);
bool LogEnabled(LogLevel level);
void Log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void LogV(LogLevel level, const char* fmt, va_list ap);

// The system log (`logger ... slog`) is qvm's own client of the host's
// syslog socket ($QVM_SYSLOG_SOCKET, else /dev/log), not syslog(3): glibc
// reconnects a broken socket (socket, connect) on whichever thread logs,
// and a vCPU or device thread's filter does not allow that. Only the
// thread that called LogConfigure (main) connects; another thread that
// finds the socket broken keeps its line (at most 64 are kept, the rest
// counted) and calls the hook, which wakes the main loop; the loop calls
// LogReconnect, which connects and sends what was kept. A hook of nullptr
// removes it (the lines then wait for the main thread's next line).
void LogSetReconnectHook(void (*hook)(void*), void* ctx);
void LogReconnect();

// Token bucket: `burst` lines at once, then `per_second` on average. Lines
// refused are counted and reported with the next line that passes.
class RateLimiter {
 public:
  RateLimiter(unsigned burst = 10, unsigned per_second = 1)
      : burst_(burst), per_second_(per_second) {}
  // True when a line may be printed; *suppressed receives the number of
  // lines dropped since the last one that passed.
  bool allow(uint64_t* suppressed);

 private:
  unsigned burst_, per_second_;
  std::atomic<uint64_t> tokens_milli_{0};
  std::atomic<uint64_t> last_ns_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<bool> init_{false};
};

// Log through a limiter: a guest-triggerable path uses this.
void LogLimited(RateLimiter& rl, LogLevel level, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define QVM_LOG_RL(level, ...)                              \
  do {                                                      \
    static ::qvm::RateLimiter qvm_rl_site_;                 \
    ::qvm::LogLimited(qvm_rl_site_, (level), __VA_ARGS__);  \
  } while (0)

uint64_t MonotonicNs();

}  // namespace qvm
