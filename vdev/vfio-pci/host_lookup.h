// Which host PCI device a `pass loc pci:...` names, and whether VFIO may
// hand it to this process: found in sysfs (a root directory the caller
// gives: "/sys" on a real host, a directory tree in the unit tests).
#pragma once

#include <cstdint>
#include <string>

namespace vfiopci {

// The `host` option: what the core wrote from `pass loc pci:SPEC`.
//   [DOMAIN:]BUS:DEV.FN[=VID/DID]  by host address; `=VID/DID` is checked
//   VID/DID[/INDEX]                the INDEX-th (from 0) such device, in
//                                  address order
struct HostSpec {
  bool by_id = false;
  unsigned domain = 0, bus = 0, dev = 0, fn = 0;
  uint16_t vid = 0, did = 0;
  unsigned index = 0;
  bool check_id = false;  // by address with `=VID/DID`
};

// Parses `text`; on error returns why (empty on success).
std::string ParseHostSpec(const std::string& text, HostSpec* out);

struct HostDevice {
  std::string bdf;  // "0000:00:03.0"
  int group = -1;   // the IOMMU group number (/dev/vfio/N)
  uint16_t vid = 0, did = 0;
};

// Finds the device under `sysfs` (bus/pci/devices, kernel/iommu_groups),
// checks that it is bound to vfio-pci and that every device of its IOMMU
// group is bound to vfio-pci or to no driver (VFIO's viability rule).
// Returns why not (empty on success) and, when `err` is given, the errno
// the plug-in reports: ENODEV (no such device, other ids), EBUSY (bound to
// another driver or to none, or a group member is), ENOTSUP (no IOMMU
// group).
std::string FindHostDevice(const std::string& sysfs, const HostSpec& spec, HostDevice* out,
                           int* err = nullptr);

}  // namespace vfiopci
