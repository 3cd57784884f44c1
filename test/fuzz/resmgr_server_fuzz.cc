// libFuzzer target: the server side of /dev/qvm's protocol (resmgr/: the
// Dispatch loop, connection state, access modes, handler output checks,
// deferred replies, notifications, flow control) behind the request
// decoder the `resmgr` fuzzer covers. One Dispatch with one attached name
// lives for the process; each input is one client connection over a real
// SOCK_SEQPACKET socket sending up to 64 packets. The handlers answer in
// every way the library must police: READ data longer than nbytes, DEVCTL
// output longer than max_out, WRITE counts larger than the data, deferred
// replies answered later or dropped, refused opens. Input: per packet one
// byte of flags (bit 0: set the header's length field to the payload's,
// bit 1: set magic, version and reserved to valid values, bit 2: answer
// deferred replies before the next packet), a u16 length, the bytes. A
// zero-length packet ends the connection (it reads as end of file). The
// replies must be well-formed (magic, version, REPLY or NOTIFY-EVENT,
// length field = payload) and, while the server keeps the connection,
// every packet sent gets exactly one REPLY.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "resmgr/protocol.h"
#include "resmgr/resmgr.h"

namespace rm = qvm::resmgr;
namespace proto = qvm::resmgr::proto;

namespace {
constexpr size_t kMaxPackets = 64;
constexpr size_t kMaxInput = 128 * 1024;  // also libFuzzer's -max_len

struct Server;
Server* g_server;  // for the exit handler: the socket and its directory go

struct Server {
  std::unique_ptr<rm::Dispatch> d;
  rm::Attachment* att = nullptr;
  std::string dir, path;
  std::vector<rm::Deferred> deferred;
  unsigned answers = 0;

  Server() {
    char tmpl[] = "/tmp/qvm-fuzz-resmgr.XXXXXX";
    if (!mkdtemp(tmpl)) __builtin_trap();
    dir = tmpl;
    path = dir + "/node";
    atexit([] {
      unlink(g_server->path.c_str());
      rmdir(g_server->dir.c_str());
    });
    auto dd = rm::Dispatch::Create();
    if (!dd.ok()) __builtin_trap();
    d = std::move(*dd);
    rm::ConnectFuncs c;
    c.open = [](const rm::OpenRequest& r, std::unique_ptr<rm::Ocb>*) {
      return !r.name.empty() && r.name[0] == 'x' ? ENOENT : 0;
    };
    rm::IoFuncs io;
    io.read = [this](rm::Request& req, rm::Ocb&, uint32_t nbytes, uint64_t off, std::string* out) {
      switch (off % 4) {
        case 0: out->assign(nbytes < 100 ? nbytes : 100, 'r'); return 0;
        case 1: out->assign(size_t(nbytes) + 1, 'R'); return 0;  // too long: EIO
        case 2: deferred.push_back(req.defer()); return rm::kDeferred;
        default: return int(EAGAIN);
      }
    };
    io.write = [this](rm::Request& req, rm::Ocb&, uint64_t off, std::string_view data,
                      uint32_t* written) {
      switch (off % 3) {
        case 0: return 0;
        case 1: *written = uint32_t(data.size()) + 1; return 0;  // more than written: EIO
        default: deferred.push_back(req.defer()); return rm::kDeferred;
      }
    };
    io.devctl = [this](rm::Request& req, rm::Ocb&, uint32_t cmd, std::string_view in,
                       uint32_t max_out, std::string* out) {
      switch (cmd % 4) {
        case 0: out->assign(in.substr(0, max_out)); return 0;
        case 1: out->assign(size_t(max_out) + 1, 'o'); return 0;  // EOVERFLOW
        case 2: deferred.push_back(req.defer()); return rm::kDeferred;
        default: return int(ENOTTY);
      }
    };
    io.notify = [](rm::Request&, rm::Ocb&, uint32_t events, uint32_t* ready) {
      *ready = events & proto::kNotifyOut;
      return 0;
    };
    rm::AttachOptions o;
    o.max_output_bytes = 64 * 1024;
    auto a = d->attach(path, std::move(c), std::move(io), o);
    if (!a.ok()) __builtin_trap();
    att = *a;
  }

