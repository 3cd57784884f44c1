#include "boot/acpi.h"

#include <cctype>
#include <cstring>
#include <set>

#include "absl/strings/str_format.h"
#include "boot/aml.h"

namespace qvm::boot {
namespace {

using aml::Bytes;

constexpr uint64_t k4G = uint64_t{1} << 32;

void PutLe(Bytes& b, size_t off, uint64_t v, int n) {
  for (int i = 0; i < n; i++) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}
void AddLe(Bytes& b, uint64_t v, int n) {
  for (int i = 0; i < n; i++) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint8_t Checksum(const uint8_t* p, size_t n) {
  uint8_t sum = 0;
  for (size_t i = 0; i < n; i++) sum = static_cast<uint8_t>(sum + p[i]);
  return static_cast<uint8_t>(0x100 - sum);
}

// A 36-byte System Description Table header; the length and checksum are
// fixed by Seal().
Bytes Header(const char sig[4], uint8_t revision) {
  Bytes t(36, 0);
  std::memcpy(t.data(), sig, 4);
  t[8] = revision;
  std::memcpy(t.data() + 10, "QVM   ", 6);        // OEMID
  std::memcpy(t.data() + 16, "QVM-", 4);          // OEM table ID
  std::memcpy(t.data() + 20, sig, 4);
  PutLe(t, 24, 1, 4);                             // OEM revision
  std::memcpy(t.data() + 28, "QVM ", 4);          // creator ID
  PutLe(t, 32, 1, 4);                             // creator revision
  return t;
}
void Seal(Bytes& t) {
  PutLe(t, 4, t.size(), 4);
  t[9] = 0;
  t[9] = Checksum(t.data(), t.size());
}

// Generic Address Structure.
void AddGas(Bytes& b, uint8_t space, uint8_t bit_width, uint8_t access,
            uint64_t addr) {
  b.push_back(space);
  b.push_back(bit_width);
  b.push_back(0);  // bit offset
  b.push_back(access);
  AddLe(b, addr, 8);
}
constexpr uint8_t kGasMem = 0, kGasIo = 1;

absl::Status Invalid(const std::string& m) {
  return absl::InvalidArgumentError("ACPI: " + m);
}

bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > 16) return false;
  for (char c : id) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  return true;
}

absl::Status Validate(const AcpiPlatform& p) {
  if (p.ncpus < 1 || p.ncpus > 254) {
    return Invalid(absl::StrFormat("%u vCPUs; 1 to 254 are supported",
                                   p.ncpus));
  }
  if (p.lapic_addr >= k4G || p.ioapic_addr >= k4G) {
    return Invalid("LAPIC and IOAPIC must be below 4 GiB");
  }
  if (p.sci_irq > 0xffff) return Invalid("SCI interrupt out of range");
  if (p.hpet_addr && *p.hpet_addr >= k4G - 0x400) {
    return Invalid("HPET must be below 4 GiB");
  }
  for (const AcpiDevice& d : p.devices) {
    if (!ValidId(d.hid)) {
      return Invalid(absl::StrFormat("device _HID \"%s\" is not a valid ID",
                                     d.hid));
    }
    if (!d.cid.empty() && !ValidId(d.cid)) {
      return Invalid(absl::StrFormat("device %s: _CID \"%s\" is not valid",
                                     d.hid, d.cid));
    }
    if (!d.name.empty() &&
        (d.name.find('.') != std::string::npos || d.name[0] == '\\' ||
         !aml::ValidNamePath(d.name))) {
      return Invalid(absl::StrFormat("device %s: name \"%s\" is not an AML "
                                     "name segment",
                                     d.hid, d.name));
    }
    for (const auto& [port, n] : d.io) {
      if (n == 0 || n > 255 || uint32_t{port} + n > 0x10000) {
        return Invalid(absl::StrFormat(
            "device %s: I/O range 0x%x+%u is invalid (1-255 ports below "
            "0x10000)",
            d.hid, port, n));
      }
    }
    for (const auto& [base, len] : d.mem) {
      if (len == 0 || uint64_t{base} + len > k4G) {
        return Invalid(absl::StrFormat(
            "device %s: memory range 0x%x+0x%x is invalid", d.hid, base,
            len));
      }
    }
    if (d.irqs.size() > 32) {
      return Invalid(absl::StrFormat("device %s: too many IRQs", d.hid));
    }
  }
  if (p.pci) {
    const AcpiPciHost& h = *p.pci;
    if (h.bus_start > h.bus_end) return Invalid("PCI bus range is empty");
    if (h.ecam_base % (1 << 20) != 0 ||
        h.ecam_base > UINT64_MAX - (uint64_t{h.bus_end} + 1) * (1 << 20)) {
      return Invalid("PCI ECAM base must be 1 MiB aligned");
    }
    for (const auto& [lo, hi] : h.io_windows) {
      if (lo > hi) return Invalid("PCI I/O window first > last");
    }
    for (const auto& [lo, hi] : h.mem_windows) {
      if (lo > hi || (lo == 0 && hi == UINT64_MAX)) {
        return Invalid("PCI memory window invalid");
      }
    }
    if (h.prt.size() > 255) return Invalid("too many PCI routing entries");
    for (const AcpiPciIrq& r : h.prt) {
      if (r.device > 31 || r.pin > 3) {
        return Invalid(absl::StrFormat("PCI routing entry %u/%u invalid",
                                       r.device, r.pin));
      }
    }
  }
  return absl::OkStatus();
}

Bytes StaPresent() {
  return aml::Method("_STA", 0, false, aml::Return(aml::Integer(0x0f)));
}

// ---- fixed tables ------------------------------------------------------------

Bytes Madt(const AcpiPlatform& p) {
  Bytes t = Header("APIC", 5);
  AddLe(t, p.lapic_addr, 4);
  AddLe(t, p.has_8259 ? 1 : 0, 4);  // PCAT_COMPAT
  for (unsigned i = 0; i < p.ncpus; i++) {
    t.push_back(0);  // Processor Local APIC
    t.push_back(8);
    t.push_back(static_cast<uint8_t>(i));  // ACPI processor UID
    t.push_back(static_cast<uint8_t>(i));  // APIC ID
    AddLe(t, 1, 4);                        // enabled
  }
  t.push_back(1);  // I/O APIC
  t.push_back(12);
  t.push_back(p.ioapic_id);
  t.push_back(0);
  AddLe(t, p.ioapic_addr, 4);
  AddLe(t, p.ioapic_gsi_base, 4);
  auto iso = [&t](uint8_t irq, uint32_t gsi, uint16_t flags) {
    t.push_back(2);  // Interrupt Source Override
    t.push_back(10);
    t.push_back(0);  // ISA bus
    t.push_back(irq);
    AddLe(t, gsi, 4);
    AddLe(t, flags, 2);
  };
  iso(0, 2, 0x0005);  // PIT: IRQ0 -> GSI2, edge, active high
  if (p.sci_irq < 16) {
    iso(static_cast<uint8_t>(p.sci_irq), p.sci_irq, 0x000d);  // level, high
  }
  t.push_back(4);  // Local APIC NMI: all processors, LINT1
  t.push_back(6);
  t.push_back(0xff);
  AddLe(t, 0, 2);
  t.push_back(1);
  Seal(t);
  return t;
}

Bytes Facs() {
  Bytes t(64, 0);
  std::memcpy(t.data(), "FACS", 4);
  PutLe(t, 4, 64, 4);
  t[32] = 2;  // version
  return t;
}

Bytes Fadt(const AcpiPlatform& p, uint64_t facs, uint64_t dsdt) {
  Bytes t = Header("FACP", 6);
  t.resize(276, 0);
  PutLe(t, 36, 0, 4);  // FIRMWARE_CTRL: 0, X_FIRMWARE_CTRL is used
  PutLe(t, 40, dsdt, 4);              // DSDT
  t[45] = 0;                          // preferred PM profile: unspecified
  PutLe(t, 46, p.sci_irq, 2);         // SCI_INT
  PutLe(t, 48, 0, 4);                 // SMI_CMD 0: ACPI always enabled
  PutLe(t, 56, p.pm.pm1a_evt, 4);     // PM1a_EVT_BLK
  PutLe(t, 64, p.pm.pm1a_cnt, 4);     // PM1a_CNT_BLK
  PutLe(t, 76, p.pm.pm_tmr, 4);       // PM_TMR_BLK
  t[88] = 4;                          // PM1_EVT_LEN
  t[89] = 2;                          // PM1_CNT_LEN
  t[91] = 4;                          // PM_TMR_LEN
  PutLe(t, 96, 101, 2);               // P_LVL2_LAT > 100: C2 unsupported
  PutLe(t, 98, 1001, 2);              // P_LVL3_LAT > 1000: C3 unsupported
  t[108] = p.has_rtc ? 0x32 : 0;      // CENTURY register index
  uint16_t boot_arch = 0;
  if (p.has_8259 || p.has_8042) boot_arch |= 1;  // LEGACY_DEVICES
  if (p.has_8042) boot_arch |= 2;                // 8042
  if (!p.has_vga) boot_arch |= 4;                // VGA not present
  if (!p.has_rtc) boot_arch |= 1 << 5;           // CMOS RTC not present
  PutLe(t, 109, boot_arch, 2);
  uint32_t flags = 0;
  flags |= 1u << 0;                               // WBINVD
  flags |= 1u << 2;                               // PROC_C1
  if (!p.fixed_power_button) flags |= 1u << 4;    // PWR_BUTTON (control method)
  flags |= 1u << 5;                               // SLP_BUTTON: none fixed
  flags |= 1u << 8;                               // TMR_VAL_EXT: 32-bit
  flags |= 1u << 10;                              // RESET_REG_SUP
  PutLe(t, 112, flags, 4);
  Bytes gas;
  AddGas(gas, kGasIo, 8, 1, p.pm.reset);          // RESET_REG
  std::memcpy(t.data() + 116, gas.data(), 12);
  t[128] = p.pm.reset_value;
  t[131] = 0;                                     // FADT minor version
  PutLe(t, 132, facs, 8);                         // X_FIRMWARE_CTRL
  PutLe(t, 140, dsdt, 8);                         // X_DSDT
  auto xgas = [&t](size_t off, uint8_t bits, uint64_t port) {
    Bytes g;
    AddGas(g, kGasIo, bits, 0, port);
    std::memcpy(t.data() + off, g.data(), 12);
  };
  xgas(148, 32, p.pm.pm1a_evt);                   // X_PM1a_EVT_BLK
  xgas(172, 16, p.pm.pm1a_cnt);                   // X_PM1a_CNT_BLK
  xgas(208, 32, p.pm.pm_tmr);                     // X_PM_TMR_BLK
  Seal(t);
  return t;
}

Bytes Hpet(const AcpiPlatform& p) {
  Bytes t = Header("HPET", 1);
  AddLe(t, p.hpet_block_id, 4);
  AddGas(t, kGasMem, 64, 0, *p.hpet_addr);
  t.push_back(0);      // HPET number
  AddLe(t, 0x80, 2);   // minimum clock tick in periodic mode
  t.push_back(0);      // no page protection
  Seal(t);
  return t;
}

Bytes Mcfg(const AcpiPciHost& h) {
  Bytes t = Header("MCFG", 1);
  AddLe(t, 0, 8);
  AddLe(t, h.ecam_base, 8);
  AddLe(t, h.segment, 2);
  t.push_back(h.bus_start);
  t.push_back(h.bus_end);
  AddLe(t, 0, 4);
  Seal(t);
  return t;
}

Bytes Crs(const aml::ResourceTemplate& rt) {
  return aml::Name("_CRS", aml::Buffer(rt.Finish()));
}

void AddMemRange(aml::ResourceTemplate& rt, uint64_t lo, uint64_t hi) {
  if (hi < k4G) {
    rt.DWordMemory(static_cast<uint32_t>(lo), static_cast<uint32_t>(hi));
  } else {
    rt.QWordMemory(lo, hi);
  }
}

Bytes PciHost(const AcpiPciHost& h) {
  using namespace aml;
  Bytes body;
  Append(body, Name("_HID", HardwareId("PNP0A08")));
  Append(body, Name("_CID", HardwareId("PNP0A03")));
  Append(body, Name("_SEG", Integer(h.segment)));
  Append(body, Name("_BBN", Integer(h.bus_start)));
  Append(body, Name("_UID", Integer(h.segment)));
  // _ADR 0 as PC firmware writes it beside _HID (FreeBSD's acpi_pcib asks
  // for it: "could not evaluate _ADR - AE_NOT_FOUND" without).
  Append(body, Name("_ADR", Integer(0)));
  ResourceTemplate rt;
  rt.WordBusNumber(h.bus_start, h.bus_end);
  rt.Io(0xcf8, 8);
  for (const auto& [lo, hi] : h.io_windows) rt.WordIo(lo, hi);
  for (const auto& [lo, hi] : h.mem_windows) AddMemRange(rt, lo, hi);
  Append(body, Crs(rt));
  if (!h.prt.empty()) {
    std::vector<Bytes> entries;
    for (const AcpiPciIrq& r : h.prt) {
      entries.push_back(Package({Integer((uint64_t{r.device} << 16) | 0xffff),
                                 Integer(r.pin), Integer(0), Integer(r.gsi)}));
    }
    Append(body, Name("_PRT", Package(entries)));
  }
  return Device("PCI0", body);
}

}  // namespace

