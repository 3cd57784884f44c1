// Host services: ioeventfds and MSI irqfds for vdevs (notifications
// without VM exits). qvm owns the eventfds; the registrations are kept per
// instance (qvm_vdev::notify) so that they follow PCI BAR moves and are
// registered again with every new accelerator VM (guest resets recreate it).
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <shared_mutex>
#include <mutex>
#include <set>

#include "vmm/vdev_host.h"

namespace qvm {
namespace {

// GSIs for MSI irqfds: above every interrupt-controller input (the IOAPIC
// uses 0..23), below KvmVmFd::set_msi_route's limit of 1024.
constexpr unsigned kGsiFirst = 256, kGsiEnd = 1024;
std::mutex g_gsi_mu;
std::set<unsigned> g_gsi_used;

int AllocGsi() {
  std::lock_guard<std::mutex> g(g_gsi_mu);
  for (unsigned i = kGsiFirst; i < kGsiEnd; i++)
    if (g_gsi_used.insert(i).second) return int(i);
  return -ENOSPC;
}

void FreeGsi(unsigned gsi) {
  std::lock_guard<std::mutex> g(g_gsi_mu);
  g_gsi_used.erase(gsi);
}

// Where a registration decodes now: a PCI function's BAR as some host
// mapped it, or one of the device's own regions. False when nowhere.
bool Resolve(qvm_vdev* dev, const qvm_vdev::Notifier& n, uint64_t* addr, bool* io) {
  if (dev->pci.fn) {
    for (qvm_vdev* h : dev->host->all_devices()) {
      if (h == dev || !h->pci.has_bars.load(std::memory_order_acquire)) continue;
      std::shared_lock<std::shared_mutex> g(h->pci.bars_mu);
      for (const auto& b : h->pci.bars)
        if (b.fn == dev && b.bar == n.region) {
          if (n.offset > b.size || n.size > b.size - n.offset) return false;
          *addr = b.base + n.offset;
          *io = b.space == QVM_SPACE_IO;
          return true;
        }
    }
    return false;
  }
  if (n.region >= dev->regions.size()) return false;
  const DeviceRegion& r = dev->regions[n.region];
  if (n.offset > r.size || n.size > r.size - n.offset) return false;
  *addr = r.base + n.offset;
  *io = r.space == QVM_SPACE_IO;
  return true;
}

// Registers (or re-registers at its current place) one ioeventfd; called
// with dev->notify.mu held.
int Place(qvm_vdev* dev, qvm_vdev::Notifier& n) {
  uint64_t addr = 0;
  bool io = false;
  bool where = Resolve(dev, n, &addr, &io);
  if (n.active && (!where || addr != n.addr || io != n.io)) {
    dev->host->ioeventfd(n.fd, n.addr, n.size, n.io, n.match, n.datamatch, false);
    n.active = false;
  }
  if (!where || n.active) return 0;
  int rc = dev->host->ioeventfd(n.fd, addr, n.size, io, n.match, n.datamatch, true);
  if (rc == 0) {
    n.active = true;
    n.addr = addr;
    n.io = io;
  }
  return rc == -EAGAIN ? 0 : rc;
}

void Release(qvm_vdev* dev, qvm_vdev::Notifier& n) {
  if (n.irq) {
    dev->host->irqfd(n.fd, n.gsi, false);
    if (n.routed) dev->host->set_msi_route(n.gsi, 0, 0, true);
    FreeGsi(n.gsi);
  } else if (n.active) {
    dev->host->ioeventfd(n.fd, n.addr, n.size, n.io, n.match, n.datamatch, false);
  }
  close(n.fd);
}

}  // namespace

void ReplayNotifiers(qvm_vdev* dev) {
  std::lock_guard<std::mutex> g(dev->notify.mu);
  for (auto& n : dev->notify.list) {
    if (n.irq) {
      int rc = dev->host->irqfd(n.fd, n.gsi, true);
      if (rc == 0 && n.routed) rc = dev->host->set_msi_route(n.gsi, n.msi_addr, n.msi_data, false);
      if (rc < 0)
        Log(LogLevel::Warn, "vdev %s: irqfd (GSI %u) not registered again: %s", dev->name.c_str(),
            n.gsi, strerror(-rc));
      continue;
    }
    n.active = false;  // the previous VM (and its registrations) is gone
    int rc = Place(dev, n);
    if (rc < 0)
      Log(LogLevel::Warn, "vdev %s: ioeventfd not registered again: %s", dev->name.c_str(),
          strerror(-rc));
  }
}

void MoveBarNotifiers(qvm_vdev* fn, unsigned bar, uint64_t, uint64_t) {
  std::lock_guard<std::mutex> g(fn->notify.mu);
  for (auto& n : fn->notify.list)
    if (!n.irq && n.region == bar) Place(fn, n);
}

void CloseNotifiers(qvm_vdev* dev) {
  std::lock_guard<std::mutex> g(dev->notify.mu);
  for (auto& n : dev->notify.list) Release(dev, n);
  dev->notify.list.clear();
}

}  // namespace qvm

