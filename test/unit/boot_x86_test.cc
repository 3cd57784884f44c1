// Tests for boot/x86 (bzImage, PVH ELF, ELF64, raw loaders, e820) and
// boot/elf. Images are synthesized in a temp directory.
#include <catch2/catch.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "test/unit/temp_dir.h"
#include "boot/x86.h"
#include "vmm/guest_memory.h"

using namespace qvm;
using namespace qvm::boot;

namespace {

constexpr uint64_t kMiB = 1 << 20;

using qvm::test::TempDir;

template <typename T>
void Put(std::vector<uint8_t>& b, size_t off, T v) {
  REQUIRE(off + sizeof v <= b.size());
  std::memcpy(b.data() + off, &v, sizeof v);
}

template <typename T>
T Rd(const GuestMemory& m, uint64_t gpa) {
  auto v = m.read_obj<T>(gpa);
  REQUIRE(v.has_value());
  return *v;
}

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; i++) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

struct BzOpts {
  uint8_t setup_sects = 4;
  uint16_t version = 0x020f;
  size_t kernel_size = 0x3000;
  uint32_t init_size = 0x200000;
  uint32_t initrd_addr_max = 0x37ffffff;
  uint32_t cmdline_size = 2047;
  uint16_t xloadflags = 0x3;
  uint64_t pref = 0x1000000;
};

std::vector<uint8_t> MakeBz(const BzOpts& o = {}) {
  size_t setup = (size_t{o.setup_sects ? o.setup_sects : 4u} + 1) * 512;
  std::vector<uint8_t> b(setup + o.kernel_size, 0);
  b[0x1f1] = o.setup_sects;
  Put<uint16_t>(b, 0x1fe, 0xaa55);
  b[0x200] = 0xeb;
  b[0x201] = 0x6a;  // header ends at 0x26c
  std::memcpy(b.data() + 0x202, "HdrS", 4);
  Put<uint16_t>(b, 0x206, o.version);
  b[0x211] = 0x01;  // LOADED_HIGH
  Put<uint32_t>(b, 0x214, 0x100000);
  Put<uint32_t>(b, 0x22c, o.initrd_addr_max);
  Put<uint32_t>(b, 0x230, 0x200000);
  b[0x234] = 1;
  Put<uint16_t>(b, 0x236, o.xloadflags);
  Put<uint32_t>(b, 0x238, o.cmdline_size);
  Put<uint64_t>(b, 0x258, o.pref);
  Put<uint32_t>(b, 0x260, o.init_size);
  auto k = Pattern(o.kernel_size, 0x42);
  std::copy(k.begin(), k.end(), b.begin() + static_cast<long>(setup));
  return b;
}

struct Seg {
  uint32_t type = 1;
  uint64_t offset = 0, vaddr = 0, paddr = 0, filesz = 0, memsz = 0;
};

// ELF64 (or ELF32) executable: header, phdrs at 64, data after.
std::vector<uint8_t> MakeElf(const std::vector<Seg>& segs, uint64_t entry,
                             size_t total, bool is64 = true,
                             uint16_t machine = 62, uint16_t type = 2) {
  std::vector<uint8_t> b(total, 0);
  b[0] = 0x7f;
  b[1] = 'E';
  b[2] = 'L';
  b[3] = 'F';
  b[4] = is64 ? 2 : 1;
  b[5] = 1;
  b[6] = 1;
  Put<uint16_t>(b, 16, type);
  Put<uint16_t>(b, 18, machine);
  Put<uint32_t>(b, 20, 1);
  if (is64) {
    Put<uint64_t>(b, 24, entry);
    Put<uint64_t>(b, 32, 64);
    Put<uint16_t>(b, 52, 64);
    Put<uint16_t>(b, 54, 56);
    Put<uint16_t>(b, 56, static_cast<uint16_t>(segs.size()));
    for (size_t i = 0; i < segs.size(); i++) {
      size_t o = 64 + i * 56;
      Put<uint32_t>(b, o, segs[i].type);
      Put<uint64_t>(b, o + 8, segs[i].offset);
      Put<uint64_t>(b, o + 16, segs[i].vaddr);
      Put<uint64_t>(b, o + 24, segs[i].paddr);
      Put<uint64_t>(b, o + 32, segs[i].filesz);
      Put<uint64_t>(b, o + 40, segs[i].memsz);
      Put<uint64_t>(b, o + 48, 4);
    }
  } else {
    Put<uint32_t>(b, 24, static_cast<uint32_t>(entry));
    Put<uint32_t>(b, 28, 52);
    Put<uint16_t>(b, 40, 52);
    Put<uint16_t>(b, 42, 32);
    Put<uint16_t>(b, 44, static_cast<uint16_t>(segs.size()));
    for (size_t i = 0; i < segs.size(); i++) {
      size_t o = 52 + i * 32;
      Put<uint32_t>(b, o, segs[i].type);
      Put<uint32_t>(b, o + 4, static_cast<uint32_t>(segs[i].offset));
      Put<uint32_t>(b, o + 8, static_cast<uint32_t>(segs[i].vaddr));
      Put<uint32_t>(b, o + 12, static_cast<uint32_t>(segs[i].paddr));
      Put<uint32_t>(b, o + 16, static_cast<uint32_t>(segs[i].filesz));
      Put<uint32_t>(b, o + 20, static_cast<uint32_t>(segs[i].memsz));
      Put<uint32_t>(b, o + 28, 4);
    }
  }
  return b;
}

// Xen PHYS32_ENTRY note at `off`: namesz 4 "Xen", descsz 4, type 18.
void AddPvhNote(std::vector<uint8_t>& b, size_t off, uint32_t entry) {
  Put<uint32_t>(b, off, 4);
  Put<uint32_t>(b, off + 4, 4);
  Put<uint32_t>(b, off + 8, 18);
  std::memcpy(b.data() + off + 12, "Xen", 4);
  Put<uint32_t>(b, off + 16, entry);
}

// A 64 MiB guest with RAM at 0.
struct Guest {
  GuestMemory mem;
  explicit Guest(uint64_t size = 64 * kMiB) {
    REQUIRE(mem.add(0, size, false).ok());
  }
};

// A NUL-terminated string in guest memory (at most 4 KiB).
std::string Str(const GuestMemory& m, uint64_t gpa) {
  std::string out;
  for (int i = 0; i < 4096; i++) {
    auto c = m.read_obj<char>(gpa + i);
    REQUIRE(c.has_value());
    if (*c == 0) return out;
    out.push_back(*c);
  }
  FAIL("unterminated string");
  return out;
}

bool Contains(const absl::Status& s, const std::string& what) {
  return std::string(s.message()).find(what) != std::string::npos;
}

}  // namespace

