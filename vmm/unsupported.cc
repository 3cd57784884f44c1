#include "vmm/unsupported.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace qvm {

const char* UnsupportedStr(UnsupportedAction a) {
  switch (a) {
    case UnsupportedAction::Ignore: return "ignore";
    case UnsupportedAction::Log: return "log";
    case UnsupportedAction::Fault: return "fault";
    case UnsupportedAction::Terminate: return "terminate";
  }
  return "?";
}

std::string UnsupportedText(const UnsupportedSpec& u) {
  std::string out;
  if (u.action) out = UnsupportedStr(*u.action);
  const std::pair<const char*, const std::optional<UnsupportedAction>*> typed[] = {
      {"instruction", &u.instruction}, {"reference", &u.reference}, {"register", &u.reg}};
  for (const auto& [name, act] : typed)
    if (*act) absl::StrAppend(&out, out.empty() ? "" : ", ", name, " ", UnsupportedStr(**act));
  return out;
}

UnsupportedPolicy::UnsupportedPolicy(std::optional<UnsupportedAction> general,
                                     std::optional<UnsupportedAction> msr,
                                     const UnsupportedSpec& spec)
    : general_(general),
      msr_(msr),
      reference_(spec.reference),
      instruction_(spec.instruction),
      register_(spec.reg) {}

UnsupportedPolicy UnsupportedPolicy::FromConfig(const Config& cfg,
                                                std::optional<UnsupportedAction> msr) {
  if (!cfg.unsupported) return UnsupportedPolicy(std::nullopt, msr);
  return UnsupportedPolicy(cfg.unsupported->action, msr, *cfg.unsupported);
}

UnsupportedAction UnsupportedPolicy::action(Unsupported what) const {
  std::optional<UnsupportedAction> typed;
  UnsupportedAction fallback = UnsupportedAction::Log;
  switch (what) {
    case Unsupported::Msr:
      if (msr_) return *msr_;
      typed = register_;
      fallback = UnsupportedAction::Fault;
      break;
    case Unsupported::Unassigned:
      typed = reference_;
      break;
    case Unsupported::SyndromelessAbort:
      typed = instruction_;
      break;
  }
  if (typed) return *typed;
  return general_ ? *general_ : fallback;
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
