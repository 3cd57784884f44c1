// libFuzzer target: virtio-net's frame path in both directions, the plug-in
// (vdev/virtio-net: virtio_net.c and net_core.c) linked in and driven
// through its factory on the fake host, as virtio_dev does for the other
// virtio devices: a hostile driver's transmit chains (header checks, frame
// lengths, chains across descriptors and indirect tables) go out on a peer
// link whose other end the fuzzer holds, and the frames the fuzzer sends in
// on that link land in the driver's receive buffers (one chain per frame,
// or several with MRG_RXBUF; buffers too small, unwritable, missing). The
// exit path (`notify exit`): a kick arms a zero-delay timer that one round
// of the fake event loop fires. Input: byte 0 the features the driver
// accepts (bit 0 EVENT_IDX, 1 INDIRECT_DESC, 2 MRG_RXBUF, 3 CSUM (not
// offered on a peer link: FEATURES_OK refused), 4 MAC, 5 STATUS, 6 a second
// round of frames after the first kicks), byte 1 the queue size, bytes 2-3
// the length L of the frame section (at most 16 KiB), then L bytes of
// frames (u16 length, bytes; each one packet on the link), then guest RAM
// from its start: queue q's descriptor table at 0x4000*q, avail at +0x1000,
// used at +0x2000; buffers anywhere.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "net_core.h"
#include "test/fuzz/virtio_driver.h"
#include "test/virtio/fake_guest.h"

namespace {
constexpr size_t kHeader = 4, kMaxFrames = 16 * 1024;
constexpr size_t kMaxInput = kHeader + kMaxFrames + 64 * 1024;  // also -max_len
constexpr unsigned kOptPeer = 2, kOptNotify = 4;                 // net_options[]

const qvm_factory* NetFactory() {
  for (auto* f : fake_factories())
    if (std::string(f->name) == "virtio-net") return f;
  return nullptr;
}

// The link's rendezvous path: one scratch directory for the process,
// removed when it exits (the socket, its lock file, the directory).
std::string* g_dir;
void RemoveDir() {
  for (const char* f : {"/link", "/link.lock"}) unlink((*g_dir + f).c_str());
  rmdir(g_dir->c_str());
}
const std::string& LinkPath() {
  static const std::string* path = [] {
    char tmpl[] = "/tmp/qvm-fuzz-net.XXXXXX";
    if (!mkdtemp(tmpl)) __builtin_trap();
    g_dir = new std::string(tmpl);
    atexit(RemoveDir);
    return new std::string(*g_dir + "/link");
  }();
  return *path;
}

// Sends each frame of the section [p, p+n) on the link (u16 length, bytes).
void SendFrames(int fd, const uint8_t* p, size_t n) {
  size_t off = 0;
  for (int k = 0; k < 64 && off + 2 <= n; k++) {
    size_t len = size_t(p[off]) | size_t(p[off + 1]) << 8;
    off += 2;
    if (len > n - off) len = n - off;
    (void)send(fd, p + off, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    off += len;
  }
}

// Reads what the device transmitted (bounded).
void Drain(int fd) {
  static uint8_t buf[70000];
  for (int k = 0; k < 300; k++)
    if (recv(fd, buf, sizeof buf, MSG_DONTWAIT) < 0) break;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kHeader || size > kMaxInput) return 0;
  size_t flen = size_t(data[2]) | size_t(data[3]) << 8;
  if (flen > kMaxFrames || flen > size - kHeader) return 0;
  const uint8_t* frames = data + kHeader;
  const qvm_factory* f = NetFactory();
  if (!f) __builtin_trap();  // linked in: registered at start-up
  const std::string& path = LinkPath();
  FakeGuest g;
  memcpy(g.ram.data(), frames + flen, size - kHeader - flen);
  std::vector<uint8_t> state(f->state_size, 0);
  auto ctl = [&](unsigned c, int arg = 0, const char* v = nullptr) {
    return f->control(g.dev, state.data(), c, arg, v);
  };
  bool ok = ctl(QVM_CTRL_OPTIONS_START) == 0 && ctl(QVM_CTRL_OPTION, kOptPeer, path.c_str()) == 0 &&
            ctl(QVM_CTRL_OPTION, kOptNotify, "exit") == 0 && ctl(QVM_CTRL_OPTIONS_END) == 0 &&
            ctl(QVM_CTRL_RESOURCES) == 0 && ctl(QVM_CTRL_RESET) == 0 &&
            ctl(QVM_CTRL_GUEST_CONFIGURED) == 0;
  if (!ok) __builtin_trap();  // the fixed configuration must come up (it listens)
  // the other qvm connects; one round of the event loop accepts
  int other = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (other < 0) __builtin_trap();
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  memcpy(a.sun_path, path.c_str(), path.size());
  if (connect(other, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) __builtin_trap();
  g.pump(state.data());
  fuzz::VirtioDriver drv{[&](const qvm_access& acc, uint8_t* b, bool write) {
    (void)(write ? f->write(g.dev, state.data(), &acc, b) : f->read(g.dev, state.data(), &acc, b));
  }};
  const uint8_t fb = data[0];
  const uint64_t feat = (1ull << VIRTIO_F_VERSION_1) |
                        ((fb & 1) ? 1ull << VIRTIO_F_EVENT_IDX : 0) |
                        ((fb & 2) ? 1ull << VIRTIO_F_INDIRECT_DESC : 0) |
                        ((fb & 4) ? 1ull << VIRTIO_NET_F_MRG_RXBUF : 0) | ((fb & 8) ? 1ull << VIRTIO_NET_F_CSUM : 0) |
                        ((fb & 16) ? 1ull << VIRTIO_NET_F_MAC : 0) | ((fb & 32) ? 1ull << VIRTIO_NET_F_STATUS : 0);
  drv.bring_up(feat, 2, data[1], [](unsigned q, unsigned r) {
    return FakeGuest::kBase + 0x4000ull * q + 0x1000ull * r;
  });
  SendFrames(other, frames, flen);
  for (int round = 0; round < ((fb & 64) ? 2 : 1); round++) {
    g.pump(state.data());  // frames in
    for (unsigned q = 0; q < 2; q++) drv.notify(q);
    g.pump(state.data());  // kicks served
    Drain(other);
    if (fb & 64) SendFrames(other, frames, flen);
  }
  (void)drv.rd(20, 1);
  ctl(QVM_CTRL_TERMINATE);
  close(other);
  return 0;
}