TEST_CASE("e820: RAM minus the 640K-1M hole", "[boot]") {
  GuestMemory mem;
  REQUIRE(mem.add(0, 64 * kMiB, false).ok());
  auto e = BuildE820(mem);
  REQUIRE(e.size() == 3);
  CHECK(e[0] == E820Entry{0, 0x9fc00, kE820Ram});
  CHECK(e[1] == E820Entry{0x9fc00, 0x100000 - 0x9fc00, kE820Reserved});
  CHECK(e[2] == E820Entry{0x100000, 63 * kMiB, kE820Ram});

  // A ROM region, RAM above 4 GiB, and an ECAM window carved out of RAM.
  GuestMemory m2;
  REQUIRE(m2.add(0, 16 * kMiB, false).ok());
  REQUIRE(m2.add(0xfff00000, 0x100000, true).ok());
  REQUIRE(m2.add(uint64_t{1} << 32, 16 * kMiB, false).ok());
  auto e2 = BuildE820(m2, {{8 * kMiB, kMiB, kE820Reserved}});
  REQUIRE(e2.size() == 7);
  CHECK(e2[2] == E820Entry{0x100000, 7 * kMiB, kE820Ram});
  CHECK(e2[3] == E820Entry{8 * kMiB, kMiB, kE820Reserved});
  CHECK(e2[4] == E820Entry{9 * kMiB, 7 * kMiB, kE820Ram});
  CHECK(e2[5] == E820Entry{0xfff00000, 0x100000, kE820Reserved});
  CHECK(e2[6] == E820Entry{uint64_t{1} << 32, 16 * kMiB, kE820Ram});

  // RAM that does not reach the hole: no reserved entry invented.
  GuestMemory m3;
  REQUIRE(m3.add(0, 0x80000, false).ok());
  auto e3 = BuildE820(m3);
  REQUIRE(e3.size() == 1);
  CHECK(e3[0] == E820Entry{0, 0x80000, kE820Ram});
}

TEST_CASE("bzImage: valid image fills the zero page", "[boot]") {
  TempDir td;
  Guest g;
  auto bz = MakeBz();
  auto initrd = Pattern(0x5123, 9);
  auto blob = Pattern(100, 3);
  BootRequest rq;
  rq.kernel_path = td.write("bz", bz);
  rq.initrd_path = td.write("initrd", initrd);
  rq.cmdline = "console=ttyS0 panic=-1";
  rq.data = {{0x3000000, td.write("blob", blob)}};
  rq.rsdp_addr = 0xe0000;
  auto st = LoadX86(g.mem, rq);
  REQUIRE(st.ok());
  CHECK(st->kind == "bzImage");
  CHECK(st->mode == CpuMode::Long64);
  CHECK(st->rip == 0x100200);
  CHECK(st->rsi == kZeroPageAddr);
  CHECK(st->cr3 == kPml4Addr);
  CHECK(st->efer == 0x500);
  CHECK(st->cs.selector == 0x10);
  CHECK(st->cs.l);
  CHECK(st->ds.selector == 0x18);
  CHECK(st->gdt_base == kGdtAddr);
  CHECK((st->rflags & 0x200) == 0);  // interrupts off

  // Kernel code at 1 MiB.
  std::vector<uint8_t> k(0x3000);
  REQUIRE(g.mem.read(0x100000, k.data(), k.size()));
  CHECK(k == Pattern(0x3000, 0x42));
  // Zero page.
  const uint64_t zp = kZeroPageAddr;
  CHECK(Rd<uint8_t>(g.mem, zp + 0x210) == 0xff);          // type_of_loader
  CHECK((Rd<uint8_t>(g.mem, zp + 0x211) & 0x81) == 0x81);  // HIGH|HEAP
  CHECK(Rd<uint16_t>(g.mem, zp + 0x224) == 0xfe00);
  CHECK(Rd<uint32_t>(g.mem, zp + 0x202) == 0x53726448);    // HdrS copied
  CHECK(Rd<uint32_t>(g.mem, zp + 0x260) == 0x200000);      // init_size
  CHECK(Rd<uint32_t>(g.mem, zp + 0x228) == kCmdlineAddr);
  CHECK(Rd<uint64_t>(g.mem, zp + 0x070) == 0xe0000);       // acpi_rsdp_addr
  std::string cl(rq.cmdline.size() + 1, 'x');
  REQUIRE(g.mem.read(kCmdlineAddr, cl.data(), cl.size()));
  CHECK(cl == rq.cmdline + std::string(1, '\0'));
  // Initrd: highest page-aligned spot below 64 MiB.
  const uint32_t rd = Rd<uint32_t>(g.mem, zp + 0x218);
  CHECK(rd == ((64 * kMiB - initrd.size()) & ~uint64_t{0xfff}));
  CHECK(Rd<uint32_t>(g.mem, zp + 0x21c) == initrd.size());
  CHECK(Rd<uint32_t>(g.mem, zp + 0x0c0) == 0);
  std::vector<uint8_t> rdb(initrd.size());
  REQUIRE(g.mem.read(rd, rdb.data(), rdb.size()));
  CHECK(rdb == initrd);
  // e820 in the zero page.
  REQUIRE(Rd<uint8_t>(g.mem, zp + 0x1e8) == 3);
  CHECK(Rd<uint64_t>(g.mem, zp + 0x2d0 + 20) == 0x9fc00);
  CHECK(Rd<uint32_t>(g.mem, zp + 0x2d0 + 20 + 16) == kE820Reserved);
  CHECK(Rd<uint64_t>(g.mem, zp + 0x2d0 + 40 + 8) == 63 * kMiB);
  // Data blob.
  std::vector<uint8_t> bb(100);
  REQUIRE(g.mem.read(0x3000000, bb.data(), bb.size()));
  CHECK(bb == blob);
  // GDT and page tables.
  CHECK(Rd<uint64_t>(g.mem, kGdtAddr + 0x10) == 0x00af9b000000ffffull);
  CHECK(Rd<uint64_t>(g.mem, kGdtAddr + 0x18) == 0x00cf93000000ffffull);
  CHECK(Rd<uint64_t>(g.mem, kGdtAddr + 0x20) == 0x00cf9b000000ffffull);
  CHECK(Rd<uint64_t>(g.mem, kPml4Addr) == (kPdptAddr | 3));
  CHECK(Rd<uint64_t>(g.mem, kPdptAddr + 24) == ((kPdAddr + 0x3000) | 3));
  CHECK(Rd<uint64_t>(g.mem, kPdAddr + 8) == 0x200083);
  CHECK(Rd<uint64_t>(g.mem, kPdAddr + 2047 * 8) == (0xffe00000ull | 0x83));
  CHECK(!Describe(*st).empty());
}

