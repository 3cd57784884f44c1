// `user UID[:GID[,GID...]]` (QNX's top-level option): once the VM is set
// up (KVM, guest memory, every plug-in's files and devices, the /dev/qvm
// socket) and before a vCPU runs guest code, qvm gives up root: it sets
// its supplementary groups, then its real, effective and saved GID, then
// its UIDs, every one checked, in every thread (glibc's set*id calls act
// on all threads of the process), and then checks that it cannot get
// root back. vmm/README.md ("`user`") says what keeps working afterwards.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qvm {

struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary (may be empty)
};

// What `user` asks for: the GIDs given (first the primary group), or
// without them UID's primary group from the password database and no
// supplementary groups. An error when no GID is given and UID has no
// entry there.
absl::StatusOr<Credentials> ResolveUser(uint32_t uid, const std::vector<uint32_t>& gids);

// Changes the process's credentials to `c` (setgroups, setresgid,
// setresuid, in that order), then VerifyDropped. Nothing is changed when
// the process already runs with exactly these credentials.
absl::Status DropPrivileges(const Credentials& c);

// The process runs with `c` (real, effective and saved IDs, supplementary
// groups), has no effective or permitted capabilities, and when `c.uid`
// is not 0 the calling thread's setresuid(-1, 0, -1) and setresgid(-1, 0,
// -1) fail.
absl::Status VerifyDropped(const Credentials& c);

// "UID:GID[,GID...]" for logs.
std::string CredentialsString(const Credentials& c);

}  // namespace qvm
