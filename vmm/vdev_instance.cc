// The instance life cycle: creation, the control sequence (options,
// interrupts), register accesses from the buses, and the per-instance and
// per-VM services (name, lock, location, log, devctl replies, power, exit,
// what the VM looks like).
#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "vmm/exit_codes.h"
#include "vmm/vdev_host.h"

using qvm::BusStatus;

qvm_vdev::qvm_vdev(qvm::VdevHost* h, const qvm_factory* f, qvm::VdevSpec s,
                   std::string n)
    : host(h), factory(f), spec(std::move(s)), name(std::move(n)) {
  size_t sz = f->state_size ? f->state_size : 1;
  state = aligned_alloc(64, (sz + 63) / 64 * 64);
  if (state) memset(state, 0, (sz + 63) / 64 * 64);
  regions.reserve(64);  // qvm_region_alloc appends while vCPUs dispatch
}

qvm_vdev::~qvm_vdev() {
  qvm::CloseNotifiers(this);  // ioeventfds/irqfds (vmm/vdev_notify.cc)
  qvm::CloseMemMaps(this);    // host memory mappings (vmm/vdev_memmap.cc)
  free(state);
}

int qvm_vdev::control(unsigned ctrl, int arg, const char* value) {
  std::lock_guard<std::mutex> g(mu);
  return factory->control(this, state, ctrl, arg, value);
}

absl::Status qvm_vdev::configure() {
  if (!state) return absl::ResourceExhaustedError("out of memory");
  configuring = true;
  config_error.clear();
  // The device's own reason, when it logged one.
  auto why = [this] { return config_error.empty() ? std::string() : ": " + config_error; };
  // A bare `loc ADDR` is in the device's default space: I/O for a device
  // that may live there (QNX's port devices), else memory.
  for (auto& l : spec.locs) {
    if (!l.bare || !(factory->flags & QVM_VDEVF_SPACE_IO)) continue;
    if (l.addr > 0xffff)
      return qvm::ConfigError(l.where, absl::StrFormat(
          "vdev %s: `loc 0x%x` is in its default space, io:, which ends at 0xffff "
          "(write mem:0x%x for memory)", spec.type, l.addr, l.addr));
    l.space = qvm::Space::Io;
  }
  int rc = control(QVM_CTRL_OPTIONS_START);
  if (rc < 0)
    return qvm::ConfigError(spec.where, absl::StrFormat(
        "vdev %s: initialization failed (%s)", spec.type, strerror(-rc)));
  for (const auto& o : spec.options) {
    int idx = qvm::OptionIndex(factory, o.name);
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
    if (rc < 0 && (qvm::OptionFlags(factory, idx) & QVM_OPTF_NO_ARG))
      return qvm::ConfigError(
          o.where, absl::StrFormat("vdev %s: option `%s` refused", spec.type,
                                   o.name));
    if (rc < 0)
      return qvm::ConfigError(
          o.value_where,
          absl::StrFormat("vdev %s: bad value `%s` for option `%s`%s", spec.type,
                          o.value, o.name, why()));
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
        "vdev %s: configuration refused (%s)%s", spec.type, strerror(-rc), why()));
  return absl::OkStatus();
}

