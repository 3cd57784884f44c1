// hpet: register model, counter rate, one-shot/periodic/32-bit timers,
// legacy replacement and GSI routing, level/edge, clamping, hostile input.
#include <string>
#include <vector>

#include "helpers.h"

namespace {

constexpr uint64_t kBase = 0xFED00000ull;
constexpr uint64_t kGcap = 0x000, kConf = 0x010, kIsr = 0x020, kCnt = 0x0F0;
constexpr uint64_t TnConf(unsigned n) { return 0x100 + 0x20 * n; }
constexpr uint64_t TnCmp(unsigned n) { return 0x108 + 0x20 * n; }
constexpr uint64_t kLevel = 1 << 1, kEnb = 1 << 2, kPeriodic = 1 << 3,
                   kValSet = 1 << 6, k32 = 1 << 8;
constexpr uint64_t Route(unsigned gsi) { return uint64_t{gsi} << 9; }

struct HpetFixture : HostFixture {
  qvm_vdev *d = nullptr;
  explicit HpetFixture(const fake::Config &c = {}) { d = make("hpet", c); }
  uint64_t rd(uint64_t off, unsigned size = 8) { return h.mread(d, kBase + off, size); }
  void wr(uint64_t off, uint64_t v, unsigned size = 8) { h.mwrite(d, kBase + off, size, v); }
  // Pulses (0->1 transitions) seen on IOAPIC input `line`.
  int rises(unsigned line) const {
    int n = 0, last = 0;
    for (const auto &e : d->named) {
      if (e.controller != "ioapic" || e.line != line) continue;
      if (e.level && !last) n++;
      last = e.level;
    }
    return n;
  }
  int level(unsigned line) const {
    int last = 0;
    for (const auto &e : d->named)
      if (e.controller == "ioapic" && e.line == line) last = e.level;
    return last;
  }
};

}  // namespace

TEST_CASE_METHOD(HpetFixture, "hpet: region, capabilities, ACPI id", "[hpet]") {
  REQUIRE(d->regions.size() == 1);
  CHECK(d->regions[0].space == QVM_SPACE_MEM);
  CHECK(d->regions[0].base == kBase);
  CHECK(d->regions[0].size == 0x400);
  CHECK(d->intrs.empty());
  uint64_t cap = rd(kGcap);
  CHECK((cap & 0xffffffff) == 0x8086a201u);  // the ACPI table's block id
  CHECK((cap >> 32) == 10000000u);           // 10 ns in fs: 100 MHz
  CHECK(rd(kGcap, 4) == 0x8086a201u);
  CHECK(rd(kGcap + 4, 4) == 10000000u);
  CHECK(rd(kConf) == 0);
  for (unsigned n = 0; n < 3; n++) {
    uint64_t c = rd(TnConf(n));
    CHECK((c & (1 << 4)) != 0);            // periodic capable
    CHECK((c & (1 << 5)) != 0);            // 64-bit comparator
    CHECK((c & (1 << 15)) == 0);           // no FSB delivery
    CHECK((c >> 32) == 0x00F00000u);       // GSIs 20-23
    CHECK(rd(TnCmp(n)) == UINT64_MAX);     // comparator reset value
  }
  CHECK(h.control(d, QVM_CTRL_GEN_ACPI) == 0);
  REQUIRE(d->acpi_hpet.has_value());  // qvm_acpi_hpet (the DSDT's PNP0103 comes from it)
  CHECK(d->acpi_hpet->second == 0x8086a201u);
  CHECK(h.armed_timers(d) == 0);
}

