// What an architecture's vCPU registers look like to the rest of qvm: how a
// register snapshot is laid out in guest dumps (ELF machine, NT_PRSTATUS
// registers, extra notes), how exit traces decode its instructions
// (Capstone's arch and mode), and how a debugger sees it (gdb register
// numbers, sizes, target-description features). Each architecture
// implements one CpuModel in arch/<arch>/regs.* (plain code, built on every
// host, so that dumps of either kind are written and tested anywhere);
// Machine::cpu_model() names the one the VM runs.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace qvm {

class CpuModel;

// One vCPU's register snapshot (status reports, pause, dumps, debugger).
// `model` is the architecture that filled it; `words` is that
// architecture's register block (arch/<arch>/regs.h: a struct of 64-bit
// fields copied in and out with RegsAs/SetRegs); pc/sp are the
// architecture-neutral copies.
struct VcpuRegs {
  static constexpr size_t kWords = 64;
  const CpuModel* model = nullptr;
  uint64_t pc = 0, sp = 0;
  std::array<uint64_t, kWords> words{};
  std::string text;  // formatted by the architecture
};

// The architecture's register struct `T` out of / into a snapshot.
template <class T>
T RegsAs(const VcpuRegs& r) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(r.words));
  T t;
  std::memcpy(static_cast<void*>(&t), r.words.data(), sizeof t);
  return t;
}
template <class T>
void SetRegs(VcpuRegs& r, const CpuModel& model, const T& t) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(r.words));
  r.model = &model;
  std::memcpy(r.words.data(), &t, sizeof t);
}

// One register as gdb numbers it (its index in CpuModel::gdb_registers()).
struct GdbReg {
  const char* name;
  unsigned bits;        // 32, 64, 80, 128
  const char* type;     // gdb type: "int", "code_ptr", "data_ptr", "i387_ext", ...
  const char* feature;  // target-description feature ("org.gnu.gdb.i386.core")
  int word;             // index in VcpuRegs::words; kNoWord: not in the snapshot
  static constexpr int kNoWord = -1;
};

// An ELF note the architecture adds after each vCPU's NT_PRSTATUS.
struct CoreNote {
  std::string owner;
  uint32_t type;
  std::string desc;
};

class CpuModel {
 public:
  virtual ~CpuModel() = default;
  virtual const char* name() const = 0;  // as Machine::name()

  // ---- guest dumps (vmm/dump.h)
  virtual uint16_t elf_machine() const = 0;
  // Number of 64-bit registers in NT_PRSTATUS's pr_reg.
  virtual size_t prstatus_regs() const = 0;
  // Fills pr_reg (prstatus_regs() longs) from a snapshot of this model.
  virtual void fill_prstatus(const VcpuRegs& regs, uint64_t* pr_reg) const = 0;
  // The notes following each NT_PRSTATUS; `regs` null: the vCPU has no
  // snapshot (same notes and sizes, zero contents).
  virtual std::vector<CoreNote> extra_notes(const VcpuRegs* regs) const = 0;

  // ---- exit traces (vmm/exit_trace.h)
  // Capstone's cs_arch and cs_mode for an instruction of decode mode `mode`
  // (InsnContext::mode).
  struct Disasm {
    int cs_arch, cs_mode;
  };
  virtual Disasm disasm(uint8_t mode) const = 0;

  // ---- debugger
  // gdb's register numbering, in order; the target description
  // (GdbTargetXml) is made from it.
  virtual std::span<const GdbReg> gdb_registers() const = 0;
  // gdb's <architecture> name (as `set architecture` lists them).
  virtual const char* gdb_architecture() const = 0;
  // The software breakpoint instruction a debugger plants (its bytes as
  // they lie in guest memory); KVM_GUESTDBG_USE_SW_BP turns it into a
  // Debug exit.
  virtual std::string_view gdb_breakpoint() const = 0;
};

// gdb's target description (the target.xml annex of qXfer:features:read):
// the architecture and one <feature> per run of registers sharing one.
std::string GdbTargetXml(const CpuModel& model);

// Register `regno` of a snapshot, little-endian, bits/8 bytes into `out`
// (which holds at least that many). False: no such register, or not in the
// snapshot (the debugger is told it is unavailable).
bool GdbGetReg(const CpuModel& model, const VcpuRegs& regs, unsigned regno, uint8_t* out,
               size_t out_len);
// Sets register `regno` from `len` little-endian bytes (len == bits/8).
// False: no such register, not in the snapshot, or the wrong length.
bool GdbSetReg(const CpuModel& model, VcpuRegs& regs, unsigned regno, const uint8_t* in,
               size_t len);

}  // namespace qvm
