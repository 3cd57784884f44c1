// The guest-entry shim (bhyve's vmm_ops, NVMM's nvmm_impl): everything qvm
// needs from the host's virtualization interface. KVM is the first
// implementation (arch/<arch>/kvm_*.cc); devices and loaders never see it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "vmm/cpu_model.h"
#include "vmm/exit.h"
#include "vmm/guest_memory.h"

namespace qvm {

// The instruction a vCPU stopped at (exit traces): its address as the
// guest sees it, up to 15 bytes read through the guest's own page tables,
// and the decode mode (the architecture's, e.g. 16/32/64; 0 when unknown;
// CpuModel::disasm maps it to Capstone's).
struct InsnContext {
  uint64_t pc = 0;
  uint8_t bytes[16] = {};
  uint8_t len = 0;
  uint8_t mode = 0;
};

// What a debugger asks of a vCPU (KVM_SET_GUEST_DEBUG): software
// breakpoints (the guest's breakpoint instruction stops it with a Debug
// exit instead of trapping in the guest), hardware breakpoints and
// watchpoints in the architecture's debug registers, single step.
struct HwPoint {
  enum Kind : uint8_t { kExec, kWrite, kRead, kAccess };
  Kind kind = kExec;
  uint64_t addr = 0;
  unsigned len = 1;  // bytes watched (1, 2, 4, 8); kExec: the instruction's
};
struct GuestDebug {
  bool enable = false;      // false: everything off (the other fields ignored)
  bool sw_breakpoints = false;
  bool single_step = false;
  std::vector<HwPoint> hw;  // at most VcpuBackend::hw_slots(), in slot order
};

class VcpuBackend {
 public:
  virtual ~VcpuBackend() = default;
  // Enters the guest and returns the decoded exit. The Exit (and any data
  // buffer it points to) stays valid until the next run(). A run interrupted
  // by kick() returns ExitKind::Interrupted.
  virtual absl::StatusOr<Exit*> run() = 0;
  // Makes a concurrent or the next run() return Interrupted soon. Safe from
  // any thread.
  virtual void kick() = 0;
  // Called on the vCPU thread before the first run().
  virtual absl::Status bind_thread() = 0;
  // External interrupt input (a PC's 8259 INTR line): while `level` is set the
  // backend asks `ack()` for the vector (-1: nothing) whenever the guest can
  // take an interrupt. Safe from any thread (kicks the vCPU).
  virtual void set_extint(bool level, std::function<int()> ack) = 0;
  virtual absl::StatusOr<VcpuRegs> regs() = 0;
  // On the vCPU thread, right after run() returned: the instruction that
  // caused the exit (empty context when the backend cannot tell).
  virtual InsnContext current_insn(const GuestMemory& mem) {
    (void)mem;
    return {};
  }
  virtual unsigned index() const = 0;

  // ---- debugger (vmm/gdb_server.h). Called while the vCPU is out of the
  // guest (parked, or on its own thread); Unimplemented where the
  // accelerator or the architecture cannot.
  // Writes the registers of a snapshot this backend's regs() made.
  virtual absl::Status set_regs(const VcpuRegs& /*regs*/) {
    return absl::UnimplementedError("setting registers is not supported");
  }
  // Guest-virtual to guest-physical through the vCPU's page tables as they
  // are now. NotFound: not mapped.
  virtual absl::StatusOr<uint64_t> translate(uint64_t /*va*/) {
    return absl::UnimplementedError("no guest-virtual translation on this architecture");
  }
  virtual absl::Status set_guest_debug(const GuestDebug& /*d*/) {
    return absl::UnimplementedError("guest debugging is not supported");
  }
  // How many hardware breakpoints / watchpoints set_guest_debug takes.
  virtual unsigned hw_slots(bool /*watch*/) const { return 0; }
};

class VmBackend {
 public:
  virtual ~VmBackend() = default;
  // One line describing the accelerator ("KVM API 12, kvm_pvm (software)").
  virtual std::string describe() const = 0;
  virtual absl::Status map_memory(const GuestMemory& mem) = 0;
  virtual absl::StatusOr<std::unique_ptr<VcpuBackend>> create_vcpu(
      unsigned index) = 0;
  // Message-signalled interrupt into the in-kernel local APICs / GIC.
  virtual absl::Status signal_msi(uint64_t address, uint32_t data) = 0;
  // The MSI an interrupt-controller input currently maps to (with a split
  // irqchip: lets the kernel report EOIs of level-triggered vectors).
  virtual absl::Status set_msi_route(unsigned gsi, uint64_t address,
                                     uint32_t data, bool masked) = 0;
  // Input `intid` of the accelerator's own interrupt controller (a vGIC
  // SPI) to `level`.
  virtual absl::Status irq_line(unsigned /*intid*/, bool /*level*/) {
    return absl::UnimplementedError("no in-kernel interrupt controller");
  }
  // Notifications without exits. `fd` (an eventfd) is signalled by
  // the kernel when the guest writes `len` bytes at `addr` (io: port space;
  // match: only the value `datamatch`); assign=false removes it again.
  virtual absl::Status ioeventfd(int /*fd*/, uint64_t /*addr*/, unsigned /*len*/,
                                 bool /*io*/, bool /*match*/, uint64_t /*datamatch*/,
                                 bool /*assign*/) {
    return absl::UnimplementedError("no ioeventfd");
  }
  // Host memory [host, host+size) as guest memory at `gpa` (assign) or not
  // any more: a memory slot beside the RAM of map_memory. ResourceExhausted
  // when the accelerator has no free slot.
  virtual absl::Status map_host_memory(uint64_t /*gpa*/, void* /*host*/, uint64_t /*size*/,
                                       bool /*writable*/, bool /*assign*/) {
    return absl::UnimplementedError("no host memory slots");
  }
  // Whether ioeventfd (irq=false) or MSI irqfds (irq=true) work at all.
  virtual bool notifiers_supported(bool /*irq*/) const { return false; }
  // Writes to eventfd `fd` raise GSI `gsi`, whose MSI set_msi_route gives.
  virtual absl::Status irqfd(int /*fd*/, unsigned /*gsi*/, bool /*assign*/) {
    return absl::UnimplementedError("no irqfd");
  }
  // Interrupt controller in user space (qvm_irqchip_user): drive
  // interrupt input `input` (enum qvm_cpu_input) of vCPU `vcpu`; a level set
  // before the vCPU exists applies when it is created. Any thread.
  virtual absl::Status cpu_irq_line(unsigned /*vcpu*/, unsigned /*input*/, bool /*level*/) {
    return absl::UnimplementedError("the accelerator cannot drive vCPU interrupt inputs");
  }
  // Per-vCPU outputs of devices the accelerator keeps (QVM_VCPU_OUT_*):
  // `fn(vcpu, mask)` runs on the vCPU's thread whenever they change, before
  // it re-enters the guest. Set before the vCPUs are created.
  virtual absl::Status watch_vcpu_outputs(std::function<void(unsigned, uint32_t)> /*fn*/) {
    return absl::UnimplementedError("the accelerator reports no per-vCPU outputs");
  }
  // Pause/resume (/dev/qvm): paused() once every vCPU is parked outside the
  // guest, resuming() before they run again (still parked). Guest clocks
  // that must not count the paused time stop and restart here.
  virtual void paused() {}
  virtual void resuming() {}
};

}  // namespace qvm
