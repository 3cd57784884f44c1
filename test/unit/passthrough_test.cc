// Passthrough (`pass loc mem` / `pass loc io`): parsing of the host side,
// every refusal, overlaps, file- and shm-backed regions, read-only passes
// and port forwarding through the machine, against a fake machine.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "vmm/arch.h"
#include "vmm/config.h"
#include "vmm/passthrough.h"
#include "test/unit/temp_dir.h"

namespace qvm {
namespace {

// A machine whose host ports are recorded (and whether it has any at all).
class FakeMachine : public Machine {
 public:
  explicit FakeMachine(bool ports) : real_(CreateMachine()), ports_(ports) {}
  const char* name() const override { return "fake"; }
  const CpuModel& cpu_model() const override { return real_->cpu_model(); }
  absl::Status plan(const Config&) override { return absl::OkStatus(); }
  std::vector<std::string> platform_devices() const override { return {}; }
  std::string implied_pci_host() const override { return ""; }
  std::string pci_pass_device() const override { return ""; }
  bool builds_acpi() const override { return false; }
  uint64_t default_ram_base() const override { return 0; }
  absl::Status load(const Config&, GuestMemory&, const std::vector<DeviceInfo>&,
                    unsigned) override {
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<VmBackend>> create_backend(unsigned) override {
    return absl::UnimplementedError("fake");
  }
  absl::Status prepare_vcpu(VcpuBackend&, unsigned) override { return absl::OkStatus(); }
  std::string boot_summary() const override { return ""; }
  bool has_host_ports() const override { return ports_; }
  absl::Status open_host_ports(uint32_t first, uint32_t count) override {
    opened.push_back({first, count});
    return open_status;
  }
  uint32_t host_port_in(uint16_t port, unsigned size) override {
    ins.push_back({port, size});
    return 0x12345678u;
  }
  void host_port_out(uint16_t port, unsigned size, uint32_t value) override {
    outs.push_back({port, size, value});
  }
  struct Out { uint32_t port, size, value; };
  std::vector<std::pair<uint32_t, uint32_t>> opened, ins;
  std::vector<Out> outs;
  absl::Status open_status = absl::OkStatus();

 private:
  std::unique_ptr<Machine> real_;
  bool ports_;
};

struct NullDev : BusDevice {
  BusStatus read(const BusAccess&, uint8_t*) override { return BusStatus::Done; }
  BusStatus write(const BusAccess&, const uint8_t*) override { return BusStatus::Done; }
  std::string bus_name() const override { return "uart"; }
};

Config Parse(const std::string& text, const std::string& file = "t.conf") {
  auto toks = Tokenize(text, file);
  REQUIRE(toks.ok());
  auto cfg = ParseTokens(*toks);
  REQUIRE(cfg.ok());
  return *cfg;
}

struct Fixture {
  GuestMemory mem;
  Bus mmio{"mmio", 0}, io{"io", 0x10000};
  FakeMachine machine{true};
  Passthrough pass;
  Fixture() { REQUIRE(mem.add(0, 0x100000, false).ok()); }
  absl::Status build(const std::string& text, bool open = true) {
    auto toks = Tokenize(text, "t.conf");
    if (!toks.ok()) return toks.status();
    auto cfg = ParseTokens(*toks);
    if (!cfg.ok()) return cfg.status();
    return pass.build(*cfg, mem, mmio, io, machine, open);
  }
};

std::string Msg(const absl::Status& st) { return std::string(st.message()); }

TEST_CASE("pass: the host side's spellings parse", "[pass]") {
  Config c = Parse("pass loc mem:0x1000,0x1000,r=file:d/x.bin loc mem:0x2000,4K=shm:obj "
                   "loc mem:0x3000,4K,rw=0x9000",
                   "/etc/t.conf");
  const auto& l = c.passes[0].locs;
  REQUIRE(l.size() == 3);
  CHECK(l[0].host_kind == LocSpec::HostKind::File);
  CHECK(l[0].host_path == "/etc/d/x.bin");  // relative to the file's directory
  CHECK(l[0].perms == "r");
  CHECK(!l[0].host);
  CHECK(l[1].host_kind == LocSpec::HostKind::Shm);
  CHECK(l[1].host_path == "obj");
  CHECK(l[2].host_kind == LocSpec::HostKind::Phys);
  CHECK(*l[2].host == 0x9000u);
  auto bad = Tokenize("pass loc mem:0x1000,4K=shm:a/b", "t.conf");
  REQUIRE(bad.ok());
  CHECK(Msg(ParseTokens(*bad).status()) ==
        "t.conf:1:10: `loc`: bad host shared-memory name `mem:0x1000,4K=shm:a/b`");
  auto empty = Tokenize("pass loc mem:0x1000,4K=file:", "t.conf");
  REQUIRE(empty.ok());
  CHECK(Msg(ParseTokens(*empty).status()) ==
        "t.conf:1:10: `loc`: bad host file `mem:0x1000,4K=file:`");
}

TEST_CASE("pass: every refusal names the location's token", "[pass]") {
  test::TempDir d;
  std::string small = d.write_text("small", std::string(100, 'x'));
  struct Case { std::string text, want; };
  const std::vector<Case> cases = {
      {"pass loc mem:0x200000", "t.conf:1:10: `pass loc mem`: needs a length"},
      {"pass loc mem:0x200800,0x1000", "must be multiples of 4 KiB"},
      {"pass loc mem:0x200000,0x800", "must be multiples of 4 KiB"},
      {"pass loc mem:0x200000,0x1000=0x1800", "host address 0x1800 is not a multiple of 4 KiB"},
      {"pass loc mem:0xfffffffffffff000,0x2000", "wraps around"},
      {"pass loc mem:0x200000,0x1000,rwm", "attribute `m` is not one qvm knows"},
      {"pass loc mem:0x200000,0x1000,w", "a region the guest cannot read"},
      {"pass loc mem:0x200000,0x1000,rcn", "`c` (cacheable) and `n` (not cacheable) together"},
      {"pass loc mem:0x200000,0x1000,rn=shm:x", "`n` (not cacheable): a host file"},
      {"pass loc mem:0xff000,0x2000", "0xff000-0x100fff overlaps guest RAM 0x0-0xfffff"},
      {"pass loc mem:0x200000,0x1000,r=file:" + small, "holds 100 bytes, the pass needs 0x1000"},
      {"pass loc mem:0x200000,0x1000,r=file:" + d / "absent", "No such file"},
      {"pass loc mem:0x200000,0x1000=file:" + small + " pass loc mem:0x200000,0x1000=file:" +
           small, "holds 100 bytes"},
      {"pass loc io:0x70,0x10,rw", "`pass loc io`: ports take no attributes"},
      {"pass loc io:0xfff0,0x20", "0xfff0,32 runs past port 0xffff"},
      {"pass loc io:0x70,2=0xffff", "runs past port 0xffff"},
      {"pass intr ioapic:4=5", "t.conf:1:11: `pass intr`: a bare host interrupt cannot be passed on Linux"},
  };
  for (const auto& c : cases) {
    Fixture f;
    INFO(c.text);
    absl::Status st = f.build(c.text);
    CHECK(absl::IsInvalidArgument(st));
    CHECK_THAT(Msg(st), Catch::Contains(c.want));
    CHECK_THAT(Msg(st), Catch::StartsWith("t.conf:1:"));
  }
}

TEST_CASE("pass: each `pass loc pci` becomes a vfio-pci function at its token", "[pass]") {
  Config c = Parse("pass loc pci:0:3.0 loc mem:0x200000,4K=shm:x\n"
                   "pass loc pci:1234/11e8/1 loc pci:2:31.7=pci:8086/1533");
  std::vector<VdevSpec> v = PciPassSpecs(c, "pass-plugin");
  REQUIRE(v.size() == 3);
  const char* want[] = {"0:3.0", "1234/11e8/1", "2:31.7=8086/1533"};
  const char* where[] = {"t.conf:1:10", "t.conf:2:10", "t.conf:2:30"};
  for (size_t i = 0; i < 3; i++) {
    CHECK(v[i].type == "pass-plugin");
    REQUIRE(v[i].options.size() == 1);
    CHECK(v[i].options[0].name == "host");
    CHECK(v[i].options[0].value == want[i]);
    CHECK(v[i].where.str() == where[i]);
    CHECK(v[i].options[0].value_where.str() == where[i]);
  }
  // The memory pass beside it is built as before; the PCI ones are not the
  // Passthrough's.
  Fixture f;
  REQUIRE(f.build("pass loc pci:0:3.0 loc mem:0x200000,4K=shm:qvm-pass-pci-test", false).ok());
  CHECK(f.pass.mems().size() == 1);
}

TEST_CASE("pass: overlaps with a vdev, another pass and ports", "[pass]") {
  test::TempDir d;
  std::string page = d.write_text("page", std::string(0x2000, '\0'));
  {
    Fixture f;
    NullDev dev;
    REQUIRE(f.mmio.insert(0x201000, 0x1000, &dev, 0).ok());
    absl::Status st = f.build("pass loc mem:0x200000,0x2000=file:" + page);
    CHECK(Msg(st) == "t.conf:1:10: `pass loc mem`: 0x200000-0x201fff overlaps vdev uart at "
                     "0x201000-0x201fff");
  }
  {
    Fixture f;
    absl::Status st = f.build("pass loc mem:0x200000,0x2000=file:" + page +
                              "\npass loc mem:0x201000,0x1000=file:" + page);
    CHECK(Msg(st) == "t.conf:2:10: `pass loc mem`: 0x201000-0x201fff overlaps another `pass` "
                     "at 0x200000-0x201fff");
  }
  {
    Fixture f;
    NullDev dev;
    REQUIRE(f.io.insert(0x3f8, 8, &dev, 0).ok());
    absl::Status st = f.build("pass loc io:0x3f0,0x10");
    CHECK(Msg(st) == "t.conf:1:10: `pass loc io`: ports 0x3f0-0x3ff overlap vdev uart at "
                     "0x3f8-0x3ff");
    CHECK(f.machine.opened.empty());
  }
  {
    Fixture f;
    absl::Status st = f.build("pass loc io:0x70,2 pass loc io:0x71");
    CHECK(Msg(st) == "t.conf:1:29: `pass loc io`: ports 0x71-0x71 overlap another `pass` at "
                     "0x70-0x71");
  }
}

TEST_CASE("pass loc mem: a file, both ways, and a read-only pass", "[pass]") {
  test::TempDir d;
  std::string rw = d.write_text("rw", std::string(0x2000, 'a'));
  std::string ro = d.write_text("ro", std::string(0x1000, 'b'));
  Fixture f;
  REQUIRE(f.build("pass loc mem:0x200000,0x2000,rwx=file:" + rw +
                  " loc mem:0x300000,0x1000,r=file:" + ro).ok());
  REQUIRE(f.pass.mems().size() == 2);
  const auto& m = f.pass.mems();
  CHECK(m[0].writable);
  CHECK(!m[1].writable);
  REQUIRE(m[0].host);
  REQUIRE(m[1].host);
  // The guest's view (what the slot maps) is the file: host writes show.
  int fd = open(rw.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  REQUIRE(pwrite(fd, "HOST", 4, 0x1000) == 4);
  uint8_t buf[4] = {};
  CHECK(f.mmio.read(0x201000, 4, buf, 0) == BusStatus::Done);
  CHECK(memcmp(buf, "HOST", 4) == 0);
  CHECK(memcmp(static_cast<uint8_t*>(m[0].host) + 0x1000, "HOST", 4) == 0);
  // And the guest's writes reach the file.
  const uint8_t g[4] = {'G', 'U', 'E', 'S'};
  CHECK(f.mmio.write(0x200010, 4, g, 0) == BusStatus::Done);
  char back[4] = {};
  REQUIRE(pread(fd, back, 4, 0x10) == 4);
  CHECK(memcmp(back, "GUES", 4) == 0);
  close(fd);
  // A read-only pass: reads answer, writes are bus errors (dropped).
  CHECK(f.mmio.read(0x300000, 1, buf, 0) == BusStatus::Done);
  CHECK(buf[0] == 'b');
  CHECK(f.mmio.write(0x300000, 4, g, 0) == BusStatus::BusError);
  CHECK(static_cast<const char*>(m[1].host)[0] == 'b');
  // Every boot maps them as slots.
  std::vector<std::tuple<uint64_t, uint64_t, bool>> slots;
  REQUIRE(f.pass.map_all([&](uint64_t gpa, void*, uint64_t size, bool w) {
    slots.emplace_back(gpa, size, w);
    return 0;
  }).ok());
  CHECK(slots == std::vector<std::tuple<uint64_t, uint64_t, bool>>{
                     {0x200000, 0x2000, true}, {0x300000, 0x1000, false}});
  absl::Status st = f.pass.map_all([](uint64_t, void*, uint64_t, bool) { return -ENOSPC; });
  CHECK(absl::IsInternal(st));
  CHECK_THAT(Msg(st), Catch::StartsWith("t.conf:1:10: `pass loc mem` 0x200000-0x201fff: cannot "
                                        "map it into the guest"));
}

TEST_CASE("pass loc mem: a shared-memory object is created and sized", "[pass]") {
  std::string name = "qvm-pass-unit-" + std::to_string(getpid());
  Fixture f;
  REQUIRE(f.build("pass loc mem:0x200000,0x3000=shm:" + name).ok());
  int fd = shm_open(("/" + name).c_str(), O_RDWR, 0);
  REQUIRE(fd >= 0);
  CHECK(lseek(fd, 0, SEEK_END) == 0x3000);
  REQUIRE(pwrite(fd, "SHM!", 4, 0x2ffc) == 4);
  close(fd);
  uint8_t buf[4] = {};
  CHECK(f.mmio.read(0x202ffc, 4, buf, 0) == BusStatus::Done);
  CHECK(memcmp(buf, "SHM!", 4) == 0);
  shm_unlink(("/" + name).c_str());
}

TEST_CASE("pass: dryrun opens nothing and lists each pass", "[pass]") {
  Fixture f;
  REQUIRE(f.build("pass loc mem:0x200000,0x1000=file:/nonexistent loc io:0x70,2 "
                  "pass loc mem:0x300000,0x2000,rn loc io:0x2f8,8=0x3f8", false).ok());
  CHECK(f.pass.mems()[0].host == nullptr);
  CHECK(f.machine.opened.empty());
  CHECK(f.pass.ios().size() == 2);
  char* text = nullptr;
  size_t len = 0;
  FILE* out = open_memstream(&text, &len);
  REQUIRE(out);
  f.pass.print(out);
  fclose(out);
  CHECK(std::string(text, len) ==
        "passes:\n"
        "  mem 0x000000200000-0x000000200fff rwx file /nonexistent\n"
        "  mem 0x000000300000-0x000000301fff rn host physical 0x300000 (read-only slot)\n"
        "  io  0x0070-0x0071 host ports 0x0070-0x0071\n"
        "  io  0x02f8-0x02ff host ports 0x03f8-0x03ff\n");
  free(text);
}

TEST_CASE("pass loc io: forwarded to the host's ports through the machine", "[pass]") {
  Fixture f;
  REQUIRE(f.build("pass loc io:0x2f8,8=0x3f8").ok());
  REQUIRE(f.machine.opened.size() == 1);
  CHECK(f.machine.opened[0] == std::pair<uint32_t, uint32_t>{0x3f8, 8});
  uint8_t buf[4] = {};
  CHECK(f.io.read(0x2fa, 2, buf, 0) == BusStatus::Done);
  REQUIRE(f.machine.ins.size() == 1);
  CHECK(f.machine.ins[0] == std::pair<uint32_t, uint32_t>{0x3fa, 2});
  CHECK(buf[0] == 0x78);
  CHECK(buf[1] == 0x56);
  const uint8_t v[4] = {1, 2, 3, 4};
  CHECK(f.io.write(0x2fc, 4, v, 0) == BusStatus::Done);
  REQUIRE(f.machine.outs.size() == 1);
  CHECK(f.machine.outs[0].port == 0x3fc);
  CHECK(f.machine.outs[0].size == 4);
  CHECK(f.machine.outs[0].value == 0x04030201u);
  // An access the bus does not hold wholly: unassigned, nothing forwarded.
  CHECK(f.io.read(0x2ff, 2, buf, 0) == BusStatus::Unassigned);
  CHECK(f.machine.ins.size() == 1);
}

TEST_CASE("pass loc io: refused without ports or privilege", "[pass]") {
  {
    Fixture f;
    FakeMachine none(false);
    absl::Status st = f.pass.build(Parse("pass loc io:0x70,2"), f.mem, f.mmio, f.io, none, true);
    CHECK(Msg(st) == "t.conf:1:10: `pass loc io`: the fake machine has no I/O port space");
  }
  {
    Fixture f;
    f.machine.open_status = absl::FailedPreconditionError("needs root or CAP_SYS_RAWIO");
    absl::Status st = f.build("pass loc io:0x70,2");
    CHECK(absl::IsInvalidArgument(st));
    CHECK(Msg(st) == "t.conf:1:10: `pass loc io`: needs root or CAP_SYS_RAWIO");
  }
}

}  // namespace
}  // namespace qvm
