// The fake qvm host of the vdev and virtio unit tests: see fake_host.h.
#include "fake_host.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

std::vector<const qvm_factory *> &fake_factories() {
  static std::vector<const qvm_factory *> f;
  return f;
}

int qvm_vdev::rises(unsigned i) const {
  if (i >= intr_log.size()) return 0;
  int prev = 0, n = 0;
  for (int l : intr_log[i]) {
    if (l && !prev) n++;
    prev = l;
  }
  return n;
}

int qvm_vdev::raises(unsigned i) const {
  if (i >= intr_log.size()) return 0;
  int n = 0;
  for (int l : intr_log[i]) n += l;
  return n;
}

bool qvm_vdev::watched(int fd) const {
  for (auto &w : watches)
    if (w.fd == fd) return true;
  return false;
}

namespace fake {
std::mutex &LogMutex() {
  static std::mutex mu;
  return mu;
}
std::vector<std::string> LogsOf(const qvm_vdev *dev) {
  std::lock_guard<std::mutex> g(LogMutex());
  return dev->logs;
}
}  // namespace fake

namespace fake {

Host &Host::get() {
  static Host h;
  return h;
}

const qvm_factory *Host::load(const std::string &type) {
  for (auto *f : fake_factories())
    if (type == f->name) return f;
  const char *dir = getenv("QVM_VDEV_DIR");
  std::string path = std::string(dir ? dir : "build/lib/qvm") + "/vdev-" +
                     type + ".so";
  void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) throw std::runtime_error(std::string("dlopen: ") + dlerror());
  for (auto *f : fake_factories())
    if (type == f->name) return f;
  throw std::runtime_error("no factory registered by " + path);
}

qvm_vdev *Host::find(const std::string &name) {
  for (auto &d : devs)
    if (d->name == name) return d.get();
  return nullptr;
}

// A new instance named NAME with CFG's locations and interrupts.
static qvm_vdev *add_dev(Host &h, const std::string &name, const Config &cfg) {
  auto d = std::make_unique<qvm_vdev>();
  d->name = name;
  d->locs = cfg.locs;
  d->intrs = cfg.intrs;
  d->intrs_configured = !cfg.intrs.empty();
  d->intr_level.resize(d->intrs.size());
  d->intr_log.resize(d->intrs.size());
  d->fdt_phandle = static_cast<uint32_t>(h.devs.size() + 1);
  h.devs.push_back(std::move(d));
  return h.devs.back().get();
}

qvm_vdev *Host::attach(const std::string &name, const Config &cfg) {
  return add_dev(*this, name, cfg);
}

qvm_vdev *Host::create(const std::string &type, const Config &cfg) {
  const qvm_factory *f = load(type);
  if (f->abi_major != QVM_VDEV_ABI_MAJOR)
    throw std::runtime_error("ABI major mismatch");
  unsigned n = instance_counts[type]++;
  qvm_vdev *dev = add_dev(
      *this,
      cfg.name.empty() ? (n == 0 ? type : type + std::to_string(n)) : cfg.name,
      cfg);
  dev->factory = f;
  size_t sz = f->state_size ? f->state_size : 1;
  dev->state_mem.reset(new unsigned char[sz + 64]());
  // Align to 64 bytes.
  uintptr_t p = reinterpret_cast<uintptr_t>(dev->state_mem.get());
  dev->state = reinterpret_cast<void *>((p + 63) & ~uintptr_t(63));

  auto fail = [&](int rc) -> qvm_vdev * {
    last_rc = rc;
    devs.pop_back();
    return nullptr;
  };
  int rc = f->control(dev, dev->state, QVM_CTRL_OPTIONS_START, 0, nullptr);
  if (rc) return fail(rc);
  for (auto &[opt, val] : cfg.options) {
    int idx = -1;
    for (int i = 0; f->options && f->options[i]; i++)
      if (opt == f->options[i]) idx = i;
    if (idx < 0) return fail(-ENOENT);
    rc = f->control(dev, dev->state, QVM_CTRL_OPTION, idx, val.c_str());
    if (rc) return fail(rc);
  }
  for (unsigned c : {QVM_CTRL_OPTIONS_END, QVM_CTRL_RESOURCES,
                     QVM_CTRL_GUEST_CONFIGURED, QVM_CTRL_RESET}) {
    {
      std::lock_guard<std::recursive_mutex> g(dev->mu);
      rc = f->control(dev, dev->state, c, 0, nullptr);
    }
    if (rc) return fail(rc);
  }
  dev->intr_level.resize(dev->intrs.size());
  dev->intr_log.resize(dev->intrs.size());
  last_rc = 0;
  return dev;
}

