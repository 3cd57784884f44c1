// NetBSD/OpenBSD/FreeBSD native amd64 boot protocols (boot/bsd + the
// loader in boot/x86): synthetic ELF kernels, and every record checked byte
// for byte against the layouts those systems document (bootinfo.h,
// biosvar.h/bootarg.h, linker.h/metadata.h) — the expected bytes are
// written out here independently of boot/bsd.cc.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "boot/bsd.h"
#include "boot/x86.h"
#include "test/unit/temp_dir.h"
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
std::vector<uint8_t> RdBytes(const GuestMemory& m, uint64_t gpa, size_t n) {
  std::vector<uint8_t> b(n);
  REQUIRE(m.read(gpa, b.data(), n));
  return b;
}

// Layout of the synthetic kernel file.
constexpr size_t kNoteOff = 0x200, kText = 0x1000, kTextSize = 0x1000, kMemSize = 0x3000;
constexpr size_t kSymOff = 0x2000, kSymSize = 48, kStrOff = 0x2030, kStrSize = 10;
constexpr size_t kShstrOff = 0x2040, kShdrOff = 0x2100, kShnum = 5;

struct KOpts {
  uint8_t osabi = 0;
  std::string note;  // "" = no note
  uint64_t vaddr = 0xffffffff80200000ull;
  uint64_t paddr = 0xffffffff80200000ull;
  uint64_t entry_off = 0x10;
  bool symbols = true;
  bool pvh_note = false;
};

std::vector<uint8_t> MakeKernel(const KOpts& o) {
  std::vector<uint8_t> f(kShdrOff + kShnum * 64, 0);
  f[0] = 0x7f; f[1] = 'E'; f[2] = 'L'; f[3] = 'F';
  f[4] = 2; f[5] = 1; f[6] = 1; f[7] = o.osabi;
  Put<uint16_t>(f, 16, 2);
  Put<uint16_t>(f, 18, 62);
  Put<uint32_t>(f, 20, 1);
  Put<uint64_t>(f, 24, o.vaddr + o.entry_off);
  Put<uint64_t>(f, 32, 64);
  Put<uint64_t>(f, 40, o.symbols ? kShdrOff : 0);
  Put<uint16_t>(f, 52, 64);
  Put<uint16_t>(f, 54, 56);
  Put<uint16_t>(f, 56, 2);
  Put<uint16_t>(f, 58, 64);
  Put<uint16_t>(f, 60, o.symbols ? kShnum : 0);
  Put<uint16_t>(f, 62, o.symbols ? 4 : 0);
  // PT_LOAD
  Put<uint32_t>(f, 64, 1);
  Put<uint32_t>(f, 68, 7);
  Put<uint64_t>(f, 72, kText);
  Put<uint64_t>(f, 80, o.vaddr);
  Put<uint64_t>(f, 88, o.paddr);
  Put<uint64_t>(f, 96, kTextSize);
  Put<uint64_t>(f, 104, kMemSize);
  Put<uint64_t>(f, 112, 0x1000);
  // PT_NOTE over the notes at kNoteOff
  size_t nsz = 0;
  auto note = [&](const std::string& name, uint32_t type, uint32_t desc) {
    size_t at = kNoteOff + nsz;
    Put<uint32_t>(f, at, static_cast<uint32_t>(name.size() + 1));
    Put<uint32_t>(f, at + 4, 4);
    Put<uint32_t>(f, at + 8, type);
    std::memcpy(f.data() + at + 12, name.c_str(), name.size() + 1);
    size_t d = at + 12 + ((name.size() + 1 + 3) & ~size_t{3});
    Put<uint32_t>(f, d, desc);
    nsz = d + 4 - kNoteOff;
  };
  if (o.pvh_note) note("Xen", 18, static_cast<uint32_t>(o.paddr & 0x0fffffff));
  if (!o.note.empty()) note(o.note, 1, 0x0a000000);
  Put<uint32_t>(f, 120, 4);
  Put<uint64_t>(f, 128, kNoteOff);
  Put<uint64_t>(f, 152, nsz);  // p_filesz
  Put<uint64_t>(f, 160, nsz);  // p_memsz
  for (size_t i = 0; i < kTextSize; i++) f[kText + i] = static_cast<uint8_t>(i * 13 + 1);
  // .symtab: two Elf64_Sym; .strtab; .shstrtab
  for (size_t i = 0; i < kSymSize; i++) f[kSymOff + i] = static_cast<uint8_t>(0xa0 + i);
  std::memcpy(f.data() + kStrOff, "\0start\0end", kStrSize);
  const char shstr[] = "\0.text\0.symtab\0.strtab\0.shstrtab";
  std::memcpy(f.data() + kShstrOff, shstr, sizeof shstr);
  auto sh = [&](size_t i, uint32_t name, uint32_t type, uint64_t off, uint64_t size,
                uint32_t link) {
    size_t at = kShdrOff + i * 64;
    Put<uint32_t>(f, at, name);
    Put<uint32_t>(f, at + 4, type);
    Put<uint64_t>(f, at + 0x18, off);
    Put<uint64_t>(f, at + 0x20, size);
    Put<uint32_t>(f, at + 0x28, link);
  };
  sh(1, 1, 1, kText, kTextSize, 0);
  sh(2, 7, 2, kSymOff, kSymSize, 3);
  sh(3, 15, 3, kStrOff, kStrSize, 0);
  sh(4, 23, 3, kShstrOff, sizeof shstr, 0);
  return f;
}

