// Address-space buses (I/O ports, guest-physical MMIO): checked range
// arithmetic, overlapping regions rejected at insert, reads zero-filled
// before dispatch so no host bytes leak to the guest.
//
// Lock order: Bus::mu_ (shared for dispatch) is taken before any device
// lock; devices never call back into the bus while holding their lock.
#pragma once

#include <cstdint>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace qvm {

enum class BusStatus { Done, Retry, BusError, Terminate, Unassigned };

struct BusAccess {
  uint64_t addr = 0;    // absolute address in the bus's space
  uint64_t offset = 0;  // offset inside the region
  uint32_t size = 0;    // bytes, 1..8
  uint32_t region = 0;  // device-defined region index
  unsigned vcpu = 0;
};

class BusDevice {
 public:
  virtual ~BusDevice() = default;
  // `data` holds `acc.size` bytes, little-endian; zero-filled for reads.
  virtual BusStatus read(const BusAccess& acc, uint8_t* data) = 0;
  virtual BusStatus write(const BusAccess& acc, const uint8_t* data) = 0;
  virtual std::string bus_name() const = 0;
};

class Bus {
 public:
  explicit Bus(std::string name, uint64_t limit) : name_(std::move(name)), limit_(limit) {}

  struct Region {
    uint64_t base = 0;
    uint64_t size = 0;  // never 0; base + size never wraps nor exceeds limit
    BusDevice* dev = nullptr;
    uint32_t index = 0;
  };

  // Rejects size 0, wrap-around, ranges past the bus limit and overlaps.
  absl::Status insert(uint64_t base, uint64_t size, BusDevice* dev,
                      uint32_t index);
  // Removes the region starting at `base` owned by `dev`.
  bool remove(uint64_t base, BusDevice* dev);

  // Dispatch. An access that is not wholly inside one region is Unassigned.
  BusStatus read(uint64_t addr, uint32_t size, uint8_t* data, unsigned vcpu) const;
  BusStatus write(uint64_t addr, uint32_t size, const uint8_t* data,
                  unsigned vcpu) const;

  std::vector<Region> regions() const;
  const std::string& name() const { return name_; }

 private:
  bool lookup(uint64_t addr, uint32_t size, Region* out) const;
  std::string name_;
  uint64_t limit_;  // one past the highest address (0 = 2^64)
  mutable std::shared_mutex mu_;
  std::vector<Region> regions_;  // sorted by base, non-overlapping
};

}  // namespace qvm
