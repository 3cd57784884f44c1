// attach(): the listening socket, client connections, OCBs and replies.
#include <fcntl.h>
#include <grp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "resmgr/internal.h"

namespace qvm::resmgr {

namespace {

uint64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

bool FillAddr(const std::string& path, sockaddr_un* a) {
  std::memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a->sun_path) return false;
  std::memcpy(a->sun_path, path.data(), path.size());
  return true;
}

// Best-effort one-packet message on a fresh socket (refusals).
void SendNow(int fd, const std::string& msg) {
  ssize_t r = ::send(fd, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)r;
}

// Whether gid is among the peer's supplementary groups (SO_PEERGROUPS).
bool PeerInGroup(int fd, gid_t gid) {
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 2; attempt++) {
    socklen_t len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
      size_t n = len / sizeof(gid_t);
      return std::find(groups.begin(), groups.begin() + static_cast<long>(n), gid) !=
             groups.begin() + static_cast<long>(n);
    }
    if (errno != ERANGE || len / sizeof(gid_t) > 65536) return false;
    groups.resize(len / sizeof(gid_t));
  }
  return false;
}

}  // namespace

// ---------------------------------------------------------------------------
class Conn : public Source, public std::enable_shared_from_this<Conn> {
 public:
  Conn(Dispatch::Impl* d, Attachment* att, const Credentials& cred)
      : d_(d), att_(att), cred_(cred) {}

  void on_event(uint32_t ev) override;
  void handle(const uint8_t* p, size_t n);
  void send_msg(std::string msg);
  void reply(uint32_t id, int status, std::string_view data = {}) {
    send_msg(proto::EncodeReply(id, status, data));
  }
  void flush_out();
  bool can_read() const {
    return !dead && !broken_ && outq_.empty() && inflight_ < att_->opts_.max_inflight;
  }
  void update_mask();
  void fail() {
    if (broken_ || dead) return;
    broken_ = true;
    d_->schedule_teardown(shared_from_this());
  }
  bool usable() const { return !dead && !broken_; }
  void request_done() {  // a deferred reply went out
    if (inflight_ > 0) inflight_--;
    update_mask();
  }

  Dispatch::Impl* d_;
  Attachment* att_;
  Credentials cred_;
  std::unique_ptr<Ocb> ocb_;
  std::deque<std::string> outq_;
  size_t outq_bytes_ = 0;
  unsigned inflight_ = 0;
  uint32_t mask_ = 0;
  bool broken_ = false;

 private:
  template <typename F>
  void run_io(proto::Request& r, uint32_t limit, F&& call);
};

void Conn::update_mask() {
  if (dead) return;
  uint32_t m = 0;  // EPOLLHUP/EPOLLERR are always reported
  if (can_read()) m |= EPOLLIN;
  if (!outq_.empty()) m |= EPOLLOUT;
  if (m != mask_ && d_->mod(this, m)) mask_ = m;
}

void Conn::send_msg(std::string msg) {
  if (!usable()) return;
  if (outq_.empty()) {
    ssize_t r = ::send(fd, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r == static_cast<ssize_t>(msg.size())) return;
    if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)) {
      fail();  // EPIPE, ECONNRESET...: the client is gone
      return;
    }
  }
  outq_bytes_ += msg.size();
  outq_.push_back(std::move(msg));
  if (outq_bytes_ > att_->opts_.max_output_bytes) {
    att_->stats_.dropped++;
    fail();
    return;
  }
  update_mask();
}

void Conn::flush_out() {
  while (!outq_.empty() && usable()) {
    const std::string& m = outq_.front();
    ssize_t r = ::send(fd, m.data(), m.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) break;
    if (r != static_cast<ssize_t>(m.size())) {
      fail();
      return;
    }
    outq_bytes_ -= m.size();
    outq_.pop_front();
  }
  update_mask();
}

