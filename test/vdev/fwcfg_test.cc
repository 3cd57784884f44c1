// fw-cfg (QEMU's firmware configuration interface): items, file directory,
// DMA, hostile DMA requests.
#include <cstring>
#include <string>
#include <vector>

#include "helpers.h"

namespace {

uint32_t Be32(uint32_t v) { return __builtin_bswap32(v); }

struct FwCfgFixture : HostFixture {
  qvm_vdev *f = nullptr;
  explicit FwCfgFixture(unsigned cpus = 3, const char *cmdline = "console=ttyS0 quiet",
                        const fake::Config &cfg = {}) {
    h.vcpus = cpus;
    h.cmdline = cmdline;
    f = make("fw-cfg", cfg);
  }
  ~FwCfgFixture() {
    h.vcpus = 1;
    h.cmdline.clear();
  }
  void select(uint16_t key) { h.out(f, 0x510, 2, key); }
  std::vector<uint8_t> bytes(uint16_t key, size_t n) {
    select(key);
    std::vector<uint8_t> v;
    for (size_t i = 0; i < n; i++) v.push_back(uint8_t(h.inb(f, 0x511)));
    return v;
  }
  uint64_t le(uint16_t key, unsigned n) {
    auto b = bytes(key, n);
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v |= uint64_t(b[i]) << (8 * i);
    return v;
  }
  // The DMA control structure at guest address `at`.
  void put_dma(uint64_t at, uint32_t control, uint32_t length, uint64_t addr) {
    uint8_t cs[16];
    for (int i = 0; i < 4; i++) cs[i] = uint8_t(control >> (24 - 8 * i));
    for (int i = 0; i < 4; i++) cs[4 + i] = uint8_t(length >> (24 - 8 * i));
    for (int i = 0; i < 8; i++) cs[8 + i] = uint8_t(addr >> (56 - 8 * i));
    REQUIRE(qvm_gmem_write(f, at, cs, sizeof cs) == 0);
  }
  void start_dma(uint64_t at) {
    h.out(f, 0x514, 4, Be32(uint32_t(at >> 32)));
    h.out(f, 0x518, 4, Be32(uint32_t(at)));
  }
  uint32_t control_at(uint64_t at) {
    uint8_t b[4];
    REQUIRE(qvm_gmem_read(f, at, b, 4) == 0);
    return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
  }
};

struct FwCfgNoDma : FwCfgFixture {
  static fake::Config Cfg() {
    fake::Config c;
    c.options.push_back({"dma", "off"});
    return c;
  }
  FwCfgNoDma() : FwCfgFixture(1, "", Cfg()) {}
};

}  // namespace

TEST_CASE_METHOD(FwCfgFixture, "fw-cfg: region, signature, ID, CPUs, RAM", "[fw-cfg]") {
  REQUIRE(f->regions.size() == 1);
  CHECK(f->regions[0].space == QVM_SPACE_IO);
  CHECK(f->regions[0].base == 0x510);
  CHECK(f->regions[0].size == 12);
  auto sig = bytes(0x0000, 6);
  CHECK(std::string(sig.begin(), sig.begin() + 4) == "QEMU");
  CHECK(sig[4] == 0);  // past the end: 0
  CHECK(le(0x0001, 4) == 3);  // traditional + DMA
  CHECK(le(0x0005, 2) == 3);
  CHECK(le(0x000f, 2) == 3);
  CHECK(le(0x0003, 8) == h.ram.size());
  // The DMA port reads as "QEMU CFG".
  std::string dsig;
  for (int i = 0; i < 8; i++) dsig += char(h.inb(f, uint16_t(0x514 + i)));
  CHECK(dsig == "QEMU CFG");
  // Byte reads of the selector port read data too (QEMU's combined port).
  select(0x0000);
  CHECK(h.inb(f, 0x510) == 'Q');
  CHECK(h.inb(f, 0x511) == 'E');
  // Unknown and arch-local keys read 0.
  CHECK(le(0x0123, 4) == 0);
  CHECK(le(0x8003, 4) == 0);
}

TEST_CASE_METHOD(FwCfgFixture, "fw-cfg: command line and reselect rewinds", "[fw-cfg]") {
  std::string want = "console=ttyS0 quiet";
  CHECK(le(0x0014, 4) == want.size() + 1);
  auto b = bytes(0x0015, want.size() + 1);
  CHECK(std::string(b.begin(), b.end() - 1) == want);
  CHECK(b.back() == 0);
  // Selecting again starts from the first byte; data writes are ignored.
  select(0x0015);
  h.outb(f, 0x511, 'X');
  CHECK(h.inb(f, 0x511) == 'c');
}

