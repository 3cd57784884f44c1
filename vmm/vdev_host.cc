#include "vmm/vdev_host.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "vmm/exit_codes.h"

#ifndef QVM_BUILD_VDEV_DIR
#define QVM_BUILD_VDEV_DIR ""
#endif

namespace qvm {
namespace {

// The loader whose dlopen() is running constructors right now. Plug-ins
// register from their constructors, which run inside dlopen on this thread.
thread_local VdevLoader* t_loading = nullptr;

// Members of struct qvm_factory that a plug-in built against ABI 1.0 has.
constexpr size_t kFactoryMinSize = offsetof(qvm_factory, pic) + sizeof(void*);

}  // namespace

VdevLoader::VdevLoader(std::vector<std::string> search_dirs)
    : dirs_(std::move(search_dirs)) {}

std::vector<std::string> VdevLoader::DefaultSearchDirs() {
  std::vector<std::string> dirs;
  if (const char* env = getenv("QVM_VDEV_PATH"))
    for (auto d : absl::StrSplit(env, ':', absl::SkipEmpty()))
      dirs.emplace_back(d);
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    std::string e(exe);
    auto slash = e.rfind('/');
    if (slash != std::string::npos)
      dirs.push_back(e.substr(0, slash) + "/../lib/qvm");
  }
  if (QVM_BUILD_VDEV_DIR[0]) dirs.push_back(QVM_BUILD_VDEV_DIR);
  dirs.push_back("");  // the dynamic loader's own search path
  return dirs;
}

void VdevLoader::accept(const qvm_factory* f) {
  if (f == nullptr) {
    pending_error_ = "registered a null factory";
    return;
  }
  pending_.push_back(f);
}

std::string VdevLoader::origin(const std::string& type) const {
  auto it = origins_.find(type);
  return it == origins_.end() ? "" : it->second;
}

absl::StatusOr<const qvm_factory*> VdevLoader::get(const std::string& type) {
  auto it = factories_.find(type);
  if (it != factories_.end()) return it->second;
  for (char c : type)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
          c == '.'))
      return absl::NotFoundError(absl::StrCat("bad vdev type `", type, "`"));
  std::string file = "vdev-" + type + ".so";
  std::string tried;
  for (const auto& d : dirs_) {
    std::string path = d.empty() ? file : d + "/" + file;
    if (!d.empty() && access(path.c_str(), R_OK) != 0) {
      absl::StrAppend(&tried, tried.empty() ? "" : ", ", path);
      continue;
    }
    pending_.clear();
    pending_error_.clear();
    t_loading = this;
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    t_loading = nullptr;
    if (!h) {
      if (d.empty()) {
        absl::StrAppend(&tried, tried.empty() ? "" : ", ", "the loader path");
        continue;
      }
      return absl::FailedPreconditionError(
          absl::StrCat("cannot load ", path, ": ", dlerror()));
    }
    if (!pending_error_.empty())
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": ", pending_error_));
    const qvm_factory* found = nullptr;
    for (const qvm_factory* f : pending_) {
      if (f->abi_major != QVM_VDEV_ABI_MAJOR)
        return absl::FailedPreconditionError(absl::StrFormat(
            "%s: built for vdev ABI %u.%u, this qvm provides %u.%u", path,
            f->abi_major, f->abi_minor, QVM_VDEV_ABI_MAJOR,
            QVM_VDEV_ABI_MINOR));
      if (f->struct_size < kFactoryMinSize)
        return absl::FailedPreconditionError(absl::StrFormat(
            "%s: factory structure too small (%zu bytes)", path,
            f->struct_size));
      if (f->name == nullptr || f->control == nullptr)
        return absl::FailedPreconditionError(
            absl::StrCat(path, ": factory without a name or control callback"));
      if ((f->flags & QVM_VDEVF_PIC) && f->pic == nullptr)
        return absl::FailedPreconditionError(
            absl::StrCat(path, ": controller factory without pic operations"));
      if (f->state_size > (64u << 20))
        return absl::FailedPreconditionError(
            absl::StrCat(path, ": per-instance state size is absurd"));
      auto prev = origins_.find(f->name);
      if (prev != origins_.end())
        return absl::FailedPreconditionError(absl::StrCat(
            path, ": registers factory `", f->name, "`, already registered by ",
            prev->second));
      factories_[f->name] = f;
      origins_[f->name] = path;
      if (type == f->name) found = f;
    }
    if (!found)
      return absl::FailedPreconditionError(absl::StrCat(
          path, pending_.empty() ? ": registers no factory (no constructor calling "
                                   "qvm_register_factory)"
                                 : ": does not register a factory named `" + type + "`"));
    return found;
  }
  return absl::NotFoundError(
      absl::StrCat("no plug-in vdev-", type, ".so (looked in ", tried, ")"));
}

}  // namespace qvm

using qvm::BusStatus;

qvm_vdev::qvm_vdev(qvm::VdevHost* h, const qvm_factory* f, qvm::VdevSpec s,
                   std::string n)
    : host(h), factory(f), spec(std::move(s)), name(std::move(n)) {
  size_t sz = f->state_size ? f->state_size : 1;
  state = aligned_alloc(64, (sz + 63) / 64 * 64);
  if (state) memset(state, 0, (sz + 63) / 64 * 64);
}

