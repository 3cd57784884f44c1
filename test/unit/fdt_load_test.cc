// Tests for `fdt load PATH` (a user-supplied device tree): boot/fdt's ReadUserFdt (the
// user's blob validated with libfdt) and PatchUserFdt (what qvm fills in),
// on every host. On an aarch64 build also the arm64 machine with `fdt load`
// (run by test/lanes/aarch64/unit.sh under qemu-aarch64-static); on x86_64
// the refusal (no device tree there). Blobs are built here with libfdt's
// sequential-write API.
#include <catch2/catch.hpp>

extern "C" {
#include <libfdt.h>
}
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "test/unit/temp_dir.h"
#include "boot/fdt.h"
#include "vmm/arch.h"
#include "vmm/config.h"
#include "vmm/guest_memory.h"
#if defined(__aarch64__)
#include "vmm/log.h"
#else
#include "vmm/vm.h"
#endif

using namespace qvm;
using namespace qvm::boot;

namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kRam = 0x80000000ull;

using qvm::test::TempDir;

// A blob built with libfdt's sequential-write API: `body` adds the root's
// properties and subnodes between fdt_begin_node("") and its end.
std::vector<uint8_t> Build(const std::function<void(void*)>& body, size_t cap = 64 * 1024) {
  std::vector<uint8_t> b(cap);
  void* f = b.data();
  REQUIRE(fdt_create(f, int(cap)) == 0);
  REQUIRE(fdt_add_reservemap_entry(f, 0x80000000, 0x1000) == 0);
  REQUIRE(fdt_finish_reservemap(f) == 0);
  REQUIRE(fdt_begin_node(f, "") == 0);
  body(f);
  REQUIRE(fdt_end_node(f) == 0);
  REQUIRE(fdt_finish(f) == 0);
  b.resize(fdt_totalsize(f));
  return b;
}

void Node(void* f, const char* name, const std::function<void()>& props) {
  REQUIRE(fdt_begin_node(f, name) == 0);
  props();
  REQUIRE(fdt_end_node(f) == 0);
}

// A board the user wrote: root cells, /cpus with one CPU, a UART, a
// /chosen with stdout-path and old bootargs, and (when asked) memory.
std::vector<uint8_t> Board(bool chosen, bool memory, bool cpus = true, uint32_t addr_cells = 2,
                           uint32_t size_cells = 2) {
  return Build([&](void* f) {
    REQUIRE(fdt_property_string(f, "model", "user board") == 0);
    REQUIRE(fdt_property_u32(f, "#address-cells", addr_cells) == 0);
    REQUIRE(fdt_property_u32(f, "#size-cells", size_cells) == 0);
    if (chosen)
      Node(f, "chosen", [&] {
        REQUIRE(fdt_property_string(f, "bootargs", "old args") == 0);
        REQUIRE(fdt_property_string(f, "stdout-path", "/uart@9000000") == 0);
        REQUIRE(fdt_property_u64(f, "linux,initrd-start", 0x81000000) == 0);
        REQUIRE(fdt_property_u64(f, "linux,initrd-end", 0x81001000) == 0);
      });
    if (cpus)
      Node(f, "cpus", [&] {
        REQUIRE(fdt_property_u32(f, "#address-cells", 1) == 0);
        REQUIRE(fdt_property_u32(f, "#size-cells", 0) == 0);
        Node(f, "cpu@0", [&] {
          REQUIRE(fdt_property_string(f, "device_type", "cpu") == 0);
          REQUIRE(fdt_property_u32(f, "reg", 0) == 0);
        });
      });
    if (memory)
      Node(f, "memory@80000000", [&] {
        REQUIRE(fdt_property_string(f, "device_type", "memory") == 0);
        uint32_t reg[4] = {cpu_to_fdt32(0), cpu_to_fdt32(0x80000000), cpu_to_fdt32(0),
                           cpu_to_fdt32(0x1000000)};
        REQUIRE(fdt_property(f, "reg", reg, sizeof reg) == 0);
      });
    Node(f, "uart@9000000", [&] {
      REQUIRE(fdt_property_string(f, "compatible", "arm,pl011") == 0);
      REQUIRE(fdt_property_u32(f, "phandle", 7) == 0);
    });
  });
}

