// libFuzzer target: user-supplied ACPI tables (`acpi load PATH`,
// boot/acpi.cc): SplitAcpiTables checks the blob, BuildUserAcpiImage lays
// the tables out with a new RSDP/XSDT/RSDT and re-pointed FADT, and
// WriteAcpiImage puts that in guest memory (0xE0000-0xFFFFF).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "boot/acpi.h"
#include "vmm/guest_memory.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static qvm::GuestMemory* mem = [] {  // lives for the process
    auto* m = new qvm::GuestMemory;
    if (!m->add(0, 1 << 20, false).ok()) abort();
    return m;
  }();
  if (size > (1 << 17)) return 0;  // also libFuzzer's -max_len
  std::vector<uint8_t> blob(data, data + size);
  auto tables = qvm::boot::SplitAcpiTables(blob, "fuzz.aml");
  if (!tables.ok()) return 0;
  constexpr uint64_t kBase = 0xe0000, kMax = 0x20000;
  auto img = qvm::boot::BuildUserAcpiImage(*tables, kBase, kMax);
  if (!img.ok()) return 0;
  if (img->size() > kMax) __builtin_trap();  // the image fits its area
  auto rsdp = qvm::boot::WriteAcpiImage(*mem, *img);
  if (rsdp.ok() && *rsdp != kBase) __builtin_trap();
  return 0;
}
