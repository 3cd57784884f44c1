// libFuzzer target: libvirtio's split-ring chain walker (vdev/libvirtio:
// vio_pop with indirect tables and EVENT_IDX, the request copy helpers,
// vio_push and the interrupt decision) on a hostile driver, through the
// fake host the virtio tests use (test/fakehost, test/virtio/fake_guest.h).
// Input: a 16-byte header — queue size (u16), feature bits (u8: bit 0
// EVENT_IDX, bit 1 INDIRECT_DESC), unused (u8), then the descriptor table,
// avail ring and used ring addresses (u32 offsets into guest RAM, which the
// guest may point anywhere) — then the first bytes of guest RAM (rings,
// descriptors and buffers). The device takes every chain the driver offers
// (bounded), reads what is readable, writes what is writable and returns it.
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "test/virtio/fake_guest.h"

namespace {
constexpr size_t kHeader = 16;
constexpr size_t kMaxInput = kHeader + 64 * 1024;  // also libFuzzer's -max_len

unsigned g_notified;
void OnNotify(struct vio*, unsigned) { g_notified++; }
const vio_ops kOps = {OnNotify, nullptr};

void Wr(vio* v, uint64_t off, unsigned size, uint64_t x) {
  qvm_access a{QVM_SPACE_MEM, size, off, 0, 0};
  uint8_t d[8];
  memcpy(d, &x, 8);
  (void)vio_write(v, &a, d);
}
uint64_t Rd(vio* v, uint64_t off, unsigned size) {
  qvm_access a{QVM_SPACE_MEM, size, off, 0, 0};
  uint8_t d[8] = {};
  (void)vio_read(v, &a, d);
  uint64_t x = 0;
  memcpy(&x, d, size);
  return x;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kHeader || size > kMaxInput) return 0;
  uint16_t qsize;
  uint32_t ring[3];
  memcpy(&qsize, data, 2);
  memcpy(ring, data + 4, 12);
  const uint64_t feat = (1ull << VIRTIO_F_VERSION_1) |
                        ((data[2] & 1) ? 1ull << VIRTIO_F_EVENT_IDX : 0) |
                        ((data[2] & 2) ? 1ull << VIRTIO_F_INDIRECT_DESC : 0);
  FakeGuest g;
  memcpy(g.ram.data(), data + kHeader, size - kHeader);
  vio v{};
  uint8_t cfg[8] = {};
  vio_init(&v, g.dev, &kOps, 2, feat, 1, VIO_MAX_QSIZE, cfg, sizeof cfg);
  if (vio_declare(&v, 1, 0, 0) != 0) __builtin_trap();
  vio_reset(&v);
  // The driver's bring-up: features, queue 0 where the input says, DRIVER_OK.
  Wr(&v, 20, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
  Wr(&v, 8, 4, 0); Wr(&v, 12, 4, uint32_t(feat));
  Wr(&v, 8, 4, 1); Wr(&v, 12, 4, uint32_t(feat >> 32));
  Wr(&v, 20, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
  Wr(&v, 22, 2, 0);
  Wr(&v, 24, 2, qsize);
  Wr(&v, 26, 2, 1);
  const uint64_t base = FakeGuest::kBase;
  Wr(&v, 32, 4, uint32_t(base + ring[0])); Wr(&v, 36, 4, uint32_t((base + ring[0]) >> 32));
  Wr(&v, 40, 4, uint32_t(base + ring[1])); Wr(&v, 44, 4, uint32_t((base + ring[1]) >> 32));
  Wr(&v, 48, 4, uint32_t(base + ring[2])); Wr(&v, 52, 4, uint32_t((base + ring[2]) >> 32));
  Wr(&v, 28, 2, 1);
  Wr(&v, 20, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
  Wr(&v, VIO_PCI_NOTIFY, 2, 0);
  if (!vio_running(&v)) return 0;
  // Every chain offered, at most two rounds of the ring (a driver that keeps
  // advancing avail.idx must not keep the device here).
  static std::vector<uint8_t> buf(64 * 1024);
  static vio_req r;
  const unsigned rounds = 2u * v.q[0].size + 2;
  for (unsigned i = 0; i < rounds; i++) {
    int got = vio_pop(&v, 0, &r);
    if (got != 1) break;
    if (r.nseg == 0 || r.nseg > v.q[0].size) __builtin_trap();
    uint64_t rl = 0, wl = 0;
    for (unsigned s = 0; s < r.nseg; s++) (r.seg[s].write ? wl : rl) += r.seg[s].len;
    if (rl != r.rlen || wl != r.wlen) __builtin_trap();
    long n = vio_req_read(&v, &r, 0, buf.data(), std::min<uint64_t>(r.rlen, buf.size()));
    if (n > long(buf.size())) __builtin_trap();
    struct iovec iov[4];
    (void)vio_req_iov(&v, &r, 1, 0, r.wlen, iov, 4);
    long w = vio_req_write(&v, &r, r.wlen > 8 ? r.wlen - 8 : 0, buf.data(),
                           std::min<uint64_t>(r.wlen, 8));
    (void)vio_push(&v, 0, r.head, w > 0 ? uint32_t(w) : 0);
    vio_notify_queue(&v, 0);
  }
  (void)Rd(&v, 20, 1);
  vio_reset(&v);
  return 0;
}
