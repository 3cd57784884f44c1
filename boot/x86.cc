#include "boot/x86.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "boot/bsd.h"
#include "boot/elf.h"
#include "boot/image_file.h"

namespace qvm::boot {
namespace {

constexpr uint64_t k4G = uint64_t{1} << 32;
constexpr uint64_t kPage = 4096;

uint64_t AlignDown(uint64_t v, uint64_t a) { return v & ~(a - 1); }

template <typename T>
void Put(uint8_t* base, size_t off, T v) {
  std::memcpy(base + off, &v, sizeof v);
}
template <typename T>
T Get(const uint8_t* base, size_t off) {
  T v;
  std::memcpy(&v, base + off, sizeof v);
  return v;
}

// Ranges of guest memory the loader has used; every new placement is checked
// against them so that nothing silently overwrites something else.
class Layout {
 public:
  struct Claim {
    uint64_t start, end;  // [start, end)
    std::string what;
  };
  // `len` must be > 0; `start + len` must not wrap (checked).
  absl::Status claim(uint64_t start, uint64_t len, const std::string& what) {
    if (len == 0) return absl::OkStatus();
    if (len > UINT64_MAX - start) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s at 0x%x+0x%x wraps the address space", what, start, len));
    }
    if (const Claim* c = overlap(start, len)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s at 0x%x..0x%x overlaps %s at 0x%x..0x%x", what, start,
          start + len - 1, c->what, c->start, c->end - 1));
    }
    claims_.push_back({start, start + len, what});
    return absl::OkStatus();
  }
  const Claim* overlap(uint64_t start, uint64_t len) const {
    for (const Claim& c : claims_) {
      bool ov = c.start >= start ? c.start - start < len : start < c.end;
      if (ov) return &c;
    }
    return nullptr;
  }
  size_t count() const { return claims_.size(); }

 private:
  std::vector<Claim> claims_;
};

struct Ctx {
  GuestMemory& mem;
  const BootRequest& req;
  Layout layout;
  EntryState st;

  absl::Status Place(uint64_t gpa, uint64_t len, const std::string& what) {
    if (len == 0) return absl::OkStatus();
    if (!mem.contains(gpa, len)) {
      return absl::OutOfRangeError(absl::StrFormat(
          "%s at 0x%x..0x%x is not inside one guest memory region", what, gpa,
          len - 1 > UINT64_MAX - gpa ? UINT64_MAX : gpa + len - 1));
    }
    if (auto s = layout.claim(gpa, len, what); !s.ok()) return s;
    st.placements.push_back({what, gpa, len});
    return absl::OkStatus();
  }
  absl::Status Write(uint64_t gpa, const void* p, size_t len,
                     const std::string& what) {
    if (!mem.write(gpa, p, len, /*for_loader=*/true)) {
      return absl::OutOfRangeError(absl::StrFormat(
          "cannot write %s at 0x%x (0x%x bytes): not guest memory", what, gpa,
          len));
    }
    return absl::OkStatus();
  }
};

// ---- GDT / TSS / page tables ---------------------------------------------

uint64_t Descriptor(uint32_t base, uint32_t limit, uint8_t access,
                    uint8_t flags) {
  return (uint64_t{limit} & 0xffff) | ((uint64_t{base} & 0xffffff) << 16) |
         (uint64_t{access} << 40) | ((uint64_t{limit} >> 16 & 0xf) << 48) |
         ((uint64_t{flags} & 0xf) << 52) | ((uint64_t{base} >> 24 & 0xff) << 56);
}

absl::Status WriteGdt(Ctx& c) {
  if (auto s = c.Place(kGdtAddr, kPage, "GDT/TSS"); !s.ok()) return s;
  std::array<uint64_t, 7> gdt = {
      0,
      0,
      Descriptor(0, 0xfffff, 0x9b, 0xa),  // 0x10: 64-bit code, G L
      Descriptor(0, 0xfffff, 0x93, 0xc),  // 0x18: flat data, G DB
      Descriptor(0, 0xfffff, 0x9b, 0xc),  // 0x20: 32-bit flat code, G DB
      Descriptor(static_cast<uint32_t>(kTssAddr), 0x67, 0x8b, 0),  // 0x28
      0,  // upper half of the 16-byte TSS descriptor (base < 4 GiB)
  };
  static_assert(sizeof(gdt) == kGdtLimit + 1);
  if (auto s = c.Write(kGdtAddr, gdt.data(), sizeof gdt, "GDT"); !s.ok())
    return s;
  std::array<uint8_t, 0x68> tss{};
  Put<uint16_t>(tss.data(), 0x66, 0x68);  // I/O map base: no bitmap
  if (auto s = c.Write(kTssAddr, tss.data(), tss.size(), "TSS"); !s.ok())
    return s;
  c.st.gdt_base = kGdtAddr;
  c.st.gdt_limit = kGdtLimit;
  Segment ds{.selector = kSelData, .base = 0, .limit = 0xffffffff, .type = 3,
             .present = true, .s = true, .db = true, .l = false, .g = true,
             .dpl = 0};
  c.st.ds = ds;
  Segment tr{.selector = kSelTss, .base = kTssAddr, .limit = 0x67,
             .type = 11, .present = true, .s = false, .db = false, .l = false,
             .g = false, .dpl = 0};
  c.st.tr = tr;
  return absl::OkStatus();
}

void SetFlat32(EntryState& st) {
  st.mode = CpuMode::Flat32;
  st.cs = Segment{.selector = kSelCode32, .base = 0, .limit = 0xffffffff,
                  .type = 11, .present = true, .s = true, .db = true,
                  .l = false, .g = true, .dpl = 0};
  st.cr0 = 0x11;  // PE | ET
  st.cr3 = 0;
  st.cr4 = 0;
  st.efer = 0;
  st.rflags = 0x2;
}

absl::Status SetLong64(Ctx& c) {
  if (auto s = c.Place(kPml4Addr, 0x6000, "page tables"); !s.ok()) return s;
  std::vector<uint8_t> pt(0x6000, 0);
  Put<uint64_t>(pt.data(), 0, kPdptAddr | 0x3);  // PML4[0] -> PDPT
  for (uint64_t i = 0; i < 4; i++) {
    Put<uint64_t>(pt.data(), 0x1000 + i * 8, (kPdAddr + i * 0x1000) | 0x3);
  }
  for (uint64_t i = 0; i < 2048; i++) {  // 2048 x 2 MiB = 4 GiB
    Put<uint64_t>(pt.data(), 0x2000 + i * 8, (i << 21) | 0x83);  // P RW PS
  }
  if (auto s = c.Write(kPml4Addr, pt.data(), pt.size(), "page tables");
      !s.ok())
    return s;
  EntryState& st = c.st;
  st.mode = CpuMode::Long64;
  st.cs = Segment{.selector = kSelCode64, .base = 0, .limit = 0xffffffff,
                  .type = 11, .present = true, .s = true, .db = false,
                  .l = true, .g = true, .dpl = 0};
  st.cr0 = 0x80000011;  // PG | ET | PE
  st.cr3 = kPml4Addr;
  st.cr4 = 0x20;        // PAE
  st.efer = 0x500;      // LME | LMA
  st.rflags = 0x2;
  return absl::OkStatus();
}

// ---- command line, data blobs, initrd --------------------------------------

absl::Status CheckCmdline(const std::string& cmdline, uint64_t limit,
                          const std::string& who) {
  if (cmdline.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("cmdline contains a NUL byte");
  }
  if (cmdline.size() + 1 > kCmdlineMax) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "cmdline is %u bytes; at most %u fit", cmdline.size(),
        kCmdlineMax - 1));
  }
  if (cmdline.size() > limit) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: cmdline is %u bytes but the kernel accepts at most %u "
        "(cmdline_size)",
        who, cmdline.size(), limit));
  }
  return absl::OkStatus();
}

absl::Status WriteCmdline(Ctx& c) {
  const std::string& cl = c.req.cmdline;
  return c.Write(kCmdlineAddr, cl.c_str(), cl.size() + 1, "cmdline");
}

absl::Status LoadData(Ctx& c) {
  for (const auto& [addr, path] : c.req.data) {
    auto f = ImageFile::Open(path);
    if (!f.ok()) return f.status();
    std::string what = absl::StrCat("data ", path);
    if (f->size() == 0) continue;
    if (auto s = c.Place(addr, f->size(), what); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
    }
    if (auto s = f->copy_to_guest(c.mem, addr, 0, f->size(), what); !s.ok())
      return s;
  }
  return absl::OkStatus();
}

