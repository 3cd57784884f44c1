#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "virtio.h"

struct FakeGuest {
  static constexpr uint64_t kBase = 0x100000;  // guest RAM: 1 MiB at 1 MiB
  static FakeGuest* cur;
  std::vector<uint8_t> ram = std::vector<uint8_t>(1 << 20);
  std::vector<std::string> logs;
  std::vector<std::pair<uint64_t, uint32_t>> msis;
  int intx = 0, intx_raises = 0;
  uint32_t pci_state = 0;
  uint64_t bad_accesses = 0;
  qvm_pci_function declared{};
  std::vector<uint8_t> caps;
  FakeGuest() { cur = this; }
  ~FakeGuest() { cur = nullptr; }
  bool inside(uint64_t gpa, uint64_t len) const;
};
