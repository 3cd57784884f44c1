// virtio-net's frame path (vdev/virtio-net/net_core.c) against the fake
// guest memory, with a SOCK_SEQPACKET socketpair standing in for the tap
// (frames with the 12-byte vnet header) or the peer link (raw frames).
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <vector>

#include "fake_guest.h"
#include "net_core.h"

namespace {

constexpr uint16_t kQ = 16;
constexpr uint64_t kRing[2][3] = {
    {FakeGuest::kBase + 0x0000, FakeGuest::kBase + 0x1000, FakeGuest::kBase + 0x2000},
    {FakeGuest::kBase + 0x3000, FakeGuest::kBase + 0x4000, FakeGuest::kBase + 0x5000}};
constexpr uint64_t kData = FakeGuest::kBase + 0x10000;
constexpr uint16_t NEXT = 1, WRITE = 2, INDIRECT = 4;

int g_kicks = 0;
void OnNotify(struct vio*, unsigned) { g_kicks++; }
const vio_ops kOps = {OnNotify, nullptr};

uint64_t Bit(unsigned b) { return 1ull << b; }

struct NetRig {
  FakeGuest g;
  std::unique_ptr<vnet> n = std::make_unique<vnet>();
  int host = -1;  // our end of the backend socketpair
  uint16_t avail[2] = {0, 0};

