// libFuzzer target: the gdb remote protocol's packet layer (vmm/gdb_packet.*)
// as a hostile debugger drives it. The first byte picks a chunk size; the
// rest is fed to one PacketReader in chunks of that size (a packet split
// across reads). Every packet it returns is decoded again, framed and
// read back (the round trip must give the same payload), and the hex
// helpers run on it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/gdb_packet.h"

namespace {
constexpr size_t kMaxInput = 64 * 1024;  // also libFuzzer's -max_len
constexpr size_t kMaxPacket = 4096;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > kMaxInput) return 0;
  const size_t chunk = size_t(data[0] % 64) + 1;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  qvm::gdb::PacketReader rd(kMaxPacket);
  std::vector<qvm::gdb::Event> ev;
  for (size_t off = 0; off < in.size(); off += chunk)
    rd.feed(in.substr(off, chunk), &ev);
  for (const qvm::gdb::Event& e : ev) {
    if (e.data.size() > kMaxPacket) __builtin_trap();  // the bound holds
    if (e.kind != qvm::gdb::Event::kPacket) continue;
    (void)qvm::gdb::FromHex(e.data);
    (void)qvm::gdb::ParseHex(e.data);
    (void)qvm::gdb::Decode(e.data, kMaxPacket);
    // A packet qvm would send with this payload reads back as the payload.
    for (bool rle : {false, true}) {
      qvm::gdb::PacketReader back(2 * kMaxPacket + 8);
      std::vector<qvm::gdb::Event> got;
      back.feed(qvm::gdb::Frame(e.data, rle), &got);
      if (got.size() != 1 || got[0].kind != qvm::gdb::Event::kPacket ||
          got[0].data != e.data)
        __builtin_trap();
    }
    if (qvm::gdb::FromHex(qvm::gdb::ToHex(e.data)) != e.data) __builtin_trap();
  }
  return 0;
}