qvm_vdev::~qvm_vdev() {
  qvm::CloseNotifiers(this);  // ABI 1.3 ioeventfds/irqfds (vmm/vdev_notify.cc)
  free(state);
}

int qvm_vdev::control(unsigned ctrl, int arg, const char* value) {
  std::lock_guard<std::mutex> g(mu);
  return factory->control(this, state, ctrl, arg, value);
}

absl::Status qvm_vdev::configure() {
  if (!state) return absl::ResourceExhaustedError("out of memory");
  configuring = true;
  int rc = control(QVM_CTRL_OPTIONS_START);
  if (rc < 0)
    return qvm::ConfigError(spec.where, absl::StrFormat(
        "vdev %s: initialization failed (%s)", spec.type, strerror(-rc)));
  for (const auto& o : spec.options) {
    int idx = -1;
    if (factory->options)
      for (int i = 0; factory->options[i]; i++)
        if (o.name == factory->options[i]) {
          idx = i;
          break;
        }
    if (idx < 0) {
      std::string valid = "loc, intr, name";
      if (factory->options)
        for (int i = 0; factory->options[i]; i++)
          absl::StrAppend(&valid, ", ", factory->options[i]);
      return qvm::ConfigError(
          o.where, absl::StrFormat("vdev %s: unknown option `%s` (valid: %s)",
                                   spec.type, o.name, valid));
    }
    rc = control(QVM_CTRL_OPTION, idx, o.value.c_str());
    if (rc < 0)
      return qvm::ConfigError(
          o.value_where,
          absl::StrFormat("vdev %s: bad value `%s` for option `%s`", spec.type,
                          o.value, o.name));
  }
  if ((factory->flags & QVM_VDEVF_NEEDS_LOC) && spec.locs.empty())
    return qvm::ConfigError(spec.where, absl::StrFormat(
        "vdev %s: needs a `loc`", spec.type));
  if ((factory->flags & QVM_VDEVF_NEEDS_INTR) && spec.intrs.empty())
    return qvm::ConfigError(spec.where, absl::StrFormat(
        "vdev %s: needs an `intr`", spec.type));
  rc = control(QVM_CTRL_OPTIONS_END);
  configuring = false;
  if (rc == -EEXIST)
    return qvm::ConfigError(spec.where, absl::StrFormat(
        "vdev %s: its region overlaps another device's", spec.type));
  if (rc < 0)
    return qvm::ConfigError(spec.where, absl::StrFormat(
        "vdev %s: configuration refused (%s)", spec.type, strerror(-rc)));
  return absl::OkStatus();
}

absl::Status qvm_vdev::resolve_interrupts() {
  intrs.clear();
  const auto& list = spec.intrs.empty() ? default_intrs : spec.intrs;
  for (const auto& is : list) {
    if (is.apic)
      return qvm::ConfigError(is.where, "`intr apic`: not supported yet");
    qvm_vdev* c = host->find_device(is.controller);
    std::string spec_str = absl::StrCat(is.controller, ":", is.line);
    if (c == nullptr || !c->is_pic())
      return qvm::ConfigError(is.where, absl::StrFormat(
          "vdev %s: no interrupt controller named `%s`", spec.type,
          is.controller));
    if (is.line >= c->pic_line_count())
      return qvm::ConfigError(is.where, absl::StrFormat(
          "vdev %s: `%s` has no line %u", spec.type, is.controller, is.line));
    intrs.push_back({c, is.line, spec_str});
  }
  intr_levels.assign(intrs.size(), 0);
  return absl::OkStatus();
}

static bool SizeAllowed(const qvm_factory* f, uint32_t size) {
  uint32_t bit = size == 1 ? QVM_ACCESS_1 : size == 2 ? QVM_ACCESS_2
               : size == 4 ? QVM_ACCESS_4 : size == 8 ? QVM_ACCESS_8 : 0;
  uint32_t allowed = f->access_sizes ? f->access_sizes : 0xf;
  return bit && (allowed & bit);
}

static BusStatus ToBus(int rc) {
  switch (rc) {
    case QVM_DONE: return BusStatus::Done;
    case QVM_RETRY: return BusStatus::Retry;
    case QVM_TERMINATE: return BusStatus::Terminate;
    default: return BusStatus::BusError;
  }
}

// A PCI host's region access that falls inside a BAR it mapped goes to the
// function that owns the BAR (region = BAR index), under that function's
// lock only.
bool qvm_vdev::pci_dispatch(const qvm::BusAccess& acc, uint8_t* data,
                            bool write, BusStatus* st) {
  if (acc.region >= regions.size() || regions[acc.region].space != QVM_SPACE_MEM)
    return false;
  qvm_vdev* fn = nullptr;
  unsigned bar = 0;
  uint64_t off = 0;
  {
    std::shared_lock<std::shared_mutex> g(pci_bars_mu);
    for (const auto& b : pci_bars)
      if (acc.addr >= b.base && acc.size <= b.size &&
          acc.addr - b.base <= b.size - acc.size) {
        fn = b.fn;
        bar = b.bar;
        off = acc.addr - b.base;
        break;
      }
  }
  if (!fn) return false;
  if (!SizeAllowed(fn->factory, acc.size) ||
      !(write ? fn->factory->write : fn->factory->read)) {
    *st = BusStatus::BusError;
    return true;
  }
  qvm_access a{QVM_SPACE_MEM, acc.size, off, bar, acc.vcpu};
  uint8_t copy[8];
  memcpy(copy, data, acc.size);
  std::lock_guard<std::mutex> g(fn->mu);
  *st = ToBus(write ? fn->factory->write(fn, fn->state, &a, copy)
                    : fn->factory->read(fn, fn->state, &a, data));
  return true;
}

