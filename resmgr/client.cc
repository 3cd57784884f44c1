#include "resmgr/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace qvm::resmgr {

namespace {
constexpr size_t kMaxQueuedEvents = 64;

bool ValidStatus(int32_t s) { return s >= 0 && s <= 4095; }
}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::open(const std::string& server_path,
                                                     std::string_view name, uint32_t flags,
                                                     absl::Duration timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (server_path.empty() || server_path.size() >= sizeof addr.sun_path)
    return ErrnoStatus(ENAMETOOLONG, absl::StrCat("'", server_path, "'"));
  if (name.size() > proto::kMaxName)
    return ErrnoStatus(ENAMETOOLONG, absl::StrCat(server_path, ": name"));
  std::memcpy(addr.sun_path, server_path.data(), server_path.size());
  std::unique_ptr<Client> c(new Client());
  c->path_ = server_path;
  c->timeout_ = timeout;
  c->fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (c->fd_ < 0) return ErrnoStatus(errno, "socket");
  if (::connect(c->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    switch (e) {
      case ENOENT:
        return ErrnoStatus(e, absl::StrCat(server_path, ": not running (no such socket)"));
      case ECONNREFUSED:
        return ErrnoStatus(e, absl::StrCat(server_path, ": not running (stale socket)"));
      case EACCES:
      case EPERM:
        return ErrnoStatus(e, absl::StrCat(server_path, ": access denied"));
      default:
        return ErrnoStatus(e, absl::StrCat(server_path, ": connect"));
    }
  }
  uint32_t id = c->next_id_++;
  auto r = c->transact(proto::EncodeConnect(id, flags, name), id);
  if (!r.ok()) return r.status();
  if (!r->empty()) return c->broken("protocol error (CONNECT reply has data)");
  c->open_ = true;
  return c;
}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status Client::broken(std::string_view why) {
  dead_ = ErrnoStatus(EPROTO, absl::StrCat(path_, ": ", std::string(why)));
  return dead_;
}

absl::Status Client::receive(absl::Time deadline, uint32_t want_id, std::string* data,
                             bool* got) {
  *got = false;
  for (;;) {
    absl::Duration left = deadline - absl::Now();
    int ms = left <= absl::ZeroDuration() ? 0
             : left == absl::InfiniteDuration()
                 ? -1
                 : static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1 << 30));
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return ErrnoStatus(errno, "poll");
    if (rc == 0) return ErrnoStatus(ETIMEDOUT, absl::StrCat(path_, ": no answer"));
    break;
  }
  std::vector<uint8_t> buf(proto::kMaxMessage);
  ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC);
  // A server that closed with our request unread reports ECONNRESET first;
  // what it sent before closing (a refusal) is still queued behind it.
  if (n < 0 && errno == ECONNRESET)
    n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return absl::OkStatus();
    dead_ = ErrnoStatus(errno, absl::StrCat(path_, ": recv"));
    return dead_;
  }
  if (n == 0) {
    dead_ = ErrnoStatus(ECONNRESET, absl::StrCat(path_, ": server closed the connection"));
    return dead_;
  }
  proto::Header h;
  size_t len = static_cast<size_t>(n);
  if (len > proto::kMaxMessage || !proto::ParseHeader(buf.data(), len, &h) ||
      h.magic != proto::kMagic || h.version != proto::kVersion || h.reserved != 0 ||
      h.length != len - proto::kHeaderSize)
    return broken("protocol error (bad packet from server)");
  const uint8_t* p = buf.data() + proto::kHeaderSize;
  if (h.type == proto::kNotifyEvent) {
    if (h.length != 8) return broken("protocol error (bad NOTIFY-EVENT)");
    if (events_.size() >= kMaxQueuedEvents) events_.pop_front();
    events_.push_back(NotifyEvent{proto::GetU32(p), proto::GetU32(p + 4)});
    return absl::OkStatus();
  }
  if (h.type != proto::kReply || h.length < proto::kReplyPrefix)
    return broken("protocol error (unexpected message type)");
  int32_t status = static_cast<int32_t>(proto::GetU32(p));
  if (!ValidStatus(status)) return broken("protocol error (bad status)");
  if (h.id == 0) {
    // Connection-level answer: refused or malformed.
    switch (status) {
      case EACCES:
        dead_ = ErrnoStatus(EACCES, absl::StrCat(path_, ": access denied (refused by the server)"));
        break;
      case EAGAIN:
        dead_ = ErrnoStatus(EAGAIN, absl::StrCat(path_, ": server busy (too many clients)"));
        break;
      default:
        dead_ = ErrnoStatus(status ? status : EPROTO, absl::StrCat(path_, ": connection refused"));
    }
    return dead_;
  }
  if (h.id != want_id) return absl::OkStatus();  // answer to a timed-out request
  *got = true;
  if (status != 0) return ErrnoStatus(status, path_);
  data->assign(reinterpret_cast<const char*>(p + proto::kReplyPrefix),
               h.length - proto::kReplyPrefix);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Client::transact(const std::string& msg, uint32_t id) {
  if (!dead_.ok()) return dead_;
  if (fd_ < 0) return ErrnoStatus(EBADF, absl::StrCat(path_, ": closed"));
  absl::Time deadline = absl::Now() + timeout_;
  if (::send(fd_, msg.data(), msg.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(msg.size())) {
    int e = errno;
    // A refusal may be waiting in the receive queue: prefer it.
    std::string d;
    bool got = false;
    absl::Status s = receive(absl::Now(), id, &d, &got);
    if (!dead_.ok()) return dead_;
    dead_ = ErrnoStatus(e, absl::StrCat(path_, ": send"));
    return dead_;
  }
  for (;;) {
    std::string data;
    bool got = false;
    absl::Status s = receive(deadline, id, &data, &got);
    if (got || !s.ok()) {
      if (!s.ok()) return s;
      return data;
    }
  }
}

absl::StatusOr<std::string> Client::pread(uint32_t nbytes, uint64_t offset) {
  if (nbytes > proto::kMaxData) return ErrnoStatus(EINVAL, "read: nbytes too large");
  uint32_t id = next_id_++;
  auto r = transact(proto::EncodeRead(id, nbytes, offset), id);
  if (r.ok() && r->size() > nbytes) return broken("protocol error (READ reply too long)");
  return r;
}

absl::StatusOr<std::string> Client::read(uint32_t nbytes) {
  auto r = pread(nbytes, pos_);
  if (r.ok()) pos_ += r->size();
  return r;
}

absl::StatusOr<uint32_t> Client::pwrite(std::string_view data, uint64_t offset) {
  if (data.size() > proto::kMaxData) return ErrnoStatus(EINVAL, "write: too much data");
  uint32_t id = next_id_++;
  auto r = transact(proto::EncodeWrite(id, offset, data), id);
  if (!r.ok()) return r.status();
  if (r->size() != 4) return broken("protocol error (WRITE reply size)");
  uint32_t n = proto::GetU32(reinterpret_cast<const uint8_t*>(r->data()));
  if (n > data.size()) return broken("protocol error (WRITE count)");
  return n;
}

absl::StatusOr<uint32_t> Client::write(std::string_view data) {
  auto r = pwrite(data, pos_);
  if (r.ok()) pos_ += *r;
  return r;
}

absl::StatusOr<std::string> Client::devctl(uint32_t cmd, std::string_view in, uint32_t max_out) {
  if (in.size() > proto::kMaxData || max_out > proto::kMaxData)
    return ErrnoStatus(EINVAL, "devctl: too much data");
  uint32_t id = next_id_++;
  auto r = transact(proto::EncodeDevctl(id, cmd, max_out, in), id);
  if (r.ok() && r->size() > max_out) return broken("protocol error (DEVCTL reply too long)");
  return r;
}

absl::StatusOr<Stat> Client::stat() {
  uint32_t id = next_id_++;
  auto r = transact(proto::EncodeEmpty(proto::kStat, id), id);
  if (!r.ok()) return r.status();
  Stat st;
  if (!DecodeStat(*r, &st)) return broken("protocol error (STAT reply size)");
  return st;
}

absl::StatusOr<uint32_t> Client::notify(uint32_t events, uint32_t cookie) {
  uint32_t id = next_id_++;
  auto r = transact(proto::EncodeNotify(id, events, cookie), id);
  if (!r.ok()) return r.status();
  if (r->size() != 4) return broken("protocol error (NOTIFY reply size)");
  return proto::GetU32(reinterpret_cast<const uint8_t*>(r->data()));
}

absl::StatusOr<NotifyEvent> Client::wait_notify(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (events_.empty()) {
    if (!dead_.ok()) return dead_;
    if (fd_ < 0) return ErrnoStatus(EBADF, absl::StrCat(path_, ": closed"));
    std::string d;
    bool got = false;
    absl::Status s = receive(deadline, 0xffffffffu, &d, &got);
    if (!s.ok()) return s;
  }
  NotifyEvent e = events_.front();
  events_.pop_front();
  return e;
}

absl::Status Client::close() {
  if (fd_ < 0) return absl::OkStatus();
  absl::Status result;
  if (open_ && dead_.ok()) {
    uint32_t id = next_id_++;
    auto r = transact(proto::EncodeEmpty(proto::kClose, id), id);
    result = r.status();
  }
  open_ = false;
  ::close(fd_);
  fd_ = -1;
  return result;
}

}  // namespace qvm::resmgr
