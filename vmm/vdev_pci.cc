// PCI topology: functions declare themselves, a PCI host enumerates them,
// maps their BARs and sets their state; accesses to a mapped BAR go to the
// function.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "vmm/vdev_host.h"

using qvm::BusStatus;
using qvm::SizeAllowed;
using qvm::ToBus;


// A PCI host's region access that falls inside a BAR it mapped goes to the
// function that owns the BAR (region = BAR index), under that function's
// lock only.
bool qvm_vdev::pci_dispatch(const qvm::BusAccess& acc, uint8_t* data,
                            bool write, BusStatus* st) {
  if (acc.region >= regions.size()) return false;
  const uint32_t space = regions[acc.region].space;
  if (space != QVM_SPACE_MEM && space != QVM_SPACE_IO) return false;
  qvm_vdev* fn = nullptr;
  unsigned bar = 0;
  uint64_t off = 0;
  {
    std::shared_lock<std::shared_mutex> g(pci.bars_mu);
    for (const auto& b : pci.bars)
      if (b.space == space && acc.addr >= b.base && acc.size <= b.size &&
          acc.addr - b.base <= b.size - acc.size) {
        fn = b.fn;
        bar = b.bar;
        off = acc.addr - b.base;
        break;
      }
  }
  if (!fn) return false;
  if (!SizeAllowed(fn->factory, acc.size) ||
      !(write ? fn->factory->write : fn->factory->read)) {
    *st = BusStatus::BusError;
    return true;
  }
  qvm_access a{space, acc.size, off, bar, acc.vcpu};
  uint8_t copy[8];
  memcpy(copy, data, acc.size);
  std::lock_guard<std::mutex> g(fn->mu);
  *st = ToBus(write ? fn->factory->write(fn, fn->state, &a, copy)
                    : fn->factory->read(fn, fn->state, &a, data));
  return true;
}

namespace {

bool PowerOf2(uint64_t v) { return v && !(v & (v - 1)); }

// Checks a function's description; copies it (and its capabilities) out.
int PciCheck(const qvm_pci_function* f, qvm_vdev::PciFn* out) {
  constexpr size_t kMin = offsetof(struct qvm_pci_function, caps_len) + sizeof(size_t);
  if (!f || f->struct_size < kMin) return -EINVAL;
  memcpy(&out->decl, f, std::min(f->struct_size, sizeof out->decl));
  out->decl.struct_size = sizeof out->decl;
  const qvm_pci_function& d = out->decl;
  if (d.vendor_id == 0xffff || d.intx_pin > 4) return -EINVAL;
  for (unsigned i = 0; i < 6; i++) {
    if (!d.bar_size[i]) continue;
    if (d.bar_flags[i] & QVM_PCI_BAR_IO) {  // ABI 1.8: 4-256 ports, nothing else
      if (d.bar_flags[i] != QVM_PCI_BAR_IO || !PowerOf2(d.bar_size[i]) || d.bar_size[i] < 4 ||
          d.bar_size[i] > 256)
        return -EINVAL;
      continue;
    }
    if (!PowerOf2(d.bar_size[i]) || d.bar_size[i] < 16 || d.bar_size[i] > (1ull << 30))
      return -EINVAL;
    if (d.bar_flags[i] & ~(QVM_PCI_BAR_MEM64 | QVM_PCI_BAR_PREFETCH)) return -EINVAL;
    if (d.bar_flags[i] & QVM_PCI_BAR_MEM64) {
      if (i == 5 || d.bar_size[i + 1]) return -EINVAL;
      i++;
    }
  }
  for (unsigned i = 1; i < 6; i++)  // the upper half of a 64-bit BAR is no BAR
    if ((d.bar_flags[i - 1] & QVM_PCI_BAR_MEM64) && d.bar_size[i - 1] && d.bar_flags[i])
      return -EINVAL;
  if (d.msix_vectors) {
    if (d.msix_vectors > 2048 || d.msix_bar > 5 || !d.bar_size[d.msix_bar] ||
        (d.bar_flags[d.msix_bar] & QVM_PCI_BAR_IO))  // the table is memory
      return -EINVAL;
    uint64_t bs = d.bar_size[d.msix_bar];
    uint64_t tlen = uint64_t(d.msix_vectors) * 16, plen = (uint64_t(d.msix_vectors) + 63) / 64 * 8;
    if ((d.msix_table_offset | d.msix_pba_offset) & 7) return -EINVAL;
    if (d.msix_table_offset > bs || tlen > bs - d.msix_table_offset) return -EINVAL;
    if (d.msix_pba_offset > bs || plen > bs - d.msix_pba_offset) return -EINVAL;
  }
  if (d.caps_len) {
    if (!d.caps || d.caps_len > 180) return -EINVAL;
    size_t at = 0, room = 0;
    while (at < d.caps_len) {
      if (d.caps_len - at < 3) return -EINVAL;
      uint8_t len = d.caps[at + 2];
      if (d.caps[at] != 0x09 || len < 3 || len > d.caps_len - at) return -EINVAL;
      room += (len + 3u) & ~3u;
      at += len;
    }
    if (room > 180) return -EINVAL;
    out->caps.assign(d.caps, d.caps + d.caps_len);
  }
  out->decl.caps = out->caps.empty() ? nullptr : out->caps.data();
  return 0;
}

}  // namespace

