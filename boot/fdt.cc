#include "boot/fdt.h"

extern "C" {
#include <libfdt.h>
}

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "boot/image_file.h"

namespace qvm::boot {
namespace {

constexpr size_t kMaxFdt = 2u << 20;

class Writer {
 public:
  explicit Writer(size_t size) : buf_(size) {}
  absl::Status status() const { return err_; }
  void* data() { return buf_.data(); }

  void check(int rc, const char* what) {
    if (rc < 0 && err_.ok())
      err_ = absl::InternalError(absl::StrCat("FDT: ", what, ": ", fdt_strerror(rc)));
  }
  void begin(const std::string& n) { check(fdt_begin_node(data(), n.c_str()), n.c_str()); }
  void end() { check(fdt_end_node(data()), "end node"); }
  void prop(const char* n, const void* v, size_t len) {
    check(fdt_property(data(), n, v, int(len)), n);
  }
  void u32(const char* n, uint32_t v) { check(fdt_property_u32(data(), n, v), n); }
  void u64(const char* n, uint64_t v) { check(fdt_property_u64(data(), n, v), n); }
  void str(const char* n, const std::string& v) { check(fdt_property_string(data(), n, v.c_str()), n); }
  void empty(const char* n) { prop(n, nullptr, 0); }
  void cells(const char* n, const std::vector<uint32_t>& c) {
    std::string b;
    for (uint32_t v : c) {
      uint32_t be = cpu_to_fdt32(v);
      b.append(reinterpret_cast<const char*>(&be), 4);
    }
    prop(n, b.data(), b.size());
  }
  // A string list from space-separated words.
  void strlist(const char* n, const std::string& words) {
    std::string b;
    for (absl::string_view w : absl::StrSplit(words, ' ', absl::SkipEmpty())) {
      b.append(w.data(), w.size());
      b.push_back('\0');
    }
    prop(n, b.data(), b.size());
  }