struct Booted {
  GuestMemory mem;
  EntryState st;
};

absl::StatusOr<EntryState> Boot(GuestMemory& mem, const std::string& path,
                                const std::string& cmdline = "", const std::string& initrd = "") {
  BootRequest rq;
  rq.kernel_path = path;
  rq.cmdline = cmdline;
  rq.initrd_path = initrd;
  return LoadX86(mem, rq);
}

std::vector<E820Entry> E820Of(const GuestMemory& mem) { return BuildE820(mem); }

uint32_t Stack(const GuestMemory& m, const EntryState& st, unsigned word) {
  return Rd<uint32_t>(m, st.rsp + 4 * word);
}

// The NetBSD/OpenBSD symbol area, written out by hand.
std::vector<uint8_t> ExpectedElfSyms(const std::vector<uint8_t>& file) {
  std::vector<uint8_t> e(64 + kShnum * 64, 0);
  std::memcpy(e.data(), file.data(), 64);
  Put<uint64_t>(e, 0x20, 0);
  Put<uint64_t>(e, 0x28, 64);
  Put<uint16_t>(e, 0x36, 0);
  Put<uint16_t>(e, 0x38, 0);
  std::memcpy(e.data() + 64, file.data() + kShdrOff, kShnum * 64);
  for (size_t i = 0; i < kShnum; i++) Put<uint64_t>(e, 64 + i * 64 + 0x18, 0);
  // bodies: .symtab (48), .strtab (10 -> 16), .shstrtab (33 -> 40)
  const size_t sym = e.size();  // 384, 8-aligned
  Put<uint64_t>(e, 64 + 2 * 64 + 0x18, sym);
  e.insert(e.end(), file.begin() + kSymOff, file.begin() + kSymOff + kSymSize);
  const size_t str = e.size();
  Put<uint64_t>(e, 64 + 3 * 64 + 0x18, str);
  e.insert(e.end(), file.begin() + kStrOff, file.begin() + kStrOff + kStrSize);
  e.resize(str + 16, 0);
  const size_t shs = e.size();
  Put<uint64_t>(e, 64 + 4 * 64 + 0x18, shs);
  e.insert(e.end(), file.begin() + kShstrOff, file.begin() + kShstrOff + 33);
  e.resize(shs + 40, 0);
  return e;
}

}  // namespace

