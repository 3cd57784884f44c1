#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "tools/mkimage/buildfile.h"
#include "tools/mkimage/elf.h"
#include "tools/mkimage/image.h"
#include "tools/mkimage/test/testutil.h"

using namespace mkimage;
using mkimage_test::TempDir;

namespace {

Image Build(const TempDir& t, const std::string& buildfile) {
  std::string path = t.Write("img.build", buildfile);
  Image img(ParseBuildfile(path, {}));
  img.Assemble();
  return img;
}

std::string ErrorOf(const TempDir& t, const std::string& buildfile) {
  try {
    Build(t, buildfile);
  } catch (const mkimage::BuildError& e) {
    std::string s = e.what();
    size_t p;
    while ((p = s.find(t.path())) != std::string::npos) s.replace(p, t.path().size(), "T");
    return s;
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("files, folders, links and derived permissions") {
  TempDir t;
  t.Write("bin/tool", "#!/bin/sh\necho\n", true);
  t.Write("data.txt", "hello");
  t.Write("plug/vdev-b.so", "B");
  t.Write("plug/vdev-a.so", "A");
  Image img = Build(t,
                    "/usr/bin/tool=bin/tool\n"
                    "/etc/data=data.txt\n"
                    "[perms=0600 uid=7] /etc/secret=data.txt\n"
                    "/usr/lib/qvm/=plug/vdev-*.so\n"
                    "[type=link] /bin/sh=busybox\n"
                    "/etc/x.conf = {\nline\n}\n");
  const auto& n = img.nodes();
  CHECK(n.at("/usr/bin/tool").perms == 0755u);
  CHECK(n.at("/etc/data").perms == 0644u);
  CHECK(n.at("/etc/data").data == "hello");
  CHECK(n.at("/etc/secret").perms == 0600u);
  CHECK(n.at("/etc/secret").uid == 7u);
  CHECK(n.at("/usr/lib/qvm/vdev-a.so").data == "A");
  CHECK(n.at("/usr/lib/qvm/vdev-b.so").data == "B");
  CHECK(n.at("/usr/lib").type == Node::Type::kDir);
  CHECK(n.at("/bin/sh").type == Node::Type::kLink);
  CHECK(n.at("/etc/x.conf").data == "line\n");
  CHECK(n.at("/dev/console").type == Node::Type::kCharDev);
  CHECK(n.at("/dev/console").major == 5u);

  std::vector<CpioEntry> entries = img.CpioEntries();
  for (size_t i = 1; i < entries.size(); ++i) CHECK(entries[i - 1].path < entries[i].path);
  CHECK(entries.front().path == "bin");
}

TEST_CASE("kernel modules are ordered and loaded by the generated /init") {
  TempDir t;
  t.Write("m/kvm-amd.ko", mkimage_test::FakeModule({"depends=kvm", "name=kvm_amd"}));
  t.Write("m/kvm.ko", mkimage_test::FakeModule({"depends=irqbypass", "name=kvm"}));
  t.Write("m/irqbypass.ko", mkimage_test::FakeModule({"depends=", "name=irqbypass"}));
  t.Write("busybox", "not really", true);
  Image img = Build(t,
                    "/bin/busybox=busybox\n"
                    "[type=link] /bin/sh=busybox\n"
                    "[type=link] /bin/mkdir=busybox\n"
                    "[type=link] /bin/mount=busybox\n"
                    "[type=link] /sbin/insmod=../bin/busybox\n"
                    "[module] m/kvm-amd.ko\n"
                    "[module] m/kvm.ko\n"
                    "[module] m/irqbypass.ko\n"
                    "[+script] /etc/startup = {\necho up\n}\n");
  CHECK(img.module_order() ==
        std::vector<std::string>{"/lib/modules/irqbypass.ko", "/lib/modules/kvm.ko", "/lib/modules/kvm-amd.ko"});
  const std::string& init = img.nodes().at("/init").data;
  size_t a = init.find("insmod /lib/modules/irqbypass.ko"), b = init.find("insmod /lib/modules/kvm.ko"),
         c = init.find("insmod /lib/modules/kvm-amd.ko");
  CHECK(a < b);
  CHECK(b < c);
  CHECK(c != std::string::npos);
  CHECK(init.find("exec /bin/sh /etc/startup") != std::string::npos);
  CHECK(img.nodes().at("/init").perms == 0755u);
  CHECK(img.nodes().at("/etc/startup").perms == 0755u);
}

TEST_CASE("build errors name the buildfile line") {
  TempDir t;
  t.Write("m/kvm-amd.ko", mkimage_test::FakeModule({"depends=kvm", "name=kvm_amd"}));
  t.Write("a", "a");
  CHECK(ErrorOf(t, "\n[module] m/kvm-amd.ko\n") ==
        "T/img.build:2: module 'kvm_amd' depends on 'kvm', which is not a [module] of this image");
  CHECK(ErrorOf(t, "/x=missing\n") == "T/img.build:1: cannot read 'T/missing': No such file or directory");
  CHECK(ErrorOf(t, "/x=a\n/x=a\n") == "T/img.build:2: '/x' is already in the image (from T/img.build:1)");
  CHECK(ErrorOf(t, "/x=a\n/x/y=a\n") ==
        "T/img.build:2: '/x/y' needs folder '/x', which is a file or link from T/img.build:1");
  CHECK(ErrorOf(t, "/lib/=nothing-*.so\n") == "T/img.build:1: no host file matches 'T/nothing-*.so'");
  CHECK(ErrorOf(t, "[module] a\n") == "T/img.build:1: 'T/a': not an ELF file");
  CHECK(ErrorOf(t, "[+script] /s = {\n}\n") == "T/img.build:1: the generated /init runs /bin/sh, which is not in the image");
  CHECK(ErrorOf(t, "/bin/sh=a\n/bin/mkdir=a\n[+script] /s = {\n}\n") ==
        "T/img.build:3: the generated /init runs 'mount', which is in none of /bin /sbin /usr/bin /usr/sbin of the image");
  CHECK(ErrorOf(t, "/bin/sh=a\n/init=a\n[+script] /s = {\n}\n") ==
        "T/img.build:2: the image has its own /init, but /init is generated to run the startup script '/s' (remove one of them)");
}

TEST_CASE("shared libraries of dynamic programs are bundled like the loader finds them") {
  // /bin/true on the build host is a dynamically linked program.
  struct stat st;
  REQUIRE(stat("/bin/true", &st) == 0);
  TempDir t;
  Image img = Build(t, "/bin/true=/bin/true\n");
  const auto& n = img.nodes();
  CHECK(n.count("/lib/x86_64-linux-gnu/libc.so.6") == 1);
  CHECK(n.count("/lib64/ld-linux-x86-64.so.2") == 1);
  CHECK(n.at("/lib64/ld-linux-x86-64.so.2").perms == 0755u);
  CHECK(n.at("/lib/x86_64-linux-gnu/libc.so.6").data.substr(1, 3) == "ELF");

  // Without the host's library folders the same program is a build error.
  t.Write("empty/.keep", "");
  std::string e = ErrorOf(t, "[libpath=empty]\n/lib64/ld-linux-x86-64.so.2=/lib64/ld-linux-x86-64.so.2\n"
                                "/bin/true=/bin/true\n");
  CHECK(e == "T/img.build:3: '/bin/true' needs 'libc.so.6', which is not found (searched its RPATH/RUNPATH and T/empty)");
  // An x86_64 program in an aarch64 image is refused.
  CHECK(ErrorOf(t, "[arch=aarch64]\n/bin/true=/bin/true\n") ==
        "T/img.build:2: '/bin/true' is a dynamically linked x86_64 program but the image is aarch64 (use [-autolib] to "
        "place it anyway)");
  // [-autolib] places it as it is.
  Image raw = Build(t, "[-autolib] /bin/true=/bin/true\n");
  CHECK(raw.nodes().count("/lib/x86_64-linux-gnu/libc.so.6") == 0);
}

TEST_CASE("two builds of the same buildfile give the same archive") {
  TempDir t;
  t.Write("a", "a");
  std::string bf = "/x/a=a\n/y = {\nz\n}\n/bin/true=/bin/true\n";
  std::string one = WriteCpio(Build(t, bf).CpioEntries());
  std::string two = WriteCpio(Build(t, bf).CpioEntries());
  CHECK(one == two);
  CHECK(Gzip(one) == Gzip(two));
}

TEST_CASE("debug information is stripped from programs unless [-strip]") {
  // This test binary is built with -g: it has a .debug_info section.
  std::string self = ReadHostFile("/proc/self/exe");
  REQUIRE(SectionStrings(self, ".debug_info").has_value());
  TempDir t;
  t.Write("prog", self, true);
  Image img = Build(t, "/bin/prog=prog\n[-strip] /bin/raw=prog\n");
  const std::string& stripped = img.nodes().at("/bin/prog").data;
  CHECK(stripped.size() < self.size());
  CHECK_FALSE(SectionStrings(stripped, ".debug_info").has_value());
  CHECK(ParseElf(stripped).needed == ParseElf(self).needed);
  CHECK(img.nodes().at("/bin/raw").data == self);
  CHECK(HasSectionPrefix(self, ".debug"));
  CHECK_FALSE(HasSectionPrefix(stripped, ".debug"));
  // Files without debug sections are left alone: no strip program is run.
  t.Write("stripped", stripped, true);
  Image again = Build(t, "[strip=/nonexistent/strip]\n/bin/prog=stripped\n");
  CHECK(again.nodes().at("/bin/prog").data == stripped);
  CHECK(ErrorOf(t, "[strip=/nonexistent/strip]\n/bin/prog=prog\n") ==
        "T/img.build:2: stripping '/bin/prog': cannot run '/nonexistent/strip': No such file or directory (name "
        "another with [strip=PROGRAM], or keep debug info with [-strip])");
}
