// The x86_64 PC machine: which devices every PC has, how a guest is loaded
// (boot/ loaders + ACPI from the configured devices) and how the boot vCPU
// is started.
#include <algorithm>
#include <map>
#include <set>
#include <memory>

#include "absl/strings/str_cat.h"
#include "arch/x86_64/host_ports.h"
#include "arch/x86_64/kvm_x86.h"
#include "arch/x86_64/plan.h"
#include "boot/acpi.h"
#include "boot/image_file.h"
#include "boot/x86.h"
#include "arch/x86_64/regs.h"
#include "qvm/vdev.h"
#include "vmm/arch.h"
#include "vmm/log.h"

namespace qvm {
namespace {

class X86Machine : public Machine {
 public:
  const char* name() const override { return "x86_64"; }
  const CpuModel& cpu_model() const override { return X86_64CpuModel(); }
  // The implied defaults: the one list of device types of this machine.
  std::vector<std::string> platform_devices() const override {
    return {"ioapic", "8259", "timer8254", "mc146818", "pckeyboard", "acpi-pm"};
  }
  std::string implied_pci_host() const override { return "pci-host"; }
  std::string pci_pass_device() const override { return "vfio-pci"; }
  uint64_t default_ram_base() const override { return 0; }
  // The PCI BAR window (0xC0000000), ECAM, I/O APIC, HPET, local APIC, up
  // to 4 GiB.
  std::pair<uint64_t, uint64_t> ram_hole() const override {
    return {0xC0000000ull, 0x100000000ull};
  }

  absl::Status plan(const Config& cfg) override {
    auto p = x86::MakePlan(cfg);
    if (!p.ok()) return p.status();
    plan_ = *p;
    return absl::OkStatus();
  }
  std::optional<UnsupportedAction> msr_unknown() const override { return plan_.msr_unknown; }
  bool builds_acpi() const override { return plan_.acpi; }
  bool has_host_ports() const override { return true; }
  absl::Status open_host_ports(uint32_t first, uint32_t count) override {
    return x86::OpenHostPorts(first, count);
  }
  uint32_t host_port_in(uint16_t port, unsigned size) override {
    return x86::HostPortIn(port, size);
  }
  void host_port_out(uint16_t port, unsigned size, uint32_t value) override {
    x86::HostPortOut(port, size, value);
  }

  absl::StatusOr<std::unique_ptr<VmBackend>> create_backend(unsigned ncpus) override {
    auto vm = std::make_unique<x86::KvmX86Vm>();
    absl::Status st = vm->init(ncpus, plan_.cpuid);
    if (!st.ok()) return st;
    return std::unique_ptr<VmBackend>(std::move(vm));
  }

