// Who may connect: the socket's file mode and the server's SO_PEERCRED /
// SO_PEERGROUPS check, exercised with real other uids (forked children that
// drop to nobody). Needs root to switch uid; without root these tests fail
// with a message rather than pretend to pass.
#include <fcntl.h>
#include <grp.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>

#include "test/resmgr/nodes.h"

using namespace rmtest;
using qvm::resmgr::ErrnoOf;

namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;
constexpr int kRefusedByServer = 100;  // child's code: EACCES from the server

// Forks, switches to uid/gid/groups, opens `name` at `path`; returns 0 on
// success, kRefusedByServer, or the errno (as the child's exit code).
int OpenAs(uid_t uid, gid_t gid, std::vector<gid_t> groups, const std::string& path) {
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(groups.size(), groups.data()) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
      _exit(99);
    auto c = Client::open(path, "env", O_RDONLY, absl::Seconds(5));
    if (c.ok()) _exit((*c)->read(3).ok() ? 0 : 98);
    int e = ErrnoOf(c.status());
    if (e == EACCES &&
        c.status().message().find("refused by the server") != std::string::npos)
      _exit(kRefusedByServer);
    _exit(e > 0 && e < 98 ? e : 97);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void NeedRoot() {
  if (geteuid() != 0)
    FAIL("cannot test access by another uid: needs root to fork a child as 'nobody'");
}

}  // namespace

TEST_CASE("default access: owner and root only (mode 0600 + peer credentials)",
          "[resmgr][security]") {
  NeedRoot();
  NodeServer s;
  struct stat st;
  REQUIRE(lstat(s.path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(st.st_uid == geteuid());
  // Same uid: fine.
  CHECK(OpenAs(0, 0, {}, s.path) == 0);
  // nobody: the kernel refuses the connect on the file mode.
  CHECK(OpenAs(kNobody, kNogroup, {}, s.path) == EACCES);
  // Even with the file mode widened behind the server's back, the server's
  // SO_PEERCRED check refuses the client.
  REQUIRE(chmod(s.path.c_str(), 0666) == 0);
  const uint64_t refused = s.stats().refused;
  const int opens = s.nodes.n.open;
  CHECK(OpenAs(kNobody, kNogroup, {}, s.path) == kRefusedByServer);
  CHECK(s.stats().refused == refused + 1);
  CHECK(s.nodes.n.open == opens);  // no connect handler ran
}

TEST_CASE("resmgr group widens access to its members only", "[resmgr][security]") {
  NeedRoot();
  group* g = getgrgid(kNogroup);
  REQUIRE(g != nullptr);
  AttachOptions o;
  o.group = g->gr_name;
  NodeServer s(o);
  struct stat st;
  REQUIRE(lstat(s.path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0660);
  CHECK(st.st_gid == kNogroup);
  // Member by primary group.
  CHECK(OpenAs(kNobody, kNogroup, {}, s.path) == 0);
  // Member by supplementary group only (SO_PEERGROUPS).
  CHECK(OpenAs(kNobody, 1, {kNogroup}, s.path) == 0);
  // Not a member: refused by the file mode...
  CHECK(OpenAs(kNobody, 1, {}, s.path) == EACCES);
  // ...and by the server when the mode is widened.
  REQUIRE(chmod(s.path.c_str(), 0666) == 0);
  CHECK(OpenAs(kNobody, 1, {}, s.path) == kRefusedByServer);
  CHECK(OpenAs(kNobody, kNogroup, {}, s.path) == 0);
  // STAT reports the group.
  auto c = Client::open(s.path, "env");
  REQUIRE(c.ok());
  auto cst = (*c)->stat();
  REQUIRE(cst.ok());
  CHECK(cst->gid == kNogroup);
  CHECK((cst->mode & 0777) == 0660);
}

TEST_CASE("unknown resmgr group is an error", "[resmgr][security]") {
  TempDir dir;
  Loop loop;
  AttachOptions o;
  o.group = "no-such-group-qvm";
  auto a = loop.d->attach(dir / "vm", {}, {}, o);
  REQUIRE(!a.ok());
  CHECK(ErrnoOf(a.status()) == ENOENT);
  struct stat st;
  CHECK(lstat((dir / "vm").c_str(), &st) != 0);
}
