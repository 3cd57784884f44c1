// The arm64 machine plan: the machine's policies from the configuration,
// read once before anything is built, and the `set` variables they come
// from (declared here and nowhere else). Plain code without KVM: built on
// every architecture (arch/README.md).
#pragma once

#include <optional>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "vmm/config.h"
#include "vmm/unsupported.h"
#include "vmm/vars.h"

namespace qvm::arm64 {

struct MachinePlan {
  // `unsupported`: what an MMIO abort qvm cannot emulate does (the
  // policy's SyndromelessAbort action).
  UnsupportedPolicy unsupported;
  // `set pmu on|off|auto` (default off); auto is resolved by the machine
  // against the host (KVM_CAP_ARM_PMU_V3) when it makes its plan.
  enum class Pmu { Off, On, Auto } pmu = Pmu::Off;
  std::string pmu_raw;   // as written, for messages
  SourceLoc pmu_where;   // of the value
  // `set counter-offset N`: guest counter = host counter - N for the VM's
  // whole life; unset (or all ones): the counter starts at 0 and stops
  // while the VM is paused.
  std::optional<uint64_t> counter_offset;
  std::string fdt_dump_file;  // `set fdt-dump-file` ("": none)
};

std::span<const VarDecl> Variables();

// Cannot fail today (the parser has typed every value); a status so that a
// policy needing more checks can refuse at its token.
absl::StatusOr<MachinePlan> MakePlan(const Config& cfg);

}  // namespace qvm::arm64
