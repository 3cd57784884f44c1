// libFuzzer target: a user-supplied device tree (`fdt load PATH`,
// boot/fdt.cc): ReadUserFdt validates the file, PatchUserFdt edits it the
// way qvm does (bootargs, initrd, memory nodes). Input: byte 0 = options
// (bit 0 bootargs, bit 1 initrd, bit 2 memory nodes), then the blob.
#include <cstddef>
#include <cstdint>
#include <libfdt.h>

#include "boot/fdt.h"
#include "test/fuzz/fuzz_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile* file = new fuzz::MemFile("fdt");  // lives for the process
  if (size < 1 || size > (1 << 16)) return 0;  // also libFuzzer's -max_len
  auto blob = qvm::boot::ReadUserFdt(file->set(data + 1, size - 1));
  if (!blob.ok()) return 0;
  if (blob->size() > qvm::boot::kUserFdtMax || fdt_check_full(blob->data(), blob->size()) != 0)
    __builtin_trap();  // what was accepted is a whole, valid tree
  qvm::boot::UserFdtPatch p;
  if (data[0] & 1) {
    p.set_bootargs = true;
    p.bootargs = "console=ttyAMA0 root=/dev/vda";
  }
  if (data[0] & 2) p.initrd_start = 0x48000000, p.initrd_end = 0x48100000;
  if (data[0] & 4) p.memory = {{0x40000000, 0x10000000}, {0x100000000, 0x40000000}};
  auto out = qvm::boot::PatchUserFdt(*blob, p);
  if (out.ok() && (out->blob.size() > qvm::boot::kUserFdtMax ||
                   fdt_check_full(out->blob.data(), out->blob.size()) != 0))
    __builtin_trap();  // qvm's edits keep it valid
  return 0;
}
