// A read-only kernel/initrd/blob file, read by offset with bounds checks, and
// copied into guest memory in chunks through GuestMemory's checked writes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "vmm/guest_memory.h"

namespace qvm::boot {

class ImageFile {
 public:
  // Opens `path` read-only; fails (naming the file) when it cannot be opened,
  // is not a regular file, or cannot be sized.
  static absl::StatusOr<ImageFile> Open(const std::string& path);

  ImageFile(ImageFile&& o) noexcept;
  ImageFile& operator=(ImageFile&& o) noexcept;
  ImageFile(const ImageFile&) = delete;
  ImageFile& operator=(const ImageFile&) = delete;
  ~ImageFile();

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }

  // True when [off, off+len) lies inside the file (overflow-safe).
  bool in_file(uint64_t off, uint64_t len) const {
    return off <= size_ && len <= size_ - off;
  }
  // Reads exactly `len` bytes at `off`; false when the range is outside the
  // file or the read fails. Nothing is read past the end.
  bool read(uint64_t off, void* buf, size_t len) const;

  // Copies file bytes [off, off+len) to guest [gpa, gpa+len) with
  // for_loader writes. The whole guest range is checked first.
  absl::Status copy_to_guest(GuestMemory& mem, uint64_t gpa, uint64_t off,
                             uint64_t len, const std::string& what) const;

  // An error "PATH: message" (InvalidArgument: a malformed image).
  absl::Status bad(const std::string& message) const;

 private:
  ImageFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace qvm::boot
