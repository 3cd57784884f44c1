// vdev gic, `mode user`: the user-space GICv2 (distributor, CPU interface,
// vCPU IRQ inputs through ABI 1.3 qvm_vcpu_irq, timer PPIs from the per-vCPU
// outputs callback), driven through the fake host.
#include "helpers.h"

namespace {

constexpr uint64_t D = 0x2c001000;  // distributor
constexpr uint64_t C = 0x2c002000;  // CPU interface

// Offsets.
constexpr uint64_t CTLR = 0x000, TYPER = 0x004, IIDR = 0x008, ISENABLER = 0x100,
                   ICENABLER = 0x180, ISPENDR = 0x200, ICPENDR = 0x280, ISACTIVER = 0x300,
                   ICACTIVER = 0x380, IPRIORITYR = 0x400, ITARGETSR = 0x800, ICFGR = 0xc00,
                   SGIR = 0xf00, CPENDSGIR = 0xf10, SPENDSGIR = 0xf20, PIDR2 = 0xfe8;
constexpr uint64_t C_CTLR = 0x00, C_PMR = 0x04, C_BPR = 0x08, C_IAR = 0x0c, C_EOIR = 0x10,
                   C_RPR = 0x14, C_HPPIR = 0x18, C_IIDR = 0xfc, C_DIR = 0x1000;

struct Gic : HostFixture {
  qvm_vdev *g = nullptr;
  explicit Gic(unsigned ncpu = 2) {
    h.vcpus = ncpu;
    fake::Config c;
    c.options.push_back({"mode", "user"});
    g = make("gic", c);
  }
  ~Gic() {
    h.vcpus = 1;
    h.access_vcpu = 0;
  }
  uint32_t rd(uint64_t a, unsigned cpu = 0, unsigned size = 4) {
    h.access_vcpu = cpu;
    uint64_t v = 0;
    int rc = h.read(g, QVM_SPACE_MEM, a, size, &v);
    REQUIRE(rc == QVM_DONE);
    return uint32_t(v);
  }
  void wr(uint64_t a, uint32_t v, unsigned cpu = 0, unsigned size = 4) {
    h.access_vcpu = cpu;
    REQUIRE(h.write(g, QVM_SPACE_MEM, a, size, v) == QVM_DONE);
  }
  int rd_rc(uint64_t a, unsigned size, unsigned cpu = 0) {
    h.access_vcpu = cpu;
    uint64_t v = 0;
    return h.read(g, QVM_SPACE_MEM, a, size, &v);
  }
  int wr_rc(uint64_t a, unsigned size, uint64_t v, unsigned cpu = 0) {
    h.access_vcpu = cpu;
    return h.write(g, QVM_SPACE_MEM, a, size, v);
  }
  int irq(unsigned cpu) const { return g->cpu_input[cpu][QVM_CPU_IRQ]; }
  int fiq(unsigned cpu) const { return g->cpu_input[cpu][QVM_CPU_FIQ]; }
  void line(unsigned intid, int level) {
    REQUIRE(g->factory->pic->set_line(g, g->state, intid, level) == 0);
  }
  // Distributor and every CPU interface on, PMR open.
  void enable_all() {
    wr(D + CTLR, 1);
    for (unsigned c = 0; c < h.vcpus; c++) {
      wr(C + C_CTLR, 1, c);
      wr(C + C_PMR, 0xff, c);
    }
  }
  // SPI `id`: enabled, priority, targets.
  void spi(unsigned id, uint8_t prio, uint8_t targets) {
    wr(D + IPRIORITYR + id, prio, 0, 1);
    wr(D + ITARGETSR + id, targets, 0, 1);
    wr(D + ISENABLER + (id / 32) * 4, 1u << (id % 32));
  }
};

}  // namespace

