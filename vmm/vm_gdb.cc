#include "vmm/vm_gdb.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "vmm/control.h"
#include "vmm/control_proto.h"
#include "vmm/log.h"
#include "vmm/vm.h"

namespace qvm {

namespace {

// How long a reply may wait for the debugger to take it (a debugger that
// stops reading is disconnected, never waited for forever).
constexpr int kSendTimeoutMs = 10000;
constexpr size_t kPage = 4096;

}  // namespace

GdbLink::~GdbLink() {
  if (cfd_ >= 0) {
    vm_.loop_.unwatch_fd(cfd_);
    ::close(cfd_);
  }
  if (lfd_ >= 0) {
    vm_.loop_.unwatch_fd(lfd_);
    ::close(lfd_);
  }
  if (!unix_path_.empty()) unlink(unix_path_.c_str());
}

absl::Status GdbLink::listen(const VmPlan& plan) {
  if (!plan.gdb_path.empty()) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (plan.gdb_path.size() >= sizeof sa.sun_path) {
      err_ = ENAMETOOLONG;
      return absl::InvalidArgumentError(
          absl::StrCat("`set gdb`: ", plan.gdb_path, ": path too long for a Unix socket"));
    }
    memcpy(sa.sun_path, plan.gdb_path.c_str(), plan.gdb_path.size() + 1);
    // A socket left by an earlier qvm is replaced; a live one (something
    // accepts connections on it) or anything else is not.
    struct stat st;
    if (lstat(plan.gdb_path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        err_ = EEXIST;
        return absl::AlreadyExistsError(
            absl::StrCat("`set gdb`: ", plan.gdb_path, " exists and is not a socket"));
      }
      // Non-blocking: a listener with a full backlog is busy (EAGAIN),
      // never waited for.
      int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      int rc = probe < 0 ? -1 : connect(probe, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
      int e = errno;
      if (probe >= 0) ::close(probe);
      if (rc == 0 || (probe >= 0 && e != ECONNREFUSED)) {
        err_ = EADDRINUSE;
        return absl::AlreadyExistsError(
            absl::StrCat("`set gdb`: ", plan.gdb_path, " is in use (",
                         rc == 0 ? "something listens on it" : strerror(e), ")"));
      }
      unlink(plan.gdb_path.c_str());
    }
    lfd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (lfd_ < 0 || bind(lfd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      err_ = errno;
      return absl::FailedPreconditionError(
          absl::StrCat("`set gdb`: ", plan.gdb_path, ": ", strerror(errno)));
    }
    unix_path_ = plan.gdb_path;
    // Only the owner may connect (as /dev/qvm); no connection exists before listen().
    if (chmod(plan.gdb_path.c_str(), 0600) != 0) {
      err_ = errno;
      return absl::FailedPreconditionError(
          absl::StrCat("`set gdb`: ", plan.gdb_path, ": chmod: ", strerror(errno)));
    }
    where_ = address_ = plan.gdb_path;
  } else {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    std::string port = std::to_string(plan.gdb_port);
    int rc = getaddrinfo(plan.gdb_host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) {
      err_ = EADDRNOTAVAIL;
      return absl::FailedPreconditionError(
          absl::StrCat("`set gdb`: ", plan.gdb_host, ": ", gai_strerror(rc)));
    }
    int err = 0;
    for (addrinfo* a = res; a; a = a->ai_next) {
      int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0) {
        err = errno;
        continue;
      }
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (bind(fd, a->ai_addr, a->ai_addrlen) == 0) {
        lfd_ = fd;
        break;
      }
      err = errno;
      ::close(fd);
    }
    freeaddrinfo(res);
    if (lfd_ < 0) {
      err_ = err ? err : EADDRNOTAVAIL;
      return absl::FailedPreconditionError(absl::StrCat(
          "`set gdb`: tcp ", plan.gdb_host, ":", plan.gdb_port, ": ", strerror(err)));
    }
    where_ = absl::StrCat("tcp ", plan.gdb_host, ":", plan.gdb_port);
    bool v6 = plan.gdb_host.find(':') != std::string::npos;
    address_ = absl::StrCat(v6 ? "[" : "", plan.gdb_host, v6 ? "]" : "", ":", plan.gdb_port);
    host_ = plan.gdb_host;
    port_ = plan.gdb_port;
  }
  if (::listen(lfd_, 1) != 0) {
    err_ = errno;
    return absl::FailedPreconditionError(absl::StrCat("`set gdb`: listen: ", strerror(errno)));
  }
  return vm_.loop_.watch_fd(lfd_, [this] { on_accept(); });
}

bool GdbLink::serves(const VmPlan& plan) const {
  if (!plan.gdb_path.empty()) return plan.gdb_path == unix_path_;
  return unix_path_.empty() && plan.gdb_host == host_ && plan.gdb_port == port_;
}

void GdbLink::on_accept() {
  int fd = accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  if (cfd_ >= 0) {
    QVM_LOG_RL(LogLevel::Warn, "gdb: a second debugger was turned away (one at a time)");
    ::close(fd);
    return;
  }
  // A debugger finds the target stopped.
  if (vm_.pause() != 0) {
    QVM_LOG_RL(LogLevel::Error, "gdb: the vCPUs did not stop: connection refused");
    ::close(fd);
    return;
  }
  {
    std::lock_guard<std::mutex> g(vm_.pause_mu_);
    vm_.gdb_stops_.clear();
  }
  if (!vm_.loop_.watch_fd(fd, [this] { on_readable(); }).ok()) {
    ::close(fd);
    vm_.resume();
    return;
  }
  cfd_ = fd;
  gdb::Stop s;
  s.interrupted = true;
  server_ = std::make_unique<gdb::Server>(*this, s);
  vm_.gdb_attached_ = true;
  // Clients come and go as often as they like: every line they cause is
  // rate-limited.
  QVM_LOG_RL(LogLevel::Info, "gdb: debugger attached on %s; the guest is stopped",
             where_.c_str());
}

void GdbLink::close_client(const char* why) {
  if (cfd_ < 0) return;
  if (server_) server_->disconnect();
  vm_.gdb_attached_ = false;
  vm_.loop_.unwatch_fd(cfd_);
  ::close(cfd_);
  cfd_ = -1;
  server_.reset();
  QVM_LOG_RL(LogLevel::Info, "gdb: %s; the guest runs on", why);
}

void GdbLink::send(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size() && cfd_ >= 0) {
    ssize_t n = ::send(cfd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{cfd_, POLLOUT, 0};
      if (poll(&p, 1, kSendTimeoutMs) > 0) continue;
      close_client("the debugger stopped reading: disconnected");
      return;
    }
    close_client("the debugger went away");
    return;
  }
}