TEST_CASE("bsd: NetBSD native entry, bootinfo and symbols", "[boot][bsd]") {
  TempDir t;
  KOpts o;
  o.note = "NetBSD";
  o.paddr = 0xdead0000;  // ignored: NetBSD's loader uses vaddr & 0x0fffffff
  auto file = MakeKernel(o);
  std::string path = t.write("netbsd", file);
  GuestMemory mem;
  REQUIRE(mem.add(0, 64 * kMiB, false).ok());
  auto st = Boot(mem, path, "-s");
  REQUIRE(st.ok());
  CHECK(st->kind == "netbsd");
  CHECK(st->mode == CpuMode::Flat32);
  CHECK(st->cs.selector == kSelCode32);
  CHECK(st->cr0 == 0x11);
  CHECK(st->rip == 0x200010);
  CHECK(st->rsp == 0x80000 - 64);
  // Kernel bytes at 0x200000, bss cleared.
  CHECK(RdBytes(mem, 0x200000, kTextSize) ==
        std::vector<uint8_t>(file.begin() + kText, file.begin() + kText + kTextSize));
  CHECK(Rd<uint64_t>(mem, 0x201000) == 0);
  // Stack: ret, boothowto, bootdev, bootinfo, esym, biosextmem, biosbasemem.
  CHECK(Stack(mem, *st, 0) == 0);
  CHECK(Stack(mem, *st, 1) == 2);  // RB_SINGLE
  CHECK(Stack(mem, *st, 2) == 0);
  const uint32_t bi = Stack(mem, *st, 3);
  const uint32_t esym = Stack(mem, *st, 4);
  CHECK(Stack(mem, *st, 5) == (64 * kMiB - kMiB) / 1024);
  CHECK(Stack(mem, *st, 6) == 0x9fc00 / 1024);
  // Symbols right after the kernel's memory image.
  const uint64_t ssym = 0x203000;
  auto syms = ExpectedElfSyms(file);
  CHECK(RdBytes(mem, ssym, syms.size()) == syms);
  CHECK(esym == ssym + syms.size());
  // bootinfo: 3 entries.
  CHECK(bi >= 0x9000);
  REQUIRE(Rd<uint32_t>(mem, bi) == 3);
  auto e820 = E820Of(mem);
  const uint32_t p0 = Rd<uint32_t>(mem, bi + 4), p1 = Rd<uint32_t>(mem, bi + 8),
                 p2 = Rd<uint32_t>(mem, bi + 12);
  CHECK(p0 == bi + 16);
  // BTINFO_CONSOLE: len 32, type 6, devname[16] "com", addr, speed.
  std::vector<uint8_t> con(32, 0);
  Put<int32_t>(con, 0, 32);
  Put<int32_t>(con, 4, 6);
  std::memcpy(con.data() + 8, "com", 3);
  Put<int32_t>(con, 24, 0x3f8);
  Put<int32_t>(con, 28, 115200);
  CHECK(RdBytes(mem, p0, 32) == con);
  // BTINFO_MEMMAP: len, type 9, num, packed {addr, size, type} entries.
  CHECK(p1 == p0 + 32);
  std::vector<uint8_t> mm(12 + 20 * e820.size(), 0);
  Put<int32_t>(mm, 0, static_cast<int32_t>(mm.size()));
  Put<int32_t>(mm, 4, 9);
  Put<int32_t>(mm, 8, static_cast<int32_t>(e820.size()));
  for (size_t i = 0; i < e820.size(); i++) {
    Put<uint64_t>(mm, 12 + 20 * i, e820[i].addr);
    Put<uint64_t>(mm, 20 + 20 * i, e820[i].size);
    Put<uint32_t>(mm, 28 + 20 * i, e820[i].type);
  }
  CHECK(RdBytes(mem, p1, mm.size()) == mm);
  REQUIRE(e820.size() >= 2);
  CHECK(e820[0].addr == 0);
  CHECK(e820[0].type == 1);
  // BTINFO_SYMTAB: len 20, type 8, nsym 1, ssym, esym (physical).
  CHECK(p2 == p1 + mm.size());
  std::vector<uint8_t> sy(20, 0);
  Put<int32_t>(sy, 0, 20);
  Put<int32_t>(sy, 4, 8);
  Put<int32_t>(sy, 8, 1);
  Put<uint32_t>(sy, 12, static_cast<uint32_t>(ssym));
  Put<uint32_t>(sy, 16, esym);
  CHECK(RdBytes(mem, p2, 20) == sy);
}

TEST_CASE("bsd: NetBSD without symbols; detection beats a PVH note", "[boot][bsd]") {
  TempDir t;
  KOpts o;
  o.note = "NetBSD";
  o.symbols = false;
  o.pvh_note = true;
  std::string path = t.write("netbsd", MakeKernel(o));
  GuestMemory mem;
  REQUIRE(mem.add(0, 32 * kMiB, false).ok());
  auto st = Boot(mem, path);
  REQUIRE(st.ok());
  CHECK(st->kind == "netbsd");
  CHECK(Stack(mem, *st, 1) == 0);
  CHECK(Stack(mem, *st, 4) == 0x203000);  // esym = kernel end
  CHECK(Rd<uint32_t>(mem, Stack(mem, *st, 3)) == 2);  // console + memmap only
}

