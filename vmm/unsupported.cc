#include "vmm/unsupported.h"

#include <string>
#include <utility>

namespace qvm {

UnsupportedPolicy::UnsupportedPolicy(std::optional<UnsupportedAction> general,
                                     std::optional<UnsupportedAction> msr)
    : general_(general), msr_(msr) {}

UnsupportedPolicy UnsupportedPolicy::FromConfig(const Config& cfg,
                                                std::optional<UnsupportedAction> msr) {
  std::optional<UnsupportedAction> general;
  if (cfg.unsupported) general = cfg.unsupported->action;
  return UnsupportedPolicy(general, msr);
}

UnsupportedAction UnsupportedPolicy::action(Unsupported what) const {
  switch (what) {
    case Unsupported::Msr:
      if (msr_) return *msr_;
      return general_ ? *general_ : UnsupportedAction::Fault;
    case Unsupported::Unassigned:
    case Unsupported::SyndromelessAbort:
      break;
  }
  return general_ ? *general_ : UnsupportedAction::Log;
}

bool UnsupportedPolicy::first_msr(uint64_t index, bool write) const {
  std::lock_guard<std::mutex> g(seen_->mu);
  if (seen_->keys.size() >= kMaxLogged) return true;
  return seen_->keys.insert((index << 1) | (write ? 1 : 0)).second;
}

size_t UnsupportedPolicy::msr_logged() const {
  std::lock_guard<std::mutex> g(seen_->mu);
  return seen_->keys.size();
}

}  // namespace qvm