BusStatus qvm_vdev::read(const qvm::BusAccess& acc, uint8_t* data) {
  if (pci_has_bars.load(std::memory_order_acquire)) {
    BusStatus st;
    if (pci_dispatch(acc, data, false, &st)) return st;
  }
  if (!factory->read || !SizeAllowed(factory, acc.size))
    return BusStatus::BusError;
  if (acc.region >= regions.size()) return BusStatus::BusError;
  qvm_access a{regions[acc.region].space, acc.size, acc.offset, acc.region,
               acc.vcpu};
  std::lock_guard<std::mutex> g(mu);
  return ToBus(factory->read(this, state, &a, data));
}

BusStatus qvm_vdev::write(const qvm::BusAccess& acc, const uint8_t* data) {
  if (pci_has_bars.load(std::memory_order_acquire)) {
    BusStatus st;
    uint8_t buf[8];
    memcpy(buf, data, acc.size <= 8 ? acc.size : 8);
    if (acc.size <= 8 && pci_dispatch(acc, buf, true, &st)) return st;
  }
  if (!factory->write || !SizeAllowed(factory, acc.size))
    return BusStatus::BusError;
  if (acc.region >= regions.size()) return BusStatus::BusError;
  qvm_access a{regions[acc.region].space, acc.size, acc.offset, acc.region,
               acc.vcpu};
  uint8_t copy[8];
  memcpy(copy, data, acc.size);
  std::lock_guard<std::mutex> g(mu);
  return ToBus(factory->write(this, state, &a, copy));
}

bool qvm_vdev::is_pic() const {
  return (factory->flags & QVM_VDEVF_PIC) && factory->pic;
}

int qvm_vdev::pic_set_line(unsigned line, int level) {
  if (!is_pic() || !factory->pic->set_line) return -EINVAL;
  std::lock_guard<std::mutex> g(mu);
  return factory->pic->set_line(this, state, line, level ? 1 : 0);
}

unsigned qvm_vdev::pic_line_count() {
  if (!is_pic() || !factory->pic->line_count) return 0;
  std::lock_guard<std::mutex> g(mu);
  return factory->pic->line_count(this, state);
}

void qvm_vdev::pic_eoi(unsigned vector) {
  if (!is_pic() || !factory->pic->eoi) return;
  std::lock_guard<std::mutex> g(mu);
  factory->pic->eoi(this, state, vector);
}

int qvm_vdev::pic_inta() {
  if (!is_pic() || !factory->pic->inta) return -1;
  std::lock_guard<std::mutex> g(mu);
  return factory->pic->inta(this, state);
}

// ---------------------------------------------------------------------------
// The C ABI.