TEST_CASE("gic user: identification registers and the FDT node") {
  Gic t(2);
  CHECK(t.g->irqchip_user);
  CHECK(t.g->irqchip_kind == QVM_IRQCHIP_GICV2);
  // 256 interrupt IDs (ITLinesNumber 7), 2 CPUs, no Security Extensions.
  CHECK(t.rd(D + TYPER) == (7u | (1u << 5)));
  CHECK((t.rd(D + IIDR) & 0xfff) == 0x43b);
  CHECK(((t.rd(D + PIDR2) >> 4) & 0xf) == 2);
  CHECK(((t.rd(C + C_IIDR) >> 16) & 0xf) == 2);  // architecture version 2
  // The SGI/PPI target bytes read as the accessing CPU (Linux finds its CPU
  // mask there).
  CHECK(t.rd(D + ITARGETSR) == 0x01010101u);
  CHECK(t.rd(D + ITARGETSR + 0x1c, 1) == 0x02020202u);
  CHECK(t.rd(D + ICFGR) == 0xaaaaaaaau);  // SGIs: edge, read-only
  CHECK(t.rd(C + C_BPR) == 2);
  CHECK(t.rd(C + C_RPR) == 0xff);
  CHECK(t.rd(C + C_IAR) == 1023);  // nothing enabled
  REQUIRE(t.h.gen_fdt(t.g) == 0);
  CHECK(t.g->fdt_compatible == "arm,cortex-a15-gic");
  CHECK(t.h.fdt_prop(t.g, "interrupt-controller") != nullptr);
  // No virtualization extensions: no maintenance interrupt.
  CHECK(t.h.fdt_prop(t.g, "interrupts") == nullptr);
  REQUIRE(t.g->regions.size() == 2);
  CHECK(t.g->regions[0].base == D);
  CHECK(t.g->regions[0].size == 0x1000);
  CHECK(t.g->regions[1].base == C);
  CHECK(t.g->regions[1].size == 0x2000);
}

TEST_CASE("gic user: enable, pend, acknowledge and EOI of a level SPI") {
  Gic t(2);
  t.enable_all();
  t.spi(40, 0xa0, 0x1);
  CHECK(t.rd(D + ISENABLER + 4) == (1u << 8));
  CHECK(t.irq(0) == 0);
  t.line(40, 1);
  CHECK(t.irq(0) == 1);
  CHECK(t.irq(1) == 0);  // not a target
  CHECK(t.rd(D + ISPENDR + 4) == (1u << 8));
  CHECK(t.rd(C + C_HPPIR) == 40);
  CHECK(t.rd(C + C_IAR) == 40);
  CHECK(t.irq(0) == 0);  // active: not signalled again
  CHECK(t.rd(C + C_RPR) == 0xa0);
  CHECK(t.rd(D + ISACTIVER + 4) == (1u << 8));
  CHECK(t.rd(C + C_IAR) == 1023);
  // The line is still high: after EOI the interrupt is pending again.
  t.wr(C + C_EOIR, 40);
  CHECK(t.rd(D + ISACTIVER + 4) == 0);
  CHECK(t.rd(C + C_RPR) == 0xff);
  CHECK(t.irq(0) == 1);
  t.line(40, 0);
  CHECK(t.irq(0) == 0);
  CHECK(t.rd(D + ISPENDR + 4) == 0);
  // Disabled: a high line is pending but not signalled.
  t.wr(D + ICENABLER + 4, 1u << 8);
  CHECK(t.rd(D + ISENABLER + 4) == 0);
  t.line(40, 1);
  CHECK(t.rd(D + ISPENDR + 4) == (1u << 8));
  CHECK(t.irq(0) == 0);
  // The distributor or the CPU interface disabled: nothing is signalled.
  t.wr(D + ISENABLER + 4, 1u << 8);
  CHECK(t.irq(0) == 1);
  t.wr(D + CTLR, 0);
  CHECK(t.irq(0) == 0);
  CHECK(t.rd(C + C_IAR) == 1023);
  t.wr(D + CTLR, 1);
  t.wr(C + C_CTLR, 0);
  CHECK(t.irq(0) == 0);
  // FIQEn: group 0 goes to the FIQ input instead.
  t.wr(C + C_CTLR, 1 | 8);
  CHECK(t.irq(0) == 0);
  CHECK(t.fiq(0) == 1);
  t.wr(C + C_CTLR, 1);
  CHECK(t.fiq(0) == 0);
  CHECK(t.irq(0) == 1);
  // Retargeted to CPU 1.
  t.wr(D + ITARGETSR + 40, 0x2, 0, 1);
  CHECK(t.irq(0) == 0);
  CHECK(t.irq(1) == 1);
  CHECK(t.rd(C + C_IAR, 1) == 40);
  CHECK(t.rd(C + C_IAR, 0) == 1023);
}