TEST_CASE_METHOD(HpetFixture, "hpet: main counter runs at the advertised rate only when enabled",
                 "[hpet]") {
  h.advance(5 * kMs);
  CHECK(rd(kCnt) == 0);
  wr(kConf, 1);
  h.advance(1 * kMs);
  CHECK(rd(kCnt) == 100000);  // 1 ms at 100 MHz
  h.advance(2500 * kUs);
  CHECK(rd(kCnt) == 350000);
  CHECK(rd(kCnt + 4, 4) == 0);
  wr(kConf, 0);  // halt: holds
  h.advance(10 * kMs);
  CHECK(rd(kCnt) == 350000);
  wr(kCnt, 0xFFFFFFF0ull);  // written while halted
  CHECK(rd(kCnt) == 0xFFFFFFF0ull);
  wr(kConf, 1);
  h.advance(1 * kUs);  // 100 ticks: carries into the high dword
  CHECK(rd(kCnt) == 0xFFFFFFF0ull + 100);
  CHECK(rd(kCnt + 4, 4) == 1);
}

// The hpet micro-guest times the HPET against the ACPI PM timer: both must
// count qvm's one clock (qvm_time_ns) with the same truncation, so that over
// any interval they agree to a tick of each.
TEST_CASE("hpet: main counter and the ACPI PM timer count one clock", "[hpet][acpi]") {
  HostFixture f;
  qvm_vdev *hp = f.make("hpet");
  qvm_vdev *pm = f.make("acpi-pm");
  fake::Host &h = f.h;
  h.mwrite(hp, kBase + kConf, 8, 1);
  h.advance(3 * kMs + 17);
  const uint64_t h0 = h.mread(hp, kBase + kCnt, 8);
  const uint32_t p0 = static_cast<uint32_t>(h.in(pm, 0x608, 4));
  for (uint64_t step : {20 * kMs + 123, 1 * kSec + 7, 37 * kUs + 999, 5 * kSec + 1}) {
    h.advance(step);
    uint64_t hd = h.mread(hp, kBase + kCnt, 8) - h0;
    uint32_t pd = static_cast<uint32_t>(h.in(pm, 0x608, 4)) - p0;
    double expect_pm = static_cast<double>(hd) * 3579545.0 / 100000000.0;
    INFO("HPET " << hd << " ticks, PM " << pd << " ticks");
    CHECK(static_cast<double>(pd) >= expect_pm - 2.0);
    CHECK(static_cast<double>(pd) <= expect_pm + 2.0);
  }
}

TEST_CASE("hpet: frequency option", "[hpet]") {
  HostFixture f;
  fake::Config c;
  c.options = {{"frequency", "10000000"}};
  qvm_vdev *d = f.make("hpet", c);
  CHECK((f.h.mread(d, kBase, 8) >> 32) == 100000000u);  // 100 ns
  f.h.mwrite(d, kBase + kConf, 8, 1);
  f.h.advance(1 * kMs);
  CHECK(f.h.mread(d, kBase + kCnt, 8) == 10000);
  for (const char *bad : {"0", "9999999", "3000000", "2000000000", "1e7", "", "abc",
                          "30000000"}) {
    fake::Config b;
    b.options = {{"frequency", bad}};
    CHECK(f.h.create("hpet", b) == nullptr);
  }
}

TEST_CASE("hpet: configuration errors", "[hpet]") {
  HostFixture f;
  fake::Config c;
  c.intrs.push_back({"ioapic", 2});
  CHECK(f.h.create("hpet", c) == nullptr);  // routes itself: intr refused
  fake::Config l;
  l.locs.push_back({QVM_SPACE_IO, 0x100});
  CHECK(f.h.create("hpet", l) == nullptr);
  fake::Config m;
  m.locs.push_back({QVM_SPACE_MEM, 0xFED00200});  // not 1 KiB aligned
  CHECK(f.h.create("hpet", m) == nullptr);
  fake::Config hi;
  hi.locs.push_back({QVM_SPACE_MEM, 0x100000000ull});
  CHECK(f.h.create("hpet", hi) == nullptr);
  fake::Config ok;
  ok.locs.push_back({QVM_SPACE_MEM, 0xFED01000});
  qvm_vdev *d = f.make("hpet", ok);
  CHECK(d->regions[0].base == 0xFED01000);
}

