// The gdb command layer (vmm/gdb_server.*) against a fake all-stop target:
// two vCPUs with x86_64 registers, 64 KiB of guest memory whose virtual
// addresses are the physical ones plus 0x1000 (so that `monitor phys`
// shows a difference), nothing mapped elsewhere.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "arch/x86_64/regs.h"
#include "vmm/gdb_packet.h"
#include "vmm/gdb_server.h"

using namespace qvm;
using namespace qvm::gdb;

namespace {

constexpr uint64_t kVirtOffset = 0x1000;

class FakeTarget : public Target {
 public:
  FakeTarget() : mem(0x10000, 0) {
    for (unsigned i = 0; i < 2; i++) {
      X86_64Regs x;
      x.rip = 0x2000 + i * 0x100;
      x.rax = 0x1111 * (i + 1);
      SetRegs(regs_[i], X86_64CpuModel(), x);
    }
    for (size_t i = 0; i < mem.size(); i++) mem[i] = uint8_t(i * 7);
  }
  const CpuModel& model() const override { return X86_64CpuModel(); }
  unsigned vcpus() const override { return 2; }
  bool regs(unsigned v, VcpuRegs* out) override {
    if (v >= 2) return false;
    *out = regs_[v];
    return true;
  }
  bool set_regs(unsigned v, const VcpuRegs& r) override {
    if (v >= 2) return false;
    regs_[v] = r;
    return true;
  }
  std::optional<uint64_t> translate(unsigned, uint64_t va) override {
    if (va < kVirtOffset || va - kVirtOffset >= mem.size()) return std::nullopt;
    return va - kVirtOffset;
  }
  size_t read(unsigned v, uint64_t addr, bool phys, uint8_t* out, size_t len) override {
    size_t n = 0;
    for (; n < len; n++) {
      auto pa = phys ? std::optional<uint64_t>(addr + n) : translate(v, addr + n);
      if (!pa || *pa >= mem.size()) break;
      out[n] = mem[*pa];
    }
    return n;
  }
  size_t write(unsigned v, uint64_t addr, bool phys, const uint8_t* in, size_t len) override {
    size_t n = 0;
    for (; n < len; n++) {
      auto pa = phys ? std::optional<uint64_t>(addr + n) : translate(v, addr + n);
      if (!pa || *pa >= mem.size()) break;
      mem[*pa] = in[n];
    }
    return n;
  }
  unsigned hw_slots() const override { return 4; }
  bool apply(const GuestDebug& d) override {
    applied = d;
    for (const HwPoint& p : d.hw)
      if (p.kind == HwPoint::kRead) return false;  // as on x86
    return true;
  }
  bool resume(const GuestDebug& d, int step) override {
    resumed++;
    last = d;
    last_step = step;
    return true;
  }
  std::vector<Stop> take_stops() override {
    std::vector<Stop> out;
    out.swap(recorded);
    return out;
  }
  bool interrupt() override {
    interrupts++;
    return true;
  }
  void detach() override { detached++; }
  void kill() override { killed++; }

  std::vector<uint8_t> mem;
  std::vector<Stop> recorded;  // events no stopped() delivered (take_stops)
  VcpuRegs regs_[2];
  GuestDebug applied, last;
  int last_step = -2, resumed = 0, interrupts = 0, detached = 0, killed = 0;
};

// The payload of the one packet in `wire` (after any acks).
std::string Payload(const std::string& wire) {
  size_t d = wire.rfind('$');
  size_t h = wire.rfind('#');
  REQUIRE(d != std::string::npos);
  REQUIRE(h != std::string::npos);
  REQUIRE(h > d);
  auto p = Decode(wire.substr(d + 1, h - d - 1), 1 << 20);
  REQUIRE(p);
  return *p;
}

struct Session {
  FakeTarget t;
  Server s{t};
  Session() { REQUIRE(Payload(s.feed(Frame("QStartNoAckMode"))) == "OK"); }
  std::string ask(const std::string& p) { return Payload(s.feed(Frame(p))); }
  std::string raw(const std::string& p) { return s.feed(Frame(p)); }
};

}  // namespace

