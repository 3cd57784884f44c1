// Typed ACPI contributions (ABI 1.4): each x86 platform device says in
// QVM_CTRL_GEN_ACPI what it is, with its own layout; the machine knows no
// device by name.
#include "helpers.h"

TEST_CASE_METHOD(HostFixture, "acpi-pm: its PM block in its own layout, at its port", "[acpi]") {
  qvm_vdev *pm = make("acpi-pm", cfg_loc(QVM_SPACE_IO, 0xb000));
  REQUIRE(h.control(pm, QVM_CTRL_GEN_ACPI) == 0);
  REQUIRE(pm->acpi_pm.has_value());
  CHECK(pm->acpi_pm->pm1a_evt == 0xb000);
  CHECK(pm->acpi_pm->pm1a_cnt == 0xb004);
  CHECK(pm->acpi_pm->pm_tmr == 0xb008);
  CHECK(pm->acpi_pm->reset == 0xb00c);
  CHECK(pm->acpi_pm->reset_value == 0x01);
  CHECK(pm->acpi_hid.empty());
}

TEST_CASE_METHOD(HostFixture, "ioapic, 8259, pckeyboard, mc146818: MADT and legacy presence", "[acpi]") {
  qvm_vdev *io = make("ioapic");
  qvm_vdev *pic = make("8259");
  qvm_vdev *kbc = make("pckeyboard");
  qvm_vdev *rtc = make("mc146818");
  for (qvm_vdev *d : {io, pic, kbc, rtc}) REQUIRE(h.control(d, QVM_CTRL_GEN_ACPI) == 0);
  REQUIRE(io->acpi_ioapic.has_value());
  CHECK(io->acpi_ioapic->first == 0xFEC00000u);
  CHECK(io->acpi_ioapic->second == 0);
  CHECK(io->acpi_legacy == 0);
  CHECK(pic->acpi_legacy == QVM_ACPI_LEGACY_8259);
  CHECK(kbc->acpi_legacy == QVM_ACPI_LEGACY_8042);
  CHECK(kbc->acpi_hid == "PNP0303");
  CHECK(rtc->acpi_legacy == QVM_ACPI_LEGACY_RTC);
  CHECK(rtc->acpi_hid == "PNP0B00");
}

TEST_CASE_METHOD(HostFixture, "hpet: base and GCAP_ID block id from the device", "[acpi]") {
  qvm_vdev *d = make("hpet", cfg_loc(QVM_SPACE_MEM, 0xFED01000));
  REQUIRE(h.control(d, QVM_CTRL_GEN_ACPI) == 0);
  REQUIRE(d->acpi_hpet.has_value());
  CHECK(d->acpi_hpet->first == 0xFED01000u);
  // The block id is the low dword of the device's own GCAP_ID register.
  CHECK(d->acpi_hpet->second == uint32_t(h.mread(d, 0xFED01000, 4)));
  CHECK(d->acpi_hpet->second == 0x8086a201u);
}