void GdbLink::on_readable() {
  char buf[4096];
  ssize_t n = ::read(cfd_, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    close_client("debugger disconnected");
    return;
  }
  std::string out = server_->feed(std::string_view(buf, size_t(n)));
  if (!out.empty()) send(out);
  if (cfd_ >= 0 && server_ && server_->finished()) close_client("debugger detached");
}

void GdbLink::on_stop(const gdb::Stop& s) {
  if (!server_) return;
  std::string out = server_->stopped(s);
  if (!out.empty()) send(out);
}

void GdbLink::on_reset() {
  if (!attached()) return;
  std::lock_guard<std::mutex> g(vm_.pause_mu_);
  vm_.gdb_stops_.clear();
}

void GdbLink::after_reset() {
  if (!attached()) return;
  if (vm_.pause() != 0) {
    close_client("the vCPUs did not stop after the guest reset: debugger disconnected");
    return;
  }
  size_t before = server_->sw_breakpoints();
  GuestDebug d = server_->reset();
  if (!set_debug(d, -1)) {
    close_client("the new vCPUs refused the debug state after the guest reset: debugger disconnected");
    return;
  }
  QVM_LOG_RL(LogLevel::Info,
             "gdb: the guest reset: the debugger stays attached, %zu of %zu software "
             "breakpoint(s) planted again%s",
             server_->sw_breakpoints(), before, server_->running() ? "" : "; the guest stays stopped");
  if (server_->running()) vm_.resume();
}

const CpuModel& GdbLink::model() const { return vm_.machine_->cpu_model(); }

unsigned GdbLink::vcpus() const { return unsigned(vm_.vcpus_.size()); }

