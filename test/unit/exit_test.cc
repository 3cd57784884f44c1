// HandleExit: exit dispatch as a plain function, no accelerator involved.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "arch/x86_64/plan.h"
#include "vmm/bus.h"
#include "vmm/exit.h"

namespace {

using namespace qvm;

struct Recorder : BusDevice {
  std::vector<std::pair<uint64_t, uint32_t>> writes;
  BusStatus status = BusStatus::Done;
  uint8_t value = 0x42;
  BusStatus read(const BusAccess& a, uint8_t* d) override {
    std::memset(d, value, a.size);
    return status;
  }
  BusStatus write(const BusAccess& a, const uint8_t* d) override {
    uint32_t v = 0;
    std::memcpy(&v, d, std::min<uint32_t>(a.size, 4));
    writes.push_back({a.addr, v});
    return status;
  }
  std::string bus_name() const override { return "rec"; }
};

struct Fixture {
  Bus io{"io", 0x10000};
  Bus mem{"mmio", 0};
  Recorder dev;
  ExitStats stats;
  std::atomic<int> code{0};
  ExitContext p;
  Fixture() {
    REQUIRE(io.insert(0x3f8, 8, &dev, 0).ok());
    REQUIRE(mem.insert(0xd0000000, 0x1000, &dev, 0).ok());
    p.io = &io;
    p.mem = &mem;
    p.stats = &stats;
    p.terminate_code = &code;
  }
};

}  // namespace

TEST_CASE("string port I/O dispatches every element in order") {
  Fixture f;
  uint8_t buf[3] = {'a', 'b', 'c'};
  Exit e;
  e.kind = ExitKind::Pio;
  e.addr = 0x3f8;
  e.size = 1;
  e.count = 3;
  e.write = true;
  e.data = buf;
  CHECK(HandleExit(f.p, 0, e) == ExitAction::Continue);
  REQUIRE(f.dev.writes.size() == 3);
  CHECK(f.dev.writes[0].second == 'a');
  CHECK(f.dev.writes[2].second == 'c');
  CHECK(f.stats.by_kind[size_t(ExitKind::Pio)] == 1);
}

TEST_CASE("unassigned port reads float high; writes are dropped") {
  Fixture f;
  uint8_t buf[4] = {0, 0, 0, 0};
  Exit e;
  e.kind = ExitKind::Pio;
  e.addr = 0x80;
  e.size = 4;
  e.data = buf;
  f.p.unsupported = UnsupportedPolicy(UnsupportedAction::Ignore, std::nullopt);
  CHECK(HandleExit(f.p, 0, e) == ExitAction::Continue);
  for (uint8_t b : buf) CHECK(b == 0xff);
}

TEST_CASE("unsupported terminate stops with exit code 5") {
  Fixture f;
  uint8_t buf[1] = {0};
  Exit e;
  e.kind = ExitKind::Mmio;
  e.addr = 0xe0000000;
  e.size = 1;
  e.write = true;
  e.data = buf;
  f.p.unsupported = UnsupportedPolicy(UnsupportedAction::Terminate, std::nullopt);
  CHECK(HandleExit(f.p, 0, e) == ExitAction::Terminate);
  CHECK(f.code == 5);
}

TEST_CASE("malformed exits never reach devices") {
  Fixture f;
  uint8_t buf[16] = {};
  Exit e;
  e.kind = ExitKind::Pio;
  e.addr = 0x3f8;
  e.size = 3;  // not a legal port size
  e.data = buf;
  CHECK(HandleExit(f.p, 0, e) == ExitAction::Terminate);
  Exit m;
  m.kind = ExitKind::Mmio;
  m.addr = 0xd0000000;
  m.size = 16;
  m.data = buf;
  CHECK(HandleExit(f.p, 0, m) == ExitAction::Terminate);
  CHECK(f.dev.writes.empty());
}

TEST_CASE("device termination maps to vdev error 6") {
  Fixture f;
  f.dev.status = BusStatus::Terminate;
  uint8_t buf[1] = {1};
  Exit e;
  e.kind = ExitKind::Pio;
  e.addr = 0x3f8;
  e.size = 1;
  e.write = true;
  e.data = buf;
  CHECK(HandleExit(f.p, 0, e) == ExitAction::Terminate);
  CHECK(f.code == 6);
}

TEST_CASE("bus errors read as all-ones and continue") {
  Fixture f;
  f.dev.status = BusStatus::BusError;
  uint8_t buf[2] = {0, 0};
  Exit e;
  e.kind = ExitKind::Mmio;
  e.addr = 0xd0000010;
  e.size = 2;
  e.data = buf;
  CHECK(HandleExit(f.p, 0, e) == ExitAction::Continue);
  CHECK(buf[0] == 0xff);
  CHECK(buf[1] == 0xff);
}

