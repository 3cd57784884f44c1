// timer8254 (PIT + port 0x61) and mc146818 (RTC/CMOS).
#include <ctime>

#include "helpers.h"

namespace {

constexpr double kPitHz = 1193182.0;
uint64_t ticks_ns(double ticks) { return static_cast<uint64_t>(ticks * 1e9 / kPitHz); }

struct PitFixture : HostFixture {
  qvm_vdev *t = nullptr;
  PitFixture() { t = make("timer8254"); }
  uint16_t latch(int ch) {
    h.outb(t, 0x43, static_cast<uint8_t>(ch << 6));
    uint16_t lo = static_cast<uint16_t>(h.inb(t, 0x40 + ch));
    uint16_t hi = static_cast<uint16_t>(h.inb(t, 0x40 + ch));
    return static_cast<uint16_t>(lo | (hi << 8));
  }
  void load(int ch, uint8_t cw, uint16_t count) {
    h.outb(t, 0x43, cw);
    h.outb(t, 0x40 + ch, count & 0xff);
    h.outb(t, 0x40 + ch, count >> 8);
  }
  bool out2() { return (h.inb(t, 0x61) & 0x20) != 0; }
};

struct RtcFixture : HostFixture {
  qvm_vdev *r = nullptr;
  RtcFixture() { r = make("mc146818"); }
  uint8_t rd(uint8_t idx) {
    h.outb(r, 0x70, idx);
    return static_cast<uint8_t>(h.inb(r, 0x71));
  }
  void wr(uint8_t idx, uint8_t v) {
    h.outb(r, 0x70, idx);
    h.outb(r, 0x71, v);
  }
  // Set 2024-02-29 23:59:58 (a Thursday) in BCD/24h with the SET bit.
  void set_leap_day() {
    wr(0x0B, 0x82);
    wr(0x00, 0x58);
    wr(0x02, 0x59);
    wr(0x04, 0x23);
    wr(0x07, 0x29);
    wr(0x08, 0x02);
    wr(0x09, 0x24);
    wr(0x32, 0x20);
    wr(0x0B, 0x02);
  }
};

}  // namespace

TEST_CASE_METHOD(PitFixture, "timer8254: regions and defaults", "[pit]") {
  REQUIRE(t->regions.size() == 2);
  CHECK(t->regions[0].base == 0x40);
  CHECK(t->regions[0].size == 4);
  CHECK(t->regions[1].base == 0x61);
  REQUIRE(t->intrs.size() == 1);
  CHECK(t->intrs[0].line == 2);
  CHECK(h.armed_timers(t) == 0);  // nothing runs before programming
  h.advance(100 * kMs);
  CHECK(t->rises(0) == 0);
}

TEST_CASE_METHOD(PitFixture, "timer8254: mode 0 one-shot on channel 0", "[pit]") {
  load(0, 0x30, 1000);
  CHECK(latch(0) == 1000);
  h.advance(ticks_ns(400));
  uint16_t c = latch(0);
  CHECK(c <= 601);
  CHECK(c >= 599);
  CHECK(t->rises(0) == 0);
  h.advance(ticks_ns(601));
  CHECK(t->rises(0) == 1);
  // Counter wraps after terminal count, no further interrupt.
  h.advance(100 * kMs);
  CHECK(t->rises(0) == 1);
  // Read-back status: OUT high, mode 0, lohi.
  h.outb(t, 0x43, 0xE2);  // latch status of ch0 only
  CHECK(h.inb(t, 0x40) == (0x80 | 0x30));
}

TEST_CASE_METHOD(PitFixture, "timer8254: mode 2 periodic and rate clamp", "[pit]") {
  load(0, 0x34, 11932);  // ~10 ms
  h.advance(100 * kMs + kMs);
  CHECK(t->rises(0) == 10);
  uint16_t c = latch(0);
  CHECK(c >= 1);
  CHECK(c <= 11932);
  // A 2-tick period would be 600 kHz: clamped to 10 kHz.
  load(0, 0x34, 2);
  int before = t->rises(0);
  h.advance(10 * kMs);
  int n = t->rises(0) - before;
  CHECK(n <= 101);
  CHECK(n >= 99);
  // Reprogramming the mode stops the interrupts.
  h.outb(t, 0x43, 0x30);
  before = t->rises(0);
  h.advance(10 * kMs);
  CHECK(t->rises(0) == before);
}

