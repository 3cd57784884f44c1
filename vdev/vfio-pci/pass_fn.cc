// A host PCI function behind VFIO (pass_fn.h).
#include "pass_fn.h"

#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace vfiopci {
namespace {

constexpr unsigned kMaxIrqfds = 32;  // of qvm's 64 notifiers per instance
constexpr unsigned kMaxForwardLogs = 8;

uint16_t Get16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
uint32_t Get32(const uint8_t* p) { return uint32_t(Get16(p)) | (uint32_t(Get16(p + 2)) << 16); }

std::string Fmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Fmt(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

bool PowerOf2(uint64_t v) { return v && !(v & (v - 1)); }

const char* CapName(uint8_t id) {
  switch (id) {
    case 0x01: return "power management";
    case 0x05: return "MSI";
    case 0x09: return "vendor-specific";
    case 0x10: return "PCI Express";
    case 0x11: return "MSI-X";
    default: return nullptr;
  }
}

unsigned long Ptr(void* p) { return reinterpret_cast<unsigned long>(p); }

}  // namespace

PassFn::~PassFn() {
  // Eventfds from qvm_irqfd_msi are qvm's (released at TERMINATE); own
  // eventfds are closed here.
  for (auto& v : vec_)
    if (v.fd >= 0 && !v.irqfd) sys_.close(v.fd);
  if (intx_fd_ >= 0) sys_.close(intx_fd_);
  sys_.close(device_);
  sys_.close(group_);
  sys_.close(container_);
}

std::string PassFn::open(const HostDevice& d, int* err) {
  bdf_ = d.bdf;
  auto fail = [&](int e, const std::string& why) {
    *err = e;
    return why;
  };
  container_ = sys_.open("/dev/vfio/vfio", O_RDWR);
  if (container_ < 0)
    return fail(-container_, Fmt("/dev/vfio/vfio: %s (load the vfio-pci module)",
                                 strerror(-container_)));
  int api = sys_.ioctl(container_, VFIO_GET_API_VERSION, 0);
  if (api != VFIO_API_VERSION)
    return fail(ENOTSUP, Fmt("/dev/vfio/vfio: VFIO API version %d, qvm speaks %d", api,
                             VFIO_API_VERSION));
  char path[48];
  snprintf(path, sizeof path, "/dev/vfio/%d", d.group);
  group_ = sys_.open(path, O_RDWR);
  if (group_ == -EBUSY)
    return fail(EBUSY, Fmt("%s: IOMMU group %d of %s is in use by another process (another "
                           "qvm?): VFIO gives a group to one process at a time",
                           path, d.group, d.bdf.c_str()));
  if (group_ < 0)
    return fail(-group_, Fmt("%s: %s%s", path, strerror(-group_),
                             group_ == -EACCES || group_ == -EPERM
                                 ? " (the group's node must be writable by qvm's user)"
                                 : ""));
  vfio_group_status gs{};
  gs.argsz = sizeof gs;
  int rc = sys_.ioctl(group_, VFIO_GROUP_GET_STATUS, Ptr(&gs));
  if (rc < 0) return fail(-rc, Fmt("%s: VFIO_GROUP_GET_STATUS: %s", path, strerror(-rc)));
  if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
    return fail(EPERM, Fmt("IOMMU group %d of %s is not viable: a device of the group is "
                           "bound to a host driver (bind every device of the group to "
                           "vfio-pci)", d.group, d.bdf.c_str()));
  if (!(gs.flags & VFIO_GROUP_FLAGS_CONTAINER_SET)) {
    rc = sys_.ioctl(group_, VFIO_GROUP_SET_CONTAINER, Ptr(&container_));
    if (rc < 0)
      return fail(-rc, Fmt("%s: VFIO_GROUP_SET_CONTAINER: %s", path, strerror(-rc)));
  }
  unsigned long type = 0;
  if (sys_.ioctl(container_, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0)
    type = VFIO_TYPE1v2_IOMMU;
  else if (sys_.ioctl(container_, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) > 0)
    type = VFIO_TYPE1_IOMMU;
  else
    return fail(ENOTSUP, "the host's VFIO has no type-1 IOMMU (vfio_iommu_type1 not loaded)");
  rc = sys_.ioctl(container_, VFIO_SET_IOMMU, type);
  if (rc < 0)
    return fail(-rc, Fmt("VFIO_SET_IOMMU: %s%s", strerror(-rc),
                         rc == -EPERM ? " (the host IOMMU does not remap interrupts: enable "
                                        "interrupt remapping, e.g. intremap=on)"
                                      : ""));
  char name[32];
  snprintf(name, sizeof name, "%s", d.bdf.c_str());
  device_ = sys_.ioctl(group_, VFIO_GROUP_GET_DEVICE_FD, Ptr(name));
  if (device_ < 0)
    return fail(-device_, Fmt("%s: VFIO_GROUP_GET_DEVICE_FD: %s", d.bdf.c_str(),
                              strerror(-device_)));
  vfio_device_info di{};
  di.argsz = sizeof di;
  rc = sys_.ioctl(device_, VFIO_DEVICE_GET_INFO, Ptr(&di));
  if (rc < 0) return fail(-rc, Fmt("%s: VFIO_DEVICE_GET_INFO: %s", d.bdf.c_str(), strerror(-rc)));
  if (!(di.flags & VFIO_DEVICE_FLAGS_PCI) || di.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
    return fail(ENODEV, Fmt("%s: VFIO does not describe it as a PCI device", d.bdf.c_str()));
  dev_flags_ = di.flags;
  auto region = [&](unsigned index, Region* out) -> int {
    vfio_region_info ri{};
    ri.argsz = sizeof ri;
    ri.index = index;
    int r = sys_.ioctl(device_, VFIO_DEVICE_GET_REGION_INFO, Ptr(&ri));
    if (r < 0) return r;
    out->size = ri.size;
    out->offset = ri.offset;
    out->flags = ri.flags;
    return 0;
  };
  for (unsigned i = 0; i < 6; i++) {
    rc = region(VFIO_PCI_BAR0_REGION_INDEX + i, &bars_[i]);
    if (rc < 0) return fail(-rc, Fmt("%s: region info of BAR%u: %s", d.bdf.c_str(), i, strerror(-rc)));
  }
  rc = region(VFIO_PCI_CONFIG_REGION_INDEX, &config_);
  if (rc < 0 || config_.size < 256)
    return fail(rc < 0 ? -rc : ENODEV, Fmt("%s: no configuration-space region", d.bdf.c_str()));
  ssize_t n = sys_.pread(device_, cfg_, sizeof cfg_, off_t(config_.offset));
  if (n != ssize_t(sizeof cfg_))
    return fail(EIO, Fmt("%s: cannot read its configuration space", d.bdf.c_str()));
  auto irqs = [&](unsigned index) -> unsigned {
    if (index >= di.num_irqs) return 0;
    vfio_irq_info ii{};
    ii.argsz = sizeof ii;
    ii.index = index;
    if (sys_.ioctl(device_, VFIO_DEVICE_GET_IRQ_INFO, Ptr(&ii)) < 0) return 0;
    return (ii.flags & VFIO_IRQ_INFO_EVENTFD) ? ii.count : 0;
  };
  intx_count_ = irqs(VFIO_PCI_INTX_IRQ_INDEX);
  msix_count_ = irqs(VFIO_PCI_MSIX_IRQ_INDEX);
  phys_cmd_ = Get16(cfg_ + 4);
  return "";
}

std::string PassFn::describe(qvm_pci_function* f, std::vector<std::string>* notes) {
  memset(f, 0, sizeof *f);
  f->struct_size = sizeof *f;
  f->vendor_id = Get16(cfg_ + 0x00);
  f->device_id = Get16(cfg_ + 0x02);
  f->revision = cfg_[0x08];
  f->prog_if = cfg_[0x09];
  f->subclass = cfg_[0x0a];
  f->class_code = cfg_[0x0b];
  if ((cfg_[0x0e] & 0x7f) != 0)
    return Fmt("%s: header type %u (a bridge): only ordinary functions are passed through",
               bdf_.c_str(), cfg_[0x0e] & 0x7f);
  f->subsystem_vendor_id = Get16(cfg_ + 0x2c);
  f->subsystem_id = Get16(cfg_ + 0x2e);
  uint8_t pin = cfg_[0x3d];
  if (pin >= 1 && pin <= 4 && intx_count_) {
    f->intx_pin = pin;
    intx_ = true;
  }
  for (unsigned i = 0; i < 6; i++) {
    uint32_t bar = Get32(cfg_ + 0x10 + 4 * i);
    uint64_t size = bars_[i].size;
    if (!size) continue;
    if (bar & 1) {
      notes->push_back(Fmt("BAR%u: an I/O BAR (%llu ports) is not presented (qvm's PCI host "
                           "places memory BARs only)", i, (unsigned long long)size));
      bars_[i].size = 0;
      continue;
    }
    bool mem64 = ((bar >> 1) & 3) == 2;
    if (!PowerOf2(size) || size < 16 || size > (1ull << 30))
      return Fmt("%s: BAR%u of 0x%llx bytes: qvm's PCI host places BARs of 16 B to 1 GiB",
                 bdf_.c_str(), i, (unsigned long long)size);
    if (mem64 && i == 5) return Fmt("%s: BAR5 claims to be 64-bit", bdf_.c_str());
    f->bar_size[i] = size;
    f->bar_flags[i] = (mem64 ? QVM_PCI_BAR_MEM64 : 0) | ((bar & 8) ? QVM_PCI_BAR_PREFETCH : 0);
    if (mem64) {
      bars_[i + 1].size = 0;  // the upper half is no BAR of its own
      i++;
    }
  }
  // The capability list: qvm's PCI host emulates MSI-X from the
  // description; every other capability is hidden.
  std::string hidden;
  if (cfg_[0x06] & 0x10) {
    unsigned at = cfg_[0x34] & 0xfc;
    for (unsigned steps = 0; at >= 0x40 && at <= 0xfc - 4 && steps < 48; steps++) {
      uint8_t id = cfg_[at];
      if (id == 0x11 && msix_count_) {
        uint16_t ctrl = Get16(cfg_ + at + 2);
        uint32_t table = Get32(cfg_ + at + 4), pba = Get32(cfg_ + at + 8);
        unsigned n = (ctrl & 0x7ff) + 1u, bar = table & 7;
        uint64_t bs = bar < 6 ? f->bar_size[bar] : 0;
        uint32_t toff = table & ~7u, poff = pba & ~7u;
        uint64_t tlen = uint64_t(n) * 16, plen = (uint64_t(n) + 63) / 64 * 8;
        if (n > msix_count_ || (pba & 7) != bar || !bs || toff > bs || tlen > bs - toff ||
            poff > bs || plen > bs - poff) {
          notes->push_back("MSI-X: its table and PBA are not in one memory BAR; hidden (the "
                           "guest uses INTx)");
        } else {
          msix_n_ = n;
          msix_bar_ = bar;
          msix_table_ = toff;
          msix_pba_ = poff;
          f->msix_vectors = uint16_t(n);
          f->msix_bar = uint8_t(bar);
          f->msix_table_offset = toff;
          f->msix_pba_offset = poff;
        }
      } else {
        const char* name = CapName(id);
        hidden += hidden.empty() ? "" : ", ";
        hidden += name ? name : Fmt("0x%02x", id);
      }
      at = cfg_[at + 1] & 0xfc;
    }
  }
  if (!hidden.empty())
    notes->push_back("capabilities hidden from the guest: " + hidden +
                     " (qvm's PCI host emulates MSI-X only)");
  if (!intx_ && !msix_n_)
    notes->push_back("the device has no interrupt the guest can use (no INTx pin, no MSI-X)");
  vec_.assign(msix_n_, Vector{});
  return "";
}

std::string PassFn::map_dma(qvm_vdev_t* dev) {
  for (const auto& m : dma_) {
    vfio_iommu_type1_dma_unmap um{};
    um.argsz = sizeof um;
    um.iova = m.first;
    um.size = m.second;
    (void)sys_.ioctl(container_, VFIO_IOMMU_UNMAP_DMA, Ptr(&um));
  }
  dma_.clear();
  for (unsigned i = 0; i < 64; i++) {
    uint64_t base = 0, size = 0;
    if (qvm_ram_region(dev, i, &base, &size) < 0) break;
    if (!size) continue;
    void* host = qvm_gmem_map(dev, base, size, 1);
    if (!host) return Fmt("guest RAM 0x%llx+0x%llx: no host mapping", (unsigned long long)base,
                          (unsigned long long)size);
    vfio_iommu_type1_dma_map m{};
    m.argsz = sizeof m;
    m.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
    m.vaddr = reinterpret_cast<uint64_t>(host);
    m.iova = base;
    m.size = size;
    int rc = sys_.ioctl(container_, VFIO_IOMMU_MAP_DMA, Ptr(&m));
    if (rc < 0)
      return Fmt("VFIO_IOMMU_MAP_DMA of guest RAM 0x%llx+0x%llx: %s%s",
                 (unsigned long long)base, (unsigned long long)size, strerror(-rc),
                 rc == -ENOMEM ? " (pinned memory is limited by RLIMIT_MEMLOCK)" : "");
    dma_.push_back({base, size});
  }
  return "";
}

int PassFn::set_irqs(unsigned index, uint32_t flags, unsigned start, unsigned count,
                     const int* fds) {
  std::vector<uint8_t> buf(sizeof(vfio_irq_set) + (fds ? count * sizeof(int) : 0));
  auto* s = reinterpret_cast<vfio_irq_set*>(buf.data());
  s->argsz = uint32_t(buf.size());
  s->flags = flags;
  s->index = index;
  s->start = start;
  s->count = count;
  if (fds) memcpy(s->data, fds, count * sizeof(int));
  return sys_.ioctl(device_, VFIO_DEVICE_SET_IRQS, Ptr(s));
}

void PassFn::write_command(uint16_t cmd) {
  if (cmd == phys_cmd_) return;
  uint8_t b[2] = {uint8_t(cmd), uint8_t(cmd >> 8)};
  if (sys_.pwrite(device_, b, 2, off_t(config_.offset + 4)) == 2) phys_cmd_ = cmd;
}

void PassFn::intx_arm(qvm_vdev_t* dev) {
  if (!intx_ || intx_armed_) return;
  if (intx_fd_ < 0) intx_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (intx_fd_ < 0) return;
  if (!intx_watched_) {
    if (qvm_fd_watch(dev, intx_fd_, [](qvm_vdev_t* d, void*, void* arg) {
          static_cast<PassFn*>(arg)->intx_event(d);
        }, this) < 0) {
      qvm_log(dev, QVM_LOG_ERROR, "%s: cannot watch the INTx eventfd", bdf_.c_str());
      return;
    }
    intx_watched_ = true;
  }
  int rc = set_irqs(VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
                    0, 1, &intx_fd_);
  if (rc < 0)
    qvm_log(dev, QVM_LOG_ERROR, "%s: INTx: VFIO_DEVICE_SET_IRQS: %s", bdf_.c_str(), strerror(-rc));
  else
    intx_armed_ = true;
}

void PassFn::intx_event(qvm_vdev_t* dev) {
  uint64_t count;
  if (intx_fd_ < 0 || ::read(intx_fd_, &count, sizeof count) != ssize_t(sizeof count)) return;
  if (!intx_armed_) return;
  intx_pending_ = true;  // VFIO masked the host line; unmasked at the guest's next access
  uint32_t st = qvm_pci_state(dev);
  if (!(st & QVM_PCI_STATE_INTX_DISABLE)) qvm_intr_set(dev, 0, 1);
}

// The guest touched the device after an INTx (called once the access has
// reached the device: an acknowledgement it wrote has taken effect): the
// host line is unmasked, and the guest's line drops unless the device still
// asserts it. VFIO's unmask signals the eventfd before it returns when the
// device still asserts the line; that signal is taken here, so the line
// stays up without a round trip through the event thread. (Taken later, it
// raised the line again after the guest had acknowledged the interrupt,
// and the guest took a second, spurious interrupt for every one: seen with
// QEMU's edu device in the passthrough lane, one spurious per INTx.)
void PassFn::intx_eoi(qvm_vdev_t* dev) {
  if (!intx_pending_ || (state_ & QVM_PCI_STATE_INTX_DISABLE)) return;
  intx_pending_ = false;
  set_irqs(VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, 0, 1,
           nullptr);
  uint64_t count;
  if (intx_fd_ >= 0 && ::read(intx_fd_, &count, sizeof count) == ssize_t(sizeof count)) {
    intx_pending_ = true;  // still asserted (and masked again by VFIO)
    return;
  }
  qvm_intr_set(dev, 0, 0);
}

void PassFn::prepare(qvm_vdev_t* dev) {
  if (!msix_fds_ && msix_n_) {
    watch_.resize(msix_n_);
    for (unsigned v = 0; v < msix_n_; v++) {
      Vector& x = vec_[v];
      if (v < kMaxIrqfds) {
        int fd = qvm_irqfd_msi(dev);
        if (fd >= 0) {
          x.fd = fd;
          x.irqfd = true;
          continue;
        }
      }
      x.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (x.fd < 0) continue;
      watch_[v] = {this, v};
      if (qvm_fd_watch(dev, x.fd, [](qvm_vdev_t* d, void*, void* arg) {
            auto* w = static_cast<Watch*>(arg);
            w->fn->msix_event(d, w->v);
          }, &watch_[v]) < 0) {
        ::close(x.fd);
        x.fd = -1;
      }
    }
    msix_fds_ = true;
  }
  intx_arm(dev);
}

void PassFn::msix_on(qvm_vdev_t* dev) {
  prepare(dev);
  // VFIO takes MSI-X only with INTx off.
  if (intx_armed_) {
    if (intx_pending_) qvm_intr_set(dev, 0, 0);
    set_irqs(VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0,
             nullptr);
    intx_armed_ = intx_pending_ = false;
  }
  std::vector<int> fds(msix_n_);
  for (unsigned v = 0; v < msix_n_; v++) fds[v] = vec_[v].fd;
  int rc = set_irqs(VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
                    0, msix_n_, fds.data());
  if (rc < 0) {
    qvm_log(dev, QVM_LOG_ERROR, "%s: MSI-X: VFIO_DEVICE_SET_IRQS: %s", bdf_.c_str(), strerror(-rc));
    intx_arm(dev);
    return;
  }
  msix_enabled_ = true;
}

void PassFn::msix_off() {
  if (!msix_enabled_) return;
  set_irqs(VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0,
           nullptr);
  msix_enabled_ = false;
}

void PassFn::update_vector(qvm_vdev_t* dev, unsigned v) {
  Vector& x = vec_[v];
  uint64_t addr = x.word[0] | (uint64_t(x.word[1]) << 32);
  int masked = !msix_enabled_ || (state_ & QVM_PCI_STATE_MSIX_MASKALL) || (x.word[3] & 1);
  if (x.irqfd) {
    if (addr != x.set_addr || x.word[2] != x.set_data || masked != x.set_masked) {
      if (qvm_irqfd_msi_set(dev, x.fd, addr, x.word[2], masked) == 0) {
        x.set_addr = addr;
        x.set_data = x.word[2];
        x.set_masked = masked;
      }
    }
  } else if (!masked && x.pending) {
    x.pending = false;
    qvm_msi(dev, addr, x.word[2]);
  }
}

void PassFn::msix_event(qvm_vdev_t* dev, unsigned v) {
  if (v >= vec_.size() || vec_[v].fd < 0) return;
  uint64_t count;
  if (::read(vec_[v].fd, &count, sizeof count) != ssize_t(sizeof count)) return;
  sync(dev);
  vec_[v].pending = true;
  update_vector(dev, v);  // delivers unless masked (then it stays pending)
}

void PassFn::sync(qvm_vdev_t* dev) {
  uint32_t st = qvm_pci_state(dev);
  if (state_seen_ && st == state_) return;
  uint32_t was = state_;
  state_ = st;
  state_seen_ = true;
  // Memory decoding stays on in the device (qvm decides where the guest
  // sees the BARs); bus mastering and INTx disable follow the guest.
  uint16_t cmd = uint16_t((phys_cmd_ & ~0x0407u) | 0x0002u);
  if (st & QVM_PCI_STATE_BUS_MASTER) cmd |= 0x0004;
  if (st & QVM_PCI_STATE_INTX_DISABLE) cmd |= 0x0400;
  write_command(cmd);
  bool want = msix_n_ && (st & QVM_PCI_STATE_MSIX_ENABLE);
  if (want && !msix_enabled_) msix_on(dev);
  if (!want && msix_enabled_) {
    msix_off();
    intx_arm(dev);
  }
  for (unsigned v = 0; v < msix_n_; v++) update_vector(dev, v);
  // INTx disable: the line drops while set; a pending INTx comes back with
  // the line when it is cleared.
  if (intx_pending_ && ((was ^ st) & QVM_PCI_STATE_INTX_DISABLE))
    qvm_intr_set(dev, 0, (st & QVM_PCI_STATE_INTX_DISABLE) ? 0 : 1);
}

bool PassFn::in_table(unsigned bar, uint64_t off, unsigned size) const {
  return msix_n_ && bar == msix_bar_ && off + size > msix_table_ &&
         off < msix_table_ + uint64_t(msix_n_) * 16;
}

bool PassFn::in_pba(unsigned bar, uint64_t off, unsigned size) const {
  return msix_n_ && bar == msix_bar_ && off + size > msix_pba_ &&
         off < msix_pba_ + (uint64_t(msix_n_) + 63) / 64 * 8;
}

bool PassFn::enter(qvm_vdev_t* dev, unsigned bar, uint64_t off, unsigned size) {
  if (bar >= 6 || !bars_[bar].size || off >= bars_[bar].size || size > bars_[bar].size - off ||
      (size != 1 && size != 2 && size != 4 && size != 8))
    return false;
  sync(dev);
  return true;
}

// Dword or qword accesses inside the table name an entry and a word;
// anything else reads 0 and is dropped.
bool PassFn::table_word(uint64_t off, unsigned size, unsigned* entry, unsigned* word) const {
  if (off < msix_table_ || (size != 4 && size != 8)) return false;
  uint64_t rel = off - msix_table_;
  if (rel & (size - 1)) return false;
  *entry = unsigned(rel / 16);
  *word = unsigned(rel % 16) / 4;
  return true;
}

int PassFn::read(qvm_vdev_t* dev, unsigned bar, uint64_t off, unsigned size, void* data) {
  if (!enter(dev, bar, off, size)) return QVM_BUS_ERROR;
  uint64_t v = 0;
  unsigned e, w;
  if (in_table(bar, off, size)) {
    if (table_word(off, size, &e, &w)) {
      const Vector& x = vec_[e];
      v = x.word[w];
      if (size == 8) v |= uint64_t(x.word[w + 1]) << 32;
    }
  } else if (in_pba(bar, off, size)) {
    for (unsigned b = 0; b < size * 8; b++) {
      uint64_t bit = (off - msix_pba_) * 8 + b;
      if (off >= msix_pba_ && bit < msix_n_ && vec_[bit].pending) v |= 1ull << b;
    }
  } else {
    ssize_t n = sys_.pread(device_, &v, size, off_t(bars_[bar].offset + off));
    if (n != ssize_t(size)) {
      v = ~0ull;
      if (forward_errors_++ < kMaxForwardLogs)
        qvm_log(dev, QVM_LOG_WARN, "%s: BAR%u+0x%llx: read failed (%s)", bdf_.c_str(), bar,
                (unsigned long long)off, n < 0 ? strerror(int(-n)) : "short");
    }
  }
  memcpy(data, &v, size);
  intx_eoi(dev);
  return QVM_DONE;
}

int PassFn::write(qvm_vdev_t* dev, unsigned bar, uint64_t off, unsigned size, const void* data) {
  if (!enter(dev, bar, off, size)) return QVM_BUS_ERROR;
  uint64_t v = 0;
  memcpy(&v, data, size);
  unsigned e, w;
  if (in_table(bar, off, size)) {
    if (table_word(off, size, &e, &w)) {
      Vector& x = vec_[e];
      x.word[w] = uint32_t(v);
      if (size == 8) x.word[w + 1] = uint32_t(v >> 32);
      x.word[3] &= 1;  // vector control: only the mask bit exists
      update_vector(dev, e);
    }
  } else if (!in_pba(bar, off, size)) {  // the PBA is read-only
    ssize_t n = sys_.pwrite(device_, &v, size, off_t(bars_[bar].offset + off));
    if (n != ssize_t(size) && forward_errors_++ < kMaxForwardLogs)
      qvm_log(dev, QVM_LOG_WARN, "%s: BAR%u+0x%llx: write failed (%s)", bdf_.c_str(), bar,
              (unsigned long long)off, n < 0 ? strerror(int(-n)) : "short");
  }
  intx_eoi(dev);
  return QVM_DONE;
}

void PassFn::reset(qvm_vdev_t* dev) {
  msix_off();
  if (intx_armed_) {
    set_irqs(VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0,
             nullptr);
    intx_armed_ = false;
  }
  if (intx_pending_) qvm_intr_set(dev, 0, 0);
  intx_pending_ = false;
  if (dev_flags_ & VFIO_DEVICE_FLAGS_RESET) (void)sys_.ioctl(device_, VFIO_DEVICE_RESET, 0);
  for (auto& x : vec_) {
    x.word[0] = x.word[1] = x.word[2] = 0;
    x.word[3] = 1;
    x.pending = false;
    x.set_masked = -1;
  }
  // Bus mastering off until the guest turns it on; memory decoding on.
  uint8_t b[2];
  if (sys_.pread(device_, b, 2, off_t(config_.offset + 4)) == 2) phys_cmd_ = Get16(b);
  uint16_t cmd = uint16_t((phys_cmd_ & ~0x0405u) | 0x0002u);
  b[0] = uint8_t(cmd);
  b[1] = uint8_t(cmd >> 8);
  if (sys_.pwrite(device_, b, 2, off_t(config_.offset + 4)) == 2) phys_cmd_ = cmd;
  state_seen_ = false;
  state_ = 0;
  forward_errors_ = 0;
  intx_arm(dev);
  for (unsigned v = 0; v < msix_n_; v++) update_vector(dev, v);
}

void PassFn::terminate(qvm_vdev_t* dev) {
  msix_off();
  if (intx_armed_)
    set_irqs(VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0,
             nullptr);
  intx_armed_ = false;
  if (intx_watched_) qvm_fd_unwatch(dev, intx_fd_);
  intx_watched_ = false;
  for (auto& x : vec_) {
    if (x.fd < 0) continue;
    if (x.irqfd) {
      qvm_notify_close(dev, x.fd);
    } else {
      qvm_fd_unwatch(dev, x.fd);
      ::close(x.fd);
    }
    x.fd = -1;
  }
  msix_fds_ = false;
  write_command(uint16_t(phys_cmd_ & ~0x0004u));  // no DMA once qvm lets go
}

std::string PassFn::status() const {
  unsigned irqfds = 0;
  for (const auto& x : vec_) irqfds += x.irqfd;
  return Fmt("%s: command 0x%04x, INTx %s%s, MSI-X %u vector(s) %s (%u in-kernel), DMA %zu "
             "range(s)", bdf_.c_str(), phys_cmd_, intx_ ? (intx_armed_ ? "armed" : "off") : "none",
             intx_pending_ ? " pending" : "", msix_n_, msix_enabled_ ? "on" : "off", irqfds,
             dma_.size());
}

}  // namespace vfiopci