TEST_CASE("bzImage: initrd respects initrd_addr_max and the kernel", "[boot]") {
  TempDir td;
  Guest g;
  BzOpts o;
  o.initrd_addr_max = 0x1ffffff;  // 32 MiB
  BootRequest rq;
  rq.kernel_path = td.write("bz", MakeBz(o));
  rq.initrd_path = td.write("initrd", Pattern(0x1000, 1));
  auto st = LoadX86(g.mem, rq);
  REQUIRE(st.ok());
  CHECK(Rd<uint32_t>(g.mem, kZeroPageAddr + 0x218) == 0x2000000 - 0x1000);

  // Kernel footprint runs to pref 16 MiB + init_size 2 MiB = 18 MiB; with
  // initrd_addr_max at 19 MiB a 2 MiB initrd cannot fit.
  Guest g2;
  o.initrd_addr_max = 19 * kMiB - 1;
  rq.kernel_path = td.write("bz2", MakeBz(o));
  rq.initrd_path = td.write("initrd2", std::vector<uint8_t>(2 * kMiB, 1));
  auto st2 = LoadX86(g2.mem, rq);
  REQUIRE(!st2.ok());
  CHECK(Contains(st2.status(), "initrd2: initrd"));
  CHECK(Contains(st2.status(), "does not fit"));

  // Bigger than RAM.
  Guest g3(8 * kMiB);
  BzOpts o3;
  o3.pref = 0x100000;
  rq.kernel_path = td.write("bz3", MakeBz(o3));
  rq.initrd_path = td.write("initrd3", std::vector<uint8_t>(7 * kMiB, 1));
  CHECK(!LoadX86(g3.mem, rq).ok());
}

TEST_CASE("bzImage: malformed headers are clear errors", "[boot]") {
  TempDir td;
  BootRequest rq;
  SECTION("setup_sects beyond the file") {
    Guest g;
    BzOpts o;
    o.kernel_size = 0;
    auto b = MakeBz(o);
    b[0x1f1] = 200;
    rq.kernel_path = td.write("bz", b);
    auto st = LoadX86(g.mem, rq);
    REQUIRE(!st.ok());
    CHECK(Contains(st.status(), rq.kernel_path + ": bzImage setup_sects 200"));
    CHECK(Contains(st.status(), "exceeds file size 2560"));
    CHECK(st.status().code() == absl::StatusCode::kInvalidArgument);
  }
  SECTION("old protocol") {
    Guest g;
    BzOpts o;
    o.version = 0x0208;
    rq.kernel_path = td.write("bz", MakeBz(o));
    auto st = LoadX86(g.mem, rq);
    REQUIRE(!st.ok());
    CHECK(Contains(st.status(), "boot protocol 2.08 is too old"));
  }
  SECTION("no 64-bit entry") {
    Guest g;
    BzOpts o;
    o.xloadflags = 0;
    rq.kernel_path = td.write("bz", MakeBz(o));
    auto st = LoadX86(g.mem, rq);
    REQUIRE(!st.ok());
    CHECK(Contains(st.status(), "XLF_KERNEL_64"));
  }
  SECTION("init_size larger than RAM") {
    Guest g;
    BzOpts o;
    o.init_size = 0x10000000;
    rq.kernel_path = td.write("bz", MakeBz(o));
    auto st = LoadX86(g.mem, rq);
    REQUIRE(!st.ok());
    CHECK(Contains(st.status(), "init_size 0x10000000"));
  }
  SECTION("init_size past 4 GiB") {
    Guest g;
    BzOpts o;
    o.init_size = 0xffffffff;
    rq.kernel_path = td.write("bz", MakeBz(o));
    auto st = LoadX86(g.mem, rq);
    REQUIRE(!st.ok());
    CHECK(Contains(st.status(), "below 4 GiB"));
  }
  SECTION("cmdline longer than cmdline_size") {
    Guest g;
    rq.kernel_path = td.write("bz", MakeBz());
    rq.cmdline = std::string(2048, 'a');
    auto st = LoadX86(g.mem, rq);
    REQUIRE(!st.ok());
    CHECK(Contains(st.status(), "cmdline_size"));
    rq.cmdline = std::string(2047, 'a');
    Guest g2;
    CHECK(LoadX86(g2.mem, rq).ok());
  }
  SECTION("cmdline longer than the 64 KiB buffer") {
    Guest g;
    BzOpts o;
    o.cmdline_size = 0x7fffffff;
    rq.kernel_path = td.write("bz", MakeBz(o));
    rq.cmdline = std::string(kCmdlineMax, 'a');
    CHECK(!LoadX86(g.mem, rq).ok());
    rq.cmdline = std::string(kCmdlineMax - 1, 'a');
    Guest g2;
    CHECK(LoadX86(g2.mem, rq).ok());
  }
  SECTION("cmdline with an embedded NUL") {
    Guest g;
    rq.kernel_path = td.write("bz", MakeBz());
    rq.cmdline = std::string("a\0b", 3);
    CHECK(!LoadX86(g.mem, rq).ok());
  }
  SECTION("truncated at every length") {
    auto full = MakeBz();
    for (size_t len = 0x206; len < full.size(); len += (len < 0x400 ? 1 : 61)) {
      Guest g(32 * kMiB);
      rq.kernel_path = td.write("bz", {full.begin(), full.begin() + long(len)});
      auto st = LoadX86(g.mem, rq);
      if (len <= 0xa00) {  // no protected-mode code at all
        REQUIRE(!st.ok());
        CHECK(Contains(st.status(), rq.kernel_path + ": "));
      } else {
        CHECK(st.ok());
      }
    }
  }
  SECTION("missing file") {
    Guest g;
    rq.kernel_path = td.path() + "/nope";
    auto st = LoadX86(g.mem, rq);
    REQUIRE(!st.ok());
    CHECK(Contains(st.status(), "nope: cannot open"));
  }
}

TEST_CASE("bzImage: random header corruption never crashes", "[boot]") {
  TempDir td;
  std::mt19937 rng(12345);
  auto base = MakeBz();
  int ok = 0, bad = 0;
  for (int iter = 0; iter < 400; iter++) {
    auto b = base;
    int flips = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < flips; i++) {
      size_t off = 0x1f1 + rng() % (0x270 - 0x1f1);
      b[off] = static_cast<uint8_t>(rng());
    }
    if (rng() % 4 == 0) b.resize(rng() % b.size());
    Guest g(32 * kMiB);
    BootRequest rq;
    rq.kernel_path = td.write("bz", b);
    rq.cmdline = "x";
    auto st = LoadX86(g.mem, rq);
    (st.ok() ? ok : bad)++;
    if (!st.ok()) CHECK(!st.status().message().empty());
  }
  CHECK(bad > 0);
}

