// /dev/qvm control names (vmm/control.*) driven over real sockets against a
// fake ControlTarget, the statistics/JSON formatters, the directory rules
// and guest-dump file names (the dump writer: dump_test.cc). No KVM needed.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "test/unit/temp_dir.h"
#include "resmgr/client.h"
#include "resmgr/resmgr.h"
#include "vmm/control.h"
#include "vmm/control_proto.h"
#include "vmm/dump.h"

using qvm::Control;
using qvm::StatsSnapshot;
using qvm::resmgr::Client;
using qvm::resmgr::ErrnoOf;

namespace {

using qvm::test::TempDir;

struct FakeTarget : qvm::ControlTarget {
  int pauses = 0, resumes = 0, resets = 0, buttons = 0, cuts = 0;
  std::string input;  // console input received
  uint32_t last_cmd = 0;
  std::string last_in;
  std::string env_json() override { return "{\"system\":\"fake\",\"n\":1}\n"; }
  std::string status(bool json) override {
    return json ? "{\"state\":\"running\"}\n" : "state: running\n";
  }
  int pause() override { return ++pauses, 0; }
  int resume() override { return ++resumes, 0; }
  int reset() override { return ++resets, 0; }
  int power_button() override { return ++buttons, 0; }
  int power_cut() override { return ++cuts, 0; }
  int dump(std::string* out) override {
    *out = "/dumps/fake-20240101-000000.gcore";
    return 0;
  }
  std::string gdb_in;
  int gdb(const std::string& endpoint, std::string* out) override {
    gdb_in = endpoint;
    if (endpoint == "tcp:1") return EEXIST;
    *out = "/run/fake.gdb\n";
    return 0;
  }
  uint64_t now = 2'000'000'000;
  uint64_t hits = 10;
  StatsSnapshot stats() override {
    StatsSnapshot s;
    s.time_ns = now;
    s.start_ns = 0;
    s.reasons = {"pio", "mmio"};
    s.per_vcpu = {{hits, 4}, {6, 0}};
    s.regions = {{"ser8250", "io", 0x3f8, 8, hits}, {"unassigned", "mem", 0, 0, 4}};
    return s;
  }
  std::vector<std::string> device_names() override { return {"ser8250", "ioapic"}; }
  bool has_device(const std::string& n) override { return n == "ser8250" || n == "ioapic"; }
  int vdev_devctl(const std::string& dev, uint32_t cmd, std::string_view in,
                  std::string* out) override {
    if (dev != "ioapic") return ENOTTY;
    last_cmd = cmd;
    last_in = std::string(in);
    *out = "ioapic says hi";
    return 0;
  }
  bool has_console(const std::string& dev) override { return dev == "ser8250"; }
  int console_input(const std::string&, std::string_view data, uint32_t* w) override {
    input.append(data);
    *w = uint32_t(data.size());
    return 0;
  }
};

struct Server {
  TempDir dir;
  FakeTarget target;
  std::unique_ptr<qvm::resmgr::Dispatch> d;
  std::unique_ptr<Control> ctl;
  std::thread th;
  std::string path;
  Server() {
    auto r = qvm::resmgr::Dispatch::Create();
    REQUIRE(r.ok());
    d = std::move(*r);
    ctl = std::make_unique<Control>(d.get(), &target);
    path = dir.path() + "/vm1";
    REQUIRE(ctl->attach(path, "").ok());
    th = std::thread([this] { d->run(); });
  }
  ~Server() {
    d->stop();
    th.join();
    ctl.reset();
  }
  // Runs fn on the loop thread and waits.
  void on_loop(std::function<void()> fn) {
    std::promise<void> done;
    d->post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }
  std::unique_ptr<Client> open(const std::string& name, uint32_t flags = O_RDWR) {
    auto c = Client::open(path, name, flags, absl::Seconds(5));
    REQUIRE(c.ok());
    return std::move(*c);
  }
};

}  // namespace