TEST_CASE_METHOD(HpetFixture, "hpet: one-shot edge timer through its GSI route", "[hpet]") {
  wr(TnConf(2), kEnb | Route(21));
  CHECK((rd(TnConf(2)) & (0x1f << 9)) == Route(21));
  wr(kConf, 1);
  h.advance(1 * kMs);
  uint64_t now = rd(kCnt);
  wr(TnCmp(2), now + 5000);  // 50 us ahead
  CHECK(h.armed_timers(d) == 1);
  h.advance(49 * kUs);
  CHECK(rises(21) == 0);
  h.advance(2 * kUs);
  CHECK(rises(21) == 1);
  CHECK(level(21) == 0);  // edge: a pulse
  CHECK(rd(kIsr) == 0);   // edge interrupts leave GINTR_STA alone
  h.advance(100 * kMs);
  CHECK(rises(21) == 1);  // one-shot: once
  CHECK(rd(TnCmp(2)) == now + 5000);
  // A comparator behind the counter (64-bit) never fires.
  wr(TnCmp(2), rd(kCnt) - 10);
  h.advance(100 * kMs);
  CHECK(rises(21) == 1);
  // Interrupts disabled: no delivery, no host timer.
  wr(TnConf(2), Route(21));
  wr(TnCmp(2), rd(kCnt) + 100);
  CHECK(h.armed_timers(d) == 0);
  h.advance(1 * kMs);
  CHECK(rises(21) == 1);
}

TEST_CASE_METHOD(HpetFixture, "hpet: unsupported routes are not stored; no route, no interrupt",
                 "[hpet]") {
  wr(TnConf(1), kEnb | Route(5));  // 5 is not in INT_ROUTE_CAP
  CHECK((rd(TnConf(1)) & (0x1f << 9)) == 0);
  wr(kConf, 1);
  wr(TnCmp(1), 1000);
  h.advance(1 * kMs);
  CHECK(d->named.empty());
  wr(TnConf(1), kEnb | Route(23));
  wr(TnConf(1), kEnb | Route(4));  // refused: keeps 23
  CHECK((rd(TnConf(1)) & (0x1f << 9)) == Route(23));
  // Read-only bits cannot be written.
  wr(TnConf(1), ~0ull);
  uint64_t c = rd(TnConf(1));
  CHECK((c >> 32) == 0x00F00000u);
  CHECK((c & (1 << 14)) == 0);  // FSB_EN stays 0
}

TEST_CASE_METHOD(HpetFixture, "hpet: legacy replacement routes timers 0 and 1 to IRQ0/IRQ8",
                 "[hpet]") {
  // Linux's hpet_set_periodic: enable, periodic, VAL_SET, comparator then
  // period, 32-bit writes.
  wr(kConf, 3);  // enable + legacy
  uint64_t start = rd(kCnt);
  const uint64_t period = 100000;  // 1 ms
  wr(TnConf(0), kEnb | kPeriodic | kValSet | k32, 4);
  wr(TnCmp(0), start + period, 4);
  CHECK((rd(TnConf(0)) & kValSet) == 0);  // self-clearing
  wr(TnCmp(0), period, 4);                // the period only
  CHECK(rd(TnCmp(0)) == start + period);
  h.advance(10 * kMs + 5 * kUs);
  CHECK(rises(2) == 10);
  CHECK(rd(TnCmp(0)) == start + 11 * period);
  // Timer 1 one-shot: IRQ8.
  wr(TnConf(1), kEnb);
  wr(TnCmp(1), rd(kCnt) + 1000);
  h.advance(20 * kUs);
  CHECK(rises(8) == 1);
  // Leaving legacy mode: timer 0 has no valid route now.
  wr(kConf, 1);
  int before = rises(2);
  h.advance(5 * kMs);
  CHECK(rises(2) == before);
}

