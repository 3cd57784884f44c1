// The virtio tests' view of the shared fake host (test/fakehost): one device
// from Host::attach() that the test drives libvirtio or a linked-in plug-in
// on, guest RAM at kBase, and what that device asked of the host. Its
// lifetime is one test: construction and destruction reset the host.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "test/fakehost/fake_host.h"
#include "virtio.h"

struct FakeGuest {
  static constexpr uint64_t kBase = fake::Host::kRamBase;  // 1 MiB at 1 MiB
  using Note = fake::Note;
  fake::Host& h;
  qvm_vdev* dev;  // pass to vio_init and to the factory's callbacks
  std::vector<uint8_t>& ram;
  std::vector<std::string>& logs;
  std::vector<fake::Msi>& msis;
  uint32_t& pci_state;
  uint64_t& bad_accesses;
  bool& notify_ok;  // ABI 1.3 notifications: real eventfds, else -ENOTSUP
  unsigned& vcpus;  // qvm_vcpu_count()
  std::string& runtime_dir;  // qvm_runtime_dir (ABI 1.4); empty: NULL
  std::vector<fake::Note>& notes;
  std::vector<fake::FdWatch>& watches;
  const qvm_pci_function& declared;

  FakeGuest();
  ~FakeGuest();
  FakeGuest(const FakeGuest&) = delete;
  FakeGuest& operator=(const FakeGuest&) = delete;

  // virtio-mmio: the device gets `loc mem:BASE` and, with `intr`, one
  // interrupt; without mmio() it has neither and declares a PCI function.
  void mmio(uint64_t base, bool intr = true);
  int intx() const;         // level of the device's interrupt 0
  int intx_raises() const;  // times it was set to 1
  fake::Note* note(int fd) { return h.note(fd); }
  bool watched(int fd) const { return dev->watched(fd); }
  // One round of qvm's event thread for the device's state: every armed
  // timer fires once, then every watched fd that polls readable gets its
  // callback. Returns the number of callbacks run.
  int pump(void* state);
  int timer_fires() const { return int(h.timer_fires()); }
};
