// The x86_64 register model (vmm/cpu_model.h): the register block of a
// vCPU snapshot, its layout in guest dumps, its Capstone mode and gdb's
// view of it. Plain code without KVM: built on every architecture.
//
// Guest dumps (vmm/dump.h): e_machine EM_X86_64; NT_PRSTATUS's pr_reg is
// Linux's user_regs_struct (336-byte elf_prstatus, 27 longs): r15 r14 r13
// r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp
// ss fs_base gs_base ds es fs gs (orig_rax = -1: not in a system call).
// Each NT_PRSTATUS is followed by a "QVM" note of type kNoteQvmX86Control:
// cr0 cr2 cr3 cr4 efer (5 x u64), what a reader needs to walk the guest's
// page tables.
//
// gdb (register numbers as gdb's amd64 target numbers them): 0-15 rax rbx
// rcx rdx rsi rdi rbp rsp r8..r15, 16 rip, 17 eflags, 18-23 cs ss ds es fs
// gs (feature org.gnu.gdb.i386.core, which also holds the x87 registers
// 24-39), 40-56 xmm0..15 and mxcsr (org.gnu.gdb.i386.sse), 57-58 fs_base
// gs_base (org.gnu.gdb.i386.segments), 59-63 cr0 cr2 cr3 cr4 efer
// (org.qvm.gdb.x86_64.sys). The x87 and SSE registers are not in the
// snapshot: a debugger sees them as unavailable.
#pragma once

#include <cstdint>

#include "vmm/cpu_model.h"

namespace qvm {

// The register block (VcpuRegs::words; RegsAs/SetRegs): general, segment
// and control registers, every field 64 bits (selectors zero-extended).
struct X86_64Regs {
  uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0, rsi = 0, rdi = 0, rbp = 0, rsp = 0;
  uint64_t r8 = 0, r9 = 0, r10 = 0, r11 = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;
  uint64_t rip = 0, rflags = 0;
  uint64_t cs = 0, ss = 0, ds = 0, es = 0, fs = 0, gs = 0;  // selectors
  uint64_t fs_base = 0, gs_base = 0;
  uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0, efer = 0;
};

inline constexpr uint32_t kNoteQvmX86Control = 0x51540002;

const CpuModel& X86_64CpuModel();

}  // namespace qvm
