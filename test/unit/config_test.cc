// Unit tests of the configuration parser (vmm/config.cc, spec section 3).

#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test/unit/temp_dir.h"
#include "vmm/config.h"

namespace qvm {
namespace {

// Tokenizes `text` as file "t.conf" and parses it.
absl::StatusOr<Config> ParseText(const std::string& text) {
  auto toks = Tokenize(text, "t.conf");
  if (!toks.ok()) return toks.status();
  return ParseTokens(*toks);
}

Config MustParse(const std::string& text) {
  auto c = ParseText(text);
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  return *std::move(c);
}

std::vector<std::string> Texts(const std::vector<Token>& toks) {
  std::vector<std::string> out;
  for (const Token& t : toks) out.push_back(t.text);
  return out;
}

using qvm::test::TempDir;

// ---------------------------------------------------------------------------
// Malformed input: each with its exact message.

struct BadCase {
  const char* input;
  const char* message;
};

const BadCase kBad[] = {
    // top level
    {"xyz", "t.conf:1:1: unknown option `xyz`"},
    {"ram 1M\n  bogus", "t.conf:2:3: unknown option `bogus`"},
    {"dryrun extra", "t.conf:1:8: unknown option `extra`"},
    {"@foo", "t.conf:1:1: unknown option `@foo`"},
    {"sched 10", "t.conf:1:1: unknown option `sched`"},
    {"\"\"", "t.conf:1:1: unknown option ``"},
    // system
    {"ram 1M\nsystem foo", "t.conf:2:1: `system` must come first"},
    {"system a system b", "t.conf:1:10: `system` must come first"},
    {"system a/b", "t.conf:1:8: `system`: bad name `a/b`"},
    {"system ..", "t.conf:1:8: `system`: bad name `..`"},
    {"system", "t.conf:1:1: `system`: missing argument"},
    // ram / rom
    {"ram", "t.conf:1:1: `ram`: missing argument"},
    {"ram 12Q", "t.conf:1:5: `ram`: bad size `12Q`"},
    {"ram 0", "t.conf:1:5: `ram`: zero size `0`"},
    {"ram 0x10000000000000000", "t.conf:1:5: `ram`: bad size `0x10000000000000000`"},
    {"ram 17179869184G", "t.conf:1:5: `ram`: bad size `17179869184G`"},
    {"ram 1MB", "t.conf:1:5: `ram`: bad size `1MB`"},
    {"ram zz,1M", "t.conf:1:5: `ram`: bad start `zz,1M`"},
    {"ram 1M,", "t.conf:1:5: `ram`: bad size `1M,`"},
    {"ram 0xfffffffffff00000,1M",
     "t.conf:1:5: `ram`: range wraps around `0xfffffffffff00000,1M`"},
    {"rom 1M,x", "t.conf:1:5: `rom`: bad size `1M,x`"},
    // loads
    {"load /k", "t.conf:1:1: `load` before any `ram` or `rom`"},
    {"initrd load x", "t.conf:1:1: `initrd` before any `ram` or `rom`"},
    {"data load 0x1000,x", "t.conf:1:1: `data` before any `ram` or `rom`"},
    {"fdt load x", "t.conf:1:1: `fdt` before any `ram` or `rom`"},
    {"ram 1M load", "t.conf:1:8: `load`: missing argument"},
    {"ram 1M initrd foo", "t.conf:1:15: `initrd`: expected `load`, got `foo`"},
    {"ram 1M initrd", "t.conf:1:8: `initrd`: missing argument"},
    {"ram 1M initrd load", "t.conf:1:15: `initrd load`: missing argument"},
    {"ram 1M data load x",
     "t.conf:1:18: `data load`: expected ADDR,PATH, got `x`"},
    {"ram 1M data load zz,x",
     "t.conf:1:18: `data load`: expected ADDR,PATH, got `zz,x`"},
    {"ram 1M data load 0x1000,",
     "t.conf:1:18: `data load`: empty path in `0x1000,`"},
    {"ram 1M load 0x1000,", "t.conf:1:13: `load`: empty path in `0x1000,`"},
    {"ram 1M acpi load \"\"", "t.conf:1:18: `acpi load`: empty path in ``"},
    // cpu
    {"cpu sched", "t.conf:1:5: `sched`: missing argument"},
    {"cpu sched 0", "t.conf:1:11: `sched`: bad priority `0`"},
    {"cpu sched 256r", "t.conf:1:11: `sched`: bad priority `256r`"},
    {"cpu sched 10x", "t.conf:1:11: `sched`: bad priority `10x`"},
    {"cpu sched r", "t.conf:1:11: `sched`: bad priority `r`"},
    {"cpu runmask 0,1024", "t.conf:1:13: `runmask`: bad CPU number `1024`"},
    {"cpu runmask 0,,1", "t.conf:1:13: `runmask`: bad CPU number ``"},
    {"cpu loc 0x1000", "t.conf:1:5: unknown `cpu` option `loc`"},
    // vdev
    {"vdev", "t.conf:1:1: `vdev`: missing argument"},
    {"vdev ../evil", "t.conf:1:6: `vdev`: bad device type `../evil`"},
    {"vdev a.b", "t.conf:1:6: `vdev`: bad device type `a.b`"},
    {"vdev x loc", "t.conf:1:8: `loc`: missing argument"},
    {"vdev x loc io:0x10000", "t.conf:1:12: `loc`: bad I/O port `io:0x10000`"},
    {"vdev x loc io:", "t.conf:1:12: `loc`: bad I/O port `io:`"},
    {"vdev x loc pci:0:32", "t.conf:1:12: `loc`: bad PCI address `pci:0:32`"},
    {"vdev x loc pci:256:0", "t.conf:1:12: `loc`: bad PCI address `pci:256:0`"},
    {"vdev x loc pci:0:1.8", "t.conf:1:12: `loc`: bad PCI address `pci:0:1.8`"},
    {"vdev x loc pci:0:1.", "t.conf:1:12: `loc`: bad PCI address `pci:0:1.`"},
    {"vdev x loc pci:3", "t.conf:1:12: `loc`: bad PCI address `pci:3`"},
    {"vdev x loc pci:8086/1ffff",
     "t.conf:1:12: `loc`: bad PCI id `pci:8086/1ffff`"},
    {"vdev x loc pci:zz/1", "t.conf:1:12: `loc`: bad PCI id `pci:zz/1`"},
    {"vdev x loc foo:12", "t.conf:1:12: `loc`: bad location `foo:12`"},
    {"vdev x loc mem:zz", "t.conf:1:12: `loc`: bad address `mem:zz`"},
    {"vdev x loc 0x1000=0x2000",
     "t.conf:1:12: `loc`: `=HOST` is only allowed in `pass`: `0x1000=0x2000`"},
    {"vdev x intr 4", "t.conf:1:13: `intr`: bad interrupt `4`"},
    {"vdev x intr ioapic:", "t.conf:1:13: `intr`: bad interrupt `ioapic:`"},
    {"vdev x intr :4", "t.conf:1:13: `intr`: bad interrupt `:4`"},
    {"vdev x intr a/b:4", "t.conf:1:13: `intr`: bad interrupt `a/b:4`"},
    {"vdev x intr ioapic:0x100000000",
     "t.conf:1:13: `intr`: bad interrupt `ioapic:0x100000000`"},
    {"vdev x intr ioapic:4=5",
     "t.conf:1:13: `intr`: `=HOSTVEC` is only allowed in `pass`: "
     "`ioapic:4=5`"},
    {"vdev x name a/b", "t.conf:1:13: `name`: bad name `a/b`"},
    {"vdev x name env", "t.conf:1:13: `name`: `env` is reserved"},
    {"vdev a name s0\nvdev b name s0",
     "t.conf:2:13: `name`: duplicate vdev name `s0` (first at t.conf:1:13)"},
    {"vdev a name s0 name s1 vdev b name s0 vdev c name s1",
     "t.conf:1:51: `name`: duplicate vdev name `s1` (first at t.conf:1:21)"},
    {"vdev x hostdev", "t.conf:1:8: `hostdev`: missing argument"},
    {"vdev x ! 1", "t.conf:1:8: `vdev x`: bad option name `!`"},
    {"vdev x !", "t.conf:1:8: `vdev x`: bad option name `!`"},
    {"vdev x name", "t.conf:1:8: `name`: missing argument"},
    // pass / reserve
    {"pass", "t.conf:1:1: `pass`: needs `loc` or `intr`"},
    {"pass dryrun", "t.conf:1:1: `pass`: needs `loc` or `intr`"},
    {"pass foo 1", "t.conf:1:6: unknown `pass` option `foo`"},
    {"pass loc pci:0:1=2",
     "t.conf:1:10: `loc`: a PCI location's `=` takes `pci:VID/DID`: `pci:0:1=2`"},
    {"pass loc pci:0:1=pci:1234/1ffff", "t.conf:1:10: `loc`: bad PCI id `pci:0:1=pci:1234/1ffff`"},
    {"pass loc pci:1234/11e8=pci:1234/11e8",
     "t.conf:1:10: `loc`: `=pci:VID/DID` follows a host address (pci:BUS:DEV.FN): "
     "`pci:1234/11e8=pci:1234/11e8`"},
    {"pass loc pci:1234/11e8/256", "t.conf:1:10: `loc`: bad PCI device index `pci:1234/11e8/256`"},
    {"vdev x loc pci:1234/11e8/1",
     "t.conf:1:12: `loc`: `/INDEX` is only allowed in `pass`: `pci:1234/11e8/1`"},
    {"pass loc io:0x60=0x10000",
     "t.conf:1:10: `loc`: bad host I/O port `io:0x60=0x10000`"},
    {"pass loc mem:0x1000=q",
     "t.conf:1:10: `loc`: bad host address `mem:0x1000=q`"},
    {"pass intr apic", "t.conf:1:11: `intr`: `apic` cannot be passed through"},
    {"pass intr ioapic:4=x", "t.conf:1:11: `intr`: bad host vector `ioapic:4=x`"},
    {"reserve", "t.conf:1:1: `reserve`: needs `loc` or `intr`"},
    {"reserve intr x", "t.conf:1:14: `intr`: bad interrupt `x`"},
    {"reserve loc io:1=2",
     "t.conf:1:13: `loc`: `=HOST` is only allowed in `pass`: `io:1=2`"},
    {"reserve name x", "t.conf:1:9: unknown `reserve` option `name`"},
    // set
    {"set", "t.conf:1:1: `set`: missing argument"},
    {"set nope 1", "t.conf:1:5: `set`: unknown variable `nope`"},
    {"set reboot-exit", "t.conf:1:5: `reboot-exit`: missing argument"},
    {"set reboot-exit maybe", "t.conf:1:17: `reboot-exit`: bad boolean `maybe`"},
    {"set reboot-exit auto", "t.conf:1:17: `reboot-exit`: bad boolean `auto`"},
    {"set acpi sometimes",
     "t.conf:1:10: `acpi`: bad on/off/auto value `sometimes`"},
    {"set counter-offset 1K", "t.conf:1:20: `counter-offset`: bad number `1K`"},
    {"set counter-offset", "t.conf:1:5: `counter-offset`: missing argument"},
    {"set counter-offset -1", "t.conf:1:20: `counter-offset`: bad number `-1`"},
    {"set counter-offset 0x10000000000000000",
     "t.conf:1:20: `counter-offset`: bad number `0x10000000000000000`"},
    {"set counter-offset on", "t.conf:1:20: `counter-offset`: bad number `on`"},
    {"set pmu sometimes", "t.conf:1:9: `pmu`: bad on/off/auto value `sometimes`"},
    {"set pmu", "t.conf:1:5: `pmu`: missing argument"},
    {"set pmu 2", "t.conf:1:9: `pmu`: bad on/off/auto value `2`"},
    {"set trace-exits -1", "t.conf:1:17: `trace-exits`: bad number `-1`"},
    {"set resmgr-path \"\"", "t.conf:1:17: `resmgr-path`: empty value"},
    // logger / dump / unsupported / cmdline
    {"logger warn", "t.conf:1:1: `logger`: missing argument"},
    {"logger warn,loud stderr", "t.conf:1:8: `logger`: unknown level `loud`"},
    {"logger warn,,error stderr", "t.conf:1:8: `logger`: unknown level ``"},
    {"logger warn \"\"", "t.conf:1:13: `logger`: empty destination"},
    {"dump \"|  \"", "t.conf:1:6: `dump`: empty command `|  `"},
    {"dump \"\"", "t.conf:1:6: `dump`: empty path"},
    {"unsupported crash",
     "t.conf:1:13: `unsupported`: unknown type `crash` (valid: instruction, reference, "
     "register; or one action for all: ignore, log, fault, terminate)"},
    {"unsupported register crash",
     "t.conf:1:22: `unsupported register`: unknown action `crash` (valid: abort, fail, "
     "ignore, log)"},
    {"unsupported reference", "t.conf:1:13: `unsupported reference`: missing argument"},
    {"cpu sched 10,5,3,40,10",
     "t.conf:1:11: `sched`: sporadic scheduling `10,5,3,40,10` is not available on Linux (no "
     "SCHED_SPORADIC); use PRIOr or PRIOf"},
    {"cpu cluster big",
     "t.conf:1:5: `cluster`: QNX's CPU clusters have no Linux counterpart; give the CPUs "
     "with `runmask`"},
    {"cpu partition", "t.conf:1:5: `partition`: missing argument"},
    {"set grow-heap 4Q", "t.conf:1:15: `grow-heap`: bad size `4Q`"},
    {"cmdline", "t.conf:1:1: `cmdline`: missing argument"},
    // tokenizer
    {"cmdline \"abc", "t.conf:1:9: unterminated quoted string"},
    {"cmdline \"abc\ndef\"", "t.conf:1:9: unterminated quoted string"},
    {"ram 1M\n  cmdline x\"a b", "t.conf:2:12: unterminated quoted string"},
    {"cmdline \"abc\\\"", "t.conf:1:9: unterminated quoted string"},
};

TEST_CASE("config: malformed input gives exact errors", "[config]") {
  REQUIRE(std::size(kBad) >= 45);
  for (const BadCase& c : kBad) {
    std::string input = c.input;
    INFO("input: " << input);
    auto cfg = ParseText(input);
    REQUIRE_FALSE(cfg.ok());
    CHECK(cfg.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(cfg.status().message()) == c.message);
  }
}

TEST_CASE("config: NUL inside the input is rejected", "[config]") {
  // (the table's C strings cannot carry a NUL)
  auto cfg = ParseText(std::string("ram 1M\0x", 8));
  REQUIRE_FALSE(cfg.ok());
  CHECK(std::string(cfg.status().message()) ==
        "t.conf:1:7: NUL byte in input");
  auto q = ParseText(std::string("cmdline \"a\0b\"", 13));
  REQUIRE_FALSE(q.ok());
  CHECK(std::string(q.status().message()) ==
        "t.conf:1:9: unterminated quoted string");
}

TEST_CASE("config: ConfigError and SourceLoc format", "[config]") {
  SourceLoc w{"g.qvmconf", 3, 5};
  CHECK(w.str() == "g.qvmconf:3:5");
  absl::Status s = ConfigError(w, "boom");
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(s.message()) == "g.qvmconf:3:5: boom");
}

// ---------------------------------------------------------------------------
// Tokenizer

TEST_CASE("config: tokenizer splits, quotes and comments", "[config]") {
  const std::string text =
      "ram 128M  # a comment \"not a quote\n"
      "\tcmdline \"console=ttyS0 quiet # not a comment\"\n"
      "x\"a b\"y \"\" \"esc \\\"q\\\" back\\\\slash \\n kept\"\n"
      "\"cont\\\n"
      "inued\" after#comment\r\n"
      "last";
  auto toks = Tokenize(text, "f.conf");
  REQUIRE(toks.ok());
  const std::vector<std::string> want = {
      "ram",
      "128M",
      "cmdline",
      "console=ttyS0 quiet # not a comment",
      "xa by",
      "",
      "esc \"q\" back\\slash \\n kept",
      "continued",
      "after",
      "last"};
  CHECK(Texts(*toks) == want);
  const auto& t = *toks;
  CHECK(t[0].where.str() == "f.conf:1:1");
  CHECK(t[1].where.str() == "f.conf:1:5");
  CHECK(t[2].where.str() == "f.conf:2:2");  // a tab counts as one column
  CHECK(t[3].where.str() == "f.conf:2:10");
  CHECK(t[4].where.str() == "f.conf:3:1");
  CHECK(t[5].where.str() == "f.conf:3:9");
  CHECK(t[7].where.str() == "f.conf:4:1");
  CHECK(t[8].where.str() == "f.conf:5:8");  // after the continuation
  CHECK(t[9].where.str() == "f.conf:6:1");
  CHECK_FALSE(t[0].quoted);
  CHECK(t[3].quoted);
  CHECK(t[4].quoted);
  CHECK(t[5].quoted);
  CHECK_FALSE(t[8].quoted);
}

TEST_CASE("config: empty and comment-only input", "[config]") {
  auto toks = Tokenize("  # only\n\n#another\n", "e");
  REQUIRE(toks.ok());
  CHECK(toks->empty());
  Config c = MustParse("");
  CHECK(c.system == "qvm");
  CHECK(c.mem.empty());
  CHECK(c.cpus.empty());
  CHECK_FALSE(c.dryrun);
}

// ---------------------------------------------------------------------------
// Numbers

TEST_CASE("config: ParseNumber", "[config]") {
  CHECK(ParseNumber("0") == 0u);
  CHECK(ParseNumber("42") == 42u);
  CHECK(ParseNumber("010") == 10u);
  CHECK(ParseNumber("0x1F") == 31u);
  CHECK(ParseNumber("0XfF") == 255u);
  CHECK(ParseNumber("0d99") == 99u);
  CHECK(ParseNumber("0D7") == 7u);
  CHECK(ParseNumber("18446744073709551615") == UINT64_MAX);
  CHECK(ParseNumber("0xffffffffffffffff") == UINT64_MAX);
  CHECK_FALSE(ParseNumber("18446744073709551616"));
  CHECK_FALSE(ParseNumber("0x10000000000000000"));
  CHECK_FALSE(ParseNumber("99999999999999999999999"));
  CHECK_FALSE(ParseNumber(""));
  CHECK_FALSE(ParseNumber("0x"));
  CHECK_FALSE(ParseNumber("0d"));
  CHECK_FALSE(ParseNumber("0dff"));
  CHECK_FALSE(ParseNumber("-1"));
  CHECK_FALSE(ParseNumber("+1"));
  CHECK_FALSE(ParseNumber(" 1"));
  CHECK_FALSE(ParseNumber("1 "));
  CHECK_FALSE(ParseNumber("12a"));
  CHECK_FALSE(ParseNumber("1K"));
  CHECK_FALSE(ParseNumber("0x0x1"));
}

TEST_CASE("config: ParseSize", "[config]") {
  CHECK(ParseSize("4096") == 4096u);
  CHECK(ParseSize("4k") == 4096u);
  CHECK(ParseSize("4K") == 4096u);
  CHECK(ParseSize("128M") == 128ull << 20);
  CHECK(ParseSize("128m") == 128ull << 20);
  CHECK(ParseSize("2G") == 2ull << 30);
  CHECK(ParseSize("2g") == 2ull << 30);
  CHECK(ParseSize("0x10M") == 16ull << 20);
  CHECK(ParseSize("0d8K") == 8192u);
  CHECK(ParseSize("17179869183G") == 17179869183ull << 30);
  CHECK_FALSE(ParseSize("17179869184G"));
  CHECK(ParseSize("17592186044415M") == 17592186044415ull << 20);
  CHECK_FALSE(ParseSize("17592186044416M"));
  CHECK_FALSE(ParseSize("18014398509481984K"));
  CHECK_FALSE(ParseSize(""));
  CHECK_FALSE(ParseSize("K"));
  CHECK_FALSE(ParseSize("0xK"));
  CHECK_FALSE(ParseSize("1KK"));
  CHECK_FALSE(ParseSize("1T"));
  CHECK_FALSE(ParseSize("1MB"));
}

// ---------------------------------------------------------------------------
// Grammar

TEST_CASE("config: a full configuration", "[config]") {
  Config c = MustParse(R"(system guest1
ram 0x80000000,1G
rom 0xfff00000,1M
ram 256M                      # after the highest region
cpu sched 10r runmask 0,2,2
cpu
cpu sched 20
load /boot/vmlinuz
load 0x100000,kernel,v2.elf
initrd load initrd.img
data load 0x9000,blob.bin
fdt load /tmp/x.dtb
acpi load tables.aml
cmdline "console=ttyS0 root=/dev/vda"
vdev ser8250 loc io:0x3f8 intr 8259:4 name com1 hostdev >- sched 5
vdev virtio-blk loc pci:0:3.1 hostdev "<disk.img" threads 2
vdev shmem loc 0xe0000000 loc mem:0xe1000000 intr gic:37 intr apic
vdev pci-host loc pci:8086/100E
pass loc mem:0xfe000000=0xfd000000 loc io:0x60=0x64 loc pci:1:0 intr ioapic:10=42 intr ioapic:11
reserve loc io:0x80 intr 9
set reboot-exit yes
set acpi auto
set counter-offset 0x1000
set resmgr-path /run/qvm
logger warn,error,warn stderr
dump "|gzip > /tmp/x.gz"
unsupported fault
dryrun
debug
module load mod1.bin "mod1 -v"
module load mod2.bin
)");
  CHECK(c.system == "guest1");
  CHECK(c.system_where.str() == "t.conf:1:1");

  REQUIRE(c.mem.size() == 3);
  CHECK_FALSE(c.mem[0].rom);
  CHECK(c.mem[0].start == 0x80000000u);
  CHECK(c.mem[0].size == 1ull << 30);
  CHECK(c.mem[0].where.str() == "t.conf:2:1");
  CHECK(c.mem[0].value_where.str() == "t.conf:2:5");
  CHECK(c.mem[1].rom);
  CHECK(c.mem[1].start == 0xfff00000u);
  CHECK(c.mem[1].size == 1u << 20);
  CHECK_FALSE(c.mem[2].start);
  CHECK(c.mem[2].size == 256u << 20);

  REQUIRE(c.cpus.size() == 3);
  CHECK(c.cpus[0].priority == 10);
  CHECK(c.cpus[0].policy == 'r');
  CHECK(c.cpus[0].runmask == std::vector<int>{0, 2});
  CHECK(c.cpus[0].sched_where.str() == "t.conf:5:5");
  CHECK(c.cpus[0].runmask_where.str() == "t.conf:5:15");
  CHECK_FALSE(c.cpus[1].priority);
  CHECK(c.cpus[1].policy == 'o');
  CHECK(c.cpus[1].runmask.empty());
  CHECK(c.cpus[1].where.str() == "t.conf:6:1");
  CHECK(c.cpus[2].priority == 20);
  CHECK(c.cpus[2].policy == 'o');

  REQUIRE(c.loads.size() == 8);
  CHECK(c.loads[0].kind == LoadKind::Kernel);
  CHECK_FALSE(c.loads[0].addr);
  CHECK(c.loads[0].path == "/boot/vmlinuz");
  CHECK(c.loads[1].kind == LoadKind::Kernel);
  CHECK(c.loads[1].addr == 0x100000u);
  CHECK(c.loads[1].path == "kernel,v2.elf");  // comma inside the path
  CHECK(c.loads[2].kind == LoadKind::Initrd);
  CHECK(c.loads[2].path == "initrd.img");
  CHECK(c.loads[2].where.str() == "t.conf:10:1");
  CHECK(c.loads[2].path_where.str() == "t.conf:10:13");
  CHECK(c.loads[3].kind == LoadKind::Data);
  CHECK(c.loads[3].addr == 0x9000u);
  CHECK(c.loads[3].path == "blob.bin");
  CHECK(c.loads[4].kind == LoadKind::Fdt);
  CHECK(c.loads[4].path == "/tmp/x.dtb");
  CHECK(c.loads[5].kind == LoadKind::Acpi);
  CHECK(c.loads[5].path == "tables.aml");
  CHECK(c.loads[6].kind == LoadKind::Module);
  CHECK(c.loads[6].path == "mod1.bin");
  CHECK(c.loads[6].module_string == "mod1 -v");
  CHECK(c.loads[7].kind == LoadKind::Module);
  CHECK(c.loads[7].module_string == "mod2.bin");  // unquoted next word: none

  CHECK(c.cmdline == "console=ttyS0 root=/dev/vda");

  REQUIRE(c.vdevs.size() == 4);
  const VdevSpec& ser = c.vdevs[0];
  CHECK(ser.type == "ser8250");
  CHECK(ser.name == "com1");
  CHECK(ser.where.str() == "t.conf:15:1");
  CHECK(ser.type_where.str() == "t.conf:15:6");
  CHECK(ser.name_where.str() == "t.conf:15:44");
  REQUIRE(ser.locs.size() == 1);
  CHECK(ser.locs[0].space == Space::Io);
  CHECK(ser.locs[0].addr == 0x3f8u);
  CHECK(ser.locs[0].where.str() == "t.conf:15:18");
  REQUIRE(ser.intrs.size() == 1);
  CHECK_FALSE(ser.intrs[0].apic);
  CHECK(ser.intrs[0].controller == "8259");
  CHECK(ser.intrs[0].line == 4u);
  REQUIRE(ser.options.size() == 2);
  CHECK(ser.options[0].name == "hostdev");
  CHECK(ser.options[0].value == ">-");
  CHECK(ser.options[0].where.str() == "t.conf:15:49");
  CHECK(ser.options[0].value_where.str() == "t.conf:15:57");
  CHECK(ser.options[1].name == "sched");
  CHECK(ser.options[1].value == "5");

  const VdevSpec& blk = c.vdevs[1];
  CHECK(blk.type == "virtio-blk");
  CHECK(blk.name.empty());
  REQUIRE(blk.locs.size() == 1);
  CHECK(blk.locs[0].space == Space::Pci);
  CHECK_FALSE(blk.locs[0].pci_by_id);
  CHECK(blk.locs[0].bus == 0);
  CHECK(blk.locs[0].dev == 3);
  CHECK(blk.locs[0].fn == 1);
  REQUIRE(blk.options.size() == 2);
  CHECK(blk.options[0].value == "<disk.img");
  CHECK(blk.options[1].name == "threads");

  const VdevSpec& shm = c.vdevs[2];
  REQUIRE(shm.locs.size() == 2);
  CHECK(shm.locs[0].space == Space::Mem);
  CHECK(shm.locs[0].addr == 0xe0000000u);
  CHECK(shm.locs[1].addr == 0xe1000000u);
  REQUIRE(shm.intrs.size() == 2);
  CHECK(shm.intrs[0].controller == "gic");
  CHECK(shm.intrs[0].line == 37u);
  CHECK(shm.intrs[1].apic);

  const VdevSpec& host = c.vdevs[3];
  REQUIRE(host.locs.size() == 1);
  CHECK(host.locs[0].pci_by_id);
  CHECK(host.locs[0].vid == 0x8086);
  CHECK(host.locs[0].did == 0x100e);

  REQUIRE(c.passes.size() == 1);
  const PassSpec& p = c.passes[0];
  REQUIRE(p.locs.size() == 3);
  CHECK(p.locs[0].space == Space::Mem);
  CHECK(p.locs[0].addr == 0xfe000000u);
  CHECK(p.locs[0].host == 0xfd000000u);
  CHECK(p.locs[1].space == Space::Io);
  CHECK(p.locs[1].addr == 0x60u);
  CHECK(p.locs[1].host == 0x64u);
  CHECK(p.locs[2].space == Space::Pci);
  CHECK(p.locs[2].bus == 1);
  CHECK_FALSE(p.locs[2].host);
  REQUIRE(p.intrs.size() == 2);
  CHECK(p.intrs[0].controller == "ioapic");
  CHECK(p.intrs[0].line == 10u);
  CHECK(p.intrs[0].host_vector == 42u);
  CHECK_FALSE(p.intrs[1].host_vector);

  REQUIRE(c.reserves.size() == 1);
  REQUIRE(c.reserves[0].loc);
  CHECK(c.reserves[0].loc->space == Space::Io);
  CHECK(c.reserves[0].loc->addr == 0x80u);
  CHECK(c.reserves[0].intr == 9u);

  REQUIRE(c.var("reboot-exit"));
  CHECK(c.var("reboot-exit")->boolean == true);
  CHECK(c.var("reboot-exit")->where.str() == "t.conf:21:5");
  CHECK(c.var("reboot-exit")->value_where.str() == "t.conf:21:17");
  REQUIRE(c.var("acpi"));
  CHECK_FALSE(c.var("acpi")->boolean);
  CHECK(c.var("acpi")->raw == "auto");
  CHECK(c.var("counter-offset")->number == 0x1000u);
  CHECK(c.var("resmgr-path")->raw == "/run/qvm");
  CHECK(c.var("fdt-dump-file") == nullptr);

  REQUIRE(c.loggers.size() == 1);
  CHECK(c.loggers[0].levels ==
        std::vector<LogLevel>{LogLevel::Warn, LogLevel::Error});
  CHECK(c.loggers[0].dest == "stderr");
  CHECK(c.dump == "|gzip > /tmp/x.gz");
  REQUIRE(c.unsupported);
  CHECK(c.unsupported->action == UnsupportedAction::Fault);
  CHECK(c.dryrun);
  CHECK(c.dryrun_where.str() == "t.conf:28:1");
  CHECK(c.debug);
}

TEST_CASE("config: repeated options replace within their context",
          "[config]") {
  Config c = MustParse(
      "cpu sched 10r runmask 1 sched 30f runmask 2,3\n"
      "vdev ser8250 hostdev a log x hostdev b name n1 name n2\n"
      "vdev ser8250 hostdev c\n"
      "reserve intr 3 intr 4 loc io:1 loc io:2\n"
      "set reboot-exit on set acpi off set reboot-exit 0\n"
      "cmdline a cmdline b unsupported ignore unsupported terminate\n");
  REQUIRE(c.cpus.size() == 1);
  CHECK(c.cpus[0].priority == 30);
  CHECK(c.cpus[0].policy == 'f');
  CHECK(c.cpus[0].runmask == std::vector<int>{2, 3});
  CHECK(c.cpus[0].sched_where.str() == "t.conf:1:25");

  REQUIRE(c.vdevs.size() == 2);
  const VdevSpec& v = c.vdevs[0];
  CHECK(v.name == "n2");
  REQUIRE(v.options.size() == 2);
  CHECK(v.options[0].name == "hostdev");  // keeps its first position ...
  CHECK(v.options[0].value == "b");       // ... with the newer value
  CHECK(v.options[0].where.str() == "t.conf:2:30");
  CHECK(v.options[0].value_where.str() == "t.conf:2:38");
  CHECK(v.options[1].name == "log");
  CHECK(c.vdevs[1].options.size() == 1);
  CHECK(c.vdevs[1].options[0].value == "c");

  REQUIRE(c.reserves.size() == 1);
  CHECK(c.reserves[0].intr == 4u);
  CHECK(c.reserves[0].loc->addr == 2u);

  REQUIRE(c.sets.size() == 2);  // one entry per variable
  CHECK(c.var("reboot-exit")->boolean == false);
  CHECK(c.var("reboot-exit")->raw == "0");
  CHECK(c.var("acpi")->boolean == false);
  CHECK(c.cmdline == "b");
  CHECK(c.unsupported->action == UnsupportedAction::Terminate);
}

// Shapes as a factory list gives them: `flag` takes no argument, `many`
// may repeat; every other option takes one argument.
struct TestShapes : VdevOptionShapes {
  VdevOptionShape shape(const std::string& type, const std::string& option) override {
    VdevOptionShape s;
    if (type != "dev") return s;
    s.no_argument = option == "flag";
    s.repeats = option == "many";
    return s;
  }
};

TEST_CASE("config: option shapes: no argument, repeats", "[config]") {
  TestShapes shapes;
  auto toks = Tokenize(
      "vdev dev flag loc io:0x10 many <in many >out flag one 1 one 2\n"
      "vdev other flag x many a many b\n"
      "vdev dev many\n",
      "t.conf");
  REQUIRE(toks.ok());
  // The last line: `many` takes an argument and has none, at its own token.
  auto bad = ParseTokens(*toks, &shapes);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() == "t.conf:3:10: `many`: missing argument");
  toks->resize(toks->size() - 3);
  auto c = ParseTokens(*toks, &shapes);
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  REQUIRE(c->vdevs.size() == 2);
  const VdevSpec& d = c->vdevs[0];
  REQUIRE(d.locs.size() == 1);  // `loc` after a flag is still `loc`
  CHECK(d.locs[0].addr == 0x10);
  REQUIRE(d.options.size() == 4);
  CHECK(d.options[0].name == "flag");  // a repeated flag: once, first place, last token
  CHECK(d.options[0].value.empty());
  CHECK(d.options[0].where.str() == "t.conf:1:46");
  CHECK(d.options[0].value_where.str() == "t.conf:1:46");
  CHECK(d.options[1].name == "many");  // kept in order, each its own
  CHECK(d.options[1].value == "<in");
  CHECK(d.options[2].name == "many");
  CHECK(d.options[2].value == ">out");
  CHECK(d.options[2].value_where.str() == "t.conf:1:41");
  CHECK(d.options[3].name == "one");  // not repeatable: replaced
  CHECK(d.options[3].value == "2");
  // Another type: default shapes (one argument, replaced).
  const VdevSpec& o = c->vdevs[1];
  REQUIRE(o.options.size() == 2);
  CHECK(o.options[0].value == "x");
  CHECK(o.options[1].value == "b");
  // Without shapes every option takes one argument.
  auto plain = ParseText("vdev dev flag x many a many b");
  REQUIRE(plain.ok());
  REQUIRE(plain->vdevs[0].options.size() == 2);
  CHECK(plain->vdevs[0].options[0].value == "x");
  CHECK(plain->vdevs[0].options[1].value == "b");
}

