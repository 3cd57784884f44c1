// ACPI tables for x86_64 guests: RSDP (rev 2) -> XSDT/RSDT -> FADT (rev 6,
// full hardware model), FACS, MADT, DSDT (generated AML), optional HPET and
// MCFG. Everything lives in the BIOS area 0xe0000-0xfffff (the RSDP at its
// start, where a guest scanning for "RSD PTR " finds it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "vmm/guest_memory.h"

namespace qvm::boot {

// One device of the DSDT's \_SB scope.
struct AcpiDevice {
  std::string hid;   // "PNP0501" (encoded as EISAID) or "LNRO0005" (string)
  std::string cid;   // optional _CID, same encoding
  uint32_t uid = 0;
  std::string name;  // optional AML name (1-4 of [A-Z0-9_]); generated if empty
  std::vector<std::pair<uint16_t, uint16_t>> io;   // (port, count 1-255)
  std::vector<std::pair<uint32_t, uint32_t>> mem;  // (base, length > 0)
  // IRQs 0-15 are ISA (IRQNoFlags: edge, active high); 16 and up are GSIs
  // (Interrupt: level, active high, exclusive).
  std::vector<uint32_t> irqs;
};

// The PM1 fixed-hardware register blocks (I/O ports) the FADT points at.
struct AcpiPmPorts {
  uint16_t pm1a_evt = 0x600;  // 4 bytes: PM1_STS, PM1_EN
  uint16_t pm1a_cnt = 0x604;  // 2 bytes: PM1_CNT (SCI_EN must read as 1)
  uint16_t pm_tmr = 0x608;    // 4 bytes: 32-bit 3.579545 MHz timer
  uint16_t reset = 0x60c;     // 1 byte: write reset_value to reset
  uint8_t reset_value = 0x01;
};

struct AcpiPciIrq {
  uint8_t device = 0;  // PCI device number 0-31
  uint8_t pin = 0;     // 0 = INTA .. 3 = INTD
  uint32_t gsi = 0;
};

// A PCI host bridge: DSDT device PNP0A08 with its windows and _PRT, an MCFG
// entry for its ECAM and a PNP0C02 device reserving that ECAM window.
struct AcpiPciHost {
  uint64_t ecam_base = 0;  // 0 = no ECAM (port 0xcf8/0xcfc only)
  uint16_t segment = 0;
  uint8_t bus_start = 0, bus_end = 0;
  std::vector<std::pair<uint16_t, uint16_t>> io_windows;   // (first, last)
  std::vector<std::pair<uint64_t, uint64_t>> mem_windows;  // (first, last)
  std::vector<AcpiPciIrq> prt;
};

struct AcpiPlatform {
  unsigned ncpus = 1;                 // 1-254 Processor Local APICs, ids 0..n-1
  uint64_t lapic_addr = 0xfee00000;
  uint64_t ioapic_addr = 0xfec00000;
  uint8_t ioapic_id = 0;
  uint32_t ioapic_gsi_base = 0;
  uint32_t sci_irq = 9;               // ISA IRQ (< 16), identity-mapped GSI
  bool has_8042 = true;               // IAPC_BOOT_ARCH.8042
  bool has_8259 = true;               // MADT PCAT_COMPAT
  bool has_rtc = true;                // else IAPC_BOOT_ARCH "CMOS RTC not present"
  bool has_vga = false;               // else "VGA not present"
  bool fixed_power_button = true;     // PM1 PWRBTN_STS/EN implemented
  AcpiPmPorts pm;
  std::optional<uint64_t> hpet_addr;  // HPET table + PNP0103 device
  uint32_t hpet_block_id = 0x8086a201;  // GCAP_ID[31:0] of that HPET
  std::optional<AcpiPciHost> pci;
  std::vector<AcpiDevice> devices;
};

inline constexpr uint64_t kAcpiBase = 0xe0000;
inline constexpr uint64_t kAcpiLimit = 0x100000;  // exclusive

// Builds the tables for `p` as an image to be placed at guest address `base`
// (must be 16-byte aligned); the RSDP is at offset 0. Fails when the platform
// is inconsistent or the tables exceed `max_size`.
absl::StatusOr<std::vector<uint8_t>> BuildAcpiImage(const AcpiPlatform& p,
                                                    uint64_t base,
                                                    uint64_t max_size);

// Builds the tables and writes them at 0xe0000 (loader write, so ROM works).
// Returns the RSDP's guest-physical address.
absl::StatusOr<uint64_t> BuildAcpi(GuestMemory& mem, const AcpiPlatform& p);

// `acpi load PATH`: the file holds one or more complete ACPI tables
// (standard 36-byte header, valid checksum; FACS has no checksum),
// back to back, as `acpidump -b` / `iasl` produce them. No RSDP/XSDT/RSDT:
// qvm builds those. Errors name the file, the table and its offset.
absl::StatusOr<std::vector<std::vector<uint8_t>>> SplitAcpiTables(
    const std::vector<uint8_t>& blob, const std::string& path);

// The user's tables replacing the generated ones: placed from `base` + 64
// (FACS 64-byte aligned, others 16), the FADT's DSDT/X_DSDT and
// X_FIRMWARE_CTRL (FIRMWARE_CTRL for a FADT too short to have it, else 0)
// pointed at the placed DSDT/FACS (and re-checksummed), every table but FACS and DSDT listed in a new XSDT and
// RSDT, and an RSDP (revision 2) at `base`.
absl::StatusOr<std::vector<uint8_t>> BuildUserAcpiImage(
    const std::vector<std::vector<uint8_t>>& tables, uint64_t base, uint64_t max_size);

// Writes an image from BuildAcpiImage/BuildUserAcpiImage at 0xe0000 (the
// whole 0xe0000-0xfffff area is cleared first). Returns the RSDP address.
absl::StatusOr<uint64_t> WriteAcpiImage(GuestMemory& mem, const std::vector<uint8_t>& img);

// The DSDT's AML body (no table header) — exposed for tests and dumps.
absl::StatusOr<std::vector<uint8_t>> BuildDsdtAml(const AcpiPlatform& p);

}  // namespace qvm::boot
