#include "vmm/bus.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "absl/strings/str_format.h"

namespace qvm {

absl::Status Bus::insert(uint64_t base, uint64_t size, BusDevice* dev,
                         uint32_t index) {
  uint64_t last;  // inclusive: a region may end exactly at 2^64
  if (size == 0)
    return absl::InvalidArgumentError(
        absl::StrFormat("%s region at 0x%x has size 0", name_, base));
  if (__builtin_add_overflow(base, size - 1, &last) || (limit_ && last >= limit_))
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s region 0x%x+0x%x lies outside the bus", name_, base, size));
  std::unique_lock<std::shared_mutex> g(mu_);
  auto it = std::lower_bound(
      regions_.begin(), regions_.end(), base,
      [](const Region& r, uint64_t b) { return r.base < b; });
  auto conflict = [&](const Region& r) {
    return absl::AlreadyExistsError(absl::StrFormat(
        "%s region 0x%x-0x%x of %s overlaps 0x%x-0x%x of %s", name_, base,
        last, dev->bus_name(), r.base, r.base + r.size - 1,
        r.dev->bus_name()));
  };
  if (it != regions_.end() && it->base <= last) return conflict(*it);
  if (it != regions_.begin()) {
    const Region& prev = *(it - 1);
    if (prev.base + (prev.size - 1) >= base) return conflict(prev);
  }
  regions_.insert(it, Region{base, size, dev, index});
  return absl::OkStatus();
}

bool Bus::remove(uint64_t base, BusDevice* dev) {
  std::unique_lock<std::shared_mutex> g(mu_);
  for (auto it = regions_.begin(); it != regions_.end(); ++it)
    if (it->base == base && it->dev == dev) {
      regions_.erase(it);
      return true;
    }
  return false;
}

bool Bus::lookup(uint64_t addr, uint32_t size, Region* out) const {
  uint64_t last;
  if (size == 0 || __builtin_add_overflow(addr, uint64_t(size) - 1, &last))
    return false;
  auto it = std::upper_bound(
      regions_.begin(), regions_.end(), addr,
      [](uint64_t a, const Region& r) { return a < r.base; });
  if (it == regions_.begin()) return false;
  const Region& r = *(it - 1);
  if (addr < r.base || last > r.base + (r.size - 1)) return false;
  *out = r;
  return true;
}

BusStatus Bus::read(uint64_t addr, uint32_t size, uint8_t* data,
                    unsigned vcpu) const {
  if (size == 0 || size > 8) return BusStatus::Unassigned;
  std::memset(data, 0, size);
  Region r;
  {
    std::shared_lock<std::shared_mutex> g(mu_);
    if (!lookup(addr, size, &r)) return BusStatus::Unassigned;
  }
  BusAccess acc{addr, addr - r.base, size, r.index, vcpu};
  return r.dev->read(acc, data);
}

BusStatus Bus::write(uint64_t addr, uint32_t size, const uint8_t* data,
                     unsigned vcpu) const {
  if (size == 0 || size > 8) return BusStatus::Unassigned;
  Region r;
  {
    std::shared_lock<std::shared_mutex> g(mu_);
    if (!lookup(addr, size, &r)) return BusStatus::Unassigned;
  }
  BusAccess acc{addr, addr - r.base, size, r.index, vcpu};
  return r.dev->write(acc, data);
}

std::vector<Bus::Region> Bus::regions() const {
  std::shared_lock<std::shared_mutex> g(mu_);
  return regions_;
}

}  // namespace qvm
