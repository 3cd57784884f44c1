// The flattened device tree of an arm64 guest, built with libfdt: memory,
// cpus (enable-method psci), psci, the generic timer's PPIs, the PMU, a fixed APB
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
  // A PMUv3 (`set pmu`): node /pmu, "arm,armv8-pmuv3", overflow on PPI 7
  // (INTID 23) level-high, CPU mask on GICv2. Needs gic_phandle.
  bool pmu = false;
  uint32_t clock_phandle = 0;        // the fixed 24 MHz "apb-pclk" clock
  // Further fixed clocks (phandle, Hz), nodes "clock-<Hz>": devices'
  // functional clocks of other rates (the SP805's WDOGCLK).
  std::vector<std::pair<uint32_t, uint32_t>> fixed_clocks;
  std::vector<FdtDeviceNode> devices;
};

// Node path of a device: "/NAME@BASE" (hex, no leading zeros) or "/NAME".
std::string FdtNodePath(const FdtDeviceNode& d);

absl::StatusOr<std::vector<uint8_t>> BuildArm64Fdt(const FdtMachine& m);

// ---- `fdt load PATH`: the user's own device tree -------------------------

// Largest user blob accepted (and largest result after qvm's additions): the
// 2 MiB the FDT gets in guest RAM.
inline constexpr size_t kUserFdtMax = 2u << 20;

// Reads PATH (once) and validates it with libfdt: at least a header, at most
// kUserFdtMax bytes, magic, fdt_check_header, the header's totalsize within
// the file, and fdt_check_full over the structure. Returns the blob's
// totalsize bytes. Malformed: InvalidArgument "PATH: device tree: <what>";
// unreadable: the open error (naming the file).
absl::StatusOr<std::vector<uint8_t>> ReadUserFdt(const std::string& path);

// What qvm fills in on a user's blob; everything else is the user's.
struct UserFdtPatch {
  bool set_bootargs = false;                  // `cmdline` given
  std::string bootargs;                       // replaces /chosen bootargs
  uint64_t initrd_start = 0, initrd_end = 0;  // `initrd load`: end > start
  // RAM regions (base, size): described as /memory@BASE nodes only when the
  // blob has no node with device_type = "memory".
  std::vector<std::pair<uint64_t, uint64_t>> memory;
};
struct UserFdt {
  std::vector<uint8_t> blob;   // the final, packed tree
  bool has_cpus = false;       // the user's tree has /cpus
  bool had_memory = false;     // ... a device_type = "memory" node
  bool added_chosen = false;   // qvm created /chosen
};
// Copies a validated blob (ReadUserFdt) with room to grow (fdt_open_into),
// applies `p` (creating /chosen when missing; memory nodes encoded with the
// root's #address-cells/#size-cells) and packs the result. Errors
// (InvalidArgument) when an edit fails or the result exceeds kUserFdtMax.
absl::StatusOr<UserFdt> PatchUserFdt(const std::vector<uint8_t>& user, const UserFdtPatch& p);

}  // namespace qvm::boot
