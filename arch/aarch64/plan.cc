#include "arch/aarch64/plan.h"

namespace qvm::arm64 {

namespace {

constexpr VarDecl kVariables[] = {
    {"pmu", VarType::Tristate, "aarch64", "the guest's PMUv3"},
    {"counter-offset", VarType::Number, "aarch64", "the generic timer's counter offset"},
    {"fdt-dump-file", VarType::String, "aarch64", "a copy of the generated device tree"},
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
