// Every architecture's `set` variables, on every architecture: a `set` that
// another architecture's machine reads is then refused with what it is for
// (vmm/vars.cc), not as an unknown variable.
#include "arch/aarch64/plan.h"
#include "arch/x86_64/plan.h"
#include "vmm/arch.h"

namespace qvm {

std::vector<std::span<const VarDecl>> ArchVariables() {
  return {x86::Variables(), arm64::Variables()};
}

}  // namespace qvm
