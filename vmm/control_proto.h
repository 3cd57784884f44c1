// /dev/qvm/<system> devctl commands and the directories the sockets live in
// (shared by qvm and qvmctl; header only, no dependency on the rest of vmm/).
//
// On the system node ("" below /dev/qvm/<system>, or any name other than a
// vdev's) and on `env`:
//   kStatus        in: "" (text) or "json"   out: the status report
//   kPause         all vCPUs stop in place (time keeps going)
//   kResume        the vCPUs continue
//   kReset         guest reset (as if the guest asked for one)
//   kPowerButton   press the virtual power button (ACPI/PSCI); when no
//                  device models one, the guest is powered off
//   kPowerCut      qvm exits at once with code 3
//   kDump          writes a guest dump; out: the file written
//   kStats         in: "" (text table) or "json"; exits per reason, per vCPU
//                  and per device region, with rates since the previous
//                  kStats on the same open (or since the start)
//   kGdb           in: "" (the default endpoint: a Unix socket named
//                  <node>.gdb next to /dev/qvm/<system>), an endpoint
//                  (`tcp:[HOST:]PORT` or an absolute socket path), or "?"
//                  (only ask). Starts the gdb stub when it is not listening;
//                  out: where a debugger connects (`target remote OUT`),
//                  "" for "?" when none. EEXIST: already listening on
//                  another endpoint ("?" says which)
// On a vdev's node (/dev/qvm/<system>/<vdev>) every command is routed to
// that vdev's control callback (QVM_CTRL_DEVCTL, see qvm/vdev.h); devices
// that do not declare QVM_VDEVF_DEVCTL answer ENOTTY.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace qvm::ctl {

inline constexpr uint32_t kStatus = 0x0100;
inline constexpr uint32_t kPause = 0x0101;
inline constexpr uint32_t kResume = 0x0102;
inline constexpr uint32_t kReset = 0x0103;
inline constexpr uint32_t kPowerButton = 0x0104;
inline constexpr uint32_t kPowerCut = 0x0105;
inline constexpr uint32_t kDump = 0x0106;
inline constexpr uint32_t kStats = 0x0107;
inline constexpr uint32_t kGdb = 0x0108;

// Names below /dev/qvm/<system> that are not vdevs.
inline constexpr const char* kEnvName = "env";
// The default gdb socket of /dev/qvm/<system>: <system> + this, beside it.
inline constexpr const char* kGdbSuffix = ".gdb";

}  // namespace qvm::ctl

namespace qvm::ctl {
// qvm's version, reported in env, status and `qvmctl --version`.
inline constexpr const char* kQvmVersion = "0.1.0";
}  // namespace qvm::ctl

namespace qvm {
// The last directory for /dev/qvm/<system> sockets: /tmp/qvm-$UID.
inline std::string ResmgrUserFallback() {
  return "/tmp/qvm-" + std::to_string(geteuid());
}
// The directories qvmctl searches for /dev/qvm/<system>, in order: the
// rules of ResmgrDirectory (control.h) without `set resmgr-path` and with
// nothing created: $QVM_RESMGR_DIR, /dev/qvm, $XDG_RUNTIME_DIR/qvm,
// /tmp/qvm-$UID.
inline std::vector<std::string> ResmgrSearchDirs() {
  std::vector<std::string> out;
  if (const char* e = getenv("QVM_RESMGR_DIR"); e && *e) out.push_back(e);
  out.push_back("/dev/qvm");
  if (const char* x = getenv("XDG_RUNTIME_DIR"); x && *x)
    out.push_back(std::string(x) + "/qvm");
  out.push_back(ResmgrUserFallback());
  return out;
}
}  // namespace qvm