TEST_CASE("gdb server: handshake, threads, target description") {
  FakeTarget t;
  Server s(t);
  std::string r = s.feed(Frame("qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386"));
  CHECK(r[0] == '+');
  CHECK(Payload(r).find("qXfer:features:read+") != std::string::npos);
  CHECK(Payload(r).find("PacketSize=1000") != std::string::npos);
  CHECK(Payload(s.feed(Frame("?"))) == "T05thread:1;");
  CHECK(Payload(s.feed(Frame("qfThreadInfo"))) == "m1,2");
  CHECK(Payload(s.feed(Frame("qsThreadInfo"))) == "l");
  CHECK(Payload(s.feed(Frame("Hg2"))) == "OK");
  CHECK(Payload(s.feed(Frame("qC"))) == "QC2");
  CHECK(Payload(s.feed(Frame("Hg3"))) == "E02");
  CHECK(Payload(s.feed(Frame("T2"))) == "OK");
  CHECK(Payload(s.feed(Frame("T3"))) == "E02");
  // A bad checksum is nak'ed; '-' resends the last reply.
  CHECK(s.feed("$qC#00") == "-");
  std::string again = s.feed("-");
  CHECK(Payload(again) == "E02");
  CHECK(Payload(s.feed(Frame("Hc-1"))) == "OK");
  std::string xml;
  for (int i = 0; i < 100; i++) {
    char off[64];
    snprintf(off, sizeof off, "qXfer:features:read:target.xml:%zx,200", xml.size());
    std::string part = Payload(s.feed(Frame(off)));
    REQUIRE(!part.empty());
    xml += part.substr(1);
    if (part[0] == 'l') break;
  }
  CHECK(xml == GdbTargetXml(X86_64CpuModel()));
  CHECK(Payload(s.feed(Frame("qXfer:features:read:other.xml:0,100"))) == "E02");
  CHECK(Payload(s.feed(Frame("vMustReplyEmpty"))) == "");
}

TEST_CASE("gdb server: registers by gdb number") {
  Session x;
  std::string g = x.ask("g");
  // rax (0) first, rip (16) at byte 16*8; x87/SSE unavailable as 'x'.
  CHECK(g.substr(0, 16) == "1111000000000000");
  CHECK(g.substr(16 * 16, 16) == "0020000000000000");
  CHECK(g.find("xxxxxxxx") != std::string::npos);
  CHECK(x.ask("p10") == "0020000000000000");
  CHECK(x.ask("P10=7856341200000000") == "OK");
  CHECK(RegsAs<X86_64Regs>(x.t.regs_[0]).rip == 0x12345678);
  CHECK(x.ask("p18") == std::string(20, 'x'));  // st0: not in the snapshot
  CHECK(x.ask("p1000") == "E16");
  CHECK(x.ask("P0=12") == "E16");  // wrong length
  CHECK(x.ask("Pzz=00") == "E16");
  // G writes back what g read (a changed rbx).
  std::string g2 = x.ask("g");
  g2.replace(16, 16, "efbeadde00000000");
  CHECK(x.ask("G" + g2) == "OK");
  CHECK(RegsAs<X86_64Regs>(x.t.regs_[0]).rbx == 0xdeadbeef);
  CHECK(x.ask("G" + g2 + "00") == "E16");  // longer than the registers
  CHECK(x.ask("Hg2") == "OK");
  CHECK(x.ask("p0") == "2222000000000000");
}

TEST_CASE("gdb server: memory, virtual and physical") {
  Session x;
  CHECK(x.ask("m1000,4") == "00070e15");
  CHECK(x.ask("M1004,2:abcd") == "OK");
  CHECK(x.t.mem[4] == 0xab);
  CHECK(x.t.mem[5] == 0xcd);
  CHECK(x.ask("X1006,2:\x01\x02") == "OK");
  CHECK(x.t.mem[6] == 1);
  CHECK(x.ask("m0,4") == "E0e");                                 // not mapped
  CHECK(x.ask("m10ffe,4") == x.ask("m10ffe,2"));                 // partial at the end
  CHECK(x.ask("mffffffffffffffff,2") == "E16");                  // wraps
  CHECK(x.ask("m1000,ffffffff").size() == 2 * ((kMaxPacket - 8) / 2));  // capped
  CHECK(x.ask("M1000,4:00") == "E16");                           // length mismatch
  CHECK(x.ask("M1000,2:zz00") == "E16");
  std::string r = x.raw("qRcmd," + ToHex("monitor phys on"));
  // (gdb strips "monitor"; a stray word is an unknown command with help)
  CHECK(r.find("$O") != std::string::npos);
  r = x.raw("qRcmd," + ToHex("phys on"));
  CHECK(Payload(r) == "OK");
  CHECK(r.find("$O") == 0);
  CHECK(x.ask("m0,4") == "00070e15");
  CHECK(x.ask("M0,1:ff") == "OK");
  CHECK(x.t.mem[0] == 0xff);
  CHECK(Payload(x.raw("qRcmd," + ToHex("phys off"))) == "OK");
  CHECK(x.ask("m0,4") == "E0e");
}