TEST_CASE("config: booleans and tristates", "[config]") {
  struct B {
    const char* word;
    std::optional<bool> v;
  };
  const B cases[] = {{"on", true},     {"off", false},  {"yes", true},
                     {"no", false},    {"true", true},  {"false", false},
                     {"1", true},      {"0", false},    {"ON", true},
                     {"False", false}};
  for (const B& b : cases) {
    INFO(b.word);
    Config c = MustParse(std::string("set reboot-exit ") + b.word +
                         " set acpi " + b.word);
    CHECK(c.var("reboot-exit")->boolean == b.v);
    CHECK(c.var("acpi")->boolean == b.v);
  }
  Config a = MustParse("set acpi AUTO");
  REQUIRE(a.var("acpi"));
  CHECK_FALSE(a.var("acpi")->boolean.has_value());
}

TEST_CASE("config: counter-offset takes any 64-bit number", "[config]") {
  // All ones is the documented default (the guest counter starts at 0).
  Config a = MustParse("set counter-offset 0xffffffffffffffff");
  REQUIRE(a.var("counter-offset"));
  CHECK(a.var("counter-offset")->number == ~0ull);
  Config b = MustParse("set counter-offset 0");
  CHECK(b.var("counter-offset")->number == 0u);
  Config c = MustParse("set counter-offset 0d1000 set counter-offset 7");
  CHECK(c.var("counter-offset")->number == 7u);  // the last one wins
}

