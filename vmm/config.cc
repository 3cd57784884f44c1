// The configuration parser: tokenizer, `@file` expansion,
// numbers, and the grammar that turns tokens into a typed Config.
//
// Every error is an InvalidArgument status "FILE:LINE:COL: message" where
// FILE:LINE:COL is the offending token and the message names it in
// backquotes.

#include "vmm/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "vmm/vars.h"

namespace qvm {

namespace {

#define QVM_CFG_TRY(expr)                  \
  do {                                     \
    absl::Status qvm_cfg_st_ = (expr);     \
    if (!qvm_cfg_st_.ok()) return qvm_cfg_st_; \
  } while (0)

constexpr char kCommandLine[] = "<command line>";

std::string Q(std::string_view s) {
  std::string r = "`";
  r.append(s);
  r += '`';
  return r;
}

// Splits on ',' keeping empty fields.
std::vector<std::string_view> SplitComma(std::string_view s) {
  std::vector<std::string_view> out;
  for (;;) {
    size_t c = s.find(',');
    out.push_back(s.substr(0, c));
    if (c == std::string_view::npos) return out;
    s.remove_prefix(c + 1);
  }
}

std::string Lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = absl::ascii_tolower(static_cast<unsigned char>(c));
  return r;
}

bool IsIdentChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
         c == '.' || c == '-';
}

// [A-Za-z0-9_.-]+, and not "." or ".." (names become path components).
bool IsIdentifier(std::string_view s) {
  if (s.empty() || s == "." || s == "..") return false;
  for (char c : s)
    if (!IsIdentChar(c)) return false;
  return true;
}

std::optional<uint64_t> ParseDigits(std::string_view s, unsigned base) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    unsigned d;
    if (c >= '0' && c <= '9') {
      d = static_cast<unsigned>(c - '0');
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      d = static_cast<unsigned>(c - 'a' + 10);
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      d = static_cast<unsigned>(c - 'A' + 10);
    } else {
      return std::nullopt;
    }
    if (d >= base) return std::nullopt;
    if (v > (std::numeric_limits<uint64_t>::max() - d) / base)
      return std::nullopt;
    v = v * base + d;
  }
  return v;
}

// Bare hexadecimal with an optional 0x (PCI vendor/device ids).
std::optional<uint64_t> ParseHex(std::string_view s) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
    s.remove_prefix(2);
  return ParseDigits(s, 16);
}

}  // namespace

std::optional<uint64_t> ParseNumber(const std::string& str) {
  std::string_view s = str;
  if (s.size() >= 2 && s[0] == '0') {
    if (s[1] == 'x' || s[1] == 'X') return ParseDigits(s.substr(2), 16);
    if (s[1] == 'd' || s[1] == 'D') return ParseDigits(s.substr(2), 10);
  }
  return ParseDigits(s, 10);
}

std::optional<uint64_t> ParseSize(const std::string& str) {
  if (str.empty()) return std::nullopt;
  unsigned shift = 0;
  switch (str.back()) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    default: break;
  }
  std::optional<uint64_t> v =
      ParseNumber(shift ? str.substr(0, str.size() - 1) : str);
  if (!v) return std::nullopt;
  if (shift && *v > (std::numeric_limits<uint64_t>::max() >> shift))
    return std::nullopt;
  return *v << shift;
}

std::string SourceLoc::str() const {
  return absl::StrCat(file, ":", line, ":", col);
}

absl::Status ConfigError(const SourceLoc& where, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(where.str(), ": ", message));
}

std::string ResolvePath(const SourceLoc& where, const std::string& path) {
  if (path.empty() || path[0] == '/' || where.file == kCommandLine)
    return path;
  size_t slash = where.file.rfind('/');
  if (slash == std::string::npos) return path;
  return where.file.substr(0, slash + 1) + path;
}

const SetVar* Config::var(const std::string& name) const {
  for (auto it = sets.rbegin(); it != sets.rend(); ++it)
    if (it->name == name) return &*it;
  return nullptr;
}

// ---------------------------------------------------------------------------
// Tokenizer

absl::StatusOr<std::string> ExpandAsinfo(const std::string& text, const SourceLoc& where) {
  static constexpr std::string_view kStart = "$asinfo_start{", kLength = "$asinfo_length{";
  std::string out;
  size_t i = 0;
  std::string iomem;
  bool read = false;
  while (i < text.size()) {
    size_t d = text.find('$', i);
    if (d == std::string::npos) break;
    out.append(text, i, d - i);
    std::string_view rest = std::string_view(text).substr(d);
    bool start = rest.starts_with(kStart);
    if (!start && !rest.starts_with(kLength)) {
      out += '$';
      i = d + 1;
      continue;
    }
    size_t open = d + (start ? kStart : kLength).size();
    size_t close = text.find('}', open);
    if (close == std::string::npos)
      return ConfigError(where, "`$asinfo`: missing `}` in " + Q(text));
    std::string name = text.substr(open, close - open);
    if (name.empty()) return ConfigError(where, "`$asinfo`: empty region name in " + Q(text));
    const char* env = getenv("QVM_IOMEM");
    const std::string src = env && *env ? env : "/proc/iomem";
    if (!read) {
      int fd = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        return ConfigError(where, "`$asinfo`: cannot read " + Q(src) + ": " + strerror(errno));
      char buf[4096];
      for (;;) {
        ssize_t r = ::read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        iomem.append(buf, size_t(r));
        if (iomem.size() > (4u << 20)) break;  // bounded
      }
      ::close(fd);
      read = true;
    }
    // Lines "  START-END : NAME" (hex, END inclusive).
    std::optional<uint64_t> lo, hi;
    size_t p = 0;
    while (p < iomem.size() && !lo) {
      size_t e = iomem.find('\n', p);
      if (e == std::string::npos) e = iomem.size();
      std::string_view line = std::string_view(iomem).substr(p, e - p);
      p = e + 1;
      size_t colon = line.find(" : ");
      size_t dash = line.find('-');
      if (colon == std::string_view::npos || dash == std::string_view::npos || dash > colon)
        continue;
      std::string_view n = line.substr(colon + 3);
      if (n != name && !(n.size() > name.size() && n.starts_with(name) && n[name.size()] == '@'))
        continue;
      auto trim = [](std::string_view v) {
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
        return v;
      };
      std::string_view a = trim(line.substr(0, dash));
      std::string_view b = trim(line.substr(dash + 1, colon - dash - 1));
      lo = ParseHex(a);
      hi = ParseHex(b);
      if (!lo || !hi || *hi < *lo)
        return ConfigError(where, "`$asinfo`: bad line in " + Q(src) + ": " + Q(line));
    }
    if (!lo)
      return ConfigError(where, "`$asinfo`: no host region " + Q(name) + " in " + Q(src));
    if (*lo == 0 && *hi == 0)
      return ConfigError(where, "`$asinfo`: " + Q(src) + " shows region " + Q(name) +
                                    " at 0 (its addresses need CAP_SYS_ADMIN: run qvm as root)");
    uint64_t v = start ? *lo : *hi - *lo + 1;
    char num[24];
    snprintf(num, sizeof num, "0x%llx", static_cast<unsigned long long>(v));
    out += num;
    i = close + 1;
  }
  out.append(text, i, std::string::npos);
  return out;
}

