// The vfio-pci plug-in's code (vdev/vfio-pci) without hardware: the host
// lookup on a sysfs tree in a scratch directory, and PassFn on a fake VFIO
// device (fake_vfio.h) and the fake qvm host (test/fakehost).
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "test/fakehost/fake_host.h"
#include "test/vfio/fake_vfio.h"
#include "vdev/vfio-pci/host_lookup.h"
#include "vdev/vfio-pci/pass_fn.h"
#include "test/unit/temp_dir.h"

using fakevfio::FakeVfio;
using vfiopci::HostDevice;
using vfiopci::HostSpec;
using vfiopci::PassFn;

namespace {

// A sysfs tree: devices under bus/pci/devices, their driver and IOMMU group
// links, the group's device list.
struct Sysfs {
  qvm::test::TempDir dir;
  void add(const std::string& bdf, uint16_t vid, uint16_t did, const std::string& driver,
           int group) {
    std::string d = "bus/pci/devices/" + bdf;
    char id[16];
    snprintf(id, sizeof id, "0x%04x\n", vid);
    dir.write_text(d + "/vendor", id);
    snprintf(id, sizeof id, "0x%04x\n", did);
    dir.write_text(d + "/device", id);
    if (!driver.empty()) {
      std::filesystem::create_directories(dir / ("bus/pci/drivers/" + driver));
      std::filesystem::create_symlink(dir / ("bus/pci/drivers/" + driver), dir / (d + "/driver"));
    }
    if (group >= 0) {
      std::string g = "kernel/iommu_groups/" + std::to_string(group);
      std::filesystem::create_directories(dir / (g + "/devices"));
      std::filesystem::create_symlink(dir / g, dir / (d + "/iommu_group"));
      std::filesystem::create_symlink(dir / d, dir / (g + "/devices/" + bdf));
    }
  }
  int err = -1;  // of the last find()
  std::string find(const std::string& spec, HostDevice* out) {
    HostSpec s;
    std::string why = vfiopci::ParseHostSpec(spec, &s);
    REQUIRE(why.empty());
    return vfiopci::FindHostDevice(dir.path(), s, out, &err);
  }
};

// The edu-like device of most tests: 1234:11e8, class 00ff, BAR0 1 MiB
// (32-bit), INTx pin A.
void Edu(FakeVfio& v) {
  v.set_ids(0x1234, 0x11e8);
  v.cfg[0x08] = 0x10;
  v.cfg[0x0a] = 0xff;
  v.cfg[0x0b] = 0x00;
  v.cfg[0x2c] = 0xf4;
  v.cfg[0x2d] = 0x1a;
  v.cfg[0x2e] = 0x00;
  v.cfg[0x2f] = 0x11;
  v.cfg[0x3d] = 1;
  v.cfg[0x04] = 0x00;
  v.set_bar(0, 1 << 20, 0);
}

HostDevice Dev(int group = 5) {
  HostDevice d;
  d.bdf = "0000:00:03.0";
  d.group = group;
  d.vid = 0x1234;
  d.did = 0x11e8;
  return d;
}

qvm_vdev* Attach() {
  fake::Host::get().reset();
  fake::Config c;
  c.intrs = {{"pci-host", 12}};
  return fake::Host::get().attach("pass", c);
}

// An opened and described PassFn over `v`.
struct Opened {
  FakeVfio& v;
  PassFn fn;
  qvm_pci_function f{};
  std::vector<std::string> notes;
  explicit Opened(FakeVfio& fake) : v(fake), fn(fake) {
    int err = 0;
    REQUIRE(fn.open(Dev(v.group), &err) == "");
    REQUIRE(fn.describe(&f, &notes) == "");
  }
};

uint64_t Read(PassFn& fn, qvm_vdev* dev, unsigned bar, uint64_t off, unsigned size) {
  uint64_t v = 0;
  REQUIRE(fn.read(dev, bar, off, size, &v) == QVM_DONE);
  return v;
}

void Write(PassFn& fn, qvm_vdev* dev, unsigned bar, uint64_t off, unsigned size, uint64_t v) {
  REQUIRE(fn.write(dev, bar, off, size, &v) == QVM_DONE);
}

}  // namespace