bool Mentions(const absl::Status& s, const std::string& what) {
  return std::string(s.message()).find(what) != std::string::npos;
}

void SetBe32(std::vector<uint8_t>& b, size_t off, uint32_t v) {
  REQUIRE(off + 4 <= b.size());
  uint32_t be = cpu_to_fdt32(v);
  std::memcpy(b.data() + off, &be, 4);
}

struct Dt {
  std::vector<uint8_t> blob;
  explicit Dt(std::vector<uint8_t> b) : blob(std::move(b)) {
    REQUIRE(fdt_check_full(blob.data(), blob.size()) == 0);
  }
  int node(const std::string& path) const { return fdt_path_offset(blob.data(), path.c_str()); }
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
  int memory_nodes() const {
    int n = 0;
    for (int o = fdt_node_offset_by_prop_value(blob.data(), -1, "device_type", "memory", 7);
         o >= 0; o = fdt_node_offset_by_prop_value(blob.data(), o, "device_type", "memory", 7))
      n++;
    return n;
  }
};

}  // namespace

// ---- reading and validating the user's blob -----------------------------------

TEST_CASE("fdt load: a valid blob is read whole", "[fdt][fdtload]") {
  TempDir t;
  auto b = Board(true, true);
  // Trailing bytes after totalsize (padding) are not part of the tree.
  auto padded = b;
  padded.resize(b.size() + 100, 0xee);
  auto r = ReadUserFdt(t.write("board.dtb", padded));
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(*r == b);
}

