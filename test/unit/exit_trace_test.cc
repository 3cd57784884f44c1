// Exit trace: ring order/capacity, Capstone disassembly, and the trace note
// in guest dumps.
#include <catch2/catch.hpp>

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "arch/x86_64/regs.h"
#include "test/unit/temp_dir.h"
#include "vmm/dump.h"
#include "vmm/exit_trace.h"

using namespace qvm;
using qvm::test::TempDir;

TEST_CASE("exit trace keeps the last N exits, oldest first") {
  ExitTrace t(3);
  for (int i = 0; i < 5; i++) {
    TraceEntry e;
    e.addr = uint64_t(i);
    t.record(e);
  }
  auto v = t.entries();
  REQUIRE(v.size() == 3);
  CHECK(v[0].addr == 2);
  CHECK(v[2].addr == 4);
  ExitTrace off(0);
  CHECK_FALSE(off.enabled());
}

TEST_CASE("trace lines disassemble the faulting instruction") {
  TraceEntry e;
  e.kind = ExitKind::Pio;
  e.addr = 0x3f8;
  e.size = 1;
  e.count = 1;
  e.write = true;
  e.value = 0x41;
  e.insn.pc = 0x100000;
  e.insn.mode = 32;
  e.insn.bytes[0] = 0xee;  // out dx, al
  e.insn.len = 1;
  auto lines = FormatTrace(X86_64CpuModel(), 0, {e}, e.ts_ns);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("pio write 0x3f8 size 1 value 0x41 at pc 0x100000: out dx, al") !=
        std::string::npos);
  InsnContext mov64;
  mov64.mode = 64;
  const uint8_t b[] = {0x48, 0x89, 0x07};  // mov [rdi], rax
  memcpy(mov64.bytes, b, sizeof b);
  mov64.len = sizeof b;
  CHECK(Disassemble(X86_64CpuModel(), mov64) == "mov qword ptr [rdi], rax");
  InsnContext none;
  CHECK(Disassemble(X86_64CpuModel(), none) == "(instruction not readable)");
}

TEST_CASE("guest dumps carry the trace as a QVM note") {
  GuestMemory mem;
  REQUIRE(mem.add(0, 0x1000, false).ok());
  std::vector<DumpVcpu> vcpus(1);
  TempDir t;
  int fd = open((t / "core").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  std::string text = "trace vcpu 0: test line";
  REQUIRE(WriteCore(fd, X86_64CpuModel(), vcpus, mem, text).ok());
  off_t size = lseek(fd, 0, SEEK_END);
  CHECK(uint64_t(size) == CoreSize(X86_64CpuModel(), 1, mem, text));
  std::vector<char> buf(size_t(size), 0);
  REQUIRE(pread(fd, buf.data(), buf.size(), 0) == size);
  close(fd);
  std::string all(buf.begin(), buf.end());
  size_t pos = all.find(std::string("QVM\0", 4));
  REQUIRE(pos != std::string::npos);
  CHECK(all.find(text) != std::string::npos);
}
