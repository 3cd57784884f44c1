// Guest dumps (vmm/dump.*) for both guest architectures, built from
// synthetic register snapshots and guest memory, then parsed back: ELF
// header, program headers, note sizes and register offsets. The layout is
// chosen explicitly (not from the build's architecture), so every case runs
// in the native and in the cross-built (qemu-user) suite. No KVM needed.
// When gdb-multiarch is installed, gdb itself reads both kinds of core.
#include <elf.h>
#include <fcntl.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "test/unit/gdb_batch.h"
#include "test/unit/temp_dir.h"
#include "arch/aarch64/regs.h"
#include "arch/x86_64/regs.h"
#include "vmm/dump.h"

namespace {

using qvm::CpuModel;
using qvm::DumpVcpu;

using qvm::test::TempDir;

// Writes the core to `path` and returns its bytes.
std::string WriteAndRead(const std::string& path, const CpuModel& arch,
                         const std::vector<DumpVcpu>& v, const qvm::GuestMemory& mem) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  absl::Status st = qvm::WriteCore(fd, arch, v, mem);
  INFO(st.ToString());
  REQUIRE(st.ok());
  off_t size = lseek(fd, 0, SEEK_END);
  std::string d(size_t(size), '\0');
  REQUIRE(pread(fd, d.data(), d.size(), 0) == size);
  close(fd);
  return d;
}

uint64_t U64(const std::string& d, size_t off) {
  uint64_t v;
  REQUIRE(off + 8 <= d.size());
  memcpy(&v, d.data() + off, 8);
  return v;
}

struct Note {
  std::string name;
  uint32_t type;
  size_t desc, descsz;  // offset of the descriptor in the file, its size
};

// The notes of PT_NOTE ph, parsed with bounds checks.
std::vector<Note> Notes(const std::string& d, const Elf64_Phdr& ph) {
  std::vector<Note> out;
  size_t off = ph.p_offset, end = ph.p_offset + ph.p_filesz;
  REQUIRE(end <= d.size());
  while (off < end) {
    REQUIRE(off + 12 <= end);
    uint32_t h[3];
    memcpy(h, d.data() + off, 12);
    size_t name = off + 12, desc = name + ((h[0] + 3) & ~3u);
    REQUIRE(desc + h[1] <= end);
    REQUIRE(h[0] >= 1);
    out.push_back({std::string(d.data() + name, h[0] - 1), h[2], desc, h[1]});
    off = desc + ((h[1] + 3) & ~3u);
  }
  CHECK(off == end);
  return out;
}

struct Parsed {
  Elf64_Ehdr eh;
  std::vector<Elf64_Phdr> ph;
  std::vector<Note> notes;
};

Parsed Parse(const std::string& d) {
  Parsed p;
  REQUIRE(d.size() >= sizeof(Elf64_Ehdr));
  memcpy(&p.eh, d.data(), sizeof p.eh);
  CHECK(memcmp(p.eh.e_ident, ELFMAG, SELFMAG) == 0);
  CHECK(p.eh.e_ident[EI_CLASS] == ELFCLASS64);
  CHECK(p.eh.e_ident[EI_DATA] == ELFDATA2LSB);
  CHECK(p.eh.e_type == ET_CORE);
  CHECK(p.eh.e_phentsize == sizeof(Elf64_Phdr));
  REQUIRE(p.eh.e_phoff + p.eh.e_phnum * sizeof(Elf64_Phdr) <= d.size());
  p.ph.resize(p.eh.e_phnum);
  memcpy(p.ph.data(), d.data() + p.eh.e_phoff, p.ph.size() * sizeof(Elf64_Phdr));
  REQUIRE(!p.ph.empty());
  REQUIRE(p.ph[0].p_type == PT_NOTE);
  p.notes = Notes(d, p.ph[0]);
  return p;
}

