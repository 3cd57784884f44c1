// The dispatch loop's other sources: timers as pulses, fds, signals, posted
// work, and nesting through fd().
#include <fcntl.h>
#include <poll.h>
#include <signal.h>

#include <catch2/catch.hpp>

#include "test/resmgr/helpers.h"

using namespace rmtest;

TEST_CASE("timers deliver pulses with their code and value", "[resmgr][loop]") {
  Loop loop;
  std::mutex mu;
  std::vector<Pulse> got;
  loop.d->pulse_attach(7, [&](const Pulse& p) {
    std::lock_guard<std::mutex> l(mu);
    got.push_back(p);
  });
  std::atomic<int> oneshot{0};
  loop.d->pulse_attach(8, [&](const Pulse& p) {
    if (p.value == 99) oneshot++;
  });
  auto periodic = loop.d->timer_create(7, 42);
  REQUIRE(periodic.ok());
  auto once = loop.d->timer_create(8, 99);
  REQUIRE(once.ok());
  REQUIRE(loop.d->timer_settime(*periodic, absl::Milliseconds(5), absl::Milliseconds(5)).ok());
  REQUIRE(loop.d->timer_settime(*once, absl::Milliseconds(20)).ok());
  CHECK(!loop.d->timer_settime(12345, absl::Milliseconds(1)).ok());
  loop.start();
  REQUIRE(WaitFor([&] {
    std::lock_guard<std::mutex> l(mu);
    uint64_t n = 0;
    for (auto& p : got) n += p.count;
    return n >= 5;
  }));
  {
    std::lock_guard<std::mutex> l(mu);
    for (auto& p : got) {
      CHECK(p.code == 7);
      CHECK(p.value == 42);
      CHECK(p.count >= 1);
    }
  }
  REQUIRE(WaitFor([&] { return oneshot == 1; }));
  // Disarm and destroy on the loop thread; no pulse after that.
  loop.call([&] {
    (void)loop.d->timer_settime(*periodic, absl::ZeroDuration());
    loop.d->timer_destroy(*periodic);
    loop.d->timer_destroy(*once);
  });
  size_t n;
  {
    std::lock_guard<std::mutex> l(mu);
    n = got.size();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    std::lock_guard<std::mutex> l(mu);
    CHECK(got.size() == n);
  }
  CHECK(oneshot == 1);

  // Pulses sent from other threads, in order; unattached codes are dropped.
  std::vector<uint64_t> values;
  loop.call([&] {
    loop.d->pulse_attach(9, [&](const Pulse& p) { values.push_back(p.value); });
  });
  std::thread t([&] {
    for (uint64_t i = 0; i < 100; i++) (void)loop.d->send_pulse(9, i);
    (void)loop.d->send_pulse(10, 1);
  });
  t.join();
  REQUIRE(WaitFor([&] { return loop.call([&] { return values.size(); }) == 100; }));
  auto v = loop.call([&] { return values; });
  for (uint64_t i = 0; i < 100; i++) CHECK(v[i] == i);
}

