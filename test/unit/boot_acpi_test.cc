// Tests for boot/acpi and boot/aml: tables are built into guest memory,
// decoded back (signatures, lengths, checksums, MADT entries, FADT fields)
// and disassembled with iasl (acpica-tools, a build dependency).
#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/wait.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "boot/acpi.h"
#include "boot/aml.h"
#include "test/unit/temp_dir.h"
#include "vmm/guest_memory.h"

using namespace qvm;
using namespace qvm::boot;

namespace {

uint8_t Sum(const std::vector<uint8_t>& b) {
  uint8_t s = 0;
  for (uint8_t x : b) s = static_cast<uint8_t>(s + x);
  return s;
}

template <typename T>
T Le(const std::vector<uint8_t>& b, size_t off) {
  REQUIRE(off + sizeof(T) <= b.size());
  T v;
  std::memcpy(&v, b.data() + off, sizeof v);
  return v;
}

std::vector<uint8_t> ReadMem(const GuestMemory& m, uint64_t gpa, size_t n) {
  std::vector<uint8_t> v(n);
  REQUIRE(m.read(gpa, v.data(), n));
  return v;
}

// Reads one table (header, then the whole length) and checks its checksum.
std::vector<uint8_t> ReadTable(const GuestMemory& m, uint64_t gpa) {
  auto hdr = ReadMem(m, gpa, 36);
  uint32_t len = Le<uint32_t>(hdr, 4);
  REQUIRE(len >= 36);
  REQUIRE(len < 0x20000);
  REQUIRE(gpa >= kAcpiBase);
  REQUIRE(gpa + len <= kAcpiLimit);
  auto t = ReadMem(m, gpa, len);
  INFO(std::string(t.begin(), t.begin() + 4));
  CHECK(Sum(t) == 0);
  return t;
}

// Scans the BIOS area like a guest does for "RSD PTR " with a valid
// checksum on a 16-byte boundary.
uint64_t FindRsdp(const GuestMemory& m) {
  for (uint64_t a = 0xe0000; a < 0x100000; a += 16) {
    auto b = ReadMem(m, a, 36);
    if (std::memcmp(b.data(), "RSD PTR ", 8) != 0) continue;
    std::vector<uint8_t> first(b.begin(), b.begin() + 20);
    if (Sum(first) == 0) return a;
  }
  return 0;
}

struct Tables {
  uint64_t rsdp = 0;
  std::map<std::string, std::vector<uint8_t>> by_sig;
  std::map<std::string, uint64_t> addr;
};

Tables Decode(const GuestMemory& m) {
  Tables t;
  t.rsdp = FindRsdp(m);
  REQUIRE(t.rsdp == 0xe0000);
  auto r = ReadMem(m, t.rsdp, 36);
  CHECK(Sum(r) == 0);  // extended checksum
  CHECK(r[15] == 2);
  CHECK(Le<uint32_t>(r, 20) == 36);
  uint64_t xsdt_addr = Le<uint64_t>(r, 24);
  uint32_t rsdt_addr = Le<uint32_t>(r, 16);
  auto xsdt = ReadTable(m, xsdt_addr);
  auto rsdt = ReadTable(m, rsdt_addr);
  CHECK(std::memcmp(xsdt.data(), "XSDT", 4) == 0);
  CHECK(std::memcmp(rsdt.data(), "RSDT", 4) == 0);
  size_t n = (xsdt.size() - 36) / 8;
  REQUIRE((xsdt.size() - 36) % 8 == 0);
  REQUIRE(rsdt.size() - 36 == n * 4);
  for (size_t i = 0; i < n; i++) {
    uint64_t a = Le<uint64_t>(xsdt, 36 + i * 8);
    CHECK(Le<uint32_t>(rsdt, 36 + i * 4) == a);
    auto tb = ReadTable(m, a);
    std::string sig(tb.begin(), tb.begin() + 4);
    t.by_sig[sig] = tb;
    t.addr[sig] = a;
  }
  REQUIRE(t.by_sig.count("FACP"));
  auto& f = t.by_sig["FACP"];
  uint64_t dsdt = Le<uint64_t>(f, 140);
  CHECK(Le<uint32_t>(f, 40) == dsdt);
  t.by_sig["DSDT"] = ReadTable(m, dsdt);
  t.addr["DSDT"] = dsdt;
  uint64_t facs = Le<uint64_t>(f, 132);
  CHECK(Le<uint32_t>(f, 36) == 0);  // only X_FIRMWARE_CTRL is set
  CHECK(facs % 64 == 0);
  auto fc = ReadMem(m, facs, 64);
  CHECK(std::memcmp(fc.data(), "FACS", 4) == 0);
  CHECK(Le<uint32_t>(fc, 4) == 64);
  t.by_sig["FACS"] = fc;
  return t;
}

AcpiPlatform Pc(unsigned ncpus) {
  AcpiPlatform p;
  p.ncpus = ncpus;
  p.ioapic_addr = 0xfec00000;
  p.ioapic_id = ncpus;
  AcpiDevice com1{"PNP0501", "", 0, "", {{0x3f8, 8}}, {}, {4}};
  AcpiDevice com2{"PNP0501", "", 1, "COM2", {{0x2f8, 8}}, {}, {3}};
  AcpiDevice kbd{"PNP0303", "", 0, "", {{0x60, 1}, {0x64, 1}}, {}, {1}};
  AcpiDevice rtc{"PNP0B00", "", 0, "RTC", {{0x70, 2}}, {}, {8}};
  AcpiDevice vio{"LNRO0005", "", 0, "", {}, {{0xd0000000, 0x200}}, {20}};
  p.devices = {com1, com2, kbd, rtc, vio};
  p.hpet_addr = 0xfed00000;
  AcpiPciHost h;
  h.ecam_base = 0xb0000000;
  h.bus_start = 0;
  h.bus_end = 0xff;
  h.io_windows = {{0x1000, 0xffff}};
  h.mem_windows = {{0xc0000000, 0xcfffffff}, {0x100000000ull, 0x1ffffffffull}};
  h.prt = {{1, 0, 16}, {1, 1, 17}, {2, 0, 18}};
  p.pci = h;
  return p;
}

struct Iasl {
  qvm::test::TempDir tmp;
  const std::string dir = tmp.path();
  // Writes `t` to NAME.dat and runs `iasl -d`; returns the .dsl text.
  std::string Disassemble(const std::string& name,
                          const std::vector<uint8_t>& t) {
    tmp.write(name + ".dat", t);
    std::string cmd = "cd '" + dir + "' && iasl -d " + name + ".dat > " +
                      name + ".log 2>&1";
    int rc = std::system(cmd.c_str());
    std::ifstream lg(dir + "/" + name + ".log");
    std::stringstream log;
    log << lg.rdbuf();
    INFO("iasl -d " << name << ":\n" << log.str());
    REQUIRE(WIFEXITED(rc));
    REQUIRE(WEXITSTATUS(rc) == 0);
    std::ifstream dsl(dir + "/" + name + ".dsl");
    REQUIRE(dsl.good());
    std::stringstream ss;
    ss << dsl.rdbuf();
    return ss.str();
  }
  // Runs acpiexec in batch mode on dsdt.dat; returns its output.
  std::string Exec(const std::string& cmds) {
    REQUIRE(std::system("command -v acpiexec > /dev/null 2>&1") == 0);
    std::string cmd = "cd '" + dir + "' && timeout 60 acpiexec -b \"" + cmds +
                      "\" dsdt.dat > exec.log 2>&1";
    int rc = std::system(cmd.c_str());
    std::ifstream lg(dir + "/exec.log");
    std::stringstream log;
    log << lg.rdbuf();
    INFO("acpiexec:\n" << log.str());
    REQUIRE(WIFEXITED(rc));
    CHECK(WEXITSTATUS(rc) == 0);
    CHECK(log.str().find("AE_") == std::string::npos);  // no ACPICA errors
    return log.str();
  }
  // Recompiles a disassembled .dsl; true when iasl reports no errors.
  void Recompile(const std::string& name) {
    std::string cmd = "cd '" + dir + "' && iasl -p " + name + "-re " + name +
                      ".dsl > " + name + "-re.log 2>&1";
    int rc = std::system(cmd.c_str());
    std::ifstream lg(dir + "/" + name + "-re.log");
    std::stringstream log;
    log << lg.rdbuf();
    INFO("iasl " << name << ".dsl:\n" << log.str());
    REQUIRE(WIFEXITED(rc));
    CHECK(WEXITSTATUS(rc) == 0);
  }
};

}  // namespace

