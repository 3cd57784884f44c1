#include "arch/x86_64/regs.h"

#include <capstone/capstone.h>
#include <elf.h>

#include <cstddef>

namespace qvm {
namespace {

constexpr int W(size_t offset) { return int(offset / 8); }
#define QVM_X86_WORD(f) W(offsetof(X86_64Regs, f))
constexpr int kNo = GdbReg::kNoWord;
constexpr const char* kCore = "org.gnu.gdb.i386.core";
constexpr const char* kSse = "org.gnu.gdb.i386.sse";
constexpr const char* kSeg = "org.gnu.gdb.i386.segments";
constexpr const char* kSys = "org.qvm.gdb.x86_64.sys";

constexpr GdbReg kGdbRegs[] = {
    {"rax", 64, "int64", kCore, QVM_X86_WORD(rax)},
    {"rbx", 64, "int64", kCore, QVM_X86_WORD(rbx)},
    {"rcx", 64, "int64", kCore, QVM_X86_WORD(rcx)},
    {"rdx", 64, "int64", kCore, QVM_X86_WORD(rdx)},
    {"rsi", 64, "int64", kCore, QVM_X86_WORD(rsi)},
    {"rdi", 64, "int64", kCore, QVM_X86_WORD(rdi)},
    {"rbp", 64, "data_ptr", kCore, QVM_X86_WORD(rbp)},
    {"rsp", 64, "data_ptr", kCore, QVM_X86_WORD(rsp)},
    {"r8", 64, "int64", kCore, QVM_X86_WORD(r8)},
    {"r9", 64, "int64", kCore, QVM_X86_WORD(r9)},
    {"r10", 64, "int64", kCore, QVM_X86_WORD(r10)},
    {"r11", 64, "int64", kCore, QVM_X86_WORD(r11)},
    {"r12", 64, "int64", kCore, QVM_X86_WORD(r12)},
    {"r13", 64, "int64", kCore, QVM_X86_WORD(r13)},
    {"r14", 64, "int64", kCore, QVM_X86_WORD(r14)},
    {"r15", 64, "int64", kCore, QVM_X86_WORD(r15)},
    {"rip", 64, "code_ptr", kCore, QVM_X86_WORD(rip)},
    {"eflags", 32, "int32", kCore, QVM_X86_WORD(rflags)},
    {"cs", 32, "int32", kCore, QVM_X86_WORD(cs)},
    {"ss", 32, "int32", kCore, QVM_X86_WORD(ss)},
    {"ds", 32, "int32", kCore, QVM_X86_WORD(ds)},
    {"es", 32, "int32", kCore, QVM_X86_WORD(es)},
    {"fs", 32, "int32", kCore, QVM_X86_WORD(fs)},
    {"gs", 32, "int32", kCore, QVM_X86_WORD(gs)},
    {"st0", 80, "i387_ext", kCore, kNo},
    {"st1", 80, "i387_ext", kCore, kNo},
    {"st2", 80, "i387_ext", kCore, kNo},
    {"st3", 80, "i387_ext", kCore, kNo},
    {"st4", 80, "i387_ext", kCore, kNo},
    {"st5", 80, "i387_ext", kCore, kNo},
    {"st6", 80, "i387_ext", kCore, kNo},
    {"st7", 80, "i387_ext", kCore, kNo},
    {"fctrl", 32, "int", kCore, kNo},
    {"fstat", 32, "int", kCore, kNo},
    {"ftag", 32, "int", kCore, kNo},
    {"fiseg", 32, "int", kCore, kNo},
    {"fioff", 32, "int", kCore, kNo},
    {"foseg", 32, "int", kCore, kNo},
    {"fooff", 32, "int", kCore, kNo},
    {"fop", 32, "int", kCore, kNo},
    {"xmm0", 128, "uint128", kSse, kNo},
    {"xmm1", 128, "uint128", kSse, kNo},
    {"xmm2", 128, "uint128", kSse, kNo},
    {"xmm3", 128, "uint128", kSse, kNo},
    {"xmm4", 128, "uint128", kSse, kNo},
    {"xmm5", 128, "uint128", kSse, kNo},
    {"xmm6", 128, "uint128", kSse, kNo},
    {"xmm7", 128, "uint128", kSse, kNo},
    {"xmm8", 128, "uint128", kSse, kNo},
    {"xmm9", 128, "uint128", kSse, kNo},
    {"xmm10", 128, "uint128", kSse, kNo},
    {"xmm11", 128, "uint128", kSse, kNo},
    {"xmm12", 128, "uint128", kSse, kNo},
    {"xmm13", 128, "uint128", kSse, kNo},
    {"xmm14", 128, "uint128", kSse, kNo},
    {"xmm15", 128, "uint128", kSse, kNo},
    {"mxcsr", 32, "int", kSse, kNo},
    {"fs_base", 64, "int", kSeg, QVM_X86_WORD(fs_base)},
    {"gs_base", 64, "int", kSeg, QVM_X86_WORD(gs_base)},
    {"cr0", 64, "int", kSys, QVM_X86_WORD(cr0)},
    {"cr2", 64, "int", kSys, QVM_X86_WORD(cr2)},
    {"cr3", 64, "int", kSys, QVM_X86_WORD(cr3)},
    {"cr4", 64, "int", kSys, QVM_X86_WORD(cr4)},
    {"efer", 64, "int", kSys, QVM_X86_WORD(efer)},
};
#undef QVM_X86_WORD

class X86_64Model final : public CpuModel {
 public:
  const char* name() const override { return "x86_64"; }
  uint16_t elf_machine() const override { return EM_X86_64; }
  size_t prstatus_regs() const override { return 27; }
  void fill_prstatus(const VcpuRegs& regs, uint64_t* g) const override {
    X86_64Regs x = RegsAs<X86_64Regs>(regs);
    const uint64_t vals[] = {
        x.r15, x.r14, x.r13, x.r12, x.rbp, x.rbx, x.r11, x.r10, x.r9,
        x.r8,  x.rax, x.rcx, x.rdx, x.rsi, x.rdi,
        ~uint64_t(0),  // orig_rax: not in a system call
        x.rip, x.cs,  x.rflags, x.rsp, x.ss, x.fs_base, x.gs_base,
        x.ds,  x.es,  x.fs,  x.gs};
    static_assert(sizeof vals / sizeof vals[0] == 27);
    for (size_t i = 0; i < 27; i++) g[i] = vals[i];
  }
  std::vector<CoreNote> extra_notes(const VcpuRegs* regs) const override {
    uint64_t cr[5] = {};
    if (regs) {
      X86_64Regs x = RegsAs<X86_64Regs>(*regs);
      const uint64_t vals[5] = {x.cr0, x.cr2, x.cr3, x.cr4, x.efer};
      for (size_t i = 0; i < 5; i++) cr[i] = vals[i];
    }
    return {CoreNote{"QVM", kNoteQvmX86Control,
                     std::string(reinterpret_cast<const char*>(cr), sizeof cr)}};
  }
  Disasm disasm(uint8_t mode) const override {
    return {CS_ARCH_X86, mode == 64 ? CS_MODE_64 : mode == 16 ? CS_MODE_16 : CS_MODE_32};
  }
  std::span<const GdbReg> gdb_registers() const override { return kGdbRegs; }
  const char* gdb_architecture() const override { return "i386:x86-64"; }
  std::string_view gdb_breakpoint() const override { return "\xcc"; }  // int3
};

}  // namespace

const CpuModel& X86_64CpuModel() {
  static const X86_64Model model;
  return model;
}

}  // namespace qvm