void Conn::on_event(uint32_t ev) {
  if (!usable()) return;
  if (ev & EPOLLOUT) flush_out();
  bool eof = false;
  if (ev & EPOLLIN) {
    // Bounded per wake-up so one client cannot starve the others.
    for (int i = 0; i < 32 && can_read(); i++) {
      ssize_t n = ::recv(fd, d_->rxbuf.data(), d_->rxbuf.size(), MSG_DONTWAIT | MSG_TRUNC);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) eof = true;
        break;
      }
      // A zero-length packet cannot be told from end of file: both end the
      // connection.
      if (n == 0) {
        eof = true;
        break;
      }
      handle(d_->rxbuf.data(), static_cast<size_t>(n));
    }
  }
  if (!eof && (ev & (EPOLLHUP | EPOLLERR)) && !(ev & EPOLLIN)) eof = true;
  if (!eof && (ev & (EPOLLHUP | EPOLLERR)) && !can_read()) eof = true;
  if (eof) {
    fail();
    return;
  }
  update_mask();
}

template <typename F>
void Conn::run_io(proto::Request& r, uint32_t limit, F&& call) {
  Request req;
  req.conn_ = weak_from_this();
  req.type_ = r.hdr.type;
  req.id_ = r.hdr.id;
  req.limit_ = limit;
  req.cred_ = cred_;
  int rc = call(req);
  if (req.deferred_) return;
  if (rc == kDeferred || rc < 0 || rc > 4095) rc = EIO;
  if (rc != 0) reply(r.hdr.id, rc);
}

void Conn::handle(const uint8_t* p, size_t n) {
  proto::Request r;
  int err = proto::CheckRequest(p, n, &r);
  if (err != 0) {
    att_->stats_.malformed++;
    reply(r.hdr.id, err);
    return;
  }
  att_->stats_.requests++;
  const uint32_t id = r.hdr.id;
  const IoFuncs& io = att_->io_;
  if (r.hdr.type == proto::kConnect) {
    if (ocb_) return reply(id, EISCONN);
    if ((r.flags & O_ACCMODE) == O_ACCMODE) return reply(id, EINVAL);
    OpenRequest oreq{r.name, r.flags, cred_};
    std::unique_ptr<Ocb> o;
    int rc;
    if (att_->connect_.open)
      rc = att_->connect_.open(oreq, &o);
    else
      rc = r.name.empty() ? 0 : ENOENT;
    if (rc != 0) return reply(id, rc > 0 && rc <= 4095 ? rc : EIO);
    if (!o) o = std::make_unique<Ocb>();
    o->name_ = std::string(r.name);
    o->flags_ = r.flags;
    o->cred_ = cred_;
    o->att_ = att_;
    o->conn_ = weak_from_this();
    ocb_ = std::move(o);
    return reply(id, 0);
  }
  if (!ocb_) return reply(id, EBADF);
  Ocb& ocb = *ocb_;
  const uint32_t acc = ocb.flags() & O_ACCMODE;
  switch (r.hdr.type) {
    case proto::kRead: {
      if (acc == O_WRONLY) return reply(id, EBADF);
      if (!io.read) return reply(id, ENOSYS);
      run_io(r, r.nbytes, [&](Request& req) {
        std::string out;
        int rc = io.read(req, ocb, r.nbytes, r.offset, &out);
        if (rc == 0 && !req.deferred()) {
          if (out.size() > r.nbytes) rc = EIO;
          else reply(id, 0, out);
        }
        return rc;
      });
      return;
    }
    case proto::kWrite: {
      if (acc == O_RDONLY) return reply(id, EBADF);
      if (!io.write) return reply(id, ENOSYS);
      const uint32_t size = static_cast<uint32_t>(r.data.size());
      run_io(r, size, [&](Request& req) {
        uint32_t written = size;
        int rc = io.write(req, ocb, r.offset, r.data, &written);
        if (rc == 0 && !req.deferred()) {
          if (written > size) {
            rc = EIO;
          } else {
            std::string s;
            proto::PutU32(s, written);
            reply(id, 0, s);
          }
        }
        return rc;
      });
      return;
    }
    case proto::kDevctl: {
      if (!io.devctl) return reply(id, ENOTTY);
      run_io(r, r.max_out, [&](Request& req) {
        std::string out;
        int rc = io.devctl(req, ocb, r.cmd, r.data, r.max_out, &out);
        if (rc == 0 && !req.deferred()) {
          if (out.size() > r.max_out) rc = EOVERFLOW;
          else reply(id, 0, out);
        }
        return rc;
      });
      return;
    }
    case proto::kStat: {
      Stat st;
      st.mode = (ocb.name().empty() ? S_IFDIR : S_IFCHR) | att_->perm_;
      st.uid = geteuid();
      st.gid = att_->has_group_ ? att_->group_gid_ : getegid();
      st.mtime_ns = att_->attach_time_ns_;
      run_io(r, 0, [&](Request& req) {
        int rc = io.stat ? io.stat(req, ocb, &st) : 0;
        if (rc == 0 && !req.deferred()) reply(id, 0, EncodeStat(st));
        return rc;
      });
      return;
    }
    case proto::kClose: {
      if (io.close) io.close(ocb);
      ocb_.reset();
      return reply(id, 0);
    }
    case proto::kNotify: {
      if (!io.notify) return reply(id, ENOSYS);
      if (r.events == 0) {
        ocb.armed_ = 0;
        std::string s;
        proto::PutU32(s, 0);
        return reply(id, 0, s);
      }
      run_io(r, 0, [&](Request& req) {
        uint32_t ready = 0;
        int rc = io.notify(req, ocb, r.events, &ready);
        if (rc == 0 && !req.deferred()) {
          ready &= proto::kNotifyMask;
          if (ready & r.events) {
            ocb.armed_ = 0;
          } else {
            ocb.armed_ = r.events;
            ocb.cookie_ = r.cookie;
          }
          std::string s;
          proto::PutU32(s, ready);
          reply(id, 0, s);
        }
        return rc;
      });
      return;
    }
  }
  reply(id, ENOSYS);  // unreachable: CheckRequest knows the types
}