TEST_CASE("config: pmu is on, off or auto", "[config]") {
  // A tristate: on/off (any boolean spelling) or auto (nullopt); unset = off.
  CHECK(MustParse("set pmu on").var("pmu")->boolean == true);
  CHECK(MustParse("set pmu no").var("pmu")->boolean == false);
  Config a = MustParse("set pmu Auto");
  REQUIRE(a.var("pmu"));
  CHECK_FALSE(a.var("pmu")->boolean.has_value());
  CHECK(MustParse("set pmu off set pmu 1").var("pmu")->boolean == true);  // last wins
  CHECK(MustParse("ram 16M").var("pmu") == nullptr);
}

TEST_CASE("config: logger destinations and levels", "[config]") {
  Config c = MustParse(
      "logger fatal,internal,error,warn,info,debug,verbose stdout\n"
      "logger info none logger debug /var/log/qvm.log");
  REQUIRE(c.loggers.size() == 3);
  CHECK(c.loggers[0].levels.size() == 7);
  CHECK(c.loggers[0].levels.back() == LogLevel::Verbose);
  CHECK(c.loggers[1].dest == "none");
  CHECK(c.loggers[2].levels == std::vector<LogLevel>{LogLevel::Debug});
  CHECK(c.loggers[2].dest == "/var/log/qvm.log");
}