TEST_CASE("gdb server: software breakpoints keep the guest's bytes") {
  Session x;
  uint8_t orig = x.t.mem[0x100];
  CHECK(x.ask("Z0,1100,1") == "OK");
  CHECK(x.t.mem[0x100] == 0xcc);
  char want[3];
  snprintf(want, sizeof want, "%02x", orig);
  CHECK(x.ask("m1100,1") == want);  // reads show the original
  CHECK(x.ask("M1100,1:90") == "OK");  // a write changes what is kept
  CHECK(x.t.mem[0x100] == 0xcc);
  CHECK(x.ask("Z0,1100,1") == "OK");  // twice: still one
  CHECK(x.ask("Z0,50,1") == "E0e");   // not mapped
  // c: resumes with software breakpoints on, no reply until the stop.
  CHECK(x.raw("c") == "");
  CHECK(x.s.running());
  CHECK(x.t.last.enable);
  CHECK(x.t.last.sw_breakpoints);
  CHECK(x.t.last_step == -1);
  CHECK(x.raw("g") == "");  // all-stop: ignored while running
  Stop st;
  st.vcpu = 1;
  st.why = Exit::DebugWhy::SwBreak;
  CHECK(Payload(x.s.stopped(st)) == "T05thread:2;swbreak:;");
  CHECK(x.s.stopped(st) == "");  // not running any more
  CHECK(x.ask("z0,1100,1") == "OK");
  CHECK(x.t.mem[0x100] == 0x90);
}

TEST_CASE("gdb server: hardware points, step, vCont, Ctrl-C") {
  Session x;
  CHECK(x.ask("Z2,1234,4") == "OK");
  CHECK(x.t.applied.hw.size() == 1);
  CHECK(x.ask("Z3,1240,4") == "E16");  // the target refuses read-only watches
  CHECK(x.t.applied.hw.size() == 1);
  CHECK(x.ask("Z1,2000,1") == "OK");
  CHECK(x.ask("Z4,1300,8") == "OK");
  CHECK(x.ask("Z2,1400,4") == "OK");
  CHECK(x.ask("Z2,1500,4") == "E1c");  // four slots
  CHECK(x.ask("Z2,1500,0") == "E16");
  CHECK(x.ask("Z9,1500,1") == "E16");
  CHECK(x.raw("vCont;c") == "");
  Stop st;
  st.why = Exit::DebugWhy::Watch;
  st.slot = 0;
  CHECK(Payload(x.s.stopped(st)) == "T05thread:1;watch:1234;");
  CHECK(x.ask("z2,1234,4") == "OK");
  CHECK(x.t.applied.hw.size() == 3);
  CHECK(x.ask("vCont?") == "vCont;c;C;s;S");
  CHECK(x.raw("vCont;s:2;c") == "");
  CHECK(x.t.last_step == 1);
  CHECK(x.t.last.single_step);
  st = {};
  st.vcpu = 1;
  st.why = Exit::DebugWhy::Step;
  CHECK(Payload(x.s.stopped(st)) == "T05thread:2;");
  CHECK(x.raw("s") == "");
  CHECK(x.t.last_step == 1);
  // Ctrl-C while running stops everything.
  std::string r = x.s.feed("\x03");
  CHECK(x.t.interrupts == 1);
  CHECK(Payload(r) == "T02thread:2;");
  CHECK(x.ask("vCont;s:9") == "E02");
  CHECK(x.ask("vCont;x") == "E16");
  CHECK(x.ask("vCont;") == "E16");
  CHECK(x.ask("c zz") == "E16");
}

namespace {
Stop Ev(unsigned vcpu, Exit::DebugWhy why, int slot = -1) {
  Stop s;
  s.vcpu = vcpu;
  s.why = why;
  s.slot = slot;
  return s;
}
}  // namespace

TEST_CASE("gdb server: two vCPUs stop at once: every event reported, one per continue") {
  Session x;
  // A breakpoint where each vCPU stands (vCPU 0 at 0x2000, vCPU 1 at 0x2100).
  CHECK(x.ask("Z0,2000,1") == "OK");
  CHECK(x.ask("Z0,2100,1") == "OK");
  CHECK(x.raw("c") == "");
  CHECK(x.t.resumed == 1);
  // Both hit theirs before the loop could stop them.
  CHECK(Payload(x.s.stopped(Ev(0, Exit::DebugWhy::SwBreak))) == "T05thread:1;swbreak:;");
  CHECK(x.s.stopped(Ev(1, Exit::DebugWhy::SwBreak)) == "");
  CHECK(x.s.pending_stops() == 1);
  CHECK(x.ask("qC") == "QC1");
  // The next continue reports vCPU 1's without running anything.
  CHECK(x.ask("c") == "T05thread:2;swbreak:;");
  CHECK(x.t.resumed == 1);
  CHECK(x.ask("qC") == "QC2");
  CHECK(x.ask("?") == "T05thread:2;swbreak:;");
  // Nothing left: this one runs.
  CHECK(x.raw("vCont;c") == "");
  CHECK(x.t.resumed == 2);
  CHECK(x.s.pending_stops() == 0);
}

