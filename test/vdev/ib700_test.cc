// wdt-ib700 (QNX's vdev): ports, the board's timeout table, kicks, stop,
// expiry actions with and without QNX's `dump,`, options refused with the
// reason, through the fake host.
#include <string>

#include "helpers.h"

namespace {

struct Ib700Fixture : HostFixture {
  qvm_vdev *w = nullptr;
  void make_wdt(const std::string &action = "") {
    fake::Config c;
    if (!action.empty()) c.options.push_back({"action", action});
    w = make("wdt-ib700", c);
  }
};

}  // namespace

#if defined(__x86_64__) || defined(__i386__)
TEST_CASE_METHOD(Ib700Fixture, "wdt-ib700: ports, reads and the board's timeouts", "[ib700]") {
  make_wdt();
  REQUIRE(w->regions.size() == 1);
  CHECK(w->regions[0].space == QVM_SPACE_IO);
  CHECK(w->regions[0].base == 0x441);
  CHECK(w->regions[0].size == 3);
  CHECK(h.inb(w, 0x441) == 0xff);
  CHECK(h.inb(w, 0x443) == 0xff);
  CHECK(h.armed_timers(w) == 0);
  // v = 14: 30 - 28 = 2 s.
  h.outb(w, 0x443, 14);
  CHECK(h.armed_timers(w) == 1);
  h.advance(2 * kSec - 1);
  CHECK(w->power.empty());
  h.advance(1);
  REQUIRE(w->power.size() == 1);
  CHECK(w->power[0] == QVM_POWER_WATCHDOG);
  CHECK(w->dumps.empty());
  // Expired: stopped until the next start.
  h.advance(60 * kSec);
  CHECK(w->power.size() == 1);
  // Only the low four bits count: 0xf0 is v = 0, 30 s.
  h.outb(w, 0x443, 0xf0);
  h.advance(30 * kSec - 1);
  CHECK(w->power.size() == 1);
  h.advance(1);
  CHECK(w->power.size() == 2);
}

TEST_CASE_METHOD(Ib700Fixture, "wdt-ib700: kicks restart the count, 0x441 stops it", "[ib700]") {
  make_wdt();
  h.outb(w, 0x443, 13);  // 4 s
  for (int i = 0; i < 10; i++) {
    h.advance(3 * kSec);
    h.outb(w, 0x443, 13);
  }
  CHECK(w->power.empty());
  h.outb(w, 0x441, 0);
  CHECK(h.armed_timers(w) == 0);
  h.advance(60 * kSec);
  CHECK(w->power.empty());
  h.outb(w, 0x442, 13);  // the port between: nothing
  h.advance(60 * kSec);
  CHECK(w->power.empty());
  // A guest reset stops it too.
  h.outb(w, 0x443, 13);
  h.control(w, QVM_CTRL_RESET);
  h.advance(60 * kSec);
  CHECK(w->power.empty());
}

TEST_CASE_METHOD(Ib700Fixture, "wdt-ib700: action reset, and v = 15 expires at once", "[ib700]") {
  make_wdt("reset");
  h.outb(w, 0x443, 15);
  h.advance(1);
  REQUIRE(w->power.size() == 1);
  CHECK(w->power[0] == QVM_POWER_RESET);
}

TEST_CASE_METHOD(Ib700Fixture, "wdt-ib700: action dump asks for a guest dump, then the follow-up",
                 "[ib700]") {
  for (const auto &c : kWdtDumpCases) {
    CAPTURE(c.action);
    h.reset();  // one instance at a time (the same registers)
    make_wdt(c.action);
    h.outb(w, 0x443, 14);
    h.advance(2 * kSec);
    REQUIRE(w->dumps.size() == 1);
    CHECK(w->dumps[0] == c.then);
    CHECK(w->power.empty());  // qvm does the follow-up after the dump
  }
}

TEST_CASE_METHOD(Ib700Fixture, "wdt-ib700: refused options and locations", "[ib700]") {
  for (const char *a : {"fiq", "dump,fiq", "dump,", "poweroff", "", "exit"}) {
    CAPTURE(a);
    fake::Config c;
    c.options.push_back({"action", a});
    CHECK(h.create("wdt-ib700", c) == nullptr);
    CHECK(h.last_rc == -EINVAL);
  }
  CHECK(h.create("wdt-ib700", cfg_loc(QVM_SPACE_MEM, 0x441)) == nullptr);
  CHECK(h.create("wdt-ib700", cfg_loc(QVM_SPACE_IO, 0xfffe)) == nullptr);
  qvm_vdev *moved = h.create("wdt-ib700", cfg_loc(QVM_SPACE_IO, 0x1441));
  REQUIRE(moved != nullptr);
  CHECK(moved->regions[0].base == 0x1441);
  h.outb(moved, 0x1443, 14);
  h.advance(2 * kSec);
  CHECK(moved->power.size() == 1);
}
#else
// Built for another architecture: KVM's guests are the host's, which have
// no I/O ports; the device is refused with the reason.
TEST_CASE_METHOD(Ib700Fixture, "wdt-ib700: refused off x86", "[ib700]") {
  CHECK(h.create("wdt-ib700") == nullptr);
  CHECK(h.last_rc == -ENOTSUP);
}
#endif