absl::StatusOr<std::vector<uint8_t>> BuildDsdtAml(const AcpiPlatform& p) {
  if (auto s = Validate(p); !s.ok()) return s;
  using namespace aml;
  std::set<std::string> used;
  auto take = [&used](const std::string& n) {
    std::string padded = n;
    padded.resize(4, '_');
    return used.insert(padded).second;
  };
  Bytes sb;
  for (unsigned i = 0; i < p.ncpus; i++) {
    std::string n = absl::StrFormat("C%03X", i);
    take(n);
    Bytes body = Name("_HID", String("ACPI0007"));
    Append(body, Name("_UID", Integer(i)));
    Append(sb, Device(n, body));
  }
  if (p.pci) {
    take("PCI0");
    Append(sb, PciHost(*p.pci));
    if (p.pci->ecam_base) {
      take("MRES");
      const uint64_t lo = p.pci->ecam_base + (uint64_t{p.pci->bus_start} << 20);
      const uint64_t hi =
          p.pci->ecam_base + ((uint64_t{p.pci->bus_end} + 1) << 20) - 1;
      ResourceTemplate rt;
      if (hi < k4G) {
        rt.Memory32Fixed(static_cast<uint32_t>(lo),
                         static_cast<uint32_t>(hi - lo + 1));
      } else {
        rt.QWordMemory(lo, hi);
      }
      Bytes body = Name("_HID", HardwareId("PNP0C02"));
      Append(body, Name("_UID", String("ECAM")));
      Append(body, Crs(rt));
      Append(sb, Device("MRES", body));
    }
  }
  if (p.hpet_addr) {
    take("HPET");
    ResourceTemplate rt;
    rt.Memory32Fixed(static_cast<uint32_t>(*p.hpet_addr), 0x400, false);
    Bytes body = Name("_HID", HardwareId("PNP0103"));
    Append(body, Name("_UID", Integer(0)));
    Append(body, StaPresent());
    Append(body, Crs(rt));
    Append(sb, Device("HPET", body));
  }
  unsigned gen = 0;
  for (const AcpiDevice& d : p.devices) {
    std::string n = d.name;
    if (n.empty()) {
      do {
        n = absl::StrFormat("D%03X", gen++);
      } while (used.count(n) && gen < 0x1000);
    }
    if (!take(n)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "ACPI: two DSDT devices are named %s", n));
    }
    Bytes body = Name("_HID", HardwareId(d.hid));
    if (!d.cid.empty()) Append(body, Name("_CID", HardwareId(d.cid)));
    Append(body, Name("_UID", Integer(d.uid)));
    Append(body, StaPresent());
    ResourceTemplate rt;
    for (const auto& [port, cnt] : d.io) rt.Io(port, static_cast<uint8_t>(cnt));
    for (const auto& [base, len] : d.mem) rt.Memory32Fixed(base, len);
    for (uint32_t irq : d.irqs) {
      if (irq < 16) {
        rt.IrqNoFlags(static_cast<uint8_t>(irq));
      } else {
        rt.Interrupt(irq, /*level=*/true, /*active_low=*/false);
      }
    }
    Append(body, Crs(rt));
    Append(sb, Device(n, body));
  }
  Bytes out = Scope("\\_SB_", sb);
  // \_S5: SLP_TYPa, SLP_TYPb, reserved, reserved.
  Append(out, Name("\\_S5_", Package({Integer(5), Integer(5), Integer(0),
                                      Integer(0)})));
  return out;
}

