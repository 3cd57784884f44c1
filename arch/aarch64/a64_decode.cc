#include "arch/aarch64/a64_decode.h"

#include <capstone/capstone.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace qvm::a64 {
namespace {

struct Handle {
  csh h = 0;
  bool ok = false;
  Handle() {
    ok = cs_open(CS_ARCH_ARM64, CS_MODE_LITTLE_ENDIAN, &h) == CS_ERR_OK &&
         cs_option(h, CS_OPT_DETAIL, CS_OPT_ON) == CS_ERR_OK;
  }
  ~Handle() {
    if (h) cs_close(&h);
  }
};

// General-purpose register number (0..30, 31 = zero/SP) and width in bits,
// or -1 for anything else (SIMD/FP, system registers).
int GprNumber(unsigned reg, unsigned* bits) {
  if (reg >= ARM64_REG_W0 && reg <= ARM64_REG_W30) {
    *bits = 32;
    return int(reg - ARM64_REG_W0);
  }
  if (reg >= ARM64_REG_X0 && reg <= ARM64_REG_X28) {
    *bits = 64;
    return int(reg - ARM64_REG_X0);
  }
  switch (reg) {
    case ARM64_REG_X29: *bits = 64; return 29;
    case ARM64_REG_X30: *bits = 64; return 30;
    case ARM64_REG_XZR: *bits = 64; return 31;
    case ARM64_REG_WZR: *bits = 32; return 31;
    case ARM64_REG_SP: *bits = 64; return 31;
    case ARM64_REG_WSP: *bits = 32; return 31;
    default: return -1;
  }
}

struct Form {
  bool load;
  unsigned size;  // 0: from the register width
  bool sign;
  bool pair;
};

bool FormOf(unsigned id, Form* f) {
  switch (id) {
    case ARM64_INS_LDR: case ARM64_INS_LDUR: case ARM64_INS_LDAR:
      *f = {true, 0, false, false}; return true;
    case ARM64_INS_LDRB: case ARM64_INS_LDURB: case ARM64_INS_LDARB:
      *f = {true, 1, false, false}; return true;
    case ARM64_INS_LDRH: case ARM64_INS_LDURH: case ARM64_INS_LDARH:
      *f = {true, 2, false, false}; return true;
    case ARM64_INS_LDRSB: case ARM64_INS_LDURSB:
      *f = {true, 1, true, false}; return true;
    case ARM64_INS_LDRSH: case ARM64_INS_LDURSH:
      *f = {true, 2, true, false}; return true;
    case ARM64_INS_LDRSW: case ARM64_INS_LDURSW:
      *f = {true, 4, true, false}; return true;
    case ARM64_INS_STR: case ARM64_INS_STUR: case ARM64_INS_STLR:
      *f = {false, 0, false, false}; return true;
    case ARM64_INS_STRB: case ARM64_INS_STURB: case ARM64_INS_STLRB:
      *f = {false, 1, false, false}; return true;
    case ARM64_INS_STRH: case ARM64_INS_STURH: case ARM64_INS_STLRH:
      *f = {false, 2, false, false}; return true;
    case ARM64_INS_LDP: case ARM64_INS_LDNP:
      *f = {true, 0, false, true}; return true;
    case ARM64_INS_LDPSW:
      *f = {true, 4, true, true}; return true;
    case ARM64_INS_STP: case ARM64_INS_STNP:
      *f = {false, 0, false, true}; return true;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<MemAccess> DecodeLoadStore(uint32_t insn) {
  static Handle* handle = new Handle();  // never freed: used by every vCPU
  static std::mutex mu;                   // a csh is not thread-safe
  if (!handle->ok) return absl::InternalError("Capstone: cannot open an ARM64 handle");
  uint8_t bytes[4] = {uint8_t(insn), uint8_t(insn >> 8), uint8_t(insn >> 16),
                      uint8_t(insn >> 24)};
  std::lock_guard<std::mutex> g(mu);
  cs_insn* ci = nullptr;
  size_t n = cs_disasm(handle->h, bytes, 4, 0, 1, &ci);
  if (n != 1 || !ci || !ci->detail) {
    if (ci) cs_free(ci, n);
    return absl::InvalidArgumentError(
        absl::StrFormat("instruction 0x%08x: not a valid A64 instruction", insn));
  }
  struct Free {
    cs_insn* p; size_t n;
    ~Free() { cs_free(p, n); }
  } free_it{ci, n};
  MemAccess a;
  a.text = absl::StrCat(ci->mnemonic, " ", ci->op_str);
  auto refuse = [&](const char* why) {
    return absl::InvalidArgumentError(
        absl::StrFormat("instruction 0x%08x (%s): %s", insn, a.text, why));
  };
  Form f;
  if (!FormOf(ci->id, &f)) return refuse("not an emulated load/store form");
  const cs_arm64& d = ci->detail->arm64;
  unsigned nregs = f.pair ? 2 : 1;
  if (d.op_count < nregs + 1) return refuse("unexpected operands");
  unsigned bits = 0;
  for (unsigned i = 0; i < nregs; i++) {
    if (d.operands[i].type != ARM64_OP_REG) return refuse("unexpected operands");
    unsigned b = 0;
    int r = GprNumber(d.operands[i].reg, &b);
    if (r < 0) return refuse("SIMD/FP registers are not emulated");
    if (r == 31 && (d.operands[i].reg == ARM64_REG_SP || d.operands[i].reg == ARM64_REG_WSP))
      return refuse("unexpected operands");
    if (i > 0 && b != bits) return refuse("mixed register widths");
    bits = b;
    a.rt[i] = unsigned(r);
  }
  const cs_arm64_op& m = d.operands[nregs];
  if (m.type != ARM64_OP_MEM) return refuse("unexpected operands");
  if (m.mem.index != ARM64_REG_INVALID) {
    // Register-offset forms have no writeback; the address comes from the
    // fault, so only the base must be a general-purpose register.
  }
  unsigned bb = 0;
  int rn = GprNumber(m.mem.base, &bb);
  if (rn < 0 || bb != 64) return refuse("unexpected base register");
  a.rn = unsigned(rn);
  a.load = f.load;
  a.count = nregs;
  a.sign_extend = f.sign;
  a.size = f.size ? f.size : bits / 8;
  a.dest_bits = bits;
  if (f.sign && bits == 32 && a.size == 4) return refuse("unexpected operands");
  if (d.writeback) {
    a.writeback = true;
    // Post-index: the offset follows the memory operand; pre-index: it is
    // the displacement.
    if (d.op_count > nregs + 1 && d.operands[nregs + 1].type == ARM64_OP_IMM)
      a.wb_offset = d.operands[nregs + 1].imm;
    else
      a.wb_offset = m.mem.disp;
    for (unsigned i = 0; i < nregs; i++)
      if (a.rt[i] == a.rn && a.rn != 31 && a.load)
        return refuse("writeback into a loaded register is unpredictable");
  }
  if (f.pair && a.load && a.rt[0] == a.rt[1] && a.rt[0] != 31)
    return refuse("load pair into one register is unpredictable");
  return a;
}

uint64_t LoadResult(const MemAccess& a, uint64_t raw) {
  unsigned sb = a.size * 8;
  if (sb < 64) raw &= (1ull << sb) - 1;
  uint64_t v = raw;
  if (a.sign_extend && sb < 64 && (raw >> (sb - 1)) & 1) v = raw | (~0ull << sb);
  if (a.dest_bits == 32) v &= 0xffffffffull;
  return v;
}

}  // namespace qvm::a64
