// libvirtio's ABI 1.3 notification path against the fake host: ioeventfds
// on the notify addresses, MSI irqfds whose route follows the MSI-X table
// (masked vectors never written, PBA kept), and the -ENOTSUP fallback.
#include <catch2/catch.hpp>

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>

#include "fake_guest.h"

namespace {

constexpr uint64_t kDesc = FakeGuest::kBase + 0x0000;
constexpr uint64_t kAvail = FakeGuest::kBase + 0x1000;
constexpr uint64_t kUsed = FakeGuest::kBase + 0x2000;
constexpr uint64_t kData = FakeGuest::kBase + 0x10000;
constexpr uint16_t kQ = 8;

int g_kicks = 0;
void OnNotify(struct vio*, unsigned) { g_kicks++; }
const vio_ops kOps = {OnNotify, nullptr};

struct NRig {
  FakeGuest g;
  vio v{};
  uint8_t cfg[4] = {};
  explicit NRig(bool notify_ok, unsigned nq = 2) {
    g.notify_ok = notify_ok;
    vio_init(&v, g.dev, &kOps, 2, 1ull << VIRTIO_F_EVENT_IDX, nq, kQ, cfg, sizeof cfg);
    REQUIRE(vio_declare(&v, 1, 0, 0) == 0);
    vio_reset(&v);
  }
  ~NRig() { vio_eventfds_close(&v); }
  void wr(uint64_t off, unsigned size, uint64_t x) {
    qvm_access a{QVM_SPACE_MEM, size, off, 0, 0};
    uint8_t d[8];
    memcpy(d, &x, 8);
    REQUIRE(vio_write(&v, &a, d) == QVM_DONE);
  }
  void bring_up() {
    uint64_t feat = (1ull << VIRTIO_F_VERSION_1);
    wr(20, 1, 3);
    wr(8, 4, 0); wr(12, 4, uint32_t(feat));
    wr(8, 4, 1); wr(12, 4, uint32_t(feat >> 32));
    wr(20, 1, 3 | VIRTIO_S_FEATURES_OK);
    wr(22, 2, 0);
    wr(24, 2, kQ);
    wr(26, 2, 1);
    wr(32, 4, uint32_t(kDesc)); wr(36, 4, 0);
    wr(40, 4, uint32_t(kAvail)); wr(44, 4, 0);
    wr(48, 4, uint32_t(kUsed)); wr(52, 4, 0);
    wr(28, 2, 1);
    wr(20, 1, 3 | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
  }
  // One chain in queue 0, taken and completed.
  void complete_one() {
    uint8_t d[16] = {};
    uint64_t a = kData;
    uint32_t len = 8;
    uint16_t fl = 2;
    memcpy(d, &a, 8); memcpy(d + 8, &len, 4); memcpy(d + 12, &fl, 2);
    REQUIRE(qvm_gmem_write(nullptr, kDesc, d, 16) == 0);
    uint16_t idx = 0;
    REQUIRE(qvm_gmem_read(nullptr, kAvail + 2, &idx, 2) == 0);
    uint16_t head = 0;
    REQUIRE(qvm_gmem_write(nullptr, kAvail + 4 + 2ull * (idx % kQ), &head, 2) == 0);
    idx++;
    REQUIRE(qvm_gmem_write(nullptr, kAvail + 2, &idx, 2) == 0);
    CHECK(vio_queue_pending(&v, 0) == 1);
    vio_req req;
    REQUIRE(vio_pop(&v, 0, &req) == 1);
    CHECK(vio_queue_pending(&v, 0) == 0);
    REQUIRE(vio_push(&v, 0, req.head, 0) == 0);
    vio_notify_queue(&v, 0);
  }
  uint64_t drain(int fd) {
    uint64_t n = 0;
    if (read(fd, &n, sizeof n) != sizeof n) return 0;
    return n;
  }
};

}  // namespace

TEST_CASE("notify: ioeventfds on every queue's notify address, irqfd per vector") {
  NRig r(true, 2);
  REQUIRE(vio_eventfds_setup(&r.v, 1) == 2);
  REQUIRE(r.g.notes.size() == 2 + 3);
  for (unsigned q = 0; q < 2; q++) {
    FakeGuest::Note* n = r.g.note(vio_kick_fd(&r.v, q));
    REQUIRE(n != nullptr);
    CHECK_FALSE(n->irq);
    CHECK(n->region == 0);  // BAR 0
    CHECK(n->offset == VIO_PCI_NOTIFY + 4 * q);
    CHECK(n->size == 2);
    CHECK(n->flags == 0);
  }
  CHECK(vio_kick_fd(&r.v, 2) == -1);
  // the exit path still works for other access sizes
  r.bring_up();
  g_kicks = 0;
  r.wr(VIO_PCI_NOTIFY, 4, 0);
  CHECK(g_kicks == 1);
}

TEST_CASE("notify: MSI irqfd route follows the MSI-X table; masked vectors use the PBA") {
  NRig r(true, 1);
  REQUIRE(vio_eventfds_setup(&r.v, 1) == 1);
  r.bring_up();
  r.g.pci_state = QVM_PCI_STATE_MSIX_ENABLE;
  int fd = r.v.irqfd[1];
  REQUIRE(fd >= 0);
  r.wr(VIO_PCI_MSIX_TABLE + 16, 4, 0xfee00000);
  r.wr(VIO_PCI_MSIX_TABLE + 24, 4, 0x41);
  // still masked: nothing written, PBA bit set
  r.complete_one();
  CHECK(r.drain(fd) == 0);
  CHECK(r.v.pba == 2);
  CHECK(r.g.note(fd)->masked == 1);
  // unmask: the pending interrupt goes out through the irqfd with the
  // table's message, not through qvm_msi
  r.wr(VIO_PCI_MSIX_TABLE + 28, 4, 0);
  CHECK(r.drain(fd) == 1);
  CHECK(r.v.pba == 0);
  CHECK(r.g.msis.empty());
  CHECK(r.g.note(fd)->masked == 0);
  CHECK(r.g.note(fd)->addr == 0xfee00000);
  CHECK(r.g.note(fd)->data == 0x41);
  // reprogrammed vector: the route is updated before the next interrupt
  r.wr(VIO_PCI_MSIX_TABLE + 24, 4, 0x52);
  r.complete_one();
  CHECK(r.drain(fd) == 1);
  CHECK(r.g.note(fd)->data == 0x52);
  // masking withdraws the route at once
  r.wr(VIO_PCI_MSIX_TABLE + 28, 4, 1);
  CHECK(r.g.note(fd)->masked == 1);
  r.complete_one();
  CHECK(r.drain(fd) == 0);
  CHECK(r.v.pba == 2);
  // close releases every fd
  vio_eventfds_close(&r.v);
  CHECK(r.g.notes.empty());
  CHECK(r.v.irqfd[1] == -1);
}

TEST_CASE("notify: without host support everything stays on the exit path") {
  NRig r(false, 2);
  CHECK(vio_eventfds_setup(&r.v, 1) == 0);
  CHECK(vio_kick_fd(&r.v, 0) == -1);
  CHECK(r.v.irqfd[0] == -1);
  r.bring_up();
  r.g.pci_state = QVM_PCI_STATE_MSIX_ENABLE;
  r.wr(VIO_PCI_MSIX_TABLE + 16, 4, 0xfee00000);
  r.wr(VIO_PCI_MSIX_TABLE + 24, 4, 0x43);
  r.wr(VIO_PCI_MSIX_TABLE + 28, 4, 0);
  r.complete_one();
  REQUIRE(r.g.msis.size() == 1);
  CHECK(r.g.msis[0].data == 0x43);
}

TEST_CASE("notify: the driver's status 0 keeps the MSI-X table; the VM's reset clears it") {
  NRig r(false, 1);
  r.bring_up();
  r.g.pci_state = QVM_PCI_STATE_MSIX_ENABLE;
  r.wr(VIO_PCI_MSIX_TABLE + 16, 4, 0xfee00000);
  r.wr(VIO_PCI_MSIX_TABLE + 24, 4, 0x44);
  r.wr(VIO_PCI_MSIX_TABLE + 28, 4, 0);
  r.complete_one();
  REQUIRE(r.g.msis.size() == 1);
  // a virtio reset (a driver that re-probes, or recovers from NEEDS_RESET):
  // the device's state goes, the PCI function's MSI-X table stays
  r.wr(20, 1, 0);
  CHECK(r.v.status == 0);
  CHECK(r.v.q[0].msix_vector == 0xffff);
  CHECK(r.v.msix_config == 0xffff);
  CHECK(r.v.msix[1].lo == 0xfee00000);
  CHECK(r.v.msix[1].data == 0x44);
  CHECK(r.v.msix[1].ctrl == 0);
  // brought up again (fresh rings) without touching the table: its
  // interrupts still arrive with the table's message
  uint8_t zero[0x1000] = {};
  REQUIRE(qvm_gmem_write(nullptr, kAvail, zero, sizeof zero) == 0);
  REQUIRE(qvm_gmem_write(nullptr, kUsed, zero, sizeof zero) == 0);
  r.bring_up();
  r.complete_one();
  REQUIRE(r.g.msis.size() == 2);
  CHECK(r.g.msis[1].data == 0x44);
  // the VM's reset: the table is cleared and every entry masked
  vio_reset(&r.v);
  CHECK(r.v.msix[1].lo == 0);
  CHECK(r.v.msix[1].data == 0);
  CHECK(r.v.msix[1].ctrl == 1);
}