TEST_CASE("fdt load: malformed blobs are errors naming the file and the fault",
          "[fdt][fdtload]") {
  TempDir t;
  auto good = Board(true, true);
  struct Case {
    const char* what;
    std::vector<uint8_t> blob;
    const char* msg;
  };
  auto half = good;
  half.resize(good.size() / 2);  // cut short: totalsize is more than the file
  auto lies_up = good;
  SetBe32(lies_up, 4, uint32_t(good.size() + 4096));  // totalsize beyond the file
  auto lies_down = good;
  SetBe32(lies_down, 4, 48);  // totalsize cuts the blocks off
  auto magic = good;
  magic[0] ^= 0xff;
  auto version = good;
  SetBe32(version, 20, 1);  // version 1: older than libfdt reads
  auto v16 = good;
  SetBe32(v16, 20, 16);  // before 17: libfdt's checker is not safe on them
  auto structure = good;
  // The first structure token (FDT_BEGIN_NODE) made an unknown one.
  SetBe32(structure, fdt_off_dt_struct(good.data()), 0x77);
  auto strings = good;
  // A property name offset far past the strings block.
  int root_prop = fdt_first_property_offset(good.data(), 0);
  REQUIRE(root_prop >= 0);
  SetBe32(strings, fdt_off_dt_struct(good.data()) + root_prop + 8, 0x7ffffff0);
  auto big = Build([](void* f) {
    std::string v(kUserFdtMax, 'x');
    REQUIRE(fdt_property(f, "huge", v.data(), int(v.size())) == 0);
  }, kUserFdtMax + 4096);
  std::vector<Case> cases = {
      {"empty file", {}, "truncated"},
      {"shorter than the header", std::vector<uint8_t>(good.begin(), good.begin() + 20),
       "truncated"},
      {"cut in half", half, "totalsize"},
      {"totalsize beyond the file", lies_up, "totalsize"},
      {"totalsize shorter than the blocks", lies_down, "bad header"},
      {"bad magic", magic, "magic"},
      {"unsupported version", version, "bad header"},
      {"version 16", v16, "version 16; qvm reads version 17"},
      {"unknown structure token", structure, "malformed structure"},
      {"property name outside the strings", strings, "malformed structure"},
      {"larger than 2 MiB", big, "limit"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    std::string path = t.write("bad.dtb", c.blob);
    auto r = ReadUserFdt(path);
    REQUIRE_FALSE(r.ok());
    INFO(r.status().message());
    CHECK(absl::IsInvalidArgument(r.status()));
    CHECK(Mentions(r.status(), c.msg));
    CHECK(Mentions(r.status(), path));
    CHECK(Mentions(r.status(), "device tree"));
  }
  auto missing = ReadUserFdt(t.path() + "/none.dtb");
  REQUIRE_FALSE(missing.ok());
  CHECK(Mentions(missing.status(), "none.dtb"));
  // A directory is not a blob.
  CHECK_FALSE(ReadUserFdt(t.path()).ok());
}

// ---- what qvm fills in -----------------------------------------------------------

TEST_CASE("fdt load: bootargs and initrd replace the user's, the rest is kept",
          "[fdt][fdtload]") {
  auto user = Board(true, true);
  UserFdtPatch p;
  p.set_bootargs = true;
  p.bootargs = "console=ttyAMA0 root=/dev/vda";
  p.initrd_start = kRam + 0x4000000;
  p.initrd_end = kRam + 0x4123457;
  p.memory = {{kRam, 256 * kMiB}};
  auto r = PatchUserFdt(user, p);
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->has_cpus);
  CHECK(r->had_memory);
  CHECK_FALSE(r->added_chosen);
  CHECK(r->blob.size() <= kUserFdtMax);
  Dt dt(r->blob);
  CHECK(dt.str("/chosen", "bootargs") == "console=ttyAMA0 root=/dev/vda");
  CHECK(dt.u64("/chosen", "linux,initrd-start") == kRam + 0x4000000);
  CHECK(dt.u64("/chosen", "linux,initrd-end") == kRam + 0x4123457);
  CHECK(dt.str("/chosen", "stdout-path") == "/uart@9000000");
  // The user's memory node stays as written; none is added.
  CHECK(dt.memory_nodes() == 1);
  CHECK(dt.cells("/memory@80000000", "reg") == std::vector<uint32_t>{0, 0x80000000, 0, 0x1000000});
  // Everything else is the user's, untouched: model, cpus, devices,
  // the memory reservation map.
  CHECK(dt.str("/", "model") == "user board");
  CHECK(dt.str("/cpus/cpu@0", "device_type") == "cpu");
  CHECK(dt.str("/uart@9000000", "compatible") == "arm,pl011");
  CHECK(dt.cells("/uart@9000000", "phandle") == std::vector<uint32_t>{7});
  CHECK(dt.node("/psci") < 0);
  CHECK(dt.node("/timer") < 0);
  REQUIRE(fdt_num_mem_rsv(dt.blob.data()) == 1);
  uint64_t a = 0, s = 0;
  REQUIRE(fdt_get_mem_rsv(dt.blob.data(), 0, &a, &s) == 0);
  CHECK(a == 0x80000000);
  CHECK(s == 0x1000);
}

TEST_CASE("fdt load: without cmdline or initrd the user's /chosen is left alone",
          "[fdt][fdtload]") {
  auto user = Board(true, true);
  UserFdtPatch p;
  p.memory = {{kRam, 256 * kMiB}};
  auto r = PatchUserFdt(user, p);
  REQUIRE(r.ok());
  Dt dt(r->blob);
  CHECK(dt.str("/chosen", "bootargs") == "old args");
  CHECK(dt.u64("/chosen", "linux,initrd-start") == 0x81000000);
  CHECK(dt.u64("/chosen", "linux,initrd-end") == 0x81001000);
  // An empty `cmdline ""` is still a cmdline: it empties bootargs.
  p.set_bootargs = true;
  r = PatchUserFdt(user, p);
  REQUIRE(r.ok());
  CHECK(Dt(r->blob).prop("/chosen", "bootargs") == std::string("\0", 1));
}

