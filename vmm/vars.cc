#include "vmm/vars.h"

#include "absl/strings/str_cat.h"
#include "vmm/arch.h"
#include "vmm/log.h"
#include "vmm/vm_plan.h"

namespace qvm {

std::vector<std::span<const VarDecl>> AllVariables() {
  std::vector<std::span<const VarDecl>> all = {VmVariables()};
  for (auto t : ArchVariables()) all.push_back(t);
  return all;
}

const VarDecl* FindVariable(std::string_view name) {
  for (auto table : AllVariables())
    for (const VarDecl& d : table)
      if (name == d.name) return &d;
  return nullptr;
}

namespace {

// The values of a Choice, in order.
std::vector<std::string_view> Choices(const VarDecl& decl) {
  std::vector<std::string_view> out;
  if (!decl.choices) return out;
  std::string_view s = decl.choices;
  for (;;) {
    size_t bar = s.find('|');
    out.push_back(s.substr(0, bar));
    if (bar == std::string_view::npos) return out;
    s.remove_prefix(bar + 1);
  }
}

}  // namespace

std::optional<size_t> ChoiceIndex(const VarDecl& decl, std::string_view value) {
  std::vector<std::string_view> c = Choices(decl);
  for (size_t i = 0; i < c.size(); i++)
    if (c[i] == value) return i;
  return std::nullopt;
}

std::string ChoiceList(const VarDecl& decl) {
  std::string out;
  for (std::string_view c : Choices(decl)) {
    if (!out.empty()) out += ", ";
    out.append(c);
  }
  return out;
}

void NoteVariables(const Config& cfg) {
  for (const SetVar& v : cfg.sets) {
    const VarDecl* d = FindVariable(v.name);
    if (d && d->note)
      Log(LogLevel::Info, "%s: `set %s`: %s", v.where.str().c_str(), v.name.c_str(), d->note);
  }
}

absl::Status RefuseForeignVariables(const Config& cfg, std::string_view arch) {
  for (const SetVar& v : cfg.sets) {
    const VarDecl* d = FindVariable(v.name);
    if (d && d->arch && arch != d->arch)
      return ConfigError(v.where, absl::StrCat("`set ", v.name, "`: ", d->arch, " only (",
                                               d->what, "); not supported on ", std::string(arch)));
  }
  return absl::OkStatus();
}

}  // namespace qvm