TEST_CASE("config: location forms", "[config]") {
  Config c = MustParse(
      "vdev x loc 4096 loc mem:4K loc io:0d80 loc pci:0x1:0x1f.7 "
      "loc pci:255:31 loc pci:0x1af4/0x1041 loc mem:0xffffffffffffffff");
  const auto& l = c.vdevs[0].locs;
  REQUIRE(l.size() == 7);
  CHECK((l[0].space == Space::Mem && l[0].addr == 4096));
  CHECK((l[1].space == Space::Mem && l[1].addr == 4096));
  CHECK((l[2].space == Space::Io && l[2].addr == 80));
  CHECK((l[3].space == Space::Pci && l[3].bus == 1 && l[3].dev == 31 &&
         l[3].fn == 7));
  CHECK((l[4].bus == 255 && l[4].dev == 31 && l[4].fn == 0));
  CHECK((l[5].pci_by_id && l[5].vid == 0x1af4 && l[5].did == 0x1041));
  CHECK(l[6].addr == UINT64_MAX);
  // `pass`'s PCI forms: which of several devices, the ids a function must have.
  Config p = MustParse("pass loc pci:1234/11e8/2 loc pci:0:3.0=pci:8086/1533 loc pci:1234/11e8");
  const auto& q = p.passes[0].locs;
  REQUIRE(q.size() == 3);
  CHECK((q[0].pci_by_id && q[0].vid == 0x1234 && q[0].did == 0x11e8 && q[0].pci_index == 2));
  CHECK((!q[1].pci_by_id && q[1].dev == 3 && q[1].pci_check_id && q[1].vid == 0x8086 &&
         q[1].did == 0x1533));
  CHECK((q[2].pci_index == 0 && !q[2].pci_check_id));
}