// Highest page-aligned spot for `size` bytes in RAM with end <= limit and
// start >= kKernelAddr that overlaps nothing already placed.
std::optional<uint64_t> FindHighSpot(const Ctx& c, uint64_t size,
                                     uint64_t limit) {
  const auto& regs = c.mem.regions();
  for (auto it = regs.rbegin(); it != regs.rend(); ++it) {
    if (it->readonly) continue;
    uint64_t lo = std::max(it->gpa, kKernelAddr);
    uint64_t hi = std::min(it->gpa + it->size, limit);
    if (hi <= lo || hi - lo < size) continue;
    uint64_t s = AlignDown(hi - size, kPage);
    for (size_t guard = 0; guard <= c.layout.count() && s >= lo; guard++) {
      const Layout::Claim* o = c.layout.overlap(s, size);
      if (!o) return s;
      if (o->start < lo || o->start - lo < size) break;
      s = AlignDown(o->start - size, kPage);
    }
  }
  return std::nullopt;
}

struct Initrd {
  uint64_t gpa = 0, size = 0;
};

absl::StatusOr<Initrd> LoadInitrd(Ctx& c, uint64_t limit) {
  if (c.req.initrd_path.empty()) return Initrd{};
  auto f = ImageFile::Open(c.req.initrd_path);
  if (!f.ok()) return f.status();
  if (f->size() == 0) return f->bad("initrd is empty");
  auto spot = FindHighSpot(c, f->size(), limit);
  if (!spot) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: initrd (%u bytes) does not fit in free guest RAM between "
        "0x%x and 0x%x",
        f->path(), f->size(), kKernelAddr, limit));
  }
  if (auto s = c.Place(*spot, f->size(), "initrd"); !s.ok()) return s;
  if (auto s = f->copy_to_guest(c.mem, *spot, 0, f->size(), "initrd");
      !s.ok())
    return s;
  return Initrd{*spot, f->size()};
}

// Claims the ACPI area when the RSDP lives there, so that no image lands on
// the tables.
absl::Status ClaimAcpi(Ctx& c) {
  if (c.req.rsdp_addr == 0) return absl::OkStatus();
  if (c.req.rsdp_addr >= kAcpiAreaStart && c.req.rsdp_addr < kAcpiAreaEnd) {
    return c.layout.claim(kAcpiAreaStart, kAcpiAreaEnd - kAcpiAreaStart,
                          "ACPI tables");
  }
  return absl::OkStatus();
}

// ---- Linux zero page -------------------------------------------------------

// boot_params offsets (Documentation/arch/x86/zero-page.rst).
constexpr size_t kBpAcpiRsdp = 0x070;
constexpr size_t kBpExtRamdiskImage = 0x0c0;
constexpr size_t kBpExtRamdiskSize = 0x0c4;
constexpr size_t kBpExtCmdLinePtr = 0x0c8;
constexpr size_t kBpE820Entries = 0x1e8;
constexpr size_t kBpHdr = 0x1f1;
constexpr size_t kBpHdrEnd = 0x290;  // setup header must end before this
constexpr size_t kBpE820Table = 0x2d0;
// setup_header offsets (relative to the zero page / the image).
constexpr size_t kHSetupSects = 0x1f1;
constexpr size_t kHBootFlag = 0x1fe;
constexpr size_t kHJump = 0x200;
constexpr size_t kHHeader = 0x202;
constexpr size_t kHVersion = 0x206;
constexpr size_t kHTypeOfLoader = 0x210;
constexpr size_t kHLoadflags = 0x211;
constexpr size_t kHCode32Start = 0x214;
constexpr size_t kHRamdiskImage = 0x218;
constexpr size_t kHRamdiskSize = 0x21c;
constexpr size_t kHHeapEndPtr = 0x224;
constexpr size_t kHCmdLinePtr = 0x228;
constexpr size_t kHInitrdAddrMax = 0x22c;
constexpr size_t kHKernelAlignment = 0x230;
constexpr size_t kHRelocatable = 0x234;
constexpr size_t kHXloadflags = 0x236;
constexpr size_t kHCmdlineSize = 0x238;
constexpr size_t kHPrefAddress = 0x258;
constexpr size_t kHInitSize = 0x260;
constexpr size_t kHMinEnd = 0x268;  // protocol 2.12 fields end here

constexpr uint8_t kLoadedHigh = 0x01;
constexpr uint8_t kCanUseHeap = 0x80;
constexpr uint16_t kXlfKernel64 = 0x01;

absl::Status FinishZeroPage(Ctx& c, std::array<uint8_t, 4096>& zp,
                            const Initrd& rd, uint16_t version) {
  Put<uint8_t>(zp.data(), kHTypeOfLoader, 0xff);
  zp[kHLoadflags] |= kCanUseHeap;
  Put<uint16_t>(zp.data(), kHHeapEndPtr, 0xfe00);
  Put<uint32_t>(zp.data(), kHCmdLinePtr, static_cast<uint32_t>(kCmdlineAddr));
  Put<uint32_t>(zp.data(), kBpExtCmdLinePtr, 0);
  Put<uint32_t>(zp.data(), kHRamdiskImage, static_cast<uint32_t>(rd.gpa));
  Put<uint32_t>(zp.data(), kHRamdiskSize, static_cast<uint32_t>(rd.size));
  Put<uint32_t>(zp.data(), kBpExtRamdiskImage,
                static_cast<uint32_t>(rd.gpa >> 32));
  Put<uint32_t>(zp.data(), kBpExtRamdiskSize,
                static_cast<uint32_t>(rd.size >> 32));
  auto e820 = BuildE820(c.mem, c.req.reserved);
  if (e820.size() > kE820Max) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "guest memory map has %u e820 entries; the zero page holds %u",
        e820.size(), kE820Max));
  }
  zp[kBpE820Entries] = static_cast<uint8_t>(e820.size());
  for (size_t i = 0; i < e820.size(); i++) {
    size_t o = kBpE820Table + i * 20;
    Put<uint64_t>(zp.data(), o, e820[i].addr);
    Put<uint64_t>(zp.data(), o + 8, e820[i].size);
    Put<uint32_t>(zp.data(), o + 16, e820[i].type);
  }
  if (version >= 0x020e) Put<uint64_t>(zp.data(), kBpAcpiRsdp, c.req.rsdp_addr);
  if (auto s = c.Write(kZeroPageAddr, zp.data(), zp.size(), "zero page");
      !s.ok())
    return s;
  c.st.rsi = kZeroPageAddr;
  return absl::OkStatus();
}

enum class BootInfo { None, ZeroPage, PvhStartInfo };

// Common prologue: the fixed tables are claimed (and the GDT and page tables
// written) before any image is placed, so an image that would land on them
// is an error naming the image.
absl::Status Prologue(Ctx& c, bool long_mode, BootInfo info, bool cmdline) {
  if (auto s = ClaimAcpi(c); !s.ok()) return s;
  if (auto s = WriteGdt(c); !s.ok()) return s;
  if (long_mode) {
    if (auto s = SetLong64(c); !s.ok()) return s;
  } else {
    SetFlat32(c.st);
  }
  if (info == BootInfo::ZeroPage) {
    if (auto s = c.Place(kZeroPageAddr, kPage, "zero page"); !s.ok()) return s;
  } else if (info == BootInfo::PvhStartInfo) {
    if (auto s = c.Place(kPvhInfoAddr, kPage, "hvm_start_info"); !s.ok())
      return s;
  }
  if (cmdline) {
    if (auto s = c.Place(kCmdlineAddr, c.req.cmdline.size() + 1, "cmdline");
        !s.ok())
      return s;
  }
  c.st.rsp = kStackTop;
  return absl::OkStatus();
}

// ---- bzImage -----------------------------------------------------------------