  NetRig(int hdr, uint64_t offer, uint64_t accept) {
    memset(n.get(), 0, sizeof *n);
    const uint8_t mac[6] = {0x02, 1, 2, 3, 4, 5};
    vnet_init(n.get(), g.dev, &kOps, offer, mac);
    REQUIRE(vio_declare(&n->v, 2, 0, 0) == 0);
    vio_reset(&n->v);
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv) == 0);
    int big = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    n->fd = sv[0];
    n->hdr = hdr;
    n->sock = 1;
    host = sv[1];
    bring_up(accept | Bit(VIRTIO_F_VERSION_1));
  }
  ~NetRig() {
    if (n->fd >= 0) close(n->fd);
    if (host >= 0) close(host);
  }
  uint64_t rd(uint64_t off, unsigned size) {
    qvm_access a{QVM_SPACE_MEM, size, off, 0, 0};
    uint8_t d[8] = {};
    REQUIRE(vio_read(&n->v, &a, d) == QVM_DONE);
    uint64_t x = 0;
    memcpy(&x, d, size);
    return x;
  }
  void wr(uint64_t off, unsigned size, uint64_t x) {
    qvm_access a{QVM_SPACE_MEM, size, off, 0, 0};
    uint8_t d[8];
    memcpy(d, &x, 8);
    REQUIRE(vio_write(&n->v, &a, d) == QVM_DONE);
  }
  void bring_up(uint64_t feat) {
    wr(20, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
    wr(8, 4, 0); wr(12, 4, uint32_t(feat));
    wr(8, 4, 1); wr(12, 4, uint32_t(feat >> 32));
    wr(20, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
    REQUIRE((rd(20, 1) & VIRTIO_S_FEATURES_OK));
    for (unsigned q = 0; q < 2; q++) {
      wr(22, 2, q);
      wr(24, 2, kQ);
      wr(32, 4, uint32_t(kRing[q][0])); wr(36, 4, 0);
      wr(40, 4, uint32_t(kRing[q][1])); wr(44, 4, 0);
      wr(48, 4, uint32_t(kRing[q][2])); wr(52, 4, 0);
      wr(28, 2, 1);
      REQUIRE(rd(28, 2) == 1);
    }
    wr(20, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
  }
  void desc(unsigned q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    desc_at(kRing[q][0], i, addr, len, flags, next);
  }
  void desc_at(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    uint8_t d[16];
    memcpy(d, &addr, 8); memcpy(d + 8, &len, 4); memcpy(d + 12, &flags, 2); memcpy(d + 14, &next, 2);
    REQUIRE(qvm_gmem_write(nullptr, table + 16ull * i, d, 16) == 0);
  }
  void offer(unsigned q, uint16_t head) {
    REQUIRE(qvm_gmem_write(nullptr, kRing[q][1] + 4 + 2ull * (avail[q] % kQ), &head, 2) == 0);
    avail[q]++;
    REQUIRE(qvm_gmem_write(nullptr, kRing[q][1] + 2, &avail[q], 2) == 0);
  }
  uint16_t used_idx(unsigned q) {
    uint16_t x;
    REQUIRE(qvm_gmem_read(nullptr, kRing[q][2] + 2, &x, 2) == 0);
    return x;
  }
  std::pair<uint32_t, uint32_t> used(unsigned q, unsigned i) {
    uint32_t e[2];
    REQUIRE(qvm_gmem_read(nullptr, kRing[q][2] + 4 + 8ull * (i % kQ), e, 8) == 0);
    return {e[0], e[1]};
  }
  void put(uint64_t gpa, const std::vector<uint8_t>& b) {
    REQUIRE(qvm_gmem_write(nullptr, gpa, b.data(), b.size()) == 0);
  }
  std::vector<uint8_t> get(uint64_t gpa, size_t len) {
    std::vector<uint8_t> b(len);
    REQUIRE(qvm_gmem_read(nullptr, gpa, b.data(), len) == 0);
    return b;
  }
  bool needs_reset() { return rd(20, 1) & VIRTIO_S_NEEDS_RESET; }
  // What arrived on the backend (empty when nothing).
  std::vector<uint8_t> backend_frame() {
    std::vector<uint8_t> b(70000);
    ssize_t k = recv(host, b.data(), b.size(), MSG_DONTWAIT);
    if (k < 0) return {};
    b.resize(size_t(k));
    return b;
  }
  void backend_send(const std::vector<uint8_t>& b) {
    REQUIRE(send(host, b.data(), b.size(), 0) == ssize_t(b.size()));
  }
};

std::vector<uint8_t> Frame(size_t len, uint8_t seed) {
  std::vector<uint8_t> f(len);
  for (size_t i = 0; i < len; i++) f[i] = uint8_t(seed + i * 7);
  return f;
}
std::vector<uint8_t> Hdr(uint8_t flags = 0, uint8_t gso = 0) {
  std::vector<uint8_t> h(VNET_HDR_LEN, 0);
  h[0] = flags;
  h[1] = gso;
  return h;
}
std::vector<uint8_t> Cat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const uint64_t kTapOffer = vnet_features(1, 1);
const uint64_t kBasic = Bit(VIRTIO_F_EVENT_IDX) | Bit(VIRTIO_NET_F_MAC) | Bit(VIRTIO_NET_F_STATUS);

}  // namespace

TEST_CASE("virtio-net features and tap offload flags") {
  uint64_t peer = vnet_features(0, 0);
  CHECK((peer & Bit(VIRTIO_NET_F_MAC)));
  CHECK_FALSE((peer & Bit(VIRTIO_NET_F_CSUM)));
  CHECK_FALSE((peer & Bit(VIRTIO_NET_F_MRG_RXBUF)));
  CHECK((kTapOffer & Bit(VIRTIO_NET_F_HOST_TSO4)));
  CHECK((kTapOffer & Bit(VIRTIO_NET_F_GUEST_TSO6)));
  CHECK((kTapOffer & Bit(VIRTIO_NET_F_MRG_RXBUF)));
  CHECK(vnet_tun_offload(0) == 0);
  CHECK(vnet_tun_offload(Bit(VIRTIO_NET_F_GUEST_TSO4)) == 0);  // TSO needs CSUM
  CHECK(vnet_tun_offload(Bit(VIRTIO_NET_F_GUEST_CSUM)) == VNET_TUN_F_CSUM);
  CHECK(vnet_tun_offload(Bit(VIRTIO_NET_F_GUEST_CSUM) | Bit(VIRTIO_NET_F_GUEST_TSO4) |
                         Bit(VIRTIO_NET_F_GUEST_TSO6)) ==
        (VNET_TUN_F_CSUM | VNET_TUN_F_TSO4 | VNET_TUN_F_TSO6));
}

TEST_CASE("virtio-net config space: MAC, link status with a config interrupt") {
  NetRig r(1, kTapOffer, kBasic);
  for (unsigned i = 0; i < 6; i++)
    CHECK(r.rd(VIO_PCI_DEVCFG + i, 1) == (i == 0 ? 2u : i));
  CHECK(r.rd(VIO_PCI_DEVCFG + 6, 2) == 0);
  int raises = r.g.intx_raises();
  vnet_set_link(r.n.get(), 1);
  CHECK(r.rd(VIO_PCI_DEVCFG + 6, 2) == 1);
  CHECK(vnet_link(r.n.get()) == 1);
  CHECK(r.g.intx_raises() == raises + 1);
  vnet_set_link(r.n.get(), 1);  // no change, no interrupt
  CHECK(r.g.intx_raises() == raises + 1);
}

TEST_CASE("virtio-net tx: a chain over three buffers reaches the tap with its header") {
  NetRig r(1, kTapOffer, kBasic | Bit(VIRTIO_NET_F_CSUM) | Bit(VIRTIO_NET_F_HOST_TSO4));
  auto hdr = Hdr(VNET_HDR_F_NEEDS_CSUM, VNET_GSO_TCPV4);
  hdr[2] = 54;  // hdr_len
  auto f = Frame(3000, 1);
  r.put(kData, hdr);
  r.put(kData + 0x1000, std::vector<uint8_t>(f.begin(), f.begin() + 100));
  r.put(kData + 0x2000, std::vector<uint8_t>(f.begin() + 100, f.end()));
  r.desc(1, 0, kData, 12, NEXT, 1);
  r.desc(1, 1, kData + 0x1000, 100, NEXT, 2);
  r.desc(1, 2, kData + 0x2000, 2900, 0, 0);
  r.offer(1, 0);
  CHECK(vnet_tx(r.n.get(), 8) == 0);
  CHECK(r.backend_frame() == Cat(hdr, f));
  CHECK(r.used_idx(1) == 1);
  CHECK(r.used(1, 0) == std::make_pair(0u, 0u));
  CHECK(r.n->st.tx_frames == 1);
  CHECK(r.n->st.tx_bytes == 3000);
}

TEST_CASE("virtio-net tx: peer backends get the frame without the header") {
  NetRig r(0, vnet_features(0, 0), kBasic);
  auto f = Frame(60, 3);
  r.put(kData, Cat(Hdr(), f));
  r.desc(1, 0, kData, 72, 0, 0);
  r.offer(1, 0);
  vnet_tx(r.n.get(), 8);
  CHECK(r.backend_frame() == f);
}

TEST_CASE("virtio-net tx: headers asking for what was not negotiated and runts are dropped") {
  NetRig r(1, kTapOffer, kBasic);  // no CSUM, no HOST_TSO
  r.put(kData, Cat(Hdr(VNET_HDR_F_NEEDS_CSUM), Frame(60, 0)));
  r.desc(1, 0, kData, 72, 0, 0);
  r.put(kData + 0x1000, Cat(Hdr(0, VNET_GSO_TCPV4), Frame(60, 0)));
  r.desc(1, 1, kData + 0x1000, 72, 0, 0);
  r.put(kData + 0x2000, Cat(Hdr(0, 0x77), Frame(60, 0)));
  r.desc(1, 2, kData + 0x2000, 72, 0, 0);
  r.desc(1, 3, kData + 0x3000, 12 + 13, 0, 0);  // runt
  r.desc(1, 4, kData + 0x4000, 1 << 17, 0, 0);  // larger than any frame
  for (uint16_t h = 0; h < 5; h++) r.offer(1, h);
  vnet_tx(r.n.get(), 8);
  CHECK(r.backend_frame().empty());
  CHECK(r.n->st.tx_bad == 5);
  CHECK(r.n->st.tx_frames == 0);
  CHECK(r.used_idx(1) == 5);  // every chain is handed back
  CHECK_FALSE(r.needs_reset());
}

TEST_CASE("virtio-net tx: a chain outside guest RAM means NEEDS_RESET, no backend write") {
  NetRig r(1, kTapOffer, kBasic);
  r.desc(1, 0, kData, 12, NEXT, 1);
  r.desc(1, 1, FakeGuest::kBase + (1 << 20) - 8, 100, 0, 0);  // runs off the end of RAM
  r.offer(1, 0);
  vnet_tx(r.n.get(), 8);
  CHECK(r.needs_reset());
  CHECK(r.backend_frame().empty());
  CHECK(r.used_idx(1) == 0);
}

TEST_CASE("virtio-net tx: bounded per call, the rest on the next call") {
  NetRig r(1, kTapOffer, kBasic);
  for (uint16_t h = 0; h < 10; h++) {
    r.put(kData + 0x100 * h, Cat(Hdr(), Frame(60, uint8_t(h))));
    r.desc(1, h, kData + 0x100 * h, 72, 0, 0);
    r.offer(1, h);
  }
  CHECK(vnet_tx(r.n.get(), 4) == 1);
  CHECK(r.used_idx(1) == 4);
  CHECK(vnet_tx(r.n.get(), 4) == 1);
  CHECK(vnet_tx(r.n.get(), 4) == 0);
  CHECK(r.used_idx(1) == 10);
  for (uint8_t h = 0; h < 10; h++) CHECK(r.backend_frame() == Cat(Hdr(), Frame(60, h)));
}

TEST_CASE("virtio-net rx: one frame into one buffer, header from the tap, num_buffers 1") {
  NetRig r(1, kTapOffer, kBasic | Bit(VIRTIO_NET_F_GUEST_CSUM));
  r.desc(0, 0, kData, 2048, WRITE, 0);
  r.offer(0, 0);
  auto in = Cat(Hdr(VNET_HDR_F_NEEDS_CSUM), Frame(1000, 9));
  r.backend_send(in);
  CHECK(vnet_rx(r.n.get(), 8) == VNET_RX_IDLE);
  REQUIRE(r.used_idx(0) == 1);
  CHECK(r.used(0, 0) == std::make_pair(0u, 1012u));
  auto got = r.get(kData, 1012);
  auto want = in;
  want[10] = 1;  // num_buffers
  CHECK(got == want);
  CHECK(r.n->st.rx_frames == 1);
}

TEST_CASE("virtio-net rx: a buffer too small drops the frame without overflow") {
  NetRig r(1, kTapOffer, kBasic);
  r.put(kData, std::vector<uint8_t>(512, 0xee));
  r.desc(0, 0, kData, 100, WRITE, 0);
  r.offer(0, 0);
  r.backend_send(Cat(Hdr(), Frame(200, 1)));
  vnet_rx(r.n.get(), 8);
  CHECK(r.n->st.rx_small == 1);
  CHECK(r.n->st.rx_frames == 0);
  REQUIRE(r.used_idx(0) == 1);
  CHECK(r.used(0, 0) == std::make_pair(0u, 0u));
  CHECK(r.get(kData, 512) == std::vector<uint8_t>(512, 0xee));  // nothing written
  CHECK_FALSE(r.needs_reset());
}

TEST_CASE("virtio-net rx: offloads the driver did not accept are dropped") {
  NetRig r(1, kTapOffer, kBasic);  // no GUEST_CSUM / GUEST_TSO
  r.desc(0, 0, kData, 2048, WRITE, 0);
  r.offer(0, 0);
  r.backend_send(Cat(Hdr(VNET_HDR_F_NEEDS_CSUM, VNET_GSO_TCPV4), Frame(200, 1)));
  r.backend_send(Cat(Hdr(VNET_HDR_F_DATA_VALID), Frame(100, 2)));
  vnet_rx(r.n.get(), 8);
  CHECK(r.n->st.rx_bad == 1);
  REQUIRE(r.used_idx(0) == 1);
  CHECK(r.used(0, 0).second == 112);
  CHECK(r.get(kData, 1)[0] == 0);  // DATA_VALID cleared without GUEST_CSUM
}

TEST_CASE("virtio-net rx: mergeable buffers carry a frame over several chains") {
  NetRig r(1, kTapOffer, kBasic | Bit(VIRTIO_NET_F_MRG_RXBUF));
  for (uint16_t h = 0; h < 4; h++) {
    r.desc(0, h, kData + 0x1000 * h, 1024, WRITE, 0);
    r.offer(0, h);
  }
  auto in = Cat(Hdr(), Frame(3000, 5));
  r.backend_send(in);
  vnet_rx(r.n.get(), 8);
  REQUIRE(r.used_idx(0) == 3);
  CHECK(r.used(0, 0) == std::make_pair(0u, 1024u));
  CHECK(r.used(0, 1) == std::make_pair(1u, 1024u));
  CHECK(r.used(0, 2) == std::make_pair(2u, 3012u - 2048u));
  std::vector<uint8_t> got;
  for (unsigned h = 0; h < 3; h++) {
    auto part = r.get(kData + 0x1000 * h, r.used(0, h).second);
    got.insert(got.end(), part.begin(), part.end());
  }
  auto want = in;
  want[10] = 3;
  CHECK(got == want);
}

TEST_CASE("virtio-net rx: too few mergeable buffers hold the frame until more arrive") {
  NetRig r(1, kTapOffer, kBasic | Bit(VIRTIO_NET_F_MRG_RXBUF));
  for (uint16_t h = 0; h < 2; h++) {
    r.desc(0, h, kData + 0x1000 * h, 1024, WRITE, 0);
    r.offer(0, h);
  }
  r.backend_send(Cat(Hdr(), Frame(3000, 5)));
  CHECK(vnet_rx(r.n.get(), 8) == VNET_RX_STALLED);
  CHECK(r.used_idx(0) == 0);
  CHECK(r.n->rx_pending == 1);
  CHECK(r.n->v.q[0].last_avail == 0);  // both buffers given back
  r.desc(0, 2, kData + 0x2000, 1024, WRITE, 0);
  r.offer(0, 2);
  CHECK(vnet_rx(r.n.get(), 8) == VNET_RX_IDLE);
  CHECK(r.used_idx(0) == 3);
  CHECK(r.n->st.rx_frames == 1);
  CHECK(r.n->st.rx_stalls == 1);
}

TEST_CASE("virtio-net rx: a whole ring of buffers too small for a frame drops it") {
  NetRig r(1, kTapOffer, kBasic | Bit(VIRTIO_NET_F_MRG_RXBUF));
  for (uint16_t h = 0; h < kQ; h++) {
    r.desc(0, h, kData + 0x100 * h, 64, WRITE, 0);
    r.offer(0, h);
  }
  r.backend_send(Cat(Hdr(), Frame(2000, 5)));   // needs 32 buffers of 64
  r.backend_send(Cat(Hdr(), Frame(100, 6)));    // fits in 2
  CHECK(vnet_rx(r.n.get(), 8) == VNET_RX_IDLE);
  CHECK(r.n->st.rx_small == 1);
  CHECK(r.n->st.rx_frames == 1);
  CHECK(r.used_idx(0) == 2);
}

TEST_CASE("virtio-net rx: no buffers at all stalls; the frame waits") {
  NetRig r(0, vnet_features(0, 0), kBasic);
  auto f = Frame(80, 4);
  r.backend_send(f);
  CHECK(vnet_rx(r.n.get(), 8) == VNET_RX_STALLED);
  CHECK(r.n->rx_pending == 1);
  r.desc(0, 0, kData, 1526, WRITE, 0);
  r.offer(0, 0);
  CHECK(vnet_rx(r.n.get(), 8) == VNET_RX_IDLE);
  REQUIRE(r.used_idx(0) == 1);
  auto want = Cat(Hdr(), f);
  want[10] = 1;
  CHECK(r.get(kData, 92) == want);
}

TEST_CASE("virtio-net rx: malformed receive chains mean NEEDS_RESET and a counted drop") {
  NetRig r(1, kTapOffer, kBasic | Bit(VIRTIO_F_INDIRECT_DESC));
  SECTION("loop") {
    r.desc(0, 0, kData, 8, WRITE | NEXT, 1);
    r.desc(0, 1, kData + 8, 8, WRITE | NEXT, 0);
  }
  SECTION("out of RAM") { r.desc(0, 0, FakeGuest::kBase + (1 << 20) - 100, 4096, WRITE, 0); }
  SECTION("huge length") { r.desc(0, 0, kData, 0xffffffffu, WRITE, 0); }
  SECTION("zero length") { r.desc(0, 0, kData, 0, WRITE, 0); }
  SECTION("indirect inside indirect") {
    r.desc(0, 0, kData + 0x8000, 32, INDIRECT, 0);
    r.desc_at(kData + 0x8000, 0, kData + 0x9000, 16, INDIRECT, 0);
  }
  r.offer(0, 0);
  r.backend_send(Cat(Hdr(), Frame(60, 1)));
  vnet_rx(r.n.get(), 8);
  CHECK(r.needs_reset());
  CHECK(r.n->st.rx_dropped == 1);
  CHECK(r.n->st.rx_frames == 0);
  CHECK(r.used_idx(0) == 0);
  // a broken device takes nothing more
  r.backend_send(Cat(Hdr(), Frame(60, 2)));
  vnet_rx(r.n.get(), 8);
  CHECK(r.n->st.rx_frames == 0);
}

TEST_CASE("virtio-net rx: bounded per call; runts and oversize backend frames dropped") {
  NetRig r(0, vnet_features(0, 0), kBasic);
  for (uint16_t h = 0; h < 8; h++) {
    r.desc(0, h, kData + 0x1000 * h, 2048, WRITE, 0);
    r.offer(0, h);
  }
  r.backend_send(Frame(10, 0));             // runt
  r.backend_send(Frame(VNET_MAX_FRAME + 100, 0));  // truncated on receive
  for (int i = 0; i < 5; i++) r.backend_send(Frame(100, uint8_t(i)));
  CHECK(vnet_rx(r.n.get(), 3) == VNET_RX_MORE);
  CHECK(r.n->st.rx_bad == 2);
  CHECK(r.n->st.rx_frames == 1);
  CHECK(vnet_rx(r.n.get(), 3) == VNET_RX_MORE);
  CHECK(vnet_rx(r.n.get(), 3) == VNET_RX_IDLE);
  CHECK(r.n->st.rx_frames == 5);
}

TEST_CASE("virtio-net rx: the peer closing is end of file") {
  NetRig r(0, vnet_features(0, 0), kBasic);
  close(r.host);
  r.host = -1;
  CHECK(vnet_rx(r.n.get(), 8) == VNET_RX_EOF);
}

TEST_CASE("virtio-net MAC addresses") {
  uint8_t m[6];
  REQUIRE(vnet_parse_mac("52:54:00:Ab:cd:ef", m) == 0);
  CHECK(m[0] == 0x52);
  CHECK(m[3] == 0xab);
  CHECK(m[5] == 0xef);
  CHECK(vnet_parse_mac("01:00:5e:00:00:01", m) == -1);  // multicast
  CHECK(vnet_parse_mac("52:54:00:ab:cd", m) == -1);
  CHECK(vnet_parse_mac("52-54-00-ab-cd-ef", m) == -1);
  CHECK(vnet_parse_mac("52:54:00:ab:cd:eg", m) == -1);
  uint8_t a[6], b[6], c[6];
  vnet_default_mac("sys1/virtio-net", a);
  vnet_default_mac("sys1/virtio-net", b);
  vnet_default_mac("sys2/virtio-net", c);
  CHECK(memcmp(a, b, 6) == 0);
  CHECK(memcmp(a, c, 6) != 0);
  CHECK((a[0] & 3) == 2);  // locally administered, unicast
  CHECK((c[0] & 3) == 2);
}

TEST_CASE("vio_unpop gives chains back to be taken again") {
  NetRig r(1, kTapOffer, kBasic);
  r.desc(0, 3, kData, 64, WRITE, 0);
  r.desc(0, 5, kData + 64, 64, WRITE, 0);
  r.offer(0, 3);
  r.offer(0, 5);
  vio_req q;
  REQUIRE(vio_pop(&r.n->v, 0, &q) == 1);
  REQUIRE(vio_pop(&r.n->v, 0, &q) == 1);
  CHECK(q.head == 5);
  vio_unpop(&r.n->v, 0, 2);
  REQUIRE(vio_pop(&r.n->v, 0, &q) == 1);
  CHECK(q.head == 3);
  vio_unpop(&r.n->v, 7, 1);  // no such queue: ignored
  REQUIRE(vio_pop(&r.n->v, 0, &q) == 1);
  CHECK(q.head == 5);
  CHECK(vio_pop(&r.n->v, 0, &q) == 0);
}

// QNX's `legacy`: a legacy driver without MRG_RXBUF writes and reads the
// 10-byte header (no num_buffers); the backend still sees the 12-byte one.
// The frame path depends only on the transport being legacy (v.legacy) and
// on MRG_RXBUF; the rig's queues are set up as in every other case here.
TEST_CASE("virtio-net legacy: 10-byte header without MRG_RXBUF, both ways") {
  NetRig r(1, kTapOffer, kBasic | Bit(VIRTIO_NET_F_CSUM) | Bit(VIRTIO_NET_F_GUEST_CSUM));
  r.n->v.legacy = 1;
  // transmit: 10-byte header + frame in one buffer
  auto f = Frame(300, 3);
  auto h10 = Hdr(VNET_HDR_F_NEEDS_CSUM);
  h10.resize(10);
  h10[4] = 34;  // csum_start
  r.put(kData, Cat(h10, f));
  r.desc(1, 0, kData, uint32_t(10 + f.size()), 0, 0);
  r.offer(1, 0);
  CHECK(vnet_tx(r.n.get(), 8) == 0);
  auto h12 = h10;
  h12.resize(12, 0);
  CHECK(r.backend_frame() == Cat(h12, f));
  // a runt (header alone, shorter than 10 + an Ethernet header) is refused
  r.desc(1, 1, kData, 10 + 13, 0, 0);
  r.offer(1, 1);
  vnet_tx(r.n.get(), 8);
  CHECK(r.backend_frame().empty());
  CHECK(r.n->st.tx_bad == 1);
  // receive: the guest gets 10 bytes of header, the used length says so
  r.put(kData + 0x4000, std::vector<uint8_t>(2048, 0xee));
  r.desc(0, 0, kData + 0x4000, 2048, WRITE, 0);
  r.offer(0, 0);
  auto in = Cat(Hdr(VNET_HDR_F_NEEDS_CSUM), Frame(1000, 9));
  r.backend_send(in);
  vnet_rx(r.n.get(), 8);
  REQUIRE(r.used_idx(0) == 1);
  CHECK(r.used(0, 0) == std::make_pair(0u, 1010u));
  auto want = Cat(std::vector<uint8_t>(in.begin(), in.begin() + 10), Frame(1000, 9));
  CHECK(r.get(kData + 0x4000, 1010) == want);
  CHECK(r.get(kData + 0x4000 + 1010, 2)[0] == 0xee);  // nothing past it
  // a buffer exactly the 10-byte form's size (2 bytes short of the 12-byte one)
  r.desc(0, 1, kData + 0x4000, 1010, WRITE, 0);
  r.offer(0, 1);
  r.backend_send(in);
  vnet_rx(r.n.get(), 8);
  REQUIRE(r.used_idx(0) == 2);
  CHECK(r.used(0, 1) == std::make_pair(1u, 1010u));
  CHECK(r.n->st.rx_small == 0);
}

TEST_CASE("virtio-net legacy: with MRG_RXBUF the header stays 12 bytes") {
  NetRig r(1, kTapOffer, kBasic | Bit(VIRTIO_NET_F_MRG_RXBUF));
  r.n->v.legacy = 1;
  r.desc(0, 0, kData, 2048, WRITE, 0);
  r.offer(0, 0);
  auto in = Cat(Hdr(), Frame(500, 4));
  r.backend_send(in);
  vnet_rx(r.n.get(), 8);
  REQUIRE(r.used_idx(0) == 1);
  CHECK(r.used(0, 0) == std::make_pair(0u, 512u));
  auto want = in;
  want[10] = 1;
  CHECK(r.get(kData, 512) == want);
}
