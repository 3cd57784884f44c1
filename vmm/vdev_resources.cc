// Regions, interrupt lines and MSIs, timers, guest memory and watched fds:
// what a device uses to appear on the buses and talk to the guest.
#include <cerrno>
#include <cstring>
#include <new>

#include "vmm/vdev_host.h"

QVM_EXPORT int qvm_region_add(qvm_vdev_t* dev, uint32_t space,
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

QVM_EXPORT unsigned qvm_intr_count(qvm_vdev_t* dev) {
  if (!dev) return 0;
  return unsigned(dev->spec.intrs.size());
}

QVM_EXPORT int qvm_intr_default(qvm_vdev_t* dev,
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

QVM_EXPORT int qvm_intr_line(qvm_vdev_t* dev, unsigned i, unsigned* line) {
  if (!dev || !line || i >= dev->intrs.size()) return -EINVAL;
  *line = dev->intrs[i].line;
  return 0;
}

QVM_EXPORT int qvm_intr_set(qvm_vdev_t* dev, unsigned i,
                                                         int level) {
  if (!dev || i >= dev->intrs.size()) return -EINVAL;
  dev->intr_levels[i] = level ? 1 : 0;
  return dev->intrs[i].controller->pic_set_line(dev->intrs[i].line, level);
}

QVM_EXPORT int qvm_intr_pulse(qvm_vdev_t* dev, unsigned i) {
  int rc = qvm_intr_set(dev, i, 1);
  if (rc < 0) return rc;
  return qvm_intr_set(dev, i, 0);
}

QVM_EXPORT int qvm_irq_set_named(qvm_vdev_t* dev,
                                                             const char* controller,
                                                             unsigned line, int level) {
  if (!dev || !controller) return -EINVAL;
  qvm_vdev* c = dev->host->find_controller(controller);
  if (!c || !c->is_pic()) return -ENOENT;
  if (c == dev) return -EDEADLK;
  return c->pic_set_line(line, level);
}

QVM_EXPORT int qvm_msi(qvm_vdev_t* dev, uint64_t address,
                                                   uint32_t data) {
  if (!dev) return -EINVAL;
  return dev->host->signal_msi(address, data);
}

QVM_EXPORT int qvm_msi_route(qvm_vdev_t* dev, unsigned gsi,
                                                         uint64_t address, uint32_t data,
                                                         int masked) {
  if (!dev) return -EINVAL;
  return dev->host->set_msi_route(gsi, address, data, masked != 0);
}

QVM_EXPORT uint64_t qvm_time_ns(void) {
  return qvm::MonotonicNs();
}

struct qvm_timer {
  qvm_vdev_t* dev;
  qvm_timer_fn fn;
  void* arg;
  qvm::EventLoop::Timer* t;
};

QVM_EXPORT qvm_timer_t* qvm_timer_create(qvm_vdev_t* dev,
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

QVM_EXPORT int qvm_timer_arm(qvm_timer_t* t, uint64_t when_ns,
                                                         uint64_t period_ns) {
  if (!t) return -EINVAL;
  t->dev->host->events().timer_arm(t->t, when_ns, period_ns);
  return 0;
}

QVM_EXPORT int qvm_timer_arm_rel(qvm_timer_t* t,
                                                             uint64_t delay_ns,
                                                             uint64_t period_ns) {
  if (!t) return -EINVAL;
  uint64_t now = qvm::MonotonicNs(), when;
  if (__builtin_add_overflow(now, delay_ns, &when)) when = UINT64_MAX;
  t->dev->host->events().timer_arm(t->t, when, period_ns);
  return 0;
}

QVM_EXPORT int qvm_timer_cancel(qvm_timer_t* t) {
  if (!t) return -EINVAL;
  t->dev->host->events().timer_cancel(t->t);
  return 0;
}

QVM_EXPORT void qvm_timer_destroy(qvm_timer_t* t) {
  if (!t) return;
  t->dev->host->events().timer_destroy(t->t);
  delete t;
}

QVM_EXPORT int qvm_gmem_read(qvm_vdev_t* dev, uint64_t gpa,
                                                         void* buf, size_t len) {
  if (!dev || (!buf && len)) return -EINVAL;
  return dev->host->memory().read(gpa, buf, len) ? 0 : -EFAULT;
}

QVM_EXPORT int qvm_gmem_write(qvm_vdev_t* dev, uint64_t gpa,
                                                          const void* buf, size_t len) {
  if (!dev || (!buf && len)) return -EINVAL;
  return dev->host->memory().write(gpa, buf, len) ? 0 : -EFAULT;
}

QVM_EXPORT void* qvm_gmem_map(qvm_vdev_t* dev, uint64_t gpa,
                                                          size_t len, int writable) {
  if (!dev) return nullptr;
  auto s = dev->host->memory().map(gpa, len, writable != 0);
  return s.empty() ? nullptr : s.data();
}

QVM_EXPORT void qvm_gmem_unmap(qvm_vdev_t*, void*, size_t) {}

QVM_EXPORT int qvm_fd_watch(qvm_vdev_t* dev, int fd,
                                                        qvm_timer_fn fn, void* arg) {
  if (!dev || !fn || fd < 0) return -EINVAL;
  absl::Status st = dev->host->events().watch_fd(fd, [dev, fn, arg] {
    std::lock_guard<std::mutex> g(dev->mu);
    fn(dev, dev->state, arg);
  });
  return st.ok() ? 0 : -EINVAL;
}

QVM_EXPORT int qvm_fd_unwatch(qvm_vdev_t* dev, int fd) {
  if (!dev || fd < 0) return -EINVAL;
  dev->host->events().unwatch_fd(fd);
  return 0;
}
