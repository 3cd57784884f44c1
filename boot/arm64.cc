#include "boot/arm64.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "boot/elf.h"

namespace qvm::boot {
namespace {

uint64_t Le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

bool Inside(uint64_t a, uint64_t len, uint64_t base, uint64_t size) {
  return a >= base && len <= size && a - base <= size - len;
}

}  // namespace

absl::StatusOr<Arm64ImageHeader> ParseArm64Image(const ImageFile& f) {
  uint8_t h[64];
  if (!f.read(0, h, sizeof h)) {
    // Shorter than the header: an Image cut short still shows its magic.
    uint8_t m[4];
    if (f.size() >= 0x3c && f.read(0x38, m, 4) &&
        (uint32_t(m[0]) | uint32_t(m[1]) << 8 | uint32_t(m[2]) << 16 | uint32_t(m[3]) << 24) ==
            kArm64ImageMagic)
      return f.bad(absl::StrFormat("arm64 Image: truncated header (%u of 64 bytes)", f.size()));
    return absl::NotFoundError("too small for an arm64 Image");
  }
  uint32_t magic = uint32_t(h[0x38]) | uint32_t(h[0x39]) << 8 | uint32_t(h[0x3a]) << 16 |
                   uint32_t(h[0x3b]) << 24;
  if (magic != kArm64ImageMagic) return absl::NotFoundError("no arm64 Image magic");
  Arm64ImageHeader r;
  r.text_offset = Le64(h + 8);
  r.image_size = Le64(h + 16);
  r.flags = Le64(h + 24);
  if (r.flags & 1) return f.bad("arm64 Image: big-endian kernel (flags bit 0) not supported");
  // Any 4 KiB-aligned offset above the 2 MiB-aligned base: Linux writes
  // 0 (0x80000 before 3.17), NetBSD's mkubootimage writes 2 MiB.
  if (r.text_offset > kArm64MaxTextOffset || (r.text_offset & 0xfff))
    return f.bad(absl::StrFormat("arm64 Image: bad text_offset 0x%x", r.text_offset));
  // image_size 0: kernels before 3.17; then the file size is all we know.
  if (r.image_size == 0) r.image_size = f.size();
  if (r.image_size < f.size() || r.image_size > (1ull << 32))
    return f.bad(absl::StrFormat("arm64 Image: bad image_size 0x%x (file 0x%x)",
                                 r.image_size, f.size()));
  return r;
}

absl::StatusOr<Arm64Kernel> LoadArm64Kernel(GuestMemory& mem, const std::string& path,
                                            std::optional<uint64_t> addr,
                                            uint64_t ram_base, uint64_t ram_size) {
  auto fo = ImageFile::Open(path);
  if (!fo.ok()) return fo.status();
  ImageFile& f = *fo;
  Arm64Kernel k;
  auto hdr = ParseArm64Image(f);
  if (hdr.ok()) {
    uint64_t base = addr ? *addr : (ram_base + kArm64ImageAlign - 1) & ~(kArm64ImageAlign - 1);
    if (base & (kArm64ImageAlign - 1))
      return f.bad(absl::StrFormat("arm64 Image: load address 0x%x is not 2 MiB aligned", base));
    k.kind = "Image";
    k.start = base + hdr->text_offset;
    if (k.start < base || !Inside(k.start, hdr->image_size, ram_base, ram_size))
      return f.bad(absl::StrFormat("arm64 Image: 0x%x bytes at 0x%x do not fit in RAM",
                                   hdr->image_size, k.start));
    k.end = k.start + hdr->image_size;
    k.entry = k.start;
    absl::Status st = f.copy_to_guest(mem, k.start, 0, f.size(), "arm64 Image");
    if (!st.ok()) return st;
    return k;
  }
  if (hdr.status().code() != absl::StatusCode::kNotFound) return hdr.status();
  if (LooksLikeElf(f)) {
    auto e = ParseElf(f);
    if (!e.ok()) return e.status();
    if (!e->is64 || e->machine != kEmAarch64)
      return f.bad("ELF: not an ELF64 AArch64 executable");
    k.kind = "ELF";
    k.entry = e->entry;
    k.start = ~0ull;
    bool any = false;
    for (const auto& s : e->phdrs) {
      if (s.type != kPtLoad || s.memsz == 0) continue;
      if (!Inside(s.paddr, s.memsz, ram_base, ram_size))
        return f.bad(absl::StrFormat("ELF: segment 0x%x+0x%x is outside RAM", s.paddr, s.memsz));
      absl::Status st = f.copy_to_guest(mem, s.paddr, s.offset, s.filesz, "ELF segment");
      if (!st.ok()) return st;
      any = true;
      k.start = std::min(k.start, s.paddr);
      k.end = std::max(k.end, s.paddr + s.memsz);
    }
    if (!any) return f.bad("ELF: no loadable segment");
    return k;
  }
  // Raw binary: copied to ADDR (default: start of RAM) and entered there.
  k.kind = "raw";
  k.start = addr ? *addr : ram_base;
  if (f.size() == 0) return f.bad("empty image");
  if (!Inside(k.start, f.size(), ram_base, ram_size))
    return f.bad(absl::StrFormat("raw image: 0x%x bytes at 0x%x do not fit in RAM", f.size(),
                                 k.start));
  k.end = k.start + f.size();
  k.entry = k.start;
  absl::Status st = f.copy_to_guest(mem, k.start, 0, f.size(), "raw image");
  if (!st.ok()) return st;
  return k;
}

absl::StatusOr<Arm64Placement> PlaceArm64(uint64_t ram_base, uint64_t ram_size,
                                          const Arm64Kernel& k, uint64_t initrd_size) {
  Arm64Placement p;
  uint64_t end = ram_base + ram_size;
  if (ram_size < kArm64FdtMax * 2)
    return absl::InvalidArgumentError("RAM too small for an arm64 guest (needs 4 MiB)");
  p.fdt = (end - kArm64FdtMax) & ~(kArm64FdtMax - 1);
  if (p.fdt < ram_base || p.fdt < k.end)
    return absl::InvalidArgumentError(absl::StrFormat(
        "no room for the device tree above the kernel (kernel ends at 0x%x)", k.end));
  if (initrd_size) {
    if (initrd_size > p.fdt - ram_base)
      return absl::InvalidArgumentError("initrd larger than RAM");
    p.initrd = (p.fdt - initrd_size) & ~0xfffull;
    p.initrd_size = initrd_size;
    if (p.initrd < k.end || p.initrd < ram_base)
      return absl::InvalidArgumentError(absl::StrFormat(
          "initrd (0x%x bytes) does not fit between the kernel (ends 0x%x) and the "
          "device tree (0x%x): add RAM", initrd_size, k.end, p.fdt));
  }
  return p;
}

}  // namespace qvm::boot
