// The configuration interpreted once: every `set` variable declared once,
// beside the plan that reads it (vmm/vars.h); the plans of the VM core and
// of both machines; and the build recipe of vmm/vm.h, where the first boot
// and a reset in place run the same steps in the same order (a recording
// machine and a fake accelerator; no KVM).
#include <catch2/catch.hpp>

#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "arch/aarch64/plan.h"
#include "arch/x86_64/plan.h"
#include "arch/x86_64/regs.h"
#include "test/unit/temp_dir.h"
#include "vmm/arch.h"
#include "vmm/config.h"
#include "vmm/vars.h"
#include "vmm/vm.h"
#include "vmm/vm_plan.h"

namespace {

using namespace qvm;

Config MustParse(std::vector<std::string> args) {
  auto c = ParseArgs(args);
  INFO(c.status().message());
  REQUIRE(c.ok());
  return *std::move(c);
}

std::string Message(const absl::Status& st) { return std::string(st.message()); }

TEST_CASE("set variables: each is declared once, by the plan that reads it", "[plan][vars]") {
  std::map<std::string, int> seen;
  for (auto table : AllVariables())
    for (const VarDecl& d : table) {
      INFO(d.name);
      seen[d.name]++;
      CHECK(d.what != nullptr);
      if (d.arch) CHECK((std::string(d.arch) == "x86_64" || std::string(d.arch) == "aarch64"));
      CHECK((d.type == VarType::Choice) == (d.choices != nullptr));
      CHECK((d.type == VarType::Choice) == (d.noun != nullptr));
      CHECK(FindVariable(d.name) == &d);
    }
  for (const auto& [name, n] : seen) {
    INFO(name);
    CHECK(n == 1);
  }
  // The VM core's, then every architecture's, whichever this build runs.
  for (const char* v : {"reboot-exit", "trace-exits", "resmgr-path", "resmgr-group", "acpi",
                        "cpuid-qvm-leaf", "cpuid-hide-hypervisor", "msr-unknown",
                        "mtrr-default-type", "pmu", "counter-offset", "fdt-dump-file"})
    CHECK(seen.count(v) == 1);
  CHECK(FindVariable("msr-unknown")->arch == std::string("x86_64"));
  CHECK(FindVariable("pmu")->arch == std::string("aarch64"));
  CHECK(FindVariable("reboot-exit")->arch == nullptr);
}

TEST_CASE("set variables: an unknown one is a configuration error at its token", "[plan][vars]") {
  for (const char* v : {"nosuch", "power-button-timeout", "PMU"}) {
    auto c = ParseArgs({"ram", "16M", "set", v, "1"});
    REQUIRE_FALSE(c.ok());
    CHECK(absl::IsInvalidArgument(c.status()));
    CHECK(Message(c.status()) ==
          std::string("<command line>:4:1: `set`: unknown variable `") + v + "`");
  }
}

TEST_CASE("set variables: typed by their declaration, choices listed", "[plan][vars]") {
  Config c = MustParse({"set", "msr-unknown", "terminate", "set", "mtrr-default-type", "uc"});
  CHECK(c.var("msr-unknown")->choice == 3u);
  CHECK(c.var("mtrr-default-type")->choice == 1u);
  auto bad = ParseArgs({"set", "mtrr-default-type", "WB"});
  REQUIRE_FALSE(bad.ok());
  CHECK(Message(bad.status()) == "<command line>:3:1: `set mtrr-default-type`: unknown type `WB` "
                                 "(valid: wb, uc, off)");
  const VarDecl* d = FindVariable("msr-unknown");
  CHECK(ChoiceList(*d) == "ignore, log, fault, terminate");
  CHECK(ChoiceIndex(*d, "fault") == 2u);
  CHECK_FALSE(ChoiceIndex(*d, "").has_value());
  CHECK_FALSE(ChoiceIndex(*d, "faul").has_value());
  CHECK(ChoiceCount("a|b|c") == 3);
}

TEST_CASE("set variables: another architecture's is refused with its reason", "[plan][vars]") {
  // Both architectures' variables parse everywhere (the parser knows them
  // all); the build refuses those another machine reads.
  Config arm = MustParse({"ram", "16M", "set", "pmu", "on"});
  absl::Status st = RefuseForeignVariables(arm, "x86_64");
  CHECK(absl::IsInvalidArgument(st));
  CHECK(Message(st) ==
        "<command line>:4:1: `set pmu`: aarch64 only (the guest's PMUv3); not supported on x86_64");
  CHECK(RefuseForeignVariables(arm, "aarch64").ok());
  Config pc = MustParse({"set", "reboot-exit", "on", "set", "cpuid-qvm-leaf", "off"});
  st = RefuseForeignVariables(pc, "aarch64");
  CHECK(Message(st) == "<command line>:5:1: `set cpuid-qvm-leaf`: x86_64 only (qvm's CPUID leaf "
                       "0x40000100); not supported on aarch64");
  CHECK(RefuseForeignVariables(pc, "x86_64").ok());

  // Through the build of this architecture's VM: step 1 refuses it, a
  // configuration error (exit 65) before anything is built.
  std::string mine = CreateMachine()->name();
  const VarDecl* foreign = nullptr;
  for (auto table : AllVariables())
    for (const VarDecl& d : table)
      if (!foreign && d.arch && mine != d.arch && d.type == VarType::Bool) foreign = &d;
  if (!foreign) {
    for (auto table : AllVariables())
      for (const VarDecl& d : table)
        if (!foreign && d.arch && mine != d.arch && d.type == VarType::Tristate) foreign = &d;
  }
  REQUIRE(foreign);
  Vm vm(MustParse({"ram", "16M", "load", "/nonexistent/kernel", "set", foreign->name, "on"}),
        CreateMachine());
  st = vm.build();
  CHECK(absl::IsInvalidArgument(st));
  CHECK(Message(st) == std::string("<command line>:6:1: `set ") + foreign->name + "`: " +
                           foreign->arch + " only (" + foreign->what + "); not supported on " +
                           mine);
}

TEST_CASE("plans: the VM core's", "[plan]") {
  VmPlan none = MakeVmPlan(MustParse({"ram", "16M"}));
  CHECK_FALSE(none.reboot_exit);
  CHECK(none.trace_exits == 0u);
  CHECK(none.resmgr_path.empty());
  CHECK(none.resmgr_group.empty());
  auto toks = Tokenize("set reboot-exit yes set trace-exits 100000\n"
                       "set resmgr-path run set resmgr-group kvm\n",
                       "/etc/qvm/guest.qvmconf");
  REQUIRE(toks.ok());
  auto c = ParseTokens(*toks);
  REQUIRE(c.ok());
  VmPlan p = MakeVmPlan(*c);
  CHECK(p.reboot_exit);
  CHECK(p.trace_exits == kMaxTraceExits);
  CHECK(p.resmgr_path == "/etc/qvm/run");  // relative to its file
  CHECK(p.resmgr_group == "kvm");
  CHECK(MakeVmPlan(MustParse({"set", "trace-exits", "16"})).trace_exits == 16u);
  CHECK(none.seccomp);  // the system-call filters are on unless set off
  CHECK_FALSE(MakeVmPlan(MustParse({"set", "seccomp", "off"})).seccomp);
  CHECK(MakeVmPlan(MustParse({"set", "seccomp", "on"})).seccomp);
}

TEST_CASE("plans: x86_64", "[plan][x86]") {
  auto d = x86::MakePlan(MustParse({"ram", "16M"}));
  REQUIRE(d.ok());
  CHECK(d->acpi);
  CHECK(d->cpuid.qvm_leaf);
  CHECK_FALSE(d->cpuid.hide_hypervisor);
  CHECK(d->cpuid.mtrr_def_type == 0xc06u);
  CHECK_FALSE(d->msr_unknown.has_value());
  auto p = x86::MakePlan(MustParse({"set", "acpi", "off", "set", "cpuid-qvm-leaf", "no", "set",
                                    "cpuid-hide-hypervisor", "1", "set", "mtrr-default-type",
                                    "off", "set", "msr-unknown", "ignore"}));
  REQUIRE(p.ok());
  CHECK_FALSE(p->acpi);
  CHECK_FALSE(p->cpuid.qvm_leaf);
  CHECK(p->cpuid.hide_hypervisor);
  CHECK(p->cpuid.mtrr_def_type == 0u);
  CHECK(p->msr_unknown == UnsupportedAction::Ignore);
  CHECK(x86::MakePlan(MustParse({"set", "acpi", "auto"}))->acpi);
  CHECK(x86::MakePlan(MustParse({"set", "mtrr-default-type", "uc"}))->cpuid.mtrr_def_type ==
        0xc00u);
  CHECK(x86::MakePlan(MustParse({"set", "msr-unknown", "log"}))->msr_unknown ==
        UnsupportedAction::Log);
}

TEST_CASE("plans: aarch64", "[plan][arm64]") {
  using Pmu = arm64::MachinePlan::Pmu;
  auto d = arm64::MakePlan(MustParse({"ram", "16M"}));
  REQUIRE(d.ok());
  CHECK(d->pmu == Pmu::Off);
  CHECK(d->unsupported.action(Unsupported::SyndromelessAbort) == UnsupportedAction::Log);
  CHECK_FALSE(d->counter_offset.has_value());
  CHECK(d->fdt_dump_file.empty());
  auto p = arm64::MakePlan(MustParse({"unsupported", "terminate", "set", "pmu", "auto", "set",
                                      "counter-offset", "0", "set", "fdt-dump-file", "/tmp/x"}));
  REQUIRE(p.ok());
  CHECK(p->pmu == Pmu::Auto);
  CHECK(p->pmu_raw == "auto");
  CHECK(p->pmu_where.str() == "<command line>:5:1");
  CHECK(p->unsupported.action(Unsupported::SyndromelessAbort) == UnsupportedAction::Terminate);
  CHECK(p->counter_offset == 0u);
  CHECK(p->fdt_dump_file == "/tmp/x");
  CHECK(arm64::MakePlan(MustParse({"set", "pmu", "on"}))->pmu == Pmu::On);
  CHECK(arm64::MakePlan(MustParse({"set", "pmu", "off"}))->pmu == Pmu::Off);
  // All ones: the default (the counter starts at 0 and stops while paused).
  CHECK_FALSE(arm64::MakePlan(MustParse({"set", "counter-offset", "0xffffffffffffffff"}))
                  ->counter_offset.has_value());
}

// ---- the recipe: a recording machine on a fake accelerator ----------------

// What the machine was asked to do: steps before the first load, then one
// list per boot (a boot starts with load, step a).
struct Record {
  std::mutex mu;
  std::vector<std::string> once;
  std::vector<std::vector<std::string>> boots;
  void step(const std::string& s) {
    std::lock_guard<std::mutex> g(mu);
    if (s == "load") boots.emplace_back();
    (boots.empty() ? once : boots.back()).push_back(s);
  }
  size_t nboots() {
    std::lock_guard<std::mutex> g(mu);
    return boots.size();
  }
};

// vCPU 0 stops its boot with `stop` (a reset, then a power-off); the other
// vCPUs wait in the "guest" until they are kicked.
class FakeVcpu : public VcpuBackend {
 public:
  FakeVcpu(unsigned index, ExitKind stop) : index_(index), stop_(stop) {}
  absl::StatusOr<Exit*> run() override {
    exit_ = Exit{};
    if (index_ == 0 && !stopped_) {
      stopped_ = true;
      exit_.kind = stop_;
      return &exit_;
    }
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return kicked_; });
    kicked_ = false;
    exit_.kind = ExitKind::Interrupted;
    return &exit_;
  }
  void kick() override {
    {
      std::lock_guard<std::mutex> g(mu_);
      kicked_ = true;
    }
    cv_.notify_all();
  }
  absl::Status bind_thread() override { return absl::OkStatus(); }
  void set_extint(bool, std::function<int()>) override {}
  absl::StatusOr<VcpuRegs> regs() override { return VcpuRegs{}; }
  unsigned index() const override { return index_; }

 private:
  unsigned index_;
  ExitKind stop_;
  bool stopped_ = false;
  Exit exit_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool kicked_ = false;
};

