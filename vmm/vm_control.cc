// The Vm's side of /dev/qvm/<system>: pause/resume, dumps, statistics, the
// env description, vdev devctls and the console streams (kept apart from
// vm.cc, which builds and runs the machine).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "resmgr/types.h"
#include "vmm/control_proto.h"
#include "vmm/log.h"
#include "vmm/vm.h"

namespace qvm {
namespace {

std::string SpaceStr(uint32_t s) {
  return s == QVM_SPACE_IO ? "io" : s == QVM_SPACE_PCI_CFG ? "pci" : "mem";
}

std::string Hex(uint64_t v) { return absl::StrFormat("\"0x%x\"", v); }

std::string LocStr(const LocSpec& l) {
  switch (l.space) {
    case Space::Io: return absl::StrFormat("io:0x%x", l.addr);
    case Space::Pci:
      return l.pci_by_id ? absl::StrFormat("pci:%04x/%04x", l.vid, l.did)
                         : absl::StrFormat("pci:%u:%u.%u", l.bus, l.dev, l.fn);
    default: return absl::StrFormat("mem:0x%x", l.addr);
  }
}

const char* LoadKindStr(LoadKind k) {
  switch (k) {
    case LoadKind::Kernel: return "load";
    case LoadKind::Initrd: return "initrd";
    case LoadKind::Data: return "data";
    case LoadKind::Fdt: return "fdt";
    case LoadKind::Acpi: return "acpi";
    case LoadKind::Module: return "module";
  }
  return "?";
}

std::string IsoTime(uint64_t unix_ns) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3S%Ez",
                          absl::FromUnixNanos(int64_t(unix_ns)),
                          absl::LocalTimeZone());
}

bool InputCapable(int fd) {
  if (isatty(fd)) return true;
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);
}

}  // namespace

std::string Vm::node_name() const {
  if (cfg_.system_where.file.empty()) return absl::StrCat("qvm-", getpid());
  return cfg_.system;
}

std::string Vm::state_name() {
  std::lock_guard<std::mutex> g(pause_mu_);
  if (!running_) return "stopped";
  return paused_ ? "paused" : "running";
}

absl::StatusOr<std::string> Vm::resmgr_dir() const {
  return ResmgrDirectory(plan_.resmgr_path);
}

const char* Vm::runtime_dir() {
  std::call_once(runtime_dir_once_, [this] {
    auto dir = resmgr_dir();
    if (dir.ok()) runtime_dir_ = *dir;
  });
  return runtime_dir_.empty() ? nullptr : runtime_dir_.c_str();
}

absl::Status Vm::attach_control() {
  if (control_) return absl::OkStatus();
  auto dir = resmgr_dir();
  if (!dir.ok())
    return absl::FailedPreconditionError(absl::StrCat("/dev/qvm: ", dir.status().message()));
  std::string path = absl::StrCat(*dir, "/", node_name());
  auto c = std::make_unique<Control>(loop_.dispatch(), this);
  absl::Status st = c->attach(path, plan_.resmgr_group);
  if (!st.ok()) {
    if (resmgr::ErrnoOf(st) == EADDRINUSE)
      return absl::AlreadyExistsError(absl::StrCat(
          path, ": a qvm named `", node_name(),
          "` is already running (choose another `system` name)"));
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": cannot attach: ", st.message()));
  }
  control_ = std::move(c);
  Log(LogLevel::Info, "control: %s", path.c_str());
  return absl::OkStatus();
}

void Vm::press_power_button(const char* why) {
  power_button_pressed_ = true;
  bool handled = false;
  for (auto& d : devs_)
    if (d->control(QVM_CTRL_POWER_BUTTON) == 0) handled = true;
  Log(LogLevel::Info, "%s: power button pressed%s", why,
      handled ? "" : " (no device models one: powering off)");
  if (!handled) post(Request::PowerOff, 0);
}

// ---------------------------------------------------------------------------
// Statistics per device region.

