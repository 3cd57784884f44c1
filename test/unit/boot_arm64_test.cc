// Tests for boot/arm64 (Linux arm64 Image, ELF64 and raw loaders, FDT and
// initrd placement) and boot/fdt (the device tree, decoded with libfdt).
// On an aarch64 build also the arm64 machine (arch/aarch64/machine.cc):
// the whole device tree from a configuration and its devices, including
// `set fdt-dump-file` (run by test/lanes/aarch64/unit.sh under
// qemu-aarch64-static). Images are synthesized in a temp directory.
#include <catch2/catch.hpp>

extern "C" {
#include <libfdt.h>
}
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test/unit/temp_dir.h"
#include "boot/arm64.h"
#include "boot/elf.h"
#include "boot/fdt.h"
#include "vmm/guest_memory.h"
#if defined(__aarch64__)
#include "arch/aarch64/kvm_arm64.h"
#include "qvm/vdev.h"
#include "vmm/arch.h"
#include "vmm/config.h"
#endif

using namespace qvm;
using namespace qvm::boot;

namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kRam = 0x80000000ull;

using qvm::test::TempDir;

template <typename T>
void Put(std::vector<uint8_t>& b, size_t off, T v) {
  REQUIRE(off + sizeof v <= b.size());
  std::memcpy(b.data() + off, &v, sizeof v);
}

// An arm64 Image: header (code0 = a branch, text_offset, image_size, flags,
// magic "ARM\x64" at 0x38) followed by a recognisable pattern.
std::vector<uint8_t> MakeImage(uint64_t text_offset, uint64_t image_size, size_t file_size,
                               uint64_t flags = 2) {
  std::vector<uint8_t> b(file_size);
  for (size_t i = 64; i < b.size(); i++) b[i] = uint8_t(i * 7);
  Put<uint32_t>(b, 0, 0x14000010);  // b +0x40
  Put<uint64_t>(b, 8, text_offset);
  Put<uint64_t>(b, 16, image_size);
  Put<uint64_t>(b, 24, flags);
  Put<uint32_t>(b, 0x38, kArm64ImageMagic);
  return b;
}

std::vector<uint8_t> MakeElf(uint16_t machine, uint64_t entry, uint64_t paddr, uint64_t filesz,
                             uint64_t memsz) {
  std::vector<uint8_t> b(0x1000 + filesz);
  const uint8_t ident[16] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
  std::memcpy(b.data(), ident, 16);
  Put<uint16_t>(b, 16, 2);  // ET_EXEC
  Put<uint16_t>(b, 18, machine);
  Put<uint32_t>(b, 20, 1);
  Put<uint64_t>(b, 24, entry);
  Put<uint64_t>(b, 32, 64);  // phoff
  Put<uint16_t>(b, 52, 64);  // ehsize
  Put<uint16_t>(b, 54, 56);  // phentsize
  Put<uint16_t>(b, 56, 1);   // phnum
  Put<uint32_t>(b, 64, kPtLoad);
  Put<uint32_t>(b, 68, 5);
  Put<uint64_t>(b, 72, 0x1000);  // offset
  Put<uint64_t>(b, 80, paddr);   // vaddr
  Put<uint64_t>(b, 88, paddr);   // paddr
  Put<uint64_t>(b, 96, filesz);
  Put<uint64_t>(b, 104, memsz);
  for (size_t i = 0x1000; i < b.size(); i++) b[i] = uint8_t(0xa0 + i);
  return b;
}

struct Ram {
  GuestMemory mem;
  explicit Ram(uint64_t base = kRam, uint64_t size = 64 * kMiB) {
    REQUIRE(mem.add(base, size, false).ok());
  }
  uint8_t byte(uint64_t gpa) const {
    uint8_t v = 0;
    REQUIRE(mem.read(gpa, &v, 1));
    return v;
  }
};

absl::StatusOr<Arm64ImageHeader> Parse(TempDir& t, const std::vector<uint8_t>& b) {
  auto f = ImageFile::Open(t.write("img", b));
  REQUIRE(f.ok());
  return ParseArm64Image(*f);
}

bool Mentions(const absl::Status& s, const std::string& what) {
  return std::string(s.message()).find(what) != std::string::npos;
}

// libfdt helpers over a finished blob.
struct Dt {
  std::vector<uint8_t> blob;
  explicit Dt(std::vector<uint8_t> b) : blob(std::move(b)) {
    REQUIRE(fdt_check_header(blob.data()) == 0);
  }
  int node(const std::string& path) const { return fdt_path_offset(blob.data(), path.c_str()); }
  // Property bytes, or std::nullopt when the node or property is missing.
  std::optional<std::string> prop(const std::string& path, const char* name) const {
    int off = node(path);
    if (off < 0) return std::nullopt;
    int len = 0;
    const void* p = fdt_getprop(blob.data(), off, name, &len);
    if (!p) return std::nullopt;
    return std::string(static_cast<const char*>(p), size_t(len));
  }
  std::vector<uint32_t> cells(const std::string& path, const char* name) const {
    auto p = prop(path, name);
    std::vector<uint32_t> c;
    if (!p) return c;
    for (size_t i = 0; i + 4 <= p->size(); i += 4) {
      uint32_t be;
      std::memcpy(&be, p->data() + i, 4);
      c.push_back(fdt32_to_cpu(be));
    }
    return c;
  }
  uint64_t u64(const std::string& path, const char* name) const {
    auto c = cells(path, name);
    REQUIRE(c.size() == 2);
    return uint64_t(c[0]) << 32 | c[1];
  }
  std::string str(const std::string& path, const char* name) const {
    auto p = prop(path, name);
    if (!p || p->empty()) return "";
    return std::string(p->c_str());
  }
};

