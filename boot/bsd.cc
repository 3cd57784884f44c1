#include "boot/bsd.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace qvm::boot::bsd {
namespace {

template <typename T>
void Put(std::vector<uint8_t>& b, size_t off, T v) {
  std::memcpy(b.data() + off, &v, sizeof v);
}
template <typename T>
T Get(const uint8_t* p, size_t off) {
  T v;
  std::memcpy(&v, p + off, sizeof v);
  return v;
}
size_t Align(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

constexpr uint32_t kShtSymtab = 2, kShtStrtab = 3, kShtNote = 7;
constexpr size_t kEhdrSize = 64, kShdrSize = 64;
constexpr size_t kMaxSections = 4096;
constexpr uint64_t kMaxSymbolBytes = uint64_t{1} << 30;

struct Section {
  uint32_t type = 0, link = 0;
  uint64_t offset = 0, size = 0;
};

struct Sections {
  std::vector<uint8_t> ehdr;  // 64 bytes
  std::vector<uint8_t> table; // e_shnum * 64 bytes
  std::vector<Section> s;
};

// Reads the ELF64 header and section header table (bounds-checked). An
// image without sections gives an empty list.
absl::StatusOr<Sections> ReadSections(const ImageFile& k) {
  Sections out;
  out.ehdr.resize(kEhdrSize);
  if (!k.read(0, out.ehdr.data(), kEhdrSize)) return k.bad("ELF header truncated");
  const uint64_t shoff = Get<uint64_t>(out.ehdr.data(), 0x28);
  const uint16_t shentsize = Get<uint16_t>(out.ehdr.data(), 0x3a);
  const uint16_t shnum = Get<uint16_t>(out.ehdr.data(), 0x3c);
  if (shoff == 0 || shnum == 0) return out;
  if (shentsize != kShdrSize)
    return k.bad(absl::StrFormat("ELF e_shentsize %u (want 64)", shentsize));
  if (shnum > kMaxSections)
    return k.bad(absl::StrFormat("ELF e_shnum %u exceeds %u", shnum, kMaxSections));
  if (!k.in_file(shoff, uint64_t{shnum} * kShdrSize))
    return k.bad("ELF section header table extends past end of file");
  out.table.resize(size_t{shnum} * kShdrSize);
  if (!k.read(shoff, out.table.data(), out.table.size()))
    return k.bad("cannot read ELF section headers");
  for (size_t i = 0; i < shnum; i++) {
    const uint8_t* h = out.table.data() + i * kShdrSize;
    Section s;
    s.type = Get<uint32_t>(h, 4);
    s.offset = Get<uint64_t>(h, 0x18);
    s.size = Get<uint64_t>(h, 0x20);
    s.link = Get<uint32_t>(h, 0x28);
    out.s.push_back(s);
  }
  return out;
}

bool CopiedForSymbols(uint32_t type) { return type == kShtSymtab || type == kShtStrtab; }

// Notes inside one buffer (Elf64_Nhdr: namesz, descsz, type; 4-aligned).
bool ScanNotes(const std::vector<uint8_t>& b, Flavor* out) {
  size_t off = 0;
  for (int guard = 0; guard < 4096 && off + 12 <= b.size(); guard++) {
    uint32_t namesz = Get<uint32_t>(b.data(), off);
    uint32_t descsz = Get<uint32_t>(b.data(), off + 4);
    uint32_t type = Get<uint32_t>(b.data(), off + 8);
    size_t name_off = off + 12;
    if (namesz > b.size() - name_off) return false;
    size_t desc_off = Align(name_off + namesz, 4);
    if (desc_off > b.size() || descsz > b.size() - desc_off) return false;
    std::string name(reinterpret_cast<const char*>(b.data() + name_off),
                     namesz && b[name_off + namesz - 1] == 0 ? namesz - 1 : namesz);
    if (type == 1) {
      if (name == "NetBSD") { *out = Flavor::NetBSD; return true; }
      if (name == "OpenBSD") { *out = Flavor::OpenBSD; return true; }
      if (name == "FreeBSD") { *out = Flavor::FreeBSD; return true; }
    }
    off = Align(desc_off + descsz, 4);
  }
  return false;
}

}  // namespace

const char* FlavorName(Flavor f) {
  switch (f) {
    case Flavor::NetBSD: return "netbsd";
    case Flavor::OpenBSD: return "openbsd";
    case Flavor::FreeBSD: return "freebsd";
    default: return "none";
  }
}

absl::StatusOr<Flavor> Detect(const ImageFile& k, const ElfImage& elf) {
  if (!elf.is64 || elf.machine != kEmX86_64 || elf.type != kEtExec) return Flavor::None;
  auto notes = ReadElfNotes(k, elf);
  if (!notes.ok()) return notes.status();
  for (const ElfNote& n : *notes) {
    if (n.type != 1) continue;
    if (n.name == "NetBSD") return Flavor::NetBSD;
    if (n.name == "OpenBSD") return Flavor::OpenBSD;
    if (n.name == "FreeBSD") return Flavor::FreeBSD;
  }
  auto secs = ReadSections(k);
  if (!secs.ok()) return secs.status();
  for (const Section& s : secs->s) {
    if (s.type != kShtNote || s.size == 0) continue;
    if (s.size > 65536 || !k.in_file(s.offset, s.size))
      return k.bad("ELF note section extends past end of file (or over 64 KiB)");
    std::vector<uint8_t> b(s.size);
    if (!k.read(s.offset, b.data(), b.size())) return k.bad("cannot read ELF note section");
    Flavor f;
    if (ScanNotes(b, &f)) return f;
  }
  uint8_t ident[16];
  if (!k.read(0, ident, sizeof ident)) return k.bad("ELF header truncated");
  switch (ident[7]) {
    case kOsabiNetBSD: return Flavor::NetBSD;
    case kOsabiOpenBSD: return Flavor::OpenBSD;
    case kOsabiFreeBSD: return Flavor::FreeBSD;
    default: return Flavor::None;
  }
}

uint64_t PhysOf(Flavor f, uint64_t vaddr) {
  if (f == Flavor::FreeBSD) return vaddr >= kFreeBsdKernbase ? vaddr - kFreeBsdKernbase : vaddr;
  return vaddr & 0x0fffffffull;
}

absl::StatusOr<std::vector<uint8_t>> ElfSymbolBlob(const ImageFile& k) {
  auto secs = ReadSections(k);
  if (!secs.ok()) return secs.status();
  bool have = false;
  for (const Section& s : secs->s) have |= s.type == kShtSymtab;
  if (!have) return std::vector<uint8_t>{};
  std::vector<uint8_t> out(Align(kEhdrSize + secs->table.size(), 8), 0);
  std::memcpy(out.data(), secs->ehdr.data(), kEhdrSize);
  Put<uint64_t>(out, 0x20, 0);          // e_phoff
  Put<uint64_t>(out, 0x28, kEhdrSize);  // e_shoff
  Put<uint16_t>(out, 0x36, 0);          // e_phentsize
  Put<uint16_t>(out, 0x38, 0);          // e_phnum
  std::memcpy(out.data() + kEhdrSize, secs->table.data(), secs->table.size());
  for (size_t i = 0; i < secs->s.size(); i++) {
    const Section& s = secs->s[i];
    const size_t field = kEhdrSize + i * kShdrSize + 0x18;
    if (!CopiedForSymbols(s.type)) {
      Put<uint64_t>(out, field, 0);
      continue;
    }
    if (!k.in_file(s.offset, s.size))
      return k.bad(absl::StrFormat("ELF section %u extends past end of file", i));
    if (s.size > kMaxSymbolBytes - out.size())
      return k.bad("ELF symbol tables exceed 1 GiB");
    const size_t at = out.size();
    Put<uint64_t>(out, field, at);
    out.resize(Align(at + s.size, 8), 0);
    if (s.size && !k.read(s.offset, out.data() + at, s.size))
      return k.bad("cannot read ELF symbol section");
  }
  return out;
}

absl::StatusOr<std::vector<uint8_t>> FreeBsdSymbolBlob(const ImageFile& k) {
  auto secs = ReadSections(k);
  if (!secs.ok()) return secs.status();
  const Section* sym = nullptr;
  for (const Section& s : secs->s)
    if (s.type == kShtSymtab) { sym = &s; break; }
  if (!sym) return std::vector<uint8_t>{};
  if (sym->link >= secs->s.size() || secs->s[sym->link].type != kShtStrtab)
    return k.bad("ELF .symtab's sh_link does not name a string table");
  const Section* str = &secs->s[sym->link];
  std::vector<uint8_t> out;
  for (const Section* s : {sym, str}) {
    if (!k.in_file(s->offset, s->size))
      return k.bad("ELF symbol section extends past end of file");
    if (s->size > kMaxSymbolBytes - out.size()) return k.bad("ELF symbol tables exceed 1 GiB");
    size_t at = out.size();
    out.resize(Align(at + 8 + s->size, 8), 0);
    Put<uint64_t>(out, at, s->size);
    if (s->size && !k.read(s->offset, out.data() + at + 8, s->size))
      return k.bad("cannot read ELF symbol section");
  }
  return out;
}

absl::StatusOr<Howto> ParseCmdline(Flavor f, const std::string& cmdline) {
  Howto h;
  if (f == Flavor::FreeBSD) h.howto |= kRbFreeBsdSerial;
  for (absl::string_view w : absl::StrSplit(cmdline, ' ', absl::SkipEmpty())) {
    if (w.size() >= 2 && w[0] == '-') {
      for (char c : w.substr(1)) {
        switch (c) {
          case 'a': h.howto |= kRbAskname; break;
          case 's': h.howto |= kRbSingle; break;
          case 'd': h.howto |= kRbKdb; break;
          case 'v':
            if (f == Flavor::FreeBSD) { h.howto |= kRbFreeBsdVerbose; break; }
            [[fallthrough]];
          default:
            return absl::InvalidArgumentError(absl::StrFormat(
                "cmdline: `%s`: %s boot flags are -a, -s, -d%s", w, FlavorName(f),
                f == Flavor::FreeBSD ? ", -v and NAME=VALUE" : ""));
        }
      }
      continue;
    }
    size_t eq = w.find('=');
    if (f == Flavor::FreeBSD && eq != absl::string_view::npos && eq > 0) {
      h.env.emplace_back(w);
      continue;
    }
    return absl::InvalidArgumentError(absl::StrFormat(
        "cmdline: `%s` is not understood by the %s boot protocol (flags: -a -s -d%s)", w,
        FlavorName(f), f == Flavor::FreeBSD ? " -v, or NAME=VALUE" : ""));
  }
  return h;
}

absl::StatusOr<std::vector<uint8_t>> NetBsdBootinfo(uint64_t gpa,
                                                    const std::vector<MemEntry>& mem,
                                                    uint64_t ssym, uint64_t esym) {
  std::vector<std::vector<uint8_t>> recs;
  {
    std::vector<uint8_t> r(32, 0);  // btinfo_console
    Put<int32_t>(r, 0, 32);
    Put<int32_t>(r, 4, kBtinfoConsole);
    std::memcpy(r.data() + 8, "com", 3);
    Put<int32_t>(r, 24, kComPort);
    Put<int32_t>(r, 28, kComSpeed);
    recs.push_back(std::move(r));
  }
  {
    std::vector<uint8_t> r(12 + 20 * mem.size(), 0);  // btinfo_memmap
    Put<int32_t>(r, 0, static_cast<int32_t>(r.size()));
    Put<int32_t>(r, 4, kBtinfoMemmap);
    Put<int32_t>(r, 8, static_cast<int32_t>(mem.size()));
    for (size_t i = 0; i < mem.size(); i++) {
      Put<uint64_t>(r, 12 + i * 20, mem[i].addr);
      Put<uint64_t>(r, 12 + i * 20 + 8, mem[i].size);
      Put<uint32_t>(r, 12 + i * 20 + 16, mem[i].type);
    }
    recs.push_back(std::move(r));
  }
  if (esym > ssym) {
    if (esym > UINT32_MAX)
      return absl::InvalidArgumentError("NetBSD symbols must end below 4 GiB");
    std::vector<uint8_t> r(20, 0);  // btinfo_symtab
    Put<int32_t>(r, 0, 20);
    Put<int32_t>(r, 4, kBtinfoSymtab);
    Put<int32_t>(r, 8, 1);  // nsym: the ELF loaders pass 1
    Put<uint32_t>(r, 12, static_cast<uint32_t>(ssym));
    Put<uint32_t>(r, 16, static_cast<uint32_t>(esym));
    recs.push_back(std::move(r));
  }
  size_t total = 4 + 4 * recs.size();
  for (const auto& r : recs) total += r.size();
  // The kernel copies the entries (not the pointer array) into its own
  // 4096-byte struct bootinfo after a 4-byte count.
  size_t copied = 4;
  for (const auto& r : recs) copied += r.size();
  if (copied > 4096)
    return absl::InvalidArgumentError(absl::StrFormat(
        "NetBSD bootinfo needs %u bytes; the kernel keeps 4096 (too many memory map entries)",
        copied));
  if (gpa + total > UINT32_MAX) return absl::InvalidArgumentError("NetBSD bootinfo above 4 GiB");
  std::vector<uint8_t> out(total, 0);
  Put<uint32_t>(out, 0, static_cast<uint32_t>(recs.size()));
  size_t at = 4 + 4 * recs.size();
  for (size_t i = 0; i < recs.size(); i++) {
    Put<uint32_t>(out, 4 + 4 * i, static_cast<uint32_t>(gpa + at));
    std::memcpy(out.data() + at, recs[i].data(), recs[i].size());
    at += recs[i].size();
  }
  return out;
}

absl::StatusOr<std::vector<uint8_t>> OpenBsdBootargs(uint64_t gpa,
                                                     const std::vector<MemEntry>& mem) {
  std::vector<std::pair<int32_t, std::vector<uint8_t>>> recs;
  {
    std::vector<uint8_t> d(20 * (mem.size() + 1), 0);  // + BIOS_MAP_END entry
    for (size_t i = 0; i < mem.size(); i++) {
      Put<uint64_t>(d, i * 20, mem[i].addr);
      Put<uint64_t>(d, i * 20 + 8, mem[i].size);
      Put<uint32_t>(d, i * 20 + 16, mem[i].type);
    }
    recs.emplace_back(kBootargMemmap, std::move(d));
  }
  {
    std::vector<uint8_t> d(32, 0);  // bios_consdev_t
    Put<int32_t>(d, 0, 8 << 8);     // makedev(8, 0): com0
    Put<int32_t>(d, 4, kComSpeed);
    Put<uint64_t>(d, 8, kComPort);
    Put<int32_t>(d, 16, 1843200);   // COM_FREQ
    Put<uint32_t>(d, 20, 0);        // flags: I/O space
    Put<int32_t>(d, 24, 0);         // reg_width
    Put<int32_t>(d, 28, 0);         // reg_shift
    recs.emplace_back(kBootargConsdev, std::move(d));
  }
  size_t total = 0;
  for (const auto& r : recs) total += Align(12 + r.second.size(), 4);
  total += 12;  // BOOTARG_END
  if (total >= 4096)
    return absl::InvalidArgumentError(absl::StrFormat(
        "OpenBSD boot arguments need %u bytes; the kernel takes less than 4096", total));
  if (gpa + total > UINT32_MAX) return absl::InvalidArgumentError("OpenBSD bootargs above 4 GiB");
  std::vector<uint8_t> out(total, 0);
  size_t at = 0;
  for (const auto& [type, d] : recs) {
    size_t size = Align(12 + d.size(), 4);
    Put<int32_t>(out, at, type);
    Put<int32_t>(out, at + 4, static_cast<int32_t>(size));
    Put<uint32_t>(out, at + 8, static_cast<uint32_t>(gpa + at + size));
    std::memcpy(out.data() + at + 12, d.data(), d.size());
    at += size;
  }
  Put<int32_t>(out, at, -1);  // BOOTARG_END
  Put<int32_t>(out, at + 4, 12);
  Put<uint32_t>(out, at + 8, 0);
  return out;
}

std::vector<uint8_t> FreeBsdEnv(const std::vector<std::string>& vars) {
  std::vector<uint8_t> out;
  for (const std::string& v : vars) {
    out.insert(out.end(), v.begin(), v.end());
    out.push_back(0);
  }
  out.push_back(0);
  return out;
}

std::vector<uint8_t> FreeBsdMetadata(const FreeBsdModinfo& m) {
  std::vector<uint8_t> out;
  auto rec = [&](uint32_t type, const void* p, size_t n) {
    size_t at = out.size();
    out.resize(Align(at + 8 + n, 8), 0);
    Put<uint32_t>(out, at, type);
    Put<uint32_t>(out, at + 4, static_cast<uint32_t>(n));
    if (n) std::memcpy(out.data() + at + 8, p, n);
  };
  auto str = [&](uint32_t type, const std::string& s) { rec(type, s.c_str(), s.size() + 1); };
  auto u64 = [&](uint32_t type, uint64_t v) { rec(type, &v, 8); };
  const uint32_t md = kModinfoMetadata;
  str(kModinfoName, "/boot/kernel/kernel");
  str(kModinfoType, "elf kernel");
  u64(kModinfoAddr, m.kernel_addr);
  u64(kModinfoSize, m.kernel_size);
  rec(md | kMdElfhdr, m.elf_header.data(), m.elf_header.size());
  if (m.esym > m.ssym) {
    u64(md | kMdSsym, m.ssym);
    u64(md | kMdEsym, m.esym);
  }
  rec(md | kMdHowto, &m.howto, 4);
  u64(md | kMdEnvp, m.envp);
  std::vector<uint8_t> smap(20 * m.mem.size(), 0);
  for (size_t i = 0; i < m.mem.size(); i++) {
    Put<uint64_t>(smap, i * 20, m.mem[i].addr);
    Put<uint64_t>(smap, i * 20 + 8, m.mem[i].size);
    Put<uint32_t>(smap, i * 20 + 16, m.mem[i].type);
  }
  rec(md | kMdSmap, smap.data(), smap.size());
  u64(md | kMdKernend, m.kernend);
  if (!m.initrd_name.empty()) {
    str(kModinfoName, m.initrd_name);
    str(kModinfoType, "md_image");
    u64(kModinfoAddr, m.initrd_addr);
    u64(kModinfoSize, m.initrd_size);
  }
  rec(kModinfoEnd, nullptr, 0);
  return out;
}

}  // namespace qvm::boot::bsd