void Vm::build_stat_regions() {
  stat_regions_.clear();
  for (const auto& r : io_.regions())
    stat_regions_.push_back({QVM_SPACE_IO, r.base, r.size,
                             r.dev->bus_name()});
  n_io_stat_ = stat_regions_.size();
  for (const auto& r : mmio_.regions())
    stat_regions_.push_back({QVM_SPACE_MEM, r.base, r.size,
                             r.dev->bus_name()});
  stat_regions_.push_back({QVM_SPACE_IO, 0, 0, "unassigned"});
  stat_regions_.push_back({QVM_SPACE_MEM, 0, 0, "unassigned"});
}

void Vm::count_region(Vcpu& v, const Exit& e) {
  if (e.kind != ExitKind::Pio && e.kind != ExitKind::Mmio) return;
  if (!v.region_hits || stat_regions_.size() < 2) return;
  bool io = e.kind == ExitKind::Pio;
  size_t lo = io ? 0 : n_io_stat_;
  size_t hi = io ? n_io_stat_ : stat_regions_.size() - 2;
  size_t idx = stat_regions_.size() - (io ? 2 : 1);  // unassigned
  // Regions are sorted by base within a space: binary search.
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const StatRegion& r = stat_regions_[mid];
    if (e.addr < r.base) {
      hi = mid;
    } else if (e.addr - r.base >= r.size) {
      lo = mid + 1;
    } else {
      idx = mid;
      break;
    }
  }
  v.region_hits[idx].fetch_add(1, std::memory_order_relaxed);
}

StatsSnapshot Vm::stats() {
  StatsSnapshot s;
  s.time_ns = MonotonicNs();
  s.start_ns = start_ns_;
  for (size_t k = 0; k < size_t(ExitKind::Count); k++)
    s.reasons.push_back(ExitKindName(ExitKind(k)));
  for (const auto& v : vcpus_) {
    std::vector<uint64_t> row;
    for (size_t k = 0; k < size_t(ExitKind::Count); k++)
      row.push_back(v->stats.by_kind[k].load(std::memory_order_relaxed));
    s.per_vcpu.push_back(std::move(row));
  }
  for (size_t i = 0; i < stat_regions_.size(); i++) {
    const StatRegion& r = stat_regions_[i];
    StatsSnapshot::Region g;
    g.device = r.dev;
    g.space = SpaceStr(r.space);
    g.base = r.base;
    g.size = r.size;
    for (const auto& v : vcpus_)
      if (v->region_hits) g.count += v->region_hits[i].load(std::memory_order_relaxed);
    s.regions.push_back(std::move(g));
  }
  return s;
}

// ---------------------------------------------------------------------------
// Pause / resume.

void Vm::park(Vcpu& v) {
  auto r = v.be->regs();
  v.snap.valid = r.ok();
  if (r.ok()) v.snap.regs = *r;
  std::unique_lock<std::mutex> lk(pause_mu_);
  if (!pause_req_) return;
  parked_++;
  pause_cv_.notify_all();
  pause_cv_.wait(lk, [&] { return !pause_req_ || stop_.load(); });
  parked_--;
}

int Vm::pause() {
  std::unique_lock<std::mutex> lk(pause_mu_);
  if (paused_) return 0;
  if (vcpus_.empty() || !running_) return EAGAIN;
  pause_req_ = true;
  lk.unlock();
  for (auto& v : vcpus_)
    if (v->be) v->be->kick();
  lk.lock();
  auto all = [&] {
    unsigned alive = 0;
    for (auto& v : vcpus_)
      if (v->alive) alive++;
    return parked_ >= alive;
  };
  if (!pause_cv_.wait_for(lk, std::chrono::seconds(5), all)) {
    pause_req_ = false;
    lk.unlock();
    pause_cv_.notify_all();
    Log(LogLevel::Error, "pause: the vCPUs did not stop within 5 s");
    return ETIMEDOUT;
  }
  paused_ = true;
  if (backend_) backend_->paused();  // every vCPU is parked
  return 0;
}

int Vm::resume() {
  {
    std::lock_guard<std::mutex> g(pause_mu_);
    if (!paused_) return 0;
    if (backend_) backend_->resuming();  // the vCPUs are still parked
    paused_ = false;
    pause_req_ = false;
  }
  pause_cv_.notify_all();
  return 0;
}

