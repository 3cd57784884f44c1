// Guest-physical memory: RAM and ROM regions backed by host mappings.
// Every access goes through checked accessors; no host pointer computed from
// a guest address escapes except through map(), which refuses any range not
// wholly inside one region.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qvm {

struct MemRegion {
  uint64_t gpa = 0;
  uint64_t size = 0;
  bool readonly = false;  // ROM: the guest cannot write; loaders can
  uint8_t* host = nullptr;
};

class GuestMemory {
 public:
  GuestMemory() = default;
  ~GuestMemory();
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  // Adds a region backed by an anonymous mapping. Fails on zero size,
  // overflow (gpa + size wraps), misalignment (4 KiB) or overlap.
  absl::Status add(uint64_t gpa, uint64_t size, bool readonly);
  // Adds a region backed by caller-owned memory (unit tests).
  absl::Status add_external(uint64_t gpa, uint64_t size, bool readonly,
                            uint8_t* host);

  const std::vector<MemRegion>& regions() const { return regions_; }
  // Zero every region (guest reset). Owned mappings drop their pages.
  void zero_all();
  // End of the highest region (0 when empty).
  uint64_t top() const;
  // The region containing [gpa, gpa+len), or nullptr (overflow-safe).
  const MemRegion* find(uint64_t gpa, uint64_t len) const;
  bool contains(uint64_t gpa, uint64_t len) const {
    return find(gpa, len) != nullptr;
  }

  // Checked copies. `for_loader` allows writing ROM. Return false when the
  // range is not wholly inside one region (nothing is copied then).
  bool read(uint64_t gpa, void* buf, size_t len) const;
  bool write(uint64_t gpa, const void* buf, size_t len,
             bool for_loader = false);
  bool fill(uint64_t gpa, uint8_t value, size_t len, bool for_loader = false);

  template <typename T>
  std::optional<T> read_obj(uint64_t gpa) const {
    static_assert(std::is_trivially_copyable_v<T>);
    T v;
    if (!read(gpa, &v, sizeof v)) return std::nullopt;
    return v;
  }
  template <typename T>
  bool write_obj(uint64_t gpa, const T& v, bool for_loader = false) {
    static_assert(std::is_trivially_copyable_v<T>);
    return write(gpa, &v, sizeof v, for_loader);
  }

  // Host view of [gpa, gpa+len) when it lies wholly inside one RAM region
  // (ROM only when !writable); empty span otherwise.
  std::span<uint8_t> map(uint64_t gpa, size_t len, bool writable) const;

 private:
  struct Owned {
    void* base;
    size_t size;
  };
  std::vector<MemRegion> regions_;  // sorted by gpa
  std::vector<Owned> owned_;
};

}  // namespace qvm
