// `user`: giving up root once the VM is set up (vmm/privileges.h).
#include "vmm/privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace qvm {

namespace {

absl::Status Errno(const char* what, int e) {
  return absl::PermissionDeniedError(
      absl::StrCat("`user`: ", what, ": ", strerror(e),
                   e == EPERM ? " (qvm must start as root, or with CAP_SETUID and "
                                "CAP_SETGID, to change its user)"
                              : ""));
}

std::vector<gid_t> CurrentGroups() {
  int n = getgroups(0, nullptr);
  if (n <= 0) return {};
  std::vector<gid_t> g(static_cast<size_t>(n));
  n = getgroups(n, g.data());
  g.resize(n < 0 ? 0 : size_t(n));
  std::sort(g.begin(), g.end());
  return g;
}

std::vector<gid_t> Sorted(std::vector<gid_t> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

bool Already(const Credentials& c) {
  uid_t r, e, s;
  gid_t gr, ge, gs;
  if (getresuid(&r, &e, &s) != 0 || getresgid(&gr, &ge, &gs) != 0) return false;
  return r == c.uid && e == c.uid && s == c.uid && gr == c.gid && ge == c.gid &&
         gs == c.gid && Sorted(CurrentGroups()) == Sorted(c.groups);
}

}  // namespace

absl::StatusOr<Credentials> ResolveUser(uint32_t uid, const std::vector<uint32_t>& gids) {
  Credentials c;
  c.uid = uid;
  if (!gids.empty()) {
    c.gid = gids[0];
    c.groups.assign(gids.begin() + 1, gids.end());
    return c;
  }
  long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size_t(sz > 0 ? sz : 16384));
  struct passwd pw, *res = nullptr;
  int e = getpwuid_r(uid, &pw, buf.data(), buf.size(), &res);
  if (e != 0 || !res)
    return absl::InvalidArgumentError(absl::StrCat(
        "no GID given and UID ", uid,
        " has no entry in the password database to take its group from; write `user ", uid,
        ":GID`"));
  c.gid = pw.pw_gid;
  return c;
}

absl::Status DropPrivileges(const Credentials& c) {
  if (Already(c)) return VerifyDropped(c);
  // glibc runs each of these in every thread of the process (its SIGSETXID
  // broadcast); the calls in threads under a system-call filter are allowed
  // there (vmm/syscall_filter.cc, the worker list).
  if (setgroups(c.groups.size(), c.groups.empty() ? nullptr : c.groups.data()) != 0)
    return Errno("setgroups", errno);
  if (setresgid(c.gid, c.gid, c.gid) != 0) return Errno("setresgid", errno);
  if (setresuid(c.uid, c.uid, c.uid) != 0) return Errno("setresuid", errno);
  return VerifyDropped(c);
}

absl::Status VerifyDropped(const Credentials& c) {
  uid_t r, e, s;
  gid_t gr, ge, gs;
  if (getresuid(&r, &e, &s) != 0 || getresgid(&gr, &ge, &gs) != 0)
    return Errno("getresuid", errno);
  if (r != c.uid || e != c.uid || s != c.uid || gr != c.gid || ge != c.gid || gs != c.gid)
    return absl::InternalError(absl::StrCat(
        "`user`: the process runs as uid ", r, "/", e, "/", s, " gid ", gr, "/", ge, "/", gs,
        " instead of ", CredentialsString(c)));
  if (Sorted(CurrentGroups()) != Sorted(c.groups))
    return absl::InternalError("`user`: the supplementary groups were not set");
  if (c.uid == 0) return absl::OkStatus();
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &hdr, data) != 0) return Errno("capget", errno);
  for (const auto& d : data)
    if (d.effective || d.permitted)
      return absl::InternalError("`user`: capabilities remain after the change of user");
  // The raw calls act on this thread only: a success would be a failure
  // to drop, and qvm stops anyway.
  if (syscall(SYS_setresuid, uid_t(-1), uid_t(0), uid_t(-1)) == 0 || errno != EPERM)
    return absl::InternalError("`user`: the process could become root again (setresuid)");
  if (syscall(SYS_setresgid, gid_t(-1), gid_t(0), gid_t(-1)) == 0 || errno != EPERM) {
    if (c.gid != 0)
      return absl::InternalError("`user`: the process could take group 0 again (setresgid)");
  }
  return absl::OkStatus();
}

std::string CredentialsString(const Credentials& c) {
  std::string s = absl::StrCat(c.uid, ":", c.gid);
  for (gid_t g : c.groups) absl::StrAppend(&s, ",", g);
  return s;
}

}  // namespace qvm
