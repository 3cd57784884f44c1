// The host kernel as the vfio-pci plug-in sees it: file opens, ioctls and
// positioned reads/writes. The plug-in runs on LinuxSys(); the unit tests
// (test/vfio/) run the same code on a fake VFIO device.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace vfiopci {

class Sys {
 public:
  virtual ~Sys() = default;
  // Each returns what the system call returns, or -errno.
  virtual int open(const char* path, int flags) = 0;
  virtual void close(int fd) = 0;
  // `arg` is the ioctl's third argument: a pointer cast to unsigned long,
  // or a value (VFIO_SET_IOMMU, VFIO_CHECK_EXTENSION).
  virtual int ioctl(int fd, unsigned long request, unsigned long arg) = 0;
  virtual ssize_t pread(int fd, void* buf, size_t len, off_t off) = 0;
  virtual ssize_t pwrite(int fd, const void* buf, size_t len, off_t off) = 0;
};

// The real kernel (one per instance: plug-ins keep no globals); nullptr
// when out of memory.
Sys* NewLinuxSys();

}  // namespace vfiopci
