#include "arch/kvm/kvm.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace qvm {
namespace {

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(errno)));
}

bool FileExists(const char* p) { return access(p, F_OK) == 0; }

}  // namespace

void DecodeCommonExit(const kvm_run& run, Exit* e) {
  switch (run.exit_reason) {
    case KVM_EXIT_MMIO:
      e->kind = ExitKind::Mmio;
      e->addr = run.mmio.phys_addr;
      e->size = run.mmio.len;
      e->write = run.mmio.is_write;
      // The MMIO data lives in the shared run page, which the backend owns.
      e->data = const_cast<uint8_t*>(run.mmio.data);
      if (e->size == 0 || e->size > 8) {
        e->kind = ExitKind::Fatal;
        e->reason = absl::StrFormat("MMIO exit of %u bytes", e->size);
      }
      return;
    case KVM_EXIT_SYSTEM_EVENT:
      switch (run.system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN:
          e->kind = ExitKind::PowerOff;
          return;
        case KVM_SYSTEM_EVENT_RESET:
          e->kind = ExitKind::Reset;
          return;
        default:
          e->kind = ExitKind::Fatal;
          e->reason = absl::StrFormat("system event %u", run.system_event.type);
          return;
      }
    case KVM_EXIT_INTR:
      e->kind = ExitKind::Interrupted;
      return;
    case KVM_EXIT_FAIL_ENTRY:
      e->kind = ExitKind::Fatal;
      e->reason = absl::StrFormat(
          "guest entry failed (hardware reason 0x%llx)",
          (unsigned long long)run.fail_entry.hardware_entry_failure_reason);
      return;
    case KVM_EXIT_INTERNAL_ERROR:
      e->kind = ExitKind::Fatal;
      e->reason = absl::StrFormat("KVM internal error, suberror %u", run.internal.suberror);
      return;
    default:
      e->kind = ExitKind::Fatal;
      e->reason = absl::StrFormat("unexpected KVM exit reason %u", run.exit_reason);
  }
}

bool KvmUsable() {
  int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  int v = ioctl(fd, KVM_GET_API_VERSION, 0);
  close(fd);
  return v == KVM_API_VERSION;
}

std::string DescribeKvmHost() {
  int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return absl::StrCat("/dev/kvm unavailable (", strerror(errno), ")");
  int v = ioctl(fd, KVM_GET_API_VERSION, 0);
  close(fd);
  std::string kind;
  if (FileExists("/sys/module/kvm_pvm"))
    kind = "kvm_pvm: software KVM, guest kernel code is emulated";
  else if (FileExists("/sys/module/kvm_intel"))
    kind = "kvm_intel: hardware (VMX)";
  else if (FileExists("/sys/module/kvm_amd"))
    kind = "kvm_amd: hardware (SVM)";
  else
    kind = "kind unknown";
  return absl::StrFormat("KVM API %d (%s)", v, kind);
}

KvmVmFd::~KvmVmFd() {
  if (vm_ >= 0) close(vm_);
  if (kvm_ >= 0) close(kvm_);
}

absl::Status KvmVmFd::open() {
  kvm_ = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm_ < 0) return Errno("open /dev/kvm");
  int v = ioctl(kvm_, KVM_GET_API_VERSION, 0);
  if (v != KVM_API_VERSION)
    return absl::FailedPreconditionError(
        absl::StrFormat("/dev/kvm: API version %d, qvm needs %d", v, KVM_API_VERSION));
  for (int tries = 0;; tries++) {
    vm_ = ioctl(kvm_, KVM_CREATE_VM, 0);
    if (vm_ >= 0 || errno != EINTR || tries > 10) break;
  }
  if (vm_ < 0) return Errno("KVM_CREATE_VM");
  mmap_size_ = ioctl(kvm_, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (mmap_size_ < int(sizeof(kvm_run))) return Errno("KVM_GET_VCPU_MMAP_SIZE");
  return absl::OkStatus();
}