  std::vector<uint8_t> buf_;
  absl::Status err_;
};

std::vector<uint32_t> RegCells(const std::vector<std::pair<uint64_t, uint64_t>>& r) {
  std::vector<uint32_t> c;
  for (const auto& [b, s] : r) {
    c.push_back(uint32_t(b >> 32));
    c.push_back(uint32_t(b));
    c.push_back(uint32_t(s >> 32));
    c.push_back(uint32_t(s));
  }
  return c;
}

}  // namespace

std::string FdtNodePath(const FdtDeviceNode& d) {
  if (d.reg.empty()) return absl::StrCat("/", d.name);
  return absl::StrFormat("/%s@%x", d.name, d.reg[0].first);
}

absl::StatusOr<std::vector<uint8_t>> BuildArm64Fdt(const FdtMachine& m) {
  Writer w(kMaxFdt);
  w.check(fdt_create(w.data(), int(kMaxFdt)), "create");
  w.check(fdt_finish_reservemap(w.data()), "reserve map");
  w.begin("");
  w.str("model", "qvm arm64");
  w.strlist("compatible", "qvm,arm64 linux,dummy-virt");
  w.u32("#address-cells", 2);
  w.u32("#size-cells", 2);
  if (m.gic_phandle) w.u32("interrupt-parent", m.gic_phandle);

  w.begin("chosen");
  if (!m.bootargs.empty()) w.str("bootargs", m.bootargs);
  if (m.initrd_end > m.initrd_start) {
    w.u64("linux,initrd-start", m.initrd_start);
    w.u64("linux,initrd-end", m.initrd_end);
  }
  if (!m.stdout_path.empty()) w.str("stdout-path", m.stdout_path);
  w.end();

  for (const auto& [base, size] : m.memory) {
    w.begin(absl::StrFormat("memory@%x", base));
    w.str("device_type", "memory");
    w.cells("reg", RegCells({{base, size}}));
    w.end();
  }

  w.begin("cpus");
  w.u32("#address-cells", 1);
  w.u32("#size-cells", 0);
  for (size_t i = 0; i < m.cpu_mpidr.size(); i++) {
    w.begin(absl::StrFormat("cpu@%x", m.cpu_mpidr[i]));
    w.str("device_type", "cpu");
    w.str("compatible", "arm,arm-v8");
    w.u32("reg", uint32_t(m.cpu_mpidr[i]));
    w.str("enable-method", "psci");
    w.end();
  }
  w.end();

  w.begin("psci");
  w.strlist("compatible", "arm,psci-1.0 arm,psci-0.2");
  w.str("method", "hvc");
  w.end();

  if (m.gic_phandle) {
    // Generic timer PPIs: secure 13, non-secure 14, virtual 11, hypervisor
    // 10 (INTID 29, 30, 27, 26), level-high; GICv2 adds the CPU mask.
    uint32_t flags = 4;
    if (m.gic_v2) {
      size_t n = std::min<size_t>(m.cpu_mpidr.size(), 8);
      flags |= ((1u << n) - 1) << 8;
    }
    w.begin("timer");
    w.str("compatible", "arm,armv8-timer");
    w.cells("interrupts", {1, 13, flags, 1, 14, flags, 1, 11, flags, 1, 10, flags});
    w.empty("always-on");
    w.end();
    if (m.pmu) {
      // PMUv3 overflow: PPI 7 (INTID 23), what KVM raises on every vCPU.
      w.begin("pmu");
      w.str("compatible", "arm,armv8-pmuv3");
      w.cells("interrupts", {1, 7, flags});
      w.end();
    }
  } else if (m.pmu) {
    return absl::InvalidArgumentError("FDT: a PMU needs an interrupt controller");
  }

  if (m.clock_phandle) {
    w.begin("apb-pclk");
    w.str("compatible", "fixed-clock");
    w.u32("#clock-cells", 0);
    w.u32("clock-frequency", kApbClockHz);
    w.str("clock-output-names", "clk24mhz");
    w.u32("phandle", m.clock_phandle);
    w.end();
  }
  std::set<uint32_t> clock_rates;
  for (const auto& [phandle, hz] : m.fixed_clocks) {
    if (!phandle || !hz || !clock_rates.insert(hz).second)
      return absl::InvalidArgumentError(
          absl::StrFormat("FDT: fixed clock %u Hz: no phandle, no rate or given twice", hz));
    w.begin(absl::StrFormat("clock-%u", hz));
    w.str("compatible", "fixed-clock");
    w.u32("#clock-cells", 0);
    w.u32("clock-frequency", hz);
    w.u32("phandle", phandle);
    w.end();
  }

  std::set<std::string> paths;
  for (const auto& d : m.devices) {
    std::string path = FdtNodePath(d);
    if (!paths.insert(path).second)
      return absl::InvalidArgumentError(absl::StrCat("FDT: two devices at ", path));
    w.begin(path.substr(1));
    w.strlist("compatible", d.compatible);
    std::set<std::string> own;
    for (const auto& p : d.props) own.insert(p.first);
    if (!d.reg.empty() && !own.count("reg")) w.cells("reg", RegCells(d.reg));
    if (!d.interrupts.empty() && !own.count("interrupts")) {
      if (d.interrupt_parent && !own.count("interrupt-parent"))
        w.u32("interrupt-parent", d.interrupt_parent);
      w.cells("interrupts", d.interrupts);
    }
    if (d.phandle && !own.count("phandle")) w.u32("phandle", d.phandle);
    for (const auto& [n, v] : d.props) {
      if (n == "compatible") continue;
      w.prop(n.c_str(), v.data(), v.size());
    }
    w.end();
  }
  w.end();
  w.check(fdt_finish(w.data()), "finish");
  if (!w.status().ok()) return w.status();
  size_t total = fdt_totalsize(w.data());
  std::vector<uint8_t> out(w.buf_.begin(), w.buf_.begin() + total);
  return out;
}

// ---- `fdt load PATH` -----------------------------------------------------------

absl::StatusOr<std::vector<uint8_t>> ReadUserFdt(const std::string& path) {
  auto fo = ImageFile::Open(path);
  if (!fo.ok()) return fo.status();
  const ImageFile& f = *fo;
  // A v17 header is 40 bytes; libfdt reads that much before anything else.
  if (f.size() < sizeof(fdt_header))
    return f.bad(absl::StrFormat("device tree: truncated (%u bytes, the header alone is %u)",
                                 f.size(), sizeof(fdt_header)));
  if (f.size() > kUserFdtMax)
    return f.bad(absl::StrFormat("device tree: %u bytes, larger than the %u KiB limit",
                                 f.size(), kUserFdtMax >> 10));
  std::vector<uint8_t> b(f.size());
  if (!f.read(0, b.data(), b.size())) return f.bad("device tree: cannot read");
  if (fdt_magic(b.data()) != FDT_MAGIC)
    return f.bad(absl::StrFormat(
        "device tree: not a flattened device tree (magic 0x%08x, expected 0x%08x)",
        fdt_magic(b.data()), uint32_t(FDT_MAGIC)));
  uint32_t total = fdt_totalsize(b.data());
  if (total > b.size())
    return f.bad(absl::StrFormat(
        "device tree: header says %u bytes (totalsize) but the file has %u: truncated or "
        "corrupt", total, b.size()));
  int rc = fdt_check_header(b.data());
  if (rc != 0)
    return f.bad(absl::StrCat("device tree: bad header: ", fdt_strerror(rc)));
  // Versions before 17 (full-path node names, no struct size): libfdt's
  // own checker dereferences NULL on some of them (found by the fdt
  // fuzzer with versions 2, 3 and 15). dtc has written 17 since 2007.
  if (fdt_version(b.data()) < 17)
    return f.bad(absl::StrFormat(
        "device tree: version %u; qvm reads version 17 (what dtc writes; "
        "`dtc -I dtb -O dtb` converts an older blob)",
        fdt_version(b.data())));
  rc = fdt_check_full(b.data(), total);
  if (rc != 0)
    return f.bad(absl::StrCat("device tree: malformed structure: ", fdt_strerror(rc)));
  b.resize(total);
  return b;
}

absl::StatusOr<UserFdt> PatchUserFdt(const std::vector<uint8_t>& user, const UserFdtPatch& p) {
  auto fail = [](const std::string& what, int rc) {
    return absl::InvalidArgumentError(absl::StrCat(
        "device tree: ", what, ": ",
        rc == -FDT_ERR_NOSPACE
            ? absl::StrFormat("the result would exceed %u KiB", kUserFdtMax >> 10)
            : std::string(fdt_strerror(rc))));
  };
  if (user.size() < sizeof(fdt_header) || fdt_check_header(user.data()) != 0 ||
      fdt_totalsize(user.data()) > user.size())
    return absl::InvalidArgumentError("device tree: not a valid blob");
  // Room to grow: the whole 2 MiB the FDT may take; packed at the end.
  std::vector<uint8_t> buf(kUserFdtMax);
  void* fdt = buf.data();
  int rc = fdt_open_into(user.data(), fdt, int(buf.size()));
  if (rc != 0) return fail("copy", rc);
  UserFdt out;
  out.has_cpus = fdt_path_offset(fdt, "/cpus") >= 0;
  out.had_memory = fdt_node_offset_by_prop_value(fdt, -1, "device_type", "memory",
                                                 sizeof("memory")) >= 0;

  int chosen = fdt_path_offset(fdt, "/chosen");
  if (chosen == -FDT_ERR_NOTFOUND) {
    chosen = fdt_add_subnode(fdt, 0, "chosen");
    out.added_chosen = true;
  }
  if (chosen < 0) return fail("/chosen", chosen);
  if (p.set_bootargs) {
    rc = fdt_setprop_string(fdt, chosen, "bootargs", p.bootargs.c_str());
    if (rc != 0) return fail("/chosen bootargs", rc);
  }
  if (p.initrd_end > p.initrd_start) {
    rc = fdt_setprop_u64(fdt, chosen, "linux,initrd-start", p.initrd_start);
    if (rc == 0) rc = fdt_setprop_u64(fdt, chosen, "linux,initrd-end", p.initrd_end);
    if (rc != 0) return fail("/chosen linux,initrd-start/-end", rc);
  }

  if (!out.had_memory) {
    for (const auto& [base, size] : p.memory) {
      std::string name = absl::StrFormat("memory@%x", base);
      int node = fdt_add_subnode(fdt, 0, name.c_str());
      if (node < 0) return fail("/" + name, node);
      rc = fdt_setprop_string(fdt, node, "device_type", "memory");
      // Encoded with the root's #address-cells/#size-cells; a region they
      // cannot hold (e.g. above 4 GiB with one address cell) is an error.
      if (rc == 0) rc = fdt_appendprop_addrrange(fdt, 0, node, "reg", base, size);
      if (rc != 0)
        return fail(absl::StrFormat("/%s (RAM 0x%x+0x%x, root #address-cells %d, "
                                    "#size-cells %d)", name, base, size,
                                    fdt_address_cells(fdt, 0), fdt_size_cells(fdt, 0)),
                    rc);
    }
  }
  rc = fdt_pack(fdt);
  if (rc != 0) return fail("pack", rc);
  buf.resize(fdt_totalsize(fdt));
  out.blob = std::move(buf);
  return out;
}

}  // namespace qvm::boot
