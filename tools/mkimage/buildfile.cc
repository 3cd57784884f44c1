#include "tools/mkimage/buildfile.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace mkimage {
namespace {

constexpr int kMaxIncludeDepth = 16;

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::string RTrim(const std::string& s) {
  size_t e = s.find_last_not_of(" \t\r");
  return e == std::string::npos ? "" : s.substr(0, e + 1);
}

bool IsIdent(const std::string& s) {
  if (s.empty() || !(isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

bool HasSpace(const std::string& s) { return s.find_first_of(" \t") != std::string::npos; }

bool IsGlob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

// Normalises an image path: must be absolute, no "." / ".." components,
// repeated slashes collapsed. `trailing_slash` reports a final '/'.
std::string NormTarget(const Location& loc, const std::string& t, bool* trailing_slash) {
  if (t.empty() || t[0] != '/')
    throw BuildError(loc, "image path '" + t + "' must be absolute (start with '/')");
  if (HasSpace(t)) throw BuildError(loc, "image path '" + t + "' contains whitespace");
  *trailing_slash = t.size() > 1 && t.back() == '/';
  std::string out;
  size_t i = 0;
  while (i < t.size()) {
    while (i < t.size() && t[i] == '/') ++i;
    size_t j = t.find('/', i);
    if (j == std::string::npos) j = t.size();
    std::string comp = t.substr(i, j - i);
    if (comp.empty()) break;
    if (comp == "." || comp == "..")
      throw BuildError(loc, "image path '" + t + "' has a '" + comp + "' component");
    out += "/" + comp;
    i = j;
  }
  return out.empty() ? "/" : out;
}

struct Sticky {
  std::optional<uint32_t> perms;
  uint32_t uid = 0, gid = 0;
  bool autolib = true;
  bool strip = true;
};

struct LineAttrs {
  std::optional<std::optional<uint32_t>> perms;  // set (maybe to "auto")
  std::optional<uint32_t> uid, gid;
  std::optional<bool> autolib, strip;
  std::string type;  // "", file, dir, link
  bool module = false, script = false;
  std::optional<std::string> arch, kernel, name, libpath, libdir, strip_tool;
  bool any_header() const { return arch || kernel || name || libpath || libdir || strip_tool; }
  bool any_entry_only() const { return !type.empty() || module || script; }
};

uint32_t ParseNumber(const Location& loc, const std::string& key, const std::string& v, int base,
                     uint32_t max) {
  if (v.empty()) throw BuildError(loc, "attribute '" + key + "' needs a value");
  errno = 0;
  char* end = nullptr;
  unsigned long long n = strtoull(v.c_str(), &end, base);
  if (errno || *end || n > max || v[0] == '-' || v[0] == '+')
    throw BuildError(loc, "bad value '" + v + "' for attribute '" + key + "'");
  return static_cast<uint32_t>(n);
}

class Parser {
 public:
  Parser(const std::map<std::string, std::string>& overrides, const FileReader& reader)
      : overrides_(overrides), reader_(reader) {
    for (const auto& [k, v] : overrides) spec_.vars[k] = v;
  }

  void ParseFile(const std::string& path, const Location* from, int depth) {
    if (depth > kMaxIncludeDepth)
      throw BuildError(*from, "includes nested deeper than " + std::to_string(kMaxIncludeDepth));
    if (active_.count(path)) throw BuildError(*from, "include cycle: '" + path + "' includes itself");
    std::string text;
    try {
      text = reader_(path);
    } catch (const BuildError& e) {
      if (from) throw BuildError(*from, e.what());
      throw;
    }
    active_.insert(path);
    std::vector<std::string> lines;
    {
      std::istringstream in(text);
      std::string l;
      while (std::getline(in, l)) lines.push_back(l);
    }
    std::string base = DirName(path);
    for (size_t i = 0; i < lines.size(); ++i) {
      Location loc{path, static_cast<int>(i + 1)};
      std::string line = Trim(lines[i]);
      if (line.empty() || line[0] == '#') continue;
      ParseLine(loc, line, base, lines, &i, depth);
    }
    active_.erase(path);
  }

  BuildSpec Take() { return std::move(spec_); }

 private:
  std::string Expand(const Location& loc, const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '$') { out += s[i]; continue; }
      if (i + 1 < s.size() && s[i + 1] == '$') { out += '$'; ++i; continue; }
      if (i + 1 < s.size() && s[i + 1] == '(') {
        size_t close = s.find(')', i + 2);
        if (close == std::string::npos) throw BuildError(loc, "unterminated '$(' in '" + s + "'");
        std::string name = s.substr(i + 2, close - i - 2);
        if (!IsIdent(name)) throw BuildError(loc, "bad variable name '" + name + "'");
        auto it = spec_.vars.find(name);
        if (it == spec_.vars.end()) throw BuildError(loc, "undefined variable '" + name + "'");
        out += it->second;
        i = close;
        continue;
      }
      out += '$';
    }
    return out;
  }

  LineAttrs ParseAttrs(const Location& loc, std::string* rest) {
    LineAttrs a;
    std::string s = *rest;
    while (!s.empty() && s[0] == '[') {
      size_t close = s.find(']');
      if (close == std::string::npos) throw BuildError(loc, "missing ']' after attributes");
      std::istringstream items(s.substr(1, close - 1));
      std::string item;
      while (items >> item) {
        std::string key = item, val;
        bool has_val = false;
        if (size_t eq = item.find('='); eq != std::string::npos) {
          key = item.substr(0, eq);
          val = Expand(loc, item.substr(eq + 1));
          has_val = true;
        }
        auto need_val = [&] {
          if (!has_val) throw BuildError(loc, "attribute '" + key + "' needs a value");
        };
        auto no_val = [&] {
          if (has_val) throw BuildError(loc, "attribute '" + key + "' takes no value");
        };
        if (key == "perms") {
          need_val();
          if (val == "auto") a.perms = std::optional<uint32_t>();
          else a.perms = std::optional<uint32_t>(ParseNumber(loc, key, val, 8, 07777));
        } else if (key == "uid") {
          need_val();
          a.uid = ParseNumber(loc, key, val, 10, 0xfffffffe);
        } else if (key == "gid") {
          need_val();
          a.gid = ParseNumber(loc, key, val, 10, 0xfffffffe);
        } else if (key == "type") {
          need_val();
          if (val != "file" && val != "dir" && val != "link")
            throw BuildError(loc, "bad type '" + val + "' (expected file, dir or link)");
          a.type = val;
        } else if (key == "module") {
          no_val();
          a.module = true;
        } else if (key == "+script") {
          no_val();
          a.script = true;
        } else if (key == "+autolib" || key == "-autolib") {
          no_val();
          a.autolib = key[0] == '+';
        } else if (key == "+strip" || key == "-strip") {
          no_val();
          a.strip = key[0] == '+';
        } else if (key == "strip") {
          need_val();
          a.strip_tool = val;
        } else if (key == "arch") {
          need_val();
          if (val != "x86_64" && val != "aarch64")
            throw BuildError(loc, "unknown arch '" + val + "' (expected x86_64 or aarch64)");
          a.arch = val;
        } else if (key == "kernel") {
          need_val();
          a.kernel = val;
        } else if (key == "name") {
          need_val();
          if (val.empty() || val.find('/') != std::string::npos || val[0] == '.')
            throw BuildError(loc, "bad image name '" + val + "'");
          a.name = val;
        } else if (key == "libpath") {
          need_val();
          a.libpath = val;
        } else if (key == "libdir") {
          need_val();
          bool slash;
          a.libdir = NormTarget(loc, val, &slash);
        } else {
          throw BuildError(loc, "unknown attribute '" + key + "'");
        }
      }
      s = Trim(s.substr(close + 1));
    }
    *rest = s;
    return a;
  }

  void ApplyHeader(const Location& loc, const LineAttrs& a, const std::string& base) {
    if (!spec_.entries.empty()) {
      const char* which = a.arch ? "arch" : a.kernel ? "kernel" : a.name ? "name"
                          : a.libpath ? "libpath" : a.libdir ? "libdir" : "strip";
      throw BuildError(loc, std::string("header attribute '") + which +
                                "' must come before the first file line");
    }
    if (a.arch) spec_.arch = *a.arch;
    if (a.kernel) {
      spec_.kernel = JoinPath(base, *a.kernel);
      spec_.kernel_loc = loc;
    }
    if (a.name) spec_.name = *a.name;
    if (a.libpath) {
      spec_.libpath.clear();
      std::string p = *a.libpath;
      size_t i = 0;
      while (i <= p.size()) {
        size_t c = p.find(':', i);
        if (c == std::string::npos) c = p.size();
        if (c > i) spec_.libpath.push_back(JoinPath(base, p.substr(i, c - i)));
        i = c + 1;
      }
      spec_.libpath_loc = loc;
    }
    if (a.libdir) spec_.libdir = *a.libdir;
    if (a.strip_tool) spec_.strip_tool = *a.strip_tool;
  }

  void ParseLine(const Location& loc, const std::string& line, const std::string& base,
                 const std::vector<std::string>& lines, size_t* index, int depth) {
    std::string rest = line;
    bool had_attrs = rest[0] == '[';
    LineAttrs a = ParseAttrs(loc, &rest);

    if (rest.empty()) {  // attributes alone: header or sticky defaults
      if (a.any_entry_only())
        throw BuildError(loc, "attributes type/module/+script need a file on the same line");
      if (a.any_header()) ApplyHeader(loc, a, base);
      if (a.perms) sticky_.perms = *a.perms;
      if (a.uid) sticky_.uid = *a.uid;
      if (a.gid) sticky_.gid = *a.gid;
      if (a.autolib) sticky_.autolib = *a.autolib;
      if (a.strip) sticky_.strip = *a.strip;
      return;
    }
    if (a.any_header())
      throw BuildError(loc, "header attributes must be on a line of their own");

    if (!had_attrs) {
      // include PATH
      if (rest.rfind("include", 0) == 0 && rest.size() > 7 && (rest[7] == ' ' || rest[7] == '\t')) {
        std::string p = Expand(loc, Trim(rest.substr(8)));
        if (p.empty() || HasSpace(p)) throw BuildError(loc, "include needs one path");
        ParseFile(JoinPath(base, p), &loc, depth + 1);
        return;
      }
      // NAME=value
      size_t eq = rest.find('=');
      if (eq != std::string::npos && IsIdent(Trim(rest.substr(0, eq)))) {
        std::string name = Trim(rest.substr(0, eq));
        std::string value = Expand(loc, Trim(rest.substr(eq + 1)));
        if (!overrides_.count(name)) spec_.vars[name] = value;
        return;
      }
    }

    Entry e;
    e.loc = loc;
    e.perms = a.perms ? *a.perms : sticky_.perms;
    e.uid = a.uid.value_or(sticky_.uid);
    e.gid = a.gid.value_or(sticky_.gid);
    e.autolib = a.autolib.value_or(sticky_.autolib);
    e.strip = a.strip.value_or(sticky_.strip);
    e.script = a.script;

    size_t eq = rest.find('=');
    std::string lhs = Trim(rest.substr(0, eq));
    std::string rhs = eq == std::string::npos ? "" : Trim(rest.substr(eq + 1));

    if (rhs == "{" && eq != std::string::npos) {  // inline file: raw lines up to "}"
      if (a.module || (!a.type.empty() && a.type != "file"))
        throw BuildError(loc, "an inline file cannot be a " + (a.module ? std::string("module") : a.type));
      bool slash;
      e.target = NormTarget(loc, Expand(loc, lhs), &slash);
      if (slash || e.target == "/") throw BuildError(loc, "inline file needs a file name, not a folder");
      e.kind = Entry::Kind::kInline;
      size_t j = *index + 1;
      for (; j < lines.size(); ++j) {
        if (RTrim(lines[j]) == "}") break;
        e.content += lines[j];
        if (!e.content.empty() && e.content.back() == '\r') e.content.pop_back();
        e.content += '\n';
      }
      if (j == lines.size()) throw BuildError(loc, "inline file '" + e.target + "' has no closing '}' line");
      *index = j;
      Add(std::move(e));
      return;
    }

    lhs = Expand(loc, lhs);
    rhs = Expand(loc, rhs);
    if (eq != std::string::npos && rhs.empty()) throw BuildError(loc, "nothing after '='");
    if (HasSpace(rhs)) throw BuildError(loc, "host path '" + rhs + "' contains whitespace");

    if (a.module) {
      if (!a.type.empty() && a.type != "file") throw BuildError(loc, "a module must be a file");
      e.kind = Entry::Kind::kModule;
      std::string host = eq == std::string::npos ? lhs : rhs;
      if (HasSpace(host)) throw BuildError(loc, "host path '" + host + "' contains whitespace");
      if (IsGlob(host)) throw BuildError(loc, "a [module] line names one file, not a pattern");
      e.source = JoinPath(base, host);
      if (eq == std::string::npos) {
        e.target = "/lib/modules/" + BaseName(host);
      } else {
        bool slash;
        e.target = NormTarget(loc, lhs, &slash);
        if (slash) e.target += "/" + BaseName(host);
      }
      Add(std::move(e));
      return;
    }

    bool slash;
    e.target = NormTarget(loc, lhs, &slash);
    if (a.type == "dir") {
      if (eq != std::string::npos) throw BuildError(loc, "a [type=dir] line takes no '=' source");
      e.kind = Entry::Kind::kDir;
      Add(std::move(e));
      return;
    }
    if (eq == std::string::npos)
      throw BuildError(loc, "expected IMAGE-PATH=HOST-PATH, IMAGE-PATH = { ... }, or a variable assignment");
    if (e.target == "/") throw BuildError(loc, "'/' cannot be a file");
    if (a.type == "link") {
      if (slash) throw BuildError(loc, "a link needs a name, not a folder");
      e.kind = Entry::Kind::kLink;
      e.source = rhs;  // verbatim link target
      Add(std::move(e));
      return;
    }
    e.source = JoinPath(base, rhs);
    if (IsGlob(rhs)) {
      if (!slash) throw BuildError(loc, "a host pattern needs an image folder ending in '/'");
      if (e.script) throw BuildError(loc, "the startup script must be one file");
      e.kind = Entry::Kind::kGlob;
    } else {
      e.kind = Entry::Kind::kFile;
      if (slash) e.target += "/" + BaseName(rhs);
    }
    Add(std::move(e));
  }

  void Add(Entry e) {
    if (e.script) {
      if (script_loc_) throw BuildError(e.loc, "a second startup script (the first is at " + script_loc_->str() + ")");
      script_loc_ = e.loc;
    }
    spec_.entries.push_back(std::move(e));
  }

  const std::map<std::string, std::string>& overrides_;
  const FileReader& reader_;
  BuildSpec spec_;
  Sticky sticky_;
  std::set<std::string> active_;
  std::optional<Location> script_loc_;
};

}  // namespace

std::string ReadHostFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw BuildError("cannot read '" + path + "': " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw BuildError("error reading '" + path + "'");
  return ss.str();
}

BuildSpec ParseBuildfile(const std::string& path,
                         const std::map<std::string, std::string>& overrides,
                         const FileReader& reader) {
  Parser p(overrides, reader);
  p.ParseFile(path, nullptr, 0);
  return p.Take();
}

std::string DirName(const std::string& path) {
  size_t s = path.find_last_of('/');
  if (s == std::string::npos) return ".";
  if (s == 0) return "/";
  return path.substr(0, s);
}

std::string BaseName(const std::string& path) {
  size_t s = path.find_last_of('/');
  return s == std::string::npos ? path : path.substr(s + 1);
}

std::string JoinPath(const std::string& dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || dir.empty() || dir == ".") return path;
  return dir + "/" + path;
}

}  // namespace mkimage
