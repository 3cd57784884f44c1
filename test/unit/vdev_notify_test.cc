// ABI 1.3 notifications, host side (vmm/vdev_notify.cc): qvm_ioeventfd on a
// device region and on a PCI BAR (registered where the BAR decodes, moved
// and withdrawn with it, registered again with a new VM), MSI irqfds with
// their routes, and -ENOTSUP without an accelerator that can.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cerrno>
#include <tuple>
#include <vector>

#include "vmm/vdev_host.h"

namespace {

int Control(qvm_vdev_t*, void*, unsigned, int, const char*) { return 0; }

qvm_factory MakeFactory(uint32_t flags) {
  qvm_factory f{};
  f.abi_major = QVM_VDEV_ABI_MAJOR;
  f.abi_minor = QVM_VDEV_ABI_MINOR;
  f.struct_size = sizeof(qvm_factory);
  f.name = "test-notify";
  f.flags = flags;
  f.state_size = 8;
  f.control = Control;
  return f;
}
const qvm_factory kMemFactory = MakeFactory(QVM_VDEVF_SPACE_MEM | QVM_VDEVF_SPACE_IO);
const qvm_factory kPciFactory = MakeFactory(QVM_VDEVF_SPACE_PCI);

struct Io {
  int fd;
  uint64_t addr;
  unsigned len;
  bool io, match;
  uint64_t data;
};

class Host : public qvm::VdevHost {
 public:
  qvm::GuestMemory& memory() override { return mem_; }
  qvm::Bus* bus(uint32_t) override { return nullptr; }
  qvm_vdev* find_device(const std::string&) override { return nullptr; }
  qvm::EventLoop& events() override { return loop_; }
  int signal_msi(uint64_t, uint32_t) override { return 0; }
  int set_msi_route(unsigned gsi, uint64_t a, uint32_t d, bool masked) override {
    routes.emplace_back(gsi, a, d, masked);
    return 0;
  }
  int cpu_extint(qvm_vdev*, bool) override { return -ENOTSUP; }
  void request_power(int) override {}
  void request_exit(int) override {}
  bool guest_running() const override { return false; }
  const std::string& system_name() const override { return name_; }
  std::vector<qvm_vdev*> all_devices() override { return devs; }
  int notifiers_supported(bool) override { return ok ? 0 : -ENOTSUP; }
  int ioeventfd(int fd, uint64_t addr, unsigned len, bool io, bool match, uint64_t dm,
                bool assign) override {
    if (!ok) return -ENOTSUP;
    if (assign) {
      for (auto& e : live)
        if (e.addr == addr && e.len == len && e.match == match && e.data == dm) return -EEXIST;
      live.push_back({fd, addr, len, io, match, dm});
    } else {
      for (size_t i = 0; i < live.size(); i++)
        if (live[i].fd == fd && live[i].addr == addr) {
          live.erase(live.begin() + long(i));
          return 0;
        }
      return -ENOENT;
    }
    return 0;
  }
  int irqfd(int fd, unsigned gsi, bool assign) override {
    if (!ok) return -ENOTSUP;
    irqfds.emplace_back(fd, gsi, assign);
    return 0;
  }

  bool ok = true;
  std::vector<Io> live;
  std::vector<std::tuple<int, unsigned, bool>> irqfds;
  std::vector<std::tuple<unsigned, uint64_t, uint32_t, bool>> routes;
  std::vector<qvm_vdev*> devs;

 private:
  qvm::GuestMemory mem_;
  qvm::EventLoop loop_;
  std::string name_ = "t";
};

}  // namespace

