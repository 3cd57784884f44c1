#include "vmm/vm.h"
#include "vmm/vm_gdb.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "vmm/log.h"
#include "vmm/syscall_filter.h"

namespace qvm {
namespace {

constexpr uint64_t kDefaultRam = 128ull << 20;

std::string SpaceName(uint32_t s) {
  return s == QVM_SPACE_IO ? "io" : s == QVM_SPACE_PCI_CFG ? "pci" : "mem";
}

}  // namespace

Vm::Vm(Config cfg, std::unique_ptr<Machine> machine,
       std::unique_ptr<VdevLoader> loader)
    : cfg_(std::move(cfg)),
      machine_(std::move(machine)),
      loader_(loader ? std::move(loader)
                     : std::make_unique<VdevLoader>(VdevLoader::DefaultSearchDirs())) {}

Vm::~Vm() {
  stop_vcpus();
  drain_streams();
  if (control_) control_->detach();
  for (auto& d : devs_) d->control(QVM_CTRL_TERMINATE);
  for (auto& d : devs_) CloseNotifiers(d.get());  // while the VM is whole
  for (auto& d : devs_) CloseMemMaps(d.get());
  if (stdin_forwarded_) loop_.unwatch_fd(0);
  for (auto& o : outs_) {
    loop_.unwatch_fd(o.rfd);
    close(o.rfd);
    if (o.real > 2) close(o.real);
  }
  for (auto& i : ins_) close(i.wfd);
}

unsigned Vm::ncpus() const {
  return cfg_.cpus.empty() ? 1u : unsigned(cfg_.cpus.size());
}

Bus* Vm::bus(uint32_t space) {
  if (space == QVM_SPACE_IO) return &io_;
  if (space == QVM_SPACE_MEM) return &mmio_;
  return nullptr;
}

std::vector<qvm_vdev*> Vm::all_devices() {
  std::vector<qvm_vdev*> out;
  for (auto& d : devs_) out.push_back(d.get());
  return out;
}

qvm_vdev* Vm::find_device(const std::string& name) {
  for (auto& d : devs_)
    if (d->name == name) return d.get();
  return nullptr;
}

qvm_vdev* Vm::find_controller(const std::string& name) {
  if (qvm_vdev* d = find_device(name)) return d;
  for (auto& d : devs_)
    if (d->spec.type == name && d->is_pic() && d->pic_line_count() > 0) return d.get();
  return nullptr;
}

// Who serves a bus region: "vdev NAME" or "pass" (Passthrough).
static std::string RegionOwner(const Bus::Region& r) {
  if (auto* d = dynamic_cast<const qvm_vdev*>(r.dev)) return "vdev " + d->name;
  return r.dev->bus_name();
}

absl::Status Vm::refuse_unsupported() const {
  for (const auto& l : cfg_.loads) {
    // `fdt load` replaces the generated device tree of a machine described
    // by one; a machine described by ACPI has none to replace.
    if (l.kind == LoadKind::Fdt && !machine_->builds_fdt())
      return ConfigError(l.where, absl::StrCat("`fdt load`: not supported on ", machine_->name(),
                                               " (no device tree there; `acpi load` replaces "
                                               "the ACPI tables)"));
  }
  return absl::OkStatus();
}

// What QNX documents that qvm accepts without an equivalent on Linux: one
// info line each, saying what happens instead (vmm/README.md's table).
void Vm::note_accepted() const {
  NoteVariables(cfg_);
  if (cfg_.debug)
    Log(LogLevel::Info, "%s: `debug`: accepted; qvm's debugger stub is `set gdb ENDPOINT` "
        "(vmm/README.md), dumps are `dump`, SIGUSR2, `qvmctl dump`", cfg_.debug_where.str().c_str());
  if (cfg_.tolerance)
    Log(LogLevel::Info, "%s: `tolerance`: no effect here: qvm's device timers are the "
        "host's high-resolution timers (timerfd), not tick-based",
        cfg_.tolerance_where.str().c_str());
  if (!cfg_.safety.empty())
    Log(cfg_.safety == "warn" ? LogLevel::Warn : LogLevel::Info,
        "%s: `safety %s`: no component of qvm is safety-certified", cfg_.safety_where.str().c_str(),
        cfg_.safety.c_str());
  for (const auto& c : cfg_.cpus)
    if (!c.partition.empty())
      Log(LogLevel::Info, "%s: `partition %s`: no adaptive partitioning on Linux; the vCPU "
          "thread runs in qvm's own cgroup (give it CPU shares with systemd-run or cgcreate)",
          c.partition_where.str().c_str(), c.partition.c_str());
}

absl::Status Vm::build_memory() {
  if (cfg_.mem.empty()) {
    MemSpec m;
    m.start = machine_->default_ram_base();
    m.size = kDefaultRam;
    m.where.file = "<default>";
    cfg_.mem.push_back(m);
  }
  // RAM or ROM given without a start goes after the highest so far, around
  // the machine's hole (one given part becomes two regions then).
  const auto [hole, hole_end] = machine_->ram_hole();
  std::vector<MemSpec> placed;
  for (MemSpec m : cfg_.mem) {
    std::vector<MemSpec> parts;
    if (m.start) {
      parts.push_back(m);
    } else {
      uint64_t start = mem_.regions().empty() ? machine_->default_ram_base()
                                              : (mem_.top() + 0xfff) & ~0xfffull;
      if (hole_end > hole && start >= hole && start < hole_end) start = hole_end;
      m.start = start;
      if (hole_end > hole && start < hole && m.size > hole - start) {
        MemSpec high = m;
        m.size = hole - start;
        high.start = hole_end;
        high.size -= m.size;
        parts.push_back(m);
        parts.push_back(high);
      } else {
        parts.push_back(m);
      }
    }
    for (const MemSpec& p : parts) {
      absl::Status st = mem_.add(*p.start, p.size, p.rom);
      if (!st.ok())
        return ConfigError(p.value_where, absl::StrCat("`", p.rom ? "rom" : "ram",
                                                       "`: ", st.message()));
      placed.push_back(p);
    }
  }
  cfg_.mem = std::move(placed);
  return absl::OkStatus();
}

absl::Status Vm::build_devices() {
  // Platform devices are implied when the config lists none of them.
  std::vector<std::string> platform = machine_->platform_devices();
  bool any = false;
  for (const auto& v : cfg_.vdevs)
    if (std::find(platform.begin(), platform.end(), v.type) != platform.end())
      any = true;
  std::vector<VdevSpec> specs;
  if (!any)
    for (const auto& t : platform) {
      VdevSpec s;
      s.type = t;
      s.where.file = "<implied>";
      specs.push_back(s);
    }
  for (const auto& v : cfg_.vdevs) specs.push_back(v);
  // `pass loc pci`: each a function of the PCI-passthrough plug-in.
  for (auto& v : PciPassSpecs(cfg_, machine_->pci_pass_device())) specs.push_back(std::move(v));

  // Names: `name` wins; otherwise TYPE for the first instance of a type,
  // TYPE-1, TYPE-2, ... for the next ones.
  std::set<std::string> taken;
  for (const auto& s : specs)
    if (!s.name.empty()) taken.insert(s.name);
  std::map<std::string, int> count;
  for (auto& s : specs) {
    auto fac = loader_->get(s.type);
    if (!fac.ok())
      return ConfigError(s.type_where.file.empty() ? s.where : s.type_where,
                         absl::StrCat("vdev `", s.type, "`: ",
                                      fac.status().message()));
    std::string name = s.name;
    if (name.empty()) {
      for (;;) {
        int n = count[s.type]++;
        name = n == 0 ? s.type : absl::StrCat(s.type, "-", n);
        if (!taken.count(name)) break;
      }
      taken.insert(name);
    }
    devs_.push_back(std::make_unique<qvm_vdev>(this, *fac, s, name));
    absl::Status st = devs_.back()->configure();
    if (!st.ok()) return st;
  }
  // A PCI function needs a PCI host: the machine's implied one is added when
  // no factory with QVM_VDEVF_PCI_HOST is configured (the host enumerates
  // the functions at QVM_CTRL_RESOURCES).
  bool any_pci = false, have_host = false;
  for (auto& d : devs_) {
    if (d->pci.fn) any_pci = true;
    if (d->factory->flags & QVM_VDEVF_PCI_HOST) have_host = true;
  }
  if (any_pci && !have_host) {
    VdevSpec s;
    s.type = machine_->implied_pci_host();
    s.where.file = "<implied>";
    auto fac = loader_->get(s.type);
    if (!fac.ok())
      return ConfigError(s.where, absl::StrCat("vdev `", s.type, "` (implied by a PCI device): ",
                                               fac.status().message()));
    std::string name = taken.count(s.type) ? s.type + "-implied" : s.type;
    devs_.push_back(std::make_unique<qvm_vdev>(this, *fac, s, name));
    absl::Status st = devs_.back()->configure();
    if (!st.ok()) return st;
  }
  for (auto& d : devs_) {
    absl::Status st = d->resolve_interrupts();
    if (!st.ok()) return st;
  }
  // Every region and interrupt is assigned now.
  for (auto& d : devs_) {
    int rc = d->control(QVM_CTRL_RESOURCES);
    if (rc < 0)
      return ConfigError(d->spec.where, absl::StrFormat(
          "vdev %s: cannot take its resources (%s)", d->name, strerror(-rc)));
  }
  // Device MMIO must not hide behind RAM (the accelerator maps RAM first).
  for (const auto& r : mmio_.regions())
    for (const auto& m : mem_.regions())
      if (r.base < m.gpa + m.size && m.gpa < r.base + r.size) {
        auto* d = static_cast<qvm_vdev*>(r.dev);
        return ConfigError(d->spec.where, absl::StrFormat(
            "vdev %s: region 0x%x-0x%x overlaps guest memory", d->name,
            r.base, r.base + r.size - 1));
      }
  // `pass`: after the devices, so that an overlap is reported at the pass.
  absl::Status st = pass_.build(cfg_, mem_, mmio_, io_, *machine_, !cfg_.dryrun);
  if (!st.ok()) return st;
  return check_reserved();
}

// QNX's `reserve`: a guest-physical range (memory or ports; SIZE bytes,
// default 1) or an interrupt line nothing in the VM may use. qvm places
// nothing itself outside its devices' regions, so checking the built VM
// is the whole of it.
absl::Status Vm::check_reserved() const {
  for (const auto& rs : cfg_.reserves) {
    if (rs.loc) {
      const LocSpec& l = *rs.loc;
      if (l.space == Space::Pci)
        return ConfigError(l.where, "`reserve loc`: a PCI location cannot be reserved");
      uint64_t size = l.size.value_or(1);
      if (l.addr > UINT64_MAX - (size - 1))
        return ConfigError(l.where, "`reserve loc`: range wraps around");
      uint64_t last = l.addr + (size - 1);
      const Bus& bus = l.space == Space::Io ? io_ : mmio_;
      for (const auto& r : bus.regions())
        if (r.base <= last && l.addr <= r.base + (r.size - 1))
          return ConfigError(l.where, absl::StrFormat(
              "`reserve loc`: 0x%x-0x%x is reserved, and %s serves 0x%x-0x%x", l.addr,
              last, RegionOwner(r), r.base, r.base + r.size - 1));
      if (l.space == Space::Mem)
        for (const auto& m : mem_.regions())
          if (m.gpa <= last && l.addr <= m.gpa + (m.size - 1))
            return ConfigError(l.where, absl::StrFormat(
                "`reserve loc`: 0x%x-0x%x is reserved, and guest memory covers 0x%x-0x%x",
                l.addr, last, m.gpa, m.gpa + m.size - 1));
    }
    if (rs.intr)
      for (const auto& d : devs_)
        for (const auto& i : d->intrs)
          if (i.line == *rs.intr)
            return ConfigError(rs.where, absl::StrFormat(
                "`reserve intr %u`: vdev %s uses %s:%u", *rs.intr, d->name,
                i.controller->name, i.line));
  }
  return absl::OkStatus();
}

std::vector<DeviceInfo> Vm::device_info() const {
  std::vector<DeviceInfo> out;
  for (const auto& d : devs_) {
    DeviceInfo di;
    di.type = d->spec.type;
    di.name = d->name;
    for (const auto& r : d->regions) di.regions.push_back({r.space, r.base, r.size});
    for (const auto& i : d->intrs) di.intrs.push_back({i.controller->name, i.line});
    di.acpi_hid = d->describe.acpi_hid;
    di.acpi_cid = d->describe.acpi_cid;
    di.acpi = d->describe.acpi;
    for (const auto& o : outs_) di.console |= o.dev == d.get();
    di.fdt_name = d->describe.fdt_name;
    di.fdt_compatible = d->describe.fdt_compatible;
    di.fdt_props = d->describe.fdt_props;
    di.fdt_phandle = d->describe.fdt_phandle;
    di.irqchip_kind = d->irqchip.kind;
    di.irqchip_nirqs = d->irqchip.nirqs;
    di.irqchip_user = d->irqchip.user;
    out.push_back(std::move(di));
  }
  return out;
}

// Build step 1: what the configuration asks for, interpreted once. The VM
// core's plan (vmm/vm_plan.h) and the machine's (arch/<arch>/plan.h); the
// steps after this one read those, not the `set` variables.
absl::Status Vm::plan() {
  absl::Status st = refuse_unsupported();
  if (st.ok()) st = RefuseForeignVariables(cfg_, machine_->name());
  if (!st.ok()) return st;
  note_accepted();
  if (cfg_.user) {
    auto c = ResolveUser(cfg_.user->uid, cfg_.user->gids);
    if (!c.ok())
      return ConfigError(cfg_.user->value_where, absl::StrCat("`user`: ", c.status().message()));
    user_ = *c;
  }
  if (const SetVar* v = cfg_.var("gdb")) {
    VmPlan scratch;
    std::string why;
    if (!ParseGdbEndpoint(v->raw, &scratch, &why))
      return ConfigError(v->value_where, absl::StrCat("`set gdb`: bad endpoint `", v->raw,
                                                      "`: ", why));
  }
  plan_ = MakeVmPlan(cfg_);
  st = machine_->plan(cfg_);
  if (!st.ok()) return st;
  // The one policy for what nothing models: `unsupported` and what the
  // machine plan decided for unknown MSRs (Machine::msr_unknown).
  exit_ctx_.unsupported = UnsupportedPolicy::FromConfig(cfg_, machine_->msr_unknown());
  if (ncpus() > 64)
    return ConfigError(cfg_.cpus[64].where, "at most 64 vCPUs are supported");
  long host_cpus = sysconf(_SC_NPROCESSORS_CONF);
  for (const auto& c : cfg_.cpus)
    for (int m : c.runmask)
      if (m >= host_cpus)
        return ConfigError(c.runmask_where, absl::StrFormat(
            "`runmask`: host CPU %d does not exist (the host has %ld)", m,
            host_cpus));
  return absl::OkStatus();
}

// Build step 4: every device writes its part of the machine description.
absl::Status Vm::describe_devices() {
  if (machine_->builds_acpi())
    for (auto& d : devs_) {
      d->describe.acpi_open = true;
      int rc = d->control(QVM_CTRL_GEN_ACPI);
      d->describe.acpi_open = false;
      if (rc < 0 && rc != -ENOTSUP)
        return absl::FailedPreconditionError(absl::StrFormat(
            "vdev %s: ACPI description failed (%s)", d->name, strerror(-rc)));
    }
  if (machine_->builds_fdt()) {
    // Phandles first, so that nodes can refer to each other in any order.
    for (size_t i = 0; i < devs_.size(); i++) devs_[i]->describe.fdt_phandle = uint32_t(0x100 + i);
    for (auto& d : devs_) {
      d->describe.fdt_open = true;
      int rc = d->control(QVM_CTRL_GEN_FDT);
      d->describe.fdt_open = false;
      if (rc < 0 && rc != -ENOTSUP)
        return absl::FailedPreconditionError(absl::StrFormat(
            "vdev %s: device-tree description failed (%s)", d->name, strerror(-rc)));
    }
  }
  return absl::OkStatus();
}

// Boot step a: the guest's images and boot tables into guest memory.
absl::Status Vm::load_guest() {
  return machine_->load(cfg_, mem_, device_info(), ncpus());
}

// Boot step b: a new accelerator VM with the guest memory mapped.
absl::Status Vm::start_backend(bool first) {
  {
    auto be = machine_->create_backend(ncpus());
    if (!be.ok()) return be.status();
    std::lock_guard<std::mutex> g(backend_mu_);
    backend_ = std::move(*be);
    if (first) Log(LogLevel::Info, "accelerator: %s", backend_->describe().c_str());
  }
  // A user-space interrupt controller hears of the per-vCPU outputs.
  for (auto& d : devs_) {
    if (!d->irqchip.user || !d->irqchip.outputs) continue;
    qvm_vdev* dev = d.get();
    absl::Status st = backend_->watch_vcpu_outputs([dev](unsigned vcpu, uint32_t mask) {
      std::lock_guard<std::mutex> g(dev->mu);
      dev->irqchip.outputs(dev, dev->state, vcpu, mask);
    });
    if (!st.ok()) return absl::Status(st.code(), absl::StrCat("vdev ", dev->name, ": ", st.message()));
  }
  absl::Status st = backend_->map_memory(mem_);
  if (!st.ok()) return st;
  // `pass loc mem`: host memory slots beside the RAM (every new VM).
  return pass_.map_all([this](uint64_t gpa, void* host, uint64_t size, bool writable) {
    return map_host_memory(gpa, host, size, writable, true);
  });
}

// Boot step c: the devices at power-on, their notifiers on the new backend.
void Vm::reset_devices(bool first) {
  for (auto& d : devs_) ReplayNotifiers(d.get());  // ioeventfds/irqfds
  for (auto& d : devs_) ReplayMemMaps(d.get());    // host memory (qvm_mem_map)
  for (auto& d : devs_) d->control(QVM_CTRL_RESET);
  if (first)
    for (auto& d : devs_) d->control(QVM_CTRL_GUEST_CONFIGURED);
}

// The build, once (boot steps: run()).
absl::Status Vm::build() {
  absl::Status st = plan();                 // 1. the VM plan and the machine plan
  if (st.ok() && !cfg_.dryrun && cfg_.dump && !cfg_.dump->empty() && (*cfg_.dump)[0] == '|')
    st = spawner_.start(user_ ? &*user_ : nullptr);  // `dump "|CMD"`: forked while qvm is one thread
  if (st.ok()) st = build_memory();         // 2. guest RAM and ROM
  if (st.ok()) st = loop_.init({SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGHUP});
  if (st.ok()) st = build_devices();        // 3. plug-ins: configure, interrupts, resources
  if (!st.ok()) return st;
  build_stat_regions();
  st = describe_devices();                  // 4. their ACPI / FDT parts
  if (st.ok()) st = load_guest();           // 5. = the first boot's step a
  return st;
}

bool Vm::irqchip_supported(unsigned kind) const {
  return machine_->supports_irqchip(kind);
}

int Vm::irqchip_line(unsigned intid, bool level) {
  std::lock_guard<std::mutex> g(backend_mu_);
  if (!backend_) return -EAGAIN;
  absl::Status st = backend_->irq_line(intid, level);
  if (!st.ok()) {
    QVM_LOG_RL(LogLevel::Warn, "interrupt %u: %s", intid, std::string(st.message()).c_str());
    return -EIO;
  }
  return 0;
}

bool Vm::user_irqchip_supported(unsigned kind) const {
  return machine_->supports_user_irqchip(kind);
}

int Vm::vcpu_irq(unsigned vcpu, unsigned input, bool level) {
  if (vcpu >= ncpus()) return -EINVAL;
  std::lock_guard<std::mutex> g(backend_mu_);
  if (!backend_) return -EAGAIN;
  absl::Status st = backend_->cpu_irq_line(vcpu, input, level);
  if (!st.ok()) {
    QVM_LOG_RL(LogLevel::Warn, "vcpu %u interrupt input %u: %s", vcpu, input,
               std::string(st.message()).c_str());
    return -EIO;
  }
  return 0;
}

void Vm::print(FILE* out) const {
  fprintf(out, "system %s\n", cfg_.system.c_str());
  fprintf(out, "memory map:\n");
  struct Row { uint64_t base, end; std::string what; };
  std::vector<Row> rows;
  for (const auto& m : mem_.regions())
    rows.push_back({m.gpa, m.gpa + m.size - 1, m.readonly ? "rom" : "ram"});
  for (const auto& r : mmio_.regions())
    rows.push_back({r.base, r.base + r.size - 1, RegionOwner(r)});
  std::sort(rows.begin(), rows.end(),
            [](const Row& a, const Row& b) { return a.base < b.base; });
  for (const auto& r : rows)
    fprintf(out, "  mem 0x%012llx-0x%012llx %s\n", (unsigned long long)r.base,
            (unsigned long long)r.end, r.what.c_str());
  for (const auto& r : io_.regions())
    fprintf(out, "  io  0x%04llx-0x%04llx %s\n", (unsigned long long)r.base,
            (unsigned long long)(r.base + r.size - 1), RegionOwner(r).c_str());
  fprintf(out, "vcpus: %u\n", ncpus());
  for (unsigned i = 0; i < ncpus(); i++) {
    std::string sched = "default", mask = "any";
    if (i < cfg_.cpus.size()) {
      const auto& c = cfg_.cpus[i];
      if (c.priority)
        sched = absl::StrFormat("%d%c", *c.priority, c.policy);
      if (!c.runmask.empty()) mask = absl::StrJoin(c.runmask, ",");
    }
    std::string part;
    if (i < cfg_.cpus.size() && !cfg_.cpus[i].partition.empty())
      part = " partition " + cfg_.cpus[i].partition + " (noted)";
    fprintf(out, "  cpu %u: sched %s runmask %s%s\n", i, sched.c_str(), mask.c_str(),
            part.c_str());
  }
  pass_.print(out);
  fprintf(out, "vdevs:\n");
  for (const auto& d : devs_) {
    std::vector<std::string> locs, intrs, opts;
    for (const auto& r : d->regions)
      locs.push_back(absl::StrFormat("%s:0x%x+0x%x", SpaceName(r.space), r.base, r.size));
    for (const auto& i : d->intrs) intrs.push_back(i.controller->name + ":" + std::to_string(i.line));
    for (const auto& o : d->spec.options)
      opts.push_back(o.value.empty() ? o.name : o.name + " " + o.value);
    fprintf(out, "  %s (%s)%s\n", d->name.c_str(), d->spec.type.c_str(),
            d->spec.where.file == "<implied>" ? " implied" : "");
    fprintf(out, "    loc %s\n", locs.empty() ? "-" : absl::StrJoin(locs, " ").c_str());
    fprintf(out, "    intr %s\n", intrs.empty() ? "-" : absl::StrJoin(intrs, " ").c_str());
    if (!opts.empty()) fprintf(out, "    options %s\n", absl::StrJoin(opts, ", ").c_str());
    fprintf(out, "    plug-in %s\n", loader_->origin(d->spec.type).c_str());
  }
  fprintf(out, "boot: %s\n", machine_->boot_summary().c_str());
  if (cfg_.cmdline) fprintf(out, "cmdline: %s\n", cfg_.cmdline->c_str());
  if (cfg_.unsupported)
    fprintf(out, "unsupported: %s\n", UnsupportedText(*cfg_.unsupported).c_str());
}

int Vm::signal_msi(uint64_t address, uint32_t data) {
  std::lock_guard<std::mutex> g(backend_mu_);
  if (!backend_) return -EAGAIN;
  absl::Status st = backend_->signal_msi(address, data);
  if (!st.ok()) {
    QVM_LOG_RL(LogLevel::Warn, "MSI 0x%llx/0x%x: %s", (unsigned long long)address,
               data, std::string(st.message()).c_str());
    return -EIO;
  }
  return 0;
}

// Notifications without exits (vmm/vdev_notify.cc).
static int NotifyErr(const absl::Status& st) {
  if (st.ok()) return 0;
  if (absl::IsUnimplemented(st)) return -ENOTSUP;
  if (absl::IsAlreadyExists(st)) return -EEXIST;
  if (absl::IsInvalidArgument(st)) return -EINVAL;
  QVM_LOG_RL(LogLevel::Warn, "%s", std::string(st.message()).c_str());
  return -EIO;
}

int Vm::notifiers_supported(bool irq) {
  std::lock_guard<std::mutex> g(backend_mu_);
  if (!backend_) return -EAGAIN;
  return backend_->notifiers_supported(irq) ? 0 : -ENOTSUP;
}

int Vm::ioeventfd(int fd, uint64_t addr, unsigned len, bool io, bool match, uint64_t datamatch,
                  bool assign) {
  std::lock_guard<std::mutex> g(backend_mu_);
  if (!backend_) return -EAGAIN;
  return NotifyErr(backend_->ioeventfd(fd, addr, len, io, match, datamatch, assign));
}

int Vm::map_host_memory(uint64_t gpa, void* host, uint64_t size, bool writable, bool assign) {
  std::lock_guard<std::mutex> g(backend_mu_);
  if (!backend_) return -EAGAIN;
  absl::Status st = backend_->map_host_memory(gpa, host, size, writable, assign);
  if (absl::IsResourceExhausted(st)) return -ENOSPC;
  return NotifyErr(st);
}

int Vm::irqfd(int fd, unsigned gsi, bool assign) {
  std::lock_guard<std::mutex> g(backend_mu_);
  if (!backend_) return -EAGAIN;
  return NotifyErr(backend_->irqfd(fd, gsi, assign));
}

int Vm::set_msi_route(unsigned gsi, uint64_t address, uint32_t data, bool masked) {
  std::lock_guard<std::mutex> g(backend_mu_);
  if (!backend_) return -EAGAIN;
  absl::Status st = backend_->set_msi_route(gsi, address, data, masked);
  if (!st.ok()) {
    QVM_LOG_RL(LogLevel::Warn, "MSI route %u: %s", gsi, std::string(st.message()).c_str());
    return -EIO;
  }
  return 0;
}

int Vm::cpu_extint(qvm_vdev* pic, bool level) {
  std::lock_guard<std::mutex> g(extint_mu_);
  extint_pic_ = pic;
  extint_level_ = level;
  if (!vcpus_.empty() && vcpus_[0]->be)
    vcpus_[0]->be->set_extint(level, [pic] { return pic->pic_inta(); });
  return 0;
}

void Vm::post(Request r, int code) {
  {
    std::lock_guard<std::mutex> g(req_mu_);
    if (int(r) > int(req_)) {
      req_ = r;
      req_code_ = code;
    }
  }
  loop_.wake();
}

void Vm::request_power(int what) {
  switch (what) {
    case QVM_POWER_RESET:
      post(Request::Reset, 0);
      return;
    case QVM_POWER_WATCHDOG:
      Log(LogLevel::Warn, "watchdog expired: stopping the VM");
      post(Request::Exit, kExitWatchdog);
      return;
    default:
      post(Request::PowerOff, 0);
  }
}

void Vm::request_exit(int code) { post(Request::Exit, code); }

int Vm::request_dump(int then) {
  {
    std::lock_guard<std::mutex> g(req_mu_);
    dump_pending_ = true;
    if (then != QVM_DUMP_CONTINUE && dump_then_.size() < 16) dump_then_.push_back(then);
  }
  loop_.wake();
  return 0;
}

void Vm::on_wake() {
  // A thread found the system log's socket broken: connect from here.
  LogReconnect();
  // A device's dump request (qvm_guest_dump): written here, on the loop
  // with no instance lock held, the same dump as SIGUSR2; its follow-ups
  // come after it.
  bool want_dump;
  std::vector<int> then;
  {
    std::lock_guard<std::mutex> g(req_mu_);
    want_dump = dump_pending_;
    dump_pending_ = false;
    then.swap(dump_then_);
  }
  if (want_dump) {
    // The guest drives its watchdog: a dump (every vCPU paused, all of RAM
    // written) at most every kDeviceDumpGapNs, or a guest that expires it
    // in a loop (fiq, reset) would fill the disk. The follow-ups stay.
    uint64_t now = MonotonicNs();
    if (last_device_dump_ns_ && now - last_device_dump_ns_ < kDeviceDumpGapNs) {
      uint64_t dropped = 0;
      if (device_dump_rl_.allow(&dropped))
        Log(LogLevel::Warn,
            "a device asked for a guest dump %.1f s after the last one: skipped (one every "
            "%u s at most)%s",
            double(now - last_device_dump_ns_) / 1e9, unsigned(kDeviceDumpGapNs / 1000000000),
            dropped ? " (earlier reports suppressed)" : "");
    } else {
      std::string out;
      dump(&out);
      last_device_dump_ns_ = MonotonicNs();
    }
    for (int what : then) request_power(what);
  }
  {
    std::lock_guard<std::mutex> g(req_mu_);
    if (req_ != Request::None) {
      loop_.stop();
      return;
    }
  }
  if (gdb_) on_gdb_stop();
}

void Vm::trace_exit(Vcpu& v, const Exit& e) {
  if (e.kind == ExitKind::Interrupted || e.kind == ExitKind::IrqWindow) return;
  TraceEntry t;
  t.ts_ns = MonotonicNs();
  t.kind = e.kind;
  t.addr = e.addr;
  t.size = e.size;
  t.count = e.count;
  t.write = e.write;
  if (e.kind == ExitKind::MsrWrite) t.value = e.msr_value;
  else if (e.write && e.data) memcpy(&t.value, e.data, std::min<size_t>(e.size, 8));
  t.insn = v.be->current_insn(mem_);
  v.trace->record(t);
}

// A shutdown exit (a triple fault): the guest resets in place, and
// what its vCPU was doing is logged, rate-limited since a guest can loop.
// On the vCPU's thread: capture only (the loop logs it, below).
void Vm::report_shutdown(Vcpu& v, unsigned index) {
  uint64_t dropped = 0;
  if (!shutdown_rl_.allow(&dropped)) return;
  ShutdownReport rep;
  rep.vcpu = index;
  rep.dropped = dropped;
  rep.at_ns = MonotonicNs();
  rep.insn = v.be->current_insn(mem_);
  if (auto r = v.be->regs(); r.ok()) rep.regs = std::move(r->text);
  if (v.trace) {
    rep.traced = true;
    rep.trace = v.trace->entries();
  }
  std::lock_guard<std::mutex> g(req_mu_);
  if (shutdown_reports_.size() < 64) shutdown_reports_.push_back(std::move(rep));
}

// On the loop's thread, once the vCPUs have stopped: the captured triple
// faults, disassembled and logged.
void Vm::log_shutdown_report() {
  std::vector<ShutdownReport> reps;
  {
    std::lock_guard<std::mutex> g(req_mu_);
    reps.swap(shutdown_reports_);
  }
  for (const ShutdownReport& rep : reps) {
    std::string msg =
        absl::StrFormat("vcpu %u: triple fault (shutdown): the guest resets", rep.vcpu);
    if (rep.dropped) absl::StrAppendFormat(&msg, " (%u earlier reports suppressed)", rep.dropped);
    if (rep.insn.len)
      absl::StrAppendFormat(&msg, "\n  at 0x%x: %s", rep.insn.pc,
                            Disassemble(machine_->cpu_model(), rep.insn));
    for (absl::string_view l : absl::StrSplit(rep.regs, '\n', absl::SkipEmpty()))
      absl::StrAppend(&msg, "\n  ", l);
    if (rep.traced)
      for (const auto& l : FormatTrace(machine_->cpu_model(), rep.vcpu, rep.trace, rep.at_ns))
        absl::StrAppend(&msg, "\n  ", l);
    else
      absl::StrAppend(&msg, "\n  (`set trace-exits N` shows the exits before it)");
    Log(LogLevel::Error, "%s", msg.c_str());
  }
}

// Records one reset by the guest; true when it makes plan_.reset_loop
// resets within kResetLoopWindowNs (0: no limit).
bool Vm::reset_loop(uint64_t now_ns) {
  if (plan_.reset_loop == 0) return false;
  auto& t = guest_resets_ns_;
  t.erase(std::remove_if(t.begin(), t.end(),
                         [&](uint64_t ns) { return now_ns - ns >= kResetLoopWindowNs; }),
          t.end());
  t.push_back(now_ns);
  return t.size() >= plan_.reset_loop;
}

std::vector<std::string> Vm::trace_lines() const {
  std::vector<std::string> out;
  uint64_t now = MonotonicNs();
  for (size_t i = 0; i < vcpus_.size(); i++)
    if (vcpus_[i]->trace)
      for (auto& l : FormatTrace(machine_->cpu_model(), unsigned(i),
                                 vcpus_[i]->trace->entries(), now))
        out.push_back(std::move(l));
  return out;
}

void Vm::status_report() {
  Log(LogLevel::Info, "status: system %s, %u vcpu(s), up %.3f s, %u reset(s)",
      cfg_.system.c_str(), ncpus(), double(MonotonicNs() - start_ns_) / 1e9, resets_);
  for (size_t i = 0; i < vcpus_.size(); i++) {
    std::string line;
    for (size_t k = 0; k < size_t(ExitKind::Count); k++) {
      uint64_t n = vcpus_[i]->stats.by_kind[k].load();
      if (n) absl::StrAppend(&line, " ", ExitKindName(ExitKind(k)), "=", n);
    }
    Log(LogLevel::Info, "status: vcpu %zu exits:%s", i, line.empty() ? " none" : line.c_str());
  }
  for (const auto& l : trace_lines()) Log(LogLevel::Info, "status: %s", l.c_str());
  for (auto& d : devs_) d->control(QVM_CTRL_STATUS);
}

void Vm::on_signal(int sig) {
  switch (sig) {
    case SIGTERM:
    case SIGINT: {
      if (power_button_pressed_) {
        Log(LogLevel::Warn, "second %s: power cut", strsignal(sig));
        post(Request::Exit, kExitPowerCut);
        return;
      }
      press_power_button(strsignal(sig));
      return;
    }
    case SIGQUIT:
      Log(LogLevel::Info, "SIGQUIT: power cut");
      post(Request::Exit, kExitPowerCut);
      return;
    case SIGUSR1:
      status_report();
      return;
    case SIGUSR2: {
      std::string out;
      int rc = dump(&out);
      if (rc == 0)
        Log(LogLevel::Info, "SIGUSR2: guest dump written to %s", out.c_str());
      else
        Log(LogLevel::Error, "SIGUSR2: guest dump failed: %s", out.c_str());
      return;
    }
    default:
      return;
  }
}

static void KickHandler(int) {}

absl::Status Vm::start_vcpus() {
  stop_ = false;
  for (unsigned i = 0; i < ncpus(); i++) {
    auto be = backend_->create_vcpu(i);
    if (!be.ok()) return be.status();
    auto v = std::make_unique<Vcpu>();
    v->be = std::move(*be);
    if (plan_.trace_exits) v->trace = std::make_unique<ExitTrace>(plan_.trace_exits);
    absl::Status st = machine_->prepare_vcpu(*v->be, i);
    if (!st.ok()) return st;
    // Device threads read vcpus_[0] under extint_mu_ (cpu_extint).
    std::lock_guard<std::mutex> g(extint_mu_);
    vcpus_.push_back(std::move(v));
  }
  // Every vCPU exists and none runs yet: the machine completes the VM.
  absl::Status fst = machine_->finalize(*backend_);
  if (!fst.ok()) return fst;
  {
    std::lock_guard<std::mutex> g(extint_mu_);
    if (extint_pic_ && extint_level_) {
      qvm_vdev* pic = extint_pic_;
      vcpus_[0]->be->set_extint(true, [pic] { return pic->pic_inta(); });
    }
  }
  running_ = true;
  for (auto& v : vcpus_) {
    v->alive = true;
    v->region_hits.reset(new std::atomic<uint64_t>[stat_regions_.size()]());
  }
  for (unsigned i = 0; i < vcpus_.size(); i++)
    vcpus_[i]->thread = std::thread([this, i] { vcpu_main(i); });
  return absl::OkStatus();
}

void Vm::stop_vcpus() {
  // stop_ is set before the kick, and a kick makes the next or current guest
  // entry return at once, so one kick per vCPU is enough.
  stop_ = true;
  { std::lock_guard<std::mutex> g(pause_mu_); }
  pause_cv_.notify_all();  // parked vCPUs see stop_
  for (auto& v : vcpus_)
    if (v->be) v->be->kick();
  for (auto& v : vcpus_)
    if (v->thread.joinable()) v->thread.join();
  running_ = false;
}

void Vm::vcpu_main(unsigned index) {
  Vcpu& v = *vcpus_[index];
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGRTMIN);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  char tname[16];
  snprintf(tname, sizeof tname, "vcpu%u", index);
  pthread_setname_np(pthread_self(), tname);
  v.tid = gettid();
  struct AliveGuard {
    Vm* vm;
    Vcpu& v;
    ~AliveGuard() {
      {
        std::lock_guard<std::mutex> g(vm->pause_mu_);
        v.alive = false;
      }
      vm->pause_cv_.notify_all();
    }
  } alive_guard{this, v};
  if (index < cfg_.cpus.size()) {
    const CpuSpec& c = cfg_.cpus[index];
    if (!c.runmask.empty()) {
      cpu_set_t cs;
      CPU_ZERO(&cs);
      for (int m : c.runmask) CPU_SET(m, &cs);
      int rc = pthread_setaffinity_np(pthread_self(), sizeof cs, &cs);
      if (rc) Log(LogLevel::Warn, "cpu %u: host refused runmask: %s", index, strerror(rc));
    }
    if (c.priority) {
      int policy = c.policy == 'r' ? SCHED_RR : c.policy == 'f' ? SCHED_FIFO : SCHED_OTHER;
      sched_param sp{};
      sp.sched_priority = policy == SCHED_OTHER ? 0 : *c.priority;
      int rc = pthread_setschedparam(pthread_self(), policy, &sp);
      if (rc)
        Log(LogLevel::Warn, "cpu %u: host refused sched priority %d%c: %s "
            "(running with the default policy)", index, *c.priority, c.policy,
            strerror(rc));
    }
  }
  absl::Status st = v.be->bind_thread();
  if (!st.ok()) {
    Log(LogLevel::Fatal, "vcpu %u: %s", index, std::string(st.message()).c_str());
    post(Request::Exit, kExitFatalAfterStart);
    return;
  }
  // Set-up done: from here on the thread makes only the calls of its
  // allow-list (vmm/README.md, "System-call filter").
  if (filter_vcpus_) {
    if (absl::Status fst = InstallSyscallFilter(FilterKind::Vcpu, tname); !fst.ok()) {
      Log(LogLevel::Fatal, "vcpu %u: system-call filter: %s (`set seccomp off` runs without)",
          index, std::string(fst.message()).c_str());
      post(Request::Exit, kExitFatalAfterStart);
      return;
    }
  }
  ExitContext p = exit_ctx_;
  p.io = &io_;
  p.mem = &mmio_;
  p.stats = &v.stats;
  p.terminate_code = &terminate_code_;
  p.eoi_ctx = this;
  p.eoi = [](void* ctx, uint32_t vector) {
    for (auto& d : static_cast<Vm*>(ctx)->devs_)
      if (d->is_pic()) d->pic_eoi(vector);
  };
  // Always: the stub may start later (`qvmctl gdb`); debug_exit ignores
  // events while no debugger is attached.
  p.debug_ctx = this;
  p.debug = [](void* ctx, unsigned vcpu, const Exit& e) {
    Vm* vm = static_cast<Vm*>(ctx);
    return vm->debug_exit(*vm->vcpus_[vcpu], vcpu, e);
  };
  while (!stop_.load(std::memory_order_relaxed)) {
    if (pause_req_.load(std::memory_order_relaxed)) {
      park(v);
      continue;
    }
    auto ex = v.be->run();
    if (!ex.ok()) {
      Log(LogLevel::Fatal, "vcpu %u: %s", index, std::string(ex.status().message()).c_str());
      post(Request::Exit, kExitFatalAfterStart);
      return;
    }
    count_region(v, **ex);
    if (v.trace) trace_exit(v, **ex);
    ExitAction a = HandleExit(p, index, **ex);
    switch (a) {
      case ExitAction::Continue:
        continue;
      case ExitAction::Stop:
        return;
      case ExitAction::Reset:
        if ((*ex)->kind == ExitKind::Shutdown) report_shutdown(v, index);
        post(Request::Reset, kResetByGuest);
        return;
      case ExitAction::PowerOff:
        post(Request::PowerOff, 0);
        return;
      case ExitAction::Terminate: {
        int code = terminate_code_.load();
        post(Request::Exit, code ? code : kExitUnexpected);
        return;
      }
    }
  }
}

