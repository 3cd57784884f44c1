// libFuzzer target: the virtio devices' request parsers — virtio-blk
// (request header, sectors, data, status, discard/write-zeroes ranges on a
// 64 KiB memfd disk), virtio-console (transmit to /dev/null, receive
// buffers) and virtio-entropy — linked in and driven through their
// factories on the fake host the virtio tests use, by a hostile driver on
// the exit path (each notify served inline). Input: byte 0 picks the device
// (modulo 3), byte 1 the feature bits the driver accepts (EVENT_IDX,
// INDIRECT_DESC, then the device's own bits 0..5), byte 2 the queue size;
// the rest is guest RAM from its start: queue q's descriptor table at
// 0x4000*q, avail ring at +0x1000, used ring at +0x2000; requests and
// buffers anywhere.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "test/fuzz/fuzz_file.h"
#include "test/fuzz/virtio_driver.h"
#include "test/virtio/fake_guest.h"

namespace {
constexpr size_t kHeader = 3;
constexpr size_t kMaxInput = kHeader + 64 * 1024;  // also libFuzzer's -max_len

struct Dev {
  const char* name;
  unsigned nq;
  const char* option0;  // its first option's value; nullptr: none
};

const qvm_factory* Factory(const char* name) {
  for (auto* f : fake_factories())
    if (std::string(f->name) == name) return f;
  return nullptr;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile* disk = new fuzz::MemFile("disk");  // lives for the process
  static const Dev kDevs[] = {{"virtio-blk", 1, disk->path().c_str()},
                              {"virtio-console", 2, ">/dev/null"},
                              {"virtio-entropy", 1, nullptr}};
  if (size < kHeader || size > kMaxInput) return 0;
  const Dev& d = kDevs[data[0] % 3];
  const qvm_factory* f = Factory(d.name);
  if (!f) __builtin_trap();  // linked in: registered at start-up
  FakeGuest g;
  memcpy(g.ram.data(), data + kHeader, size - kHeader);
  static const uint8_t kZero[64 * 1024] = {};
  disk->set(kZero, sizeof kZero);  // the same disk for every input
  std::vector<uint8_t> state(f->state_size, 0);
  auto ctl = [&](unsigned c, int arg = 0, const char* v = nullptr) {
    return f->control(g.dev, state.data(), c, arg, v);
  };
  bool ok = ctl(QVM_CTRL_OPTIONS_START) == 0;
  if (ok && d.option0) ok = ctl(QVM_CTRL_OPTION, 0, d.option0) == 0;
  ok = ok && ctl(QVM_CTRL_OPTIONS_END) == 0 && ctl(QVM_CTRL_RESOURCES) == 0 &&
       ctl(QVM_CTRL_RESET) == 0;
  if (!ok) __builtin_trap();  // the fixed configuration must come up
  fuzz::VirtioDriver drv{[&](const qvm_access& a, uint8_t* b, bool write) {
    (void)(write ? f->write(g.dev, state.data(), &a, b) : f->read(g.dev, state.data(), &a, b));
  }};
  const uint64_t feat = (1ull << VIRTIO_F_VERSION_1) |
                        ((data[1] & 1) ? 1ull << VIRTIO_F_EVENT_IDX : 0) |
                        ((data[1] & 2) ? 1ull << VIRTIO_F_INDIRECT_DESC : 0) |
                        uint64_t(data[1] >> 2);
  drv.bring_up(feat, d.nq, data[2], [](unsigned q, unsigned r) {
    return FakeGuest::kBase + 0x4000ull * q + 0x1000ull * r;
  });
  // Each queue notified twice (the second finds what the first left), then
  // one round of the host's timers and watched fds.
  for (int round = 0; round < 2; round++)
    for (unsigned q = 0; q < d.nq; q++) drv.notify(q);
  g.pump(state.data());
  (void)drv.rd(20, 1);
  ctl(QVM_CTRL_TERMINATE);
  return 0;
}
