#include "tools/mkimage/elf.h"

#include <cstring>
#include <stdexcept>

namespace mkimage {
namespace {

constexpr uint32_t kPtDynamic = 2, kPtInterp = 3;
constexpr int64_t kDtNull = 0, kDtNeeded = 1, kDtStrtab = 5, kDtSoname = 14,
                  kDtRpath = 15, kDtRunpath = 29;

[[noreturn]] void Bad(const std::string& what) {
  throw std::runtime_error("malformed ELF: " + what);
}

class Reader {
 public:
  explicit Reader(std::string_view d) : d_(d) {
    if (!IsElf(d) || d.size() < 16) Bad("no ELF header");
    if (d[4] != 1 && d[4] != 2) Bad("bad class");
    if (d[5] != 1 && d[5] != 2) Bad("bad data encoding");
    is64_ = d[4] == 2;
    little_ = d[5] == 1;
    if (d.size() < (is64_ ? 64u : 52u)) Bad("truncated header");
  }
  bool is64() const { return is64_; }
  bool little() const { return little_; }
  uint64_t U(uint64_t off, unsigned n) const {
    if (off > d_.size() || n > d_.size() - off) Bad("offset out of range");
    uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i) {
      uint64_t b = static_cast<unsigned char>(d_[off + i]);
      v |= little_ ? b << (8 * i) : b << (8 * (n - 1 - i));
    }
    return v;
  }
  uint64_t W(uint64_t off) const { return U(off, is64_ ? 8 : 4); }  // word
  // Range check helper: [off, off+len) inside the file.
  void Check(uint64_t off, uint64_t len, const char* what) const {
    if (off > d_.size() || len > d_.size() - off) Bad(std::string(what) + " out of range");
  }
  std::string Str(uint64_t tab_off, uint64_t tab_size, uint64_t idx) const {
    if (idx >= tab_size) Bad("string index out of range");
    const char* p = d_.data() + tab_off + idx;
    size_t max = tab_size - idx;
    size_t n = strnlen(p, max);
    if (n == max) Bad("unterminated string");
    return std::string(p, n);
  }
  std::string_view data() const { return d_; }

 private:
  std::string_view d_;
  bool is64_ = false, little_ = true;
};

struct Phdr { uint32_t type; uint64_t offset, vaddr, filesz; };
struct Shdr { uint32_t name, type; uint64_t offset, size; };

std::vector<Phdr> Phdrs(const Reader& r) {
  bool w = r.is64();
  uint64_t phoff = r.W(w ? 32 : 28);
  uint64_t phentsize = r.U(w ? 54 : 42, 2), phnum = r.U(w ? 56 : 44, 2);
  std::vector<Phdr> out;
  if (phnum == 0) return out;
  if (phentsize < (w ? 56u : 32u)) Bad("bad program header size");
  r.Check(phoff, phentsize * phnum, "program headers");
  for (uint64_t i = 0; i < phnum; ++i) {
    uint64_t p = phoff + i * phentsize;
    Phdr h;
    h.type = static_cast<uint32_t>(r.U(p, 4));
    if (w) { h.offset = r.U(p + 8, 8); h.vaddr = r.U(p + 16, 8); h.filesz = r.U(p + 32, 8); }
    else { h.offset = r.U(p + 4, 4); h.vaddr = r.U(p + 8, 4); h.filesz = r.U(p + 16, 4); }
    out.push_back(h);
  }
  return out;
}

std::vector<Shdr> Shdrs(const Reader& r, uint64_t* shstrndx) {
  bool w = r.is64();
  uint64_t shoff = r.W(w ? 40 : 32);
  uint64_t shentsize = r.U(w ? 58 : 46, 2), shnum = r.U(w ? 60 : 48, 2);
  *shstrndx = r.U(w ? 62 : 50, 2);
  std::vector<Shdr> out;
  if (shnum == 0 || shoff == 0) return out;
  if (shentsize < (w ? 64u : 40u)) Bad("bad section header size");
  r.Check(shoff, shentsize * shnum, "section headers");
  for (uint64_t i = 0; i < shnum; ++i) {
    uint64_t p = shoff + i * shentsize;
    Shdr s;
    s.name = static_cast<uint32_t>(r.U(p, 4));
    s.type = static_cast<uint32_t>(r.U(p + 4, 4));
    if (w) { s.offset = r.U(p + 24, 8); s.size = r.U(p + 32, 8); }
    else { s.offset = r.U(p + 16, 4); s.size = r.U(p + 20, 4); }
    out.push_back(s);
  }
  return out;
}

void SplitPath(const std::string& s, std::vector<std::string>* out) {
  size_t start = 0;
  while (start <= s.size()) {
    size_t c = s.find(':', start);
    if (c == std::string::npos) c = s.size();
    if (c > start) out->push_back(s.substr(start, c - start));
    start = c + 1;
  }
}

}  // namespace

bool IsElf(std::string_view d) {
  return d.size() >= 4 && d[0] == 0x7f && d[1] == 'E' && d[2] == 'L' && d[3] == 'F';
}

