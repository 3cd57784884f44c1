// pckeyboard (8042), acpi-pm, debug-exit.
#include <vector>

#include "helpers.h"

namespace {

struct KbcFixture : HostFixture {
  qvm_vdev *k = nullptr;
  KbcFixture() { k = make("pckeyboard"); }
  uint8_t st() { return static_cast<uint8_t>(h.inb(k, 0x64)); }
  void cmd(uint8_t c) { h.outb(k, 0x64, c); }
  void data(uint8_t v) { h.outb(k, 0x60, v); }
  // Reads the output buffer like Linux's i8042_wait_read: status first.
  int read() {
    if (!(st() & 0x01)) return -1;
    return static_cast<int>(h.inb(k, 0x60));
  }
  std::vector<int> drain() {
    std::vector<int> v;
    for (int i = 0; i < 32; i++) {
      int b = read();
      if (b < 0) break;
      v.push_back(b);
    }
    return v;
  }
};

struct PmFixture : HostFixture {
  qvm_vdev *p = nullptr;
  PmFixture() { p = make("acpi-pm"); }
  uint32_t tmr() { return static_cast<uint32_t>(h.in(p, 0x608, 4)); }
};

}  // namespace

TEST_CASE_METHOD(KbcFixture, "pckeyboard: regions and defaults", "[8042]") {
  REQUIRE(k->regions.size() == 2);
  CHECK(k->regions[0].base == 0x60);
  CHECK(k->regions[1].base == 0x64);
  REQUIRE(k->intrs.size() == 2);
  CHECK(k->intrs[0].line == 1);
  CHECK(k->intrs[1].line == 12);
  CHECK((st() & 0x03) == 0);  // OBF, IBF clear
  CHECK((st() & 0x04) != 0);  // SYS
}

TEST_CASE_METHOD(KbcFixture, "pckeyboard: self tests and command byte", "[8042]") {
  cmd(0xAA);
  CHECK((st() & 0x08) != 0);  // A2: last write was a command
  CHECK(read() == 0x55);
  CHECK(read() == -1);
  cmd(0xAB);
  CHECK(read() == 0x00);
  cmd(0xA9);
  CHECK(read() == 0x00);
  cmd(0x60);
  data(0x47);
  CHECK((st() & 0x08) == 0);
  cmd(0x20);
  CHECK(read() == 0x47);
  cmd(0x60);
  data(0x40);  // SYS cleared in the command byte
  CHECK((st() & 0x04) == 0);
  cmd(0xC0);
  CHECK(read() == 0x80);
  cmd(0xD0);
  CHECK((read() & 0x03) == 0x03);
}

TEST_CASE_METHOD(KbcFixture, "pckeyboard: reset requests", "[8042]") {
  cmd(0xFF);  // pulse nothing
  CHECK(k->power.empty());
  cmd(0xFE);
  REQUIRE(k->power.size() == 1);
  CHECK(k->power[0] == QVM_POWER_RESET);
  cmd(0xD1);
  data(0x03);  // reset line high: no reset
  CHECK(k->power.size() == 1);
  cmd(0xD1);
  data(0x02);
  CHECK(k->power.size() == 2);
}

TEST_CASE_METHOD(KbcFixture, "pckeyboard: keyboard commands and IRQ1 edges", "[8042]") {
  int before = k->rises(0);
  data(0xFF);
  CHECK(drain() == std::vector<int>{0xFA, 0xAA});
  data(0xF2);
  CHECK(drain() == std::vector<int>{0xFA, 0xAB, 0x83});
  CHECK(k->rises(0) - before == 5);  // one rising edge per byte
  CHECK(k->intr_level[0] == 0);
  data(0xED);
  data(0x07);
  CHECK(drain() == std::vector<int>{0xFA, 0xFA});
  data(0xF3);
  data(0x20);
  CHECK(drain() == std::vector<int>{0xFA, 0xFA});
  data(0xF0);
  data(0x00);
  CHECK(drain() == std::vector<int>{0xFA, 0xFA, 0x02});
  data(0xF4);
  data(0xF5);
  data(0xF6);
  CHECK(drain() == std::vector<int>{0xFA, 0xFA, 0xFA});
  data(0xEE);
  CHECK(drain() == std::vector<int>{0xEE});
  data(0x12);
  CHECK(drain() == std::vector<int>{0xFE});
  // Keyboard interrupt disabled in the command byte: no IRQ1.
  cmd(0x60);
  data(0x44);
  before = k->rises(0);
  data(0xF4);
  CHECK(k->rises(0) == before);
  CHECK(drain() == std::vector<int>{0xFA});
}

