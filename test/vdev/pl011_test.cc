// pl011: transmit and receive with the FIFOs enabled and disabled
// (LCR_H.FEN), flags, interrupt levels, IFLS trigger levels, FDT node and
// hostile accesses, through the fake host with pipes as the host stream.
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "helpers.h"
#include "test/unit/temp_dir.h"

namespace {

constexpr uint64_t kBase = 0x1c090000;
constexpr uint32_t kDR = 0x000, kFR = 0x018, kLCRH = 0x02c, kCR = 0x030, kIFLS = 0x034,
                   kIMSC = 0x038, kRIS = 0x03c, kMIS = 0x040, kICR = 0x044;
constexpr uint32_t FR_BUSY = 0x08, FR_RXFE = 0x10, FR_TXFF = 0x20, FR_RXFF = 0x40,
                   FR_TXFE = 0x80;
constexpr uint32_t INT_RX = 0x10, INT_TX = 0x20, INT_RT = 0x40;
constexpr uint32_t FEN = 0x10, WLEN8 = 0x60;

struct UartFixture : HostFixture {
  qvm_vdev *u = nullptr;
  int out_r = -1, in_w = -1;  // our ends of the host stream pipes

  UartFixture() {
    int out[2], in[2];
    REQUIRE(pipe2(out, O_CLOEXEC | O_NONBLOCK) == 0);
    REQUIRE(pipe2(in, O_CLOEXEC) == 0);
    out_r = out[0];
    in_w = in[1];
    h.hostdevs[">-"] = out[1];  // the host closes these at reset
    h.hostdevs["<-"] = in[0];
    u = make("pl011");
  }
  ~UartFixture() {
    close(out_r);
    close(in_w);
  }
  uint32_t rd(uint32_t off) { return static_cast<uint32_t>(h.mread(u, kBase + off, 4)); }
  void wr(uint32_t off, uint32_t v) { h.mwrite(u, kBase + off, 4, v); }
  int line() const { return u->intr_level.empty() ? -1 : u->intr_level[0]; }
  std::string output() {
    std::string s;
    char buf[256];
    ssize_t n;
    while ((n = read(out_r, buf, sizeof buf)) > 0) s.append(buf, size_t(n));
    return s;
  }
  void type(const std::string &s) {
    REQUIRE(write(in_w, s.data(), s.size()) == ssize_t(s.size()));
    h.poll_fds();
  }
  std::string drain(unsigned max = 8192) {
    std::string s;
    for (unsigned i = 0; i < max && !(rd(kFR) & FR_RXFE); i++) s.push_back(char(rd(kDR) & 0xff));
    return s;
  }
};

}  // namespace