TEST_CASE("bsd: OpenBSD native entry and bootargs", "[boot][bsd]") {
  TempDir t;
  KOpts o;
  o.note = "OpenBSD";
  o.vaddr = 0xffffffff81000000ull;
  o.paddr = 0x1000000;
  auto file = MakeKernel(o);
  std::string path = t.write("bsd", file);
  GuestMemory mem;
  REQUIRE(mem.add(0, 64 * kMiB, false).ok());
  auto st = Boot(mem, path, "-d");
  REQUIRE(st.ok());
  CHECK(st->kind == "openbsd");
  CHECK(st->mode == CpuMode::Flat32);
  CHECK(st->rip == 0x1000010);
  // Stack: ret, howto, bootdev, bootapiver, esym, extmem, cnvmem, ac, av.
  CHECK(Stack(mem, *st, 1) == 0x40);  // RB_KDB
  CHECK(Stack(mem, *st, 2) == 0);
  CHECK(Stack(mem, *st, 3) == 0xe);   // BAPIV_VECTOR | ENV | BMEMMAP
  const uint64_t ssym = 0x1003000;
  auto syms = ExpectedElfSyms(file);
  CHECK(RdBytes(mem, ssym, syms.size()) == syms);
  CHECK(Stack(mem, *st, 4) == ssym + syms.size());
  CHECK(Stack(mem, *st, 5) == (64 * kMiB - kMiB) / 1024);
  CHECK(Stack(mem, *st, 6) == 0x9fc00 / 1024);
  const uint32_t ac = Stack(mem, *st, 7), av = Stack(mem, *st, 8);
  auto e820 = E820Of(mem);
  // BOOTARG_MEMMAP: {type 0, size, next} + bios_memmap_t[] + BIOS_MAP_END.
  std::vector<uint8_t> want;
  const size_t mm_size = 12 + 20 * (e820.size() + 1);
  std::vector<uint8_t> r(mm_size, 0);
  Put<int32_t>(r, 0, 0);
  Put<int32_t>(r, 4, static_cast<int32_t>(mm_size));
  Put<uint32_t>(r, 8, static_cast<uint32_t>(av + mm_size));
  for (size_t i = 0; i < e820.size(); i++) {
    Put<uint64_t>(r, 12 + 20 * i, e820[i].addr);
    Put<uint64_t>(r, 20 + 20 * i, e820[i].size);
    Put<uint32_t>(r, 28 + 20 * i, e820[i].type);
  }
  want.insert(want.end(), r.begin(), r.end());
  // BOOTARG_CONSDEV: bios_consdev_t {dev_t, speed, u64 addr, freq, flags,
  // reg_width, reg_shift}.
  std::vector<uint8_t> c(12 + 32, 0);
  Put<int32_t>(c, 0, 5);
  Put<int32_t>(c, 4, 44);
  Put<uint32_t>(c, 8, static_cast<uint32_t>(av + mm_size + 44));
  Put<int32_t>(c, 12, 0x800);
  Put<int32_t>(c, 16, 115200);
  Put<uint64_t>(c, 20, 0x3f8);
  Put<int32_t>(c, 28, 1843200);
  want.insert(want.end(), c.begin(), c.end());
  std::vector<uint8_t> end(12, 0);
  Put<int32_t>(end, 0, -1);
  Put<int32_t>(end, 4, 12);
  want.insert(want.end(), end.begin(), end.end());
  CHECK(ac == want.size());
  CHECK(RdBytes(mem, av, want.size()) == want);
}