TEST_CASE("vfio: host specs as the core writes them", "[vfio]") {
  HostSpec s;
  CHECK(vfiopci::ParseHostSpec("0:3.0", &s) == "");
  CHECK((!s.by_id && s.bus == 0 && s.dev == 3 && s.fn == 0 && !s.check_id));
  CHECK(vfiopci::ParseHostSpec("2:31.7=8086/1533", &s) == "");
  CHECK((s.bus == 2 && s.dev == 31 && s.fn == 7 && s.check_id && s.vid == 0x8086 &&
         s.did == 0x1533));
  CHECK(vfiopci::ParseHostSpec("0001:0x10:2", &s) == "");
  CHECK((s.domain == 1 && s.bus == 16 && s.dev == 2 && s.fn == 0));
  CHECK(vfiopci::ParseHostSpec("1234/11e8/2", &s) == "");
  CHECK((s.by_id && s.vid == 0x1234 && s.did == 0x11e8 && s.index == 2));
  CHECK(vfiopci::ParseHostSpec("0x1234/0x11e8", &s) == "");
  CHECK((s.by_id && s.index == 0));
  for (const char* bad : {"", "3", "0:32.0", "0:1.8", "256:0.0", "12345/1", "1234/11e8/x",
                          "1/2/3/4", "1234/11e8=1234/11e8", "0:1.0=1234", "a:b:c:d"}) {
    INFO(bad);
    CHECK(vfiopci::ParseHostSpec(bad, &s) != "");
  }
}

TEST_CASE("vfio: the host device is found in sysfs and checked", "[vfio]") {
  Sysfs fs;
  fs.add("0000:00:02.0", 0x8086, 0x1533, "e1000e", 4);
  fs.add("0000:00:03.0", 0x1234, 0x11e8, "vfio-pci", 5);
  fs.add("0000:00:04.0", 0x1234, 0x11e8, "vfio-pci", 6);
  fs.add("0000:00:04.1", 0x1af4, 0x1000, "", 6);          // unbound: viable
  fs.add("0000:00:05.0", 0x1234, 0x11e8, "vfio-pci", 7);
  fs.add("0000:00:05.1", 0x8086, 0x2922, "ahci", 7);      // bound: not viable
  fs.add("0000:00:06.0", 0x1234, 0x5678, "vfio-pci", -1); // no IOMMU group
  HostDevice d;
  CHECK(fs.find("0:3.0", &d) == "");
  CHECK((d.bdf == "0000:00:03.0" && d.group == 5 && d.vid == 0x1234 && d.did == 0x11e8));
  CHECK(fs.find("1234/11e8", &d) == "");
  CHECK(d.bdf == "0000:00:03.0");
  CHECK(fs.find("1234/11e8/1", &d) == "");
  CHECK((d.bdf == "0000:00:04.0" && d.group == 6));
  CHECK(fs.find("0:3.0=1234/11e8", &d) == "");
  CHECK(fs.err == 0);
  // Refusals, each saying why.
  CHECK_THAT(fs.find("0:9.0", &d), Catch::Contains("no host PCI device 0000:00:09.0"));
  CHECK_THAT(fs.find("dead/beef", &d), Catch::Contains("no host PCI device dead:beef"));
  CHECK_THAT(fs.find("1234/11e8/3", &d),
             Catch::Contains("the host has 3 device(s) 1234:11e8; index 3 names none"));
  CHECK(fs.err == ENODEV);
  CHECK_THAT(fs.find("0:2.0", &d), Catch::Contains("0000:00:02.0 is bound to e1000e, not vfio-pci"));
  CHECK(fs.err == EBUSY);
  CHECK_THAT(fs.find("0:4.1", &d), Catch::Contains("is bound to no driver, not vfio-pci"));
  CHECK_THAT(fs.find("0:3.0=8086/1533", &d), Catch::Contains("is 1234:11e8, not 8086:1533"));
  CHECK_THAT(fs.find("0:5.0", &d),
             Catch::Contains("IOMMU group 7 of 0000:00:05.0 is not viable: 0000:00:05.1 in the "
                             "same group is bound to ahci"));
  CHECK(fs.err == EBUSY);
  CHECK_THAT(fs.find("0:6.0", &d), Catch::Contains("has no IOMMU group"));
  CHECK(fs.err == ENOTSUP);
}

