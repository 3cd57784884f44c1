// x86_64 kernel loaders: Linux bzImage (64-bit boot protocol), ELF with a Xen
// PVH entry note (uncompressed vmlinux), Multiboot 1/2, the NetBSD/OpenBSD/
// FreeBSD native protocols (records built by boot/bsd.h), plain ELF64, raw
// binaries; `data`
// blobs, the initrd, the command line, e820, and the boot GDT/page tables.
// boot/README.md documents the low-memory layout and the register state
// each kind of image is entered with.
//
// Everything is written into guest memory through GuestMemory's checked
// write/fill (for_loader = true). Image files are never trusted: a malformed
// image is an absl::Status naming the file and what is wrong.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "vmm/guest_memory.h"

namespace qvm::boot {

// ---- Fixed low-memory layout (guest-physical) ----------------------------
inline constexpr uint64_t kGdtAddr = 0x1000;       // GDT (see selectors)
inline constexpr uint64_t kTssAddr = 0x1800;       // 0x68-byte zeroed TSS
inline constexpr uint64_t kPml4Addr = 0x2000;      // long mode only
inline constexpr uint64_t kPdptAddr = 0x3000;
inline constexpr uint64_t kPdAddr = 0x4000;        // 4 PDs, 0x4000-0x7fff
inline constexpr uint64_t kPvhInfoAddr = 0x8000;   // hvm_start_info
inline constexpr uint64_t kPvhModlistAddr = 0x8040;
inline constexpr uint64_t kPvhMemmapAddr = 0x8080;
// Multiboot 1/2 information block (info, module list, memory map, strings,
// command line): at the lowest free RAM at or above this address.
inline constexpr uint64_t kMbInfoAddr = 0x9000;
inline constexpr uint64_t kZeroPageAddr = 0x10000; // Linux boot_params
inline constexpr uint64_t kCmdlineAddr = 0x20000;
inline constexpr uint64_t kCmdlineMax = 0x10000;   // bytes including NUL
inline constexpr uint64_t kStackTop = 0x80000;     // initial RSP/ESP
inline constexpr uint64_t kBiosHoleStart = 0x9fc00;
inline constexpr uint64_t kBiosHoleEnd = 0x100000; // exclusive
inline constexpr uint64_t kAcpiAreaStart = 0xe0000;
inline constexpr uint64_t kAcpiAreaEnd = 0x100000; // exclusive
inline constexpr uint64_t kKernelAddr = 0x100000;  // default load address

// GDT selectors written at kGdtAddr.
inline constexpr uint16_t kSelCode64 = 0x10;  // Linux __BOOT_CS
inline constexpr uint16_t kSelData = 0x18;    // Linux __BOOT_DS
inline constexpr uint16_t kSelCode32 = 0x20;
inline constexpr uint16_t kSelTss = 0x28;     // 16-byte system descriptor
inline constexpr uint16_t kGdtLimit = 0x37;   // 7 slots of 8 bytes - 1

// ---- e820 ----------------------------------------------------------------
inline constexpr uint32_t kE820Ram = 1;
inline constexpr uint32_t kE820Reserved = 2;
inline constexpr uint32_t kE820Acpi = 3;
inline constexpr uint32_t kE820Nvs = 4;
inline constexpr size_t kE820Max = 128;  // boot_params.e820_table capacity

struct E820Entry {
  uint64_t addr = 0;
  uint64_t size = 0;
  uint32_t type = 0;
  bool operator==(const E820Entry&) const = default;
};

// The guest's memory map: RAM regions as kE820Ram, ROM regions as reserved,
// the 0x9fc00-0xfffff hole (where it overlaps guest memory) reserved, and
// `extra_reserved` ranges (MMIO windows such as PCI ECAM the VM builder wants
// the guest to see as reserved) carved out of RAM. Sorted by address, no
// overlaps, adjacent entries of one type merged.
std::vector<E820Entry> BuildE820(
    const GuestMemory& mem, const std::vector<E820Entry>& extra_reserved = {});

// ---- Entry state -----------------------------------------------------------
enum class CpuMode {
  Flat32,  // protected mode, paging off, flat 4 GiB segments
  Long64,  // long mode, identity-mapped 0-4 GiB with 2 MiB pages
};

// A segment register as KVM's kvm_segment wants it.
struct Segment {
  uint16_t selector = 0;
  uint64_t base = 0;
  uint32_t limit = 0;  // byte granular (0xffffffff for flat)
  uint8_t type = 0;    // descriptor type nibble (11 = code RX accessed,
                       // 3 = data RW accessed, 11 = busy TSS when !s)
  bool present = false, s = false, db = false, l = false, g = false;
  uint8_t dpl = 0;
};

// One thing the loader placed in guest memory (for logs and dryrun).
struct Placement {
  std::string what;  // "kernel", "initrd", "cmdline", "zero page", "data ..."
  uint64_t gpa = 0;
  uint64_t size = 0;
};

// Complete register state of the boot vCPU. The arch code loads it verbatim;
// everything it points at (GDT, TSS, page tables, boot info) is already in
// guest memory.
struct EntryState {
  CpuMode mode = CpuMode::Flat32;
  std::string kind;  // "bzImage", "pvh-elf", "multiboot", "multiboot2",
                     // "netbsd", "openbsd", "freebsd", "elf64", "raw"
  uint64_t rip = 0, rsp = 0, rflags = 0x2;
  uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0, rsi = 0, rdi = 0, rbp = 0;
  uint64_t cr0 = 0, cr3 = 0, cr4 = 0, efer = 0;  // cr3 = 0: paging off
  uint64_t gdt_base = 0;
  uint16_t gdt_limit = 0;
  Segment cs, ds;  // ds is also loaded into es, fs, gs and ss
  Segment tr;
  std::vector<Placement> placements;
};

// ---- The one loader entry point -------------------------------------------
// A Multiboot module (`module load PATH ["STRING"]`).
struct BootModule {
  std::string path;
  std::string string;  // the module's string in the Multiboot information
};

struct BootRequest {
  std::string kernel_path;
  std::optional<uint64_t> kernel_addr;  // `load ADDR,PATH`
  std::string initrd_path;              // empty: none
  std::string cmdline;
  std::vector<std::pair<uint64_t, std::string>> data;  // `data load ADDR,PATH`
  // Multiboot modules after the initrd (which is module 0 when given);
  // refused for other kinds of image.
  std::vector<BootModule> modules;
  uint64_t rsdp_addr = 0;  // from BuildAcpi (0 = no ACPI tables)
  // MMIO ranges to report as reserved in e820 (see BuildE820).
  std::vector<E820Entry> reserved;
};

// Detects the kernel format (bzImage, NetBSD/OpenBSD/FreeBSD native (ELF
// note or EI_OSABI), PVH ELF, Multiboot 1, Multiboot 2, ELF64, raw — in
// this order; boot/README.md),
// loads the kernel, `data` blobs, the initrd and the command line, writes the
// boot tables (GDT, page tables, zero page or hvm_start_info) and returns the
// entry state. Errors name the file and the problem; nothing is promised
// about guest memory contents after an error (the VM is not started).
absl::StatusOr<EntryState> LoadX86(GuestMemory& mem, const BootRequest& req);

// Human-readable one-line summary ("bzImage: Long64 rip=0x100200 ...").
std::string Describe(const EntryState& st);

}  // namespace qvm::boot