TEST_CASE("fdt load: no /chosen, no memory: qvm creates them", "[fdt][fdtload]") {
  auto user = Board(false, false, false);
  UserFdtPatch p;
  p.set_bootargs = true;
  p.bootargs = "quiet";
  p.initrd_start = kRam + 0x100000;
  p.initrd_end = kRam + 0x200000;
  p.memory = {{kRam, 128 * kMiB}, {0x100000000ull, 1ull << 30}};
  auto r = PatchUserFdt(user, p);
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->added_chosen);
  CHECK_FALSE(r->has_cpus);
  CHECK_FALSE(r->had_memory);
  Dt dt(r->blob);
  CHECK(dt.str("/chosen", "bootargs") == "quiet");
  CHECK(dt.u64("/chosen", "linux,initrd-start") == kRam + 0x100000);
  CHECK(dt.u64("/chosen", "linux,initrd-end") == kRam + 0x200000);
  CHECK(dt.memory_nodes() == 2);
  CHECK(dt.str("/memory@80000000", "device_type") == "memory");
  CHECK(dt.cells("/memory@80000000", "reg") == std::vector<uint32_t>{0, 0x80000000, 0, 0x8000000});
  CHECK(dt.cells("/memory@100000000", "reg") == std::vector<uint32_t>{1, 0, 0, 0x40000000});
  CHECK(dt.str("/uart@9000000", "compatible") == "arm,pl011");
  // Nothing to fill in: /chosen is still created (empty), no memory asked.
  r = PatchUserFdt(user, UserFdtPatch{});
  REQUIRE(r.ok());
  CHECK(Dt(r->blob).node("/chosen") >= 0);
  CHECK_FALSE(Dt(r->blob).prop("/chosen", "bootargs").has_value());
  CHECK(Dt(r->blob).memory_nodes() == 0);
}

TEST_CASE("fdt load: memory nodes follow the root's cells", "[fdt][fdtload]") {
  auto user = Board(true, false, true, 1, 1);
  UserFdtPatch p;
  p.memory = {{kRam, 64 * kMiB}};
  auto r = PatchUserFdt(user, p);
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(Dt(r->blob).cells("/memory@80000000", "reg") ==
        std::vector<uint32_t>{0x80000000, 0x4000000});
  // RAM above 4 GiB cannot be said with one address cell: an error.
  p.memory.emplace_back(0x100000000ull, 64 * kMiB);
  r = PatchUserFdt(user, p);
  REQUIRE_FALSE(r.ok());
  CHECK(absl::IsInvalidArgument(r.status()));
  CHECK(Mentions(r.status(), "memory@100000000"));
  CHECK(Mentions(r.status(), "#address-cells 1"));
}

TEST_CASE("fdt load: a result larger than 2 MiB is an error", "[fdt][fdtload]") {
  auto user = Build([](void* f) {
    std::string v(kUserFdtMax - 4096, 'x');
    REQUIRE(fdt_property(f, "big", v.data(), int(v.size())) == 0);
  }, kUserFdtMax);
  UserFdtPatch p;
  p.set_bootargs = true;
  p.bootargs = std::string(8192, 'a');
  auto r = PatchUserFdt(user, p);
  REQUIRE_FALSE(r.ok());
  CHECK(Mentions(r.status(), "exceed"));
  // The same blob with a short cmdline fits.
  p.bootargs = "quiet";
  r = PatchUserFdt(user, p);
  REQUIRE(r.ok());
  CHECK(r->blob.size() <= kUserFdtMax);
  // Not a blob at all: refused, not read past its end.
  CHECK_FALSE(PatchUserFdt(std::vector<uint8_t>(16, 0), p).ok());
}

#if defined(__aarch64__)
// ---- the arm64 machine (aarch64 builds) ---------------------------------------