class FakeVm : public VmBackend {
 public:
  FakeVm(Record* rec, ExitKind stop) : rec_(rec), stop_(stop) {}
  std::string describe() const override { return "fake accelerator"; }
  absl::Status map_memory(const GuestMemory&) override {
    rec_->step("map");
    return absl::OkStatus();
  }
  absl::Status map_host_memory(uint64_t gpa, void*, uint64_t size, bool writable,
                               bool assign) override {
    rec_->step(absl::StrFormat("slot 0x%x+0x%x %s%s", gpa, size, writable ? "rw" : "r",
                               assign ? "" : " removed"));
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<VcpuBackend>> create_vcpu(unsigned index) override {
    rec_->step("vcpu " + std::to_string(index));
    return std::unique_ptr<VcpuBackend>(std::make_unique<FakeVcpu>(index, stop_));
  }
  absl::Status signal_msi(uint64_t, uint32_t) override { return absl::OkStatus(); }
  absl::Status set_msi_route(unsigned, uint64_t, uint32_t, bool) override {
    return absl::OkStatus();
  }

 private:
  Record* rec_;
  ExitKind stop_;
};

class RecordingMachine : public Machine {
 public:
  explicit RecordingMachine(Record* rec) : rec_(rec) {}
  const char* name() const override { return "recording"; }
  const CpuModel& cpu_model() const override { return X86_64CpuModel(); }
  absl::Status plan(const Config&) override {
    rec_->step("plan");
    return absl::OkStatus();
  }
  std::vector<std::string> platform_devices() const override { return {}; }
  std::string implied_pci_host() const override { return "pci-host"; }
  std::string pci_pass_device() const override { return "vfio-pci"; }
  bool builds_acpi() const override { return false; }
  uint64_t default_ram_base() const override { return 0; }
  absl::Status load(const Config&, GuestMemory& mem, const std::vector<DeviceInfo>&,
                    unsigned) override {
    rec_->step("load");
    // Memory is zeroed before a reset in place: the marker is written again.
    uint8_t b = 0;
    REQUIRE(mem.read(0x1000, &b, 1));
    zero_at_load.push_back(b == 0);
    b = 0x5a;
    REQUIRE(mem.write(0x1000, &b, 1));
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<VmBackend>> create_backend(unsigned) override {
    rec_->step("backend");
    // The first boot ends in a guest reset, the second in a power-off.
    ExitKind stop = rec_->nboots() == 1 ? ExitKind::Reset : ExitKind::PowerOff;
    return std::unique_ptr<VmBackend>(std::make_unique<FakeVm>(rec_, stop));
  }
  absl::Status prepare_vcpu(VcpuBackend&, unsigned index) override {
    rec_->step("prepare " + std::to_string(index));
    return absl::OkStatus();
  }
  absl::Status finalize(VmBackend&) override {
    rec_->step("finalize");
    return absl::OkStatus();
  }
  std::string boot_summary() const override { return "recorded"; }

  std::vector<bool> zero_at_load;

 private:
  Record* rec_;
};

TEST_CASE("recipe: the first boot and a reset in place run the same steps", "[plan][recipe]") {
  test::TempDir t;
  Record rec;
  auto m = std::make_unique<RecordingMachine>(&rec);
  RecordingMachine* machine = m.get();
  // `set seccomp off` in every Vm::run() here: a system-call filter
  // installed on this thread would stay on the test process.
  Vm vm(MustParse({"system", "recipe-test", "ram", "1M", "cpu", "cpu", "set", "resmgr-path",
                   t.path(), "set", "seccomp", "off"}),
        std::move(m));
  absl::Status st = vm.build();
  INFO(st.message());
  REQUIRE(st.ok());
  // build(): the plan once, then the first boot's step a.
  CHECK(rec.once == std::vector<std::string>{"plan"});
  REQUIRE(rec.boots.size() == 1);
  CHECK(rec.boots[0] == std::vector<std::string>{"load"});

  CHECK(vm.run() == kExitOk);  // reset, then power-off
  const std::vector<std::string> boot = {"load",      "backend", "map",      "vcpu 0",
                                         "prepare 0", "vcpu 1",  "prepare 1", "finalize"};
  CHECK(rec.once == std::vector<std::string>{"plan"});  // never again
  REQUIRE(rec.boots.size() == 2);
  CHECK(rec.boots[0] == boot);
  CHECK(rec.boots[1] == boot);
  // Guest memory was fresh at both loads (zeroed for the reset).
  CHECK(machine->zero_at_load == std::vector<bool>{true, true});
}

TEST_CASE("recipe: a `pass loc mem` is a memory slot of every boot's VM", "[plan][recipe][pass]") {
  test::TempDir t;
  std::string file = t.write_text("shared", std::string(0x2000, 'p'));
  Record rec;
  Vm vm(MustParse({"system", "recipe-pass", "ram", "1M", "set", "resmgr-path", t.path(),
                   "set", "seccomp", "off", "pass", "loc", "mem:0x200000,0x2000,rx=file:" + file}),
        std::make_unique<RecordingMachine>(&rec));
  absl::Status st = vm.build();
  INFO(st.message());
  REQUIRE(st.ok());
  CHECK(vm.run() == kExitOk);  // reset, then power-off
  const std::vector<std::string> boot = {"load", "backend", "map", "slot 0x200000+0x2000 r",
                                         "vcpu 0", "prepare 0", "finalize"};
  REQUIRE(rec.boots.size() == 2);
  CHECK(rec.boots[0] == boot);
  CHECK(rec.boots[1] == boot);
}

// ---- resets in place under concurrent requests ----------------------------

// Every vCPU of a boot leaves the guest at the same moment with the same
// request (a reset, for the last boot a power-off), as when several vCPUs
// ask for PSCI SYSTEM_RESET together; then waits to be kicked.
struct Storm {
  std::mutex mu;
  std::condition_variable cv;
  unsigned boots = 0;    // backends created
  unsigned arrived = 0;  // vCPUs of the current boot inside run()
  unsigned last_boot = 0;
};

class StormVcpu : public VcpuBackend {
 public:
  StormVcpu(Storm* s, unsigned index, unsigned ncpus, unsigned boot)
      : s_(s), index_(index), ncpus_(ncpus), boot_(boot) {}
  absl::StatusOr<Exit*> run() override {
    exit_ = Exit{};
    if (!left_) {
      left_ = true;
      std::unique_lock<std::mutex> l(s_->mu);
      s_->arrived++;
      s_->cv.notify_all();
      // All of this boot's vCPUs leave together (unless one was kicked).
      s_->cv.wait(l, [this] { return s_->arrived >= ncpus_ * boot_ || kicked_; });
      exit_.kind = boot_ >= s_->last_boot ? ExitKind::PowerOff : ExitKind::Reset;
      return &exit_;
    }
    std::unique_lock<std::mutex> l(s_->mu);
    s_->cv.wait(l, [this] { return kicked_; });
    kicked_ = false;
    exit_.kind = ExitKind::Interrupted;
    return &exit_;
  }
  void kick() override {
    {
      std::lock_guard<std::mutex> g(s_->mu);
      kicked_ = true;
    }
    s_->cv.notify_all();
  }
  absl::Status bind_thread() override { return absl::OkStatus(); }
  void set_extint(bool, std::function<int()>) override {}
  absl::StatusOr<VcpuRegs> regs() override { return VcpuRegs{}; }
  unsigned index() const override { return index_; }