TEST_CASE_METHOD(PitFixture, "timer8254: channel 2 calibration through port 0x61", "[pit]") {
  // Linux pit_calibrate_tsc: gate high, speaker off, mode 0, count 11932.
  h.outb(t, 0x61, static_cast<uint8_t>((h.inb(t, 0x61) & ~0x02) | 0x01));
  load(2, 0xB0, 11932);
  CHECK_FALSE(out2());
  int polls = 0;
  while (!out2() && polls < 100000) {
    h.advance(50 * kUs);
    polls++;
  }
  CHECK(polls >= 190);  // ~10 ms at 50 us per poll
  CHECK(polls <= 202);
  // Gate low pauses mode 0.
  h.outb(t, 0x61, 0x00);
  load(2, 0xB0, 1000);
  h.advance(10 * kMs);
  CHECK_FALSE(out2());
  CHECK(latch(2) == 1000);
  h.outb(t, 0x61, 0x01);
  h.advance(ticks_ns(500));
  uint16_t c = latch(2);
  CHECK(c >= 499);
  CHECK(c <= 501);
  h.advance(ticks_ns(501));
  CHECK(out2());
  CHECK(t->rises(0) == 0);  // channel 2 has no interrupt
}

TEST_CASE_METHOD(PitFixture, "timer8254: quick_pit_calibrate reads the live MSB", "[pit]") {
  h.outb(t, 0x61, 0x01);
  load(2, 0xB0, 0xFFFF);
  // Unlatched lsb/msb pairs follow the clock.
  h.inb(t, 0x42);
  CHECK(h.inb(t, 0x42) == 0xFF);
  h.advance(ticks_ns(256 * 10 + 128));
  h.inb(t, 0x42);
  CHECK(h.inb(t, 0x42) == 0xFF - 10);
  h.advance(ticks_ns(256 * 20));
  h.inb(t, 0x42);
  CHECK(h.inb(t, 0x42) == 0xFF - 30);
}

TEST_CASE_METHOD(PitFixture, "timer8254: access modes, latch and read-back", "[pit]") {
  h.outb(t, 0x43, 0x50);  // ch1 lobyte only, mode 0
  h.outb(t, 0x41, 0x80);
  CHECK(h.inb(t, 0x41) == 0x80);
  h.outb(t, 0x43, 0x60);  // ch1 hibyte only
  h.outb(t, 0x41, 0x12);
  CHECK(h.inb(t, 0x41) == 0x12);
  h.outb(t, 0x43, 0x40);  // latch ch1 (rw = hibyte)
  h.advance(ticks_ns(0x300));
  CHECK(h.inb(t, 0x41) == 0x12);  // latched value, not live
  CHECK(h.inb(t, 0x41) == 0x0F);  // live again: 0x1200 - 0x2FF/0x300
  // Read-back: status before count load shows null count.
  h.outb(t, 0x43, 0xB4);  // ch2 mode 2 lohi
  h.outb(t, 0x43, 0xE8);  // status ch2
  CHECK(h.inb(t, 0x42) == (0x80 | 0x40 | 0x30 | 0x04));
  h.outb(t, 0x42, 0x34);
  h.outb(t, 0x42, 0x12);
  h.outb(t, 0x43, 0xC8);  // count + status ch2 (gate low: held)
  CHECK(h.inb(t, 0x42) == (0x80 | 0x30 | 0x04));
  CHECK(h.inb(t, 0x42) == 0x34);
  CHECK(h.inb(t, 0x42) == 0x12);
  // BCD is accepted and counted as binary, reported as binary.
  h.outb(t, 0x43, 0x31);
  h.outb(t, 0x43, 0xE2);
  CHECK((h.inb(t, 0x40) & 1) == 0);
}

