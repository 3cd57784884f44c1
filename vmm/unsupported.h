// The `unsupported` policy: the one place that decides what qvm does with a
// guest operation nothing in the VM models. Three kinds of operation reach
// it today; the code that meets one asks the policy for the action and then
// carries it out in its own terms (bus reads float high, a fault for an
// MSR, an external abort for an undecodable MMIO access).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "vmm/config.h"
#include "vmm/log.h"

namespace qvm {

enum class Unsupported {
  Unassigned,         // a port or MMIO access no device claims
  Msr,                // a model-specific register the accelerator does not know
  SyndromelessAbort,  // an MMIO abort without syndrome Capstone cannot decode
};

// An action's word in qvm's extension ("fault"), and `unsupported` as
// written: qvm's one action, then QNX's per type ("fault, register
// terminate"); for the dry run and /dev/qvm's env.
const char* UnsupportedStr(UnsupportedAction a);
std::string UnsupportedText(const UnsupportedSpec& u);

class UnsupportedPolicy {
 public:
  UnsupportedPolicy() = default;
  // `unsupported` from the configuration, and the machine plan's
  // action for unknown MSRs (Machine::msr_unknown, from a `set` variable
  // the architecture's plan declares and reads; nullopt: not given).
  static UnsupportedPolicy FromConfig(const Config& cfg,
                                      std::optional<UnsupportedAction> msr = std::nullopt);
  // The same without a configuration (unit tests): nullopt = not given.
  // `general` is qvm's `unsupported ACTION`; `spec` QNX's per-type ones.
  UnsupportedPolicy(std::optional<UnsupportedAction> general,
                    std::optional<UnsupportedAction> msr,
                    const UnsupportedSpec& spec = {});

  // What to do with an operation of this kind (QNX's type in brackets):
  //  Unassigned [reference]: `unsupported reference`, else `unsupported
  //  ACTION`, else log (QNX's default, ignore, reads all ones as well; log
  //  adds a debug-level line);
  //  SyndromelessAbort [instruction: qvm cannot emulate it]: `unsupported
  //  instruction`, else `unsupported ACTION`, else log (the access is
  //  skipped; QNX's default is fail);
  //  Msr [register]: `set msr-unknown`, else `unsupported register`, else
  //  `unsupported ACTION`, else fault (#GP, QNX's fail).
  UnsupportedAction action(Unsupported what) const;
  // How loudly a logged access is reported: without an explicit
  // `unsupported`, probes of absent hardware (PCI config ports, COM2, ...)
  // are normal guest behaviour and go to debug level.
  LogLevel log_level() const {
    return general_ || reference_ ? LogLevel::Warn : LogLevel::Debug;
  }
  // `log` for MSRs logs each (index, direction) once; true the first time
  // (and always once kMaxLogged distinct ones were seen: rate limiting then
  // applies). Shared by copies of the policy.
  bool first_msr(uint64_t index, bool write) const;
  static constexpr size_t kMaxLogged = 1024;
  size_t msr_logged() const;

 private:
  std::optional<UnsupportedAction> general_, msr_, reference_, instruction_, register_;
  struct Seen {
    std::mutex mu;
    std::set<uint64_t> keys;  // index << 1 | write
  };
  std::shared_ptr<Seen> seen_ = std::make_shared<Seen>();
};

}  // namespace qvm