 private:
  Storm* s_;
  unsigned index_, ncpus_, boot_;
  bool left_ = false;
  bool kicked_ = false;  // guarded by s_->mu
  Exit exit_;
};

class StormVm : public VmBackend {
 public:
  StormVm(Storm* s, unsigned ncpus, unsigned boot) : s_(s), ncpus_(ncpus), boot_(boot) {}
  std::string describe() const override { return "storm accelerator"; }
  absl::Status map_memory(const GuestMemory&) override { return absl::OkStatus(); }
  absl::StatusOr<std::unique_ptr<VcpuBackend>> create_vcpu(unsigned index) override {
    return std::unique_ptr<VcpuBackend>(std::make_unique<StormVcpu>(s_, index, ncpus_, boot_));
  }
  absl::Status signal_msi(uint64_t, uint32_t) override { return absl::OkStatus(); }
  absl::Status set_msi_route(unsigned, uint64_t, uint32_t, bool) override {
    return absl::OkStatus();
  }

 private:
  Storm* s_;
  unsigned ncpus_, boot_;
};

class StormMachine : public RecordingMachine {
 public:
  StormMachine(Record* rec, Storm* s) : RecordingMachine(rec), s_(s) {}
  absl::StatusOr<std::unique_ptr<VmBackend>> create_backend(unsigned ncpus) override {
    unsigned boot;
    {
      std::lock_guard<std::mutex> g(s_->mu);
      boot = ++s_->boots;
      s_->arrived = ncpus * (boot - 1);
    }
    return std::unique_ptr<VmBackend>(std::make_unique<StormVm>(s_, ncpus, boot));
  }

