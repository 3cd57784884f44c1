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

#include "test/fuzz/virtio_driver.h"
#include "test/virtio/fake_guest.h"

namespace {
constexpr size_t kHeader = 16;
constexpr size_t kMaxInput = kHeader + 64 * 1024;  // also libFuzzer's -max_len

void OnNotify(struct vio*, unsigned) {}
const vio_ops kOps = {OnNotify, nullptr};
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
  fuzz::VirtioDriver drv{[&v](const qvm_access& a, uint8_t* d, bool write) {
    (void)(write ? vio_write(&v, &a, d) : vio_read(&v, &a, d));
  }};
  drv.bring_up(feat, 1, qsize, [&](unsigned, unsigned r) { return FakeGuest::kBase + ring[r]; });
  drv.notify(0);
  if (!vio_running(&v)) return 0;
  // Every chain offered, at most two rounds of the ring (a driver that keeps
  // advancing avail.idx must not keep the device here).
  static std::vector<uint8_t> buf(64 * 1024);
  static vio_req r;
  const unsigned rounds = 2u * v.q[0].size + 2;
  for (unsigned i = 0; i < rounds; i++) {
    int got = vio_pop(&v, 0, &r);
    if (got != 1) break;
    if (r.nseg == 0 || r.nseg > VIO_MAX_QSIZE) __builtin_trap();
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
  (void)drv.rd(20, 1);
  vio_reset(&v);
  return 0;
}