TEST_CASE_METHOD(HpetFixture, "hpet: level interrupts hold the line until GINTR_STA is cleared",
                 "[hpet]") {
  wr(TnConf(0), kEnb | kLevel | Route(20));
  wr(kConf, 1);
  wr(TnCmp(0), rd(kCnt) + 1000);
  h.advance(20 * kUs);
  CHECK(rd(kIsr) == 1);
  CHECK(level(20) == 1);
  wr(kIsr, 2);  // other bits: no effect
  CHECK(rd(kIsr) == 1);
  CHECK(level(20) == 1);
  wr(kIsr, 1);
  CHECK(rd(kIsr) == 0);
  CHECK(level(20) == 0);
  // Disabling the interrupt also drops an asserted line.
  wr(TnCmp(0), rd(kCnt) + 1000);
  h.advance(20 * kUs);
  CHECK(level(20) == 1);
  wr(TnConf(0), kLevel | Route(20));
  CHECK(level(20) == 0);
  // Halting the block drops it as well.
  wr(TnConf(0), kEnb | kLevel | Route(20));
  wr(TnCmp(0), rd(kCnt) + 1000);
  h.advance(20 * kUs);
  CHECK(level(20) == 1);
  wr(kConf, 0);
  CHECK(level(20) == 0);
}

TEST_CASE_METHOD(HpetFixture, "hpet: 32-bit mode truncates and repeats every 2^32 ticks",
                 "[hpet]") {
  wr(TnConf(2), kEnb | k32 | Route(22));
  wr(TnCmp(2), 0x1234567800001000ull);
  CHECK(rd(TnCmp(2)) == 0x1000);  // upper dword ignored
  wr(kCnt, 0xABCD00000000ull);     // low dword 0, high bits set
  wr(kConf, 1);
  h.advance(50 * kUs);  // 5000 ticks: passes low dword 0x1000
  CHECK(rises(22) == 1);
  h.advance(42 * kSec);  // 4.2e9 ticks < 2^32
  CHECK(rises(22) == 1);
  h.advance(1 * kSec);  // now past 2^32 + 0x1000
  CHECK(rises(22) == 2);
}

TEST_CASE_METHOD(HpetFixture, "hpet: tiny periods are clamped for the host, comparator keeps rate",
                 "[hpet]") {
  wr(kConf, 1);
  wr(TnConf(1), kEnb | kPeriodic | kValSet | Route(20));
  uint64_t c0 = rd(kCnt);
  wr(TnCmp(1), c0 + 10);
  wr(TnCmp(1), 10);  // 100 ns period: 10 MHz of interrupts requested
  h.advance(10 * kMs);
  int n = rises(20);
  CHECK(n >= 99);
  CHECK(n <= 101);  // <= 10 kHz
  uint64_t cnt = rd(kCnt);
  uint64_t cmp = rd(TnCmp(1));
  CHECK(cmp > cnt);
  CHECK(cmp - cnt <= 10);
  CHECK((cmp - (c0 + 10)) % 10 == 0);  // still on the programmed grid
  // Period 0 in periodic mode: fires once, then waits for the next wrap.
  wr(TnConf(1), kEnb | kPeriodic | kValSet | Route(20));
  wr(TnCmp(1), rd(kCnt) + 100);
  wr(TnCmp(1), 0);
  int m = rises(20);
  h.advance(10 * kMs);
  CHECK(rises(20) == m + 1);
}