TEST_CASE("config: system first, default name", "[config]") {
  CHECK(MustParse("ram 1M").system == "qvm");
  CHECK(MustParse("system my-vm_1.2 ram 1M").system == "my-vm_1.2");
}

TEST_CASE("config: keywords end contexts", "[config]") {
  // `cpu` context ends at `vdev`; the vdev context ends at `dryrun`; a
  // keyword in an argument position is only the argument.
  Config c = MustParse("cpu sched 3 vdev ser8250 hostdev ram dryrun");
  REQUIRE(c.cpus.size() == 1);
  REQUIRE(c.vdevs.size() == 1);
  REQUIRE(c.vdevs[0].options.size() == 1);
  CHECK(c.vdevs[0].options[0].value == "ram");
  CHECK(c.dryrun);
  // After the keyword the old context is closed: `name` is unknown.
  auto bad = ParseText("vdev ser8250 dryrun name a");
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()) ==
        "t.conf:1:21: unknown option `name`");
}

// ---------------------------------------------------------------------------
// ParseArgs and @file

TEST_CASE("config: argv tokens", "[config]") {
  auto c = ParseArgs({"ram", "64M", "cmdline", "a b c", "load", "k.bin",
                      "vdev", "ser8250", "hostdev", ">-"});
  REQUIRE(c.ok());
  CHECK(c->cmdline == "a b c");  // one argument, one token
  CHECK(c->loads[0].path == "k.bin");  // relative to the cwd
  CHECK(c->loads[0].where.str() == "<command line>:5:1");
  CHECK(c->vdevs[0].options[0].value_where.str() == "<command line>:10:1");

  auto bad = ParseArgs({"ram", "12Q"});
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()) ==
        "<command line>:2:1: `ram`: bad size `12Q`");

  auto bad2 = ParseArgs({"ram 1M"});
  REQUIRE_FALSE(bad2.ok());
  CHECK(std::string(bad2.status().message()) ==
        "<command line>:1:1: unknown option `ram 1M`");
}

