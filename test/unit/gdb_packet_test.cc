// The gdb remote protocol's packet layer (vmm/gdb_packet.*): framing,
// checksums, acks and Ctrl-C, '}' escapes, run-length encoding, bounded
// buffers, oversized and malformed packets. The exchanges below were
// recorded from Debian's gdb 13 talking to a stub (what gdb sent, byte for
// byte, with its checksums), so the reader is checked against gdb itself,
// not against our own encoder.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "arch/x86_64/regs.h"
#include "test/unit/gdb_batch.h"
#include "vmm/cpu_model.h"
#include "vmm/gdb_packet.h"

using namespace qvm::gdb;

namespace {

std::vector<Event> Feed(PacketReader& r, const std::string& in) {
  std::vector<Event> ev;
  r.feed(in, &ev);
  return ev;
}

// Every packet of `in`, which must hold only good packets and acks.
std::vector<std::string> Packets(const std::string& in, size_t max = 4096) {
  PacketReader r(max);
  std::vector<std::string> out;
  for (const Event& e : Feed(r, in)) {
    if (e.kind == Event::kAck) continue;
    REQUIRE(e.kind == Event::kPacket);
    out.push_back(e.data);
  }
  return out;
}

// The kinds of `ev`, in order.
std::vector<Event::Kind> Kinds(const std::vector<Event>& ev) {
  std::vector<Event::Kind> k;
  for (const Event& e : ev) k.push_back(e.kind);
  return k;
}

}  // namespace

TEST_CASE("gdb packets: a recorded connection start, byte for byte") {
  // gdb 13's opening, acks included, as one stream.
  const std::string wire =
      "+$qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vfork-events+;"
      "exec-events+;vContSupported+;QThreadEvents+;no-resumed+;memory-tagging+;"
      "xmlRegisters=i386#77"
      "+$vMustReplyEmpty#3a+$Hg0#df+$qXfer:features:read:target.xml:0,1000#0c"
      "+$qTStatus#49+$?#3f+$qfThreadInfo#bb+$qsThreadInfo#c8+$qAttached#8f+$Hc-1#09+$g#67"
      "+$vCont?#49+$vCont;s:1;c#c1+$P0=3412000000000000#c7+$m1000,1#8b+$D#44";
  auto p = Packets(wire);
  REQUIRE(p.size() == 16);
  CHECK(p[0].rfind("qSupported:multiprocess+;", 0) == 0);
  CHECK(p[0].substr(p[0].size() - 17) == "xmlRegisters=i386");
  CHECK(p[1] == "vMustReplyEmpty");
  CHECK(p[2] == "Hg0");
  CHECK(p[3] == "qXfer:features:read:target.xml:0,1000");
  CHECK(p[10] == "g");
  CHECK(p[11] == "vCont?");
  CHECK(p[12] == "vCont;s:1;c");
  CHECK(p[13] == "P0=3412000000000000");
  CHECK(p[14] == "m1000,1");
  CHECK(p[15] == "D");
  // The same bytes split at every possible point arrive the same.
  for (size_t cut = 1; cut < wire.size(); cut += 7) {
    PacketReader r(4096);
    std::vector<Event> ev;
    r.feed(wire.substr(0, cut), &ev);
    r.feed(wire.substr(cut), &ev);
    size_t n = 0;
    for (const Event& e : ev) n += e.kind == Event::kPacket;
    CHECK(n == 16);
  }
}

TEST_CASE("gdb packets: recorded binary writes with escapes") {
  // `set {unsigned int}0x1000 = 0x2a7d2423` (bytes # $ } *), all escaped.
  auto p = Packets(std::string("$X1000,4:}\x03}\x04}]}\x0a#15", 20));
  REQUIRE(p.size() == 1);
  CHECK(p[0] == std::string("X1000,4:#$}*"));
  // Raw control bytes travel unescaped.
  p = Packets("$X1008,8:\x03\x03\x03\x03\x03\x03\x03\x03#d7");
  REQUIRE(p.size() == 1);
  CHECK(p[0] == "X1008,8:" + std::string(8, '\x03'));
  // A zero-length probe.
  p = Packets("$X1000,0:#af");
  REQUIRE(p.size() == 1);
  CHECK(p[0] == "X1000,0:");
}

TEST_CASE("gdb packets: acks, naks and Ctrl-C outside packets; 0x03 inside is data") {
  PacketReader r(64);
  auto ev = Feed(r, "+-\x03$X0,1:\x03#22");
  REQUIRE(Kinds(ev) == std::vector{Event::kAck, Event::kNak, Event::kInterrupt, Event::kPacket});
  CHECK(ev[3].data == "X0,1:\x03");
}

