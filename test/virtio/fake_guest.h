#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "virtio.h"

// Factories registered by plug-in objects linked into the test (virtio-blk).
std::vector<const qvm_factory*>& FakeFactories();

struct FakeGuest {
  static constexpr uint64_t kBase = 0x100000;  // guest RAM: 1 MiB at 1 MiB
  static FakeGuest* cur;
  std::vector<uint8_t> ram = std::vector<uint8_t>(1 << 20);
  std::vector<std::string> logs;
  std::vector<std::pair<uint64_t, uint32_t>> msis;
  int intx = 0, intx_raises = 0;
  uint32_t pci_state = 0;
  uint64_t mmio_base = 0;  // non-zero: the device has `loc mem:` + `intr` (virtio-mmio)
  bool mmio_no_intr = false;  // ... but no `intr`
  uint64_t bad_accesses = 0;
  // ABI 1.3 notifications: real eventfds; `notify_ok` false = -ENOTSUP.
  bool notify_ok = false;
  std::string runtime_dir;  // qvm_runtime_dir (ABI 1.4); empty: NULL
  unsigned vcpus = 1;  // qvm_vcpu_count()
  struct Note { int fd; bool irq; unsigned region; uint64_t offset; unsigned size;
                unsigned flags; uint64_t match; uint64_t addr; uint32_t data; int masked; };
  std::vector<Note> notes;
  Note* note(int fd);
  // qvm's event thread, for plug-ins linked in (virtio-net): fd watches
  // and timers are recorded; pump() runs what would be due.
  struct Watch { int fd; qvm_timer_fn fn; void* arg; };
  std::vector<Watch> watches;
  std::vector<qvm_timer*> timers;
  bool watched(int fd) const;
  // One round of the event loop: every armed timer fires once (disarmed
  // first), then every watched fd that polls readable gets its callback.
  // Returns the number of callbacks run.
  int pump(void* state);
  int timer_fires = 0;
  qvm_pci_function declared{};
  std::vector<uint8_t> caps;
  FakeGuest() { cur = this; }
  ~FakeGuest();
  bool inside(uint64_t gpa, uint64_t len) const;
};