TEST_CASE("gic user: priorities, PMR masking and preemption") {
  Gic t(1);
  t.enable_all();
  t.spi(33, 0x80, 1);
  t.spi(34, 0x40, 1);
  t.wr(C + C_PMR, 0x60);
  CHECK(t.rd(C + C_PMR) == 0x60);
  t.line(33, 1);
  CHECK(t.irq(0) == 0);  // 0x80 is masked by PMR 0x60
  CHECK(t.rd(C + C_IAR) == 1023);
  CHECK(t.rd(C + C_HPPIR) == 33);  // pending regardless of the mask
  t.line(34, 1);
  CHECK(t.irq(0) == 1);
  CHECK(t.rd(C + C_IAR) == 34);
  t.wr(C + C_PMR, 0xff);
  // 33 (0x80) does not preempt the running 0x40.
  CHECK(t.irq(0) == 0);
  CHECK(t.rd(C + C_IAR) == 1023);
  // A higher priority one preempts.
  t.spi(35, 0x20, 1);
  t.line(35, 1);
  CHECK(t.irq(0) == 1);
  CHECK(t.rd(C + C_IAR) == 35);
  CHECK(t.rd(C + C_RPR) == 0x20);
  t.line(35, 0);
  t.wr(C + C_EOIR, 35);
  CHECK(t.rd(C + C_RPR) == 0x40);
  t.line(34, 0);
  t.wr(C + C_EOIR, 34);
  CHECK(t.rd(C + C_RPR) == 0xff);
  CHECK(t.irq(0) == 1);
  CHECK(t.rd(C + C_IAR) == 33);
  t.wr(C + C_EOIR, 33);
  // PMR 0 masks everything.
  t.wr(C + C_PMR, 0);
  CHECK(t.irq(0) == 0);
  CHECK(t.rd(C + C_IAR) == 1023);
  // Equal priorities: the lowest ID wins. Priorities keep 5 bits.
  t.wr(C + C_PMR, 0xff);
  t.line(33, 0);
  t.spi(50, 0x87, 1);
  t.spi(49, 0x80, 1);
  CHECK(t.rd(D + IPRIORITYR + 50, 0, 1) == 0x80);
  CHECK(t.rd(D + IPRIORITYR + 48) == 0x00808000u);
  t.line(50, 1);
  t.line(49, 1);
  CHECK(t.rd(C + C_IAR) == 49);
  // BPR 7 (no group priority bits): nothing preempts.
  t.wr(C + C_EOIR, 49);
  t.line(49, 0);
  t.wr(C + C_BPR, 7);
  CHECK(t.rd(C + C_IAR) == 50);
  t.spi(36, 0x00, 1);
  t.line(36, 1);
  CHECK(t.irq(0) == 0);
  t.wr(C + C_EOIR, 50);
  CHECK(t.irq(0) == 1);
  CHECK(t.rd(C + C_IAR) == 36);
}