TEST_CASE("config: @file splices tokens in place", "[config]") {
  TempDir d;
  d.write_text("sub/dev.conf",
          "# nested file\n"
          "vdev ser8250 loc io:0x3f8\n"
          "  name \"com1\"\n"
          "load kernel.elf\n");
  const std::string top = d.write_text(
      "guest.qvmconf",
      "system g\n"
      "ram 128M\n"
      "@sub/dev.conf\n"
      "initrd load ../initrd.img\n"
      "cmdline \"@not-a-file\"\n");
  auto c = ParseArgs({"@" + top, "set", "fdt-dump-file", "/tmp/x.dtb",
                      "dryrun"});
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  CHECK(c->system == "g");
  REQUIRE(c->vdevs.size() == 1);
  CHECK(c->vdevs[0].name == "com1");
  CHECK(c->vdevs[0].name_where.str() == d.path() + "/sub/dev.conf:3:8");
  REQUIRE(c->loads.size() == 2);
  // Paths are relative to the directory of the file they were written in.
  CHECK(c->loads[0].path == d.path() + "/sub/kernel.elf");
  CHECK(c->loads[1].path == d.path() + "/../initrd.img");
  CHECK(c->cmdline == "@not-a-file");  // quoted: not expanded
  CHECK(c->var("fdt-dump-file")->raw == "/tmp/x.dtb");
  CHECK(c->var("fdt-dump-file")->where.str() == "<command line>:3:1");
  CHECK(c->dryrun);

  // An error inside a nested file names that file.
  d.write_text("bad.conf", "\n\n    ram 12Q\n");
  d.write_text("outer.conf", "@bad.conf\n");
  auto bad = ParseArgs({"@" + d.path() + "/outer.conf"});
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()) ==
        d.path() + "/bad.conf:3:9: `ram`: bad size `12Q`");

  // A relative @ on the command line is relative to the cwd.
  char cwd[4096];
  REQUIRE(getcwd(cwd, sizeof cwd) != nullptr);
  REQUIRE(chdir(d.path().c_str()) == 0);
  auto rel = ParseArgs({"@guest.qvmconf"});
  REQUIRE(chdir(cwd) == 0);
  REQUIRE(rel.ok());
  CHECK(rel->loads[0].path == "sub/kernel.elf");
  CHECK(rel->loads[1].path == "../initrd.img");
}

