// The host's I/O ports for `pass loc io` (ioperm(2) and IN/OUT).
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace qvm::x86 {

// Lets this thread, and every thread it creates afterwards, access host
// ports [first, first + count). FailedPrecondition when the process lacks
// the privilege (root or CAP_SYS_RAWIO).
absl::Status OpenHostPorts(uint32_t first, uint32_t count);
// One access of 1, 2 or 4 bytes (other sizes: reads all-ones, writes
// dropped) to a port opened by OpenHostPorts.
uint32_t HostPortIn(uint16_t port, unsigned size);
void HostPortOut(uint16_t port, unsigned size, uint32_t value);

}  // namespace qvm::x86
