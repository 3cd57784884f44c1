// ABI 1.5 host memory in guest-physical space, host side
// (vmm/vdev_memmap.cc): qvm_region_alloc places a region in the lowest free
// range (around RAM and other devices' regions), qvm_mem_map lays host
// memory over part of it (the accelerator sees the slot, the rest still
// traps to the device), mappings come back with a new VM, and bad requests
// are refused; qvm_intr_line (ABI 1.5 too).
#include <catch2/catch.hpp>

#include <sys/mman.h>

#include <cerrno>
#include <tuple>
#include <vector>

#include "test/unit/fake_vdev_host.h"

namespace {

struct Slot {
  uint64_t gpa;
  void* host;
  uint64_t size;
  bool writable;
};

int g_reads = 0;
int Read(qvm_vdev_t*, void*, const qvm_access* acc, void* data) {
  g_reads++;
  *static_cast<uint32_t*>(data) = uint32_t(acc->offset) | 0xab000000u;
  return QVM_DONE;
}

class Host : public qvm::test::FakeVdevHost {
 public:
  qvm::Bus* bus(uint32_t space) override { return space == QVM_SPACE_MEM ? &mem_bus : nullptr; }
  int map_host_memory(uint64_t gpa, void* host, uint64_t size, bool writable,
                      bool assign) override {
    if (!vm) return -EAGAIN;
    if (!assign) {
      for (size_t i = 0; i < slots.size(); i++)
        if (slots[i].gpa == gpa) {
          slots.erase(slots.begin() + long(i));
          return 0;
        }
      return -EINVAL;
    }
    if (slots.size() >= max_slots) return -ENOSPC;
    slots.push_back({gpa, host, size, writable});
    return 0;
  }
  qvm::Bus mem_bus{"mem", 0};
  std::vector<Slot> slots;
  bool vm = true;
  size_t max_slots = 100;
};

struct Page {
  void* p = mmap(nullptr, 64 << 10, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ~Page() { munmap(p, 64 << 10); }
};

}  // namespace

TEST_CASE("qvm_region_alloc picks the lowest free range around RAM and regions") {
  Host h;
  REQUIRE(h.memory().add(0, 0x10000000, false).ok());  // 256 MiB of RAM at 0
  qvm_factory f = qvm::test::TestFactory("shm", QVM_VDEVF_SPACE_MEM, QVM_ACCESS_4);
  f.read = Read;
  qvm_vdev other(&h, &f, qvm::VdevSpec{}, "other");
  REQUIRE(h.mem_bus.insert(0x10000000, 0x1000, &other, 0).ok());
  qvm_vdev d(&h, &f, qvm::VdevSpec{}, "shm");
  uint64_t base = 0;
  int r = qvm_region_alloc(&d, 0x3000, 0x1000, 0, 0x20000000, &base);
  REQUIRE(r == 0);
  CHECK(base == 0x10001000);  // past RAM and the other device's page
  uint64_t b2 = 0;
  int r2 = qvm_region_alloc(&d, 0x10000, 0x10000, 0, 0x20000000, &b2);
  REQUIRE(r2 == 1);
  CHECK(b2 == 0x10010000);  // aligned, past the first allocation
  // a trapped access reaches the device, with its region index
  uint8_t buf[4] = {};
  CHECK(h.mem_bus.read(base + 0x10, 4, buf, 0) == qvm::BusStatus::Done);
  CHECK(buf[0] == 0x10);
  CHECK(buf[3] == 0xab);
  // bad requests
  CHECK(qvm_region_alloc(&d, 0, 0x1000, 0, 1ull << 40, &base) == -EINVAL);       // size 0
  CHECK(qvm_region_alloc(&d, 0x1001, 0x1000, 0, 1ull << 40, &base) == -EINVAL);  // not pages
  CHECK(qvm_region_alloc(&d, 0x1000, 0x1800, 0, 1ull << 40, &base) == -EINVAL);  // align
  CHECK(qvm_region_alloc(&d, 0x1000, 0x1000, 5, 5, &base) == -EINVAL);           // empty range
  CHECK(qvm_region_alloc(&d, 0x1000, 0x1000, 0, 1ull << 40, nullptr) == -EINVAL);
  CHECK(qvm_region_alloc(&d, 0x20000000, 0x1000, 0, 0x20000000, &base) == -ENOSPC);
  // near the top of the address space: no wrap-around
  CHECK(qvm_region_alloc(&d, 0x2000, 0x1000, ~0ull - 0x1fff, ~0ull, &base) == -ENOSPC);
  uint64_t top = 0;
  CHECK(qvm_region_alloc(&d, 0x1000, 0x1000, ~0ull - 0x1fff, ~0ull, &top) >= 0);
  CHECK(top == ~0ull - 0x1fff);
  // freeing: the range is unassigned again, the index stays taken
  CHECK(qvm_region_free(&d, unsigned(r)) == 0);
  CHECK(h.mem_bus.read(base + 0x10, 4, buf, 0) == qvm::BusStatus::Unassigned);
  CHECK(qvm_region_free(&d, unsigned(r)) == -EINVAL);
  CHECK(qvm_region_free(&d, 99) == -EINVAL);
  uint64_t b3 = 0;
  CHECK(qvm_region_alloc(&d, 0x1000, 0x1000, 0, 0x20000000, &b3) == 3);
  CHECK(b3 == 0x10001000);
}

TEST_CASE("qvm_region_alloc refuses a region that is not the device's to free") {
  Host h;
  qvm_factory f = qvm::test::TestFactory("shm", QVM_VDEVF_SPACE_MEM, QVM_ACCESS_4);
  qvm_vdev d(&h, &f, qvm::VdevSpec{}, "shm");
  d.regions.push_back({QVM_SPACE_MEM, 0x1000, 0x1000});  // from qvm_region_add
  CHECK(qvm_region_free(&d, 0) == -EINVAL);
}

TEST_CASE("qvm_mem_map lays host memory over a region, replayed with a new VM") {
  Host h;
  qvm_factory f = qvm::test::TestFactory("shm", QVM_VDEVF_SPACE_MEM, QVM_ACCESS_4);
  qvm_vdev d(&h, &f, qvm::VdevSpec{}, "shm");
  uint64_t base = 0;
  int r = qvm_region_alloc(&d, 0x10000, 0x1000, 1ull << 32, 1ull << 36, &base);
  REQUIRE(r == 0);
  CHECK(base == 1ull << 32);
  Page pg;
  REQUIRE(pg.p != MAP_FAILED);
  REQUIRE(qvm_mem_map(&d, 0, 0x1000, pg.p, 0x8000, 1) == 0);
  REQUIRE(h.slots.size() == 1);
  CHECK(h.slots[0].gpa == base + 0x1000);
  CHECK(h.slots[0].host == pg.p);
  CHECK(h.slots[0].size == 0x8000);
  CHECK(h.slots[0].writable);
  // overlaps, misalignment, ranges outside the region, overflow
  CHECK(qvm_mem_map(&d, 0, 0x8000, pg.p, 0x1000, 1) == -EEXIST);
  CHECK(qvm_mem_map(&d, 0, 0x800, pg.p, 0x1000, 1) == -EINVAL);
  CHECK(qvm_mem_map(&d, 0, 0xa000, static_cast<char*>(pg.p) + 1, 0x1000, 1) == -EINVAL);
  CHECK(qvm_mem_map(&d, 0, 0xa000, pg.p, 0x7000, 1) == -EINVAL);
  CHECK(qvm_mem_map(&d, 0, ~0ull & ~0xfffull, pg.p, 0x2000, 1) == -EINVAL);
  CHECK(qvm_mem_map(&d, 0, 0xa000, pg.p, 0, 1) == -EINVAL);
  CHECK(qvm_mem_map(&d, 1, 0, pg.p, 0x1000, 1) == -EINVAL);
  CHECK(qvm_mem_map(&d, 0, 0xa000, nullptr, 0x1000, 1) == -EINVAL);
  // a read-only one beside it
  REQUIRE(qvm_mem_map(&d, 0, 0xa000, pg.p, 0x1000, 0) == 0);
  CHECK_FALSE(h.slots.back().writable);
  // a new VM: both come back
  h.slots.clear();
  qvm::ReplayMemMaps(&d);
  CHECK(h.slots.size() == 2);
  // unmap one; the other stays
  CHECK(qvm_mem_unmap(&d, 0, 0x1000) == 0);
  REQUIRE(h.slots.size() == 1);
  CHECK(h.slots[0].gpa == base + 0xa000);
  CHECK(qvm_mem_unmap(&d, 0, 0x1000) == -EINVAL);
  // freeing the region takes its mappings along
  CHECK(qvm_region_free(&d, 0) == 0);
  CHECK(h.slots.empty());
  CHECK(qvm_mem_map(&d, 0, 0, pg.p, 0x1000, 1) == -EINVAL);
}

TEST_CASE("qvm_mem_map before the VM exists and when the accelerator is out of slots") {
  Host h;
  qvm_factory f = qvm::test::TestFactory("shm", QVM_VDEVF_SPACE_MEM, QVM_ACCESS_4);
  qvm_vdev d(&h, &f, qvm::VdevSpec{}, "shm");
  uint64_t base = 0;
  REQUIRE(qvm_region_alloc(&d, 0x20000, 0x1000, 1ull << 32, 1ull << 36, &base) == 0);
  Page pg;
  h.vm = false;  // recorded now, mapped when the VM comes
  REQUIRE(qvm_mem_map(&d, 0, 0, pg.p, 0x1000, 1) == 0);
  CHECK(h.slots.empty());
  h.vm = true;
  qvm::ReplayMemMaps(&d);
  CHECK(h.slots.size() == 1);
  h.max_slots = 1;
  CHECK(qvm_mem_map(&d, 0, 0x1000, pg.p, 0x1000, 1) == -ENOSPC);
  h.max_slots = 100;
  for (unsigned i = 1; i < 16; i++) CHECK(qvm_mem_map(&d, 0, i * 0x1000, pg.p, 0x1000, 1) == 0);
  CHECK(qvm_mem_map(&d, 0, 16 * 0x1000, pg.p, 0x1000, 1) == -ENOSPC);  // 16 per instance
  qvm::CloseMemMaps(&d);
  CHECK(h.slots.empty());
}

TEST_CASE("qvm_region_alloc gives a PCI function indexes past its BARs") {
  Host h;
  qvm_factory f = qvm::test::TestFactory("shm", QVM_VDEVF_SPACE_PCI, QVM_ACCESS_4);
  qvm_vdev d(&h, &f, qvm::VdevSpec{}, "shm");
  d.pci.fn = std::make_unique<qvm_vdev::PciFn>();
  uint64_t base = 0;
  CHECK(qvm_region_alloc(&d, 0x1000, 0x1000, 1ull << 32, 1ull << 36, &base) == 6);
  CHECK(qvm_region_alloc(&d, 0x1000, 0x1000, 1ull << 32, 1ull << 36, &base) == 7);
}

TEST_CASE("qvm_intr_line reports the resolved interrupt lines") {
  Host h;
  qvm_factory f = qvm::test::TestFactory("shm", QVM_VDEVF_SPACE_MEM, QVM_ACCESS_4);
  qvm_vdev d(&h, &f, qvm::VdevSpec{}, "shm");
  d.intrs.push_back({nullptr, 10, "ioapic:10"});
  unsigned line = 0;
  CHECK(qvm_intr_line(&d, 0, &line) == 0);
  CHECK(line == 10);
  CHECK(qvm_intr_line(&d, 1, &line) == -EINVAL);
  CHECK(qvm_intr_line(&d, 0, nullptr) == -EINVAL);
}
