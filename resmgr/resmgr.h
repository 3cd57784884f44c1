// resmgr: a QNX-shaped resource-manager library for Linux.
//
// One Dispatch = one epoll loop on one thread. It serves:
//   - clients of attached names (Unix-domain SOCK_SEQPACKET sockets; see
//     attach() and resmgr/protocol.h),
//   - timers delivered as pulses (timerfd),
//   - host file descriptors (readable/writable callbacks),
//   - signals (signalfd),
//   - work posted from other threads (post(), send_pulse(), wake(), stop()).
//
// Threading: post(), send_pulse(), wake() and stop() may be called from any
// thread. Everything else (including Ocb::notify and Deferred replies) must
// run on the loop thread -- from a callback, or before run() starts.
// Handlers must not call run()/run_once().
#pragma once

#include <sys/signalfd.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "resmgr/protocol.h"
#include "resmgr/types.h"

namespace qvm::resmgr {

class Attachment;
class Conn;
class Dispatch;
class Deferred;
class Listener;
void TeardownConn(Conn& c);

// ---------------------------------------------------------------------------
// Per-open context (QNX: OCB). Created by the connect handler (derive from
// it to keep your own state), destroyed after the close handler ran (CLOSE
// message or client disconnect).
class Ocb {
 public:
  Ocb() = default;
  virtual ~Ocb();
  Ocb(const Ocb&) = delete;
  Ocb& operator=(const Ocb&) = delete;

  const std::string& name() const { return name_; }  // name below the path
  uint32_t flags() const { return flags_; }           // open(2) flags
  const Credentials& cred() const { return cred_; }
  Attachment* attachment() const { return att_; }

  // If the client armed a notification for any of `events` (NOTIFY), sends
  // it a NOTIFY-EVENT {armed & events, cookie} and disarms (one-shot).
  // Returns true when an event was sent. Loop thread only.
  bool notify(uint32_t events);
  uint32_t armed_events() const { return armed_; }
  // Whether the client is still connected.
  bool connected() const;

 private:
  friend class Conn;
  std::string name_;
  uint32_t flags_ = 0;
  Credentials cred_;
  Attachment* att_ = nullptr;
  std::weak_ptr<Conn> conn_;
  uint32_t armed_ = 0;
  uint32_t cookie_ = 0;
};

// ---------------------------------------------------------------------------
// A reply taken over by a handler (QNX: _RESMGR_NOREPLY + MsgReply later).
// Movable; reply exactly once with one of the methods, on the loop thread.
// Replying after the client went away is a no-op. Destroying a pending
// Deferred replies EINTR. Sizes are checked as for an immediate reply.
class Deferred {
 public:
  Deferred() = default;
  Deferred(Deferred&& o) noexcept;
  Deferred& operator=(Deferred&& o) noexcept;
  Deferred(const Deferred&) = delete;
  Deferred& operator=(const Deferred&) = delete;
  ~Deferred();

  bool pending() const { return pending_; }
  bool client_alive() const;
  uint8_t type() const { return type_; }

  void error(int err);                     // any request type
  void read_data(std::string_view data);   // READ: data.size() <= nbytes
  void write_count(uint32_t n);            // WRITE: n <= bytes written
  void devctl_out(std::string_view out);   // DEVCTL: out.size() <= max_out

 private:
  friend class Request;
  void finish(int status, std::string_view data);
  std::weak_ptr<Conn> conn_;
  uint32_t id_ = 0;
  uint8_t type_ = 0;
  uint32_t limit_ = 0;  // nbytes (READ), data size (WRITE), max_out (DEVCTL)
  bool pending_ = false;
};

// The request being handled; valid during the handler call.
class Request {
 public:
  uint8_t type() const { return type_; }
  uint32_t id() const { return id_; }
  const Credentials& cred() const { return cred_; }
  // Takes over the reply (READ, WRITE and DEVCTL only; at most once). The
  // handler then returns kDeferred (its return value is ignored) and
  // replies later through the Deferred. Other types get an invalid
  // Deferred (pending() == false) and the request is answered EIO.
  Deferred defer();
  bool deferred() const { return deferred_; }

