// Bus: checked range arithmetic, overlap rejection, zero-filled reads.
#include <catch2/catch.hpp>

#include <cstring>

#include "vmm/bus.h"

namespace {

using qvm::Bus;
using qvm::BusAccess;
using qvm::BusStatus;

struct FakeDev : qvm::BusDevice {
  std::string n;
  BusAccess last{};
  int reads = 0, writes = 0;
  uint8_t leave[8] = {};  // bytes a read fills (none by default)
  size_t leave_n = 0;
  explicit FakeDev(std::string name) : n(std::move(name)) {}
  BusStatus read(const BusAccess& a, uint8_t* d) override {
    last = a;
    reads++;
    std::memcpy(d, leave, std::min<size_t>(leave_n, a.size));
    return BusStatus::Done;
  }
  BusStatus write(const BusAccess& a, const uint8_t*) override {
    last = a;
    writes++;
    return BusStatus::Done;
  }
  std::string bus_name() const override { return n; }
};

}  // namespace

TEST_CASE("bus rejects empty, wrapping and out-of-limit regions") {
  Bus io("io", 0x10000);
  FakeDev d("d");
  CHECK_FALSE(io.insert(0x10, 0, &d, 0).ok());
  CHECK_FALSE(io.insert(0xfff0, 0x20, &d, 0).ok());  // past the limit
  Bus mem("mmio", 0);
  CHECK_FALSE(mem.insert(~0ull - 3, 8, &d, 0).ok());  // wraps
  CHECK(mem.insert(~0ull - 7, 8, &d, 0).ok());         // ends exactly at 2^64
}

TEST_CASE("bus rejects overlaps on either side and accepts neighbours") {
  Bus io("io", 0x10000);
  FakeDev a("a"), b("b");
  REQUIRE(io.insert(0x100, 0x10, &a, 0).ok());
  auto st = io.insert(0x108, 0x10, &b, 0);
  CHECK(absl::IsAlreadyExists(st));
  CHECK(std::string(st.message()).find("overlaps") != std::string::npos);
  CHECK(absl::IsAlreadyExists(io.insert(0xf8, 0x9, &b, 0)));
  CHECK(absl::IsAlreadyExists(io.insert(0x0, 0x1000, &b, 0)));
  CHECK(io.insert(0x110, 0x10, &b, 0).ok());
  CHECK(io.insert(0xf0, 0x10, &b, 1).ok());
  CHECK(io.regions().size() == 3);
}

TEST_CASE("bus dispatches with region offset and index") {
  Bus io("io", 0x10000);
  FakeDev a("a");
  REQUIRE(io.insert(0x3f8, 8, &a, 2).ok());
  uint8_t data[4] = {1, 2, 3, 4};
  CHECK(io.write(0x3fa, 2, data, 1) == BusStatus::Done);
  CHECK(a.last.offset == 2);
  CHECK(a.last.region == 2);
  CHECK(a.last.vcpu == 1);
  CHECK(a.last.size == 2);
}

TEST_CASE("bus read is zero-filled before dispatch") {
  Bus mem("mmio", 0);
  FakeDev a("a");
  REQUIRE(mem.insert(0x1000, 0x100, &a, 0).ok());
  uint8_t data[8];
  std::memset(data, 0xaa, sizeof data);
  a.leave[0] = 0x5a;
  a.leave_n = 1;
  CHECK(mem.read(0x1000, 8, data, 0) == BusStatus::Done);
  CHECK(data[0] == 0x5a);
  for (int i = 1; i < 8; i++) CHECK(data[i] == 0);
}

TEST_CASE("bus accesses straddling a region end are unassigned") {
  Bus mem("mmio", 0);
  FakeDev a("a");
  REQUIRE(mem.insert(0x1000, 0x10, &a, 0).ok());
  uint8_t data[8] = {};
  CHECK(mem.read(0x100c, 8, data, 0) == BusStatus::Unassigned);
  CHECK(mem.write(0xffc, 8, data, 0) == BusStatus::Unassigned);
  CHECK(mem.read(~0ull - 2, 8, data, 0) == BusStatus::Unassigned);  // wraps
  CHECK(mem.read(0x1000, 0, data, 0) == BusStatus::Unassigned);
  CHECK(mem.read(0x1000, 9, data, 0) == BusStatus::Unassigned);
  CHECK(a.reads == 0);
  CHECK(a.writes == 0);
}

TEST_CASE("bus remove frees the range") {
  Bus io("io", 0x10000);
  FakeDev a("a"), b("b");
  REQUIRE(io.insert(0x60, 1, &a, 0).ok());
  CHECK_FALSE(io.remove(0x60, &b));
  CHECK(io.remove(0x60, &a));
  CHECK(io.insert(0x60, 1, &b, 0).ok());
}