absl::StatusOr<std::vector<Token>> Tokenize(const std::string& text,
                                            const std::string& file) {
  std::vector<Token> out;
  const size_t n = text.size();
  size_t i = 0;
  int line = 1, col = 1;
  auto step = [&](size_t count) {
    for (size_t k = 0; k < count && i < n; ++k, ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
  };
  auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
  };
  while (i < n) {
    char c = text[i];
    if (is_space(c)) {
      step(1);
      continue;
    }
    if (c == '#') {
      while (i < n && text[i] != '\n') step(1);
      continue;
    }
    Token t;
    t.where = SourceLoc{file, line, col};
    while (i < n) {
      c = text[i];
      if (is_space(c) || c == '#') break;
      if (c == '\0')
        return ConfigError(SourceLoc{file, line, col}, "NUL byte in input");
      if (c != '"') {
        t.text.push_back(c);
        step(1);
        continue;
      }
      // A quoted part; it may abut unquoted parts of the same token.
      const SourceLoc open{file, line, col};
      t.quoted = true;
      step(1);
      bool closed = false;
      while (i < n) {
        c = text[i];
        if (c == '"') {
          step(1);
          closed = true;
          break;
        }
        if (c == '\n' || c == '\0') break;
        if (c == '\\' && i + 1 < n) {
          char d = text[i + 1];
          if (d == '"' || d == '\\') {
            t.text.push_back(d);
            step(2);
            continue;
          }
          if (d == '\n') {  // line continuation
            step(2);
            continue;
          }
          if (d == '\r' && i + 2 < n && text[i + 2] == '\n') {
            step(3);
            continue;
          }
        }
        t.text.push_back(c);
        step(1);
      }
      if (!closed) return ConfigError(open, "unterminated quoted string");
    }
    out.push_back(std::move(t));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Grammar

namespace {

std::optional<bool> ParseBool(std::string_view s) {
  std::string v = Lower(s);
  if (v == "on" || v == "yes" || v == "true" || v == "1") return true;
  if (v == "off" || v == "no" || v == "false" || v == "0") return false;
  return std::nullopt;
}

bool IsTopLevel(std::string_view s) {
  static constexpr std::string_view kWords[] = {
      "system", "ram",    "rom",    "reserve", "cpu",    "load",
      "initrd", "data",   "fdt",    "acpi",    "cmdline", "vdev", "module",
      "pass",   "set",    "logger", "dump",    "unsupported",
      "dryrun", "debug",  "tolerance", "safety", "user"};
  for (std::string_view w : kWords)
    if (s == w) return true;
  return false;
}

// One ID of `user`: decimal digits only (QNX's form: no names, no signs),
// at most 2^32 - 2 ((uid_t)-1 means "unchanged" to the kernel).
std::optional<uint32_t> ParseId(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + uint64_t(c - '0');
  }
  if (v >= 0xffffffffu) return std::nullopt;
  return uint32_t(v);
}

absl::StatusOr<UserSpec> ParseUser(const Token& v) {
  UserSpec u;
  u.value_where = v.where;
  std::string_view s = v.text;
  auto bad = [&](std::string_view part, const char* what) {
    return ConfigError(v.where, absl::StrCat("`user`: ", what, " `", std::string(part),
                                             "` is not a number (QNX's form is "
                                             "UID[:GID[,GID...]], decimal IDs, 0 to 4294967294; "
                                             "`id -u NAME` and `getent group NAME` give them)"));
  };
  size_t colon = s.find(':');
  std::string_view uid = s.substr(0, colon);
  auto n = ParseId(uid);
  if (!n) return bad(uid, "UID");
  u.uid = *n;
  if (colon == std::string_view::npos) return u;
  std::string_view rest = s.substr(colon + 1);
  for (;;) {
    size_t comma = rest.find(',');
    std::string_view g = rest.substr(0, comma);
    auto gn = ParseId(g);
    if (!gn) return bad(g, "GID");
    if (u.gids.size() >= 64)
      return ConfigError(v.where, "`user`: more than 64 groups");
    u.gids.push_back(*gn);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return u;
}

class Parser {
 public:
  Parser(const std::vector<Token>& toks, VdevOptionShapes* shapes)
      : toks_(toks), shapes_(shapes) {}

  absl::StatusOr<Config> Run() {
    cfg_.system = "qvm";
    while (i_ < toks_.size()) {
      const Token& t = toks_[i_++];
      if (t.text == "set") {
        // QNX: a `set` inside a `cpu` or `vdev` context applies there
        // (`set debug off` of one vdev) and does not end the context.
        QVM_CFG_TRY(Set(t));
        continue;
      }
      if (IsTopLevel(t.text)) {
        QVM_CFG_TRY(CloseContext());
        QVM_CFG_TRY(TopLevel(t));
        continue;
      }
      switch (ctx_) {
        case Ctx::None:
          return ConfigError(t.where, "unknown option " + Q(t.text));
        case Ctx::Cpu:
          QVM_CFG_TRY(CpuOption(t));
          break;
        case Ctx::Vdev:
          QVM_CFG_TRY(VdevOpt(t));
          break;
        case Ctx::Pass:
          QVM_CFG_TRY(PassOption(t));
          break;
        case Ctx::Reserve:
          QVM_CFG_TRY(ReserveOption(t));
          break;
      }
    }
    QVM_CFG_TRY(CloseContext());
    return std::move(cfg_);
  }

 private:
  enum class Ctx { None, Cpu, Vdev, Pass, Reserve };

  // The argument of `kw`; `label` names it in the error when it is missing.
  // An argument comes from the same file as its keyword: an option left
  // without one at the end of an `@file` is an error there, not a taker of
  // the next command-line token.
  absl::StatusOr<const Token*> Arg(const Token& kw,
                                   std::string_view label = {}) {
    if (i_ >= toks_.size() || toks_[i_].where.file != kw.where.file)
      return ConfigError(kw.where,
                         Q(label.empty() ? kw.text : label) +
                             ": missing argument");
    return &toks_[i_++];
  }

  absl::Status CloseContext() {
    Ctx ctx = std::exchange(ctx_, Ctx::None);
    switch (ctx) {
      case Ctx::Vdev: {
        const VdevSpec& v = cfg_.vdevs.back();
        if (v.name.empty()) break;
        for (size_t k = 0; k + 1 < cfg_.vdevs.size(); ++k) {
          if (cfg_.vdevs[k].name == v.name)
            return ConfigError(v.name_where,
                               "`name`: duplicate vdev name " + Q(v.name) +
                                   " (first at " +
                                   cfg_.vdevs[k].name_where.str() + ")");
        }
        break;
      }
      case Ctx::Pass: {
        const PassSpec& p = cfg_.passes.back();
        if (p.locs.empty() && p.intrs.empty())
          return ConfigError(p.where, "`pass`: needs `loc` or `intr`");
        break;
      }
      case Ctx::Reserve: {
        const ReserveSpec& r = cfg_.reserves.back();
        if (!r.loc && !r.intr)
          return ConfigError(r.where, "`reserve`: needs `loc` or `intr`");
        break;
      }
      default:
        break;
    }
    return absl::OkStatus();
  }

  absl::Status NeedMemory(const Token& kw) {
    if (cfg_.mem.empty())
      return ConfigError(kw.where,
                         Q(kw.text) + " before any `ram` or `rom`");
    return absl::OkStatus();
  }

  absl::Status TopLevel(const Token& t) {
    const std::string& w = t.text;
    if (w == "system") return System(t);
    if (w == "ram" || w == "rom") return Memory(t);
    if (w == "cpu") {
      CpuSpec c;
      c.where = t.where;
      cfg_.cpus.push_back(std::move(c));
      ctx_ = Ctx::Cpu;
      return absl::OkStatus();
    }
    if (w == "vdev") return Vdev(t);
    if (w == "pass") {
      PassSpec p;
      p.where = t.where;
      cfg_.passes.push_back(std::move(p));
      ctx_ = Ctx::Pass;
      return absl::OkStatus();
    }
    if (w == "reserve") {
      ReserveSpec r;
      r.where = t.where;
      cfg_.reserves.push_back(std::move(r));
      ctx_ = Ctx::Reserve;
      return absl::OkStatus();
    }
    if (w == "load") return Load(t);
    if (w == "initrd" || w == "data" || w == "fdt" || w == "acpi" ||
        w == "module")
      return BlobLoad(t);
    if (w == "cmdline") {
      auto a = Arg(t);
      if (!a.ok()) return a.status();
      cfg_.cmdline = (*a)->text;
      cfg_.cmdline_where = t.where;
      return absl::OkStatus();
    }
    if (w == "set") return Set(t);
    if (w == "logger") return Logger(t);
    if (w == "dump") {
      auto a = Arg(t);
      if (!a.ok()) return a.status();
      const std::string& v = (*a)->text;
      if (v.empty()) return ConfigError((*a)->where, "`dump`: empty path");
      if (v[0] == '|' &&
          v.find_first_not_of(" \t", 1) == std::string::npos)
        return ConfigError((*a)->where, "`dump`: empty command " + Q(v));
      cfg_.dump = v;
      cfg_.dump_where = t.where;
      return absl::OkStatus();
    }
    if (w == "unsupported") return Unsupported(t);
    if (w == "dryrun") {
      cfg_.dryrun = true;
      cfg_.dryrun_where = t.where;
      return absl::OkStatus();
    }
    if (w == "debug") {
      cfg_.debug = true;
      cfg_.debug_where = t.where;
      return absl::OkStatus();
    }
    if (w == "tolerance") {
      auto a = Arg(t);
      if (!a.ok()) return a.status();
      auto us = ParseNumber((*a)->text);
      if (!us)
        return ConfigError((*a)->where, "`tolerance`: bad number " + Q((*a)->text));
      cfg_.tolerance = *us;
      cfg_.tolerance_where = t.where;
      return absl::OkStatus();
    }
    if (w == "safety") {
      auto a = Arg(t);
      if (!a.ok()) return a.status();
      const std::string& v = (*a)->text;
      if (v == "required")
        return ConfigError((*a)->where,
                           "`safety required`: qvm has no safety-certified components");
      if (v != "none" && v != "warn")
        return ConfigError((*a)->where, "`safety`: unknown value " + Q(v) +
                                            " (valid: none, warn, required)");
      cfg_.safety = v;
      cfg_.safety_where = t.where;
      return absl::OkStatus();
    }
    if (w == "user") {
      auto a = Arg(t);
      if (!a.ok()) return a.status();
      auto u = ParseUser(**a);
      if (!u.ok()) return u.status();
      u->where = t.where;
      cfg_.user = std::move(*u);
      return absl::OkStatus();
    }
    return ConfigError(t.where, "unknown option " + Q(w));  // not reached
  }

  absl::Status System(const Token& t) {
    if (&t != &toks_[0])
      return ConfigError(t.where, "`system` must come first");
    auto a = Arg(t);
    if (!a.ok()) return a.status();
    if (!IsIdentifier((*a)->text))
      return ConfigError((*a)->where, "`system`: bad name " + Q((*a)->text));
    cfg_.system = (*a)->text;
    cfg_.system_where = t.where;
    return absl::OkStatus();
  }

  absl::Status Memory(const Token& t) {
    auto a = Arg(t);
    if (!a.ok()) return a.status();
    const Token& v = **a;
    MemSpec m;
    m.rom = t.text == "rom";
    m.where = t.where;
    m.value_where = v.where;
    std::string_view len = v.text;
    size_t comma = len.find(',');
    if (comma != std::string_view::npos) {
      auto start = ParseSize(std::string(len.substr(0, comma)));
      if (!start)
        return ConfigError(v.where, Q(t.text) + ": bad start " + Q(v.text));
      m.start = *start;
      len.remove_prefix(comma + 1);
    }
    auto size = ParseSize(std::string(len));
    if (!size)
      return ConfigError(v.where, Q(t.text) + ": bad size " + Q(v.text));
    if (*size == 0)
      return ConfigError(v.where, Q(t.text) + ": zero size " + Q(v.text));
    if (m.start && *m.start > std::numeric_limits<uint64_t>::max() - *size)
      return ConfigError(v.where,
                         Q(t.text) + ": range wraps around " + Q(v.text));
    m.size = *size;
    cfg_.mem.push_back(std::move(m));
    return absl::OkStatus();
  }

  absl::Status Vdev(const Token& t) {
    auto a = Arg(t);
    if (!a.ok()) return a.status();
    const std::string& type = (*a)->text;
    // TYPE names vdev-TYPE.so: no '.', no '/'.
    bool ok = !type.empty();
    for (char c : type)
      if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
            c == '-'))
        ok = false;
    if (!ok)
      return ConfigError((*a)->where, "`vdev`: bad device type " + Q(type));
    VdevSpec v;
    v.type = type;
    v.where = t.where;
    v.type_where = (*a)->where;
    cfg_.vdevs.push_back(std::move(v));
    ctx_ = Ctx::Vdev;
    return absl::OkStatus();
  }

  // `load [ADDR,]PATH`
  absl::Status Load(const Token& t) {
    QVM_CFG_TRY(NeedMemory(t));
    auto a = Arg(t);
    if (!a.ok()) return a.status();
    const Token& v = **a;
    LoadSpec l;
    l.kind = LoadKind::Kernel;
    l.where = t.where;
    l.path_where = v.where;
    std::string path = v.text;
    size_t comma = path.find(',');
    if (comma != std::string::npos) {
      // ADDR only when what precedes the comma is a number; otherwise the
      // comma is part of the file name.
      auto addr = ParseSize(path.substr(0, comma));
      if (addr) {
        l.addr = *addr;
        path = path.substr(comma + 1);
      }
    }
    if (path.empty())
      return ConfigError(v.where, "`load`: empty path in " + Q(v.text));
    l.path = ResolvePath(v.where, path);
    cfg_.loads.push_back(std::move(l));
    return absl::OkStatus();
  }

  // `initrd load PATH`, `data load ADDR,PATH`, `fdt load PATH`,
  // `acpi load PATH`, `module load PATH ["STRING"]`
  absl::Status BlobLoad(const Token& t) {
    QVM_CFG_TRY(NeedMemory(t));
    auto a = Arg(t);
    if (!a.ok()) return a.status();
    if ((*a)->text != "load")
      return ConfigError((*a)->where, Q(t.text) + ": expected `load`, got " +
                                          Q((*a)->text));
    const std::string label = t.text + " load";
    auto b = Arg(**a, label);
    if (!b.ok()) return b.status();
    const Token& v = **b;
    LoadSpec l;
    l.where = t.where;
    l.path_where = v.where;
    std::string path = v.text;
    if (t.text == "initrd") {
      l.kind = LoadKind::Initrd;
    } else if (t.text == "fdt") {
      l.kind = LoadKind::Fdt;
    } else if (t.text == "acpi") {
      l.kind = LoadKind::Acpi;
    } else if (t.text == "module") {
      // `module load PATH ["STRING"]`: a quoted token after PATH is the
      // module's string (unquoted words are the next option).
      l.kind = LoadKind::Module;
      if (i_ < toks_.size() && toks_[i_].quoted) l.module_string = toks_[i_++].text;
      else l.module_string = path;
    } else {
      l.kind = LoadKind::Data;
      size_t comma = path.find(',');
      std::optional<uint64_t> addr;
      if (comma != std::string::npos) addr = ParseSize(path.substr(0, comma));
      if (!addr)
        return ConfigError(v.where, Q(label) + ": expected ADDR,PATH, got " +
                                        Q(v.text));
      l.addr = *addr;
      path = path.substr(comma + 1);
    }
    if (path.empty())
      return ConfigError(v.where, Q(label) + ": empty path in " + Q(v.text));
    l.path = ResolvePath(v.where, path);
    cfg_.loads.push_back(std::move(l));
    return absl::OkStatus();
  }

  absl::Status Set(const Token& t) {
    auto a = Arg(t);
    if (!a.ok()) return a.status();
    const Token& var = **a;
    // Declared once, beside the plan that reads it (vmm/vars.h).
    const VarDecl* known = FindVariable(var.text);
    if (!known)
      return ConfigError(var.where, "`set`: unknown variable " + Q(var.text));
    auto b = Arg(var);
    if (!b.ok()) return b.status();
    const Token& val = **b;
    SetVar s;
    s.name = var.text;
    s.raw = val.text;
    s.where = var.where;
    s.value_where = val.where;
    switch (known->type) {
      case VarType::Bool:
        s.boolean = ParseBool(val.text);
        if (!s.boolean)
          return ConfigError(val.where,
                             Q(var.text) + ": bad boolean " + Q(val.text));
        break;
      case VarType::Tristate:
        if (Lower(val.text) != "auto") {
          s.boolean = ParseBool(val.text);
          if (!s.boolean)
            return ConfigError(val.where, Q(var.text) +
                                              ": bad on/off/auto value " +
                                              Q(val.text));
        }
        break;
      case VarType::Number:
        s.number = ParseNumber(val.text);
        if (!s.number)
          return ConfigError(val.where,
                             Q(var.text) + ": bad number " + Q(val.text));
        break;
      case VarType::Size:
        s.number = ParseSize(val.text);
        if (!s.number)
          return ConfigError(val.where,
                             Q(var.text) + ": bad size " + Q(val.text));
        break;
      case VarType::String:
        if (val.text.empty())
          return ConfigError(val.where, Q(var.text) + ": empty value");
        break;
      case VarType::Choice:
        s.choice = ChoiceIndex(*known, val.text);
        if (!s.choice)
          return ConfigError(val.where, "`set " + var.text + "`: unknown " + known->noun + " " +
                                            Q(val.text) + " (valid: " + ChoiceList(*known) +
                                            ")");
        break;
    }
    for (SetVar& old : cfg_.sets) {
      if (old.name == s.name) {
        old = std::move(s);
        return absl::OkStatus();
      }
    }
    cfg_.sets.push_back(std::move(s));
    return absl::OkStatus();
  }

  absl::Status Logger(const Token& t) {
    auto a = Arg(t);
    if (!a.ok()) return a.status();
    auto b = Arg(t);
    if (!b.ok()) return b.status();
    LoggerSpec l;
    l.where = t.where;
    static constexpr std::pair<std::string_view, LogLevel> kLevels[] = {
        {"fatal", LogLevel::Fatal}, {"internal", LogLevel::Internal},
        {"error", LogLevel::Error}, {"warn", LogLevel::Warn},
        {"info", LogLevel::Info},   {"debug", LogLevel::Debug},
        {"verbose", LogLevel::Verbose}};
    for (std::string_view f : SplitComma((*a)->text)) {
      std::optional<LogLevel> lvl;
      for (const auto& [name, level] : kLevels)
        if (f == name) lvl = level;
      if (!lvl)
        return ConfigError((*a)->where,
                           "`logger`: unknown level " + Q(f));
      bool dup = false;
      for (LogLevel have : l.levels) dup = dup || have == *lvl;
      if (!dup) l.levels.push_back(*lvl);
    }
    if ((*b)->text.empty())
      return ConfigError((*b)->where, "`logger`: empty destination");
    l.dest = (*b)->text;
    cfg_.loggers.push_back(std::move(l));
    return absl::OkStatus();
  }

  // QNX: `unsupported instruction|reference|register abort|fail|ignore`;
  // qvm's extension: `unsupported ignore|log|fault|terminate` (every type).
  absl::Status Unsupported(const Token& t) {
    auto a = Arg(t);
    if (!a.ok()) return a.status();
    const std::string& v = (*a)->text;
    UnsupportedSpec u = cfg_.unsupported.value_or(UnsupportedSpec{});
    u.where = t.where;
    static constexpr std::pair<std::string_view, UnsupportedAction> kOwn[] = {
        {"ignore", UnsupportedAction::Ignore}, {"log", UnsupportedAction::Log},
        {"fault", UnsupportedAction::Fault}, {"terminate", UnsupportedAction::Terminate}};
    for (const auto& [word, act] : kOwn) {
      if (v == word) {
        u.action = act;
        cfg_.unsupported = u;
        return absl::OkStatus();
      }
    }
    std::optional<UnsupportedAction>* type = v == "instruction" ? &u.instruction
                                             : v == "reference" ? &u.reference
                                             : v == "register"  ? &u.reg
                                                                : nullptr;
    if (!type)
      return ConfigError((*a)->where,
                         "`unsupported`: unknown type " + Q(v) +
                             " (valid: instruction, reference, register; or one action "
                             "for all: ignore, log, fault, terminate)");
    auto b = Arg(**a, "unsupported " + v);
    if (!b.ok()) return b.status();
    const std::string& w = (*b)->text;
    static constexpr std::pair<std::string_view, UnsupportedAction> kQnx[] = {
        {"abort", UnsupportedAction::Terminate}, {"fail", UnsupportedAction::Fault},
        {"ignore", UnsupportedAction::Ignore}, {"log", UnsupportedAction::Log}};
    for (const auto& [word, act] : kQnx) {
      if (w == word) {
        *type = act;
        cfg_.unsupported = u;
        return absl::OkStatus();
      }
    }
    return ConfigError((*b)->where, "`unsupported " + v + "`: unknown action " + Q(w) +
                                        " (valid: abort, fail, ignore, log)");
  }

  // ---- cpu
  absl::Status CpuOption(const Token& t) {
    CpuSpec& c = cfg_.cpus.back();
    if (t.text == "sched") {
      auto a = Arg(t);
      if (!a.ok()) return a.status();
      std::string_view s = (*a)->text;
      char policy = 'o';
      if (!s.empty() && (s.back() == 'r' || s.back() == 'f' ||
                         s.back() == 'o')) {
        policy = s.back();
        s.remove_suffix(1);
      }
      if (s.find(',') != std::string_view::npos || (!s.empty() && s.back() == 's'))
        return ConfigError((*a)->where,
                           "`sched`: sporadic scheduling " + Q((*a)->text) +
                               " is not available on Linux (no SCHED_SPORADIC); use "
                               "PRIOr or PRIOf");
      auto prio = ParseDigits(s, 10);
      if (!prio || *prio < 1 || *prio > 255)
        return ConfigError((*a)->where,
                           "`sched`: bad priority " + Q((*a)->text));
      c.priority = static_cast<int>(*prio);
      c.policy = policy;
      c.sched_where = t.where;
      return absl::OkStatus();
    }
    if (t.text == "runmask") {
      auto a = Arg(t);
      if (!a.ok()) return a.status();
      std::vector<int> mask;
      for (std::string_view e : SplitComma((*a)->text)) {
        auto n = ParseNumber(std::string(e));
        if (!n || *n > 1023)
          return ConfigError((*a)->where,
                             "`runmask`: bad CPU number " + Q(e));
        bool dup = false;
        for (int have : mask) dup = dup || have == static_cast<int>(*n);
        if (!dup) mask.push_back(static_cast<int>(*n));
      }
      c.runmask = std::move(mask);
      c.runmask_where = t.where;
      return absl::OkStatus();
    }
    if (t.text == "partition") {
      // QNX adaptive partitioning has no Linux counterpart qvm drives; the
      // build logs how the vCPU runs instead (vmm/README.md).
      auto a = Arg(t);
      if (!a.ok()) return a.status();
      if (!IsIdentifier((*a)->text))
        return ConfigError((*a)->where, "`partition`: bad name " + Q((*a)->text));
      c.partition = (*a)->text;
      c.partition_where = t.where;
      return absl::OkStatus();
    }
    if (t.text == "cluster")
      return ConfigError(t.where,
                         "`cluster`: QNX's CPU clusters have no Linux counterpart; "
                         "give the CPUs with `runmask`");
    return ConfigError(t.where, "unknown `cpu` option " + Q(t.text));
  }

  // ---- locations and interrupts
  absl::StatusOr<LocSpec> Loc(const Token& kw, const Token& v,
                              bool allow_host, bool allow_size = false) {
    LocSpec l;
    l.where = v.where;
    std::string_view s = v.text;
    std::optional<std::string_view> host;
    size_t eq = s.find('=');
    if (eq != std::string_view::npos) {
      if (!allow_host)
        return ConfigError(v.where, Q(kw.text) + ": `=HOST` is only " +
                                        "allowed in `pass`: " + Q(v.text));
      host = s.substr(eq + 1);
      s = s.substr(0, eq);
    }
    auto bad = [&](std::string_view what) {
      return ConfigError(v.where, Q(kw.text) + ": bad " + std::string(what) +
                                      " " + Q(v.text));
    };
    if (s.starts_with("pci:")) {
      l.space = Space::Pci;
      s.remove_prefix(4);
      size_t slash = s.find('/');
      if (slash != std::string_view::npos) {
        std::string_view did_s = s.substr(slash + 1);
        size_t slash2 = did_s.find('/');
        if (slash2 != std::string_view::npos) {
          // QNX's `pass loc pci:VID/DID/INDEX`: which of several such devices.
          if (!allow_host)
            return ConfigError(v.where, Q(kw.text) + ": `/INDEX` is only " +
                                            "allowed in `pass`: " + Q(v.text));
          auto idx = ParseNumber(std::string(did_s.substr(slash2 + 1)));
          if (!idx || *idx > 255) return bad("PCI device index");
          l.pci_index = static_cast<uint8_t>(*idx);
          did_s = did_s.substr(0, slash2);
        }
        auto vid = ParseHex(s.substr(0, slash));
        auto did = ParseHex(did_s);
        if (!vid || !did || *vid > 0xffff || *did > 0xffff)
          return bad("PCI id");
        l.pci_by_id = true;
        l.vid = static_cast<uint16_t>(*vid);
        l.did = static_cast<uint16_t>(*did);
        if (host)
          return ConfigError(v.where, Q(kw.text) + ": `=pci:VID/DID` follows a " +
                                          "host address (pci:BUS:DEV.FN): " + Q(v.text));
      } else {
        size_t colon = s.find(':');
        if (colon == std::string_view::npos) return bad("PCI address");
        std::string_view dev = s.substr(colon + 1), fn;
        size_t dot = dev.find('.');
        if (dot != std::string_view::npos) {
          fn = dev.substr(dot + 1);
          dev = dev.substr(0, dot);
          if (fn.empty()) return bad("PCI address");
        }
        auto b = ParseNumber(std::string(s.substr(0, colon)));
        auto d = ParseNumber(std::string(dev));
        std::optional<uint64_t> f = uint64_t{0};
        if (!fn.empty()) f = ParseNumber(std::string(fn));
        if (!b || !d || !f || *b > 255 || *d > 31 || *f > 7)
          return bad("PCI address");
        l.bus = static_cast<uint8_t>(*b);
        l.dev = static_cast<uint8_t>(*d);
        l.fn = static_cast<uint8_t>(*f);
      }
      if (host) {
        // `pass loc pci:BUS:DEV.FN=pci:VID/DID`: the host function must
        // have these ids.
        std::string_view h = *host;
        size_t hs = h.find('/');
        if (!h.starts_with("pci:") || hs == std::string_view::npos)
          return ConfigError(v.where, Q(kw.text) + ": a PCI location's `=` " +
                                          "takes `pci:VID/DID`: " + Q(v.text));
        auto vid = ParseHex(h.substr(4, hs - 4));
        auto did = ParseHex(h.substr(hs + 1));
        if (!vid || !did || *vid > 0xffff || *did > 0xffff) return bad("PCI id");
        l.pci_check_id = true;
        l.vid = static_cast<uint16_t>(*vid);
        l.did = static_cast<uint16_t>(*did);
      }
      return l;
    }
    // QNX's `pass loc mem:ADDR,SIZE[,PERMS]`, `reserve loc io:PORT,SIZE`:
    // the tail after ADDR.
    auto tail = [&](std::string_view& spec) -> absl::Status {
      size_t comma = spec.find(',');
      if (!allow_size || comma == std::string_view::npos) return absl::OkStatus();
      std::string_view rest = spec.substr(comma + 1);
      spec = spec.substr(0, comma);
      size_t c2 = rest.find(',');
      auto sz = ParseSize(std::string(rest.substr(0, c2)));
      if (!sz || *sz == 0) return bad("size");
      l.size = *sz;
      if (c2 != std::string_view::npos) {
        l.perms = std::string(rest.substr(c2 + 1));
        if (l.perms.empty() ||
            l.perms.find_first_not_of("abcdefghijklmnopqrstuvwxyz") != std::string::npos)
          return bad("access letters");
      }
      return absl::OkStatus();
    };
    if (s.starts_with("io:")) {
      l.space = Space::Io;
      QVM_CFG_TRY(tail(s));
      auto p = ParseNumber(std::string(s.substr(3)));
      if (!p || *p > 0xffff) return bad("I/O port");
      l.addr = *p;
      if (host) {
        auto h = ParseNumber(std::string(*host));
        if (!h || *h > 0xffff) return bad("host I/O port");
        l.host = *h;
      }
      return l;
    }
    if (s.starts_with("mem:")) {
      s.remove_prefix(4);
    } else if (s.find(':') != std::string_view::npos) {
      return bad("location");
    } else {
      l.bare = true;
    }
    QVM_CFG_TRY(tail(s));
    l.space = Space::Mem;
    auto a = ParseSize(std::string(s));
    if (!a) return bad("address");
    l.addr = *a;
    if (host && (host->starts_with("file:") || host->starts_with("shm:"))) {
      bool file = host->starts_with("file:");
      std::string_view rest = host->substr(file ? 5 : 4);
      // A POSIX shared-memory name is one path component.
      if (rest.empty() || (!file && rest.find('/') != std::string_view::npos))
        return bad(file ? "host file" : "host shared-memory name");
      l.host_kind = file ? LocSpec::HostKind::File : LocSpec::HostKind::Shm;
      l.host_path = file ? ResolvePath(v.where, std::string(rest)) : std::string(rest);
    } else if (host) {
      auto h = ParseSize(std::string(*host));
      if (!h) return bad("host address");
      l.host = *h;
    }
    return l;
  }

  absl::StatusOr<IntrSpec> Intr(const Token& kw, const Token& v,
                                bool in_pass) {
    IntrSpec r;
    r.where = v.where;
    std::string_view s = v.text;
    auto bad = [&](std::string_view what) {
      return ConfigError(v.where, Q(kw.text) + ": bad " + std::string(what) +
                                      " " + Q(v.text));
    };
    size_t eq = s.find('=');
    if (eq != std::string_view::npos) {
      if (!in_pass)
        return ConfigError(v.where, Q(kw.text) + ": `=HOSTVEC` is only " +
                                        "allowed in `pass`: " + Q(v.text));
      auto h = ParseNumber(std::string(s.substr(eq + 1)));
      if (!h || *h > std::numeric_limits<uint32_t>::max())
        return bad("host vector");
      r.host_vector = static_cast<uint32_t>(*h);
      s = s.substr(0, eq);
    }
    if (s == "apic") {
      if (in_pass)
        return ConfigError(v.where, Q(kw.text) +
                                        ": `apic` cannot be passed through");
      r.apic = true;
      return r;
    }
    size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) return bad("interrupt");
    std::string_view pic = s.substr(0, colon);
    auto line = ParseNumber(std::string(s.substr(colon + 1)));
    if (!IsIdentifier(pic) || !line ||
        *line > std::numeric_limits<uint32_t>::max())
      return bad("interrupt");
    r.controller = std::string(pic);
    r.line = static_cast<uint32_t>(*line);
    return r;
  }

  // ---- vdev
  absl::Status VdevOpt(const Token& t) {
    VdevSpec& v = cfg_.vdevs.back();
    const bool common = t.text == "loc" || t.text == "intr" || t.text == "name";
    if (!common && !IsIdentifier(t.text))
      return ConfigError(t.where, "`vdev " + v.type + "`: bad option name " +
                                      Q(t.text));
    VdevOptionShape shape;
    if (!common && shapes_) shape = shapes_->shape(v.type, t.text);
    if (shape.no_argument) {
      AddVdevOption(v, VdevOption{t.text, "", t.where, t.where}, shape);
      return absl::OkStatus();
    }
    auto a = Arg(t);
    if (!a.ok()) return a.status();
    const Token& val = **a;
    if (t.text == "loc") {
      auto l = Loc(t, val, /*allow_host=*/false);
      if (!l.ok()) return l.status();
      v.locs.push_back(*std::move(l));
      return absl::OkStatus();
    }
    if (t.text == "intr") {
      auto r = Intr(t, val, /*in_pass=*/false);
      if (!r.ok()) return r.status();
      v.intrs.push_back(*std::move(r));
      return absl::OkStatus();
    }
    if (t.text == "name") {
      if (!IsIdentifier(val.text))
        return ConfigError(val.where, "`name`: bad name " + Q(val.text));
      if (val.text == "env")  // /dev/qvm/<system>/env is the VM description
        return ConfigError(val.where, "`name`: " + Q(val.text) +
                                          " is reserved");
      v.name = val.text;
      v.name_where = val.where;
      return absl::OkStatus();
    }
    AddVdevOption(v, VdevOption{t.text, val.text, t.where, val.where}, shape);
    return absl::OkStatus();
  }

  // A repeated option replaces the earlier one (keeping its position)
  // unless its shape says it repeats.
  static void AddVdevOption(VdevSpec& v, VdevOption o, VdevOptionShape shape) {
    if (!shape.repeats)
      for (VdevOption& old : v.options)
        if (old.name == o.name) {
          old = std::move(o);
          return;
        }
    v.options.push_back(std::move(o));
  }

  // ---- pass / reserve
  absl::Status PassOption(const Token& t) {
    PassSpec& p = cfg_.passes.back();
    if (t.text == "loc") {
      auto a = Arg(t);
      if (!a.ok()) return a.status();
      auto l = Loc(t, **a, /*allow_host=*/true, /*allow_size=*/true);
      if (!l.ok()) return l.status();
      p.locs.push_back(*std::move(l));
      return absl::OkStatus();
    }
    if (t.text == "intr") {
      auto a = Arg(t);
      if (!a.ok()) return a.status();
      auto r = Intr(t, **a, /*in_pass=*/true);
      if (!r.ok()) return r.status();
      p.intrs.push_back(*std::move(r));
      return absl::OkStatus();
    }
    return ConfigError(t.where, "unknown `pass` option " + Q(t.text));
  }

  absl::Status ReserveOption(const Token& t) {
    ReserveSpec& r = cfg_.reserves.back();
    if (t.text == "loc") {
      auto a = Arg(t);
      if (!a.ok()) return a.status();
      auto l = Loc(t, **a, /*allow_host=*/false, /*allow_size=*/true);
      if (!l.ok()) return l.status();
      r.loc = *std::move(l);
      return absl::OkStatus();
    }
    if (t.text == "intr") {
      auto a = Arg(t);
      if (!a.ok()) return a.status();
      auto n = ParseNumber((*a)->text);
      if (!n || *n > std::numeric_limits<uint32_t>::max())
        return ConfigError((*a)->where,
                           "`intr`: bad interrupt " + Q((*a)->text));
      r.intr = static_cast<uint32_t>(*n);
      return absl::OkStatus();
    }
    return ConfigError(t.where, "unknown `reserve` option " + Q(t.text));
  }

  const std::vector<Token>& toks_;
  VdevOptionShapes* shapes_;  // may be null: every option takes one argument
  size_t i_ = 0;
  Ctx ctx_ = Ctx::None;
  Config cfg_;
};

