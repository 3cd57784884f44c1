// The arm64 machine: the implied interrupt controller, the kernel loaders
// of boot/arm64.h, the device tree built from the devices' own nodes
// (boot/fdt.h), and the boot vCPU's entry state (x0 = FDT). The default
// memory map is in arch/aarch64/README.md.
#include <map>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "arch/aarch64/kvm_arm64.h"
#include "arch/aarch64/plan.h"
#include "boot/arm64.h"
#include "boot/fdt.h"
#include "boot/image_file.h"
#include "arch/aarch64/regs.h"
#include "qvm/vdev.h"
#include "vmm/arch.h"
#include "vmm/log.h"

namespace qvm {
namespace {

constexpr uint64_t kRamBase = 0x80000000ull;
constexpr uint32_t kClockPhandle = 0x8000;

uint64_t Mpidr(unsigned i) { return (uint64_t(i >> 4) << 8) | (i & 0xf); }

class Arm64Machine : public Machine {
 public:
  const char* name() const override { return "aarch64"; }
  const CpuModel& cpu_model() const override { return Aarch64CpuModel(); }
  // The implied defaults: the one list of device types of this machine.
  std::vector<std::string> platform_devices() const override { return {"gic"}; }
  std::string implied_pci_host() const override { return "pci-host"; }
  std::string pci_pass_device() const override { return "vfio-pci"; }
  bool builds_acpi() const override { return false; }
  bool builds_fdt() const override { return true; }
  bool supports_irqchip(unsigned kind) const override {
    return kind == QVM_IRQCHIP_GICV2 || kind == QVM_IRQCHIP_GICV3;
  }
  // Only a GICv2 has a memory-mapped CPU interface that user space can
  // serve; the GICv3 one is system registers that never leave the kernel.
  bool supports_user_irqchip(unsigned kind) const override {
    return kind == QVM_IRQCHIP_GICV2;
  }
  uint64_t default_ram_base() const override { return kRamBase; }

