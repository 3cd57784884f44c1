// libFuzzer target: the x86 image loaders (boot/x86.cc LoadX86: bzImage,
// the BSD native protocols, PVH ELF, Multiboot 1 and 2 with modules, ELF64,
// raw) on a hostile kernel file. Input: byte 0 = options (bit 0 an initrd,
// bit 1 two Multiboot modules, bit 2 `load ADDR,` from bytes 2..5), byte 1
// = command-line length L, then L bytes of command line (the BSDs parse
// it), then the kernel image. Guest RAM: 0-64 MiB, once per process.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "boot/x86.h"
#include "test/fuzz/fuzz_file.h"
#include "vmm/guest_memory.h"

namespace {
constexpr size_t kMaxInput = 1 << 20;  // also libFuzzer's -max_len
constexpr uint64_t kRam = 64ull << 20;

struct Rig {
  qvm::GuestMemory mem;
  fuzz::MemFile kernel{"kernel"}, initrd{"initrd"}, module{"module"};
  Rig() {
    if (!mem.add(0, kRam, false).ok()) abort();
    static const uint8_t kBlob[4096] = {1, 2, 3, 4};
    initrd.set(kBlob, sizeof kBlob);
    module.set(kBlob, 100);
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Rig* rig = new Rig;  // lives for the process
  if (size < 6 || size > kMaxInput) return 0;
  const uint8_t opts = data[0];
  const size_t cl = data[1];
  if (size < 6 + cl) return 0;
  qvm::boot::BootRequest rq;
  if (opts & 4) {
    uint32_t a;
    memcpy(&a, data + 2, 4);
    rq.kernel_addr = a;
  }
  rq.cmdline.assign(reinterpret_cast<const char*>(data + 6), cl);
  rq.kernel_path = rig->kernel.set(data + 6 + cl, size - 6 - cl);
  if (opts & 1) rq.initrd_path = rig->initrd.path();
  if (opts & 2) {
    rq.modules.push_back({rig->module.path(), "mod one"});
    rq.modules.push_back({rig->module.path(), ""});
  }
  rq.rsdp_addr = 0xe0000;
  rq.reserved.push_back({0xfec00000, 0x1000, 2});
  auto st = qvm::boot::LoadX86(rig->mem, rq);
  if (st.ok()) {
    (void)qvm::boot::Describe(*st);
    for (const auto& p : st->placements)
      if (p.size && !rig->mem.contains(p.gpa, p.size)) __builtin_trap();
  } else if (st.status().message().empty()) {
    __builtin_trap();  // every error says what
  }
  return 0;
}
