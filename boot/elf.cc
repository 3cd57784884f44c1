#include "boot/elf.h"

#include <cstring>

#include "absl/strings/str_format.h"

namespace qvm::boot {
namespace {

template <typename T>
T Get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // little-endian host (x86_64/aarch64)
  return v;
}

constexpr uint64_t kMaxPhnum = 4096;
constexpr uint64_t kMaxNoteBytes = 1 << 20;
constexpr size_t kMaxNotes = 4096;

}  // namespace

bool LooksLikeElf(const ImageFile& f) {
  uint8_t m[4];
  return f.read(0, m, 4) && m[0] == 0x7f && m[1] == 'E' && m[2] == 'L' &&
         m[3] == 'F';
}

absl::StatusOr<ElfImage> ParseElf(const ImageFile& f) {
  uint8_t eh[64] = {};
  if (f.size() < 52 || !f.read(0, eh, f.size() < 64 ? 52 : 64)) {
    return f.bad(absl::StrFormat("ELF header truncated (file size %u)",
                                 f.size()));
  }
  if (!LooksLikeElf(f)) return f.bad("not an ELF file");
  ElfImage img;
  uint8_t cls = eh[4], data = eh[5], ver = eh[6];
  if (cls != 1 && cls != 2) {
    return f.bad(absl::StrFormat("ELF class %u is neither 32- nor 64-bit", cls));
  }
  img.is64 = cls == 2;
  if (img.is64 && f.size() < 64) {
    return f.bad(absl::StrFormat("ELF64 header truncated (file size %u)",
                                 f.size()));
  }
  if (data != 1) {
    return f.bad(absl::StrFormat(
        "ELF data encoding %u is not little-endian (1)", data));
  }
  if (ver != 1) return f.bad(absl::StrFormat("ELF version %u is not 1", ver));
  img.type = Get<uint16_t>(eh + 16);
  img.machine = Get<uint16_t>(eh + 18);
  uint64_t phoff;
  uint16_t phentsize, phnum;
  if (img.is64) {
    img.entry = Get<uint64_t>(eh + 24);
    phoff = Get<uint64_t>(eh + 32);
    phentsize = Get<uint16_t>(eh + 54);
    phnum = Get<uint16_t>(eh + 56);
  } else {
    img.entry = Get<uint32_t>(eh + 24);
    phoff = Get<uint32_t>(eh + 28);
    phentsize = Get<uint16_t>(eh + 42);
    phnum = Get<uint16_t>(eh + 44);
  }
  const uint16_t want = img.is64 ? 56 : 32;
  if (phnum == 0) return f.bad("ELF has no program headers");
  if (phnum == 0xffff || phnum > kMaxPhnum) {
    return f.bad(absl::StrFormat("ELF e_phnum %u is not supported (max %u)",
                                 phnum, kMaxPhnum));
  }
  if (phentsize != want) {
    return f.bad(absl::StrFormat("ELF e_phentsize %u, expected %u", phentsize,
                                 want));
  }
  const uint64_t table = uint64_t{phnum} * phentsize;  // <= 4096*56
  if (!f.in_file(phoff, table)) {
    return f.bad(absl::StrFormat(
        "ELF program header table (offset 0x%x, %u entries of %u bytes) "
        "extends past end of file (size %u)",
        phoff, phnum, phentsize, f.size()));
  }
  std::vector<uint8_t> ph(static_cast<size_t>(table));
  if (!f.read(phoff, ph.data(), ph.size())) {
    return f.bad("read error in ELF program headers");
  }
  for (unsigned i = 0; i < phnum; i++) {
    const uint8_t* p = ph.data() + size_t{i} * phentsize;
    ElfSegment s;
    if (img.is64) {
      s.type = Get<uint32_t>(p + 0);
      s.flags = Get<uint32_t>(p + 4);
      s.offset = Get<uint64_t>(p + 8);
      s.vaddr = Get<uint64_t>(p + 16);
      s.paddr = Get<uint64_t>(p + 24);
      s.filesz = Get<uint64_t>(p + 32);
      s.memsz = Get<uint64_t>(p + 40);
      s.align = Get<uint64_t>(p + 48);
    } else {
      s.type = Get<uint32_t>(p + 0);
      s.offset = Get<uint32_t>(p + 4);
      s.vaddr = Get<uint32_t>(p + 8);
      s.paddr = Get<uint32_t>(p + 12);
      s.filesz = Get<uint32_t>(p + 16);
      s.memsz = Get<uint32_t>(p + 20);
      s.flags = Get<uint32_t>(p + 24);
      s.align = Get<uint32_t>(p + 28);
    }
    if (s.type == kPtLoad || s.type == kPtNote) {
      const char* what = s.type == kPtLoad ? "PT_LOAD" : "PT_NOTE";
      if (!f.in_file(s.offset, s.filesz)) {
        return f.bad(absl::StrFormat(
            "ELF %s segment %u: p_offset 0x%x + p_filesz 0x%x extends past "
            "end of file (size 0x%x)",
            what, i, s.offset, s.filesz, f.size()));
      }
    }
    if (s.type == kPtLoad) {
      if (s.filesz > s.memsz) {
        return f.bad(absl::StrFormat(
            "ELF PT_LOAD segment %u: p_filesz 0x%x exceeds p_memsz 0x%x", i,
            s.filesz, s.memsz));
      }
      if (s.memsz > UINT64_MAX - s.paddr) {
        return f.bad(absl::StrFormat(
            "ELF PT_LOAD segment %u: p_paddr 0x%x + p_memsz 0x%x overflows",
            i, s.paddr, s.memsz));
      }
    }
    img.phdrs.push_back(s);
  }
  return img;
}

