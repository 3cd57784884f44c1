// The aarch64 register model (vmm/cpu_model.h): the register block of a
// vCPU snapshot, its layout in guest dumps, its Capstone mode and gdb's
// view of it. Plain code without KVM: built on every architecture.
//
// Guest dumps (vmm/dump.h): e_machine EM_AARCH64; NT_PRSTATUS's pr_reg is
// Linux's user_pt_regs (392-byte elf_prstatus, 34 longs): x0..x30 sp pc
// pstate. No further notes.
//
// gdb (as gdb's aarch64 target numbers them): 0-30 x0..x30, 31 sp, 32 pc,
// 33 cpsr (feature org.gnu.gdb.aarch64.core).
#pragma once

#include <cstdint>

#include "vmm/cpu_model.h"

namespace qvm {

// The register block (VcpuRegs::words; RegsAs/SetRegs): the core
// registers as Linux's user_pt_regs has them.
struct Aarch64Regs {
  uint64_t x[31] = {};
  uint64_t sp = 0;  // of the current exception level (SP_EL1 in EL1h, else SP_EL0)
  uint64_t pc = 0, pstate = 0;
};

const CpuModel& Aarch64CpuModel();

}  // namespace qvm