TEST_CASE("vfio: opening refuses what VFIO refuses, with the reason", "[vfio]") {
  auto refuse = [](void (*knob)(FakeVfio&), int want_err, const char* want) {
    FakeVfio v;
    Edu(v);
    knob(v);
    PassFn fn(v);
    int err = 0;
    std::string why = fn.open(Dev(), &err);
    INFO(why);
    CHECK_THAT(why, Catch::Contains(want));
    CHECK(err == want_err);
  };
  refuse([](FakeVfio& v) { v.container_missing = true; }, ENOENT, "/dev/vfio/vfio");
  refuse([](FakeVfio& v) { v.group_busy = true; }, EBUSY,
         "IOMMU group 5 of 0000:00:03.0 is in use by another process (another qvm?)");
  refuse([](FakeVfio& v) { v.group = 6; }, ENOENT, "/dev/vfio/5");
  refuse([](FakeVfio& v) { v.group_viable = false; }, EPERM, "is not viable");
  refuse([](FakeVfio& v) { v.set_iommu_rc = -EPERM; }, EPERM, "interrupt remapping");
  // And nothing stays open after a refusal.
  FakeVfio v;
  v.group_busy = true;
  {
    PassFn fn(v);
    int err;
    (void)fn.open(Dev(), &err);
  }
  CHECK(v.open_fds.empty());
}

TEST_CASE("vfio: the function as the guest sees it", "[vfio]") {
  FakeVfio v;
  Edu(v);
  v.set_bar(2, 0x4000, 0x4 | 0x8);  // 64-bit prefetchable
  v.set_bar(4, 0x20, 0x1);          // an I/O BAR
  v.add_cap(0x05, {0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});  // MSI
  v.add_cap(0x01, {0x03, 0, 0, 0, 0, 0});                    // PM
  v.add_msix(4, 2, 0x1000, 0x3000);
  PassFn fn(v);
  int err = 0;
  REQUIRE(fn.open(Dev(), &err) == "");
  CHECK(v.iommu_type == VFIO_TYPE1v2_IOMMU);
  qvm_pci_function f;
  std::vector<std::string> notes;
  REQUIRE(fn.describe(&f, &notes) == "");
  CHECK((f.vendor_id == 0x1234 && f.device_id == 0x11e8 && f.revision == 0x10));
  CHECK((f.class_code == 0x00 && f.subclass == 0xff));
  CHECK((f.subsystem_vendor_id == 0x1af4 && f.subsystem_id == 0x1100));
  CHECK(f.intx_pin == 1);
  CHECK((f.bar_size[0] == (1 << 20) && f.bar_flags[0] == 0));
  CHECK((f.bar_size[2] == 0x4000 && f.bar_flags[2] == (QVM_PCI_BAR_MEM64 | QVM_PCI_BAR_PREFETCH)));
  CHECK((f.bar_size[3] == 0 && f.bar_flags[3] == 0));
  CHECK(f.bar_size[4] == 0);  // I/O BAR: not presented
  CHECK((f.msix_vectors == 4 && f.msix_bar == 2 && f.msix_table_offset == 0x1000 &&
         f.msix_pba_offset == 0x3000));
  CHECK(f.caps_len == 0);
  REQUIRE(notes.size() == 2);
  CHECK_THAT(notes[0], Catch::Contains("BAR4: an I/O BAR (32 ports) is not presented"));
  CHECK_THAT(notes[1], Catch::Contains("capabilities hidden from the guest: MSI, power management"));
}