TEST_CASE("PVH ELF: note found, hvm_start_info written", "[boot]") {
  TempDir td;
  Guest g;
  // Segment 0: 0x2000 bytes at paddr 16 MiB, bss to 0x5000; note at 0x200.
  auto b = MakeElf({{1, 0x1000, 0xffffffff81000000ull, 0x1000000, 0x2000,
                     0x5000},
                    {4, 0x200, 0, 0, 20, 20}},
                   0xffffffff81000100ull, 0x3000);
  AddPvhNote(b, 0x200, 0x1000040);
  auto payload = Pattern(0x2000, 5);
  std::copy(payload.begin(), payload.end(), b.begin() + 0x1000);
  REQUIRE(g.mem.fill(0x1000000, 0xaa, 0x6000));
  BootRequest rq;
  rq.kernel_path = td.write("vmlinux", b);
  rq.initrd_path = td.write("initrd", Pattern(0x1800, 2));
  rq.cmdline = "root=/dev/vda";
  rq.rsdp_addr = 0xe0000;
  auto st = LoadX86(g.mem, rq);
  REQUIRE(st.ok());
  CHECK(st->kind == "pvh-elf");
  CHECK(st->mode == CpuMode::Flat32);
  CHECK(st->rip == 0x1000040);
  CHECK(st->rbx == kPvhInfoAddr);
  CHECK(st->cr0 == 0x11);
  CHECK(st->cr3 == 0);
  CHECK(st->cs.selector == kSelCode32);
  CHECK(st->cs.db);
  CHECK(!st->cs.l);
  std::vector<uint8_t> k(0x2000);
  REQUIRE(g.mem.read(0x1000000, k.data(), k.size()));
  CHECK(k == payload);
  CHECK(Rd<uint64_t>(g.mem, 0x1002000) == 0);  // bss cleared
  CHECK(Rd<uint8_t>(g.mem, 0x1004fff) == 0);
  CHECK(Rd<uint8_t>(g.mem, 0x1005000) == 0xaa);
  const uint64_t si = kPvhInfoAddr;
  CHECK(Rd<uint32_t>(g.mem, si) == 0x336ec578);
  CHECK(Rd<uint32_t>(g.mem, si + 4) == 1);
  CHECK(Rd<uint32_t>(g.mem, si + 12) == 1);
  const uint64_t ml = Rd<uint64_t>(g.mem, si + 16);
  CHECK(Rd<uint64_t>(g.mem, si + 24) == kCmdlineAddr);
  CHECK(Rd<uint64_t>(g.mem, si + 32) == 0xe0000);
  const uint64_t mm = Rd<uint64_t>(g.mem, si + 40);
  REQUIRE(Rd<uint32_t>(g.mem, si + 48) == 3);
  CHECK(Rd<uint64_t>(g.mem, ml) == 64 * kMiB - 0x2000);
  CHECK(Rd<uint64_t>(g.mem, ml + 8) == 0x1800);
  CHECK(Rd<uint64_t>(g.mem, mm + 24) == 0x9fc00);
  CHECK(Rd<uint32_t>(g.mem, mm + 24 + 16) == kE820Reserved);
  CHECK(Rd<uint32_t>(g.mem, mm + 48 + 16) == kE820Ram);
}

TEST_CASE("ELF64 without a PVH note", "[boot]") {
  TempDir td;
  Guest g;
  // Virtual entry, translated through the segment.
  auto b = MakeElf({{1, 0x1000, 0xffffffff81000000ull, 0x1000000, 0x1000,
                     0x1000}},
                   0xffffffff81000080ull, 0x2000);
  BootRequest rq;
  rq.kernel_path = td.write("k.elf", b);
  rq.cmdline = "hello";
  auto st = LoadX86(g.mem, rq);
  REQUIRE(st.ok());
  CHECK(st->kind == "elf64");
  CHECK(st->mode == CpuMode::Long64);
  CHECK(st->rip == 0x1000080);
  CHECK(st->rsi == kZeroPageAddr);
  CHECK(Rd<uint32_t>(g.mem, kZeroPageAddr + 0x202) == 0x53726448);
  CHECK(Rd<uint32_t>(g.mem, kZeroPageAddr + 0x228) == kCmdlineAddr);
  CHECK(Rd<uint8_t>(g.mem, kZeroPageAddr + 0x1e8) == 3);

  SECTION("ELF32 without a note is refused") {
    auto b32 = MakeElf({{1, 0x1000, 0x100000, 0x100000, 0x100, 0x100}},
                       0x100000, 0x2000, false, 3);
    Guest g2;
    rq.kernel_path = td.write("k32.elf", b32);
    auto s2 = LoadX86(g2.mem, rq);
    REQUIRE(!s2.ok());
    CHECK(Contains(s2.status(), "not an x86_64 executable"));
  }
  SECTION("entry outside every segment") {
    auto bad = MakeElf({{1, 0x1000, 0x100000, 0x100000, 0x100, 0x100}},
                       0x900000, 0x2000);
    Guest g2;
    rq.kernel_path = td.write("k.elf", bad);
    auto s2 = LoadX86(g2.mem, rq);
    REQUIRE(!s2.ok());
    CHECK(Contains(s2.status(), "entry point"));
  }
}

TEST_CASE("ELF: malformed images are clear errors", "[boot]") {
  TempDir td;
  BootRequest rq;
  auto expect = [&](std::vector<uint8_t> b, const std::string& what) {
    Guest g;
    rq.kernel_path = td.write("bad.elf", b);
    auto st = LoadX86(g.mem, rq);
    REQUIRE(!st.ok());
    INFO(st.status().message());
    CHECK(Contains(st.status(), rq.kernel_path + ": "));
    CHECK(Contains(st.status(), what));
  };
  SECTION("phdr table out of file") {
    auto b = MakeElf({{1, 0x1000, 0x100000, 0x100000, 0x100, 0x100}},
                     0x100000, 0x2000);
    Put<uint64_t>(b, 32, 0x1fff);
    expect(b, "program header table");
  }
  SECTION("phnum huge") {
    auto b = MakeElf({{1, 0x1000, 0x100000, 0x100000, 0x100, 0x100}},
                     0x100000, 0x2000);
    Put<uint16_t>(b, 56, 0xffff);
    expect(b, "e_phnum");
  }
  SECTION("p_offset + p_filesz past EOF") {
    expect(MakeElf({{1, 0x1000, 0x100000, 0x100000, 0x1001, 0x2000}},
                   0x100000, 0x2000),
           "extends past end of file");
    expect(MakeElf({{1, ~0ull - 4, 0x100000, 0x100000, 0x10, 0x2000}},
                   0x100000, 0x2000),
           "extends past end of file");
  }
  SECTION("p_filesz > p_memsz") {
    expect(MakeElf({{1, 0x1000, 0x100000, 0x100000, 0x800, 0x400}},
                   0x100000, 0x2000),
           "exceeds p_memsz");
  }
  SECTION("paddr + memsz overflows") {
    expect(MakeElf({{1, 0x1000, 0, ~0ull - 0x10, 0x100, 0x100}},
                   0x100000, 0x2000),
           "overflows");
  }
  SECTION("segment outside RAM") {
    expect(MakeElf({{1, 0x1000, 0x100000, 0x8000000, 0x100, 0x100}},
                   0x8000000, 0x2000),
           "outside guest RAM");
  }
  SECTION("segment over the boot tables") {
    expect(MakeElf({{1, 0x1000, 0x10000, 0x10000, 0x100, 0x100}}, 0x10000,
                   0x2000),
           "overlaps zero page");
  }
  SECTION("note overruns its segment") {
    auto b = MakeElf({{1, 0x1000, 0x100000, 0x100000, 0x100, 0x100},
                      {4, 0x200, 0, 0, 20, 20}},
                     0x100000, 0x2000);
    AddPvhNote(b, 0x200, 0x100000);
    Put<uint32_t>(b, 0x204, 0x1000);  // descsz
    expect(b, "note desc size");
  }
  SECTION("PVH entry above 4 GiB") {
    auto b = MakeElf({{1, 0x1000, 0x100000, 0x100000, 0x100, 0x100},
                      {4, 0x200, 0, 0, 24, 24}},
                     0x100000, 0x2000);
    Put<uint32_t>(b, 0x200, 4);
    Put<uint32_t>(b, 0x204, 8);
    Put<uint32_t>(b, 0x208, 18);
    std::memcpy(b.data() + 0x20c, "Xen", 4);
    Put<uint64_t>(b, 0x210, 0x100000000ull);
    expect(b, "above 4 GiB");
  }
  SECTION("header truncated") {
    auto b = MakeElf({{1, 0x1000, 0x100000, 0x100000, 0x100, 0x100}},
                     0x100000, 0x2000);
    b.resize(40);
    expect(b, "truncated");
  }
}