// ---------------------------------------------------------------------------
// @file expansion

class Expander {
 public:
  std::vector<Token> out;

  absl::Status Add(const Token& t, int depth) {
    if (t.quoted || t.text.empty() || t.text[0] != '@') {
      if (out.size() >= kMaxConfigTokens)
        return ConfigError(t.where, "too many tokens (limit " +
                                        std::to_string(kMaxConfigTokens) +
                                        ")");
      out.push_back(t);
      if (!t.quoted && t.text.find("$asinfo_") != std::string::npos) {
        auto x = ExpandAsinfo(t.text, t.where);
        if (!x.ok()) return x.status();
        out.back().text = *std::move(x);
      }
      return absl::OkStatus();
    }
    const std::string written = t.text.substr(1);
    if (written.empty())
      return ConfigError(t.where, Q(t.text) + ": missing file name");
    if (depth >= kMaxIncludeDepth)
      return ConfigError(t.where, Q(t.text) + ": @file nesting deeper than " +
                                      std::to_string(kMaxIncludeDepth));
    if (++files_ > kMaxFiles)
      return ConfigError(t.where, Q(t.text) + ": more than " +
                                      std::to_string(kMaxFiles) +
                                      " @file expansions");
    const std::string path = ResolvePath(t.where, written);
    std::string text;
    QVM_CFG_TRY(Read(t, path, &text));
    char* real = ::realpath(path.c_str(), nullptr);
    std::string canon = real ? real : path;
    free(real);
    for (const std::string& open : stack_)
      if (open == canon)
        return ConfigError(t.where,
                           Q(t.text) + ": recursive include of " + Q(path));
    auto toks = Tokenize(text, path);
    if (!toks.ok()) return toks.status();
    stack_.push_back(canon);
    for (const Token& sub : *toks) QVM_CFG_TRY(Add(sub, depth + 1));
    stack_.pop_back();
    return absl::OkStatus();
  }

