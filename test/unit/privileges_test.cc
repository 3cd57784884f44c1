// `user` (vmm/privileges.h): the credentials it names, and the change of
// user itself in a forked child (root only: elsewhere a warning says why
// the second case did not run).
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "vmm/privileges.h"

namespace qvm {
namespace {

TEST_CASE("privileges: what `user` names", "[user]") {
  auto c = ResolveUser(100, {200, 4, 5});
  REQUIRE(c.ok());
  CHECK(c->uid == 100u);
  CHECK(c->gid == 200u);
  CHECK(c->groups == std::vector<gid_t>{4, 5});
  CHECK(CredentialsString(*c) == "100:200,4,5");
  auto root = ResolveUser(0, {});  // root's primary group, no supplementary
  REQUIRE(root.ok());
  CHECK(root->gid == 0u);
  CHECK(root->groups.empty());
  auto none = ResolveUser(4294967294u, {});
  REQUIRE_FALSE(none.ok());
  CHECK(std::string(none.status().message()) ==
        "no GID given and UID 4294967294 has no entry in the password database to take its "
        "group from; write `user 4294967294:GID`");
}

// In a child: the change, its check, and that root cannot be had back.
// Exit codes name the failing step.
TEST_CASE("privileges: the change of user and its check", "[user]") {
  if (geteuid() != 0) {
    WARN("not root: the change of user is not tried here (test/user/run.sh skips too)");
    return;
  }
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    Credentials c{65534, 65534, {4, 5}};
    if (!DropPrivileges(c).ok()) _exit(10);
    uid_t r, e, s;
    gid_t gr, ge, gs;
    if (getresuid(&r, &e, &s) != 0 || r != 65534 || e != 65534 || s != 65534) _exit(11);
    if (getresgid(&gr, &ge, &gs) != 0 || gr != 65534 || ge != 65534 || gs != 65534) _exit(12);
    gid_t g[8];
    if (getgroups(8, g) != 2) _exit(13);
    if (!VerifyDropped(c).ok()) _exit(14);
    if (!DropPrivileges(c).ok()) _exit(15);  // already so: nothing to change
    Credentials other{65534, 65533, {}};
    absl::Status v = VerifyDropped(other);
    if (v.ok() || std::string(v.message()).find("instead of 65534:65533") == std::string::npos)
      _exit(16);
    absl::Status back = DropPrivileges(Credentials{0, 0, {}});
    if (back.ok() ||
        std::string(back.message()).find("`user`: setgroups: Operation not permitted (qvm "
                                         "must start as root") == std::string::npos)
      _exit(17);
    if (setuid(0) == 0) _exit(18);
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace qvm
