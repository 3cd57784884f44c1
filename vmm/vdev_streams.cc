// Host streams: what a device opens on the host side (console streams
// relayed by qvm, files) and where qvm keeps its runtime files.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "vmm/vdev_host.h"

QVM_EXPORT int qvm_hostdev_open(qvm_vdev_t* dev,
                                                            const char* spec,
                                                            int for_write) {
  if (!dev || !spec) return -1;
  int hooked = dev->host->open_hostdev(dev, spec, for_write);
  if (hooked != -ENOSYS) return hooked < 0 ? -1 : hooked;
  std::string s(spec);
  if (s == ">-" || (s == "-" && for_write)) return dup(1);
  // stdin is shared with the user's terminal: never change its flags.
  if (s == "<-" || (s == "-" && !for_write)) return dup(0);
  if (!s.empty() && (s[0] == '>' || s[0] == '<')) s = s.substr(1);
  if (s.empty()) return -1;
  int flags = for_write ? (O_WRONLY | O_CREAT | O_APPEND) : (O_RDONLY | O_NONBLOCK);
  return open(s.c_str(), flags | O_CLOEXEC | O_NOCTTY, 0644);
}

QVM_EXPORT int qvm_console_open(qvm_vdev_t* dev, const char* spec, int* out_fd, int* in_fd) {
  if (!dev || !out_fd) return -EINVAL;
  std::string s = spec && *spec ? spec : ">-";
  if (s.size() > 4096 || s[0] == '<' || s == ">") return -EINVAL;
  bool both = s == ">-" || s == "-";
  int out = qvm_hostdev_open(dev, both ? ">-" : s.c_str(), 1);
  if (out < 0) return -ENOENT;
  fcntl(out, F_SETFL, fcntl(out, F_GETFL) | O_NONBLOCK);
  int in = -1;
  if (both && in_fd) {
    // Input only through qvm's relay (its stdin reader and /dev/qvm
    // writers): never the shared stdin itself.
    int fd = dev->host->open_hostdev(dev, "<-", 0);
    if (fd >= 0) {
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      in = fd;
    }
  }
  *out_fd = out;
  if (in_fd) *in_fd = in;
  return 0;
}

QVM_EXPORT const char* qvm_runtime_dir(qvm_vdev_t* dev) {
  return dev ? dev->host->runtime_dir() : nullptr;
}
