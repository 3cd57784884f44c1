// The x86_64 machine plan: the PC's policies from the configuration, read
// once before anything is built, and the `set` variables they come from
// (declared here and nowhere else). Plain code without KVM: built on every
// architecture (arch/README.md).
#pragma once

#include <optional>
#include <string>
#include <span>

#include "absl/status/statusor.h"
#include "vmm/config.h"
#include "vmm/vars.h"

namespace qvm::x86 {

// CPUID policy knobs (`set cpuid-*`, see arch/x86_64/README.md).
struct CpuidOptions {
  // Add qvm's identification leaf at 0x40000100 (KVM's 0x40000000 range
  // is kept as it is: Linux needs it for kvm-clock).
  bool qvm_leaf = true;
  // Hide the hypervisor: clear CPUID.1:ECX[31] and drop every
  // 0x40000000-0x4fffffff leaf (KVM's and qvm's).
  bool hide_hypervisor = false;
  // IA32_MTRR_DEF_TYPE at vCPU creation (`set mtrr-default-type`): wb =
  // 0xC06 (MTRRs and fixed ranges enabled, default write-back), uc = 0xC00
  // (enabled, default uncached), off = 0 (MTRRs disabled).
  uint64_t mtrr_def_type = 0xc06;
  // The processor brand string (CPUID 0x80000002-0x80000004, 48 bytes,
  // NUL-padded) for leaves KVM supplies as zeros; empty: left as KVM has
  // them. KvmX86Vm::init fills it from the host's CPUID.
  std::string brand;
};

struct MachinePlan {
  CpuidOptions cpuid;  // `set cpuid-qvm-leaf`, `cpuid-hide-hypervisor`, `mtrr-default-type`
  bool acpi = true;    // `set acpi` (off: no generated tables; on/auto: tables)
  // `set msr-unknown`: the `unsupported` action for unknown MSRs only.
  std::optional<UnsupportedAction> msr_unknown;
};

std::span<const VarDecl> Variables();

// Cannot fail today (the parser has typed and checked every value); a
// status so that a policy needing more checks can refuse at its token.
absl::StatusOr<MachinePlan> MakePlan(const Config& cfg);

}  // namespace qvm::x86
