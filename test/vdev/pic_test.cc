// 8259 pair and IOAPIC register models, and their cascade.
#include "helpers.h"

namespace {

struct PicFixture : HostFixture {
  qvm_vdev *p = nullptr;
  PicFixture() { p = make("8259"); }
  int set(unsigned line, int level) {
    return p->factory->pic->set_line(p, p->state, line, level);
  }
  int inta() { return p->factory->pic->inta(p, p->state); }
  // Linux's init_8259A: vectors 0x30 / 0x38, cascade on IR2, 8086 mode.
  void linux_init(uint8_t icw4 = 0x01) {
    h.outb(p, 0x21, 0xff);
    h.outb(p, 0xA1, 0xff);
    h.outb(p, 0x20, 0x11);
    h.outb(p, 0x21, 0x30);
    h.outb(p, 0x21, 0x04);
    h.outb(p, 0x21, icw4);
    h.outb(p, 0xA0, 0x11);
    h.outb(p, 0xA1, 0x38);
    h.outb(p, 0xA1, 0x02);
    h.outb(p, 0xA1, icw4);
    h.outb(p, 0x21, 0x00);
    h.outb(p, 0xA1, 0x00);
  }
  uint8_t master_isr() {
    h.outb(p, 0x20, 0x0B);
    return static_cast<uint8_t>(h.inb(p, 0x20));
  }
  uint8_t master_irr() {
    h.outb(p, 0x20, 0x0A);
    return static_cast<uint8_t>(h.inb(p, 0x20));
  }
  uint8_t slave_isr() {
    h.outb(p, 0xA0, 0x0B);
    return static_cast<uint8_t>(h.inb(p, 0xA0));
  }
};

struct IoapicFixture : HostFixture {
  qvm_vdev *io = nullptr;
  static constexpr uint64_t B = 0xFEC00000;
  IoapicFixture() { io = make("ioapic"); }
  uint32_t rd(uint32_t idx) {
    h.mwrite(io, B, 4, idx);
    return static_cast<uint32_t>(h.mread(io, B + 0x10, 4));
  }
  void wr(uint32_t idx, uint32_t v) {
    h.mwrite(io, B, 4, idx);
    h.mwrite(io, B + 0x10, 4, v);
  }
  void rte(unsigned pin, uint64_t e) {
    wr(0x11 + 2 * pin, static_cast<uint32_t>(e >> 32));
    wr(0x10 + 2 * pin, static_cast<uint32_t>(e));
  }
  uint64_t rte(unsigned pin) {
    return rd(0x10 + 2 * pin) | (uint64_t(rd(0x11 + 2 * pin)) << 32);
  }
  int set(unsigned line, int level) {
    return io->factory->pic->set_line(io, io->state, line, level);
  }
  void eoi(unsigned v) { io->factory->pic->eoi(io, io->state, v); }
};

}  // namespace

TEST_CASE_METHOD(PicFixture, "8259: regions, power-on masked", "[8259]") {
  REQUIRE(p->regions.size() == 3);
  CHECK(p->regions[0].base == 0x20);
  CHECK(p->regions[1].base == 0xA0);
  CHECK(p->regions[2].base == 0x4D0);
  CHECK(p->factory->pic->line_count(p, p->state) == 16);
  CHECK(set(16, 1) == -EINVAL);
  CHECK(h.inb(p, 0x21) == 0xFB);
  CHECK(h.inb(p, 0xA1) == 0xFF);
  set(1, 1);
  set(9, 1);
  CHECK(p->extint == 0);
}

TEST_CASE_METHOD(PicFixture, "8259: init sequence, INTA vector, EOI", "[8259]") {
  linux_init();
  set(1, 1);
  CHECK(p->extint == 1);
  CHECK(master_irr() == 0x02);
  CHECK(inta() == 0x31);
  CHECK(p->extint == 0);
  CHECK(master_isr() == 0x02);
  CHECK(master_irr() == 0x00);  // edge consumed
  h.outb(p, 0x20, 0x20);        // non-specific EOI
  CHECK(master_isr() == 0x00);
  CHECK(p->extint == 0);
  set(1, 0);
  set(1, 1);  // new edge
  CHECK(p->extint == 1);
  CHECK(inta() == 0x31);
  h.outb(p, 0x20, 0x61);  // specific EOI for IRQ1
  CHECK(master_isr() == 0x00);
}