TEST_CASE("vfio: devices qvm's PCI host cannot present are refused", "[vfio]") {
  // The description's refusal for a device set up by `knob`.
  auto refusal = [](void (*knob)(FakeVfio&)) {
    FakeVfio v;
    Edu(v);
    knob(v);
    PassFn fn(v);
    int err;
    REQUIRE(fn.open(Dev(), &err) == "");
    qvm_pci_function f;
    std::vector<std::string> notes;
    return fn.describe(&f, &notes);
  };
  CHECK_THAT(refusal([](FakeVfio& v) { v.bar_size[0] = 2ull << 30; }),
             Catch::Contains("BAR0 of 0x80000000 bytes"));
  CHECK_THAT(refusal([](FakeVfio& v) { v.bar_size[0] = 0x3000; }),
             Catch::Contains("BAR0 of 0x3000 bytes"));
  CHECK_THAT(refusal([](FakeVfio& v) { v.cfg[0x0e] = 1; }),
             Catch::Contains("header type 1 (a bridge)"));
  {
    // MSI-X whose PBA lives in another BAR: hidden, the guest gets INTx.
    FakeVfio v;
    Edu(v);
    v.set_bar(1, 0x1000, 0);
    v.add_msix(2, 0, 0x0, 0);
    v.cfg[0x40 + 8] = 1;  // PBA BIR 1
    Opened o(v);
    CHECK(o.f.msix_vectors == 0);
    CHECK(o.f.intx_pin == 1);
    REQUIRE(!o.notes.empty());
    CHECK_THAT(o.notes[0], Catch::Contains("not in one memory BAR"));
  }
}

TEST_CASE("vfio: guest RAM is mapped for DMA, again after a reset", "[vfio]") {
  qvm_vdev* dev = Attach();
  FakeVfio v;
  Edu(v);
  Opened o(v);
  REQUIRE(o.fn.map_dma(dev) == "");
  auto& h = fake::Host::get();
  REQUIRE(v.maps.size() == 1);
  CHECK(v.maps[0].iova == h.ram_base);
  CHECK(v.maps[0].size == h.ram.size());
  CHECK(v.maps[0].vaddr == reinterpret_cast<uint64_t>(h.ram.data()));
  REQUIRE(o.fn.map_dma(dev) == "");
  REQUIRE(v.unmaps.size() == 1);
  CHECK(v.unmaps[0] == std::make_pair(h.ram_base, uint64_t(h.ram.size())));
  CHECK(v.maps.size() == 2);
}

TEST_CASE("vfio: BAR accesses reach the device; bad ones fault", "[vfio]") {
  qvm_vdev* dev = Attach();
  FakeVfio v;
  Edu(v);
  v.bar[0][0] = 0xed;
  v.bar[0][3] = 0x01;
  Opened o(v);
  o.fn.prepare(dev);
  o.fn.reset(dev);
  CHECK(Read(o.fn, dev, 0, 0, 4) == 0x010000ed);
  Write(o.fn, dev, 0, 8, 4, 0x12345678);
  CHECK(v.bar[0][8] == 0x78);
  CHECK(v.bar[0][11] == 0x12);
  Write(o.fn, dev, 0, 0xffff8, 8, 0x1122334455667788ull);
  CHECK(Read(o.fn, dev, 0, 0xffff8, 8) == 0x1122334455667788ull);
  CHECK(Read(o.fn, dev, 0, 0xfffff, 1) == 0x11);
  uint64_t x = 0;
  CHECK(o.fn.read(dev, 0, 0xffffd, 4, &x) == QVM_BUS_ERROR);   // runs past the BAR
  CHECK(o.fn.read(dev, 0, 1ull << 20, 1, &x) == QVM_BUS_ERROR);
  CHECK(o.fn.read(dev, 0, UINT64_MAX - 1, 4, &x) == QVM_BUS_ERROR);
  CHECK(o.fn.read(dev, 1, 0, 4, &x) == QVM_BUS_ERROR);         // no BAR1
  CHECK(o.fn.read(dev, 6, 0, 4, &x) == QVM_BUS_ERROR);
  CHECK(o.fn.read(dev, 0, 0, 3, &x) == QVM_BUS_ERROR);
  CHECK(o.fn.write(dev, 7, 0, 4, &x) == QVM_BUS_ERROR);
}