absl::StatusOr<std::vector<uint8_t>> BuildAcpiImage(const AcpiPlatform& p,
                                                    uint64_t base,
                                                    uint64_t max_size) {
  if (base % 16 != 0 || base >= k4G) {
    return Invalid("table base must be 16-byte aligned and below 4 GiB");
  }
  auto dsdt_aml = BuildDsdtAml(p);
  if (!dsdt_aml.ok()) return dsdt_aml.status();
  Bytes img(64, 0);  // RSDP (36 bytes), filled in last
  auto place = [&img](const Bytes& t, size_t align) {
    while (img.size() % align) img.push_back(0);
    size_t off = img.size();
    aml::Append(img, t);
    return off;
  };
  const size_t facs = place(Facs(), 64);
  Bytes dsdt = Header("DSDT", 2);
  aml::Append(dsdt, *dsdt_aml);
  Seal(dsdt);
  const size_t dsdt_off = place(dsdt, 16);
  std::vector<size_t> entries;  // tables the XSDT lists
  entries.push_back(place(Fadt(p, base + facs, base + dsdt_off), 16));
  entries.push_back(place(Madt(p), 16));
  if (p.hpet_addr) entries.push_back(place(Hpet(p), 16));
  if (p.pci && p.pci->ecam_base) entries.push_back(place(Mcfg(*p.pci), 16));
  Bytes xsdt = Header("XSDT", 1);
  Bytes rsdt = Header("RSDT", 1);
  for (size_t off : entries) {
    AddLe(xsdt, base + off, 8);
    AddLe(rsdt, base + off, 4);
  }
  Seal(xsdt);
  Seal(rsdt);
  const size_t xsdt_off = place(xsdt, 16);
  const size_t rsdt_off = place(rsdt, 16);
  if (img.size() > max_size || base + img.size() > k4G) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "ACPI: tables need %u bytes but only %u fit at 0x%x", img.size(),
        max_size, base));
  }
  // RSDP, revision 2.
  std::memcpy(img.data(), "RSD PTR ", 8);
  std::memcpy(img.data() + 9, "QVM   ", 6);
  img[15] = 2;
  PutLe(img, 16, base + rsdt_off, 4);
  PutLe(img, 20, 36, 4);
  PutLe(img, 24, base + xsdt_off, 8);
  img[8] = Checksum(img.data(), 20);
  img[32] = Checksum(img.data(), 36);
  return img;
}