int KvmVmFd::check_extension(long cap) const {
  int r = ioctl(vm_, KVM_CHECK_EXTENSION, cap);
  return r < 0 ? 0 : r;
}

absl::Status KvmVmFd::enable_cap(uint32_t cap, uint64_t arg0) {
  kvm_enable_cap c{};
  c.cap = cap;
  c.args[0] = arg0;
  if (ioctl(vm_, KVM_ENABLE_CAP, &c) != 0)
    return Errno(absl::StrFormat("KVM_ENABLE_CAP %u", cap));
  return absl::OkStatus();
}

absl::Status KvmVmFd::map_memory(const GuestMemory& mem) {
  uint32_t slot = 0;
  for (const auto& r : mem.regions()) {
    kvm_userspace_memory_region kr{};
    kr.slot = slot++;
    kr.flags = r.readonly ? KVM_MEM_READONLY : 0;
    kr.guest_phys_addr = r.gpa;
    kr.memory_size = r.size;
    kr.userspace_addr = reinterpret_cast<uint64_t>(r.host);
    if (ioctl(vm_, KVM_SET_USER_MEMORY_REGION, &kr) != 0)
      return Errno(absl::StrFormat("KVM_SET_USER_MEMORY_REGION 0x%x+0x%x", r.gpa, r.size));
  }
  std::lock_guard<std::mutex> g(slots_mu_);
  ram_slots_ = slot;
  return absl::OkStatus();
}

absl::Status KvmVmFd::map_host_memory(uint64_t gpa, void* host, uint64_t size, bool writable,
                                      bool assign) {
  std::lock_guard<std::mutex> g(slots_mu_);
  kvm_userspace_memory_region kr{};
  kr.guest_phys_addr = gpa;
  if (!assign) {
    auto it = host_slots_.find(gpa);
    if (it == host_slots_.end()) return absl::NotFoundError("no host memory slot there");
    kr.slot = it->second;  // memory_size 0 deletes the slot
    host_slots_.erase(it);
    if (ioctl(vm_, KVM_SET_USER_MEMORY_REGION, &kr) != 0)
      return Errno(absl::StrFormat("KVM_SET_USER_MEMORY_REGION delete 0x%x", gpa));
    return absl::OkStatus();
  }
  int nslots = check_extension(KVM_CAP_NR_MEMSLOTS);
  uint32_t limit = nslots > 0 ? uint32_t(nslots) : 32;
  std::vector<uint32_t> used;  // the lowest free slot after the RAM's
  for (const auto& [a, s] : host_slots_) used.push_back(s);
  std::sort(used.begin(), used.end());
  uint32_t slot = ram_slots_;
  for (uint32_t s : used)
    if (s == slot) slot++;
  if (slot >= limit) return absl::ResourceExhaustedError("no free KVM memory slot");
  kr.slot = slot;
  kr.flags = writable ? 0 : KVM_MEM_READONLY;
  kr.memory_size = size;
  kr.userspace_addr = reinterpret_cast<uint64_t>(host);
  if (ioctl(vm_, KVM_SET_USER_MEMORY_REGION, &kr) != 0)
    return Errno(absl::StrFormat("KVM_SET_USER_MEMORY_REGION 0x%x+0x%x", gpa, size));
  host_slots_[gpa] = slot;
  return absl::OkStatus();
}

absl::Status KvmVmFd::signal_msi(uint64_t address, uint32_t data) {
  kvm_msi m{};
  m.address_lo = uint32_t(address);
  m.address_hi = uint32_t(address >> 32);
  m.data = data;
  if (ioctl(vm_, KVM_SIGNAL_MSI, &m) < 0) return Errno("KVM_SIGNAL_MSI");
  return absl::OkStatus();
}

