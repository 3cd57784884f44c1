#include "vmm/guest_memory.h"

#include <sys/mman.h>

#include <algorithm>

#include "absl/strings/str_format.h"

namespace qvm {

GuestMemory::~GuestMemory() {
  for (const auto& o : owned_) munmap(o.base, o.size);
}

static bool RangeEnd(uint64_t gpa, uint64_t len, uint64_t* end) {
  return !__builtin_add_overflow(gpa, len, end);
}

absl::Status GuestMemory::add_external(uint64_t gpa, uint64_t size,
                                       bool readonly, uint8_t* host) {
  uint64_t end;
  if (size == 0) return absl::InvalidArgumentError("memory region of size 0");
  if (!RangeEnd(gpa, size, &end))
    return absl::InvalidArgumentError(
        absl::StrFormat("memory region 0x%x+0x%x wraps around", gpa, size));
  if ((gpa | size) & 0xfff)
    return absl::InvalidArgumentError(absl::StrFormat(
        "memory region 0x%x+0x%x is not 4 KiB aligned", gpa, size));
  for (const auto& r : regions_) {
    if (gpa < r.gpa + r.size && r.gpa < end)
      return absl::InvalidArgumentError(absl::StrFormat(
          "memory region 0x%x-0x%x overlaps 0x%x-0x%x", gpa, end - 1, r.gpa,
          r.gpa + r.size - 1));
  }
  regions_.push_back({gpa, size, readonly, host});
  std::sort(regions_.begin(), regions_.end(),
            [](const MemRegion& a, const MemRegion& b) { return a.gpa < b.gpa; });
  return absl::OkStatus();
}

absl::Status GuestMemory::add(uint64_t gpa, uint64_t size, bool readonly) {
  if (size == 0 || size > (uint64_t(1) << 46))
    return absl::InvalidArgumentError(
        absl::StrFormat("memory region size 0x%x is out of range", size));
  // Huge pages where the host gives them: the host address is placed so
  // that it agrees with the guest-physical one modulo 2 MiB (KVM maps a
  // 2 MiB page of the guest at once only then) and the region asks for
  // transparent huge pages: fewer and shorter nested page walks for the
  // guest, as QEMU does for its RAM.
  constexpr uint64_t kHuge = 2ull << 20;
  const uint64_t slack = size >= kHuge ? 2 * kHuge : 0;
  void* raw = mmap(nullptr, size + slack, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED)
    return absl::ResourceExhaustedError(
        absl::StrFormat("cannot map 0x%x bytes of guest memory", size));
  uint8_t* p = static_cast<uint8_t*>(raw);
  if (slack) {
    uintptr_t at = reinterpret_cast<uintptr_t>(raw);
    uintptr_t want = ((at + kHuge - 1) & ~uintptr_t(kHuge - 1)) + (gpa & (kHuge - 1));
    if (want > at) munmap(raw, want - at);
    if (at + slack > want) munmap(reinterpret_cast<void*>(want + size), at + slack - want);
    p = reinterpret_cast<uint8_t*>(want);
    madvise(p, size, MADV_HUGEPAGE);
  }
  madvise(p, size, MADV_MERGEABLE);
  absl::Status st = add_external(gpa, size, readonly, p);
  if (!st.ok()) {
    munmap(p, size);
    return st;
  }
  owned_.push_back({p, size});
  return absl::OkStatus();
}

void GuestMemory::zero_all() {
  for (const auto& r : regions_) {
    bool owned = false;
    for (const auto& o : owned_)
      if (o.base == r.host) owned = true;
    if (!owned || madvise(r.host, r.size, MADV_DONTNEED) != 0)
      std::memset(r.host, 0, r.size);
  }
}

uint64_t GuestMemory::top() const {
  uint64_t t = 0;
  for (const auto& r : regions_) t = std::max(t, r.gpa + r.size);
  return t;
}

const MemRegion* GuestMemory::find(uint64_t gpa, uint64_t len) const {
  uint64_t end;
  if (!RangeEnd(gpa, len, &end)) return nullptr;
  for (const auto& r : regions_) {
    if (gpa >= r.gpa && end <= r.gpa + r.size) return &r;
  }
  return nullptr;
}

bool GuestMemory::read(uint64_t gpa, void* buf, size_t len) const {
  if (len == 0) return true;
  const MemRegion* r = find(gpa, len);
  if (!r) return false;
  std::memcpy(buf, r->host + (gpa - r->gpa), len);
  return true;
}

bool GuestMemory::write(uint64_t gpa, const void* buf, size_t len,
                        bool for_loader) {
  if (len == 0) return true;
  const MemRegion* r = find(gpa, len);
  if (!r || (r->readonly && !for_loader)) return false;
  std::memcpy(r->host + (gpa - r->gpa), buf, len);
  return true;
}

bool GuestMemory::fill(uint64_t gpa, uint8_t value, size_t len,
                       bool for_loader) {
  if (len == 0) return true;
  const MemRegion* r = find(gpa, len);
  if (!r || (r->readonly && !for_loader)) return false;
  std::memset(r->host + (gpa - r->gpa), value, len);
  return true;
}

std::span<uint8_t> GuestMemory::map(uint64_t gpa, size_t len,
                                    bool writable) const {
  if (len == 0) return {};
  const MemRegion* r = find(gpa, len);
  if (!r || (writable && r->readonly)) return {};
  return {r->host + (gpa - r->gpa), len};
}

}  // namespace qvm
