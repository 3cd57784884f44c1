// Test helpers for resmgr: a temp dir (test/unit/temp_dir.h), a server loop on a thread, a raw
// SEQPACKET client for hand-made packets.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "resmgr/client.h"
#include "resmgr/protocol.h"
#include "resmgr/resmgr.h"
#include "test/unit/temp_dir.h"

namespace rmtest {

using namespace qvm::resmgr;

// The shared scratch directory, open to other uids (the permission tests
// run clients as another user).
struct TempDir : qvm::test::TempDir {
  TempDir() : qvm::test::TempDir(0755) {}
};

// A Dispatch whose loop runs on its own thread once start() is called.
struct Loop {
  std::unique_ptr<Dispatch> d;
  std::thread th;
  Loop() {
    auto r = Dispatch::Create();
    if (!r.ok()) abort();
    d = std::move(*r);
  }
  void start() {
    th = std::thread([this] { d->run(); });
  }
  // Runs fn on the loop thread and waits for it.
  template <typename F>
  auto call(F fn) -> decltype(fn()) {
    if (!th.joinable()) return fn();
    using R = decltype(fn());
    auto p = std::make_shared<std::promise<R>>();
    auto fut = p->get_future();
    d->post([p, fn]() mutable {
      if constexpr (std::is_void_v<R>) {
        fn();
        p->set_value();
      } else {
        p->set_value(fn());
      }
    });
    return fut.get();
  }
  ~Loop() {
    if (th.joinable()) {
      d->stop();
      th.join();
    }
  }
};

// Waits (up to 3 s) until pred() holds.
inline bool WaitFor(const std::function<bool()>& pred, int ms = 3000) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

inline int RawConnect(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

struct RawReply {
  bool ok = false;  // a packet arrived
  uint8_t type = 0;
  uint32_t id = 0;
  int status = -1;
  std::string data;
};

inline RawReply RawRecv(int fd, int timeout_ms = 3000) {
  RawReply r;
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) != 1) return r;
  std::vector<uint8_t> buf(70000);
  ssize_t n = recv(fd, buf.data(), buf.size(), 0);
  if (n < 24) return r;
  qvm::resmgr::proto::Header h;
  qvm::resmgr::proto::ParseHeader(buf.data(), static_cast<size_t>(n), &h);
  r.ok = true;
  r.type = h.type;
  r.id = h.id;
  r.status = static_cast<int>(qvm::resmgr::proto::GetU32(buf.data() + 16));
  r.data.assign(reinterpret_cast<char*>(buf.data()) + 24, static_cast<size_t>(n) - 24);
  return r;
}

inline RawReply RawXfer(int fd, const std::string& pkt) {
  if (send(fd, pkt.data(), pkt.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(pkt.size()))
    return RawReply{};
  return RawRecv(fd);
}

}  // namespace rmtest