TEST_CASE("vfio: the command register follows the guest with care", "[vfio]") {
  qvm_vdev* dev = Attach();
  FakeVfio v;
  Edu(v);
  v.cfg[0x04] = 0x07;  // as the host left it: I/O, memory, bus master
  Opened o(v);
  o.fn.reset(dev);
  // Memory decoding on, bus mastering off until the guest asks.
  CHECK(o.fn.device_command() == 0x0002);
  dev->pci_state = QVM_PCI_STATE_MEM_ENABLE | QVM_PCI_STATE_BUS_MASTER;
  (void)Read(o.fn, dev, 0, 0, 4);
  CHECK(o.fn.device_command() == 0x0006);
  dev->pci_state = QVM_PCI_STATE_MEM_ENABLE | QVM_PCI_STATE_INTX_DISABLE;
  (void)Read(o.fn, dev, 0, 0, 4);
  CHECK(o.fn.device_command() == 0x0402);
  size_t writes = v.command_writes.size();
  (void)Read(o.fn, dev, 0, 0, 4);  // nothing changed: no write
  CHECK(v.command_writes.size() == writes);
  int resets = v.resets;
  o.fn.reset(dev);
  CHECK(v.resets == resets + 1);
  CHECK(o.fn.device_command() == 0x0002);
  o.fn.terminate(dev);
  CHECK((o.fn.device_command() & 0x0004) == 0);
}

TEST_CASE("vfio: INTx through an eventfd, unmasked when the guest comes back", "[vfio]") {
  qvm_vdev* dev = Attach();
  FakeVfio v;
  Edu(v);
  Opened o(v);
  o.fn.prepare(dev);
  const fakevfio::IrqSet* s = v.last_irq(VFIO_PCI_INTX_IRQ_INDEX);
  REQUIRE(s);
  CHECK(s->flags == (VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER));
  REQUIRE(s->fds.size() == 1);
  int efd = s->fds[0];
  CHECK(dev->watched(efd));
  uint64_t one = 1;
  // The device raises INTx: VFIO signals the eventfd (and masks the line).
  REQUIRE(write(efd, &one, 8) == 8);
  CHECK(fake::Host::get().poll_fds() == 1);
  CHECK(dev->intr_level[0] == 1);
  CHECK(o.fn.intx_pending());
  // The guest reads the device: the line drops and VFIO unmasks.
  (void)Read(o.fn, dev, 0, 0, 4);
  CHECK(dev->intr_level[0] == 0);
  s = v.last_irq(VFIO_PCI_INTX_IRQ_INDEX);
  CHECK(s->flags == (VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK));
  // With INTx disabled in the command register the line stays low, and
  // comes up when the guest enables it again.
  dev->pci_state = QVM_PCI_STATE_MEM_ENABLE | QVM_PCI_STATE_INTX_DISABLE;
  (void)Read(o.fn, dev, 0, 0, 4);
  REQUIRE(write(efd, &one, 8) == 8);
  CHECK(fake::Host::get().poll_fds() == 1);
  CHECK(dev->intr_level[0] == 0);
  size_t n = v.irqs.size();
  (void)Read(o.fn, dev, 0, 0, 4);
  CHECK(v.irqs.size() == n);  // still masked in VFIO
  dev->pci_state = QVM_PCI_STATE_MEM_ENABLE;
  uint64_t x;
  REQUIRE(o.fn.write(dev, 0, 4, 4, &(x = 0)) == QVM_DONE);
  CHECK(dev->intr_level[0] == 0);  // came back, then the access acknowledged it
  CHECK(v.last_irq(VFIO_PCI_INTX_IRQ_INDEX)->flags ==
        (VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK));
  CHECK(dev->rises(0) == 2);
  // A reset takes the line down and wires INTx again.
  REQUIRE(write(efd, &one, 8) == 8);
  CHECK(fake::Host::get().poll_fds() == 1);
  CHECK(dev->intr_level[0] == 1);
  o.fn.reset(dev);
  CHECK(dev->intr_level[0] == 0);
  CHECK(v.last_irq(VFIO_PCI_INTX_IRQ_INDEX)->flags ==
        (VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER));
  o.fn.terminate(dev);
  CHECK(!dev->watched(efd));
}