TEST_CASE_METHOD(PicFixture, "8259: slave cascade and priorities", "[8259]") {
  linux_init();
  set(12, 1);
  CHECK(p->extint == 1);
  CHECK(inta() == 0x3C);
  CHECK(master_isr() == 0x04);
  CHECK(slave_isr() == 0x10);
  // Lower-priority master IRQ3 is blocked by the in-service cascade (IR2).
  set(3, 1);
  CHECK(p->extint == 0);
  // Higher-priority master IRQ1 preempts.
  set(1, 1);
  CHECK(p->extint == 1);
  CHECK(inta() == 0x31);
  h.outb(p, 0x20, 0x20);  // EOI IRQ1
  CHECK(p->extint == 0);
  h.outb(p, 0xA0, 0x20);  // EOI slave
  h.outb(p, 0x20, 0x20);  // EOI cascade
  CHECK(p->extint == 1);  // IRQ3 now
  CHECK(inta() == 0x33);
}

TEST_CASE_METHOD(PicFixture, "8259: spurious IRQ7 and IRQ15", "[8259]") {
  linux_init();
  CHECK(inta() == 0x37);
  CHECK(master_isr() == 0x00);
  // Request disappears (level line) between INT and INTA on the slave.
  h.outb(p, 0x4D1, 0x04);  // IRQ10 level
  set(10, 1);
  CHECK(p->extint == 1);
  set(10, 0);
  CHECK(p->extint == 0);
  CHECK(inta() == 0x37);
}

TEST_CASE_METHOD(PicFixture, "8259: auto-EOI, masks, poll", "[8259]") {
  linux_init(0x03);  // AEOI
  set(4, 1);
  CHECK(inta() == 0x34);
  CHECK(master_isr() == 0x00);
  h.outb(p, 0x21, 0x20);  // mask IRQ5
  CHECK(h.inb(p, 0x21) == 0x20);
  set(5, 1);
  CHECK(p->extint == 0);
  h.outb(p, 0x21, 0x00);
  CHECK(p->extint == 1);
  h.outb(p, 0x20, 0x0C);  // poll
  CHECK(h.inb(p, 0x20) == 0x85);
  CHECK(p->extint == 0);
  h.outb(p, 0x20, 0x0C);
  CHECK(h.inb(p, 0x20) == 0x00);  // nothing pending
}

TEST_CASE_METHOD(PicFixture, "8259: ELCR level lines re-request after EOI", "[8259]") {
  linux_init();
  h.outb(p, 0x4D0, 0xFF);  // IRQ0-2 cannot be level
  CHECK(h.inb(p, 0x4D0) == 0xF8);
  h.outb(p, 0x4D1, 0xFF);
  CHECK(h.inb(p, 0x4D1) == 0xDE);
  h.outb(p, 0x4D0, 0x00);
  h.outb(p, 0x4D1, 0x04);  // IRQ10 level
  set(10, 1);
  CHECK(inta() == 0x3A);
  h.outb(p, 0xA0, 0x20);
  h.outb(p, 0x20, 0x20);
  CHECK(p->extint == 1);  // still asserted
  CHECK(inta() == 0x3A);
  set(10, 0);
  h.outb(p, 0xA0, 0x20);
  h.outb(p, 0x20, 0x20);
  CHECK(p->extint == 0);
  // Edge line: a pulse stays latched.
  set(6, 1);
  set(6, 0);
  CHECK(p->extint == 1);
  CHECK(inta() == 0x36);
}

TEST_CASE_METHOD(PicFixture, "8259: rotation and special mask mode", "[8259]") {
  linux_init();
  h.outb(p, 0x20, 0xC3);  // IRQ3 lowest -> IRQ4 highest
  set(1, 1);
  set(5, 1);
  CHECK(inta() == 0x35);
  h.outb(p, 0x20, 0x20);
  CHECK(inta() == 0x31);
  h.outb(p, 0x20, 0x20);
  // Special mask mode: with IRQ3 in service and masked, lower IRQ6 gets in.
  h.outb(p, 0x20, 0xC7);  // back to IRQ0 highest
  set(3, 1);
  CHECK(inta() == 0x33);
  set(6, 1);
  CHECK(p->extint == 0);
  h.outb(p, 0x21, 0x08);
  h.outb(p, 0x20, 0x68);  // OCW3: set special mask
  CHECK(p->extint == 1);
  CHECK(inta() == 0x36);
}

