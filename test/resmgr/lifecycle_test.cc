// Names on the filesystem, disconnects, deferred replies, notifications,
// and the bounds on what a client can make the server hold.
#include <fcntl.h>
#include <signal.h>

#include <fstream>

#include <catch2/catch.hpp>

#include "test/resmgr/nodes.h"

using namespace rmtest;
using qvm::resmgr::ErrnoOf;

TEST_CASE("stale socket is replaced, live one is an error, other files are kept",
          "[resmgr]") {
  TempDir dir;
  std::string path = dir / "vm";
  // A dead server: bound and listening, then gone.
  {
    int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(listen(fd, 1) == 0);
    close(fd);
  }
  struct stat st;
  REQUIRE(lstat(path.c_str(), &st) == 0);
  REQUIRE(S_ISSOCK(st.st_mode));

  Nodes nodes;
  Loop first;
  auto a1 = first.d->attach(path, nodes.connect(), nodes.io());
  REQUIRE(a1.ok());
  first.start();
  REQUIRE(lstat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  // A second server for the same name: refused, and the first is unharmed.
  Nodes nodes2;
  Loop second;
  auto a2 = second.d->attach(path, nodes2.connect(), nodes2.io());
  REQUIRE(!a2.ok());
  CHECK(a2.status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(ErrnoOf(a2.status()) == EADDRINUSE);
  auto c = Client::open(path, "env");
  REQUIRE(c.ok());
  CHECK((*c)->read(3).ok());
  c->reset();

  // detach() removes the name; after that the second server may attach.
  first.call([&] { first.d->detach(*a1); });
  CHECK(lstat(path.c_str(), &st) != 0);
  auto a3 = second.d->attach(path, nodes2.connect(), nodes2.io());
  CHECK(a3.ok());

  // A regular file with the name is not touched.
  std::string file = dir / "file";
  { std::ofstream(file) << "keep me"; }
  auto a4 = second.d->attach(file, nodes2.connect(), nodes2.io());
  REQUIRE(!a4.ok());
  CHECK(ErrnoOf(a4.status()) == EEXIST);
  std::ifstream in(file);
  std::string text;
  std::getline(in, text);
  CHECK(text == "keep me");

  // A name too long for sun_path.
  auto a5 = second.d->attach(dir / std::string(200, 'n'), nodes2.connect(), nodes2.io());
  REQUIRE(!a5.ok());
  CHECK(ErrnoOf(a5.status()) == ENAMETOOLONG);
}

TEST_CASE("detach does not unlink a socket that replaced ours", "[resmgr]") {
  TempDir dir;
  std::string path = dir / "vm";
  Loop loop;
  auto a = loop.d->attach(path, {}, {});
  REQUIRE(a.ok());
  REQUIRE(unlink(path.c_str()) == 0);
  int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  loop.d->detach(*a);
  struct stat st;
  CHECK(lstat(path.c_str(), &st) == 0);
  close(fd);
}

TEST_CASE("a client that disconnects mid-request costs nothing", "[resmgr]") {
  signal(SIGPIPE, SIG_DFL);  // a stray SIGPIPE would kill this test binary
  NodeServer s;
  // 1. A deferred (blocked) read, then the client vanishes.
  {
    int fd = RawConnect(s.path);
    REQUIRE(fd >= 0);
    REQUIRE(RawXfer(fd, proto::EncodeConnect(1, O_RDONLY, "slow")).status == 0);
    std::string rd = proto::EncodeRead(2, 100, 0);
    REQUIRE(send(fd, rd.data(), rd.size(), 0) == static_cast<ssize_t>(rd.size()));
    REQUIRE(WaitFor([&] { return s.nodes.slow_count == 1; }));
    const int closes = s.nodes.n.close;
    close(fd);
    REQUIRE(WaitFor([&] { return s.nodes.n.close == closes + 1; }));
    bool alive = s.loop.call([&] { return s.nodes.slow.at(0).client_alive(); });
    CHECK(!alive);
    // Replying to the departed client is harmless.
    s.loop.call([&] {
      s.nodes.slow.at(0).read_data("too late");
      s.nodes.slow.clear();
    });
  }
  // 2. A burst of requests, then gone before reading a single reply: the
  //    server's replies hit a closed socket (EPIPE, never SIGPIPE).
  for (int round = 0; round < 5; round++) {
    int fd = RawConnect(s.path);
    REQUIRE(fd >= 0);
    REQUIRE(RawXfer(fd, proto::EncodeConnect(1, O_RDONLY, "big")).status == 0);
    for (uint32_t i = 0; i < 20; i++) {
      std::string rd = proto::EncodeRead(10 + i, 60000, 0);
      if (send(fd, rd.data(), rd.size(), MSG_DONTWAIT) < 0) break;
    }
    close(fd);
  }
  // 3. Half a message never comes: SEQPACKET delivers whole packets only,
  //    so a connect-and-vanish is the worst case.
  for (int i = 0; i < 10; i++) {
    int fd = RawConnect(s.path);
    REQUIRE(fd >= 0);
    close(fd);
  }
  CHECK(WaitFor([&] { return s.clients() == 0; }));
  auto st = s.stats();
  CHECK(st.disconnected == st.accepted);
  // Still serving.
  auto c = Client::open(s.path, "env");
  REQUIRE(c.ok());
  CHECK((*c)->read(4).ok());
}

TEST_CASE("deferred replies: later reply, EINTR when dropped, size checks", "[resmgr]") {
  NodeServer s;
  auto c = Client::open(s.path, "slow");
  REQUIRE(c.ok());
  std::string got;
  std::thread reader([&] {
    auto r = (*c)->read(10);
    got = r.ok() ? *r : "error: " + r.status().ToString();
  });
  REQUIRE(WaitFor([&] { return s.nodes.slow_count == 1; }));
  // The loop keeps serving others meanwhile.
  auto other = Client::open(s.path, "env");
  REQUIRE(other.ok());
  CHECK((*other)->read(2).ok());
  auto [before, after] = s.loop.call([&] {
    bool b = s.nodes.slow.at(0).pending();
    s.nodes.slow.at(0).read_data("late data");
    bool a = s.nodes.slow.at(0).pending();
    s.nodes.slow.at(0).read_data("twice");  // ignored: already replied
    return std::make_pair(b, a);
  });
  CHECK(before);
  CHECK(!after);
  reader.join();
  CHECK(got == "late data");

  // A Deferred dropped without a reply answers EINTR.
  int err = 0;
  std::thread r2([&] { err = ErrnoOf((*c)->read(10).status()); });
  REQUIRE(WaitFor([&] { return s.nodes.slow_count == 2; }));
  s.loop.call([&] { s.nodes.slow.clear(); });
  r2.join();
  CHECK(err == EINTR);

  // Deferred output is held to the request's limits.
  std::thread r3([&] { err = ErrnoOf((*c)->read(4).status()); });
  REQUIRE(WaitFor([&] { return s.nodes.slow_count == 3; }));
  s.loop.call([&] { s.nodes.slow.back().read_data("longer than four"); });
  r3.join();
  CHECK(err == EIO);
  std::thread r4([&] { err = ErrnoOf((*c)->devctl(kCmdSlow, "", 2).status()); });
  REQUIRE(WaitFor([&] { return s.nodes.slow_count == 4; }));
  s.loop.call([&] { s.nodes.slow.back().devctl_out("abc"); });
  r4.join();
  CHECK(err == EOVERFLOW);
  std::string out;
  std::thread r5([&] {
    auto r = (*c)->devctl(kCmdSlow, "", 10);
    out = r.ok() ? *r : "error";
  });
  REQUIRE(WaitFor([&] { return s.nodes.slow_count == 5; }));
  s.loop.call([&] { s.nodes.slow.back().devctl_out("ok"); });
  r5.join();
  CHECK(out == "ok");
  s.loop.call([&] { s.nodes.slow.clear(); });
}

TEST_CASE("deferred requests per client are bounded (max_inflight)", "[resmgr]") {
  AttachOptions o;
  o.max_inflight = 2;
  NodeServer s(o);
  int fd = RawConnect(s.path);
  REQUIRE(fd >= 0);
  REQUIRE(RawXfer(fd, proto::EncodeConnect(1, O_RDONLY, "slow")).status == 0);
  for (uint32_t i = 0; i < 5; i++) {
    std::string rd = proto::EncodeRead(10 + i, 8, 0);
    REQUIRE(send(fd, rd.data(), rd.size(), 0) == static_cast<ssize_t>(rd.size()));
  }
  REQUIRE(WaitFor([&] { return s.nodes.slow_count == 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(s.nodes.slow_count == 2);  // the server stopped reading this client
  // Each reply lets one more request in.
  s.loop.call([&] { s.nodes.slow.at(0).read_data("a"); });
  auto r = RawRecv(fd);
  CHECK(r.id == 10);
  CHECK(r.data == "a");
  REQUIRE(WaitFor([&] { return s.nodes.slow_count == 3; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(s.nodes.slow_count == 3);
  s.loop.call([&] {
    for (auto& d : s.nodes.slow)
      if (d.pending()) d.read_data("b");
  });
  REQUIRE(WaitFor([&] { return s.nodes.slow_count == 5; }));
  s.loop.call([&] {
    for (auto& d : s.nodes.slow)
      if (d.pending()) d.read_data("c");
    s.nodes.slow.clear();
  });
  int replies = 1;
  while (RawRecv(fd, 500).ok) replies++;
  CHECK(replies == 5);
  close(fd);
}

TEST_CASE("notify: armed, event with cookie, immediate readiness, timeout", "[resmgr]") {
  NodeServer s;
  auto c = Client::open(s.path, "ser1");
  REQUIRE(c.ok());
  auto ready = (*c)->notify(proto::kNotifyIn, 77);
  REQUIRE(ready.ok());
  CHECK(*ready == 0);  // nothing yet: armed
  auto none = (*c)->wait_notify(absl::Milliseconds(100));
  REQUIRE(!none.ok());
  CHECK(ErrnoOf(none.status()) == ETIMEDOUT);
  // "Console output arrives": the server notifies every reader of ser1.
  int sent = s.loop.call([&] {
    s.nodes.console = "login: ";
    int n = 0;
    s.att->for_each_ocb([&](Ocb& o) {
      if (o.name() == "ser1" && o.notify(proto::kNotifyIn)) n++;
    });
    return n;
  });
  CHECK(sent == 1);
  auto ev = (*c)->wait_notify(absl::Seconds(3));
  REQUIRE(ev.ok());
  CHECK(ev->events == proto::kNotifyIn);
  CHECK(ev->cookie == 77);
  // One-shot: a second notify() from the server sends nothing.
  bool again = s.loop.call([&] {
    bool any = false;
    s.att->for_each_ocb([&](Ocb& o) { any |= o.notify(proto::kNotifyIn); });
    return any;
  });
  CHECK(!again);
  // Data is there now: readiness is reported at once, nothing is armed.
  ready = (*c)->notify(proto::kNotifyIn, 78);
  REQUIRE(ready.ok());
  CHECK((*ready & proto::kNotifyIn) != 0);
  auto data = (*c)->read(100);
  REQUIRE(data.ok());
  CHECK(*data == "login: ");
  // An event that arrives while the client waits for another reply is kept.
  REQUIRE((*c)->notify(proto::kNotifyIn, 79).ok());
  s.loop.call([&] {
    s.nodes.console = "x";
    s.att->for_each_ocb([&](Ocb& o) { o.notify(proto::kNotifyIn | proto::kNotifyOut); });
  });
  REQUIRE(WaitFor([&] {
    pollfd p{(*c)->fd(), POLLIN, 0};
    return poll(&p, 1, 0) == 1;
  }));
  REQUIRE((*c)->stat().ok());
  CHECK((*c)->queued_events() == 1);
  ev = (*c)->wait_notify(absl::ZeroDuration());
  REQUIRE(ev.ok());
  CHECK(ev->events == proto::kNotifyIn);  // only what was armed
  CHECK(ev->cookie == 79);
  // events == 0 disarms.
  s.loop.call([&] { s.nodes.console.clear(); });
  REQUIRE((*c)->notify(proto::kNotifyOut, 80).ok());
  REQUIRE((*c)->notify(0).ok());
  bool armed = s.loop.call([&] {
    bool any = false;
    s.att->for_each_ocb([&](Ocb& o) { any |= o.armed_events() != 0; });
    return any;
  });
  CHECK(!armed);
}

TEST_CASE("bounds: clients per server, unread output per client", "[resmgr]") {
  AttachOptions o;
  o.max_clients = 2;
  o.max_output_bytes = 1000;
  NodeServer s(o);
  auto c1 = Client::open(s.path, "env");
  auto c2 = Client::open(s.path, "env");
  REQUIRE(c1.ok());
  REQUIRE(c2.ok());
  auto c3 = Client::open(s.path, "env");
  REQUIRE(!c3.ok());
  CHECK(ErrnoOf(c3.status()) == EAGAIN);
  CHECK(c3.status().message().find("too many clients") != std::string::npos);
  CHECK(s.stats().busy == 1);
  c2->reset();
  REQUIRE(WaitFor([&] { return s.clients() == 1; }));

  // A client that asks for big replies and never reads them is dropped once
  // the replies queued for it pass max_output_bytes.
  int fd = RawConnect(s.path);
  REQUIRE(fd >= 0);
  REQUIRE(RawXfer(fd, proto::EncodeConnect(1, O_RDONLY, "big")).status == 0);
  const int closes = s.nodes.n.close;
  for (uint32_t i = 0; i < 200; i++) {
    std::string rd = proto::EncodeRead(10 + i, 60000, 0);
    if (send(fd, rd.data(), rd.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) break;
    if (s.nodes.n.close > closes) break;
  }
  CHECK(WaitFor([&] { return s.stats().dropped == 1; }));
  CHECK(WaitFor([&] { return s.nodes.n.close == closes + 1; }));
  CHECK(WaitFor([&] { return s.clients() == 1; }));
  close(fd);
  CHECK((*c1)->read(1).ok());
}

TEST_CASE("flow control: a pipelining client gets every reply, in order", "[resmgr]") {
  NodeServer s;
  int fd = RawConnect(s.path);
  REQUIRE(fd >= 0);
  REQUIRE(RawXfer(fd, proto::EncodeConnect(1, O_RDONLY, "env")).status == 0);
  uint32_t sent = 0;
  for (; sent < 3000; sent++) {
    std::string m = proto::EncodeEmpty(proto::kStat, 100 + sent);
    if (send(fd, m.data(), m.size(), MSG_DONTWAIT) < 0) break;
  }
  REQUIRE(sent > 10);
  uint32_t got = 0;
  for (;;) {
    auto r = RawRecv(fd, 1000);
    if (!r.ok) break;
    CHECK(r.id == 100 + got);
    CHECK(r.status == 0);
    got++;
  }
  CHECK(got == sent);
  CHECK(s.stats().dropped == 0);
  close(fd);
}

TEST_CASE("a half-closed client with unread replies does not make the loop spin",
          "[resmgr]") {
  NodeServer s;
  int fd = RawConnect(s.path);
  REQUIRE(fd >= 0);
  REQUIRE(RawXfer(fd, proto::EncodeConnect(1, O_RDONLY, "big")).status == 0);
  uint32_t sent = 0;
  for (; sent < 64; sent++) {
    std::string rd = proto::EncodeRead(10 + sent, 60000, 0);
    if (send(fd, rd.data(), rd.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) break;
  }
  REQUIRE(shutdown(fd, SHUT_WR) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto cpu = [&] {
    return s.loop.call([] {
      timespec ts;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return ts.tv_sec * 1000000000ll + ts.tv_nsec;
    });
  };
  long long t0 = cpu();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  long long used = cpu() - t0;
  CHECK(used < 100000000ll);  // < 100 ms of loop CPU in 300 ms: not spinning
  // The client still gets every reply it asked for, then the end.
  uint32_t got = 0;
  while (RawRecv(fd, 1000).ok) got++;
  CHECK(got == sent);
  CHECK(WaitFor([&] { return s.clients() == 0; }));
  close(fd);
}
