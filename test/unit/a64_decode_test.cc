// The A64 load/store decoder used for MMIO aborts without a syndrome
// (arch/aarch64/a64_decode.h). Encodings from aarch64-linux-gnu-as.
#include <catch2/catch.hpp>

#include "arch/aarch64/a64_decode.h"

using qvm::a64::DecodeLoadStore;
using qvm::a64::LoadResult;
using qvm::a64::MemAccess;

namespace {
MemAccess Ok(uint32_t insn) {
  auto r = DecodeLoadStore(insn);
  INFO(std::string(r.ok() ? r->text : r.status().message()));
  REQUIRE(r.ok());
  return *r;
}
}  // namespace

TEST_CASE("a64: single loads and stores", "[a64]") {
  MemAccess a = Ok(0xf9400020);  // ldr x0, [x1]
  CHECK(a.load);
  CHECK(a.size == 8);
  CHECK(a.count == 1);
  CHECK(a.rt[0] == 0);
  CHECK(a.rn == 1);
  CHECK_FALSE(a.writeback);
  a = Ok(0xb9400862);  // ldr w2, [x3, #8]
  CHECK((a.size == 4 && a.rt[0] == 2 && a.rn == 3 && a.dest_bits == 32));
  CHECK_FALSE(a.writeback);
  a = Ok(0x39400128);  // ldrb w8, [x9]
  CHECK((a.load && a.size == 1 && !a.sign_extend && a.rt[0] == 8));
  a = Ok(0xb9000630);  // str w16, [x17, #4]
  CHECK((!a.load && a.size == 4 && a.rt[0] == 16 && a.rn == 17 && !a.writeback));
  a = Ok(0xf900003f);  // str xzr, [x1]
  CHECK((!a.load && a.size == 8 && a.rt[0] == 31));
  a = Ok(0xf85fd0c5);  // ldur x5, [x6, #-3]
  CHECK((a.load && a.size == 8 && a.rt[0] == 5 && a.rn == 6 && !a.writeback));
  a = Ok(0xf8627820);  // ldr x0, [x1, x2, lsl #3]
  CHECK((a.load && a.size == 8 && a.rn == 1 && !a.writeback));
}

TEST_CASE("a64: writeback forms", "[a64]") {
  MemAccess a = Ok(0xf8410ca4);  // ldr x4, [x5, #16]!
  CHECK((a.writeback && a.wb_offset == 16 && a.rn == 5 && a.rt[0] == 4));
  a = Ok(0xf85f84e6);  // ldr x6, [x7], #-8
  CHECK((a.writeback && a.wb_offset == -8 && a.rn == 7));
  a = Ok(0x78002672);  // strh w18, [x19], #2
  CHECK((!a.load && a.size == 2 && a.writeback && a.wb_offset == 2 && a.rn == 19));
}

TEST_CASE("a64: pairs", "[a64]") {
  MemAccess a = Ok(0xa90156d4);  // stp x20, x21, [x22, #16]
  CHECK((!a.load && a.count == 2 && a.size == 8 && a.rt[0] == 20 && a.rt[1] == 21 &&
         a.rn == 22 && !a.writeback));
  a = Ok(0x28c16337);  // ldp w23, w24, [x25], #8
  CHECK((a.load && a.count == 2 && a.size == 4 && a.rt[0] == 23 && a.rt[1] == 24 &&
         a.writeback && a.wb_offset == 8));
  a = Ok(0xa9ff07e0);  // ldp x0, x1, [sp, #-16]!
  CHECK((a.count == 2 && a.rn == 31 && a.writeback && a.wb_offset == -16));
  a = Ok(0x69400c82);  // ldpsw x2, x3, [x4]
  CHECK((a.count == 2 && a.size == 4 && a.sign_extend && a.dest_bits == 64));
}

TEST_CASE("a64: sign extension", "[a64]") {
  MemAccess a = Ok(0x3980016a);  // ldrsb x10, [x11]
  CHECK((a.sign_extend && a.size == 1 && a.dest_bits == 64));
  CHECK(LoadResult(a, 0x80) == 0xffffffffffffff80ull);
  CHECK(LoadResult(a, 0x7f) == 0x7f);
  a = Ok(0x79c005ac);  // ldrsh w12, [x13, #2]
  CHECK((a.sign_extend && a.size == 2 && a.dest_bits == 32));
  CHECK(LoadResult(a, 0x8001) == 0xffff8001ull);
  a = Ok(0xb98001ee);  // ldrsw x14, [x15]
  CHECK(LoadResult(a, 0x80000000) == 0xffffffff80000000ull);
  a = Ok(0x39400128);  // ldrb w8, [x9]
  CHECK(LoadResult(a, 0xabcd) == 0xcd);
}

TEST_CASE("a64: refused forms", "[a64]") {
  CHECK_FALSE(DecodeLoadStore(0x3dc00020).ok());  // ldr q0, [x1]  (SIMD)
  CHECK_FALSE(DecodeLoadStore(0xc85f7c20).ok());  // ldxr x0, [x1] (exclusive)
  CHECK_FALSE(DecodeLoadStore(0x8b020020).ok());  // add x0, x1, x2
  CHECK_FALSE(DecodeLoadStore(0x00000000).ok());  // udf
  CHECK_FALSE(DecodeLoadStore(0xffffffff).ok());
}