// What pit-delay's latch check relies on: the latch holds the count of the
// moment of the latch command (not of the read), later live reads are below
// it until mode 0 wraps through 0, and a second latch before the read is
// ignored.
TEST_CASE_METHOD(PitFixture, "timer8254: latch holds the count of the command; wrap in mode 0",
                 "[pit]") {
  h.outb(t, 0x61, 0x01);
  load(2, 0xB0, 0xFFFF);
  auto pair = [&] {
    uint16_t lo = static_cast<uint16_t>(h.inb(t, 0x42));
    return static_cast<uint16_t>(lo | (h.inb(t, 0x42) << 8));
  };
  h.advance(ticks_ns(1000.5));
  h.outb(t, 0x43, 0x80);
  h.advance(ticks_ns(300));
  uint16_t latched = pair();
  CHECK(latched == 0xFFFF - 1000);
  uint16_t live = pair();
  CHECK(live == 0xFFFF - 1300);
  CHECK(live < latched);
  h.advance(ticks_ns(0xFFFF - 1300 + 5));  // 65540 ticks since the load
  CHECK(pair() == 0xFFFB);                 // counted on through 0
  h.outb(t, 0x43, 0x80);
  h.advance(ticks_ns(50));
  h.outb(t, 0x43, 0x80);  // ignored: the first latch is unread
  CHECK(pair() == 0xFFFB);
  CHECK(pair() == 0xFFFB - 50);
}

TEST_CASE_METHOD(PitFixture, "timer8254: mode 3 square wave on OUT2", "[pit]") {
  h.outb(t, 0x61, 0x01);
  load(2, 0xB6, 100);
  CHECK(out2());
  h.advance(ticks_ns(25));
  CHECK(out2());
  h.advance(ticks_ns(50));
  CHECK_FALSE(out2());
  h.advance(ticks_ns(50));
  CHECK(out2());
  // Gate low forces OUT high in mode 3.
  h.advance(ticks_ns(50));
  CHECK_FALSE(out2());
  h.outb(t, 0x61, 0x00);
  CHECK(out2());
}

TEST_CASE_METHOD(PitFixture, "timer8254: port 0x61 bits", "[pit]") {
  h.outb(t, 0x61, 0xFF);
  uint8_t v = static_cast<uint8_t>(h.inb(t, 0x61));
  CHECK((v & 0x0F) == 0x0F);
  CHECK((v & 0xC0) == 0);
  bool r0 = v & 0x10;
  h.advance(15085);
  bool r1 = h.inb(t, 0x61) & 0x10;
  CHECK(r0 != r1);  // refresh toggles
  REQUIRE(h.control(t, QVM_CTRL_RESET) == 0);
  CHECK((h.inb(t, 0x61) & 0x0F) == 0);
}

TEST_CASE_METHOD(PitFixture, "timer8254: reset stops channel 0", "[pit]") {
  load(0, 0x34, 1193);
  CHECK(h.armed_timers(t) == 1);
  REQUIRE(h.control(t, QVM_CTRL_RESET) == 0);
  CHECK(h.armed_timers(t) == 0);
  h.advance(10 * kMs);
  CHECK(t->rises(0) == 0);
}

TEST_CASE("timer8254 -> ioapic -> MSI", "[pit][ioapic]") {
  HostFixture f;
  qvm_vdev *io = f.make("ioapic");
  qvm_vdev *t = f.make("timer8254");
  f.h.mwrite(io, 0xFEC00000, 4, 0x14);  // pin 2 low half
  f.h.mwrite(io, 0xFEC00010, 4, 0x30);
  f.h.outb(t, 0x43, 0x34);
  f.h.outb(t, 0x40, 0x9C);  // 1193 ~ 1 ms
  f.h.outb(t, 0x40, 0x04);
  f.h.advance(10 * kMs + 500 * kUs);
  CHECK(io->msis.size() == 10);
  CHECK(io->msis[0].data == 0x4030);
}

