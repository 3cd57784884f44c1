// Malformed messages are answered (EBADMSG/EPROTO/ENOSYS/EINVAL) before any
// handler runs, and the connection keeps working.
#include <fcntl.h>

#include <catch2/catch.hpp>

#include "test/resmgr/nodes.h"

using namespace rmtest;
namespace proto = qvm::resmgr::proto;

namespace {

std::string Header(uint8_t type, uint32_t id, uint32_t length, uint16_t magic = proto::kMagic,
                   uint8_t version = proto::kVersion, uint32_t reserved = 0) {
  std::string s;
  proto::PutU16(s, magic);
  s.push_back(static_cast<char>(version));
  s.push_back(static_cast<char>(type));
  proto::PutU32(s, id);
  proto::PutU32(s, length);
  proto::PutU32(s, reserved);
  return s;
}

// A packet of `type` with `payload` and a declared length of
// payload.size() + lie.
std::string Pkt(uint8_t type, uint32_t id, const std::string& payload, int lie = 0) {
  return Header(type, id, static_cast<uint32_t>(static_cast<int>(payload.size()) + lie)) +
         payload;
}

std::string U32s(std::initializer_list<uint32_t> v) {
  std::string s;
  for (uint32_t x : v) proto::PutU32(s, x);
  return s;
}

struct Case {
  const char* what;
  std::string pkt;
  int err;
  uint32_t id;  // expected id in the reply
};

}  // namespace

TEST_CASE("size table: rules exist for every request type and reject the rest",
          "[resmgr][proto]") {
  for (uint8_t t : {proto::kConnect, proto::kRead, proto::kWrite, proto::kDevctl,
                    proto::kStat, proto::kClose, proto::kNotify})
    CHECK(proto::RuleFor(t) != nullptr);
  CHECK(proto::RuleFor(0) == nullptr);
  CHECK(proto::RuleFor(proto::kReply) == nullptr);
  CHECK(proto::RuleFor(proto::kNotifyEvent) == nullptr);
  // Well-formed encodings pass.
  proto::Request r;
  std::string keep;  // r's views point into the last packet checked
  auto ok = [&](std::string p) {
    keep = std::move(p);
    return proto::CheckRequest(reinterpret_cast<const uint8_t*>(keep.data()), keep.size(), &r);
  };
  CHECK(ok(proto::EncodeConnect(1, O_RDWR, "env")) == 0);
  CHECK(r.name == "env");
  CHECK(ok(proto::EncodeRead(2, 10, 99)) == 0);
  CHECK(r.nbytes == 10);
  CHECK(r.offset == 99);
  CHECK(ok(proto::EncodeWrite(3, 5, "abc")) == 0);
  CHECK(r.data == "abc");
  CHECK(ok(proto::EncodeDevctl(4, 7, 100, "in")) == 0);
  CHECK(r.cmd == 7);
  CHECK(r.max_out == 100);
  CHECK(ok(proto::EncodeEmpty(proto::kStat, 5)) == 0);
  CHECK(ok(proto::EncodeNotify(6, proto::kNotifyIn, 9)) == 0);
  CHECK(r.cookie == 9);
}

