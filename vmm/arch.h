// What vmm/ needs from an architecture (implemented once per architecture
// under arch/<arch>/ and selected at link time; vmm/ has no #ifdefs).
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "vmm/acpi_contrib.h"
#include "vmm/backend.h"
#include "vmm/config.h"
#include "vmm/guest_memory.h"
#include "vmm/vars.h"

namespace qvm {

// A device as the machine description (ACPI, FDT, e820) sees it.
struct DeviceInfo {
  std::string type, name;
  struct Region { uint32_t space; uint64_t base, size; };
  std::vector<Region> regions;
  struct Intr { std::string controller; unsigned line; };
  std::vector<Intr> intrs;
  // From qvm_acpi_device() during QVM_CTRL_GEN_ACPI (empty: not in ACPI).
  std::string acpi_hid, acpi_cid;
  // Typed ACPI contributions from QVM_CTRL_GEN_ACPI (PM block, PCI host,
  // HPET, I/O APIC, legacy hardware).
  AcpiContrib acpi;
  // The device opened a console (qvm_console_open / qvm_hostdev_open
  // streams): a candidate for the boot console (FDT /chosen stdout-path).
  bool console = false;
  // From QVM_CTRL_GEN_FDT (empty fdt_name: no node) and qvm_irqchip_accel.
  std::string fdt_name, fdt_compatible;
  std::vector<std::pair<std::string, std::string>> fdt_props;  // name, bytes
  uint32_t fdt_phandle = 0;
  unsigned irqchip_kind = 0, irqchip_nirqs = 0;  // enum qvm_irqchip_kind
  bool irqchip_user = false;  // the device emulates that controller
};

// One machine. Vm calls it in this order (vm.h has the whole recipe):
//   once:       plan -> [memory, devices, their ACPI/FDT parts]
//   every boot: load -> create_backend -> prepare_vcpu (each) -> finalize
// The first boot and every reset in place run the boot steps alike.
class Machine {
 public:
  virtual ~Machine() = default;
  virtual const char* name() const = 0;  // the architecture's name
  // The architecture's register model: dump layout, trace decoding,
  // debugger registers (vmm/cpu_model.h).
  virtual const CpuModel& cpu_model() const = 0;
  // Build step 1, once: the machine plan. Reads this architecture's
  // policies (its `set` variables, declared by arch/<arch>/plan.cc, and
  // `unsupported`) before anything is built. InvalidArgument: a
  // configuration error.
  virtual absl::Status plan(const Config& cfg) = 0;
  // What the plan decides for unknown MSRs (an architecture with MSRs
  // reads a `set` variable for it); the VM's UnsupportedPolicy is built
  // from `unsupported` and this.
  virtual std::optional<UnsupportedAction> msr_unknown() const { return std::nullopt; }
  // The implied defaults, the one place device types are named: devices
  // every machine of this kind needs (implied when a config lists none of
  // them), and the PCI host implied when a device declares a PCI function
  // and no PCI host (QVM_VDEVF_PCI_HOST) is configured.
  virtual std::vector<std::string> platform_devices() const = 0;
  virtual std::string implied_pci_host() const = 0;
  // The plug-in that serves `pass loc pci:...` (a host PCI function given
  // to the guest): each such pass becomes an instance of this type.
  virtual std::string pci_pass_device() const = 0;
  // Whether the guest gets ACPI tables (devices are then asked for their
  // part with QVM_CTRL_GEN_ACPI). From the plan.
  virtual bool builds_acpi() const = 0;
  // Whether the guest is described by a device tree (devices are then asked
  // for their node with QVM_CTRL_GEN_FDT).
  virtual bool builds_fdt() const { return false; }
  // Whether an interrupt controller of this kind (enum qvm_irqchip_kind) can
  // be modelled by the accelerator.
  virtual bool supports_irqchip(unsigned /*kind*/) const { return false; }
  // Whether a device may emulate an interrupt controller of this kind in
  // user space (qvm_irqchip_user).
  virtual bool supports_user_irqchip(unsigned /*kind*/) const { return false; }
  // Default RAM when a config gives none.
  virtual uint64_t default_ram_base() const = 0;
  // Guest-physical addresses RAM placed without a start must avoid (the
  // machine's devices and PCI window), [first, end); none: {0, 0}. RAM that
  // would cross it is split around it, as QEMU splits a PC's RAM at 3 GiB.
  virtual std::pair<uint64_t, uint64_t> ram_hole() const { return {0, 0}; }
  // Boot step a: loads kernel/initrd/data and writes the boot tables into
  // guest memory (zeroed before a reset in place); also what the backend
  // will need from the devices (e.g. which in-kernel interrupt controller).
  // Runs before create_backend on every boot.
  virtual absl::Status load(const Config& cfg, GuestMemory& mem,
                            const std::vector<DeviceInfo>& devices,
                            unsigned ncpus) = 0;
  // Boot step b: opens the accelerator and creates an empty VM.
  virtual absl::StatusOr<std::unique_ptr<VmBackend>> create_backend(
      unsigned ncpus) = 0;
  // Boot step c: puts vCPU `index` in its reset/boot state (boot vCPU at
  // the entry).
  virtual absl::Status prepare_vcpu(VcpuBackend& vcpu, unsigned index) = 0;
  // Boot step d: every vCPU exists and none has run (e.g. an in-kernel
  // interrupt controller initialised, a PMU attached, a counter offset set).
  virtual absl::Status finalize(VmBackend&) { return absl::OkStatus(); }
  // One line for logs and dryrun: "bzImage, entry 0x100200 (64-bit)".
  virtual std::string boot_summary() const = 0;
  // Host I/O ports for `pass loc io`. has_host_ports: whether the
  // architecture has a port space at all. open_host_ports: this process
  // (and the vCPU threads it creates afterwards) may access host ports
  // [first, first + count); FailedPrecondition says why not (privilege).
  // host_port_in/out: one access of 1, 2 or 4 bytes to an opened port, on
  // any thread created after open_host_ports.
  virtual bool has_host_ports() const { return false; }
  virtual absl::Status open_host_ports(uint32_t /*first*/, uint32_t /*count*/) {
    return absl::UnimplementedError("no I/O port space");
  }
  virtual uint32_t host_port_in(uint16_t /*port*/, unsigned /*size*/) { return ~0u; }
  virtual void host_port_out(uint16_t /*port*/, unsigned /*size*/, uint32_t /*value*/) {}
};

// Every architecture's `set` variables (arch/vars.cc; built on every
// architecture, so that a variable another architecture reads is refused
// with what it is for, not as unknown).
std::vector<std::span<const VarDecl>> ArchVariables();

std::unique_ptr<Machine> CreateMachine();

}  // namespace qvm