// Two regions (RAM writable, ROM read-only) with recognisable contents.
struct Memory {
  uint8_t ram[0x3000], rom[0x1000];
  qvm::GuestMemory mem;
  Memory() {
    for (size_t i = 0; i < sizeof ram; i++) ram[i] = uint8_t(i * 7);
    memset(rom, 0xee, sizeof rom);
    REQUIRE(mem.add_external(0x0, sizeof ram, false, ram).ok());
    REQUIRE(mem.add_external(0xf0000, sizeof rom, true, rom).ok());
  }
  void Check(const std::string& d, const Parsed& p) {
    REQUIRE(p.ph.size() == 3);
    CHECK(p.ph[1].p_type == PT_LOAD);
    CHECK(p.ph[1].p_paddr == 0);
    CHECK(p.ph[1].p_vaddr == 0);
    CHECK(p.ph[1].p_filesz == sizeof ram);
    CHECK((p.ph[1].p_flags & PF_W) != 0);
    CHECK(p.ph[2].p_type == PT_LOAD);
    CHECK(p.ph[2].p_vaddr == 0xf0000);
    CHECK((p.ph[2].p_flags & PF_W) == 0);
    for (int i = 1; i <= 2; i++) {
      CHECK(p.ph[i].p_offset % 4096 == 0);
      REQUIRE(p.ph[i].p_offset + p.ph[i].p_filesz <= d.size());
    }
    CHECK(memcmp(d.data() + p.ph[1].p_offset, ram, sizeof ram) == 0);
    CHECK(memcmp(d.data() + p.ph[2].p_offset, rom, sizeof rom) == 0);
  }
};

const CpuModel& kX86 = qvm::X86_64CpuModel();
const CpuModel& kArm64 = qvm::Aarch64CpuModel();

DumpVcpu X86Vcpu(uint64_t rip = 0x100123) {
  DumpVcpu v;
  v.valid = true;
  qvm::X86_64Regs x;
  x.rax = 0x1000, x.rbx = 0x1001, x.rcx = 0x1002, x.rdx = 0x1003;
  x.rsi = 0x1004, x.rdi = 0x1005, x.rbp = 0x1006, x.rsp = 0x7ff0;
  x.r8 = 0x1008, x.r9 = 0x1009, x.r10 = 0x100a, x.r11 = 0x100b;
  x.r12 = 0x100c, x.r13 = 0x100d, x.r14 = 0x100e, x.r15 = 0x100f;
  x.rip = rip, x.rflags = 0x246;
  x.cs = 0x10, x.ss = 0x18, x.ds = 0x20, x.es = 0x28, x.fs = 0x30, x.gs = 0x38;
  x.fs_base = 0xffff888000001000, x.gs_base = 0xffff888000002000;
  x.cr0 = 0x80050033, x.cr2 = 0xdead000, x.cr3 = 0x1234000, x.cr4 = 0x6f0, x.efer = 0xd01;
  qvm::SetRegs(v.regs, kX86, x);
  v.regs.pc = x.rip;
  v.regs.sp = x.rsp;
  return v;
}

DumpVcpu Arm64Vcpu(uint64_t pc = 0x80080120) {
  DumpVcpu v;
  v.valid = true;
  qvm::Aarch64Regs r;
  for (int i = 0; i < 31; i++) r.x[i] = 0xa000 + uint64_t(i);
  r.sp = 0x2ff0;
  r.pc = pc;
  r.pstate = 0x3c5;  // EL1h, DAIF masked
  qvm::SetRegs(v.regs, kArm64, r);
  v.regs.pc = r.pc;
  v.regs.sp = r.sp;
  return v;
}

// Runs gdb-multiarch in batch mode on `core` with `cmds` (-ex each); empty
// when gdb-multiarch is not installed.
std::string Gdb(const std::string& core, const std::vector<std::string>& cmds) {
  std::vector<std::string> args = {"-c '" + core + "'"};
  for (const auto& c : cmds) args.push_back("-ex '" + c + "'");
  return qvm::test::GdbBatch(args);
}