  absl::Status plan(const Config& cfg) override {
    auto p = arm64::MakePlan(cfg);
    if (!p.ok()) return p.status();
    plan_ = *p;
    // `set pmu auto`: on when KVM_CAP_ARM_PMU_V3 is there (off when /dev/kvm
    // cannot be used, e.g. a dryrun elsewhere). `on` on a host without it
    // fails at create_backend, before the guest starts.
    pmu_ = plan_.pmu == arm64::MachinePlan::Pmu::On ||
           (plan_.pmu == arm64::MachinePlan::Pmu::Auto && arm64::HostHasPmuV3().value_or(false));
    // `set counter-offset N`: guest counter = host counter - N for the VM's
    // whole life (0: the host's count), counting on while paused. Default:
    // the counter starts at 0 and stops while paused. A reset in place keeps
    // the counter going (counter_ outlives the backends).
    if (plan_.counter_offset) {
      counter_.known = true;
      counter_.offset = *plan_.counter_offset;
      counter_.freeze = false;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<VmBackend>> create_backend(unsigned ncpus) override {
    auto vm = std::make_unique<arm64::KvmArm64Vm>();
    absl::Status st = vm->init(ncpus, plan_.unsupported);
    if (!st.ok()) return st;
    if (pmu_) {  // `set pmu on|auto` (resolved in plan())
      st = vm->enable_pmu();
      if (!st.ok())
        return absl::FailedPreconditionError(absl::StrCat(
            plan_.pmu_where.str(), ": `set pmu ", plan_.pmu_raw, "`: ", st.message()));
    }
    if (gic_.kind) {
      st = gic_.user ? vm->enable_user_irqchip() : vm->create_gic(gic_);
      if (!st.ok()) return st;
    }
    return std::unique_ptr<VmBackend>(std::move(vm));
  }

  absl::Status load(const Config& cfg, GuestMemory& mem,
                    const std::vector<DeviceInfo>& devices, unsigned ncpus) override {
    SourceLoc none;
    none.file = "<config>";
    // The interrupt controller the accelerator models.
    const DeviceInfo* gic = nullptr;
    gic_ = arm64::GicPlan{};
    for (const auto& d : devices) {
      if (!d.irqchip_kind) continue;
      if (gic)
        return ConfigError(none, absl::StrFormat(
            "vdev %s: a second machine interrupt controller (%s is one)", d.name, gic->name));
      gic = &d;
      std::vector<uint64_t> mem_regions;
      for (const auto& r : d.regions)
        if (r.space == QVM_SPACE_MEM) mem_regions.push_back(r.base);
      if (mem_regions.size() < 2)
        return ConfigError(none, absl::StrFormat("vdev %s: needs two memory regions", d.name));
      gic_.kind = d.irqchip_kind;
      gic_.dist = mem_regions[0];
      gic_.cpu_or_redist = mem_regions[1];
      gic_.nirqs = d.irqchip_nirqs;
      gic_.user = d.irqchip_user;
      if (gic_.kind == QVM_IRQCHIP_GICV2 && ncpus > 8)
        return ConfigError(none, "GICv2 supports at most 8 vCPUs");
    }
    // Kernel, initrd.
    std::optional<LoadSpec> kernel;
    std::string initrd;
    const LoadSpec* user_fdt = nullptr;
    for (const auto& l : cfg.loads) {
      if (l.kind == LoadKind::Kernel) {
        if (kernel) return ConfigError(l.where, "`load`: a kernel is already loaded");
        kernel = l;
      } else if (l.kind == LoadKind::Initrd) {
        initrd = l.path;
      } else if (l.kind == LoadKind::Fdt) {
        if (user_fdt) return ConfigError(l.where, "`fdt load`: a device tree is already loaded");
        user_fdt = &l;
      }
    }
    if (!kernel) return ConfigError(none, "no guest image: add `load PATH`");
    // `fdt load PATH`: read and validated once; a reset in place reuses it.
    if (user_fdt && !user_fdt_) {
      auto b = boot::ReadUserFdt(user_fdt->path);
      if (!b.ok()) return ConfigError(user_fdt->path_where, std::string(b.status().message()));
      user_fdt_ = std::move(*b);
    }
    // The kernel goes into the RAM region holding `load ADDR` (else the first).
    const MemRegion* ram = nullptr;
    for (const auto& r : mem.regions()) {
      if (r.readonly) continue;
      if (!ram) ram = &r;
      if (kernel->addr && *kernel->addr >= r.gpa && *kernel->addr - r.gpa < r.size) ram = &r;
    }
    if (!ram) return ConfigError(none, "no guest RAM");
    auto k = boot::LoadArm64Kernel(mem, kernel->path, kernel->addr, ram->gpa, ram->size);
    if (!k.ok()) return ConfigError(kernel->where, std::string(k.status().message()));
    uint64_t initrd_size = 0;
    std::optional<boot::ImageFile> initrd_file;
    if (!initrd.empty()) {
      auto f = boot::ImageFile::Open(initrd);
      if (!f.ok()) return absl::InvalidArgumentError(f.status().message());
      initrd_size = f->size();
      initrd_file.emplace(std::move(*f));
    }
    auto place = boot::PlaceArm64(ram->gpa, ram->size, *k, initrd_size);
    if (!place.ok()) return ConfigError(kernel->where, std::string(place.status().message()));
    if (initrd_file) {
      absl::Status st =
          initrd_file->copy_to_guest(mem, place->initrd, 0, initrd_size, "initrd");
      if (!st.ok()) return st;
    }
    for (const auto& l : cfg.loads) {
      if (l.kind != LoadKind::Data) continue;
      auto f = boot::ImageFile::Open(l.path);
      if (!f.ok()) return ConfigError(l.where, std::string(f.status().message()));
      absl::Status st = f->copy_to_guest(mem, l.addr.value_or(0), 0, f->size(), "data");
      if (!st.ok()) return ConfigError(l.where, std::string(st.message()));
    }

    // Device tree.
    boot::FdtMachine fm;
    for (unsigned i = 0; i < ncpus; i++) fm.cpu_mpidr.push_back(Mpidr(i));
    for (const auto& r : mem.regions()) fm.memory.emplace_back(r.gpa, r.size);
    if (cfg.cmdline) fm.bootargs = *cfg.cmdline;
    if (initrd_size) {
      fm.initrd_start = place->initrd;
      fm.initrd_end = place->initrd + initrd_size;
    }
    if (gic) {
      fm.gic_phandle = gic->fdt_phandle;
      fm.gic_v2 = gic->irqchip_kind == QVM_IRQCHIP_GICV2;
    }
    if (pmu_ && !gic)
      return ConfigError(plan_.pmu_where, absl::StrCat("`set pmu ", plan_.pmu_raw,
                                                       "`: the PMU's overflow interrupt needs "
                                                       "a `gic`"));
    fm.pmu = pmu_;
    bool need_clock = false;
    for (const auto& d : devices) {
      if (d.fdt_name.empty()) continue;
      boot::FdtDeviceNode n;
      n.name = d.fdt_name;
      n.compatible = d.fdt_compatible;
      n.phandle = d.fdt_phandle;
      n.props = d.fdt_props;
      for (const auto& r : d.regions)
        if (r.space == QVM_SPACE_MEM) n.reg.emplace_back(r.base, r.size);
      for (const auto& i : d.intrs) {
        if (!gic || i.controller != gic->name) continue;  // other controllers: the device's own
        if (i.line >= 32) {
          n.interrupts.insert(n.interrupts.end(), {0, i.line - 32, 4});
        } else if (i.line >= 16) {
          n.interrupts.insert(n.interrupts.end(), {1, i.line - 16, 4});
        }
      }
      // PrimeCell (AMBA) devices need their bus clock.
      if (absl::StrContains(absl::StrCat(" ", d.fdt_compatible, " "), " arm,primecell ")) {
        bool has = false;
        for (const auto& p : n.props) has |= p.first == "clocks";
        if (!has) {
          need_clock = true;
          auto be32 = [](uint32_t v) {
            return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
          };
          // The first clock is the device's functional clock: the 24 MHz
          // one unless the device states its rate (`clock-frequency`, e.g.
          // the SP805's WDOGCLK), then a fixed clock of that rate. The
          // device may name its clocks itself (`clock-names`).
          uint32_t first = kClockPhandle;
          bool has_names = false;
          for (const auto& p : n.props) {
            has_names |= p.first == "clock-names";
            if (p.first != "clock-frequency" || p.second.size() != 4) continue;
            const auto* b = reinterpret_cast<const uint8_t*>(p.second.data());
            uint32_t hz = uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
            if (hz == 0 || hz == boot::kApbClockHz) continue;
            first = 0;
            for (const auto& [ph, f] : fm.fixed_clocks)
              if (f == hz) first = ph;
            if (!first) {
              first = kClockPhandle + 1 + uint32_t(fm.fixed_clocks.size());
              fm.fixed_clocks.emplace_back(first, hz);
            }
          }
          n.props.emplace_back("clocks", be32(first) + be32(kClockPhandle));
          if (!has_names)
            n.props.emplace_back("clock-names", std::string("uartclk\0apb_pclk\0", 17));
        }
      }
      // The boot console: the first device with a node that opened a console.
      if (fm.stdout_path.empty() && d.console) fm.stdout_path = boot::FdtNodePath(n);
      fm.devices.push_back(std::move(n));
    }
    if (need_clock) fm.clock_phandle = kClockPhandle;
    absl::StatusOr<std::vector<uint8_t>> blob;
    if (user_fdt) {
      blob = patch_user_fdt(*user_fdt, cfg, fm);
    } else {
      blob = boot::BuildArm64Fdt(fm);
    }
    if (!blob.ok()) return blob.status();
    if (blob->size() > boot::kArm64FdtMax)
      return absl::FailedPreconditionError("device tree larger than 2 MiB");
    if (!mem.write(place->fdt, blob->data(), blob->size(), true))
      return absl::InternalError("cannot write the device tree into guest RAM");
    fdt_blob_ = *blob;
    if (!plan_.fdt_dump_file.empty()) dump_fdt(plan_.fdt_dump_file);
    entry_ = k->entry;
    fdt_ = place->fdt;
    summary_ = absl::StrFormat("arm64 %s, entry 0x%x; FDT at 0x%x (%u bytes%s)", k->kind,
                               k->entry, place->fdt, blob->size(),
                               user_fdt ? absl::StrCat(", from ", user_fdt->path) : "");
    if (initrd_size)
      absl::StrAppend(&summary_, absl::StrFormat("; initrd at 0x%x", place->initrd));
    if (pmu_) absl::StrAppend(&summary_, "; PMUv3 (PPI 23)");
    return absl::OkStatus();
  }

  absl::Status prepare_vcpu(VcpuBackend& vcpu, unsigned index) override {
    auto* v = dynamic_cast<arm64::KvmArm64Vcpu*>(&vcpu);
    if (!v) return absl::InternalError("arm64 machine given a foreign vCPU");
    if (index == 0) return v->set_entry(entry_, fdt_);
    return absl::OkStatus();
  }

  // Every vCPU exists, none has run: the vGIC is initialised, then the PMU
  // attached (it needs the vGIC) and the guest counter set.
  absl::Status finalize(VmBackend& backend) override {
    auto* vm = dynamic_cast<arm64::KvmArm64Vm*>(&backend);
    if (!vm) return absl::InternalError("arm64 machine given a foreign VM");
    absl::Status st = vm->finalize_gic();
    if (st.ok()) st = vm->init_pmu();
    if (st.ok()) st = vm->start_counter(&counter_);
    return st;
  }

  std::string boot_summary() const override { return summary_; }

 private:
  void dump_fdt(const std::string& path) {
    FILE* f = fopen(path.c_str(), "wb");
    if (!f || fwrite(fdt_blob_.data(), 1, fdt_blob_.size(), f) != fdt_blob_.size())
      Log(LogLevel::Error, "fdt-dump-file %s: cannot write", path.c_str());
    if (f) fclose(f);
  }

  // `fdt load`: the user's blob with what qvm owns filled in: /chosen
  // bootargs (`cmdline`), linux,initrd-start/-end (`initrd load`), and
  // /memory nodes only when the blob has none. Warns once when the blob has
  // no /cpus or no memory node.
  absl::StatusOr<std::vector<uint8_t>> patch_user_fdt(const LoadSpec& l, const Config& cfg,
                                                      const boot::FdtMachine& fm) {
    boot::UserFdtPatch p;
    p.set_bootargs = cfg.cmdline.has_value();
    p.bootargs = cfg.cmdline.value_or("");
    p.initrd_start = fm.initrd_start;
    p.initrd_end = fm.initrd_end;
    p.memory = fm.memory;
    auto r = boot::PatchUserFdt(*user_fdt_, p);
    if (!r.ok())
      return ConfigError(l.path_where, absl::StrCat(l.path, ": ", r.status().message()));
    if (!user_fdt_warned_) {
      user_fdt_warned_ = true;
      if (!r->has_cpus)
        Log(LogLevel::Warn, "fdt load %s: the device tree has no /cpus node (the guest may "
            "not find its CPUs)", l.path.c_str());
      if (!r->had_memory)
        Log(LogLevel::Warn, "fdt load %s: the device tree has no memory node; qvm added "
            "one per RAM region", l.path.c_str());
    }
    return std::move(r->blob);
  }

  std::optional<std::vector<uint8_t>> user_fdt_;  // `fdt load`, validated
  bool user_fdt_warned_ = false;
  arm64::GicPlan gic_;
  arm64::MachinePlan plan_;  // plan(): the policies, read once
  uint64_t entry_ = 0, fdt_ = 0;
  std::vector<uint8_t> fdt_blob_;
  std::string summary_;
  arm64::CounterState counter_;  // survives resets (new VMs)
  bool pmu_ = false;  // `set pmu`, resolved in plan() (auto: the host's capability)
};

}  // namespace

std::unique_ptr<Machine> CreateMachine() { return std::make_unique<Arm64Machine>(); }

}  // namespace qvm
