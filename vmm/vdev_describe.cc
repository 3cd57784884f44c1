// How a device describes itself to the guest: ACPI ids (QVM_CTRL_GEN_ACPI)
// and its device-tree node (QVM_CTRL_GEN_FDT).
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cerrno>
#include <cstring>

#include "vmm/vdev_host.h"

namespace {

bool AcpiIdOk(const char* id) {
  if (!id) return false;
  size_t n = strlen(id);
  if (n < 4 || n > 8) return false;
  for (size_t i = 0; i < n; i++)
    if (!isupper(static_cast<unsigned char>(id[i])) &&
        !isdigit(static_cast<unsigned char>(id[i])))
      return false;
  return true;
}

}  // namespace

QVM_EXPORT int qvm_acpi_device(qvm_vdev_t* dev, const char* hid,
                                                           const char* cid) {
  if (!dev) return -EINVAL;
  if (!dev->describe.acpi_open) return -ENOTSUP;
  if (!AcpiIdOk(hid) || (cid && !AcpiIdOk(cid))) return -EINVAL;
  dev->describe.acpi_hid = hid;
  dev->describe.acpi_cid = cid ? cid : "";
  return 0;
}

namespace {

bool FdtNameOk(const char* n, size_t max) {
  if (!n) return false;
  size_t len = strlen(n);
  if (len == 0 || len > max) return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = static_cast<unsigned char>(n[i]);
    if (!isalnum(c) && !strchr(",._+-#?", c)) return false;
  }
  return true;
}

int FdtAddProp(qvm_vdev_t* dev, const char* prop, std::string bytes) {
  if (!dev) return -EINVAL;
  if (!dev->describe.fdt_open) return -ENOTSUP;
  if (dev->describe.fdt_name.empty() || !FdtNameOk(prop, 31)) return -EINVAL;
  size_t add = bytes.size() + strlen(prop);
  if (dev->describe.fdt_bytes + add > 65536) return -ENOSPC;
  for (auto& [n, v] : dev->describe.fdt_props)
    if (n == prop) {  // a repeated property replaces the earlier one
      dev->describe.fdt_bytes -= v.size();
      dev->describe.fdt_bytes += bytes.size();
      v = std::move(bytes);
      return 0;
    }
  dev->describe.fdt_bytes += add;
  dev->describe.fdt_props.emplace_back(prop, std::move(bytes));
  return 0;
}

std::string Cells(const uint32_t* c, unsigned n) {
  std::string out;
  for (unsigned i = 0; i < n; i++) {
    uint32_t v = c[i];
    char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    out.append(b, 4);
  }
  return out;
}

}  // namespace

QVM_EXPORT int qvm_fdt_node(qvm_vdev_t* dev, const char* name,
                                                        const char* compatible) {
  if (!dev) return -EINVAL;
  if (!dev->describe.fdt_open) return -ENOTSUP;
  if (!dev->describe.fdt_name.empty() || !FdtNameOk(name, 31) || !compatible) return -EINVAL;
  size_t clen = strlen(compatible);
  if (clen == 0 || clen > 1024) return -EINVAL;
  for (size_t i = 0; i < clen; i++)
    if (!isprint(static_cast<unsigned char>(compatible[i]))) return -EINVAL;
  dev->describe.fdt_name = name;
  dev->describe.fdt_compatible = compatible;
  return 0;
}

QVM_EXPORT int qvm_fdt_prop_u32(qvm_vdev_t* dev, const char* prop,
                                                            uint32_t value) {
  return FdtAddProp(dev, prop, Cells(&value, 1));
}

QVM_EXPORT int qvm_fdt_prop_cells(qvm_vdev_t* dev, const char* prop,
                                                              const uint32_t* cells,
                                                              unsigned n) {
  if ((!cells && n) || n > 4096) return -EINVAL;
  return FdtAddProp(dev, prop, Cells(cells, n));
}

QVM_EXPORT int qvm_fdt_prop_string(qvm_vdev_t* dev,
                                                               const char* prop,
                                                               const char* value) {
  if (!value || strlen(value) > 4096) return -EINVAL;
  return FdtAddProp(dev, prop, std::string(value, strlen(value) + 1));
}

QVM_EXPORT int qvm_fdt_prop_bytes(qvm_vdev_t* dev, const char* prop,
                                                              const void* data, size_t len) {
  if ((!data && len) || len > 65536) return -EINVAL;
  return FdtAddProp(dev, prop, std::string(static_cast<const char*>(data), len));
}