absl::StatusOr<uint64_t> BuildAcpi(GuestMemory& mem, const AcpiPlatform& p) {
  auto img = BuildAcpiImage(p, kAcpiBase, kAcpiLimit - kAcpiBase);
  if (!img.ok()) return img.status();
  if (!mem.contains(kAcpiBase, kAcpiLimit - kAcpiBase)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "ACPI: the BIOS area 0x%x..0x%x is not guest memory (RAM or ROM at "
        "0 covering 1 MiB is needed)",
        kAcpiBase, kAcpiLimit - 1));
  }
  if (!mem.fill(kAcpiBase, 0, kAcpiLimit - kAcpiBase, /*for_loader=*/true) ||
      !mem.write(kAcpiBase, img->data(), img->size(), /*for_loader=*/true)) {
    return absl::InternalError("ACPI: writing the tables failed");
  }
  return kAcpiBase;
}

}  // namespace qvm::boot

namespace qvm::boot {

absl::StatusOr<std::vector<std::vector<uint8_t>>> SplitAcpiTables(
    const std::vector<uint8_t>& blob, const std::string& path) {
  std::vector<std::vector<uint8_t>> out;
  size_t off = 0;
  while (off < blob.size()) {
    if (blob.size() - off < 36) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: %u trailing bytes at offset 0x%x are not an ACPI table (header is 36 bytes)",
          path, blob.size() - off, off));
    }
    uint32_t len;
    std::memcpy(&len, blob.data() + off + 4, 4);
    std::string sig(reinterpret_cast<const char*>(blob.data() + off), 4);
    for (char ch : sig) {
      if (!(std::isupper(static_cast<unsigned char>(ch)) ||
            std::isdigit(static_cast<unsigned char>(ch)) || ch == '_')) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: no ACPI table signature at offset 0x%x", path, off));
      }
    }
    if (len < 36 || len > blob.size() - off) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: table %s at offset 0x%x has length %u (0x%x bytes remain)", path, sig, off,
          len, blob.size() - off));
    }
    if (sig == "RSDP" || sig == "RSD " || sig == "XSDT" || sig == "RSDT") {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: table %s at offset 0x%x: give the tables, not the root pointers (qvm builds RSDP/XSDT/RSDT)",
          path, sig, off));
    }
    if (Checksum(blob.data() + off, len) != 0 && sig != "FACS") {
      // Checksum() returns the byte that would make the sum zero: a valid
      // table's own bytes sum to zero, so the value computed over it is 0.
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: table %s at offset 0x%x has a bad checksum", path, sig, off));
    }
    out.emplace_back(blob.begin() + off, blob.begin() + off + len);
    off += len;
  }
  if (out.empty()) return absl::InvalidArgumentError(path + ": no ACPI tables");
  return out;
}

