// Host side of the typed ACPI contributions (ABI 1.4, vmm/vdev_describe.cc):
// only inside QVM_CTRL_GEN_ACPI, descriptions checked, one of each kind.
#include <catch2/catch.hpp>

#include <cerrno>

#include "test/unit/fake_vdev_host.h"

namespace {

const qvm_factory kFactory = qvm::test::TestFactory("test-acpi", QVM_VDEVF_SPACE_IO, QVM_ACCESS_1);

qvm_acpi_pm Pm(uint16_t base) {
  qvm_acpi_pm pm{};
  pm.struct_size = sizeof pm;
  pm.pm1a_evt = base;
  pm.pm1a_cnt = uint16_t(base + 4);
  pm.pm_tmr = uint16_t(base + 8);
  pm.reset = uint16_t(base + 12);
  pm.reset_value = 1;
  return pm;
}

}  // namespace

TEST_CASE("typed ACPI contributions: only in GEN_ACPI, checked, once per kind") {
  qvm::test::FakeVdevHost h;
  qvm_vdev dev(&h, &kFactory, qvm::VdevSpec{}, "plat");
  qvm_acpi_pm pm = Pm(0x600);
  CHECK(qvm_acpi_pm_block(&dev, &pm) == -ENOTSUP);  // window closed
  CHECK(qvm_acpi_legacy(&dev, QVM_ACPI_LEGACY_8259) == -ENOTSUP);
  dev.describe.acpi_open = true;
  CHECK(qvm_acpi_pm_block(nullptr, &pm) == -EINVAL);
  CHECK(qvm_acpi_pm_block(&dev, nullptr) == -EINVAL);
  qvm_acpi_pm small = pm;
  small.struct_size = sizeof(size_t);
  CHECK(qvm_acpi_pm_block(&dev, &small) == -EINVAL);
  qvm_acpi_pm high = Pm(0xfffe);  // the event block would pass port 0xffff
  CHECK(qvm_acpi_pm_block(&dev, &high) == -EINVAL);
  REQUIRE(qvm_acpi_pm_block(&dev, &pm) == 0);
  CHECK(qvm_acpi_pm_block(&dev, &pm) == -EEXIST);
  REQUIRE(dev.describe.acpi.pm.has_value());
  CHECK(dev.describe.acpi.pm->pm_tmr == 0x608);

  CHECK(qvm_acpi_hpet(&dev, 0xfed00100, 1) == -EINVAL);     // not 1 KiB aligned
  CHECK(qvm_acpi_hpet(&dev, 1ull << 32, 1) == -EINVAL);     // above 4 GiB
  REQUIRE(qvm_acpi_hpet(&dev, 0xfed00000, 0x8086a201) == 0);
  CHECK(qvm_acpi_hpet(&dev, 0xfed00000, 0x8086a201) == -EEXIST);
  CHECK(dev.describe.acpi.hpet->block_id == 0x8086a201u);

  CHECK(qvm_acpi_ioapic(&dev, 0xfec00010, 0) == -EINVAL);
  CHECK(qvm_acpi_ioapic(&dev, 0xfec00000, 256) == -EINVAL);
  REQUIRE(qvm_acpi_ioapic(&dev, 0xfec00000, 0) == 0);

  CHECK(qvm_acpi_legacy(&dev, 0) == -EINVAL);
  CHECK(qvm_acpi_legacy(&dev, 0x80) == -EINVAL);
  REQUIRE(qvm_acpi_legacy(&dev, QVM_ACPI_LEGACY_8259) == 0);
  REQUIRE(qvm_acpi_legacy(&dev, QVM_ACPI_LEGACY_RTC) == 0);
  CHECK(dev.describe.acpi.legacy == (QVM_ACPI_LEGACY_8259 | QVM_ACPI_LEGACY_RTC));
}

TEST_CASE("typed ACPI contributions: a PCI host's windows and routing are checked") {
  qvm::test::FakeVdevHost h;
  qvm_vdev dev(&h, &kFactory, qvm::VdevSpec{}, "pci");
  dev.describe.acpi_open = true;
  qvm_acpi_pci pci{};
  pci.struct_size = sizeof pci;
  pci.ecam_base = 0xe0000000;
  pci.bus_end = 255;
  pci.mem_base = 0xc0000000;
  pci.mem_size = 0x20000000;
  for (unsigned d = 0; d < 32; d++)
    for (unsigned p = 0; p < 4; p++) pci.intx_gsi[d][p] = 16 + ((d + p) & 3);
  qvm_acpi_pci bad = pci;
  bad.mem_size = 0;
  CHECK(qvm_acpi_pci_host(&dev, &bad) == -EINVAL);
  bad = pci;
  bad.mem_base = ~0ull;  // the window would wrap
  CHECK(qvm_acpi_pci_host(&dev, &bad) == -EINVAL);
  bad = pci;
  bad.ecam_base = 0xe0001000;  // ECAM is 1 MiB per bus
  CHECK(qvm_acpi_pci_host(&dev, &bad) == -EINVAL);
  bad = pci;
  bad.intx_gsi[3][1] = 1000;
  CHECK(qvm_acpi_pci_host(&dev, &bad) == -EINVAL);
  REQUIRE(qvm_acpi_pci_host(&dev, &pci) == 0);
  CHECK(qvm_acpi_pci_host(&dev, &pci) == -EEXIST);
  CHECK(dev.describe.acpi.pci_host->intx_gsi[5][2] == 16u + ((5 + 2) & 3));
}
