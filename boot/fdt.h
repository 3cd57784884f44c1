// The flattened device tree of an arm64 guest, built with libfdt: memory,
// cpus (enable-method psci), psci, the generic timer's PPIs, a fixed APB
// clock for PrimeCell devices, chosen (bootargs, initrd, stdout-path) and
// one node per device as the devices described themselves.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace qvm::boot {

// Rate of the fixed "apb-pclk" clock (PrimeCell bus and UART clock).
inline constexpr uint32_t kApbClockHz = 24000000;

struct FdtDeviceNode {
  std::string name;                 // node name without the unit address
  std::string compatible;           // space-separated, most specific first
  std::vector<std::pair<uint64_t, uint64_t>> reg;  // base, size
  std::vector<uint32_t> interrupts;  // cells in the parent's format
  uint32_t interrupt_parent = 0;     // 0: the root's
  uint32_t phandle = 0;
  // The device's own properties (name, big-endian bytes); one named `reg`,
  // `interrupts` or `phandle` replaces the generated one.
  std::vector<std::pair<std::string, std::string>> props;
};

struct FdtMachine {
  std::vector<uint64_t> cpu_mpidr;   // one per vCPU
  std::vector<std::pair<uint64_t, uint64_t>> memory;  // RAM regions
  std::string bootargs;
  uint64_t initrd_start = 0, initrd_end = 0;  // end == start: none
  std::string stdout_path;           // "" or a node path
  uint32_t gic_phandle = 0;          // the root's interrupt-parent (0: none)
  bool gic_v2 = false;               // timer PPIs carry a CPU mask on GICv2
  uint32_t clock_phandle = 0;        // the fixed 24 MHz "apb-pclk" clock
  // Further fixed clocks (phandle, Hz), nodes "clock-<Hz>": devices'
  // functional clocks of other rates (the SP805's WDOGCLK).
  std::vector<std::pair<uint32_t, uint32_t>> fixed_clocks;
  std::vector<FdtDeviceNode> devices;
};

// Node path of a device: "/NAME@BASE" (hex, no leading zeros) or "/NAME".
std::string FdtNodePath(const FdtDeviceNode& d);

absl::StatusOr<std::vector<uint8_t>> BuildArm64Fdt(const FdtMachine& m);

}  // namespace qvm::boot
