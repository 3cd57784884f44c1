// virtio-net's plug-in glue (vdev/virtio-net/virtio_net.c) driven through
// its factory against the fake guest and the fake event loop
// (FakeGuest::pump): `notify eventfd` (the default) puts both queues' kicks
// on watched ioeventfds and completions on MSI irqfds, `notify exit` and a
// host without ioeventfds keep the exit path (write callback -> zero-delay
// timer, qvm_msi). The backend is a peer link at an absolute socket path:
// the test plays the other qvm.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fake_guest.h"
#include "test/unit/temp_dir.h"
#include "net_core.h"

namespace {

constexpr uint16_t kQ = 16;
constexpr uint64_t kRing[2][3] = {
    {FakeGuest::kBase + 0x0000, FakeGuest::kBase + 0x1000, FakeGuest::kBase + 0x2000},
    {FakeGuest::kBase + 0x3000, FakeGuest::kBase + 0x4000, FakeGuest::kBase + 0x5000}};
constexpr uint64_t kTxBuf = FakeGuest::kBase + 0x10000;
constexpr uint64_t kRxBuf = FakeGuest::kBase + 0x20000;
constexpr uint16_t WRITE = 2;

const qvm_factory* NetFactory() {
  for (auto* f : fake_factories())
    if (std::string(f->name) == "virtio-net") return f;
  return nullptr;
}

struct Net {
  FakeGuest g;
  const qvm_factory* f = NetFactory();
  std::vector<uint8_t> state;
  qvm::test::TempDir dir;
  std::string path = dir / "link";
  int other = -1;  // the other qvm's end of the peer link
  uint16_t avail[2] = {0, 0};

