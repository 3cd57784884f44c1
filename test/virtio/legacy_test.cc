// libvirtio's legacy (virtio 0.9.5) PCI transport, QNX's `legacy`: the
// declaration, the I/O BAR's registers, feature negotiation, queues set up by
// page frame number, a request through a legacy queue with INTx and MSI-X,
// and hostile register values, against the fake guest memory.
#include <catch2/catch.hpp>

#include <cstring>

#include "fake_guest.h"

namespace {

constexpr unsigned kQ = 16;
constexpr uint64_t kRing = FakeGuest::kBase + 0x4000;  // PFN 0x104
constexpr uint64_t kData = FakeGuest::kBase + 0x10000;
// the legacy layout of a 16-entry queue at kRing
constexpr uint64_t kAvail = kRing + 16 * kQ;
constexpr uint64_t kUsed = kRing + 0x1000;  // avail ends at +0x126: next page

int g_kicked = -1;
void OnNotify(struct vio*, unsigned q) { g_kicked = int(q); }
const vio_ops kOps = {OnNotify, nullptr};

constexpr uint64_t kOffered = (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << VIRTIO_F_EVENT_IDX) | 0x5;

struct Dev {
  FakeGuest g;
  vio v{};
  uint8_t cfg[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};

  Dev() {
    vio_init(&v, g.dev, &kOps, 4, kOffered, 1, kQ, cfg, sizeof cfg);
    vio_legacy(&v);
    REQUIRE(vio_declare(&v, 0xff, 0, 0) == 0);
    vio_reset(&v);
  }
  uint64_t access(bool wr, unsigned region, uint32_t space, uint64_t off, unsigned size,
                  uint64_t x) {
    qvm_access a{space, size, off, region, 0};
    uint8_t d[8];
    memset(d, 0xff, sizeof d);
    if (wr) {
      memcpy(d, &x, 8);
      REQUIRE(vio_write(&v, &a, d) == QVM_DONE);
      return 0;
    }
    REQUIRE(vio_read(&v, &a, d) == QVM_DONE);
    uint64_t r = 0;
    memcpy(&r, d, size);
    return r;
  }
  // BAR 0: the legacy registers (I/O)
  uint64_t in(uint64_t off, unsigned size) { return access(false, 0, QVM_SPACE_IO, off, size, 0); }
  void out(uint64_t off, unsigned size, uint64_t x) { access(true, 0, QVM_SPACE_IO, off, size, x); }
  // BAR 1: the MSI-X table (memory)
  uint64_t rd1(uint64_t off, unsigned size) { return access(false, 1, QVM_SPACE_MEM, off, size, 0); }
  void wr1(uint64_t off, unsigned size, uint64_t x) { access(true, 1, QVM_SPACE_MEM, off, size, x); }