TEST_CASE_METHOD(RtcFixture, "mc146818: host time at start", "[rtc]") {
  REQUIRE(r->regions.size() == 1);
  CHECK(r->regions[0].base == 0x70);
  CHECK(r->intrs[0].line == 8);
  CHECK(rd(0x0A) == 0x26);
  CHECK(rd(0x0B) == 0x02);
  CHECK(rd(0x0D) == 0x80);
  auto bcd = [](uint8_t v) { return (v >> 4) * 10 + (v & 15); };
  struct tm tm {};
  tm.tm_sec = bcd(rd(0));
  tm.tm_min = bcd(rd(2));
  tm.tm_hour = bcd(rd(4));
  tm.tm_mday = bcd(rd(7));
  tm.tm_mon = bcd(rd(8)) - 1;
  tm.tm_year = bcd(rd(0x32)) * 100 + bcd(rd(9)) - 1900;
  time_t rtc = timegm(&tm);
  CHECK(std::llabs(static_cast<long long>(rtc - time(nullptr))) <= 5);
}

TEST_CASE_METHOD(RtcFixture, "mc146818: SET, BCD, binary, rollover", "[rtc]") {
  set_leap_day();
  CHECK(rd(0x00) == 0x58);
  CHECK(rd(0x06) == 0x05);  // Thursday (Sunday = 1)
  h.advance(3 * kSec);
  CHECK(rd(0x00) == 0x01);
  CHECK(rd(0x02) == 0x00);
  CHECK(rd(0x04) == 0x00);
  CHECK(rd(0x07) == 0x01);
  CHECK(rd(0x08) == 0x03);
  CHECK(rd(0x09) == 0x24);
  CHECK(rd(0x06) == 0x06);  // Friday
  wr(0x0B, 0x06);            // binary, 24h
  CHECK(rd(0x00) == 1);
  CHECK(rd(0x09) == 24);
  CHECK(rd(0x32) == 20);
  // While SET is held the registers do not move.
  wr(0x0B, 0x86);
  h.advance(5 * kSec);
  CHECK(rd(0x00) == 1);
  wr(0x0B, 0x06);
  h.advance(2 * kSec);
  CHECK(rd(0x00) == 3);
}

TEST_CASE_METHOD(RtcFixture, "mc146818: 12-hour mode", "[rtc]") {
  set_leap_day();
  h.advance(3 * kSec);       // 00:00:01
  wr(0x0B, 0x00);            // BCD, 12h
  CHECK(rd(0x04) == 0x12);   // 12 AM
  wr(0x0B, 0x80);
  wr(0x04, 0x81);            // 1 PM
  wr(0x0B, 0x00);            // run, still 12h
  CHECK(rd(0x04) == 0x81);
  wr(0x0B, 0x02);            // 24h
  CHECK(rd(0x04) == 0x13);
  // Changing the format while SET holds raw bytes: 0x81 is no 24h hour,
  // so the clock refuses it and keeps running.
  wr(0x0B, 0x82);
  wr(0x04, 0x81);
  wr(0x0B, 0x02);
  CHECK(rd(0x04) == 0x13);
}

TEST_CASE_METHOD(RtcFixture, "mc146818: direct writes move the clock", "[rtc]") {
  set_leap_day();
  h.advance(500 * kMs);
  wr(0x02, 0x10);  // minutes, SET clear
  CHECK(rd(0x02) == 0x10);
  CHECK(rd(0x00) == 0x58);
  h.advance(600 * kMs);  // the sub-second phase was kept
  CHECK(rd(0x00) == 0x59);
  // Invalid BCD is refused and the clock keeps running.
  wr(0x00, 0x9A);
  CHECK(rd(0x00) == 0x59);
  CHECK(!r->logs.empty());
}

TEST_CASE_METHOD(RtcFixture, "mc146818: register C and update interrupt", "[rtc]") {
  set_leap_day();
  rd(0x0C);
  wr(0x0B, 0x12);  // UIE
  CHECK(r->intr_level[0] == 0);
  h.advance(1 * kSec + kMs);
  CHECK(r->intr_level[0] == 1);
  CHECK((rd(0x0C) & 0xB0) == 0x90);  // PF may be set too (flags run freely)
  CHECK(r->intr_level[0] == 0);
  CHECK((rd(0x0C) & 0xB0) == 0x00);
  h.advance(1 * kSec);
  CHECK(r->intr_level[0] == 1);
  // Writing C or D changes nothing.
  wr(0x0C, 0xFF);
  wr(0x0D, 0x00);
  CHECK(rd(0x0D) == 0x80);
  CHECK((rd(0x0C) & 0x90) == 0x90);
  // SET clears UIE.
  wr(0x0B, 0x92);
  CHECK((rd(0x0B) & 0x10) == 0);
}