TEST_CASE("qvm_ioeventfd on a device region, with and without datamatch") {
  Host h;
  qvm_vdev d(&h, &kMemFactory, qvm::VdevSpec{}, "mmio");
  d.regions.push_back({QVM_SPACE_MEM, 0xd0000000, 0x200});
  d.regions.push_back({QVM_SPACE_IO, 0x500, 8});
  h.devs.push_back(&d);
  int a = qvm_ioeventfd(&d, 0, 0x50, 4, QVM_IOEVENTFD_DATAMATCH, 1);
  REQUIRE(a >= 0);
  REQUIRE(h.live.size() == 1);
  CHECK(h.live[0].addr == 0xd0000050);
  CHECK(h.live[0].match);
  CHECK(h.live[0].data == 1);
  CHECK_FALSE(h.live[0].io);
  // same place, another value: fine; same value again: taken
  CHECK(qvm_ioeventfd(&d, 0, 0x50, 4, QVM_IOEVENTFD_DATAMATCH, 2) >= 0);
  CHECK(qvm_ioeventfd(&d, 0, 0x50, 4, QVM_IOEVENTFD_DATAMATCH, 1) == -EEXIST);
  int p = qvm_ioeventfd(&d, 1, 4, 2, 0, 0);
  REQUIRE(p >= 0);
  CHECK(h.live.back().io);
  CHECK(h.live.back().addr == 0x504);
  // bad requests
  CHECK(qvm_ioeventfd(&d, 2, 0, 4, 0, 0) == -EINVAL);          // no region 2
  CHECK(qvm_ioeventfd(&d, 0, 0x1fe, 4, 0, 0) == -EINVAL);      // past the end
  CHECK(qvm_ioeventfd(&d, 0, ~0ull, 4, 0, 0) == -EINVAL);      // overflow
  CHECK(qvm_ioeventfd(&d, 0, 0, 3, 0, 0) == -EINVAL);          // size
  CHECK(qvm_ioeventfd(&d, 0, 0, 2, QVM_IOEVENTFD_DATAMATCH, 0x10000) == -EINVAL);
  CHECK(qvm_ioeventfd(&d, 0, 0, 4, 0x80, 0) == -EINVAL);       // flags
  // the fd is a real eventfd the device can poll
  uint64_t one = 1;
  CHECK(write(a, &one, 8) == 8);
  // a new VM: everything registered again
  h.live.clear();
  qvm::ReplayNotifiers(&d);
  CHECK(h.live.size() == 3);
  CHECK(qvm_notify_close(&d, a) == 0);
  CHECK(h.live.size() == 2);
  CHECK(qvm_notify_close(&d, a) == -EINVAL);
  qvm::CloseNotifiers(&d);
  CHECK(h.live.empty());
}

TEST_CASE("qvm_ioeventfd on a PCI BAR follows the BAR") {
  Host h;
  qvm_vdev host(&h, &kMemFactory, qvm::VdevSpec{}, "pci-host");
  host.regions.push_back({QVM_SPACE_MEM, 0xc0000000, 0x20000000});
  qvm_vdev fn(&h, &kPciFactory, qvm::VdevSpec{}, "blk");
  fn.pci.fn = std::make_unique<qvm_vdev::PciFn>();
  fn.pci.fn->decl.bar_size[0] = 0x8000;
  h.devs = {&host, &fn};
  // BAR not decoding yet: accepted, registered once it is mapped
  int k = qvm_ioeventfd(&fn, 0, 0x3004, 2, 0, 0);
  REQUIRE(k >= 0);
  CHECK(h.live.empty());
  CHECK(qvm_ioeventfd(&fn, 1, 0, 2, 0, 0) == -EINVAL);        // no BAR 1
  CHECK(qvm_ioeventfd(&fn, 0, 0x7fff, 2, 0, 0) == -EINVAL);   // outside BAR 0
  REQUIRE(qvm_pci_bar_map(&host, &fn, 0, 0xc0000000, 0x8000) == 0);
  REQUIRE(h.live.size() == 1);
  CHECK(h.live[0].addr == 0xc0003004);
  CHECK(h.live[0].len == 2);
  // the guest moves the BAR
  REQUIRE(qvm_pci_bar_map(&host, &fn, 0, 0xc0010000, 0x8000) == 0);
  REQUIRE(h.live.size() == 1);
  CHECK(h.live[0].addr == 0xc0013004);
  // memory decoding off: withdrawn; on again: back
  REQUIRE(qvm_pci_bar_map(&host, &fn, 0, 0, 0) == 0);
  CHECK(h.live.empty());
  REQUIRE(qvm_pci_bar_map(&host, &fn, 0, 0xc0020000, 0x8000) == 0);
  REQUIRE(h.live.size() == 1);
  CHECK(h.live[0].addr == 0xc0023004);
  // a new VM after a guest reset
  h.live.clear();
  qvm::ReplayNotifiers(&fn);
  REQUIRE(h.live.size() == 1);
  CHECK(h.live[0].addr == 0xc0023004);
  qvm::CloseNotifiers(&fn);
  CHECK(h.live.empty());
}