  // Answers (or drops) every deferred reply: an error, data of its type
  // that fits, data too long for it (the library answers EIO/EOVERFLOW),
  // or nothing (dropped: EINTR).
  void answer() {
    std::vector<rm::Deferred> now;
    now.swap(deferred);
    for (auto& x : now) {
      const unsigned how = answers++ % 4;
      if (how == 0) {
        x.error(EIO);
      } else if (how == 3) {
        continue;  // dropped
      } else if (x.type() == proto::kRead) {
        x.read_data(how == 1 ? std::string_view("d") : std::string_view(std::string(70000, 'd')));
      } else if (x.type() == proto::kWrite) {
        x.write_count(how == 1 ? 0u : 70000u);
      } else {
        x.devctl_out(how == 1 ? std::string_view() : std::string_view(std::string(70000, 'd')));
      }
    }
  }
};

bool ReplyOk(const uint8_t* p, size_t n) {
  if (n < proto::kHeaderSize) return false;
  uint16_t magic;
  uint32_t len;
  memcpy(&magic, p, 2);
  memcpy(&len, p + 8, 4);
  if (magic != proto::kMagic || p[2] != proto::kVersion || len != n - proto::kHeaderSize)
    return false;
  if (p[3] == proto::kReply) return n >= proto::kHeaderSize + proto::kReplyPrefix;
  return p[3] == proto::kNotifyEvent && n == proto::kHeaderSize + 8;
}

// Reads what the server sent: counts REPLY messages; false at end of file
// (the server closed the connection) or on a malformed message (trap).
bool Drain(int fd, size_t* replies) {
  static uint8_t buf[proto::kMaxMessage + 1];
  for (;;) {
    ssize_t k = recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
    if (k == 0) return false;
    if (k < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    if (size_t(k) > proto::kMaxMessage || !ReplyOk(buf, size_t(k))) __builtin_trap();
    if (buf[3] == proto::kReply) ++*replies;
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInput) return 0;
  static Server* s = g_server = new Server;  // lives for the process
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) __builtin_trap();
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  memcpy(a.sun_path, s->path.c_str(), s->path.size());
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) __builtin_trap();
  s->d->run_once(0);  // accept
  size_t sent = 0, replies = 0, off = 0;
  bool open = true, ended = false;
  std::vector<uint8_t> pkt;
  for (size_t k = 0; k < kMaxPackets && open && !ended && off + 3 <= size; k++) {
    const uint8_t flags = data[off];
    size_t len = size_t(data[off + 1]) | size_t(data[off + 2]) << 8;
    off += 3;
    if (len > size - off) len = size - off;
    pkt.assign(data + off, data + off + len);
    off += len;
    if (pkt.size() >= proto::kHeaderSize) {
      if (flags & 1) {
        uint32_t l = uint32_t(pkt.size() - proto::kHeaderSize);
        memcpy(pkt.data() + 8, &l, 4);
      }
      if (flags & 2) {
        memcpy(pkt.data(), &proto::kMagic, 2);
        pkt[2] = proto::kVersion;
        memset(pkt.data() + 12, 0, 4);
      }
    }
    if (send(fd, pkt.data(), pkt.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) break;
    if (pkt.empty()) ended = true;  // end of file for the server
    else sent++;
    s->d->run_once(0);
    if (flags & 4) s->answer();
    s->att->for_each_ocb([](rm::Ocb& o) { o.notify(proto::kNotifyMask); });
    open = Drain(fd, &replies);
  }
  // let everything settle: deferred replies answered, output read
  for (int idle = 0, round = 0; open && idle < 3 && round < 400; round++) {
    size_t before = replies;
    int ev = s->d->run_once(0);
    bool had = !s->deferred.empty();
    s->answer();
    open = Drain(fd, &replies);
    idle = (ev == 0 && !had && replies == before) ? idle + 1 : 0;
  }
  if (open && !ended && replies != sent) __builtin_trap();  // one REPLY per request
  if (replies > sent) __builtin_trap();
  close(fd);
  for (int k = 0; k < 4; k++) s->d->run_once(0);  // the disconnect
  s->deferred.clear();                            // their clients are gone
  if (s->att->clients() != 0) __builtin_trap();
  return 0;
}