extern "C" {

__attribute__((visibility("default"))) void qvm_register_factory(
    const struct qvm_factory* factory) {
  if (qvm::t_loading) qvm::t_loading->accept(factory);
}

__attribute__((visibility("default"))) const char* qvm_dev_name(qvm_vdev_t* dev) {
  return dev ? dev->name.c_str() : "";
}

__attribute__((visibility("default"))) void qvm_dev_lock(qvm_vdev_t* dev) {
  if (dev) dev->mu.lock();
}
__attribute__((visibility("default"))) void qvm_dev_unlock(qvm_vdev_t* dev) {
  if (dev) dev->mu.unlock();
}

__attribute__((visibility("default"))) unsigned qvm_loc_count(qvm_vdev_t* dev) {
  return dev ? unsigned(dev->spec.locs.size()) : 0;
}

__attribute__((visibility("default"))) int qvm_loc_get(qvm_vdev_t* dev, unsigned i,
                                                       uint32_t* space, uint64_t* base) {
  if (!dev || i >= dev->spec.locs.size()) return -1;
  const auto& l = dev->spec.locs[i];
  if (space)
    *space = l.space == qvm::Space::Io ? QVM_SPACE_IO
           : l.space == qvm::Space::Pci ? QVM_SPACE_PCI_CFG : QVM_SPACE_MEM;
  if (base) *base = l.addr;
  return 0;
}

__attribute__((visibility("default"))) int qvm_region_add(qvm_vdev_t* dev, uint32_t space,
                                                          uint64_t base, uint64_t size) {
  if (!dev) return -EINVAL;
  if (dev->regions.size() >= 64) return -ENOSPC;
  qvm::Bus* bus = dev->host->bus(space);
  if (!bus) return -EINVAL;
  if (dev->host->guest_running()) return -EBUSY;
  dev->regions.push_back({space, base, size});
  uint32_t idx = uint32_t(dev->regions.size() - 1);
  absl::Status st = bus->insert(base, size, dev, idx);
  if (!st.ok()) {
    dev->regions.pop_back();
    qvm::Log(qvm::LogLevel::Error, "vdev %s: %s", dev->name.c_str(),
             std::string(st.message()).c_str());
    return absl::IsAlreadyExists(st) ? -EEXIST : -EINVAL;
  }
  return int(idx);
}

__attribute__((visibility("default"))) unsigned qvm_intr_count(qvm_vdev_t* dev) {
  if (!dev) return 0;
  return unsigned(dev->spec.intrs.size());
}

__attribute__((visibility("default"))) int qvm_intr_default(qvm_vdev_t* dev,
                                                            const char* controller,
                                                            unsigned line) {
  if (!dev || !controller) return -EINVAL;
  if (!dev->spec.intrs.empty()) return 0;  // the config overrides defaults
  if (dev->default_intrs.size() >= 16) return -ENOSPC;
  qvm::IntrSpec is;
  is.controller = controller;
  is.line = line;
  is.where = dev->spec.where;
  dev->default_intrs.push_back(is);
  return 0;
}

__attribute__((visibility("default"))) int qvm_intr_set(qvm_vdev_t* dev, unsigned i,
                                                         int level) {
  if (!dev || i >= dev->intrs.size()) return -EINVAL;
  dev->intr_levels[i] = level ? 1 : 0;
  return dev->intrs[i].controller->pic_set_line(dev->intrs[i].line, level);
}

__attribute__((visibility("default"))) int qvm_intr_pulse(qvm_vdev_t* dev, unsigned i) {
  int rc = qvm_intr_set(dev, i, 1);
  if (rc < 0) return rc;
  return qvm_intr_set(dev, i, 0);
}

__attribute__((visibility("default"))) int qvm_irq_set_named(qvm_vdev_t* dev,
                                                             const char* controller,
                                                             unsigned line, int level) {
  if (!dev || !controller) return -EINVAL;
  qvm_vdev* c = dev->host->find_device(controller);
  if (!c || !c->is_pic()) return -ENOENT;
  if (c == dev) return -EDEADLK;
  return c->pic_set_line(line, level);
}

__attribute__((visibility("default"))) int qvm_msi(qvm_vdev_t* dev, uint64_t address,
                                                   uint32_t data) {
  if (!dev) return -EINVAL;
  return dev->host->signal_msi(address, data);
}

__attribute__((visibility("default"))) int qvm_msi_route(qvm_vdev_t* dev, unsigned gsi,
                                                         uint64_t address, uint32_t data,
                                                         int masked) {
  if (!dev) return -EINVAL;
  return dev->host->set_msi_route(gsi, address, data, masked != 0);
}

__attribute__((visibility("default"))) int qvm_cpu_extint(qvm_vdev_t* dev, int level) {
  if (!dev || !dev->is_pic()) return -EINVAL;
  return dev->host->cpu_extint(dev, level != 0);
}

__attribute__((visibility("default"))) uint64_t qvm_time_ns(void) {
  return qvm::MonotonicNs();
}

struct qvm_timer {
  qvm_vdev_t* dev;
  qvm_timer_fn fn;
  void* arg;
  qvm::EventLoop::Timer* t;
};

__attribute__((visibility("default"))) qvm_timer_t* qvm_timer_create(qvm_vdev_t* dev,
                                                                     qvm_timer_fn fn,
                                                                     void* arg) {
  if (!dev || !fn) return nullptr;
  auto* tm = new (std::nothrow) qvm_timer{dev, fn, arg, nullptr};
  if (!tm) return nullptr;
  tm->t = dev->host->events().timer_create([tm] {
    std::lock_guard<std::mutex> g(tm->dev->mu);
    tm->fn(tm->dev, tm->dev->state, tm->arg);
  });
  return tm;
}

__attribute__((visibility("default"))) int qvm_timer_arm(qvm_timer_t* t, uint64_t when_ns,
                                                         uint64_t period_ns) {
  if (!t) return -EINVAL;
  t->dev->host->events().timer_arm(t->t, when_ns, period_ns);
  return 0;
}

__attribute__((visibility("default"))) int qvm_timer_arm_rel(qvm_timer_t* t,
                                                             uint64_t delay_ns,
                                                             uint64_t period_ns) {
  if (!t) return -EINVAL;
  uint64_t now = qvm::MonotonicNs(), when;
  if (__builtin_add_overflow(now, delay_ns, &when)) when = UINT64_MAX;
  t->dev->host->events().timer_arm(t->t, when, period_ns);
  return 0;
}

__attribute__((visibility("default"))) int qvm_timer_cancel(qvm_timer_t* t) {
  if (!t) return -EINVAL;
  t->dev->host->events().timer_cancel(t->t);
  return 0;
}

__attribute__((visibility("default"))) void qvm_timer_destroy(qvm_timer_t* t) {
  if (!t) return;
  t->dev->host->events().timer_destroy(t->t);
  delete t;
}

__attribute__((visibility("default"))) int qvm_gmem_read(qvm_vdev_t* dev, uint64_t gpa,
                                                         void* buf, size_t len) {
  if (!dev || (!buf && len)) return -EINVAL;
  return dev->host->memory().read(gpa, buf, len) ? 0 : -EFAULT;
}

__attribute__((visibility("default"))) int qvm_gmem_write(qvm_vdev_t* dev, uint64_t gpa,
                                                          const void* buf, size_t len) {
  if (!dev || (!buf && len)) return -EINVAL;
  return dev->host->memory().write(gpa, buf, len) ? 0 : -EFAULT;
}

__attribute__((visibility("default"))) void* qvm_gmem_map(qvm_vdev_t* dev, uint64_t gpa,
                                                          size_t len, int writable) {
  if (!dev) return nullptr;
  auto s = dev->host->memory().map(gpa, len, writable != 0);
  return s.empty() ? nullptr : s.data();
}

__attribute__((visibility("default"))) void qvm_gmem_unmap(qvm_vdev_t*, void*, size_t) {}

__attribute__((visibility("default"))) int qvm_hostdev_open(qvm_vdev_t* dev,
                                                            const char* spec,
                                                            int for_write) {
  if (!dev || !spec) return -1;
  int hooked = dev->host->open_hostdev(dev, spec, for_write);
  if (hooked != -ENOSYS) return hooked < 0 ? -1 : hooked;
  std::string s(spec);
  if (s == ">-" || (s == "-" && for_write)) return dup(1);
  // stdin is shared with the user's terminal: never change its flags.
  if (s == "<-" || (s == "-" && !for_write)) return dup(0);
  if (!s.empty() && (s[0] == '>' || s[0] == '<')) s = s.substr(1);
  if (s.empty()) return -1;
  int flags = for_write ? (O_WRONLY | O_CREAT | O_APPEND) : (O_RDONLY | O_NONBLOCK);
  return open(s.c_str(), flags | O_CLOEXEC | O_NOCTTY, 0644);
}

__attribute__((visibility("default"))) int qvm_fd_watch(qvm_vdev_t* dev, int fd,
                                                        qvm_timer_fn fn, void* arg) {
  if (!dev || !fn || fd < 0) return -EINVAL;
  absl::Status st = dev->host->events().watch_fd(fd, [dev, fn, arg] {
    std::lock_guard<std::mutex> g(dev->mu);
    fn(dev, dev->state, arg);
  });
  return st.ok() ? 0 : -EINVAL;
}

__attribute__((visibility("default"))) int qvm_fd_unwatch(qvm_vdev_t* dev, int fd) {
  if (!dev || fd < 0) return -EINVAL;
  dev->host->events().unwatch_fd(fd);
  return 0;
}

__attribute__((visibility("default"))) void qvm_power(qvm_vdev_t* dev, int what) {
  if (dev) dev->host->request_power(what);
}

static bool AcpiIdOk(const char* id) {
  if (!id) return false;
  size_t n = strlen(id);
  if (n < 4 || n > 8) return false;
  for (size_t i = 0; i < n; i++)
    if (!isupper(static_cast<unsigned char>(id[i])) &&
        !isdigit(static_cast<unsigned char>(id[i])))
      return false;
  return true;
}

__attribute__((visibility("default"))) int qvm_acpi_device(qvm_vdev_t* dev, const char* hid,
                                                           const char* cid) {
  if (!dev) return -EINVAL;
  if (!dev->acpi_open) return -ENOTSUP;
  if (!AcpiIdOk(hid) || (cid && !AcpiIdOk(cid))) return -EINVAL;
  dev->acpi_hid = hid;
  dev->acpi_cid = cid ? cid : "";
  return 0;
}

/* ---- ABI 1.2 ---- */

namespace {

bool FdtNameOk(const char* n, size_t max) {
  if (!n) return false;
  size_t len = strlen(n);
  if (len == 0 || len > max) return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = static_cast<unsigned char>(n[i]);
    if (!isalnum(c) && !strchr(",._+-#?", c)) return false;
  }
  return true;
}

int FdtAddProp(qvm_vdev_t* dev, const char* prop, std::string bytes) {
  if (!dev) return -EINVAL;
  if (!dev->fdt_open) return -ENOTSUP;
  if (dev->fdt_name.empty() || !FdtNameOk(prop, 31)) return -EINVAL;
  size_t add = bytes.size() + strlen(prop);
  if (dev->fdt_bytes + add > 65536) return -ENOSPC;
  for (auto& [n, v] : dev->fdt_props)
    if (n == prop) {  // a repeated property replaces the earlier one
      dev->fdt_bytes -= v.size();
      dev->fdt_bytes += bytes.size();
      v = std::move(bytes);
      return 0;
    }
  dev->fdt_bytes += add;
  dev->fdt_props.emplace_back(prop, std::move(bytes));
  return 0;
}

std::string Cells(const uint32_t* c, unsigned n) {
  std::string out;
  for (unsigned i = 0; i < n; i++) {
    uint32_t v = c[i];
    char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    out.append(b, 4);
  }
  return out;
}

}  // namespace

