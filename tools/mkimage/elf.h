// Minimal ELF reader for qvm-mkimage: what the image builder needs to know
// about files placed in an image (kernel modules' .modinfo, the dynamic
// section of executables and shared libraries). Reads ELF32/ELF64, both
// endiannesses; every offset and size is checked against the file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mkimage {

struct ElfInfo {
  bool is64 = false;
  bool little = true;
  uint16_t type = 0;     // ET_REL, ET_EXEC, ET_DYN ...
  uint16_t machine = 0;  // EM_X86_64 (62), EM_AARCH64 (183) ...
  std::string interp;    // PT_INTERP, empty when none
  bool dynamic = false;  // has PT_DYNAMIC
  std::vector<std::string> needed;   // DT_NEEDED in order
  std::vector<std::string> rpath;    // DT_RPATH entries (raw, may hold $ORIGIN)
  std::vector<std::string> runpath;  // DT_RUNPATH entries
  std::string soname;
};

// True when `data` starts with the ELF magic.
bool IsElf(std::string_view data);

// Parses program headers and the dynamic section. Throws std::runtime_error
// (message without location) on a malformed file.
ElfInfo ParseElf(std::string_view data);

// The NUL-separated strings of the section named `name` (e.g. ".modinfo"),
// or nullopt when there is no such section. Throws on a malformed file.
std::optional<std::vector<std::string>> SectionStrings(std::string_view data,
                                                       std::string_view name);

// True when some section's name starts with `prefix` (e.g. ".debug").
bool HasSectionPrefix(std::string_view data, std::string_view prefix);

// Name of the ELF machine for messages ("x86_64", "aarch64", "machine 40").
std::string MachineName(uint16_t machine);
// ELF machine number for an image architecture name, 0 when unknown.
uint16_t MachineForArch(std::string_view arch);

}  // namespace mkimage