namespace {

std::vector<uint8_t> MakeImage(uint64_t text_offset, uint64_t image_size, size_t file_size) {
  std::vector<uint8_t> b(file_size);
  auto put32 = [&](size_t o, uint32_t v) { std::memcpy(b.data() + o, &v, 4); };
  auto put64 = [&](size_t o, uint64_t v) { std::memcpy(b.data() + o, &v, 8); };
  put32(0, 0x14000010);
  put64(8, text_offset);
  put64(16, image_size);
  put64(24, 2);
  put32(0x38, 0x644d5241);
  return b;
}

std::string ReadFile(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("arm64 machine: fdt load places the user's tree with qvm's parts filled in",
          "[fdt][fdtload][machine]") {
  TempDir t;
  std::string kernel = t.write("Image", MakeImage(0x80000, 4 * kMiB, 8192));
  std::string initrd = t.write("initrd", std::vector<uint8_t>(5000, 0x42));
  std::string dtb = t.write("board.dtb", Board(false, false, false));
  std::string dump = t.path() + "/final.dtb";
  std::string log = t.path() + "/log";
  auto cfg = ParseArgs({"ram", "128M", "load", kernel, "initrd", "load", initrd, "fdt", "load",
                        dtb, "cmdline", "console=ttyAMA0 quiet", "set", "fdt-dump-file", dump,
                        "logger", "warn", log});
  INFO(cfg.status().message());
  REQUIRE(cfg.ok());
  REQUIRE(LogConfigure(cfg->loggers).ok());
  GuestMemory mem;
  REQUIRE(mem.add(kRam, 128 * kMiB, false).ok());
  auto machine = CreateMachine();
  absl::Status st = machine->plan(*cfg);  // `set fdt-dump-file`
  if (st.ok()) st = machine->load(*cfg, mem, {}, 1);
  INFO(st.message());
  REQUIRE(st.ok());
  // The same place as the generated tree: the last 2 MiB of RAM (x0).
  uint64_t fdt_gpa = kRam + 126 * kMiB;
  std::string summary = machine->boot_summary();
  CHECK(summary.find("FDT at 0x87e00000") != std::string::npos);
  CHECK(summary.find("from " + dtb) != std::string::npos);
  std::vector<uint8_t> blob(64 * 1024);
  REQUIRE(mem.read(fdt_gpa, blob.data(), blob.size()));
  REQUIRE(fdt_check_header(blob.data()) == 0);
  blob.resize(fdt_totalsize(blob.data()));
  Dt dt(blob);
  CHECK(dt.str("/", "model") == "user board");
  CHECK(dt.str("/chosen", "bootargs") == "console=ttyAMA0 quiet");
  uint64_t i0 = dt.u64("/chosen", "linux,initrd-start"), i1 = dt.u64("/chosen", "linux,initrd-end");
  CHECK(i1 - i0 == 5000);
  CHECK(i1 <= fdt_gpa);
  uint8_t byte = 0;
  REQUIRE(mem.read(i0, &byte, 1));
  CHECK(byte == 0x42);
  CHECK(dt.cells("/memory@80000000", "reg") == std::vector<uint32_t>{0, 0x80000000, 0, 0x8000000});
  // Not the generated tree: no psci, timer or cpus of qvm's own.
  CHECK(dt.node("/psci") < 0);
  CHECK(dt.node("/cpus") < 0);
  // fdt-dump-file holds the final blob.
  CHECK(ReadFile(dump) == std::string(blob.begin(), blob.end()));
  // A reset in place loads again from the blob read the first time (the
  // file is gone now) and does not warn again.
  std::filesystem::remove(dtb);
  st = machine->load(*cfg, mem, {}, 1);
  INFO(st.message());
  REQUIRE(st.ok());
  REQUIRE(LogConfigure({}).ok());
  std::string text = ReadFile(log);
  auto count = [&](const std::string& s) {
    size_t n = 0;
    for (size_t p = text.find(s); p != std::string::npos; p = text.find(s, p + 1)) n++;
    return n;
  };
  CHECK(count("no /cpus node") == 1);
  CHECK(count("no memory node") == 1);
}

TEST_CASE("arm64 machine: fdt load with a complete tree keeps its memory, no warnings",
          "[fdt][fdtload][machine]") {
  TempDir t;
  std::string kernel = t.write("Image", MakeImage(0x80000, 4 * kMiB, 8192));
  std::string dtb = t.write("board.dtb", Board(true, true));
  std::string log = t.path() + "/log";
  auto cfg = ParseArgs({"ram", "64M", "load", kernel, "fdt", "load", dtb, "logger", "warn", log});
  REQUIRE(cfg.ok());
  REQUIRE(LogConfigure(cfg->loggers).ok());
  GuestMemory mem;
  REQUIRE(mem.add(kRam, 64 * kMiB, false).ok());
  absl::Status st = CreateMachine()->load(*cfg, mem, {}, 1);
  REQUIRE(LogConfigure({}).ok());
  INFO(st.message());
  REQUIRE(st.ok());
  std::vector<uint8_t> blob(64 * 1024);
  REQUIRE(mem.read(kRam + 62 * kMiB, blob.data(), blob.size()));
  blob.resize(fdt_totalsize(blob.data()));
  Dt dt(blob);
  CHECK(dt.memory_nodes() == 1);
  CHECK(dt.cells("/memory@80000000", "reg") == std::vector<uint32_t>{0, 0x80000000, 0, 0x1000000});
  CHECK(dt.str("/chosen", "bootargs") == "old args");  // no cmdline: the user's
  CHECK(ReadFile(log).find("fdt load") == std::string::npos);
}

TEST_CASE("arm64 machine: fdt load refusals", "[fdt][fdtload][machine]") {
  TempDir t;
  std::string kernel = t.write("Image", MakeImage(0x80000, 4 * kMiB, 8192));
  GuestMemory mem;
  REQUIRE(mem.add(kRam, 16 * kMiB, false).ok());
  SECTION("a malformed blob: configuration error at the path, naming the file") {
    auto b = Board(true, true);
    b.resize(b.size() - 8);
    std::string dtb = t.write("cut.dtb", b);
    auto cfg = ParseArgs({"ram", "16M", "load", kernel, "fdt", "load", dtb});
    REQUIRE(cfg.ok());
    auto st = CreateMachine()->load(*cfg, mem, {}, 1);
    REQUIRE_FALSE(st.ok());
    CHECK(absl::IsInvalidArgument(st));  // exit 65
    CHECK(Mentions(st, "<command line>"));
    CHECK(Mentions(st, dtb));
    CHECK(Mentions(st, "totalsize"));
  }
  SECTION("two blobs") {
    std::string dtb = t.write("b.dtb", Board(true, true));
    auto cfg = ParseArgs({"ram", "16M", "load", kernel, "fdt", "load", dtb, "fdt", "load", dtb});
    REQUIRE(cfg.ok());
    auto st = CreateMachine()->load(*cfg, mem, {}, 1);
    REQUIRE_FALSE(st.ok());
    CHECK(Mentions(st, "already"));
  }
  SECTION("memory the root's cells cannot describe") {
    std::string dtb = t.write("c.dtb", Board(true, false, true, 1, 1));
    auto cfg = ParseArgs({"ram", "0x100000000,16M", "load", kernel, "fdt", "load", dtb});
    REQUIRE(cfg.ok());
    GuestMemory high;
    REQUIRE(high.add(0x100000000ull, 16 * kMiB, false).ok());
    auto st = CreateMachine()->load(*cfg, high, {}, 1);
    REQUIRE_FALSE(st.ok());
    CHECK(absl::IsInvalidArgument(st));
    CHECK(Mentions(st, dtb));
    CHECK(Mentions(st, "#address-cells 1"));
  }
}
#else
// ---- x86_64: no device tree to replace ------------------------------------------

TEST_CASE("x86_64: fdt load is refused as a configuration error", "[fdtload]") {
  auto cfg = ParseArgs({"ram", "16M", "load", "/nonexistent/kernel", "fdt", "load",
                        "/nonexistent/board.dtb"});
  REQUIRE(cfg.ok());
  Vm vm(std::move(*cfg), CreateMachine());
  absl::Status st = vm.build();
  REQUIRE_FALSE(st.ok());
  INFO(st.message());
  CHECK(absl::IsInvalidArgument(st));  // exit 65
  CHECK(Mentions(st, "`fdt load`: not supported on x86_64"));
  CHECK(Mentions(st, "<command line>"));
}
#endif