absl::Status LoadBzImage(Ctx& c, const ImageFile& k) {
  std::array<uint8_t, kBpHdrEnd> h{};
  const uint64_t fsize = k.size();
  if (fsize < kHVersion + 2) {
    return k.bad(absl::StrFormat("bzImage header truncated (file size %u)",
                                 fsize));
  }
  if (!k.read(0, h.data(), std::min<uint64_t>(fsize, h.size()))) {
    return k.bad("read error in bzImage header");
  }
  const uint16_t version = Get<uint16_t>(h.data(), kHVersion);
  if (version < 0x020c) {
    return k.bad(absl::StrFormat(
        "bzImage boot protocol %u.%02u is too old (2.12 or later with a "
        "64-bit entry point is required)",
        version >> 8, version & 0xff));
  }
  if (fsize < kHMinEnd) {
    return k.bad(absl::StrFormat(
        "bzImage header truncated: protocol %u.%02u needs 0x%x bytes, file "
        "size is %u",
        version >> 8, version & 0xff, kHMinEnd, fsize));
  }
  const size_t hdr_end = kHHeader + h[kHJump + 1];
  if (hdr_end < kHMinEnd) {
    return k.bad(absl::StrFormat(
        "bzImage setup header ends at 0x%x (byte at 0x201), before the "
        "protocol 2.12 fields end at 0x%x",
        hdr_end, kHMinEnd));
  }
  if (Get<uint16_t>(h.data(), kHBootFlag) != 0xaa55) {
    return k.bad(absl::StrFormat("bzImage boot_flag is 0x%04x, not 0xaa55",
                                 Get<uint16_t>(h.data(), kHBootFlag)));
  }
  const uint16_t xlf = Get<uint16_t>(h.data(), kHXloadflags);
  if (!(xlf & kXlfKernel64)) {
    return k.bad("bzImage has no 64-bit entry point (XLF_KERNEL_64 clear)");
  }
  if (!(h[kHLoadflags] & kLoadedHigh)) {
    return k.bad("zImage (not loaded high) is not supported; need a bzImage");
  }
  const uint64_t setup_sects = h[kHSetupSects] ? h[kHSetupSects] : 4;
  const uint64_t setup_size = (setup_sects + 1) * 512;
  if (setup_size >= fsize) {
    return k.bad(absl::StrFormat(
        "bzImage setup_sects %u (%u bytes of setup) exceeds file size %u",
        setup_sects, setup_size, fsize));
  }
  const uint64_t ksize = fsize - setup_size;
  const uint64_t load = c.req.kernel_addr.value_or(kKernelAddr);
  if (load % kPage != 0 || load < kKernelAddr) {
    return k.bad(absl::StrFormat(
        "bzImage load address 0x%x must be page-aligned and at least 0x%x",
        load, kKernelAddr));
  }
  const uint32_t init_size = Get<uint32_t>(h.data(), kHInitSize);
  const uint32_t align = Get<uint32_t>(h.data(), kHKernelAlignment);
  const bool relocatable = h[kHRelocatable] != 0;
  const uint64_t pref = Get<uint64_t>(h.data(), kHPrefAddress);
  if (pref >= k4G) {
    return k.bad(absl::StrFormat("bzImage pref_address 0x%x is above 4 GiB",
                                 pref));
  }
  // Where the kernel decompresses and runs (arch/x86/boot/compressed/
  // head_64.S): the aligned load address, but never below pref_address.
  uint64_t run = pref ? pref : load;
  if (relocatable) {
    if (align == 0 || (align & (align - 1)) != 0 || align > (1u << 30)) {
      return k.bad(absl::StrFormat(
          "bzImage kernel_alignment 0x%x is not a power of two <= 1 GiB",
          align));
    }
    uint64_t aligned = (load + align - 1) & ~uint64_t(align - 1);
    run = std::max(aligned, pref);
  }
  const uint64_t end = std::max(load + ksize, run + init_size);
  if (end > k4G) {
    return k.bad(absl::StrFormat(
        "bzImage needs memory up to 0x%x (init_size 0x%x); it must stay "
        "below 4 GiB",
        end, init_size));
  }
  if (!c.mem.contains(load, end - load)) {
    return k.bad(absl::StrFormat(
        "bzImage needs guest RAM 0x%x..0x%x (init_size 0x%x, %u bytes of "
        "code) and that is not inside one RAM region",
        load, end - 1, init_size, ksize));
  }
  if (auto s = CheckCmdline(c.req.cmdline, Get<uint32_t>(h.data(), kHCmdlineSize),
                            k.path());
      !s.ok())
    return s;

  if (auto s = Prologue(c, /*long_mode=*/true, BootInfo::ZeroPage, true);
      !s.ok())
    return s;
  if (auto s = c.Place(load, end - load, "kernel"); !s.ok())
    return k.bad(std::string(s.message()));
  if (auto s = k.copy_to_guest(c.mem, load, setup_size, ksize, "kernel");
      !s.ok())
    return s;
  if (auto s = WriteCmdline(c); !s.ok()) return s;
  if (auto s = LoadData(c); !s.ok()) return s;
  const uint32_t addr_max = Get<uint32_t>(h.data(), kHInitrdAddrMax);
  auto rd = LoadInitrd(c, std::min<uint64_t>(k4G, uint64_t{addr_max} + 1));
  if (!rd.ok()) return rd.status();

  std::array<uint8_t, 4096> zp{};
  const size_t copy_end = std::min<size_t>(hdr_end, kBpHdrEnd);
  std::memcpy(zp.data() + kBpHdr, h.data() + kBpHdr, copy_end - kBpHdr);
  Put<uint32_t>(zp.data(), kHCode32Start, static_cast<uint32_t>(load));
  if (auto s = FinishZeroPage(c, zp, *rd, version); !s.ok()) return s;
  c.st.kind = "bzImage";
  c.st.rip = load + 0x200;
  return absl::OkStatus();
}

// ---- ELF -----------------------------------------------------------------------

absl::Status LoadSegments(Ctx& c, const ImageFile& k, const ElfImage& elf) {
  bool any = false;
  for (size_t i = 0; i < elf.phdrs.size(); i++) {
    const ElfSegment& s = elf.phdrs[i];
    if (s.type != kPtLoad || s.memsz == 0) continue;
    any = true;
    std::string what = absl::StrFormat("ELF segment %u", i);
    if (!c.mem.contains(s.paddr, s.memsz)) {
      return k.bad(absl::StrFormat(
          "ELF PT_LOAD segment %u (p_paddr 0x%x, p_memsz 0x%x) is outside "
          "guest RAM",
          i, s.paddr, s.memsz));
    }
    if (auto st = c.Place(s.paddr, s.memsz, what); !st.ok())
      return k.bad(std::string(st.message()));
    if (auto st = k.copy_to_guest(c.mem, s.paddr, s.offset, s.filesz, what);
        !st.ok())
      return st;
    if (s.memsz > s.filesz &&
        !c.mem.fill(s.paddr + s.filesz, 0,
                    static_cast<size_t>(s.memsz - s.filesz), true)) {
      return k.bad(absl::StrFormat("ELF segment %u: cannot clear bss", i));
    }
  }
  if (!any) return k.bad("ELF has no loadable (PT_LOAD) segments");
  return absl::OkStatus();
}

// The Xen PVH entry (XEN_ELFNOTE_PHYS32_ENTRY) if the image has one.
absl::StatusOr<std::optional<uint64_t>> FindPvhEntry(const ImageFile& k,
                                                     const ElfImage& elf) {
  auto notes = ReadElfNotes(k, elf);
  if (!notes.ok()) return notes.status();
  for (const ElfNote& n : *notes) {
    if (n.name != "Xen" || n.type != 18) continue;
    uint64_t entry;
    if (n.desc.size() == 4) {
      entry = Get<uint32_t>(n.desc.data(), 0);
    } else if (n.desc.size() == 8) {
      entry = Get<uint64_t>(n.desc.data(), 0);
    } else {
      return k.bad(absl::StrFormat(
          "Xen PHYS32_ENTRY note has a %u-byte descriptor (want 4 or 8)",
          n.desc.size()));
    }
    if (entry >= k4G) {
      return k.bad(absl::StrFormat("PVH entry point 0x%x is above 4 GiB",
                                   entry));
    }
    return std::optional<uint64_t>(entry);
  }
  return std::optional<uint64_t>();
}

absl::Status LoadPvh(Ctx& c, const ImageFile& k, const ElfImage& elf,
                     uint64_t entry) {
  if (auto s = CheckCmdline(c.req.cmdline, kCmdlineMax - 1, k.path()); !s.ok())
    return s;
  if (auto s = Prologue(c, /*long_mode=*/false, BootInfo::PvhStartInfo, true);
      !s.ok())
    return s;
  if (auto s = LoadSegments(c, k, elf); !s.ok()) return s;
  if (auto s = WriteCmdline(c); !s.ok()) return s;
  if (auto s = LoadData(c); !s.ok()) return s;
  auto rd = LoadInitrd(c, k4G);
  if (!rd.ok()) return rd.status();

  // hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h), version 1,
  // then the module list and the memory map in the same page.
  std::array<uint8_t, 4096> pg{};
  auto e820 = BuildE820(c.mem, c.req.reserved);
  if (e820.size() > kE820Max) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "guest memory map has %u entries (max %u)", e820.size(), kE820Max));
  }
  Put<uint32_t>(pg.data(), 0, 0x336ec578);  // magic
  Put<uint32_t>(pg.data(), 4, 1);           // version
  Put<uint32_t>(pg.data(), 8, 0);           // flags
  Put<uint32_t>(pg.data(), 12, rd->size ? 1 : 0);
  Put<uint64_t>(pg.data(), 16, rd->size ? kPvhModlistAddr : 0);
  Put<uint64_t>(pg.data(), 24, kCmdlineAddr);
  Put<uint64_t>(pg.data(), 32, c.req.rsdp_addr);
  Put<uint64_t>(pg.data(), 40, kPvhMemmapAddr);
  Put<uint32_t>(pg.data(), 48, static_cast<uint32_t>(e820.size()));
  const size_t ml = kPvhModlistAddr - kPvhInfoAddr;
  Put<uint64_t>(pg.data(), ml + 0, rd->gpa);
  Put<uint64_t>(pg.data(), ml + 8, rd->size);
  const size_t mm = kPvhMemmapAddr - kPvhInfoAddr;
  static_assert(kPvhMemmapAddr - kPvhInfoAddr + kE820Max * 24 <= 4096);
  for (size_t i = 0; i < e820.size(); i++) {
    Put<uint64_t>(pg.data(), mm + i * 24, e820[i].addr);
    Put<uint64_t>(pg.data(), mm + i * 24 + 8, e820[i].size);
    Put<uint32_t>(pg.data(), mm + i * 24 + 16, e820[i].type);
  }
  if (auto s = c.Write(kPvhInfoAddr, pg.data(), pg.size(), "hvm_start_info");
      !s.ok())
    return s;
  c.st.kind = "pvh-elf";
  c.st.rip = entry;
  c.st.rbx = kPvhInfoAddr;
  return absl::OkStatus();
}