 private:
  friend class Conn;
  std::weak_ptr<Conn> conn_;
  uint8_t type_ = 0;
  uint32_t id_ = 0;
  uint32_t limit_ = 0;
  Credentials cred_;
  bool deferred_ = false;
};

// Handler return value meaning "reply comes later through a Deferred".
inline constexpr int kDeferred = -1;

struct OpenRequest {
  std::string_view name;  // below the attached path: "env", "ser1", "" ...
  uint32_t flags = 0;     // open(2) flags (O_ACCMODE part is 0, 1 or 2)
  Credentials cred;
};

struct ConnectFuncs {
  // Returns 0 and sets *ocb (left null: a plain Ocb is created), or a
  // positive errno to refuse. Unset: only "" opens, others get ENOENT.
  std::function<int(const OpenRequest& req, std::unique_ptr<Ocb>* ocb)> open;
};

// I/O handlers: return 0 or a positive errno (or kDeferred after
// req.defer()). Unset handlers: read/write/notify -> ENOSYS, devctl ->
// ENOTTY, stat -> the prefilled defaults, close -> nothing.
// The library checks sizes before and after: a request never reaches a
// handler unless it passed the size table; access mode is enforced (READ
// needs O_RDONLY/O_RDWR, WRITE needs O_WRONLY/O_RDWR, else EBADF); a READ
// reply longer than nbytes becomes EIO, a DEVCTL output longer than max_out
// becomes EOVERFLOW, a WRITE count larger than the data becomes EIO.
struct IoFuncs {
  std::function<int(Request& req, Ocb& ocb, uint32_t nbytes, uint64_t offset,
                    std::string* out)>
      read;
  // *written is preset to data.size().
  std::function<int(Request& req, Ocb& ocb, uint64_t offset,
                    std::string_view data, uint32_t* written)>
      write;
  std::function<int(Request& req, Ocb& ocb, uint32_t cmd, std::string_view in,
                    uint32_t max_out, std::string* out)>
      devctl;
  // *st is prefilled: S_IFDIR (name "") or S_IFCHR, the socket's permission
  // bits, the server's uid and the socket's gid, size 0, attach time.
  std::function<int(Request& req, Ocb& ocb, Stat* st)> stat;
  // Sets *ready to the readiness bits (proto::kNotify*) true now. The
  // library replies them when they intersect the requested events, else
  // arms a one-shot notification (see Ocb::notify).
  std::function<int(Request& req, Ocb& ocb, uint32_t events, uint32_t* ready)>
      notify;
  // CLOSE or disconnect; the Ocb is destroyed right after. Forget every
  // pointer to it here (Deferred objects may safely outlive it).
  std::function<void(Ocb& ocb)> close;
};

struct AttachOptions {
  // Empty: socket mode 0600, only the server's uid and root may connect.
  // A group name: socket owned by that group with mode 0660, and members
  // (primary or supplementary group, by SO_PEERCRED / SO_PEERGROUPS) may
  // connect too.
  std::string group;
  size_t max_clients = 64;
  // Replies and events queued for a client that does not read them; past
  // this the client is dropped.
  size_t max_output_bytes = 256 * 1024;
  // Deferred requests per client; at the limit the server stops reading
  // that client until a deferred reply goes out.
  unsigned max_inflight = 4;
};

class Attachment {
 public:
  struct Stats {
    uint64_t accepted = 0;   // connections accepted
    uint64_t refused = 0;    // refused by peer credentials
    uint64_t busy = 0;       // refused because max_clients was reached
    uint64_t malformed = 0;  // requests failing validation (no handler ran)
    uint64_t requests = 0;   // requests that reached the dispatch stage
    uint64_t dropped = 0;    // clients dropped for unread output
    uint64_t disconnected = 0;
  };
  ~Attachment();
  const std::string& path() const { return path_; }
  const Stats& stats() const { return stats_; }
  size_t clients() const;
  // Calls fn for every open OCB (e.g. to notify all readers of a name).
  void for_each_ocb(const std::function<void(Ocb&)>& fn);