TEST_CASE("unknown MSRs fault by default and follow an explicit policy") {
  Fixture f;
  Exit e;
  e.kind = ExitKind::MsrRead;
  e.addr = 0xc0011029;
  CHECK(HandleExit(f.p, 0, e) == ExitAction::Continue);
  CHECK(e.msr_fault);
  f.p.unsupported = UnsupportedPolicy(UnsupportedAction::Ignore, std::nullopt);
  Exit w;
  w.kind = ExitKind::MsrWrite;
  w.addr = 0x10;
  CHECK(HandleExit(f.p, 0, w) == ExitAction::Continue);
  CHECK_FALSE(w.msr_fault);
}

TEST_CASE("set msr-unknown overrides unsupported for MSRs; log is once per MSR") {
  Fixture f;
  f.p.unsupported = UnsupportedPolicy(UnsupportedAction::Ignore, UnsupportedAction::Fault);
  Exit e;
  e.kind = ExitKind::MsrRead;
  e.addr = 0xc0011fff;
  CHECK(HandleExit(f.p, 0, e) == ExitAction::Continue);
  CHECK(e.msr_fault);
  f.p.unsupported = UnsupportedPolicy(UnsupportedAction::Ignore, UnsupportedAction::Terminate);
  Exit t;
  t.kind = ExitKind::MsrWrite;
  t.addr = 0xc0011fff;
  CHECK(HandleExit(f.p, 0, t) == ExitAction::Terminate);
  f.p.unsupported = UnsupportedPolicy(UnsupportedAction::Ignore, UnsupportedAction::Log);
  Exit l;
  l.kind = ExitKind::MsrRead;
  l.addr = 0x1234;
  l.msr_value = 77;
  CHECK(HandleExit(f.p, 0, l) == ExitAction::Continue);
  CHECK_FALSE(l.msr_fault);
  CHECK(l.msr_value == 0);
  // The once-per-MSR bookkeeping: index and direction.
  UnsupportedPolicy once;
  CHECK(once.first_msr(0x1234, false));
  CHECK_FALSE(once.first_msr(0x1234, false));
  CHECK(once.first_msr(0x1234, true));
  CHECK(once.first_msr(0x1235, false));
  UnsupportedPolicy copy = once;  // copies share the bookkeeping
  CHECK_FALSE(copy.first_msr(0x1235, false));
  for (uint64_t i = 0; i < 2000; i++) once.first_msr(0x10000 + i, false);
  CHECK(once.msr_logged() == UnsupportedPolicy::kMaxLogged);
  CHECK(once.first_msr(0x1234, false));  // full: every line goes to the rate limiter
}

TEST_CASE("one unsupported policy decides for the three kinds of operation") {
  UnsupportedPolicy none;
  CHECK(none.action(Unsupported::Unassigned) == UnsupportedAction::Log);
  CHECK(none.action(Unsupported::SyndromelessAbort) == UnsupportedAction::Log);
  CHECK(none.action(Unsupported::Msr) == UnsupportedAction::Fault);
  CHECK(none.log_level() == LogLevel::Debug);
  UnsupportedPolicy term(UnsupportedAction::Terminate, std::nullopt);
  CHECK(term.action(Unsupported::Unassigned) == UnsupportedAction::Terminate);
  CHECK(term.action(Unsupported::SyndromelessAbort) == UnsupportedAction::Terminate);
  CHECK(term.action(Unsupported::Msr) == UnsupportedAction::Terminate);
  CHECK(term.log_level() == LogLevel::Warn);
  // QNX's per-type form: reference = unassigned accesses, instruction = an
  // access qvm cannot decode, register = MSRs; a type overrides qvm's
  // one-word action, `set msr-unknown` overrides `register`.
  UnsupportedSpec qnx;
  qnx.reference = UnsupportedAction::Ignore;
  qnx.reg = UnsupportedAction::Terminate;
  UnsupportedPolicy typed(UnsupportedAction::Fault, std::nullopt, qnx);
  CHECK(typed.action(Unsupported::Unassigned) == UnsupportedAction::Ignore);
  CHECK(typed.action(Unsupported::SyndromelessAbort) == UnsupportedAction::Fault);
  CHECK(typed.action(Unsupported::Msr) == UnsupportedAction::Terminate);
  UnsupportedPolicy typed_msr(std::nullopt, UnsupportedAction::Log, qnx);
  CHECK(typed_msr.action(Unsupported::Msr) == UnsupportedAction::Log);
  CHECK(typed_msr.action(Unsupported::SyndromelessAbort) == UnsupportedAction::Log);
  CHECK(typed_msr.log_level() == LogLevel::Warn);
  UnsupportedPolicy msr(UnsupportedAction::Fault, UnsupportedAction::Ignore);
  CHECK(msr.action(Unsupported::Unassigned) == UnsupportedAction::Fault);
  CHECK(msr.action(Unsupported::Msr) == UnsupportedAction::Ignore);
}

