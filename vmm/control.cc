#include "vmm/control.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "vmm/control_proto.h"

namespace qvm {

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f)
          absl::StrAppendFormat(&out, "\\u%04x", c);
        else
          out += char(c);
    }
  }
  out += '"';
  return out;
}

namespace {

double Seconds(uint64_t ns) { return double(ns) / 1e9; }

// Rate of `now_v` against `prev_v` over the interval (or since the start).
double Rate(uint64_t now_v, uint64_t prev_v, double secs) {
  if (secs <= 0) return 0;
  return double(now_v >= prev_v ? now_v - prev_v : 0) / secs;
}

struct StatsView {
  double secs = 0;  // interval the rates cover
  const StatsSnapshot* prev = nullptr;
  uint64_t prev_vcpu(size_t v, size_t r) const {
    if (!prev || v >= prev->per_vcpu.size() || r >= prev->per_vcpu[v].size())
      return 0;
    return prev->per_vcpu[v][r];
  }
  uint64_t prev_region(size_t i, const StatsSnapshot::Region& cur) const {
    if (!prev || i >= prev->regions.size()) return 0;
    const auto& p = prev->regions[i];
    return p.device == cur.device && p.base == cur.base ? p.count : 0;
  }
};

StatsView View(const StatsSnapshot& now, const StatsSnapshot* prev) {
  StatsView v;
  v.prev = prev;
  uint64_t from = prev ? prev->time_ns : now.start_ns;
  v.secs = now.time_ns > from ? Seconds(now.time_ns - from) : 0;
  return v;
}

}  // namespace

std::string FormatStatsText(const StatsSnapshot& now, const StatsSnapshot* prev) {
  StatsView v = View(now, prev);
  std::string out = absl::StrFormat(
      "uptime %.3f s; rates over the last %.3f s\n",
      now.time_ns > now.start_ns ? Seconds(now.time_ns - now.start_ns) : 0.0,
      v.secs);
  absl::StrAppendFormat(&out, "%-12s %5s %14s %12s\n", "reason", "vcpu", "exits",
                        "per second");
  for (size_t r = 0; r < now.reasons.size(); r++) {
    uint64_t tot = 0, ptot = 0;
    for (size_t c = 0; c < now.per_vcpu.size(); c++) {
      uint64_t n = r < now.per_vcpu[c].size() ? now.per_vcpu[c][r] : 0;
      tot += n;
      ptot += v.prev_vcpu(c, r);
      if (n && now.per_vcpu.size() > 1)
        absl::StrAppendFormat(&out, "%-12s %5u %14u %12.1f\n", now.reasons[r],
                              c, n, Rate(n, v.prev_vcpu(c, r), v.secs));
    }
    if (tot)
      absl::StrAppendFormat(&out, "%-12s %5s %14u %12.1f\n", now.reasons[r], "all",
                            tot, Rate(tot, ptot, v.secs));
  }
  absl::StrAppendFormat(&out, "\n%-16s %-22s %14s %12s\n", "device", "region",
                        "exits", "per second");
  for (size_t i = 0; i < now.regions.size(); i++) {
    const auto& g = now.regions[i];
    std::string where = g.size ? absl::StrFormat("%s:0x%x+0x%x", g.space, g.base, g.size)
                               : g.space;
    absl::StrAppendFormat(&out, "%-16s %-22s %14u %12.1f\n", g.device, where,
                          g.count, Rate(g.count, v.prev_region(i, g), v.secs));
  }
  return out;
}