 private:
  static absl::Status Read(const Token& t, const std::string& path,
                           std::string* text) {
    auto fail = [&](const char* why) {
      return ConfigError(t.where, Q(t.text) + ": cannot read " + Q(path) +
                                      ": " + why);
    };
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      return fail(strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      return fail("not a regular file");
    }
    if (static_cast<uint64_t>(st.st_size) > kMaxConfigFileBytes) {
      ::close(fd);
      return fail("file too large");
    }
    text->clear();
    char buf[65536];
    for (;;) {
      ssize_t r = ::read(fd, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        int e = errno;
        ::close(fd);
        return fail(strerror(e));
      }
      if (r == 0) break;
      text->append(buf, static_cast<size_t>(r));
      if (text->size() > kMaxConfigFileBytes) {
        ::close(fd);
        return fail("file too large");
      }
    }
    ::close(fd);
    return absl::OkStatus();
  }

  static constexpr size_t kMaxFiles = 1024;
  std::vector<std::string> stack_;
  size_t files_ = 0;
};

}  // namespace

absl::StatusOr<Config> ParseTokens(const std::vector<Token>& tokens,
                                   VdevOptionShapes* shapes) {
  Parser p(tokens, shapes);
  return p.Run();
}

absl::StatusOr<Config> ParseArgs(const std::vector<std::string>& args,
                                 VdevOptionShapes* shapes) {
  Expander e;
  for (size_t k = 0; k < args.size(); ++k) {
    Token t;
    t.text = args[k];
    t.where = SourceLoc{kCommandLine, static_cast<int>(k + 1), 1};
    QVM_CFG_TRY(e.Add(t, 0));
  }
  return ParseTokens(e.out, shapes);
}

}  // namespace qvm