TEST_CASE("ELF: random corruption never crashes", "[boot]") {
  TempDir td;
  std::mt19937 rng(777);
  auto base = MakeElf({{1, 0x1000, 0x100000, 0x100000, 0x400, 0x800},
                       {4, 0x200, 0, 0, 20, 20}},
                      0x100000, 0x1400);
  AddPvhNote(base, 0x200, 0x100000);
  int bad = 0;
  for (int iter = 0; iter < 400; iter++) {
    auto b = base;
    int flips = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < flips; i++) {
      size_t off = rng() % 0x220;
      b[off] = static_cast<uint8_t>(rng());
    }
    Guest g(32 * kMiB);
    BootRequest rq;
    rq.kernel_path = td.write("f.elf", b);
    auto st = LoadX86(g.mem, rq);
    if (!st.ok()) bad++;
  }
  CHECK(bad > 0);
}

TEST_CASE("raw images", "[boot]") {
  TempDir td;
  auto img = Pattern(0x1234, 77);
  BootRequest rq;
  rq.kernel_path = td.write("raw.bin", img);
  {
    Guest g;
    auto st = LoadX86(g.mem, rq);
    REQUIRE(st.ok());
    CHECK(st->kind == "raw");
    CHECK(st->mode == CpuMode::Flat32);
    CHECK(st->rip == 0x100000);
    CHECK(st->rsp == 0x80000);
    CHECK(st->cs.selector == kSelCode32);
    std::vector<uint8_t> k(img.size());
    REQUIRE(g.mem.read(0x100000, k.data(), k.size()));
    CHECK(k == img);
  }
  {
    Guest g;
    rq.kernel_addr = 0x400000;
    auto st = LoadX86(g.mem, rq);
    REQUIRE(st.ok());
    CHECK(st->rip == 0x400000);
  }
  {
    Guest g;
    rq.kernel_addr = 0x1000;
    auto st = LoadX86(g.mem, rq);
    REQUIRE(!st.ok());
    CHECK(Contains(st.status(), "overlaps GDT"));
  }
  {
    Guest g;
    rq.kernel_addr = 0xe8000;
    rq.rsdp_addr = 0xe0000;
    auto st = LoadX86(g.mem, rq);
    REQUIRE(!st.ok());
    CHECK(Contains(st.status(), "overlaps ACPI tables"));
    rq.rsdp_addr = 0;
  }
  {
    Guest g;
    rq.kernel_addr = 64 * kMiB - 0x1000;
    auto st = LoadX86(g.mem, rq);
    REQUIRE(!st.ok());
    CHECK(Contains(st.status(), "not inside one guest memory region"));
  }
  {
    Guest g;
    rq.kernel_addr.reset();
    rq.initrd_path = rq.kernel_path;
    CHECK(!LoadX86(g.mem, rq).ok());
    rq.initrd_path.clear();
  }
  {
    Guest g;
    rq.kernel_path = td.write("empty", {});
    CHECK(!LoadX86(g.mem, rq).ok());
  }
}

TEST_CASE("data blobs are checked", "[boot]") {
  TempDir td;
  BootRequest rq;
  rq.kernel_path = td.write("raw.bin", Pattern(0x2000, 1));
  auto blob = td.write("blob", Pattern(0x100, 2));
  {
    Guest g;
    rq.data = {{0x101000, blob}};
    auto st = LoadX86(g.mem, rq);
    REQUIRE(!st.ok());
    CHECK(Contains(st.status(), "blob: data"));
    CHECK(Contains(st.status(), "overlaps kernel"));
  }
  {
    Guest g;
    rq.data = {{~0ull - 0x10, blob}};
    CHECK(!LoadX86(g.mem, rq).ok());
  }
  {
    Guest g;
    rq.data = {{0x200000, td.path() + "/missing"}};
    CHECK(!LoadX86(g.mem, rq).ok());
  }
}

namespace {

// A Multiboot 1 header at `off`: magic, flags, checksum, then the a.out
// address fields when flag 16 is set.
void AddMbHeader(std::vector<uint8_t>& b, size_t off, uint32_t flags,
                 uint32_t header_addr = 0, uint32_t load_addr = 0,
                 uint32_t load_end = 0, uint32_t bss_end = 0,
                 uint32_t entry = 0) {
  Put<uint32_t>(b, off, 0x1badb002);
  Put<uint32_t>(b, off + 4, flags);
  Put<uint32_t>(b, off + 8, static_cast<uint32_t>(0u - 0x1badb002u - flags));
  if (flags & (1u << 16)) {
    Put<uint32_t>(b, off + 12, header_addr);
    Put<uint32_t>(b, off + 16, load_addr);
    Put<uint32_t>(b, off + 20, load_end);
    Put<uint32_t>(b, off + 24, bss_end);
    Put<uint32_t>(b, off + 28, entry);
  }
}

}  // namespace

