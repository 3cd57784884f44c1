// libFuzzer target: the A64 load/store decoder qvm uses for MMIO aborts
// without a syndrome (arch/aarch64/a64_decode.cc). Each 4 bytes are one
// instruction word a hostile guest could fault on; a decoded access must
// be one qvm can carry out (sizes, register numbers, pair counts).
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "arch/aarch64/a64_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64) return 0;  // 16 words; also libFuzzer's -max_len
  for (size_t off = 0; off + 4 <= size; off += 4) {
    uint32_t insn;
    memcpy(&insn, data + off, 4);
    auto a = qvm::a64::DecodeLoadStore(insn);
    if (!a.ok()) continue;
    if (a->size != 1 && a->size != 2 && a->size != 4 && a->size != 8) __builtin_trap();
    if (a->count != 1 && a->count != 2) __builtin_trap();
    if (a->rt[0] > 31 || a->rt[1] > 31 || a->rn > 31) __builtin_trap();
    if (a->dest_bits != 32 && a->dest_bits != 64) __builtin_trap();
    (void)qvm::a64::LoadResult(*a, ~uint64_t(0));
  }
  return 0;
}
