// The host's I/O ports for `pass loc io`: ioperm(2) opens them, IN/OUT of
// the access's width reach them.
#include "arch/x86_64/host_ports.h"

#include <sys/io.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"

namespace qvm::x86 {

absl::Status OpenHostPorts(uint32_t first, uint32_t count) {
  if (count == 0 || first > 0xffff || count > 0x10000 - first)
    return absl::InvalidArgumentError("port range outside 0-0xffff");
  if (ioperm(first, count, 1) == 0) return absl::OkStatus();
  int e = errno;
  if (e == EPERM)
    return absl::FailedPreconditionError(absl::StrFormat(
        "qvm may not access host ports 0x%x-0x%x (needs root or CAP_SYS_RAWIO)", first,
        first + count - 1));
  if (e == ENOSYS)
    return absl::FailedPreconditionError(
        "the host kernel has no ioperm(2) (built without CONFIG_X86_IOPL_IOPERM): host ports "
        "cannot be passed through");
  return absl::FailedPreconditionError(absl::StrFormat(
      "ioperm(0x%x, %u): %s", first, count, strerror(e)));
}

uint32_t HostPortIn(uint16_t port, unsigned size) {
  switch (size) {
    case 1: return inb(port);
    case 2: return inw(port);
    case 4: return inl(port);
    default: return ~0u;
  }
}

void HostPortOut(uint16_t port, unsigned size, uint32_t value) {
  switch (size) {
    case 1: outb(uint8_t(value), port); break;
    case 2: outw(uint16_t(value), port); break;
    case 4: outl(value, port); break;
    default: break;
  }
}

}  // namespace qvm::x86
