// Architecture-neutral pieces of the KVM backend: the /dev/kvm handle, the
// VM fd with its memory slots and MSI/routing ioctls, and the vCPU fd with
// its shared kvm_run page and kick. arch/<arch>/ builds on these.
#pragma once

#include <linux/kvm.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "vmm/exit.h"
#include "vmm/guest_memory.h"

namespace qvm {

// The kernel's variable-length KVM structures (kvm_cpuid2, kvm_msrs,
// kvm_irq_routing) are declared with __DECLARE_FLEX_ARRAY, which in C++ adds
// an empty struct and shifts the array and the ioctl size. qvm uses these
// C-layout headers and ioctl numbers instead; the element types are fine.
struct KvmFlexHeader {
  uint32_t count;  // nent / nmsrs / nr
  uint32_t pad;    // padding / flags
};
static_assert(sizeof(KvmFlexHeader) == 8);
inline constexpr unsigned long kKvmGetSupportedCpuid =
    _IOWR(KVMIO, 0x05, KvmFlexHeader);
inline constexpr unsigned long kKvmSetCpuid2 = _IOW(KVMIO, 0x90, KvmFlexHeader);
inline constexpr unsigned long kKvmSetMsrs = _IOW(KVMIO, 0x89, KvmFlexHeader);
inline constexpr unsigned long kKvmSetGsiRouting =
    _IOW(KVMIO, 0x6a, KvmFlexHeader);

// A header followed by `n` entries of T, laid out as the kernel expects.
template <typename T>
class KvmFlexArray {
 public:
  explicit KvmFlexArray(size_t n)
      : buf_(sizeof(KvmFlexHeader) + n * sizeof(T)) {
    header()->count = uint32_t(n);
  }
  KvmFlexHeader* header() { return reinterpret_cast<KvmFlexHeader*>(buf_.data()); }
  T* entries() { return reinterpret_cast<T*>(buf_.data() + sizeof(KvmFlexHeader)); }
  void* data() { return buf_.data(); }
  uint32_t count() const {
    return reinterpret_cast<const KvmFlexHeader*>(buf_.data())->count;
  }

 private:
  alignas(8) std::vector<uint8_t> buf_;
};

// Decodes the exits every architecture shares — MMIO, system events
// (poweroff/reset), KVM_EXIT_INTR, entry failures, internal errors and
// unknown reasons — into `e`. The arch decoders handle their own reasons
// first and call this for the rest.
void DecodeCommonExit(const kvm_run& run, Exit* e);

// Describes the host's KVM: "KVM API 12 (kvm_pvm: software, ...)".
std::string DescribeKvmHost();
// True when /dev/kvm answers KVM_GET_API_VERSION with 12.
bool KvmUsable();

class KvmVmFd {
 public:
  ~KvmVmFd();
  absl::Status open();  // /dev/kvm + KVM_CREATE_VM
  int kvm_fd() const { return kvm_; }
  int vm_fd() const { return vm_; }
  int check_extension(long cap) const;
  absl::Status enable_cap(uint32_t cap, uint64_t arg0);
  absl::Status map_memory(const GuestMemory& mem);
  // Host memory in a slot of its own after the RAM slots (assign), or that
  // slot deleted (by gpa). ResourceExhausted when KVM has no free slot.
  absl::Status map_host_memory(uint64_t gpa, void* host, uint64_t size, bool writable,
                               bool assign);
  absl::Status signal_msi(uint64_t address, uint32_t data);
  // GSI routing table of MSI entries (interrupt-controller inputs).
  absl::Status set_msi_route(unsigned gsi, uint64_t address, uint32_t data,
                             bool masked);
  // KVM_IOEVENTFD / KVM_IRQFD (see VmBackend::ioeventfd/irqfd):
  // Unimplemented when KVM lacks the capability, AlreadyExists for a
  // duplicate ioeventfd.
  absl::Status ioeventfd(int fd, uint64_t addr, unsigned len, bool io, bool match,
                         uint64_t datamatch, bool assign);
  absl::Status irqfd(int fd, unsigned gsi, bool assign);
  bool notifiers_supported(bool irq) const {
    return irq ? check_extension(KVM_CAP_IRQFD) && check_extension(KVM_CAP_IRQ_ROUTING)
               : check_extension(KVM_CAP_IOEVENTFD) != 0;
  }
  int vcpu_mmap_size() const { return mmap_size_; }

 private:
  int kvm_ = -1, vm_ = -1, mmap_size_ = 0;
  std::mutex routes_mu_;
  std::map<unsigned, kvm_irq_routing_entry> routes_;
  std::mutex slots_mu_;
  uint32_t ram_slots_ = 0;                    // slots 0..ram_slots_-1: guest RAM/ROM
  std::map<uint64_t, uint32_t> host_slots_;  // gpa -> slot of map_host_memory
};

class KvmVcpuFd {
 public:
  ~KvmVcpuFd();
  absl::Status open(const KvmVmFd& vm, unsigned index);
  int fd() const { return fd_; }
  kvm_run* run_page() const { return run_; }
  size_t run_size() const { return run_size_; }
  // KVM_RUN; returns false with errno EINTR/EAGAIN when kicked.
  absl::StatusOr<bool> enter();
  void kick();
  void bind_thread();

 private:
  int fd_ = -1;
  kvm_run* run_ = nullptr;
  size_t run_size_ = 0;
  std::atomic<pthread_t> thread_{0};
  std::atomic<bool> bound_{false};
};

}  // namespace qvm