TEST_CASE_METHOD(KbcFixture, "pckeyboard: Linux i8042 probe with no mouse", "[8042]") {
  drain();
  cmd(0xAA);
  CHECK(read() == 0x55);
  cmd(0x20);
  int ctr = read();
  REQUIRE(ctr >= 0);
  cmd(0x60);
  data(static_cast<uint8_t>((ctr & ~0x01) | 0x10));
  // AUX loopback: the byte comes back from the aux side.
  cmd(0xD3);
  data(0x5A);
  CHECK((st() & 0x21) == 0x21);
  CHECK(read() == 0x5A);
  cmd(0xA9);
  CHECK(read() == 0x00);
  cmd(0xA7);
  cmd(0x20);
  CHECK((read() & 0x20) != 0);
  cmd(0xA8);
  cmd(0x20);
  ctr = read();
  CHECK((ctr & 0x20) == 0);
  // AUX IRQ test: with AUXINT, the loopback byte raises IRQ12.
  cmd(0x60);
  data(static_cast<uint8_t>(ctr | 0x02));
  int before = k->rises(1);
  cmd(0xD3);
  data(0xA5);
  CHECK(k->rises(1) == before + 1);
  CHECK(read() == 0xA5);
  CHECK(k->intr_level[1] == 0);
  // A byte for the (absent) mouse: 0xFE from aux with TIMEOUT.
  cmd(0xD4);
  data(0xF2);
  CHECK((st() & 0x61) == 0x61);
  CHECK(read() == 0xFE);
  CHECK((st() & 0x40) == 0);
  // Keyboard port test.
  cmd(0xAB);
  CHECK(read() == 0x00);
  // 0xD2 writes the keyboard output buffer.
  cmd(0xD2);
  data(0x1C);
  CHECK((st() & 0x21) == 0x01);
  CHECK(read() == 0x1C);
}

TEST_CASE_METHOD(KbcFixture, "pckeyboard: queue overflow and reset", "[8042]") {
  for (int i = 0; i < 40; i++) data(0xEE);
  CHECK(drain().size() == 16);
  data(0xFF);
  REQUIRE(h.control(k, QVM_CTRL_RESET) == 0);
  CHECK((st() & 0x01) == 0);
  CHECK(k->intr_level[0] == 0);
  cmd(0x20);
  CHECK(read() == 0x65);
}

TEST_CASE_METHOD(PmFixture, "acpi-pm: defaults, SCI_EN, S5 power off", "[acpi]") {
  REQUIRE(p->regions.size() == 1);
  CHECK(p->regions[0].base == 0x600);
  CHECK(p->regions[0].size == 16);
  CHECK(p->intrs[0].line == 9);
  CHECK((h.in(p, 0x604, 2) & 1) == 1);
  h.out(p, 0x604, 2, (1u << 10) | (1u << 13));  // S1: ignored
  CHECK(p->power.empty());
  CHECK((h.in(p, 0x604, 2) & 0x2000) == 0);  // SLP_EN is write-only
  h.out(p, 0x604, 2, (5u << 10) | (1u << 13));
  REQUIRE(p->power.size() == 1);
  CHECK(p->power[0] == QVM_POWER_OFF);
  // Byte-wise: SLP_TYP then SLP_EN in the high byte.
  h.outb(p, 0x605, (5u << 2) | (1u << 5));
  CHECK(p->power.size() == 2);
}

