// ABI 1.4 host services (vmm/vdev_streams.cc): qvm_console_open parses a
// `hostdev` spec for every console device and hands out qvm's relayed
// streams; qvm_runtime_dir tells a plug-in where qvm keeps its runtime files.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>

#include "test/unit/fake_vdev_host.h"
#include "test/unit/temp_dir.h"

namespace {

const qvm_factory kFactory = qvm::test::TestFactory("test-console", QVM_VDEVF_SPACE_IO, QVM_ACCESS_1);

bool NonBlocking(int fd) { return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

}  // namespace

TEST_CASE("qvm_console_open: the default console is qvm's relayed output and input") {
  qvm::test::FakeVdevHost h;
  int out[2], in[2];
  REQUIRE(pipe(out) == 0);
  REQUIRE(pipe(in) == 0);
  h.console_out = out[1];
  h.console_in = in[0];
  qvm_vdev dev(&h, &kFactory, qvm::VdevSpec{}, "con");
  int o = -1, i = -1;
  REQUIRE(qvm_console_open(&dev, nullptr, &o, &i) == 0);
  REQUIRE(o >= 0);
  REQUIRE(i >= 0);
  CHECK(NonBlocking(o));
  CHECK(NonBlocking(i));
  REQUIRE(h.opened.size() == 2);
  CHECK(h.opened[0] == std::make_pair(std::string(">-"), true));
  CHECK(h.opened[1] == std::make_pair(std::string("<-"), false));
  REQUIRE(write(o, "out", 3) == 3);
  char buf[8] = {};
  REQUIRE(read(out[0], buf, sizeof buf) == 3);
  CHECK(std::string(buf, 3) == "out");
  REQUIRE(write(in[1], "in", 2) == 2);
  REQUIRE(read(i, buf, sizeof buf) == 2);
  CHECK(std::string(buf, 2) == "in");
  // "-" is the same console; without in_fd only the output is opened.
  int o2 = -1;
  REQUIRE(qvm_console_open(&dev, "-", &o2, nullptr) == 0);
  CHECK(h.opened.size() == 3);
  for (int fd : {o, i, o2, out[0], out[1], in[0], in[1]}) close(fd);
}

TEST_CASE("qvm_console_open: no relay means no input, never qvm's own stdin") {
  qvm::test::FakeVdevHost h;
  int out[2];
  REQUIRE(pipe(out) == 0);
  h.console_out = out[1];  // console_in stays -1: the host has no relay
  qvm_vdev dev(&h, &kFactory, qvm::VdevSpec{}, "con");
  int o = -1, i = 7;
  REQUIRE(qvm_console_open(&dev, ">-", &o, &i) == 0);
  CHECK(o >= 0);
  CHECK(i == -1);
  for (int fd : {o, out[0], out[1]}) close(fd);
}

TEST_CASE("qvm_console_open: files are output only; bad specs are refused") {
  qvm::test::FakeVdevHost h;
  qvm::test::TempDir dir;
  qvm_vdev dev(&h, &kFactory, qvm::VdevSpec{}, "con");
  int o = -1, i = 7;
  std::string path = dir.path() + "/console.out";
  REQUIRE(qvm_console_open(&dev, (">" + path).c_str(), &o, &i) == 0);
  CHECK(i == -1);
  REQUIRE(write(o, "abc", 3) == 3);
  close(o);
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK(st.st_size == 3);
  REQUIRE(qvm_console_open(&dev, path.c_str(), &o, nullptr) == 0);  // no '>' either
  close(o);
  CHECK(qvm_console_open(&dev, "<input", &o, &i) == -EINVAL);
  CHECK(qvm_console_open(&dev, ">", &o, &i) == -EINVAL);
  CHECK(qvm_console_open(&dev, ">-", nullptr, &i) == -EINVAL);
  CHECK(qvm_console_open(nullptr, ">-", &o, &i) == -EINVAL);
  CHECK(qvm_console_open(&dev, std::string(5000, 'x').c_str(), &o, &i) == -EINVAL);
  CHECK(qvm_console_open(&dev, (">" + dir.path() + "/no/such/dir/f").c_str(), &o, &i) == -ENOENT);
}

TEST_CASE("qvm_runtime_dir: the VM's runtime directory, or NULL") {
  qvm::test::FakeVdevHost h;
  qvm_vdev dev(&h, &kFactory, qvm::VdevSpec{}, "net");
  CHECK(qvm_runtime_dir(&dev) == nullptr);
  h.run_dir = "/run/qvm-test";
  REQUIRE(qvm_runtime_dir(&dev) != nullptr);
  CHECK(std::string(qvm_runtime_dir(&dev)) == "/run/qvm-test");
  CHECK(qvm_runtime_dir(nullptr) == nullptr);
}
