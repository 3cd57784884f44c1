#include "test/vfio/fake_vfio.h"

#include <unistd.h>

#include <cerrno>

namespace fakevfio {

FakeVfio::FakeVfio() : bar(6) {}

void FakeVfio::set_ids(uint16_t vid, uint16_t did) {
  cfg[0] = uint8_t(vid);
  cfg[1] = uint8_t(vid >> 8);
  cfg[2] = uint8_t(did);
  cfg[3] = uint8_t(did >> 8);
}

void FakeVfio::set_bar(unsigned i, uint64_t size, uint32_t flags) {
  bar_size[i] = size;
  bar[i].assign(size, 0);
  memcpy(cfg + 0x10 + 4 * i, &flags, 4);
}

void FakeVfio::add_cap(uint8_t id, const std::vector<uint8_t>& body) {
  uint8_t at = cap_at_;
  cfg[at] = id;
  cfg[at + 1] = 0;
  memcpy(cfg + at + 2, body.data(), body.size());
  if (!(cfg[0x06] & 0x10)) {
    cfg[0x06] |= 0x10;
    cfg[0x34] = at;
  } else {
    uint8_t p = cfg[0x34];
    while (cfg[p + 1]) p = cfg[p + 1];
    cfg[p + 1] = at;
  }
  cap_at_ = uint8_t((at + 2 + body.size() + 3) & ~3u);
}

void FakeVfio::add_msix(unsigned n, unsigned bir, uint32_t table, uint32_t pba) {
  uint16_t ctrl = uint16_t(n - 1);
  uint32_t t = table | bir, p = pba | bir;
  std::vector<uint8_t> b(10);
  memcpy(&b[0], &ctrl, 2);
  memcpy(&b[2], &t, 4);
  memcpy(&b[6], &p, 4);
  add_cap(0x11, b);
  msix_count = n;
}

const IrqSet* FakeVfio::last_irq(uint32_t index) const {
  for (auto it = irqs.rbegin(); it != irqs.rend(); ++it)
    if (it->index == index) return &*it;
  return nullptr;
}

int FakeVfio::open(const char* path, int) {
  std::string p = path;
  if (p == "/dev/vfio/vfio") {
    if (container_missing) return -ENOENT;
    open_fds.push_back(kContainer);
    return kContainer;
  }
  if (p == "/dev/vfio/" + std::to_string(group)) {
    if (group_busy) return -EBUSY;
    open_fds.push_back(kGroup);
    return kGroup;
  }
  return -ENOENT;
}

void FakeVfio::close(int fd) {
  for (auto it = open_fds.begin(); it != open_fds.end(); ++it)
    if (*it == fd) {
      open_fds.erase(it);
      return;
    }
}

int FakeVfio::ioctl(int fd, unsigned long request, unsigned long arg) {
  void* p = reinterpret_cast<void*>(arg);
  if (fd == kContainer) {
    switch (request) {
      case VFIO_GET_API_VERSION: return VFIO_API_VERSION;
      case VFIO_CHECK_EXTENSION:
        return arg == VFIO_TYPE1_IOMMU || (arg == VFIO_TYPE1v2_IOMMU && type1v2);
      case VFIO_SET_IOMMU:
        if (!container_set) return -EINVAL;
        if (set_iommu_rc) return set_iommu_rc;
        iommu_type = arg;
        return 0;
      case VFIO_IOMMU_MAP_DMA: {
        auto* m = static_cast<vfio_iommu_type1_dma_map*>(p);
        if (!iommu_type || m->argsz < sizeof *m) return -EINVAL;
        maps.push_back({m->vaddr, m->iova, m->size});
        return 0;
      }
      case VFIO_IOMMU_UNMAP_DMA: {
        auto* m = static_cast<vfio_iommu_type1_dma_unmap*>(p);
        unmaps.push_back({m->iova, m->size});
        return 0;
      }
    }
    return -ENOTTY;
  }
  if (fd == kGroup) {
    switch (request) {
      case VFIO_GROUP_GET_STATUS: {
        auto* s = static_cast<vfio_group_status*>(p);
        s->flags = (group_viable ? VFIO_GROUP_FLAGS_VIABLE : 0) |
                   (container_set ? VFIO_GROUP_FLAGS_CONTAINER_SET : 0);
        return 0;
      }
      case VFIO_GROUP_SET_CONTAINER:
        if (*static_cast<int*>(p) != kContainer) return -EBADF;
        container_set = true;
        return 0;
      case VFIO_GROUP_GET_DEVICE_FD:
        if (!iommu_type) return -EINVAL;
        open_fds.push_back(kDevice);
        return kDevice;
    }
    return -ENOTTY;
  }
  if (fd == kDevice) {
    switch (request) {
      case VFIO_DEVICE_GET_INFO: {
        auto* i = static_cast<vfio_device_info*>(p);
        i->flags = VFIO_DEVICE_FLAGS_PCI | (can_reset ? VFIO_DEVICE_FLAGS_RESET : 0);
        i->num_regions = VFIO_PCI_NUM_REGIONS;
        i->num_irqs = VFIO_PCI_NUM_IRQS;
        return 0;
      }
      case VFIO_DEVICE_GET_REGION_INFO: {
        auto* r = static_cast<vfio_region_info*>(p);
        if (r->index >= VFIO_PCI_NUM_REGIONS) return -EINVAL;
        r->offset = RegionOffset(r->index);
        r->size = r->index < 6 ? bar_size[r->index]
                  : r->index == VFIO_PCI_CONFIG_REGION_INDEX ? 256 : 0;
        r->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
        return 0;
      }
      case VFIO_DEVICE_GET_IRQ_INFO: {
        auto* i = static_cast<vfio_irq_info*>(p);
        i->flags = VFIO_IRQ_INFO_EVENTFD;
        i->count = i->index == VFIO_PCI_INTX_IRQ_INDEX ? intx_count
                   : i->index == VFIO_PCI_MSIX_IRQ_INDEX ? msix_count : 0;
        return 0;
      }
      case VFIO_DEVICE_SET_IRQS: {
        auto* s = static_cast<vfio_irq_set*>(p);
        IrqSet r{s->flags, s->index, s->start, s->count, {}};
        if (s->flags & VFIO_IRQ_SET_DATA_EVENTFD) {
          if (s->argsz < sizeof *s + s->count * sizeof(int)) return -EINVAL;
          const int* fds = reinterpret_cast<const int*>(s->data);
          r.fds.assign(fds, fds + s->count);
        }
        // The kernel's rule: MSI-X only while INTx is off, and the reverse.
        if ((s->flags & VFIO_IRQ_SET_DATA_EVENTFD) && s->count) {
          uint32_t other = s->index == VFIO_PCI_INTX_IRQ_INDEX ? VFIO_PCI_MSIX_IRQ_INDEX
                                                               : VFIO_PCI_INTX_IRQ_INDEX;
          const IrqSet* o = last_irq(other);
          if (o && (o->flags & VFIO_IRQ_SET_ACTION_TRIGGER) && o->count &&
              (o->flags & VFIO_IRQ_SET_DATA_EVENTFD))
            return -EINVAL;
        }
        irqs.push_back(r);
        if (s->index == VFIO_PCI_INTX_IRQ_INDEX && (s->flags & VFIO_IRQ_SET_ACTION_UNMASK) &&
            intx_asserted) {
          const IrqSet* t = nullptr;
          for (const auto& x : irqs)
            if (x.index == VFIO_PCI_INTX_IRQ_INDEX && (x.flags & VFIO_IRQ_SET_ACTION_TRIGGER))
              t = &x;
          uint64_t one = 1;
          if (t && t->fds.size() == 1 && ::write(t->fds[0], &one, sizeof one) != sizeof one)
            return -EIO;
        }
        return 0;
      }
      case VFIO_DEVICE_RESET:
        resets++;
        return can_reset ? 0 : -ENOTTY;
    }
    return -ENOTTY;
  }
  return -EBADF;
}

ssize_t FakeVfio::pread(int fd, void* buf, size_t len, off_t off) {
  if (fd != kDevice) return -EBADF;
  unsigned index = unsigned(uint64_t(off) >> 40);
  uint64_t o = uint64_t(off) & ((1ull << 40) - 1);
  if (index == VFIO_PCI_CONFIG_REGION_INDEX) {
    if (o > 256 || len > 256 - o) return -EINVAL;
    memcpy(buf, cfg + o, len);
    return ssize_t(len);
  }
  if (index < 6 && o <= bar[index].size() && len <= bar[index].size() - o) {
    memcpy(buf, bar[index].data() + o, len);
    return ssize_t(len);
  }
  return -EINVAL;
}

ssize_t FakeVfio::pwrite(int fd, const void* buf, size_t len, off_t off) {
  if (fd != kDevice) return -EBADF;
  unsigned index = unsigned(uint64_t(off) >> 40);
  uint64_t o = uint64_t(off) & ((1ull << 40) - 1);
  if (index == VFIO_PCI_CONFIG_REGION_INDEX) {
    if (o == 4 && len == 2) {
      uint16_t v;
      memcpy(&v, buf, 2);
      command_writes.push_back(v);
      memcpy(cfg + 4, buf, 2);
      return 2;
    }
    return -EINVAL;  // the plug-in writes nothing else there
  }
  if (index < 6 && o <= bar[index].size() && len <= bar[index].size() - o) {
    memcpy(bar[index].data() + o, buf, len);
    if (index == 0 && o == intx_ack_off) intx_asserted = false;
    return ssize_t(len);
  }
  return -EINVAL;
}

}  // namespace fakevfio