TEST_CASE_METHOD(RtcFixture, "mc146818: periodic interrupt rate", "[rtc]") {
  int irqs = 0;
  auto run = [&](uint64_t span) {
    uint64_t end = h.now() + span;
    while (true) {
      uint64_t nt = h.next_timer(r);
      if (nt > end) break;
      h.advance(nt - h.now());
      if (r->intr_level[0]) {
        CHECK((rd(0x0C) & 0xC0) == 0xC0);
        irqs++;
      }
    }
    h.advance(end - h.now());
  };
  wr(0x0A, 0x26);  // 1024 Hz
  wr(0x0B, 0x42);  // PIE
  run(100 * kMs);
  CHECK(irqs >= 101);
  CHECK(irqs <= 103);
  irqs = 0;
  wr(0x0A, 0x2F);  // 2 Hz
  run(2 * kSec);
  CHECK(irqs == 4);
  irqs = 0;
  wr(0x0A, 0x20);  // rate 0: off
  run(1 * kSec);
  CHECK(irqs == 0);
  CHECK(h.armed_timers(r) == 0);
}

TEST_CASE_METHOD(RtcFixture, "mc146818: UIP only just before an update", "[rtc]") {
  set_leap_day();  // second boundary now + 1 s
  CHECK((rd(0x0A) & 0x80) == 0);
  h.advance(kSec - 100 * kUs);
  CHECK((rd(0x0A) & 0x80) != 0);
  h.advance(200 * kUs);
  CHECK((rd(0x0A) & 0x80) == 0);
  CHECK(rd(0x00) == 0x59);
  // A guest polling UIP sees it fall within a bounded number of polls.
  int polls = 0;
  h.advance(kSec - 240 * kUs);
  while ((rd(0x0A) & 0x80) && polls < 1000) {
    h.advance(1 * kUs);
    polls++;
  }
  CHECK(polls < 300);
}

TEST_CASE_METHOD(RtcFixture, "mc146818: alarm interrupt", "[rtc]") {
  set_leap_day();  // 23:59:58
  wr(0x01, 0x01);  // alarm 00:00:01 (seconds)
  wr(0x03, 0xC0);  // any minute
  wr(0x05, 0xC0);  // any hour
  rd(0x0C);
  wr(0x0B, 0x22);  // AIE
  h.advance(2 * kSec + 10 * kMs);
  CHECK(r->intr_level[0] == 0);
  h.advance(1 * kSec);
  CHECK(r->intr_level[0] == 1);
  CHECK((rd(0x0C) & 0xA0) == 0xA0);
}

TEST_CASE_METHOD(RtcFixture, "mc146818: CMOS RAM, index NMI bit, reset", "[rtc]") {
  wr(0x40, 0xAB);
  h.outb(r, 0x70, 0x80 | 0x40);  // NMI-mask bit ignored
  CHECK(h.inb(r, 0x71) == 0xAB);
  CHECK(h.inb(r, 0x70) == 0xFF);
  wr(0x0B, 0x72);
  REQUIRE(h.control(r, QVM_CTRL_RESET) == 0);
  CHECK(rd(0x0B) == 0x02);
  CHECK(rd(0x40) == 0xAB);  // battery-backed
  // Divider reset freezes the clock; restart gives the first update 0.5 s on.
  set_leap_day();
  wr(0x0A, 0x76);
  h.advance(3 * kSec);
  CHECK(rd(0x00) == 0x58);
  wr(0x0A, 0x26);
  h.advance(400 * kMs);
  CHECK(rd(0x00) == 0x58);
  h.advance(200 * kMs);
  CHECK(rd(0x00) == 0x59);
}