ElfInfo ParseElf(std::string_view data) {
  Reader r(data);
  ElfInfo info;
  info.is64 = r.is64();
  info.little = r.little();
  info.type = static_cast<uint16_t>(r.U(16, 2));
  info.machine = static_cast<uint16_t>(r.U(18, 2));
  std::vector<Phdr> ph = Phdrs(r);
  const Phdr* dyn = nullptr;
  for (const Phdr& h : ph) {
    if (h.type == kPtInterp) {
      r.Check(h.offset, h.filesz, "PT_INTERP");
      std::string s(data.substr(h.offset, h.filesz));
      s = s.substr(0, strnlen(s.c_str(), s.size()));
      if (s.empty()) Bad("empty PT_INTERP");
      info.interp = s;
    } else if (h.type == kPtDynamic) {
      dyn = &h;
    }
  }
  if (!dyn) return info;
  info.dynamic = true;
  r.Check(dyn->offset, dyn->filesz, "PT_DYNAMIC");
  unsigned ent = info.is64 ? 16 : 8, half = ent / 2;
  uint64_t strtab_vaddr = 0;
  bool have_strtab = false;
  struct Tag { int64_t tag; uint64_t val; };
  std::vector<Tag> tags;
  for (uint64_t o = 0; o + ent <= dyn->filesz; o += ent) {
    int64_t tag = static_cast<int64_t>(r.U(dyn->offset + o, half));
    uint64_t val = r.U(dyn->offset + o + half, half);
    if (tag == kDtNull) break;
    if (tag == kDtStrtab) { strtab_vaddr = val; have_strtab = true; }
    tags.push_back({tag, val});
  }
  bool any_string = false;
  for (const Tag& t : tags)
    if (t.tag == kDtNeeded || t.tag == kDtSoname || t.tag == kDtRpath || t.tag == kDtRunpath)
      any_string = true;
  if (!any_string) return info;
  if (!have_strtab) Bad("dynamic section without DT_STRTAB");
  // Map the string table's address to a file offset through PT_LOAD.
  uint64_t tab_off = 0, tab_size = 0;
  bool mapped = false;
  for (const Phdr& h : ph) {
    if (h.type != 1) continue;  // PT_LOAD
    if (strtab_vaddr >= h.vaddr && strtab_vaddr - h.vaddr < h.filesz) {
      tab_off = h.offset + (strtab_vaddr - h.vaddr);
      tab_size = h.filesz - (strtab_vaddr - h.vaddr);
      mapped = true;
      break;
    }
  }
  if (!mapped) Bad("DT_STRTAB outside every PT_LOAD");
  r.Check(tab_off, tab_size, "string table");
  for (const Tag& t : tags) {
    if (t.tag == kDtNeeded) info.needed.push_back(r.Str(tab_off, tab_size, t.val));
    else if (t.tag == kDtSoname) info.soname = r.Str(tab_off, tab_size, t.val);
    else if (t.tag == kDtRpath) SplitPath(r.Str(tab_off, tab_size, t.val), &info.rpath);
    else if (t.tag == kDtRunpath) SplitPath(r.Str(tab_off, tab_size, t.val), &info.runpath);
  }
  return info;
}

std::optional<std::vector<std::string>> SectionStrings(std::string_view data,
                                                       std::string_view name) {
  Reader r(data);
  uint64_t shstrndx = 0;
  std::vector<Shdr> sh = Shdrs(r, &shstrndx);
  if (sh.empty()) return std::nullopt;
  if (shstrndx >= sh.size()) Bad("bad section name table index");
  const Shdr& names = sh[shstrndx];
  r.Check(names.offset, names.size, "section name table");
  for (const Shdr& s : sh) {
    if (r.Str(names.offset, names.size, s.name) != name) continue;
    if (s.type == 8) return std::vector<std::string>{};  // SHT_NOBITS
    r.Check(s.offset, s.size, "section");
    std::vector<std::string> out;
    std::string_view body = data.substr(s.offset, s.size);
    size_t i = 0;
    while (i < body.size()) {
      size_t z = body.find('\0', i);
      if (z == std::string_view::npos) z = body.size();
      if (z > i) out.emplace_back(body.substr(i, z - i));
      i = z + 1;
    }
    return out;
  }
  return std::nullopt;
}

bool HasSectionPrefix(std::string_view data, std::string_view prefix) {
  Reader r(data);
  uint64_t shstrndx = 0;
  std::vector<Shdr> sh = Shdrs(r, &shstrndx);
  if (sh.empty()) return false;
  if (shstrndx >= sh.size()) Bad("bad section name table index");
  const Shdr& names = sh[shstrndx];
  r.Check(names.offset, names.size, "section name table");
  for (const Shdr& s : sh)
    if (r.Str(names.offset, names.size, s.name).rfind(prefix, 0) == 0) return true;
  return false;
}

std::string MachineName(uint16_t m) {
  switch (m) {
    case 62: return "x86_64";
    case 183: return "aarch64";
    case 3: return "i386";
    case 40: return "arm";
    default: return "machine " + std::to_string(m);
  }
}

uint16_t MachineForArch(std::string_view arch) {
  if (arch == "x86_64") return 62;
  if (arch == "aarch64") return 183;
  return 0;
}

}  // namespace mkimage
