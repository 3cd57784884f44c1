// libvirtio against a fake guest memory: transport registers, feature
// negotiation, reset, split rings (EVENT_IDX, indirect) and hostile chains.
#include <catch2/catch.hpp>

#include <cstring>

#include "fake_guest.h"

namespace {

constexpr uint64_t kDesc = FakeGuest::kBase + 0x0000;
constexpr uint64_t kAvail = FakeGuest::kBase + 0x1000;
constexpr uint64_t kUsed = FakeGuest::kBase + 0x2000;
constexpr uint64_t kData = FakeGuest::kBase + 0x10000;
constexpr uint16_t kQ = 16;

int g_notified = -1;
void OnNotify(struct vio*, unsigned q) { g_notified = int(q); }
const vio_ops kOps = {OnNotify, nullptr};

struct Rig {
  FakeGuest g;
  vio v{};
  uint8_t cfg[8] = {1, 2, 3, 4, 5, 6, 7, 8};

  explicit Rig(uint64_t features = (1ull << VIRTIO_F_EVENT_IDX) | (1ull << VIRTIO_F_INDIRECT_DESC)) {
    vio_init(&v, g.dev, &kOps, 2, features, 1, kQ, cfg, sizeof cfg);
    REQUIRE(vio_declare(&v, 1, 0, 0) == 0);
    vio_reset(&v);
  }
  uint64_t rd(uint64_t off, unsigned size) {
    qvm_access a{QVM_SPACE_MEM, size, off, 0, 0};
    uint8_t d[8] = {};
    REQUIRE(vio_read(&v, &a, d) == QVM_DONE);
    uint64_t x = 0;
    memcpy(&x, d, size);
    return x;
  }
  void wr(uint64_t off, unsigned size, uint64_t x) {
    qvm_access a{QVM_SPACE_MEM, size, off, 0, 0};
    uint8_t d[8];
    memcpy(d, &x, 8);
    REQUIRE(vio_write(&v, &a, d) == QVM_DONE);
  }
  // The driver's bring-up: features, queue 0 at kDesc/kAvail/kUsed, DRIVER_OK.
  void bring_up(uint64_t feat, uint16_t qsize = kQ) {
    wr(20, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
    wr(8, 4, 0); wr(12, 4, uint32_t(feat));
    wr(8, 4, 1); wr(12, 4, uint32_t(feat >> 32));
    wr(20, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
    REQUIRE((rd(20, 1) & VIRTIO_S_FEATURES_OK));
    wr(22, 2, 0);
    wr(24, 2, qsize);
    wr(26, 2, 1);  // MSI-X vector 1
    wr(32, 4, uint32_t(kDesc)); wr(36, 4, 0);
    wr(40, 4, uint32_t(kAvail)); wr(44, 4, 0);
    wr(48, 4, uint32_t(kUsed)); wr(52, 4, 0);
    wr(28, 2, 1);
    REQUIRE(rd(28, 2) == 1);
    wr(20, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
  }
  void desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    uint8_t d[16];
    memcpy(d, &addr, 8); memcpy(d + 8, &len, 4); memcpy(d + 12, &flags, 2); memcpy(d + 14, &next, 2);
    REQUIRE(qvm_gmem_write(nullptr, table + 16ull * i, d, 16) == 0);
  }
  uint16_t avail_idx = 0;
  void offer(uint16_t head) {
    REQUIRE(qvm_gmem_write(nullptr, kAvail + 4 + 2ull * (avail_idx % v.q[0].size), &head, 2) == 0);
    avail_idx++;
    REQUIRE(qvm_gmem_write(nullptr, kAvail + 2, &avail_idx, 2) == 0);
  }
  uint16_t used_idx() {
    uint16_t x;
    REQUIRE(qvm_gmem_read(nullptr, kUsed + 2, &x, 2) == 0);
    return x;
  }
  bool needs_reset() { return rd(20, 1) & VIRTIO_S_NEEDS_RESET; }
};

constexpr uint64_t kFeat = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) |
                           (1ull << VIRTIO_F_INDIRECT_DESC);
constexpr uint16_t NEXT = 1, WRITE = 2, INDIRECT = 4;

}  // namespace

TEST_CASE("virtio-pci declaration: capabilities + BAR + MSI-X") {
  Rig r;
  const auto& f = r.g.declared;
  CHECK(f.vendor_id == 0x1af4);
  CHECK(f.device_id == 0x1042);
  CHECK(f.bar_size[0] == VIO_PCI_BAR_SIZE);
  CHECK(f.msix_vectors == 2);
  REQUIRE(f.caps_len == 68);
  CHECK(f.caps[3] == 1);       // common
  CHECK(f.caps[16 + 3] == 3);  // ISR
  CHECK(f.caps[32 + 3] == 4);  // device
  CHECK(f.caps[48 + 3] == 2);  // notify
  CHECK(f.caps[48 + 2] == 20);
}

TEST_CASE("feature negotiation refuses unknown features and legacy drivers") {
  Rig r;
  r.wr(20, 1, 3);
  r.wr(8, 4, 0); r.wr(12, 4, 1u << 5);  // not offered
  r.wr(8, 4, 1); r.wr(12, 4, 1);
  r.wr(20, 1, 3 | VIRTIO_S_FEATURES_OK);
  CHECK_FALSE(r.rd(20, 1) & VIRTIO_S_FEATURES_OK);
  r.wr(20, 1, 0);  // reset
  CHECK(r.rd(20, 1) == 0);
  r.wr(20, 1, 3);
  r.wr(8, 4, 0); r.wr(12, 4, 1u << VIRTIO_F_EVENT_IDX);  // no VERSION_1
  r.wr(20, 1, 3 | VIRTIO_S_FEATURES_OK);
  CHECK_FALSE(r.rd(20, 1) & VIRTIO_S_FEATURES_OK);
  // offered features are read back through the selector
  r.wr(0, 4, 1);
  CHECK(r.rd(4, 4) == 1);  // VERSION_1 is bit 32
  r.wr(0, 4, 0);
  CHECK(r.rd(4, 4) == ((1u << VIRTIO_F_EVENT_IDX) | (1u << VIRTIO_F_INDIRECT_DESC)));
  CHECK(r.rd(VIO_PCI_DEVCFG + 2, 2) == 0x0403);
}

TEST_CASE("a well-formed chain round-trips with MSI-X delivery") {
  Rig r;
  r.bring_up(kFeat);
  r.desc(kDesc, 0, kData, 16, NEXT, 1);
  r.desc(kDesc, 1, kData + 0x100, 512, NEXT | WRITE, 2);
  r.desc(kDesc, 2, kData + 0x400, 1, WRITE, 0);
  r.offer(0);
  r.wr(VIO_PCI_NOTIFY, 2, 0);
  CHECK(g_notified == 0);
  vio_req req;
  REQUIRE(vio_pop(&r.v, 0, &req) == 1);
  CHECK(req.head == 0);
  CHECK(req.nseg == 3);
  CHECK(req.rlen == 16);
  CHECK(req.wlen == 513);
  uint8_t st = 0x5a;
  CHECK(vio_req_write(&r.v, &req, 512, &st, 1) == 1);
  CHECK(r.g.ram[kData + 0x400 - FakeGuest::kBase] == 0x5a);
  CHECK(vio_pop(&r.v, 0, &req) == 0);
  REQUIRE(vio_push(&r.v, 0, req.head, 1) == 0);
  CHECK(r.used_idx() == 1);
  // MSI-X: program vector 1, enable, unmask; used_event 0 -> interrupt.
  r.wr(VIO_PCI_MSIX_TABLE + 16, 4, 0xfee00000);
  r.wr(VIO_PCI_MSIX_TABLE + 24, 4, 0x41);
  r.wr(VIO_PCI_MSIX_TABLE + 28, 4, 0);
  r.g.pci_state = QVM_PCI_STATE_MSIX_ENABLE;
  vio_notify_queue(&r.v, 0);
  REQUIRE(r.g.msis.size() == 1);
  CHECK(r.g.msis[0].data == 0x41);
  // avail_event was published (= last_avail)
  uint16_t ae = 0;
  qvm_gmem_read(nullptr, kUsed + 4 + 8 * kQ, &ae, 2);
  CHECK(ae == 1);
  CHECK_FALSE(r.needs_reset());
  CHECK(r.g.bad_accesses == 0);
}

TEST_CASE("EVENT_IDX suppresses interrupts until used_event is crossed") {
  Rig r;
  r.bring_up(kFeat);
  uint16_t used_event = 2;  // the driver wants an interrupt after entry 2
  qvm_gmem_write(nullptr, kAvail + 4 + 2 * kQ, &used_event, 2);
  for (int i = 0; i < 3; i++) {
    r.desc(kDesc, i, kData, 8, WRITE, 0);
    r.offer(uint16_t(i));
  }
  vio_req req;
  int irqs_before = r.g.intx_raises();
  for (int i = 0; i < 2; i++) {
    REQUIRE(vio_pop(&r.v, 0, &req) == 1);
    vio_push(&r.v, 0, req.head, 0);
    vio_notify_queue(&r.v, 0);
  }
  CHECK(r.g.intx_raises() == irqs_before);  // used idx 1, 2: not past event 2
  REQUIRE(vio_pop(&r.v, 0, &req) == 1);
  vio_push(&r.v, 0, req.head, 0);
  vio_notify_queue(&r.v, 0);
  CHECK(r.g.intx_raises() == irqs_before + 1);  // INTx (MSI-X off)
  CHECK(r.rd(VIO_PCI_ISR, 1) == 1);           // read clears
  CHECK(r.g.intx() == 0);
  CHECK(r.rd(VIO_PCI_ISR, 1) == 0);
}

TEST_CASE("indirect descriptor tables") {
  Rig r;
  r.bring_up(kFeat);
  const uint64_t tbl = kData + 0x8000;
  r.desc(tbl, 0, kData, 16, NEXT, 1);
  r.desc(tbl, 1, kData + 0x200, 1, WRITE, 0);
  r.desc(kDesc, 0, tbl, 32, INDIRECT, 0);
  r.offer(0);
  vio_req req;
  REQUIRE(vio_pop(&r.v, 0, &req) == 1);
  CHECK(req.nseg == 2);
  CHECK(req.rlen == 16);
  CHECK(req.wlen == 1);
  CHECK_FALSE(r.needs_reset());
}

namespace {
// Offers `head` after `setup` and expects the chain to be rejected.
void ExpectRejected(Rig& r, uint16_t head = 0) {
  r.offer(head);
  vio_req req;
  CHECK(vio_pop(&r.v, 0, &req) == -1);
  CHECK(r.needs_reset());
  // once broken, the queue is dead: no further ring access
  uint64_t before = r.g.bad_accesses;
  CHECK(vio_pop(&r.v, 0, &req) == 0);
  CHECK(r.g.bad_accesses == before);
}
}  // namespace

TEST_CASE("hostile chains put the device in NEEDS_RESET") {
  Rig r;
  r.bring_up(kFeat);
  SECTION("a loop") {
    r.desc(kDesc, 0, kData, 8, NEXT, 1);
    r.desc(kDesc, 1, kData, 8, NEXT, 0);
    ExpectRejected(r);
  }
  SECTION("a self loop") {
    r.desc(kDesc, 0, kData, 8, NEXT, 0);
    ExpectRejected(r);
  }
  SECTION("next index beyond the queue") {
    r.desc(kDesc, 0, kData, 8, NEXT, kQ);
    ExpectRejected(r);
  }
  SECTION("head beyond the queue") { ExpectRejected(r, kQ + 3); }
  SECTION("buffer outside guest RAM") {
    r.desc(kDesc, 0, 0x10, 8, 0, 0);
    ExpectRejected(r);
  }
  SECTION("buffer crossing the end of RAM") {
    r.desc(kDesc, 0, FakeGuest::kBase + (1 << 20) - 4, 8, 0, 0);
    ExpectRejected(r);
  }
  SECTION("address + length overflows") {
    r.desc(kDesc, 0, ~0ull - 0x10, 0x100, 0, 0);
    ExpectRejected(r);
  }
  SECTION("huge length") {
    r.desc(kDesc, 0, kData, 0xffffffffu, WRITE, 0);
    ExpectRejected(r);
  }
  SECTION("zero length") {
    r.desc(kDesc, 0, kData, 0, 0, 0);
    ExpectRejected(r);
  }
  SECTION("readable after writable") {
    r.desc(kDesc, 0, kData, 8, NEXT | WRITE, 1);
    r.desc(kDesc, 1, kData, 8, 0, 0);
    ExpectRejected(r);
  }
  SECTION("indirect inside indirect") {
    const uint64_t t1 = kData + 0x8000, t2 = kData + 0x9000;
    r.desc(t2, 0, kData, 8, 0, 0);
    r.desc(t1, 0, t2, 16, INDIRECT, 0);
    r.desc(kDesc, 0, t1, 16, INDIRECT, 0);
    ExpectRejected(r);
  }
  SECTION("loop inside an indirect table") {
    const uint64_t t = kData + 0x8000;
    r.desc(t, 0, kData, 8, NEXT, 1);
    r.desc(t, 1, kData, 8, NEXT, 0);
    r.desc(kDesc, 0, t, 32, INDIRECT, 0);
    ExpectRejected(r);
  }
  SECTION("indirect table with a ragged length") {
    r.desc(kDesc, 0, kData + 0x8000, 24, INDIRECT, 0);
    ExpectRejected(r);
  }
  SECTION("indirect table larger than the queue") {
    r.desc(kDesc, 0, kData + 0x8000, 16 * (kQ + 1), INDIRECT, 0);
    ExpectRejected(r);
  }
  SECTION("indirect table outside RAM") {
    r.desc(kDesc, 0, 0x1000, 32, INDIRECT, 0);
    ExpectRejected(r);
  }
  SECTION("indirect with NEXT set") {
    r.desc(kDesc, 0, kData + 0x8000, 32, INDIRECT | NEXT, 1);
    ExpectRejected(r);
  }
  SECTION("avail index running more than a queue ahead") {
    r.avail_idx = kQ + 1;
    qvm_gmem_write(nullptr, kAvail + 2, &r.avail_idx, 2);
    vio_req req;
    CHECK(vio_pop(&r.v, 0, &req) == -1);
    CHECK(r.needs_reset());
  }
  // the driver learns about it through a config interrupt
  CHECK(r.g.intx_raises() >= 1);
}

TEST_CASE("indirect descriptors are refused unless negotiated") {
  Rig r;
  r.bring_up((1ull << VIRTIO_F_VERSION_1));
  r.desc(kData + 0x8000, 0, kData, 8, 0, 0);
  r.desc(kDesc, 0, kData + 0x8000, 16, INDIRECT, 0);
  ExpectRejected(r);
}

TEST_CASE("queue rings must lie in guest RAM and be aligned") {
  Rig r;
  r.wr(20, 1, 3);
  r.wr(8, 4, 1); r.wr(12, 4, 1);
  r.wr(20, 1, 3 | VIRTIO_S_FEATURES_OK);
  r.wr(22, 2, 0);
  r.wr(32, 4, 0xfffff000); r.wr(36, 4, 0xffffffff);  // wraps
  r.wr(40, 4, uint32_t(kAvail));
  r.wr(48, 4, uint32_t(kUsed));
  r.wr(28, 2, 1);
  CHECK(r.rd(28, 2) == 0);
  CHECK(r.needs_reset());
  // a reset recovers
  r.wr(20, 1, 0);
  CHECK_FALSE(r.needs_reset());
  r.bring_up(kFeat);
  CHECK(r.rd(28, 2) == 1);
}

TEST_CASE("queue size is bounded by the device's maximum") {
  Rig r;
  r.wr(22, 2, 0);
  r.wr(24, 2, kQ * 4);
  CHECK(r.rd(24, 2) == kQ);
  r.wr(24, 2, 0);
  CHECK(r.rd(24, 2) == kQ);
  r.wr(22, 2, 7);  // no such queue
  CHECK(r.rd(24, 2) == 0);
  r.wr(24, 2, 4);  // ignored
  r.wr(22, 2, 0);
  CHECK(r.rd(24, 2) == kQ);
}

TEST_CASE("MSI-X: masked vectors set the PBA and fire on unmask") {
  Rig r;
  r.bring_up(kFeat);
  r.g.pci_state = QVM_PCI_STATE_MSIX_ENABLE;
  r.wr(VIO_PCI_MSIX_TABLE + 16, 4, 0xfee00000);
  r.wr(VIO_PCI_MSIX_TABLE + 24, 4, 0x42);
  // entry 1 still masked (reset state)
  r.desc(kDesc, 0, kData, 8, WRITE, 0);
  r.offer(0);
  vio_req req;
  REQUIRE(vio_pop(&r.v, 0, &req) == 1);
  vio_push(&r.v, 0, req.head, 0);
  vio_notify_queue(&r.v, 0);
  CHECK(r.g.msis.empty());
  CHECK(r.rd(VIO_PCI_MSIX_PBA, 4) == 2);
  r.wr(VIO_PCI_MSIX_TABLE + 28, 4, 0);
  REQUIRE(r.g.msis.size() == 1);
  CHECK(r.rd(VIO_PCI_MSIX_PBA, 4) == 0);
  // out-of-range table offsets are ignored
  r.wr(VIO_PCI_MSIX_TABLE + 16 * 200, 4, 1);
  CHECK(r.rd(VIO_PCI_MSIX_TABLE + 16 * 200, 4) == 0);
}

TEST_CASE("request copies stay within the chain") {
  Rig r;
  r.bring_up(kFeat);
  r.desc(kDesc, 0, kData, 4, NEXT, 1);
  r.desc(kDesc, 1, kData + 0x100, 4, NEXT, 2);
  r.desc(kDesc, 2, kData + 0x200, 4, WRITE, 0);
  for (int i = 0; i < 8; i++) r.g.ram[kData - FakeGuest::kBase + (i < 4 ? i : 0x100 + i - 4)] = uint8_t(i + 1);
  r.offer(0);
  vio_req req;
  REQUIRE(vio_pop(&r.v, 0, &req) == 1);
  uint8_t buf[16] = {};
  CHECK(vio_req_read(&r.v, &req, 2, buf, 16) == 6);  // only 6 readable bytes left
  CHECK(buf[0] == 3);
  CHECK(buf[5] == 8);
  uint8_t w[8] = {9, 9, 9, 9, 9, 9, 9, 9};
  CHECK(vio_req_write(&r.v, &req, 0, w, 8) == 4);
  struct iovec iov[4];
  CHECK(vio_req_iov(&r.v, &req, 0, 0, 8, iov, 4) == 2);
  CHECK(vio_req_iov(&r.v, &req, 0, 0, 9, iov, 4) == -1);  // more than the chain has
  CHECK(vio_req_iov(&r.v, &req, 0, 0, 8, iov, 1) == -1);  // not enough iovecs
}
