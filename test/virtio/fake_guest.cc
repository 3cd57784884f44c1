// Fake host for libvirtio unit tests: a guest RAM window and the handful of
// qvm_* services libvirtio calls, recording interrupts and logs.
#include "fake_guest.h"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

FakeGuest* FakeGuest::cur = nullptr;

struct qvm_timer {
  qvm_timer_fn fn;
  void* arg;
  bool armed;
};

FakeGuest::~FakeGuest() {
  for (auto* t : timers) delete t;
  cur = nullptr;
}

bool FakeGuest::watched(int fd) const {
  for (auto& w : watches)
    if (w.fd == fd) return true;
  return false;
}

int FakeGuest::pump(void* state) {
  int ran = 0;
  std::vector<qvm_timer*> due;
  for (auto* t : timers)
    if (t->armed) due.push_back(t);
  for (auto* t : due) {
    t->armed = false;
    timer_fires++;
    t->fn(nullptr, state, t->arg);
    ran++;
  }
  std::vector<Watch> ws = watches;  // callbacks may watch/unwatch
  for (auto& w : ws) {
    if (!watched(w.fd)) continue;
    pollfd p{w.fd, POLLIN, 0};
    if (poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
      w.fn(nullptr, state, w.arg);
      ran++;
    }
  }
  return ran;
}

std::vector<const qvm_factory*>& FakeFactories() {
  static std::vector<const qvm_factory*> f;
  return f;
}

FakeGuest::Note* FakeGuest::note(int fd) {
  for (auto& n : notes)
    if (n.fd == fd) return &n;
  return nullptr;
}

bool FakeGuest::inside(uint64_t gpa, uint64_t len) const {
  if (len > ram.size()) return false;
  if (gpa < kBase) return false;
  return gpa - kBase <= ram.size() - len;
}