// "name  0x1234  ..." lines of `info registers` to name -> value.
std::map<std::string, uint64_t> GdbRegs(const std::string& out) {
  std::map<std::string, uint64_t> m;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name, val;
    if (!(ls >> name >> val) || val.rfind("0x", 0) != 0) continue;
    m[name] = strtoull(val.c_str(), nullptr, 16);
  }
  return m;
}

}  // namespace

TEST_CASE("guest dump x86_64 layout: EM_X86_64, user_regs_struct PRSTATUS, control-register note") {
  Memory m;
  std::vector<DumpVcpu> v = {X86Vcpu(), DumpVcpu{}};
  TempDir t;
  std::string d = WriteAndRead(t.path() + "/core", kX86, v, m.mem);
  CHECK(d.size() == qvm::CoreSize(kX86, 2, m.mem));
  Parsed p = Parse(d);
  CHECK(p.eh.e_machine == EM_X86_64);
  m.Check(d, p);
  // Per vCPU: NT_PRSTATUS "CORE" (336 bytes) then the "QVM" control registers.
  REQUIRE(p.notes.size() == 4);
  CHECK(qvm::PrstatusSize(kX86) == 336);
  for (int i = 0; i < 2; i++) {
    const Note& ps = p.notes[size_t(2 * i)];
    const Note& cr = p.notes[size_t(2 * i + 1)];
    CHECK(ps.name == "CORE");
    CHECK(ps.type == NT_PRSTATUS);
    REQUIRE(ps.descsz == 336);
    int32_t pid;
    memcpy(&pid, d.data() + ps.desc + qvm::kPrstatusPidOffset, 4);
    CHECK(pid == i + 1);
    CHECK(cr.name == "QVM");
    CHECK(cr.type == qvm::kNoteQvmX86Control);
    REQUIRE(cr.descsz == 40);
    auto reg = [&](int n) { return U64(d, ps.desc + 112 + 8 * size_t(n)); };
    if (i == 0) {
      // user_regs_struct: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx
      // rsi rdi orig_rax rip cs eflags rsp ss fs_base gs_base ds es fs gs.
      const uint64_t want[27] = {0x100f, 0x100e, 0x100d, 0x100c, 0x1006, 0x1001, 0x100b,
                                 0x100a, 0x1009, 0x1008, 0x1000, 0x1002, 0x1003, 0x1004,
                                 0x1005, ~uint64_t(0), 0x100123, 0x10, 0x246, 0x7ff0,
                                 0x18, 0xffff888000001000, 0xffff888000002000, 0x20,
                                 0x28, 0x30, 0x38};
      for (int r = 0; r < 27; r++) {
        INFO("user_regs_struct slot " << r);
        CHECK(reg(r) == want[r]);
      }
      CHECK(U64(d, ps.desc + 112 + 27 * 8) == 0);  // pr_fpvalid + padding
      CHECK(U64(d, cr.desc) == 0x80050033);
      CHECK(U64(d, cr.desc + 8) == 0xdead000);
      CHECK(U64(d, cr.desc + 16) == 0x1234000);
      CHECK(U64(d, cr.desc + 24) == 0x6f0);
      CHECK(U64(d, cr.desc + 32) == 0xd01);
    } else {
      for (int r = 0; r < 27; r++) CHECK(reg(r) == 0);  // no snapshot: zeros
      for (int k = 0; k < 5; k++) CHECK(U64(d, cr.desc + 8 * size_t(k)) == 0);
    }
  }
}