void Host::reset() {
  for (auto &d : devs)
    if (d->factory) {
      std::lock_guard<std::recursive_mutex> g(d->mu);
      d->factory->control(d.get(), d->state, QVM_CTRL_TERMINATE, 0, nullptr);
    }
  devs.clear();
  timers.clear();
  instance_counts.clear();
  for (auto &[spec, fd] : hostdevs) close(fd);
  hostdevs.clear();
  for (auto &n : notes) close(n.fd);
  notes.clear();
  notify_ok = false;
  console_specs.clear();
  runtime_dir.clear();
  now_ = kStart;
  irqchip_supported = true;
  irqchip_line_rc = 0;
  user_irqchip_supported = true;
  access_vcpu = 0;
  ram_base = kRamBase;
  ram.assign(1 << 20, 0);
  bad_accesses = 0;
  vcpus = 1;
  cmdline.clear();
}

Note *Host::note(int fd) {
  for (auto &n : notes)
    if (n.fd == fd) return &n;
  return nullptr;
}

void Host::vcpu_outputs(qvm_vdev *d, unsigned vcpu, uint32_t mask) {
  if (d->vcpu_outputs_fn) d->vcpu_outputs_fn(d, d->state, vcpu, mask);
}

int Host::gen_fdt(qvm_vdev *d) {
  d->fdt_name.clear();
  d->fdt_compatible.clear();
  d->fdt_props.clear();
  d->fdt_open = true;
  int rc = d->factory->control(d, d->state, QVM_CTRL_GEN_FDT, 0, nullptr);
  d->fdt_open = false;
  return rc;
}

const std::string *Host::fdt_prop(qvm_vdev *d, const std::string &prop) const {
  for (auto &[n, v] : d->fdt_props)
    if (n == prop) return &v;
  return nullptr;
}

int Host::control(qvm_vdev *d, unsigned ctrl, int arg, const char *value) {
  std::lock_guard<std::recursive_mutex> g(d->mu);
  return d->factory->control(d, d->state, ctrl, arg, value);
}

static int dispatch(qvm_vdev *d, bool is_write, uint32_t space, uint64_t addr,
                    unsigned size, uint64_t *val) {
  std::lock_guard<std::recursive_mutex> g(d->mu);
  for (size_t i = 0; i < d->regions.size(); i++) {
    const Region &r = d->regions[i];
    if (r.space != space || addr < r.base || addr - r.base >= r.size) continue;
    qvm_access acc{};
    acc.space = space;
    acc.size = size;
    acc.offset = addr - r.base;
    acc.region = static_cast<uint32_t>(i);
    acc.vcpu = Host::get().access_vcpu;
    unsigned char buf[8] = {};
    if (is_write) {
      memcpy(buf, val, 8);
      return d->factory->write(d, d->state, &acc, buf);
    }
    int rc = d->factory->read(d, d->state, &acc, buf);
    *val = 0;
    memcpy(val, buf, size);
    return rc;
  }
  throw std::runtime_error("access outside every region of " + d->name);
}

int Host::read(qvm_vdev *d, uint32_t space, uint64_t addr, unsigned size,
               uint64_t *out) {
  return dispatch(d, false, space, addr, size, out);
}

int Host::write(qvm_vdev *d, uint32_t space, uint64_t addr, unsigned size,
                uint64_t value) {
  return dispatch(d, true, space, addr, size, &value);
}

// The convenience accessors: the callback must answer QVM_DONE.
static uint64_t done(int rc, uint64_t v, const char *what) {
  if (rc != QVM_DONE)
    throw std::runtime_error(std::string(what) + ": status " + std::to_string(rc));
  return v;
}

static uint64_t checked_read(Host &h, qvm_vdev *d, uint32_t space, uint64_t addr,
                             unsigned size, const char *what) {
  uint64_t v = 0;
  int rc = h.read(d, space, addr, size, &v);
  return done(rc, v, what);
}