TEST_CASE("gic user: SGIs to a target list, all-but-self and self") {
  Gic t(4);
  t.enable_all();
  for (unsigned c = 0; c < 4; c++) t.wr(D + ISENABLER, 0xffff, c);  // banked
  // List: CPUs 1 and 3 (bit 5 is beyond the 4 CPUs: ignored).
  t.wr(D + SGIR, (0u << 24) | (0x2au << 16) | 5, 0);
  CHECK(t.irq(0) == 0);
  CHECK(t.irq(1) == 1);
  CHECK(t.irq(2) == 0);
  CHECK(t.irq(3) == 1);
  CHECK(t.rd(D + SPENDSGIR + 4, 1) == 0x00000100u);  // SGI 5 from CPU 0
  CHECK(t.rd(C + C_IAR, 1) == 5);  // source CPU 0 in bits 12:10
  t.wr(C + C_EOIR, 5, 1);
  CHECK(t.irq(1) == 0);
  // All but self, from CPU 2: CPU ID 2 in IAR.
  t.wr(D + SGIR, (1u << 24) | 7, 2);
  CHECK(t.irq(2) == 0);
  CHECK(t.irq(0) == 1);
  CHECK(t.irq(1) == 1);
  CHECK(t.rd(C + C_IAR, 0) == (7u | (2u << 10)));
  t.wr(C + C_EOIR, 7u | (2u << 10), 0);
  CHECK(t.rd(C + C_IAR, 1) == (7u | (2u << 10)));
  t.wr(C + C_EOIR, 7u | (2u << 10), 1);
  CHECK(t.irq(1) == 0);
  // Self.
  t.wr(D + SGIR, (2u << 24) | 1, 0);
  CHECK(t.rd(C + C_HPPIR, 0) == 1);
  CHECK(t.rd(C + C_IAR, 0) == 1);
  t.wr(C + C_EOIR, 1, 0);
  // The reserved filter does nothing.
  t.wr(D + SGIR, (3u << 24) | (0xffu << 16) | 2, 0);
  CHECK(t.rd(D + SPENDSGIR, 0) == 0);
  // Two sources pend SGI 9 on CPU 3 (which still has SGI 5 from CPU 0 and
  // SGI 7 from CPU 2); equal priorities go lowest ID first, and each
  // acknowledge of SGI 9 takes one source.
  t.wr(D + SGIR, (0x8u << 16) | 9, 0);
  t.wr(D + SGIR, (0x8u << 16) | 9, 1);
  CHECK(t.rd(D + SPENDSGIR + 8, 3) == 0x0300u);
  CHECK(t.rd(C + C_IAR, 3) == 5);
  t.wr(C + C_EOIR, 5, 3);
  CHECK(t.rd(C + C_IAR, 3) == (7u | (2u << 10)));
  t.wr(C + C_EOIR, 7u | (2u << 10), 3);
  CHECK(t.rd(C + C_IAR, 3) == 9);
  CHECK(t.rd(C + C_IAR, 3) == 1023);  // SGI 9 is active: its other source waits
  t.wr(C + C_EOIR, 9, 3);
  CHECK(t.rd(C + C_IAR, 3) == (9u | (1u << 10)));
  t.wr(C + C_EOIR, 9u | (1u << 10), 3);
  CHECK(t.rd(C + C_IAR, 3) == 1023);
  // SPENDSGIR/CPENDSGIR by hand (byte writes).
  t.wr(D + SPENDSGIR + 4, 0x01, 2, 1);  // SGI 4 from CPU 0
  CHECK(t.irq(2) == 1);
  t.wr(D + CPENDSGIR + 4, 0x01, 2, 1);
  CHECK(t.irq(2) == 0);
  // ISPENDR does not pend SGIs (SPENDSGIR does); a disabled SGI waits.
  t.wr(D + ISPENDR, 0x1, 0);
  CHECK(t.rd(D + ISPENDR, 0) == 0);
  t.wr(D + ICENABLER, 1u << 6, 1);
  t.wr(D + SGIR, (0x2u << 16) | 6, 0);
  CHECK(t.irq(1) == 0);
  t.wr(D + ISENABLER, 1u << 6, 1);
  CHECK(t.irq(1) == 1);
}