TEST_CASE_METHOD(PicFixture, "8259: reset restores power-on state", "[8259]") {
  linux_init();
  set(1, 1);
  inta();
  REQUIRE(h.control(p, QVM_CTRL_RESET) == 0);
  CHECK(h.inb(p, 0x21) == 0xFB);
  CHECK(master_isr() == 0);
  CHECK(p->extint == 0);
}

TEST_CASE_METHOD(IoapicFixture, "ioapic: identification registers", "[ioapic]") {
  REQUIRE(io->regions.size() == 1);
  CHECK(io->regions[0].base == 0xFEC00000);
  CHECK(io->factory->pic->line_count(io, io->state) == 24);
  CHECK(rd(0x01) == 0x00170020);
  wr(0x00, 0x0A000000);
  CHECK(rd(0x00) == 0x0A000000);
  CHECK(rd(0x02) == 0x0A000000);
  wr(0x01, 0);
  CHECK(rd(0x01) == 0x00170020);
  for (unsigned pin = 0; pin < 24; pin++) CHECK(rte(pin) == 0x10000);
  CHECK(rd(0x40) == 0);  // beyond the table
  CHECK(set(24, 1) == -EINVAL);
}

TEST_CASE_METHOD(IoapicFixture, "ioapic: edge RTE -> MSI content and route", "[ioapic]") {
  rte(4, (uint64_t(0x01) << 56) | 0x24);
  REQUIRE(io->routes.count(4));
  CHECK(io->routes[4].address == 0xFEE01000);
  CHECK(io->routes[4].data == 0x4024);
  CHECK(io->routes[4].masked == 0);
  set(4, 1);
  REQUIRE(io->msis.size() == 1);
  CHECK(io->msis[0].address == 0xFEE01000);
  CHECK(io->msis[0].data == 0x4024);
  set(4, 1);  // no new edge
  CHECK(io->msis.size() == 1);
  set(4, 0);
  set(4, 1);
  CHECK(io->msis.size() == 2);
  // Logical destination, lowest priority, NMI-free: check the bit layout.
  rte(5, (uint64_t(0x0F) << 56) | (1u << 11) | (1u << 8) | 0x55);
  set(5, 1);
  CHECK(io->msis.back().address == (0xFEE00000u | (0x0Fu << 12) | 4u));
  CHECK(io->msis.back().data == (0x55u | 0x100u | 0x4000u));
}

TEST_CASE_METHOD(IoapicFixture, "ioapic: level, remote IRR and EOI re-delivery", "[ioapic]") {
  rte(9, (1u << 15) | 0x39);
  set(9, 1);
  REQUIRE(io->msis.size() == 1);
  CHECK(io->msis[0].data == (0x39u | 0x8000u | 0x4000u));
  CHECK(rte(9) & (1u << 14));  // remote IRR
  set(9, 1);
  CHECK(io->msis.size() == 1);
  // Remote IRR is read-only: writing the entry keeps it.
  rte(9, (1u << 15) | 0x39);
  CHECK(rte(9) & (1u << 14));
  CHECK(io->msis.size() == 1);
  eoi(0x38);  // other vector
  CHECK(io->msis.size() == 1);
  eoi(0x39);  // still asserted -> again
  CHECK(io->msis.size() == 2);
  set(9, 0);
  eoi(0x39);
  CHECK(io->msis.size() == 2);
  CHECK((rte(9) & (1u << 14)) == 0);
  // The EOI register (version 0x20) does the same.
  set(9, 1);
  CHECK(io->msis.size() == 3);
  h.mwrite(io, B + 0x40, 4, 0x39);
  CHECK(io->msis.size() == 4);
  // Switching to edge clears remote IRR (Linux's pre-0x20 trick).
  rte(9, 0x39);
  CHECK((rte(9) & (1u << 14)) == 0);
}

TEST_CASE_METHOD(IoapicFixture, "ioapic: mask holds and releases", "[ioapic]") {
  rte(3, 0x10000 | 0x33);
  CHECK(io->routes[3].masked == 1);
  set(3, 1);
  set(3, 0);
  CHECK(io->msis.empty());
  rte(3, 0x33);  // unmask: the remembered edge is delivered once
  CHECK(io->msis.size() == 1);
  rte(10, 0x10000 | 0x8000 | 0x3A);
  set(10, 1);
  CHECK(io->msis.size() == 1);
  rte(10, 0x8000 | 0x3A);
  CHECK(io->msis.size() == 2);
  CHECK(io->msis.back().data == (0x3Au | 0xC000u));
}