absl::Status qvm_vdev::resolve_interrupts() {
  intrs.clear();
  const auto& list = spec.intrs.empty() ? default_intrs : spec.intrs;
  for (const auto& is : list) {
    if (is.apic) {
      // QNX's `intr apic`: the controller's output goes to the CPUs' local
      // interrupt controllers, where an interrupt controller's output goes
      // anyway (MSIs, ExtINT); another device has no wire there.
      if (is_pic()) continue;
      return qvm::ConfigError(is.where, absl::StrFormat(
          "vdev %s: `intr apic`: only an interrupt controller is wired to the CPUs; "
          "give CONTROLLER:LINE", spec.type));
    }
    qvm_vdev* c = host->find_controller(is.controller);
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

namespace qvm {

bool SizeAllowed(const qvm_factory* f, uint32_t size) {
  uint32_t bit = size == 1 ? QVM_ACCESS_1 : size == 2 ? QVM_ACCESS_2
               : size == 4 ? QVM_ACCESS_4 : size == 8 ? QVM_ACCESS_8 : 0;
  uint32_t allowed = f->access_sizes ? f->access_sizes : 0xf;
  return bit && (allowed & bit);
}

BusStatus ToBus(int rc) {
  switch (rc) {
    case QVM_DONE: return BusStatus::Done;
    case QVM_RETRY: return BusStatus::Retry;
    case QVM_TERMINATE: return BusStatus::Terminate;
    default: return BusStatus::BusError;
  }
}
}  // namespace qvm

using qvm::SizeAllowed;
using qvm::ToBus;

BusStatus qvm_vdev::read(const qvm::BusAccess& acc, uint8_t* data) {
  if (pci.has_bars.load(std::memory_order_acquire)) {
    BusStatus st;
    if (pci_dispatch(acc, data, false, &st)) return st;
  }
  if (!factory->read || !SizeAllowed(factory, acc.size))
    return BusStatus::BusError;
  std::lock_guard<std::mutex> g(mu);  // regions grow under it (qvm_region_alloc)
  if (acc.region >= regions.size()) return BusStatus::BusError;
  qvm_access a{regions[acc.region].space, acc.size, acc.offset, acc.region,
               acc.vcpu};
  return ToBus(factory->read(this, state, &a, data));
}

BusStatus qvm_vdev::write(const qvm::BusAccess& acc, const uint8_t* data) {
  if (pci.has_bars.load(std::memory_order_acquire)) {
    BusStatus st;
    uint8_t buf[8];
    memcpy(buf, data, acc.size <= 8 ? acc.size : 8);
    if (acc.size <= 8 && pci_dispatch(acc, buf, true, &st)) return st;
  }
  if (!factory->write || !SizeAllowed(factory, acc.size))
    return BusStatus::BusError;
  std::lock_guard<std::mutex> g(mu);  // regions grow under it (qvm_region_alloc)
  if (acc.region >= regions.size()) return BusStatus::BusError;
  qvm_access a{regions[acc.region].space, acc.size, acc.offset, acc.region,
               acc.vcpu};
  uint8_t copy[8];
  memcpy(copy, data, acc.size);
  return ToBus(factory->write(this, state, &a, copy));
}

QVM_EXPORT const char* qvm_dev_name(qvm_vdev_t* dev) {
  return dev ? dev->name.c_str() : "";
}

QVM_EXPORT void qvm_dev_lock(qvm_vdev_t* dev) {
  if (dev) dev->mu.lock();
}
QVM_EXPORT void qvm_dev_unlock(qvm_vdev_t* dev) {
  if (dev) dev->mu.unlock();
}

QVM_EXPORT unsigned qvm_loc_count(qvm_vdev_t* dev) {
  return dev ? unsigned(dev->spec.locs.size()) : 0;
}

QVM_EXPORT int qvm_loc_get(qvm_vdev_t* dev, unsigned i,
                                                       uint32_t* space, uint64_t* base) {
  if (!dev || i >= dev->spec.locs.size()) return -1;
  const auto& l = dev->spec.locs[i];
  if (space)
    *space = l.space == qvm::Space::Io ? QVM_SPACE_IO
           : l.space == qvm::Space::Pci ? QVM_SPACE_PCI_CFG : QVM_SPACE_MEM;
  if (base) *base = l.addr;
  return 0;
}

QVM_EXPORT void qvm_power(qvm_vdev_t* dev, int what) {
  if (dev) dev->host->request_power(what);
}

QVM_EXPORT int qvm_guest_dump(qvm_vdev_t* dev, int then) {
  if (!dev) return -EINVAL;
  if (then != QVM_DUMP_CONTINUE && then != QVM_POWER_OFF && then != QVM_POWER_RESET &&
      then != QVM_POWER_WATCHDOG)
    return -EINVAL;
  return dev->host->request_dump(then);
}

QVM_EXPORT const char* qvm_system_name(qvm_vdev_t* dev) {
  return dev ? dev->host->system_name().c_str() : "";
}

QVM_EXPORT void qvm_exit_code(qvm_vdev_t* dev, int code) {
  if (!dev) return;
  dev->host->request_exit(code >= qvm::kExitVdevFirst && code <= qvm::kExitVdevLast
                             ? code : qvm::kExitVdevError);
}

// Any process exit status, for test devices (debug-exit).
QVM_EXPORT void qvm_exit_status(qvm_vdev_t* dev, int code) {
  if (!dev) return;
  dev->host->request_exit(code >= 0 && code <= 255 ? code : qvm::kExitVdevError);
}

QVM_EXPORT void qvm_log(qvm_vdev_t* dev, int level,
                                                    const char* fmt, ...) {
  if (!dev || !fmt) return;
  if (level < QVM_LOG_FATAL) level = QVM_LOG_FATAL;
  if (level > QVM_LOG_VERBOSE) level = QVM_LOG_VERBOSE;
  auto lvl = static_cast<qvm::LogLevel>(level);
  if (dev->configuring && level <= QVM_LOG_ERROR) {
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    dev->config_error = why;
  }
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

QVM_EXPORT int qvm_devctl_reply(qvm_vdev_t* dev,
                                                            const void* data,
                                                            size_t len) {
  if (!dev || (!data && len)) return -EINVAL;
  std::string* out = dev->devctl_out.load();
  if (!out) return -EINVAL;
  if (len > 65512 || out->size() + len > 65512) return -ENOSPC;
  out->append(static_cast<const char*>(data), len);
  return 0;
}

// What fw-cfg-style devices tell the guest about the VM.
QVM_EXPORT unsigned qvm_vcpu_count(qvm_vdev_t* dev) {
  if (!dev) return 1;
  const qvm::Config* c = dev->host->config();
  return c && !c->cpus.empty() ? unsigned(c->cpus.size()) : 1u;
}

QVM_EXPORT int qvm_ram_region(qvm_vdev_t* dev, unsigned i,
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

QVM_EXPORT const char* qvm_cmdline(qvm_vdev_t* dev) {
  if (!dev) return "";
  const qvm::Config* c = dev->host->config();
  return c && c->cmdline ? c->cmdline->c_str() : "";
}
