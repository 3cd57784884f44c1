// gic in its in-kernel mode (the accelerator models the GIC: ABI 1.2
// qvm_irqchip_accel/line): regions, SPI forwarding, re-drive at reset and
// the FDT node, through the fake host. (The user-space GICv2 has its own
// tests.)
#include <fcntl.h>

#include <string>

#include "helpers.h"

namespace {

std::string be32(uint32_t v) {
  return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

std::string cells(std::initializer_list<uint32_t> c) {
  std::string s;
  for (uint32_t v : c) s += be32(v);
  return s;
}

}  // namespace

TEST_CASE_METHOD(HostFixture, "gic (in-kernel): GICv3 regions and FDT node", "[gic][fdt]") {
  qvm_vdev *g = make("gic");
  REQUIRE(g->regions.size() == 2);
  CHECK(g->regions[0].base == 0x2f000000);
  CHECK(g->regions[0].size == 0x10000);
  CHECK(g->regions[1].base == 0x2f100000);
  CHECK(g->regions[1].size == 0x20000ull * 64);
  CHECK(g->irqchip_kind == QVM_IRQCHIP_GICV3);
  CHECK(g->irqchip_nirqs >= 64);
  CHECK(g->irqchip_nirqs % 32 == 0);
  REQUIRE(h.gen_fdt(g) == 0);
  CHECK(g->fdt_name == "interrupt-controller");
  CHECK(g->fdt_compatible == "arm,gic-v3");
  const std::string *p = h.fdt_prop(g, "#interrupt-cells");
  REQUIRE(p);
  CHECK(*p == be32(3));
  p = h.fdt_prop(g, "interrupt-controller");
  REQUIRE(p);
  CHECK(p->empty());
  p = h.fdt_prop(g, "#address-cells");
  REQUIRE(p);
  CHECK(*p == be32(2));
  p = h.fdt_prop(g, "#size-cells");
  REQUIRE(p);
  CHECK(*p == be32(2));
  p = h.fdt_prop(g, "ranges");
  REQUIRE(p);
  CHECK(p->empty());
  p = h.fdt_prop(g, "interrupts");  // maintenance interrupt: PPI 9, level
  REQUIRE(p);
  CHECK(*p == cells({1, 9, 4}));
  // `reg` comes from the regions (qvm adds it).
  CHECK(h.fdt_prop(g, "reg") == nullptr);
}

TEST_CASE_METHOD(HostFixture, "gic (in-kernel): GICv2 regions and FDT node", "[gic][fdt]") {
  fake::Config c;
  c.options.push_back({"version", "2"});
  qvm_vdev *g = make("gic", c);
  REQUIRE(g->regions.size() == 2);
  CHECK(g->regions[0].base == 0x2c001000);
  CHECK(g->regions[0].size == 0x1000);
  CHECK(g->regions[1].base == 0x2c002000);
  CHECK(g->regions[1].size == 0x2000);
  CHECK(g->irqchip_kind == QVM_IRQCHIP_GICV2);
  REQUIRE(h.gen_fdt(g) == 0);
  CHECK(g->fdt_name == "interrupt-controller");
  CHECK(g->fdt_compatible == "arm,cortex-a15-gic");
  const std::string *p = h.fdt_prop(g, "#interrupt-cells");
  REQUIRE(p);
  CHECK(*p == be32(3));
  CHECK(h.fdt_prop(g, "interrupt-controller") != nullptr);
}

TEST_CASE_METHOD(HostFixture, "gic (in-kernel): SPIs forwarded, held lines re-driven at reset",
                 "[gic]") {
  qvm_vdev *g = make("gic");
  // A device on gic:37 (the pl011's default) drives the kernel's SPI.
  h.hostdevs[">-"] = open("/dev/null", O_WRONLY | O_CLOEXEC);
  qvm_vdev *u = make("pl011");
  REQUIRE(u->intrs.size() == 1);
  g->irqchip_lines.clear();
  qvm_intr_set(u, 0, 1);
  REQUIRE(g->irqchip_lines.size() == 1);
  CHECK(g->irqchip_lines[0] == std::make_pair(37u, 1));
  const qvm_pic_ops *pic = g->factory->pic;
  REQUIRE(pic);
  CHECK(pic->set_line(g, g->state, 40, 1) == 0);
  CHECK(pic->set_line(g, g->state, 40, 0) == 0);
  // SGIs/PPIs are no device inputs; past the last line neither.
  CHECK(pic->set_line(g, g->state, 5, 1) < 0);
  CHECK(pic->set_line(g, g->state, 31, 1) < 0);
  CHECK(pic->set_line(g, g->state, pic->line_count(g, g->state), 1) < 0);
  CHECK(pic->set_line(g, g->state, 0xffffffffu, 1) < 0);
  // No guest yet (-EAGAIN from the host) is not an error for the device.
  h.irqchip_line_rc = -EAGAIN;
  CHECK(pic->set_line(g, g->state, 41, 1) == 0);
  h.irqchip_line_rc = 0;
  // Reset re-drives exactly the lines held high (37 and 41).
  g->irqchip_lines.clear();
  REQUIRE(h.control(g, QVM_CTRL_RESET) == 0);
  CHECK(g->irqchip_lines == std::vector<std::pair<unsigned, int>>{{37, 1}, {41, 1}});
}

TEST_CASE_METHOD(HostFixture, "gic (in-kernel): bad options are refused", "[gic]") {
  for (auto opt : std::vector<std::pair<std::string, std::string>>{
           {"version", "4"}, {"version", ""}, {"gicd", "0x2f000800"}, {"gicr", "zz"},
           {"gicd", "-"}}) {
    fake::Config c;
    c.options.push_back(opt);
    CHECK(h.create("gic", c) == nullptr);
  }
  fake::Config v3c;
  v3c.options.push_back({"gicc", "0x2c002000"});  // v3 has no memory-mapped CPU interface
  CHECK(h.create("gic", v3c) == nullptr);
}
