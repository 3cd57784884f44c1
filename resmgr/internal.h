// Internals shared by dispatch.cc and server.cc (not installed API).
#pragma once

#include <signal.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "resmgr/resmgr.h"

namespace qvm::resmgr {

// Something registered in the epoll set. data.ptr points at it; a source
// removed during a batch is kept (dead) in the graveyard until the batch
// ends, so stale events for it are skipped safely.
struct Source {
  virtual ~Source() = default;
  virtual void on_event(uint32_t epoll_events) = 0;
  int fd = -1;
  bool owns_fd = true;
  bool dead = false;
};

class TimerSource;
class FdSource;
class WakeSource;
class SignalSource;

struct Dispatch::Impl {
  Dispatch* self = nullptr;
  int epfd = -1;
  int evfd = -1;
  int spare_fd = -1;  // released to accept() past EMFILE and drop the client
  std::shared_ptr<WakeSource> wake_src;
  std::shared_ptr<SignalSource> sig_src;
  sigset_t sigmask;
  std::map<int, std::function<void(const signalfd_siginfo&)>> sig_handlers;
  std::map<int, std::function<void(const Pulse&)>> pulse_handlers;
  uint64_t dropped_pulses = 0;
  std::map<TimerId, std::shared_ptr<TimerSource>> timers;
  TimerId next_timer = 1;
  std::map<int, std::shared_ptr<FdSource>> fds;
  std::vector<std::unique_ptr<Attachment>> attachments;

  // Cross-thread queues.
  std::mutex mu;
  std::vector<std::function<void()>> posted;
  std::deque<Pulse> pulses;
  std::atomic<bool> stop{false};

  // Deferred cleanup.
  bool in_batch = false;
  std::vector<std::shared_ptr<Source>> graveyard;
  std::vector<std::shared_ptr<Conn>> teardown;
  std::vector<std::unique_ptr<Attachment>> dead_atts;
  std::vector<uint8_t> rxbuf;

  bool add(Source* s, uint32_t events);
  bool mod(Source* s, uint32_t events);
  // Removes from epoll, closes an owned fd, parks in the graveyard.
  void kill(std::shared_ptr<Source> s);
  void schedule_teardown(std::shared_ptr<Conn> c);
  // Tears down scheduled connections, frees the graveyard.
  void flush();
  void deliver(const Pulse& p);
};

// Implemented in server.cc.
void TeardownConn(Conn& c);

}  // namespace qvm::resmgr
