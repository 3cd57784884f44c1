#include <catch2/catch.hpp>

#include "tools/mkimage/elf.h"
#include "tools/mkimage/modorder.h"
#include "tools/mkimage/test/testutil.h"

using namespace mkimage;

namespace {

ModuleInfo M(const std::string& name, std::vector<std::string> deps, int line) {
  return ModuleInfo{name, std::move(deps), "b.build:" + std::to_string(line)};
}

std::vector<std::string> Names(const std::vector<ModuleInfo>& mods) {
  std::vector<std::string> out;
  for (size_t i : OrderModules(mods)) out.push_back(mods[i].name);
  return out;
}

std::string OrderError(const std::vector<ModuleInfo>& mods) {
  try {
    OrderModules(mods);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("modules load after their dependencies, input order otherwise") {
  // The kvm stack as listed in any order.
  CHECK(Names({M("kvm_amd", {"kvm"}, 1), M("kvm", {"irqbypass"}, 2), M("irqbypass", {}, 3)}) ==
        std::vector<std::string>{"irqbypass", "kvm", "kvm_amd"});
  CHECK(Names({M("a", {}, 1), M("b", {}, 2), M("c", {}, 3)}) == std::vector<std::string>{"a", "b", "c"});
  // Diamond: virtio_blk and virtio_net need virtio_ring and virtio.
  CHECK(Names({M("virtio_blk", {"virtio", "virtio_ring"}, 1), M("virtio_net", {"virtio_ring", "virtio"}, 2),
               M("virtio_mmio", {"virtio", "virtio_ring"}, 3), M("virtio_ring", {}, 4), M("virtio", {}, 5)}) ==
        std::vector<std::string>{"virtio", "virtio_ring", "virtio_blk", "virtio_net", "virtio_mmio"});
}

TEST_CASE("missing dependencies, duplicates and cycles are errors naming the line") {
  CHECK(OrderError({M("kvm_amd", {"kvm"}, 7)}) ==
        "b.build:7: module 'kvm_amd' depends on 'kvm', which is not a [module] of this image");
  CHECK(OrderError({M("kvm", {}, 1), M("kvm", {}, 2)}) == "b.build:2: module 'kvm' is already listed at b.build:1");
  CHECK(OrderError({M("a", {"b"}, 1), M("b", {"c"}, 2), M("c", {"a"}, 3)}) ==
        "b.build:1: module dependency cycle: a -> b -> c -> a");
  CHECK(OrderError({M("x", {}, 1), M("s", {"s"}, 2)}) == "b.build:2: module dependency cycle: s -> s");
}

TEST_CASE("a long dependency chain does not recurse") {
  std::vector<ModuleInfo> mods;
  for (int i = 0; i < 100000; ++i)
    mods.push_back(M("m" + std::to_string(i), i + 1 < 100000 ? std::vector<std::string>{"m" + std::to_string(i + 1)}
                                                             : std::vector<std::string>{},
                     i));
  std::vector<size_t> order = OrderModules(mods);
  REQUIRE(order.size() == mods.size());
  CHECK(order.front() == 99999u);
  CHECK(order.back() == 0u);
}

TEST_CASE(".modinfo is read from the module's ELF sections") {
  std::string ko = mkimage_test::FakeModule({"license=GPL", "depends=kvm,irq-bypass", "retpoline=Y", "name=kvm_amd",
                                             "vermagic=6.1.0"});
  ModuleInfo m = ReadModinfo(ko, "kvm-amd");
  CHECK(m.name == "kvm_amd");
  CHECK(m.depends == std::vector<std::string>{"kvm", "irq_bypass"});
  ModuleInfo n = ReadModinfo(mkimage_test::FakeModule({"depends="}), "irq-bypass");
  CHECK(n.name == "irq_bypass");
  CHECK(n.depends.empty());
}

TEST_CASE("files that are not modules, or are malformed, are refused without crashing") {
  CHECK_THROWS_WITH(ReadModinfo("#!/bin/sh\n", "x"), "not an ELF file");
  std::string ko = mkimage_test::FakeModule({"name=x"});
  std::string no_modinfo = ko;
  no_modinfo[ko.find(".modinfo") + 1] = 'X';  // rename the section
  CHECK_THROWS_WITH(ReadModinfo(no_modinfo, "x"), "no .modinfo section, so not a kernel module");
  // Every truncation of a valid module must fail cleanly or parse.
  for (size_t n = 0; n < ko.size(); ++n) {
    try {
      ReadModinfo(ko.substr(0, n), "x");
    } catch (const std::runtime_error&) {
    }
  }
  // Section headers pointing past the end of the file.
  std::string lying = ko;
  mkimage_test::Put(&lying, 40, 0xfffffffffff0ull, 8);
  CHECK_THROWS_WITH(ReadModinfo(lying, "x"), "malformed ELF: section headers out of range");
  std::string big = ko;
  size_t shoff = ko.size() - 3 * 64;
  mkimage_test::Put(&big, shoff + 64 + 32, 0xffffffffffffff00ull, 8);  // .modinfo size
  CHECK_THROWS_WITH(ReadModinfo(big, "x"), "malformed ELF: section out of range");
}