void TeardownConn(Conn& c) {
  if (c.dead) return;
  c.broken_ = true;
  Attachment* att = c.att_;
  if (c.ocb_) {
    if (att->io_.close) att->io_.close(*c.ocb_);
    c.ocb_.reset();
  }
  c.outq_.clear();
  c.outq_bytes_ = 0;
  att->stats_.disconnected++;
  auto self = c.shared_from_this();
  auto& v = att->conns_;
  v.erase(std::remove(v.begin(), v.end(), self), v.end());
  c.d_->kill(self);
}

// ---------------------------------------------------------------------------
class Listener : public Source {
 public:
  Listener(Dispatch::Impl* d, Attachment* att) : d_(d), att_(att) {}
  void on_event(uint32_t) override {
    for (int i = 0; i < 16 && !dead; i++) {
      int cfd = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (cfd < 0) {
        if ((errno == EMFILE || errno == ENFILE) && d_->spare_fd >= 0) {
          // Out of descriptors: accept with the spare and drop the client,
          // so the level-triggered listener does not spin.
          ::close(d_->spare_fd);
          int t = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
          if (t >= 0) ::close(t);
          d_->spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
          att_->stats_.busy++;
          continue;
        }
        return;
      }
      accept_one(cfd);
    }
  }

  void accept_one(int cfd) {
    ucred uc{};
    socklen_t len = sizeof uc;
    if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0) {
      ::close(cfd);
      att_->stats_.refused++;
      return;
    }
    bool ok = uc.uid == 0 || uc.uid == geteuid();
    if (!ok && att_->has_group_)
      ok = uc.gid == att_->group_gid_ || PeerInGroup(cfd, att_->group_gid_);
    if (!ok) {
      att_->stats_.refused++;
      SendNow(cfd, proto::EncodeReply(0, EACCES, {}));
      ::close(cfd);
      return;
    }
    if (att_->conns_.size() >= att_->opts_.max_clients) {
      att_->stats_.busy++;
      SendNow(cfd, proto::EncodeReply(0, EAGAIN, {}));
      ::close(cfd);
      return;
    }
    auto c = std::make_shared<Conn>(d_, att_, Credentials{uc.pid, uc.uid, uc.gid});
    c->fd = cfd;
    c->mask_ = EPOLLIN;
    if (!d_->add(c.get(), c->mask_)) {
      ::close(cfd);
      c->fd = -1;
      return;
    }
    att_->stats_.accepted++;
    att_->conns_.push_back(std::move(c));
  }

 private:
  Dispatch::Impl* d_;
  Attachment* att_;
};

