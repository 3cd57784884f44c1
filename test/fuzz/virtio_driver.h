// The virtio fuzzers' driver: register accesses to a virtio-pci function's
// BAR (common configuration at 0, notify at VIO_PCI_NOTIFY) and the
// bring-up a driver does (features, each queue's rings, DRIVER_OK), through
// whatever serves the BAR: libvirtio directly (virtq) or a plug-in's
// read/write callbacks (virtio_dev).
#pragma once
#include <cstdint>
#include <cstring>
#include <functional>

#include "virtio.h"

namespace fuzz {

struct VirtioDriver {
  // Serves one access (read when `write` is false); the result is ignored.
  std::function<void(const qvm_access&, uint8_t*, bool write)> access;

  void wr(uint64_t off, unsigned size, uint64_t x) {
    qvm_access a{QVM_SPACE_MEM, size, off, 0, 0};
    uint8_t d[8];
    memcpy(d, &x, 8);
    access(a, d, true);
  }
  uint64_t rd(uint64_t off, unsigned size) {
    qvm_access a{QVM_SPACE_MEM, size, off, 0, 0};
    uint8_t d[8] = {};
    access(a, d, false);
    uint64_t x = 0;
    memcpy(&x, d, size);
    return x;
  }
  // Features `feat`, queues 0..nq-1 of `qsize` entries with their rings at
  // ring(q, 0..2) (descriptor table, avail, used), then DRIVER_OK.
  template <typename Ring>
  void bring_up(uint64_t feat, unsigned nq, uint16_t qsize, Ring ring) {
    wr(20, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
    wr(8, 4, 0); wr(12, 4, uint32_t(feat));
    wr(8, 4, 1); wr(12, 4, uint32_t(feat >> 32));
    wr(20, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
    for (unsigned q = 0; q < nq; q++) {
      wr(22, 2, q);
      wr(24, 2, qsize);
      wr(26, 2, q + 1);  // MSI-X vector
      for (unsigned r = 0; r < 3; r++) {
        const uint64_t gpa = ring(q, r);
        wr(32 + 8 * r, 4, uint32_t(gpa));
        wr(36 + 8 * r, 4, uint32_t(gpa >> 32));
      }
      wr(28, 2, 1);
    }
    wr(20, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK |
                  VIRTIO_S_DRIVER_OK);
  }
  void notify(unsigned q) { wr(VIO_PCI_NOTIFY + 4 * q, 2, q); }
};

}  // namespace fuzz
