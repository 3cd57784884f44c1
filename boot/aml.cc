#include "boot/aml.h"

#include <cctype>

namespace qvm::boot::aml {
namespace {

constexpr uint8_t kZeroOp = 0x00, kOneOp = 0x01, kNameOp = 0x08;
constexpr uint8_t kBytePrefix = 0x0a, kWordPrefix = 0x0b, kDWordPrefix = 0x0c;
constexpr uint8_t kStringPrefix = 0x0d, kQWordPrefix = 0x0e;
constexpr uint8_t kScopeOp = 0x10, kBufferOp = 0x11, kPackageOp = 0x12;
constexpr uint8_t kMethodOp = 0x14, kDualNamePrefix = 0x2e;
constexpr uint8_t kMultiNamePrefix = 0x2f, kExtOpPrefix = 0x5b;
constexpr uint8_t kDeviceOp = 0x82, kReturnOp = 0xa4, kRootChar = 0x5c;

void PutLe(Bytes& b, uint64_t v, int n) {
  for (int i = 0; i < n; i++) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

std::vector<std::string> Segments(std::string_view path, bool* root) {
  *root = !path.empty() && path[0] == '\\';
  if (*root) path.remove_prefix(1);
  std::vector<std::string> segs;
  std::string cur;
  for (char ch : path) {
    if (ch == '.') {
      segs.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(ch);
    }
  }
  segs.push_back(cur);
  return segs;
}

bool ValidSeg(const std::string& s) {
  if (s.empty() || s.size() > 4) return false;
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    bool ok = (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Prefix op + PkgLength + content.
Bytes Package(std::initializer_list<uint8_t> op, const Bytes& content) {
  Bytes out(op);
  Append(out, PkgLength(content.size()));
  Append(out, content);
  return out;
}

}  // namespace

void Append(Bytes& to, const Bytes& from) {
  to.insert(to.end(), from.begin(), from.end());
}

bool ValidNamePath(std::string_view path) {
  bool root;
  auto segs = Segments(path, &root);
  if (segs.size() > 255) return false;
  for (const auto& s : segs) {
    if (!ValidSeg(s)) return false;
  }
  return true;
}

Bytes NameString(std::string_view path) {
  bool root;
  auto segs = Segments(path, &root);
  Bytes out;
  if (root) out.push_back(kRootChar);
  if (segs.size() > 255) segs.resize(255);
  if (segs.size() == 2) {
    out.push_back(kDualNamePrefix);
  } else if (segs.size() > 2) {
    out.push_back(kMultiNamePrefix);
    out.push_back(static_cast<uint8_t>(segs.size()));
  }
  for (std::string s : segs) {
    s.resize(4, '_');
    for (size_t i = 0; i < 4; i++) {
      char c = s[i];
      bool ok = (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
      out.push_back(static_cast<uint8_t>(ok ? c : '_'));
    }
  }
  return out;
}

Bytes PkgLength(size_t len) {
  Bytes out;
  if (len + 1 <= 0x3f) {
    out.push_back(static_cast<uint8_t>(len + 1));
    return out;
  }
  for (size_t n = 2; n <= 4; n++) {
    size_t total = len + n;
    if (total < (size_t{1} << (4 + 8 * (n - 1)))) {
      out.push_back(static_cast<uint8_t>(((n - 1) << 6) | (total & 0xf)));
      total >>= 4;
      for (size_t i = 1; i < n; i++) {
        out.push_back(static_cast<uint8_t>(total & 0xff));
        total >>= 8;
      }
      return out;
    }
  }
  return {};
}

Bytes Integer(uint64_t v) {
  Bytes out;
  if (v == 0) {
    out.push_back(kZeroOp);
  } else if (v == 1) {
    out.push_back(kOneOp);
  } else if (v <= 0xff) {
    out.push_back(kBytePrefix);
    PutLe(out, v, 1);
  } else if (v <= 0xffff) {
    out.push_back(kWordPrefix);
    PutLe(out, v, 2);
  } else if (v <= 0xffffffff) {
    out.push_back(kDWordPrefix);
    PutLe(out, v, 4);
  } else {
    out.push_back(kQWordPrefix);
    PutLe(out, v, 8);
  }
  return out;
}

Bytes String(std::string_view s) {
  Bytes out{kStringPrefix};
  for (char c : s) {
    // AsciiCharList: 0x01-0x7f.
    uint8_t u = static_cast<uint8_t>(c);
    out.push_back(u >= 1 && u <= 0x7f ? u : '?');
  }
  out.push_back(0);
  return out;
}

std::optional<uint32_t> EisaId(std::string_view id) {
  if (id.size() != 7) return std::nullopt;
  uint32_t v = 0;
  for (int i = 0; i < 3; i++) {
    if (id[i] < 'A' || id[i] > 'Z') return std::nullopt;
    v = (v << 5) | static_cast<uint32_t>(id[i] - 'A' + 1);
  }
  for (int i = 3; i < 7; i++) {
    char c = id[i];
    uint32_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint32_t>(c - '0');
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return std::nullopt;
    }
    v = (v << 4) | d;
  }
  // 15-bit vendor + 16-bit product, stored big-endian as a little-endian
  // DWORD.
  return ((v >> 24) & 0xff) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) |
         ((v << 24) & 0xff000000);
}

Bytes HardwareId(std::string_view id) {
  if (auto e = EisaId(id)) {
    Bytes out{kDWordPrefix};
    PutLe(out, *e, 4);
    return out;
  }
  return String(id);
}

Bytes Name(std::string_view name, const Bytes& object) {
  Bytes out{kNameOp};
  Append(out, NameString(name));
  Append(out, object);
  return out;
}

Bytes Scope(std::string_view name, const Bytes& body) {
  Bytes content = NameString(name);
  Append(content, body);
  return Package({kScopeOp}, content);
}

Bytes Device(std::string_view name, const Bytes& body) {
  Bytes content = NameString(name);
  Append(content, body);
  return Package({kExtOpPrefix, kDeviceOp}, content);
}

Bytes Method(std::string_view name, uint8_t nargs, bool serialized,
             const Bytes& body) {
  Bytes content = NameString(name);
  content.push_back(static_cast<uint8_t>((nargs & 7) | (serialized ? 8 : 0)));
  Append(content, body);
  return Package({kMethodOp}, content);
}

Bytes Return(const Bytes& value) {
  Bytes out{kReturnOp};
  Append(out, value);
  return out;
}

Bytes Package(const std::vector<Bytes>& elements) {
  Bytes content;
  content.push_back(static_cast<uint8_t>(elements.size() & 0xff));
  for (const Bytes& e : elements) Append(content, e);
  return Package({kPackageOp}, content);
}

Bytes Buffer(const Bytes& data) {
  Bytes content = Integer(data.size());
  Append(content, data);
  return Package({kBufferOp}, content);
}

// ---- resource descriptors (ACPI 6, section 6.4) ---------------------------

void ResourceTemplate::Io(uint16_t base, uint8_t len) {
  b_.push_back(0x47);  // small item 8, length 7
  b_.push_back(0x01);  // 16-bit decode
  PutLe(b_, base, 2);
  PutLe(b_, base, 2);
  b_.push_back(0x01);  // alignment
  b_.push_back(len);
}

void ResourceTemplate::Memory32Fixed(uint32_t base, uint32_t len,
                                     bool writable) {
  b_.push_back(0x86);  // large item 6
  PutLe(b_, 9, 2);
  b_.push_back(writable ? 1 : 0);
  PutLe(b_, base, 4);
  PutLe(b_, len, 4);
}

void ResourceTemplate::IrqNoFlags(uint8_t irq) {
  b_.push_back(0x22);  // small item 4, length 2
  PutLe(b_, uint16_t(1u << (irq & 15)), 2);
}

void ResourceTemplate::Interrupt(uint32_t gsi, bool level, bool active_low) {
  b_.push_back(0x89);  // large item 9
  PutLe(b_, 6, 2);
  // bit0 consumer, bit1 edge, bit2 active low, bit3 shared (no)
  b_.push_back(static_cast<uint8_t>(1 | (level ? 0 : 2) | (active_low ? 4 : 0)));
  b_.push_back(1);  // one interrupt
  PutLe(b_, gsi, 4);
}

namespace {
// General flags for Word/DWord/QWord address space descriptors:
// producer (bit0 = 0), positive decode, MinFixed (bit2), MaxFixed (bit3).
constexpr uint8_t kAddrFlags = 0x0c;
}  // namespace

void ResourceTemplate::WordBusNumber(uint16_t min, uint16_t max) {
  b_.push_back(0x88);  // large item 8: Word Address Space
  PutLe(b_, 13, 2);
  b_.push_back(2);     // bus number range
  b_.push_back(kAddrFlags);
  b_.push_back(0);     // type-specific flags
  PutLe(b_, 0, 2);     // granularity
  PutLe(b_, min, 2);
  PutLe(b_, max, 2);
  PutLe(b_, 0, 2);     // translation
  PutLe(b_, uint16_t(max - min + 1), 2);
}

void ResourceTemplate::WordIo(uint16_t min, uint16_t max) {
  b_.push_back(0x88);
  PutLe(b_, 13, 2);
  b_.push_back(1);     // I/O range
  b_.push_back(kAddrFlags);
  b_.push_back(3);     // EntireRange
  PutLe(b_, 0, 2);
  PutLe(b_, min, 2);
  PutLe(b_, max, 2);
  PutLe(b_, 0, 2);
  PutLe(b_, uint16_t(max - min + 1), 2);
}

void ResourceTemplate::DWordMemory(uint32_t min, uint32_t max) {
  b_.push_back(0x87);  // large item 7: DWord Address Space
  PutLe(b_, 23, 2);
  b_.push_back(0);     // memory range
  b_.push_back(kAddrFlags);
  b_.push_back(1);     // read-write, non-cacheable
  PutLe(b_, 0, 4);
  PutLe(b_, min, 4);
  PutLe(b_, max, 4);
  PutLe(b_, 0, 4);
  PutLe(b_, uint32_t(max - min + 1), 4);
}

void ResourceTemplate::QWordMemory(uint64_t min, uint64_t max) {
  b_.push_back(0x8a);  // large item 0xA: QWord Address Space
  PutLe(b_, 43, 2);
  b_.push_back(0);
  b_.push_back(kAddrFlags);
  b_.push_back(1);
  PutLe(b_, 0, 8);
  PutLe(b_, min, 8);
  PutLe(b_, max, 8);
  PutLe(b_, 0, 8);
  PutLe(b_, max - min + 1, 8);
}

Bytes ResourceTemplate::Finish() const {
  Bytes out = b_;
  out.push_back(0x79);  // End Tag
  out.push_back(0x00);  // checksum 0: "treat as correct"
  return out;
}

}  // namespace qvm::boot::aml
