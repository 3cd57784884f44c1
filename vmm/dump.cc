#include "vmm/dump.h"

#include <elf.h>
#include <sys/procfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace qvm {
namespace {

constexpr uint64_t kAlign = 4096;

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

size_t NoteSize(size_t namesz, size_t descsz) {
  return 12 + AlignUp(namesz, 4) + AlignUp(descsz, 4);
}

void AppendNote(std::string* out, const char* name, uint32_t type,
                const void* desc, size_t descsz) {
  uint32_t hdr[3] = {uint32_t(strlen(name) + 1), uint32_t(descsz), type};
  out->append(reinterpret_cast<const char*>(hdr), sizeof hdr);
  out->append(name, hdr[0]);
  out->append(AlignUp(hdr[0], 4) - hdr[0], '\0');
  out->append(static_cast<const char*>(desc), descsz);
  out->append(AlignUp(descsz, 4) - descsz, '\0');
}

void FillRegs(const DumpVcpu& v, elf_prstatus* ps) {
  if (!v.valid) return;
  const VcpuRegs& r = v.regs;
#if defined(__x86_64__)
  // VcpuRegs.gpr (x86_64): rax rbx rcx rdx rsi rdi rbp rsp r8..r15.
  // elf_gregset_t: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi
  // orig_rax rip cs eflags rsp ss fs_base gs_base ds es fs gs.
  if (r.ngpr >= 16) {
    static const int kMap[16] = {10, 5, 11, 12, 13, 14, 4, 19,
                                 9,  8, 7,  6,  3,  2,  1, 0};
    for (int i = 0; i < 16; i++) ps->pr_reg[kMap[i]] = r.gpr[i];
  }
  ps->pr_reg[16] = r.pc;
  ps->pr_reg[19] = r.sp;
  ps->pr_reg[18] = v.rflags;
#elif defined(__aarch64__)
  // elf_gregset_t: x0..x30, sp, pc, pstate.
  for (unsigned i = 0; i < 31 && i < r.ngpr; i++) ps->pr_reg[i] = r.gpr[i];
  ps->pr_reg[31] = r.sp;
  ps->pr_reg[32] = r.pc;
#else
  (void)r;
#endif
}

absl::Status WriteAll(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n) {
    ssize_t k = ::write(fd, c, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("writing the dump: ", strerror(errno)));
    }
    c += k;
    n -= size_t(k);
  }
  return absl::OkStatus();
}

absl::Status WriteZeros(int fd, uint64_t n) {
  static const char zeros[4096] = {};
  while (n) {
    size_t k = n < sizeof zeros ? size_t(n) : sizeof zeros;
    absl::Status st = WriteAll(fd, zeros, k);
    if (!st.ok()) return st;
    n -= k;
  }
  return absl::OkStatus();
}

}  // namespace

std::string DumpFileName(const std::string& system, time_t when) {
  struct tm tm;
  localtime_r(&when, &tm);
  return absl::StrFormat("%s-%04d%02d%02d-%02d%02d%02d.gcore", system,
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                         tm.tm_hour, tm.tm_min, tm.tm_sec);
}

uint64_t CoreSize(size_t nvcpus, const GuestMemory& mem, const std::string& trace) {
  size_t nph = 1 + mem.regions().size();
  uint64_t notes = NoteSize(5, sizeof(elf_prstatus)) * nvcpus;
  if (!trace.empty()) notes += NoteSize(4, trace.size());
  uint64_t off = AlignUp(sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr) + notes, kAlign);
  for (const auto& r : mem.regions()) off = AlignUp(off, kAlign) + r.size;
  return off;
}

absl::Status WriteCore(int fd, const std::vector<DumpVcpu>& vcpus,
                       const GuestMemory& mem, const std::string& trace) {
  std::string notes;
  for (size_t i = 0; i < vcpus.size(); i++) {
    elf_prstatus ps;
    memset(&ps, 0, sizeof ps);
    ps.pr_pid = pid_t(i + 1);
    FillRegs(vcpus[i], &ps);
    AppendNote(&notes, "CORE", NT_PRSTATUS, &ps, sizeof ps);
  }
  if (!trace.empty()) AppendNote(&notes, "QVM", kNoteQvmTrace, trace.data(), trace.size());
  const auto& regions = mem.regions();
  size_t nph = 1 + regions.size();
  uint64_t hdrs = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr);

  Elf64_Ehdr eh;
  memset(&eh, 0, sizeof eh);
  memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
  eh.e_type = ET_CORE;
#if defined(__x86_64__)
  eh.e_machine = EM_X86_64;
#elif defined(__aarch64__)
  eh.e_machine = EM_AARCH64;
#endif
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = uint16_t(nph);

  std::vector<Elf64_Phdr> ph(nph);
  memset(ph.data(), 0, nph * sizeof(Elf64_Phdr));
  ph[0].p_type = PT_NOTE;
  ph[0].p_offset = hdrs;
  ph[0].p_filesz = notes.size();
  ph[0].p_align = 4;
  uint64_t off = AlignUp(hdrs + notes.size(), kAlign);
  for (size_t i = 0; i < regions.size(); i++) {
    Elf64_Phdr& p = ph[i + 1];
    p.p_type = PT_LOAD;
    p.p_flags = PF_R | PF_X | (regions[i].readonly ? 0 : PF_W);
    p.p_offset = off;
    p.p_vaddr = p.p_paddr = regions[i].gpa;
    p.p_filesz = p.p_memsz = regions[i].size;
    p.p_align = kAlign;
    off = AlignUp(off + regions[i].size, kAlign);
  }

  absl::Status st = WriteAll(fd, &eh, sizeof eh);
  if (st.ok()) st = WriteAll(fd, ph.data(), nph * sizeof(Elf64_Phdr));
  if (st.ok()) st = WriteAll(fd, notes.data(), notes.size());
  uint64_t pos = hdrs + notes.size();
  for (size_t i = 0; st.ok() && i < regions.size(); i++) {
    st = WriteZeros(fd, ph[i + 1].p_offset - pos);
    if (st.ok()) st = WriteAll(fd, regions[i].host, regions[i].size);
    pos = ph[i + 1].p_offset + regions[i].size;
  }
  return st;
}

}  // namespace qvm