absl::Status LoadElf64(Ctx& c, const ImageFile& k, const ElfImage& elf) {
  if (!elf.is64 || elf.machine != kEmX86_64 || elf.type != kEtExec) {
    return k.bad(absl::StrFormat(
        "ELF image has no PVH note and is not an x86_64 executable "
        "(class %u-bit, e_machine %u, e_type %u; need 64-bit, 62, 2)",
        elf.is64 ? 64 : 32, elf.machine, elf.type));
  }
  // e_entry may be virtual (a high kernel mapping): translate it through the
  // segment that contains it.
  uint64_t entry = elf.entry;
  bool found = false;
  for (const ElfSegment& s : elf.phdrs) {
    if (s.type != kPtLoad || s.memsz == 0) continue;
    if (entry >= s.paddr && entry - s.paddr < s.memsz) {
      found = true;
      break;
    }
  }
  if (!found) {
    for (const ElfSegment& s : elf.phdrs) {
      if (s.type != kPtLoad || s.memsz == 0) continue;
      if (entry >= s.vaddr && entry - s.vaddr < s.memsz) {
        entry = s.paddr + (entry - s.vaddr);
        found = true;
        break;
      }
    }
  }
  if (!found) {
    return k.bad(absl::StrFormat(
        "ELF entry point 0x%x is in no PT_LOAD segment", elf.entry));
  }
  if (entry >= k4G) {
    return k.bad(absl::StrFormat(
        "ELF entry point 0x%x is above the 4 GiB identity map", entry));
  }
  if (auto s = CheckCmdline(c.req.cmdline, kCmdlineMax - 1, k.path()); !s.ok())
    return s;
  if (auto s = Prologue(c, /*long_mode=*/true, BootInfo::ZeroPage, true);
      !s.ok())
    return s;
  if (auto s = LoadSegments(c, k, elf); !s.ok()) return s;
  if (auto s = WriteCmdline(c); !s.ok()) return s;
  if (auto s = LoadData(c); !s.ok()) return s;
  auto rd = LoadInitrd(c, k4G);
  if (!rd.ok()) return rd.status();
  // A minimal Linux zero page so that a vmlinux without a PVH note boots
  // through its 64-bit entry (as Firecracker does); others may ignore RSI.
  std::array<uint8_t, 4096> zp{};
  Put<uint16_t>(zp.data(), kHBootFlag, 0xaa55);
  std::memcpy(zp.data() + kHHeader, "HdrS", 4);
  Put<uint16_t>(zp.data(), kHVersion, 0x020f);
  zp[kHLoadflags] = kLoadedHigh;
  Put<uint32_t>(zp.data(), kHInitrdAddrMax, 0xffffffff);
  Put<uint32_t>(zp.data(), kHKernelAlignment, 0x200000);
  Put<uint32_t>(zp.data(), kHCmdlineSize,
                static_cast<uint32_t>(kCmdlineMax - 1));
  Put<uint16_t>(zp.data(), kHXloadflags, kXlfKernel64);
  if (auto s = FinishZeroPage(c, zp, *rd, 0x020f); !s.ok()) return s;
  c.st.kind = "elf64";
  c.st.rip = entry;
  return absl::OkStatus();
}

// ---- Multiboot 1 and 2 ---------------------------------------------------------

constexpr uint32_t kMbMagic = 0x1badb002;
constexpr uint32_t kMbBootMagic = 0x2badb002;
constexpr uint32_t kMbSearch = 8192;
constexpr uint32_t kMb2Magic = 0xe85250d6;
constexpr uint32_t kMb2BootMagic = 0x36d76289;
constexpr uint32_t kMb2Search = 32768;
constexpr size_t kMaxModules = 256;
constexpr size_t kMaxModuleString = 4096;

// Where an a.out-style image goes (Multiboot 1 flag 16, Multiboot 2 address
// tag): the file from `header offset - (header_addr - load_addr)` is copied
// to load_addr up to load_end_addr (0 = end of file), then zeroed bss up to
// bss_end_addr (0 = none).
struct AoutLoad {
  uint64_t header_off = 0;
  uint32_t header_addr = 0, load_addr = 0, load_end_addr = 0, bss_end_addr = 0;
  bool from_file_start = false;  // Multiboot 2 load_addr = -1
};

struct MbHeader {
  int version = 1;
  uint64_t offset = 0;  // file offset of the magic
  uint32_t flags = 0;   // Multiboot 1
  bool have_addr = false, addr_truncated = false;
  AoutLoad aout;
  bool have_entry = false;
  uint32_t entry_addr = 0;
  std::string problem;  // Multiboot 2: a tag we must refuse
};

// The Multiboot 1 header, if the first 8 KiB hold one (magic + valid
// checksum on a 4-byte boundary).
std::optional<MbHeader> FindMultiboot(const ImageFile& k) {
  std::vector<uint8_t> b(static_cast<size_t>(std::min<uint64_t>(k.size(), kMbSearch)));
  if (b.size() < 12 || !k.read(0, b.data(), b.size())) return std::nullopt;
  for (size_t off = 0; off + 12 <= b.size(); off += 4) {
    if (Get<uint32_t>(b.data(), off) != kMbMagic) continue;
    uint32_t flags = Get<uint32_t>(b.data(), off + 4);
    uint32_t sum = Get<uint32_t>(b.data(), off + 8);
    if (static_cast<uint32_t>(kMbMagic + flags + sum) != 0) continue;
    MbHeader h;
    h.offset = off;
    h.flags = flags;
    if (flags & (1u << 16)) {
      h.have_addr = h.have_entry = true;
      uint8_t f[20] = {};
      // The address fields may run past the 8 KiB window; read them from
      // the file (missing ones are reported by the loader).
      if (k.read(off + 12, f, sizeof f)) {
        h.aout.header_off = off;
        h.aout.header_addr = Get<uint32_t>(f, 0);
        h.aout.load_addr = Get<uint32_t>(f, 4);
        h.aout.load_end_addr = Get<uint32_t>(f, 8);
        h.aout.bss_end_addr = Get<uint32_t>(f, 12);
        h.entry_addr = Get<uint32_t>(f, 16);
      } else {
        h.addr_truncated = true;
      }
    }
    return h;
  }
  return std::nullopt;
}

// Tag types of the Multiboot 2 information structure this loader provides.
bool Mb2Provides(uint32_t type) {
  switch (type) {
    case 0: case 1: case 2: case 3: case 4: case 6: case 14: case 15:
      return true;
    default:
      return false;
  }
}