TEST_CASE("gdb packets: bad checksums, bad hex, cut-off packets, noise") {
  PacketReader r(64);
  auto ev = Feed(r, "$g#68$g#zz$g#6");
  CHECK(Kinds(ev) == std::vector{Event::kBadPacket, Event::kBadPacket});
  ev = Feed(r, "7");  // the rest of the third packet
  REQUIRE(Kinds(ev) == std::vector{Event::kPacket});
  CHECK(ev[0].data == "g");
  // A '$' inside a packet: the first one was cut off, the second counts.
  ev = Feed(r, "$m10$g#67");
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].kind == Event::kBadPacket);
  CHECK(ev[1].kind == Event::kPacket);
  // Noise between packets is skipped and counted.
  ev = Feed(r, "hello\r\n$?#3f");
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].data == "?");
  CHECK(r.skipped() == 7);
  // Good checksums, undecodable payloads: a dangling escape, a run with
  // nothing before it, a run after an escaped byte, a count byte too small.
  ev = Feed(r, "$a}#de$*#2a$}]*\"#26$a*\x1f#aa");
  REQUIRE(ev.size() == 4);
  for (const Event& e : ev) CHECK(e.kind == Event::kBadPacket);
}

TEST_CASE("gdb packets: oversized packets are dropped whole, the next one is read") {
  PacketReader r(16);
  std::string big = Frame(std::string(100, 'A') + "B", false);
  auto ev = Feed(r, big + "$g#67");
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].kind == Event::kOversized);
  CHECK(ev[0].data.empty());
  CHECK(ev[1].kind == Event::kPacket);
  CHECK(ev[1].data == "g");
  // Exactly at the limit is fine.
  ev = Feed(r, Frame(std::string(16, 'z'), false));
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == Event::kPacket);
  // Run-length expansion is bounded by the limit too.
  ev = Feed(r, Frame(std::string(40, '0'), true));
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == Event::kBadPacket);
  // An endless stream without '#' keeps memory bounded: still one packet.
  PacketReader r2(16);
  std::vector<Event> out;
  r2.feed("$", &out);
  for (int i = 0; i < 10000; i++) r2.feed(std::string(1000, 'q'), &out);
  CHECK(out.empty());
  r2.feed("#00", &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].kind == Event::kOversized);
}

TEST_CASE("gdb packets: framing replies, run-length and escapes round-trip") {
  CHECK(Frame("OK") == "$OK#9a");
  CHECK(Frame("S05") == "$S05#b8");
  CHECK(Frame("") == "$#00");
  // gdb's documented run-length example: "0* " is 0000.
  CHECK(*Decode("0* ", 64) == "0000");
  CHECK(Frame("0000", true) == "$0* #" + ToHex(std::string(1, char(Checksum("0* ")))));
  // Runs whose count byte would be '#' or '$' are split.
  for (size_t n : {1u, 2u, 3u, 4u, 6u, 7u, 8u, 9u, 50u, 97u, 98u, 99u, 200u, 1000u}) {
    std::string s = std::string(n, '0') + "1" + std::string(n, 'f');
    std::string f = Frame(s, true);
    INFO("run " << n << ": " << f);
    CHECK(f.find('#') == f.size() - 3);
    CHECK(f.find('$', 1) == std::string::npos);
    PacketReader r(4096);
    auto ev = Feed(r, f);
    REQUIRE(ev.size() == 1);
    REQUIRE(ev[0].kind == Event::kPacket);
    CHECK(ev[0].data == s);
  }
  // Binary data with every byte value survives (escapes, no runs after them).
  std::string all;
  for (int i = 0; i < 256; i++) all += char(i);
  all += "}}}}}}####$$$$****";
  PacketReader r(4096);
  auto ev = Feed(r, Frame(all, true));
  REQUIRE(ev.size() == 1);
  REQUIRE(ev[0].kind == Event::kPacket);
  CHECK(ev[0].data == all);
}

TEST_CASE("gdb packets: hex helpers refuse what is not hex") {
  CHECK(ToHex("\x01\xab") == "01ab");
  CHECK(*FromHex("01AB") == "\x01\xab");
  CHECK_FALSE(FromHex("0"));
  CHECK_FALSE(FromHex("0g"));
  CHECK(*ParseHex("ffffffffffffffff") == ~uint64_t(0));
  CHECK_FALSE(ParseHex("1ffffffffffffffff"));  // 17 digits
  CHECK_FALSE(ParseHex(""));
  CHECK_FALSE(ParseHex("-1"));
  CHECK_FALSE(ParseHex("0x10"));
}