TEST_CASE("AML encoder basics", "[boot][acpi]") {
  using namespace aml;
  CHECK(PkgLength(0) == Bytes{0x01});
  CHECK(PkgLength(62) == Bytes{0x3f});
  CHECK(PkgLength(63) == Bytes{0x41, 0x04});         // 65 = 0x41
  CHECK(PkgLength(4093) == Bytes{0x4f, 0xff});       // 4095
  CHECK(PkgLength(4094) == Bytes{0x81, 0x00, 0x01}); // 4097
  CHECK(PkgLength(size_t{1} << 28).empty());
  CHECK(EisaId("PNP0501") == 0x0105d041u);
  CHECK(EisaId("PNP0A08") == 0x080ad041u);
  CHECK(!EisaId("LNRO0005").has_value());
  CHECK(!EisaId("pnp0501").has_value());
  CHECK(Integer(0) == Bytes{0x00});
  CHECK(Integer(1) == Bytes{0x01});
  CHECK(Integer(0x12) == Bytes{0x0a, 0x12});
  CHECK(Integer(0x1234) == Bytes{0x0b, 0x34, 0x12});
  CHECK(Integer(0x12345678) == Bytes{0x0c, 0x78, 0x56, 0x34, 0x12});
  CHECK(Integer(0x100000000ull).size() == 9);
  CHECK(NameString("\\_SB") == Bytes{'\\', '_', 'S', 'B', '_'});
  CHECK(NameString("\\_SB.PCI0") ==
        Bytes{'\\', 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0'});
  CHECK(NameString("A.B.C") ==
        Bytes{0x2f, 3, 'A', '_', '_', '_', 'B', '_', '_', '_', 'C', '_', '_',
              '_'});
  CHECK(ValidNamePath("\\_SB_.COM1"));
  CHECK(!ValidNamePath("1ABC"));
  CHECK(!ValidNamePath("ABCDE"));
  CHECK(!ValidNamePath("a"));
  CHECK(!ValidNamePath(""));
  ResourceTemplate rt;
  rt.Io(0x3f8, 8);
  rt.IrqNoFlags(4);
  CHECK(rt.Finish() == Bytes{0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
                             0x22, 0x10, 0x00, 0x79, 0x00});
}

TEST_CASE("ACPI tables decode back from guest memory", "[boot][acpi]") {
  GuestMemory mem;
  REQUIRE(mem.add(0, 16 << 20, false).ok());
  auto p = Pc(3);
  auto rsdp = BuildAcpi(mem, p);
  REQUIRE(rsdp.ok());
  CHECK(*rsdp == 0xe0000);
  Tables t = Decode(mem);
  for (const char* sig : {"FACP", "APIC", "HPET", "MCFG", "DSDT"}) {
    INFO(sig);
    CHECK(t.by_sig.count(sig) == 1);
  }

  // FADT.
  const auto& f = t.by_sig["FACP"];
  CHECK(f.size() == 276);
  CHECK(f[8] == 6);
  CHECK(Le<uint16_t>(f, 46) == 9);          // SCI_INT
  CHECK(Le<uint32_t>(f, 48) == 0);          // SMI_CMD
  CHECK(Le<uint32_t>(f, 56) == 0x600);      // PM1a_EVT_BLK
  CHECK(Le<uint32_t>(f, 64) == 0x604);      // PM1a_CNT_BLK
  CHECK(Le<uint32_t>(f, 76) == 0x608);      // PM_TMR_BLK
  CHECK(f[88] == 4);
  CHECK(f[89] == 2);
  CHECK(f[91] == 4);
  const uint32_t flags = Le<uint32_t>(f, 112);
  CHECK((flags & (1u << 8)) != 0);          // TMR_VAL_EXT
  CHECK((flags & (1u << 10)) != 0);         // RESET_REG_SUP
  CHECK((flags & (1u << 20)) == 0);         // not HW_REDUCED
  CHECK((flags & (1u << 4)) == 0);          // fixed power button
  CHECK((Le<uint16_t>(f, 109) & 2) != 0);   // 8042
  CHECK(f[116] == 1);                       // RESET_REG: system I/O
  CHECK(f[117] == 8);
  CHECK(Le<uint64_t>(f, 120) == 0x60c);
  CHECK(f[128] == 1);                       // RESET_VALUE
  CHECK(f[148] == 1);                       // X_PM1a_EVT_BLK I/O
  CHECK(f[149] == 32);
  CHECK(Le<uint64_t>(f, 152) == 0x600);
  CHECK(Le<uint64_t>(f, 176) == 0x604);
  CHECK(Le<uint64_t>(f, 212) == 0x608);

  // MADT.
  const auto& m = t.by_sig["APIC"];
  CHECK(Le<uint32_t>(m, 36) == 0xfee00000);
  CHECK(Le<uint32_t>(m, 40) == 1);  // PCAT_COMPAT
  unsigned lapics = 0, ioapics = 0;
  std::vector<std::pair<uint8_t, uint32_t>> isos;
  std::vector<uint16_t> iso_flags;
  for (size_t off = 44; off < m.size();) {
    REQUIRE(off + 2 <= m.size());
    uint8_t type = m[off], len = m[off + 1];
    REQUIRE(len >= 2);
    REQUIRE(off + len <= m.size());
    if (type == 0) {
      CHECK(len == 8);
      CHECK(m[off + 2] == lapics);  // UID
      CHECK(m[off + 3] == lapics);  // APIC ID
      CHECK(Le<uint32_t>(m, off + 4) == 1);
      lapics++;
    } else if (type == 1) {
      CHECK(len == 12);
      CHECK(m[off + 2] == 3);
      CHECK(Le<uint32_t>(m, off + 4) == 0xfec00000);
      CHECK(Le<uint32_t>(m, off + 8) == 0);
      ioapics++;
    } else if (type == 2) {
      CHECK(len == 10);
      isos.emplace_back(m[off + 3], Le<uint32_t>(m, off + 4));
      iso_flags.push_back(Le<uint16_t>(m, off + 8));
    }
    off += len;
  }
  CHECK(lapics == 3);
  CHECK(ioapics == 1);
  REQUIRE(isos.size() == 2);
  CHECK(isos[0] == std::make_pair(uint8_t{0}, uint32_t{2}));
  CHECK(iso_flags[0] == 0x5);   // edge, active high
  CHECK(isos[1] == std::make_pair(uint8_t{9}, uint32_t{9}));
  CHECK(iso_flags[1] == 0xd);   // level, active high

  // MCFG and HPET.
  const auto& mc = t.by_sig["MCFG"];
  CHECK(mc.size() == 60);
  CHECK(Le<uint64_t>(mc, 44) == 0xb0000000);
  CHECK(mc[55] == 0xff);
  const auto& hp = t.by_sig["HPET"];
  CHECK(hp.size() == 56);
  CHECK(Le<uint64_t>(hp, 44) == 0xfed00000);

  // Everything inside the BIOS area.
  for (const auto& [sig, a] : t.addr) {
    INFO(sig);
    CHECK(a >= kAcpiBase);
    CHECK(a + t.by_sig[sig].size() <= kAcpiLimit);
  }
}

TEST_CASE("ACPI tables pass iasl", "[boot][acpi]") {
  REQUIRE(std::system("command -v iasl > /dev/null 2>&1") == 0);  // never skip
  GuestMemory mem;
  REQUIRE(mem.add(0, 16 << 20, false).ok());
  auto rsdp = BuildAcpi(mem, Pc(2));
  REQUIRE(rsdp.ok());
  Tables t = Decode(mem);
  Iasl iasl;
  std::string dsdt = iasl.Disassemble("dsdt", t.by_sig["DSDT"]);
  CHECK(dsdt.find("PNP0501") != std::string::npos);
  CHECK(dsdt.find("PNP0303") != std::string::npos);
  CHECK(dsdt.find("LNRO0005") != std::string::npos);
  CHECK(dsdt.find("PNP0A08") != std::string::npos);
  CHECK(dsdt.find("_S5_") != std::string::npos);
  CHECK(dsdt.find("IO (Decode16,") != std::string::npos);
  CHECK(dsdt.find("IRQNoFlags") != std::string::npos);
  CHECK(dsdt.find("Memory32Fixed") != std::string::npos);
  CHECK(dsdt.find("WordBusNumber") != std::string::npos);
  CHECK(dsdt.find("QWordMemory") != std::string::npos);
  CHECK(dsdt.find("Device (COM2)") != std::string::npos);
  CHECK(dsdt.find("_PRT") != std::string::npos);
  iasl.Recompile("dsdt");
  std::string facp = iasl.Disassemble("facp", t.by_sig["FACP"]);
  CHECK(facp.find("Fixed ACPI Description Table") != std::string::npos);
  CHECK(facp.find("PM Timer Block Address : 00000608") != std::string::npos);
  std::string apic = iasl.Disassemble("apic", t.by_sig["APIC"]);
  CHECK(apic.find("Interrupt Source Override") != std::string::npos);
  iasl.Disassemble("hpet", t.by_sig["HPET"]);
  // Load the DSDT into ACPICA's interpreter and evaluate objects.
  std::string out = iasl.Exec(
      "evaluate \\_S5; evaluate \\_SB.COM2._CRS; evaluate \\_SB.D000._STA");
  CHECK(out.find("Evaluation of \\_S5 returned") != std::string::npos);
  CHECK(out.find("[Integer] = 0000000000000005") != std::string::npos);
  CHECK(out.find("47 01 F8 02 F8 02 01 08 22 08 00 79 00") != std::string::npos);
  CHECK(out.find("[Integer] = 000000000000000F") != std::string::npos);
  iasl.Disassemble("mcfg", t.by_sig["MCFG"]);
  iasl.Disassemble("facs", t.by_sig["FACS"]);
}

TEST_CASE("ACPI: a minimal platform and ROM at the BIOS area", "[boot][acpi]") {
  GuestMemory mem;
  REQUIRE(mem.add(0, 0xe0000, false).ok());
  REQUIRE(mem.add(0xe0000, 0x20000, true).ok());
  AcpiPlatform p;  // one CPU, no devices, no PCI/HPET
  p.has_8042 = false;
  auto rsdp = BuildAcpi(mem, p);
  REQUIRE(rsdp.ok());
  Tables t = Decode(mem);
  CHECK(t.by_sig.count("MCFG") == 0);
  CHECK(t.by_sig.count("HPET") == 0);
  CHECK((Le<uint16_t>(t.by_sig["FACP"], 109) & 2) == 0);
}

TEST_CASE("ACPI: errors", "[boot][acpi]") {
  GuestMemory mem;
  REQUIRE(mem.add(0, 16 << 20, false).ok());
  SECTION("no CPUs / too many") {
    AcpiPlatform p;
    p.ncpus = 0;
    CHECK(!BuildAcpi(mem, p).ok());
    p.ncpus = 255;
    CHECK(!BuildAcpi(mem, p).ok());
  }
  SECTION("bad device descriptions") {
    AcpiPlatform p;
    p.devices = {{"pnp0501", "", 0, "", {}, {}, {}}};
    CHECK(!BuildAcpi(mem, p).ok());
    p.devices = {{"PNP0501", "", 0, "1BAD", {}, {}, {}}};
    CHECK(!BuildAcpi(mem, p).ok());
    p.devices = {{"PNP0501", "", 0, "", {{0xfffc, 8}}, {}, {}}};
    CHECK(!BuildAcpi(mem, p).ok());
    p.devices = {{"PNP0501", "", 0, "", {{0x3f8, 256}}, {}, {}}};
    CHECK(!BuildAcpi(mem, p).ok());
    p.devices = {{"PNP0501", "", 0, "", {}, {{0xfffff000, 0x2000}}, {}}};
    CHECK(!BuildAcpi(mem, p).ok());
    p.devices = {{"PNP0501", "", 0, "COM1", {}, {}, {}},
                 {"PNP0501", "", 1, "COM1", {}, {}, {}}};
    auto st = BuildAcpi(mem, p);
    REQUIRE(!st.ok());
    CHECK(std::string(st.status().message()).find("COM1") != std::string::npos);
  }
  SECTION("tables do not fit in the BIOS area") {
    AcpiPlatform p;
    AcpiDevice d{"PNP0C02", "", 0, "", {}, {}, {}};
    for (uint32_t i = 0; i < 32; i++) d.mem.emplace_back(i << 12, 0x1000);
    for (uint32_t i = 0; i < 600; i++) {
      d.uid = i;
      p.devices.push_back(d);
    }
    auto st = BuildAcpi(mem, p);
    REQUIRE(!st.ok());
    CHECK(st.status().code() == absl::StatusCode::kResourceExhausted);
  }
  SECTION("no guest memory at the BIOS area") {
    GuestMemory hi;
    REQUIRE(hi.add(0x100000, 16 << 20, false).ok());
    CHECK(!BuildAcpi(hi, AcpiPlatform{}).ok());
  }
}

TEST_CASE("ACPI: `acpi load` tables replace the generated ones", "[boot][acpi]") {
  GuestMemory gen;
  REQUIRE(gen.add(0, 16 << 20, false).ok());
  REQUIRE(BuildAcpi(gen, Pc(2)).ok());
  Tables t = Decode(gen);
  // The user's file: tables back to back, in any order.
  std::vector<uint8_t> blob;
  for (const char* sig : {"DSDT", "APIC", "FACS", "FACP", "HPET"})
    blob.insert(blob.end(), t.by_sig[sig].begin(), t.by_sig[sig].end());
  auto tables = SplitAcpiTables(blob, "u.aml");
  REQUIRE(tables.ok());
  REQUIRE(tables->size() == 5);
  auto img = BuildUserAcpiImage(*tables, kAcpiBase, kAcpiLimit - kAcpiBase);
  REQUIRE(img.ok());
  GuestMemory mem;
  REQUIRE(mem.add(0, 16 << 20, false).ok());
  REQUIRE(mem.fill(0xe0000, 0xaa, 0x20000, true));
  auto rsdp = WriteAcpiImage(mem, *img);
  REQUIRE(rsdp.ok());
  CHECK(*rsdp == 0xe0000);
  Tables u = Decode(mem);  // checksums, RSDP, XSDT/RSDT agree, FADT -> DSDT/FACS
  CHECK(u.by_sig.size() == 5);
  CHECK(u.by_sig["DSDT"] == t.by_sig["DSDT"]);
  CHECK(u.by_sig["APIC"] == t.by_sig["APIC"]);
  CHECK(u.by_sig["HPET"] == t.by_sig["HPET"]);
  CHECK(u.by_sig.count("MCFG") == 0);  // the user's set, not the generated
  CHECK(Sum(u.by_sig["FACP"]) == 0);
  CHECK(ReadMem(mem, 0xfffff, 1)[0] == 0);  // the area was cleared

  auto bad = [&](std::vector<uint8_t> b, const std::string& what) {
    auto r = SplitAcpiTables(b, "u.aml");
    REQUIRE(!r.ok());
    INFO(r.status().message());
    CHECK(std::string(r.status().message()).find("u.aml: ") == 0);
    CHECK(std::string(r.status().message()).find(what) != std::string::npos);
  };
  SECTION("bad checksum") {
    auto b = blob;
    b[40] ^= 1;
    bad(b, "bad checksum");
  }
  SECTION("truncated") {
    auto b = blob;
    b.resize(b.size() - 10);
    bad(b, "has length");
  }
  SECTION("trailing garbage") {
    auto b = blob;
    b.push_back(1);
    bad(b, "trailing bytes");
  }
  SECTION("root tables are refused") {
    auto x = ReadMem(mem, Le<uint64_t>(ReadMem(mem, 0xe0000, 36), 24), 36 + 8 * 3);
    bad(x, "not the root pointers");
  }
  SECTION("not a table") {
    bad(std::vector<uint8_t>(64, 0), "no ACPI table signature");
    bad({}, "no ACPI tables");
  }
  SECTION("a DSDT without a FADT") {
    auto r = BuildUserAcpiImage({t.by_sig["DSDT"]}, kAcpiBase, 0x20000);
    CHECK(!r.ok());
  }
  SECTION("too large") {
    auto r = BuildUserAcpiImage(*tables, kAcpiBase, 0x200);
    REQUIRE(!r.ok());
    CHECK(std::string(r.status().message()).find("fit") != std::string::npos);
  }
}