// The Multiboot 2 header, if the first 32 KiB hold one (magic, architecture
// 0 (i386), header_length, checksum, on an 8-byte boundary). Tags are
// walked here; anything we cannot honour is recorded in `problem`.
std::optional<MbHeader> FindMultiboot2(const ImageFile& k) {
  std::vector<uint8_t> b(static_cast<size_t>(std::min<uint64_t>(k.size(), kMb2Search)));
  if (b.size() < 16 || !k.read(0, b.data(), b.size())) return std::nullopt;
  for (size_t off = 0; off + 16 <= b.size(); off += 8) {
    if (Get<uint32_t>(b.data(), off) != kMb2Magic) continue;
    uint32_t arch = Get<uint32_t>(b.data(), off + 4);
    uint32_t len = Get<uint32_t>(b.data(), off + 8);
    uint32_t sum = Get<uint32_t>(b.data(), off + 12);
    if (static_cast<uint32_t>(kMb2Magic + arch + len + sum) != 0) continue;
    MbHeader h;
    h.version = 2;
    h.offset = off;
    if (arch != 0) {
      h.problem = absl::StrFormat("Multiboot 2 architecture %u is not i386 (0)", arch);
      return h;
    }
    // The header may extend past the search window: read it whole.
    if (len < 24 || len > 65536 || len % 8 != 0) {
      h.problem = absl::StrFormat("Multiboot 2 header_length %u is invalid", len);
      return h;
    }
    std::vector<uint8_t> hb(len);
    if (!k.read(off, hb.data(), len)) {
      h.problem = "Multiboot 2 header extends past end of file";
      return h;
    }
    bool ended = false;
    for (size_t t = 16; t + 8 <= len && !ended;) {
      uint16_t type = Get<uint16_t>(hb.data(), t);
      uint16_t tflags = Get<uint16_t>(hb.data(), t + 2);
      uint32_t size = Get<uint32_t>(hb.data(), t + 4);
      const bool optional = tflags & 1;
      if (size < 8 || size > len - t) {
        h.problem = absl::StrFormat("Multiboot 2 header tag %u at +%u has size %u", type, t, size);
        return h;
      }
      auto need = [&](uint32_t n) {
        if (size >= n) return true;
        h.problem = absl::StrFormat("Multiboot 2 header tag %u is %u bytes, needs %u", type, size, n);
        return false;
      };
      switch (type) {
        case 0:
          ended = true;
          break;
        case 1:  // information request
          for (size_t i = 8; i + 4 <= size; i += 4) {
            uint32_t want = Get<uint32_t>(hb.data(), t + i);
            if (!Mb2Provides(want) && !optional) {
              h.problem = absl::StrFormat(
                  "Multiboot 2 header requires information tag %u, which qvm does not provide", want);
              return h;
            }
          }
          break;
        case 2:  // address
          if (!need(24)) return h;
          h.have_addr = true;
          h.aout.header_off = off;
          h.aout.header_addr = Get<uint32_t>(hb.data(), t + 8);
          h.aout.load_addr = Get<uint32_t>(hb.data(), t + 12);
          h.aout.load_end_addr = Get<uint32_t>(hb.data(), t + 16);
          h.aout.bss_end_addr = Get<uint32_t>(hb.data(), t + 20);
          if (h.aout.load_addr == 0xffffffffu) h.aout.from_file_start = true;
          break;
        case 3:  // entry address
          if (!need(12)) return h;
          h.have_entry = true;
          h.entry_addr = Get<uint32_t>(hb.data(), t + 8);
          break;
        case 4:  // console flags: EGA text required is impossible here
          if (!need(12)) return h;
          if ((Get<uint32_t>(hb.data(), t + 8) & 3) == 3) {
            h.problem = "Multiboot 2 header requires an EGA text console (qvm has none)";
            return h;
          }
          break;
        case 6:   // module alignment: modules are page aligned anyway
        case 8:   // EFI i386 entry: ignored when not booting through EFI
        case 9:   // EFI amd64 entry: likewise
        case 10:  // relocatable: loading at the link address is allowed
          break;
        default:  // 5 framebuffer, 7 EFI boot services, unknown
          if (!optional) {
            h.problem = absl::StrFormat(
                "Multiboot 2 header tag %u (%s) is required but not supported", type,
                type == 5 ? "framebuffer" : type == 7 ? "EFI boot services" : "unknown");
            return h;
          }
      }
      t += (size + 7) & ~size_t{7};
    }
    if (!ended) h.problem = "Multiboot 2 header has no end tag";
    return h;
  }
  return std::nullopt;
}

// Loads an a.out-style image; returns [load_addr, mem_end).
absl::StatusOr<std::pair<uint64_t, uint64_t>> LoadAout(Ctx& c, const ImageFile& k,
                                                      const AoutLoad& a) {
  uint64_t file_off;
  uint64_t load_addr = a.load_addr;
  if (a.from_file_start) {
    file_off = 0;
    if (a.header_addr < a.header_off)
      return k.bad("Multiboot header_addr is below the header's file offset");
    load_addr = a.header_addr - a.header_off;
  } else {
    if (a.load_addr > a.header_addr || a.header_addr - a.load_addr > a.header_off) {
      return k.bad(absl::StrFormat(
          "Multiboot load_addr 0x%x / header_addr 0x%x put the image start "
          "before the file start",
          a.load_addr, a.header_addr));
    }
    file_off = a.header_off - (a.header_addr - a.load_addr);
  }
  uint64_t load_len = k.size() - file_off;
  if (a.load_end_addr != 0) {
    if (a.load_end_addr < load_addr) {
      return k.bad(absl::StrFormat("Multiboot load_end_addr 0x%x is below load_addr 0x%x",
                                   a.load_end_addr, load_addr));
    }
    if (uint64_t{a.load_end_addr} - load_addr > load_len) {
      return k.bad(absl::StrFormat(
          "Multiboot load_end_addr 0x%x needs 0x%x bytes but only 0x%x "
          "follow in the file",
          a.load_end_addr, uint64_t{a.load_end_addr} - load_addr, load_len));
    }
    load_len = uint64_t{a.load_end_addr} - load_addr;
  }
  uint64_t mem_end = load_addr + load_len;
  if (a.bss_end_addr != 0) {
    if (a.bss_end_addr < mem_end) {
      return k.bad(absl::StrFormat(
          "Multiboot bss_end_addr 0x%x is below the end of the loaded image 0x%x",
          a.bss_end_addr, mem_end));
    }
    mem_end = a.bss_end_addr;
  }
  if (mem_end == load_addr) return k.bad("Multiboot image is empty");
  if (!c.mem.contains(load_addr, mem_end - load_addr)) {
    return k.bad(absl::StrFormat("Multiboot image 0x%x..0x%x is outside guest RAM",
                                 load_addr, mem_end - 1));
  }
  if (auto s = c.Place(load_addr, mem_end - load_addr, "kernel"); !s.ok())
    return k.bad(std::string(s.message()));
  if (auto s = k.copy_to_guest(c.mem, load_addr, file_off, load_len, "kernel"); !s.ok())
    return s;
  if (mem_end > load_addr + load_len &&
      !c.mem.fill(load_addr + load_len, 0,
                  static_cast<size_t>(mem_end - load_addr - load_len), true)) {
    return k.bad("cannot clear Multiboot bss");
  }
  return std::make_pair(load_addr, mem_end);
}

// Lowest `align`-aligned spot of `size` bytes in RAM in [from, limit) that
// overlaps nothing placed so far and stays out of the 0x9fc00-0xfffff hole.
std::optional<uint64_t> FindLowSpot(const Ctx& c, uint64_t size, uint64_t from,
                                    uint64_t limit, uint64_t align) {
  for (const MemRegion& r : c.mem.regions()) {
    if (r.readonly || r.size == 0) continue;
    uint64_t lo = std::max(r.gpa, from);
    uint64_t hi = std::min(r.gpa + r.size, limit);
    uint64_t s = (lo + align - 1) & ~(align - 1);
    for (size_t guard = 0; guard <= c.layout.count() + 1; guard++) {
      if (s < lo || s >= hi || hi - s < size) break;
      if (s < kBiosHoleEnd && s + size > kBiosHoleStart) {
        s = kBiosHoleEnd;
        continue;
      }
      const Layout::Claim* o = c.layout.overlap(s, size);
      if (!o) return s;
      s = (o->end + align - 1) & ~(align - 1);
    }
  }
  return std::nullopt;
}

struct LoadedModule {
  uint64_t start = 0, end = 0;
  std::string string;
};

// The initrd (module 0, its string the initrd's path) and `module load`s,
// each page aligned, high in RAM below 4 GiB.
absl::StatusOr<std::vector<LoadedModule>> LoadModules(Ctx& c) {
  std::vector<BootModule> all;
  if (!c.req.initrd_path.empty()) all.push_back({c.req.initrd_path, c.req.initrd_path});
  for (const BootModule& m : c.req.modules) all.push_back(m);
  if (all.size() > kMaxModules)
    return absl::InvalidArgumentError(absl::StrFormat(
        "%u boot modules; at most %u are supported", all.size(), kMaxModules));
  std::vector<LoadedModule> out;
  for (size_t i = 0; i < all.size(); i++) {
    const BootModule& m = all[i];
    if (m.string.size() >= kMaxModuleString || m.string.find('\0') != std::string::npos)
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: module string must be under %u bytes without NULs", m.path, kMaxModuleString));
    auto f = ImageFile::Open(m.path);
    if (!f.ok()) return f.status();
    uint64_t size = std::max<uint64_t>(f->size(), 1);  // empty file: 1 zero byte
    auto spot = FindHighSpot(c, size, k4G);
    if (!spot) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "%s: module (%u bytes) does not fit in free guest RAM below 4 GiB", m.path,
          f->size()));
    }
    std::string what = absl::StrCat("module ", i);
    if (auto s = c.Place(*spot, size, what); !s.ok()) return s;
    if (f->size() == 0) {
      if (!c.mem.fill(*spot, 0, 1, true)) return f->bad("cannot place empty module");
    } else if (auto s = f->copy_to_guest(c.mem, *spot, 0, f->size(), what); !s.ok()) {
      return s;
    }
    out.push_back({*spot, *spot + f->size(), m.string});
  }
  return out;
}

