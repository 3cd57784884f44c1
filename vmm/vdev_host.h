// qvm's side of the vdev ABI: the loader that finds vdev-NAME.so, the
// instance object behind the opaque qvm_vdev_t (one type, `qvm_vdev`, in C
// and C++), and the services the C ABI functions reach through VdevHost
// (implemented by the VM).
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "qvm/vdev.h"
#include "vmm/acpi_contrib.h"
#include "vmm/bus.h"
#include "vmm/config.h"
#include "vmm/event_loop.h"
#include "vmm/guest_memory.h"
#include "vmm/log.h"

// Every function of the C ABI is defined with this: C linkage, visible to
// the plug-ins qvm loads (they resolve qvm_* from the executable).
#define QVM_EXPORT extern "C" __attribute__((visibility("default")))

namespace qvm {

// What an instance needs from the VM. Implemented by Vm; unit tests provide
// their own.
class VdevHost {
 public:
  virtual ~VdevHost() = default;
  virtual GuestMemory& memory() = 0;
  virtual Bus* bus(uint32_t space) = 0;  // nullptr for a space not present
  virtual qvm_vdev* find_device(const std::string& name) = 0;
  // The interrupt controller an `intr NAME:LINE` or qvm_irq_set_named
  // means: the instance called NAME, else (a device's default such as
  // "ioapic" when the configuration renamed it) the first instance of type
  // NAME that has interrupt lines.
  virtual qvm_vdev* find_controller(const std::string& name) { return find_device(name); }
  virtual EventLoop& events() = 0;
  virtual int signal_msi(uint64_t address, uint32_t data) = 0;
  virtual int set_msi_route(unsigned gsi, uint64_t address, uint32_t data,
                            bool masked) = 0;
  virtual int cpu_extint(qvm_vdev* pic, bool level) = 0;
  virtual void request_power(int what) = 0;  // enum qvm_power
  // qvm_guest_dump: write a guest dump from the main loop once the calling
  // callback has returned, then request_power(then) unless then is
  // QVM_DUMP_CONTINUE. 0, or -ENOTSUP where no dumps are written.
  virtual int request_dump(int /*then*/) { return -ENOTSUP; }
  virtual void request_exit(int code) = 0;
  virtual bool guest_running() const = 0;
  // The VM's `system` name (qvm_system_name).
  virtual const std::string& system_name() const = 0;
  // qvm_hostdev_open hook (/dev/qvm console streams): a new fd for the
  // device, -1 on failure, or -ENOSYS to let qvm_hostdev_open do it.
  virtual int open_hostdev(qvm_vdev*, const char* /*spec*/, int /*for_write*/) {
    return -ENOSYS;
  }
  // Whether the machine/accelerator can model interrupt controller
  // `kind` (enum qvm_irqchip_kind) in the kernel, and the input lines of
  // the one that does.
  virtual bool irqchip_supported(unsigned /*kind*/) const { return false; }
  virtual int irqchip_line(unsigned /*intid*/, bool /*level*/) { return -ENOTSUP; }
  // qvm_irqchip_user, qvm_vcpu_irq: whether a device may emulate
  // interrupt controller `kind` itself, and vCPU `vcpu`'s input `input`.
  virtual bool user_irqchip_supported(unsigned /*kind*/) const { return false; }
  virtual int vcpu_irq(unsigned /*vcpu*/, unsigned /*input*/, bool /*level*/) {
    return -ENOTSUP;
  }
  // PCI: every instance, in creation order.
  virtual std::vector<qvm_vdev*> all_devices() { return {}; }
  // qvm_ioeventfd, qvm_irqfd_msi: the accelerator's notification
  // objects (VmBackend::ioeventfd/irqfd). 0, -ENOTSUP, -EEXIST, -EIO, or
  // -EAGAIN while no VM exists (ReplayNotifiers registers them later).
  virtual int notifiers_supported(bool /*irq*/) { return -ENOTSUP; }
  virtual int ioeventfd(int /*fd*/, uint64_t /*addr*/, unsigned /*len*/, bool /*io*/,
                        bool /*match*/, uint64_t /*datamatch*/, bool /*assign*/) {
    return -ENOTSUP;
  }
  virtual int irqfd(int /*fd*/, unsigned /*gsi*/, bool /*assign*/) { return -ENOTSUP; }
  // qvm_vcpu_count, qvm_cmdline: the VM's configuration, or
  // nullptr (then 1 vCPU and no command line are reported).
  virtual const Config* config() const { return nullptr; }
  // qvm_runtime_dir: the directory of /dev/qvm/<system>, or nullptr.
  virtual const char* runtime_dir() { return nullptr; }
  // qvm_mem_map: host memory [host, host+size) as guest memory at gpa
  // (assign) or not any more. 0, -ENOTSUP, -ENOSPC (no accelerator slot),
  // -EIO, or -EAGAIN while no VM exists (ReplayMemMaps maps it later).
  virtual int map_host_memory(uint64_t /*gpa*/, void* /*host*/, uint64_t /*size*/,
                              bool /*writable*/, bool /*assign*/) {
    return -ENOTSUP;
  }
  // qvm_thread_create: whether a device's threads get a system-call
  // filter (qvm's filters are on: `set seccomp`, not a sanitizer build).
  virtual bool filter_threads() const { return false; }
};

// Loads plug-ins and keeps their factories (one table per loader, no
// process-global registry).
// It tells the configuration parser how each factory's options are
// written (QVM_OPTF_*, ABI 1.6).
class VdevLoader : public VdevOptionShapes {
 public:
  explicit VdevLoader(std::vector<std::string> search_dirs);
  // A type without a loadable plug-in, or an option it does not list, has
  // the default shape; building the device reports the error later.
  VdevOptionShape shape(const std::string& type,
                        const std::string& option) override;
  // The default search order: $QVM_VDEV_PATH, <exe>/../lib/qvm,
  // the build tree, then the dynamic loader's path.
  static std::vector<std::string> DefaultSearchDirs();
  // Finds and loads vdev-TYPE.so (once) and returns its factory.
  absl::StatusOr<const qvm_factory*> get(const std::string& type);
  // Where a type's plug-in came from (for dryrun/status).
  std::string origin(const std::string& type) const;
  // Called by qvm_register_factory while this loader is loading.
  void accept(const qvm_factory* f);

