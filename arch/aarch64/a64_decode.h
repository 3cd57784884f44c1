// Decoding of an A64 load/store instruction that faulted on MMIO without a
// valid syndrome (ESR_EL2.ISV = 0, KVM_EXIT_ARM_NISV): register pairs,
// pre/post-index writeback, sign-extending loads. A plain function over the
// instruction word (Capstone), so it is unit-tested on any host.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace qvm::a64 {

struct MemAccess {
  bool load = false;
  unsigned size = 0;       // bytes per register: 1, 2, 4, 8
  unsigned count = 1;      // 2 for LDP/STP/LDPSW
  unsigned rt[2] = {0, 0}; // 0..30; 31 = the zero register
  bool sign_extend = false;
  unsigned dest_bits = 64; // loads: width of the destination register
  unsigned rn = 31;        // base register 0..30; 31 = SP
  bool writeback = false;  // base += wb_offset after the access
  int64_t wb_offset = 0;
  std::string text;        // disassembly, for logs
};

// Decodes `insn` (little-endian A64 word). Errors name the instruction:
// not a load/store, SIMD/FP registers, exclusive/atomic forms.
absl::StatusOr<MemAccess> DecodeLoadStore(uint32_t insn);

// The value a load writes into its destination register from `raw` (the
// `size` bytes read, zero-extended).
uint64_t LoadResult(const MemAccess& a, uint64_t raw);

}  // namespace qvm::a64