// A boot-information block under construction: bytes plus the guest
// address they will have (fixed up once the block is placed).
class InfoBlock {
 public:
  size_t size() const { return b_.size(); }
  size_t reserve(size_t n, size_t align = 1) {
    size_t off = (b_.size() + align - 1) & ~(align - 1);
    b_.resize(off + n, 0);
    return off;
  }
  template <typename T>
  void put(size_t off, T v) { Put<T>(b_.data(), off, v); }
  size_t str(const std::string& s, size_t align = 1) {
    size_t off = reserve(s.size() + 1, align);
    std::memcpy(b_.data() + off, s.data(), s.size());
    return off;
  }
  void bytes(size_t off, const void* p, size_t n) { std::memcpy(b_.data() + off, p, n); }
  std::vector<uint8_t>& data() { return b_; }

 private:
  std::vector<uint8_t> b_;
};

void MemLowerUpper(const std::vector<E820Entry>& e820, uint32_t* lower, uint32_t* upper) {
  uint64_t lo = 0, up = 0;
  for (const E820Entry& e : e820) {
    if (e.type != kE820Ram) continue;
    if (e.addr == 0) lo = std::min<uint64_t>(e.size, 0xa0000) / 1024;
    if (e.addr <= 0x100000 && e.addr + e.size > 0x100000)
      up = std::min<uint64_t>(e.addr + e.size - 0x100000, 0xfff00000) / 1024;
  }
  *lower = static_cast<uint32_t>(lo);
  *upper = static_cast<uint32_t>(up);
}

absl::Status LoadMultiboot(Ctx& c, const ImageFile& k, const MbHeader& h) {
  if (h.version == 1) {
    // Bits 0-15 are requirements: we support 0 (page-aligned modules) and
    // 1 (memory information).
    const uint32_t unsupported = h.flags & 0xfffc;
    if (unsupported) {
      return k.bad(absl::StrFormat(
          "Multiboot header requires features 0x%x (only page-aligned modules "
          "and memory information are provided)",
          unsupported));
    }
  } else if (!h.problem.empty()) {
    return k.bad(h.problem);
  }
  // The command line the kernel sees starts with the image name, as GRUB
  // and QEMU pass it.
  const std::string cmdline =
      c.req.cmdline.empty() ? k.path() : absl::StrCat(k.path(), " ", c.req.cmdline);
  if (auto s = CheckCmdline(cmdline, kCmdlineMax - 1, k.path()); !s.ok()) return s;
  if (auto s = Prologue(c, /*long_mode=*/false, BootInfo::None, false); !s.ok()) return s;
  uint64_t entry;
  if (h.have_addr) {
    if (h.addr_truncated)
      return k.bad("Multiboot header address fields extend past end of file");
    auto r = LoadAout(c, k, h.aout);
    if (!r.ok()) return r.status();
    if (!h.have_entry) return k.bad("Multiboot 2 address tag without an entry address tag");
    entry = h.entry_addr;
    if (entry < r->first || entry >= r->second) {
      return k.bad(absl::StrFormat("Multiboot entry_addr 0x%x is outside the image 0x%x..0x%x",
                                   entry, r->first, r->second - 1));
    }
  } else {
    if (!LooksLikeElf(k)) {
      return k.bad(h.version == 1
                       ? "Multiboot header without address fields (flag 16) in a "
                         "file that is not ELF"
                       : "Multiboot 2 header without an address tag in a file that is not ELF");
    }
    auto elf = ParseElf(k);
    if (!elf.ok()) return elf.status();
    if (auto s = LoadSegments(c, k, *elf); !s.ok()) return s;
    entry = h.have_entry ? h.entry_addr : elf->entry;
    if (entry >= k4G)
      return k.bad(absl::StrFormat("Multiboot ELF entry point 0x%x is above 4 GiB", entry));
  }
  if (auto s = LoadData(c); !s.ok()) return s;
  auto mods = LoadModules(c);
  if (!mods.ok()) return mods.status();
  auto e820 = BuildE820(c.mem, c.req.reserved);
  if (e820.size() > kE820Max) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "guest memory map has %u entries (max %u)", e820.size(), kE820Max));
  }
  uint32_t lower, upper;
  MemLowerUpper(e820, &lower, &upper);

  // Build the information block relative to offset 0, then place it at
  // the lowest free RAM at or above 0x9000 (below the kernel when it is
  // loaded high, after it otherwise) and relocate its pointers.
  InfoBlock ib;
  std::vector<std::pair<size_t, size_t>> ptrs;  // (field offset, target offset)
  if (h.version == 1) {
    const size_t info = ib.reserve(0x80, 8);
    uint32_t flags = 1u << 0 | 1u << 2 | 1u << 6 | 1u << 9;
    ib.put<uint32_t>(info + 4, lower);
    ib.put<uint32_t>(info + 8, upper);
    ptrs.push_back({info + 16, ib.str(cmdline)});
    if (!mods->empty()) {
      flags |= 1u << 3;
      ib.put<uint32_t>(info + 20, static_cast<uint32_t>(mods->size()));
      const size_t list = ib.reserve(16 * mods->size(), 16);
      ptrs.push_back({info + 24, list});
      for (size_t i = 0; i < mods->size(); i++) {
        const LoadedModule& m = (*mods)[i];
        ib.put<uint32_t>(list + i * 16, static_cast<uint32_t>(m.start));
        ib.put<uint32_t>(list + i * 16 + 4, static_cast<uint32_t>(m.end));
        ptrs.push_back({list + i * 16 + 8, ib.str(m.string)});
      }
    }
    const size_t mm = ib.reserve(24 * e820.size(), 8);
    for (size_t i = 0; i < e820.size(); i++) {
      ib.put<uint32_t>(mm + i * 24, 20);
      ib.put<uint64_t>(mm + i * 24 + 4, e820[i].addr);
      ib.put<uint64_t>(mm + i * 24 + 12, e820[i].size);
      ib.put<uint32_t>(mm + i * 24 + 20, e820[i].type);
    }
    ib.put<uint32_t>(info + 44, static_cast<uint32_t>(24 * e820.size()));
    ptrs.push_back({info + 48, mm});
    ptrs.push_back({info + 64, ib.str("qvm")});
    ib.put<uint32_t>(info, flags);
  } else {
    ib.reserve(8, 8);  // total_size, reserved
    auto tag = [&](uint32_t type, size_t body) {
      size_t off = ib.reserve(8 + body, 8);
      ib.put<uint32_t>(off, type);
      ib.put<uint32_t>(off + 4, static_cast<uint32_t>(8 + body));
      return off;
    };
    size_t t = tag(1, cmdline.size() + 1);
    ib.bytes(t + 8, cmdline.c_str(), cmdline.size() + 1);
    t = tag(2, 4);
    ib.bytes(t + 8, "qvm", 4);
    for (const LoadedModule& m : *mods) {
      t = tag(3, 8 + m.string.size() + 1);
      ib.put<uint32_t>(t + 8, static_cast<uint32_t>(m.start));
      ib.put<uint32_t>(t + 12, static_cast<uint32_t>(m.end));
      ib.bytes(t + 16, m.string.c_str(), m.string.size() + 1);
    }
    t = tag(4, 8);
    ib.put<uint32_t>(t + 8, lower);
    ib.put<uint32_t>(t + 12, upper);
    t = tag(6, 8 + 24 * e820.size());
    ib.put<uint32_t>(t + 8, 24);  // entry_size
    ib.put<uint32_t>(t + 12, 0);  // entry_version
    for (size_t i = 0; i < e820.size(); i++) {
      ib.put<uint64_t>(t + 16 + i * 24, e820[i].addr);
      ib.put<uint64_t>(t + 16 + i * 24 + 8, e820[i].size);
      ib.put<uint32_t>(t + 16 + i * 24 + 16, e820[i].type);
    }
    if (c.req.rsdp_addr != 0) {
      uint8_t rsdp[36];
      if (!c.mem.read(c.req.rsdp_addr, rsdp, sizeof rsdp))
        return absl::InvalidArgumentError("ACPI RSDP is not in guest memory");
      t = tag(14, 20);  // ACPI old: the RSDP's ACPI 1.0 part
      ib.bytes(t + 8, rsdp, 20);
      if (rsdp[15] >= 2) {
        t = tag(15, 36);  // ACPI new: the whole ACPI 2.0+ RSDP
        ib.bytes(t + 8, rsdp, 36);
      }
    }
    tag(0, 0);
    ib.put<uint32_t>(0, static_cast<uint32_t>(ib.size()));
  }
  auto at = FindLowSpot(c, ib.size(), kMbInfoAddr, k4G, 8);
  if (!at) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: no free guest RAM below 4 GiB for the %u-byte Multiboot information",
        k.path(), ib.size()));
  }
  for (const auto& [field, target] : ptrs)
    ib.put<uint32_t>(field, static_cast<uint32_t>(*at + target));
  if (auto s = c.Place(*at, ib.size(), "multiboot info"); !s.ok()) return s;
  if (auto s = c.Write(*at, ib.data().data(), ib.size(), "multiboot info"); !s.ok()) return s;
  c.st.kind = h.version == 1 ? "multiboot" : "multiboot2";
  c.st.rip = entry;
  c.st.rax = h.version == 1 ? kMbBootMagic : kMb2BootMagic;
  c.st.rbx = *at;
  return absl::OkStatus();
}

