// Host services: host memory laid over guest-physical space (ABI 1.5,
// qvm_region_alloc/free, qvm_mem_map/unmap). The mappings are kept per
// instance (qvm_vdev::memmap) so that every new accelerator VM (guest
// resets recreate it) gets them again (qvm::ReplayMemMaps).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "vmm/vdev_host.h"

namespace qvm {
namespace {

constexpr uint64_t kPage = 4096;
constexpr size_t kMaxRegions = 64, kMaxMaps = 16;

bool IsPow2(uint64_t v) { return v && !(v & (v - 1)); }

// The lowest `align`-aligned base in [lo, hi) where [base, base+size)
// overlaps none of `busy` (sorted by start, [start, end) pairs).
bool FindGap(std::vector<std::pair<uint64_t, uint64_t>> busy, uint64_t size, uint64_t align,
             uint64_t lo, uint64_t hi, uint64_t* out) {
  std::sort(busy.begin(), busy.end());
  uint64_t cand = lo;
  for (;;) {
    if (cand > UINT64_MAX - (align - 1)) return false;
    cand = (cand + align - 1) & ~(align - 1);
    if (cand >= hi || size > hi - cand) return false;
    bool moved = false;
    for (const auto& [s, e] : busy)
      if (s < cand + size && cand < e) {  // overlap: continue past it
        cand = e;
        moved = true;
        break;
      }
    if (!moved) {
      *out = cand;
      return true;
    }
  }
}

// Removes one mapping from the accelerator (memmap.mu held).
void Drop(qvm_vdev* dev, const qvm_vdev::MemMap& m) {
  if (m.active) dev->host->map_host_memory(m.gpa, m.host, m.size, m.writable, false);
}

}  // namespace

void ReplayMemMaps(qvm_vdev* dev) {
  std::lock_guard<std::mutex> g(dev->memmap.mu);
  for (auto& m : dev->memmap.list) {
    int rc = dev->host->map_host_memory(m.gpa, m.host, m.size, m.writable, true);
    m.active = rc == 0;
    if (rc < 0)
      Log(LogLevel::Warn, "vdev %s: host memory at 0x%llx not mapped again: %s", dev->name.c_str(),
          (unsigned long long)m.gpa, strerror(-rc));
  }
}

void CloseMemMaps(qvm_vdev* dev) {
  std::lock_guard<std::mutex> g(dev->memmap.mu);
  for (auto& m : dev->memmap.list) Drop(dev, m);
  dev->memmap.list.clear();
}

}  // namespace qvm

using qvm::kMaxMaps;
using qvm::kMaxRegions;
using qvm::kPage;

QVM_EXPORT int qvm_region_alloc(qvm_vdev_t* dev, uint64_t size, uint64_t align, uint64_t lo,
                                uint64_t hi, uint64_t* base) {
  if (!dev || !base || !size || size % kPage || align < kPage || !qvm::IsPow2(align) || lo >= hi)
    return -EINVAL;
  if (dev->factory->flags & QVM_VDEVF_PCI_HOST) return -EINVAL;  // its BAR dispatch reads regions unlocked
  qvm::Bus* bus = dev->host->bus(QVM_SPACE_MEM);
  if (!bus) return -EINVAL;
  // A PCI function's callbacks see BAR indexes 0-5: its own regions start at 6.
  size_t first = dev->pci.fn ? 6 : 0;
  if (std::max(first, dev->regions.size()) >= kMaxRegions) return -ENOSPC;
  std::vector<std::pair<uint64_t, uint64_t>> busy;
  for (const auto& r : dev->host->memory().regions()) busy.emplace_back(r.gpa, r.gpa + r.size);
  for (const auto& r : bus->regions()) busy.emplace_back(r.base, r.base + r.size);
  uint64_t at = 0;
  if (!qvm::FindGap(busy, size, align, lo, hi, &at)) return -ENOSPC;
  // Placeholders (size 0: nothing decodes) keep a PCI function's indexes past its BARs.
  while (dev->regions.size() < first) dev->regions.push_back({QVM_SPACE_MEM, 0, 0});
  dev->regions.push_back({QVM_SPACE_MEM, at, size, true});
  uint32_t idx = uint32_t(dev->regions.size() - 1);
  absl::Status st = bus->insert(at, size, dev, idx);
  if (!st.ok()) {  // raced with another device's insert
    dev->regions.back().size = 0;
    return -EIO;
  }
  *base = at;
  return int(idx);
}

QVM_EXPORT int qvm_region_free(qvm_vdev_t* dev, unsigned region) {
  if (!dev || region >= dev->regions.size() || !dev->regions[region].size ||
      !dev->regions[region].allocated)
    return -EINVAL;
  qvm::DeviceRegion& r = dev->regions[region];
  {
    std::lock_guard<std::mutex> g(dev->memmap.mu);
    auto& l = dev->memmap.list;
    for (auto it = l.begin(); it != l.end();) {
      if (it->region == region) {
        qvm::Drop(dev, *it);
        it = l.erase(it);
      } else {
        ++it;
      }
    }
  }
  dev->host->bus(QVM_SPACE_MEM)->remove(r.base, dev);
  r.size = 0;
  return 0;
}

QVM_EXPORT int qvm_mem_map(qvm_vdev_t* dev, unsigned region, uint64_t offset, void* host,
                           uint64_t size, int writable) {
  if (!dev || !host || region >= dev->regions.size()) return -EINVAL;
  const qvm::DeviceRegion& r = dev->regions[region];
  if (r.space != QVM_SPACE_MEM || !r.size || !size || size % kPage || offset % kPage ||
      reinterpret_cast<uintptr_t>(host) % kPage || offset > r.size || size > r.size - offset)
    return -EINVAL;
  std::lock_guard<std::mutex> g(dev->memmap.mu);
  auto& l = dev->memmap.list;
  uint64_t gpa = r.base + offset;
  for (const auto& m : l)
    if (m.gpa < gpa + size && gpa < m.gpa + m.size) return -EEXIST;
  if (l.size() >= kMaxMaps) return -ENOSPC;
  qvm_vdev::MemMap m{region, gpa, size, host, writable != 0, false};
  int rc = dev->host->map_host_memory(gpa, host, size, m.writable, true);
  if (rc < 0 && rc != -EAGAIN) return rc;  // -EAGAIN: no VM yet, ReplayMemMaps maps it
  m.active = rc == 0;
  l.push_back(m);
  return 0;
}

QVM_EXPORT int qvm_mem_unmap(qvm_vdev_t* dev, unsigned region, uint64_t offset) {
  if (!dev || region >= dev->regions.size()) return -EINVAL;
  uint64_t gpa = dev->regions[region].base + offset;
  std::lock_guard<std::mutex> g(dev->memmap.mu);
  auto& l = dev->memmap.list;
  for (auto it = l.begin(); it != l.end(); ++it)
    if (it->region == region && it->gpa == gpa) {
      qvm::Drop(dev, *it);
      l.erase(it);
      return 0;
    }
  return -EINVAL;
}