// ---------------------------------------------------------------------------
Ocb::~Ocb() = default;

bool Ocb::connected() const {
  auto c = conn_.lock();
  return c && c->usable();
}

bool Ocb::notify(uint32_t events) {
  auto c = conn_.lock();
  if (!c || !c->usable() || c->ocb_.get() != this) return false;
  uint32_t hit = armed_ & events & proto::kNotifyMask;
  if (hit == 0) return false;
  armed_ = 0;
  c->send_msg(proto::EncodeNotifyEvent(hit, cookie_));
  return true;
}

Deferred::Deferred(Deferred&& o) noexcept
    : conn_(std::move(o.conn_)), id_(o.id_), type_(o.type_), limit_(o.limit_),
      pending_(o.pending_) {
  o.pending_ = false;
}

Deferred& Deferred::operator=(Deferred&& o) noexcept {
  if (this != &o) {
    if (pending_) finish(EINTR, {});
    conn_ = std::move(o.conn_);
    id_ = o.id_;
    type_ = o.type_;
    limit_ = o.limit_;
    pending_ = o.pending_;
    o.pending_ = false;
  }
  return *this;
}

Deferred::~Deferred() {
  if (pending_) finish(EINTR, {});
}

bool Deferred::client_alive() const {
  auto c = conn_.lock();
  return c && c->usable();
}

void Deferred::finish(int status, std::string_view data) {
  if (!pending_) return;
  pending_ = false;
  auto c = conn_.lock();
  if (!c || c->dead) return;
  c->reply(id_, status, data);
  c->request_done();
}

void Deferred::error(int err) {
  finish(err > 0 && err <= 4095 ? err : EIO, {});
}

void Deferred::read_data(std::string_view data) {
  if (type_ != proto::kRead) return finish(EIO, {});
  if (data.size() > limit_) return finish(EIO, {});
  finish(0, data);
}

void Deferred::write_count(uint32_t n) {
  if (type_ != proto::kWrite || n > limit_) return finish(EIO, {});
  std::string s;
  proto::PutU32(s, n);
  finish(0, s);
}

void Deferred::devctl_out(std::string_view out) {
  if (type_ != proto::kDevctl) return finish(EIO, {});
  if (out.size() > limit_) return finish(EOVERFLOW, {});
  finish(0, out);
}

Deferred Request::defer() {
  Deferred d;
  if (deferred_) return d;
  if (type_ != proto::kRead && type_ != proto::kWrite && type_ != proto::kDevctl) return d;
  auto c = conn_.lock();
  if (!c) return d;
  deferred_ = true;
  d.conn_ = conn_;
  d.id_ = id_;
  d.type_ = type_;
  d.limit_ = limit_;
  d.pending_ = true;
  c->inflight_++;
  c->update_mask();
  return d;
}

// ---------------------------------------------------------------------------
Attachment::~Attachment() = default;

size_t Attachment::clients() const { return conns_.size(); }

void Attachment::for_each_ocb(const std::function<void(Ocb&)>& fn) {
  auto conns = conns_;
  for (auto& c : conns)
    if (c->usable() && c->ocb_) fn(*c->ocb_);
}