// ---- NetBSD / OpenBSD / FreeBSD native protocols -----------------------------

// Writes `n` little-endian 32-bit words at the boot stack (ESP/RSP points at
// the first, a zero "return address"), claiming the stack's top page.
absl::Status WriteStackArgs(Ctx& c, const std::vector<uint32_t>& words) {
  if (auto s = c.Place(kStackTop - kPage, kPage, "boot stack"); !s.ok()) return s;
  std::vector<uint8_t> b(words.size() * 4);
  for (size_t i = 0; i < words.size(); i++) Put<uint32_t>(b.data(), i * 4, words[i]);
  const uint64_t sp = kStackTop - 64;
  if (auto s = c.Write(sp, b.data(), b.size(), "boot arguments"); !s.ok()) return s;
  c.st.rsp = sp;
  return absl::OkStatus();
}

// Places `bytes` (built for its own guest address by `build`) in low RAM at
// or above 0x9000, like the Multiboot information.
template <typename Build>
absl::StatusOr<uint64_t> PlaceLowBlock(Ctx& c, const ImageFile& k, const std::string& what,
                                       Build build) {
  auto probe = build(uint64_t{0});
  if (!probe.ok()) return probe.status();
  auto at = FindLowSpot(c, probe->size(), kMbInfoAddr, k4G, 8);
  if (!at) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: no free guest RAM below 4 GiB for the %u-byte %s", k.path(), probe->size(), what));
  }
  auto bytes = build(*at);
  if (!bytes.ok()) return bytes.status();
  if (auto s = c.Place(*at, bytes->size(), what); !s.ok()) return s;
  if (auto s = c.Write(*at, bytes->data(), bytes->size(), what); !s.ok()) return s;
  return *at;
}

absl::Status LoadBsd(Ctx& c, const ImageFile& k, const ElfImage& elf, bsd::Flavor fl) {
  const bool fbsd = fl == bsd::Flavor::FreeBSD;
  const std::string name = bsd::FlavorName(fl);
  if (!fbsd && !c.req.initrd_path.empty())
    return k.bad(name + " kernels take no initrd (the native protocol has no slot for it)");
  auto howto = bsd::ParseCmdline(fl, c.req.cmdline);
  if (!howto.ok()) return k.bad(std::string(howto.status().message()));
  // Segments go where the system's own loader puts them.
  ElfImage phys = elf;
  uint64_t kstart = UINT64_MAX, kend = 0;
  for (ElfSegment& s : phys.phdrs) {
    if (s.type != kPtLoad || s.memsz == 0) continue;
    if (fbsd && s.vaddr < bsd::kFreeBsdKernbase)
      return k.bad(absl::StrFormat("FreeBSD PT_LOAD at 0x%x is below KERNBASE 0x%x", s.vaddr,
                                   bsd::kFreeBsdKernbase));
    s.paddr = bsd::PhysOf(fl, s.vaddr);
    if (s.memsz > k4G || s.paddr >= k4G || s.memsz > k4G - s.paddr)
      return k.bad(absl::StrFormat("%s PT_LOAD at 0x%x (0x%x bytes) does not fit below 4 GiB",
                                   name, s.paddr, s.memsz));
    kstart = std::min(kstart, s.paddr);
    kend = std::max(kend, s.paddr + s.memsz);
  }
  if (kend == 0) return k.bad("ELF has no loadable (PT_LOAD) segments");
  uint64_t entry = bsd::PhysOf(fl, elf.entry);
  bool in_seg = false;
  for (const ElfSegment& s : phys.phdrs)
    if (s.type == kPtLoad && entry >= s.paddr && entry - s.paddr < s.memsz) in_seg = true;
  if (!in_seg || (fbsd && elf.entry < bsd::kFreeBsdKernbase))
    return k.bad(absl::StrFormat("%s entry point 0x%x is in no PT_LOAD segment", name, elf.entry));
  if (fbsd && kend > (uint64_t{2} << 30))
    return k.bad("FreeBSD kernel must lie in the first 2 GiB (mapped at KERNBASE)");

  if (auto s = Prologue(c, fbsd, BootInfo::None, false); !s.ok()) return s;
  if (fbsd) {
    // KERNBASE (0xffffffff80000000) -> 0..2 GiB: PML4[511] -> a second
    // PDPT whose entries 510/511 reuse the first two page directories.
    if (auto s = c.Place(kPvhInfoAddr, kPage, "page tables (KERNBASE)"); !s.ok()) return s;
    std::vector<uint8_t> pdpt(kPage, 0);
    Put<uint64_t>(pdpt.data(), 510 * 8, kPdAddr | 0x3);
    Put<uint64_t>(pdpt.data(), 511 * 8, (kPdAddr + 0x1000) | 0x3);
    if (auto s = c.Write(kPvhInfoAddr, pdpt.data(), pdpt.size(), "page tables"); !s.ok())
      return s;
    uint64_t pml4e = kPvhInfoAddr | 0x3;
    if (auto s = c.Write(kPml4Addr + 511 * 8, &pml4e, 8, "page tables"); !s.ok()) return s;
  }
  if (auto s = LoadSegments(c, k, phys); !s.ok()) return s;

  // Symbols right after the kernel's memory image, 8-byte aligned (where
  // the kernels look for them: OpenBSD at `end`, NetBSD/FreeBSD by record).
  auto blob = fbsd ? bsd::FreeBsdSymbolBlob(k) : bsd::ElfSymbolBlob(k);
  if (!blob.ok()) return blob.status();
  uint64_t ssym = 0, esym = 0, end = kend;
  if (!blob->empty()) {
    ssym = (kend + 7) & ~uint64_t{7};
    if (auto s = c.Place(ssym, blob->size(), "symbols"); !s.ok())
      return k.bad(std::string(s.message()));
    if (auto s = c.Write(ssym, blob->data(), blob->size(), "symbols"); !s.ok()) return s;
    esym = ssym + blob->size();
    end = esym;
  }
  if (auto s = LoadData(c); !s.ok()) return s;
  auto e820 = BuildE820(c.mem, c.req.reserved);
  std::vector<bsd::MemEntry> mem;
  for (const E820Entry& e : e820) mem.push_back({e.addr, e.size, e.type});
  uint32_t lower, upper;
  MemLowerUpper(e820, &lower, &upper);

  if (fl == bsd::Flavor::NetBSD) {
    auto at = PlaceLowBlock(c, k, "NetBSD bootinfo", [&](uint64_t gpa) {
      return bsd::NetBsdBootinfo(gpa, mem, ssym, esym);
    });
    if (!at.ok()) return at.status();
    if (auto s = WriteStackArgs(c, {0, howto->howto, 0, static_cast<uint32_t>(*at),
                                    static_cast<uint32_t>(end), upper, lower});
        !s.ok())
      return s;
  } else if (fl == bsd::Flavor::OpenBSD) {
    uint64_t argc = 0;
    auto at = PlaceLowBlock(c, k, "OpenBSD boot arguments", [&](uint64_t gpa) {
      auto b = bsd::OpenBsdBootargs(gpa, mem);
      if (b.ok()) argc = b->size();
      return b;
    });
    if (!at.ok()) return at.status();
    if (auto s = WriteStackArgs(c, {0, howto->howto, 0, bsd::kOpenBsdApiver,
                                    static_cast<uint32_t>(end), upper, lower,
                                    static_cast<uint32_t>(argc), static_cast<uint32_t>(*at)});
        !s.ok())
      return s;
  } else {
    // After the kernel and its symbols, each page aligned: the initrd
    // (module "md_image"), the environment, the metadata; kernend after.
    uint64_t next = (end + kPage - 1) & ~(kPage - 1);
    uint64_t rd_addr = 0, rd_size = 0;
    if (!c.req.initrd_path.empty()) {
      auto f = ImageFile::Open(c.req.initrd_path);
      if (!f.ok()) return f.status();
      if (f->size() == 0) return f->bad("initrd is empty");
      if (auto s = c.Place(next, f->size(), "initrd"); !s.ok()) return f->bad(std::string(s.message()));
      if (auto s = f->copy_to_guest(c.mem, next, 0, f->size(), "initrd"); !s.ok()) return s;
      rd_addr = next;
      rd_size = f->size();
      next = (next + rd_size + kPage - 1) & ~(kPage - 1);
    }
    std::vector<std::string> vars = howto->env;  // the user's first: they win
    vars.push_back("console=comconsole");
    vars.push_back(absl::StrFormat("hw.uart.console=io:%u,br:%u", bsd::kComPort, bsd::kComSpeed));
    auto env = bsd::FreeBsdEnv(vars);
    if (env.size() > 65536) return k.bad("FreeBSD environment exceeds 64 KiB");
    const uint64_t envp = next;
    if (auto s = c.Place(envp, env.size(), "FreeBSD environment"); !s.ok()) return k.bad(std::string(s.message()));
    if (auto s = c.Write(envp, env.data(), env.size(), "FreeBSD environment"); !s.ok()) return s;
    const uint64_t modulep = (envp + env.size() + kPage - 1) & ~(kPage - 1);
    bsd::FreeBsdModinfo m;
    m.elf_header.resize(64);
    if (!k.read(0, m.elf_header.data(), 64)) return k.bad("ELF header truncated");
    m.kernel_addr = kstart;
    m.kernel_size = kend - kstart;
    m.ssym = ssym;
    m.esym = esym;
    m.howto = howto->howto;
    m.envp = envp;
    m.mem = mem;
    if (rd_size) {
      m.initrd_name = c.req.initrd_path;
      m.initrd_addr = rd_addr;
      m.initrd_size = rd_size;
    }
    size_t md_size = bsd::FreeBsdMetadata(m).size();
    m.kernend = (modulep + md_size + kPage - 1) & ~(kPage - 1);
    auto md = bsd::FreeBsdMetadata(m);
    if (m.kernend > k4G) return k.bad("FreeBSD boot metadata would end above 4 GiB");
    if (auto s = c.Place(modulep, m.kernend - modulep, "FreeBSD metadata"); !s.ok())
      return k.bad(std::string(s.message()));
    if (auto s = c.Write(modulep, md.data(), md.size(), "FreeBSD metadata"); !s.ok()) return s;
    if (auto s = WriteStackArgs(c, {0, static_cast<uint32_t>(modulep),
                                    static_cast<uint32_t>(m.kernend)});
        !s.ok())
      return s;
    entry = elf.entry;  // virtual: mapped through KERNBASE
  }
  c.st.kind = name;
  c.st.rip = entry;
  return absl::OkStatus();
}

