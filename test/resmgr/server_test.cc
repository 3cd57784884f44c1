// Client/server round trips over real sockets.
#include <fcntl.h>
#include <signal.h>

#include <catch2/catch.hpp>

#include "test/resmgr/nodes.h"

using namespace rmtest;
using qvm::resmgr::ErrnoOf;

TEST_CASE("open a name, read, write, stat, close", "[resmgr]") {
  NodeServer s;
  auto env = Client::open(s.path, "env", O_RDONLY);
  REQUIRE(env.ok());
  auto a = (*env)->read(5);
  REQUIRE(a.ok());
  CHECK(*a == "{\"sta");
  auto b = (*env)->read(1000);
  REQUIRE(b.ok());
  CHECK(*b == "te\":\"running\"}");
  auto c = (*env)->read(10);
  REQUIRE(c.ok());
  CHECK(c->empty());  // end of data
  auto p = (*env)->pread(7, 2);
  REQUIRE(p.ok());
  CHECK(*p == "state\":");
  auto st = (*env)->stat();
  REQUIRE(st.ok());
  CHECK((st->mode & S_IFMT) == S_IFCHR);
  CHECK((st->mode & 0777) == 0600);
  CHECK(st->size == s.nodes.env_text.size());
  CHECK(st->uid == geteuid());
  CHECK(st->mtime_ns > 0);

  auto echo = Client::open(s.path, "echo");
  REQUIRE(echo.ok());
  auto w = (*echo)->write("hello ");
  REQUIRE(w.ok());
  CHECK(*w == 6);
  REQUIRE((*echo)->write("world").ok());
  (*echo)->seek(0);
  auto r = (*echo)->read(100);
  REQUIRE(r.ok());
  CHECK(*r == "hello world");
  // Largest write and read.
  std::string big(proto::kMaxData, 'z');
  auto bw = (*echo)->write(big);
  REQUIRE(bw.ok());
  CHECK(*bw == proto::kMaxData);
  auto br = (*echo)->pread(proto::kMaxData, 11);
  REQUIRE(br.ok());
  CHECK(*br == big);

  auto dir = Client::open(s.path, "", O_RDONLY);
  REQUIRE(dir.ok());
  auto dst = (*dir)->stat();
  REQUIRE(dst.ok());
  CHECK((dst->mode & S_IFMT) == S_IFDIR);

  int closes = s.nodes.n.close;
  CHECK((*env)->close().ok());
  CHECK(WaitFor([&] { return s.nodes.n.close == closes + 1; }));
  // A closed client reports it.
  CHECK(ErrnoOf((*env)->read(1).status()) == EBADF);
}

TEST_CASE("open errors: unknown name, refused name, not running, stale", "[resmgr]") {
  NodeServer s;
  auto r = Client::open(s.path, "nosuch");
  REQUIRE(!r.ok());
  CHECK(ErrnoOf(r.status()) == ENOENT);
  auto e = Client::open(s.path, "secret");
  REQUIRE(!e.ok());
  CHECK(ErrnoOf(e.status()) == EPERM);
  auto bad = Client::open(s.path, "env", O_ACCMODE);
  REQUIRE(!bad.ok());
  CHECK(ErrnoOf(bad.status()) == EINVAL);

  auto none = Client::open(s.dir / "absent", "env");
  REQUIRE(!none.ok());
  CHECK(none.status().code() == absl::StatusCode::kNotFound);
  CHECK(ErrnoOf(none.status()) == ENOENT);
  CHECK(none.status().message().find("not running") != std::string::npos);

  // A socket file without a server.
  std::string stale = s.dir / "stale";
  int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, stale.c_str(), sizeof a.sun_path - 1);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  close(fd);
  auto st = Client::open(stale, "env");
  REQUIRE(!st.ok());
  CHECK(ErrnoOf(st.status()) == ECONNREFUSED);
  CHECK(st.status().message().find("not running") != std::string::npos);
}