 private:
  friend class Dispatch;
  friend class Conn;
  friend class Listener;
  friend void TeardownConn(Conn& c);
  Attachment() = default;
  std::string path_;
  ConnectFuncs connect_;
  IoFuncs io_;
  AttachOptions opts_;
  Dispatch* dispatch_ = nullptr;
  std::shared_ptr<Listener> listener_;
  std::vector<std::shared_ptr<Conn>> conns_;
  Stats stats_;
  gid_t group_gid_ = 0;
  bool has_group_ = false;
  uint32_t perm_ = 0600;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  uint64_t attach_time_ns_ = 0;
};

// A pulse: a small message delivered to the handler attached to its code.
struct Pulse {
  int code = 0;
  uint64_t value = 0;
  uint64_t count = 1;  // timer expirations folded into this pulse
};

class Dispatch {
 public:
  using TimerId = uint64_t;
  enum : uint32_t { kReadable = 1, kWritable = 2, kHangup = 4 };

  static absl::StatusOr<std::unique_ptr<Dispatch>> Create();
  ~Dispatch();
  Dispatch(const Dispatch&) = delete;
  Dispatch& operator=(const Dispatch&) = delete;

  // --- names ---------------------------------------------------------------
  // Creates the listening socket at `path`. An existing socket whose server
  // is gone (connect: ECONNREFUSED) is replaced; a live one gives
  // AlreadyExists (errno EADDRINUSE); a non-socket file gives AlreadyExists
  // (EEXIST) and is left alone. The parent directory must exist.
  absl::StatusOr<Attachment*> attach(const std::string& path, ConnectFuncs connect,
                                     IoFuncs io, AttachOptions opts = {});
  // Closes every client (close handlers run), the listener, and unlinks
  // the socket if it is still ours.
  void detach(Attachment* att);

  // --- pulses and timers ----------------------------------------------------
  void pulse_attach(int code, std::function<void(const Pulse&)> fn);
  void pulse_detach(int code);
  // Thread-safe. ResourceExhausted when 4096 pulses are already queued.
  absl::Status send_pulse(int code, uint64_t value);
  // A CLOCK_MONOTONIC timer that delivers Pulse{code, value} when it fires.
  absl::StatusOr<TimerId> timer_create(int code, uint64_t value);
  // Relative first expiry and period (zero period: one-shot; zero initial:
  // disarm).
  absl::Status timer_settime(TimerId id, absl::Duration initial,
                             absl::Duration period = absl::ZeroDuration());
  void timer_destroy(TimerId id);

  // --- host file descriptors -----------------------------------------------
  // `events`: kReadable | kWritable. The callback gets the ready set
  // (kHangup on EPOLLHUP/EPOLLERR). The fd stays owned by the caller.
  absl::Status watch_fd(int fd, uint32_t events,
                        std::function<void(int fd, uint32_t ready)> fn);
  absl::Status modify_fd(int fd, uint32_t events);
  void unwatch_fd(int fd);

  // --- signals ---------------------------------------------------------------
  // Delivers `signo` through a signalfd. Blocks it in the calling thread;
  // block it in every other thread too (BlockSignals before creating
  // threads), or the kernel may deliver it the ordinary way.
  absl::Status on_signal(int signo,
                         std::function<void(const signalfd_siginfo&)> fn);
  static absl::Status BlockSignals(const std::vector<int>& signals);

  // --- cross-thread ----------------------------------------------------------
  void post(std::function<void()> fn);  // thread-safe; runs on the loop
  void wake();                          // thread-safe; run_once returns
  void stop();                          // thread-safe; run() returns

  // --- running ---------------------------------------------------------------
  void run();
  // Waits up to timeout_ms (-1: forever) and handles what is ready. Returns
  // the number of epoll events handled.
  int run_once(int timeout_ms);
  // The epoll fd: readable when run_once(0) has work (to nest this loop in
  // another one).
  int fd() const;

  struct Impl;

 private:
  friend class Conn;
  friend class Listener;
  Dispatch();
  std::unique_ptr<Impl> impl_;
};

}  // namespace qvm::resmgr