TEST_CASE("config: @file errors", "[config]") {
  TempDir d;
  auto msg = [](const std::vector<std::string>& args) {
    auto c = ParseArgs(args);
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().code() == absl::StatusCode::kInvalidArgument);
    return std::string(c.status().message());
  };
  CHECK(msg({"ram", "1M", "@" + d.path() + "/missing.conf"}) ==
        "<command line>:3:1: `@" + d.path() + "/missing.conf`: cannot read `" +
            d.path() + "/missing.conf`: No such file or directory");
  CHECK(msg({"@"}) == "<command line>:1:1: `@`: missing file name");
  CHECK(msg({"@" + d.path()}) == "<command line>:1:1: `@" + d.path() +
                                   "`: cannot read `" + d.path() +
                                   "`: not a regular file");

  // a -> b -> a
  d.write_text("a.conf", "ram 1M\n@b.conf\n");
  d.write_text("b.conf", "dryrun\n  @a.conf\n");
  CHECK(msg({"@" + d.path() + "/a.conf"}) ==
        d.path() + "/b.conf:2:3: `@a.conf`: recursive include of `" + d.path() +
            "/a.conf`");
  // self include
  d.write_text("self.conf", "@./self.conf");
  CHECK(msg({"@" + d.path() + "/self.conf"}) ==
        d.path() + "/self.conf:1:1: `@./self.conf`: recursive include of `" +
            d.path() + "/./self.conf`");

  // A chain of 16 files is fine; 17 is too deep.
  for (int k = 1; k <= 17; ++k)
    d.write_text("n" + std::to_string(k) + ".conf",
            k < 17 ? "@n" + std::to_string(k + 1) + ".conf\n" : "dryrun\n");
  auto ok = ParseArgs({"@" + d.path() + "/n2.conf"});
  INFO(ok.status().ToString());
  CHECK(ok.ok());
  CHECK(msg({"@" + d.path() + "/n1.conf"}) ==
        d.path() + "/n16.conf:1:1: `@n17.conf`: @file nesting deeper than 16");

  // An option left without its argument at the end of an @file is an error
  // at the file's own line; it does not take the next command-line token.
  d.write_text("tail.conf", "ram 1M\nvdev ser8250 intr\n");
  CHECK(msg({"@" + d.path() + "/tail.conf", "dryrun"}) ==
        d.path() + "/tail.conf:2:14: `intr`: missing argument");

  // Tokenizer errors name the file.
  d.write_text("q.conf", "cmdline \"open\n");
  CHECK(msg({"@" + d.path() + "/q.conf"}) ==
        d.path() + "/q.conf:1:9: unterminated quoted string");

  // The same file twice, side by side, is not recursion.
  d.write_text("flag.conf", "debug\n");
  auto twice = ParseArgs({"@" + d.path() + "/flag.conf",
                          "@" + d.path() + "/flag.conf"});
  CHECK(twice.ok());
}

TEST_CASE("config: ResolvePath", "[config]") {
  CHECK(ResolvePath({"<command line>", 1, 1}, "a/b") == "a/b");
  CHECK(ResolvePath({"dir/x.conf", 1, 1}, "a/b") == "dir/a/b");
  CHECK(ResolvePath({"/etc/qvm/x.conf", 1, 1}, "k") == "/etc/qvm/k");
  CHECK(ResolvePath({"/etc/qvm/x.conf", 1, 1}, "/abs") == "/abs");
  CHECK(ResolvePath({"x.conf", 1, 1}, "k") == "k");
}

}  // namespace
}  // namespace qvm

