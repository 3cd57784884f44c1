// sysfs lookup of a passed-through PCI device (host_lookup.h).
#include "host_lookup.h"

#include <dirent.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace vfiopci {
namespace {

bool ParseUnsigned(const std::string& s, int base, unsigned long max, unsigned* out) {
  if (s.empty() || s.size() > 18) return false;
  std::string t = s;
  if (base == 16 && t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) t = t.substr(2);
  if (t.empty()) return false;
  char* end = nullptr;
  unsigned long v = strtoul(t.c_str(), &end, base);
  if (*end || v > max || !isxdigit(static_cast<unsigned char>(t[0]))) return false;
  *out = unsigned(v);
  return true;
}

// A number as qvm's configuration writes them: 0x hex or decimal.
bool ParseNum(const std::string& s, unsigned long max, unsigned* out) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) return ParseUnsigned(s, 16, max, out);
  if (s.find_first_not_of("0123456789") != std::string::npos) return false;
  return ParseUnsigned(s, 10, max, out);
}

// A PCI id: hex, with or without 0x (QNX writes `pci:8086/1533`).
bool ParseId(const std::string& s, uint16_t* out) {
  unsigned v;
  if (!ParseUnsigned(s, 16, 0xffff, &v)) return false;
  *out = uint16_t(v);
  return true;
}

std::vector<std::string> Split(const std::string& s, char c) {
  std::vector<std::string> v;
  size_t at = 0;
  for (;;) {
    size_t n = s.find(c, at);
    v.push_back(s.substr(at, n == std::string::npos ? std::string::npos : n - at));
    if (n == std::string::npos) return v;
    at = n + 1;
  }
}

bool ReadSmall(const std::string& path, std::string* out) {
  FILE* f = fopen(path.c_str(), "re");
  if (!f) return false;
  char buf[64] = {};
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  out->assign(buf, n);
  while (!out->empty() && (out->back() == '\n' || out->back() == ' ')) out->pop_back();
  return true;
}

bool ReadId(const std::string& path, uint16_t* out) {
  std::string s;
  return ReadSmall(path, &s) && ParseId(s, out);
}

