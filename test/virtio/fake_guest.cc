// Fake host for libvirtio unit tests: a guest RAM window and the handful of
// qvm_* services libvirtio calls, recording interrupts and logs.
#include "fake_guest.h"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

FakeGuest* FakeGuest::cur = nullptr;

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
int qvm_loc_get(qvm_vdev_t*, unsigned, uint32_t*, uint64_t*) { return -1; }
unsigned qvm_intr_count(qvm_vdev_t*) { return 0; }
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

}  // extern "C"