TEST_CASE_METHOD(FwCfgFixture, "fw-cfg: file directory, etc/e820, system name", "[fw-cfg]") {
  auto cnt = bytes(0x0019, 4);
  uint32_t n = uint32_t(cnt[0]) << 24 | uint32_t(cnt[1]) << 16 | uint32_t(cnt[2]) << 8 | cnt[3];
  REQUIRE(n == 2);
  auto dir = bytes(0x0019, 4 + 64 * n);
  std::vector<std::string> names;
  uint16_t e820_key = 0, name_key = 0;
  uint32_t e820_size = 0, name_size = 0;
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *e = dir.data() + 4 + 64 * i;
    uint32_t size = uint32_t(e[0]) << 24 | uint32_t(e[1]) << 16 | uint32_t(e[2]) << 8 | e[3];
    uint16_t key = uint16_t(e[4] << 8 | e[5]);
    std::string name(reinterpret_cast<const char *>(e + 8));
    names.push_back(name);
    if (name == "etc/e820") e820_key = key, e820_size = size;
    if (name == "opt/qvm/system-name") name_key = key, name_size = size;
  }
  CHECK(names == std::vector<std::string>{"etc/e820", "opt/qvm/system-name"});
  CHECK(e820_key >= 0x20);
  REQUIRE(e820_size == 20);
  auto e = bytes(e820_key, 20);
  uint64_t base = 0, len = 0;
  for (int i = 0; i < 8; i++) base |= uint64_t(e[i]) << (8 * i);
  for (int i = 0; i < 8; i++) len |= uint64_t(e[8 + i]) << (8 * i);
  CHECK(base == h.ram_base);
  CHECK(len == h.ram.size());
  CHECK(e[16] == 1);
  auto s = bytes(name_key, name_size);
  CHECK(std::string(s.begin(), s.end()) == "fake-system");
}

TEST_CASE_METHOD(FwCfgFixture, "fw-cfg: DMA select+read, skip, zero fill", "[fw-cfg]") {
  uint64_t cs = h.ram_base + 0x1000, buf = h.ram_base + 0x2000;
  std::vector<uint8_t> junk(16, 0xaa);
  REQUIRE(qvm_gmem_write(f, buf, junk.data(), junk.size()) == 0);
  put_dma(cs, (0x0015u << 16) | 0x08 | 0x02, 8, buf);  // select cmdline + read 8
  start_dma(cs);
  CHECK(control_at(cs) == 0);
  char got[9] = {};
  REQUIRE(qvm_gmem_read(f, buf, got, 8) == 0);
  CHECK(std::string(got) == "console=");
  // Skip 6 ("ttyS0 "), then read 16: "quiet" + NUL + zeros.
  put_dma(cs, 0x04, 6, 0);
  start_dma(cs);
  CHECK(control_at(cs) == 0);
  REQUIRE(qvm_gmem_write(f, buf, junk.data(), junk.size()) == 0);
  put_dma(cs, 0x02, 16, buf);
  start_dma(cs);
  CHECK(control_at(cs) == 0);
  uint8_t b[16];
  REQUIRE(qvm_gmem_read(f, buf, b, 16) == 0);
  CHECK(std::string(reinterpret_cast<char *>(b)) == "quiet");
  for (int i = 5; i < 16; i++) CHECK(b[i] == 0);
  // The port interface continues where DMA left off (at the end: 0).
  CHECK(h.inb(f, 0x511) == 0);
}

TEST_CASE_METHOD(FwCfgFixture, "fw-cfg: hostile DMA requests", "[fw-cfg][hostile]") {
  uint64_t cs = h.ram_base + 0x1000;
  uint64_t end = h.ram_base + h.ram.size();
  // Destination outside RAM, straddling its end, wrapping: ERROR, no copy.
  const uint64_t bad[] = {0, end - 4, ~0ull - 3, end};
  for (uint64_t a : bad) {
    put_dma(cs, (0x0000u << 16) | 0x08 | 0x02, 8, a);
    start_dma(cs);
    CHECK(control_at(cs) == 1);
  }
  // A huge length: refused as a whole.
  put_dma(cs, 0x08 | 0x02, 0xffffffffu, h.ram_base);
  start_dma(cs);
  CHECK(control_at(cs) == 1);
  // Writes to (read-only) items are refused.
  put_dma(cs, 0x08 | 0x10, 4, h.ram_base);
  start_dma(cs);
  CHECK(control_at(cs) == 1);
  // Control structures outside RAM or wrapping: nothing happens, no crash.
  start_dma(0);
  start_dma(~0ull - 7);
  start_dma(end - 8);
  h.out(f, 0x514, 8, 0);  // 8-byte write of address 0
  // Odd widths and offsets are ignored.
  h.out(f, 0x512, 2, 0xffff);
  h.out(f, 0x511, 4, 0xffffffff);
  CHECK(h.in(f, 0x510, 2) == 0);
  // Still works afterwards.
  CHECK(le(0x0005, 2) == 3);
}

TEST_CASE_METHOD(FwCfgNoDma, "fw-cfg: dma off", "[fw-cfg]") {
  CHECK(le(0x0001, 4) == 1);
  CHECK(h.inb(f, 0x514) == 0);
  CHECK(le(0x0005, 2) == 1);
  CHECK(le(0x0014, 4) == 1);  // empty command line: just the NUL
}

TEST_CASE("fw-cfg: bad options and loc", "[fw-cfg]") {
  fake::Host &h = fake::Host::get();
  h.reset();
  fake::Config c;
  c.options.push_back({"dma", "sometimes"});
  CHECK(h.create("fw-cfg", c) == nullptr);
  fake::Config m;
  m.locs.push_back({QVM_SPACE_MEM, 0x1000});
  CHECK(h.create("fw-cfg", m) == nullptr);
  h.reset();
}