int Vm::reset() {
  Log(LogLevel::Info, "control: reset");
  post(Request::Reset, kResetByControl);
  return 0;
}

int Vm::power_button() {
  press_power_button("control");
  return 0;
}

int Vm::power_cut() {
  Log(LogLevel::Info, "control: power cut");
  post(Request::Exit, kExitPowerCut);
  return 0;
}

// ---------------------------------------------------------------------------
// Dumps.

int Vm::dump(std::string* out) {
  bool was_paused;
  {
    std::lock_guard<std::mutex> g(pause_mu_);
    was_paused = paused_;
  }
  int rc = pause();
  if (rc) {
    *out = absl::StrCat("cannot stop the vCPUs: ", strerror(rc));
    return rc;
  }
  std::vector<DumpVcpu> snaps;
  for (auto& v : vcpus_) snaps.push_back(v->snap);
  const CpuModel& model = machine_->cpu_model();
  std::string dir = cfg_.dump ? ResolvePath(cfg_.dump_where, *cfg_.dump) : ".";
  absl::Status st;
  if (!dir.empty() && dir[0] == '|') {
    // The spawner (forked before any filter) runs the command: the main
    // loop neither forks nor executes.
    std::string cmd = dir.substr(1);
    absl::StatusOr<int> fd = spawner_.run(cmd);
    if (!fd.ok()) {
      rc = EIO;
      *out = std::string(fd.status().message());
    } else {
      st = WriteCore(*fd, model, snaps, mem_, absl::StrJoin(trace_lines(), "\n"));
      ::close(*fd);
      absl::StatusOr<int> waited = spawner_.wait();
      int status = waited.ok() ? *waited : -1;
      if (!waited.ok() && st.ok()) st = waited.status();
      if (st.ok() && status != 0) {
        rc = EIO;
        *out = absl::StrCat("`", cmd, "` failed (status ", status, ")");
      } else if (!st.ok()) {
        rc = EIO;
        *out = std::string(st.message());
      } else {
        *out = dir;
      }
    }
  } else {
    std::string base = absl::StrCat(dir, "/", DumpFileName(node_name(), time(nullptr)));
    std::string path = base;
    int fd = -1;
    for (int n = 1; n < 100; n++) {
      fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd >= 0 || errno != EEXIST) break;
      path = absl::StrCat(base.substr(0, base.size() - 6), "-", n, ".gcore");
    }
    if (fd < 0) {
      rc = errno;
      *out = absl::StrCat(path, ": ", strerror(rc));
    } else {
      st = WriteCore(fd, model, snaps, mem_, absl::StrJoin(trace_lines(), "\n"));
      if (::close(fd) != 0 && st.ok())
        st = absl::InternalError(absl::StrCat("close: ", strerror(errno)));
      if (!st.ok()) {
        rc = EIO;
        *out = absl::StrCat(path, ": ", st.message());
        unlink(path.c_str());
      } else {
        char real[PATH_MAX];
        *out = realpath(path.c_str(), real) ? std::string(real) : path;
      }
    }
  }
  if (!was_paused) resume();
  if (rc == 0) Log(LogLevel::Info, "guest dump: %s", out->c_str());
  else Log(LogLevel::Error, "guest dump failed: %s", out->c_str());
  return rc;
}

// ---------------------------------------------------------------------------
// Devices.

std::vector<std::string> Vm::device_names() {
  std::vector<std::string> out;
  for (auto& d : devs_) out.push_back(d->name);
  return out;
}

bool Vm::has_device(const std::string& name) { return find_device(name) != nullptr; }

