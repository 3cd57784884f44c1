// A fake VFIO stack for the vfio-pci plug-in's code (vdev/vfio-pci): the
// container, one IOMMU group and one PCI device, answering the ioctls the
// kernel answers (with knobs for every refusal), holding the device's
// configuration space and BAR contents, and recording DMA mappings,
// interrupt set-ups, command-register writes and resets.
#pragma once

#include <linux/vfio.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "vdev/vfio-pci/sys.h"

namespace fakevfio {

constexpr int kContainer = 9001, kGroup = 9002, kDevice = 9003;

// Region offsets as vfio-pci lays them out (index << 40).
constexpr uint64_t RegionOffset(unsigned index) { return uint64_t(index) << 40; }

struct IrqSet {
  uint32_t flags, index, start, count;
  std::vector<int> fds;
};

struct DmaMap {
  uint64_t vaddr, iova, size;
};

class FakeVfio : public vfiopci::Sys {
 public:
  FakeVfio();

  // Knobs.
  int group = 5;
  bool container_missing = false;
  bool group_busy = false;           // another process holds the group: EBUSY
  bool group_viable = true;
  int set_iommu_rc = 0;              // e.g. -EPERM (no interrupt remapping)
  bool type1v2 = true;
  bool can_reset = true;
  unsigned intx_count = 1, msix_count = 0;
  // The device's INTx output, as the kernel sees it: an INTx unmask while
  // it is asserted signals the trigger eventfd at once (the kernel's
  // vfio_pci_intx_unmask does). A write to BAR0 at intx_ack_off
  // deasserts it (edu's interrupt acknowledge register is 0x64).
  bool intx_asserted = false;
  uint64_t intx_ack_off = ~0ull;
  uint64_t bar_size[6] = {};
  uint8_t cfg[256] = {};
  std::vector<std::vector<uint8_t>> bar;  // contents, per BAR

  // Records.
  bool container_set = false;
  unsigned long iommu_type = 0;
  std::vector<DmaMap> maps;
  std::vector<std::pair<uint64_t, uint64_t>> unmaps;
  std::vector<IrqSet> irqs;
  std::vector<uint16_t> command_writes;
  int resets = 0;
  std::vector<int> open_fds;

  // Helpers to describe the device.
  void set_ids(uint16_t vid, uint16_t did);
  // Sets BAR i's size and its low flag bits in config space (bit 0 I/O,
  // bits 2:1 = 2 for 64-bit, bit 3 prefetchable).
  void set_bar(unsigned i, uint64_t size, uint32_t flags);
  // Appends a capability (id, bytes after the 2-byte header) to the list.
  void add_cap(uint8_t id, const std::vector<uint8_t>& body);
  // An MSI-X capability: n vectors, table and PBA in BAR `bir`.
  void add_msix(unsigned n, unsigned bir, uint32_t table, uint32_t pba);
  const IrqSet* last_irq(uint32_t index) const;

  // Sys.
  int open(const char* path, int flags) override;
  void close(int fd) override;
  int ioctl(int fd, unsigned long request, unsigned long arg) override;
  ssize_t pread(int fd, void* buf, size_t len, off_t off) override;
  ssize_t pwrite(int fd, const void* buf, size_t len, off_t off) override;

 private:
  uint8_t cap_at_ = 0x40;
};

}  // namespace fakevfio