// A device may start threads from RESOURCES on, before run() decides the
// other filters: the same decision from the plan.
bool Vm::filter_threads() const {
  std::string why;
  return plan_.seccomp && SyscallFilterSupported(&why);
}

void Vm::plan_syscall_filters() {
  filter_vcpus_ = filter_main_ = false;
  std::string why;
  if (!plan_.seccomp) {
    Log(LogLevel::Info, "system-call filters off (`set seccomp off`)");
    return;
  }
  if (!SyscallFilterSupported(&why)) {
    Log(LogLevel::Info, "system-call filters off: %s", why.c_str());
    return;
  }
  filter_vcpus_ = filter_main_ = true;
  // No vCPU thread disassembles (a triple fault's report is formatted on
  // the loop, log_shutdown_report): Capstone is loaded by the loop on first
  // use, which its filter allows.
  // The time zone, read once (the system log's lines carry local time):
  // not from a vCPU thread's first message to it.
  tzset();
  InstallSigsysHandler();
}

// `user`: everything that needs privilege is open (KVM, memory, the
// plug-ins' files and devices, the /dev/qvm socket); no vCPU exists yet.
absl::Status Vm::become_user() {
  if (control_) {
    // The socket belongs to the user qvm runs as, as if started by it (its
    // group stays the resmgr group's).
    if (chown(control_->path().c_str(), user_->uid, gid_t(-1)) != 0)
      return absl::FailedPreconditionError(absl::StrCat(
          "`user`: ", control_->path(), ": chown: ", strerror(errno),
          errno == EPERM ? " (qvm must start as root, or with CAP_CHOWN, CAP_SETUID and "
                           "CAP_SETGID, to change its user)"
                         : ""));
  }
  absl::Status st = DropPrivileges(*user_);
  if (!st.ok()) return st;
  Log(LogLevel::Info, "%s: `user`: running as %s", cfg_.user->where.str().c_str(),
      CredentialsString(*user_).c_str());
  return absl::OkStatus();
}