 private:
  std::vector<std::string> dirs_;
  absl::StatusOr<const qvm_factory*> load(const std::string& type);

  std::map<std::string, const qvm_factory*> factories_;
  std::map<std::string, absl::Status> failures_;
  std::map<std::string, std::string> origins_;
  std::vector<const qvm_factory*> pending_;
  std::string pending_error_;
};

struct ResolvedIntr {
  qvm_vdev* controller = nullptr;
  unsigned line = 0;
  std::string spec;  // "ioapic:4"
};

struct DeviceRegion {
  uint32_t space;
  uint64_t base, size;  // size 0: released (qvm_region_free) or a placeholder
  bool allocated = false;  // placed by qvm (qvm_region_alloc)
};

}  // namespace qvm

// The opaque handle of the C ABI is the instance itself.
struct qvm_vdev : public qvm::BusDevice {
  qvm_vdev(qvm::VdevHost* host, const qvm_factory* f, qvm::VdevSpec spec,
           std::string name);
  ~qvm_vdev() override;

  // BusDevice
  qvm::BusStatus read(const qvm::BusAccess& acc, uint8_t* data) override;
  qvm::BusStatus write(const qvm::BusAccess& acc, const uint8_t* data) override;
  std::string bus_name() const override { return name; }

  // Control sequence. configure() runs OPTIONS_START, OPTION..., OPTIONS_END
  // and reports option errors at their config locations.
  absl::Status configure();
  absl::Status resolve_interrupts();
  int control(unsigned ctrl, int arg = 0, const char* value = nullptr);

  // Interrupt-controller side (only when factory->pic is set).
  bool is_pic() const;
  int pic_set_line(unsigned line, int level);
  unsigned pic_line_count();
  void pic_eoi(unsigned vector);
  int pic_inta();

  qvm::VdevHost* host;
  const qvm_factory* factory;
  qvm::VdevSpec spec;
  std::string name;
  void* state = nullptr;
  std::mutex mu;
  std::vector<qvm::DeviceRegion> regions;
  std::vector<qvm::IntrSpec> default_intrs;
  std::vector<qvm::ResolvedIntr> intrs;
  std::vector<int> intr_levels;
  qvm::RateLimiter log_limit{20, 5};
  bool configuring = false;
  // The last error the device logged while configuring: the configuration
  // error that refuses its options names it.
  std::string config_error;
  // Reply buffer of the QVM_CTRL_DEVCTL in progress (qvm_devctl_reply).
  std::atomic<std::string*> devctl_out{nullptr};
  // How the device describes itself to the guest (vmm/vdev_describe.cc):
  // its ACPI ids from QVM_CTRL_GEN_ACPI, its device-tree node from
  // QVM_CTRL_GEN_FDT.
  struct Describe {
    bool acpi_open = false;  // inside QVM_CTRL_GEN_ACPI
    std::string acpi_hid, acpi_cid;
    qvm::AcpiContrib acpi;  // typed contributions (qvm_acpi_pm_block, ...)
    bool fdt_open = false;  // inside QVM_CTRL_GEN_FDT
    uint32_t fdt_phandle = 0;
    std::string fdt_name, fdt_compatible;
    std::vector<std::pair<std::string, std::string>> fdt_props;  // name, bytes
    size_t fdt_bytes = 0;
  } describe;

