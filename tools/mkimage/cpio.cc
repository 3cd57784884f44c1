#include "tools/mkimage/cpio.h"

#include <cstdio>
#include <stdexcept>

namespace mkimage {
namespace {

void Hex(std::string* out, uint64_t v) {
  if (v > 0xffffffffu) throw std::runtime_error("cpio: field exceeds 32 bits");
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08X", static_cast<unsigned>(v));
  out->append(buf, 8);
}

void Pad4(std::string* out) {
  while (out->size() % 4) out->push_back('\0');
}

void Record(std::string* out, uint32_t ino, const CpioEntry& e) {
  bool dir = (e.mode & 0170000) == 0040000;
  out->append("070701");
  Hex(out, ino);
  Hex(out, e.mode);
  Hex(out, e.uid);
  Hex(out, e.gid);
  Hex(out, dir ? 2 : 1);  // nlink
  Hex(out, 0);            // mtime
  Hex(out, e.data.size());
  Hex(out, 0);  // devmajor
  Hex(out, 0);  // devminor
  Hex(out, e.rdev_major);
  Hex(out, e.rdev_minor);
  Hex(out, e.path.size() + 1);
  Hex(out, 0);  // check
  out->append(e.path);
  out->push_back('\0');
  Pad4(out);
  out->append(e.data);
  Pad4(out);
}

}  // namespace

std::string WriteCpio(const std::vector<CpioEntry>& entries) {
  std::string out;
  uint32_t ino = 1;
  for (const CpioEntry& e : entries) {
    if (e.path.empty() || e.path[0] == '/')
      throw std::runtime_error("cpio: bad entry name '" + e.path + "'");
    Record(&out, ino++, e);
  }
  CpioEntry trailer;
  trailer.path = "TRAILER!!!";
  Record(&out, 0, trailer);
  return out;
}

}  // namespace mkimage