// The last component of a symlink's target ("" when there is none).
std::string LinkName(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = readlink(path.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return "";
  buf[n] = 0;
  const char* slash = strrchr(buf, '/');
  return slash ? slash + 1 : buf;
}

std::vector<std::string> List(const std::string& dir) {
  std::vector<std::string> v;
  DIR* d = opendir(dir.c_str());
  if (!d) return v;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') v.push_back(e->d_name);
  closedir(d);
  std::sort(v.begin(), v.end());
  return v;
}

std::string Bdf(unsigned dom, unsigned bus, unsigned dev, unsigned fn) {
  char b[32];
  snprintf(b, sizeof b, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
  return b;
}

}  // namespace

std::string ParseHostSpec(const std::string& text, HostSpec* out) {
  HostSpec s;
  std::string t = text;
  size_t eq = t.find('=');
  if (eq != std::string::npos) {
    std::string id = t.substr(eq + 1);
    t = t.substr(0, eq);
    if (id.rfind("pci:", 0) == 0) id = id.substr(4);
    auto parts = Split(id, '/');
    if (parts.size() != 2 || !ParseId(parts[0], &s.vid) || !ParseId(parts[1], &s.did))
      return "`=VID/DID` must be two hex ids (=pci:8086/1533)";
    s.check_id = true;
  }
  if (t.find('/') != std::string::npos) {
    if (s.check_id) return "`=VID/DID` follows a host address (pci:BUS:DEV.FN), not ids";
    auto parts = Split(t, '/');
    if (parts.size() > 3 || !ParseId(parts[0], &s.vid) || !ParseId(parts[1], &s.did) ||
        (parts.size() == 3 && !ParseNum(parts[2], 255, &s.index)))
      return "expected VID/DID[/INDEX] (hex ids, INDEX from 0)";
    s.by_id = true;
    *out = s;
    return "";
  }
  auto parts = Split(t, ':');
  if (parts.size() == 3) {
    if (!ParseUnsigned(parts[0], 16, 0xffff, &s.domain)) return "bad PCI domain";
    parts.erase(parts.begin());
  }
  if (parts.size() != 2) return "expected BUS:DEV.FN or VID/DID[/INDEX]";
  auto df = Split(parts[1], '.');
  if (df.size() > 2 || !ParseNum(parts[0], 255, &s.bus) || !ParseNum(df[0], 31, &s.dev) ||
      (df.size() == 2 && !ParseNum(df[1], 7, &s.fn)))
    return "bad PCI address (BUS 0-255, DEV 0-31, FN 0-7)";
  *out = s;
  return "";
}

std::string FindHostDevice(const std::string& sysfs, const HostSpec& spec, HostDevice* out,
                           int* err) {
  int dummy;
  if (!err) err = &dummy;
  *err = ENODEV;
  std::string devices = sysfs + "/bus/pci/devices";
  HostDevice d;
  if (spec.by_id) {
    unsigned seen = 0;
    for (const auto& name : List(devices)) {
      uint16_t v, i;
      if (!ReadId(devices + "/" + name + "/vendor", &v) ||
          !ReadId(devices + "/" + name + "/device", &i) || v != spec.vid || i != spec.did)
        continue;
      if (seen++ == spec.index) {
        d.bdf = name;
        break;
      }
    }
    if (d.bdf.empty()) {
      char b[160];
      if (seen)
        snprintf(b, sizeof b, "the host has %u device(s) %04x:%04x; index %u names none", seen,
                 spec.vid, spec.did, spec.index);
      else
        snprintf(b, sizeof b, "no host PCI device %04x:%04x", spec.vid, spec.did);
      return b;
    }
  } else {
    d.bdf = Bdf(spec.domain, spec.bus, spec.dev, spec.fn);
    if (access((devices + "/" + d.bdf).c_str(), F_OK) != 0)
      return "no host PCI device " + d.bdf;
  }
  std::string dir = devices + "/" + d.bdf;
  if (!ReadId(dir + "/vendor", &d.vid) || !ReadId(dir + "/device", &d.did))
    return d.bdf + ": cannot read its vendor/device ids in sysfs";
  if (spec.check_id && (d.vid != spec.vid || d.did != spec.did)) {
    char b[160];
    snprintf(b, sizeof b, "%s is %04x:%04x, not %04x:%04x", d.bdf.c_str(), d.vid, d.did,
             spec.vid, spec.did);
    return b;
  }
  *err = EBUSY;
  std::string drv = LinkName(dir + "/driver");
  if (drv != "vfio-pci")
    return d.bdf + (drv.empty() ? std::string(" is bound to no driver")
                                : " is bound to " + drv) +
           ", not vfio-pci (echo vfio-pci > " + dir + "/driver_override, then bind it "
           "through /sys/bus/pci/drivers_probe)";
  std::string group = LinkName(dir + "/iommu_group");
  unsigned g;
  if (group.empty() || !ParseNum(group, 0x7fffffff, &g)) {
    *err = ENOTSUP;
    return d.bdf + " has no IOMMU group (no IOMMU enabled on the host: intel_iommu=on / "
                   "amd_iommu=on)";
  }
  *err = EBUSY;
  d.group = int(g);
  for (const auto& other : List(sysfs + "/kernel/iommu_groups/" + group + "/devices")) {
    std::string od = LinkName(devices + "/" + other + "/driver");
    if (!od.empty() && od != "vfio-pci")
      return "IOMMU group " + group + " of " + d.bdf + " is not viable: " + other +
             " in the same group is bound to " + od + " (bind every device of the group "
             "to vfio-pci or unbind it)";
  }
  *out = d;
  *err = 0;
  return "";
}

}  // namespace vfiopci
