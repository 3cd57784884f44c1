// Reproducible "newc" (SVR4, magic 070701) cpio archives, the format the
// Linux kernel unpacks as an initramfs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mkimage {

struct CpioEntry {
  std::string path;   // without the leading '/', e.g. "bin/busybox"
  uint32_t mode = 0;  // full st_mode: type bits | permissions
  uint32_t uid = 0, gid = 0;
  uint32_t rdev_major = 0, rdev_minor = 0;  // character/block devices
  std::string data;   // file contents, or the target of a symbolic link
};

// Writes the entries in the order given (callers sort them), with inode
// numbers 1.., mtime 0, nlink 2 for directories and 1 otherwise, then the
// TRAILER!!! record. Same input, same bytes.
std::string WriteCpio(const std::vector<CpioEntry>& entries);

}  // namespace mkimage