std::string FormatStatsJson(const StatsSnapshot& now, const StatsSnapshot* prev) {
  StatsView v = View(now, prev);
  std::string out = absl::StrFormat(
      "{\"uptime_s\":%.6f,\"interval_s\":%.6f,\"vcpus\":[",
      now.time_ns > now.start_ns ? Seconds(now.time_ns - now.start_ns) : 0.0,
      v.secs);
  std::vector<uint64_t> tot(now.reasons.size()), ptot(now.reasons.size());
  for (size_t c = 0; c < now.per_vcpu.size(); c++) {
    absl::StrAppend(&out, c ? "," : "", "{\"index\":", c, ",\"exits\":{");
    bool first = true;
    for (size_t r = 0; r < now.reasons.size(); r++) {
      uint64_t n = r < now.per_vcpu[c].size() ? now.per_vcpu[c][r] : 0;
      tot[r] += n;
      ptot[r] += v.prev_vcpu(c, r);
      absl::StrAppendFormat(&out, "%s%s:{\"count\":%u,\"rate\":%.3f}",
                            first ? "" : ",", JsonString(now.reasons[r]), n,
                            Rate(n, v.prev_vcpu(c, r), v.secs));
      first = false;
    }
    out += "}}";
  }
  out += "],\"total\":{";
  for (size_t r = 0; r < now.reasons.size(); r++)
    absl::StrAppendFormat(&out, "%s%s:{\"count\":%u,\"rate\":%.3f}", r ? "," : "",
                          JsonString(now.reasons[r]), tot[r],
                          Rate(tot[r], ptot[r], v.secs));
  out += "},\"regions\":[";
  for (size_t i = 0; i < now.regions.size(); i++) {
    const auto& g = now.regions[i];
    absl::StrAppendFormat(
        &out, "%s{\"device\":%s,\"space\":%s,\"base\":%u,\"size\":%u,"
              "\"count\":%u,\"rate\":%.3f}",
        i ? "," : "", JsonString(g.device), JsonString(g.space), g.base, g.size,
        g.count, Rate(g.count, v.prev_region(i, g), v.secs));
  }
  out += "]}\n";
  return out;
}

// ---------------------------------------------------------------------------
// Directories.