TEST_CASE("malformed messages of every type get an error and no handler call",
          "[resmgr][proto]") {
  NodeServer s;
  int fd = RawConnect(s.path);
  REQUIRE(fd >= 0);
  int sndbuf = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  auto r = RawXfer(fd, proto::EncodeConnect(1, O_RDWR, "echo"));
  REQUIRE(r.status == 0);
  const int opens = s.nodes.n.open;
  const int io = s.nodes.n.io_total();
  const uint64_t malformed0 = s.stats().malformed;

  std::vector<Case> cases;
  // Header-level.
  cases.push_back({"1-byte packet", std::string(1, 'Q'), EBADMSG, 0});
  cases.push_back({"15-byte packet", Header(proto::kStat, 9, 0).substr(0, 15), EBADMSG, 0});
  cases.push_back({"bad magic", Header(proto::kStat, 10, 0, 0x1234), EBADMSG, 0});
  cases.push_back({"bad version", Header(proto::kStat, 11, 0, proto::kMagic, 2), EPROTO, 11});
  cases.push_back(
      {"reserved set", Header(proto::kStat, 12, 0, proto::kMagic, proto::kVersion, 1), EBADMSG, 12});
  cases.push_back({"unknown type", Pkt(0x42, 13, ""), ENOSYS, 13});
  cases.push_back({"type 0", Pkt(0, 14, ""), ENOSYS, 14});
  cases.push_back({"server-only type REPLY", Pkt(proto::kReply, 15, U32s({0, 0})), ENOSYS, 15});
  cases.push_back(
      {"server-only type NOTIFY-EVENT", Pkt(proto::kNotifyEvent, 16, U32s({1, 0})), ENOSYS, 16});
  // Oversize: > 64 KiB, declared length consistent.
  cases.push_back({"oversize WRITE",
                   Pkt(proto::kWrite, 17, std::string(proto::kMaxPayload + 1, 'o')), EBADMSG, 17});
  cases.push_back({"oversize unknown type", Pkt(0x42, 18, std::string(70000, 'o')), EBADMSG, 18});

  // Lying lengths, every type (too long and too short a declaration).
  const std::vector<std::pair<uint8_t, std::string>> good = {
      {proto::kConnect, U32s({O_RDWR, 3}) + "env"},
      {proto::kRead, U32s({4, 0}) + std::string(8, '\0')},
      {proto::kWrite, std::string(8, '\0') + "data"},
      {proto::kDevctl, U32s({kCmdPing, 16}) + "in"},
      {proto::kStat, ""},
      {proto::kClose, ""},
      {proto::kNotify, U32s({proto::kNotifyIn, 0})},
  };
  uint32_t id = 100;
  for (auto& [t, payload] : good) {
    cases.push_back({"length +1", Pkt(t, id, payload, +1), EBADMSG, id});
    id++;
    if (!payload.empty()) {
      cases.push_back({"length -1", Pkt(t, id, payload, -1), EBADMSG, id});
      id++;
    }
    cases.push_back({"length +65536", Pkt(t, id, payload, 65536), EBADMSG, id});
    id++;
  }

  // Per-type payload sizes and inner lengths.
  cases.push_back({"CONNECT short", Pkt(proto::kConnect, 200, U32s({0}) + "abc"), EBADMSG, 200});
  cases.push_back(
      {"CONNECT name_len > payload", Pkt(proto::kConnect, 201, U32s({0, 10}) + "env"), EBADMSG, 201});
  cases.push_back(
      {"CONNECT name_len < payload", Pkt(proto::kConnect, 202, U32s({0, 1}) + "env"), EBADMSG, 202});
  cases.push_back({"CONNECT name too long",
                   Pkt(proto::kConnect, 203, U32s({0, 300}) + std::string(300, 'n')), EBADMSG, 203});
  cases.push_back({"CONNECT name with NUL",
                   Pkt(proto::kConnect, 204, U32s({0, 4}) + std::string("en\0v", 4)), EBADMSG, 204});
  cases.push_back({"READ 15 bytes", Pkt(proto::kRead, 210, std::string(15, '\0')), EBADMSG, 210});
  cases.push_back({"READ 17 bytes", Pkt(proto::kRead, 211, std::string(17, '\0')), EBADMSG, 211});
  cases.push_back({"READ nbytes > max",
                   Pkt(proto::kRead, 212, U32s({proto::kMaxData + 1, 0, 0, 0})), EBADMSG, 212});
  cases.push_back(
      {"READ reserved", Pkt(proto::kRead, 213, U32s({1, 7, 0, 0})), EBADMSG, 213});
  cases.push_back({"WRITE 7 bytes", Pkt(proto::kWrite, 220, std::string(7, '\0')), EBADMSG, 220});
  cases.push_back({"DEVCTL 7 bytes", Pkt(proto::kDevctl, 230, std::string(7, '\0')), EBADMSG, 230});
  cases.push_back({"DEVCTL max_out > max",
                   Pkt(proto::kDevctl, 231, U32s({kCmdPing, proto::kMaxData + 1})), EBADMSG, 231});
  cases.push_back({"STAT with payload", Pkt(proto::kStat, 240, "x"), EBADMSG, 240});
  cases.push_back({"CLOSE with payload", Pkt(proto::kClose, 250, "xxxx"), EBADMSG, 250});
  cases.push_back({"NOTIFY 7 bytes", Pkt(proto::kNotify, 260, std::string(7, '\0')), EBADMSG, 260});
  cases.push_back({"NOTIFY 9 bytes", Pkt(proto::kNotify, 261, std::string(9, '\0')), EBADMSG, 261});
  cases.push_back(
      {"NOTIFY unknown bits", Pkt(proto::kNotify, 262, U32s({0x100, 0})), EINVAL, 262});

  for (const Case& c : cases) {
    INFO(c.what);
    auto rep = RawXfer(fd, c.pkt);
    REQUIRE(rep.ok);
    CHECK(rep.type == proto::kReply);
    CHECK(rep.status == c.err);
    CHECK(rep.id == c.id);
    CHECK(rep.data.empty());
  }
  CHECK(s.nodes.n.open == opens);
  CHECK(s.nodes.n.io_total() == io);
  CHECK(s.stats().malformed == malformed0 + cases.size());

  // The connection still works and the OCB is intact.
  auto ok = RawXfer(fd, proto::EncodeDevctl(500, kCmdPing, 64, "!"));
  CHECK(ok.status == 0);
  CHECK(ok.data == "pong:!");
  close(fd);
}

TEST_CASE("a zero-length packet ends the connection", "[resmgr][proto]") {
  NodeServer s;
  int fd = RawConnect(s.path);
  REQUIRE(fd >= 0);
  REQUIRE(RawXfer(fd, proto::EncodeConnect(1, O_RDWR, "echo")).status == 0);
  const int closes = s.nodes.n.close;
  REQUIRE(send(fd, "", 0, MSG_NOSIGNAL) == 0);
  CHECK(WaitFor([&] { return s.nodes.n.close == closes + 1; }));
  CHECK(WaitFor([&] { return s.clients() == 0; }));
  close(fd);
}