  absl::Status load(const Config& cfg, GuestMemory& mem,
                    const std::vector<DeviceInfo>& devices, unsigned ncpus) override {
    boot::BootRequest req;
    bool have_kernel = false;
    std::vector<std::vector<uint8_t>> user_acpi;
    for (const auto& l : cfg.loads) {
      switch (l.kind) {
        case LoadKind::Kernel:
          if (have_kernel)
            return ConfigError(l.where, "`load`: a kernel is already loaded");
          have_kernel = true;
          req.kernel_path = l.path;
          req.kernel_addr = l.addr;
          break;
        case LoadKind::Initrd:
          req.initrd_path = l.path;
          break;
        case LoadKind::Data:
          req.data.emplace_back(l.addr.value_or(0), l.path);
          break;
        case LoadKind::Module:
          req.modules.push_back({l.path, l.module_string.value_or(l.path)});
          break;
        case LoadKind::Acpi: {
          // `acpi load PATH`: the user's tables replace the generated ones.
          auto f = boot::ImageFile::Open(l.path);
          if (!f.ok()) return ConfigError(l.path_where, std::string(f.status().message()));
          if (f->size() > boot::kAcpiLimit - boot::kAcpiBase)
            return ConfigError(l.path_where, l.path + ": larger than the 128 KiB ACPI area");
          std::vector<uint8_t> blob(f->size());
          if (!blob.empty() && !f->read(0, blob.data(), blob.size()))
            return ConfigError(l.path_where, l.path + ": cannot read");
          auto t = boot::SplitAcpiTables(blob, l.path);
          if (!t.ok()) return ConfigError(l.path_where, std::string(t.status().message()));
          for (auto& tb : *t) user_acpi.push_back(std::move(tb));
          break;
        }
        default:
          break;
      }
    }
    if (!have_kernel) {
      SourceLoc w;
      w.file = "<config>";
      return ConfigError(w, "no guest image: add `load PATH`");
    }
    if (cfg.cmdline) req.cmdline = *cfg.cmdline;

    bool want_acpi = builds_acpi();
    boot::AcpiPlatform ap;
    ap.ncpus = ncpus;
    // Every device says what it is (typed ACPI contributions, ABI 1.4);
    // nothing here knows a device by its type name or register layout.
    bool have_ioapic = false, have_pm = false;
    ap.has_8042 = ap.has_8259 = ap.has_rtc = false;
    std::set<std::string> ioapics;  // instance names of the MADT's I/O APICs
    for (const auto& d : devices) {
      const AcpiContrib& c = d.acpi;
      if (c.ioapic) {
        have_ioapic = true;
        ap.ioapic_addr = c.ioapic->base;
        ap.ioapic_gsi_base = c.ioapic->gsi_base;
        ioapics.insert(d.name);
      }
      ap.has_8259 |= (c.legacy & QVM_ACPI_LEGACY_8259) != 0;
      ap.has_8042 |= (c.legacy & QVM_ACPI_LEGACY_8042) != 0;
      ap.has_rtc |= (c.legacy & QVM_ACPI_LEGACY_RTC) != 0;
      if (c.pm) {
        have_pm = true;
        ap.pm.pm1a_evt = c.pm->pm1a_evt;
        ap.pm.pm1a_cnt = c.pm->pm1a_cnt;
        ap.pm.pm_tmr = c.pm->pm_tmr;
        ap.pm.reset = c.pm->reset;
        ap.pm.reset_value = c.pm->reset_value;
        if (!d.intrs.empty()) ap.sci_irq = d.intrs[0].line;
      }
      if (c.pci_host) {
        boot::AcpiPciHost h;
        h.ecam_base = c.pci_host->ecam_base;
        h.bus_end = c.pci_host->bus_end;
        h.mem_windows.emplace_back(c.pci_host->mem_base,
                                   c.pci_host->mem_base + c.pci_host->mem_size - 1);
        if (c.pci_host->io_size)
          h.io_windows.emplace_back(c.pci_host->io_base,
                                    uint16_t(c.pci_host->io_base + c.pci_host->io_size - 1));
        for (uint8_t dev = 0; dev < 32; dev++)
          for (uint8_t pin = 0; pin < 4; pin++)
            h.prt.push_back({dev, pin, c.pci_host->intx_gsi[dev][pin]});
        ap.pci = std::move(h);
      }
      if (c.hpet) {
        ap.hpet_addr = c.hpet->base;
        ap.hpet_block_id = c.hpet->block_id;
      }
    }
    std::map<std::string, unsigned> uid;
    for (const auto& d : devices) {
      if (!d.acpi_hid.empty()) {
        boot::AcpiDevice ad;
        ad.hid = d.acpi_hid;
        ad.cid = d.acpi_cid;
        ad.uid = uid[d.acpi_hid]++;
        for (const auto& r : d.regions) {
          if (r.space == QVM_SPACE_IO && r.size <= 255)
            ad.io.emplace_back(uint16_t(r.base), uint16_t(r.size));
          if (r.space == QVM_SPACE_MEM && r.base + r.size <= (1ull << 32))
            ad.mem.emplace_back(uint32_t(r.base), uint32_t(r.size));
        }
        // Lines of an I/O APIC: < 16 as ISA IRQs (IRQNoFlags), 16-23 as
        // GSIs (Interrupt: level, active high), e.g. virtio-mmio's LNRO0005.
        for (const auto& i : d.intrs)
          if (ioapics.count(i.controller) && i.line < 24)
            ad.irqs.push_back(i.line == 2 ? 0 : i.line);
        ap.devices.push_back(std::move(ad));
      }
    }
    uint64_t rsdp = 0;
    if (!user_acpi.empty()) {
      auto img = boot::BuildUserAcpiImage(user_acpi, boot::kAcpiBase,
                                          boot::kAcpiLimit - boot::kAcpiBase);
      if (!img.ok())
        return absl::FailedPreconditionError(absl::StrCat("acpi load: ", img.status().message()));
      auto r = boot::WriteAcpiImage(mem, *img);
      if (!r.ok())
        return absl::FailedPreconditionError(absl::StrCat("acpi load: ", r.status().message()));
      rsdp = *r;
    } else if (want_acpi && have_ioapic && have_pm) {
      auto r = boot::BuildAcpi(mem, ap);
      if (!r.ok())
        return absl::FailedPreconditionError(absl::StrCat("ACPI: ", r.status().message()));
      rsdp = *r;
    }
    req.rsdp_addr = rsdp;
    auto st = boot::LoadX86(mem, req);
    if (!st.ok()) return absl::FailedPreconditionError(st.status().message());
    entry_ = *st;
    summary_ = boot::Describe(entry_);
    if (rsdp) absl::StrAppend(&summary_, "; ACPI RSDP at 0x", absl::Hex(rsdp));
    return absl::OkStatus();
  }

  absl::Status prepare_vcpu(VcpuBackend& vcpu, unsigned index) override {
    if (index != 0) return absl::OkStatus();  // APs wait for INIT/SIPI
    auto* v = dynamic_cast<x86::KvmX86Vcpu*>(&vcpu);
    if (!v) return absl::InternalError("x86 machine given a foreign vCPU");
    return v->set_entry(entry_);
  }

  std::string boot_summary() const override { return summary_; }

 private:
  boot::EntryState entry_;
  std::string summary_;
  x86::MachinePlan plan_;  // plan(): the policies, read once
};

}  // namespace

std::unique_ptr<Machine> CreateMachine() { return std::make_unique<X86Machine>(); }

}  // namespace qvm
