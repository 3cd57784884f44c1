// Hostile guests: random register traffic, odd sizes and offsets, random
// interrupt-controller input, resets and clock jumps must never crash a
// device, and must not make it flood the host with timer events.
#include <fcntl.h>

#include <random>
#include <string>

#include "helpers.h"

namespace {

const char *const kDevices[] = {"ser8250",  "8259",       "ioapic",
                                "timer8254", "mc146818",  "pckeyboard",
                                "acpi-pm",  "debug-exit"};

void hammer(fake::Host &h, qvm_vdev *d, uint32_t seed, int ops) {
  std::mt19937 rng(seed);
  const unsigned sizes[] = {1, 2, 4, 8};
  const qvm_pic_ops *pic = d->factory->pic;
  for (int i = 0; i < ops; i++) {
    unsigned what = rng() % 100;
    if (what < 45 || what >= 90) {
      const fake::Region &r = d->regions[rng() % d->regions.size()];
      uint64_t off = rng() % r.size;
      unsigned size = sizes[rng() % 4];
      uint64_t v = (uint64_t(rng()) << 32) | rng();
      // Bias toward interesting bytes: commands, all-ones, zero.
      if (rng() % 4 == 0) v = (rng() % 2) ? ~0ull : 0;
      uint64_t out = 0;
      int rc = (what < 45) ? h.write(d, r.space, r.base + off, size, v)
                           : h.read(d, r.space, r.base + off, size, &out);
      REQUIRE((rc == QVM_DONE || rc == QVM_BUS_ERROR));
    } else if (what < 60) {
      h.advance((rng() % 2000) * kUs);
    } else if (what < 75 && pic) {
      unsigned line = rng() % 40;
      int rc = pic->set_line(d, d->state, line, rng() % 2);
      if (line < pic->line_count(d, d->state))
        REQUIRE(rc == 0);
      else
        REQUIRE(rc == -EINVAL);
      if (pic->inta) {
        int v = pic->inta(d, d->state);
        REQUIRE(v >= -1);
        REQUIRE(v <= 255);
      }
      if (pic->eoi) pic->eoi(d, d->state, rng() % 512);
    } else if (what < 77) {
      REQUIRE(h.control(d, QVM_CTRL_RESET) == 0);
    } else if (what < 78) {
      h.control(d, QVM_CTRL_STATUS);
    } else if (what < 80) {
      h.control(d, QVM_CTRL_POWER_BUTTON);
    } else if (what < 82) {
      h.advance((rng() % 5000) * kMs);  // clock jumps
    }
  }
}

}  // namespace

TEST_CASE("hostile: random register traffic on every device", "[hostile]") {
  for (const char *type : kDevices) {
    DYNAMIC_SECTION(type) {
      HostFixture f;
      f.h.hostdevs[">-"] = open("/dev/null", O_WRONLY | O_CLOEXEC);
      qvm_vdev *d = f.make(type);
      uint64_t t0 = f.h.now();
      hammer(f.h, d, 12345u + static_cast<uint32_t>(std::string(type).size()),
             30000);
      // Timer events stay bounded by the 100 us floor (PIT) and the RTC's
      // fastest rate (8192 Hz).
      uint64_t elapsed = f.h.now() - t0;
      uint64_t fired = 0;
      for (auto *t : d->timers) fired += t->fired;
      CHECK(fired <= elapsed / (100 * kUs) + 16 + elapsed / 122070);
      // Interrupt lines stay 0/1.
      for (auto &log : d->intr_log)
        for (int l : log) CHECK((l == 0 || l == 1));
    }
  }
}

TEST_CASE("hostile: PIT minimal periods cannot flood the host", "[hostile][pit]") {
  HostFixture f;
  qvm_vdev *t = f.make("timer8254");
  for (uint8_t mode : {0x34, 0x36, 0x3C}) {  // modes 2, 3, 6(=2)
    f.h.outb(t, 0x43, mode);
    f.h.outb(t, 0x40, 1);
    f.h.outb(t, 0x40, 0);
    int before = t->rises(0);
    f.h.advance(100 * kMs);
    CHECK(t->rises(0) - before <= 1001);
  }
}

TEST_CASE("hostile: ioapic odd accesses", "[hostile][ioapic]") {
  HostFixture f;
  qvm_vdev *io = f.make("ioapic");
  const uint64_t B = 0xFEC00000;
  f.h.mwrite(io, B, 1, 0xFF);  // no such register
  CHECK(f.h.mread(io, B + 0x10, 4) == 0);
  f.h.mwrite(io, B + 0x10, 4, 0xFFFFFFFF);
  f.h.mwrite(io, B, 4, 0x3F);  // last RTE high half
  f.h.mwrite(io, B + 0x10, 4, 0xFFFFFFFF);
  CHECK(f.h.mread(io, B + 0x10, 4) == 0xFF000000);  // only the destination
  f.h.mwrite(io, B, 4, 0x3E);
  f.h.mwrite(io, B + 0x10, 4, 0xFFFFFFFF);
  // Delivery status and remote IRR are not writable.
  CHECK(f.h.mread(io, B + 0x10, 4) == (0x1FFFFu & ~((1u << 12) | (1u << 14))));
  CHECK(f.h.mread(io, B + 0x10, 8) == 0);  // crosses IOWIN: ignored
  CHECK(f.h.mread(io, B + 0xFFF, 1) == 0);
  f.h.mwrite(io, B + 0xFFC, 8, ~0ull);
  // Byte access to IOWIN merges.
  f.h.mwrite(io, B, 4, 0x10);
  f.h.mwrite(io, B + 0x10, 1, 0x42);
  CHECK((f.h.mread(io, B + 0x10, 4) & 0xFF) == 0x42);
}

TEST_CASE("hostile: config errors are refused", "[hostile]") {
  HostFixture f;
  for (const char *type : kDevices) {
    if (std::string(type) == "ser8250" || std::string(type) == "debug-exit")
      continue;
    fake::Config c;
    c.locs.push_back({QVM_SPACE_PCI_CFG, 0});
    CHECK(f.h.create(type, c) == nullptr);
  }
  // Overlapping regions are reported.
  f.make("timer8254");
  fake::Config c;
  c.locs.push_back({QVM_SPACE_IO, 0x42});
  CHECK(f.h.create("debug-exit", c) == nullptr);
  CHECK(f.h.last_rc == -EEXIST);
}