TEST_CASE("a PCI BAR never decodes outside the PCI host's window (over RAM)") {
  // What keeps a passed-through function's BAR (vdev/vfio-pci) off guest
  // RAM however the guest programs it: the host's own check (pci-host maps
  // only inside its window) and this one behind it.
  Host h;
  qvm_vdev host(&h, &kMemFactory, qvm::VdevSpec{}, "pci-host");
  host.regions.push_back({QVM_SPACE_MEM, 0xc0000000, 0x20000000});
  qvm_vdev fn(&h, &kPciFactory, qvm::VdevSpec{}, "vfio-pci");
  fn.pci.fn = std::make_unique<qvm_vdev::PciFn>();
  fn.pci.fn->decl.bar_size[0] = 0x1000;
  h.devs = {&host, &fn};
  REQUIRE(qvm_pci_bar_map(&host, &fn, 0, 0xc0000000, 0x1000) == 0);
  CHECK(qvm_pci_bar_map(&host, &fn, 0, 0x100000, 0x1000) == -EINVAL);       // RAM
  CHECK(qvm_pci_bar_map(&host, &fn, 0, 0xdffff000, 0x2000) == -EINVAL);     // runs out
  CHECK(qvm_pci_bar_map(&host, &fn, 0, 0xfffffffffffff000ull, 0x2000) == -EINVAL);  // wraps
  REQUIRE(host.pci.bars.size() == 1);
  CHECK(host.pci.bars[0].base == 0xc0000000);
  // An access at the RAM address finds no BAR: it stays guest memory.
  qvm::BusAccess acc{};
  acc.addr = 0x100000;
  acc.size = 4;
  acc.region = 0;
  uint8_t data[8] = {};
  qvm::BusStatus st = qvm::BusStatus::Done;
  CHECK_FALSE(host.pci_dispatch(acc, data, false, &st));
  qvm::CloseNotifiers(&fn);
}

// ABI 1.8: an I/O BAR (the legacy virtio transport) is mapped only inside
// the host's I/O window, and its ioeventfd is a port one.
TEST_CASE("qvm_ioeventfd on an I/O BAR registers a port notifier") {
  Host h;
  qvm_vdev host(&h, &kMemFactory, qvm::VdevSpec{}, "pci-host");
  host.regions.push_back({QVM_SPACE_MEM, 0xc0000000, 0x20000000});
  host.regions.push_back({QVM_SPACE_IO, 0xc000, 0x4000});
  qvm_vdev fn(&h, &kPciFactory, qvm::VdevSpec{}, "rng");
  fn.pci.fn = std::make_unique<qvm_vdev::PciFn>();
  fn.pci.fn->decl.bar_size[0] = 32;
  fn.pci.fn->decl.bar_flags[0] = QVM_PCI_BAR_IO;
  h.devs = {&host, &fn};
  int k = qvm_ioeventfd(&fn, 0, 0x10, 2, QVM_IOEVENTFD_DATAMATCH, 0);
  REQUIRE(k >= 0);
  CHECK(qvm_pci_bar_map(&host, &fn, 0, 0xc0000000, 32) == -EINVAL);  // not in memory space
  CHECK(qvm_pci_bar_map(&host, &fn, 0, 0xbfe0, 32) == -EINVAL);      // below the I/O window
  CHECK(h.live.empty());
  REQUIRE(qvm_pci_bar_map(&host, &fn, 0, 0xc020, 32) == 0);
  REQUIRE(h.live.size() == 1);
  CHECK(h.live[0].addr == 0xc030);
  CHECK(h.live[0].io);
  CHECK(h.live[0].match);
  qvm::CloseNotifiers(&fn);
}

