// The BSDs' native amd64 boot protocols: detection (ELF notes / OSABI) and
// the boot-information records each kernel reads, built as byte blocks for
// a given guest address so that boot/x86.cc only has to place them.
//
//   NetBSD/amd64  32-bit entry; stack: boothowto, bootdev, bootinfo, esym,
//                 biosextmem, biosbasemem; bootinfo = {n, ptr[n]} -> btinfo
//                 records (sys/arch/x86/include/bootinfo.h).
//   OpenBSD/amd64 32-bit entry; stack: howto, bootdev, bootapiver, esym,
//                 extmem, cnvmem, bootargc, bootargv; bootargv = bootarg
//                 records {type, size, next, data} ended by type -1
//                 (sys/arch/amd64/include/biosvar.h, stand/boot/bootarg.h).
//   FreeBSD/amd64 64-bit entry (KERNBASE mapped); stack: +4 modulep, +8
//                 kernend; modulep = modinfo records {type, size, data}
//                 8-byte aligned, ended by {0, 0} (sys/sys/linker.h,
//                 sys/x86/include/metadata.h).
// boot/README.md documents the exact entry state. Everything here is pure
// (no guest memory) and unit-tested byte for byte.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "boot/elf.h"
#include "boot/image_file.h"

namespace qvm::boot::bsd {

enum class Flavor { None, NetBSD, OpenBSD, FreeBSD };
const char* FlavorName(Flavor f);  // "netbsd", "openbsd", "freebsd"

// ELF header byte EI_OSABI values and note names/types used for detection.
inline constexpr uint8_t kOsabiNetBSD = 2;
inline constexpr uint8_t kOsabiFreeBSD = 9;
inline constexpr uint8_t kOsabiOpenBSD = 12;

// Detects a BSD kernel: a note (in a PT_NOTE segment or an SHT_NOTE
// section) named "NetBSD" / "OpenBSD" / "FreeBSD" with type 1
// (.note.netbsd.ident, .note.openbsd.ident, .note.tag's ABI tag), else
// EI_OSABI 2 / 12 / 9. Only ELF64 x86_64 executables are considered.
absl::StatusOr<Flavor> Detect(const ImageFile& k, const ElfImage& elf);

// Physical load address of a segment / the entry point, as each system's
// own loader computes it: NetBSD and OpenBSD mask the virtual address with
// 0x0fffffff (their LOADADDR); FreeBSD subtracts KERNBASE
// (0xffffffff80000000) from addresses at or above it.
inline constexpr uint64_t kFreeBsdKernbase = 0xffffffff80000000ull;
uint64_t PhysOf(Flavor f, uint64_t vaddr);

// ---- symbols ---------------------------------------------------------------
// NetBSD/OpenBSD (their loadfile_elf): a copy of the ELF header (e_phoff =
// 0, e_phentsize = 0, e_phnum = 0, e_shoff = 64), the section header table,
// then the body of every SHT_SYMTAB and SHT_STRTAB section, each starting
// 8-byte aligned; their sh_offset is rewritten relative to the copied
// header, every other section's sh_offset is 0. Empty when the image has
// no SHT_SYMTAB.
absl::StatusOr<std::vector<uint8_t>> ElfSymbolBlob(const ImageFile& k);
// FreeBSD (its loader's load_elf): u64 size of the first SHT_SYMTAB, its
// bytes, padding to 8, u64 size of its linked string table, its bytes,
// padding to 8. Empty when the image has no SHT_SYMTAB.
absl::StatusOr<std::vector<uint8_t>> FreeBsdSymbolBlob(const ImageFile& k);

// ---- command line -----------------------------------------------------------
// boothowto bits shared by the three (sys/sys/reboot.h).
inline constexpr uint32_t kRbAskname = 0x01;
inline constexpr uint32_t kRbSingle = 0x02;
inline constexpr uint32_t kRbKdb = 0x40;
inline constexpr uint32_t kRbFreeBsdVerbose = 0x800;
inline constexpr uint32_t kRbFreeBsdSerial = 0x1000;
struct Howto {
  uint32_t howto = 0;
  std::vector<std::string> env;  // FreeBSD: NAME=VALUE words
};
// Words "-a", "-s", "-d" (all), "-v" (FreeBSD), and for FreeBSD NAME=VALUE
// environment variables; anything else is an error naming the word.
// Letters may be combined ("-sv").
absl::StatusOr<Howto> ParseCmdline(Flavor f, const std::string& cmdline);

// ---- records -------------------------------------------------------------------
struct MemEntry {
  uint64_t addr, size;
  uint32_t type;  // e820 type
};
inline constexpr uint16_t kComPort = 0x3f8;
inline constexpr uint32_t kComSpeed = 115200;

// NetBSD: the bootinfo block placed at `gpa`: u32 nentries, u32 pointers to
// the entries, then the entries: BTINFO_CONSOLE (6: "com", 0x3f8, 115200),
// BTINFO_MEMMAP (9: num + 20-byte entries), and BTINFO_SYMTAB (8: nsym 1,
// ssym, esym) when `esym > ssym`. The kernel copies at most 4096 bytes.
absl::StatusOr<std::vector<uint8_t>> NetBsdBootinfo(
    uint64_t gpa, const std::vector<MemEntry>& mem, uint64_t ssym,
    uint64_t esym);
inline constexpr uint32_t kBtinfoConsole = 6;
inline constexpr uint32_t kBtinfoSymtab = 8;
inline constexpr uint32_t kBtinfoMemmap = 9;

// OpenBSD: bootarg records placed at `gpa`: BOOTARG_MEMMAP (0; 20-byte
// entries ended by an all-zero entry) and BOOTARG_CONSDEV (5; 32-byte
// bios_consdev_t: com0 = makedev(8, 0), 115200, 0x3f8, 1843200 Hz), then
// BOOTARG_END (-1). Each record: i32 type, i32 size (header + data), u32
// next (guest address of the next record, 0 for the last), data.
absl::StatusOr<std::vector<uint8_t>> OpenBsdBootargs(
    uint64_t gpa, const std::vector<MemEntry>& mem);
inline constexpr uint32_t kOpenBsdApiver = 0x2 | 0x4 | 0x8;  // VECTOR|ENV|BMEMMAP
inline constexpr uint32_t kBootargMemmap = 0;
inline constexpr uint32_t kBootargConsdev = 5;

// FreeBSD modinfo: the kernel's MODINFO_NAME "/boot/kernel/kernel",
// MODINFO_TYPE "elf kernel", MODINFO_ADDR, MODINFO_SIZE, then metadata
// (MODINFO_METADATA | x): ELFHDR (the 64-byte header), SSYM/ESYM (when
// symbols), HOWTO, ENVP, SMAP (20-byte entries), KERNEND; then the initrd
// as module "md_image" (NAME, TYPE, ADDR, SIZE) when given; MODINFO_END.
// Addresses are physical (the kernel adds KERNBASE to ADDR, SSYM, ESYM and
// ENVP itself).
struct FreeBsdModinfo {
  std::vector<uint8_t> elf_header;  // 64 bytes
  uint64_t kernel_addr = 0, kernel_size = 0;
  uint64_t ssym = 0, esym = 0;  // 0: no symbols
  uint32_t howto = 0;
  uint64_t envp = 0;
  std::vector<MemEntry> mem;
  uint64_t kernend = 0;
  std::string initrd_name;  // empty: none
  uint64_t initrd_addr = 0, initrd_size = 0;
};
std::vector<uint8_t> FreeBsdMetadata(const FreeBsdModinfo& m);
// The kernel environment: NAME=VALUE strings, each NUL-terminated, then an
// extra NUL.
std::vector<uint8_t> FreeBsdEnv(const std::vector<std::string>& vars);

inline constexpr uint32_t kModinfoEnd = 0x0000, kModinfoName = 0x0001,
                          kModinfoType = 0x0002, kModinfoAddr = 0x0003,
                          kModinfoSize = 0x0004, kModinfoMetadata = 0x8000;
inline constexpr uint32_t kMdElfhdr = 0x0002, kMdSsym = 0x0003,
                          kMdEsym = 0x0004, kMdEnvp = 0x0006,
                          kMdHowto = 0x0007, kMdKernend = 0x0008,
                          kMdSmap = 0x1001;

}  // namespace qvm::boot::bsd
