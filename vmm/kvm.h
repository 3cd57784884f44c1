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
#include "vmm/guest_memory.h"

namespace qvm {

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
  absl::Status signal_msi(uint64_t address, uint32_t data);
  // GSI routing table of MSI entries (interrupt-controller inputs).
  absl::Status set_msi_route(unsigned gsi, uint64_t address, uint32_t data,
                             bool masked);
  int vcpu_mmap_size() const { return mmap_size_; }

 private:
  int kvm_ = -1, vm_ = -1, mmap_size_ = 0;
  std::mutex routes_mu_;
  std::map<unsigned, kvm_irq_routing_entry> routes_;
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