__attribute__((visibility("default"))) int qvm_fdt_node(qvm_vdev_t* dev, const char* name,
                                                        const char* compatible) {
  if (!dev) return -EINVAL;
  if (!dev->fdt_open) return -ENOTSUP;
  if (!dev->fdt_name.empty() || !FdtNameOk(name, 31) || !compatible) return -EINVAL;
  size_t clen = strlen(compatible);
  if (clen == 0 || clen > 1024) return -EINVAL;
  for (size_t i = 0; i < clen; i++)
    if (!isprint(static_cast<unsigned char>(compatible[i]))) return -EINVAL;
  dev->fdt_name = name;
  dev->fdt_compatible = compatible;
  return 0;
}

__attribute__((visibility("default"))) int qvm_fdt_prop_u32(qvm_vdev_t* dev, const char* prop,
                                                            uint32_t value) {
  return FdtAddProp(dev, prop, Cells(&value, 1));
}

__attribute__((visibility("default"))) int qvm_fdt_prop_cells(qvm_vdev_t* dev, const char* prop,
                                                              const uint32_t* cells,
                                                              unsigned n) {
  if ((!cells && n) || n > 4096) return -EINVAL;
  return FdtAddProp(dev, prop, Cells(cells, n));
}

__attribute__((visibility("default"))) int qvm_fdt_prop_string(qvm_vdev_t* dev,
                                                               const char* prop,
                                                               const char* value) {
  if (!value || strlen(value) > 4096) return -EINVAL;
  return FdtAddProp(dev, prop, std::string(value, strlen(value) + 1));
}