uint64_t Host::in(qvm_vdev *d, uint16_t port, unsigned size) {
  return checked_read(*this, d, QVM_SPACE_IO, port, size, "in");
}
void Host::out(qvm_vdev *d, uint16_t port, unsigned size, uint64_t v) {
  done(write(d, QVM_SPACE_IO, port, size, v), 0, "out");
}
uint64_t Host::mread(qvm_vdev *d, uint64_t addr, unsigned size) {
  return checked_read(*this, d, QVM_SPACE_MEM, addr, size, "mread");
}
void Host::mwrite(qvm_vdev *d, uint64_t addr, unsigned size, uint64_t v) {
  done(write(d, QVM_SPACE_MEM, addr, size, v), 0, "mwrite");
}

void Host::advance(uint64_t ns) {
  uint64_t target = now_ + ns;
  for (int guard = 0; guard < 10000000; guard++) {
    qvm_timer *next = nullptr;
    for (auto &t : timers)
      if (t->armed && !t->destroyed && t->when <= target &&
          (!next || t->when < next->when))
        next = t.get();
    if (!next) break;
    if (next->when > now_) now_ = next->when;
    if (next->period)
      next->when += next->period;
    else
      next->armed = false;
    next->fired++;
    next->fn(next->dev, next->dev->state, next->arg);
  }
  now_ = target;
}

size_t Host::armed_timers(qvm_vdev *d) const {
  size_t n = 0;
  for (auto &t : timers)
    if (t->dev == d && t->armed && !t->destroyed) n++;
  return n;
}

uint64_t Host::next_timer(qvm_vdev *d) const {
  uint64_t w = UINT64_MAX;
  for (auto &t : timers)
    if (t->dev == d && t->armed && !t->destroyed && t->when < w) w = t->when;
  return w;
}

int Host::poll_fds() {
  int ran = 0;
  for (auto &d : devs) {
    std::vector<FdWatch> ws = d->watches;  // callbacks may watch/unwatch
    for (const FdWatch &w : ws) {
      if (!d->watched(w.fd)) continue;
      struct pollfd p = {w.fd, POLLIN, 0};
      if (poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
        w.fn(d.get(), d->state, w.arg);
        ran++;
      }
    }
  }
  return ran;
}

int Host::pump() {
  int ran = 0;
  std::vector<qvm_timer *> due;
  for (auto &t : timers)
    if (t->armed && !t->destroyed) due.push_back(t.get());
  for (qvm_timer *t : due) {
    t->armed = false;
    t->fired++;
    t->fn(t->dev, t->dev->state, t->arg);
    ran++;
  }
  return ran + poll_fds();
}

uint64_t Host::timer_fires() const {
  uint64_t n = 0;
  for (auto &t : timers) n += t->fired;
  return n;
}

}  // namespace fake

using fake::Host;

// ---- the ABI ---------------------------------------------------------------

