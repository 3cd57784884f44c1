#include "vmm/dump.h"

#include <elf.h>
#include <unistd.h>

#include <bit>
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

// The size of the whole elf_prstatus: the 112-byte head (siginfo, cursig,
// sigpend, sighold, pid/ppid/pgrp/sid, four timevals), pr_reg (`nregs`
// longs), then int pr_fpvalid padded to 8.
constexpr size_t PrSize(size_t nregs) { return kPrstatusRegOffset + nregs * 8 + 8; }
static_assert(std::endian::native == std::endian::little,
              "dumps are written in the host's byte order; the guests are little-endian");

// One vCPU's notes: NT_PRSTATUS, then the architecture's own.
void AppendVcpuNotes(std::string* out, const CpuModel& model, size_t index, const DumpVcpu& v) {
  bool ok = v.valid && v.regs.model == &model;
  std::vector<uint64_t> g(model.prstatus_regs(), 0);
  if (ok) model.fill_prstatus(v.regs, g.data());
  std::string ps(PrSize(g.size()), '\0');
  int32_t pid = int32_t(index + 1);
  memcpy(ps.data() + kPrstatusPidOffset, &pid, sizeof pid);
  memcpy(ps.data() + kPrstatusRegOffset, g.data(), g.size() * 8);
  AppendNote(out, "CORE", NT_PRSTATUS, ps.data(), ps.size());
  for (const CoreNote& n : model.extra_notes(ok ? &v.regs : nullptr))
    AppendNote(out, n.owner.c_str(), n.type, n.desc.data(), n.desc.size());
}

uint64_t VcpuNotesSize(const CpuModel& model) {
  uint64_t n = NoteSize(5, PrSize(model.prstatus_regs()));
  for (const CoreNote& e : model.extra_notes(nullptr))
    n += NoteSize(e.owner.size() + 1, e.desc.size());
  return n;
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

size_t PrstatusSize(const CpuModel& model) { return PrSize(model.prstatus_regs()); }

uint64_t CoreSize(const CpuModel& model, size_t nvcpus, const GuestMemory& mem,
                  const std::string& trace) {
  size_t nph = 1 + mem.regions().size();
  uint64_t notes = VcpuNotesSize(model) * nvcpus;
  if (!trace.empty()) notes += NoteSize(4, trace.size());
  uint64_t off = AlignUp(sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr) + notes, kAlign);
  for (const auto& r : mem.regions()) off = AlignUp(off, kAlign) + r.size;
  return off;
}

absl::Status WriteCore(int fd, const CpuModel& model, const std::vector<DumpVcpu>& vcpus,
                       const GuestMemory& mem, const std::string& trace) {
  if (model.elf_machine() == EM_NONE)
    return absl::InvalidArgumentError("guest dump: the architecture has no ELF machine");
  std::string notes;
  for (size_t i = 0; i < vcpus.size(); i++) AppendVcpuNotes(&notes, model, i, vcpus[i]);
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
  eh.e_machine = model.elf_machine();
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