std::string Strs(std::initializer_list<const char*> l) {
  std::string s;
  for (const char* x : l) s.append(x, strlen(x) + 1);
  return s;
}

}  // namespace

// ---- the Image header -------------------------------------------------------

TEST_CASE("arm64 Image: header fields", "[arm64][boot]") {
  TempDir t;
  auto h = Parse(t, MakeImage(0x80000, 3 * kMiB, 8192));
  REQUIRE(h.ok());
  CHECK(h->text_offset == 0x80000);
  CHECK(h->image_size == 3 * kMiB);
  CHECK(h->flags == 2);
  // image_size 0 (kernels before 3.17): the file size.
  h = Parse(t, MakeImage(0x80000, 0, 8192));
  REQUIRE(h.ok());
  CHECK(h->image_size == 8192);
  // No magic: not an Image (the caller tries ELF, then raw).
  auto b = MakeImage(0, 0, 4096);
  b[0x39] ^= 1;
  CHECK(absl::IsNotFound(Parse(t, b).status()));
  CHECK(absl::IsNotFound(Parse(t, std::vector<uint8_t>(20, 0)).status()));
}

TEST_CASE("arm64 Image: malformed headers are clear errors", "[arm64][boot]") {
  TempDir t;
  struct Case {
    const char* what;
    std::vector<uint8_t> img;
    const char* msg;
  };
  auto cut = MakeImage(0, 0, 64);
  cut.resize(0x3c);  // magic present, header cut short
  std::vector<Case> cases = {
      {"unaligned text_offset", MakeImage(0x80001, 0, 4096), "text_offset"},
      {"text_offset past 4 GiB", MakeImage((4ull << 30) + 4096, 0, 4096), "text_offset"},
      {"huge text_offset", MakeImage(~0ull << 12, 0, 4096), "text_offset"},
      {"image_size below the file", MakeImage(0, 4096, 8192), "image_size"},
      {"image_size above 4 GiB", MakeImage(0, (4ull << 30) + 4096, 8192), "image_size"},
      {"image_size wraps", MakeImage(0, ~0ull, 8192), "image_size"},
      {"big-endian kernel", MakeImage(0, 0, 4096, 1), "big-endian"},
      {"truncated header", cut, "truncated"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto h = Parse(t, c.img);
    REQUIRE_FALSE(h.ok());
    CHECK(absl::IsInvalidArgument(h.status()));
    CHECK(Mentions(h.status(), c.msg));
    CHECK(Mentions(h.status(), t.path()));  // names the file
  }
}

// ---- loading ----------------------------------------------------------------

TEST_CASE("arm64 Image: loaded at the 2 MiB-aligned base + text_offset", "[arm64][boot]") {
  TempDir t;
  auto img = MakeImage(0x80000, 2 * kMiB, 16384);
  std::string path = t.write("Image", img);
  SECTION("default base: start of RAM") {
    Ram r;
    auto k = LoadArm64Kernel(r.mem, path, std::nullopt, kRam, 64 * kMiB);
    REQUIRE(k.ok());
    CHECK(k->kind == "Image");
    CHECK(k->start == kRam + 0x80000);
    CHECK(k->entry == kRam + 0x80000);
    CHECK(k->end == kRam + 0x80000 + 2 * kMiB);
    for (size_t i : {0ul, 0x38ul, 100ul, 16383ul}) CHECK(r.byte(k->start + i) == img[i]);
  }
  SECTION("RAM not 2 MiB aligned: the next 2 MiB boundary") {
    Ram r(kRam + kMiB, 63 * kMiB);
    auto k = LoadArm64Kernel(r.mem, path, std::nullopt, kRam + kMiB, 63 * kMiB);
    REQUIRE(k.ok());
    CHECK(k->start == kRam + 2 * kMiB + 0x80000);
  }
  SECTION("load ADDR,PATH") {
    Ram r;
    auto k = LoadArm64Kernel(r.mem, path, kRam + 8 * kMiB, kRam, 64 * kMiB);
    REQUIRE(k.ok());
    CHECK(k->entry == kRam + 8 * kMiB + 0x80000);
    auto bad = LoadArm64Kernel(r.mem, path, kRam + 8 * kMiB + 4096, kRam, 64 * kMiB);
    REQUIRE_FALSE(bad.ok());
    CHECK(Mentions(bad.status(), "2 MiB"));
  }
  SECTION("image_size beyond RAM, and addresses that would wrap") {
    Ram r(kRam, 4 * kMiB);
    std::string big = t.write("big", MakeImage(0, 5 * kMiB, 4096));
    auto k = LoadArm64Kernel(r.mem, big, std::nullopt, kRam, 4 * kMiB);
    REQUIRE_FALSE(k.ok());
    CHECK(Mentions(k.status(), "do not fit"));
    // image_size counts (bss), not just the file: 3 MiB + text_offset 1.5 MiB.
    std::string bss = t.write("bss", MakeImage(0x180000, 3 * kMiB, 4096));
    CHECK_FALSE(LoadArm64Kernel(r.mem, bss, std::nullopt, kRam, 4 * kMiB).ok());
    for (uint64_t addr : std::vector<uint64_t>{0xffffffffffe00000ull, 0, kRam - 2 * kMiB}) {
      auto w = LoadArm64Kernel(r.mem, path, addr, kRam, 4 * kMiB);
      CHECK_FALSE(w.ok());
    }
  }
  SECTION("text_offset 2 MiB (NetBSD's mkubootimage -a 0x200000)") {
    Ram r;
    std::string nb = t.write("netbsd.img", MakeImage(2 * kMiB, 2 * kMiB, 16384));
    auto k = LoadArm64Kernel(r.mem, nb, std::nullopt, kRam, 64 * kMiB);
    REQUIRE(k.ok());
    CHECK(k->start == kRam + 2 * kMiB);
    CHECK(k->entry == kRam + 2 * kMiB);
    CHECK(k->end == kRam + 4 * kMiB);
    // Past the end of RAM, and past the top of the address space.
    CHECK_FALSE(LoadArm64Kernel(r.mem, nb, std::nullopt, kRam, 3 * kMiB).ok());
    std::string far = t.write("far", MakeImage(4ull << 30, 2 * kMiB, 4096));
    CHECK_FALSE(LoadArm64Kernel(r.mem, far, 0xffffffff00000000ull, kRam, 64 * kMiB).ok());
  }
  SECTION("a missing file") {
    Ram r;
    CHECK_FALSE(LoadArm64Kernel(r.mem, t.path() + "/none", std::nullopt, kRam, 64 * kMiB).ok());
  }
}

TEST_CASE("arm64 ELF and raw images", "[arm64][boot]") {
  TempDir t;
  Ram r;
  auto elf = MakeElf(kEmAarch64, kRam + 0x100000, kRam + 0x100000, 0x800, 0x4000);
  auto k = LoadArm64Kernel(r.mem, t.write("e", elf), std::nullopt, kRam, 64 * kMiB);
  REQUIRE(k.ok());
  CHECK(k->kind == "ELF");
  CHECK(k->entry == kRam + 0x100000);
  CHECK(k->start == kRam + 0x100000);
  CHECK(k->end == kRam + 0x104000);
  CHECK(r.byte(kRam + 0x100000) == elf[0x1000]);
  auto x86 = MakeElf(kEmX86_64, kRam, kRam, 16, 16);
  auto bad = LoadArm64Kernel(r.mem, t.write("x", x86), std::nullopt, kRam, 64 * kMiB);
  REQUIRE_FALSE(bad.ok());
  CHECK(Mentions(bad.status(), "AArch64"));
  auto outside = MakeElf(kEmAarch64, 0x1000, 0x1000, 16, 16);
  CHECK_FALSE(LoadArm64Kernel(r.mem, t.write("o", outside), std::nullopt, kRam, 64 * kMiB).ok());
  auto wrap = MakeElf(kEmAarch64, kRam, 0xfffffffffffff000ull, 16, 0x2000);
  CHECK_FALSE(LoadArm64Kernel(r.mem, t.write("w", wrap), std::nullopt, kRam, 64 * kMiB).ok());
  // Raw: copied and entered at ADDR (default: start of RAM).
  std::vector<uint8_t> raw(3000, 0x5a);
  auto rk = LoadArm64Kernel(r.mem, t.write("r", raw), std::nullopt, kRam, 64 * kMiB);
  REQUIRE(rk.ok());
  CHECK(rk->kind == "raw");
  CHECK(rk->entry == kRam);
  CHECK(rk->end == kRam + 3000);
  rk = LoadArm64Kernel(r.mem, t.write("r2", raw), kRam + 0x10000, kRam, 64 * kMiB);
  REQUIRE(rk.ok());
  CHECK(rk->entry == kRam + 0x10000);
  CHECK_FALSE(LoadArm64Kernel(r.mem, t.write("r3", raw), kRam + 64 * kMiB - 100, kRam,
                              64 * kMiB).ok());
  CHECK_FALSE(
      LoadArm64Kernel(r.mem, t.write("empty", {}), std::nullopt, kRam, 64 * kMiB).ok());
}

TEST_CASE("arm64 placement: FDT at the top 2 MiB, initrd page-aligned below", "[arm64][boot]") {
  Arm64Kernel k;
  k.start = kRam + 0x80000;
  k.end = kRam + 10 * kMiB;
  auto p = PlaceArm64(kRam, 64 * kMiB, k, 0);
  REQUIRE(p.ok());
  CHECK(p->fdt == kRam + 62 * kMiB);
  CHECK(p->initrd_size == 0);
  p = PlaceArm64(kRam, 64 * kMiB, k, 12345);
  REQUIRE(p.ok());
  CHECK(p->initrd + 12345 <= p->fdt);
  CHECK(p->initrd % 4096 == 0);
  CHECK(p->fdt - p->initrd < 12345 + 4096);
  // RAM whose end is not 2 MiB aligned: the FDT stays inside it.
  p = PlaceArm64(kRam, 63 * kMiB + 4096, k, 0);
  REQUIRE(p.ok());
  CHECK(p->fdt % (2 * kMiB) == 0);
  CHECK(p->fdt + kArm64FdtMax <= kRam + 63 * kMiB + 4096);
  // Too small, initrd larger than RAM, initrd over the kernel, FDT over it.
  CHECK_FALSE(PlaceArm64(kRam, 3 * kMiB, k, 0).ok());
  auto big = PlaceArm64(kRam, 64 * kMiB, k, 1ull << 40);
  REQUIRE_FALSE(big.ok());
  CHECK(Mentions(big.status(), "initrd"));
  auto over = PlaceArm64(kRam, 64 * kMiB, k, 53 * kMiB);
  REQUIRE_FALSE(over.ok());
  CHECK(Mentions(over.status(), "add RAM"));
  CHECK(PlaceArm64(kRam, 64 * kMiB, k, 51 * kMiB).ok());
  k.end = kRam + 63 * kMiB;
  CHECK_FALSE(PlaceArm64(kRam, 64 * kMiB, k, 0).ok());
}

// ---- the device tree ----------------------------------------------------------

TEST_CASE("arm64 FDT: chosen, memory, cpus, psci, timer, clocks, devices", "[arm64][fdt]") {
  FdtMachine m;
  m.cpu_mpidr = {0x0, 0x1, 0x100};
  m.memory = {{kRam, 256 * kMiB}, {0x100000000ull, 1ull << 30}};
  m.bootargs = "console=ttyAMA0 root=/dev/vda";
  m.initrd_start = kRam + 0x8000000;
  m.initrd_end = kRam + 0x8123456;
  m.gic_phandle = 0x100;
  m.clock_phandle = 0x8000;
  m.fixed_clocks = {{0x8001, 25000000}};
  FdtDeviceNode uart;
  uart.name = "pl011";
  uart.compatible = "arm,pl011 arm,primecell";
  uart.reg = {{0x1c090000, 0x1000}};
  uart.interrupts = {0, 5, 4};
  uart.phandle = 0x101;
  uart.props = {{"clocks", std::string("\0\0\x80\0\0\0\x80\0", 8)}};
  FdtDeviceNode own;
  own.name = "thing";
  own.compatible = "acme,thing";
  own.reg = {{0x9000000, 0x1000}};
  own.props = {{"reg", std::string(16, '\0')}, {"compatible", "ignored"}};
  FdtDeviceNode noreg;
  noreg.name = "noreg";
  noreg.compatible = "acme,noreg";
  m.devices = {uart, own, noreg};
  m.stdout_path = FdtNodePath(uart);
  CHECK(m.stdout_path == "/pl011@1c090000");
  CHECK(FdtNodePath(noreg) == "/noreg");
  auto blob = BuildArm64Fdt(m);
  REQUIRE(blob.ok());
  Dt dt(*blob);
  CHECK(dt.cells("/", "#address-cells") == std::vector<uint32_t>{2});
  CHECK(dt.cells("/", "#size-cells") == std::vector<uint32_t>{2});
  CHECK(dt.cells("/", "interrupt-parent") == std::vector<uint32_t>{0x100});
  CHECK(dt.str("/chosen", "bootargs") == "console=ttyAMA0 root=/dev/vda");
  CHECK(dt.u64("/chosen", "linux,initrd-start") == kRam + 0x8000000);
  CHECK(dt.u64("/chosen", "linux,initrd-end") == kRam + 0x8123456);
  CHECK(dt.str("/chosen", "stdout-path") == "/pl011@1c090000");
  CHECK(dt.str("/memory@80000000", "device_type") == "memory");
  CHECK(dt.cells("/memory@80000000", "reg") == std::vector<uint32_t>{0, 0x80000000, 0, 0x10000000});
  CHECK(dt.cells("/memory@100000000", "reg") == std::vector<uint32_t>{1, 0, 0, 0x40000000});
  CHECK(dt.cells("/cpus", "#address-cells") == std::vector<uint32_t>{1});
  CHECK(dt.cells("/cpus", "#size-cells") == std::vector<uint32_t>{0});
  for (auto [path, mpidr] : std::vector<std::pair<std::string, uint32_t>>{
           {"/cpus/cpu@0", 0}, {"/cpus/cpu@1", 1}, {"/cpus/cpu@100", 0x100}}) {
    INFO(path);
    CHECK(dt.str(path, "device_type") == "cpu");
    CHECK(dt.str(path, "enable-method") == "psci");
    CHECK(dt.cells(path, "reg") == std::vector<uint32_t>{mpidr});
  }
  CHECK(dt.node("/cpus/cpu@2") < 0);
  CHECK(dt.prop("/psci", "compatible") == Strs({"arm,psci-1.0", "arm,psci-0.2"}));
  CHECK(dt.str("/psci", "method") == "hvc");
  // GICv3: no CPU mask in the timer PPIs (13, 14, 11, 10 = INTID 29, 30, 27, 26).
  CHECK(dt.str("/timer", "compatible") == "arm,armv8-timer");
  CHECK(dt.cells("/timer", "interrupts") ==
        std::vector<uint32_t>{1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4});
  CHECK(dt.prop("/timer", "always-on").has_value());
  CHECK(dt.cells("/apb-pclk", "clock-frequency") == std::vector<uint32_t>{24000000});
  CHECK(dt.cells("/apb-pclk", "phandle") == std::vector<uint32_t>{0x8000});
  CHECK(dt.str("/clock-25000000", "compatible") == "fixed-clock");
  CHECK(dt.cells("/clock-25000000", "clock-frequency") == std::vector<uint32_t>{25000000});
  CHECK(dt.cells("/clock-25000000", "phandle") == std::vector<uint32_t>{0x8001});
  CHECK(dt.cells("/clock-25000000", "#clock-cells") == std::vector<uint32_t>{0});
  CHECK(dt.prop("/pl011@1c090000", "compatible") == Strs({"arm,pl011", "arm,primecell"}));
  CHECK(dt.cells("/pl011@1c090000", "reg") == std::vector<uint32_t>{0, 0x1c090000, 0, 0x1000});
  CHECK(dt.cells("/pl011@1c090000", "interrupts") == std::vector<uint32_t>{0, 5, 4});
  CHECK(dt.cells("/pl011@1c090000", "phandle") == std::vector<uint32_t>{0x101});
  CHECK(dt.cells("/pl011@1c090000", "clocks") == std::vector<uint32_t>{0x8000, 0x8000});
  // A device's own property replaces the generated one; compatible is qvm's.
  CHECK(dt.cells("/thing@9000000", "reg") == std::vector<uint32_t>{0, 0, 0, 0});
  CHECK(dt.prop("/thing@9000000", "compatible") == Strs({"acme,thing"}));
  CHECK(dt.node("/noreg") >= 0);
  CHECK_FALSE(dt.prop("/noreg", "reg").has_value());
}

TEST_CASE("arm64 FDT: GICv2 timer CPU mask, no GIC, no initrd, errors", "[arm64][fdt]") {
  FdtMachine m;
  m.cpu_mpidr = {0, 1};
  m.memory = {{kRam, 64 * kMiB}};
  m.gic_phandle = 1;
  m.gic_v2 = true;
  auto blob = BuildArm64Fdt(m);
  REQUIRE(blob.ok());
  {
    Dt dt(*blob);
    CHECK(dt.cells("/timer", "interrupts") ==
          std::vector<uint32_t>{1, 13, 0x304, 1, 14, 0x304, 1, 11, 0x304, 1, 10, 0x304});
    CHECK_FALSE(dt.prop("/chosen", "bootargs").has_value());
    CHECK_FALSE(dt.prop("/chosen", "linux,initrd-start").has_value());
    CHECK_FALSE(dt.prop("/chosen", "stdout-path").has_value());
    CHECK(dt.node("/apb-pclk") < 0);
  }
  // More than 8 CPUs on GICv2: the mask covers 8.
  m.cpu_mpidr = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  blob = BuildArm64Fdt(m);
  REQUIRE(blob.ok());
  CHECK(Dt(*blob).cells("/timer", "interrupts")[2] == 0xff04);
  m.gic_phandle = 0;
  blob = BuildArm64Fdt(m);
  REQUIRE(blob.ok());
  CHECK(Dt(*blob).node("/timer") < 0);
  CHECK_FALSE(Dt(*blob).prop("/", "interrupt-parent").has_value());
  // Two devices at one path, a clock rate given twice.
  FdtDeviceNode a;
  a.name = "x";
  a.compatible = "x";
  a.reg = {{0x1000, 0x100}};
  m.devices = {a, a};
  auto dup = BuildArm64Fdt(m);
  REQUIRE_FALSE(dup.ok());
  CHECK(Mentions(dup.status(), "/x@1000"));
  m.devices = {a};
  m.fixed_clocks = {{2, 100}, {3, 100}};
  CHECK_FALSE(BuildArm64Fdt(m).ok());
  // Too large for the 2 MiB blob: an error, not a crash.
  m.fixed_clocks.clear();
  m.bootargs = std::string(3 * kMiB, 'a');
  CHECK_FALSE(BuildArm64Fdt(m).ok());
}

TEST_CASE("arm64 FDT: the PMUv3 node", "[arm64][fdt][pmu]") {
  FdtMachine m;
  m.cpu_mpidr = {0, 1, 2};
  m.memory = {{kRam, 64 * kMiB}};
  m.gic_phandle = 1;
  {  // off (the default): no node
    auto blob = BuildArm64Fdt(m);
    REQUIRE(blob.ok());
    CHECK(Dt(*blob).node("/pmu") < 0);
  }
  m.pmu = true;
  {  // GICv3: PPI 7 (INTID 23) level-high, no CPU mask
    auto blob = BuildArm64Fdt(m);
    REQUIRE(blob.ok());
    Dt dt(*blob);
    CHECK(dt.prop("/pmu", "compatible") == Strs({"arm,armv8-pmuv3"}));
    CHECK(dt.cells("/pmu", "interrupts") == std::vector<uint32_t>{1, 7, 4});
    CHECK_FALSE(dt.prop("/pmu", "interrupt-parent").has_value());  // the root's: the GIC
    CHECK_FALSE(dt.prop("/pmu", "reg").has_value());
  }
  m.gic_v2 = true;
  {  // GICv2: the CPU mask of the 3 CPUs, like the timer's
    auto blob = BuildArm64Fdt(m);
    REQUIRE(blob.ok());
    Dt dt(*blob);
    CHECK(dt.cells("/pmu", "interrupts") == std::vector<uint32_t>{1, 7, 0x704});
    CHECK(dt.cells("/pmu", "interrupts")[2] == dt.cells("/timer", "interrupts")[2]);
  }
  // No interrupt controller: nothing to describe the overflow with.
  m.gic_phandle = 0;
  auto none = BuildArm64Fdt(m);
  REQUIRE_FALSE(none.ok());
  CHECK(Mentions(none.status(), "PMU"));
}

#if defined(__aarch64__)
// ---- the arm64 machine (aarch64 builds) ------------------------------------

namespace {

DeviceInfo Dev(const std::string& type, uint64_t base, uint64_t size, unsigned intr,
               const std::string& fdt_name, const std::string& compat, uint32_t phandle) {
  DeviceInfo d;
  d.type = d.name = type;
  d.regions.push_back({QVM_SPACE_MEM, base, size});
  if (intr) d.intrs.push_back({"gic", intr});
  d.fdt_name = fdt_name;
  d.fdt_compatible = compat;
  d.fdt_phandle = phandle;
  return d;
}

std::string Be32(uint32_t v) { return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

}  // namespace

TEST_CASE("arm64 machine: Image, initrd and the whole device tree", "[arm64][fdt][machine]") {
  TempDir t;
  std::string kernel = t.write("Image", MakeImage(0x80000, 4 * kMiB, 8192));
  std::string initrd = t.write("initrd", std::vector<uint8_t>(5000, 0x42));
  std::string dump = t.path() + "/dump.dtb";
  auto cfg = ParseArgs({"ram", "128M", "cpu", "cpu", "load", kernel, "initrd", "load", initrd,
                        "cmdline", "console=ttyAMA0 quiet", "set", "fdt-dump-file", dump});
  REQUIRE(cfg.ok());
  Ram r(kRam, 128 * kMiB);
  DeviceInfo gic = Dev("gic", 0x2f000000, 0x10000, 0, "interrupt-controller", "arm,gic-v3", 0x100);
  gic.regions.push_back({QVM_SPACE_MEM, 0x2f100000, 0x800000});
  gic.irqchip_kind = QVM_IRQCHIP_GICV3;
  gic.irqchip_nirqs = 256;
  gic.fdt_props = {{"#interrupt-cells", Be32(3)}, {"interrupt-controller", ""}};
  DeviceInfo uart = Dev("pl011", 0x1c090000, 0x1000, 37, "pl011", "arm,pl011 arm,primecell", 0x101);
  uart.console = true;  // it opened a console: the FDT's stdout-path
  DeviceInfo wdt =
      Dev("wdt-sp805", 0x1c0f0000, 0x1000, 32, "watchdog", "arm,sp805 arm,primecell", 0x102);
  wdt.fdt_props = {{"clock-frequency", Be32(32768)},
                   {"clock-names", std::string("wdog_clk\0apb_pclk\0", 18)}};
  DeviceInfo wdt2 =
      Dev("wdt-sp805", 0x1c0f1000, 0x1000, 33, "watchdog", "arm,sp805 arm,primecell", 0x103);
  wdt2.fdt_props = {{"clock-frequency", Be32(32768)}};  // same rate: one clock
  DeviceInfo ppi = Dev("ppidev", 0x9000000, 0x1000, 20, "ppidev", "acme,ppi", 0x104);

  auto machine = CreateMachine();
  REQUIRE(machine->builds_fdt());
  REQUIRE(machine->plan(*cfg).ok());  // `set fdt-dump-file`
  absl::Status st = machine->load(*cfg, r.mem, {gic, uart, wdt, wdt2, ppi}, 2);
  INFO(st.message());
  REQUIRE(st.ok());
  std::string summary = machine->boot_summary();
  CHECK(summary.find("Image, entry 0x80080000") != std::string::npos);
  // The FDT sits in the last 2 MiB of RAM (x0 at entry; see prepare_vcpu).
  uint64_t fdt_gpa = kRam + 126 * kMiB;
  CHECK(summary.find("FDT at 0x87e00000") != std::string::npos);
  std::vector<uint8_t> blob(64 * 1024);
  REQUIRE(r.mem.read(fdt_gpa, blob.data(), blob.size()));
  REQUIRE(fdt_check_header(blob.data()) == 0);
  blob.resize(fdt_totalsize(blob.data()));
  Dt dt(blob);
  CHECK(dt.str("/chosen", "bootargs") == "console=ttyAMA0 quiet");
  uint64_t i0 = dt.u64("/chosen", "linux,initrd-start"), i1 = dt.u64("/chosen", "linux,initrd-end");
  CHECK(i1 - i0 == 5000);
  CHECK(i0 % 4096 == 0);
  CHECK(i1 <= fdt_gpa);
  CHECK(r.byte(i0) == 0x42);
  CHECK(r.byte(i1 - 1) == 0x42);
  CHECK(dt.str("/chosen", "stdout-path") == "/pl011@1c090000");
  CHECK(dt.cells("/memory@80000000", "reg") == std::vector<uint32_t>{0, 0x80000000, 0, 0x8000000});
  CHECK(dt.str("/cpus/cpu@0", "enable-method") == "psci");
  CHECK(dt.str("/cpus/cpu@1", "enable-method") == "psci");
  CHECK(dt.str("/psci", "method") == "hvc");
  CHECK(dt.cells("/", "interrupt-parent") == std::vector<uint32_t>{0x100});
  CHECK(dt.cells("/timer", "interrupts") ==
        std::vector<uint32_t>{1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4});
  CHECK(dt.cells("/interrupt-controller@2f000000", "reg") ==
        std::vector<uint32_t>{0, 0x2f000000, 0, 0x10000, 0, 0x2f100000, 0, 0x800000});
  // pl011: SPI 5, both clocks the 24 MHz one.
  CHECK(dt.cells("/pl011@1c090000", "interrupts") == std::vector<uint32_t>{0, 5, 4});
  CHECK(dt.cells("/pl011@1c090000", "clocks") == std::vector<uint32_t>{0x8000, 0x8000});
  CHECK(dt.prop("/pl011@1c090000", "clock-names") == Strs({"uartclk", "apb_pclk"}));
  CHECK(dt.cells("/apb-pclk", "clock-frequency") == std::vector<uint32_t>{24000000});
  // SP805: SPI 0, its own clock names, first clock a fixed clock at its rate.
  CHECK(dt.prop("/watchdog@1c0f0000", "compatible") == Strs({"arm,sp805", "arm,primecell"}));
  CHECK(dt.cells("/watchdog@1c0f0000", "interrupts") == std::vector<uint32_t>{0, 0, 4});
  CHECK(dt.prop("/watchdog@1c0f0000", "clock-names") == Strs({"wdog_clk", "apb_pclk"}));
  auto clocks = dt.cells("/watchdog@1c0f0000", "clocks");
  REQUIRE(clocks.size() == 2);
  CHECK(clocks[1] == 0x8000);
  CHECK(clocks[0] != 0x8000);
  int clk = fdt_node_offset_by_phandle(blob.data(), clocks[0]);
  REQUIRE(clk >= 0);
  CHECK(std::string(fdt_get_name(blob.data(), clk, nullptr)) == "clock-32768");
  CHECK(dt.cells("/clock-32768", "clock-frequency") == std::vector<uint32_t>{32768});
  CHECK(dt.cells("/watchdog@1c0f1000", "clocks") == clocks);  // shared, not duplicated
  CHECK(dt.cells("/watchdog@1c0f1000", "interrupts") == std::vector<uint32_t>{0, 1, 4});
  // A PPI (interrupt ID 16-31) is described as one.
  CHECK(dt.cells("/ppidev@9000000", "interrupts") == std::vector<uint32_t>{1, 4, 4});
  // set fdt-dump-file wrote the same blob.
  std::ifstream f(dump, std::ios::binary);
  std::vector<uint8_t> dumped((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  CHECK(dumped == blob);
}

TEST_CASE("arm64 machine: refusals", "[arm64][machine]") {
  TempDir t;
  std::string kernel = t.write("Image", MakeImage(0x80000, 4 * kMiB, 8192));
  Ram r(kRam, 16 * kMiB);
  SECTION("no kernel") {
    auto cfg = ParseArgs({"ram", "16M"});
    REQUIRE(cfg.ok());
    auto st = CreateMachine()->load(*cfg, r.mem, {}, 1);
    REQUIRE_FALSE(st.ok());
    CHECK(Mentions(st, "load"));
  }
  SECTION("a malformed Image names the file") {
    std::string bad = t.write("bad", MakeImage(0x80001, 0, 8192));
    auto cfg = ParseArgs({"ram", "16M", "load", bad});
    REQUIRE(cfg.ok());
    auto st = CreateMachine()->load(*cfg, r.mem, {}, 1);
    REQUIRE_FALSE(st.ok());
    CHECK(Mentions(st, "text_offset"));
  }
  SECTION("an initrd that does not fit") {
    std::string big = t.write("big", std::vector<uint8_t>(12 * kMiB, 1));
    auto cfg = ParseArgs({"ram", "16M", "load", kernel, "initrd", "load", big});
    REQUIRE(cfg.ok());
    auto st = CreateMachine()->load(*cfg, r.mem, {}, 1);
    REQUIRE_FALSE(st.ok());
    CHECK(Mentions(st, "initrd"));
  }
  SECTION("two in-kernel interrupt controllers") {
    auto cfg = ParseArgs({"ram", "16M", "load", kernel});
    REQUIRE(cfg.ok());
    DeviceInfo g = Dev("gic", 0x2f000000, 0x10000, 0, "interrupt-controller", "arm,gic-v3", 1);
    g.regions.push_back({QVM_SPACE_MEM, 0x2f100000, 0x800000});
    g.irqchip_kind = QVM_IRQCHIP_GICV3;
    g.irqchip_nirqs = 256;
    DeviceInfo g2 = g;
    g2.name = "gic1";
    auto st = CreateMachine()->load(*cfg, r.mem, {g, g2}, 1);
    REQUIRE_FALSE(st.ok());
    CHECK(Mentions(st, "second"));
  }
}
TEST_CASE("arm64 machine: set pmu", "[arm64][fdt][machine][pmu]") {
  TempDir t;
  std::string kernel = t.write("Image", MakeImage(0x80000, 4 * kMiB, 8192));
  DeviceInfo gic = Dev("gic", 0x2c001000, 0x1000, 0, "interrupt-controller", "arm,cortex-a15-gic",
                       0x100);
  gic.regions.push_back({QVM_SPACE_MEM, 0x2c002000, 0x2000});
  gic.irqchip_kind = QVM_IRQCHIP_GICV2;
  gic.irqchip_nirqs = 128;
  auto tree = [&](std::vector<std::string> args, std::vector<DeviceInfo> devs,
                  std::string* summary = nullptr) -> absl::StatusOr<std::vector<uint8_t>> {
    std::vector<std::string> a = {"ram", "16M", "cpu", "cpu", "load", kernel};
    a.insert(a.end(), args.begin(), args.end());
    auto cfg = ParseArgs(a);
    REQUIRE(cfg.ok());
    Ram r(kRam, 16 * kMiB);
    auto machine = CreateMachine();
    absl::Status st = machine->plan(*cfg);  // `set pmu`
    if (st.ok()) st = machine->load(*cfg, r.mem, devs, 2);
    if (!st.ok()) return st;
    if (summary) *summary = machine->boot_summary();
    std::vector<uint8_t> blob(64 * 1024);
    REQUIRE(r.mem.read(kRam + 14 * kMiB, blob.data(), blob.size()));
    REQUIRE(fdt_check_header(blob.data()) == 0);
    blob.resize(fdt_totalsize(blob.data()));
    return blob;
  };
  std::string summary;
  auto on = tree({"set", "pmu", "on"}, {gic}, &summary);
  REQUIRE(on.ok());
  CHECK(Dt(*on).cells("/pmu", "interrupts") == std::vector<uint32_t>{1, 7, 0x304});
  CHECK(Dt(*on).prop("/pmu", "compatible") == Strs({"arm,armv8-pmuv3"}));
  CHECK(summary.find("PMUv3 (PPI 23)") != std::string::npos);
  auto off = tree({"set", "pmu", "off"}, {gic}, &summary);
  REQUIRE(off.ok());
  CHECK(Dt(*off).node("/pmu") < 0);
  CHECK(summary.find("PMU") == std::string::npos);
  auto unset = tree({}, {gic});
  REQUIRE(unset.ok());
  CHECK(Dt(*unset).node("/pmu") < 0);  // default off
  // auto follows the host's KVM (no usable /dev/kvm, e.g. under qemu-user: off).
  auto host = arm64::HostHasPmuV3();
  auto aut = tree({"set", "pmu", "auto"}, {gic});
  REQUIRE(aut.ok());
  CHECK((Dt(*aut).node("/pmu") >= 0) == host.value_or(false));
  // No interrupt controller: a configuration error at the value.
  auto nogic = tree({"set", "pmu", "on"}, {});
  REQUIRE_FALSE(nogic.ok());
  CHECK(Mentions(nogic.status(), "<command line>:9:"));
  CHECK(Mentions(nogic.status(), "`set pmu on`"));
  CHECK(Mentions(nogic.status(), "gic"));
}
#endif
