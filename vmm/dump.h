// Guest dumps: an ELF64 core file that gdb opens (`gdb -c FILE`).
//   PT_NOTE  one NT_PRSTATUS per vCPU (pr_pid = vCPU index + 1, so gdb shows
//            one thread per vCPU) with the general registers in the host
//            kernel's elf_gregset_t layout (x86_64: user_regs_struct);
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

// One vCPU's registers for the dump (`valid` false: zeros are written).
struct DumpVcpu {
  VcpuRegs regs;
  bool valid = false;
  uint64_t rflags = 0;  // parsed from regs.text when the arch gives it
};

// `<system>-YYYYMMDD-hhmmss.gcore` (local time).
std::string DumpFileName(const std::string& system, time_t when);

// Writes the core to `fd` (file or pipe).
// `trace` (may be empty): the exit trace as text, stored as an extra note
// (owner "QVM", type kNoteQvmTrace) that `readelf -n` shows and gdb ignores.
inline constexpr uint32_t kNoteQvmTrace = 0x51540001;
absl::Status WriteCore(int fd, const std::vector<DumpVcpu>& vcpus,
                       const GuestMemory& mem, const std::string& trace = "");

// Size in bytes WriteCore produces (for tests and progress messages).
uint64_t CoreSize(size_t nvcpus, const GuestMemory& mem, const std::string& trace = "");

}  // namespace qvm
