// libFuzzer target: the arm64 kernel loader (boot/arm64.cc: Image, ELF,
// raw) and the FDT/initrd placement after it, on a hostile kernel file.
// Input: byte 0 = options (bit 0 `load ADDR,` from bytes 1..4, bit 1 an
// initrd of bytes 1..4's size), then the kernel. Guest RAM: 64 MiB at
// 1 GiB (the arm64 machine's RAM base), once per process.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "boot/arm64.h"
#include "test/fuzz/fuzz_file.h"
#include "vmm/guest_memory.h"

namespace {
constexpr size_t kMaxInput = 1 << 20;  // also libFuzzer's -max_len
constexpr uint64_t kRamBase = 1ull << 30, kRamSize = 64ull << 20;

struct Rig {
  qvm::GuestMemory mem;
  fuzz::MemFile kernel{"kernel"};
  Rig() {
    if (!mem.add(kRamBase, kRamSize, false).ok()) abort();
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Rig* rig = new Rig;  // lives for the process
  if (size < 5 || size > kMaxInput) return 0;
  uint32_t word;
  memcpy(&word, data + 1, 4);
  std::optional<uint64_t> addr;
  if (data[0] & 1) addr = kRamBase + (uint64_t(word) << 4);  // reaches past RAM
  const std::string& path = rig->kernel.set(data + 5, size - 5);
  auto k = qvm::boot::LoadArm64Kernel(rig->mem, path, addr, kRamBase, kRamSize);
  if (!k.ok()) return 0;
  if (k->start > k->end || k->start < kRamBase || k->end > kRamBase + kRamSize)
    __builtin_trap();  // a loaded kernel lies in RAM
  auto p = qvm::boot::PlaceArm64(kRamBase, kRamSize, *k, (data[0] & 2) ? word : 0);
  if (p.ok()) {
    if (p->fdt < kRamBase || p->fdt + qvm::boot::kArm64FdtMax > kRamBase + kRamSize ||
        (p->initrd_size && (p->initrd < k->end || p->initrd + p->initrd_size > p->fdt)))
      __builtin_trap();  // nothing overlaps, everything in RAM
  }
  return 0;
}