TEST_CASE("Multiboot 1: a.out kludge image", "[boot]") {
  TempDir td;
  Guest g;
  auto img = Pattern(0x1000, 11);
  AddMbHeader(img, 0x40, (1u << 16) | 3, 0x100040, 0x100000, 0, 0x102000,
              0x100080);
  REQUIRE(g.mem.fill(0x101000, 0xcc, 0x2000));
  BootRequest rq;
  rq.kernel_path = td.write("mb.bin", img);
  rq.initrd_path = td.write("mod", Pattern(0x300, 4));
  rq.cmdline = "startup -v";
  auto st = LoadX86(g.mem, rq);
  REQUIRE(st.ok());
  CHECK(st->kind == "multiboot");
  CHECK(st->mode == CpuMode::Flat32);
  CHECK(st->rip == 0x100080);
  CHECK(st->rax == 0x2badb002);
  CHECK(st->rbx == kMbInfoAddr);
  std::vector<uint8_t> k(img.size());
  REQUIRE(g.mem.read(0x100000, k.data(), k.size()));
  CHECK(k == img);
  CHECK(Rd<uint8_t>(g.mem, 0x101000) == 0);     // bss cleared
  CHECK(Rd<uint8_t>(g.mem, 0x101fff) == 0);
  CHECK(Rd<uint8_t>(g.mem, 0x102000) == 0xcc);  // beyond bss untouched
  const uint64_t mbi = kMbInfoAddr;
  const uint32_t flags = Rd<uint32_t>(g.mem, mbi);
  CHECK(flags == (1u | 4u | 8u | 64u | 512u));
  CHECK(Rd<uint32_t>(g.mem, mbi + 4) == 639);
  CHECK(Rd<uint32_t>(g.mem, mbi + 8) == 63 * 1024);
  // The command line's first word is the image's name (GRUB, QEMU).
  CHECK(Str(g.mem, Rd<uint32_t>(g.mem, mbi + 16)) == rq.kernel_path + " startup -v");
  CHECK(Rd<uint32_t>(g.mem, mbi + 20) == 1);
  const uint32_t mods = Rd<uint32_t>(g.mem, mbi + 24);
  CHECK(Rd<uint32_t>(g.mem, mods) == 64 * kMiB - 0x1000);
  CHECK(Rd<uint32_t>(g.mem, mods + 4) == 64 * kMiB - 0x1000 + 0x300);
  CHECK(Str(g.mem, Rd<uint32_t>(g.mem, mods + 8)) == rq.initrd_path);
  CHECK(Rd<uint32_t>(g.mem, mbi + 44) == 3 * 24);
  const uint32_t mmap = Rd<uint32_t>(g.mem, mbi + 48);
  CHECK(Rd<uint32_t>(g.mem, mmap) == 20);
  CHECK(Rd<uint64_t>(g.mem, mmap + 24 + 4) == 0x9fc00);
  CHECK(Rd<uint32_t>(g.mem, mmap + 24 + 20) == kE820Reserved);
  CHECK(Rd<uint32_t>(g.mem, Rd<uint32_t>(g.mem, mbi + 64)) == 0x6d7671);  // "qvm"
}

TEST_CASE("Multiboot 1: ELF image and malformed headers", "[boot]") {
  TempDir td;
  BootRequest rq;
  SECTION("ELF32 with a Multiboot header") {
    auto b = MakeElf({{1, 0x1000, 0x200000, 0x200000, 0x100, 0x400}},
                     0x200010, 0x2000, false, 3);
    AddMbHeader(b, 0x1000, 0x2);
    Guest g;
    rq.kernel_path = td.write("mb.elf", b);
    auto st = LoadX86(g.mem, rq);
    REQUIRE(st.ok());
    CHECK(st->kind == "multiboot");
    CHECK(st->rip == 0x200010);
    CHECK(st->rax == 0x2badb002);
  }
  auto expect = [&](std::vector<uint8_t> b, const std::string& what) {
    Guest g;
    rq.kernel_path = td.write("mb.bin", b);
    auto st = LoadX86(g.mem, rq);
    REQUIRE(!st.ok());
    INFO(st.status().message());
    CHECK(Contains(st.status(), rq.kernel_path + ": "));
    CHECK(Contains(st.status(), what));
  };
  SECTION("unsupported requirement (video mode)") {
    auto img = Pattern(0x1000, 1);
    AddMbHeader(img, 0, (1u << 16) | 4, 0x100000, 0x100000, 0, 0, 0x100000);
    expect(img, "requires features 0x4");
  }
  SECTION("load_end below load_addr") {
    auto img = Pattern(0x1000, 1);
    AddMbHeader(img, 0, 1u << 16, 0x100000, 0x100000, 0xff000, 0, 0x100000);
    expect(img, "load_end_addr");
  }
  SECTION("load_end past the file") {
    auto img = Pattern(0x1000, 1);
    AddMbHeader(img, 0, 1u << 16, 0x100000, 0x100000, 0x180000, 0, 0x100000);
    expect(img, "only 0x1000 follow");
  }
  SECTION("header_addr before the file start") {
    auto img = Pattern(0x1000, 1);
    AddMbHeader(img, 0x10, 1u << 16, 0x100100, 0x100000, 0, 0, 0x100000);
    expect(img, "before the file start");
  }
  SECTION("entry outside the image") {
    auto img = Pattern(0x1000, 1);
    AddMbHeader(img, 0, 1u << 16, 0x100000, 0x100000, 0, 0, 0x200000);
    expect(img, "entry_addr");
  }
  SECTION("bss_end below the image end") {
    auto img = Pattern(0x1000, 1);
    AddMbHeader(img, 0, 1u << 16, 0x100000, 0x100000, 0, 0x100800, 0x100000);
    expect(img, "bss_end_addr");
  }
  SECTION("image outside RAM") {
    auto img = Pattern(0x1000, 1);
    AddMbHeader(img, 0, 1u << 16, 0xf0000000, 0xf0000000, 0, 0, 0xf0000000);
    expect(img, "outside guest RAM");
  }
  SECTION("address fields cut off by EOF") {
    std::vector<uint8_t> img(16, 0);
    AddMbHeader(img, 0, 0x2);
    Put<uint32_t>(img, 4, 1u << 16);
    Put<uint32_t>(img, 8, static_cast<uint32_t>(0u - 0x1badb002u - (1u << 16)));
    expect(img, "past end of file");
  }
  SECTION("no address fields and not ELF") {
    auto img = Pattern(0x1000, 1);
    AddMbHeader(img, 0x100, 0x2);
    expect(img, "not ELF");
  }
}

TEST_CASE("Multiboot 1: random header corruption never crashes", "[boot]") {
  TempDir td;
  std::mt19937 rng(4242);
  auto base = Pattern(0x800, 3);
  AddMbHeader(base, 0x20, (1u << 16) | 3, 0x100020, 0x100000, 0x100800,
              0x101000, 0x100040);
  for (int iter = 0; iter < 300; iter++) {
    auto b = base;
    // Corrupt the address fields, then fix the checksum so the header is
    // still recognised.
    int flips = 1 + static_cast<int>(rng() % 5);
    for (int i = 0; i < flips; i++) b[0x2c + rng() % 20] = uint8_t(rng());
    uint32_t flags = (1u << 16) | (rng() % 4 == 0 ? uint32_t(rng()) & 0xffff : 3u);
    Put<uint32_t>(b, 0x24, flags);
    Put<uint32_t>(b, 0x28, static_cast<uint32_t>(0u - 0x1badb002u - flags));
    if (rng() % 4 == 0) b.resize(0x20 + rng() % 0x40);
    Guest g(32 * kMiB);
    BootRequest rq;
    rq.kernel_path = td.write("f.bin", b);
    auto st = LoadX86(g.mem, rq);
    if (!st.ok()) CHECK(!st.status().message().empty());
  }
}