// An edu-like handler: it reads the interrupt status (the device still
// asserts INTx), then acknowledges it with a write that deasserts it. The
// line must stay up across the read (the unmask re-signals at once) and be
// down after the acknowledgement, with no further rise: the lane saw one
// spurious interrupt per INTx when the re-signal was left to the event
// thread, which raised the line again after the acknowledgement.
TEST_CASE("vfio: INTx acknowledged by the guest's write gives no spurious rise", "[vfio]") {
  qvm_vdev* dev = Attach();
  FakeVfio v;
  Edu(v);
  v.bar[0].assign(1 << 20, 0);
  v.intx_ack_off = 0x64;
  Opened o(v);
  o.fn.prepare(dev);
  const fakevfio::IrqSet* s = v.last_irq(VFIO_PCI_INTX_IRQ_INDEX);
  REQUIRE(s);
  REQUIRE(s->fds.size() == 1);
  int efd = s->fds[0];
  uint64_t one = 1;
  v.intx_asserted = true;
  REQUIRE(write(efd, &one, 8) == 8);
  CHECK(fake::Host::get().poll_fds() == 1);
  CHECK(dev->intr_level[0] == 1);
  CHECK(dev->rises(0) == 1);
  (void)Read(o.fn, dev, 0, 0x24, 4);  // status: the device still asserts
  CHECK(dev->intr_level[0] == 1);
  CHECK(o.fn.intx_pending());
  CHECK(dev->rises(0) == 1);  // no drop and rise: the line simply stayed up
  Write(o.fn, dev, 0, 0x64, 4, 1);  // acknowledge: the device deasserts
  CHECK(dev->intr_level[0] == 0);
  CHECK(!o.fn.intx_pending());
  CHECK(fake::Host::get().poll_fds() == 0);  // nothing left to raise it again
  CHECK(dev->rises(0) == 1);
  CHECK(v.last_irq(VFIO_PCI_INTX_IRQ_INDEX)->flags ==
        (VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK));
  o.fn.terminate(dev);
}

