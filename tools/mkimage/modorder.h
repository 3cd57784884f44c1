// Kernel-module load order for qvm-mkimage. Debian's kernel packages ship no
// modules.dep, so the order comes from each module's own `.modinfo` section
// (`name=` and `depends=`), resolved topologically among the modules listed
// in the buildfile.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mkimage {

struct ModuleInfo {
  std::string name;                  // canonical: '-' replaced by '_'
  std::vector<std::string> depends;  // canonical names
  std::string where;                 // "FILE:LINE" of the buildfile line
};

// Canonical module name: "kvm-amd" -> "kvm_amd".
std::string CanonicalModuleName(std::string_view name);

// Reads name= and depends= from a module's .modinfo section. `fallback_name`
// (usually the file's basename without ".ko") is used when there is no
// name= entry. Throws std::runtime_error when the file is not an ELF
// relocatable object with a .modinfo section.
ModuleInfo ReadModinfo(std::string_view data, std::string_view fallback_name);

// Load order: indices into `mods` such that every module comes after the
// modules it depends on; among independent modules the input order is kept.
// Throws std::runtime_error naming the module's buildfile line when a
// dependency is not in the list, when two entries have the same name, or
// when the dependencies form a cycle (the message shows the cycle).
std::vector<size_t> OrderModules(const std::vector<ModuleInfo>& mods);

}  // namespace mkimage
