// libvirtio's virtio-mmio (version 2) transport and the PCI INTx path,
// driven through their registers against the fake guest memory.
#include <catch2/catch.hpp>

#include <cstring>

#include "fake_guest.h"

namespace {

constexpr uint64_t kMmio = 0xfeb00000;
constexpr uint64_t kDesc = FakeGuest::kBase + 0x0000;
constexpr uint64_t kAvail = FakeGuest::kBase + 0x1000;
constexpr uint64_t kUsed = FakeGuest::kBase + 0x2000;
constexpr uint64_t kData = FakeGuest::kBase + 0x10000;

int g_kicked = -1;
void OnNotify(struct vio*, unsigned q) { g_kicked = int(q); }
const vio_ops kOps = {OnNotify, nullptr};

constexpr uint64_t kFeat = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_INDIRECT_DESC);

struct Dev {
  FakeGuest g;
  vio v{};
  uint8_t cfg[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};

  explicit Dev(bool mmio) {
    if (mmio) g.mmio(kMmio);
    vio_init(&v, g.dev, &kOps, 2, 1ull << VIRTIO_F_INDIRECT_DESC, 1, 16, cfg, sizeof cfg);
    REQUIRE(vio_declare(&v, 1, 0, 0) == 0);
    vio_reset(&v);
  }
  // Reads through a buffer pre-filled with 0xff: what the device leaves
  // untouched shows.
  uint64_t rd(uint64_t off, unsigned size) {
    qvm_access a{QVM_SPACE_MEM, size, off, 0, 0};
    uint8_t d[8];
    memset(d, 0xff, sizeof d);
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
  // The Linux virtio_mmio bring-up of queue 0 with `n` entries.
  void mmio_bring_up(uint16_t n) {
    wr(0x070, 4, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
    wr(0x024, 4, 0); wr(0x020, 4, uint32_t(kFeat));
    wr(0x024, 4, 1); wr(0x020, 4, uint32_t(kFeat >> 32));
    wr(0x070, 4, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
    REQUIRE((rd(0x070, 4) & VIRTIO_S_FEATURES_OK));
    wr(0x030, 4, 0);
    REQUIRE(rd(0x044, 4) == 0);
    REQUIRE(rd(0x034, 4) == 16);
    wr(0x038, 4, n);
    wr(0x080, 4, uint32_t(kDesc)); wr(0x084, 4, 0);
    wr(0x090, 4, uint32_t(kAvail)); wr(0x094, 4, 0);
    wr(0x0a0, 4, uint32_t(kUsed)); wr(0x0a4, 4, 0);
    wr(0x044, 4, 1);
    REQUIRE(rd(0x044, 4) == 1);
    wr(0x070, 4, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK |
                     VIRTIO_S_DRIVER_OK);
  }
  // One readable descriptor offered at avail slot `slot`.
  void offer_one(uint16_t slot) {
    uint8_t d[16] = {};
    uint64_t addr = kData;
    uint32_t len = 64;
    memcpy(d, &addr, 8); memcpy(d + 8, &len, 4);
    REQUIRE(qvm_gmem_write(nullptr, kDesc, d, 16) == 0);
    uint16_t head = 0, idx = uint16_t(slot + 1);
    REQUIRE(qvm_gmem_write(nullptr, kAvail + 4 + 2ull * slot, &head, 2) == 0);
    REQUIRE(qvm_gmem_write(nullptr, kAvail + 2, &idx, 2) == 0);
  }
};

}  // namespace

TEST_CASE("virtio-mmio: chosen by loc mem: + intr, identification registers") {
  Dev d(true);
  CHECK(d.v.transport == VIO_MMIO);
  CHECK(d.v.mmio_base == kMmio);
  CHECK(d.rd(0x000, 4) == 0x74726976);  // "virt"
  CHECK(d.rd(0x004, 4) == 2);           // version 2 (no legacy)
  CHECK(d.rd(0x008, 4) == 2);           // device id
  d.wr(0x014, 4, 1);
  CHECK((d.rd(0x010, 4) & 1) == 1);     // VERSION_1 in the high word
  d.wr(0x014, 4, 0);
  CHECK(d.rd(0x010, 4) == (1u << VIRTIO_F_INDIRECT_DESC));
  d.wr(0x014, 4, 7);
  CHECK(d.rd(0x010, 4) == 0);           // no such feature word
  // device configuration from 0x100, any width
  CHECK(d.rd(0x100, 1) == 0x11);
  CHECK(d.rd(0x102, 2) == 0x4433);
  CHECK(d.rd(0x104, 4) == 0x88776655);
  CHECK(d.rd(0x108, 4) == 0);           // past the config: zero
  d.wr(0x0ac, 4, 0);                    // SHMSel 0: no shared memory regions
  CHECK(d.rd(0x0b0, 4) == 0xffffffffu);
  CHECK(d.rd(0x0b4, 4) == 0xffffffffu);
}

TEST_CASE("virtio-mmio: odd-sized, unaligned and unknown register reads are zero") {
  Dev d(true);
  CHECK(d.rd(0x000, 2) == 0);
  CHECK(d.rd(0x001, 1) == 0);
  CHECK(d.rd(0x002, 4) == 0);
  CHECK(d.rd(0x000, 8) == 0);
  CHECK(d.rd(0x0c0, 4) == 0);           // reserved
  CHECK(d.rd(0x050, 4) == 0);           // QueueNotify is write-only
  d.wr(0x070, 2, VIRTIO_S_ACKNOWLEDGE); // ignored: not a 32-bit access
  CHECK(d.rd(0x070, 4) == 0);
}

TEST_CASE("virtio-mmio: queue bring-up, notify, level interrupt and ACK") {
  Dev d(true);
  d.mmio_bring_up(8);
  CHECK(d.v.q[0].size == 8);
  CHECK(d.v.q[0].desc == kDesc);
  CHECK(d.v.q[0].avail == kAvail);
  CHECK(d.v.q[0].used == kUsed);
  CHECK(vio_running(&d.v));
  // queue registers are frozen while the queue is ready
  d.wr(0x038, 4, 4);
  CHECK(d.v.q[0].size == 8);

  g_kicked = -1;
  d.wr(0x050, 4, 3);                    // no queue 3: ignored
  CHECK(g_kicked == -1);
  d.offer_one(0);
  d.wr(0x050, 4, 0);
  CHECK(g_kicked == 0);

  vio_req r;
  REQUIRE(vio_pop(&d.v, 0, &r) == 1);
  CHECK(r.rlen == 64);
  REQUIRE(vio_push(&d.v, 0, r.head, 0) == 0);
  CHECK(d.g.intx() == 0);
  vio_notify_queue(&d.v, 0);
  CHECK(d.g.intx() == 1);               // level, held until acknowledged
  CHECK(d.rd(0x060, 4) == 1);           // used-buffer notification
  CHECK(d.g.intx() == 1);               // reading the status does not clear
  vio_config_changed(&d.v);
  CHECK(d.rd(0x060, 4) == 3);
  CHECK(d.rd(0x0fc, 4) == 1);           // config generation moved
  d.wr(0x064, 4, 1);
  CHECK(d.rd(0x060, 4) == 2);
  CHECK(d.g.intx() == 1);               // the config bit still pending
  d.wr(0x064, 4, 2);
  CHECK(d.rd(0x060, 4) == 0);
  CHECK(d.g.intx() == 0);

  // status 0 resets: queue not ready, interrupt low, features cleared
  d.wr(0x070, 4, 0);
  CHECK(d.rd(0x044, 4) == 0);
  CHECK(d.rd(0x070, 4) == 0);
  CHECK(d.v.driver_features == 0);
}

TEST_CASE("virtio-mmio: rings outside guest RAM put the device in NEEDS_RESET") {
  Dev d(true);
  d.wr(0x070, 4, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
  d.wr(0x024, 4, 1); d.wr(0x020, 4, 1);
  d.wr(0x070, 4, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
  d.wr(0x030, 4, 0);
  d.wr(0x080, 4, 0xfff00000u);          // descriptors outside RAM
  d.wr(0x090, 4, uint32_t(kAvail));
  d.wr(0x0a0, 4, uint32_t(kUsed));
  d.wr(0x044, 4, 1);
  CHECK(d.rd(0x044, 4) == 0);
  CHECK((d.rd(0x070, 4) & VIRTIO_S_NEEDS_RESET));
  CHECK(d.g.intx() == 1);               // config interrupt tells the driver
  CHECK((d.rd(0x060, 4) & 2));
}

TEST_CASE("virtio-mmio: `loc mem:` without `intr` is refused") {
  FakeGuest g;
  g.mmio(kMmio, false);  // `loc mem:` but no `intr`
  vio v{};
  uint8_t cfg[4] = {};
  vio_init(&v, g.dev, &kOps, 4, 0, 1, 16, cfg, sizeof cfg);
  CHECK(vio_declare(&v, 0xff, 0, 0) < 0);
  CHECK(g.declared.vendor_id == 0);     // and no PCI function instead
}

TEST_CASE("virtio-pci INTx: ISR read clears and deasserts; INTX_DISABLE holds the line low") {
  Dev d(false);
  REQUIRE(d.v.transport == VIO_PCI);
  CHECK(d.rd(VIO_PCI_COMMON + 0, 1) == 0);  // wrong width: zero, not stale bytes
  // bring-up through the common configuration, no MSI-X vector
  d.wr(20, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
  d.wr(8, 4, 0); d.wr(12, 4, uint32_t(kFeat));
  d.wr(8, 4, 1); d.wr(12, 4, uint32_t(kFeat >> 32));
  d.wr(20, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
  d.wr(22, 2, 0);
  d.wr(24, 2, 8);
  d.wr(32, 4, uint32_t(kDesc)); d.wr(36, 4, 0);
  d.wr(40, 4, uint32_t(kAvail)); d.wr(44, 4, 0);
  d.wr(48, 4, uint32_t(kUsed)); d.wr(52, 4, 0);
  d.wr(28, 2, 1);
  d.wr(20, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK |
                  VIRTIO_S_DRIVER_OK);
  REQUIRE(vio_running(&d.v));

  d.offer_one(0);
  vio_req r;
  REQUIRE(vio_pop(&d.v, 0, &r) == 1);
  REQUIRE(vio_push(&d.v, 0, r.head, 0) == 0);
  vio_notify_queue(&d.v, 0);
  CHECK(d.g.intx() == 1);
  CHECK(d.rd(VIO_PCI_ISR, 1) == 1);
  CHECK(d.g.intx() == 0);
  CHECK(d.rd(VIO_PCI_ISR, 1) == 0);     // read-to-clear

  // command.INTX_DISABLE: the ISR still records, the line stays low
  d.g.pci_state |= QVM_PCI_STATE_INTX_DISABLE;
  d.offer_one(1);
  REQUIRE(vio_pop(&d.v, 0, &r) == 1);
  REQUIRE(vio_push(&d.v, 0, r.head, 0) == 0);
  vio_notify_queue(&d.v, 0);
  CHECK(d.g.intx() == 0);
  CHECK(d.rd(VIO_PCI_ISR, 1) == 1);
}