absl::StatusOr<std::vector<ElfNote>> ReadElfNotes(const ImageFile& f,
                                                  const ElfImage& elf) {
  std::vector<ElfNote> notes;
  for (size_t i = 0; i < elf.phdrs.size(); i++) {
    const ElfSegment& s = elf.phdrs[i];
    if (s.type != kPtNote || s.filesz == 0) continue;
    if (s.filesz > kMaxNoteBytes) {
      return f.bad(absl::StrFormat(
          "ELF PT_NOTE segment %u is 0x%x bytes (max 0x%x)", i, s.filesz,
          kMaxNoteBytes));
    }
    std::vector<uint8_t> buf(static_cast<size_t>(s.filesz));
    if (!f.read(s.offset, buf.data(), buf.size())) {
      return f.bad(absl::StrFormat("ELF PT_NOTE segment %u unreadable", i));
    }
    // Notes are 4-byte aligned (8 when the segment says so).
    const size_t al = s.align == 8 ? 8 : 4;
    size_t pos = 0;
    while (buf.size() - pos >= 12) {
      if (notes.size() >= kMaxNotes) return f.bad("too many ELF notes");
      uint32_t namesz = Get<uint32_t>(buf.data() + pos);
      uint32_t descsz = Get<uint32_t>(buf.data() + pos + 4);
      uint32_t type = Get<uint32_t>(buf.data() + pos + 8);
      pos += 12;
      auto pad = [al](uint64_t n) { return (n + al - 1) & ~uint64_t(al - 1); };
      uint64_t nlen = pad(namesz), dlen = pad(descsz);
      if (namesz > buf.size() - pos) {
        return f.bad(absl::StrFormat(
            "ELF PT_NOTE segment %u: note name size %u overruns the segment",
            i, namesz));
      }
      ElfNote n;
      n.type = type;
      n.name.assign(reinterpret_cast<const char*>(buf.data() + pos),
                    namesz > 0 ? namesz - 1 : 0);
      if (namesz > 0 && buf[pos + namesz - 1] != 0) {
        n.name.assign(reinterpret_cast<const char*>(buf.data() + pos), namesz);
      }
      pos += static_cast<size_t>(nlen > buf.size() - pos ? buf.size() - pos
                                                         : nlen);
      if (descsz > buf.size() - pos) {
        return f.bad(absl::StrFormat(
            "ELF PT_NOTE segment %u: note desc size %u overruns the segment",
            i, descsz));
      }
      n.desc.assign(buf.begin() + static_cast<std::ptrdiff_t>(pos),
                    buf.begin() + static_cast<std::ptrdiff_t>(pos + descsz));
      pos += static_cast<size_t>(dlen > buf.size() - pos ? buf.size() - pos
                                                         : dlen);
      notes.push_back(std::move(n));
    }
  }
  return notes;
}

}  // namespace qvm::boot
