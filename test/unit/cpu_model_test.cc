// The architectures' register models (vmm/cpu_model.h, arch/<arch>/regs.*):
// gdb register numbering and target descriptions, register get/set by gdb
// number, and the Capstone mode each gives exit traces. Both models on
// every host; no KVM needed.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "arch/aarch64/regs.h"
#include "arch/x86_64/regs.h"
#include "test/unit/gdb_batch.h"
#include "test/unit/temp_dir.h"
#include "vmm/cpu_model.h"
#include "vmm/exit_trace.h"

using namespace qvm;

namespace {

// gdb's number of register `name` (-1: none).
int RegNo(const CpuModel& m, const std::string& name) {
  auto regs = m.gdb_registers();
  for (size_t i = 0; i < regs.size(); i++)
    if (name == regs[i].name) return int(i);
  return -1;
}

// gdb-multiarch's remote register map ("maint print remote-registers")
// after loading `model`'s target description; empty without gdb-multiarch.
std::string GdbRemoteRegisters(const CpuModel& model) {
  qvm::test::TempDir t;
  std::string xml = t.write_text("target.xml", GdbTargetXml(model));
  return qvm::test::GdbBatch(
      {"-ex 'set tdesc filename " + xml + "'", "-ex 'maint print remote-registers'"});
}

// The remote number gdb gave register `name` in that map (-1: absent).
long RemoteNo(const std::string& map, const std::string& name) {
  size_t p = map.find("\n " + name + " ");
  if (p == std::string::npos) return -1;
  size_t eol = map.find('\n', p + 1);
  std::string line = map.substr(p + 1, eol - p - 1);
  // Name Nr Rel Offset Size Type Rmt-Nr g/G-Offset: the 7th column.
  char nm[64], type[64];
  long nr, rel, off, size, rmt;
  if (sscanf(line.c_str(), "%63s %ld %ld %ld %ld %63s %ld", nm, &nr, &rel, &off, &size, type,
             &rmt) != 7)
    return -1;
  return rmt;
}

}  // namespace

// gdb itself accepts both descriptions (its amd64 and aarch64 targets
// validate the core features) and numbers the registers as we do.
TEST_CASE("gdb-multiarch accepts both target descriptions") {
  std::string x = GdbRemoteRegisters(X86_64CpuModel());
  if (x.empty()) FAIL("gdb-multiarch is not installed (`make deps` installs it)");
  INFO(x);
  CHECK(x.find("rejected") == std::string::npos);
  CHECK(RemoteNo(x, "rax") == 0);
  CHECK(RemoteNo(x, "rip") == 16);
  CHECK(RemoteNo(x, "st0") == 24);
  CHECK(RemoteNo(x, "xmm0") == 40);
  CHECK(RemoteNo(x, "fs_base") == 57);
  CHECK(RemoteNo(x, "cr3") == 61);
  CHECK(RemoteNo(x, "efer") == 63);
  std::string a = GdbRemoteRegisters(Aarch64CpuModel());
  INFO(a);
  CHECK(a.find("rejected") == std::string::npos);
  CHECK(RemoteNo(a, "x0") == 0);
  CHECK(RemoteNo(a, "sp") == 31);
  CHECK(RemoteNo(a, "pc") == 32);
  CHECK(RemoteNo(a, "cpsr") == 33);
}

TEST_CASE("x86_64 register model: gdb's amd64 numbering and target description") {
  const CpuModel& m = X86_64CpuModel();
  CHECK(std::string(m.name()) == "x86_64");
  // gdb's amd64 numbering: the core registers in this order.
  CHECK(RegNo(m, "rax") == 0);
  CHECK(RegNo(m, "rsp") == 7);
  CHECK(RegNo(m, "r15") == 15);
  CHECK(RegNo(m, "rip") == 16);
  CHECK(RegNo(m, "eflags") == 17);
  CHECK(RegNo(m, "gs") == 23);
  CHECK(RegNo(m, "st0") == 24);
  CHECK(RegNo(m, "fop") == 39);
  CHECK(RegNo(m, "xmm0") == 40);
  CHECK(RegNo(m, "mxcsr") == 56);
  CHECK(RegNo(m, "fs_base") == 57);
  CHECK(RegNo(m, "cr3") == 61);
  std::string xml = GdbTargetXml(m);
  CHECK(xml.find("<architecture>i386:x86-64</architecture>") != std::string::npos);
  CHECK(xml.find("<feature name=\"org.gnu.gdb.i386.core\">") != std::string::npos);
  CHECK(xml.find("<feature name=\"org.gnu.gdb.i386.segments\">") != std::string::npos);
  CHECK(xml.find("<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\" regnum=\"16\"/>") !=
        std::string::npos);
  // Each feature opened once, every one closed.
  size_t opens = 0, closes = 0;
  for (size_t p = 0; (p = xml.find("<feature ", p)) != std::string::npos; p++) opens++;
  for (size_t p = 0; (p = xml.find("</feature>", p)) != std::string::npos; p++) closes++;
  CHECK(opens == 4);
  CHECK(closes == opens);
}

