// wdt-sp805: register model, lock, counting, interrupt, expiry actions,
// FDT node and hostile accesses, through the fake host.
#include <string>

#include "helpers.h"

namespace {

constexpr uint64_t kBase = 0x1c0f0000;
constexpr uint32_t kLoad = 0x000, kValue = 0x004, kControl = 0x008, kIntClr = 0x00c,
                   kRis = 0x010, kMis = 0x014, kLock = 0xc00, kItcr = 0xf00, kItop = 0xf04;
constexpr uint32_t kKey = 0x1acce551;

struct WdtFixture : HostFixture {
  qvm_vdev *w = nullptr;
  // 1 MHz: one clock per microsecond.
  void make_wdt(const std::string &action = "", const std::string &hz = "1000000") {
    fake::Config c;
    if (!action.empty()) c.options.push_back({"action", action});
    if (!hz.empty()) c.options.push_back({"frequency", hz});
    w = make("wdt-sp805", c);
  }
  uint32_t rd(uint32_t off) { return static_cast<uint32_t>(h.mread(w, kBase + off, 4)); }
  void wr(uint32_t off, uint32_t v) { h.mwrite(w, kBase + off, 4, v); }
  int line() const { return w->intr_level.empty() ? -1 : w->intr_level[0]; }
};

std::string be32(uint32_t v) {
  return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

}  // namespace

TEST_CASE_METHOD(WdtFixture, "wdt-sp805: defaults, reset values and PrimeCell IDs", "[sp805]") {
  make_wdt("", "");
  REQUIRE(w->regions.size() == 1);
  CHECK(w->regions[0].space == QVM_SPACE_MEM);
  CHECK(w->regions[0].base == kBase);
  CHECK(w->regions[0].size == 0x1000);
  REQUIRE(w->intrs.size() == 1);
  CHECK(w->intrs[0].controller == "gic");
  CHECK(w->intrs[0].line == 32);
  CHECK(rd(kLoad) == 0xffffffffu);
  CHECK(rd(kValue) == 0xffffffffu);
  CHECK(rd(kControl) == 0);
  CHECK(rd(kRis) == 0);
  CHECK(rd(kMis) == 0);
  CHECK(rd(kLock) == 0);
  const uint32_t ids[8] = {0x05, 0x18, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
  uint32_t amba = 0;
  for (unsigned i = 0; i < 8; i++) {
    CHECK(rd(0xfe0 + 4 * i) == ids[i]);
    if (i < 4) amba |= rd(0xfe0 + 4 * i) << (8 * i);
  }
  CHECK(amba == 0x00141805u);  // Linux's sp805_wdt amba id
  CHECK(h.armed_timers(w) == 0);
}

TEST_CASE_METHOD(WdtFixture, "wdt-sp805: lock register gates every other write", "[sp805]") {
  make_wdt();
  wr(kLoad, 1234);
  wr(kLock, 0);  // any value but the key locks
  CHECK(rd(kLock) == 1);
  wr(kLoad, 99);
  wr(kControl, 3);
  CHECK(rd(kLoad) == 1234);
  CHECK(rd(kControl) == 0);
  CHECK(h.armed_timers(w) == 0);
  wr(kLock, kKey + 1);
  CHECK(rd(kLock) == 1);
  wr(kLock, kKey);
  CHECK(rd(kLock) == 0);
  wr(kLoad, 99);
  CHECK(rd(kLoad) == 99);
  // Locked registers keep counting and the interrupt keeps working.
  wr(kControl, 1);
  wr(kLock, 0x12345678);
  h.advance(100 * kUs);
  CHECK(rd(kRis) == 1);
  wr(kIntClr, 1);  // ignored while locked
  CHECK(rd(kRis) == 1);
  CHECK(line() == 1);
}

TEST_CASE_METHOD(WdtFixture, "wdt-sp805: counts at the configured clock, interrupt on the first timeout",
                 "[sp805]") {
  make_wdt();
  wr(kLoad, 1000);
  CHECK(rd(kValue) == 1000);  // stopped: holds the load
  h.advance(50 * kUs);
  CHECK(rd(kValue) == 1000);
  wr(kControl, 1);  // INTEN: starts from WdogLoad
  CHECK(h.armed_timers(w) == 1);
  h.advance(250 * kUs);
  CHECK(rd(kValue) == 750);
  h.advance(750 * kUs);  // 1000 clocks: the counter is at 0
  CHECK(rd(kValue) == 0);
  CHECK(rd(kRis) == 0);
  CHECK(line() == 0);
  h.advance(1 * kUs);  // the period is load + 1 clocks
  CHECK(rd(kRis) == 1);
  CHECK(rd(kMis) == 1);
  CHECK(line() == 1);
  CHECK(w->rises(0) == 1);
  // The count restarted from the load value.
  h.advance(100 * kUs);
  CHECK(rd(kValue) == 900);
  // No RESEN: later periods change nothing and need no timer.
  CHECK(h.armed_timers(w) == 0);
  h.advance(10 * kSec);
  CHECK(w->power.empty());
  CHECK(w->rises(0) == 1);
  CHECK(rd(kValue) <= 1000);
  // IntClr: interrupt off, count reloaded.
  wr(kIntClr, 0);
  CHECK(rd(kRis) == 0);
  CHECK(line() == 0);
  CHECK(rd(kValue) == 1000);
  CHECK(h.armed_timers(w) == 1);
}

TEST_CASE_METHOD(WdtFixture, "wdt-sp805: RESEN and a second timeout end qvm with the watchdog code",
                 "[sp805]") {
  make_wdt();
  // Linux's sp805_wdt for a 5 s timeout: load = rate / 2 * 5 - 1.
  wr(kLock, kKey);
  wr(kLoad, 500000 * 5 - 1);
  wr(kIntClr, 1);
  wr(kControl, 3);
  wr(kLock, 1);
  CHECK(rd(kLock) == 1);
  h.advance(2500 * kMs - 1);
  CHECK(line() == 0);
  h.advance(1);
  CHECK(line() == 1);
  CHECK(w->power.empty());
  h.advance(2500 * kMs - 1);
  CHECK(w->power.empty());
  h.advance(1);
  REQUIRE(w->power.size() == 1);
  CHECK(w->power[0] == QVM_POWER_WATCHDOG);
  // Fired: the counter stopped, nothing further.
  CHECK(rd(kValue) == 0);
  CHECK(h.armed_timers(w) == 0);
  h.advance(60 * kSec);
  CHECK(w->power.size() == 1);
}

TEST_CASE_METHOD(WdtFixture, "wdt-sp805: pinging (IntClr) keeps the guest alive", "[sp805]") {
  make_wdt();
  wr(kLoad, 999);  // 1 ms periods
  wr(kControl, 3);
  for (int i = 0; i < 100; i++) {
    h.advance(1500 * kUs);  // interrupt raised, not yet expired
    CHECK(rd(kRis) == 1);
    wr(kIntClr, 1);
  }
  CHECK(w->power.empty());
  CHECK(w->rises(0) == 100);
  // Clearing RESEN while the interrupt waits: no expiry either.
  h.advance(1500 * kUs);
  wr(kControl, 1);
  h.advance(10 * kSec);
  CHECK(w->power.empty());
  // Setting it again arms the expiry at the next period end.
  wr(kControl, 3);
  h.advance(1 * kMs);
  REQUIRE(w->power.size() == 1);
}

TEST_CASE_METHOD(WdtFixture, "wdt-sp805: action reset, and reset restores power-on state", "[sp805]") {
  make_wdt("reset");
  wr(kLoad, 10);
  wr(kControl, 3);
  wr(kLock, 0);
  h.advance(22 * kUs);
  REQUIRE(w->power.size() == 1);
  CHECK(w->power[0] == QVM_POWER_RESET);
  REQUIRE(h.control(w, QVM_CTRL_RESET) == 0);
  CHECK(rd(kLoad) == 0xffffffffu);
  CHECK(rd(kValue) == 0xffffffffu);
  CHECK(rd(kControl) == 0);
  CHECK(rd(kRis) == 0);
  CHECK(rd(kLock) == 0);
  CHECK(line() == 0);
  CHECK(h.armed_timers(w) == 0);
}

TEST_CASE_METHOD(WdtFixture, "wdt-sp805: action fiq gives rate-limited edges", "[sp805]") {
  make_wdt("fiq");
  wr(kLoad, 0);  // a load of 0 times out at the next clock
  wr(kControl, 3);
  h.advance(1 * kUs);
  CHECK(rd(kRis) == 1);
  CHECK(line() == 1);
  h.advance(10 * kMs);
  CHECK(w->power.empty());
  int rises = w->rises(0);
  CHECK(rises >= 2);
  CHECK(rises <= 12);  // at most one edge per millisecond
  CHECK(line() == 1);  // the level is back up after each edge
  wr(kIntClr, 1);
  CHECK(line() == 0);
}

// QNX's `dump,` prefix: the dump is asked for (qvm_guest_dump, ABI 1.7) with
// the follow-up attached, so that qvm does it once the dump is written; the
// device itself asks for no power change.
TEST_CASE_METHOD(WdtFixture, "wdt-sp805: action dump asks for a guest dump, then the follow-up",
                 "[sp805]") {
  for (const auto &c : kWdtDumpCases) {
    CAPTURE(c.action);
    h.reset();  // one instance at a time (the same registers)
    make_wdt(c.action);
    wr(kLoad, 999);  // 1 ms periods
    wr(kControl, 3);
    h.advance(1 * kMs);
    CHECK(w->dumps.empty());
    h.advance(1 * kMs);
    REQUIRE(w->dumps.size() == 1);
    CHECK(w->dumps[0] == c.then);
    CHECK(w->power.empty());
    h.advance(60 * kSec);  // fired: the counter stopped
    CHECK(w->dumps.size() == 1);
  }
}

TEST_CASE_METHOD(WdtFixture, "wdt-sp805: action dump,fiq dumps once per expiry, edges go on",
                 "[sp805]") {
  make_wdt("dump,fiq");
  wr(kLoad, 0);
  wr(kControl, 3);
  h.advance(1 * kUs);
  h.advance(10 * kMs);
  REQUIRE(w->dumps.size() == 1);
  CHECK(w->dumps[0] == QVM_DUMP_CONTINUE);
  CHECK(w->power.empty());
  CHECK(w->rises(0) >= 2);
  // Acknowledged: the next expiry dumps again.
  wr(kIntClr, 1);
  h.advance(10 * kMs);
  CHECK(w->dumps.size() == 2);
}

TEST_CASE_METHOD(WdtFixture, "wdt-sp805: INTEN stops and reloads the counter", "[sp805]") {
  make_wdt();
  wr(kLoad, 1000);
  wr(kControl, 1);
  h.advance(300 * kUs);
  wr(kControl, 0);
  CHECK(rd(kValue) == 700);
  CHECK(h.armed_timers(w) == 0);
  h.advance(5 * kSec);
  CHECK(rd(kValue) == 700);
  CHECK(rd(kRis) == 0);
  wr(kControl, 1);
  CHECK(rd(kValue) == 1000);
  // A load write restarts the count from the new value.
  h.advance(10 * kUs);
  wr(kLoad, 50);
  CHECK(rd(kValue) == 50);
  h.advance(51 * kUs);
  CHECK(rd(kRis) == 1);
  // RIS survives INTEN off, but the output (MIS) follows INTEN.
  wr(kControl, 0);
  CHECK(rd(kRis) == 1);
  CHECK(rd(kMis) == 0);
  CHECK(line() == 0);
  wr(kControl, 1);
  CHECK(line() == 1);
}

TEST_CASE_METHOD(WdtFixture, "wdt-sp805: late timers never change what the guest sees", "[sp805]") {
  make_wdt();
  wr(kLoad, 100);
  wr(kControl, 3);
  // Jump the clock without firing timers: the next access accounts for it.
  h.set_now(h.now() + 101 * kUs);
  CHECK(rd(kRis) == 1);
  CHECK(w->power.empty());
  h.set_now(h.now() + 101 * kUs);
  CHECK(rd(kValue) == 0);
  REQUIRE(w->power.size() == 1);
  CHECK(w->power[0] == QVM_POWER_WATCHDOG);
}

TEST_CASE_METHOD(WdtFixture, "wdt-sp805: slow and fast clocks without overflow", "[sp805]") {
  SECTION("1 Hz, full load") {
    make_wdt("", "1");
    wr(kControl, 1);  // load 0xffffffff: 2^32 s per period
    h.advance(1000 * kSec);
    CHECK(rd(kValue) == 0xffffffffu - 1000);
    CHECK(h.next_timer(w) == fake::Host::kStart + (1ull << 32) * kSec);
  }
  SECTION("1 GHz") {
    make_wdt("", "1000000000");
    wr(kLoad, 999);
    wr(kControl, 3);
    h.advance(1 * kUs);
    CHECK(rd(kRis) == 1);
    h.advance(1 * kUs);
    CHECK(w->power.size() == 1);
  }
}

TEST_CASE_METHOD(WdtFixture, "wdt-sp805: bad options are refused", "[sp805]") {
  for (const char *hz : {"0", "-1", "1000000001", "abc", "12x", "", "99999999999999999999"}) {
    fake::Config c;
    c.options.push_back({"frequency", hz});
    CHECK(h.create("wdt-sp805", c) == nullptr);
    CHECK(h.last_rc == -EINVAL);
  }
  for (const char *a : {"dump,", "dump,poweroff", "dumpterminate", "dump,dump", "terminate,dump",
                        "poweroff", "", "TERMINATE"}) {
    fake::Config c;
    c.options.push_back({"action", a});
    CHECK(h.create("wdt-sp805", c) == nullptr);
  }
  fake::Config io;
  io.locs.push_back({QVM_SPACE_IO, 0x400});
  CHECK(h.create("wdt-sp805", io) == nullptr);
  fake::Config unaligned;
  unaligned.locs.push_back({QVM_SPACE_MEM, 0x1c0f0800});
  CHECK(h.create("wdt-sp805", unaligned) == nullptr);
  fake::Config top;
  top.locs.push_back({QVM_SPACE_MEM, 0xfffffffffffff000ull});
  CHECK(h.create("wdt-sp805", top) == nullptr);
  fake::Config moved;
  moved.locs.push_back({QVM_SPACE_MEM, 0x9000000});
  moved.intrs.push_back({"gic", 40});
  moved.options.push_back({"action", "terminate"});
  qvm_vdev *d = h.create("wdt-sp805", moved);
  REQUIRE(d != nullptr);
  CHECK(d->regions[0].base == 0x9000000);
  CHECK(d->intrs[0].line == 40);
}

TEST_CASE_METHOD(WdtFixture, "wdt-sp805: hostile offsets and widths", "[sp805]") {
  make_wdt();
  uint64_t v = 0;
  for (unsigned size : {1u, 2u, 8u}) {
    CHECK(h.read(w, QVM_SPACE_MEM, kBase, size, &v) == QVM_BUS_ERROR);
    CHECK(h.write(w, QVM_SPACE_MEM, kBase + kControl, size, 3) == QVM_BUS_ERROR);
  }
  for (uint64_t off : {1ull, 2ull, 3ull, 0xffdull, 0xfffull})
    CHECK(h.read(w, QVM_SPACE_MEM, kBase + off, 4, &v) == QVM_BUS_ERROR);
  CHECK(rd(kControl) == 0);
  // Integration test registers: RAZ/WI.
  wr(kItcr, 1);
  wr(kItop, 3);
  CHECK(rd(kItcr) == 0);
  CHECK(rd(kItop) == 0);
  CHECK(line() == 0);
  // Every other offset: reads are defined, writes change nothing.
  for (uint32_t off = 0; off < 0x1000; off += 4) {
    CHECK(h.read(w, QVM_SPACE_MEM, kBase + off, 4, &v) == QVM_DONE);
    if (off == kLoad || off == kControl || off == kIntClr || off == kLock) continue;
    CHECK(h.write(w, QVM_SPACE_MEM, kBase + off, 4, 0xffffffff) == QVM_DONE);
  }
  CHECK(rd(kLoad) == 0xffffffffu);
  CHECK(rd(kControl) == 0);
  CHECK(rd(kLock) == 0);
  CHECK(rd(kRis) == 0);
  // Reserved control bits are not stored.
  wr(kControl, 0xfffffffc);
  CHECK(rd(kControl) == 0);
  // Logs about bad accesses are capped.
  for (int i = 0; i < 1000; i++) h.read(w, QVM_SPACE_MEM, kBase + 2, 4, &v);
  CHECK(w->logs.size() < 10);
}

TEST_CASE_METHOD(WdtFixture, "wdt-sp805: FDT node", "[sp805][fdt]") {
  make_wdt("", "32768");
  REQUIRE(h.gen_fdt(w) == 0);
  CHECK(w->fdt_name == "watchdog");
  CHECK(w->fdt_compatible == "arm,sp805 arm,primecell");
  const std::string *f = h.fdt_prop(w, "clock-frequency");
  REQUIRE(f != nullptr);
  CHECK(*f == be32(32768));
  const std::string *n = h.fdt_prop(w, "clock-names");
  REQUIRE(n != nullptr);
  CHECK(*n == std::string("wdog_clk\0apb_pclk\0", 18));
  // Outside GEN_FDT the host refuses (the device does not call it then).
  CHECK(qvm_fdt_node(w, "x", "y") == -ENOTSUP);
}
