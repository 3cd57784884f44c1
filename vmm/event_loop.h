// The main thread's event loop. It is the resource manager's dispatch loop
// (resmgr::Dispatch): the same epoll set serves /dev/qvm clients, vdev
// timers, watched host file descriptors, signals (signalfd) and wake-ups
// from other threads.
//
// vdev timers are armed from any thread (a vCPU writing a timer register),
// so they live in one deadline queue behind one CLOCK_MONOTONIC timerfd that
// the dispatch loop watches; callbacks run on the loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/status.h"
#include "resmgr/resmgr.h"

namespace qvm {

class EventLoop {
 public:
  using Callback = std::function<void()>;
  struct Timer;

  EventLoop();
  ~EventLoop();
  // Creates the dispatch loop and delivers `signals` through it (they are
  // blocked in the calling thread; threads created afterwards inherit that).
  absl::Status init(const std::vector<int>& signals);

  // Timers: any thread may arm/cancel; callbacks run on the loop thread.
  Timer* timer_create(Callback cb);
  void timer_arm(Timer* t, uint64_t when_ns, uint64_t period_ns);
  void timer_cancel(Timer* t);
  void timer_destroy(Timer* t);

  // Watch `fd` for readability (callback on the loop thread).
  absl::Status watch_fd(int fd, Callback cb);
  void unwatch_fd(int fd);

  void on_signal(std::function<void(int)> cb) { signal_cb_ = std::move(cb); }
  // Wake the loop from another thread; `cb` of set_wake runs on the loop.
  void set_wake(Callback cb) { wake_cb_ = std::move(cb); }
  void wake();

  // Runs until stop() is called (from a callback or another thread).
  void run();
  void stop();

  // The resource-manager loop itself (valid after init()), for attaching
  // /dev/qvm names. Loop thread only, as resmgr::Dispatch documents.
  resmgr::Dispatch* dispatch() { return disp_.get(); }

 private:
  void arm_timerfd_locked();
  void fire_timers();

  std::unique_ptr<resmgr::Dispatch> disp_;
  int tfd_ = -1, efd_ = -1;
  std::mutex mu_;
  std::multimap<uint64_t, Timer*> queue_;
  std::vector<std::unique_ptr<Timer>> timers_;
  std::map<int, std::shared_ptr<Callback>> fds_;
  std::function<void(int)> signal_cb_;
  Callback wake_cb_;
  bool stop_ = false;
};

}  // namespace qvm