TEST_CASE_METHOD(IoapicFixture, "ioapic: polarity", "[ioapic]") {
  // Active-low level pin with the line low: asserted right away.
  rte(11, (1u << 15) | (1u << 13) | 0x3B);
  CHECK(io->msis.size() == 1);
  set(11, 1);  // deasserts
  eoi(0x3B);
  CHECK(io->msis.size() == 1);
  set(11, 0);  // asserts again
  CHECK(io->msis.size() == 2);
}

TEST_CASE_METHOD(IoapicFixture, "ioapic: reset masks everything", "[ioapic]") {
  rte(4, 0x24);
  REQUIRE(h.control(io, QVM_CTRL_RESET) == 0);
  CHECK(rte(4) == 0x10000);
  CHECK(io->routes[4].masked == 1);
  set(4, 1);
  CHECK(io->msis.empty());
}

TEST_CASE("ioapic: ISA lines cascade to the 8259", "[ioapic][8259]") {
  HostFixture f;
  qvm_vdev *pic = f.make("8259");
  qvm_vdev *io = f.make("ioapic");
  // Linux-style 8259 init, all unmasked.
  for (auto [port, v] : std::initializer_list<std::pair<uint16_t, uint8_t>>{
           {0x20, 0x11}, {0x21, 0x30}, {0x21, 0x04}, {0x21, 0x01},
           {0xA0, 0x11}, {0xA1, 0x38}, {0xA1, 0x02}, {0xA1, 0x01},
           {0x21, 0x00}, {0xA1, 0x00}})
    f.h.outb(pic, port, v);
  io->factory->pic->set_line(io, io->state, 2, 1);  // PIT on pin 2
  CHECK(io->named.back().controller == "8259");
  CHECK(io->named.back().line == 0);
  CHECK(pic->extint == 1);
  CHECK(pic->factory->pic->inta(pic, pic->state) == 0x30);
  io->factory->pic->set_line(io, io->state, 2, 0);
  f.h.outb(pic, 0x20, 0x20);
  io->factory->pic->set_line(io, io->state, 8, 1);  // RTC
  CHECK(pic->factory->pic->inta(pic, pic->state) == 0x38);
  CHECK(io->msis.empty());  // all RTEs masked
}

TEST_CASE("ioapic: devices drive it through qvm_intr_set", "[ioapic]") {
  HostFixture f;
  qvm_vdev *io = f.make("ioapic");
  qvm_vdev *pm = f.make("acpi-pm");
  // SCI on pin 9: level, active high, vector 0x49.
  f.h.mwrite(io, 0xFEC00000, 4, 0x10 + 18);
  f.h.mwrite(io, 0xFEC00010, 4, 0x8000 | 0x49);
  f.h.outb(pm, 0x602 + 1, 0x01);  // PWRBTN_EN
  REQUIRE(f.h.control(pm, QVM_CTRL_POWER_BUTTON) == 0);
  REQUIRE(io->msis.size() == 1);
  CHECK(io->msis[0].data == (0x49u | 0xC000u));
  f.h.outb(pm, 0x601, 0x01);  // clear PWRBTN_STS
  io->factory->pic->eoi(io, io->state, 0x49);
  CHECK(io->msis.size() == 1);
}

TEST_CASE("8259: QNX's layout, one instance per chip", "[pic]") {
  HostFixture f;
  fake::Config master, slave;
  master.locs.push_back({QVM_SPACE_IO, 0x20});
  slave.locs.push_back({QVM_SPACE_IO, 0xA0});
  qvm_vdev *m = f.make("8259", master);
  qvm_vdev *s = f.make("8259", slave);
  // The pair's instance serves master, slave and ELCR; the slave's none.
  REQUIRE(m->regions.size() == 3);
  CHECK(m->regions[0].base == 0x20);
  CHECK(m->regions[1].base == 0xA0);
  CHECK(m->regions[2].base == 0x4D0);
  CHECK(s->regions.empty());
  CHECK(m->factory->pic->line_count(m, m->state) == 16);
  CHECK(s->factory->pic->line_count(s, s->state) == 0);
  CHECK(s->factory->pic->set_line(s, s->state, 3, 1) < 0);
  // A single loc elsewhere is the pair with its master there.
  f.h.reset();
  fake::Config other;
  other.locs.push_back({QVM_SPACE_IO, 0x120});
  qvm_vdev *o = f.make("8259", other);
  REQUIRE(o->regions.size() == 3);
  CHECK(o->regions[0].base == 0x120);
}