__attribute__((visibility("default"))) int qvm_fdt_prop_bytes(qvm_vdev_t* dev, const char* prop,
                                                              const void* data, size_t len) {
  if ((!data && len) || len > 65536) return -EINVAL;
  return FdtAddProp(dev, prop, std::string(static_cast<const char*>(data), len));
}

__attribute__((visibility("default"))) uint32_t qvm_fdt_phandle(qvm_vdev_t* dev,
                                                                const char* name) {
  if (!dev) return 0;
  if (!name) return dev->fdt_phandle;
  qvm_vdev_t* other = dev->host->find_device(name);
  return other ? other->fdt_phandle : 0;
}

__attribute__((visibility("default"))) int qvm_irqchip_accel(qvm_vdev_t* dev, unsigned kind,
                                                             unsigned nirqs) {
  if (!dev) return -EINVAL;
  if (kind != QVM_IRQCHIP_GICV2 && kind != QVM_IRQCHIP_GICV3) return -EINVAL;
  if (nirqs < 64 || nirqs > 1024 || nirqs % 32) return -EINVAL;
  if (dev->regions.size() < 2) return -EINVAL;
  if (!dev->host->irqchip_supported(kind)) return -ENOTSUP;
  if (dev->irqchip_kind) return -EEXIST;  // (a second one per VM: the machine refuses it)
  for (qvm_vdev* o : dev->host->all_devices())
    if (o != dev && o->irqchip_user) return -EEXIST;
  dev->irqchip_kind = kind;
  dev->irqchip_nirqs = nirqs;
  return 0;
}

__attribute__((visibility("default"))) int qvm_irqchip_line(qvm_vdev_t* dev, unsigned intid,
                                                            int level) {
  if (!dev) return -EINVAL;
  if (!dev->irqchip_kind || dev->irqchip_user) return -ENOTSUP;
  if (intid < 32 || intid >= dev->irqchip_nirqs) return -EINVAL;
  return dev->host->irqchip_line(intid, level != 0);
}

// ABI 1.3: an interrupt controller emulated by the device itself.
__attribute__((visibility("default"))) int qvm_irqchip_user(qvm_vdev_t* dev, unsigned kind,
                                                            qvm_vcpu_outputs_fn outputs) {
  if (!dev) return -EINVAL;
  if (kind != QVM_IRQCHIP_GICV2 && kind != QVM_IRQCHIP_GICV3) return -EINVAL;
  if (dev->regions.size() < 2) return -EINVAL;
  if (dev->host->guest_running()) return -EBUSY;
  if (!dev->host->user_irqchip_supported(kind)) return -ENOTSUP;
  if (dev->irqchip_kind) return -EEXIST;
  for (qvm_vdev* o : dev->host->all_devices())
    if (o != dev && o->irqchip_kind) return -EEXIST;
  dev->irqchip_kind = kind;
  dev->irqchip_user = true;
  dev->vcpu_outputs_fn = outputs;
  return 0;
}

__attribute__((visibility("default"))) int qvm_vcpu_irq(qvm_vdev_t* dev, unsigned vcpu,
                                                        unsigned input, int level) {
  if (!dev) return -EINVAL;
  if (!dev->irqchip_user) return -EPERM;
  if (input != QVM_CPU_IRQ && input != QVM_CPU_FIQ) return -EINVAL;
  return dev->host->vcpu_irq(vcpu, input, level != 0);
}

/* ---- ABI 1.2: PCI ---- */

