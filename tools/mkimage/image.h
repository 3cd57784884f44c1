// Turns a parsed BuildSpec into the image's file tree: reads the host files,
// expands patterns, orders kernel modules, bundles the shared libraries that
// ELF programs need, generates /init around the startup script, and writes
// the reproducible initramfs and the kernel.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tools/mkimage/buildfile.h"
#include "tools/mkimage/cpio.h"

namespace mkimage {

struct Node {
  enum class Type { kFile, kDir, kLink, kCharDev };
  Type type = Type::kFile;
  uint32_t perms = 0644;
  uint32_t uid = 0, gid = 0;
  uint32_t major = 0, minor = 0;  // kCharDev
  std::string data;               // file bytes or link target
  std::string origin;             // "FILE:LINE" or what added it
  bool autolib = false;
  bool strip = false;
  bool explicit_dir = false;
};

class Image {
 public:
  explicit Image(BuildSpec spec);

  // Builds the tree. Throws BuildError ("FILE:LINE: message").
  void Assemble();

  const std::map<std::string, Node>& nodes() const { return nodes_; }
  // Image paths of the kernel modules in load order.
  const std::vector<std::string>& module_order() const { return module_order_; }
  const std::vector<std::string>& libpath() const { return libpath_; }
  const BuildSpec& spec() const { return spec_; }

  // Sorted cpio entries (parents before children).
  std::vector<CpioEntry> CpioEntries() const;
  // One line per node: "MODE UID GID SIZE PATH [-> TARGET]", then module order.
  std::string Manifest() const;

  // Writes OUTDIR/initramfs.cpio.gz (gzip -n -9) and, when the buildfile
  // names a kernel, OUTDIR/bzImage (x86_64) or OUTDIR/Image (aarch64), plus
  // OUTDIR/manifest.txt. Files are replaced atomically.
  void Write(const std::string& outdir) const;

 private:
  void AddNode(const std::string& path, Node n);
  void AddParents(const std::string& path, const std::string& origin);
  void AddEntry(const Entry& e);
  void OrderModules();
  void StripPrograms();
  void BundleLibraries();
  void GenerateInit();
  std::string ResolveLibrary(const std::string& name, const std::string& host_file,
                             const std::vector<std::string>& rpath,
                             const std::vector<std::string>& runpath, std::string* data) const;

  BuildSpec spec_;
  uint16_t machine_ = 0;
  std::string libdir_;
  std::vector<std::string> libpath_;
  std::map<std::string, Node> nodes_;
  std::map<std::string, std::string> host_source_;  // image path -> host path (ELF files)
  std::vector<std::pair<const Entry*, std::string>> modules_;  // entry, image path
  std::vector<std::string> module_order_;
  std::string script_path_;
};

// Runs `gzip -n -9` on `in`, returns the compressed bytes. Throws BuildError.
std::string Gzip(const std::string& in);
// Runs `TOOL --strip-debug` on an ELF file's bytes. Throws BuildError.
std::string StripDebug(const std::string& tool, const std::string& elf);

}  // namespace mkimage