TEST_CASE("access mode is enforced before the handler", "[resmgr]") {
  NodeServer s;
  auto ro = Client::open(s.path, "echo", O_RDONLY);
  REQUIRE(ro.ok());
  int writes = s.nodes.n.write;
  CHECK(ErrnoOf((*ro)->write("x").status()) == EBADF);
  auto wo = Client::open(s.path, "echo", O_WRONLY);
  REQUIRE(wo.ok());
  int reads = s.nodes.n.read;
  CHECK(ErrnoOf((*wo)->read(1).status()) == EBADF);
  CHECK(s.nodes.n.write == writes);
  CHECK(s.nodes.n.read == reads);
  // Handler errors come back as they are.
  auto env = Client::open(s.path, "env", O_RDWR);
  REQUIRE(env.ok());
  CHECK(ErrnoOf((*env)->write("x").status()) == EROFS);
}

TEST_CASE("devctl: known command, unknown command ENOTTY, output bound", "[resmgr]") {
  NodeServer s;
  auto c = Client::open(s.path, "env");
  REQUIRE(c.ok());
  auto r = (*c)->devctl(kCmdPing, "abc", 100);
  REQUIRE(r.ok());
  CHECK(*r == "pong:abc");
  auto u = (*c)->devctl(0x1234, "abc", 100);
  REQUIRE(!u.ok());
  CHECK(ErrnoOf(u.status()) == ENOTTY);
  // The handler produced 100 bytes but the client allowed 10.
  auto o = (*c)->devctl(kCmdBig, "", 10);
  REQUIRE(!o.ok());
  CHECK(ErrnoOf(o.status()) == EOVERFLOW);
  auto ok = (*c)->devctl(kCmdBig, "", 100);
  REQUIRE(ok.ok());
  CHECK(ok->size() == 100);
  // A READ handler returning more than asked is a server bug: EIO.
  auto liar = Client::open(s.path, "liar");
  REQUIRE(liar.ok());
  CHECK(ErrnoOf((*liar)->read(10).status()) == EIO);
}

TEST_CASE("default handlers: devctl ENOTTY, read/write/notify ENOSYS, open only \"\"",
          "[resmgr]") {
  TempDir dir;
  Loop loop;
  auto att = loop.d->attach(dir / "plain", {}, {});
  REQUIRE(att.ok());
  loop.start();
  auto bad = Client::open(dir / "plain", "x");
  REQUIRE(!bad.ok());
  CHECK(ErrnoOf(bad.status()) == ENOENT);
  auto c = Client::open(dir / "plain", "");
  REQUIRE(c.ok());
  CHECK(ErrnoOf((*c)->devctl(1, "").status()) == ENOTTY);
  CHECK(ErrnoOf((*c)->read(1).status()) == ENOSYS);
  CHECK(ErrnoOf((*c)->write("a").status()) == ENOSYS);
  CHECK(ErrnoOf((*c)->notify(proto::kNotifyIn).status()) == ENOSYS);
  auto st = (*c)->stat();
  REQUIRE(st.ok());
  CHECK((st->mode & S_IFMT) == S_IFDIR);
  CHECK((*c)->close().ok());
}

TEST_CASE("connection state: I/O before CONNECT is EBADF, second CONNECT EISCONN",
          "[resmgr]") {
  NodeServer s;
  int fd = RawConnect(s.path);
  REQUIRE(fd >= 0);
  auto r = RawXfer(fd, proto::EncodeEmpty(proto::kStat, 5));
  REQUIRE(r.ok);
  CHECK(r.id == 5);
  CHECK(r.status == EBADF);
  r = RawXfer(fd, proto::EncodeConnect(6, O_RDWR, "echo"));
  REQUIRE(r.ok);
  CHECK(r.status == 0);
  r = RawXfer(fd, proto::EncodeConnect(7, O_RDWR, "env"));
  CHECK(r.status == EISCONN);
  // CLOSE, then the connection may open another name.
  r = RawXfer(fd, proto::EncodeEmpty(proto::kClose, 8));
  CHECK(r.status == 0);
  r = RawXfer(fd, proto::EncodeEmpty(proto::kClose, 9));
  CHECK(r.status == EBADF);
  r = RawXfer(fd, proto::EncodeConnect(10, O_RDONLY, "env"));
  CHECK(r.status == 0);
  r = RawXfer(fd, proto::EncodeRead(11, 4, 0));
  CHECK(r.status == 0);
  CHECK(r.data == "{\"st");
  close(fd);
}