extern "C" {

void qvm_register_factory(const struct qvm_factory *factory) {
  fake_factories().push_back(factory);
}

const char *qvm_dev_name(qvm_vdev_t *dev) { return dev->name.c_str(); }

const char *qvm_system_name(qvm_vdev_t *) { return "fake-system"; }
// ABI 1.3
unsigned qvm_vcpu_count(qvm_vdev_t *) { return Host::get().vcpus; }
int qvm_ram_region(qvm_vdev_t *, unsigned i, uint64_t *base, uint64_t *size) {
  if (i != 0) return -1;
  if (base) *base = Host::get().ram_base;
  if (size) *size = Host::get().ram.size();
  return 0;
}
const char *qvm_cmdline(qvm_vdev_t *) { return Host::get().cmdline.c_str(); }
void qvm_dev_lock(qvm_vdev_t *dev) { dev->mu.lock(); }
void qvm_dev_unlock(qvm_vdev_t *dev) { dev->mu.unlock(); }

unsigned qvm_loc_count(qvm_vdev_t *dev) {
  return static_cast<unsigned>(dev->locs.size());
}

int qvm_loc_get(qvm_vdev_t *dev, unsigned i, uint32_t *space, uint64_t *base) {
  if (i >= dev->locs.size()) return -1;
  *space = dev->locs[i].first;
  *base = dev->locs[i].second;
  return 0;
}

int qvm_region_add(qvm_vdev_t *dev, uint32_t space, uint64_t base,
                   uint64_t size) {
  if (size == 0 || base + size < base) return -EINVAL;
  for (auto &d : Host::get().devs)
    for (auto &r : d->regions)
      if (r.space == space && base < r.base + r.size && r.base < base + size)
        return -EEXIST;
  dev->regions.push_back({space, base, size});
  return static_cast<int>(dev->regions.size() - 1);
}

unsigned qvm_intr_count(qvm_vdev_t *dev) {
  return static_cast<unsigned>(dev->intrs.size());
}

int qvm_intr_line(qvm_vdev_t *dev, unsigned i, unsigned *line) {
  if (!line || i >= dev->intrs.size()) return -EINVAL;
  *line = dev->intrs[i].line;
  return 0;
}

// ABI 1.5: the lowest free range in [lo, hi) around guest RAM and every
// device's regions; mappings are recorded (MemMap), nothing is accelerated.
int qvm_region_alloc(qvm_vdev_t *dev, uint64_t size, uint64_t align, uint64_t lo,
                     uint64_t hi, uint64_t *base) {
  if (!base || !size || size % 4096 || align < 4096 || (align & (align - 1)) || lo >= hi)
    return -EINVAL;
  Host &h = Host::get();
  std::vector<std::pair<uint64_t, uint64_t>> busy{{h.ram_base, h.ram_base + h.ram.size()}};
  for (auto &d : h.devs)
    for (auto &r : d->regions)
      if (r.space == QVM_SPACE_MEM && r.size) busy.emplace_back(r.base, r.base + r.size);
  uint64_t cand = lo;
  for (size_t guard = 0; guard <= busy.size(); guard++) {
    cand = (cand + align - 1) & ~(align - 1);
    if (cand < lo || cand >= hi || size > hi - cand) return -ENOSPC;
    bool moved = false;
    for (auto &[s, e] : busy)
      if (s < cand + size && cand < e) {
        cand = e;
        moved = true;
      }
    if (!moved) {
      // like qvm: a PCI function's own regions start past the BAR indexes
      while (dev->pci.struct_size && dev->regions.size() < 6)
        dev->regions.push_back({QVM_SPACE_MEM, 0, 0});
      dev->regions.push_back({QVM_SPACE_MEM, cand, size, true});
      *base = cand;
      return static_cast<int>(dev->regions.size() - 1);
    }
  }
  return -ENOSPC;
}

int qvm_region_free(qvm_vdev_t *dev, unsigned region) {
  if (region >= dev->regions.size() || !dev->regions[region].allocated ||
      !dev->regions[region].size)
    return -EINVAL;
  auto &m = dev->memmaps;
  for (size_t i = m.size(); i-- > 0;)
    if (m[i].region == region) m.erase(m.begin() + long(i));
  dev->regions[region].size = 0;
  return 0;
}

int qvm_mem_map(qvm_vdev_t *dev, unsigned region, uint64_t offset, void *host, uint64_t size,
                int writable) {
  if (!host || region >= dev->regions.size()) return -EINVAL;
  const fake::Region &r = dev->regions[region];
  if (r.space != QVM_SPACE_MEM || !size || size % 4096 || offset % 4096 ||
      reinterpret_cast<uintptr_t>(host) % 4096 || offset > r.size || size > r.size - offset)
    return -EINVAL;
  for (auto &m : dev->memmaps)
    if (m.region == region && m.offset < offset + size && offset < m.offset + m.size)
      return -EEXIST;
  if (dev->memmaps.size() >= 16) return -ENOSPC;
  dev->memmaps.push_back({region, offset, size, host, writable != 0});
  return 0;
}

int qvm_mem_unmap(qvm_vdev_t *dev, unsigned region, uint64_t offset) {
  auto &m = dev->memmaps;
  for (size_t i = 0; i < m.size(); i++)
    if (m[i].region == region && m[i].offset == offset) {
      m.erase(m.begin() + long(i));
      return 0;
    }
  return -EINVAL;
}

int qvm_intr_default(qvm_vdev_t *dev, const char *controller, unsigned line) {
  if (dev->intrs_configured) return 0;
  dev->intrs.push_back({controller, line});
  dev->intr_level.resize(dev->intrs.size());
  dev->intr_log.resize(dev->intrs.size());
  return 0;
}

int qvm_irq_set_named(qvm_vdev_t *dev, const char *controller, unsigned line,
                      int level) {
  dev->named.push_back({controller, line, level});
  qvm_vdev *c = Host::get().find(controller);
  if (!c || !c->factory->pic) return -ENOENT;
  return c->factory->pic->set_line(c, c->state, line, level);
}

int qvm_intr_set(qvm_vdev_t *dev, unsigned i, int level) {
  if (i >= dev->intrs.size()) return -EINVAL;
  dev->intr_level.resize(dev->intrs.size());
  dev->intr_log.resize(dev->intrs.size());
  dev->intr_level[i] = level ? 1 : 0;
  dev->intr_log[i].push_back(level ? 1 : 0);
  qvm_vdev *c = Host::get().find(dev->intrs[i].controller);
  if (c && c != dev && c->factory->pic)
    return c->factory->pic->set_line(c, c->state, dev->intrs[i].line,
                                     level ? 1 : 0);
  return 0;
}

int qvm_intr_pulse(qvm_vdev_t *dev, unsigned i) {
  int rc = qvm_intr_set(dev, i, 1);
  if (rc) return rc;
  return qvm_intr_set(dev, i, 0);
}

int qvm_msi(qvm_vdev_t *dev, uint64_t address, uint32_t data) {
  dev->msis.push_back({address, data});
  return 0;
}

int qvm_msi_route(qvm_vdev_t *dev, unsigned gsi, uint64_t address,
                  uint32_t data, int masked) {
  dev->routes[gsi] = {address, data, masked};
  return 0;
}

int qvm_cpu_extint(qvm_vdev_t *dev, int level) {
  dev->extint = level ? 1 : 0;
  dev->extint_log.push_back(dev->extint);
  return 0;
}

uint64_t qvm_time_ns(void) { return Host::get().now(); }

qvm_timer_t *qvm_timer_create(qvm_vdev_t *dev, qvm_timer_fn fn, void *arg) {
  auto t = std::make_unique<qvm_timer>();
  t->dev = dev;
  t->fn = fn;
  t->arg = arg;
  qvm_timer *p = t.get();
  Host::get().timers.push_back(std::move(t));
  dev->timers.push_back(p);
  return p;
}

int qvm_timer_arm(qvm_timer_t *t, uint64_t when_ns, uint64_t period_ns) {
  if (!t || t->destroyed) return -EINVAL;
  t->armed = true;
  t->when = when_ns;
  t->period = period_ns;
  return 0;
}

int qvm_timer_cancel(qvm_timer_t *t) {
  if (!t || t->destroyed) return -EINVAL;
  t->armed = false;
  return 0;
}

void qvm_timer_destroy(qvm_timer_t *t) {
  if (t) {
    t->armed = false;
    t->destroyed = true;
  }
}

static bool ram_range(uint64_t gpa, size_t len, size_t *off) {
  Host &h = Host::get();
  uint64_t o = gpa - h.ram_base;
  if (gpa < h.ram_base || o > h.ram.size() || len > h.ram.size() - o) {
    h.bad_accesses++;
    return false;
  }
  *off = static_cast<size_t>(o);
  return true;
}

int qvm_gmem_read(qvm_vdev_t *, uint64_t gpa, void *buf, size_t len) {
  size_t off;
  if (!ram_range(gpa, len, &off)) return -EFAULT;
  memcpy(buf, Host::get().ram.data() + off, len);
  return 0;
}

int qvm_gmem_write(qvm_vdev_t *, uint64_t gpa, const void *buf, size_t len) {
  size_t off;
  if (!ram_range(gpa, len, &off)) return -EFAULT;
  memcpy(Host::get().ram.data() + off, buf, len);
  return 0;
}

void *qvm_gmem_map(qvm_vdev_t *, uint64_t gpa, size_t len, int) {
  size_t off;
  if (!ram_range(gpa, len, &off)) return nullptr;
  return Host::get().ram.data() + off;
}

void qvm_gmem_unmap(qvm_vdev_t *, void *, size_t) {}

int qvm_hostdev_open(qvm_vdev_t *, const char *spec, int for_write) {
  Host &h = Host::get();
  auto it = h.hostdevs.find(spec);
  if (it != h.hostdevs.end()) return dup(it->second);
  if (for_write && spec[0] == '>' && strcmp(spec, ">-") != 0)
    return open(spec + 1, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (for_write && spec[0] != '>' && spec[0] != '<' && strcmp(spec, "-") != 0)
    return open(spec, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  return -1;
}

// ABI 1.4: the same spec rules as qvm (vmm/vdev_streams.cc); input comes
// from the test's "<-" pipe, never from the test process's stdin.
int qvm_console_open(qvm_vdev_t *dev, const char *spec, int *out_fd, int *in_fd) {
  if (!dev || !out_fd) return -EINVAL;
  std::string s = spec && *spec ? spec : ">-";
  Host &h = Host::get();
  h.console_specs.push_back(s);
  if (s[0] == '<' || s == ">") return -EINVAL;
  bool both = s == ">-" || s == "-";
  int out = qvm_hostdev_open(dev, both ? ">-" : s.c_str(), 1);
  if (out < 0) return -ENOENT;
  fcntl(out, F_SETFL, fcntl(out, F_GETFL) | O_NONBLOCK);
  int in = -1;
  auto it = h.hostdevs.find("<-");
  if (both && in_fd && it != h.hostdevs.end()) {
    in = dup(it->second);
    if (in >= 0) fcntl(in, F_SETFL, fcntl(in, F_GETFL) | O_NONBLOCK);
  }
  *out_fd = out;
  if (in_fd) *in_fd = in;
  return 0;
}

const char *qvm_runtime_dir(qvm_vdev_t *) {
  Host &h = Host::get();
  return h.runtime_dir.empty() ? nullptr : h.runtime_dir.c_str();
}

int qvm_fd_watch(qvm_vdev_t *dev, int fd, qvm_timer_fn fn, void *arg) {
  if (!dev || fd < 0 || !fn) return -EINVAL;
  for (auto &d : Host::get().devs)  // qvm's event loop watches an fd once
    if (d->watched(fd)) return -EINVAL;
  dev->watches.push_back({fd, fn, arg});
  return 0;
}

int qvm_timer_arm_rel(qvm_timer_t *t, uint64_t delay_ns, uint64_t period_ns) {
  return qvm_timer_arm(t, qvm_time_ns() + delay_ns, period_ns);
}

int qvm_acpi_device(qvm_vdev_t *dev, const char *hid, const char *cid) {
  if (!dev || !hid) return -EINVAL;
  dev->acpi_hid = hid;
  dev->acpi_cid = cid ? cid : "";
  return 0;
}

// ABI 1.4 typed ACPI contributions: recorded as given (qvm's own checks
// are unit-tested in test/unit/vdev_acpi_test.cc).
int qvm_acpi_pm_block(qvm_vdev_t *dev, const struct qvm_acpi_pm *pm) {
  if (!dev || !pm || pm->struct_size < sizeof *pm) return -EINVAL;
  dev->acpi_pm = *pm;
  return 0;
}
int qvm_acpi_pci_host(qvm_vdev_t *dev, const struct qvm_acpi_pci *h) {
  if (!dev || !h || h->struct_size < sizeof *h) return -EINVAL;
  dev->acpi_pci_host = *h;
  return 0;
}
int qvm_acpi_hpet(qvm_vdev_t *dev, uint64_t base, uint32_t block_id) {
  if (!dev) return -EINVAL;
  dev->acpi_hpet = std::make_pair(base, block_id);
  return 0;
}
int qvm_acpi_ioapic(qvm_vdev_t *dev, uint64_t base, uint32_t gsi_base) {
  if (!dev) return -EINVAL;
  dev->acpi_ioapic = std::make_pair(base, gsi_base);
  return 0;
}
int qvm_acpi_legacy(qvm_vdev_t *dev, unsigned what) {
  if (!dev || !what) return -EINVAL;
  dev->acpi_legacy |= what;
  return 0;
}

int qvm_fd_unwatch(qvm_vdev_t *dev, int fd) {
  if (!dev || fd < 0) return -EINVAL;
  for (auto it = dev->watches.begin(); it != dev->watches.end(); ++it)
    if (it->fd == fd) {
      dev->watches.erase(it);
      return 0;
    }
  return -ENOENT;
}

void qvm_power(qvm_vdev_t *dev, int what) { dev->power.push_back(what); }

int qvm_guest_dump(qvm_vdev_t *dev, int then) {
  if (!dev) return -EINVAL;
  if (then != QVM_DUMP_CONTINUE && then != QVM_POWER_OFF && then != QVM_POWER_RESET &&
      then != QVM_POWER_WATCHDOG)
    return -EINVAL;
  dev->dumps.push_back(then);
  return 0;
}

int qvm_thread_create(qvm_vdev_t *dev, pthread_t *thread, const char *name,
                      void *(*fn)(void *), void *arg) {
  if (!dev || !thread || !fn) return -EINVAL;
  int rc = pthread_create(thread, nullptr, fn, arg);
  if (rc != 0) return -rc;
  static std::mutex names_mu;  // a vCPU-thread caller may race another
  std::lock_guard<std::mutex> g(names_mu);
  dev->threads.push_back(name ? name : "");
  return 0;
}

void qvm_exit_code(qvm_vdev_t *dev, int code) {
  dev->exit_codes.push_back(code);
}

void qvm_exit_status(qvm_vdev_t *dev, int code) {
  dev->exit_statuses.push_back(code);
}

void qvm_log(qvm_vdev_t *dev, int level, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  std::lock_guard<std::mutex> g(fake::LogMutex());  // device threads log too
  if (dev->logs.size() < 10000) dev->logs.push_back(buf);
  if (getenv("QVM_VDEV_TEST_LOG"))
    fprintf(stderr, "[%s %d] %s\n", dev->name.c_str(), level, buf);
}

/* ---- ABI 1.2: device tree and accelerated interrupt controller ---- */

static bool fdt_name_ok(const char *n) {
  if (!n) return false;
  size_t len = strlen(n);
  if (len == 0 || len > 31) return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = static_cast<unsigned char>(n[i]);
    if (!isalnum(c) && !strchr(",._+-#?", c)) return false;
  }
  return true;
}

static int fdt_add(qvm_vdev_t *dev, const char *prop, std::string bytes) {
  if (!dev) return -EINVAL;
  if (!dev->fdt_open) return -ENOTSUP;
  if (dev->fdt_name.empty() || !fdt_name_ok(prop)) return -EINVAL;
  size_t total = bytes.size() + strlen(prop);
  for (auto &[n, v] : dev->fdt_props) total += n.size() + v.size();
  if (total > 65536) return -ENOSPC;
  for (auto &[n, v] : dev->fdt_props)
    if (n == prop) {
      v = std::move(bytes);
      return 0;
    }
  dev->fdt_props.emplace_back(prop, std::move(bytes));
  return 0;
}

static std::string be_cells(const uint32_t *c, unsigned n) {
  std::string out;
  for (unsigned i = 0; i < n; i++) {
    char b[4] = {char(c[i] >> 24), char(c[i] >> 16), char(c[i] >> 8), char(c[i])};
    out.append(b, 4);
  }
  return out;
}

int qvm_fdt_node(qvm_vdev_t *dev, const char *name, const char *compatible) {
  if (!dev) return -EINVAL;
  if (!dev->fdt_open) return -ENOTSUP;
  if (!dev->fdt_name.empty() || !fdt_name_ok(name) || !compatible ||
      !*compatible || strlen(compatible) > 1024)
    return -EINVAL;
  dev->fdt_name = name;
  dev->fdt_compatible = compatible;
  return 0;
}

int qvm_fdt_prop_u32(qvm_vdev_t *dev, const char *prop, uint32_t value) {
  return fdt_add(dev, prop, be_cells(&value, 1));
}

int qvm_fdt_prop_cells(qvm_vdev_t *dev, const char *prop, const uint32_t *cells,
                       unsigned n) {
  if ((!cells && n) || n > 4096) return -EINVAL;
  return fdt_add(dev, prop, be_cells(cells, n));
}

int qvm_fdt_prop_string(qvm_vdev_t *dev, const char *prop, const char *value) {
  if (!value || strlen(value) > 4096) return -EINVAL;
  return fdt_add(dev, prop, std::string(value, strlen(value) + 1));
}

int qvm_fdt_prop_bytes(qvm_vdev_t *dev, const char *prop, const void *data,
                       size_t len) {
  if ((!data && len) || len > 65536) return -EINVAL;
  return fdt_add(dev, prop,
                 std::string(static_cast<const char *>(data), len));
}

uint32_t qvm_fdt_phandle(qvm_vdev_t *dev, const char *name) {
  if (!dev) return 0;
  if (!name) return dev->fdt_phandle;
  qvm_vdev *other = Host::get().find(name);
  return other ? other->fdt_phandle : 0;
}

int qvm_irqchip_accel(qvm_vdev_t *dev, unsigned kind, unsigned nirqs) {
  if (!dev) return -EINVAL;
  if (kind != QVM_IRQCHIP_GICV2 && kind != QVM_IRQCHIP_GICV3) return -EINVAL;
  if (nirqs < 64 || nirqs > 1024 || nirqs % 32) return -EINVAL;
  if (dev->regions.size() < 2) return -EINVAL;
  if (!Host::get().irqchip_supported) return -ENOTSUP;
  if (dev->irqchip_kind) return -EEXIST;
  dev->irqchip_kind = kind;
  dev->irqchip_nirqs = nirqs;
  return 0;
}

int qvm_irqchip_line(qvm_vdev_t *dev, unsigned intid, int level) {
  if (!dev) return -EINVAL;
  if (!dev->irqchip_kind) return -ENOTSUP;
  if (intid < 32 || intid >= dev->irqchip_nirqs) return -EINVAL;
  dev->irqchip_lines.emplace_back(intid, level ? 1 : 0);
  return Host::get().irqchip_line_rc;
}

/* ---- ABI 1.3: user irqchip ---- */

int qvm_irqchip_user(qvm_vdev_t *dev, unsigned kind, qvm_vcpu_outputs_fn outputs) {
  if (!dev) return -EINVAL;
  if (kind != QVM_IRQCHIP_GICV2 && kind != QVM_IRQCHIP_GICV3) return -EINVAL;
  if (dev->regions.size() < 2) return -EINVAL;
  if (!Host::get().user_irqchip_supported) return -ENOTSUP;
  if (dev->irqchip_kind) return -EEXIST;
  dev->irqchip_kind = kind;
  dev->irqchip_user = true;
  dev->vcpu_outputs_fn = outputs;
  return 0;
}

int qvm_vcpu_irq(qvm_vdev_t *dev, unsigned vcpu, unsigned input, int level) {
  if (!dev) return -EINVAL;
  if (!dev->irqchip_user) return -EPERM;
  if (vcpu >= Host::get().vcpus || vcpu >= 8 || input > 1) return -EINVAL;
  dev->cpu_input[vcpu][input] = level ? 1 : 0;
  dev->cpu_input_calls++;
  return 0;
}

/* ---- ABI 1.3: notifications (see Host::notify_ok) ---- */

static int new_note(qvm_vdev_t *dev, fake::Note n) {
  Host &h = Host::get();
  if (!dev) return -EINVAL;
  if (!h.notify_ok) return -ENOTSUP;
  n.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (n.fd < 0) return -errno;
  h.notes.push_back(n);
  return n.fd;
}

int qvm_ioeventfd(qvm_vdev_t *dev, unsigned region, uint64_t offset,
                  unsigned size, unsigned flags, uint64_t datamatch) {
  return new_note(dev, {-1, false, region, offset, size, flags, datamatch, 0, 0, 1});
}

int qvm_irqfd_msi(qvm_vdev_t *dev) {
  return new_note(dev, {-1, true, 0, 0, 0, 0, 0, 0, 0, 1});
}

int qvm_irqfd_msi_set(qvm_vdev_t *, int fd, uint64_t address, uint32_t data,
                      int masked) {
  fake::Note *n = Host::get().note(fd);
  if (!n || !n->irq) return -EINVAL;
  n->addr = address;
  n->data = data;
  n->masked = masked;
  return 0;
}

int qvm_notify_close(qvm_vdev_t *, int fd) {
  auto &v = Host::get().notes;
  for (auto it = v.begin(); it != v.end(); ++it)
    if (it->fd == fd) {
      close(fd);
      v.erase(it);
      return 0;
    }
  return -EINVAL;
}

/* ---- PCI ---- */

int qvm_pci_declare(qvm_vdev_t *dev, const struct qvm_pci_function *f) {
  if (!dev || !f || (!f->caps && f->caps_len)) return -EINVAL;
  // like qvm: copy the capabilities (the caller's buffer is temporary)
  dev->pci = *f;
  dev->pci_caps.assign(f->caps, f->caps + f->caps_len);
  dev->pci.caps = dev->pci_caps.data();
  return 1 << 3;  // bus 0, device 1, function 0
}

uint32_t qvm_pci_state(qvm_vdev_t *dev) { return dev ? dev->pci_state : 0; }

}  // extern "C"