TEST_CASE("gic user: level-sensitive and edge-triggered SPIs") {
  Gic t(1);
  t.enable_all();
  t.spi(41, 0xa0, 1);
  t.spi(42, 0xa0, 1);
  // 41 edge-triggered (ICFGR2, field 9).
  t.wr(D + ICFGR + 8, 2u << 18);
  CHECK(t.rd(D + ICFGR + 8) == (2u << 18));
  t.line(41, 1);
  t.line(41, 0);
  CHECK(t.irq(0) == 1);  // latched
  CHECK(t.rd(C + C_IAR) == 41);
  t.wr(C + C_EOIR, 41);
  CHECK(t.irq(0) == 0);  // one edge, one interrupt
  // Held high: still only one interrupt.
  t.line(41, 1);
  CHECK(t.rd(C + C_IAR) == 41);
  t.wr(C + C_EOIR, 41);
  CHECK(t.irq(0) == 0);
  t.line(41, 0);
  // Level: a pulse that ends before the acknowledge leaves nothing pending.
  t.line(42, 1);
  CHECK(t.irq(0) == 1);
  t.line(42, 0);
  CHECK(t.irq(0) == 0);
  CHECK(t.rd(C + C_IAR) == 1023);
  // ICPENDR cannot clear a level interrupt whose line is high.
  t.line(42, 1);
  t.wr(D + ICPENDR + 4, 1u << 10);
  CHECK(t.rd(D + ISPENDR + 4) == (1u << 10));
  t.line(42, 0);
  // ISPENDR latches a level one until acknowledged, ICPENDR clears it.
  t.wr(D + ISPENDR + 4, 1u << 10);
  CHECK(t.irq(0) == 1);
  t.wr(D + ICPENDR + 4, 1u << 10);
  CHECK(t.irq(0) == 0);
  // ISACTIVER / ICACTIVER.
  t.wr(D + ISPENDR + 4, 1u << 10);
  t.wr(D + ISACTIVER + 4, 1u << 10);
  CHECK(t.irq(0) == 0);
  t.wr(D + ICACTIVER + 4, 1u << 10);
  CHECK(t.irq(0) == 1);
  // EOImode 1: EOIR drops the priority, DIR deactivates.
  t.wr(C + C_CTLR, 1u | (1u << 9));
  CHECK(t.rd(C + C_IAR) == 42);
  t.wr(C + C_EOIR, 42);
  CHECK(t.rd(C + C_RPR) == 0xff);
  CHECK(t.rd(D + ISACTIVER + 4) == (1u << 10));
  t.wr(C + C_DIR, 42);
  CHECK(t.rd(D + ISACTIVER + 4) == 0);
}

TEST_CASE("gic user: the timer PPIs come from the vCPU outputs") {
  Gic t(2);
  t.enable_all();
  // PPI 27 (virtual timer) enabled on CPU 1 only, PPI 30 on both.
  t.wr(D + ISENABLER, (1u << 27) | (1u << 30), 1);
  t.wr(D + ISENABLER, 1u << 30, 0);
  t.wr(D + IPRIORITYR + 24, 0xa0u << 24, 1);
  t.h.vcpu_outputs(t.g, 1, QVM_VCPU_OUT_VTIMER);
  CHECK(t.irq(1) == 1);
  CHECK(t.irq(0) == 0);
  CHECK(t.rd(D + ISPENDR, 1) == (1u << 27));
  CHECK(t.rd(D + ISPENDR, 0) == 0);  // banked
  CHECK(t.rd(C + C_IAR, 1) == 27);
  // The guest reprograms the timer: the level drops before the EOI.
  t.h.vcpu_outputs(t.g, 1, 0);
  t.wr(C + C_EOIR, 27, 1);
  CHECK(t.irq(1) == 0);
  // Physical timer on CPU 0.
  t.h.vcpu_outputs(t.g, 0, QVM_VCPU_OUT_PTIMER);
  CHECK(t.irq(0) == 1);
  CHECK(t.rd(C + C_IAR, 0) == 30);
  // An output of a vCPU that does not exist is ignored.
  t.h.vcpu_outputs(t.g, 7, QVM_VCPU_OUT_VTIMER);
  CHECK(t.rd(D + ISPENDR, 1) == 0);
}

