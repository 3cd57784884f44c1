// One host PCI function given to the guest through VFIO: the container,
// group and device fds, the function's description for qvm's PCI host
// (identity, class and BAR sizes read from the device), the guest's BAR
// accesses forwarded to the device regions, the MSI-X table emulated, and
// INTx and MSI-X wired to the guest.
//
// Everything reaches the kernel through Sys (sys.h), so the unit tests
// (test/vfio/) run this class against a fake VFIO device.
#pragma once

#include <qvm/vdev.h>

#include <cstdint>
#include <string>
#include <vector>

#include "host_lookup.h"
#include "sys.h"

namespace vfiopci {

class PassFn {
 public:
  explicit PassFn(Sys& sys) : sys_(sys) {}
  PassFn(const PassFn&) = delete;
  PassFn& operator=(const PassFn&) = delete;
  ~PassFn();

  // Opens the container, the device's IOMMU group and the device; reads its
  // regions, interrupts and configuration space. On failure returns why and
  // sets *err to the errno the plug-in reports (EBUSY: the group is in use,
  // e.g. by another qvm; EPERM, EACCES, ENODEV, EINVAL).
  std::string open(const HostDevice& d, int* err);

  // The function as qvm's PCI host presents it (qvm_pci_declare): IDs,
  // class, revision, subsystem and INTx pin from the device, its memory
  // BARs with the sizes VFIO reports, MSI-X when the device has it. `notes`
  // gets one line per thing the guest will not see (I/O BARs, hidden
  // capabilities). Returns why the device cannot be presented, or "".
  std::string describe(qvm_pci_function* f, std::vector<std::string>* notes);

  // Every guest RAM region (qvm_ram_region) mapped for the device's DMA at
  // its guest-physical address; what was mapped before is unmapped first
  // (guest RAM is zeroed, and its pages replaced, on a reset). Returns why
  // not, or "".
  std::string map_dma(qvm_vdev_t* dev);

  // QVM_CTRL_GUEST_CONFIGURED: the interrupt eventfds made (one per MSI-X
  // vector: an in-kernel irqfd for the first 32 where qvm has them, else an
  // eventfd qvm watches) and INTx wired.
  void prepare(qvm_vdev_t* dev);
  // QVM_CTRL_RESET: interrupts wired (INTx),
  // MSI-X off and its table masked, the device reset when VFIO can.
  void reset(qvm_vdev_t* dev);
  // QVM_CTRL_TERMINATE.
  void terminate(qvm_vdev_t* dev);

  // A guest access to BAR `bar` at `off` (callback rules: instance lock
  // held). Returns QVM_DONE or QVM_BUS_ERROR.
  int read(qvm_vdev_t* dev, unsigned bar, uint64_t off, unsigned size, void* data);
  int write(qvm_vdev_t* dev, unsigned bar, uint64_t off, unsigned size, const void* data);

  // The INTx trigger eventfd became readable (fd watch, instance lock held).
  void intx_event(qvm_vdev_t* dev);
  // MSI-X vector `v`'s trigger eventfd became readable (only vectors qvm
  // could not give an in-kernel irqfd).
  void msix_event(qvm_vdev_t* dev, unsigned v);

  // One status line.
  std::string status() const;

  // For the tests.
  unsigned msix_vectors() const { return msix_n_; }
  bool intx_pending() const { return intx_pending_; }
  uint16_t device_command() const { return phys_cmd_; }

 private:
  struct Region {
    uint64_t size = 0, offset = 0;
    uint32_t flags = 0;
  };
  struct Vector {
    uint32_t word[4] = {0, 0, 0, 1};  // address lo, hi, data, control (masked)
    int fd = -1;
    bool irqfd = false;   // in-kernel delivery (qvm_irqfd_msi)
    bool pending = false;  // signalled while masked (own eventfds only)
    uint64_t set_addr = 0;
    uint32_t set_data = 0;
    int set_masked = -1;
  };
  struct Watch {  // the fd-watch argument of an own MSI-X eventfd
    PassFn* fn;
    unsigned v;
  };

  int set_irqs(unsigned index, uint32_t flags, unsigned start, unsigned count, const int* fds);
  void sync(qvm_vdev_t* dev);          // config-space state the host published
  void msix_on(qvm_vdev_t* dev);
  void msix_off();
  void update_vector(qvm_vdev_t* dev, unsigned v);
  void intx_arm(qvm_vdev_t* dev);
  void intx_eoi(qvm_vdev_t* dev);
  void write_command(uint16_t cmd);
  // A BAR access's checks (BAR present, inside it, width), then the state
  // the host published (the INTx acknowledgement, intx_eoi, comes after
  // the access).
  bool enter(qvm_vdev_t* dev, unsigned bar, uint64_t off, unsigned size);
  bool table_word(uint64_t off, unsigned size, unsigned* entry, unsigned* word) const;
  bool in_table(unsigned bar, uint64_t off, unsigned size) const;
  bool in_pba(unsigned bar, uint64_t off, unsigned size) const;

  Sys& sys_;
  std::string bdf_;
  int container_ = -1, group_ = -1, device_ = -1;
  uint32_t dev_flags_ = 0;
  Region bars_[6];
  Region config_;
  uint8_t cfg_[256] = {};
  unsigned intx_count_ = 0, msix_count_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> dma_;  // iova, size mapped

  // MSI-X as the guest sees it (0 vectors: not presented).
  unsigned msix_n_ = 0, msix_bar_ = 0;
  uint32_t msix_table_ = 0, msix_pba_ = 0;
  std::vector<Vector> vec_;
  std::vector<Watch> watch_;
  bool msix_enabled_ = false;  // in VFIO
  bool msix_fds_ = false;      // eventfds made

  // INTx.
  bool intx_ = false;   // presented (pin and a VFIO INTx interrupt)
  int intx_fd_ = -1;
  bool intx_watched_ = false, intx_armed_ = false, intx_pending_ = false;

  uint32_t state_ = 0;   // last qvm_pci_state seen
  bool state_seen_ = false;
  uint16_t phys_cmd_ = 0;  // the device's command register as last written
  unsigned forward_errors_ = 0;
};

}  // namespace vfiopci