TEST_CASE_METHOD(UartFixture, "pl011: defaults, reset values and PrimeCell IDs", "[pl011]") {
  REQUIRE(u->regions.size() == 1);
  CHECK(u->regions[0].base == kBase);
  CHECK(u->regions[0].size == 0x1000);
  REQUIRE(u->intrs.size() == 1);
  CHECK(u->intrs[0].controller == "gic");
  CHECK(u->intrs[0].line == 37);
  CHECK(rd(kFR) == (FR_TXFE | FR_RXFE));
  CHECK(rd(kLCRH) == 0);  // FIFOs disabled out of reset
  CHECK(rd(kCR) == 0x300);
  CHECK(rd(kIFLS) == 0x12);
  CHECK(rd(kRIS) == 0);
  const uint32_t ids[8] = {0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
  for (unsigned i = 0; i < 8; i++) CHECK(rd(0xfe0 + 4 * i) == ids[i]);
}

TEST_CASE_METHOD(UartFixture, "pl011: transmit with the FIFO enabled and disabled", "[pl011]") {
  for (uint32_t lcrh : {WLEN8 | FEN, WLEN8}) {
    INFO("LCR_H " << lcrh);
    wr(kLCRH, lcrh);
    wr(kCR, 0x301);
    wr(kICR, 0x7ff);
    // The TX interrupt fires on the FIFO draining, not on enabling TXIM
    // with nothing sent (the PL011's documented behaviour).
    wr(kIMSC, INT_TX);
    CHECK((rd(kRIS) & INT_TX) == 0);
    CHECK(line() == 0);
    // Every IFLS transmit level: the byte leaves at once, the FIFO (or the
    // one-byte holding register) is below any trigger level.
    for (uint32_t txlvl = 0; txlvl < 5; txlvl++) {
      wr(kIFLS, (2u << 3) | txlvl);
      wr(kICR, INT_TX);
      CHECK(line() == 0);
      for (char c : std::string("hello")) {
        uint32_t fr = rd(kFR);
        CHECK((fr & FR_TXFF) == 0);
        CHECK((fr & FR_TXFE) != 0);
        CHECK((fr & FR_BUSY) == 0);
        wr(kDR, uint8_t(c));
      }
      CHECK((rd(kFR) & (FR_TXFE | FR_TXFF | FR_BUSY)) == FR_TXFE);
      CHECK((rd(kRIS) & INT_TX) != 0);
      CHECK((rd(kMIS) & INT_TX) != 0);
      CHECK(line() == 1);
      // Masking drops the output, not the raw status.
      wr(kIMSC, 0);
      CHECK(line() == 0);
      CHECK((rd(kRIS) & INT_TX) != 0);
      wr(kIMSC, INT_TX);
      CHECK(line() == 1);
      // ICR acknowledges; it stays clear until the next byte leaves.
      wr(kICR, INT_TX);
      CHECK((rd(kRIS) & INT_TX) == 0);
      CHECK(line() == 0);
      rd(kFR);
      CHECK(line() == 0);
    }
    CHECK(output() == "hellohellohellohellohello");
    wr(kIMSC, 0);
  }
  // Only the low 8 bits of DR are data.
  wr(kDR, 0x1241);
  CHECK(output() == "A");
}

TEST_CASE_METHOD(UartFixture, "pl011: receive FIFO, IFLS trigger levels and timeout", "[pl011]") {
  wr(kLCRH, WLEN8 | FEN);
  wr(kIMSC, INT_RX | INT_RT);
  const unsigned levels[5] = {4, 8, 16, 24, 28};
  for (uint32_t sel = 0; sel < 5; sel++) {
    INFO("RX level select " << sel);
    wr(kIFLS, sel << 3);
    std::string in(levels[sel] - 1, 'x');
    type(in);
    // Below the trigger level: the receive timeout, not RX.
    CHECK((rd(kRIS) & (INT_RX | INT_RT)) == INT_RT);
    CHECK(line() == 1);
    type("y");
    CHECK((rd(kRIS) & (INT_RX | INT_RT)) == INT_RX);
    CHECK((rd(kFR) & FR_RXFE) == 0);
    CHECK(drain() == in + "y");
    CHECK((rd(kRIS) & (INT_RX | INT_RT)) == 0);
    CHECK(line() == 0);
    CHECK((rd(kFR) & FR_RXFE) != 0);
  }
  // More than the FIFO holds waits in the host-side buffer, in order.
  std::string big;
  for (int i = 0; i < 100; i++) big.push_back(char('0' + i % 64));
  type(big);
  CHECK((rd(kFR) & FR_RXFF) != 0);
  CHECK(drain() == big);
  // Reading an empty FIFO gives 0, no interrupt.
  CHECK(rd(kDR) == 0);
  CHECK(line() == 0);
}

TEST_CASE_METHOD(UartFixture, "pl011: receive with the FIFO disabled (one-byte holding register)",
                 "[pl011]") {
  wr(kLCRH, WLEN8);  // FEN clear, as NetBSD runs it
  wr(kIMSC, INT_RX | INT_RT);
  for (uint32_t sel = 0; sel < 5; sel++) {  // IFLS does not matter
    wr(kIFLS, sel << 3);
    type("a");
    CHECK((rd(kFR) & (FR_RXFF | FR_RXFE)) == FR_RXFF);
    CHECK((rd(kRIS) & (INT_RX | INT_RT)) == INT_RX);
    CHECK(line() == 1);
    CHECK(rd(kDR) == 'a');
    CHECK((rd(kFR) & (FR_RXFF | FR_RXFE)) == FR_RXFE);
    CHECK(line() == 0);
  }
  type("abc");
  // One byte at a time: full after each refill.
  for (char c : std::string("abc")) {
    CHECK((rd(kFR) & FR_RXFF) != 0);
    CHECK(rd(kDR) == uint32_t(uint8_t(c)));
  }
  CHECK((rd(kFR) & FR_RXFE) != 0);
  // ICR cannot drop a receive condition while a byte waits.
  type("z");
  wr(kICR, 0x7ff);
  CHECK((rd(kRIS) & INT_RX) != 0);
  CHECK(line() == 1);
  CHECK(rd(kDR) == 'z');
  CHECK(line() == 0);
}

TEST_CASE_METHOD(UartFixture, "pl011: switching FEN with data waiting keeps every byte in order",
                 "[pl011]") {
  wr(kLCRH, WLEN8 | FEN);
  type("0123456789");
  CHECK(rd(kDR) == '0');
  wr(kLCRH, WLEN8);  // FIFO off: one byte visible, the rest waits
  CHECK((rd(kFR) & FR_RXFF) != 0);
  CHECK(rd(kDR) == '1');
  wr(kLCRH, WLEN8 | FEN);
  CHECK((rd(kFR) & FR_RXFF) == 0);
  CHECK(drain() == "23456789");
}

TEST_CASE_METHOD(UartFixture, "pl011: FDT node", "[pl011][fdt]") {
  REQUIRE(h.gen_fdt(u) == 0);
  CHECK(u->fdt_name == "pl011");
  CHECK(u->fdt_compatible == "arm,pl011 arm,primecell");
  // reg/interrupts/clocks are qvm's (from the regions, intr and machine).
  CHECK(h.fdt_prop(u, "reg") == nullptr);
  // A second node from the same instance is refused by the host.
  u->fdt_open = true;
  CHECK(qvm_fdt_node(u, "pl011", "arm,pl011") == -EINVAL);
  u->fdt_open = false;
}

TEST_CASE_METHOD(UartFixture, "pl011: hostile offsets and widths", "[pl011]") {
  uint64_t v = 0;
  for (uint64_t off : {1ull, 2ull, 3ull, 0x19ull, 0xfffull})
    CHECK(h.read(u, QVM_SPACE_MEM, kBase + off, 1, &v) == QVM_BUS_ERROR);
  CHECK(h.write(u, QVM_SPACE_MEM, kBase + 0x2e, 2, 0xffff) == QVM_BUS_ERROR);
  for (uint32_t off = 0; off < 0x1000; off += 4) {
    if (off == kDR) continue;
    for (unsigned size : {1u, 2u, 4u}) {
      CHECK(h.read(u, QVM_SPACE_MEM, kBase + off, size, &v) == QVM_DONE);
      CHECK(h.write(u, QVM_SPACE_MEM, kBase + off, size, 0xffffffff) == QVM_DONE);
    }
  }
  // Reserved bits are not stored; ID registers are read-only.
  CHECK(rd(kLCRH) == 0xff);
  CHECK(rd(kIFLS) == 0x3f);
  CHECK(rd(0xfe0) == 0x11);
  CHECK(output().empty());
  // Reserved IFLS encodings (5-7) behave as half full.
  wr(kICR, 0x7ff);
  wr(kIMSC, 0);
  wr(kLCRH, WLEN8 | FEN);
  wr(kIFLS, 7u << 3);
  type(std::string(15, 'q'));
  CHECK((rd(kRIS) & (INT_RX | INT_RT)) == INT_RT);
  type("q");
  CHECK((rd(kRIS) & (INT_RX | INT_RT)) == INT_RX);
}

TEST_CASE("pl011: QNX's hostdev twice, sched and batch noted", "[pl011]") {
  HostFixture f;
  int out[2], in[2];
  REQUIRE(pipe2(out, O_CLOEXEC | O_NONBLOCK) == 0);
  REQUIRE(pipe2(in, O_CLOEXEC) == 0);
  f.h.hostdevs[">out-test"] = out[1];
  f.h.hostdevs["<in-test"] = in[0];
  fake::Config c;
  c.options = {{"hostdev", ">out-test"}, {"hostdev", "<in-test"},
               {"sched", "10"}, {"batch", "500"}};
  qvm_vdev *u = f.make("pl011", c);
  REQUIRE(f.h.console_specs.size() == 1);
  CHECK(f.h.console_specs[0] == ">out-test");
  REQUIRE(u->watches.size() == 1);  // the `<IN` device
  for (const char *bad : {"x", "", "-1"}) {
    fake::Config b;
    b.options = {{"batch", bad}};
    CHECK(f.h.create("pl011", b) == nullptr);
  }
  fake::Config d;
  d.options = {{"delayed", "5"}};  // with qvm's console: nothing to delay
  CHECK(f.h.create("pl011", d) == nullptr);
  fake::Config two;
  two.options = {{"hostdev", ">out-test"}, {"hostdev", ">out-test"}};
  CHECK(f.h.create("pl011", two) == nullptr);
  close(out[0]);
  close(in[1]);
}

// QNX's `delayed forever` (libuart, as ser8250's): `hostdev PATH` opened
// read/write after the guest's first access, retried until it exists. PATH
// is a terminal that appears later (a symlink to a pseudo-terminal's slave,
// made after that access): what the guest writes then reaches the master.
// (Not a FIFO: opened read/write, the UART would also read back its own
// output as input.)
TEST_CASE("pl011: delayed forever opens PATH after the first access", "[pl011]") {
  HostFixture f;
  qvm::test::TempDir dir;
  std::string tty = dir / "tty";
  fake::Config c;
  c.options = {{"hostdev", tty}, {"delayed", "forever"}};
  qvm_vdev *u = f.make("pl011", c);
  auto has = [&](const char *what) {
    for (const auto &l : fake::LogsOf(u))
      if (l.find(what) != std::string::npos) return true;
    return false;
  };
  f.h.mwrite(u, kBase + kDR, 4, 'a');  // first access: dropped
  usleep(300000);
  CHECK_FALSE(has("opened after"));
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  REQUIRE(master >= 0);
  REQUIRE(grantpt(master) == 0);
  REQUIRE(unlockpt(master) == 0);
  const char *slave = ptsname(master);
  REQUIRE(slave != nullptr);
  REQUIRE(symlink(slave, tty.c_str()) == 0);
  bool opened = false;
  for (int i = 0; i < 2000 && !opened; i++) {
    opened = has("opened after the guest's first access");
    if (!opened) usleep(10000);
  }
  REQUIRE(opened);
  f.h.mwrite(u, kBase + kDR, 4, 'b');
  pollfd p{master, POLLIN, 0};
  REQUIRE(poll(&p, 1, 20000) == 1);  // bounded; passes at once when it works
  char buf[8] = {};
  CHECK(read(master, buf, sizeof buf) == 1);
  CHECK(buf[0] == 'b');
  f.h.reset();
  close(master);
}