int Vm::run() {
  plan_syscall_filters();
  struct sigaction sa {};
  sa.sa_handler = KickHandler;
  sigaction(SIGRTMIN, &sa, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGRTMIN);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // only vCPU threads take kicks
  loop_.set_wake([this] { on_wake(); });
  // A vCPU or device thread that finds the system log's socket broken
  // leaves the reconnect (socket, connect) to this loop (vmm/log.h).
  struct ReconnectHook {
    explicit ReconnectHook(EventLoop* l) {
      LogSetReconnectHook([](void* c) { static_cast<EventLoop*>(c)->wake(); }, l);
    }
    ~ReconnectHook() { LogSetReconnectHook(nullptr, nullptr); }
  } reconnect_hook(&loop_);
  loop_.on_signal([this](int s) { on_signal(s); });
  start_ns_ = MonotonicNs();
  start_wall_ns_ = uint64_t(absl::ToUnixNanos(absl::Now()));
  if (absl::Status cst = attach_control(); !cst.ok()) {
    Log(LogLevel::Fatal, "%s", std::string(cst.message()).c_str());
    return kExitFatalBeforeStart;
  }
  if (absl::Status gst = attach_gdb(); !gst.ok()) {
    Log(LogLevel::Fatal, "%s", std::string(gst.message()).c_str());
    return kExitFatalBeforeStart;
  }
  for (bool first = true;; first = false) {
    // One boot: the first and every reset in place run the same steps in
    // the same order (step a of the first boot ran in build()).
    absl::Status st = first ? absl::OkStatus() : load_guest();  // a. images, tables
    if (st.ok()) st = start_backend(first);  // b. accelerator VM, memory mapped
    if (st.ok()) reset_devices(first);       // c. devices at power-on
    if (st.ok() && first && user_) st = become_user();  // `user`: set-up done, no guest code yet
    bool gdb_reset = !first && gdb_ && gdb_->attached();
    if (st.ok() && gdb_ && ((first && plan_.gdb_wait) || gdb_reset)) {
      // `set gdb-wait`: the vCPUs park before their first instruction;
      // the debugger's connection finds them there. After a reset with a
      // debugger attached: parked until its breakpoints are back.
      std::lock_guard<std::mutex> g(pause_mu_);
      pause_req_ = true;
    }
    if (st.ok()) st = start_vcpus();         // d. vCPUs created, VM finalized, threads
    if (st.ok() && gdb_reset) gdb_->after_reset();
    if (!st.ok()) {
      Log(LogLevel::Fatal, "%s", std::string(st.message()).c_str());
      stop_vcpus();
      return first ? kExitFatalBeforeStart : kExitFatalAfterStart;
    }
    if (first && filter_main_) {
      // After the first boot's set-up; the vCPU threads of later boots
      // inherit this filter and stack their own.
      if (absl::Status fst = InstallSyscallFilter(FilterKind::Main, "main"); !fst.ok()) {
        Log(LogLevel::Fatal, "system-call filter: %s (`set seccomp off` runs without)",
            std::string(fst.message()).c_str());
        stop_vcpus();
        return kExitFatalAfterStart;
      }
    }
    loop_.run();
    stop_vcpus();
    drain_streams();
    {
      std::lock_guard<std::mutex> g(pause_mu_);
      pause_req_ = false;
      paused_ = false;
      parked_ = 0;
    }
    {
      // Stopping on an error: show what the vCPUs did last.
      std::lock_guard<std::mutex> g(req_mu_);
      if (req_ == Request::Exit && req_code_ != kExitPowerCut &&
          (req_code_ < 32 || req_code_ > 63))
        for (const auto& l : trace_lines()) Log(LogLevel::Error, "%s", l.c_str());
    }
    {
      // A device thread (a timer, a stream reader) may raise the PIC's
      // output now: cpu_extint reads vcpus_[0] under extint_mu_.
      std::lock_guard<std::mutex> g(extint_mu_);
      vcpus_.clear();
    }
    Request r;
    int code;
    {
      std::lock_guard<std::mutex> g(req_mu_);
      r = req_;
      code = req_code_;
      req_ = Request::None;
    }
    log_shutdown_report();
    {
      std::lock_guard<std::mutex> g(backend_mu_);
      backend_.reset();
    }
    if (r == Request::Reset) {
      if (plan_.reboot_exit) {
        Log(LogLevel::Info, "guest reset: exiting (reboot-exit on)");
        return kExitOk;
      }
      resets_++;
      if (code == kResetByGuest && reset_loop(MonotonicNs())) {
        Log(LogLevel::Error,
            "the guest reset %u times within %u s: stopping (a reset loop; "
            "`set reset-loop N` changes the limit, 0 removes it)",
            plan_.reset_loop, unsigned(kResetLoopWindowNs / 1000000000));
        return kExitUnexpected;
      }
      power_button_pressed_ = false;
      if (gdb_) gdb_->on_reset();
      Log(LogLevel::Info, "guest reset: restarting in place");
      mem_.zero_all();
      continue;
    }
    if (r == Request::Exit) return code;
    return kExitOk;  // guest powered off
  }
}

}  // namespace qvm
