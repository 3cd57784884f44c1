#include "vmm/exit_trace.h"

#include <capstone/capstone.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "absl/strings/str_format.h"

namespace qvm {

void ExitTrace::record(const TraceEntry& e) {
  if (ring_.empty()) return;
  std::lock_guard<std::mutex> g(mu_);
  ring_[next_] = e;
  next_ = (next_ + 1) % ring_.size();
  used_ = std::min(used_ + 1, ring_.size());
}

std::vector<TraceEntry> ExitTrace::entries() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<TraceEntry> out;
  out.reserve(used_);
  size_t start = (next_ + ring_.size() - used_) % std::max<size_t>(ring_.size(), 1);
  for (size_t i = 0; i < used_; i++) out.push_back(ring_[(start + i) % ring_.size()]);
  return out;
}

namespace {

// Capstone is loaded on first use: its decoder tables (several MiB once
// relocated) then stay out of qvm's resident set unless a trace is shown.
struct CapstoneApi {
  decltype(&cs_open) open = nullptr;
  decltype(&cs_disasm) disasm = nullptr;
  decltype(&cs_free) free = nullptr;
  decltype(&cs_close) close = nullptr;
};

const CapstoneApi* Capstone() {
  static CapstoneApi api;
  static std::once_flag once;
  std::call_once(once, [] {
    void* h = dlopen("libcapstone.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) h = dlopen("libcapstone.so", RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    api.open = reinterpret_cast<decltype(&cs_open)>(dlsym(h, "cs_open"));
    api.disasm = reinterpret_cast<decltype(&cs_disasm)>(dlsym(h, "cs_disasm"));
    api.free = reinterpret_cast<decltype(&cs_free)>(dlsym(h, "cs_free"));
    api.close = reinterpret_cast<decltype(&cs_close)>(dlsym(h, "cs_close"));
  });
  return api.open && api.disasm && api.free && api.close ? &api : nullptr;
}

}  // namespace

std::string Disassemble(const CpuModel& model, const InsnContext& insn) {
  std::string hex;
  for (unsigned i = 0; i < insn.len && i < sizeof insn.bytes; i++)
    hex += absl::StrFormat("%02x", insn.bytes[i]);
  if (insn.len == 0) return "(instruction not readable)";
  CpuModel::Disasm d = model.disasm(insn.mode);
  cs_arch a = cs_arch(d.cs_arch);
  cs_mode m = cs_mode(d.cs_mode);
  const CapstoneApi* cs = Capstone();
  csh h;
  if (!cs || cs->open(a, m, &h) != CS_ERR_OK) return "?? " + hex;
  cs_insn* ci = nullptr;
  size_t n = cs->disasm(h, insn.bytes, std::min<size_t>(insn.len, sizeof insn.bytes),
                        insn.pc, 1, &ci);
  std::string out;
  if (n >= 1)
    out = absl::StrFormat("%s %s", ci[0].mnemonic, ci[0].op_str);
  else
    out = "?? " + hex;
  if (ci) cs->free(ci, n);
  cs->close(&h);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::vector<std::string> FormatTrace(const CpuModel& model, unsigned vcpu,
                                     const std::vector<TraceEntry>& entries,
                                     uint64_t now_ns) {
  std::vector<std::string> lines;
  for (const auto& e : entries) {
    double ago_ms = now_ns >= e.ts_ns ? double(now_ns - e.ts_ns) / 1e6 : 0.0;
    std::string what;
    switch (e.kind) {
      case ExitKind::Pio:
      case ExitKind::Mmio:
        what = absl::StrFormat("%s %s 0x%x size %u%s", ExitKindName(e.kind),
                               e.write ? "write" : "read", e.addr, e.size,
                               e.count > 1 ? absl::StrFormat(" x%u", e.count) : "");
        if (e.write) what += absl::StrFormat(" value 0x%x", e.value);
        break;
      case ExitKind::MsrRead:
      case ExitKind::MsrWrite:
        what = absl::StrFormat("%s 0x%x", ExitKindName(e.kind), e.addr);
        if (e.kind == ExitKind::MsrWrite) what += absl::StrFormat(" value 0x%x", e.value);
        break;
      default:
        what = ExitKindName(e.kind);
    }
    lines.push_back(absl::StrFormat("trace vcpu %u: -%.3f ms %s at pc 0x%x: %s", vcpu,
                                    ago_ms, what, e.insn.pc, Disassemble(model, e.insn)));
  }
  return lines;
}

}  // namespace qvm
