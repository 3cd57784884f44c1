// The dispatch loop: epoll, timers as pulses, fds, signals, posted work.
#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "resmgr/internal.h"

namespace qvm::resmgr {

class TimerSource : public Source {
 public:
  TimerSource(Dispatch::Impl* d, int code, uint64_t value) : d_(d), code_(code), value_(value) {}
  void on_event(uint32_t) override {
    uint64_t n = 0;
    ssize_t r = ::read(fd, &n, sizeof n);
    if (r != static_cast<ssize_t>(sizeof n) || n == 0) return;
    d_->deliver(Pulse{code_, value_, n});
  }

 private:
  Dispatch::Impl* d_;
  int code_;
  uint64_t value_;
};

class FdSource : public Source {
 public:
  explicit FdSource(std::function<void(int, uint32_t)> fn) : fn_(std::move(fn)) {
    owns_fd = false;
  }
  void on_event(uint32_t ev) override {
    uint32_t ready = 0;
    if (ev & EPOLLIN) ready |= Dispatch::kReadable;
    if (ev & EPOLLOUT) ready |= Dispatch::kWritable;
    if (ev & (EPOLLHUP | EPOLLERR)) ready |= Dispatch::kHangup;
    if (ready) fn_(fd, ready);
  }

 private:
  std::function<void(int, uint32_t)> fn_;
};

class WakeSource : public Source {
 public:
  explicit WakeSource(Dispatch::Impl* d) : d_(d) {}
  void on_event(uint32_t) override {
    uint64_t n;
    while (::read(fd, &n, sizeof n) > 0) {
    }
    std::vector<std::function<void()>> work;
    std::deque<Pulse> pulses;
    {
      std::lock_guard<std::mutex> l(d_->mu);
      work.swap(d_->posted);
      pulses.swap(d_->pulses);
    }
    for (auto& fn : work) fn();
    for (const Pulse& p : pulses) d_->deliver(p);
  }

 private:
  Dispatch::Impl* d_;
};

class SignalSource : public Source {
 public:
  explicit SignalSource(Dispatch::Impl* d) : d_(d) {}
  void on_event(uint32_t) override {
    for (int i = 0; i < 64; i++) {
      signalfd_siginfo si;
      ssize_t r = ::read(fd, &si, sizeof si);
      if (r != static_cast<ssize_t>(sizeof si)) return;
      auto it = d_->sig_handlers.find(static_cast<int>(si.ssi_signo));
      if (it == d_->sig_handlers.end()) continue;
      auto fn = it->second;
      fn(si);
    }
  }

 private:
  Dispatch::Impl* d_;
};

bool Dispatch::Impl::add(Source* s, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = s;
  return epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev) == 0;
}

bool Dispatch::Impl::mod(Source* s, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = s;
  return epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev) == 0;
}

void Dispatch::Impl::kill(std::shared_ptr<Source> s) {
  if (!s || s->dead) return;
  s->dead = true;
  if (s->fd >= 0) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, nullptr);
    if (s->owns_fd) ::close(s->fd);
    s->fd = -1;
  }
  graveyard.push_back(std::move(s));
}

void Dispatch::Impl::schedule_teardown(std::shared_ptr<Conn> c) {
  teardown.push_back(std::move(c));
}

void Dispatch::Impl::flush() {
  // Close handlers may schedule more teardowns; bounded by the number of
  // live connections.
  while (!teardown.empty()) {
    std::vector<std::shared_ptr<Conn>> list;
    list.swap(teardown);
    for (auto& c : list) TeardownConn(*c);
  }
  graveyard.clear();
  dead_atts.clear();
}

void Dispatch::Impl::deliver(const Pulse& p) {
  auto it = pulse_handlers.find(p.code);
  if (it == pulse_handlers.end()) {
    dropped_pulses++;
    return;
  }
  auto fn = it->second;  // the handler may detach itself
  fn(p);
}

Dispatch::Dispatch() : impl_(std::make_unique<Impl>()) {}

absl::StatusOr<std::unique_ptr<Dispatch>> Dispatch::Create() {
  std::unique_ptr<Dispatch> d(new Dispatch());
  Impl& im = *d->impl_;
  im.self = d.get();
  sigemptyset(&im.sigmask);
  im.rxbuf.resize(proto::kMaxMessage);
  im.epfd = epoll_create1(EPOLL_CLOEXEC);
  if (im.epfd < 0) return ErrnoStatus(errno, "epoll_create1");
  int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd < 0) return ErrnoStatus(errno, "eventfd");
  im.wake_src = std::make_shared<WakeSource>(&im);
  im.wake_src->fd = efd;
  im.evfd = efd;
  if (!im.add(im.wake_src.get(), EPOLLIN)) return ErrnoStatus(errno, "epoll_ctl");
  im.spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return d;
}

Dispatch::~Dispatch() {
  Impl& im = *impl_;
  while (!im.attachments.empty()) detach(im.attachments.front().get());
  im.flush();
  for (auto& [id, t] : im.timers) im.kill(t);
  im.timers.clear();
  for (auto& [fd, s] : im.fds) im.kill(s);
  im.fds.clear();
  im.kill(im.sig_src);
  im.kill(im.wake_src);
  im.flush();
  if (im.spare_fd >= 0) ::close(im.spare_fd);
  if (im.epfd >= 0) ::close(im.epfd);
}

void Dispatch::pulse_attach(int code, std::function<void(const Pulse&)> fn) {
  impl_->pulse_handlers[code] = std::move(fn);
}

void Dispatch::pulse_detach(int code) { impl_->pulse_handlers.erase(code); }

absl::Status Dispatch::send_pulse(int code, uint64_t value) {
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    if (impl_->pulses.size() >= 4096)
      return absl::ResourceExhaustedError("resmgr: pulse queue full");
    impl_->pulses.push_back(Pulse{code, value, 1});
  }
  wake();
  return absl::OkStatus();
}