TEST_CASE("guest dump aarch64 layout: EM_AARCH64, user_pt_regs PRSTATUS") {
  Memory m;
  std::vector<DumpVcpu> v = {Arm64Vcpu(), DumpVcpu{}, Arm64Vcpu(0x80090000)};
  TempDir t;
  std::string d = WriteAndRead(t.path() + "/core", kArm64, v, m.mem);
  CHECK(d.size() == qvm::CoreSize(kArm64, 3, m.mem));
  Parsed p = Parse(d);
  CHECK(p.eh.e_machine == EM_AARCH64);
  m.Check(d, p);
  REQUIRE(p.notes.size() == 3);  // PRSTATUS only
  CHECK(qvm::PrstatusSize(kArm64) == 392);
  for (int i = 0; i < 3; i++) {
    const Note& ps = p.notes[size_t(i)];
    CHECK(ps.name == "CORE");
    CHECK(ps.type == NT_PRSTATUS);
    REQUIRE(ps.descsz == 392);
    int32_t pid;
    memcpy(&pid, d.data() + ps.desc + qvm::kPrstatusPidOffset, 4);
    CHECK(pid == i + 1);
    auto reg = [&](int n) { return U64(d, ps.desc + 112 + 8 * size_t(n)); };
    if (i == 1) {
      for (int r = 0; r < 34; r++) CHECK(reg(r) == 0);
      continue;
    }
    // user_pt_regs: x0..x30, sp, pc, pstate.
    for (int r = 0; r < 31; r++) {
      INFO("x" << r);
      CHECK(reg(r) == 0xa000 + uint64_t(r));
    }
    CHECK(reg(31) == 0x2ff0);
    CHECK(reg(32) == (i == 0 ? 0x80080120u : 0x80090000u));
    CHECK(reg(33) == 0x3c5);
    CHECK(U64(d, ps.desc + 112 + 34 * 8) == 0);  // pr_fpvalid + padding
  }
}

TEST_CASE("guest dump: registers of the other architecture are zeros") {
  Memory m;
  TempDir t;
  std::vector<DumpVcpu> v = {X86Vcpu()};
  std::string d = WriteAndRead(t.path() + "/core", kArm64, v, m.mem);
  Parsed p = Parse(d);
  CHECK(p.eh.e_machine == EM_AARCH64);
  REQUIRE(p.notes.size() == 1);
  REQUIRE(p.notes[0].descsz == 392);
  for (int r = 0; r < 34; r++) CHECK(U64(d, p.notes[0].desc + 112 + 8 * size_t(r)) == 0);
  // The other way round: an x86_64 dump of an aarch64 snapshot.
  std::vector<DumpVcpu> a = {Arm64Vcpu()};
  d = WriteAndRead(t.path() + "/core2", kX86, a, m.mem);
  p = Parse(d);
  CHECK(p.eh.e_machine == EM_X86_64);
  REQUIRE(p.notes.size() == 2);
  REQUIRE(p.notes[0].descsz == 336);
  for (int r = 0; r < 27; r++) CHECK(U64(d, p.notes[0].desc + 112 + 8 * size_t(r)) == 0);
  for (int k = 0; k < 5; k++) CHECK(U64(d, p.notes[1].desc + 8 * size_t(k)) == 0);
}