TEST_CASE("every exit kind has a handler; an out-of-range kind is fatal") {
  Fixture f;
  for (uint32_t k = 0; k < uint32_t(ExitKind::Count); k++) {
    Exit e;  // Pio/Mmio without data are malformed: they terminate
    e.kind = static_cast<ExitKind>(k);
    HandleExit(f.p, 0, e);
    CHECK(f.stats.by_kind[k] == 1);
  }
  f.code = 0;
  Exit bad;
  bad.kind = static_cast<ExitKind>(200);
  CHECK(HandleExit(f.p, 0, bad) == ExitAction::Terminate);
  CHECK(f.code == 96);
}

TEST_CASE("EOIs are broadcast and power events map to actions") {
  Fixture f;
  static uint32_t seen = 0;
  f.p.eoi = [](void*, uint32_t v) { seen = v; };
  Exit e;
  e.kind = ExitKind::Eoi;
  e.vector = 0x31;
  CHECK(HandleExit(f.p, 0, e) == ExitAction::Continue);
  CHECK(seen == 0x31);
  Exit s;
  s.kind = ExitKind::Shutdown;
  CHECK(HandleExit(f.p, 0, s) == ExitAction::Reset);
  Exit o;
  o.kind = ExitKind::PowerOff;
  CHECK(HandleExit(f.p, 0, o) == ExitAction::PowerOff);
  Exit x;
  x.kind = ExitKind::Fatal;
  x.reason = "entry failed";
  CHECK(HandleExit(f.p, 0, x) == ExitAction::Terminate);
  CHECK(f.code == 96);
}

TEST_CASE("the unsupported policy from `unsupported` and the x86 plan's msr-unknown; a bad msr-unknown is an error") {
  auto parse = [](const char* text) {
    auto toks = Tokenize(text, "t.conf");
    REQUIRE(toks.ok());
    return ParseTokens(*toks);
  };
  auto cfg = parse("unsupported terminate\nset msr-unknown ignore\n");
  REQUIRE(cfg.ok());
  auto plan = x86::MakePlan(*cfg);  // the one reader of `set msr-unknown`
  REQUIRE(plan.ok());
  UnsupportedPolicy p = UnsupportedPolicy::FromConfig(*cfg, plan->msr_unknown);
  CHECK(p.action(Unsupported::Unassigned) == UnsupportedAction::Terminate);
  CHECK(p.action(Unsupported::SyndromelessAbort) == UnsupportedAction::Terminate);
  CHECK(p.action(Unsupported::Msr) == UnsupportedAction::Ignore);
  // Without a planned MSR action, MSRs follow `unsupported`.
  CHECK(UnsupportedPolicy::FromConfig(*cfg).action(Unsupported::Msr) ==
        UnsupportedAction::Terminate);
  // The parser types the value by its declaration: a bad action is refused
  // at its token.
  auto bad = parse("set msr-unknown explode\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(absl::IsInvalidArgument(bad.status()));
  CHECK(bad.status().message().find("t.conf:1:") != std::string::npos);
  CHECK(bad.status().message().find("explode") != std::string::npos);
}

TEST_CASE("debug exits go to the debugger's hook, or are dropped without one") {
  Fixture f;
  Exit e;
  e.kind = ExitKind::Debug;
  e.addr = 0x101415;
  e.debug_why = Exit::DebugWhy::Watch;
  e.debug_slot = 2;
  // No debugger attached (a late event after a detach): the vCPU runs on.
  CHECK(HandleExit(f.p, 1, e) == ExitAction::Continue);
  CHECK(f.stats.by_kind[size_t(ExitKind::Debug)] == 1);
  struct Seen {
    unsigned vcpu = 99;
    uint64_t pc = 0;
    Exit::DebugWhy why = Exit::DebugWhy::Other;
    int slot = -1;
  } seen;
  f.p.debug_ctx = &seen;
  f.p.debug = [](void* ctx, unsigned vcpu, const Exit& x) {
    auto* s = static_cast<Seen*>(ctx);
    s->vcpu = vcpu;
    s->pc = x.addr;
    s->why = x.debug_why;
    s->slot = x.debug_slot;
    return ExitAction::Stop;  // whatever the hook says is what the vCPU does
  };
  CHECK(HandleExit(f.p, 1, e) == ExitAction::Stop);
  CHECK(seen.vcpu == 1);
  CHECK(seen.pc == 0x101415);
  CHECK(seen.why == Exit::DebugWhy::Watch);
  CHECK(seen.slot == 2);
  CHECK(std::string(ExitKindName(ExitKind::Debug)) == "debug");
}
