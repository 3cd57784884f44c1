// `pass loc mem` / `pass loc io` (passthrough.h): the checks, the host
// objects behind them and the accesses that still exit.
#include "vmm/passthrough.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "vmm/log.h"

namespace qvm {
namespace {

constexpr uint64_t kPage = 4096;
// The attribute letters of `pass loc mem:GPA,LEN,ATTRS`.
constexpr const char* kMemAttrs = "rwxcn";
// The bus region index of port pass i is kPortRegion | i (memory pass i: i).
constexpr uint32_t kPortRegion = 0x80000000u;

std::string Range(uint64_t base, uint64_t size) {
  return absl::StrFormat("0x%x-0x%x", base, base + (size - 1));
}

// Whether [a, a+as) and [b, b+bs) overlap (sizes non-zero, no wrap).
bool Overlaps(uint64_t a, uint64_t as, uint64_t b, uint64_t bs) {
  return a <= b + (bs - 1) && b <= a + (as - 1);
}

std::string Owner(const Bus::Region& r, const BusDevice* self) {
  return r.dev == self ? std::string("another `pass`") : absl::StrCat("vdev ", r.dev->bus_name());
}

}  // namespace

std::vector<VdevSpec> PciPassSpecs(const Config& cfg, const std::string& plugin_type) {
  std::vector<VdevSpec> out;
  for (const auto& p : cfg.passes)
    for (const auto& l : p.locs) {
      if (l.space != Space::Pci) continue;
      VdevSpec s;
      s.type = plugin_type;
      s.where = s.type_where = l.where;
      VdevOption o;
      o.name = "host";
      o.value = l.pci_by_id
                    ? absl::StrFormat("%04x/%04x/%u", l.vid, l.did, l.pci_index)
                    : absl::StrFormat("%u:%u.%u", l.bus, l.dev, l.fn);
      if (l.pci_check_id) absl::StrAppendFormat(&o.value, "=%04x/%04x", l.vid, l.did);
      o.where = o.value_where = l.where;
      s.options.push_back(std::move(o));
      out.push_back(std::move(s));
    }
  return out;
}

Passthrough::~Passthrough() {
  for (auto& m : mems_)
    if (m.host) munmap(m.host, m.size);
}

absl::Status Passthrough::check_mem(const LocSpec& l, const GuestMemory& mem, const Bus& mmio,
                                    Mem* out) {
  auto err = [&](const std::string& what) {
    return ConfigError(l.where, absl::StrCat("`pass loc mem`: ", what));
  };
  if (!l.size) return err("needs a length (mem:GPA,LEN[,ATTRS][=HOST])");
  Mem m;
  m.gpa = l.addr;
  m.size = *l.size;
  m.where = l.where;
  if (m.gpa % kPage || m.size % kPage)
    return err(absl::StrFormat("0x%x,0x%x: the address and the length must be multiples of "
                               "4 KiB (guest memory is mapped a page at a time)", m.gpa, m.size));
  if (m.gpa > UINT64_MAX - (m.size - 1)) return err("the region wraps around");
  m.attrs = l.perms.empty() ? std::string("rwx") : l.perms;
  for (char c : m.attrs)
    if (!strchr(kMemAttrs, c))
      return err(absl::StrFormat("attribute `%c` is not one qvm knows (r read, w write, "
                                 "x execute, c cacheable, n not cacheable)", c));
  auto has = [&](char c) { return m.attrs.find(c) != std::string::npos; };
  if (!has('r'))
    return err("a region the guest cannot read cannot be given as a memory slot "
               "(KVM slots are always readable): add `r`");
  if (has('c') && has('n')) return err("`c` (cacheable) and `n` (not cacheable) together");
  bool phys = l.host_kind == LocSpec::HostKind::Phys;
  if (has('n') && !phys)
    return err("`n` (not cacheable): a host file or shared-memory object is the host's "
               "cacheable page cache; `n` is for host physical memory (=ADDRESS)");
  m.writable = has('w');
  uint64_t host = phys ? l.host.value_or(m.gpa) : 0;
  if (phys && host % kPage)
    return err(absl::StrFormat("host address 0x%x is not a multiple of 4 KiB", host));
  if (phys && (host > uint64_t(INT64_MAX) - m.size))
    return err(absl::StrFormat("host address 0x%x is out of range", host));
  switch (l.host_kind) {
    case LocSpec::HostKind::Phys: m.source = absl::StrFormat("host physical 0x%x", host); break;
    case LocSpec::HostKind::File: m.source = "file " + l.host_path; break;
    case LocSpec::HostKind::Shm: m.source = "shm " + l.host_path; break;
  }
  for (const auto& r : mem.regions())
    if (Overlaps(m.gpa, m.size, r.gpa, r.size))
      return err(absl::StrFormat("%s overlaps guest %s %s", Range(m.gpa, m.size),
                                 r.readonly ? "ROM" : "RAM", Range(r.gpa, r.size)));
  for (const auto& r : mmio.regions())
    if (Overlaps(m.gpa, m.size, r.base, r.size))
      return err(absl::StrFormat("%s overlaps %s at %s", Range(m.gpa, m.size),
                                 Owner(r, this), Range(r.base, r.size)));
  *out = std::move(m);
  return absl::OkStatus();
}

absl::Status Passthrough::open_mem(const LocSpec& l, Mem& m) {
  auto err = [&](const std::string& what) {
    return ConfigError(l.where, absl::StrCat("`pass loc mem`: ", m.source, ": ", what));
  };
  int flags = (m.writable ? O_RDWR : O_RDONLY) | O_CLOEXEC;
  int fd = -1;
  off_t offset = 0;
  switch (l.host_kind) {
    case LocSpec::HostKind::Phys:
      offset = off_t(l.host.value_or(m.gpa));
      fd = open("/dev/mem", flags | O_SYNC);
      if (fd < 0)
        return err(absl::StrCat("/dev/mem: ", strerror(errno),
                                errno == EACCES || errno == EPERM
                                    ? " (host physical memory needs root / CAP_SYS_RAWIO)"
                                    : ""));
      break;
    case LocSpec::HostKind::File:
      fd = open(l.host_path.c_str(), flags);
      if (fd < 0) return err(strerror(errno));
      break;
    case LocSpec::HostKind::Shm: {
      std::string name = "/" + l.host_path;
      fd = shm_open(name.c_str(), m.writable ? O_RDWR | O_CREAT : O_RDONLY, 0600);
      if (fd < 0) return err(absl::StrCat("shm_open: ", strerror(errno)));
      break;
    }
  }
  struct stat sb{};
  if (fstat(fd, &sb) != 0) {
    int e = errno;
    close(fd);
    return err(absl::StrCat("fstat: ", strerror(e)));
  }
  if (S_ISREG(sb.st_mode)) {
    // A new shared-memory object is sized here; a file is never grown (its
    // owner sizes it). Pages past the end could not be backed.
    if (sb.st_size == 0 && l.host_kind == LocSpec::HostKind::Shm &&
        ftruncate(fd, off_t(m.size)) == 0)
      sb.st_size = off_t(m.size);
    if (uint64_t(sb.st_size) < m.size) {
      close(fd);
      return err(absl::StrFormat("holds %d bytes, the pass needs 0x%x", sb.st_size, m.size));
    }
  }
  void* p = mmap(nullptr, m.size, PROT_READ | (m.writable ? PROT_WRITE : 0), MAP_SHARED, fd,
                 offset);
  int e = errno;
  close(fd);
  if (p == MAP_FAILED)
    return err(absl::StrCat("mmap: ", strerror(e),
                            l.host_kind == LocSpec::HostKind::Phys && e == EPERM
                                ? " (the kernel refuses this range of /dev/mem: "
                                  "CONFIG_STRICT_DEVMEM keeps RAM and claimed I/O memory out)"
                                : ""));
  m.host = p;
  return absl::OkStatus();
}

absl::Status Passthrough::build(const Config& cfg, const GuestMemory& mem, Bus& mmio, Bus& io,
                                Machine& machine, bool open) {
  machine_ = &machine;
  for (const auto& p : cfg.passes) {
    if (!p.intrs.empty())
      return ConfigError(p.intrs[0].where,
                         "`pass intr`: a bare host interrupt cannot be passed on Linux: a "
                         "process receives a host interrupt only through the driver that owns "
                         "its device (`pass loc pci` brings a PCI function's interrupts through "
                         "VFIO)");
    for (const auto& l : p.locs) {
      if (l.space == Space::Pci) continue;  // a plug-in instance (PciPassSpecs)
      if (l.space == Space::Mem) {
        Mem m;
        absl::Status st = check_mem(l, mem, mmio, &m);
        if (st.ok() && open) st = open_mem(l, m);
        if (!st.ok()) {
          if (m.host) munmap(m.host, m.size);
          return st;
        }
        if (!m.attrs.empty() && m.attrs.find('x') == std::string::npos)
          Log(LogLevel::Info, "%s: `pass loc mem` without `x`: a KVM memory slot cannot forbid "
              "execution; the guest's own page tables must", l.where.str().c_str());
        mems_.push_back(m);
        st = mmio.insert(m.gpa, m.size, this, uint32_t(mems_.size() - 1));
        if (!st.ok()) return ConfigError(l.where, absl::StrCat("`pass loc mem`: ", st.message()));
        continue;
      }
      // I/O ports.
      auto err = [&](const std::string& what) {
        return ConfigError(l.where, absl::StrCat("`pass loc io`: ", what));
      };
      if (!machine.has_host_ports())
        return err(absl::StrCat("the ", machine.name(), " machine has no I/O port space"));
      if (!l.perms.empty()) return err("ports take no attributes (io:PORT[,LEN][=HOST])");
      Io r;
      r.where = l.where;
      r.port = uint32_t(l.addr);
      uint64_t count = l.size.value_or(1);
      r.host = uint32_t(l.host.value_or(l.addr));
      if (count > 0x10000 - r.port || count > 0x10000 - r.host)
        return err(absl::StrFormat("0x%x,%u runs past port 0xffff", r.port, count));
      r.count = uint32_t(count);
      for (const auto& b : io.regions())
        if (Overlaps(r.port, r.count, b.base, b.size))
          return err(absl::StrFormat("ports %s overlap %s at %s", Range(r.port, r.count),
                                     Owner(b, this), Range(b.base, b.size)));
      if (open) {
        absl::Status st = machine.open_host_ports(r.host, r.count);
        if (!st.ok()) return err(std::string(st.message()));
      }
      ios_.push_back(r);
      absl::Status st = io.insert(r.port, r.count, this, kPortRegion | uint32_t(ios_.size() - 1));
      if (!st.ok()) return err(std::string(st.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status Passthrough::map_all(
    const std::function<int(uint64_t, void*, uint64_t, bool)>& map) const {
  for (const auto& m : mems_) {
    if (!m.host) continue;
    int rc = map(m.gpa, m.host, m.size, m.writable);
    if (rc < 0)
      return absl::InternalError(absl::StrFormat("%s: `pass loc mem` %s: cannot map it into the "
                                                 "guest: %s", m.where.str(), Range(m.gpa, m.size),
                                                 strerror(-rc)));
  }
  return absl::OkStatus();
}

void Passthrough::print(FILE* out) const {
  if (mems_.empty() && ios_.empty()) return;
  fprintf(out, "passes:\n");
  for (const auto& m : mems_)
    fprintf(out, "  mem 0x%012llx-0x%012llx %s %s%s\n", (unsigned long long)m.gpa,
            (unsigned long long)(m.gpa + m.size - 1), m.attrs.c_str(), m.source.c_str(),
            m.writable ? "" : " (read-only slot)");
  for (const auto& r : ios_)
    fprintf(out, "  io  0x%04x-0x%04x host ports 0x%04x-0x%04x\n", r.port, r.port + r.count - 1,
            r.host, r.host + r.count - 1);
}

// Accesses that exit: a write to a read-only memory pass (dropped, a bus
// error), a read of one whose slot is not (yet) mapped, every port access.
BusStatus Passthrough::read(const BusAccess& acc, uint8_t* data) {
  if (acc.region < mems_.size()) {
    const Mem& m = mems_[acc.region];
    if (!m.host || acc.offset > m.size || acc.size > m.size - acc.offset)
      return BusStatus::BusError;
    memcpy(data, static_cast<const uint8_t*>(m.host) + acc.offset, acc.size);
    return BusStatus::Done;
  }
  size_t i = acc.region & ~kPortRegion;
  if (!(acc.region & kPortRegion) || i >= ios_.size() || !machine_ ||
      (acc.size != 1 && acc.size != 2 && acc.size != 4))
    return BusStatus::BusError;
  uint32_t v = machine_->host_port_in(uint16_t(ios_[i].host + acc.offset), acc.size);
  memcpy(data, &v, acc.size);
  return BusStatus::Done;
}

BusStatus Passthrough::write(const BusAccess& acc, const uint8_t* data) {
  if (acc.region < mems_.size()) {
    const Mem& m = mems_[acc.region];
    if (!m.host || !m.writable || acc.offset > m.size || acc.size > m.size - acc.offset)
      return BusStatus::BusError;
    memcpy(static_cast<uint8_t*>(m.host) + acc.offset, data, acc.size);
    return BusStatus::Done;
  }
  size_t i = acc.region & ~kPortRegion;
  if (!(acc.region & kPortRegion) || i >= ios_.size() || !machine_ ||
      (acc.size != 1 && acc.size != 2 && acc.size != 4))
    return BusStatus::BusError;
  uint32_t v = 0;
  memcpy(&v, data, acc.size);
  machine_->host_port_out(uint16_t(ios_[i].host + acc.offset), acc.size, v);
  return BusStatus::Done;
}

}  // namespace qvm
