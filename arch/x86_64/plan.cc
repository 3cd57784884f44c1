#include "arch/x86_64/plan.h"

#include <cstdint>
#include <iterator>

namespace qvm::x86 {

namespace {

constexpr VarDecl kVariables[] = {
    {"acpi", VarType::Tristate, "x86_64", "generated ACPI tables"},
    {"cpuid-qvm-leaf", VarType::Bool, "x86_64", "qvm's CPUID leaf 0x40000100"},
    {"cpuid-hide-hypervisor", VarType::Bool, "x86_64",
     "the CPUID hypervisor bit and leaves"},
    {"msr-unknown", VarType::Choice, "x86_64", "what an unknown MSR access does",
     "ignore|log|fault|terminate", "action"},
    {"mtrr-default-type", VarType::Choice, "x86_64", "IA32_MTRR_DEF_TYPE at power-on",
     "wb|uc|off", "type"},
};
// In the order of the choices above.
constexpr UnsupportedAction kMsrActions[] = {UnsupportedAction::Ignore, UnsupportedAction::Log,
                                             UnsupportedAction::Fault,
                                             UnsupportedAction::Terminate};
constexpr uint64_t kMtrrDefType[] = {0xc06, 0xc00, 0};
static_assert(ChoiceCount(kVariables[3].choices) == std::size(kMsrActions));
static_assert(ChoiceCount(kVariables[4].choices) == std::size(kMtrrDefType));

}  // namespace

std::span<const VarDecl> Variables() { return kVariables; }

absl::StatusOr<MachinePlan> MakePlan(const Config& cfg) {
  MachinePlan p;
  if (const SetVar* v = cfg.var("acpi"); v && v->boolean) p.acpi = *v->boolean;
  if (const SetVar* v = cfg.var("cpuid-qvm-leaf"); v && v->boolean) p.cpuid.qvm_leaf = *v->boolean;
  if (const SetVar* v = cfg.var("cpuid-hide-hypervisor"); v && v->boolean)
    p.cpuid.hide_hypervisor = *v->boolean;
  if (const SetVar* v = cfg.var("mtrr-default-type"); v && v->choice)
    p.cpuid.mtrr_def_type = kMtrrDefType[*v->choice];
  if (const SetVar* v = cfg.var("msr-unknown"); v && v->choice)
    p.msr_unknown = kMsrActions[*v->choice];
  return p;
}

}  // namespace qvm::x86
