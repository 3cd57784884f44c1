// ser8250: 16550A register model.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "helpers.h"
#include "test/unit/temp_dir.h"

namespace {

constexpr uint16_t B = 0x3f8;
constexpr uint8_t LSR_DR_BIT = 0x01;
enum { RBR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6,
       SCR = 7 };

struct Pipes {
  int out[2] = {-1, -1};
  int in[2] = {-1, -1};
  Pipes() {
    REQUIRE(pipe2(out, O_NONBLOCK) == 0);
    REQUIRE(pipe2(in, O_NONBLOCK) == 0);
  }
  ~Pipes() {
    for (int fd : {out[0], out[1], in[0], in[1]})
      if (fd >= 0) close(fd);
  }
  std::string drain() {
    std::string s;
    char buf[256];
    ssize_t n;
    while ((n = read(out[0], buf, sizeof buf)) > 0) s.append(buf, n);
    return s;
  }
};

struct UartFixture : HostFixture {
  Pipes p;
  qvm_vdev *u = nullptr;
  UartFixture() {
    h.hostdevs[">-"] = dup(p.out[1]);
    h.hostdevs["<-"] = dup(p.in[0]);
    u = make("ser8250");
  }
  uint8_t rd(int r) { return static_cast<uint8_t>(h.inb(u, B + r)); }
  void wr(int r, uint8_t v) { h.outb(u, B + r, v); }
  // Writes host input into qvm's console relay pipe and lets the device
  // take it.
  void feed(const std::string &s) {
    REQUIRE(s.size() <= 512);
    REQUIRE(write(p.in[1], s.data(), s.size()) == (ssize_t)s.size());
    REQUIRE(u->watches.size() == 1);
    struct pollfd pf = {u->watches[0].fd, POLLIN, 0};
    REQUIRE(poll(&pf, 1, 5000) == 1);
    int left = -1;
    for (int i = 0; i < 4 && left != 0; i++) {
      h.poll_fds();
      REQUIRE(ioctl(u->watches[0].fd, FIONREAD, &left) == 0);
    }
    REQUIRE(left == 0);
  }
};

}  // namespace

TEST_CASE_METHOD(UartFixture, "ser8250: defaults and idle IIR", "[ser8250]") {
  REQUIRE(u->regions.size() == 1);
  CHECK(u->regions[0].space == QVM_SPACE_IO);
  CHECK(u->regions[0].base == 0x3f8);
  CHECK(u->regions[0].size == 8);
  REQUIRE(u->intrs.size() == 1);
  CHECK(u->intrs[0].controller == "ioapic");
  CHECK(u->intrs[0].line == 4);
  CHECK(rd(IIR) == 0x01);
  CHECK(rd(LSR) == 0x60);
  CHECK(rd(MSR) == 0xB0);  // connected host: DCD, DSR, CTS
  wr(FCR, 0x07);
  CHECK(rd(IIR) == 0xC1);
  CHECK(u->intr_level[0] == 0);
}

TEST_CASE_METHOD(UartFixture, "ser8250: THRE interrupt semantics", "[ser8250]") {
  wr(FCR, 0x01);
  wr(IER, 0x02);  // ETBEI with THR empty raises THRE at once
  CHECK(u->intr_level[0] == 1);
  CHECK(rd(IIR) == 0xC2);  // reading IIR with THRE as source clears it
  CHECK(u->intr_level[0] == 0);
  CHECK(rd(IIR) == 0xC1);
  wr(RBR, 'A');  // THR write -> sent -> THR empty again
  CHECK(u->intr_level[0] == 1);
  CHECK(p.drain() == "A");
  wr(IER, 0x00);
  CHECK(u->intr_level[0] == 0);
  CHECK(rd(IIR) == 0xC1);
  // Linux's THRE re-assert test: IER=THRI, read IIR, IER=0, IER=THRI again.
  wr(IER, 0x02);
  uint8_t iir1 = rd(IIR);
  wr(IER, 0x00);
  wr(IER, 0x02);
  uint8_t iir2 = rd(IIR);
  CHECK((iir1 & 1) == 0);
  CHECK((iir2 & 1) == 0);
  CHECK(u->rises(0) >= 3);
}