  // notify: nullptr = option not given; host_ok: qvm offers ioeventfds
  Net(const char* notify, bool host_ok) {
    REQUIRE(f != nullptr);
    g.notify_ok = host_ok;
    state.assign(f->state_size, 0);
    REQUIRE(ctl(QVM_CTRL_OPTIONS_START) == 0);
    REQUIRE(ctl(QVM_CTRL_OPTION, 2, path.c_str()) == 0);  // peer /abs/path
    if (notify) REQUIRE(ctl(QVM_CTRL_OPTION, 4, notify) == 0);
    REQUIRE(ctl(QVM_CTRL_OPTIONS_END) == 0);
    REQUIRE(ctl(QVM_CTRL_RESOURCES) == 0);  // nobody there: we listen
    REQUIRE(ctl(QVM_CTRL_RESET) == 0);
    REQUIRE(ctl(QVM_CTRL_GUEST_CONFIGURED) == 0);
    // the other qvm connects; the event loop accepts
    other = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
    REQUIRE(other >= 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, path.c_str(), path.size());
    REQUIRE(connect(other, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    g.pump(state.data());
  }
  ~Net() {
    ctl(QVM_CTRL_TERMINATE);
    if (other >= 0) close(other);
  }
  int ctl(unsigned c, int arg = 0, const char* v = nullptr) {
    return f->control(g.dev, state.data(), c, arg, v);
  }
  uint64_t rd(uint64_t off, unsigned size) {
    qvm_access a{QVM_SPACE_MEM, size, off, 0, 0};
    uint8_t d[8] = {};
    REQUIRE(f->read(g.dev, state.data(), &a, d) == QVM_DONE);
    uint64_t x = 0;
    memcpy(&x, d, size);
    return x;
  }
  void wr(uint64_t off, unsigned size, uint64_t x) {
    qvm_access a{QVM_SPACE_MEM, size, off, 0, 0};
    uint8_t d[8];
    memcpy(d, &x, 8);
    REQUIRE(f->write(g.dev, state.data(), &a, d) == QVM_DONE);
  }
  // Driver bring-up with MSI-X: config on vector 0, queue q on vector q+1.
  void bring_up() {
    uint64_t feat = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX);
    wr(20, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
    wr(8, 4, 0); wr(12, 4, uint32_t(feat));
    wr(8, 4, 1); wr(12, 4, uint32_t(feat >> 32));
    wr(20, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
    REQUIRE((rd(20, 1) & VIRTIO_S_FEATURES_OK));
    g.pci_state = QVM_PCI_STATE_MSIX_ENABLE;
    for (unsigned e = 0; e < 3; e++) {
      wr(VIO_PCI_MSIX_TABLE + 16 * e, 4, 0xfee00000);
      wr(VIO_PCI_MSIX_TABLE + 16 * e + 8, 4, 0x70 + e);
      wr(VIO_PCI_MSIX_TABLE + 16 * e + 12, 4, 0);
    }
    wr(16, 2, 0);
    for (unsigned q = 0; q < 2; q++) {
      wr(22, 2, q);
      wr(24, 2, kQ);
      wr(26, 2, q + 1);
      wr(32, 4, uint32_t(kRing[q][0])); wr(36, 4, 0);
      wr(40, 4, uint32_t(kRing[q][1])); wr(44, 4, 0);
      wr(48, 4, uint32_t(kRing[q][2])); wr(52, 4, 0);
      wr(28, 2, 1);
    }
    wr(20, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
  }
  void desc(unsigned q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags) {
    uint8_t d[16] = {};
    memcpy(d, &addr, 8); memcpy(d + 8, &len, 4); memcpy(d + 12, &flags, 2);
    REQUIRE(qvm_gmem_write(nullptr, kRing[q][0] + 16ull * i, d, 16) == 0);
  }
  void offer(unsigned q, uint16_t head) {
    REQUIRE(qvm_gmem_write(nullptr, kRing[q][1] + 4 + 2ull * (avail[q] % kQ), &head, 2) == 0);
    avail[q]++;
    REQUIRE(qvm_gmem_write(nullptr, kRing[q][1] + 2, &avail[q], 2) == 0);
  }
  // The driver's used_event (EVENT_IDX): interrupt once used passes it.
  void used_event(unsigned q, uint16_t x) {
    REQUIRE(qvm_gmem_write(nullptr, kRing[q][1] + 4 + 2ull * kQ, &x, 2) == 0);
  }
  uint16_t used_idx(unsigned q) {
    uint16_t x;
    REQUIRE(qvm_gmem_read(nullptr, kRing[q][2] + 2, &x, 2) == 0);
    return x;
  }
  int kick_fd(unsigned q) {
    for (auto& n : g.notes)
      if (!n.irq && n.offset == VIO_PCI_NOTIFY + 4 * q) return n.fd;
    return -1;
  }
  // What the guest's notify write does with an ioeventfd: KVM signals it.
  void kvm_kick(unsigned q) {
    uint64_t one = 1;
    REQUIRE(write(kick_fd(q), &one, 8) == 8);
  }
  uint64_t irq_count(unsigned vec) {
    // irqfds in creation order: vectors 0, 1, 2
    unsigned i = 0;
    for (auto& n : g.notes)
      if (n.irq && i++ == vec) {
        uint64_t c = 0;
        if (read(n.fd, &c, 8) != 8) return 0;
        return c;
      }
    return 0;
  }
  // A guest frame (12-byte header + `len` bytes) in tx chain `head`.
  std::vector<uint8_t> tx_frame(uint16_t head, size_t len, uint8_t seed) {
    std::vector<uint8_t> b(VNET_HDR_LEN + len, 0);
    for (size_t i = 0; i < len; i++) b[VNET_HDR_LEN + i] = uint8_t(seed + i * 3);
    uint64_t gpa = kTxBuf + 0x1000ull * head;
    REQUIRE(qvm_gmem_write(nullptr, gpa, b.data(), b.size()) == 0);
    desc(1, head, gpa, uint32_t(b.size()), 0);
    offer(1, head);
    return {b.begin() + VNET_HDR_LEN, b.end()};
  }
  std::vector<uint8_t> from_link() {
    std::vector<uint8_t> b(70000);
    ssize_t k = recv(other, b.data(), b.size(), MSG_DONTWAIT);
    if (k < 0) return {};
    b.resize(size_t(k));
    return b;
  }
  void rx_buffer(uint16_t head) {
    desc(0, head, kRxBuf + 0x1000ull * head, 2048, WRITE);
    offer(0, head);
  }
};

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> f(n);
  for (size_t i = 0; i < n; i++) f[i] = uint8_t(seed ^ (i * 5));
  return f;
}

}  // namespace

TEST_CASE("virtio-net notify eventfd: kicks on watched ioeventfds, completions on MSI irqfds") {
  Net n(nullptr, true);  // eventfd is the default
  // two ioeventfds (rx, tx notify addresses), one irqfd per MSI-X vector
  REQUIRE(n.kick_fd(0) >= 0);
  REQUIRE(n.kick_fd(1) >= 0);
  CHECK(n.g.notes.size() == 2 + 3);
  CHECK(n.g.watched(n.kick_fd(0)));
  CHECK(n.g.watched(n.kick_fd(1)));
  n.bring_up();
  n.irq_count(0);  // the link-up config interrupt, if any
  // transmit: a kick through the ioeventfd moves the frame, no timer
  auto f1 = n.tx_frame(0, 60, 1);
  auto f2 = n.tx_frame(1, 1500, 2);
  CHECK(n.from_link().empty());
  n.kvm_kick(1);
  int fires = n.g.timer_fires();
  CHECK(n.g.pump(n.state.data()) >= 1);
  CHECK(n.g.timer_fires() == fires);
  CHECK(n.from_link() == f1);
  CHECK(n.from_link() == f2);
  CHECK(n.used_idx(1) == 2);
  CHECK(n.irq_count(2) == 1);     // tx queue's vector, through its irqfd
  CHECK(n.g.msis.empty());        // not through qvm_msi
  // the ioeventfd's count was consumed: another pump does nothing
  n.g.pump(n.state.data());
  CHECK(n.irq_count(2) == 0);
  // receive: a frame from the link lands in the posted buffer, interrupt
  // on the rx vector's irqfd
  n.rx_buffer(0);
  auto r1 = Pattern(100, 9);
  REQUIRE(send(n.other, r1.data(), r1.size(), 0) == ssize_t(r1.size()));
  n.g.pump(n.state.data());
  REQUIRE(n.used_idx(0) == 1);
  std::vector<uint8_t> got(VNET_HDR_LEN + r1.size());
  REQUIRE(qvm_gmem_read(nullptr, kRxBuf, got.data(), got.size()) == 0);
  CHECK(std::vector<uint8_t>(got.begin() + VNET_HDR_LEN, got.end()) == r1);
  CHECK(n.irq_count(1) == 1);
  // no buffers: the frame waits and the link is no longer watched; the
  // guest's rx kick (ioeventfd) resumes delivery
  n.used_event(0, 1);
  auto r2 = Pattern(200, 4);
  REQUIRE(send(n.other, r2.data(), r2.size(), 0) == ssize_t(r2.size()));
  n.g.pump(n.state.data());
  CHECK(n.used_idx(0) == 1);
  n.rx_buffer(1);
  n.kvm_kick(0);
  n.g.pump(n.state.data());
  REQUIRE(n.used_idx(0) == 2);
  std::vector<uint8_t> got2(VNET_HDR_LEN + r2.size());
  REQUIRE(qvm_gmem_read(nullptr, kRxBuf + 0x1000, got2.data(), got2.size()) == 0);
  CHECK(std::vector<uint8_t>(got2.begin() + VNET_HDR_LEN, got2.end()) == r2);
  CHECK(n.irq_count(1) == 1);
  CHECK(n.g.msis.empty());
  // a kick of another width still reaches the write callback (exit path)
  auto f3 = n.tx_frame(2, 64, 7);
  n.wr(VIO_PCI_NOTIFY + 4, 4, 1);
  n.g.pump(n.state.data());
  CHECK(n.from_link() == f3);
  // TERMINATE unwatches and releases every fd
  REQUIRE(n.ctl(QVM_CTRL_TERMINATE) == 0);
  CHECK(n.g.notes.empty());
  CHECK(n.g.watches.empty());
}

TEST_CASE("virtio-net notify exit: no eventfds, kicks are exits served by the kick timer") {
  Net n("exit", true);
  CHECK(n.g.notes.empty());
  n.bring_up();
  auto f1 = n.tx_frame(0, 80, 3);
  n.wr(VIO_PCI_NOTIFY + 4, 2, 1);  // the guest's 16-bit notify write, as an exit
  CHECK(n.from_link().empty());    // nothing on the vCPU thread ...
  int fires = n.g.timer_fires();
  n.g.pump(n.state.data());        // ... the event thread's timer moves it
  CHECK(n.g.timer_fires() == fires + 1);
  CHECK(n.from_link() == f1);
  CHECK(n.used_idx(1) == 1);
  REQUIRE(n.g.msis.size() >= 1);   // interrupts through qvm_msi
  CHECK(n.g.msis.back().data == 0x72);
  n.g.msis.clear();
  // a bad option value is refused
  CHECK(n.ctl(QVM_CTRL_OPTION, 4, "poll") == -EINVAL);
}

TEST_CASE("virtio-net: where qvm has no ioeventfds the exit path stays") {
  Net n("eventfd", false);
  CHECK(n.g.notes.empty());
  CHECK(n.g.watches.size() == 2);  // the listening socket and the link
  n.bring_up();
  auto f1 = n.tx_frame(0, 70, 5);
  n.wr(VIO_PCI_NOTIFY + 4, 2, 1);
  n.g.pump(n.state.data());
  CHECK(n.from_link() == f1);
  CHECK(n.g.msis.size() >= 1);
}

TEST_CASE("virtio-net on virtio-mmio: datamatch ioeventfds on QueueNotify, no irqfds") {
  const qvm_factory* f = NetFactory();
  REQUIRE(f != nullptr);
  FakeGuest g;
  g.notify_ok = true;
  g.mmio(0x1c130000);
  std::vector<uint8_t> st(f->state_size, 0);
  qvm::test::TempDir dir;
  std::string path = dir / "l";
  REQUIRE(f->control(g.dev, st.data(), QVM_CTRL_OPTIONS_START, 0, nullptr) == 0);
  REQUIRE(f->control(g.dev, st.data(), QVM_CTRL_OPTION, 2, path.c_str()) == 0);
  REQUIRE(f->control(g.dev, st.data(), QVM_CTRL_OPTIONS_END, 0, nullptr) == 0);
  REQUIRE(f->control(g.dev, st.data(), QVM_CTRL_RESOURCES, 0, nullptr) == 0);
  REQUIRE(f->control(g.dev, st.data(), QVM_CTRL_GUEST_CONFIGURED, 0, nullptr) == 0);
  REQUIRE(g.notes.size() == 2);
  for (unsigned q = 0; q < 2; q++) {
    CHECK_FALSE(g.notes[q].irq);
    CHECK(g.notes[q].offset == 0x050);
    CHECK(g.notes[q].size == 4);
    CHECK(g.notes[q].flags == QVM_IOEVENTFD_DATAMATCH);
    CHECK(g.notes[q].match == q);
    CHECK(g.watched(g.notes[q].fd));
  }
  REQUIRE(f->control(g.dev, st.data(), QVM_CTRL_TERMINATE, 0, nullptr) == 0);
  CHECK(g.notes.empty());
}

TEST_CASE("virtio-net peer NAME: the rendezvous is below qvm's runtime directory (ABI 1.4)") {
  const qvm_factory* f = NetFactory();
  REQUIRE(f != nullptr);
  qvm::test::TempDir tmp;
  const std::string& dir = tmp.path();
  {
    FakeGuest g;
    g.runtime_dir = dir;  // what `set resmgr-path DIR` gives a plug-in
    std::vector<uint8_t> st(f->state_size, 0);
    REQUIRE(f->control(g.dev, st.data(), QVM_CTRL_OPTIONS_START, 0, nullptr) == 0);
    REQUIRE(f->control(g.dev, st.data(), QVM_CTRL_OPTION, 2, "lan0") == 0);
    REQUIRE(f->control(g.dev, st.data(), QVM_CTRL_OPTIONS_END, 0, nullptr) == 0);
    REQUIRE(f->control(g.dev, st.data(), QVM_CTRL_RESOURCES, 0, nullptr) == 0);
    struct stat sb;
    REQUIRE(stat((dir + "/net-peers/lan0").c_str(), &sb) == 0);
    CHECK(S_ISSOCK(sb.st_mode));
    REQUIRE(f->control(g.dev, st.data(), QVM_CTRL_TERMINATE, 0, nullptr) == 0);
  }
  {
    FakeGuest g;  // no runtime directory: the peer cannot meet anyone
    std::vector<uint8_t> st(f->state_size, 0);
    REQUIRE(f->control(g.dev, st.data(), QVM_CTRL_OPTIONS_START, 0, nullptr) == 0);
    REQUIRE(f->control(g.dev, st.data(), QVM_CTRL_OPTION, 2, "lan0") == 0);
    REQUIRE(f->control(g.dev, st.data(), QVM_CTRL_OPTIONS_END, 0, nullptr) == 0);
    CHECK(f->control(g.dev, st.data(), QVM_CTRL_RESOURCES, 0, nullptr) < 0);
    f->control(g.dev, st.data(), QVM_CTRL_TERMINATE, 0, nullptr);
  }
}