TEST_CASE("x86_64 register model: get/set by gdb number, unavailable registers refused") {
  const CpuModel& m = X86_64CpuModel();
  X86_64Regs x;
  x.rip = 0x1122334455667788;
  x.rflags = 0x246;
  x.cs = 0x10;
  x.cr3 = 0x1234000;
  VcpuRegs r;
  SetRegs(r, m, x);
  uint8_t b[16] = {};
  REQUIRE(GdbGetReg(m, r, 16, b, sizeof b));
  CHECK(b[0] == 0x88);
  CHECK(b[7] == 0x11);
  REQUIRE(GdbGetReg(m, r, 17, b, 4));  // eflags: 32 bits
  CHECK(b[0] == 0x46);
  CHECK(b[1] == 0x02);
  CHECK_FALSE(GdbGetReg(m, r, 16, b, 4));       // buffer too small
  CHECK_FALSE(GdbGetReg(m, r, 24, b, sizeof b));  // st0: not in the snapshot
  CHECK_FALSE(GdbGetReg(m, r, 40, b, sizeof b));  // xmm0
  CHECK_FALSE(GdbGetReg(m, r, 9999, b, sizeof b));
  REQUIRE(GdbGetReg(m, r, unsigned(RegNo(m, "cr3")), b, 8));
  CHECK(b[1] == 0x40);
  const uint8_t rax[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  REQUIRE(GdbSetReg(m, r, 0, rax, 8));
  CHECK(RegsAs<X86_64Regs>(r).rax == 0x0807060504030201);
  CHECK_FALSE(GdbSetReg(m, r, 0, rax, 4));   // wrong length
  CHECK_FALSE(GdbSetReg(m, r, 24, rax, 8));  // st0
  // A snapshot of another model is not read as this one.
  VcpuRegs other;
  SetRegs(other, Aarch64CpuModel(), Aarch64Regs{});
  CHECK_FALSE(GdbGetReg(m, other, 0, b, sizeof b));
}

TEST_CASE("aarch64 register model: gdb's aarch64 numbering, get/set, disassembly") {
  const CpuModel& m = Aarch64CpuModel();
  CHECK(std::string(m.name()) == "aarch64");
  CHECK(RegNo(m, "x0") == 0);
  CHECK(RegNo(m, "x30") == 30);
  CHECK(RegNo(m, "sp") == 31);
  CHECK(RegNo(m, "pc") == 32);
  CHECK(RegNo(m, "cpsr") == 33);
  std::string xml = GdbTargetXml(m);
  CHECK(xml.find("<architecture>aarch64</architecture>") != std::string::npos);
  CHECK(xml.find("<feature name=\"org.gnu.gdb.aarch64.core\">") != std::string::npos);
  Aarch64Regs a;
  a.x[29] = 0xfeed;
  a.pc = 0x80080000;
  a.pstate = 0x3c5;
  VcpuRegs r;
  SetRegs(r, m, a);
  uint8_t b[8] = {};
  REQUIRE(GdbGetReg(m, r, 29, b, 8));
  CHECK(b[0] == 0xed);
  CHECK(b[1] == 0xfe);
  REQUIRE(GdbGetReg(m, r, 33, b, 4));
  CHECK(b[0] == 0xc5);
  const uint8_t pc[8] = {0x00, 0x10, 0x08, 0x80, 0, 0, 0, 0};
  REQUIRE(GdbSetReg(m, r, 32, pc, 8));
  CHECK(RegsAs<Aarch64Regs>(r).pc == 0x80081000);
  InsnContext insn;
  const uint8_t str[] = {0x20, 0x00, 0x00, 0xb9};  // str w0, [x1]
  memcpy(insn.bytes, str, sizeof str);
  insn.len = sizeof str;
  CHECK(Disassemble(m, insn) == "str w0, [x1]");
}
