// Sys over the real system calls.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <new>

#include "sys.h"

namespace vfiopci {
namespace {

class Linux final : public Sys {
 public:
  int open(const char* path, int flags) override {
    int fd = ::open(path, flags | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
  }
  void close(int fd) override {
    if (fd >= 0) ::close(fd);
  }
  int ioctl(int fd, unsigned long request, unsigned long arg) override {
    int rc = ::ioctl(fd, request, arg);
    return rc < 0 ? -errno : rc;
  }
  ssize_t pread(int fd, void* buf, size_t len, off_t off) override {
    ssize_t n = ::pread(fd, buf, len, off);
    return n < 0 ? -errno : n;
  }
  ssize_t pwrite(int fd, const void* buf, size_t len, off_t off) override {
    ssize_t n = ::pwrite(fd, buf, len, off);
    return n < 0 ? -errno : n;
  }
};

}  // namespace

Sys* NewLinuxSys() { return new (std::nothrow) Linux; }

}  // namespace vfiopci
