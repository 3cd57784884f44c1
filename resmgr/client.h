// resmgr client: opens a name below a server's socket and sends I/O
// messages (for qvmctl and tests). Synchronous: one request at a time.
// Not thread-safe; one Client per thread.
#pragma once

#include <fcntl.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "resmgr/protocol.h"
#include "resmgr/types.h"

namespace qvm::resmgr {

struct NotifyEvent {
  uint32_t events = 0;
  uint32_t cookie = 0;
};

class Client {
 public:
  // Connects to the server socket `server_path` and opens `name` below it
  // with open(2) `flags`. Errors (ErrnoOf gives the errno):
  //   NotFound (ENOENT)          "<path>: not running (no such socket)"
  //   Unavailable (ECONNREFUSED) "<path>: not running (stale socket)"
  //   PermissionDenied (EACCES)  "<path>: access denied" (file mode or the
  //                              server's peer-credential check)
  //   Unavailable (EAGAIN)       "<path>: server busy (too many clients)"
  //   the connect handler's errno, e.g. NotFound (ENOENT) for an unknown
  //   name.
  static absl::StatusOr<std::unique_ptr<Client>> open(
      const std::string& server_path, std::string_view name, uint32_t flags = O_RDWR,
      absl::Duration timeout = absl::Seconds(10));
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Reads up to nbytes (<= proto::kMaxData) at the client's position and
  // advances it by what came back; pread reads at `offset`.
  absl::StatusOr<std::string> read(uint32_t nbytes);
  absl::StatusOr<std::string> pread(uint32_t nbytes, uint64_t offset);
  // Writes (data.size() <= proto::kMaxData); returns the count accepted.
  absl::StatusOr<uint32_t> write(std::string_view data);
  absl::StatusOr<uint32_t> pwrite(std::string_view data, uint64_t offset);
  // Command `cmd` with input `in`; the reply holds at most max_out bytes
  // (the server answers EOVERFLOW when its output is larger). Unknown
  // commands: ENOTTY.
  absl::StatusOr<std::string> devctl(uint32_t cmd, std::string_view in = {},
                                     uint32_t max_out = proto::kMaxData);
  absl::StatusOr<Stat> stat();
  // Asks for readiness `events` (proto::kNotify*). Returns the bits ready
  // now; when none of `events` is ready the server armed a one-shot
  // notification that wait_notify() receives.
  absl::StatusOr<uint32_t> notify(uint32_t events, uint32_t cookie = 0);
  // DeadlineExceeded (ETIMEDOUT) when nothing arrives in time.
  absl::StatusOr<NotifyEvent> wait_notify(absl::Duration timeout);
  // Sends CLOSE and closes the socket (also done by the destructor).
  absl::Status close();

  uint64_t position() const { return pos_; }
  void seek(uint64_t pos) { pos_ = pos; }
  // Per-request reply timeout (default: the one given to open()).
  void set_timeout(absl::Duration t) { timeout_ = t; }
  // The socket, for poll(): readable when an event or reply is waiting.
  int fd() const { return fd_; }
  size_t queued_events() const { return events_.size(); }

 private:
  Client() = default;
  // Sends one request and waits for its reply; returns the reply data.
  absl::StatusOr<std::string> transact(const std::string& msg, uint32_t id);
  // Receives one packet (waiting up to `deadline`) and handles events.
  absl::Status receive(absl::Time deadline, uint32_t want_id, std::string* data,
                       bool* got);
  absl::Status broken(std::string_view why);

  int fd_ = -1;
  std::string path_;
  uint32_t next_id_ = 1;
  uint64_t pos_ = 0;
  absl::Duration timeout_ = absl::Seconds(10);
  std::deque<NotifyEvent> events_;
  bool open_ = false;
  absl::Status dead_;  // set once the connection is unusable
};

}  // namespace qvm::resmgr