TEST_CASE_METHOD(UartFixture, "ser8250: DLAB selects divisor latches", "[ser8250]") {
  wr(IER, 0x05);
  wr(LCR, 0x83);
  wr(0, 0x01);
  wr(1, 0x02);
  CHECK(rd(0) == 0x01);
  CHECK(rd(1) == 0x02);
  CHECK(p.drain().empty());
  wr(LCR, 0x03);
  CHECK(rd(IER) == 0x05);  // IER untouched by DLM writes
  CHECK(rd(LCR) == 0x03);
  wr(0, 'x');
  CHECK(p.drain() == "x");
  wr(SCR, 0x5a);
  CHECK(rd(SCR) == 0x5a);
}

TEST_CASE_METHOD(UartFixture, "ser8250: loopback and MSR deltas", "[ser8250]") {
  // Linux autoconfig: MCR = LOOP | RTS | OUT2 -> MSR top nibble 0x90.
  wr(MCR, 0x1A);
  uint8_t msr = rd(MSR);
  CHECK((msr & 0xF0) == 0x90);
  CHECK((msr & 0x02) != 0);  // DSR dropped: delta DSR
  CHECK((rd(MSR) & 0x0F) == 0);  // deltas clear on read
  wr(MCR, 0x1F);  // + DTR, OUT1 -> DSR, RI
  CHECK((rd(MSR) & 0xF0) == 0xF0);
  wr(MCR, 0x1B);  // OUT1 off -> RI 1->0 -> TERI
  CHECK((rd(MSR) & 0x04) != 0);
  // Loopback data goes to the receiver, not the host.
  wr(FCR, 0x01);
  wr(RBR, 'Q');
  wr(RBR, 'R');
  CHECK(p.drain().empty());
  CHECK((rd(LSR) & 0x01) == 1);
  CHECK(rd(RBR) == 'Q');
  CHECK(rd(RBR) == 'R');
  CHECK((rd(LSR) & 0x01) == 0);
  wr(MCR, 0x00);
  CHECK((rd(MSR) & 0xF0) == 0xB0);
}

TEST_CASE_METHOD(UartFixture, "ser8250: IIR priorities", "[ser8250]") {
  // No FIFO: two loopback bytes overrun the holding register.
  wr(MCR, 0x10);
  rd(MSR);
  wr(RBR, 1);
  wr(RBR, 2);
  wr(MCR, 0x12);  // RTS -> CTS changes: modem status pending
  wr(IER, 0x0F);
  CHECK(rd(IIR) == 0x06);  // line status first
  CHECK((rd(LSR) & 0x03) == 0x03);  // OE + DR; OE clears
  CHECK(rd(IIR) == 0x04);  // rx data
  CHECK(rd(RBR) == 2);     // 16450 mode: the newer byte overwrote
  CHECK(rd(IIR) == 0x02);  // THRE (cleared by this read)
  CHECK(rd(IIR) == 0x00);  // modem status
  rd(MSR);
  CHECK(rd(IIR) == 0x01);
  CHECK(u->intr_level[0] == 0);
}

TEST_CASE_METHOD(UartFixture, "ser8250: host input, FIFO trigger and timeout", "[ser8250]") {
  wr(FCR, 0xC7);  // FIFO, trigger 14
  wr(IER, 0x01);
  feed("hello");
  CHECK(rd(IIR) == 0xCC);  // below trigger: character timeout
  CHECK(u->intr_level[0] == 1);
  wr(FCR, 0x41);  // trigger 4 (no clear)
  CHECK(rd(IIR) == 0xC4);
  std::string got;
  while (rd(LSR) & 1) got += static_cast<char>(rd(RBR));
  CHECK(got == "hello");
  CHECK(u->intr_level[0] == 0);
  // More than the FIFO holds: staged, nothing lost, no overrun.
  std::string big(40, 'z');
  for (int i = 0; i < 40; i++) big[i] = static_cast<char>('a' + i % 26);
  feed(big);
  got.clear();
  for (int i = 0; i < 100 && (rd(LSR) & 1); i++) {
    got += static_cast<char>(rd(RBR));
  }
  CHECK(got == big);
  CHECK((rd(LSR) & 0x02) == 0);
  // FCR bit 1 clears the receive FIFO.
  feed("abc");
  wr(FCR, 0x43);
  CHECK((rd(LSR) & 1) == 0);
}

