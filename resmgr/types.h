// Types shared by the resmgr server and client: credentials, stat, errors.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace qvm::resmgr {

// Peer credentials of a client connection (SO_PEERCRED).
struct Credentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// STAT reply (32 bytes on the wire: u32 mode, u32 uid, u32 gid, u32 0,
// u64 size, u64 mtime_ns).
struct Stat {
  uint32_t mode = 0;  // S_IFDIR / S_IFCHR / S_IFREG | permission bits
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  uint64_t mtime_ns = 0;  // CLOCK_REALTIME nanoseconds
};
std::string EncodeStat(const Stat& st);
bool DecodeStat(std::string_view data, Stat* st);

// A status carrying an errno: code from the errno class, the errno kept as
// a payload so that ErrnoOf() recovers it exactly.
absl::Status ErrnoStatus(int err, std::string_view message);
// The same with an explicit status code.
absl::Status ErrnoStatus(int err, std::string_view message, absl::StatusCode code);
// The errno carried by `s` (0 for OK; EIO for a status without one).
int ErrnoOf(const absl::Status& s);

}  // namespace qvm::resmgr