// The build host's own <sys/procfs.h> / <sys/user.h> agree with the layout
// of its architecture (x86_64 natively, aarch64 in the cross-built suite).
TEST_CASE("guest dump: the layout matches the host C library's elf_prstatus") {
  CHECK(offsetof(elf_prstatus, pr_pid) == qvm::kPrstatusPidOffset);
  CHECK(offsetof(elf_prstatus, pr_reg) == qvm::kPrstatusRegOffset);
#if defined(__x86_64__)
  CHECK(sizeof(elf_prstatus) == qvm::PrstatusSize(kX86));
  CHECK(sizeof(user_regs_struct) == 27 * 8);
  CHECK(offsetof(user_regs_struct, r15) == 0 * 8);
  CHECK(offsetof(user_regs_struct, rax) == 10 * 8);
  CHECK(offsetof(user_regs_struct, orig_rax) == 15 * 8);
  CHECK(offsetof(user_regs_struct, rip) == 16 * 8);
  CHECK(offsetof(user_regs_struct, cs) == 17 * 8);
  CHECK(offsetof(user_regs_struct, eflags) == 18 * 8);
  CHECK(offsetof(user_regs_struct, rsp) == 19 * 8);
  CHECK(offsetof(user_regs_struct, fs_base) == 21 * 8);
  CHECK(offsetof(user_regs_struct, gs_base) == 22 * 8);
  CHECK(offsetof(user_regs_struct, ds) == 23 * 8);
  CHECK(offsetof(user_regs_struct, gs) == 26 * 8);
#elif defined(__aarch64__)
  CHECK(sizeof(elf_prstatus) == qvm::PrstatusSize(kArm64));
  CHECK(sizeof(user_regs_struct) == 34 * 8);
  CHECK(offsetof(user_regs_struct, sp) == 31 * 8);
  CHECK(offsetof(user_regs_struct, pc) == 32 * 8);
  CHECK(offsetof(user_regs_struct, pstate) == 33 * 8);
#else
  FAIL("no layout known for this host architecture");
#endif
}

// gdb's own reading of both cores (gdb-multiarch, which test/deps.sh
// installs; its absence is a failure, not a silent pass).
TEST_CASE("guest dump: gdb-multiarch reads registers, threads and memory of both layouts") {
  Memory m;
  TempDir t;
  {
    std::vector<DumpVcpu> v = {X86Vcpu(), X86Vcpu(0x100456)};
    std::string f = t.path() + "/x86.core";
    WriteAndRead(f, kX86, v, m.mem);
    std::string out =
        Gdb(f, {"info registers", "info registers fs_base gs_base orig_rax", "info threads",
                "x/gx 0x8"});
    if (out.empty()) {
      FAIL("gdb-multiarch is not installed (`make deps` installs it)");
    }
    INFO(out);
    auto r = GdbRegs(out);
    CHECK(r["rip"] == 0x100123);
    CHECK(r["rsp"] == 0x7ff0);
    CHECK(r["rax"] == 0x1000);
    CHECK(r["r15"] == 0x100f);
    CHECK(r["eflags"] == 0x246);
    CHECK(r["cs"] == 0x10);
    CHECK(r["ss"] == 0x18);
    CHECK(r["gs"] == 0x38);
    CHECK(r["fs_base"] == 0xffff888000001000);
    CHECK(r["gs_base"] == 0xffff888000002000);
    CHECK(r["orig_rax"] == ~uint64_t(0));
    CHECK(out.find("LWP 2             0x0000000000100456") != std::string::npos);  // thread 2's rip
    uint64_t want;
    memcpy(&want, m.ram + 8, 8);
    CHECK(out.find(absl::StrCat("0x8:\t0x", absl::Hex(want, absl::kZeroPad16))) !=
          std::string::npos);
  }
  {
    std::vector<DumpVcpu> v = {Arm64Vcpu(), Arm64Vcpu(0x80090000)};
    std::string f = t.path() + "/arm64.core";
    WriteAndRead(f, kArm64, v, m.mem);
    std::string out = Gdb(f, {"info registers", "info threads", "x/gx 0x10"});
    INFO(out);
    auto r = GdbRegs(out);
    CHECK(r["pc"] == 0x80080120);
    CHECK(r["sp"] == 0x2ff0);
    CHECK(r["x0"] == 0xa000);
    CHECK(r["x29"] == 0xa01d);
    CHECK(r["x30"] == 0xa01e);
    CHECK(r["cpsr"] == 0x3c5);
    CHECK(out.find("LWP 2             0x0000000080090000") != std::string::npos);  // thread 2's pc
    uint64_t want;
    memcpy(&want, m.ram + 16, 8);
    CHECK(out.find(absl::StrCat("0x10:\t0x", absl::Hex(want, absl::kZeroPad16))) !=
          std::string::npos);
  }
}