TEST_CASE_METHOD(UartFixture, "ser8250: host input EOF does not spin", "[ser8250]") {
  wr(IER, 0x01);
  feed("bye");
  close(p.in[1]);
  p.in[1] = -1;
  // Once host input ends (EOF on the relay pipe), the device stops
  // watching it, or a level-triggered event loop would spin on it.
  REQUIRE(u->watches.size() == 1);
  h.poll_fds();
  CHECK(u->watches.empty());
  std::string got;
  while (rd(LSR) & 1) got += static_cast<char>(rd(RBR));
  CHECK(got == "bye");
}

TEST_CASE_METHOD(UartFixture, "ser8250: reset restores power-on state", "[ser8250]") {
  wr(LCR, 0x83);
  wr(FCR, 0x07);
  wr(IER, 0x0F);
  wr(MCR, 0x1F);
  REQUIRE(h.control(u, QVM_CTRL_RESET) == 0);
  CHECK(rd(LCR) == 0);
  CHECK(rd(IER) == 0);
  CHECK(rd(MCR) == 0);
  CHECK(rd(IIR) == 0x01);
  CHECK(rd(LSR) == 0x60);
  CHECK(u->intr_level[0] == 0);
}

TEST_CASE("ser8250: memory space with regshift", "[ser8250]") {
  HostFixture f;
  int out[2];
  REQUIRE(pipe2(out, O_NONBLOCK) == 0);
  f.h.hostdevs[">/dev/null-test"] = out[1];
  fake::Config c;
  c.locs.push_back({QVM_SPACE_MEM, 0x10000000});
  c.options = {{"regshift", "2"}, {"hostdev", ">/dev/null-test"}};
  qvm_vdev *u = f.make("ser8250", c);
  REQUIRE(u->regions[0].space == QVM_SPACE_MEM);
  CHECK(u->regions[0].size == 32);
  CHECK(u->watches.empty());  // a file/pipe output has no input side
  f.h.mwrite(u, 0x10000000 + 7 * 4, 4, 0xA5);
  CHECK(f.h.mread(u, 0x10000000 + 7 * 4, 4) == 0xA5);
  f.h.mwrite(u, 0x10000000 + 2 * 4, 4, 0x01);
  CHECK(f.h.mread(u, 0x10000000 + 2 * 4, 4) == 0xC1);
  CHECK(f.h.mread(u, 0x10000000 + 2 * 4 + 1, 1) == 0);  // between registers
  f.h.mwrite(u, 0x10000000, 4, 'M');
  char ch = 0;
  CHECK(read(out[0], &ch, 1) == 1);
  CHECK(ch == 'M');
  close(out[0]);
}

TEST_CASE("ser8250: option errors", "[ser8250]") {
  HostFixture f;
  fake::Config c;
  c.options = {{"regshift", "9"}};
  CHECK(f.h.create("ser8250", c) == nullptr);
  CHECK(f.h.last_rc < 0);
  c.options = {{"regshift", "abc"}};
  CHECK(f.h.create("ser8250", c) == nullptr);
  c.options = {{"hostdev", "<input-only"}};
  CHECK(f.h.create("ser8250", c) == nullptr);
  fake::Config c2;
  c2.locs.push_back({QVM_SPACE_PCI_CFG, 0});
  CHECK(f.h.create("ser8250", c2) == nullptr);
}

TEST_CASE("ser8250: two instances keep separate state", "[ser8250]") {
  HostFixture f;
  qvm::test::TempDir dir;
  fake::Config a, b;
  a.options = {{"hostdev", ">" + (dir / "a.out")}};
  b.options = {{"hostdev", ">" + (dir / "b.out")}};
  b.locs.push_back({QVM_SPACE_IO, 0x2f8});
  b.intrs.push_back({"ioapic", 3});
  qvm_vdev *u1 = f.make("ser8250", a);
  qvm_vdev *u2 = f.make("ser8250", b);
  f.h.outb(u1, 0x3f8 + 7, 0x11);
  f.h.outb(u2, 0x2f8 + 7, 0x22);
  CHECK(f.h.inb(u1, 0x3f8 + 7) == 0x11);
  CHECK(f.h.inb(u2, 0x2f8 + 7) == 0x22);
  CHECK(u2->intrs[0].line == 3);
  f.h.outb(u1, 0x3f8, 'k');
  f.h.reset();
  FILE *fp = fopen((dir / "a.out").c_str(), "r");
  REQUIRE(fp);
  CHECK(fgetc(fp) == 'k');
  fclose(fp);
}