QVM_EXPORT int qvm_pci_declare(qvm_vdev_t* dev,
                                                            const struct qvm_pci_function* f) {
  if (!dev || !(dev->factory->flags & QVM_VDEVF_SPACE_PCI)) return -EINVAL;
  if (dev->pci.fn) return -EBUSY;
  if (dev->host->guest_running()) return -EBUSY;
  auto fn = std::make_unique<qvm_vdev::PciFn>();
  int rc = PciCheck(f, fn.get());
  if (rc < 0) return rc;
  std::vector<unsigned> taken;
  for (qvm_vdev* o : dev->host->all_devices())
    if (o != dev && o->pci.fn) taken.push_back(o->pci.fn->addr);
  auto is_taken = [&](unsigned a) {
    return std::find(taken.begin(), taken.end(), a) != taken.end();
  };
  bool placed = false;
  for (const auto& l : dev->spec.locs)
    if (l.space == qvm::Space::Pci && !l.pci_by_id) {
      fn->addr = (unsigned(l.bus) << 8) | (unsigned(l.dev) << 3) | l.fn;
      if (fn->addr == 0 || is_taken(fn->addr)) return -EEXIST;  // 00:00.0: host bridge
      placed = true;
      break;
    }
  if (!placed) {
    for (unsigned d = 1; d < 32 && !placed; d++) {
      bool used = false;
      for (unsigned a : taken)
        if ((a >> 8) == 0 && ((a >> 3) & 31) == d) used = true;
      if (!used) {
        fn->addr = d << 3;
        placed = true;
      }
    }
    if (!placed) return -ENOSPC;
  }
  dev->pci.fn = std::move(fn);
  return int(dev->pci.fn->addr);
}

QVM_EXPORT uint32_t qvm_pci_state(qvm_vdev_t* dev) {
  return dev ? dev->pci.state.load(std::memory_order_acquire) : 0;
}

QVM_EXPORT qvm_vdev_t* qvm_pci_enum(qvm_vdev_t* host, unsigned i,
                                                                struct qvm_pci_function* out,
                                                                unsigned* addr) {
  if (!host) return nullptr;
  unsigned n = 0;
  for (qvm_vdev* o : host->host->all_devices()) {
    if (!o->pci.fn) continue;
    if (n++ != i) continue;
    if (out && out->struct_size >= sizeof(size_t)) {
      size_t sz = std::min(out->struct_size, sizeof(struct qvm_pci_function));
      size_t keep = out->struct_size;
      memcpy(out, &o->pci.fn->decl, sz);
      out->struct_size = keep;
    }
    if (addr) *addr = o->pci.fn->addr;
    return o;
  }
  return nullptr;
}

QVM_EXPORT int qvm_pci_bar_map(qvm_vdev_t* host, qvm_vdev_t* fn,
                                                           unsigned bar, uint64_t base,
                                                           uint64_t size) {
  if (!host || !fn || !fn->pci.fn || bar > 5 || fn == host) return -EINVAL;
  const uint32_t space =
      (fn->pci.fn->decl.bar_flags[bar] & QVM_PCI_BAR_IO) ? QVM_SPACE_IO : QVM_SPACE_MEM;
  if (size) {
    bool inside = false;
    for (const auto& r : host->regions)
      if (r.space == space && base >= r.base && size <= r.size &&
          base - r.base <= r.size - size)
        inside = true;
    if (!inside) return -EINVAL;
  }
  std::unique_lock<std::shared_mutex> g(host->pci.bars_mu);
  auto& v = host->pci.bars;
  v.erase(std::remove_if(v.begin(), v.end(),
                         [&](const qvm_vdev::PciBar& b) { return b.fn == fn && b.bar == bar; }),
          v.end());
  if (size) v.push_back({base, size, fn, bar, space});
  host->pci.has_bars.store(!v.empty(), std::memory_order_release);
  g.unlock();
  qvm::MoveBarNotifiers(fn, bar, base, size);  // ioeventfds follow the BAR
  return 0;
}

QVM_EXPORT int qvm_pci_set_state(qvm_vdev_t* host, qvm_vdev_t* fn,
                                                             uint32_t state) {
  if (!host || !fn || !fn->pci.fn) return -EINVAL;
  fn->pci.state.store(state, std::memory_order_release);
  return 0;
}
