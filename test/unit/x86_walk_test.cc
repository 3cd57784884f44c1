// x86 page walk (arch/x86_64/kvm_x86.cc: Translate), what the gdb stub and
// the exit trace read guest-virtual memory through: page tables built in
// guest RAM for 4- and 5-level long mode (4 KiB, 2 MiB and 1 GiB pages, a
// user page, as a guest with SMAP on maps its processes), PAE and 32-bit
// paging, paging off; missing entries and tables outside RAM end the walk.
#if defined(__x86_64__)
#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>

#include "arch/x86_64/kvm_x86.h"
#include "vmm/guest_memory.h"

namespace {

using qvm::GuestMemory;
using qvm::x86::Translate;

constexpr uint64_t kP = 1, kW = 2, kU = 4, kPs = 0x80;
constexpr uint64_t kCr0Pg = 0x80000001ull, kEferLma = 0x500, kCr4Pae = 0x20, kCr4La57 = 0x1000;

void Put64(GuestMemory& m, uint64_t a, uint64_t v) { REQUIRE(m.write_obj(a, v)); }
void Put32(GuestMemory& m, uint64_t a, uint32_t v) { REQUIRE(m.write_obj(a, v)); }

uint64_t Idx(uint64_t va, int level) { return (va >> (12 + 9 * level)) & 0x1ff; }

std::optional<uint64_t> Walk(const GuestMemory& m, const kvm_sregs& sr, uint64_t va) {
  uint64_t pa = 0;
  if (!Translate(m, sr, va, &pa)) return std::nullopt;
  return pa;
}

}  // namespace

TEST_CASE("x86 walk: 4-level long mode, 4 KiB / 2 MiB / 1 GiB pages, user pages", "[x86][walk]") {
  GuestMemory m;
  REQUIRE(m.add(0, 16 << 20, false).ok());
  kvm_sregs sr{};
  sr.cr0 = kCr0Pg;
  sr.cr4 = kCr4Pae | 0x200000;  // SMAP on: no difference to the walk
  sr.efer = kEferLma;
  sr.cr3 = 0x10000;
  // A user stack page (4 KiB) at 0x7fff45c3f000 -> 0x345000.
  uint64_t user = 0x7fff45c3fc60;
  Put64(m, 0x10000 + Idx(user, 3) * 8, 0x11000 | kP | kW | kU);
  Put64(m, 0x11000 + Idx(user, 2) * 8, 0x12000 | kP | kW | kU);
  Put64(m, 0x12000 + Idx(user, 1) * 8, 0x13000 | kP | kW | kU);
  Put64(m, 0x13000 + Idx(user, 0) * 8, 0x345000 | kP | kW | kU);
  CHECK(Walk(m, sr, user) == 0x345c60);
  CHECK(Walk(m, sr, user + 0x1000) == std::nullopt);  // next PTE not present
  // Kernel text in a 2 MiB page: 0xffffffff81000000 -> 0x1000000.
  uint64_t text = 0xffffffff81234567;
  Put64(m, 0x10000 + Idx(text, 3) * 8, 0x14000 | kP | kW);
  Put64(m, 0x14000 + Idx(text, 2) * 8, 0x15000 | kP | kW);
  Put64(m, 0x15000 + Idx(text, 1) * 8, 0x1000000 | kP | kPs);
  CHECK(Walk(m, sr, text) == 0x1000000 + (text & 0x1fffff));
  // A 1 GiB page at PDPT level: 0xffff888000000000 -> 0.
  uint64_t direct = 0xffff888000123456;
  Put64(m, 0x10000 + Idx(direct, 3) * 8, 0x16000 | kP | kW);
  Put64(m, 0x16000 + Idx(direct, 2) * 8, 0 | kP | kW | kPs);
  CHECK(Walk(m, sr, direct) == 0x123456);
  // A table outside RAM ends the walk.
  uint64_t far = 0x0000100000000000;
  Put64(m, 0x10000 + Idx(far, 3) * 8, 0x7fff0000000 | kP);
  CHECK(Walk(m, sr, far) == std::nullopt);
  // PS in a PML4 entry makes no page: the walk goes on to that table
  // (empty here), it does not stop with an address.
  uint64_t ps4 = 0x0000200000000000;
  Put64(m, 0x10000 + Idx(ps4, 3) * 8, 0x17000 | kP | kPs);
  CHECK(Walk(m, sr, ps4) == std::nullopt);
}

TEST_CASE("x86 walk: 5-level long mode (CR4.LA57)", "[x86][walk]") {
  GuestMemory m;
  REQUIRE(m.add(0, 4 << 20, false).ok());
  kvm_sregs sr{};
  sr.cr0 = kCr0Pg;
  sr.cr4 = kCr4Pae | kCr4La57;
  sr.efer = kEferLma;
  sr.cr3 = 0x20000;
  uint64_t va = 0x00ff123456789abcull;  // above 2^48: needs the fifth level
  Put64(m, 0x20000 + Idx(va, 4) * 8, 0x21000 | kP);
  Put64(m, 0x21000 + Idx(va, 3) * 8, 0x22000 | kP);
  Put64(m, 0x22000 + Idx(va, 2) * 8, 0x23000 | kP);
  Put64(m, 0x23000 + Idx(va, 1) * 8, 0x24000 | kP);
  Put64(m, 0x24000 + Idx(va, 0) * 8, 0x2ff000 | kP);
  CHECK(Walk(m, sr, va) == 0x2ffabc);
  sr.cr4 &= ~kCr4La57;  // the same tables read as four levels: another path
  CHECK(Walk(m, sr, va) != 0x2ffabc);
}

TEST_CASE("x86 walk: PAE, 32-bit with PSE, paging off", "[x86][walk]") {
  GuestMemory m;
  REQUIRE(m.add(0, 8 << 20, false).ok());
  kvm_sregs sr{};
  sr.cr0 = 0x11;  // paging off: flat, 32 bits
  CHECK(Walk(m, sr, 0x123456789) == 0x23456789);
  sr.cr0 = kCr0Pg;
  sr.cr4 = kCr4Pae;
  sr.cr3 = 0x30020;  // PDPT 32-byte aligned
  Put64(m, 0x30020 + 3 * 8, 0x31000 | kP);
  Put64(m, 0x31000 + 0x1ff * 8, 0x400000 | kP | kPs);  // 2 MiB page
  CHECK(Walk(m, sr, 0xffe12345) == 0x412345);
  Put64(m, 0x30020 + 0 * 8, 0x32000 | kP);
  Put64(m, 0x32000 + 1 * 8, 0x33000 | kP);
  Put64(m, 0x33000 + 2 * 8, 0x500000 | kP);
  CHECK(Walk(m, sr, 0x202abc) == 0x500abc);
  sr.cr4 = 0x10;  // 32-bit with PSE
  sr.cr3 = 0x40000;
  Put32(m, 0x40000 + 0x300 * 4, 0x400000 | kP | kPs);  // 4 MiB page at 0xc0000000
  CHECK(Walk(m, sr, 0xc0123456) == 0x523456);
  Put32(m, 0x40000 + 1 * 4, 0x41000 | kP);
  Put32(m, 0x41000 + 2 * 4, 0x600000 | kP);
  CHECK(Walk(m, sr, 0x402123) == 0x600123);
  CHECK(Walk(m, sr, 0x802123) == std::nullopt);
}
#endif