namespace qvm {
namespace {

TEST_CASE("config: QNX's language (unsupported, cpu partition, set in a context, debug)",
          "[config]") {
  Config c = MustParse(
      "unsupported register abort\n"
      "unsupported reference fail unsupported reference ignore\n"
      "unsupported instruction fail\n"
      "cpu sched 10 runmask 4,5 partition system\n"
      "vdev ser8250 set debug off loc io:0x2f8\n"
      "set exit-on-halt off set slog-buffer 8K set grow-heap 0x4000\n"
      "set message-block-timeout 200\n"
      "debug\n"
      "logger debug,info,error slog\n");
  REQUIRE(c.unsupported);
  CHECK_FALSE(c.unsupported->action);
  CHECK(c.unsupported->reg == UnsupportedAction::Terminate);
  CHECK(c.unsupported->reference == UnsupportedAction::Ignore);
  CHECK(c.unsupported->instruction == UnsupportedAction::Fault);
  REQUIRE(c.cpus.size() == 1);
  CHECK(c.cpus[0].partition == "system");
  CHECK(c.cpus[0].partition_where.str() == "t.conf:4:26");
  CHECK(c.cpus[0].runmask == std::vector<int>{4, 5});
  // `set` inside a vdev does not end it: the `loc` after it is the vdev's.
  REQUIRE(c.vdevs.size() == 1);
  REQUIRE(c.vdevs[0].locs.size() == 1);
  CHECK(c.vdevs[0].locs[0].addr == 0x2f8u);
  REQUIRE(c.var("debug"));
  CHECK(c.var("debug")->boolean == false);
  CHECK(c.var("exit-on-halt")->boolean == false);
  CHECK(c.var("slog-buffer")->number == 8192u);
  CHECK(c.var("grow-heap")->number == 0x4000u);
  CHECK(c.var("message-block-timeout")->number == 200u);
  CHECK(c.debug);
  REQUIRE(c.loggers.size() == 1);
  CHECK(c.loggers[0].dest == "slog");

  // qvm's one-word form stays, beside QNX's per-type ones.
  Config d = MustParse("unsupported terminate unsupported register ignore\n");
  CHECK(d.unsupported->action == UnsupportedAction::Terminate);
  CHECK(d.unsupported->reg == UnsupportedAction::Ignore);
}

}  // namespace
}  // namespace qvm

namespace qvm {
namespace {

TEST_CASE("config: QNX's tolerance, safety and user", "[config]") {
  Config c = MustParse("tolerance 100 safety warn\n");
  CHECK(c.tolerance == 100u);
  CHECK(c.safety == "warn");
  CHECK(c.safety_where.str() == "t.conf:1:15");
  auto req = ParseText("safety required\n");
  REQUIRE_FALSE(req.ok());
  CHECK(std::string(req.status().message()) ==
        "t.conf:1:8: `safety required`: qvm has no safety-certified components");
  Config u = MustParse("user 100:200,4,5\n");
  REQUIRE(u.user);
  CHECK(u.user->uid == 100u);
  CHECK(u.user->gids == std::vector<uint32_t>{200, 4, 5});
  CHECK(u.user->where.str() == "t.conf:1:1");
  CHECK(u.user->value_where.str() == "t.conf:1:6");
  Config u1 = MustParse("user 65534 user 0\n");  // the last one wins
  REQUIRE(u1.user);
  CHECK(u1.user->uid == 0u);
  CHECK(u1.user->gids.empty());
  CHECK(MustParse("user 4294967294:4294967294\n").user->gids[0] == 4294967294u);
  const std::pair<const char*, const char*> bad[] = {
      {"user nobody\n", "t.conf:1:6: `user`: UID `nobody` is not a number"},
      {"user 4294967295\n", "t.conf:1:6: `user`: UID `4294967295` is not a number"},
      {"user -1\n", "t.conf:1:6: `user`: UID `-1` is not a number"},
      {"user 0x10\n", "t.conf:1:6: `user`: UID `0x10` is not a number"},
      {"user :5\n", "t.conf:1:6: `user`: UID `` is not a number"},
      {"user 5:\n", "t.conf:1:6: `user`: GID `` is not a number"},
      {"user 5:6,,7\n", "t.conf:1:6: `user`: GID `` is not a number"},
      {"user 5:staff\n", "t.conf:1:6: `user`: GID `staff` is not a number"},
  };
  for (const auto& [text, msg] : bad) {
    INFO(text);
    auto r = ParseText(text);
    REQUIRE_FALSE(r.ok());
    CHECK(std::string(r.status().message()).starts_with(msg));
  }
}

}  // namespace
}  // namespace qvm

namespace qvm {
namespace {

TEST_CASE("config: $asinfo_start/$asinfo_length from the host's /proc/iomem", "[config]") {
  TempDir d;
  d.write_text("iomem",
               "00000000-00000fff : Reserved\n"
               "00001000-0009fbff : System RAM\n"
               "80000000-8fffffff : PCI Bus 0000:00\n"
               "  88000000-880fffff : gpu_carveout@88000000\n"
               "fed00000-fed003ff : HPET 0\n"
               "feb00000-feb00000 : zero\n");
  setenv("QVM_IOMEM", (d.path() + "/iomem").c_str(), 1);
  SourceLoc w{"t.conf", 3, 10};
  auto a = ExpandAsinfo("mem:$asinfo_start{gpu_carveout},$asinfo_length{gpu_carveout},rwcxm", w);
  REQUIRE(a.ok());
  CHECK(*a == "mem:0x88000000,0x100000,rwcxm");
  CHECK(*ExpandAsinfo("$asinfo_length{HPET 0}", w) == "0x400");
  CHECK(*ExpandAsinfo("$x$asinfo_start{System RAM}", w) == "$x0x1000");
  CHECK(ExpandAsinfo("$asinfo_start{nope}", w).status().message() ==
        "t.conf:3:10: `$asinfo`: no host region `nope` in `" + d.path() + "/iomem`");
  CHECK(ExpandAsinfo("$asinfo_start{gpu", w).status().message() ==
        "t.conf:3:10: `$asinfo`: missing `}` in `$asinfo_start{gpu`");
  // Through the parser, in QNX's `pass loc mem:ADDR,SIZE,PERMS`.
  d.write_text("p.conf", "pass loc mem:$asinfo_start{gpu_carveout},"
                         "$asinfo_length{gpu_carveout},rwcxm\n");
  auto c = ParseArgs({"@" + d.path() + "/p.conf"});
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  REQUIRE(c->passes.size() == 1);
  REQUIRE(c->passes[0].locs.size() == 1);
  CHECK(c->passes[0].locs[0].addr == 0x88000000u);
  CHECK(c->passes[0].locs[0].size == 0x100000u);
  CHECK(c->passes[0].locs[0].perms == "rwcxm");
  // Without CAP_SYS_ADMIN the kernel shows zeros: refused, saying so.
  d.write_text("zeros", "00000000-00000000 : gpu_carveout@88000000\n");
  setenv("QVM_IOMEM", (d.path() + "/zeros").c_str(), 1);
  CHECK(std::string(ExpandAsinfo("$asinfo_start{gpu_carveout}", w).status().message())
            .find("need CAP_SYS_ADMIN") != std::string::npos);
  unsetenv("QVM_IOMEM");
}

}  // namespace
}  // namespace qvm
