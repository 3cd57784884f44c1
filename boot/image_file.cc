#include "boot/image_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace qvm::boot {

absl::StatusOr<ImageFile> ImageFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return absl::NotFoundError(
        absl::StrFormat("%s: cannot open: %s", path, std::strerror(e)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: cannot stat: %s", path, std::strerror(e)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: not a regular file", path));
  }
  return ImageFile(path, fd, static_cast<uint64_t>(st.st_size));
}

ImageFile::ImageFile(ImageFile&& o) noexcept
    : path_(std::move(o.path_)), fd_(o.fd_), size_(o.size_) {
  o.fd_ = -1;
}

ImageFile& ImageFile::operator=(ImageFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(o.path_);
    fd_ = o.fd_;
    size_ = o.size_;
    o.fd_ = -1;
  }
  return *this;
}

ImageFile::~ImageFile() {
  if (fd_ >= 0) ::close(fd_);
}

bool ImageFile::read(uint64_t off, void* buf, size_t len) const {
  if (!in_file(off, len)) return false;
  auto* p = static_cast<uint8_t*>(buf);
  while (len > 0) {
    ssize_t n = ::pread(fd_, p, len, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // error, or the file shrank under us
    p += n;
    off += static_cast<uint64_t>(n);
    len -= static_cast<size_t>(n);
  }
  return true;
}

absl::Status ImageFile::copy_to_guest(GuestMemory& mem, uint64_t gpa,
                                      uint64_t off, uint64_t len,
                                      const std::string& what) const {
  if (!in_file(off, len)) {
    return bad(absl::StrFormat(
        "%s: file range 0x%x+0x%x extends past end of file (size 0x%x)", what,
        off, len, size_));
  }
  if (len == 0) return absl::OkStatus();
  if (!mem.contains(gpa, len)) {
    return absl::OutOfRangeError(absl::StrFormat(
        "%s: %s at 0x%x..0x%x is not inside one guest memory region", path_,
        what, gpa, gpa + len - 1));
  }
  constexpr size_t kChunk = 1 << 20;
  std::vector<uint8_t> buf(static_cast<size_t>(len < kChunk ? len : kChunk));
  uint64_t done = 0;
  while (done < len) {
    size_t n = static_cast<size_t>(len - done < kChunk ? len - done : kChunk);
    if (!read(off + done, buf.data(), n)) {
      return absl::DataLossError(absl::StrFormat(
          "%s: read error at offset 0x%x while loading %s", path_, off + done,
          what));
    }
    if (!mem.write(gpa + done, buf.data(), n, /*for_loader=*/true)) {
      return absl::InternalError(absl::StrFormat(
          "%s: guest write of %s at 0x%x failed", path_, what, gpa + done));
    }
    done += n;
  }
  return absl::OkStatus();
}

absl::Status ImageFile::bad(const std::string& message) const {
  return absl::InvalidArgumentError(absl::StrCat(path_, ": ", message));
}

}  // namespace qvm::boot