TEST_CASE("JsonString escapes quotes, backslashes and control characters") {
  CHECK(qvm::JsonString("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(qvm::JsonString("x\ny\t\x01") == "\"x\\ny\\t\\u0001\"");
  CHECK(qvm::JsonString("") == "\"\"");
}

TEST_CASE("statistics: totals, regions and rates against the previous sample") {
  FakeTarget t;
  StatsSnapshot a = t.stats();
  std::string j = qvm::FormatStatsJson(a, nullptr);
  CHECK(j.find("\"total\":{\"pio\":{\"count\":16,\"rate\":8.000}") != std::string::npos);
  CHECK(j.find("{\"device\":\"ser8250\",\"space\":\"io\",\"base\":1016,\"size\":8,"
               "\"count\":10,\"rate\":5.000}") != std::string::npos);
  t.now += 500'000'000;  // 0.5 s later, 20 more hits on vCPU 0 / the UART
  t.hits += 20;
  StatsSnapshot b = t.stats();
  j = qvm::FormatStatsJson(b, &a);
  CHECK(j.find("\"interval_s\":0.500000") != std::string::npos);
  CHECK(j.find("\"total\":{\"pio\":{\"count\":36,\"rate\":40.000}") != std::string::npos);
  CHECK(j.find("\"count\":30,\"rate\":40.000}") != std::string::npos);
  std::string txt = qvm::FormatStatsText(b, &a);
  CHECK(txt.find("ser8250") != std::string::npos);
  CHECK(txt.find("io:0x3f8+0x8") != std::string::npos);
  CHECK(txt.find("pio            all             36         40.0") != std::string::npos);
}

TEST_CASE("control: system node devctls reach the target; unknown ones are ENOTTY") {
  Server s;
  auto c = s.open("");
  auto st = c->devctl(qvm::ctl::kStatus);
  REQUIRE(st.ok());
  CHECK(*st == "state: running\n");
  st = c->devctl(qvm::ctl::kStatus, "json");
  REQUIRE(st.ok());
  CHECK(*st == "{\"state\":\"running\"}\n");
  CHECK(ErrnoOf(c->devctl(qvm::ctl::kStatus, "xml").status()) == EINVAL);
  CHECK(c->devctl(qvm::ctl::kPause).ok());
  CHECK(c->devctl(qvm::ctl::kResume).ok());
  CHECK(c->devctl(qvm::ctl::kReset).ok());
  CHECK(c->devctl(qvm::ctl::kPowerButton).ok());
  CHECK(c->devctl(qvm::ctl::kPowerCut).ok());
  auto d = c->devctl(qvm::ctl::kDump);
  REQUIRE(d.ok());
  CHECK(*d == "/dumps/fake-20240101-000000.gcore");
  auto g = c->devctl(qvm::ctl::kGdb, "tcp:1234");
  REQUIRE(g.ok());
  CHECK(*g == "/run/fake.gdb\n");
  CHECK(s.target.gdb_in == "tcp:1234");
  CHECK(ErrnoOf(c->devctl(qvm::ctl::kGdb, "tcp:1").status()) == EEXIST);
  CHECK(ErrnoOf(c->devctl(0x9999).status()) == ENOTTY);
  s.on_loop([] {});
  CHECK(s.target.pauses == 1);
  CHECK(s.target.resumes == 1);
  CHECK(s.target.resets == 1);
  CHECK(s.target.buttons == 1);
  CHECK(s.target.cuts == 1);
  // Reading the system node lists the names.
  auto l = c->read(1000);
  REQUIRE(l.ok());
  CHECK(*l == "env\nser8250\nioapic\n");
}

TEST_CASE("control: stats rates are per open") {
  Server s;
  auto c = s.open("", O_RDONLY);
  auto a = c->devctl(qvm::ctl::kStats, "json");
  REQUIRE(a.ok());
  CHECK(a->find("\"interval_s\":2.000000") != std::string::npos);  // since start
  s.on_loop([&] { s.target.now += 1'000'000'000; });
  auto b = c->devctl(qvm::ctl::kStats, "json");
  REQUIRE(b.ok());
  CHECK(b->find("\"interval_s\":1.000000") != std::string::npos);
}

TEST_CASE("control: env is a read-only JSON snapshot; unknown names are ENOENT") {
  Server s;
  auto e = s.open("env", O_RDONLY);
  auto r = e->read(5);
  REQUIRE(r.ok());
  CHECK(*r == "{\"sys");
  r = e->read(1000);
  REQUIRE(r.ok());
  CHECK(*r == "tem\":\"fake\",\"n\":1}\n");
  r = e->read(1000);
  REQUIRE(r.ok());
  CHECK(r->empty());
  auto st = e->stat();
  REQUIRE(st.ok());
  CHECK(st->size == 24);
  auto w = Client::open(s.path, "env", O_RDWR, absl::Seconds(5));
  CHECK(ErrnoOf(w.status()) == EACCES);
  auto n = Client::open(s.path, "nosuch", O_RDONLY, absl::Seconds(5));
  CHECK(ErrnoOf(n.status()) == ENOENT);
}

TEST_CASE("control: vdev devctls are routed with their command and input") {
  Server s;
  auto c = s.open("ioapic");
  auto r = c->devctl(77, "dump-redirs");
  REQUIRE(r.ok());
  CHECK(*r == "ioapic says hi");
  s.on_loop([] {});
  CHECK(s.target.last_cmd == 77);
  CHECK(s.target.last_in == "dump-redirs");
  // A device without a console: read/write unsupported.
  CHECK(ErrnoOf(c->read(10).status()) == ENOTSUP);
  CHECK(ErrnoOf(c->write("x").status()) == ENOTSUP);
  auto u = s.open("ser8250");
  CHECK(ErrnoOf(u->devctl(1).status()) == ENOTTY);
}

TEST_CASE("control: console readers see output since their open, each its own copy") {
  Server s;
  s.on_loop([&] { s.ctl->console_output("ser8250", "before"); });
  auto a = s.open("ser8250", O_RDWR | O_NONBLOCK);
  auto b = s.open("ser8250", O_RDONLY | O_NONBLOCK);
  CHECK(ErrnoOf(a->read(100).status()) == EAGAIN);
  s.on_loop([&] {
    CHECK(s.ctl->console_readers("ser8250") == 2);
    s.ctl->console_output("ser8250", "guest says hello");
    s.ctl->console_output("ioapic", "not a console");
  });
  auto ra = a->read(5);
  REQUIRE(ra.ok());
  CHECK(*ra == "guest");
  ra = a->read(100);
  REQUIRE(ra.ok());
  CHECK(*ra == " says hello");
  auto rb = b->read(100);
  REQUIRE(rb.ok());
  CHECK(*rb == "guest says hello");
  // Input goes to the target.
  auto w = a->write("ls\n");
  REQUIRE(w.ok());
  CHECK(*w == 3);
  s.on_loop([] {});
  CHECK(s.target.input == "ls\n");
  // Write-only on a read-only open is refused by the library.
  CHECK(ErrnoOf(b->write("x").status()) == EBADF);
}

TEST_CASE("control: a blocking console read waits for guest output; notify arms") {
  Server s;
  auto n = s.open("ser8250", O_RDONLY | O_NONBLOCK);
  auto ready = n->notify(qvm::resmgr::proto::kNotifyIn, 9);
  REQUIRE(ready.ok());
  CHECK((*ready & qvm::resmgr::proto::kNotifyIn) == 0);
  auto c = s.open("ser8250", O_RDONLY);
  auto fut = std::async(std::launch::async, [&] { return c->read(100); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  s.on_loop([&] { s.ctl->console_output("ser8250", "late"); });
  auto r = fut.get();
  REQUIRE(r.ok());
  CHECK(*r == "late");
  auto ev = n->wait_notify(absl::Seconds(5));
  REQUIRE(ev.ok());
  CHECK(ev->cookie == 9);
  auto rn = n->read(100);
  REQUIRE(rn.ok());
  CHECK(*rn == "late");
}

TEST_CASE("control: a per-reader queue is bounded, keeping the newest bytes") {
  Server s;
  auto c = s.open("ser8250", O_RDONLY | O_NONBLOCK);
  s.on_loop([&] {
    std::string chunk(64 * 1024, 'a');
    for (size_t i = 0; i < Control::kConsoleQueueMax / chunk.size() + 4; i++)
      s.ctl->console_output("ser8250", chunk);
    s.ctl->console_output("ser8250", "END");
  });
  size_t total = 0;
  std::string last;
  for (int i = 0; i < 100; i++) {
    auto r = c->read(qvm::resmgr::proto::kMaxData);
    if (!r.ok()) break;
    total += r->size();
    last = *r;
  }
  CHECK(total == Control::kConsoleQueueMax);
  CHECK(last.substr(last.size() - 3) == "END");
}

TEST_CASE("control: a second attach on a live name fails; the first keeps working") {
  Server s;
  auto d2 = qvm::resmgr::Dispatch::Create();
  REQUIRE(d2.ok());
  FakeTarget t2;
  Control c2(d2->get(), &t2);
  absl::Status st = c2.attach(s.path, "");
  CHECK(ErrnoOf(st) == EADDRINUSE);
  auto c = s.open("");
  CHECK(c->devctl(qvm::ctl::kStatus).ok());
}

TEST_CASE("ResmgrDirectory: resmgr-path and QVM_RESMGR_DIR win and are created") {
  TempDir t;
  std::string want = t.path() + "/configured";
  auto d = qvm::ResmgrDirectory(want);
  REQUIRE(d.ok());
  CHECK(*d == want);
  struct stat st;
  REQUIRE(stat(want.c_str(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  std::string env = t.path() + "/fromenv";
  setenv("QVM_RESMGR_DIR", env.c_str(), 1);
  d = qvm::ResmgrDirectory("");
  auto dirs = qvm::ResmgrSearchDirs();
  unsetenv("QVM_RESMGR_DIR");
  REQUIRE(d.ok());
  CHECK(*d == env);
  REQUIRE(!dirs.empty());
  CHECK(dirs[0] == env);
  // A file in the way is an error, not a crash.
  std::ofstream(t.path() + "/file") << "x";
  CHECK(!qvm::ResmgrDirectory(t.path() + "/file").ok());
}

TEST_CASE("guest dump file names: <system>-YYYYMMDD-hhmmss.gcore") {
  std::string n = qvm::DumpFileName("vm1", 0);
  REQUIRE(n.size() == strlen("vm1-19700101-000000.gcore"));
  CHECK(n.rfind("vm1-19", 0) == 0);
  CHECK(n.substr(n.size() - 6) == ".gcore");
  CHECK(n[12] == '-');
}
