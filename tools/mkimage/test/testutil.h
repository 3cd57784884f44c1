// Helpers for the qvm-mkimage tests: temporary folders, in-memory buildfiles
// and a synthetic kernel-module ELF.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace mkimage_test {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/qvm-mkimage-test.XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& rel, const std::string& data, bool exec = false) const {
    std::string p = path_ + "/" + rel;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream(p, std::ios::binary) << data;
    std::filesystem::permissions(p, exec ? std::filesystem::perms(0755) : std::filesystem::perms(0644));
    return p;
  }

 private:
  std::string path_;
};

inline void Put(std::string* s, size_t off, uint64_t v, int n) {
  if (s->size() < off + n) s->resize(off + n, '\0');
  for (int i = 0; i < n; ++i) (*s)[off + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// ELF64 little-endian ET_REL with a .modinfo section holding `modinfo`
// (strings separated by NULs).
inline std::string FakeModule(const std::vector<std::string>& modinfo, uint16_t machine = 62) {
  std::string info;
  for (const std::string& s : modinfo) info += s + '\0';
  std::string shstr = std::string("\0.modinfo\0.shstrtab\0", 20);
  std::string f(64, '\0');
  f[0] = 0x7f; f[1] = 'E'; f[2] = 'L'; f[3] = 'F'; f[4] = 2; f[5] = 1; f[6] = 1;
  Put(&f, 16, 1, 2);        // ET_REL
  Put(&f, 18, machine, 2);
  Put(&f, 20, 1, 4);
  size_t info_off = f.size();
  f += info;
  size_t shstr_off = f.size();
  f += shstr;
  while (f.size() % 8) f.push_back('\0');
  size_t shoff = f.size();
  f.resize(shoff + 3 * 64, '\0');
  // [1] .modinfo
  Put(&f, shoff + 64 + 0, 1, 4);
  Put(&f, shoff + 64 + 4, 1, 4);  // SHT_PROGBITS
  Put(&f, shoff + 64 + 24, info_off, 8);
  Put(&f, shoff + 64 + 32, info.size(), 8);
  // [2] .shstrtab
  Put(&f, shoff + 128 + 0, 10, 4);
  Put(&f, shoff + 128 + 4, 3, 4);  // SHT_STRTAB
  Put(&f, shoff + 128 + 24, shstr_off, 8);
  Put(&f, shoff + 128 + 32, shstr.size(), 8);
  Put(&f, 40, shoff, 8);   // e_shoff
  Put(&f, 52, 64, 2);      // e_ehsize
  Put(&f, 58, 64, 2);      // e_shentsize
  Put(&f, 60, 3, 2);       // e_shnum
  Put(&f, 62, 2, 2);       // e_shstrndx
  return f;
}

}  // namespace mkimage_test