TEST_CASE("vfio: MSI-X table emulated, vectors wired to in-kernel irqfds", "[vfio]") {
  qvm_vdev* dev = Attach();
  auto& h = fake::Host::get();
  h.notify_ok = true;
  FakeVfio v;
  Edu(v);
  v.set_bar(1, 0x4000, 0);
  v.add_msix(3, 1, 0x2000, 0x3000);
  Opened o(v);
  o.fn.prepare(dev);
  o.fn.reset(dev);
  REQUIRE(h.notes.size() == 3);
  // Table entries start masked, and the table never reaches the device.
  CHECK(Read(o.fn, dev, 1, 0x2000 + 12, 4) == 1);
  Write(o.fn, dev, 1, 0x2010, 8, 0xfee01000ull);   // vector 1: address
  Write(o.fn, dev, 1, 0x2018, 4, 0x41);            // data
  Write(o.fn, dev, 1, 0x201c, 4, 0);               // unmask
  CHECK(v.bar[1][0x2010] == 0);
  CHECK(Read(o.fn, dev, 1, 0x2010, 8) == 0xfee01000ull);
  CHECK(Read(o.fn, dev, 1, 0x2018, 8) == 0x41);
  // MSI-X still off: masked everywhere, and VFIO has no MSI-X yet.
  CHECK(h.notes[1].masked == 1);
  CHECK(!v.last_irq(VFIO_PCI_MSIX_IRQ_INDEX));
  // The guest enables MSI-X: INTx goes off in VFIO, MSI-X on with the irqfds.
  dev->pci_state = QVM_PCI_STATE_MEM_ENABLE | QVM_PCI_STATE_BUS_MASTER | QVM_PCI_STATE_MSIX_ENABLE;
  (void)Read(o.fn, dev, 0, 0, 4);
  const fakevfio::IrqSet* s = v.last_irq(VFIO_PCI_MSIX_IRQ_INDEX);
  REQUIRE(s);
  CHECK(s->flags == (VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER));
  REQUIRE(s->count == 3);
  for (unsigned i = 0; i < 3; i++) CHECK(s->fds[i] == h.notes[i].fd);
  CHECK(v.last_irq(VFIO_PCI_INTX_IRQ_INDEX)->count == 0);
  CHECK((h.notes[1].addr == 0xfee01000ull && h.notes[1].data == 0x41 && h.notes[1].masked == 0));
  CHECK(h.notes[0].masked == 1);
  // Function mask, then the vector's own mask.
  dev->pci_state |= QVM_PCI_STATE_MSIX_MASKALL;
  (void)Read(o.fn, dev, 0, 0, 4);
  CHECK(h.notes[1].masked == 1);
  dev->pci_state &= ~QVM_PCI_STATE_MSIX_MASKALL;
  (void)Read(o.fn, dev, 0, 0, 4);
  CHECK(h.notes[1].masked == 0);
  Write(o.fn, dev, 1, 0x201c, 4, 0xffffffff);  // only the mask bit sticks
  CHECK(Read(o.fn, dev, 1, 0x201c, 4) == 1);
  CHECK(h.notes[1].masked == 1);
  // Odd accesses inside the table do nothing; the PBA is read-only.
  Write(o.fn, dev, 1, 0x2011, 1, 0xff);
  CHECK(Read(o.fn, dev, 1, 0x2010, 4) == 0xfee01000u);
  CHECK(Read(o.fn, dev, 1, 0x2012, 2) == 0);
  Write(o.fn, dev, 1, 0x3000, 8, ~0ull);
  CHECK(Read(o.fn, dev, 1, 0x3000, 8) == 0);
  // Off again: MSI-X off in VFIO, INTx back.
  dev->pci_state = QVM_PCI_STATE_MEM_ENABLE;
  (void)Read(o.fn, dev, 0, 0, 4);
  CHECK(v.last_irq(VFIO_PCI_MSIX_IRQ_INDEX)->count == 0);
  CHECK(v.last_irq(VFIO_PCI_INTX_IRQ_INDEX)->flags ==
        (VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER));
  o.fn.terminate(dev);
  CHECK(h.notes.empty());
}

TEST_CASE("vfio: MSI-X without in-kernel irqfds goes through qvm_msi", "[vfio]") {
  qvm_vdev* dev = Attach();
  auto& h = fake::Host::get();
  h.notify_ok = false;  // an accelerator without irqfds
  FakeVfio v;
  Edu(v);
  v.add_msix(2, 0, 0x800, 0x900);
  Opened o(v);
  o.fn.prepare(dev);
  o.fn.reset(dev);
  Write(o.fn, dev, 0, 0x800, 4, 0xfee00000u);
  Write(o.fn, dev, 0, 0x808, 4, 0x30);
  dev->pci_state = QVM_PCI_STATE_MEM_ENABLE | QVM_PCI_STATE_MSIX_ENABLE;
  (void)Read(o.fn, dev, 0, 0, 4);
  const fakevfio::IrqSet* s = v.last_irq(VFIO_PCI_MSIX_IRQ_INDEX);
  REQUIRE((s && s->count == 2));
  int efd = s->fds[0];
  CHECK(dev->watched(efd));
  uint64_t one = 1;
  // Masked: the message waits in the PBA.
  REQUIRE(write(efd, &one, 8) == 8);
  CHECK(h.poll_fds() == 1);
  CHECK(dev->msis.empty());
  CHECK(Read(o.fn, dev, 0, 0x900, 8) == 1);
  // Unmasked: delivered, the pending bit clears.
  Write(o.fn, dev, 0, 0x80c, 4, 0);
  REQUIRE(dev->msis.size() == 1);
  CHECK((dev->msis[0].address == 0xfee00000u && dev->msis[0].data == 0x30));
  CHECK(Read(o.fn, dev, 0, 0x900, 8) == 0);
  REQUIRE(write(efd, &one, 8) == 8);
  CHECK(h.poll_fds() == 1);
  CHECK(dev->msis.size() == 2);
  o.fn.terminate(dev);
  CHECK(!dev->watched(efd));
}