TEST_CASE("Multiboot 1: modules, strings, info kept clear of the image", "[boot]") {
  TempDir td;
  Guest g;
  // Image at 0x8000 with bss to 0x30000: covers 0x9000 and 0x20000, where
  // a fixed-address loader would put its info and command line.
  auto img = Pattern(0x1000, 5);
  AddMbHeader(img, 0x20, (1u << 16) | 3, 0x8020, 0x8000, 0, 0x30000, 0x8040);
  BootRequest rq;
  rq.kernel_path = td.write("low.bin", img);
  rq.cmdline = "a b";
  rq.modules = {{td.write("m1", Pattern(0x2345, 1)), "m1 -x"},
                {td.write("m2", {}), "empty"}};
  auto st = LoadX86(g.mem, rq);
  REQUIRE(st.ok());
  const uint64_t mbi = st->rbx;
  CHECK(mbi >= 0x30000);  // above the image's bss
  CHECK(mbi % 8 == 0);
  std::vector<uint8_t> k(img.size());
  REQUIRE(g.mem.read(0x8000, k.data(), k.size()));
  CHECK(k == img);
  for (uint64_t a = 0x9000; a < 0x30000; a += 0x1000)
    CHECK(Rd<uint32_t>(g.mem, a) == 0);  // bss stays zero
  const uint32_t flags = Rd<uint32_t>(g.mem, mbi);
  CHECK((flags & 8u) != 0);
  CHECK(Str(g.mem, Rd<uint32_t>(g.mem, mbi + 16)) == rq.kernel_path + " a b");
  REQUIRE(Rd<uint32_t>(g.mem, mbi + 20) == 2);
  const uint32_t mods = Rd<uint32_t>(g.mem, mbi + 24);
  const uint32_t s1 = Rd<uint32_t>(g.mem, mods), e1 = Rd<uint32_t>(g.mem, mods + 4);
  CHECK(s1 % 4096 == 0);
  CHECK(e1 - s1 == 0x2345);
  CHECK(Rd<uint8_t>(g.mem, s1 + 7) == Pattern(0x2345, 1)[7]);
  CHECK(Str(g.mem, Rd<uint32_t>(g.mem, mods + 8)) == "m1 -x");
  CHECK(Rd<uint32_t>(g.mem, mods + 16) % 4096 == 0);
  CHECK(Rd<uint32_t>(g.mem, mods + 20) == Rd<uint32_t>(g.mem, mods + 16));  // empty
  CHECK(Str(g.mem, Rd<uint32_t>(g.mem, mods + 24)) == "empty");
  CHECK(Str(g.mem, Rd<uint32_t>(g.mem, mbi + 64)) == "qvm");

  SECTION("modules are refused for non-Multiboot images") {
    Guest g2;
    BootRequest r2;
    r2.kernel_path = td.write("raw.bin", Pattern(0x100, 1));
    r2.modules = {{rq.modules[0].path, "x"}};
    auto st2 = LoadX86(g2.mem, r2);
    REQUIRE(!st2.ok());
    CHECK(Contains(st2.status(), "needs a Multiboot kernel"));
  }
}

namespace {

// A Multiboot 2 header at `off` (8-aligned) with the given tags (each a
// complete tag, padded to 8 bytes here) and an end tag.
void AddMb2Header(std::vector<uint8_t>& b, size_t off,
                  const std::vector<std::vector<uint32_t>>& tags, uint32_t arch = 0) {
  std::vector<uint32_t> w = {0xe85250d6, arch, 0, 0};
  for (const auto& t : tags) {
    w.insert(w.end(), t.begin(), t.end());
    if (w.size() % 2) w.push_back(0);
  }
  w.push_back(0);
  w.push_back(8);
  w[2] = static_cast<uint32_t>(w.size() * 4);
  w[3] = 0u - (w[0] + w[1] + w[2]);
  for (size_t i = 0; i < w.size(); i++) Put<uint32_t>(b, off + i * 4, w[i]);
}

uint32_t Get32(const std::vector<uint8_t>& b, size_t off) {
  uint32_t v = 0;
  if (off + 4 <= b.size()) std::memcpy(&v, b.data() + off, 4);
  return v;
}

// Tag header word: type | flags << 16.
constexpr uint32_t T(uint16_t type, uint16_t flags = 0) {
  return type | uint32_t{flags} << 16;
}

}  // namespace

TEST_CASE("Multiboot 2: address tag image and information tags", "[boot]") {
  TempDir td;
  Guest g;
  auto img = Pattern(0x2000, 9);
  AddMb2Header(img, 0x48,
               {{T(2), 24, 0x200048, 0x200000, 0, 0x204000},
                {T(3), 12, 0x200100},
                {T(1), 20, 1, 3, 6},       // request cmdline, modules, mmap
                {T(5, 1), 20, 0, 0, 32},   // framebuffer, optional
                {T(6), 8}});
  BootRequest rq;
  rq.kernel_path = td.write("mb2.bin", img);
  rq.cmdline = "-v";
  rq.initrd_path = td.write("rd", Pattern(0x1800, 2));
  rq.modules = {{td.write("m", Pattern(0x10, 3)), "m arg"}};
  // A fake RSDP (revision 2) where BuildAcpi would put it.
  std::vector<uint8_t> rsdp(36, 0);
  std::memcpy(rsdp.data(), "RSD PTR ", 8);
  rsdp[15] = 2;
  rsdp[35] = 0x5a;
  REQUIRE(g.mem.write(0xe0000, rsdp.data(), rsdp.size(), true));
  rq.rsdp_addr = 0xe0000;
  auto st = LoadX86(g.mem, rq);
  REQUIRE(st.ok());
  CHECK(st->kind == "multiboot2");
  CHECK(st->mode == CpuMode::Flat32);
  CHECK(st->cr0 == 0x11);
  CHECK(st->rip == 0x200100);
  CHECK(st->rax == 0x36d76289);
  const uint64_t mbi = st->rbx;
  CHECK(mbi % 8 == 0);
  CHECK(Rd<uint8_t>(g.mem, 0x202000) == 0);  // bss cleared
  const uint32_t total = Rd<uint32_t>(g.mem, mbi);
  REQUIRE(total > 16);
  REQUIRE(total < 0x10000);
  std::map<uint32_t, std::vector<uint64_t>> tags;  // type -> tag addresses
  uint64_t t = mbi + 8;
  bool ended = false;
  while (t < mbi + total) {
    CHECK(t % 8 == 0);
    uint32_t type = Rd<uint32_t>(g.mem, t), size = Rd<uint32_t>(g.mem, t + 4);
    REQUIRE(size >= 8);
    tags[type].push_back(t);
    if (type == 0) {
      ended = true;
      CHECK(size == 8);
      CHECK(t + 8 == mbi + total);
      break;
    }
    t += (size + 7) & ~7u;
  }
  CHECK(ended);
  REQUIRE(tags[1].size() == 1);
  CHECK(Str(g.mem, tags[1][0] + 8) == rq.kernel_path + " -v");
  REQUIRE(tags[2].size() == 1);
  CHECK(Str(g.mem, tags[2][0] + 8) == "qvm");
  REQUIRE(tags[3].size() == 2);
  CHECK(Rd<uint32_t>(g.mem, tags[3][0] + 12) - Rd<uint32_t>(g.mem, tags[3][0] + 8) == 0x1800);
  CHECK(Str(g.mem, tags[3][0] + 16) == rq.initrd_path);
  CHECK(Rd<uint32_t>(g.mem, tags[3][1] + 8) % 4096 == 0);
  CHECK(Str(g.mem, tags[3][1] + 16) == "m arg");
  REQUIRE(tags[4].size() == 1);
  CHECK(Rd<uint32_t>(g.mem, tags[4][0] + 8) == 639);
  CHECK(Rd<uint32_t>(g.mem, tags[4][0] + 12) == 63 * 1024);
  REQUIRE(tags[6].size() == 1);
  CHECK(Rd<uint32_t>(g.mem, tags[6][0] + 4) == 16 + 3 * 24);
  CHECK(Rd<uint32_t>(g.mem, tags[6][0] + 8) == 24);
  CHECK(Rd<uint64_t>(g.mem, tags[6][0] + 16 + 24) == 0x9fc00);
  CHECK(Rd<uint32_t>(g.mem, tags[6][0] + 16 + 24 + 16) == kE820Reserved);
  REQUIRE(tags[14].size() == 1);
  CHECK(Rd<uint32_t>(g.mem, tags[14][0] + 4) == 28);
  CHECK(Str(g.mem, tags[14][0] + 8).substr(0, 8) == "RSD PTR ");
  REQUIRE(tags[15].size() == 1);
  CHECK(Rd<uint32_t>(g.mem, tags[15][0] + 4) == 44);
  CHECK(Rd<uint8_t>(g.mem, tags[15][0] + 8 + 35) == 0x5a);
  CHECK(tags.count(8) == 0);  // no framebuffer
}

