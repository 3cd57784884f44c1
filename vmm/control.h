// /dev/qvm/<system>: the names qvm serves through the resource manager and
// their devctl commands (vmm/control_proto.h). The Control object knows
// nothing about KVM or the Vm class: it talks to a ControlTarget (the Vm;
// unit tests provide a fake), so every handler can be driven in tests with
// real sockets and no accelerator.
//
// Names below the attached socket:
//   ""      the system node: devctl commands; read = the list of names
//   env     JSON description of the VM (snapshot taken at open)
//   <vdev>  one per device instance: devctl routed to the device; when the
//           device has a host stream (ser8250 and other `hostdev` users) the
//           node is its console: read = guest output since this open
//           (several readers, each its own queue), write = guest input
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "resmgr/resmgr.h"

namespace qvm {

// Exit counters at one instant.
struct StatsSnapshot {
  uint64_t time_ns = 0;   // CLOCK_MONOTONIC
  uint64_t start_ns = 0;  // when the guest started
  std::vector<std::string> reasons;             // exit reason names
  std::vector<std::vector<uint64_t>> per_vcpu;  // [vcpu][reason]
  struct Region {
    std::string device;  // vdev name, or "unassigned"
    std::string space;   // "io" / "mem"
    uint64_t base = 0, size = 0;
    uint64_t count = 0;  // exits that hit it (all vCPUs)
  };
  std::vector<Region> regions;
};

class ControlTarget {
 public:
  virtual ~ControlTarget() = default;
  virtual std::string env_json() = 0;
  // Status report; json selects the format.
  virtual std::string status(bool json) = 0;
  // 0 or a positive errno.
  virtual int pause() = 0;
  virtual int resume() = 0;
  virtual int reset() = 0;
  virtual int power_button() = 0;
  virtual int power_cut() = 0;
  // Writes a guest dump; *out = the file written, or an error message.
  virtual int dump(std::string* out) = 0;
  virtual StatsSnapshot stats() = 0;
  // Starts the gdb stub on `endpoint` (control_proto.h kGdb); *out = where
  // a debugger connects. 0 or a positive errno.
  virtual int gdb(const std::string& endpoint, std::string* out) = 0;
  virtual std::vector<std::string> device_names() = 0;
  virtual bool has_device(const std::string& name) = 0;
  // A vdev-defined devctl: 0 / positive errno; *out is the reply.
  virtual int vdev_devctl(const std::string& dev, uint32_t cmd,
                          std::string_view in, std::string* out) = 0;
  // Whether the device has a console stream, and guest input into it
  // (0 with *written set, or a positive errno: EAGAIN when full).
  virtual bool has_console(const std::string& dev) = 0;
  virtual int console_input(const std::string& dev, std::string_view data,
                            uint32_t* written) = 0;
};

// JSON string literal (quoted, escaped; bytes >= 0x80 pass through, other
// control characters become \u00XX).
std::string JsonString(std::string_view s);
// Statistics as a text table or JSON; rates are computed against `prev`
// when given, else since the start.
std::string FormatStatsText(const StatsSnapshot& now, const StatsSnapshot* prev);
std::string FormatStatsJson(const StatsSnapshot& now, const StatsSnapshot* prev);

// The directory that holds /dev/qvm/<system> sockets: `configured` (set
// resmgr-path) when not empty, else $QVM_RESMGR_DIR, else /dev/qvm when it
// exists or can be created and is writable, else $XDG_RUNTIME_DIR/qvm, else
// /tmp/qvm-$UID. The directory is created (mode 0755) when missing; a
// per-user fallback must be a real directory owned by the caller.
absl::StatusOr<std::string> ResmgrDirectory(const std::string& configured);

class Control {
 public:
  // Per-reader console queue limit; older bytes are dropped beyond it.
  static constexpr size_t kConsoleQueueMax = 1u << 20;

  Control(resmgr::Dispatch* d, ControlTarget* t);
  ~Control();
  Control(const Control&) = delete;
  Control& operator=(const Control&) = delete;

  // Binds the socket at `path` (AlreadyExists when a live qvm has it).
  absl::Status attach(const std::string& path, const std::string& group);
  void detach();
  const std::string& path() const { return path_; }
  resmgr::Attachment* attachment() { return att_; }

  // Guest output of device `dev` (loop thread): queued for each reader.
  void console_output(const std::string& dev, std::string_view data);
  size_t console_readers(const std::string& dev) const;

  struct Ocb;

 private:
  int open(const resmgr::OpenRequest& req, std::unique_ptr<resmgr::Ocb>* out);
  int read(resmgr::Request& req, Ocb& o, uint32_t n, uint64_t off, std::string* out);
  int write(resmgr::Request& req, Ocb& o, std::string_view data, uint32_t* written);
  int devctl(resmgr::Request& req, Ocb& o, uint32_t cmd, std::string_view in,
             std::string* out);
  void close(Ocb& o);

  resmgr::Dispatch* disp_;
  ControlTarget* target_;
  resmgr::Attachment* att_ = nullptr;
  std::string path_;
  std::set<Ocb*> readers_;
};

}  // namespace qvm
