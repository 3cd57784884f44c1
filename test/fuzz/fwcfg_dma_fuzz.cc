// libFuzzer target: fw-cfg's DMA interface (vdev/fw-cfg), linked in and
// driven through its factory on the fake host, as a hostile guest drives
// it: selector writes, data-port reads and DMA starts (64-bit write at
// 0x514, the two big-endian halves, the low half alone) whose control
// structures the input places in guest RAM — control words with any bits,
// lengths up to 2^32-1, destinations outside RAM, across its end, wrapping
// past 2^64; the structure itself outside RAM or straddling its end.
// Input: byte 0 the number of operations (1-8), then 12 bytes each: kind
// (low 3 bits: 0 64-bit start, 1 both halves, 2 low half only, 3 selector,
// 4 data reads, 5 signature reads; bit 7: the address lands in guest RAM,
// modulo its size), width, selector (u16), address (u64); the rest is guest
// RAM from its start (1 MiB at 1 MiB). After each start whose control
// structure lies in RAM, its control word must read back 0 or ERROR.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "test/fakehost/fake_host.h"

namespace {
constexpr size_t kOps = 8, kOpSize = 12, kHeader = 1 + kOps * kOpSize;
constexpr size_t kMaxInput = kHeader + 64 * 1024;  // also libFuzzer's -max_len

// An access at 0x510 + off (status ignored).
void Out(fake::Host& h, qvm_vdev* f, unsigned off, unsigned size, uint64_t v) {
  (void)h.write(f, QVM_SPACE_IO, 0x510 + off, size, v);
}
void In(fake::Host& h, qvm_vdev* f, unsigned off, unsigned size) {
  uint64_t v;
  (void)h.read(f, QVM_SPACE_IO, 0x510 + off, size, &v);
}

uint64_t Le(const uint8_t* p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++) v |= uint64_t(p[i]) << (8 * i);
  return v;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kHeader || size > kMaxInput) return 0;
  fake::Host& h = fake::Host::get();
  h.reset();
  h.vcpus = 2;
  h.cmdline = "console=ttyS0";
  memcpy(h.ram.data(), data + kHeader, size - kHeader);
  qvm_vdev* f = h.create("fw-cfg");
  if (!f) __builtin_trap();  // the default configuration must come up
  const unsigned n = data[0] % kOps + 1;
  for (unsigned i = 0; i < n; i++) {
    const uint8_t* op = data + 1 + i * kOpSize;
    const unsigned kind = op[0] & 7;
    const unsigned width = 1u << (op[1] & 3);
    const uint16_t sel = uint16_t(Le(op + 2, 2));
    uint64_t addr = Le(op + 4, 8);
    if (op[0] & 0x80) addr = h.ram_base + addr % h.ram.size();
    // Every access lies wholly inside the 12-port block, as qvm routes them;
    // a bus error is a fine answer to a hostile one.
    switch (kind) {
      case 0: Out(h, f, 4, 8, __builtin_bswap64(addr)); break;
      case 1:
        Out(h, f, 4, 4, __builtin_bswap32(uint32_t(addr >> 32)));
        Out(h, f, 8, 4, __builtin_bswap32(uint32_t(addr)));
        break;
      case 2: Out(h, f, 8, 4, __builtin_bswap32(uint32_t(addr))); break;
      case 3: Out(h, f, 0, 2, sel); continue;
      case 4:
        for (unsigned k = 0; k < (sel & 0xff); k++) In(h, f, k & 1, 1);
        continue;
      case 5:
        for (unsigned k = 0; k < 8; k += width) In(h, f, 4 + k, width);
        continue;
      default: {  // a write of any width anywhere in the block (the selector's too)
        unsigned off = sel % 12;
        if (off + width > 12) off = 12 - width;
        Out(h, f, off, width, addr);
        continue;
      }
    }
    if (kind == 2) addr &= 0xffffffffu;  // the high half was whatever was latched (0)
    if (kind != 2 && addr >= h.ram_base && addr - h.ram_base <= h.ram.size() - 16) {
      const uint8_t* cs = h.ram.data() + (addr - h.ram_base);
      const uint32_t control = uint32_t(cs[0]) << 24 | uint32_t(cs[1]) << 16 |
                               uint32_t(cs[2]) << 8 | cs[3];
      if (control != 0 && control != 1) __builtin_trap();
    }
  }
  h.reset();
  return 0;
}
