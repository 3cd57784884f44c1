// The fuzzers' one way to hand bytes to code that opens a path (the image
// loaders): an anonymous memory file (memfd) rewritten on each input and
// named /proc/self/fd/N. Created once per process: nothing per iteration
// is left behind.
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace fuzz {

class MemFile {
 public:
  explicit MemFile(const char* name) : fd_(memfd_create(name, MFD_CLOEXEC)) {
    if (fd_ < 0) abort();
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  // Replaces the whole content.
  const std::string& set(const uint8_t* data, size_t len) {
    if (ftruncate(fd_, 0) != 0) abort();
    size_t done = 0;
    while (done < len) {
      ssize_t n = pwrite(fd_, data + done, len - done, off_t(done));
      if (n <= 0) abort();
      done += size_t(n);
    }
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

}  // namespace fuzz