TEST_CASE("MSI irqfds: a GSI each, routes follow qvm_irqfd_msi_set") {
  Host h;
  qvm_vdev d(&h, &kPciFactory, qvm::VdevSpec{}, "blk");
  h.devs.push_back(&d);
  int a = qvm_irqfd_msi(&d), b = qvm_irqfd_msi(&d);
  REQUIRE(a >= 0);
  REQUIRE(b >= 0);
  REQUIRE(h.irqfds.size() == 2);
  unsigned ga = std::get<1>(h.irqfds[0]), gb = std::get<1>(h.irqfds[1]);
  CHECK(ga != gb);
  CHECK(ga >= 24);  // never an IOAPIC input
  CHECK(h.routes.empty());  // no message yet
  REQUIRE(qvm_irqfd_msi_set(&d, a, 0xfee00000, 0x41, 0) == 0);
  REQUIRE(h.routes.size() == 1);
  CHECK(h.routes[0] == std::make_tuple(ga, uint64_t(0xfee00000), uint32_t(0x41), false));
  CHECK(qvm_irqfd_msi_set(&d, a, 0xfee00000, 0x41, 0) == 0);  // unchanged: no call
  CHECK(h.routes.size() == 1);
  REQUIRE(qvm_irqfd_msi_set(&d, a, 0xfee00000, 0x41, 1) == 0);  // masked: withdrawn
  CHECK(std::get<3>(h.routes.back()));
  CHECK(qvm_irqfd_msi_set(&d, 12345, 0, 0, 0) == -EINVAL);
  REQUIRE(qvm_irqfd_msi_set(&d, b, 0xfee01000, 0x52, 0) == 0);
  // replay: irqfds and unmasked routes registered again
  h.irqfds.clear();
  h.routes.clear();
  qvm::ReplayNotifiers(&d);
  CHECK(h.irqfds.size() == 2);
  REQUIRE(h.routes.size() == 1);
  CHECK(std::get<0>(h.routes[0]) == gb);
  qvm::CloseNotifiers(&d);
  // GSIs come back to the pool
  int c = qvm_irqfd_msi(&d);
  REQUIRE(c >= 0);
  CHECK(std::get<1>(h.irqfds.back()) == ga);
  qvm::CloseNotifiers(&d);
}

TEST_CASE("notifications without accelerator support: -ENOTSUP") {
  Host h;
  h.ok = false;
  qvm_vdev d(&h, &kMemFactory, qvm::VdevSpec{}, "mmio");
  d.regions.push_back({QVM_SPACE_MEM, 0xd0000000, 0x200});
  CHECK(qvm_ioeventfd(&d, 0, 0x50, 4, 0, 0) == -ENOTSUP);
  CHECK(qvm_irqfd_msi(&d) == -ENOTSUP);
  CHECK(d.notify.list.empty());
}

TEST_CASE("qvm_pci_declare: I/O BARs of 4-256 ports, alone, never the MSI-X BAR") {
  Host h;
  qvm_vdev fn(&h, &kPciFactory, qvm::VdevSpec{}, "rng");
  h.devs = {&fn};
  auto decl = [](uint64_t size, uint32_t flags) {
    qvm_pci_function f{};
    f.struct_size = sizeof f;
    f.vendor_id = 0x1af4;
    f.bar_size[0] = size;
    f.bar_flags[0] = flags;
    return f;
  };
  qvm_pci_function f = decl(512, QVM_PCI_BAR_IO);
  CHECK(qvm_pci_declare(&fn, &f) == -EINVAL);   // more than 256 ports
  f = decl(2, QVM_PCI_BAR_IO);
  CHECK(qvm_pci_declare(&fn, &f) == -EINVAL);
  f = decl(32, QVM_PCI_BAR_IO | QVM_PCI_BAR_MEM64);
  CHECK(qvm_pci_declare(&fn, &f) == -EINVAL);
  f = decl(32, QVM_PCI_BAR_IO);
  f.msix_vectors = 1;                          // a table in I/O space
  f.msix_bar = 0;
  CHECK(qvm_pci_declare(&fn, &f) == -EINVAL);
  f = decl(32, QVM_PCI_BAR_IO);
  f.bar_size[1] = 0x1000;
  f.msix_vectors = 2;
  f.msix_bar = 1;
  f.msix_pba_offset = 0x800;
  CHECK(qvm_pci_declare(&fn, &f) == (1 << 3));
  REQUIRE(fn.pci.fn);
  CHECK(fn.pci.fn->decl.bar_flags[0] == QVM_PCI_BAR_IO);
}
