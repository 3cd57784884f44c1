// Guest dumps: an ELF64 core file that gdb opens (`gdb -c FILE`; for a
// guest of another architecture than the host, `gdb-multiarch -c FILE`).
//   e_machine EM_X86_64 or EM_AARCH64: the guest's architecture (given to
//            WriteCore explicitly, independent of the host qvm runs on);
//   PT_NOTE  one NT_PRSTATUS ("CORE") per vCPU (pr_pid = vCPU index + 1, so
//            gdb shows one thread per vCPU) laid out as Linux's struct
//            elf_prstatus of that architecture: pr_pid at byte 32, the
//            general registers at byte 112 —
//              x86_64  (336 bytes) user_regs_struct, 27 longs: r15 r14 r13
//                      r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi
//                      orig_rax rip cs eflags rsp ss fs_base gs_base ds es
//                      fs gs (orig_rax = -1: not in a system call);
//              aarch64 (392 bytes) user_pt_regs, 34 longs: x0..x30 sp pc
//                      pstate.
//            x86_64 vCPUs: each NT_PRSTATUS is followed by a "QVM" note of
//            type kNoteQvmX86Control: cr0 cr2 cr3 cr4 efer (5 x u64) — what
//            a reader needs to walk the guest's page tables.
//   PT_LOAD  one per guest RAM/ROM region, p_vaddr = p_paddr = the
//            guest-physical address (gdb reads guest memory by physical
//            address; with paging off or identity-mapped code that is what
//            the guest sees).
// The file is written sequentially (it can go into a pipe).
#pragma once

#include <ctime>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "vmm/backend.h"
#include "vmm/guest_memory.h"

namespace qvm {

// One vCPU's registers for the dump (`valid` false, or registers of another
// architecture than the dump's: zeros are written).
struct DumpVcpu {
  VcpuRegs regs;
  bool valid = false;
};

// Layout of NT_PRSTATUS (see above): total size per architecture (0 for
// Unknown), and the byte offsets of pr_pid and pr_reg.
size_t PrstatusSize(CpuArch arch);
inline constexpr size_t kPrstatusPidOffset = 32;
inline constexpr size_t kPrstatusRegOffset = 112;
// ELF e_machine of a core for `arch` (EM_NONE for Unknown).
uint16_t CoreMachine(CpuArch arch);

// `<system>-YYYYMMDD-hhmmss.gcore` (local time).
std::string DumpFileName(const std::string& system, time_t when);

// Writes the core to `fd` (file or pipe).
// `trace` (may be empty): the exit trace as text, stored as an extra note
// (owner "QVM", type kNoteQvmTrace) that `readelf -n` shows and gdb ignores.
// `arch` selects e_machine and the register layout; Unknown is an error
// (nothing is written).
inline constexpr uint32_t kNoteQvmTrace = 0x51540001;
inline constexpr uint32_t kNoteQvmX86Control = 0x51540002;
absl::Status WriteCore(int fd, CpuArch arch, const std::vector<DumpVcpu>& vcpus,
                       const GuestMemory& mem, const std::string& trace = "");

// Size in bytes WriteCore produces (for tests and progress messages).
uint64_t CoreSize(CpuArch arch, size_t nvcpus, const GuestMemory& mem,
                  const std::string& trace = "");

}  // namespace qvm