TEST_CASE_METHOD(UartFixture, "ser8250: input beyond FIFO + staging overruns", "[ser8250]") {
  wr(FCR, 0x01);
  std::string all;
  for (int i = 0; i < 10; i++) {
    std::string chunk(500, static_cast<char>('0' + i));
    feed(chunk);
    all += chunk;
  }
  CHECK((rd(LSR) & 0x03) == 0x03);  // data + overrun (read clears OE)
  CHECK((rd(LSR) & 0x02) == 0);
  std::string got;
  for (int i = 0; i < 10000 && (rd(LSR) & 1); i++)
    got += static_cast<char>(rd(RBR));
  CHECK(got.size() == 4096 + 16);
  CHECK(got == all.substr(0, got.size()));  // in order, nothing reordered
  feed(std::string(500, 'x'));
  CHECK((rd(LSR) & 0x02) == 0);  // room again: no overrun
}

TEST_CASE_METHOD(UartFixture, "ser8250: its console comes from qvm_console_open, input from qvm's relay pipe", "[ser8250]") {
  REQUIRE(h.console_specs.size() == 1);
  CHECK(h.console_specs[0] == ">-");
  // The device watches the very pipe the host handed out (no relay thread
  // and no pipe of its own in between).
  REQUIRE(u->watches.size() == 1);
  struct stat a, b;
  REQUIRE(fstat(u->watches[0].fd, &a) == 0);
  REQUIRE(fstat(p.in[0], &b) == 0);
  CHECK(a.st_ino == b.st_ino);
  feed("x");
  CHECK(rd(RBR) == 'x');
}

TEST_CASE("ser8250: QNX's sched and batch have no effect", "[ser8250]") {
  HostFixture f;
  Pipes p;
  f.h.hostdevs[">-"] = dup(p.out[1]);
  f.h.hostdevs["<-"] = dup(p.in[0]);
  fake::Config c;
  c.options = {{"sched", "10"}, {"batch", "500"}};
  CHECK(f.h.create("ser8250", c) != nullptr);
  for (const char *bad : {"x", "", "-1"}) {
    fake::Config b;
    b.options = {{"sched", bad}};
    CHECK(f.h.create("ser8250", b) == nullptr);
  }
  fake::Config io;
  io.options = {{"hostvector", "32"}};
  CHECK(f.h.create("ioapic", io) == nullptr);
}

TEST_CASE("ser8250: hostdev twice: <IN and >OUT (QNX), the repeat flag, errors", "[ser8250]") {
  HostFixture f;
  Pipes p;
  f.h.hostdevs[">out-test"] = dup(p.out[1]);
  f.h.hostdevs["<in-test"] = dup(p.in[0]);
  fake::Config c;
  c.options = {{"hostdev", "<in-test"}, {"hostdev", ">out-test"}};
  qvm_vdev *u = f.make("ser8250", c);
  REQUIRE(f.h.console_specs.size() == 1);
  CHECK(f.h.console_specs[0] == ">out-test");  // the output alone
  f.h.outb(u, B + 0, 'o');
  CHECK(p.drain() == "o");
  // The input is the `<IN` device, watched by the device.
  REQUIRE(u->watches.size() == 1);
  REQUIRE(write(p.in[1], "i", 1) == 1);
  struct pollfd pf = {u->watches[0].fd, POLLIN, 0};
  REQUIRE(poll(&pf, 1, 5000) == 1);
  f.h.poll_fds();
  CHECK((f.h.inb(u, B + LSR) & 1) == 1);
  CHECK(f.h.inb(u, B + RBR) == 'i');
  const uint32_t *flags = u->factory->option_flags;
  REQUIRE(flags != nullptr);
  CHECK(std::string(u->factory->options[0]) == "hostdev");
  CHECK(flags[0] == QVM_OPTF_REPEAT);
  // At most one input and one output (a command pipe is one); a pipe
  // without a command is refused.
  const std::vector<std::vector<std::string>> bad = {
      {">out-test", ">out-test"}, {"<in-test", "<in-test"}, {"-", "<in-test"},
      {"<in-test", "-"}, {">|cat", ">out-test"}, {">|"}, {">| "}, {"<missing-input"}};
  for (const auto &vals : bad) {
    fake::Config b;
    for (const auto &v : vals) b.options.push_back({"hostdev", v});
    INFO(vals[0]);
    CHECK(f.h.create("ser8250", b) == nullptr);
  }
}