absl::StatusOr<Attachment*> Dispatch::attach(const std::string& path, ConnectFuncs connect,
                                             IoFuncs io, AttachOptions opts) {
  Impl& im = *impl_;
  sockaddr_un addr;
  if (!FillAddr(path, &addr))
    return ErrnoStatus(path.empty() ? EINVAL : ENAMETOOLONG, absl::StrCat("attach '", path, "'"));

  auto att = std::unique_ptr<Attachment>(new Attachment());
  att->path_ = path;
  att->connect_ = std::move(connect);
  att->io_ = std::move(io);
  att->opts_ = opts;
  att->dispatch_ = this;
  if (att->opts_.max_inflight == 0) att->opts_.max_inflight = 1;
  if (!opts.group.empty()) {
    group grp, *res = nullptr;
    std::vector<char> buf(16384);
    int rc = getgrnam_r(opts.group.c_str(), &grp, buf.data(), buf.size(), &res);
    if (rc != 0 || res == nullptr)
      return ErrnoStatus(rc != 0 ? rc : ENOENT, absl::StrCat("resmgr-group '", opts.group, "'"));
    att->has_group_ = true;
    att->group_gid_ = grp.gr_gid;
    att->perm_ = 0660;
  }

  // An existing name: replace a stale socket, refuse a live one.
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return ErrnoStatus(EEXIST, absl::StrCat(path, ": exists and is not a socket"));
    int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0) return ErrnoStatus(errno, "socket");
    int rc = ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    int e = errno;
    ::close(probe);
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
      return ErrnoStatus(EADDRINUSE, absl::StrCat(path, ": a server is already attached"),
                         absl::StatusCode::kAlreadyExists);
    if (e != ECONNREFUSED)
      return ErrnoStatus(e, absl::StrCat(path, ": cannot probe the existing socket"));
    if (unlink(path.c_str()) != 0 && errno != ENOENT)
      return ErrnoStatus(errno, absl::StrCat(path, ": cannot remove the stale socket"));
  }

  int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (lfd < 0) return ErrnoStatus(errno, "socket");
  auto fail = [&](int e, std::string_view what, bool unlink_it) {
    ::close(lfd);
    if (unlink_it) unlink(path.c_str());
    return ErrnoStatus(e, absl::StrCat(path, ": ", std::string(what)));
  };
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return fail(errno, "bind", false);
  // Nobody can connect before listen(), so the mode is set in time.
  if (att->has_group_ && chown(path.c_str(), static_cast<uid_t>(-1), att->group_gid_) != 0)
    return fail(errno, "chown to the resmgr group", true);
  if (chmod(path.c_str(), att->perm_) != 0) return fail(errno, "chmod", true);
  if (lstat(path.c_str(), &st) != 0) return fail(errno, "lstat", true);
  att->dev_ = st.st_dev;
  att->ino_ = st.st_ino;
  if (listen(lfd, 64) != 0) return fail(errno, "listen", true);
  auto l = std::make_shared<Listener>(&im, att.get());
  l->fd = lfd;
  if (!im.add(l.get(), EPOLLIN)) return fail(errno, "epoll_ctl", true);
  att->listener_ = std::move(l);
  att->attach_time_ns_ = RealtimeNs();
  Attachment* raw = att.get();
  im.attachments.push_back(std::move(att));
  return raw;
}

void Dispatch::detach(Attachment* att) {
  Impl& im = *impl_;
  auto it = std::find_if(im.attachments.begin(), im.attachments.end(),
                         [&](const auto& p) { return p.get() == att; });
  if (it == im.attachments.end()) return;
  im.kill(att->listener_);
  struct stat st;
  if (lstat(att->path_.c_str(), &st) == 0 && st.st_dev == att->dev_ && st.st_ino == att->ino_)
    unlink(att->path_.c_str());
  for (auto& c : std::vector<std::shared_ptr<Conn>>(att->conns_)) {
    c->broken_ = true;
    im.schedule_teardown(c);
  }
  im.dead_atts.push_back(std::move(*it));
  im.attachments.erase(it);
  if (!im.in_batch) im.flush();
}

}  // namespace qvm::resmgr
