#include "vmm/vm_plan.h"

#include <algorithm>

namespace qvm {

namespace {

constexpr VarDecl kVmVariables[] = {
    {"reboot-exit", VarType::Bool, nullptr, "a guest reset ends qvm"},
    {"trace-exits", VarType::Number, nullptr, "exits kept per vCPU for traces"},
    {"reset-loop", VarType::Number, nullptr,
     "guest resets within 10 s that stop qvm as a reset loop (0: no limit)"},
    {"resmgr-path", VarType::String, nullptr, "the directory of /dev/qvm/<system>"},
    {"resmgr-group", VarType::String, nullptr, "the group allowed to connect"},
    {"gdb", VarType::String, nullptr,
     "the gdb remote stub's endpoint (tcp:[HOST:]PORT or a Unix socket path)"},
    {"gdb-wait", VarType::Bool, nullptr, "no guest instruction runs before a debugger attaches"},
    {"seccomp", VarType::Bool, nullptr,
     "the system-call filters of the vCPU threads and the main loop (off: for debugging)"},
    // QNX's variables that have nothing to set on Linux (vmm/README.md).
    {"exit-on-halt", VarType::Bool, nullptr, "whether HLT/WFI leave the guest", nullptr,
     nullptr,
     "no effect here: KVM waits for the guest's interrupts in the host kernel (the "
     "kvm module's halt_poll_ns tunes how long it polls first)"},
    {"debug", VarType::Bool, nullptr, "a vdev in the status report", nullptr, nullptr,
     "no effect here: qvm's status report (SIGUSR1) always lists every vdev"},
    {"grow-heap", VarType::Size, nullptr, "qvm's heap reserve", nullptr, nullptr,
     "no effect here: qvm's heap grows on demand"},
    {"message-block-timeout", VarType::Number, nullptr, "QNX message send timeout", nullptr,
     nullptr, "no effect here: qvm sends no blocking QNX messages"},
    {"vdev-message-block-timeout", VarType::Number, nullptr, "a vdev's QNX message timeout",
     nullptr, nullptr, "no effect here: qvm sends no blocking QNX messages"},
    {"slog-buffer", VarType::Size, nullptr, "the slogger2 buffer", nullptr, nullptr,
     "no effect here: `logger ... slog` writes to the system log (syslog(3)), which "
     "buffers by itself"},
};

}  // namespace

std::span<const VarDecl> VmVariables() { return kVmVariables; }

VmPlan MakeVmPlan(const Config& cfg) {
  VmPlan p;
  if (const SetVar* v = cfg.var("reboot-exit"); v && v->boolean) p.reboot_exit = *v->boolean;
  if (const SetVar* v = cfg.var("trace-exits"); v && v->number)
    p.trace_exits = unsigned(std::min<uint64_t>(*v->number, kMaxTraceExits));
  if (const SetVar* v = cfg.var("reset-loop"); v && v->number)
    p.reset_loop = unsigned(std::min<uint64_t>(*v->number, 1000000));
  if (const SetVar* v = cfg.var("resmgr-path")) p.resmgr_path = ResolvePath(v->value_where, v->raw);
  if (const SetVar* v = cfg.var("resmgr-group")) p.resmgr_group = v->raw;
  if (const SetVar* v = cfg.var("gdb")) {
    std::string why;
    // Vm::plan refuses a bad value (at its token) before this is read.
    if (v->raw.rfind("tcp:", 0) == 0) ParseGdbEndpoint(v->raw, &p, &why);
    else ParseGdbEndpoint(ResolvePath(v->value_where, v->raw), &p, &why);
  }
  if (const SetVar* v = cfg.var("gdb-wait"); v && v->boolean) p.gdb_wait = *v->boolean;
  if (const SetVar* v = cfg.var("seccomp"); v && v->boolean) p.seccomp = *v->boolean;
  return p;
}

bool ParseGdbEndpoint(const std::string& value, VmPlan* plan, std::string* why) {
  if (value.empty()) {
    *why = "an empty endpoint";
    return false;
  }
  if (value.rfind("tcp:", 0) != 0) {
    plan->gdb = true;
    plan->gdb_path = value;
    return true;
  }
  std::string rest = value.substr(4);
  std::string host = "127.0.0.1", port = rest;
  if (size_t colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);  // [::1]
    if (host.empty()) host = "127.0.0.1";
  }
  unsigned long n = 0;
  bool ok = !port.empty() && port.size() <= 5;
  for (char c : port) ok = ok && c >= '0' && c <= '9';
  if (ok) n = std::stoul(port);
  if (!ok || n == 0 || n > 65535) {
    *why = "expected tcp:[HOST:]PORT with PORT 1-65535, or a Unix socket path";
    return false;
  }
  plan->gdb = true;
  plan->gdb_host = host;
  plan->gdb_port = uint16_t(n);
  return true;
}

}  // namespace qvm