absl::StatusOr<std::vector<uint8_t>> BuildUserAcpiImage(
    const std::vector<std::vector<uint8_t>>& tables, uint64_t base, uint64_t max_size) {
  if (base % 16 != 0 || base >= k4G) {
    return Invalid("table base must be 16-byte aligned and below 4 GiB");
  }
  Bytes img(64, 0);
  auto place = [&img](const Bytes& t, size_t align) {
    while (img.size() % align) img.push_back(0);
    size_t off = img.size();
    aml::Append(img, t);
    return off;
  };
  std::optional<size_t> facs, dsdt, fadt;
  std::vector<size_t> entries;
  for (const auto& t : tables) {
    std::string sig(reinterpret_cast<const char*>(t.data()), 4);
    if (sig == "FACS") {
      if (facs) return Invalid("more than one FACS");
      facs = place(t, 64);
    } else if (sig == "DSDT") {
      if (dsdt) return Invalid("more than one DSDT");
      dsdt = place(t, 16);
    } else {
      size_t off = place(t, 16);
      if (sig == "FACP") {
        if (fadt) return Invalid("more than one FADT (FACP)");
        fadt = off;
      }
      entries.push_back(off);
    }
    if (img.size() > max_size) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "ACPI: the loaded tables need more than the %u bytes that fit at 0x%x", max_size,
          base));
    }
  }
  if ((dsdt || facs) && !fadt) return Invalid("a DSDT or FACS needs a FADT (FACP) to point at it");
  if (fadt) {
    // Point the FADT at the placed FACS and DSDT (32- and 64-bit fields
    // that the table is long enough to have), then re-checksum it.
    uint32_t len;
    std::memcpy(&len, img.data() + *fadt + 4, 4);
    auto put = [&](size_t field, uint64_t v, int n) {
      if (field + n <= len) PutLe(img, *fadt + field, v, n);
    };
    // FIRMWARE_CTRL and X_FIRMWARE_CTRL are exclusive: the 64-bit one
    // when the table has it (as the generated FADT does).
    put(36, facs && len < 140 ? base + *facs : 0, 4);
    put(40, dsdt ? base + *dsdt : 0, 4);
    put(132, facs ? base + *facs : 0, 8);
    put(140, dsdt ? base + *dsdt : 0, 8);
    img[*fadt + 9] = 0;
    img[*fadt + 9] = Checksum(img.data() + *fadt, len);
  }
  Bytes xsdt = Header("XSDT", 1);
  Bytes rsdt = Header("RSDT", 1);
  for (size_t off : entries) {
    AddLe(xsdt, base + off, 8);
    AddLe(rsdt, base + off, 4);
  }
  Seal(xsdt);
  Seal(rsdt);
  const size_t xsdt_off = place(xsdt, 16);
  const size_t rsdt_off = place(rsdt, 16);
  if (img.size() > max_size || base + img.size() > k4G) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "ACPI: the loaded tables need %u bytes but only %u fit at 0x%x", img.size(), max_size,
        base));
  }
  std::memcpy(img.data(), "RSD PTR ", 8);
  std::memcpy(img.data() + 9, "QVM   ", 6);
  img[15] = 2;
  PutLe(img, 16, base + rsdt_off, 4);
  PutLe(img, 20, 36, 4);
  PutLe(img, 24, base + xsdt_off, 8);
  img[8] = Checksum(img.data(), 20);
  img[32] = Checksum(img.data(), 36);
  return img;
}

absl::StatusOr<uint64_t> WriteAcpiImage(GuestMemory& mem, const std::vector<uint8_t>& img) {
  if (!mem.contains(kAcpiBase, kAcpiLimit - kAcpiBase)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "ACPI tables need guest memory at 0x%x..0x%x", kAcpiBase, kAcpiLimit - 1));
  }
  if (!mem.fill(kAcpiBase, 0, kAcpiLimit - kAcpiBase, /*for_loader=*/true) ||
      !mem.write(kAcpiBase, img.data(), img.size(), /*for_loader=*/true)) {
    return absl::InternalError("cannot write the ACPI tables");
  }
  return kAcpiBase;
}

}  // namespace qvm::boot