bool GdbLink::regs(unsigned vcpu, VcpuRegs* out) {
  if (vcpu >= vm_.vcpus_.size()) return false;
  auto r = vm_.vcpus_[vcpu]->be->regs();
  if (!r.ok()) return false;
  *out = *r;
  return true;
}

bool GdbLink::set_regs(unsigned vcpu, const VcpuRegs& regs) {
  if (vcpu >= vm_.vcpus_.size()) return false;
  absl::Status st = vm_.vcpus_[vcpu]->be->set_regs(regs);
  if (!st.ok()) {
    QVM_LOG_RL(LogLevel::Warn, "gdb: vcpu %u: %s", vcpu, std::string(st.message()).c_str());
    return false;
  }
  return true;
}

std::optional<uint64_t> GdbLink::translate(unsigned vcpu, uint64_t va) {
  if (vcpu >= vm_.vcpus_.size()) return std::nullopt;
  auto pa = vm_.vcpus_[vcpu]->be->translate(va);
  if (!pa.ok()) return std::nullopt;
  return *pa;
}

size_t GdbLink::access(unsigned vcpu, uint64_t addr, bool phys, uint8_t* buf, size_t len,
                       bool write) {
  size_t done = 0;
  while (done < len) {
    uint64_t a = addr + done;
    if (a < addr) break;  // wrapped
    size_t chunk = std::min<uint64_t>(len - done, kPage - (a % kPage));
    uint64_t pa = a;
    if (!phys) {
      auto t = translate(vcpu, a);
      if (!t) break;
      pa = *t;
    }
    // Guest memory (RAM and ROM) only: device registers are not read
    // behind the guest's back. The debugger may patch ROM.
    bool ok = write ? vm_.mem_.write(pa, buf + done, chunk, true)
                    : vm_.mem_.read(pa, buf + done, chunk);
    if (!ok) break;
    done += chunk;
  }
  return done;
}

size_t GdbLink::read(unsigned vcpu, uint64_t addr, bool phys, uint8_t* out, size_t len) {
  return access(vcpu, addr, phys, out, len, false);
}

size_t GdbLink::write(unsigned vcpu, uint64_t addr, bool phys, const uint8_t* in, size_t len) {
  return access(vcpu, addr, phys, const_cast<uint8_t*>(in), len, true);
}

unsigned GdbLink::hw_slots() const {
  if (vm_.vcpus_.empty()) return 0;
  return vm_.vcpus_[0]->be->hw_slots(false);
}

bool GdbLink::set_debug(const GuestDebug& d, int step) {
  for (size_t i = 0; i < vm_.vcpus_.size(); i++) {
    GuestDebug mine = d;
    mine.single_step = d.single_step && int(i) == step;
    mine.enable = d.enable && (mine.single_step || mine.sw_breakpoints || !mine.hw.empty());
    absl::Status st = vm_.vcpus_[i]->be->set_guest_debug(mine);
    if (!st.ok()) {
      QVM_LOG_RL(LogLevel::Warn, "gdb: vcpu %zu: %s", i, std::string(st.message()).c_str());
      return false;
    }
  }
  return true;
}

bool GdbLink::apply(const GuestDebug& d) { return set_debug(d, -1); }

bool GdbLink::resume(const GuestDebug& d, int step) {
  // The server took the recorded events (take_stops) just before.
  if (!set_debug(d, step)) return false;
  vm_.resume();
  return true;
}

std::vector<gdb::Stop> GdbLink::take_stops() {
  std::vector<gdb::Stop> out;
  std::lock_guard<std::mutex> g(vm_.pause_mu_);
  out.swap(vm_.gdb_stops_);
  return out;
}

bool GdbLink::interrupt() {
  // Events recorded meanwhile stay: the server queues them (take_stops or
  // the loop's on_gdb_stop) and reports them on the next continue.
  return vm_.pause() == 0;
}

void GdbLink::detach() {
  set_debug(GuestDebug{}, -1);
  {
    std::lock_guard<std::mutex> g(vm_.pause_mu_);
    vm_.gdb_stops_.clear();
  }
  vm_.resume();
}