namespace {

bool PowerOf2(uint64_t v) { return v && !(v & (v - 1)); }

// Checks a function's description; copies it (and its capabilities) out.
int PciCheck(const qvm_pci_function* f, qvm_vdev::PciFn* out) {
  constexpr size_t kMin = offsetof(struct qvm_pci_function, caps_len) + sizeof(size_t);
  if (!f || f->struct_size < kMin) return -EINVAL;
  memcpy(&out->decl, f, std::min(f->struct_size, sizeof out->decl));
  out->decl.struct_size = sizeof out->decl;
  const qvm_pci_function& d = out->decl;
  if (d.vendor_id == 0xffff || d.intx_pin > 4) return -EINVAL;
  for (unsigned i = 0; i < 6; i++) {
    if (!d.bar_size[i]) continue;
    if (!PowerOf2(d.bar_size[i]) || d.bar_size[i] < 16 || d.bar_size[i] > (1ull << 30))
      return -EINVAL;
    if (d.bar_flags[i] & ~(QVM_PCI_BAR_MEM64 | QVM_PCI_BAR_PREFETCH)) return -EINVAL;
    if (d.bar_flags[i] & QVM_PCI_BAR_MEM64) {
      if (i == 5 || d.bar_size[i + 1]) return -EINVAL;
      i++;
    }
  }
  for (unsigned i = 1; i < 6; i++)  // the upper half of a 64-bit BAR is no BAR
    if ((d.bar_flags[i - 1] & QVM_PCI_BAR_MEM64) && d.bar_size[i - 1] && d.bar_flags[i])
      return -EINVAL;
  if (d.msix_vectors) {
    if (d.msix_vectors > 2048 || d.msix_bar > 5 || !d.bar_size[d.msix_bar]) return -EINVAL;
    uint64_t bs = d.bar_size[d.msix_bar];
    uint64_t tlen = uint64_t(d.msix_vectors) * 16, plen = (uint64_t(d.msix_vectors) + 63) / 64 * 8;
    if ((d.msix_table_offset | d.msix_pba_offset) & 7) return -EINVAL;
    if (d.msix_table_offset > bs || tlen > bs - d.msix_table_offset) return -EINVAL;
    if (d.msix_pba_offset > bs || plen > bs - d.msix_pba_offset) return -EINVAL;
  }
  if (d.caps_len) {
    if (!d.caps || d.caps_len > 180) return -EINVAL;
    size_t at = 0, room = 0;
    while (at < d.caps_len) {
      if (d.caps_len - at < 3) return -EINVAL;
      uint8_t len = d.caps[at + 2];
      if (d.caps[at] != 0x09 || len < 3 || len > d.caps_len - at) return -EINVAL;
      room += (len + 3u) & ~3u;
      at += len;
    }
    if (room > 180) return -EINVAL;
    out->caps.assign(d.caps, d.caps + d.caps_len);
  }
  out->decl.caps = out->caps.empty() ? nullptr : out->caps.data();
  return 0;
}

}  // namespace

__attribute__((visibility("default"))) int qvm_pci_declare(qvm_vdev_t* dev,
                                                            const struct qvm_pci_function* f) {
  if (!dev || !(dev->factory->flags & QVM_VDEVF_SPACE_PCI)) return -EINVAL;
  if (dev->pci_fn) return -EBUSY;
  if (dev->host->guest_running()) return -EBUSY;
  auto fn = std::make_unique<qvm_vdev::PciFn>();
  int rc = PciCheck(f, fn.get());
  if (rc < 0) return rc;
  std::vector<unsigned> taken;
  for (qvm_vdev* o : dev->host->all_devices())
    if (o != dev && o->pci_fn) taken.push_back(o->pci_fn->addr);
  auto is_taken = [&](unsigned a) {
    return std::find(taken.begin(), taken.end(), a) != taken.end();
  };
  bool placed = false;
  for (const auto& l : dev->spec.locs)
    if (l.space == qvm::Space::Pci && !l.pci_by_id) {
      fn->addr = (unsigned(l.bus) << 8) | (unsigned(l.dev) << 3) | l.fn;
      if (fn->addr == 0 || is_taken(fn->addr)) return -EEXIST;  // 00:00.0: host bridge
      placed = true;
      break;
    }
  if (!placed) {
    for (unsigned d = 1; d < 32 && !placed; d++) {
      bool used = false;
      for (unsigned a : taken)
        if ((a >> 8) == 0 && ((a >> 3) & 31) == d) used = true;
      if (!used) {
        fn->addr = d << 3;
        placed = true;
      }
    }
    if (!placed) return -ENOSPC;
  }
  dev->pci_fn = std::move(fn);
  return int(dev->pci_fn->addr);
}

__attribute__((visibility("default"))) uint32_t qvm_pci_state(qvm_vdev_t* dev) {
  return dev ? dev->pci_state.load(std::memory_order_acquire) : 0;
}

__attribute__((visibility("default"))) qvm_vdev_t* qvm_pci_enum(qvm_vdev_t* host, unsigned i,
                                                                struct qvm_pci_function* out,
                                                                unsigned* addr) {
  if (!host) return nullptr;
  unsigned n = 0;
  for (qvm_vdev* o : host->host->all_devices()) {
    if (!o->pci_fn) continue;
    if (n++ != i) continue;
    if (out && out->struct_size >= sizeof(size_t)) {
      size_t sz = std::min(out->struct_size, sizeof(struct qvm_pci_function));
      size_t keep = out->struct_size;
      memcpy(out, &o->pci_fn->decl, sz);
      out->struct_size = keep;
    }
    if (addr) *addr = o->pci_fn->addr;
    return o;
  }
  return nullptr;
}

