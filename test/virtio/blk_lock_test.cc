// virtio-blk's host-file lock, end to end without KVM: `qvm dryrun` builds
// the VM (the plug-in opens and locks its file at QVM_CTRL_RESOURCES) while
// this process holds an OFD lock on the same file, as another qvm would.
// A writer must be refused with an error naming the file; read-only
// openers share a read lock. Needs build/bin/qvm and the plug-ins
// ($QVM_BIN overrides the binary).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "test/unit/temp_dir.h"

namespace {

struct DryRun {
  int rc = -1;
  std::string err;
};

DryRun RunDry(const std::string& disks) {
  qvm::test::TempDir dir;
  std::string conf = dir / "conf", img = dir / "kernel", err = dir / "stderr";
  {
    std::ofstream k(img);
    k << std::string(4096, '\0');
    std::ofstream c(conf);
    c << "system blklock\nram 16M\ncpu\nload " << img << "\n" << disks;
  }
  const char* bin = getenv("QVM_BIN");
  std::string cmd = std::string(bin && *bin ? bin : "build/bin/qvm") + " @" + conf +
                    " dryrun >/dev/null 2>" + err;
  int st = system(cmd.c_str());
  DryRun r;
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::ifstream e(err);
  std::stringstream ss;
  ss << e.rdbuf();
  r.err = ss.str();
  return r;
}

// An open file description holding an OFD lock on `path` (like qvm's).
struct Holder {
  int fd = -1;
  Holder(const std::string& path, bool write) {
    fd = open(path.c_str(), write ? O_RDWR : O_RDONLY);
    REQUIRE(fd >= 0);
    struct flock fl {};
    fl.l_type = write ? F_WRLCK : F_RDLCK;
    fl.l_whence = SEEK_SET;
    REQUIRE(fcntl(fd, F_OFD_SETLK, &fl) == 0);
  }
  ~Holder() { close(fd); }
};

}  // namespace

TEST_CASE("virtio-blk: a second writer of the host file is refused, naming it") {
  qvm::test::TempDir dir;
  std::string disk = dir / "disk.img";
  {
    std::ofstream d(disk);
    d << std::string(1 << 16, '\0');
  }
  // unlocked: builds
  DryRun ok = RunDry("vdev virtio-blk hostdev " + disk + "\n");
  INFO(ok.err);
  REQUIRE(ok.rc == 0);
  {
    Holder other(disk, true);  // another qvm writes it
    DryRun w = RunDry("vdev virtio-blk hostdev " + disk + "\n");
    CHECK(w.rc == 65);
    CHECK(w.err.find(disk) != std::string::npos);
    CHECK(w.err.find("locked") != std::string::npos);
    // even read-only use waits for the writer to go
    DryRun r = RunDry("vdev virtio-blk hostdev <" + disk + "\n");
    CHECK(r.rc == 65);
  }
  {
    Holder reader(disk, false);  // another qvm has it read-only
    DryRun r = RunDry("vdev virtio-blk hostdev <" + disk + "\n");
    INFO(r.err);
    CHECK(r.rc == 0);  // readers share
    DryRun w = RunDry("vdev virtio-blk hostdev " + disk + "\n");
    CHECK(w.rc == 65);
    CHECK(w.err.find(disk) != std::string::npos);
  }
  // two disks of one VM on the same file: the second writer is refused too
  DryRun two = RunDry("vdev virtio-blk hostdev " + disk + "\nvdev virtio-blk hostdev " + disk + "\n");
  CHECK(two.rc == 65);
  // two read-only disks share it
  DryRun tworo = RunDry("vdev virtio-blk hostdev <" + disk + "\nvdev virtio-blk hostdev <" + disk + "\n");
  INFO(tworo.err);
  CHECK(tworo.rc == 0);
}

TEST_CASE("virtio-blk: threads and notify options are checked") {
  qvm::test::TempDir dir;
  std::string disk = dir / "opt.img";
  {
    std::ofstream d(disk);
    d << std::string(1 << 16, '\0');
  }
  CHECK(RunDry("vdev virtio-blk hostdev " + disk + " threads 4 notify exit\n").rc == 0);
  CHECK(RunDry("vdev virtio-blk hostdev " + disk + " threads 8 notify eventfd\n").rc == 0);
  DryRun bad = RunDry("vdev virtio-blk hostdev " + disk + " threads 9\n");
  CHECK(bad.rc == 65);
  CHECK(bad.err.find("threads") != std::string::npos);
  CHECK(RunDry("vdev virtio-blk hostdev " + disk + " threads 0\n").rc == 65);
  CHECK(RunDry("vdev virtio-blk hostdev " + disk + " notify sometimes\n").rc == 65);
}