TEST_CASE("watched fds: readable, writable, hang-up, unwatch from the callback",
          "[resmgr][loop]") {
  Loop loop;
  int p[2];
  REQUIRE(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
  std::atomic<int> hup{0};
  std::mutex mu;
  std::string data;
  REQUIRE(loop.d->watch_fd(p[0], Dispatch::kReadable, [&](int fd, uint32_t ready) {
    if (ready & Dispatch::kReadable) {
      char buf[64];
      ssize_t n = read(fd, buf, sizeof buf);
      if (n > 0) {
        std::lock_guard<std::mutex> l(mu);
        data.append(buf, static_cast<size_t>(n));
      }
      if (n == 0) hup++;
    }
    if (ready & Dispatch::kHangup) {
      hup++;
      loop.d->unwatch_fd(fd);  // also stops level-triggered repeats
    }
  }).ok());
  CHECK(!loop.d->watch_fd(p[0], Dispatch::kReadable, [](int, uint32_t) {}).ok());
  int q[2];
  REQUIRE(pipe2(q, O_NONBLOCK | O_CLOEXEC) == 0);
  std::atomic<int> writable{0};
  REQUIRE(loop.d->watch_fd(q[1], Dispatch::kWritable, [&](int fd, uint32_t ready) {
    if (ready & Dispatch::kWritable) writable++;
    loop.d->unwatch_fd(fd);
  }).ok());
  loop.start();
  REQUIRE(write(p[1], "abc", 3) == 3);
  REQUIRE(WaitFor([&] {
    std::lock_guard<std::mutex> l(mu);
    return data == "abc";
  }));
  REQUIRE(WaitFor([&] { return writable == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(writable == 1);  // unwatched inside its own callback
  close(p[1]);
  REQUIRE(WaitFor([&] { return hup >= 1; }));
  int h = hup;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(hup == h);
  // modify_fd on an unknown fd fails; a watch can be re-added after unwatch.
  CHECK(!loop.call([&] { return loop.d->modify_fd(p[0], Dispatch::kReadable); }).ok());
  CHECK(loop.call([&] { return loop.d->watch_fd(p[0], Dispatch::kReadable, [](int, uint32_t) {}); }).ok());
  loop.call([&] { loop.d->unwatch_fd(p[0]); });
  close(p[0]);
  close(q[0]);
  close(q[1]);
}

TEST_CASE("signals arrive through signalfd on the loop thread", "[resmgr][loop]") {
  REQUIRE(Dispatch::BlockSignals({SIGUSR1, SIGUSR2}).ok());
  Loop loop;
  std::atomic<int> usr1{0}, usr2{0};
  std::atomic<int> value{0};
  std::atomic<uint32_t> pid{0};
  std::thread::id handler_tid;  // published by the usr1 increment
  REQUIRE(loop.d->on_signal(SIGUSR1, [&](const signalfd_siginfo& si) {
    pid = si.ssi_pid;
    handler_tid = std::this_thread::get_id();
    usr1++;
  }).ok());
  REQUIRE(loop.d->on_signal(SIGUSR2, [&](const signalfd_siginfo& si) {
    usr2++;
    value = si.ssi_int;
  }).ok());
  CHECK(!loop.d->on_signal(SIGKILL, [](const signalfd_siginfo&) {}).ok());
  loop.start();
  REQUIRE(kill(getpid(), SIGUSR1) == 0);
  REQUIRE(WaitFor([&] { return usr1 == 1; }));
  CHECK(pid == static_cast<uint32_t>(getpid()));
  CHECK(handler_tid == loop.th.get_id());
  sigval sv;
  sv.sival_int = 4242;
  REQUIRE(sigqueue(getpid(), SIGUSR2, sv) == 0);
  REQUIRE(WaitFor([&] { return usr2 == 1; }));
  CHECK(value == 4242);
}

TEST_CASE("post and stop from other threads; nesting through fd()", "[resmgr][loop]") {
  Loop loop;
  loop.start();
  std::atomic<int> ran{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; i++)
    ts.emplace_back([&] {
      for (int j = 0; j < 250; j++) loop.d->post([&] { ran++; });
    });
  for (auto& t : ts) t.join();
  REQUIRE(WaitFor([&] { return ran == 1000; }));

  // A loop driven from another loop: its epoll fd becomes readable when it
  // has work, and run_once(0) does it.
  auto inner = Dispatch::Create();
  REQUIRE(inner.ok());
  bool done = false;
  (*inner)->post([&] { done = true; });
  pollfd p{(*inner)->fd(), POLLIN, 0};
  REQUIRE(poll(&p, 1, 1000) == 1);
  CHECK((*inner)->run_once(0) >= 1);
  CHECK(done);
  p.revents = 0;
  CHECK(poll(&p, 1, 0) == 0);
}
