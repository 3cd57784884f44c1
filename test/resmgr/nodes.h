// A small resource manager used by the tests: a handful of names with
// known behaviour and counters of every handler call.
#pragma once

#include <set>

#include "test/resmgr/helpers.h"

namespace rmtest {

struct Counters {
  std::atomic<int> open{0}, read{0}, write{0}, devctl{0}, stat{0}, notify{0}, close{0};
  int io_total() const {
    return read + write + devctl + stat + notify + close;
  }
};

enum : uint32_t { kCmdPing = 1, kCmdBig = 2, kCmdSlow = 3 };

struct Nodes {
  Counters n;
  // Loop-thread state.
  std::string env_text = "{\"state\":\"running\"}";
  std::string echo;
  std::string console;
  std::vector<Deferred> slow;
  std::atomic<int> slow_count{0};

  ConnectFuncs connect() {
    ConnectFuncs c;
    c.open = [this](const OpenRequest& r, std::unique_ptr<Ocb>*) {
      n.open++;
      static const std::set<std::string> names = {"",    "env",  "echo", "slow",
                                                  "big", "liar", "ser1"};
      if (r.name == "secret") return EPERM;
      return names.count(std::string(r.name)) ? 0 : ENOENT;
    };
    return c;
  }

  IoFuncs io() {
    IoFuncs io;
    io.read = [this](Request& req, Ocb& ocb, uint32_t nbytes, uint64_t off,
                     std::string* out) -> int {
      n.read++;
      const std::string& name = ocb.name();
      auto slice = [&](const std::string& s) {
        if (off < s.size()) *out = s.substr(off, nbytes);
      };
      if (name == "env") {
        slice(env_text);
      } else if (name == "echo") {
        slice(echo);
      } else if (name == "slow") {
        slow.push_back(req.defer());
        slow_count++;
        return kDeferred;
      } else if (name == "big") {
        out->assign(std::min<uint32_t>(nbytes, 60000), 'B');
      } else if (name == "liar") {
        out->assign(nbytes + 1, 'L');
      } else if (name == "ser1") {
        *out = console.substr(0, nbytes);
        console.erase(0, out->size());
      } else {
        return EINVAL;
      }
      return 0;
    };
    io.write = [this](Request&, Ocb& ocb, uint64_t, std::string_view data,
                      uint32_t* written) -> int {
      n.write++;
      if (ocb.name() == "echo") {
        echo.append(data);
        return 0;
      }
      if (ocb.name() == "ser1") {
        console.append(data);
        *written = static_cast<uint32_t>(data.size());
        return 0;
      }
      return EROFS;
    };
    io.devctl = [this](Request& req, Ocb&, uint32_t cmd, std::string_view in, uint32_t,
                       std::string* out) -> int {
      n.devctl++;
      switch (cmd) {
        case kCmdPing:
          *out = "pong:" + std::string(in);
          return 0;
        case kCmdBig:
          out->assign(100, 'x');
          return 0;
        case kCmdSlow:
          slow.push_back(req.defer());
          slow_count++;
          return kDeferred;
      }
      return ENOTTY;
    };
    io.stat = [this](Request&, Ocb& ocb, Stat* st) {
      n.stat++;
      if (ocb.name() == "env") st->size = env_text.size();
      return 0;
    };
    io.notify = [this](Request&, Ocb& ocb, uint32_t, uint32_t* ready) {
      n.notify++;
      if (ocb.name() == "ser1" && !console.empty()) *ready = proto::kNotifyIn;
      return 0;
    };
    io.close = [this](Ocb&) { n.close++; };
    return io;
  }
};

// A loop with the Nodes attached at dir/"vm".
struct NodeServer {
  TempDir dir;
  Nodes nodes;
  Loop loop;
  Attachment* att = nullptr;
  std::string path;
  explicit NodeServer(AttachOptions opts = {}) {
    path = dir / "vm";
    auto r = loop.d->attach(path, nodes.connect(), nodes.io(), opts);
    if (!r.ok()) {
      fprintf(stderr, "attach: %s\n", r.status().ToString().c_str());
      abort();
    }
    att = *r;
    loop.start();
  }
  Attachment::Stats stats() {
    return loop.call([this] { return att->stats(); });
  }
  size_t clients() {
    return loop.call([this] { return att->clients(); });
  }
};

}  // namespace rmtest