namespace {

// A one-connection responder on 127.0.0.1 that answers what gdb asks on
// connecting with replies made by Frame (run-length encoded): the x86_64
// target description, registers from `regs` ('x' runs for the ones not in
// the snapshot), `mem` at guest address 0x1000. Only what this test
// needs; every wait is bounded.
class TinyResponder {
 public:
  TinyResponder(const qvm::VcpuRegs& regs, std::string mem) : regs_(regs), mem_(std::move(mem)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(listen(fd_, 1) == 0);
    socklen_t len = sizeof a;
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TinyResponder() {
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  std::vector<std::string> received;  // every packet, in order (read after the join)

 private:
  bool wait(int fd) {
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, 120000) == 1;  // generous: the host may be loaded
  }
  std::string reply(const std::string& p) {
    const qvm::CpuModel& m = qvm::X86_64CpuModel();
    if (p.rfind("qSupported", 0) == 0) return "PacketSize=4000;qXfer:features:read+";
    if (p.rfind("qXfer:features:read:target.xml:", 0) == 0) {
      std::string xml = qvm::GdbTargetXml(m);
      size_t comma = p.rfind(',');
      auto off = ParseHex(p.substr(31, comma - 31)), len = ParseHex(p.substr(comma + 1));
      if (!off || !len) return "E01";
      if (*off >= xml.size()) return "l";
      std::string part = xml.substr(size_t(*off), size_t(*len));
      return (*off + part.size() >= xml.size() ? "l" : "m") + part;
    }
    if (p == "?") return "S05";
    if (p == "g") {
      std::string out;
      auto regs = m.gdb_registers();
      for (unsigned i = 0; i < regs.size(); i++) {
        uint8_t b[16];
        if (qvm::GdbGetReg(m, regs_, i, b, sizeof b))
          out += ToHex(std::string(reinterpret_cast<char*>(b), regs[i].bits / 8));
        else
          out += std::string(regs[i].bits / 4, 'x');
      }
      return out;
    }
    if (p[0] == 'm') {  // mADDR,LEN: `mem` stands at 0x1000
      size_t comma = p.find(',');
      if (comma == std::string::npos) return "E01";
      auto addr = ParseHex(p.substr(1, comma - 1)), len = ParseHex(p.substr(comma + 1));
      if (!addr || !len || *addr < 0x1000 || *addr - 0x1000 >= mem_.size()) return "E01";
      return ToHex(mem_.substr(size_t(*addr - 0x1000), size_t(*len)));
    }
    if (p == "qfThreadInfo") return "m1";
    if (p == "qsThreadInfo") return "l";
    if (p == "D") return "OK";
    return "";
  }
  void serve() {
    if (!wait(fd_)) return;
    int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    PacketReader reader(4000);
    bool done = false;
    while (!done && wait(c)) {
      char buf[4096];
      ssize_t n = read(c, buf, sizeof buf);
      if (n <= 0) break;
      std::vector<Event> ev;
      reader.feed(std::string_view(buf, size_t(n)), &ev);
      for (const Event& e : ev) {
        if (e.kind != Event::kPacket) continue;
        received.push_back(e.data);
        std::string out = "+" + Frame(reply(e.data), true);
        if (write(c, out.data(), out.size()) != ssize_t(out.size())) done = true;
        if (e.data == "D") done = true;
      }
    }
    close(c);
  }

  qvm::VcpuRegs regs_;
  std::string mem_;
  int fd_ = -1, port_ = 0;
  std::thread thread_;
};

}  // namespace

// gdb itself decodes what Frame sends: run lengths (including the runs
// whose count would be '#' or '$', and runs longer than one count byte
// says), in the target description, registers and memory.
TEST_CASE("gdb packets: gdb reads run-length encoded replies made by Frame") {
  qvm::X86_64Regs x;
  x.rax = 0x100000000;          // "0000000001000000": runs of 8 and 6 zeros
  x.rbx = 0x1000000000000000;   // 15 zeros then 1
  x.rcx = 0x1111111111111111;   // a run of 16
  x.rip = 0x00000000deadbeef;
  x.rflags = 0x2;
  x.cs = 0x10;
  x.fs_base = 0xffff888000000000;
  x.cr3 = 0x7000;
  qvm::VcpuRegs regs;
  qvm::SetRegs(regs, qvm::X86_64CpuModel(), x);
  const std::string mem("\x11\x22\x33\x44\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff", 16);
  std::string out;
  {
    TinyResponder t(regs, mem);
    out = qvm::test::GdbBatch(
        {"-ex 'target remote 127.0.0.1:" + std::to_string(t.port()) + "'",
         "-ex 'info registers rax rbx rcx rip eflags cs fs_base cr3'", "-ex 'x/2gx 0x1000'",
         "-ex 'detach'"});
    if (out.empty()) FAIL("gdb-multiarch is not installed (`make deps` installs it)");
  }
  INFO(out);
  CHECK(out.find("rax            0x100000000") != std::string::npos);
  CHECK(out.find("rbx            0x1000000000000000") != std::string::npos);
  CHECK(out.find("rcx            0x1111111111111111") != std::string::npos);
  CHECK(out.find("rip            0xdeadbeef") != std::string::npos);
  CHECK(out.find("cs             0x10") != std::string::npos);
  CHECK(out.find("fs_base        0xffff888000000000") != std::string::npos);
  CHECK(out.find("cr3            0x7000") != std::string::npos);
  CHECK(out.find("0x1000:\t0x0000000044332211\t0xffffffffff000000") != std::string::npos);
  CHECK(out.find("Remote target") != std::string::npos);  // detached cleanly
}