namespace {

bool WritableDir(const std::string& d) {
  struct stat st;
  return stat(d.c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
         access(d.c_str(), W_OK | X_OK) == 0;
}

// A per-user directory must be a real directory (not a symlink) we own.
absl::Status OwnDir(const std::string& d, mode_t mode) {
  if (mkdir(d.c_str(), mode) != 0 && errno != EEXIST)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", d, ": ", strerror(errno)));
  struct stat st;
  if (lstat(d.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
    return absl::PermissionDeniedError(
        absl::StrCat(d, ": not a directory owned by this user"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ResmgrDirectory(const std::string& configured) {
  if (!configured.empty()) {
    if (mkdir(configured.c_str(), 0755) != 0 && errno != EEXIST)
      return absl::PermissionDeniedError(absl::StrCat(
          "resmgr-path ", configured, ": cannot create: ", strerror(errno)));
    if (!WritableDir(configured))
      return absl::PermissionDeniedError(absl::StrCat(
          "resmgr-path ", configured, ": not a writable directory"));
    return configured;
  }
  if (const char* e = getenv("QVM_RESMGR_DIR"); e && *e) {
    if (mkdir(e, 0755) != 0 && errno != EEXIST)
      return absl::PermissionDeniedError(absl::StrCat(
          "QVM_RESMGR_DIR ", e, ": cannot create: ", strerror(errno)));
    if (!WritableDir(e))
      return absl::PermissionDeniedError(absl::StrCat(
          "QVM_RESMGR_DIR ", e, ": not a writable directory"));
    return std::string(e);
  }
  if (access("/dev", W_OK) == 0) mkdir("/dev/qvm", 0755);
  if (WritableDir("/dev/qvm")) return std::string("/dev/qvm");
  if (const char* x = getenv("XDG_RUNTIME_DIR"); x && *x && WritableDir(x)) {
    std::string d = absl::StrCat(x, "/qvm");
    if (OwnDir(d, 0700).ok()) return d;
  }
  std::string d = ResmgrUserFallback();
  absl::Status st = OwnDir(d, 0700);
  if (!st.ok()) return st;
  return d;
}

// ---------------------------------------------------------------------------
// The names.

struct Control::Ocb : public resmgr::Ocb {
  enum Kind { kSystem, kEnv, kVdev } kind = kSystem;
  std::string dev;
  std::string text;  // env snapshot / directory listing
  // Console reader state.
  bool reader = false;
  std::deque<char> queue;
  uint64_t dropped = 0;
  std::optional<resmgr::Deferred> pending;
  uint32_t pending_n = 0;
  std::optional<StatsSnapshot> prev_stats;
};

Control::Control(resmgr::Dispatch* d, ControlTarget* t) : disp_(d), target_(t) {}

Control::~Control() { detach(); }

absl::Status Control::attach(const std::string& path, const std::string& group) {
  resmgr::ConnectFuncs c;
  c.open = [this](const resmgr::OpenRequest& r, std::unique_ptr<resmgr::Ocb>* o) {
    return open(r, o);
  };
  resmgr::IoFuncs io;
  io.read = [this](resmgr::Request& r, resmgr::Ocb& o, uint32_t n, uint64_t off,
                   std::string* out) {
    return read(r, static_cast<Ocb&>(o), n, off, out);
  };
  io.write = [this](resmgr::Request& r, resmgr::Ocb& o, uint64_t,
                    std::string_view data, uint32_t* written) {
    return write(r, static_cast<Ocb&>(o), data, written);
  };
  io.devctl = [this](resmgr::Request& r, resmgr::Ocb& o, uint32_t cmd,
                     std::string_view in, uint32_t, std::string* out) {
    return devctl(r, static_cast<Ocb&>(o), cmd, in, out);
  };
  io.stat = [](resmgr::Request&, resmgr::Ocb& o, resmgr::Stat* st) {
    auto& q = static_cast<Ocb&>(o);
    if (q.kind == Ocb::kEnv) st->size = q.text.size();
    if (q.kind == Ocb::kVdev && q.reader) st->size = q.queue.size();
    return 0;
  };
  io.notify = [](resmgr::Request&, resmgr::Ocb& o, uint32_t, uint32_t* ready) {
    auto& q = static_cast<Ocb&>(o);
    *ready = resmgr::proto::kNotifyOut;
    if (q.kind != Ocb::kVdev || !q.queue.empty()) *ready |= resmgr::proto::kNotifyIn;
    return 0;
  };
  io.close = [this](resmgr::Ocb& o) { close(static_cast<Ocb&>(o)); };
  resmgr::AttachOptions opts;
  opts.group = group;
  auto a = disp_->attach(path, std::move(c), std::move(io), opts);
  if (!a.ok()) return a.status();
  att_ = *a;
  path_ = path;
  return absl::OkStatus();
}

void Control::detach() {
  if (att_) disp_->detach(att_);
  att_ = nullptr;
  readers_.clear();
}

int Control::open(const resmgr::OpenRequest& req, std::unique_ptr<resmgr::Ocb>* out) {
  auto o = std::make_unique<Ocb>();
  uint32_t acc = req.flags & O_ACCMODE;
  if (req.name.empty()) {
    o->kind = Ocb::kSystem;
    std::string list = absl::StrCat(ctl::kEnvName, "\n");
    for (const auto& n : target_->device_names()) absl::StrAppend(&list, n, "\n");
    o->text = std::move(list);
  } else if (req.name == ctl::kEnvName) {
    if (acc != O_RDONLY) return EACCES;  // env is read-only (devctl too)
    o->kind = Ocb::kEnv;
    o->text = target_->env_json();
  } else {
    std::string name(req.name);
    if (!target_->has_device(name)) return ENOENT;
    o->kind = Ocb::kVdev;
    o->dev = name;
    if (target_->has_console(name) && acc != O_WRONLY) {
      o->reader = true;
    }
  }
  Ocb* raw = o.get();
  *out = std::move(o);
  if (raw->reader) readers_.insert(raw);
  return 0;
}

void Control::close(Ocb& o) {
  readers_.erase(&o);
  o.pending.reset();  // replies EINTR to a departed or closing client
}

size_t Control::console_readers(const std::string& dev) const {
  size_t n = 0;
  for (Ocb* o : readers_)
    if (o->dev == dev) n++;
  return n;
}

void Control::console_output(const std::string& dev, std::string_view data) {
  if (data.empty()) return;
  for (Ocb* o : readers_) {
    if (o->dev != dev) continue;
    if (o->pending && o->pending->pending() && o->queue.empty()) {
      uint32_t n = uint32_t(std::min<size_t>(o->pending_n, data.size()));
      o->pending->read_data(data.substr(0, n));
      o->pending.reset();
      std::string_view rest = data.substr(n);
      o->queue.insert(o->queue.end(), rest.begin(), rest.end());
    } else {
      o->queue.insert(o->queue.end(), data.begin(), data.end());
    }
    if (o->queue.size() > kConsoleQueueMax) {
      size_t drop = o->queue.size() - kConsoleQueueMax;
      o->queue.erase(o->queue.begin(), o->queue.begin() + long(drop));
      o->dropped += drop;
    }
    if (!o->queue.empty()) o->notify(resmgr::proto::kNotifyIn);
  }
}

int Control::read(resmgr::Request& req, Ocb& o, uint32_t n, uint64_t off,
                  std::string* out) {
  if (o.kind != Ocb::kVdev) {
    if (off >= o.text.size()) return 0;  // end of file
    *out = o.text.substr(size_t(off), n);
    return 0;
  }
  if (!o.reader) return ENOTSUP;
  if (!o.queue.empty()) {
    size_t k = std::min<size_t>(n, o.queue.size());
    out->assign(o.queue.begin(), o.queue.begin() + long(k));
    o.queue.erase(o.queue.begin(), o.queue.begin() + long(k));
    return 0;
  }
  if (n == 0) return 0;
  if (o.flags() & O_NONBLOCK) return EAGAIN;
  if (o.pending && o.pending->pending()) return EBUSY;  // one blocked read
  o.pending = req.defer();
  o.pending_n = n;
  return resmgr::kDeferred;
}

int Control::write(resmgr::Request&, Ocb& o, std::string_view data,
                   uint32_t* written) {
  if (o.kind != Ocb::kVdev) return EBADF;
  if (!target_->has_console(o.dev)) return ENOTSUP;
  return target_->console_input(o.dev, data, written);
}

int Control::devctl(resmgr::Request&, Ocb& o, uint32_t cmd, std::string_view in,
                    std::string* out) {
  if (o.kind == Ocb::kVdev) return target_->vdev_devctl(o.dev, cmd, in, out);
  bool json = in == "json";
  if ((cmd == ctl::kStatus || cmd == ctl::kStats) && !in.empty() && !json)
    return EINVAL;
  switch (cmd) {
    case ctl::kStatus:
      *out = target_->status(json);
      return 0;
    case ctl::kPause: return target_->pause();
    case ctl::kResume: return target_->resume();
    case ctl::kReset: return target_->reset();
    case ctl::kPowerButton: return target_->power_button();
    case ctl::kPowerCut: return target_->power_cut();
    case ctl::kDump: {
      std::string msg;
      int rc = target_->dump(&msg);
      *out = msg;
      return rc;
    }
    case ctl::kGdb:
      return target_->gdb(std::string(in), out);
    case ctl::kStats: {
      StatsSnapshot now = target_->stats();
      const StatsSnapshot* prev = o.prev_stats ? &*o.prev_stats : nullptr;
      *out = json ? FormatStatsJson(now, prev) : FormatStatsText(now, prev);
      o.prev_stats = std::move(now);
      return 0;
    }
    default:
      return ENOTTY;
  }
}

}  // namespace qvm