namespace {
// The process the device piped its output to, from its log line.
pid_t PipedPid(const qvm_vdev *u) {
  for (const auto &l : u->logs) {
    auto at = l.find("output piped to process ");
    if (at != std::string::npos) return pid_t(std::stol(l.substr(at + 24)));
  }
  return 0;
}
}  // namespace

// QNX 8.0's `hostdev >"|COMMAND"`: the output goes to `/bin/sh -c COMMAND`
// through a pipe, started at GUEST_CONFIGURED; at TERMINATE the pipe closes
// (the command finishes its input) and the command is reaped; one that
// ignores its input is ended (SIGTERM after 2 s) and reaped. Neither outlives
// the device. (native/uart-pipe* run the same through qvm.)
TEST_CASE("ser8250: hostdev >\"|COMMAND\" pipes the output; the command is reaped", "[ser8250]") {
  HostFixture f;
  qvm::test::TempDir dir;
  fake::Config c;
  c.options = {{"hostdev", ">|cat > " + (dir / "out")}};
  qvm_vdev *u = f.make("ser8250", c);
  CHECK(f.h.console_specs.empty());   // no console: the pipe is the output
  pid_t pid = PipedPid(u);
  REQUIRE(pid > 0);
  for (char ch : std::string("piped\n")) f.h.outb(u, B + 0, uint8_t(ch));
  f.h.reset();                        // TERMINATE
  CHECK(kill(pid, 0) == -1);
  CHECK(errno == ESRCH);              // reaped: not even a zombie
  FILE *fp = fopen((dir / "out").c_str(), "r");
  REQUIRE(fp);
  char buf[16] = {};
  CHECK(fread(buf, 1, sizeof buf - 1, fp) == 6);
  fclose(fp);
  CHECK(std::string(buf) == "piped\n");

  fake::Config s;
  s.options = {{"hostdev", ">|exec sleep 1000"}};
  u = f.make("ser8250", s);
  pid = PipedPid(u);
  REQUIRE(pid > 0);
  f.h.outb(u, B + 0, 'x');
  f.h.reset();
  CHECK(kill(pid, 0) == -1);
  CHECK(errno == ESRCH);

  // a command that exits: reaped, its status logged; the writes after it
  // fail (EPIPE) and are dropped with one log line. qvm's main() ignores
  // SIGPIPE (a plug-in installs no handlers); so does this process here.
  struct sigaction ign = {}, old = {};
  ign.sa_handler = SIG_IGN;
  REQUIRE(sigaction(SIGPIPE, &ign, &old) == 0);
  fake::Config e;
  e.options = {{"hostdev", ">|exit 3"}};
  u = f.make("ser8250", e);
  pid = PipedPid(u);
  REQUIRE(pid > 0);
  auto has = [&](const char *what) {
    for (const auto &l : fake::LogsOf(u))
      if (l.find(what) != std::string::npos) return true;
    return false;
  };
  // bounded only so that a broken reaper fails instead of hanging
  for (int i = 0; i < 3000 && !has("exited with status 3"); i++) usleep(10000);
  CHECK(has("the command exited with status 3; further output is dropped"));
  CHECK(kill(pid, 0) == -1);          // reaped by the device's reaper
  for (int i = 0; i < 3; i++) f.h.outb(u, B + 0, 'y');
  CHECK(has("host output failed, dropping bytes"));
  f.h.reset();
  sigaction(SIGPIPE, &old, nullptr);
}

namespace {

bool LogHas(const qvm_vdev *u, const char *what) {
  for (const auto &l : fake::LogsOf(u))
    if (l.find(what) != std::string::npos) return true;
  return false;
}

// Waits up to 20 s (a loaded host) for `what` in the device's log.
bool WaitLog(const qvm_vdev *u, const char *what) {
  for (int i = 0; i < 2000; i++) {
    if (LogHas(u, what)) return true;
    usleep(10000);
  }
  return false;
}

}  // namespace

