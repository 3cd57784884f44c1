// `set` variables. Each one is declared once, in a VarDecl table beside the
// plan that reads it (vmm/vm_plan.cc for the VM core, arch/<arch>/plan.cc
// for a machine); the parser types every value by its declaration, and the
// build refuses a variable that another architecture's machine reads, with
// what it is for.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "vmm/config.h"

namespace qvm {

enum class VarType {
  Bool,      // on/off, yes/no, true/false, 1/0
  Tristate,  // a Bool or `auto` (SetVar::boolean unset)
  Number,    // ParseNumber
  Size,      // ParseSize (QNX's "address" type: 4K, 0x1000, ...)
  String,    // any non-empty token
  Choice,    // one of VarDecl::choices (SetVar::choice = its index)
};

struct VarDecl {
  const char* name;
  VarType type;
  // The architecture whose machine reads it (Machine::name()); nullptr: the VM
  // core reads it on every architecture.
  const char* arch;
  const char* what;  // what it sets, one phrase (refusals quote it)
  // Choice: the values, '|'-separated ("wb|uc|off"), and what one is called
  // in "unknown type `x`".
  const char* choices = nullptr;
  const char* noun = nullptr;
  // A variable QNX documents that has nothing to set on Linux: accepted,
  // and the build logs "`set NAME`: NOTE" once (NOTE says why it has no
  // effect). nullptr: the variable works.
  const char* note = nullptr;
};

// Choice: how many values `choices` lists (for static_asserts beside the
// tables that map them).
constexpr size_t ChoiceCount(const char* choices) {
  size_t n = 1;
  for (const char* c = choices; *c; c++) n += *c == '|';
  return n;
}

// Every declared variable: the VM core's (VmVariables(), vmm/vm_plan.h) and
// every architecture's (ArchVariables(), vmm/arch.h).
std::vector<std::span<const VarDecl>> AllVariables();
const VarDecl* FindVariable(std::string_view name);

// Choice: the index of `value` in decl.choices; nullopt when it is not one.
std::optional<size_t> ChoiceIndex(const VarDecl& decl, std::string_view value);
// Choice: "a, b, c".
std::string ChoiceList(const VarDecl& decl);

// Logs (info) the note of every `set` variable that has one.
void NoteVariables(const Config& cfg);

// Refuses (configuration error at the variable) the first `set` whose
// declaration names an architecture other than `arch`.
absl::Status RefuseForeignVariables(const Config& cfg, std::string_view arch);

}  // namespace qvm
