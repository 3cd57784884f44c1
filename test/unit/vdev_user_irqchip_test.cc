// ABI 1.3 host side of a user-space interrupt controller: qvm_irqchip_user
// and qvm_vcpu_irq (vmm/vdev_irqchip.cc) against a VdevHost that records what
// reaches the VM.
#include <catch2/catch.hpp>

#include <cerrno>
#include <tuple>

#include "test/unit/fake_vdev_host.h"

namespace {

const qvm_factory kFactory = qvm::test::TestFactory("test-pic", QVM_VDEVF_SPACE_MEM, QVM_ACCESS_4);

void Outputs(qvm_vdev_t*, void*, unsigned, uint32_t) {}

using Host = qvm::test::FakeVdevHost;

std::unique_ptr<qvm_vdev> Make(Host& h, const char* name, unsigned nregions) {
  auto d = std::make_unique<qvm_vdev>(&h, &kFactory, qvm::VdevSpec{}, name);
  for (unsigned i = 0; i < nregions; i++) d->regions.push_back({QVM_SPACE_MEM, 0x1000u * i, 0x1000});
  h.devs.push_back(d.get());
  return d;
}

}  // namespace

TEST_CASE("vdev host: qvm_irqchip_user claims the machine's controller") {
  Host h;
  auto one = Make(h, "one", 1);
  CHECK(qvm_irqchip_user(one.get(), QVM_IRQCHIP_GICV2, Outputs) == -EINVAL);  // 1 region
  auto g = Make(h, "gic", 2);
  CHECK(qvm_irqchip_user(nullptr, QVM_IRQCHIP_GICV2, Outputs) == -EINVAL);
  CHECK(qvm_irqchip_user(g.get(), 77, Outputs) == -EINVAL);
  CHECK(qvm_irqchip_user(g.get(), QVM_IRQCHIP_GICV3, Outputs) == -ENOTSUP);
  h.user_ok = false;
  CHECK(qvm_irqchip_user(g.get(), QVM_IRQCHIP_GICV2, Outputs) == -ENOTSUP);
  h.user_ok = true;
  h.running = true;
  CHECK(qvm_irqchip_user(g.get(), QVM_IRQCHIP_GICV2, Outputs) == -EBUSY);
  h.running = false;
  // Not yet claimed: no vCPU inputs.
  CHECK(qvm_vcpu_irq(g.get(), 0, QVM_CPU_IRQ, 1) == -EPERM);
  REQUIRE(qvm_irqchip_user(g.get(), QVM_IRQCHIP_GICV2, Outputs) == 0);
  CHECK(g->irqchip.user);
  CHECK(g->irqchip.kind == QVM_IRQCHIP_GICV2);
  CHECK(g->irqchip.outputs == &Outputs);
  CHECK(qvm_irqchip_user(g.get(), QVM_IRQCHIP_GICV2, Outputs) == -EEXIST);
  // A second controller, user or accelerated, is refused.
  auto other = Make(h, "other", 2);
  CHECK(qvm_irqchip_user(other.get(), QVM_IRQCHIP_GICV2, nullptr) == -EEXIST);
  CHECK(qvm_irqchip_accel(other.get(), QVM_IRQCHIP_GICV3, 256) == -EEXIST);
  // The in-kernel line service is not for a user controller.
  CHECK(qvm_irqchip_line(g.get(), 40, 1) == -ENOTSUP);
  // vCPU inputs reach the host; other devices and bad inputs do not.
  CHECK(qvm_vcpu_irq(g.get(), 1, QVM_CPU_IRQ, 5) == 0);
  CHECK(qvm_vcpu_irq(g.get(), 0, QVM_CPU_FIQ, 0) == 0);
  CHECK(qvm_vcpu_irq(g.get(), 0, 2, 1) == -EINVAL);
  CHECK(qvm_vcpu_irq(other.get(), 0, QVM_CPU_IRQ, 1) == -EPERM);
  CHECK(qvm_vcpu_irq(nullptr, 0, QVM_CPU_IRQ, 1) == -EINVAL);
  REQUIRE(h.calls.size() == 2);
  CHECK(h.calls[0] == std::make_tuple(1u, unsigned(QVM_CPU_IRQ), true));
  CHECK(h.calls[1] == std::make_tuple(0u, unsigned(QVM_CPU_FIQ), false));
}

TEST_CASE("vdev host: an accelerated controller excludes a user one") {
  Host h;
  auto a = Make(h, "a", 2);
  auto b = Make(h, "b", 2);
  REQUIRE(qvm_irqchip_accel(a.get(), QVM_IRQCHIP_GICV2, 256) == 0);
  CHECK(qvm_irqchip_user(b.get(), QVM_IRQCHIP_GICV2, Outputs) == -EEXIST);
  CHECK(qvm_irqchip_user(a.get(), QVM_IRQCHIP_GICV2, Outputs) == -EEXIST);
  CHECK(qvm_vcpu_irq(a.get(), 0, QVM_CPU_IRQ, 1) == -EPERM);
}