QVM_EXPORT uint32_t qvm_fdt_phandle(qvm_vdev_t* dev,
                                                                const char* name) {
  if (!dev) return 0;
  if (!name) return dev->describe.fdt_phandle;
  qvm_vdev_t* other = dev->host->find_device(name);
  return other ? other->describe.fdt_phandle : 0;
}

// ---- typed ACPI contributions (machines described by ACPI) ----------------

namespace {

// Common checks: inside QVM_CTRL_GEN_ACPI, not given before. The slot is
// named as a member so that nothing reaches through `dev` before it is
// checked (a plug-in may pass NULL).
template <typename T>
int AcpiOnce(qvm_vdev_t* dev, std::optional<T> qvm::AcpiContrib::*member, const T& value) {
  if (!dev) return -EINVAL;
  if (!dev->describe.acpi_open) return -ENOTSUP;
  std::optional<T>& slot = dev->describe.acpi.*member;
  if (slot) return -EEXIST;
  slot = value;
  return 0;
}

}  // namespace

QVM_EXPORT int qvm_acpi_pm_block(qvm_vdev_t* dev, const struct qvm_acpi_pm* pm) {
  constexpr size_t kMin = offsetof(struct qvm_acpi_pm, reset_value) + 1;
  if (!pm || pm->struct_size < kMin) return -EINVAL;
  qvm_acpi_pm v{};
  memcpy(&v, pm, std::min(pm->struct_size, sizeof v));
  v.struct_size = sizeof v;
  // The blocks are I/O ports: each must fit below 0x10000.
  if (!v.pm1a_evt || !v.pm1a_cnt || v.pm1a_evt > 0xfffc || v.pm1a_cnt > 0xfffe ||
      v.pm_tmr > 0xfffc)
    return -EINVAL;
  return AcpiOnce(dev, &qvm::AcpiContrib::pm, v);
}

QVM_EXPORT int qvm_acpi_pci_host(qvm_vdev_t* dev, const struct qvm_acpi_pci* h) {
  constexpr size_t kMin = offsetof(struct qvm_acpi_pci, intx_gsi) + sizeof h->intx_gsi;
  if (!h || h->struct_size < kMin) return -EINVAL;
  qvm_acpi_pci v{};
  memcpy(&v, h, std::min(h->struct_size, sizeof v));
  v.struct_size = sizeof v;
  uint64_t last;
  if (!v.mem_size || __builtin_add_overflow(v.mem_base, v.mem_size - 1, &last)) return -EINVAL;
  if (v.ecam_base && (v.ecam_base & ((1ull << 20) - 1))) return -EINVAL;
  if (v.io_size && (v.io_size > 0x10000u - v.io_base)) return -EINVAL;  // ports < 0x10000
  for (const auto& dev_pins : v.intx_gsi)
    for (uint32_t gsi : dev_pins)
      if (gsi > 255) return -EINVAL;
  return AcpiOnce(dev, &qvm::AcpiContrib::pci_host, v);
}

QVM_EXPORT int qvm_acpi_hpet(qvm_vdev_t* dev, uint64_t base, uint32_t block_id) {
  if (base & 0x3ff || base >= (1ull << 32)) return -EINVAL;  // 1 KiB block below 4 GiB
  return AcpiOnce(dev, &qvm::AcpiContrib::hpet, qvm::AcpiContrib::Hpet{base, block_id});
}

QVM_EXPORT int qvm_acpi_ioapic(qvm_vdev_t* dev, uint64_t base, uint32_t gsi_base) {
  if (base & 0xfff || base >= (1ull << 32) || gsi_base > 255) return -EINVAL;
  return AcpiOnce(dev, &qvm::AcpiContrib::ioapic, qvm::AcpiContrib::Ioapic{base, gsi_base});
}

QVM_EXPORT int qvm_acpi_legacy(qvm_vdev_t* dev, unsigned what) {
  constexpr unsigned kAll = QVM_ACPI_LEGACY_8259 | QVM_ACPI_LEGACY_8042 | QVM_ACPI_LEGACY_RTC;
  if (!dev || !what || (what & ~kAll)) return -EINVAL;
  if (!dev->describe.acpi_open) return -ENOTSUP;
  dev->describe.acpi.legacy |= what;
  return 0;
}