TEST_CASE_METHOD(HpetFixture, "hpet: hostile accesses", "[hpet]") {
  uint64_t v = 0;
  // Straddling an 8-byte register: all-ones, nothing written.
  CHECK(h.read(d, QVM_SPACE_MEM, kBase + 0x0F4 + 2, 4, &v) == QVM_DONE);
  CHECK(v == 0xffffffffu);
  CHECK(h.write(d, QVM_SPACE_MEM, kBase + 0x10 + 6, 4, 3) == QVM_DONE);
  CHECK(rd(kConf) == 0);
  // Byte and word accesses inside one register work.
  wr(kConf, 1, 1);
  CHECK(rd(kConf, 1) == 1);
  CHECK(rd(kGcap + 2, 2) == 0x8086);
  // Reserved registers and timers beyond the third read 0, ignore writes.
  for (uint64_t off : {0x008ull, 0x018ull, 0x0E8ull, 0x160ull, 0x168ull, 0x3F8ull}) {
    wr(off, ~0ull);
    CHECK(rd(off) == 0);
  }
  CHECK(h.armed_timers(d) == 0);
  // Every GEN_CONF value: only ENABLE and LEG_RT stick.
  wr(kConf, ~0ull);
  CHECK(rd(kConf) == 3);
  // Many comparator writes: one host timer per guest timer at most.
  wr(TnConf(0), kEnb);
  for (int i = 0; i < 1000; i++) wr(TnCmp(0), rd(kCnt) + 1 + i % 7);
  CHECK(h.armed_timers(d) <= 1);
  // Reset: power-on state, nothing armed, lines low.
  wr(TnConf(2), kEnb | kLevel | Route(20));
  wr(TnCmp(2), rd(kCnt) + 10);
  h.advance(1 * kUs);
  CHECK(level(20) == 1);
  CHECK(h.control(d, QVM_CTRL_RESET) == 0);
  CHECK(level(20) == 0);
  CHECK(rd(kConf) == 0);
  CHECK(rd(kCnt) == 0);
  CHECK(rd(TnCmp(2)) == UINT64_MAX);
  CHECK(h.armed_timers(d) == 0);
  CHECK(h.control(d, QVM_CTRL_STATUS) == 0);
}

TEST_CASE("hpet: intrmap names the I/O APIC the timers drive", "[hpet]") {
  HostFixture f;
  fake::Config c;
  c.options = {{"intrmap", "myioapic:2"}};
  qvm_vdev *d = f.make("hpet", c);
  f.h.mwrite(d, kBase + kConf, 8, 3);  // enable + legacy replacement
  f.h.mwrite(d, kBase + TnConf(0), 8, kEnb);
  f.h.mwrite(d, kBase + TnCmp(0), 8, 1000);
  f.h.advance(1 * kMs);
  bool mine = false, other = false;
  for (const auto &e : d->named) {
    if (e.controller == "myioapic" && e.line == 2) mine = true;
    if (e.controller != "myioapic") other = true;
  }
  CHECK(mine);
  CHECK_FALSE(other);
  for (const char *bad : {"myioapic:0", "myioapic", ":2", "myioapic:2x", ""}) {
    INFO(bad);
    fake::Config b;
    b.options = {{"intrmap", bad}};
    CHECK(f.h.create("hpet", b) == nullptr);
  }
}

TEST_CASE("hpet: legacy-free clears LEG_RT_CAP and leaves LEG_RT_CNF inert", "[hpet]") {
  HostFixture f;
  fake::Config c;
  c.options = {{"legacy-free", ""}};
  qvm_vdev *d = f.make("hpet", c);
  uint64_t cap = f.h.mread(d, kBase + kGcap, 8);
  CHECK((cap & 0xffffffff) == 0x8086a201u - 0x8000u);  // bit 15 clear
  CHECK(f.h.control(d, QVM_CTRL_GEN_ACPI) == 0);
  REQUIRE(d->acpi_hpet.has_value());
  CHECK(d->acpi_hpet->second == 0x80862201u);  // the block id follows
  f.h.mwrite(d, kBase + kConf, 8, 3);  // enable + legacy replacement asked
  CHECK(f.h.mread(d, kBase + kConf, 8) == 1);  // only enable sticks
  // Timer 0 without a valid route delivers nothing: no legacy override.
  f.h.mwrite(d, kBase + TnConf(0), 8, kEnb);
  f.h.mwrite(d, kBase + TnCmp(0), 8, 1000);
  f.h.advance(1 * kMs);
  CHECK(d->named.empty());
  // The flag passes through the factory's option flags (ABI 1.6).
  const qvm_factory *fac = d->factory;
  REQUIRE(fac != nullptr);
  REQUIRE(fac->option_flags != nullptr);
  CHECK(std::string(fac->options[2]) == "legacy-free");
  CHECK(fac->option_flags[2] == QVM_OPTF_NO_ARG);
}