TEST_CASE("Multiboot 2: ELF image, preference and malformed headers", "[boot]") {
  TempDir td;
  BootRequest rq;
  SECTION("ELF32 with only a Multiboot 2 header") {
    auto b = MakeElf({{1, 0x1000, 0x200000, 0x200000, 0x100, 0x400}}, 0x200010, 0x2000, false, 3);
    AddMb2Header(b, 0x1000, {});
    Guest g;
    rq.kernel_path = td.write("mb2.elf", b);
    auto st = LoadX86(g.mem, rq);
    REQUIRE(st.ok());
    CHECK(st->kind == "multiboot2");
    CHECK(st->rip == 0x200010);
  }
  SECTION("both headers: Multiboot 1 wins (as under QEMU -kernel)") {
    auto b = MakeElf({{1, 0x1000, 0x200000, 0x200000, 0x100, 0x400}}, 0x200010, 0x2000, false, 3);
    AddMb2Header(b, 0x1000, {});
    AddMbHeader(b, 0x1080, 0x2);
    Guest g;
    rq.kernel_path = td.write("both.elf", b);
    auto st = LoadX86(g.mem, rq);
    REQUIRE(st.ok());
    CHECK(st->kind == "multiboot");
  }
  auto expect = [&](std::vector<uint8_t> b, const std::string& what) {
    Guest g;
    rq.kernel_path = td.write("mb2.bin", b);
    auto st = LoadX86(g.mem, rq);
    REQUIRE(!st.ok());
    INFO(st.status().message());
    CHECK(Contains(st.status(), rq.kernel_path + ": "));
    CHECK(Contains(st.status(), what));
  };
  SECTION("required framebuffer") {
    auto img = Pattern(0x1000, 1);
    AddMb2Header(img, 0, {{T(2), 24, 0x100000, 0x100000, 0, 0}, {T(3), 12, 0x100100},
                          {T(5), 20, 1024, 768, 32}});
    expect(img, "framebuffer");
  }
  SECTION("required information tag we lack") {
    auto img = Pattern(0x1000, 1);
    AddMb2Header(img, 0, {{T(2), 24, 0x100000, 0x100000, 0, 0}, {T(3), 12, 0x100100},
                          {T(1), 12, 8}});
    expect(img, "information tag 8");
  }
  SECTION("optional information request is fine") {
    auto img = Pattern(0x1000, 1);
    AddMb2Header(img, 0, {{T(2), 24, 0x100000, 0x100000, 0, 0}, {T(3), 12, 0x100100},
                          {T(1, 1), 12, 8}});
    Guest g;
    rq.kernel_path = td.write("ok.bin", img);
    CHECK(LoadX86(g.mem, rq).ok());
  }
  SECTION("address tag without entry tag") {
    auto img = Pattern(0x1000, 1);
    AddMb2Header(img, 0, {{T(2), 24, 0x100000, 0x100000, 0, 0}});
    expect(img, "entry address tag");
  }
  SECTION("non-i386 architecture") {
    auto img = Pattern(0x1000, 1);
    AddMb2Header(img, 0, {}, 4);
    expect(img, "architecture 4");
  }
  SECTION("tag overrunning the header") {
    auto img = Pattern(0x1000, 1);
    AddMb2Header(img, 0, {{T(3), 200, 0x100100}});
    expect(img, "has size 200");
  }
  SECTION("load_addr -1 loads from the file start") {
    auto img = Pattern(0x1000, 1);
    AddMb2Header(img, 0x40, {{T(2), 24, 0x300040, 0xffffffff, 0, 0}, {T(3), 12, 0x300080}});
    Guest g;
    rq.kernel_path = td.write("m1.bin", img);
    auto st = LoadX86(g.mem, rq);
    REQUIRE(st.ok());
    std::vector<uint8_t> k(img.size());
    REQUIRE(g.mem.read(0x300000, k.data(), k.size()));
    CHECK(k == img);
  }
}

TEST_CASE("Multiboot 2: random header corruption never crashes", "[boot]") {
  TempDir td;
  std::mt19937 rng(777);
  auto base = Pattern(0x800, 3);
  AddMb2Header(base, 0x20, {{T(2), 24, 0x100020, 0x100000, 0x100800, 0x101000},
                            {T(3), 12, 0x100040}, {T(1), 16, 1, 6}});
  const uint32_t hlen = Get32(base, 0x28);
  for (int iter = 0; iter < 500; iter++) {
    auto b = base;
    int flips = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < flips; i++) b[0x30 + rng() % (hlen - 16)] = uint8_t(rng());
    if (rng() % 3 == 0) Put<uint32_t>(b, 0x28, uint32_t(rng()) & 0x1ff8);
    uint32_t len = Get32(b, 0x28);
    Put<uint32_t>(b, 0x2c, 0u - (0xe85250d6u + 0u + len));
    if (rng() % 4 == 0) b.resize(0x20 + rng() % 0x80);
    Guest g(32 * kMiB);
    BootRequest rq;
    rq.kernel_path = td.write("f.bin", b);
    auto st = LoadX86(g.mem, rq);
    if (!st.ok()) CHECK(!st.status().message().empty());
  }
}