int Vm::vdev_devctl(const std::string& name, uint32_t cmd, std::string_view in,
                    std::string* out) {
  qvm_vdev* d = find_device(name);
  if (!d) return ENOENT;
  if (!(d->factory->flags & QVM_VDEVF_DEVCTL)) return ENOTTY;
  if (cmd > uint32_t(INT_MAX)) return ENOTTY;
  if (in.find('\0') != std::string_view::npos) return EINVAL;
  std::string value(in);
  out->clear();
  d->devctl_out.store(out);
  int rc = d->control(QVM_CTRL_DEVCTL, int(cmd), value.c_str());
  d->devctl_out.store(nullptr);
  if (rc < 0) {
    out->clear();
    return -rc;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Console streams. Every stream a device opens with qvm_hostdev_open goes
// through a pipe that the main loop relays: output to the real destination
// and to /dev/qvm readers, input from qvm's stdin and /dev/qvm writers.

int Vm::open_hostdev(qvm_vdev* dev, const char* spec, int for_write) {
  std::string s(spec);
  if (for_write) {
    int real;
    if (s == ">-" || s == "-") {
      real = dup(1);
    } else {
      if (!s.empty() && (s[0] == '>' || s[0] == '<')) s = s.substr(1);
      if (s.empty()) return -1;
      real = open(s.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
    }
    if (real < 0) return -1;
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
      close(real);
      return -1;
    }
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);  // best effort: room for bursts
    size_t idx = outs_.size();
    outs_.push_back({dev, p[0], real});
    absl::Status st = loop_.watch_fd(p[0], [this, idx] { drain_stream(idx); });
    if (!st.ok()) {
      outs_.pop_back();
      close(p[0]);
      close(p[1]);
      close(real);
      return -1;
    }
    return p[1];
  }
  if (s != "<-" && s != "-") return -ENOSYS;  // files: qvm_hostdev_open's way
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  fcntl(p[1], F_SETFL, O_NONBLOCK);
  fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
  ins_.push_back({dev, p[1]});
  if (!stdin_forwarded_ && InputCapable(0)) {
    // The first console gets qvm's stdin (read only when epoll says so: the
    // shared stdin's flags are never changed).
    if (loop_.watch_fd(0, [this] { on_stdin(); }).ok()) stdin_forwarded_ = true;
  }
  return p[0];
}

void Vm::on_stdin() {
  char buf[4096];
  ssize_t n = read(0, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {  // end of file or error: stop watching
    loop_.unwatch_fd(0);
    return;
  }
  if (ins_.empty()) return;
  ssize_t k = write(ins_[0].wfd, buf, size_t(n));
  if (k < n) QVM_LOG_RL(LogLevel::Warn, "console input: guest not reading, bytes dropped");
}

void Vm::drain_stream(size_t i) {
  if (i >= outs_.size() || outs_[i].rfd < 0) return;
  OutStream& o = outs_[i];
  char buf[65536];
  for (int round = 0; round < 16; round++) {
    ssize_t n = read(o.rfd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;  // EAGAIN: drained
    if (n == 0) {       // the device closed its end
      loop_.unwatch_fd(o.rfd);
      close(o.rfd);
      o.rfd = -1;
      return;
    }
    const char* p = buf;
    size_t left = size_t(n);
    int stalls = 0;
    while (left && o.real >= 0) {
      ssize_t k = write(o.real, p, left);
      if (k > 0) {
        p += k;
        left -= size_t(k);
        continue;
      }
      if (k < 0 && errno == EINTR) continue;
      if (k < 0 && errno == EAGAIN && stalls++ < 20) {
        usleep(5000);
        continue;
      }
      QVM_LOG_RL(LogLevel::Warn, "%s: host output failed, bytes dropped",
                 o.dev->name.c_str());
      break;
    }
    if (control_) control_->console_output(o.dev->name, std::string_view(buf, size_t(n)));
  }
}

void Vm::drain_streams() {
  for (size_t i = 0; i < outs_.size(); i++) drain_stream(i);
}

bool Vm::has_console(const std::string& dev) {
  for (const auto& o : outs_)
    if (o.dev->name == dev) return true;
  for (const auto& i : ins_)
    if (i.dev->name == dev) return true;
  return false;
}

int Vm::console_input(const std::string& dev, std::string_view data, uint32_t* written) {
  for (const auto& i : ins_) {
    if (i.dev->name != dev) continue;
    if (data.empty()) {
      *written = 0;
      return 0;
    }
    ssize_t k = write(i.wfd, data.data(), data.size());
    if (k < 0) return errno == EAGAIN ? EAGAIN : EIO;
    *written = uint32_t(k);
    return 0;
  }
  return ENOTSUP;  // an output-only stream
}

// ---------------------------------------------------------------------------
// env and status.

std::string Vm::env_json() {
  std::string j = "{";
  absl::StrAppend(&j, "\"system\":", JsonString(node_name()),
                  ",\"qvm_version\":", JsonString(ctl::kQvmVersion),
                  ",\"pid\":", getpid(), ",\"state\":", JsonString(state_name()),
                  ",\"start_time\":", JsonString(IsoTime(start_wall_ns_)),
                  ",\"start_time_unix_ns\":", start_wall_ns_,
                  ",\"resets\":", resets_);
  // Configuration as parsed.
  j += ",\"config\":{";
  absl::StrAppend(&j, "\"system\":", JsonString(cfg_.system), ",\"ram\":[");
  bool first = true;
  for (const auto& m : cfg_.mem) {
    absl::StrAppend(&j, first ? "" : ",", "{\"kind\":", m.rom ? "\"rom\"" : "\"ram\"",
                    ",\"start\":", m.start ? Hex(*m.start) : "null", ",\"size\":",
                    Hex(m.size), "}");
    first = false;
  }
  j += "],\"cpus\":[";
  for (size_t i = 0; i < cfg_.cpus.size(); i++) {
    const auto& c = cfg_.cpus[i];
    absl::StrAppend(&j, i ? "," : "", "{\"sched\":",
                    c.priority ? JsonString(absl::StrFormat("%d%c", *c.priority, c.policy))
                               : "null",
                    ",\"runmask\":[", absl::StrJoin(c.runmask, ","), "]}");
  }
  j += "],\"loads\":[";
  for (size_t i = 0; i < cfg_.loads.size(); i++) {
    const auto& l = cfg_.loads[i];
    absl::StrAppend(&j, i ? "," : "", "{\"kind\":", JsonString(LoadKindStr(l.kind)),
                    ",\"addr\":", l.addr ? Hex(*l.addr) : "null", ",\"path\":",
                    JsonString(l.path), "}");
  }
  absl::StrAppend(&j, "],\"cmdline\":", cfg_.cmdline ? JsonString(*cfg_.cmdline) : "null",
                  ",\"vdevs\":[");
  for (size_t i = 0; i < cfg_.vdevs.size(); i++) {
    const auto& v = cfg_.vdevs[i];
    absl::StrAppend(&j, i ? "," : "", "{\"type\":", JsonString(v.type), ",\"name\":",
                    v.name.empty() ? "null" : JsonString(v.name), ",\"loc\":[");
    for (size_t k = 0; k < v.locs.size(); k++)
      absl::StrAppend(&j, k ? "," : "", JsonString(LocStr(v.locs[k])));
    j += "],\"intr\":[";
    for (size_t k = 0; k < v.intrs.size(); k++)
      absl::StrAppend(&j, k ? "," : "",
                      JsonString(v.intrs[k].apic ? "apic"
                                                 : absl::StrCat(v.intrs[k].controller, ":",
                                                                v.intrs[k].line)));
    j += "],\"options\":{";
    for (size_t k = 0; k < v.options.size(); k++)
      absl::StrAppend(&j, k ? "," : "", JsonString(v.options[k].name), ":",
                      JsonString(v.options[k].value));
    j += "}}";
  }
  j += "],\"set\":{";
  for (size_t i = 0; i < cfg_.sets.size(); i++)
    absl::StrAppend(&j, i ? "," : "", JsonString(cfg_.sets[i].name), ":",
                    JsonString(cfg_.sets[i].raw));
  absl::StrAppend(&j, "},\"dump\":", cfg_.dump ? JsonString(*cfg_.dump) : "null",
                  ",\"unsupported\":",
                  cfg_.unsupported ? JsonString(UnsupportedText(*cfg_.unsupported))
                                   : "null",
                  "}");
  // Memory map.
  j += ",\"memory\":[";
  first = true;
  for (const auto& m : mem_.regions()) {
    absl::StrAppend(&j, first ? "" : ",", "{\"kind\":", m.readonly ? "\"rom\"" : "\"ram\"",
                    ",\"base\":", Hex(m.gpa), ",\"size\":", Hex(m.size), "}");
    first = false;
  }
  j += "],\"vcpus\":[";
  for (size_t i = 0; i < vcpus_.size(); i++)
    absl::StrAppend(&j, i ? "," : "", "{\"index\":", i, ",\"tid\":", vcpus_[i]->tid.load(),
                    "}");
  j += "],\"devices\":[";
  for (size_t i = 0; i < devs_.size(); i++) {
    const auto& d = devs_[i];
    absl::StrAppend(&j, i ? "," : "", "{\"name\":", JsonString(d->name), ",\"type\":",
                    JsonString(d->spec.type), ",\"implied\":",
                    d->spec.where.file == "<implied>" ? "true" : "false", ",\"loc\":[");
    for (size_t k = 0; k < d->regions.size(); k++)
      absl::StrAppend(&j, k ? "," : "", "{\"space\":", JsonString(SpaceStr(d->regions[k].space)),
                      ",\"base\":", Hex(d->regions[k].base), ",\"size\":",
                      Hex(d->regions[k].size), "}");
    j += "],\"intr\":[";
    for (size_t k = 0; k < d->intrs.size(); k++)
      absl::StrAppend(&j, k ? "," : "", JsonString(d->intrs[k].spec));
    j += "],\"options\":{";
    for (size_t k = 0; k < d->spec.options.size(); k++)
      absl::StrAppend(&j, k ? "," : "", JsonString(d->spec.options[k].name), ":",
                      JsonString(d->spec.options[k].value));
    absl::StrAppend(&j, "},\"console\":", has_console(d->name) ? "true" : "false",
                    ",\"plugin\":", JsonString(loader_->origin(d->spec.type)), "}");
  }
  absl::StrAppend(&j, "],\"socket\":",
                  JsonString(control_ ? control_->path() : std::string()), "}\n");
  return j;
}

std::string Vm::status(bool json) {
  std::string state = state_name();
  double up = double(MonotonicNs() - start_ns_) / 1e9;
  uint64_t total = 0;
  std::vector<uint64_t> per;
  for (const auto& v : vcpus_) {
    uint64_t n = 0;
    for (size_t k = 0; k < size_t(ExitKind::Count); k++)
      n += v->stats.by_kind[k].load(std::memory_order_relaxed);
    per.push_back(n);
    total += n;
  }
  bool show_regs;
  {
    std::lock_guard<std::mutex> g(pause_mu_);
    show_regs = paused_;
  }
  if (json) {
    std::string j = absl::StrFormat(
        "{\"system\":%s,\"pid\":%d,\"state\":%s,\"uptime_s\":%.3f,\"resets\":%u,"
        "\"exits\":%u,\"version\":%s,\"vcpus\":[",
        JsonString(node_name()), getpid(), JsonString(state), up, resets_, total,
        JsonString(ctl::kQvmVersion));
    for (size_t i = 0; i < vcpus_.size(); i++) {
      absl::StrAppend(&j, i ? "," : "", "{\"index\":", i, ",\"tid\":",
                      vcpus_[i]->tid.load(), ",\"exits\":", per[i]);
      if (show_regs && vcpus_[i]->snap.valid)
        absl::StrAppend(&j, ",\"pc\":", Hex(vcpus_[i]->snap.regs.pc), ",\"sp\":",
                        Hex(vcpus_[i]->snap.regs.sp));
      j += "}";
    }
    j += "]}\n";
    return j;
  }
  std::string t = absl::StrFormat(
      "system: %s\npid: %d\nstate: %s\nuptime: %.3f s\nstarted: %s\nresets: %u\n"
      "exits: %u\nversion: %s\nvcpus: %u\n",
      node_name(), getpid(), state, up, IsoTime(start_wall_ns_), resets_, total,
      ctl::kQvmVersion, unsigned(vcpus_.size()));
  for (size_t i = 0; i < vcpus_.size(); i++) {
    absl::StrAppendFormat(&t, "  vcpu %u: tid %d, exits %u", unsigned(i),
                          int(vcpus_[i]->tid.load()), per[i]);
    if (show_regs && vcpus_[i]->snap.valid)
      absl::StrAppend(&t, ", ", vcpus_[i]->snap.regs.text);
    t += "\n";
  }
  return t;
}

}  // namespace qvm
