// ABI 1.3 host side of a user-space interrupt controller: qvm_irqchip_user
// and qvm_vcpu_irq (vmm/vdev_host.cc) against a VdevHost that records what
// reaches the VM.
#include <catch2/catch.hpp>

#include <cerrno>
#include <tuple>

#include "vmm/vdev_host.h"

namespace {

int Control(qvm_vdev_t*, void*, unsigned, int, const char*) { return 0; }

const qvm_factory kFactory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(qvm_factory),
    .name = "test-pic",
    .description = "test",
    .flags = QVM_VDEVF_SPACE_MEM,
    .access_sizes = QVM_ACCESS_4,
    .options = nullptr,
    .state_size = 8,
    .control = Control,
    .read = nullptr,
    .write = nullptr,
    .pic = nullptr,
    .version = nullptr,
};

void Outputs(qvm_vdev_t*, void*, unsigned, uint32_t) {}

class Host : public qvm::VdevHost {
 public:
  qvm::GuestMemory& memory() override { return mem_; }
  qvm::Bus* bus(uint32_t) override { return nullptr; }
  qvm_vdev* find_device(const std::string&) override { return nullptr; }
  qvm::EventLoop& events() override { return loop_; }
  int signal_msi(uint64_t, uint32_t) override { return -ENOTSUP; }
  int set_msi_route(unsigned, uint64_t, uint32_t, bool) override { return -ENOTSUP; }
  int cpu_extint(qvm_vdev*, bool) override { return -ENOTSUP; }
  void request_power(int) override {}
  void request_exit(int) override {}
  bool guest_running() const override { return running; }
  const std::string& system_name() const override { return name_; }
  bool irqchip_supported(unsigned) const override { return true; }
  bool user_irqchip_supported(unsigned kind) const override {
    return user_ok && kind == QVM_IRQCHIP_GICV2;
  }
  int vcpu_irq(unsigned vcpu, unsigned input, bool level) override {
    calls.emplace_back(vcpu, input, level);
    return 0;
  }
  std::vector<qvm_vdev*> all_devices() override { return devs; }

  bool running = false, user_ok = true;
  std::vector<std::tuple<unsigned, unsigned, bool>> calls;
  std::vector<qvm_vdev*> devs;

 private:
  qvm::GuestMemory mem_;
  qvm::EventLoop loop_;
  std::string name_ = "t";
};

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
  CHECK(g->irqchip_user);
  CHECK(g->irqchip_kind == QVM_IRQCHIP_GICV2);
  CHECK(g->vcpu_outputs_fn == &Outputs);
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
