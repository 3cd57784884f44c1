// Shared helpers for the vdev tests.
#pragma once

#include <catch2/catch.hpp>

#include "test/fakehost/fake_host.h"

// Gives each test a clean fake host (and cleans up after it).
struct HostFixture {
  fake::Host &h = fake::Host::get();
  HostFixture() { h.reset(); }
  ~HostFixture() { h.reset(); }
  qvm_vdev *make(const std::string &type, const fake::Config &cfg = {}) {
    qvm_vdev *d = h.create(type, cfg);
    REQUIRE(d != nullptr);
    return d;
  }
};

inline fake::Config cfg_intr(const std::string &ctrl, unsigned line) {
  fake::Config c;
  c.intrs.push_back({ctrl, line});
  return c;
}

inline fake::Config cfg_loc(uint32_t space, uint64_t base) {
  fake::Config c;
  c.locs.push_back({space, base});
  return c;
}

constexpr uint64_t kMs = 1000000ull;
constexpr uint64_t kUs = 1000ull;
constexpr uint64_t kSec = 1000000000ull;

// The watchdogs' (libwdt) `action` values with QNX's dump and the follow-up
// each hands qvm_guest_dump.
struct WdtDumpCase {
  const char *action;
  int then;
};
inline constexpr WdtDumpCase kWdtDumpCases[] = {{"dump,terminate", QVM_POWER_WATCHDOG},
                                                {"dump", QVM_POWER_WATCHDOG},
                                                {"dump,reset", QVM_POWER_RESET}};
