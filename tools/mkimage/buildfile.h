// The qvm-mkimage buildfile: a line-oriented description of a system image
// (host kernel + initramfs), in the spirit of QNX's mkifs buildfiles. The
// format is documented in tools/README.md. Parsing is pure: it reads the
// buildfile (and its includes) but no file that the image will contain.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace mkimage {

struct Location {
  std::string file;
  int line = 0;
  std::string str() const { return file + ":" + std::to_string(line); }
};

// "FILE:LINE: message" — the only way parse and build errors leave the tool.
class BuildError : public std::runtime_error {
 public:
  BuildError(const Location& loc, const std::string& msg)
      : std::runtime_error(loc.str() + ": " + msg) {}
  explicit BuildError(const std::string& msg) : std::runtime_error(msg) {}
};

struct Entry {
  enum class Kind { kFile, kGlob, kInline, kDir, kLink, kModule };
  Kind kind = Kind::kFile;
  Location loc;
  std::string target;   // absolute image path; for kGlob the directory ("/usr/lib/qvm")
  std::string source;   // host path (resolved against the buildfile's folder), or the link target
  std::string content;  // kInline
  std::optional<uint32_t> perms;  // unset: derived (0755 for executables/scripts/dirs, else 0644)
  uint32_t uid = 0, gid = 0;
  bool autolib = true;  // bundle the shared libraries an ELF file needs
  bool strip = true;    // strip debug information from ELF programs/libraries
  bool script = false;  // the startup script
};

struct BuildSpec {
  std::string arch = "x86_64";
  std::string kernel;           // host kernel (resolved host path), empty when none
  Location kernel_loc;
  std::string name;             // image name, empty: derived from the buildfile's name
  std::vector<std::string> libpath;  // host library search path; empty: the arch default
  Location libpath_loc;
  std::string libdir;           // image folder for bundled libraries; empty: the arch default
  std::string strip_tool;       // program that strips debug info; empty: the arch default
  std::vector<Entry> entries;
  std::map<std::string, std::string> vars;  // final variable values
};

// Reads a file's text; throws BuildError when it cannot.
using FileReader = std::function<std::string(const std::string& path)>;
std::string ReadHostFile(const std::string& path);

// Parses `path`. `overrides` (NAME=VALUE from the command line) win over the
// buildfile's own assignments. Throws BuildError("FILE:LINE: message").
BuildSpec ParseBuildfile(const std::string& path,
                         const std::map<std::string, std::string>& overrides,
                         const FileReader& reader = ReadHostFile);

// Helpers shared with the image builder.
std::string DirName(const std::string& path);   // "a/b/c" -> "a/b", "c" -> "."
std::string BaseName(const std::string& path);  // "a/b/c" -> "c"
std::string JoinPath(const std::string& dir, const std::string& path);  // path if absolute

}  // namespace mkimage