TEST_CASE("gdb server: a watchpoint and a step recorded beside a breakpoint are not lost") {
  Session x;
  CHECK(x.ask("Z0,2000,1") == "OK");
  CHECK(x.ask("Z2,1234,4") == "OK");
  CHECK(x.raw("vCont;s:1;c") == "");
  CHECK(x.t.last_step == 0);
  // vCPU 1 hit the watchpoint as the loop delivered vCPU 0's breakpoint;
  // vCPU 0's step event arrives after the Ctrl-C the debugger sent.
  CHECK(Payload(x.s.stopped(Ev(1, Exit::DebugWhy::Watch, 0))) == "T05thread:2;watch:1234;");
  x.t.recorded.push_back(Ev(0, Exit::DebugWhy::Step));
  CHECK(x.ask("c") == "T05thread:1;");
  CHECK(x.t.recorded.empty());
  CHECK(x.t.resumed == 1);
  CHECK(x.raw("c") == "");
  CHECK(x.t.resumed == 2);
  // Delivered after a Ctrl-C (the loop was late): reported on the next continue.
  CHECK(Payload(x.s.feed("\x03")) == "T02thread:1;");
  CHECK(x.s.stopped(Ev(1, Exit::DebugWhy::Watch, 0)) == "");
  CHECK(x.ask("s") == "T05thread:2;watch:1234;");
  CHECK(x.t.resumed == 2);
}

TEST_CASE("gdb server: queued events of removed points are dropped, slots renumbered") {
  Session x;
  CHECK(x.ask("Z0,2000,1") == "OK");
  CHECK(x.ask("Z0,2100,1") == "OK");
  CHECK(x.ask("Z2,1234,4") == "OK");
  CHECK(x.ask("Z2,1300,4") == "OK");
  CHECK(x.raw("c") == "");
  CHECK(Payload(x.s.stopped(Ev(0, Exit::DebugWhy::SwBreak))) == "T05thread:1;swbreak:;");
  CHECK(x.s.stopped(Ev(1, Exit::DebugWhy::SwBreak)) == "");
  CHECK(x.s.stopped(Ev(1, Exit::DebugWhy::Watch, 1)) == "");
  CHECK(x.s.stopped(Ev(7, Exit::DebugWhy::Watch, 1)) == "");  // no such vCPU: ignored
  CHECK(x.s.pending_stops() == 2);
  // The debugger removes vCPU 1's breakpoint and the first watchpoint: the
  // breakpoint event goes, the watch on 0x1300 is now slot 0.
  CHECK(x.ask("z0,2100,1") == "OK");
  CHECK(x.ask("z2,1234,4") == "OK");
  CHECK(x.ask("c") == "T05thread:2;watch:1300;");
  CHECK(x.t.resumed == 1);
  // A queued watch whose point went entirely: dropped, the target runs.
  CHECK(x.raw("c") == "");
  CHECK(Payload(x.s.stopped(Ev(0, Exit::DebugWhy::Watch, 0))) == "T05thread:1;watch:1300;");
  CHECK(x.s.stopped(Ev(1, Exit::DebugWhy::Watch, 0)) == "");
  CHECK(x.ask("z2,1300,4") == "OK");
  CHECK(x.raw("c") == "");
  CHECK(x.t.resumed == 3);
}

TEST_CASE("gdb server: the stop queue is bounded and cleared by detach") {
  Session x;
  for (size_t i = 0; i < kMaxPendingStops + 40; i++)
    CHECK(x.s.stopped(Ev(unsigned(i % 2), Exit::DebugWhy::Step)) == "");
  CHECK(x.s.pending_stops() == kMaxPendingStops);
  CHECK(x.s.dropped_stops() == 40);
  CHECK(x.ask("D") == "OK");
  CHECK(x.s.pending_stops() == 0);
}

