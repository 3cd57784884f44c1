#include "arch/aarch64/regs.h"

#include <capstone/capstone.h>
#include <elf.h>

#include <cstddef>

namespace qvm {
namespace {

constexpr const char* kCore = "org.gnu.gdb.aarch64.core";
constexpr int kSp = int(offsetof(Aarch64Regs, sp) / 8);
constexpr int kPc = int(offsetof(Aarch64Regs, pc) / 8);
constexpr int kPstate = int(offsetof(Aarch64Regs, pstate) / 8);

constexpr GdbReg kGdbRegs[] = {
    {"x0", 64, "int", kCore, 0},   {"x1", 64, "int", kCore, 1},
    {"x2", 64, "int", kCore, 2},   {"x3", 64, "int", kCore, 3},
    {"x4", 64, "int", kCore, 4},   {"x5", 64, "int", kCore, 5},
    {"x6", 64, "int", kCore, 6},   {"x7", 64, "int", kCore, 7},
    {"x8", 64, "int", kCore, 8},   {"x9", 64, "int", kCore, 9},
    {"x10", 64, "int", kCore, 10}, {"x11", 64, "int", kCore, 11},
    {"x12", 64, "int", kCore, 12}, {"x13", 64, "int", kCore, 13},
    {"x14", 64, "int", kCore, 14}, {"x15", 64, "int", kCore, 15},
    {"x16", 64, "int", kCore, 16}, {"x17", 64, "int", kCore, 17},
    {"x18", 64, "int", kCore, 18}, {"x19", 64, "int", kCore, 19},
    {"x20", 64, "int", kCore, 20}, {"x21", 64, "int", kCore, 21},
    {"x22", 64, "int", kCore, 22}, {"x23", 64, "int", kCore, 23},
    {"x24", 64, "int", kCore, 24}, {"x25", 64, "int", kCore, 25},
    {"x26", 64, "int", kCore, 26}, {"x27", 64, "int", kCore, 27},
    {"x28", 64, "int", kCore, 28}, {"x29", 64, "int", kCore, 29},
    {"x30", 64, "int", kCore, 30}, {"sp", 64, "data_ptr", kCore, kSp},
    {"pc", 64, "code_ptr", kCore, kPc}, {"cpsr", 32, "int", kCore, kPstate},
};
static_assert(offsetof(Aarch64Regs, x) == 0);

class Aarch64Model final : public CpuModel {
 public:
  const char* name() const override { return "aarch64"; }
  uint16_t elf_machine() const override { return EM_AARCH64; }
  size_t prstatus_regs() const override { return 34; }
  void fill_prstatus(const VcpuRegs& regs, uint64_t* g) const override {
    Aarch64Regs r = RegsAs<Aarch64Regs>(regs);
    for (size_t i = 0; i < 31; i++) g[i] = r.x[i];
    g[31] = r.sp;
    g[32] = r.pc;
    g[33] = r.pstate;
  }
  std::vector<CoreNote> extra_notes(const VcpuRegs*) const override { return {}; }
  Disasm disasm(uint8_t) const override { return {CS_ARCH_ARM64, CS_MODE_ARM}; }
  std::span<const GdbReg> gdb_registers() const override { return kGdbRegs; }
  const char* gdb_architecture() const override { return "aarch64"; }
  std::string_view gdb_breakpoint() const override {
    return std::string_view("\x00\x00\x20\xd4", 4);  // brk #0
  }
};

}  // namespace

const CpuModel& Aarch64CpuModel() {
  static const Aarch64Model model;
  return model;
}

}  // namespace qvm
