// What devices contribute to an ACPI-described machine's description (ABI 1.4
// qvm_acpi_pm_block, qvm_acpi_pci_host, qvm_acpi_hpet, qvm_acpi_ioapic,
// qvm_acpi_legacy), as the machine receives it.
#pragma once

#include <cstdint>
#include <optional>

#include "qvm/vdev.h"

namespace qvm {

struct AcpiContrib {
  std::optional<qvm_acpi_pm> pm;
  std::optional<qvm_acpi_pci> pci_host;
  struct Hpet { uint64_t base; uint32_t block_id; };
  std::optional<Hpet> hpet;
  struct Ioapic { uint64_t base; uint32_t gsi_base; };
  std::optional<Ioapic> ioapic;
  unsigned legacy = 0;  // QVM_ACPI_LEGACY_*
};

}  // namespace qvm