TEST_CASE_METHOD(PmFixture, "acpi-pm: power button raises SCI", "[acpi]") {
  REQUIRE(h.control(p, QVM_CTRL_POWER_BUTTON) == 0);
  CHECK((h.in(p, 0x600, 2) & 0x100) != 0);
  CHECK(p->intr_level[0] == 0);  // not enabled
  h.out(p, 0x602, 2, 0x0100);
  CHECK(p->intr_level[0] == 1);
  h.out(p, 0x600, 2, 0x0100);  // write 1 to clear
  CHECK(p->intr_level[0] == 0);
  CHECK((h.in(p, 0x600, 2) & 0x100) == 0);
  REQUIRE(h.control(p, QVM_CTRL_POWER_BUTTON) == 0);
  CHECK(p->intr_level[0] == 1);
  h.out(p, 0x600, 2, 0x0000);  // writing 0 clears nothing
  CHECK(p->intr_level[0] == 1);
  h.outb(p, 0x601, 0x01);  // byte access to the high half
  CHECK(p->intr_level[0] == 0);
}

TEST_CASE_METHOD(PmFixture, "acpi-pm: PM timer runs at 3.579545 MHz, 32 bits", "[acpi]") {
  uint32_t t0 = tmr();
  h.advance(kSec);
  uint32_t t1 = tmr();
  CHECK(t1 - t0 >= 3579544);
  CHECK(t1 - t0 <= 3579546);
  h.advance(1300 * kSec);  // past 2^32 ticks (~1200 s)
  uint32_t t2 = tmr();
  uint64_t total = static_cast<uint64_t>(1301.0 * 3579545.0);
  CHECK(t2 == static_cast<uint32_t>(total));
  CHECK(h.in(p, 0x60A, 2) == (t2 >> 16));
}

TEST_CASE_METHOD(PmFixture, "acpi-pm: TMR_STS on bit-31 flip raises SCI", "[acpi]") {
  h.out(p, 0x602, 2, 0x0001);  // TMR_EN
  CHECK(h.armed_timers(p) == 1);
  CHECK(p->intr_level[0] == 0);
  h.advance(599 * kSec);  // 2^31 / 3.579545 MHz = 599.9 s
  CHECK(p->intr_level[0] == 0);
  h.advance(1 * kSec);
  CHECK(p->intr_level[0] == 1);
  CHECK((h.in(p, 0x600, 2) & 1) == 1);
  h.out(p, 0x600, 2, 0x0001);
  CHECK(p->intr_level[0] == 0);
  CHECK(h.armed_timers(p) == 1);
}

TEST_CASE_METHOD(PmFixture, "acpi-pm: reset register", "[acpi]") {
  h.outb(p, 0x60C, 0x02);
  CHECK(p->power.empty());
  h.outb(p, 0x60C, 0x01);
  REQUIRE(p->power.size() == 1);
  CHECK(p->power[0] == QVM_POWER_RESET);
  CHECK(h.inb(p, 0x60D) == 0);
}

TEST_CASE("debug-exit: exit codes", "[debug-exit]") {
  HostFixture f;
  qvm_vdev *d = f.make("debug-exit");
  REQUIRE(d->regions.size() == 1);
  CHECK(d->regions[0].base == 0xf4);
  CHECK(d->regions[0].size == 4);
  CHECK(f.h.in(d, 0xf4, 4) == 0);
  // QEMU isa-debug-exit: status (v << 1) | 1, truncated to 8 bits.
  f.h.outb(d, 0xf4, 0);
  f.h.outb(d, 0xf4, 0x1f);
  f.h.outb(d, 0xf5, 0x25);
  f.h.out(d, 0xf4, 4, 0xFFFFFFFF);
  f.h.out(d, 0xf4, 2, 0x0101);
  f.h.outb(d, 0xf4, 0x7f);
  f.h.outb(d, 0xf4, 0x80);
  f.h.out(d, 0xf7, 1, 0x10);
  CHECK(d->exit_statuses == std::vector<int>{1, 63, 75, 255, 3, 255, 1, 33});
  CHECK(d->exit_codes.empty());  // never the 32..63 vdev-code path
  CHECK(f.h.control(d, QVM_CTRL_POWER_BUTTON) == -ENOTSUP);
}

TEST_CASE("debug-exit: memory location", "[debug-exit]") {
  HostFixture f;
  fake::Config c;
  c.locs.push_back({QVM_SPACE_MEM, 0x9000000});
  qvm_vdev *d = f.make("debug-exit", c);
  f.h.mwrite(d, 0x9000000, 4, 3);
  CHECK(d->exit_statuses == std::vector<int>{7});
}
