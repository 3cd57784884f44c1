// libFuzzer target: the resource manager's request decoder
// (resmgr/protocol.cc CheckRequest), which sees every packet a /dev/qvm
// client sends. The first 4 bytes are the packet's real length as recv
// reported it (MSG_TRUNC: it may exceed what was kept); the rest is the
// packet. An accepted request must point inside the packet and respect its
// type's size rule.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "resmgr/protocol.h"

namespace proto = qvm::resmgr::proto;

namespace {
bool Inside(std::string_view v, const uint8_t* p, size_t n) {
  if (v.empty()) return true;
  const auto* b = reinterpret_cast<const uint8_t*>(v.data());
  return b >= p && v.size() <= n && size_t(b - p) <= n - v.size();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4 || size > 4 + proto::kMaxMessage) return 0;
  uint32_t claimed;
  memcpy(&claimed, data, 4);
  const uint8_t* pkt = data + 4;
  const size_t kept = size - 4;
  // recv keeps min(real, kMaxMessage) bytes: real == kept unless the
  // buffer was full, then anything from there up.
  size_t real = kept == proto::kMaxMessage && claimed > kept ? claimed : kept;
  proto::Request r;
  int err = proto::CheckRequest(pkt, real, &r);
  if (err != 0) {
    if (err != EBADMSG && err != EPROTO && err != ENOSYS && err != EINVAL) __builtin_trap();
    return 0;
  }
  const proto::SizeRule* rule = proto::RuleFor(r.hdr.type);
  if (!rule || real != kept || r.hdr.length != kept - 16 ||
      r.hdr.length < rule->min_payload || r.hdr.length > rule->max_payload)
    __builtin_trap();
  if (!Inside(r.name, pkt, kept) || !Inside(r.data, pkt, kept)) __builtin_trap();
  return 0;
}
