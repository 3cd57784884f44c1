#include "arch/aarch64/plan.h"

namespace qvm::arm64 {

namespace {

constexpr VarDecl kVariables[] = {
    {"pmu", VarType::Tristate, "aarch64", "the guest's PMUv3"},
    {"counter-offset", VarType::Number, "aarch64", "the generic timer's counter offset"},
    {"fdt-dump-file", VarType::String, "aarch64", "a copy of the generated device tree"},
    // QNX's GIC variables: KVM's vGIC needs none of them.
    {"gic-hwassist", VarType::Bool, "aarch64", "the GIC's virtualization assist", nullptr,
     nullptr,
     "no effect here: KVM's in-kernel vGIC uses the GIC's virtualization support "
     "whenever the host has it (`vdev gic mode user` emulates one instead)"},
    {"host-paddr-gicd", VarType::Size, "aarch64", "the host GIC distributor's address",
     nullptr, nullptr, "no effect here: KVM finds the host's GIC itself"},
    {"host-paddr-gich", VarType::Size, "aarch64", "the host GIC hypervisor interface's address",
     nullptr, nullptr, "no effect here: KVM finds the host's GIC itself"},
};

}  // namespace

std::span<const VarDecl> Variables() { return kVariables; }

absl::StatusOr<MachinePlan> MakePlan(const Config& cfg) {
  MachinePlan p;
  p.unsupported = UnsupportedPolicy::FromConfig(cfg);
  if (const SetVar* v = cfg.var("pmu")) {
    p.pmu = !v->boolean ? MachinePlan::Pmu::Auto
            : *v->boolean ? MachinePlan::Pmu::On
                          : MachinePlan::Pmu::Off;
    p.pmu_raw = v->raw;
    p.pmu_where = v->value_where;
  }
  if (const SetVar* v = cfg.var("counter-offset"); v && v->number && *v->number != ~0ull)
    p.counter_offset = *v->number;
  if (const SetVar* v = cfg.var("fdt-dump-file")) p.fdt_dump_file = v->raw;
  return p;
}

}  // namespace qvm::arm64
