// A bounds-checked ELF (32- and 64-bit, little-endian) program-header reader
// for the kernel loaders. It never trusts a header field: every table and
// segment is checked against the file size with overflow checks.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "boot/image_file.h"

namespace qvm::boot {

inline constexpr uint32_t kPtLoad = 1;
inline constexpr uint32_t kPtNote = 4;
inline constexpr uint16_t kEtExec = 2;
inline constexpr uint16_t kEm386 = 3;
inline constexpr uint16_t kEmX86_64 = 62;
inline constexpr uint16_t kEmAarch64 = 183;

struct ElfSegment {
  uint32_t type = 0;
  uint32_t flags = 0;
  uint64_t offset = 0, vaddr = 0, paddr = 0, filesz = 0, memsz = 0, align = 0;
};

struct ElfImage {
  bool is64 = false;
  uint16_t type = 0;     // e_type
  uint16_t machine = 0;  // e_machine
  uint64_t entry = 0;
  std::vector<ElfSegment> phdrs;
};

// True when the file starts with the ELF magic.
bool LooksLikeElf(const ImageFile& f);

// Reads and validates the ELF header and program headers. Errors name the
// file and the field. For PT_LOAD segments it checks filesz <= memsz,
// offset+filesz inside the file and paddr+memsz not wrapping.
absl::StatusOr<ElfImage> ParseElf(const ImageFile& f);

// One ELF note (name without its NUL).
struct ElfNote {
  std::string name;
  uint32_t type = 0;
  std::vector<uint8_t> desc;
};
// All notes in the PT_NOTE segments (bounded; malformed notes are errors).
absl::StatusOr<std::vector<ElfNote>> ReadElfNotes(const ImageFile& f,
                                                  const ElfImage& elf);

}  // namespace qvm::boot
