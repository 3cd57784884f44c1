// The x86_64 PC machine: which devices every PC has, how a guest is loaded
// (boot/ loaders + ACPI from the configured devices) and how the boot vCPU
// is started.
#include <algorithm>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "arch/x86_64/kvm_x86.h"
#include "arch/x86_64/plan.h"
#include "boot/acpi.h"
#include "boot/image_file.h"
#include "boot/x86.h"
#include "qvm/vdev.h"
#include "vmm/arch.h"
#include "vmm/log.h"

namespace qvm {
namespace {

class X86Machine : public Machine {
 public:
  const char* name() const override { return "x86_64"; }
  std::vector<std::string> platform_devices() const override {
    return {"ioapic", "8259", "timer8254", "mc146818", "pckeyboard", "acpi-pm"};
  }
  uint64_t default_ram_base() const override { return 0; }

  absl::Status plan(const Config& cfg) override {
    auto p = x86::MakePlan(cfg);
    if (!p.ok()) return p.status();
    plan_ = *p;
    return absl::OkStatus();
  }
  void exit_policy(Peripherals& p) const override {
    if (plan_.msr_unknown) {
      p.msr_unknown = *plan_.msr_unknown;
      p.msr_unknown_set = true;
    }
  }
  bool builds_acpi() const override { return plan_.acpi; }

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
    bool have_ioapic = false, have_pm = false;
    ap.has_8042 = ap.has_8259 = ap.has_rtc = false;
    std::map<std::string, unsigned> uid;
    for (const auto& d : devices) {
      if (d.type == "ioapic" && !d.regions.empty()) {
        have_ioapic = true;
        ap.ioapic_addr = d.regions[0].base;
      } else if (d.type == "8259") {
        ap.has_8259 = true;
      } else if (d.type == "acpi-pm" && !d.regions.empty() &&
                 d.regions[0].space == QVM_SPACE_IO && d.regions[0].size >= 0xd) {
        // One block: PM1a_EVT +0 (4), PM1a_CNT +4 (2), PM_TMR +8 (4),
        // RESET +0xc (1) — the layout vdev-acpi-pm documents.
        have_pm = true;
        uint16_t b = uint16_t(d.regions[0].base);
        ap.pm.pm1a_evt = b;
        ap.pm.pm1a_cnt = uint16_t(b + 4);
        ap.pm.pm_tmr = uint16_t(b + 8);
        ap.pm.reset = uint16_t(b + 0xc);
        if (!d.intrs.empty()) ap.sci_irq = d.intrs[0].line;
      }
      if (d.type == "pci-host" && d.regions.size() >= 3) {
        // vdev-pci-host: region 1 = ECAM, region 2 = the BAR window; INTx
        // pin P of device D goes to GSI 16 + ((D + P) & 3).
        boot::AcpiPciHost h;
        h.ecam_base = d.regions[1].base;
        h.bus_end = uint8_t(std::min<uint64_t>(d.regions[1].size >> 20, 256) - 1);
        h.mem_windows.emplace_back(d.regions[2].base,
                                   d.regions[2].base + d.regions[2].size - 1);
        for (uint8_t dev = 0; dev < 32; dev++)
          for (uint8_t pin = 0; pin < 4; pin++)
            h.prt.push_back({dev, pin, 16u + ((dev + pin) & 3u)});
        ap.pci = std::move(h);
      }
      if (d.type == "pckeyboard") ap.has_8042 = true;
      if (d.type == "mc146818") ap.has_rtc = true;
      if (d.acpi_hid == "PNP0103" && d.regions.size() == 1 &&
          d.regions[0].space == QVM_SPACE_MEM) {
        // vdev-hpet: boot/acpi emits the HPET table and the DSDT's HPET
        // device (PNP0103, Memory32Fixed) for it; the block id is the
        // GCAP_ID low dword vdev/hpet documents.
        ap.hpet_addr = d.regions[0].base;
        ap.hpet_block_id = 0x8086a201;
        continue;
      }
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
        // ISA lines (< 16) as IRQNoFlags; IOAPIC inputs 16-23 as GSIs
        // (Interrupt: level, active high), e.g. virtio-mmio's LNRO0005.
        for (const auto& i : d.intrs)
          if (i.controller == "ioapic" && i.line < 24)
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