  // The interrupt controller this device is (vmm/vdev_irqchip.cc): modelled
  // by the accelerator (qvm_irqchip_accel) or emulated by the device itself
  // (qvm_irqchip_user, with its per-vCPU output callback).
  struct Irqchip {
    unsigned kind = 0, nirqs = 0;
    bool user = false;
    qvm_vcpu_outputs_fn outputs = nullptr;
  } irqchip;

  // PCI topology (vmm/vdev_pci.cc): this instance as a PCI function
  // (qvm_pci_declare), and as a PCI host the BARs it mapped
  // (qvm_pci_bar_map). Accesses that fall in a mapped BAR are dispatched to
  // the function without the host's lock.
  struct PciFn {
    qvm_pci_function decl{};
    std::vector<uint8_t> caps;
    unsigned addr = 0;  // bus << 8 | dev << 3 | fn
  };
  struct PciBar {
    uint64_t base, size;
    qvm_vdev* fn;
    unsigned bar;
    uint32_t space;  // QVM_SPACE_MEM, or QVM_SPACE_IO for a QVM_PCI_BAR_IO BAR
  };
  struct Pci {
    std::unique_ptr<PciFn> fn;
    std::atomic<uint32_t> state{0};
    std::shared_mutex bars_mu;
    std::vector<PciBar> bars;
    std::atomic<bool> has_bars{false};
  } pci;
  bool pci_dispatch(const qvm::BusAccess& acc, uint8_t* data, bool write,
                    qvm::BusStatus* st);

  // Notifiers (vmm/vdev_notify.cc): the ioeventfds / MSI irqfds this
  // instance asked for. qvm owns the eventfds; they outlive the
  // accelerator's VM (guest resets) and are registered again with each new
  // one (qvm::ReplayNotifiers).
  struct Notifier {
    int fd = -1;
    bool irq = false;
    // ioeventfd: where the device asked for it, and where it is registered
    unsigned region = 0, size = 0;
    uint64_t offset = 0, datamatch = 0;
    bool match = false;
    bool active = false, io = false;
    uint64_t addr = 0;
    // MSI irqfd
    unsigned gsi = 0;
    bool routed = false;  // a message is set and unmasked
    uint64_t msi_addr = 0;
    uint32_t msi_data = 0;
  };
  struct Notify {
    std::mutex mu;  // leaf lock: taken under the instance lock, never the other way
    std::vector<Notifier> list;
  } notify;

  // Host memory laid over the device's regions (vmm/vdev_memmap.cc,
  // qvm_mem_map), mapped again into every new accelerator VM
  // (qvm::ReplayMemMaps).
  struct MemMap {
    unsigned region;
    uint64_t gpa, size;
    void* host;
    bool writable, active;  // active: the current VM has it
  };
  struct MemMaps {
    std::mutex mu;  // leaf lock, like notify.mu
    std::vector<MemMap> list;
  } memmap;
};

namespace qvm {
// Registers every ioeventfd/irqfd of `dev` with the accelerator's
// current VM (after it was (re)created, before the guest runs).
void ReplayNotifiers(qvm_vdev* dev);
// Moves the ioeventfds of PCI BAR `bar` of `fn` when a host maps it at
// [base, base+size) (size 0: unmapped).
void MoveBarNotifiers(qvm_vdev* fn, unsigned bar, uint64_t base, uint64_t size);
// Deregisters and closes every notifier of `dev` (after QVM_CTRL_TERMINATE).
void CloseNotifiers(qvm_vdev* dev);
// Maps every qvm_mem_map mapping of `dev` into the accelerator's current VM
// (after it was (re)created, before the guest runs), and removes them all
// (after QVM_CTRL_TERMINATE).
void ReplayMemMaps(qvm_vdev* dev);
void CloseMemMaps(qvm_vdev* dev);

// Shared by the files of the vdev host (vmm/vdev_*.cc): whether the factory
// takes accesses of `size` bytes, and a callback's QVM_* status as a bus one.
bool SizeAllowed(const qvm_factory* f, uint32_t size);
// The QVM_OPTF_* flags of the factory's idx-th option (0 for a factory
// from before ABI 1.6 or without option_flags).
uint32_t OptionFlags(const qvm_factory* f, int idx);
// The factory's `thread_syscalls` (nullptr for a factory from before ABI
// 1.8 or without the list; vmm/vdev_threads.cc).
const char* const* ThreadSyscalls(const qvm_factory* f);
// The index of `name` in the factory's option list, or -1.
int OptionIndex(const qvm_factory* f, const std::string& name);
BusStatus ToBus(int rc);
}  // namespace qvm