TEST_CASE("gdb server: software breakpoints are planted again after a reset") {
  Session x;
  CHECK(x.ask("Z0,2000,1") == "OK");  // pa 0x1000
  CHECK(x.ask("Z0,2100,1") == "OK");  // pa 0x1100
  CHECK(x.ask("Z2,1234,4") == "OK");
  CHECK(x.t.mem[0x1000] == 0xcc);
  CHECK(x.raw("c") == "");
  CHECK(Payload(x.s.stopped(Ev(0, Exit::DebugWhy::SwBreak))) == "T05thread:1;swbreak:;");
  CHECK(x.s.stopped(Ev(1, Exit::DebugWhy::SwBreak)) == "");
  // The reset zeroes RAM and loads the image again: new bytes at 0x1000,
  // and 0x1100 left zero.
  std::fill(x.t.mem.begin(), x.t.mem.end(), 0);
  x.t.mem[0x1000] = 0x55;
  GuestDebug d = x.s.reset();
  CHECK(d.enable);
  CHECK(d.sw_breakpoints);
  REQUIRE(d.hw.size() == 1);
  CHECK(d.hw[0].addr == 0x1234);
  CHECK(x.s.pending_stops() == 0);  // the old vCPUs' events went with them
  CHECK(x.s.sw_breakpoints() == 2);
  CHECK(x.t.mem[0x1000] == 0xcc);
  CHECK(x.t.mem[0x1100] == 0xcc);
  // Reads show the new image's bytes; removal puts them back.
  CHECK(x.ask("m2000,1") == "55");
  CHECK(x.ask("m2100,1") == "00");
  CHECK(x.ask("z0,2000,1") == "OK");
  CHECK(x.t.mem[0x1000] == 0x55);
  // The guest wrote over the other one: its bytes stay.
  x.t.mem[0x1100] = 0x90;
  CHECK(x.ask("z0,2100,1") == "OK");
  CHECK(x.t.mem[0x1100] == 0x90);
  CHECK(x.s.sw_breakpoints() == 0);
  CHECK(x.s.reset().enable);  // the watchpoint is still there
}

TEST_CASE("gdb server: detach restores memory, kill kills") {
  Session x;
  uint8_t orig = x.t.mem[0x200];
  CHECK(x.ask("Z0,1200,1") == "OK");
  CHECK(x.ask("D") == "OK");
  CHECK(x.s.finished());
  CHECK(x.t.detached == 1);
  CHECK(x.t.mem[0x200] == orig);
  Session y;
  CHECK(y.ask("Z0,1200,1") == "OK");
  CHECK(y.raw("k") == "");
  CHECK(y.t.killed == 1);
  CHECK(y.t.mem[0x200] == orig);
  // A debugger that goes away while the guest runs: stopped, cleaned, detached.
  Session z;
  CHECK(z.ask("Z0,1200,1") == "OK");
  CHECK(z.raw("c") == "");
  z.s.disconnect();
  CHECK(z.t.interrupts == 1);
  CHECK(z.t.mem[0x200] == orig);
  CHECK(z.t.detached == 1);
}

TEST_CASE("gdb server: hostile input never breaks it") {
  std::mt19937 rng(1234);
  const char* verbs[] = {"m", "M", "X", "g", "G", "p", "P", "Z", "z", "H", "T", "q", "Q",
                         "v", "c", "s", "C", "S", "qXfer:features:read:target.xml:",
                         "qRcmd,", "vCont;", "Z0,", "Z2,", "m1000,", "M1000,"};
  for (int round = 0; round < 3000; round++) {
    FakeTarget t;
    Server s(t);
    std::string p = verbs[rng() % (sizeof verbs / sizeof verbs[0])];
    int n = int(rng() % 40);
    const char alphabet[] = "0123456789abcdefx,;:=-$#}*\x03+ ";
    for (int i = 0; i < n; i++) p += alphabet[rng() % (sizeof alphabet - 1)];
    std::string out = s.feed(Frame(p));
    if (s.running()) {
      Stop st;
      st.vcpu = unsigned(rng() % 5);  // out of range too
      st.slot = int(rng() % 9) - 2;
      st.why = Exit::DebugWhy::Watch;
      out += s.stopped(st);
      CHECK(!s.running());
    }
    CHECK(out.size() < 2 * kMaxPacket + 64);
    s.disconnect();
  }
  // An oversized packet is dropped with an error reply.
  FakeTarget t;
  Server s(t);
  std::string big = "$" + std::string(kMaxPacket * 2, 'a') + "#00";
  std::string r = s.feed(big);
  CHECK(r.find("E1c") != std::string::npos);
  CHECK(s.bad_packets() == 1);
}