TEST_CASE("gic user: hostile offsets, widths and values") {
  Gic t(2);
  t.enable_all();
  // 64-bit and 16-bit accesses, misaligned words, byte accesses to word-only
  // registers: bus errors.
  CHECK(t.rd_rc(D + CTLR, 8) == QVM_BUS_ERROR);
  CHECK(t.wr_rc(D + CTLR, 8, 1) == QVM_BUS_ERROR);
  CHECK(t.rd_rc(D + CTLR, 2) == QVM_BUS_ERROR);
  CHECK(t.rd_rc(D + TYPER + 1, 4) == QVM_BUS_ERROR);
  CHECK(t.rd_rc(D + CTLR, 1) == QVM_BUS_ERROR);
  CHECK(t.wr_rc(D + ISENABLER, 1, 0xff) == QVM_BUS_ERROR);
  CHECK(t.rd_rc(C + C_IAR, 1) == QVM_BUS_ERROR);
  CHECK(t.rd_rc(C + C_IAR, 8) == QVM_BUS_ERROR);
  CHECK(t.wr_rc(C + C_EOIR + 2, 4, 0) == QVM_BUS_ERROR);
  // An accessing vCPU the GIC does not have.
  CHECK(t.rd_rc(D + TYPER, 4, 5) == QVM_BUS_ERROR);
  CHECK(t.rd_rc(C + C_IAR, 4, 7) == QVM_BUS_ERROR);
  // Reserved space and registers beyond 256 IDs: RAZ/WI.
  for (uint64_t off = 0; off < 0x1000; off += 4) {
    bool reserved = (off >= 0x00c && off < 0x080) || (off >= 0x120 && off < 0x180) ||
                    (off >= 0x500 && off < 0x800) || (off >= 0x900 && off < 0xc00) ||
                    (off >= 0xc40 && off < 0xf00) || (off >= 0xf30 && off < 0xfd0);
    if (!reserved) continue;
    REQUIRE(t.wr_rc(D + off, 4, 0xffffffffu) == QVM_DONE);
    REQUIRE(t.rd(D + off) == 0);
  }
  for (uint64_t off = 0x100; off < 0x2000; off += 4) {
    if (off == C_IIDR || off == C_DIR) continue;
    REQUIRE(t.wr_rc(C + off, 4, 0xffffffffu) == QVM_DONE);
  }
  CHECK(t.rd(C + C_IIDR) != 0);
  // Read-only registers ignore writes.
  t.wr(D + TYPER, 0);
  CHECK(t.rd(D + TYPER) == (7u | (1u << 5)));
  t.wr(D + ICFGR, 0);
  CHECK(t.rd(D + ICFGR) == 0xaaaaaaaau);
  t.wr(D + ITARGETSR, 0xffffffffu);
  CHECK(t.rd(D + ITARGETSR) == 0x01010101u);
  // SPI targets keep only existing CPUs.
  t.wr(D + ITARGETSR + 64, 0xffffffffu);
  CHECK(t.rd(D + ITARGETSR + 64) == 0x03030303u);
  // SPENDSGIR sources keep only existing CPUs.
  t.wr(D + SPENDSGIR, 0xffffffffu);
  CHECK(t.rd(D + SPENDSGIR) == 0x03030303u);
  t.wr(D + CPENDSGIR, 0xffffffffu);
  CHECK(t.rd(D + SPENDSGIR) == 0);
  // EOIs of spurious, out-of-range and inactive IDs change nothing.
  t.spi(40, 0xa0, 1);
  t.line(40, 1);
  CHECK(t.rd(C + C_IAR) == 40);
  for (uint32_t v : {1023u, 1022u, 0x3ffu, 300u, 0xffffffffu, 41u, 0u})
    t.wr(C + C_EOIR, v);
  CHECK(t.rd(C + C_RPR) == 0xa0);
  CHECK(t.rd(D + ISACTIVER + 4) == (1u << 8));
  t.wr(C + C_DIR, 40);  // EOImode 0: DIR does nothing
  CHECK(t.rd(D + ISACTIVER + 4) == (1u << 8));
  t.wr(C + C_EOIR, 40);
  CHECK(t.rd(C + C_RPR) == 0xff);
  // Acknowledging forever: bounded by the active-priority stack.
  for (unsigned id = 32; id < 256; id++) {
    t.wr(D + IPRIORITYR + id, 0xf8u - (id % 32) * 8, 0, 1);
    t.wr(D + ITARGETSR + id, 1, 0, 1);
  }
  for (unsigned w = 1; w < 8; w++) {
    t.wr(D + ISENABLER + w * 4, 0xffffffffu);
    t.wr(D + ISPENDR + w * 4, 0xffffffffu);
  }
  unsigned acked = 0;
  for (int i = 0; i < 1000; i++)
    if (t.rd(C + C_IAR) != 1023) acked++;
  CHECK(acked >= 1);
  CHECK(acked <= 33);
  // Every SGIR value is harmless.
  for (uint32_t v : {0xffffffffu, 0x03ff000fu, 0x01000000u, 0x00ff000fu}) t.wr(D + SGIR, v, 1);
  // Bad lines from devices.
  CHECK(t.g->factory->pic->set_line(t.g, t.g->state, 5, 1) == -EINVAL);
  CHECK(t.g->factory->pic->set_line(t.g, t.g->state, 256, 1) == -EINVAL);
  CHECK(t.g->factory->pic->set_line(t.g, t.g->state, 0xffffffffu, 1) == -EINVAL);
}