// ---- raw -----------------------------------------------------------------------

absl::Status LoadRaw(Ctx& c, const ImageFile& k) {
  if (k.size() == 0) return k.bad("kernel image is empty");
  if (!c.req.initrd_path.empty()) {
    return k.bad("raw images have no way to receive an initrd");
  }
  if (auto s = CheckCmdline(c.req.cmdline, kCmdlineMax - 1, k.path()); !s.ok())
    return s;
  const uint64_t load = c.req.kernel_addr.value_or(kKernelAddr);
  if (load >= k4G || k.size() > k4G - load) {
    return k.bad(absl::StrFormat(
        "raw image at 0x%x (%u bytes) does not fit below 4 GiB", load,
        k.size()));
  }
  if (!c.mem.contains(load, k.size())) {
    return k.bad(absl::StrFormat(
        "raw image at 0x%x..0x%x is not inside one guest memory region",
        load, load + k.size() - 1));
  }
  if (auto s = Prologue(c, /*long_mode=*/false, BootInfo::None,
                        !c.req.cmdline.empty());
      !s.ok())
    return s;
  if (auto s = c.Place(load, k.size(), "kernel"); !s.ok())
    return k.bad(std::string(s.message()));
  if (auto s = k.copy_to_guest(c.mem, load, 0, k.size(), "kernel"); !s.ok())
    return s;
  if (!c.req.cmdline.empty()) {
    if (auto s = WriteCmdline(c); !s.ok()) return s;
  }
  if (auto s = LoadData(c); !s.ok()) return s;
  c.st.kind = "raw";
  c.st.rip = load;
  return absl::OkStatus();
}

bool HasHdrS(const ImageFile& k) {
  uint8_t m[4];
  return k.read(kHHeader, m, 4) && std::memcmp(m, "HdrS", 4) == 0;
}

}  // namespace

std::vector<E820Entry> BuildE820(const GuestMemory& mem,
                                 const std::vector<E820Entry>& extra_reserved) {
  struct Iv {
    uint64_t lo, hi;  // [lo, hi)
  };
  std::vector<Iv> ram, res;
  for (const MemRegion& r : mem.regions()) {
    if (r.size == 0 || r.size > UINT64_MAX - r.gpa) continue;
    Iv iv{r.gpa, r.gpa + r.size};
    (r.readonly ? res : ram).push_back(iv);
    uint64_t lo = std::max(iv.lo, kBiosHoleStart);
    uint64_t hi = std::min(iv.hi, kBiosHoleEnd);
    if (lo < hi) res.push_back({lo, hi});
  }
  for (const E820Entry& e : extra_reserved) {
    if (e.size == 0) continue;
    uint64_t hi = e.size > UINT64_MAX - e.addr ? UINT64_MAX : e.addr + e.size;
    res.push_back({e.addr, hi});
  }
  // RAM minus reserved.
  for (const Iv& r : res) {
    std::vector<Iv> next;
    for (const Iv& a : ram) {
      if (r.hi <= a.lo || r.lo >= a.hi) {
        next.push_back(a);
        continue;
      }
      if (a.lo < r.lo) next.push_back({a.lo, r.lo});
      if (r.hi < a.hi) next.push_back({r.hi, a.hi});
    }
    ram.swap(next);
  }
  // Reserved ranges merged among themselves.
  std::sort(res.begin(), res.end(),
            [](const Iv& a, const Iv& b) { return a.lo < b.lo; });
  std::vector<Iv> rm;
  for (const Iv& r : res) {
    if (!rm.empty() && r.lo <= rm.back().hi) {
      rm.back().hi = std::max(rm.back().hi, r.hi);
    } else {
      rm.push_back(r);
    }
  }
  std::vector<E820Entry> out;
  for (const Iv& a : ram) out.push_back({a.lo, a.hi - a.lo, kE820Ram});
  for (const Iv& r : rm) out.push_back({r.lo, r.hi - r.lo, kE820Reserved});
  std::sort(out.begin(), out.end(), [](const E820Entry& a, const E820Entry& b) {
    return a.addr < b.addr;
  });
  std::vector<E820Entry> merged;
  for (const E820Entry& e : out) {
    if (!merged.empty() && merged.back().type == e.type &&
        merged.back().addr + merged.back().size == e.addr) {
      merged.back().size += e.size;
    } else {
      merged.push_back(e);
    }
  }
  return merged;
}

absl::StatusOr<EntryState> LoadX86(GuestMemory& mem, const BootRequest& req) {
  if (req.kernel_path.empty()) {
    return absl::InvalidArgumentError("no kernel image given");
  }
  auto k = ImageFile::Open(req.kernel_path);
  if (!k.ok()) return k.status();
  Ctx c{mem, req, {}, {}};
  absl::Status s;
  if (HasHdrS(*k)) {
    s = LoadBzImage(c, *k);
  } else if (LooksLikeElf(*k)) {
    auto elf = ParseElf(*k);
    if (!elf.ok()) return elf.status();
    auto flavor = bsd::Detect(*k, *elf);
    if (!flavor.ok()) return flavor.status();
    auto pvh = FindPvhEntry(*k, *elf);
    if (!pvh.ok()) return pvh.status();
    if (*flavor != bsd::Flavor::None) {
      s = LoadBsd(c, *k, *elf, *flavor);
    } else if (pvh->has_value()) {
      s = LoadPvh(c, *k, *elf, **pvh);
    } else if (auto mb = FindMultiboot(*k)) {
      s = LoadMultiboot(c, *k, *mb);
    } else if (auto mb2 = FindMultiboot2(*k)) {
      s = LoadMultiboot(c, *k, *mb2);
    } else {
      s = LoadElf64(c, *k, *elf);
    }
  } else if (auto mb = FindMultiboot(*k)) {
    s = LoadMultiboot(c, *k, *mb);
  } else if (auto mb2 = FindMultiboot2(*k)) {
    s = LoadMultiboot(c, *k, *mb2);
  } else {
    s = LoadRaw(c, *k);
  }
  if (!s.ok()) return s;
  if (!req.modules.empty() && c.st.kind != "multiboot" && c.st.kind != "multiboot2") {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: `module load` needs a Multiboot kernel (this image is %s)", req.kernel_path,
        c.st.kind));
  }
  return std::move(c.st);
}

std::string Describe(const EntryState& st) {
  std::string out = absl::StrFormat(
      "%s: %s rip=0x%x rsp=0x%x rsi=0x%x rbx=0x%x cr3=0x%x gdt=0x%x/0x%x",
      st.kind, st.mode == CpuMode::Long64 ? "Long64" : "Flat32", st.rip,
      st.rsp, st.rsi, st.rbx, st.cr3, st.gdt_base, st.gdt_limit);
  for (const Placement& p : st.placements) {
    absl::StrAppendFormat(&out, "; %s 0x%x+0x%x", p.what, p.gpa, p.size);
  }
  return out;
}

}  // namespace qvm::boot
