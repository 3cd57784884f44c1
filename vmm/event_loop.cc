#include "vmm/event_loop.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "vmm/log.h"

namespace qvm {

struct EventLoop::Timer {
  Callback cb;
  bool armed = false;
  uint64_t when = 0, period = 0;
  uint64_t gen = 0;
  std::multimap<uint64_t, Timer*>::iterator it;
};

EventLoop::EventLoop() = default;

EventLoop::~EventLoop() {
  disp_.reset();  // unwatches everything before the fds go away
  for (int fd : {tfd_, efd_})
    if (fd >= 0) close(fd);
}

absl::Status EventLoop::init(const std::vector<int>& signals) {
  if (disp_) return absl::OkStatus();
  auto d = resmgr::Dispatch::Create();
  if (!d.ok())
    return absl::InternalError(absl::StrCat("event loop: ", d.status().message()));
  disp_ = std::move(*d);
  tfd_ = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  efd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (tfd_ < 0 || efd_ < 0)
    return absl::InternalError(std::string("event loop: ") + strerror(errno));
  absl::Status st = disp_->watch_fd(tfd_, resmgr::Dispatch::kReadable,
                                    [this](int, uint32_t) { fire_timers(); });
  if (!st.ok()) return st;
  st = disp_->watch_fd(efd_, resmgr::Dispatch::kReadable, [this](int, uint32_t) {
    uint64_t v;
    ssize_t r = read(efd_, &v, sizeof v);
    (void)r;
    if (wake_cb_) wake_cb_();
  });
  if (!st.ok()) return st;
  for (int s : signals) {
    st = disp_->on_signal(s, [this](const signalfd_siginfo& si) {
      if (signal_cb_) signal_cb_(int(si.ssi_signo));
    });
    if (!st.ok())
      return absl::InternalError(absl::StrCat("signal ", s, ": ", st.message()));
  }
  return absl::OkStatus();
}

EventLoop::Timer* EventLoop::timer_create(Callback cb) {
  auto t = std::make_unique<Timer>();
  t->cb = std::move(cb);
  std::lock_guard<std::mutex> g(mu_);
  timers_.push_back(std::move(t));
  return timers_.back().get();
}

void EventLoop::arm_timerfd_locked() {
  if (tfd_ < 0) return;
  itimerspec its{};
  if (!queue_.empty()) {
    uint64_t w = queue_.begin()->first;
    if (w == 0) w = 1;
    its.it_value.tv_sec = time_t(w / 1000000000ull);
    its.it_value.tv_nsec = long(w % 1000000000ull);
  }
  timerfd_settime(tfd_, TFD_TIMER_ABSTIME, &its, nullptr);
}

void EventLoop::timer_arm(Timer* t, uint64_t when_ns, uint64_t period_ns) {
  std::lock_guard<std::mutex> g(mu_);
  if (t->armed) queue_.erase(t->it);
  t->armed = true;
  t->when = when_ns;
  t->period = period_ns;
  t->gen++;
  t->it = queue_.emplace(when_ns, t);
  if (queue_.begin()->second == t) arm_timerfd_locked();
}

void EventLoop::timer_cancel(Timer* t) {
  std::lock_guard<std::mutex> g(mu_);
  if (t->armed) queue_.erase(t->it);
  t->armed = false;
  t->gen++;
}

void EventLoop::timer_destroy(Timer* t) {
  std::lock_guard<std::mutex> g(mu_);
  if (t->armed) queue_.erase(t->it);
  for (auto it = timers_.begin(); it != timers_.end(); ++it)
    if (it->get() == t) {
      timers_.erase(it);
      break;
    }
}

void EventLoop::fire_timers() {
  uint64_t buf;
  ssize_t r = read(tfd_, &buf, sizeof buf);
  (void)r;
  // Bounded: at most as many callbacks per wake-up as timers exist.
  size_t budget;
  {
    std::lock_guard<std::mutex> g(mu_);
    budget = timers_.size() * 2 + 1;
  }
  while (budget--) {
    Timer* t;
    Callback cb;
    {
      std::lock_guard<std::mutex> g(mu_);
      uint64_t now = MonotonicNs();
      if (queue_.empty() || queue_.begin()->first > now) break;
      t = queue_.begin()->second;
      queue_.erase(queue_.begin());
      t->armed = false;
      if (t->period) {
        // Periodic: next tick from its schedule, but never try to catch up
        // on ticks missed while the host was busy.
        uint64_t next = t->when + t->period;
        if (next <= now) next = now + t->period;
        t->when = next;
        t->armed = true;
        t->it = queue_.emplace(next, t);
      }
      cb = t->cb;
    }
    cb();
  }
  std::lock_guard<std::mutex> g(mu_);
  arm_timerfd_locked();
}

absl::Status EventLoop::watch_fd(int fd, Callback cb) {
  if (!disp_) return absl::FailedPreconditionError("event loop not initialized");
  auto shared = std::make_shared<Callback>(std::move(cb));
  {
    std::lock_guard<std::mutex> g(mu_);
    fds_[fd] = shared;
  }
  absl::Status st = disp_->watch_fd(fd, resmgr::Dispatch::kReadable,
                                    [shared](int, uint32_t) { (*shared)(); });
  if (!st.ok()) {
    std::lock_guard<std::mutex> g(mu_);
    fds_.erase(fd);
    return absl::InternalError(absl::StrCat("epoll watch: ", st.message()));
  }
  return absl::OkStatus();
}

void EventLoop::unwatch_fd(int fd) {
  if (disp_) disp_->unwatch_fd(fd);
  std::lock_guard<std::mutex> g(mu_);
  fds_.erase(fd);
}

void EventLoop::wake() {
  if (efd_ < 0) return;
  uint64_t one = 1;
  ssize_t r = write(efd_, &one, sizeof one);
  (void)r;
}

void EventLoop::stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  if (disp_) disp_->wake();
}

void EventLoop::run() {
  if (!disp_) return;
  for (;;) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (stop_) {
        stop_ = false;
        return;
      }
    }
    disp_->run_once(-1);
  }
}

}  // namespace qvm