TEST_CASE("bsd: FreeBSD long-mode entry and modinfo metadata", "[boot][bsd]") {
  TempDir t;
  KOpts o;
  o.osabi = 9;  // ELFOSABI_FREEBSD, no note
  auto file = MakeKernel(o);
  std::string path = t.write("kernel", file);
  std::string rd = t.write("mfsroot", std::vector<uint8_t>(5000, 0x5a));
  GuestMemory mem;
  REQUIRE(mem.add(0, 64 * kMiB, false).ok());
  auto st = Boot(mem, path, "-v boot_verbose=YES", rd);
  REQUIRE(st.ok());
  CHECK(st->kind == "freebsd");
  CHECK(st->mode == CpuMode::Long64);
  CHECK(st->cs.selector == kSelCode64);
  CHECK(st->rip == 0xffffffff80200010ull);  // virtual, mapped at KERNBASE
  CHECK(st->cr3 == 0x2000);
  CHECK(Rd<uint64_t>(mem, 0x2000 + 511 * 8) == 0x8003);
  CHECK(Rd<uint64_t>(mem, 0x8000 + 510 * 8) == 0x4003);
  CHECK(Rd<uint64_t>(mem, 0x8000 + 511 * 8) == 0x5003);
  CHECK(Rd<uint64_t>(mem, 0x2000) == 0x3003);  // identity map kept
  CHECK(Stack(mem, *st, 0) == 0);
  const uint32_t modulep = Stack(mem, *st, 1), kernend = Stack(mem, *st, 2);
  // Symbols: u64 size, .symtab, u64 size, .strtab (padded to 8).
  const uint64_t ssym = 0x203000;
  std::vector<uint8_t> sy(8 + 48 + 8 + 16, 0);
  Put<uint64_t>(sy, 0, 48);
  std::memcpy(sy.data() + 8, file.data() + kSymOff, 48);
  Put<uint64_t>(sy, 56, 10);
  std::memcpy(sy.data() + 64, file.data() + kStrOff, 10);
  CHECK(RdBytes(mem, ssym, sy.size()) == sy);
  const uint64_t esym = ssym + sy.size();
  const uint64_t rd_addr = 0x204000;
  CHECK(RdBytes(mem, rd_addr, 5000) == std::vector<uint8_t>(5000, 0x5a));
  const uint64_t envp = 0x206000;
  const std::string env =
      std::string("boot_verbose=YES") + '\0' + "console=comconsole" + '\0' +
      "hw.uart.console=io:1016,br:115200" + '\0' + '\0';
  auto envb = RdBytes(mem, envp, env.size());
  CHECK(std::string(envb.begin(), envb.end()) == env);
  CHECK(modulep == 0x207000);
  // Walk the records: {u32 type, u32 size, data, pad to 8}.
  struct Rec {
    uint32_t type;
    std::vector<uint8_t> data;
  };
  std::vector<Rec> recs;
  uint64_t at = modulep;
  for (int i = 0; i < 64; i++) {
    uint32_t type = Rd<uint32_t>(mem, at), size = Rd<uint32_t>(mem, at + 4);
    recs.push_back({type, RdBytes(mem, at + 8, size)});
    at += (8 + size + 7) & ~uint64_t{7};
    if (type == 0 && size == 0) break;
  }
  auto str = [](const std::string& s) {
    std::vector<uint8_t> v(s.begin(), s.end());
    v.push_back(0);
    return v;
  };
  auto u64 = [](uint64_t v) {
    std::vector<uint8_t> b(8);
    std::memcpy(b.data(), &v, 8);
    return b;
  };
  auto e820 = E820Of(mem);
  std::vector<uint8_t> smap(20 * e820.size(), 0);
  for (size_t i = 0; i < e820.size(); i++) {
    Put<uint64_t>(smap, 20 * i, e820[i].addr);
    Put<uint64_t>(smap, 20 * i + 8, e820[i].size);
    Put<uint32_t>(smap, 20 * i + 16, e820[i].type);
  }
  std::vector<uint8_t> howto(4);
  uint32_t hv = 0x1000 | 0x800;  // RB_SERIAL | RB_VERBOSE
  std::memcpy(howto.data(), &hv, 4);
  std::vector<Rec> want = {
      {0x0001, str("/boot/kernel/kernel")},
      {0x0002, str("elf kernel")},
      {0x0003, u64(0x200000)},
      {0x0004, u64(kMemSize)},
      {0x8002, std::vector<uint8_t>(file.begin(), file.begin() + 64)},
      {0x8003, u64(ssym)},
      {0x8004, u64(esym)},
      {0x8007, howto},
      {0x8006, u64(envp)},
      {0x9001, smap},
      {0x8008, u64(kernend)},
      {0x0001, str(rd)},
      {0x0002, str("md_image")},
      {0x0003, u64(rd_addr)},
      {0x0004, u64(5000)},
      {0x0000, {}},
  };
  REQUIRE(recs.size() == want.size());
  for (size_t i = 0; i < want.size(); i++) {
    INFO("record " << i);
    CHECK(recs[i].type == want[i].type);
    CHECK(recs[i].data == want[i].data);
  }
  CHECK(kernend % 4096 == 0);
  CHECK(kernend >= at);
  CHECK(kernend - at < 4096);
}