// QNX's `delayed SECONDS|forever`: its values, and what cannot be delayed
// (qvm's console, a `>|COMMAND`): refused with the reason.
TEST_CASE("ser8250: delayed: values and what can be delayed", "[ser8250]") {
  HostFixture f;
  qvm::test::TempDir dir;
  for (const char *v : {"0", "5", "forever", "2147483647"}) {
    INFO(v);
    fake::Config c;
    c.options = {{"hostdev", dir / "tty"}, {"delayed", v}};
    qvm_vdev *u = f.h.create("ser8250", c);
    CHECK(u != nullptr);
    f.h.reset();  // TERMINATE before any access: the opener ends
  }
  for (const char *v : {"", "x", "-1", "5s", "0x10", "2147483648", "Forever"}) {
    INFO(v);
    fake::Config c;
    c.options = {{"hostdev", dir / "tty"}, {"delayed", v}};
    CHECK(f.h.create("ser8250", c) == nullptr);
  }
  Pipes p;
  f.h.hostdevs[">-"] = dup(p.out[1]);
  f.h.hostdevs["<-"] = dup(p.in[0]);
  for (std::vector<std::string> hd : std::vector<std::vector<std::string>>{
           {}, {"-"}, {">-"}, {">|cat"}, {"<-", ">" + (dir / "out")}}) {
    fake::Config c;
    for (const auto &v : hd) c.options.push_back({"hostdev", v});
    c.options.push_back({"delayed", "5"});
    qvm_vdev *u = f.h.create("ser8250", c);
    CHECK(u == nullptr);
  }
  f.h.reset();
}

// `hostdev <IN hostdev >OUT delayed 20`: nothing is opened before the
// guest's first access; then the opener retries while IN and OUT are
// missing (OUT, a FIFO without a reader, is "not found" too), output
// written meanwhile is dropped; once both exist the guest's output
// reaches OUT and IN's bytes reach the receiver (polled by the opener
// thread under the instance lock). TERMINATE ends the thread.
TEST_CASE("ser8250: delayed opens the host side after the first access, retrying", "[ser8250]") {
  HostFixture f;
  qvm::test::TempDir dir;
  std::string in = dir / "in", out = dir / "out";
  fake::Config c;
  c.options = {{"hostdev", "<" + in}, {"hostdev", ">" + out}, {"delayed", "20"}};
  qvm_vdev *u = f.make("ser8250", c);
  REQUIRE(u->threads.size() == 1);
  CHECK(u->threads[0] == "uart-open");
  CHECK(u->watches.empty());
  usleep(200000);
  CHECK_FALSE(LogHas(u, "opened after"));
  f.h.outb(u, B + 0, 'a');  // the first access: dropped, the opener starts trying
  REQUIRE(mkfifo(in.c_str(), 0600) == 0);
  usleep(300000);
  CHECK_FALSE(LogHas(u, "opened after"));  // OUT still missing
  REQUIRE(mkfifo(out.c_str(), 0600) == 0);
  usleep(300000);
  CHECK_FALSE(LogHas(u, "opened after"));  // OUT has no reader: ENXIO, retried
  int rfd = open(out.c_str(), O_RDONLY | O_NONBLOCK);
  REQUIRE(rfd >= 0);
  REQUIRE(WaitLog(u, "opened after the guest's first access"));
  f.h.outb(u, B + 0, 'b');
  char buf[8] = {};
  CHECK(read(rfd, buf, sizeof buf) == 1);
  CHECK(buf[0] == 'b');  // 'a' was written before the open: dropped
  int wfd = open(in.c_str(), O_WRONLY | O_NONBLOCK);
  REQUIRE(wfd >= 0);
  REQUIRE(write(wfd, "z", 1) == 1);
  bool got = false;
  for (int i = 0; i < 2000 && !got; i++) {
    got = (f.h.inb(u, B + LSR) & LSR_DR_BIT) != 0;
    if (!got) usleep(10000);
  }
  REQUIRE(got);
  CHECK(f.h.inb(u, B + RBR) == 'z');
  close(wfd);  // end of input: the opener stops polling it
  f.h.reset();
  close(rfd);
}

// `delayed 0`: one try; a missing device is logged and the UART stays
// without a host side (output dropped, nothing crashes).
TEST_CASE("ser8250: delayed 0 tries once", "[ser8250]") {
  HostFixture f;
  qvm::test::TempDir dir;
  fake::Config c;
  c.options = {{"hostdev", dir / "missing"}, {"delayed", "0"}};
  qvm_vdev *u = f.make("ser8250", c);
  f.h.outb(u, B + 0, 'a');
  REQUIRE(WaitLog(u, "after 1 tries"));
  CHECK(LogHas(u, "No such file or directory"));
  f.h.outb(u, B + 0, 'b');
  f.h.reset();
}