extern "C" {

int qvm_gmem_read(qvm_vdev_t*, uint64_t gpa, void* buf, size_t len) {
  FakeGuest* g = FakeGuest::cur;
  if (!g->inside(gpa, len)) { g->bad_accesses++; return -EFAULT; }
  memcpy(buf, g->ram.data() + (gpa - FakeGuest::kBase), len);
  return 0;
}
int qvm_gmem_write(qvm_vdev_t*, uint64_t gpa, const void* buf, size_t len) {
  FakeGuest* g = FakeGuest::cur;
  if (!g->inside(gpa, len)) { g->bad_accesses++; return -EFAULT; }
  memcpy(g->ram.data() + (gpa - FakeGuest::kBase), buf, len);
  return 0;
}
void* qvm_gmem_map(qvm_vdev_t*, uint64_t gpa, size_t len, int) {
  FakeGuest* g = FakeGuest::cur;
  if (!g->inside(gpa, len)) { g->bad_accesses++; return nullptr; }
  return g->ram.data() + (gpa - FakeGuest::kBase);
}
void qvm_log(qvm_vdev_t*, int, const char* fmt, ...) {
  char b[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  FakeGuest::cur->logs.push_back(b);
}
int qvm_msi(qvm_vdev_t*, uint64_t address, uint32_t data) {
  FakeGuest::cur->msis.push_back({address, data});
  return 0;
}
int qvm_intr_set(qvm_vdev_t*, unsigned, int level) {
  FakeGuest::cur->intx = level;
  if (level) FakeGuest::cur->intx_raises++;
  return 0;
}
uint32_t qvm_pci_state(qvm_vdev_t*) { return FakeGuest::cur->pci_state; }
// `mmio_base` set: one `loc mem:` and one `intr` (virtio-mmio); else PCI.
int qvm_loc_get(qvm_vdev_t*, unsigned i, uint32_t* space, uint64_t* base) {
  if (!FakeGuest::cur->mmio_base || i != 0) return -1;
  *space = QVM_SPACE_MEM;
  *base = FakeGuest::cur->mmio_base;
  return 0;
}
unsigned qvm_intr_count(qvm_vdev_t*) {
  return FakeGuest::cur->mmio_base && !FakeGuest::cur->mmio_no_intr ? 1 : 0;
}
int qvm_region_add(qvm_vdev_t*, uint32_t, uint64_t, uint64_t) { return 0; }
int qvm_pci_declare(qvm_vdev_t*, const struct qvm_pci_function* f) {
  // like qvm: copy the capabilities (the caller's buffer is temporary)
  FakeGuest::cur->declared = *f;
  FakeGuest::cur->caps.assign(f->caps, f->caps + f->caps_len);
  FakeGuest::cur->declared.caps = FakeGuest::cur->caps.data();
  return 1 << 3;
}
int qvm_intr_default(qvm_vdev_t*, const char*, unsigned) { return 0; }
int qvm_fdt_node(qvm_vdev_t*, const char*, const char*) { return -ENOTSUP; }
int qvm_fdt_prop_bytes(qvm_vdev_t*, const char*, const void*, size_t) { return -ENOTSUP; }
int qvm_acpi_device(qvm_vdev_t*, const char*, const char*) { return -ENOTSUP; }

void qvm_register_factory(const struct qvm_factory* f) { FakeFactories().push_back(f); }
const char* qvm_dev_name(qvm_vdev_t*) { return "dev"; }
const char* qvm_system_name(qvm_vdev_t*) { return "fakesys"; }
const char* qvm_runtime_dir(qvm_vdev_t*) {
  return FakeGuest::cur->runtime_dir.empty() ? nullptr : FakeGuest::cur->runtime_dir.c_str();
}
unsigned qvm_vcpu_count(qvm_vdev_t*) { return FakeGuest::cur->vcpus; }
qvm_timer_t* qvm_timer_create(qvm_vdev_t*, qvm_timer_fn fn, void* arg) {
  auto* t = new qvm_timer{fn, arg, false};
  FakeGuest::cur->timers.push_back(t);
  return t;
}
int qvm_timer_arm_rel(qvm_timer_t* t, uint64_t, uint64_t) {
  t->armed = true;
  return 0;
}
int qvm_timer_cancel(qvm_timer_t* t) {
  t->armed = false;
  return 0;
}
void qvm_timer_destroy(qvm_timer_t* t) {
  auto& v = FakeGuest::cur->timers;
  for (size_t i = 0; i < v.size(); i++)
    if (v[i] == t) { v.erase(v.begin() + long(i)); break; }
  delete t;
}
int qvm_fd_watch(qvm_vdev_t*, int fd, qvm_timer_fn fn, void* arg) {
  if (fd < 0 || FakeGuest::cur->watched(fd)) return -EINVAL;
  FakeGuest::cur->watches.push_back({fd, fn, arg});
  return 0;
}
int qvm_fd_unwatch(qvm_vdev_t*, int fd) {
  auto& v = FakeGuest::cur->watches;
  for (size_t i = 0; i < v.size(); i++)
    if (v[i].fd == fd) { v.erase(v.begin() + long(i)); return 0; }
  return -EINVAL;
}
void qvm_dev_lock(qvm_vdev_t*) {}
void qvm_dev_unlock(qvm_vdev_t*) {}

// ABI 1.3: notifications (real eventfds, registrations recorded).
int qvm_ioeventfd(qvm_vdev_t*, unsigned region, uint64_t offset, unsigned size, unsigned flags,
                  uint64_t datamatch) {
  FakeGuest* g = FakeGuest::cur;
  if (!g->notify_ok) return -ENOTSUP;
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  g->notes.push_back({fd, false, region, offset, size, flags, datamatch, 0, 0, 1});
  return fd;
}
int qvm_irqfd_msi(qvm_vdev_t*) {
  FakeGuest* g = FakeGuest::cur;
  if (!g->notify_ok) return -ENOTSUP;
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  g->notes.push_back({fd, true, 0, 0, 0, 0, 0, 0, 0, 1});
  return fd;
}
int qvm_irqfd_msi_set(qvm_vdev_t*, int fd, uint64_t address, uint32_t data, int masked) {
  FakeGuest::Note* n = FakeGuest::cur->note(fd);
  if (!n || !n->irq) return -EINVAL;
  n->addr = address;
  n->data = data;
  n->masked = masked;
  return 0;
}
int qvm_notify_close(qvm_vdev_t*, int fd) {
  FakeGuest* g = FakeGuest::cur;
  for (size_t i = 0; i < g->notes.size(); i++)
    if (g->notes[i].fd == fd) {
      close(fd);
      g->notes.erase(g->notes.begin() + long(i));
      return 0;
    }
  return -EINVAL;
}

}  // extern "C"