absl::Status KvmVmFd::set_msi_route(unsigned gsi, uint64_t address, uint32_t data,
                                    bool masked) {
  if (gsi >= 1024) return absl::InvalidArgumentError("GSI out of range");
  std::lock_guard<std::mutex> g(routes_mu_);
  if (masked) {
    routes_.erase(gsi);
  } else {
    kvm_irq_routing_entry e{};
    e.gsi = gsi;
    e.type = KVM_IRQ_ROUTING_MSI;
    e.u.msi.address_lo = uint32_t(address);
    e.u.msi.address_hi = uint32_t(address >> 32);
    e.u.msi.data = data;
    routes_[gsi] = e;
  }
  KvmFlexArray<kvm_irq_routing_entry> table(routes_.size());
  size_t i = 0;
  for (const auto& [k, e] : routes_) table.entries()[i++] = e;
  if (ioctl(vm_, kKvmSetGsiRouting, table.data()) != 0) return Errno("KVM_SET_GSI_ROUTING");
  return absl::OkStatus();
}

absl::Status KvmVmFd::ioeventfd(int fd, uint64_t addr, unsigned len, bool io, bool match,
                                uint64_t datamatch, bool assign) {
  if (!check_extension(KVM_CAP_IOEVENTFD)) return absl::UnimplementedError("KVM lacks ioeventfd");
  if (len != 1 && len != 2 && len != 4 && len != 8)
    return absl::InvalidArgumentError("ioeventfd length");
  kvm_ioeventfd e{};
  e.datamatch = match ? datamatch : 0;
  e.addr = addr;
  e.len = len;
  e.fd = fd;
  e.flags = (match ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0u) | (io ? KVM_IOEVENTFD_FLAG_PIO : 0u) |
            (assign ? 0u : KVM_IOEVENTFD_FLAG_DEASSIGN);
  if (ioctl(vm_, KVM_IOEVENTFD, &e) != 0) {
    if (errno == EEXIST) return absl::AlreadyExistsError("ioeventfd address taken");
    return Errno("KVM_IOEVENTFD");
  }
  return absl::OkStatus();
}

absl::Status KvmVmFd::irqfd(int fd, unsigned gsi, bool assign) {
  if (!check_extension(KVM_CAP_IRQFD) || !check_extension(KVM_CAP_IRQ_ROUTING))
    return absl::UnimplementedError("KVM lacks irqfd");
  kvm_irqfd i{};
  i.fd = uint32_t(fd);
  i.gsi = gsi;
  i.flags = assign ? 0u : KVM_IRQFD_FLAG_DEASSIGN;
  if (ioctl(vm_, KVM_IRQFD, &i) != 0) return Errno("KVM_IRQFD");
  return absl::OkStatus();
}

KvmVcpuFd::~KvmVcpuFd() {
  if (run_) munmap(run_, run_size_);
  if (fd_ >= 0) close(fd_);
}

absl::Status KvmVcpuFd::open(const KvmVmFd& vm, unsigned index) {
  fd_ = ioctl(vm.vm_fd(), KVM_CREATE_VCPU, index);
  if (fd_ < 0) return Errno(absl::StrFormat("KVM_CREATE_VCPU %u", index));
  run_size_ = size_t(vm.vcpu_mmap_size());
  void* p = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED) return Errno("mmap kvm_run");
  run_ = static_cast<kvm_run*>(p);
  return absl::OkStatus();
}

void KvmVcpuFd::bind_thread() {
  thread_ = pthread_self();
  bound_ = true;
}

absl::StatusOr<bool> KvmVcpuFd::enter() {
  if (ioctl(fd_, KVM_RUN, 0) == 0) return true;
  if (errno == EINTR || errno == EAGAIN) {
    // kick() stores the flag from another thread: atomic on both sides.
    __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_SEQ_CST);
    return false;
  }
  return Errno("KVM_RUN");
}

void KvmVcpuFd::kick() {
  if (!run_) return;
  __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST);
  if (bound_) pthread_kill(thread_.load(), SIGRTMIN);
}

}  // namespace qvm
