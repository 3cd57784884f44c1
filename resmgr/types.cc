#include "resmgr/types.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "resmgr/protocol.h"

namespace qvm::resmgr {

namespace {
constexpr char kErrnoUrl[] = "qvm.resmgr/errno";
}

std::string EncodeStat(const Stat& st) {
  std::string s;
  proto::PutU32(s, st.mode);
  proto::PutU32(s, st.uid);
  proto::PutU32(s, st.gid);
  proto::PutU32(s, 0);
  proto::PutU64(s, st.size);
  proto::PutU64(s, st.mtime_ns);
  return s;
}

bool DecodeStat(std::string_view data, Stat* st) {
  if (data.size() != proto::kStatSize) return false;
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  st->mode = proto::GetU32(p);
  st->uid = proto::GetU32(p + 4);
  st->gid = proto::GetU32(p + 8);
  st->size = proto::GetU64(p + 16);
  st->mtime_ns = proto::GetU64(p + 24);
  return true;
}

absl::Status ErrnoStatus(int err, std::string_view message) {
  return ErrnoStatus(err, message, absl::ErrnoToStatusCode(err));
}

absl::Status ErrnoStatus(int err, std::string_view message, absl::StatusCode code) {
  char buf[128];
  const char* desc = strerror_r(err, buf, sizeof buf);
  absl::Status s(code,
                 message.empty() ? std::string(desc) : absl::StrCat(std::string(message), ": ", desc));
  s.SetPayload(kErrnoUrl, absl::Cord(std::to_string(err)));
  return s;
}

int ErrnoOf(const absl::Status& s) {
  if (s.ok()) return 0;
  auto p = s.GetPayload(kErrnoUrl);
  if (!p) return EIO;
  int v = 0;
  for (char c : std::string(*p)) {
    if (c < '0' || c > '9' || v > 100000) return EIO;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace qvm::resmgr