void GdbLink::kill() {
  Log(LogLevel::Info, "gdb: kill: stopping qvm (power cut)");
  vm_.post(Vm::Request::Exit, kExitPowerCut);
}

// ---------------------------------------------------------------------------
// The Vm's side.

absl::Status Vm::attach_gdb() {
  if (!plan_.gdb || gdb_) return absl::OkStatus();
  auto link = std::make_unique<GdbLink>(*this);
  absl::Status st = link->listen(plan_);
  if (!st.ok()) return st;
  gdb_ = std::move(link);
  Log(LogLevel::Info, "gdb: listening on %s%s", gdb_->where().c_str(),
      plan_.gdb_wait ? " (the guest waits for the debugger)" : "");
  return absl::OkStatus();
}

// /dev/qvm's kGdb (`qvmctl gdb`), on the loop thread: the stub on demand.
int Vm::gdb(const std::string& endpoint, std::string* out) {
  if (endpoint == "?") {
    *out = gdb_ ? gdb_->address() + "\n" : "";
    return 0;
  }
  if (endpoint.size() > 1024 || endpoint.find('\0') != std::string::npos) return EINVAL;
  VmPlan want;
  if (endpoint.empty()) {
    if (gdb_) {  // whatever it listens on
      *out = gdb_->address() + "\n";
      return 0;
    }
    if (!control_) return ENODEV;
    want.gdb = true;
    want.gdb_path = control_->path() + ctl::kGdbSuffix;
  } else {
    std::string why;
    if (!ParseGdbEndpoint(endpoint, &want, &why)) return EINVAL;
    if (!want.gdb_path.empty() && want.gdb_path[0] != '/') return EINVAL;  // relative to what?
  }
  if (gdb_) {
    if (!gdb_->serves(want)) return EEXIST;
    *out = gdb_->address() + "\n";
    return 0;
  }
  auto link = std::make_unique<GdbLink>(*this);
  absl::Status st = link->listen(want);
  if (!st.ok()) {
    QVM_LOG_RL(LogLevel::Warn, "gdb (through /dev/qvm): %s", std::string(st.message()).c_str());
    return link->error() ? link->error() : EIO;
  }
  gdb_ = std::move(link);
  Log(LogLevel::Info, "gdb: listening on %s (started through /dev/qvm)", gdb_->where().c_str());
  *out = gdb_->address() + "\n";
  return 0;
}

// On the vCPU thread: a debug event while a debugger is attached. The
// event is recorded (one per vCPU: this vCPU parks until the debugger lets
// it run, so it records no other), every vCPU is asked to stop, the loop is
// told, and this vCPU parks.
ExitAction Vm::debug_exit(Vcpu& v, unsigned index, const Exit& e) {
  if (!gdb_attached_.load()) return ExitAction::Continue;
  {
    std::lock_guard<std::mutex> g(pause_mu_);
    gdb::Stop s;
    s.vcpu = index;
    s.why = e.debug_why;
    s.slot = e.debug_slot;
    s.interrupted = false;
    auto same = [&](const gdb::Stop& o) { return o.vcpu == index; };
    auto it = std::find_if(gdb_stops_.begin(), gdb_stops_.end(), same);
    if (it != gdb_stops_.end()) *it = s;
    else if (gdb_stops_.size() < gdb::kMaxPendingStops) gdb_stops_.push_back(s);
    pause_req_ = true;
  }
  for (auto& o : vcpus_)
    if (o.get() != &v && o->be) o->be->kick();
  loop_.wake();
  park(v);
  return ExitAction::Continue;
}

// On the loop thread, woken by debug_exit: stop everything, then hand gdb
// every event recorded (the vCPUs are parked: none is recording one): the
// first is the stop reply, the others wait in the server's queue.
void Vm::on_gdb_stop() {
  {
    std::lock_guard<std::mutex> g(pause_mu_);
    if (gdb_stops_.empty()) return;
  }
  if (pause() != 0) return;  // logged; the debugger sees no stop
  std::vector<gdb::Stop> stops;
  {
    std::lock_guard<std::mutex> g(pause_mu_);
    stops.swap(gdb_stops_);
  }
  for (const gdb::Stop& s : stops)
    if (gdb_) gdb_->on_stop(s);
}

}  // namespace qvm