  // What Linux's virtio_pci_legacy does: reset, ACK|DRIVER, features, queue
  // 0 by PFN, DRIVER_OK.
  void bring_up(uint32_t accept) {
    out(VIO_LEG_STATUS, 1, 0);
    out(VIO_LEG_STATUS, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
    out(VIO_LEG_GUEST_FEATURES, 4, accept);
    out(VIO_LEG_QUEUE_SEL, 2, 0);
    REQUIRE(in(VIO_LEG_QUEUE_SIZE, 2) == kQ);
    REQUIRE(in(VIO_LEG_QUEUE_PFN, 4) == 0);  // not yet active
    out(VIO_LEG_QUEUE_PFN, 4, kRing / 4096);
    REQUIRE(in(VIO_LEG_QUEUE_PFN, 4) == kRing / 4096);
    out(VIO_LEG_STATUS, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_DRIVER_OK);
  }
  void offer_one(uint16_t slot) {
    uint8_t d[16] = {};
    uint64_t addr = kData;
    uint32_t len = 64;
    uint16_t flags = 2;  // device-writable
    memcpy(d, &addr, 8); memcpy(d + 8, &len, 4); memcpy(d + 12, &flags, 2);
    REQUIRE(qvm_gmem_write(nullptr, kRing, d, 16) == 0);
    uint16_t head = 0, idx = uint16_t(slot + 1);
    REQUIRE(qvm_gmem_write(nullptr, kAvail + 4 + 2ull * slot, &head, 2) == 0);
    REQUIRE(qvm_gmem_write(nullptr, kAvail + 2, &idx, 2) == 0);
  }
  uint16_t used_idx() {
    uint16_t i = 0;
    REQUIRE(qvm_gmem_read(nullptr, kUsed + 2, &i, 2) == 0);
    return i;
  }
};

}  // namespace

TEST_CASE("virtio legacy: a legacy PCI function, no virtio 1.x capability") {
  Dev d;
  const qvm_pci_function& f = d.g.declared;
  CHECK(d.v.transport == VIO_PCI);
  CHECK(f.vendor_id == 0x1af4);
  CHECK(f.device_id == 0x1005);            // entropy's legacy ID
  CHECK(f.subsystem_vendor_id == 0x1af4);
  CHECK(f.subsystem_id == 4);              // the device type
  CHECK(f.revision == 0);
  CHECK(f.caps_len == 0);
  CHECK(f.bar_flags[0] == QVM_PCI_BAR_IO);
  CHECK(f.bar_size[0] == 32);              // 0x18 + 8 bytes of config
  CHECK(f.bar_flags[1] == QVM_PCI_BAR_MEM32);
  CHECK(f.bar_size[1] == VIO_LEG_BAR1_SIZE);
  CHECK(f.msix_bar == 1);
  CHECK(f.msix_vectors == 2);
  CHECK(f.msix_pba_offset == VIO_LEG_MSIX_PBA);
}

TEST_CASE("virtio legacy: the other devices' legacy IDs; a type without one is refused") {
  const struct { uint32_t type; uint16_t id; } ids[] = {{1, 0x1000}, {2, 0x1001}, {3, 0x1003},
                                                        {4, 0x1005}};
  for (const auto& t : ids) {
    FakeGuest g;
    vio v{};
    vio_init(&v, g.dev, &kOps, t.type, 0, 1, kQ, nullptr, 0);
    vio_legacy(&v);
    REQUIRE(vio_declare(&v, 0xff, 0, 0) == 0);
    CHECK(g.declared.device_id == t.id);
    CHECK(g.declared.subsystem_id == t.type);
  }
  FakeGuest g;
  vio v{};
  vio_init(&v, g.dev, &kOps, 42, 0, 1, kQ, nullptr, 0);
  vio_legacy(&v);
  CHECK(vio_declare(&v, 0xff, 0, 0) == -EINVAL);
}

TEST_CASE("virtio legacy: refused on virtio-mmio (`loc mem:` + `intr`)") {
  FakeGuest g;
  g.mmio(0xfeb00000);
  vio v{};
  vio_init(&v, g.dev, &kOps, 4, 0, 1, kQ, nullptr, 0);
  vio_legacy(&v);
  CHECK(vio_declare(&v, 0xff, 0, 0) == -EINVAL);
  CHECK(g.declared.vendor_id == 0);
}

TEST_CASE("virtio legacy: register layout and widths") {
  Dev d;
  CHECK(d.in(VIO_LEG_HOST_FEATURES, 4) == uint32_t(kOffered));  // low 32 bits, no VERSION_1
  CHECK((d.v.host_features >> 32) == 0);
  CHECK(d.in(VIO_LEG_HOST_FEATURES, 2) == 0);   // wrong width: 0, not stale bytes
  CHECK(d.in(VIO_LEG_HOST_FEATURES + 1, 1) == 0);
  CHECK(d.in(VIO_LEG_QUEUE_SIZE, 2) == kQ);     // queue 0 selected after reset
  CHECK(d.in(VIO_LEG_STATUS, 1) == 0);
  d.out(VIO_LEG_QUEUE_SIZE, 2, 4);              // read-only
  CHECK(d.in(VIO_LEG_QUEUE_SIZE, 2) == kQ);
  CHECK(d.in(VIO_LEG_QUEUE_NOTIFY, 2) == 0);
  // device configuration at 0x14 without MSI-X ...
  CHECK(d.in(VIO_LEG_CFG, 1) == 0x11);
  CHECK(d.in(VIO_LEG_CFG + 2, 2) == 0x4433);
  CHECK(d.in(VIO_LEG_CFG + 4, 4) == 0x88776655);
  CHECK(d.in(0x1c, 4) == 0);                    // past the configuration
  // ... at 0x18 with it, the vectors at 0x14/0x16
  d.g.pci_state |= QVM_PCI_STATE_MSIX_ENABLE;
  CHECK(d.in(VIO_LEG_CFG_MSIX, 4) == 0x44332211);
  CHECK(d.in(VIO_LEG_MSIX_CONFIG, 2) == 0xffff);
  CHECK(d.in(VIO_LEG_MSIX_QUEUE, 2) == 0xffff);
  // outside the BAR, another BAR, another space: nothing
  CHECK(d.in(32, 1) == 0);
  CHECK(d.in(30, 4) == 0);
  CHECK(d.access(false, 0, QVM_SPACE_MEM, VIO_LEG_HOST_FEATURES, 4, 0) == 0);
  CHECK(d.access(false, 2, QVM_SPACE_MEM, 0, 4, 0) == 0);
}

TEST_CASE("virtio legacy: feature negotiation (32 bits, frozen at DRIVER_OK), status 0 resets") {
  Dev d;
  d.out(VIO_LEG_STATUS, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
  d.out(VIO_LEG_GUEST_FEATURES, 4, 0xffffffffu);       // more than offered
  CHECK(d.in(VIO_LEG_GUEST_FEATURES, 4) == uint32_t(kOffered));
  CHECK(vio_has(&d.v, VIRTIO_F_EVENT_IDX));
  CHECK_FALSE(vio_has(&d.v, VIRTIO_F_VERSION_1));
  d.out(VIO_LEG_GUEST_FEATURES, 4, 1u << VIRTIO_F_INDIRECT_DESC);
  CHECK(d.v.driver_features == (1u << VIRTIO_F_INDIRECT_DESC));
  d.out(VIO_LEG_STATUS, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_DRIVER_OK);
  CHECK(vio_running(&d.v));                            // no FEATURES_OK step
  d.out(VIO_LEG_GUEST_FEATURES, 4, 0);                 // frozen now
  CHECK(d.v.driver_features == (1u << VIRTIO_F_INDIRECT_DESC));
  d.out(VIO_LEG_STATUS, 1, 0);
  CHECK(d.in(VIO_LEG_STATUS, 1) == 0);
  CHECK(d.v.driver_features == 0);
  CHECK_FALSE(vio_running(&d.v));
}

TEST_CASE("virtio legacy: queue set up by PFN in the legacy layout; PFN 0 releases it") {
  Dev d;
  d.bring_up(0);
  CHECK(d.v.q[0].ready);
  CHECK(d.v.q[0].size == kQ);
  CHECK(d.v.q[0].desc == kRing);
  CHECK(d.v.q[0].avail == kAvail);
  CHECK(d.v.q[0].used == kUsed);
  d.out(VIO_LEG_QUEUE_PFN, 4, kRing / 4096 + 1);       // frozen while active
  CHECK(d.v.q[0].desc == kRing);
  d.out(VIO_LEG_QUEUE_PFN, 4, 0);
  CHECK_FALSE(d.v.q[0].ready);
  CHECK(d.in(VIO_LEG_QUEUE_PFN, 4) == 0);
  d.out(VIO_LEG_QUEUE_PFN, 4, kRing / 4096 + 2);       // and set up again elsewhere
  CHECK(d.v.q[0].desc == kRing + 0x2000);
  CHECK(d.in(VIO_LEG_QUEUE_PFN, 4) == kRing / 4096 + 2);
}

TEST_CASE("virtio legacy: a request through a legacy queue, INTx and the ISR") {
  Dev d;
  d.bring_up(0);
  g_kicked = -1;
  d.offer_one(0);
  d.out(VIO_LEG_QUEUE_NOTIFY, 2, 0);
  CHECK(g_kicked == 0);
  vio_req r;
  REQUIRE(vio_pop(&d.v, 0, &r) == 1);
  CHECK(r.wlen == 64);
  const char msg[] = "legacy";
  CHECK(vio_req_write(&d.v, &r, 0, msg, sizeof msg) == long(sizeof msg));
  REQUIRE(vio_push(&d.v, 0, r.head, sizeof msg) == 0);
  vio_notify_queue(&d.v, 0);
  CHECK(d.used_idx() == 1);
  char got[sizeof msg] = {};
  REQUIRE(qvm_gmem_read(nullptr, kData, got, sizeof got) == 0);
  CHECK(memcmp(got, msg, sizeof msg) == 0);
  CHECK(d.g.intx() == 1);
  CHECK(d.in(VIO_LEG_ISR, 1) == 1);                    // queue interrupt; read clears
  CHECK(d.g.intx() == 0);
  CHECK(d.in(VIO_LEG_ISR, 1) == 0);
}

TEST_CASE("virtio legacy: MSI-X vectors in the I/O BAR, the table in BAR 1") {
  Dev d;
  d.g.pci_state |= QVM_PCI_STATE_MSIX_ENABLE;
  d.bring_up(0);
  d.out(VIO_LEG_MSIX_CONFIG, 2, 0);
  CHECK(d.in(VIO_LEG_MSIX_CONFIG, 2) == 0);
  d.out(VIO_LEG_MSIX_QUEUE, 2, 2);                     // past the 2-entry table
  CHECK(d.in(VIO_LEG_MSIX_QUEUE, 2) == 0xffff);
  d.out(VIO_LEG_MSIX_QUEUE, 2, 1);
  CHECK(d.in(VIO_LEG_MSIX_QUEUE, 2) == 1);
  d.wr1(VIO_LEG_MSIX_TABLE + 16, 4, 0xfee00000u);
  d.wr1(VIO_LEG_MSIX_TABLE + 24, 4, 0x47);
  d.wr1(VIO_LEG_MSIX_TABLE + 28, 4, 0);                // unmask
  CHECK(d.rd1(VIO_LEG_MSIX_TABLE + 24, 4) == 0x47);
  d.offer_one(0);
  vio_req r;
  REQUIRE(vio_pop(&d.v, 0, &r) == 1);
  REQUIRE(vio_push(&d.v, 0, r.head, 0) == 0);
  vio_notify_queue(&d.v, 0);
  REQUIRE(d.g.msis.size() == 1);
  CHECK(d.g.msis[0].address == 0xfee00000u);
  CHECK(d.g.msis[0].data == 0x47);
  CHECK(d.g.intx() == 0);
  CHECK(d.rd1(VIO_LEG_MSIX_PBA, 8) == 0);
}

TEST_CASE("virtio legacy: hostile queue select, PFN and notify") {
  Dev d;
  d.out(VIO_LEG_STATUS, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
  // a queue that does not exist: size 0, its PFN and vector ignored
  d.out(VIO_LEG_QUEUE_SEL, 2, 0xffff);
  CHECK(d.in(VIO_LEG_QUEUE_SIZE, 2) == 0);
  d.out(VIO_LEG_QUEUE_PFN, 4, kRing / 4096);
  CHECK(d.in(VIO_LEG_QUEUE_PFN, 4) == 0);
  CHECK_FALSE(d.v.q[0].ready);
  CHECK((d.in(VIO_LEG_STATUS, 1) & VIRTIO_S_NEEDS_RESET) == 0);
  // notify of an unknown queue, and of a queue not set up
  g_kicked = -1;
  d.out(VIO_LEG_QUEUE_NOTIFY, 2, 7);
  d.out(VIO_LEG_QUEUE_NOTIFY, 2, 0xffff);
  d.out(VIO_LEG_QUEUE_NOTIFY, 2, 0);
  CHECK(g_kicked == -1);
  // PFNs whose rings leave guest RAM: the largest (no overflow: 2^44), one
  // below RAM, and one whose used ring runs past RAM's end
  d.out(VIO_LEG_QUEUE_SEL, 2, 0);
  const uint32_t bad[] = {0xffffffffu, 0x1, uint32_t((FakeGuest::kBase + (1u << 20)) / 4096 - 1)};
  for (uint32_t pfn : bad) {
    d.out(VIO_LEG_STATUS, 1, 0);
    d.out(VIO_LEG_STATUS, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
    d.out(VIO_LEG_QUEUE_SEL, 2, 0);
    d.out(VIO_LEG_QUEUE_PFN, 4, pfn);
    CHECK_FALSE(d.v.q[0].ready);
    CHECK(d.in(VIO_LEG_QUEUE_PFN, 4) == 0);
    CHECK((d.in(VIO_LEG_STATUS, 1) & VIRTIO_S_NEEDS_RESET));
    d.out(VIO_LEG_STATUS, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_DRIVER_OK);
    CHECK_FALSE(vio_running(&d.v));                    // broken until reset
    CHECK((d.in(VIO_LEG_ISR, 1) & 2));                 // told by a config interrupt
  }
  // status 0 makes it usable again
  d.bring_up(0);
  CHECK(vio_running(&d.v));
  // a hostile avail index on a legacy queue: NEEDS_RESET, as on the modern one
  uint16_t idx = kQ + 5;
  REQUIRE(qvm_gmem_write(nullptr, kAvail + 2, &idx, 2) == 0);
  vio_req r;
  CHECK(vio_pop(&d.v, 0, &r) == -1);
  CHECK((d.in(VIO_LEG_STATUS, 1) & VIRTIO_S_NEEDS_RESET));
}

TEST_CASE("virtio legacy: ioeventfds on the notify port, one per queue by data match") {
  Dev d;
  d.g.notify_ok = true;
  REQUIRE(vio_eventfds_setup(&d.v, 1) == 1);
  REQUIRE(d.g.notes.size() >= 1);
  const fake::Note& n = d.g.notes[0];
  CHECK_FALSE(n.irq);
  CHECK(n.region == 0);
  CHECK(n.offset == VIO_LEG_QUEUE_NOTIFY);
  CHECK(n.size == 2);
  CHECK(n.flags == QVM_IOEVENTFD_DATAMATCH);
  CHECK(n.match == 0);
  vio_eventfds_close(&d.v);
}
