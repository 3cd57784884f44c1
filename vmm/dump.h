// Guest dumps: an ELF64 core file that gdb opens (`gdb -c FILE`; for a
// guest of another architecture than the host, `gdb-multiarch -c FILE`).
//   e_machine the guest's architecture (CpuModel::elf_machine, given to
//            WriteCore explicitly, independent of the host qvm runs on);
//   PT_NOTE  one NT_PRSTATUS ("CORE") per vCPU (pr_pid = vCPU index + 1, so
//            gdb shows one thread per vCPU) laid out as Linux's struct
//            elf_prstatus of that architecture: pr_pid at byte 32, the
//            general registers at byte 112 (CpuModel::fill_prstatus, the
//            architecture's user_regs_struct), then int pr_fpvalid padded
//            to 8; each followed by the architecture's extra notes
//            (CpuModel::extra_notes). Each architecture's regs.h
//            (arch/<arch>/) gives its layout.
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
// model than the dump's: zeros are written).
struct DumpVcpu {
  VcpuRegs regs;
  bool valid = false;
};

// Layout of NT_PRSTATUS (see above): total size for `model`, and the byte
// offsets of pr_pid and pr_reg.
size_t PrstatusSize(const CpuModel& model);
inline constexpr size_t kPrstatusPidOffset = 32;
inline constexpr size_t kPrstatusRegOffset = 112;
// `<system>-YYYYMMDD-hhmmss.gcore` (local time).
std::string DumpFileName(const std::string& system, time_t when);

// Writes the core to `fd` (file or pipe).
// `trace` (may be empty): the exit trace as text, stored as an extra note
// (owner "QVM", type kNoteQvmTrace) that `readelf -n` shows and gdb ignores.
// `model` selects e_machine and the register layout.
inline constexpr uint32_t kNoteQvmTrace = 0x51540001;
absl::Status WriteCore(int fd, const CpuModel& model, const std::vector<DumpVcpu>& vcpus,
                       const GuestMemory& mem, const std::string& trace = "");

// Size in bytes WriteCore produces (for tests and progress messages).
uint64_t CoreSize(const CpuModel& model, size_t nvcpus, const GuestMemory& mem,
                  const std::string& trace = "");

}  // namespace qvm