__attribute__((visibility("default"))) int qvm_pci_bar_map(qvm_vdev_t* host, qvm_vdev_t* fn,
                                                           unsigned bar, uint64_t base,
                                                           uint64_t size) {
  if (!host || !fn || !fn->pci_fn || bar > 5 || fn == host) return -EINVAL;
  if (size) {
    bool inside = false;
    for (const auto& r : host->regions)
      if (r.space == QVM_SPACE_MEM && base >= r.base && size <= r.size &&
          base - r.base <= r.size - size)
        inside = true;
    if (!inside) return -EINVAL;
  }
  std::unique_lock<std::shared_mutex> g(host->pci_bars_mu);
  auto& v = host->pci_bars;
  v.erase(std::remove_if(v.begin(), v.end(),
                         [&](const qvm_vdev::PciBar& b) { return b.fn == fn && b.bar == bar; }),
          v.end());
  if (size) v.push_back({base, size, fn, bar});
  host->pci_has_bars.store(!v.empty(), std::memory_order_release);
  g.unlock();
  qvm::MoveBarNotifiers(fn, bar, base, size);  // ABI 1.3: ioeventfds follow the BAR
  return 0;
}

__attribute__((visibility("default"))) int qvm_pci_set_state(qvm_vdev_t* host, qvm_vdev_t* fn,
                                                             uint32_t state) {
  if (!host || !fn || !fn->pci_fn) return -EINVAL;
  fn->pci_state.store(state, std::memory_order_release);
  return 0;
}

__attribute__((visibility("default"))) const char* qvm_system_name(qvm_vdev_t* dev) {
  return dev ? dev->host->system_name().c_str() : "";
}

__attribute__((visibility("default"))) void qvm_exit_code(qvm_vdev_t* dev, int code) {
  if (!dev) return;
  dev->host->request_exit(code >= qvm::kExitVdevFirst && code <= qvm::kExitVdevLast
                             ? code : qvm::kExitVdevError);
}

// ABI 1.2: any process exit status, for test devices (debug-exit).
__attribute__((visibility("default"))) void qvm_exit_status(qvm_vdev_t* dev, int code) {
  if (!dev) return;
  dev->host->request_exit(code >= 0 && code <= 255 ? code : qvm::kExitVdevError);
}

__attribute__((visibility("default"))) void qvm_log(qvm_vdev_t* dev, int level,
                                                    const char* fmt, ...) {
  if (!dev || !fmt) return;
  if (level < QVM_LOG_FATAL) level = QVM_LOG_FATAL;
  if (level > QVM_LOG_VERBOSE) level = QVM_LOG_VERBOSE;
  auto lvl = static_cast<qvm::LogLevel>(level);
  if (!qvm::LogEnabled(lvl)) return;
  uint64_t suppressed = 0;
  if (!dev->log_limit.allow(&suppressed)) return;
  char buf[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (suppressed)
    qvm::Log(lvl, "%s: (%llu messages suppressed)", dev->name.c_str(),
             (unsigned long long)suppressed);
  qvm::Log(lvl, "%s: %s", dev->name.c_str(), buf);
}

__attribute__((visibility("default"))) int qvm_devctl_reply(qvm_vdev_t* dev,
                                                            const void* data,
                                                            size_t len) {
  if (!dev || (!data && len)) return -EINVAL;
  std::string* out = dev->devctl_out.load();
  if (!out) return -EINVAL;
  if (len > 65512 || out->size() + len > 65512) return -ENOSPC;
  out->append(static_cast<const char*>(data), len);
  return 0;
}

// ABI 1.3: what fw-cfg-style devices tell the guest about the VM.
__attribute__((visibility("default"))) unsigned qvm_vcpu_count(qvm_vdev_t* dev) {
  if (!dev) return 1;
  const qvm::Config* c = dev->host->config();
  return c && !c->cpus.empty() ? unsigned(c->cpus.size()) : 1u;
}

__attribute__((visibility("default"))) int qvm_ram_region(qvm_vdev_t* dev, unsigned i,
                                                          uint64_t* base, uint64_t* size) {
  if (!dev) return -1;
  std::vector<std::pair<uint64_t, uint64_t>> ram;
  for (const auto& r : dev->host->memory().regions())
    if (!r.readonly) ram.emplace_back(r.gpa, r.size);
  std::sort(ram.begin(), ram.end());
  if (i >= ram.size()) return -1;
  if (base) *base = ram[i].first;
  if (size) *size = ram[i].second;
  return 0;
}

__attribute__((visibility("default"))) const char* qvm_cmdline(qvm_vdev_t* dev) {
  if (!dev) return "";
  const qvm::Config* c = dev->host->config();
  return c && c->cmdline ? c->cmdline->c_str() : "";
}

}  // extern "C"
