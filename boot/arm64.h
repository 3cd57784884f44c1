// arm64 kernel loading: Linux `Image` (header magic "ARM\x64" at 0x38,
// text_offset, image_size, 2 MiB-aligned base), ELF64 (EM_AARCH64) and raw
// binaries, plus the placement of the initrd and the FDT in guest RAM.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "boot/image_file.h"
#include "vmm/guest_memory.h"

namespace qvm::boot {

inline constexpr uint32_t kArm64ImageMagic = 0x644d5241;  // "ARM\x64" at 0x38
inline constexpr uint64_t kArm64ImageAlign = 2ull << 20;
// The largest text_offset accepted (the Image goes that far above its
// 2 MiB-aligned base; the boot protocol sets no bound, qvm's RAM does).
inline constexpr uint64_t kArm64MaxTextOffset = 1ull << 32;

struct Arm64ImageHeader {
  uint64_t text_offset = 0;  // from the 2 MiB-aligned base
  uint64_t image_size = 0;   // bytes the kernel needs from its start (bss too)
  uint64_t flags = 0;
};

// Reads the 64-byte Image header; NotFound when the file is not an arm64
// Image (no magic), InvalidArgument when the header is malformed.
absl::StatusOr<Arm64ImageHeader> ParseArm64Image(const ImageFile& f);

struct Arm64Kernel {
  std::string kind;      // "Image", "ELF", "raw"
  uint64_t entry = 0;    // PC of the boot vCPU
  uint64_t start = 0;    // lowest guest address the kernel occupies
  uint64_t end = 0;      // one past the highest (image_size / memsz)
};

// Loads a kernel into the RAM region [ram_base, ram_base+ram_size).
// `addr`: the config's `load ADDR,PATH` (Image: the 2 MiB-aligned base; raw:
// where to copy and enter; ignored for ELF).
absl::StatusOr<Arm64Kernel> LoadArm64Kernel(GuestMemory& mem, const std::string& path,
                                            std::optional<uint64_t> addr,
                                            uint64_t ram_base, uint64_t ram_size);

// Where the FDT (at most kArm64FdtMax bytes, 2 MiB-aligned, at the top of
// RAM) and the initrd (page-aligned, just below it) go; errors when they
// would overlap the kernel.
inline constexpr uint64_t kArm64FdtMax = 2ull << 20;
struct Arm64Placement {
  uint64_t fdt = 0;
  uint64_t initrd = 0, initrd_size = 0;
};
absl::StatusOr<Arm64Placement> PlaceArm64(uint64_t ram_base, uint64_t ram_size,
                                          const Arm64Kernel& k, uint64_t initrd_size);

}  // namespace qvm::boot