absl::StatusOr<Dispatch::TimerId> Dispatch::timer_create(int code, uint64_t value) {
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (tfd < 0) return ErrnoStatus(errno, "timerfd_create");
  auto t = std::make_shared<TimerSource>(impl_.get(), code, value);
  t->fd = tfd;
  if (!impl_->add(t.get(), EPOLLIN)) {
    int e = errno;
    ::close(tfd);
    return ErrnoStatus(e, "epoll_ctl");
  }
  TimerId id = impl_->next_timer++;
  impl_->timers[id] = std::move(t);
  return id;
}

absl::Status Dispatch::timer_settime(TimerId id, absl::Duration initial,
                                     absl::Duration period) {
  auto it = impl_->timers.find(id);
  if (it == impl_->timers.end()) return absl::NotFoundError("resmgr: no such timer");
  if (initial < absl::ZeroDuration() || period < absl::ZeroDuration())
    return absl::InvalidArgumentError("resmgr: negative timer duration");
  itimerspec its{};
  its.it_value = absl::ToTimespec(initial);
  its.it_interval = absl::ToTimespec(period);
  if (timerfd_settime(it->second->fd, 0, &its, nullptr) != 0)
    return ErrnoStatus(errno, "timerfd_settime");
  return absl::OkStatus();
}

void Dispatch::timer_destroy(TimerId id) {
  auto it = impl_->timers.find(id);
  if (it == impl_->timers.end()) return;
  impl_->kill(it->second);
  impl_->timers.erase(it);
}

static uint32_t EpollEvents(uint32_t events) {
  uint32_t ev = 0;
  if (events & Dispatch::kReadable) ev |= EPOLLIN;
  if (events & Dispatch::kWritable) ev |= EPOLLOUT;
  return ev;
}

absl::Status Dispatch::watch_fd(int fd, uint32_t events,
                                std::function<void(int, uint32_t)> fn) {
  if (fd < 0) return ErrnoStatus(EBADF, "watch_fd");
  if (impl_->fds.count(fd)) return ErrnoStatus(EEXIST, absl::StrCat("watch_fd ", fd));
  auto s = std::make_shared<FdSource>(std::move(fn));
  s->fd = fd;
  if (!impl_->add(s.get(), EpollEvents(events)))
    return ErrnoStatus(errno, absl::StrCat("watch_fd ", fd));
  impl_->fds[fd] = std::move(s);
  return absl::OkStatus();
}

absl::Status Dispatch::modify_fd(int fd, uint32_t events) {
  auto it = impl_->fds.find(fd);
  if (it == impl_->fds.end()) return ErrnoStatus(ENOENT, absl::StrCat("modify_fd ", fd));
  if (!impl_->mod(it->second.get(), EpollEvents(events)))
    return ErrnoStatus(errno, absl::StrCat("modify_fd ", fd));
  return absl::OkStatus();
}

void Dispatch::unwatch_fd(int fd) {
  auto it = impl_->fds.find(fd);
  if (it == impl_->fds.end()) return;
  impl_->kill(it->second);
  impl_->fds.erase(it);
}

absl::Status Dispatch::BlockSignals(const std::vector<int>& signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals)
    if (sigaddset(&set, s) != 0) return ErrnoStatus(EINVAL, absl::StrCat("signal ", s));
  int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (rc != 0) return ErrnoStatus(rc, "pthread_sigmask");
  return absl::OkStatus();
}

absl::Status Dispatch::on_signal(int signo,
                                 std::function<void(const signalfd_siginfo&)> fn) {
  if (signo == SIGKILL || signo == SIGSTOP) return ErrnoStatus(EINVAL, "on_signal");
  if (absl::Status s = BlockSignals({signo}); !s.ok()) return s;
  Impl& im = *impl_;
  sigset_t mask = im.sigmask;
  sigaddset(&mask, signo);
  if (!im.sig_src) {
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) return ErrnoStatus(errno, "signalfd");
    auto src = std::make_shared<SignalSource>(&im);
    src->fd = sfd;
    if (!im.add(src.get(), EPOLLIN)) {
      int e = errno;
      ::close(sfd);
      return ErrnoStatus(e, "epoll_ctl");
    }
    im.sig_src = std::move(src);
  } else if (signalfd(im.sig_src->fd, &mask, 0) < 0) {
    return ErrnoStatus(errno, "signalfd");
  }
  im.sigmask = mask;
  im.sig_handlers[signo] = std::move(fn);
  return absl::OkStatus();
}

void Dispatch::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    impl_->posted.push_back(std::move(fn));
  }
  wake();
}

void Dispatch::wake() {
  uint64_t one = 1;
  // EAGAIN only when the counter is saturated: the loop is awake anyway.
  ssize_t r = ::write(impl_->evfd, &one, sizeof one);
  (void)r;
}

void Dispatch::stop() {
  impl_->stop.store(true);
  wake();
}

void Dispatch::run() {
  while (!impl_->stop.exchange(false)) run_once(-1);
}

int Dispatch::run_once(int timeout_ms) {
  Impl& im = *impl_;
  if (im.in_batch) return 0;  // not reentrant
  epoll_event evs[64];
  int n = epoll_wait(im.epfd, evs, 64, timeout_ms);
  if (n < 0) return 0;  // EINTR
  im.in_batch = true;
  for (int i = 0; i < n; i++) {
    auto* s = static_cast<Source*>(evs[i].data.ptr);
    if (!s->dead) s->on_event(evs[i].events);
  }
  im.in_batch = false;
  im.flush();
  return n;
}

int Dispatch::fd() const { return impl_->epfd; }

}  // namespace qvm::resmgr