TEST_CASE("bsd: malformed or unsupported requests are errors", "[boot][bsd]") {
  TempDir t;
  GuestMemory mem;
  REQUIRE(mem.add(0, 64 * kMiB, false).ok());
  KOpts n;
  n.note = "NetBSD";
  std::string nb = t.write("netbsd", MakeKernel(n));
  std::string rd = t.write("rd", std::vector<uint8_t>(100, 1));
  {
    auto st = Boot(mem, nb, "", rd);
    REQUIRE_FALSE(st.ok());
    CHECK(st.status().message().find("initrd") != std::string::npos);
  }
  {
    auto st = Boot(mem, nb, "root=/dev/sda");
    REQUIRE_FALSE(st.ok());
    CHECK(st.status().message().find("root=/dev/sda") != std::string::npos);
  }
  {
    auto st = Boot(mem, nb, "-x");
    REQUIRE_FALSE(st.ok());
  }
  {
    BootRequest rq;
    rq.kernel_path = nb;
    rq.modules.push_back({rd, "m"});
    REQUIRE_FALSE(LoadX86(mem, rq).ok());
  }
  // FreeBSD kernel linked below KERNBASE.
  KOpts f;
  f.osabi = 9;
  f.vaddr = f.paddr = 0x200000;
  REQUIRE_FALSE(Boot(mem, t.write("fb", MakeKernel(f))).ok());
  // Section header table past the end of the file.
  auto bad = MakeKernel(n);
  Put<uint64_t>(bad, 40, 0x100000);
  {
    auto st = Boot(mem, t.write("bad", bad));
    REQUIRE_FALSE(st.ok());
    CHECK(st.status().message().find("section header") != std::string::npos);
  }
  // A symbol section pointing past the end of the file.
  auto bad2 = MakeKernel(n);
  Put<uint64_t>(bad2, kShdrOff + 2 * 64 + 0x20, uint64_t{1} << 40);
  REQUIRE_FALSE(Boot(mem, t.write("bad2", bad2)).ok());
  // Kernel beyond RAM.
  KOpts big = n;
  big.vaddr = 0xffffffff8f000000ull;  // -> 0x0f000000, RAM is 64 MiB
  REQUIRE_FALSE(Boot(mem, t.write("big", MakeKernel(big))).ok());
  // Plain ELF64 without BSD marks is not taken for a BSD kernel.
  KOpts plain;
  plain.vaddr = plain.paddr = 0x200000;
  auto st = Boot(mem, t.write("plain", MakeKernel(plain)));
  REQUIRE(st.ok());
  CHECK(st->kind == "elf64");
}

TEST_CASE("bsd: command-line flags", "[boot][bsd]") {
  using bsd::Flavor;
  auto h = bsd::ParseCmdline(Flavor::OpenBSD, " -as  -d ");
  REQUIRE(h.ok());
  CHECK(h->howto == (0x1 | 0x2 | 0x40));
  CHECK(h->env.empty());
  CHECK_FALSE(bsd::ParseCmdline(Flavor::NetBSD, "-v").ok());
  CHECK_FALSE(bsd::ParseCmdline(Flavor::NetBSD, "a=b").ok());
  CHECK_FALSE(bsd::ParseCmdline(Flavor::FreeBSD, "=b").ok());
  auto f = bsd::ParseCmdline(Flavor::FreeBSD, "");
  REQUIRE(f.ok());
  CHECK(f->howto == 0x1000);  // RB_SERIAL: the console is COM1
  CHECK(bsd::PhysOf(Flavor::NetBSD, 0xffffffff80200000ull) == 0x200000);
  CHECK(bsd::PhysOf(Flavor::OpenBSD, 0xffffffff81001000ull) == 0x1001000);
  CHECK(bsd::PhysOf(Flavor::FreeBSD, 0xffffffff80200000ull) == 0x200000);
}
