#include <catch2/catch.hpp>

#include "tools/mkimage/buildfile.h"

using namespace mkimage;

namespace {

// Parses in-memory files: "main.build" plus any includes.
BuildSpec Parse(const std::map<std::string, std::string>& files,
                const std::map<std::string, std::string>& overrides = {}) {
  FileReader reader = [&](const std::string& p) -> std::string {
    auto it = files.find(p);
    if (it == files.end()) throw BuildError("cannot read '" + p + "': No such file or directory");
    return it->second;
  };
  return ParseBuildfile("dir/main.build", overrides, reader);
}

std::string ErrorOf(const std::map<std::string, std::string>& files,
                    const std::map<std::string, std::string>& overrides = {}) {
  try {
    Parse(files, overrides);
  } catch (const BuildError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string Err(const std::string& text) { return ErrorOf({{"dir/main.build", text}}); }

}  // namespace

TEST_CASE("header, variables and a plain file line") {
  BuildSpec s = Parse({{"dir/main.build",
                        "# comment\n"
                        "K=vmlinuz\n"
                        "[arch=aarch64]\n"
                        "[kernel=boot/$(K)]\n"
                        "\n"
                        "  [perms=0755] /usr/bin/qvm = ../build/bin/qvm\n"
                        "/etc/abs=/etc/hostname\n"}});
  CHECK(s.arch == "aarch64");
  CHECK(s.kernel == "dir/boot/vmlinuz");
  CHECK(s.kernel_loc.line == 4);
  REQUIRE(s.entries.size() == 2);
  const Entry& e = s.entries[0];
  CHECK(e.kind == Entry::Kind::kFile);
  CHECK(e.target == "/usr/bin/qvm");
  CHECK(e.source == "dir/../build/bin/qvm");
  CHECK(e.perms == 0755u);
  CHECK(e.loc.str() == "dir/main.build:6");
  CHECK(s.entries[1].source == "/etc/hostname");
  CHECK_FALSE(s.entries[1].perms.has_value());
}

TEST_CASE("command-line variables win over the buildfile's defaults") {
  BuildSpec s = Parse({{"dir/main.build", "A=one\nB=$(A)-two\n/x=$(B)\n"}}, {{"A", "cli"}});
  CHECK(s.entries[0].source == "dir/cli-two");
  CHECK(s.vars.at("A") == "cli");
  CHECK(s.vars.at("B") == "cli-two");
  BuildSpec t = Parse({{"dir/main.build", "A=one\nA=$(A)-again\n/x=$$(A)$(A)\n"}});
  CHECK(t.entries[0].source == "dir/$(A)one-again");
}

TEST_CASE("inline files keep their lines verbatim, without expansion") {
  BuildSpec s = Parse({{"dir/main.build",
                        "V=1\n"
                        "/etc/demo.qvmconf = {\n"
                        "system demo\n"
                        "  cmdline \"console=ttyS0 $(V)\"   # kept\n"
                        "f() {\n"
                        " }\n"
                        "}\n"
                        "[+script] /etc/startup = {\n"
                        "echo hi\n"
                        "}\n"}});
  REQUIRE(s.entries.size() == 2);
  CHECK(s.entries[0].kind == Entry::Kind::kInline);
  CHECK(s.entries[0].content == "system demo\n  cmdline \"console=ttyS0 $(V)\"   # kept\nf() {\n }\n");
  CHECK(s.entries[1].script);
  CHECK(s.entries[1].content == "echo hi\n");
  CHECK(s.entries[1].loc.line == 8);
}

TEST_CASE("sticky attributes apply to the following lines until changed") {
  BuildSpec s = Parse({{"dir/main.build",
                        "[strip=aarch64-linux-gnu-strip]\n"
                        "[perms=0700 uid=5 gid=6 -autolib -strip]\n"
                        "/a=a\n"
                        "[perms=0644] /b=b\n"
                        "[perms=auto +autolib]\n"
                        "/c=c\n"}});
  CHECK(s.entries[0].perms == 0700u);
  CHECK(s.entries[0].uid == 5u);
  CHECK(s.entries[0].gid == 6u);
  CHECK_FALSE(s.entries[0].autolib);
  CHECK_FALSE(s.entries[0].strip);
  CHECK(s.strip_tool == "aarch64-linux-gnu-strip");
  CHECK(s.entries[1].perms == 0644u);
  CHECK_FALSE(s.entries[2].perms.has_value());
  CHECK(s.entries[2].autolib);
  CHECK_FALSE(s.entries[2].strip);
  CHECK(s.entries[2].uid == 5u);
}

TEST_CASE("links, folders, patterns and modules") {
  BuildSpec s = Parse({{"dir/main.build",
                        "[type=link] /bin/sh=busybox\n"
                        "[type=dir perms=0700] /root/\n"
                        "/usr/lib/qvm/=lib/vdev-*.so\n"
                        "/usr/share/=doc/README\n"
                        "[module] mods/kvm-amd.ko\n"
                        "[module] /lib/modules/6.1/=mods/kvm.ko\n"}});
  REQUIRE(s.entries.size() == 6);
  CHECK(s.entries[0].kind == Entry::Kind::kLink);
  CHECK(s.entries[0].source == "busybox");
  CHECK(s.entries[1].kind == Entry::Kind::kDir);
  CHECK(s.entries[1].target == "/root");
  CHECK(s.entries[2].kind == Entry::Kind::kGlob);
  CHECK(s.entries[2].target == "/usr/lib/qvm");
  CHECK(s.entries[2].source == "dir/lib/vdev-*.so");
  CHECK(s.entries[3].target == "/usr/share/README");
  CHECK(s.entries[4].kind == Entry::Kind::kModule);
  CHECK(s.entries[4].target == "/lib/modules/kvm-amd.ko");
  CHECK(s.entries[4].source == "dir/mods/kvm-amd.ko");
  CHECK(s.entries[5].target == "/lib/modules/6.1/kvm.ko");
}

TEST_CASE("include reads relative to the including file, errors name the included file") {
  BuildSpec s = Parse({{"dir/main.build", "X=1\ninclude sub/part.build\n/z=z\n"},
                       {"dir/sub/part.build", "/p=p$(X)\n"}});
  REQUIRE(s.entries.size() == 2);
  CHECK(s.entries[0].source == "dir/sub/p1");
  CHECK(s.entries[0].loc.str() == "dir/sub/part.build:1");
  CHECK(ErrorOf({{"dir/main.build", "include sub/part.build\n"}, {"dir/sub/part.build", "\n\n/p\n"}}) ==
        "dir/sub/part.build:3: expected IMAGE-PATH=HOST-PATH, IMAGE-PATH = { ... }, or a variable assignment");
  CHECK(ErrorOf({{"dir/main.build", "\ninclude nope.build\n"}}) ==
        "dir/main.build:2: cannot read 'dir/nope.build': No such file or directory");
  CHECK(ErrorOf({{"dir/main.build", "include main.build\n"}}) ==
        "dir/main.build:1: include cycle: 'dir/main.build' includes itself");
}

TEST_CASE("parse errors are FILE:LINE: message") {
  CHECK(Err("/x=$(NOPE)\n") == "dir/main.build:1: undefined variable 'NOPE'");
  CHECK(Err("\n/x=$(A\n") == "dir/main.build:2: unterminated '$(' in '$(A'");
  CHECK(Err("[perms=0755 /x=y\n") == "dir/main.build:1: missing ']' after attributes");
  CHECK(Err("[perms=999] /x=y\n") == "dir/main.build:1: bad value '999' for attribute 'perms'");
  CHECK(Err("[perms] /x=y\n") == "dir/main.build:1: attribute 'perms' needs a value");
  CHECK(Err("[colour=red] /x=y\n") == "dir/main.build:1: unknown attribute 'colour'");
  CHECK(Err("[type=fifo] /x=y\n") == "dir/main.build:1: bad type 'fifo' (expected file, dir or link)");
  CHECK(Err("[arch=mips]\n") == "dir/main.build:1: unknown arch 'mips' (expected x86_64 or aarch64)");
  CHECK(Err("/x=y\n[kernel=k]\n") == "dir/main.build:2: header attribute 'kernel' must come before the first file line");
  CHECK(Err("[kernel=k] /x=y\n") == "dir/main.build:1: header attributes must be on a line of their own");
  CHECK(Err("[module]\n") == "dir/main.build:1: attributes type/module/+script need a file on the same line");
  CHECK(Err("x=y z\n/a=b c\n") == "dir/main.build:2: host path 'b c' contains whitespace");
  CHECK(Err("usr/bin/x=y\n") == "dir/main.build:1: image path 'usr/bin/x' must be absolute (start with '/')");
  CHECK(Err("just-a-word\n") == "dir/main.build:1: image path 'just-a-word' must be absolute (start with '/')");
  CHECK(Err("[perms=0644] usr/bin/x=y\n") == "dir/main.build:1: image path 'usr/bin/x' must be absolute (start with '/')");
  CHECK(Err("/a/../b=y\n") == "dir/main.build:1: image path '/a/../b' has a '..' component");
  CHECK(Err("/a=\n") == "dir/main.build:1: nothing after '='");
  CHECK(Err("/lib/=lib/*.so\n/x=lib/*.so\n") == "dir/main.build:2: a host pattern needs an image folder ending in '/'");
  CHECK(Err("[type=dir] /d=x\n") == "dir/main.build:1: a [type=dir] line takes no '=' source");
  CHECK(Err("[module] m/*.ko\n") == "dir/main.build:1: a [module] line names one file, not a pattern");
  CHECK(Err("\n\n/etc/x = {\nline\n  }\n") == "dir/main.build:3: inline file '/etc/x' has no closing '}' line");
  CHECK(Err("[+script] /a = {\n}\n[+script] /b = {\n}\n") ==
        "dir/main.build:3: a second startup script (the first is at dir/main.build:1)");
  CHECK(Err("[type=link] /etc/=x\n") == "dir/main.build:1: a link needs a name, not a folder");
  CHECK(Err("[name=a/b]\n") == "dir/main.build:1: bad image name 'a/b'");
}