 private:
  Storm* s_;
};

TEST_CASE("recipe: resets in place with every vCPU asking at once", "[plan][recipe][reset]") {
  test::TempDir t;
  Record rec;
  Storm storm;
  storm.last_boot = 40;
  Vm vm(MustParse({"system", "storm-test", "ram", "1M", "cpu", "cpu", "cpu", "cpu", "set",
                   "resmgr-path", t.path(), "set", "reset-loop", "0", "set", "seccomp",
                   "off"}),
        std::make_unique<StormMachine>(&rec, &storm));
  absl::Status st = vm.build();
  INFO(st.message());
  REQUIRE(st.ok());
  CHECK(vm.run() == kExitOk);  // 39 resets in place, then a power-off
  CHECK(storm.boots == 40u);
  CHECK(rec.boots.size() == 40u);
}

// The same storm with the default limit: the guest's tenth reset within
// 10 s is a reset loop, and qvm stops with exit 7 instead of spinning.
TEST_CASE("recipe: a reset loop stops qvm at `set reset-loop N`", "[plan][recipe][reset]") {
  for (unsigned limit : {10u, 3u}) {
    INFO("reset-loop " << limit);
    test::TempDir t;
    Record rec;
    Storm storm;
    storm.last_boot = 40;
    std::vector<std::string> args = {"system", "storm-test", "ram", "1M", "cpu", "cpu",
                                      "set", "resmgr-path", t.path(), "set", "seccomp",
                                      "off"};
    if (limit != 10) args.insert(args.end(), {"set", "reset-loop", std::to_string(limit)});
    Vm vm(MustParse(args), std::make_unique<StormMachine>(&rec, &storm));
    absl::Status st = vm.build();
    INFO(st.message());
    REQUIRE(st.ok());
    CHECK(vm.run() == kExitUnexpected);
    CHECK(storm.boots == limit);  // the boot that made the limit-th reset is the last
  }
}

}  // namespace

namespace qvm {
namespace {

TEST_CASE("recipe: RAM given without a start is split around the machine's hole", "[plan]") {
  auto machine = CreateMachine();
  auto [hole, hole_end] = machine->ram_hole();
  if (hole_end <= hole) {
    SUCCEED("this architecture's machine has no hole");
    return;
  }
  // 512 MiB more than fits below the hole: the rest goes above it.
  uint64_t mib = (hole >> 20) + 512;
  Vm vm(MustParse({"ram", std::to_string(mib) + "M", "load", "/nonexistent/kernel"}),
        std::move(machine));
  absl::Status st = vm.build();  // fails after memory (devices, or the kernel)
  INFO(st.ToString());
  CHECK_FALSE(st.ok());
  CHECK(std::string(st.message()).find("`ram`") == std::string::npos);
  const auto& r = vm.memory().regions();
  REQUIRE(r.size() == 2);
  CHECK(r[0].gpa == 0u);
  CHECK(r[0].size == hole);
  CHECK(r[1].gpa == hole_end);
  CHECK(r[1].size == 512ull << 20);
}

}  // namespace
}  // namespace qvm