TEST_CASE("gic user: configuration checks") {
  HostFixture f;
  fake::Config c;
  c.options.push_back({"mode", "user"});
  c.options.push_back({"version", "3"});
  CHECK(f.h.create("gic", c) == nullptr);
  fake::Config bad;
  bad.options.push_back({"mode", "sometimes"});
  CHECK(f.h.create("gic", bad) == nullptr);
  fake::Config u;
  u.options.push_back({"mode", "user"});
  f.h.vcpus = 9;
  CHECK(f.h.create("gic", u) == nullptr);
  f.h.vcpus = 1;
  f.h.user_irqchip_supported = false;
  CHECK(f.h.create("gic", u) == nullptr);
  CHECK(f.h.last_rc == -ENOTSUP);
  f.h.user_irqchip_supported = true;
  // Kernel mode still asks for the in-kernel model; user mode does not.
  qvm_vdev *k = f.h.create("gic", {});
  REQUIRE(k != nullptr);
  CHECK(k->irqchip_kind == QVM_IRQCHIP_GICV3);
  CHECK_FALSE(k->irqchip_user);
  uint64_t v = 0;
  CHECK(f.h.read(k, QVM_SPACE_MEM, 0x2f000000, 4, &v) == QVM_BUS_ERROR);
  f.h.reset();
  fake::Config u2;
  u2.options.push_back({"mode", "user"});
  u2.options.push_back({"version", "2"});
  u2.options.push_back({"gicd", "0x2f000000"});
  u2.options.push_back({"gicc", "0x2f100000"});
  qvm_vdev *g = f.h.create("gic", u2);
  REQUIRE(g != nullptr);
  CHECK(g->regions[0].base == 0x2f000000);
  CHECK(g->regions[1].base == 0x2f100000);
  // Reset restores the power-on state but keeps device lines.
  f.h.vcpus = 1;
  uint64_t one = 1;
  REQUIRE(f.h.write(g, QVM_SPACE_MEM, 0x2f000000, 4, one) == QVM_DONE);
  REQUIRE(g->factory->pic->set_line(g, g->state, 40, 1) == 0);
  REQUIRE(f.h.control(g, QVM_CTRL_RESET) == 0);
  REQUIRE(f.h.read(g, QVM_SPACE_MEM, 0x2f000000, 4, &v) == QVM_DONE);
  CHECK(v == 0);
  REQUIRE(f.h.read(g, QVM_SPACE_MEM, 0x2f000204, 4, &v) == QVM_DONE);
  CHECK(v == (1u << 8));  // still pending: the line is high
}
