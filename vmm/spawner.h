// The spawner: a small process forked while qvm is still one thread and
// before any system-call filter, which runs commands on qvm's behalf
// (`dump "|CMD"`). The main loop stays under its filter (no fork, no exec
// there): it asks over a socket pair and gets back the write end of a pipe
// that is the command's standard input, then the command's exit status.
// vmm/README.md, "System-call filter".
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "vmm/privileges.h"

namespace qvm {

class Spawner {
 public:
  Spawner() = default;
  ~Spawner();  // closes the socket: the spawner process ends (not reaped)
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;

  // Forks the spawner process. Call while qvm has a single thread (before
  // devices start theirs) and before any filter. With `user` (non-null),
  // the spawner process takes those credentials at once: its commands run
  // as that user.
  absl::Status start(const Credentials* user = nullptr);
  bool running() const { return sock_ >= 0; }

  // Starts `/bin/sh -c cmd` (stdout and stderr qvm's, stdin a pipe) and
  // returns the pipe's write end; the caller writes, closes it, then calls
  // wait(). One command at a time (the caller serializes).
  absl::StatusOr<int> run(const std::string& cmd);
  // The exit status (as waitpid reports it) of the command run() started.
  absl::StatusOr<int> wait();

 private:
  int sock_ = -1;
  pid_t pid_ = -1;
};

}  // namespace qvm