QVM_EXPORT int qvm_ioeventfd(qvm_vdev_t* dev, unsigned region,
                                                         uint64_t offset, unsigned size,
                                                         unsigned flags, uint64_t datamatch) {
  if (!dev) return -EINVAL;
  if ((size != 1 && size != 2 && size != 4 && size != 8) || (flags & ~QVM_IOEVENTFD_DATAMATCH))
    return -EINVAL;
  if (size < 8 && (flags & QVM_IOEVENTFD_DATAMATCH) && (datamatch >> (8 * size)))
    return -EINVAL;  // a value the access cannot carry
  if (dev->pci.fn) {
    if (region > 5) return -EINVAL;
    uint64_t bs = dev->pci.fn->decl.bar_size[region];
    if (!bs || offset > bs || size > bs - offset) return -EINVAL;
  } else {
    if (region >= dev->regions.size()) return -EINVAL;
    const auto& r = dev->regions[region];
    if (r.space != QVM_SPACE_MEM && r.space != QVM_SPACE_IO) return -EINVAL;
    if (offset > r.size || size > r.size - offset) return -EINVAL;
  }
  int sup = dev->host->notifiers_supported(false);
  if (sup < 0) return sup;
  qvm_vdev::Notifier n;
  n.region = region;
  n.offset = offset;
  n.size = size;
  n.match = (flags & QVM_IOEVENTFD_DATAMATCH) != 0;
  n.datamatch = n.match ? datamatch : 0;
  std::lock_guard<std::mutex> g(dev->notify.mu);
  if (dev->notify.list.size() >= 64) return -ENOSPC;
  for (const auto& o : dev->notify.list)
    if (!o.irq && o.region == n.region && o.offset == n.offset && o.size == n.size &&
        (!o.match || !n.match || o.datamatch == n.datamatch))
      return -EEXIST;
  n.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (n.fd < 0) return -errno;
  int rc = qvm::Place(dev, n);
  if (rc < 0) {
    close(n.fd);
    return rc;
  }
  dev->notify.list.push_back(n);
  return n.fd;
}

QVM_EXPORT int qvm_irqfd_msi(qvm_vdev_t* dev) {
  if (!dev) return -EINVAL;
  int sup = dev->host->notifiers_supported(true);
  if (sup < 0) return sup;
  std::lock_guard<std::mutex> g(dev->notify.mu);
  if (dev->notify.list.size() >= 64) return -ENOSPC;
  int gsi = qvm::AllocGsi();
  if (gsi < 0) return gsi;
  qvm_vdev::Notifier n;
  n.irq = true;
  n.gsi = unsigned(gsi);
  n.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (n.fd < 0) {
    int e = errno;
    qvm::FreeGsi(n.gsi);
    return -e;
  }
  int rc = dev->host->irqfd(n.fd, n.gsi, true);
  if (rc < 0 && rc != -EAGAIN) {
    close(n.fd);
    qvm::FreeGsi(n.gsi);
    return rc;
  }
  dev->notify.list.push_back(n);
  return n.fd;
}

QVM_EXPORT int qvm_irqfd_msi_set(qvm_vdev_t* dev, int fd,
                                                             uint64_t address, uint32_t data,
                                                             int masked) {
  if (!dev || fd < 0) return -EINVAL;
  std::lock_guard<std::mutex> g(dev->notify.mu);
  for (auto& n : dev->notify.list) {
    if (!n.irq || n.fd != fd) continue;
    bool route = !masked;
    if (route == n.routed && (!route || (n.msi_addr == address && n.msi_data == data)))
      return 0;
    int rc = dev->host->set_msi_route(n.gsi, address, data, !route);
    if (rc < 0 && rc != -EAGAIN) return rc;
    n.routed = route;
    n.msi_addr = address;
    n.msi_data = data;
    return 0;
  }
  return -EINVAL;
}

QVM_EXPORT int qvm_notify_close(qvm_vdev_t* dev, int fd) {
  if (!dev || fd < 0) return -EINVAL;
  std::lock_guard<std::mutex> g(dev->notify.mu);
  for (size_t i = 0; i < dev->notify.list.size(); i++)
    if (dev->notify.list[i].fd == fd) {
      qvm::Release(dev, dev->notify.list[i]);
      dev->notify.list.erase(dev->notify.list.begin() + long(i));
      return 0;
    }
  return -EINVAL;
}

