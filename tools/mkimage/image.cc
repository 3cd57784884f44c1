#include "tools/mkimage/image.h"

#include <fcntl.h>
#include <glob.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <set>
#include <sstream>

#include "tools/mkimage/elf.h"
#include "tools/mkimage/modorder.h"

extern char** environ;

namespace mkimage {
namespace {

constexpr uint32_t kIfReg = 0100000, kIfDir = 0040000, kIfLnk = 0120000, kIfChr = 0020000;

std::string ReadRegular(const Location& loc, const std::string& path, struct stat* st_out) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0)
    throw BuildError(loc, "cannot read '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw BuildError(loc, "'" + path + "' is not a regular file");
  if (st_out) *st_out = st;
  try {
    return ReadHostFile(path);
  } catch (const BuildError& e) {
    throw BuildError(loc, e.what());
  }
}

std::vector<std::string> DefaultLibpath(const std::string& arch) {
  if (arch == "aarch64")
    return {"/usr/aarch64-linux-gnu/lib", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
            "/lib", "/usr/lib"};
  return {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib",
          "/usr/lib"};
}

std::string DefaultLibdir(const std::string& arch) {
  return arch == "aarch64" ? "/lib/aarch64-linux-gnu" : "/lib/x86_64-linux-gnu";
}

void WriteFileAtomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw BuildError("cannot write '" + tmp + "': " + std::strerror(errno));
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.close();
    if (!out) throw BuildError("error writing '" + tmp + "'");
  }
  if (rename(tmp.c_str(), path.c_str()) != 0)
    throw BuildError("cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(errno));
}

void MakeDirs(const std::string& dir) {
  std::string cur;
  size_t i = 0;
  while (i <= dir.size()) {
    size_t s = dir.find('/', i);
    if (s == std::string::npos) s = dir.size();
    cur = dir.substr(0, s);
    if (!cur.empty() && mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
      throw BuildError("cannot create '" + cur + "': " + std::strerror(errno));
    i = s + 1;
  }
}

}  // namespace

std::string Gzip(const std::string& in) {
  char in_name[] = "/tmp/qvm-mkimage-in.XXXXXX";
  char out_name[] = "/tmp/qvm-mkimage-out.XXXXXX";
  int in_fd = mkstemp(in_name);
  if (in_fd < 0) throw BuildError(std::string("mkstemp: ") + std::strerror(errno));
  int out_fd = mkstemp(out_name);
  if (out_fd < 0) {
    close(in_fd);
    unlink(in_name);
    throw BuildError(std::string("mkstemp: ") + std::strerror(errno));
  }
  auto cleanup = [&] {
    close(in_fd);
    close(out_fd);
    unlink(in_name);
    unlink(out_name);
  };
  size_t off = 0;
  while (off < in.size()) {
    ssize_t n = write(in_fd, in.data() + off, in.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      cleanup();
      throw BuildError(std::string("write temp file: ") + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  lseek(in_fd, 0, SEEK_SET);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
  posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  char a0[] = "gzip", a1[] = "-n", a2[] = "-9", a3[] = "-c";
  char* argv[] = {a0, a1, a2, a3, nullptr};
  pid_t pid;
  int rc = posix_spawnp(&pid, "gzip", &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    cleanup();
    throw BuildError(std::string("cannot run gzip: ") + std::strerror(rc));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    cleanup();
    throw BuildError("gzip failed");
  }
  std::string out;
  try {
    out = ReadHostFile(out_name);
  } catch (...) {
    cleanup();
    throw;
  }
  cleanup();
  return out;
}

std::string StripDebug(const std::string& tool, const std::string& elf) {
  char in_name[] = "/tmp/qvm-mkimage-strip-in.XXXXXX";
  char out_name[] = "/tmp/qvm-mkimage-strip-out.XXXXXX";
  int in_fd = mkstemp(in_name);
  if (in_fd < 0) throw BuildError(std::string("mkstemp: ") + std::strerror(errno));
  int out_fd = mkstemp(out_name);
  if (out_fd < 0) {
    close(in_fd);
    unlink(in_name);
    throw BuildError(std::string("mkstemp: ") + std::strerror(errno));
  }
  close(out_fd);
  auto cleanup = [&] {
    close(in_fd);
    unlink(in_name);
    unlink(out_name);
  };
  size_t off = 0;
  while (off < elf.size()) {
    ssize_t n = write(in_fd, elf.data() + off, elf.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      cleanup();
      throw BuildError(std::string("write temp file: ") + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  std::string a0 = tool, a1 = "--strip-debug", a2 = "-o", a3 = out_name, a4 = in_name;
  char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), a4.data(), nullptr};
  pid_t pid;
  int rc = posix_spawnp(&pid, tool.c_str(), nullptr, nullptr, argv, environ);
  if (rc != 0) {
    cleanup();
    throw BuildError("cannot run '" + tool + "': " + std::strerror(rc) +
                     " (name another with [strip=PROGRAM], or keep debug info with [-strip])");
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    cleanup();
    throw BuildError("'" + tool + " --strip-debug' failed");
  }
  std::string out;
  try {
    out = ReadHostFile(out_name);
  } catch (...) {
    cleanup();
    throw;
  }
  cleanup();
  return out;
}

Image::Image(BuildSpec spec) : spec_(std::move(spec)) {
  machine_ = MachineForArch(spec_.arch);
  libdir_ = spec_.libdir.empty() ? DefaultLibdir(spec_.arch) : spec_.libdir;
  libpath_ = spec_.libpath.empty() ? DefaultLibpath(spec_.arch) : spec_.libpath;
}

void Image::AddParents(const std::string& path, const std::string& origin) {
  size_t s = path.find('/', 1);
  while (s != std::string::npos) {
    std::string dir = path.substr(0, s);
    auto it = nodes_.find(dir);
    if (it == nodes_.end()) {
      Node d;
      d.type = Node::Type::kDir;
      d.perms = 0755;
      d.origin = origin;
      nodes_.emplace(dir, d);
    } else if (it->second.type != Node::Type::kDir) {
      throw BuildError(origin + ": '" + path + "' needs folder '" + dir + "', which is a file or link from " +
                       it->second.origin);
    }
    s = path.find('/', s + 1);
  }
}

void Image::AddNode(const std::string& path, Node n) {
  AddParents(path, n.origin);
  auto it = nodes_.find(path);
  if (it != nodes_.end()) {
    Node& old = it->second;
    if (old.type == Node::Type::kDir && n.type == Node::Type::kDir) {
      if (n.explicit_dir) {
        if (old.explicit_dir && (old.perms != n.perms || old.uid != n.uid || old.gid != n.gid))
          throw BuildError(n.origin + ": folder '" + path + "' is already defined differently at " + old.origin);
        old = n;
      }
      return;
    }
    throw BuildError(n.origin + ": '" + path + "' is already in the image (from " + old.origin + ")");
  }
  nodes_.emplace(path, std::move(n));
}

void Image::AddEntry(const Entry& e) {
  std::string origin = e.loc.str();
  Node n;
  n.origin = origin;
  n.uid = e.uid;
  n.gid = e.gid;
  n.autolib = e.autolib;
  switch (e.kind) {
    case Entry::Kind::kDir:
      n.type = Node::Type::kDir;
      n.perms = e.perms.value_or(0755);
      n.explicit_dir = true;
      AddNode(e.target, std::move(n));
      return;
    case Entry::Kind::kLink:
      n.type = Node::Type::kLink;
      n.perms = 0777;
      n.data = e.source;
      AddNode(e.target, std::move(n));
      return;
    case Entry::Kind::kInline:
      n.data = e.content;
      n.perms = e.perms.value_or(e.script || e.content.rfind("#!", 0) == 0 ? 0755 : 0644);
      AddNode(e.target, std::move(n));
      break;
    case Entry::Kind::kFile:
    case Entry::Kind::kModule: {
      struct stat st;
      n.data = ReadRegular(e.loc, e.source, &st);
      n.perms = e.perms.value_or((st.st_mode & 0111) || e.script ? 0755 : 0644);
      n.strip = e.strip && e.kind == Entry::Kind::kFile;
      host_source_[e.target] = e.source;
      AddNode(e.target, std::move(n));
      if (e.kind == Entry::Kind::kModule) modules_.emplace_back(&e, e.target);
      break;
    }
    case Entry::Kind::kGlob: {
      glob_t g{};
      int rc = glob(e.source.c_str(), GLOB_ERR, nullptr, &g);
      std::vector<std::string> matches;
      if (rc == 0)
        for (size_t i = 0; i < g.gl_pathc; ++i) matches.emplace_back(g.gl_pathv[i]);
      globfree(&g);
      if (rc == GLOB_NOMATCH || matches.empty())
        throw BuildError(e.loc, "no host file matches '" + e.source + "'");
      if (rc != 0) throw BuildError(e.loc, "cannot expand '" + e.source + "'");
      for (const std::string& m : matches) {  // glob() sorts
        struct stat st;
        Node f = n;
        f.strip = e.strip;
        f.data = ReadRegular(e.loc, m, &st);
        f.perms = e.perms.value_or((st.st_mode & 0111) ? 0755 : 0644);
        std::string target = e.target + "/" + BaseName(m);
        host_source_[target] = m;
        AddNode(target, std::move(f));
      }
      return;
    }
  }
  if (e.script) script_path_ = e.target;
}

void Image::OrderModules() {
  std::vector<ModuleInfo> infos;
  for (const auto& [entry, path] : modules_) {
    std::string base = BaseName(path);
    if (base.size() > 3 && base.substr(base.size() - 3) == ".ko") base.resize(base.size() - 3);
    try {
      ModuleInfo m = ReadModinfo(nodes_.at(path).data, base);
      m.where = entry->loc.str();
      infos.push_back(std::move(m));
    } catch (const std::runtime_error& err) {
      throw BuildError(entry->loc, "'" + entry->source + "': " + err.what());
    }
  }
  std::vector<size_t> order;
  try {
    order = mkimage::OrderModules(infos);
  } catch (const std::runtime_error& err) {
    throw BuildError(err.what());  // already "FILE:LINE: ..."
  }
  for (size_t i : order) module_order_.push_back(modules_[i].second);
}

std::string Image::ResolveLibrary(const std::string& name, const std::string& host_file,
                                  const std::vector<std::string>& rpath,
                                  const std::vector<std::string>& runpath, std::string* data) const {
  std::vector<std::string> dirs;
  auto add = [&](const std::vector<std::string>& list) {
    for (std::string d : list) {
      size_t o;
      while ((o = d.find("$ORIGIN")) != std::string::npos) d.replace(o, 7, DirName(host_file));
      while ((o = d.find("${ORIGIN}")) != std::string::npos) d.replace(o, 9, DirName(host_file));
      dirs.push_back(d);
    }
  };
  if (runpath.empty()) add(rpath);  // DT_RPATH only counts without DT_RUNPATH
  add(runpath);
  dirs.insert(dirs.end(), libpath_.begin(), libpath_.end());
  for (const std::string& d : dirs) {
    std::string cand = d + "/" + name;
    struct stat st;
    if (stat(cand.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    std::string bytes;
    try {
      bytes = ReadHostFile(cand);
      if (!IsElf(bytes)) continue;
      ElfInfo info = ParseElf(bytes);
      if (info.machine != machine_) continue;  // e.g. an i386 library: keep looking
    } catch (const std::exception&) {
      continue;
    }
    *data = std::move(bytes);
    return cand;
  }
  return "";
}

void Image::StripPrograms() {
  std::string tool = spec_.strip_tool;
  if (tool.empty()) {
    struct utsname u;
    bool native = uname(&u) == 0 && spec_.arch == u.machine;
    tool = native ? "strip" : spec_.arch + "-linux-gnu-strip";
  }
  for (auto& [path, n] : nodes_) {
    if (n.type != Node::Type::kFile || !n.strip || !IsElf(n.data)) continue;
    ElfInfo info;
    try {
      info = ParseElf(n.data);
    } catch (const std::runtime_error& err) {
      throw BuildError(n.origin + ": '" + path + "': " + err.what());
    }
    if ((info.type != 2 && info.type != 3) || info.machine != machine_) continue;  // ET_EXEC, ET_DYN
    try {
      if (!HasSectionPrefix(n.data, ".debug")) continue;  // nothing to strip
    } catch (const std::runtime_error& err) {
      throw BuildError(n.origin + ": '" + path + "': " + err.what());
    }
    try {
      n.data = StripDebug(tool, n.data);
    } catch (const BuildError& err) {
      throw BuildError(n.origin + ": stripping '" + path + "': " + err.what());
    }
  }
}

void Image::BundleLibraries() {
  std::deque<std::string> work;
  for (const auto& [path, n] : nodes_)
    if (n.type == Node::Type::kFile && n.autolib && IsElf(n.data)) work.push_back(path);
  std::string searched;
  for (const std::string& d : libpath_) searched += (searched.empty() ? "" : ":") + d;
  while (!work.empty()) {
    std::string path = work.front();
    work.pop_front();
    const Node& node = nodes_.at(path);
    std::string origin = node.origin;
    ElfInfo info;
    try {
      info = ParseElf(node.data);
    } catch (const std::runtime_error& err) {
      throw BuildError(origin + ": '" + path + "': " + err.what());
    }
    if (info.type == 1) continue;  // relocatable object (kernel module)
    if (!info.dynamic && info.interp.empty()) continue;  // static program
    if (info.machine != machine_)
      throw BuildError(origin + ": '" + path + "' is a dynamically linked " + MachineName(info.machine) +
                       " program but the image is " + spec_.arch + " (use [-autolib] to place it anyway)");
    std::string host = host_source_.count(path) ? host_source_.at(path) : "";
    std::string needer = "needed by '" + path + "' (" + origin + ")";
    if (!info.interp.empty() && !nodes_.count(info.interp)) {
      std::string data, found;
      struct stat st;
      if (stat(info.interp.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        data = ReadHostFile(info.interp);
        try {
          if (IsElf(data) && ParseElf(data).machine == machine_) found = info.interp;
        } catch (const std::exception&) {
        }
      }
      if (found.empty()) found = ResolveLibrary(BaseName(info.interp), host, {}, {}, &data);
      if (found.empty())
        throw BuildError(origin + ": '" + path + "' needs the dynamic loader '" + info.interp +
                         "', which is not on this host (searched " + searched + ")");
      Node n;
      n.data = std::move(data);
      n.perms = 0755;
      n.origin = "loader " + needer;
      AddNode(info.interp, std::move(n));
    }
    for (const std::string& lib : info.needed) {
      if (lib.find('/') != std::string::npos) {
        if (!nodes_.count(lib))
          throw BuildError(origin + ": '" + path + "' needs '" + lib + "', which is not in the image");
        continue;
      }
      std::string target = libdir_ + "/" + lib;
      if (nodes_.count(target)) continue;
      std::string data;
      std::string found = ResolveLibrary(lib, host, info.rpath, info.runpath, &data);
      if (found.empty())
        throw BuildError(origin + ": '" + path + "' needs '" + lib +
                         "', which is not found (searched its RPATH/RUNPATH and " + searched + ")");
      Node n;
      n.data = std::move(data);
      n.perms = 0644;
      n.autolib = true;
      n.origin = "library " + needer;
      host_source_[target] = found;
      AddNode(target, std::move(n));
      work.push_back(target);
    }
  }
}

void Image::GenerateInit() {
  if (script_path_.empty()) return;
  if (auto it = nodes_.find("/init"); it != nodes_.end())
    throw BuildError(it->second.origin + ": the image has its own /init, but /init is generated to run the "
                     "startup script '" + script_path_ + "' (remove one of them)");
  const std::string& where = nodes_.at(script_path_).origin;
  if (!nodes_.count("/bin/sh"))
    throw BuildError(where + ": the generated /init runs /bin/sh, which is not in the image");
  std::vector<std::string> cmds = {"mkdir", "mount"};
  if (!module_order_.empty()) cmds.push_back("insmod");
  for (const std::string& cmd : cmds) {
    bool found = false;
    for (const char* dir : {"/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/"})
      found = found || nodes_.count(dir + cmd);
    if (!found)
      throw BuildError(where + ": the generated /init runs '" + cmd +
                       "', which is in none of /bin /sbin /usr/bin /usr/sbin of the image");
  }
  std::string s =
      "#!/bin/sh\n"
      "# Generated by qvm-mkimage: mounts, kernel modules in dependency order,\n"
      "# then the startup script.\n"
      "export PATH=/sbin:/bin:/usr/sbin:/usr/bin\n"
      "mkdir -p /proc /sys /dev /tmp /run\n"
      "mount -t proc proc /proc\n"
      "mount -t sysfs sysfs /sys\n"
      "mount -t devtmpfs devtmpfs /dev\n"
      "mount -t tmpfs tmpfs /tmp\n"
      "mount -t tmpfs tmpfs /run\n";
  for (const std::string& m : module_order_)
    s += "insmod " + m + " || echo 'init: insmod " + m + " failed' >&2\n";
  s += "exec /bin/sh " + script_path_ + "\n";
  Node n;
  n.data = s;
  n.perms = 0755;
  n.origin = "generated for the startup script " + script_path_;
  AddNode("/init", std::move(n));
}

void Image::Assemble() {
  if (!machine_) throw BuildError("unknown arch '" + spec_.arch + "'");
  for (const Entry& e : spec_.entries) AddEntry(e);
  OrderModules();
  StripPrograms();
  BundleLibraries();
  GenerateInit();
  if (!nodes_.count("/dev")) {
    Node d;
    d.type = Node::Type::kDir;
    d.perms = 0755;
    d.origin = "built in";
    nodes_.emplace("/dev", d);
  }
  if (!nodes_.count("/dev/console")) {
    Node c;
    c.type = Node::Type::kCharDev;
    c.perms = 0600;
    c.major = 5;
    c.minor = 1;
    c.origin = "built in (the kernel opens it before /init)";
    AddNode("/dev/console", c);
  }
}

std::vector<CpioEntry> Image::CpioEntries() const {
  std::vector<CpioEntry> out;
  for (const auto& [path, n] : nodes_) {  // std::map: byte order, parents first
    CpioEntry e;
    e.path = path.substr(1);
    e.uid = n.uid;
    e.gid = n.gid;
    switch (n.type) {
      case Node::Type::kFile: e.mode = kIfReg | n.perms; e.data = n.data; break;
      case Node::Type::kDir: e.mode = kIfDir | n.perms; break;
      case Node::Type::kLink: e.mode = kIfLnk | 0777; e.data = n.data; break;
      case Node::Type::kCharDev:
        e.mode = kIfChr | n.perms;
        e.rdev_major = n.major;
        e.rdev_minor = n.minor;
        break;
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::string Image::Manifest() const {
  std::ostringstream o;
  for (const auto& [path, n] : nodes_) {
    char type = n.type == Node::Type::kDir ? 'd' : n.type == Node::Type::kLink ? 'l'
                : n.type == Node::Type::kCharDev ? 'c' : '-';
    char buf[64];
    std::snprintf(buf, sizeof buf, "%c%04o %u %u %10zu ", type, n.perms, n.uid, n.gid,
                  n.type == Node::Type::kFile ? n.data.size() : size_t{0});
    o << buf << path;
    if (n.type == Node::Type::kLink) o << " -> " << n.data;
    o << "\n";
  }
  o << "# module load order:\n";
  for (const std::string& m : module_order_) o << "#   " << m << "\n";
  return o.str();
}

void Image::Write(const std::string& outdir) const {
  std::string kernel;
  std::string kernel_name = spec_.arch == "aarch64" ? "Image" : "bzImage";
  if (!spec_.kernel.empty()) {
    kernel = ReadRegular(spec_.kernel_loc, spec_.kernel, nullptr);
    if (spec_.arch == "x86_64") {
      if (kernel.size() < 0x210 || kernel.compare(0x202, 4, "HdrS") != 0)
        throw BuildError(spec_.kernel_loc, "kernel '" + spec_.kernel + "' is not a bzImage (no HdrS signature)");
    } else {
      bool image = kernel.size() > 0x40 && kernel.compare(0x38, 4, "ARM\x64") == 0;
      bool gz = kernel.size() > 2 && static_cast<unsigned char>(kernel[0]) == 0x1f &&
                static_cast<unsigned char>(kernel[1]) == 0x8b;
      if (!image && !gz)
        throw BuildError(spec_.kernel_loc, "kernel '" + spec_.kernel + "' is neither an arm64 Image nor gzip-compressed");
    }
  }
  std::string gz = Gzip(WriteCpio(CpioEntries()));
  MakeDirs(outdir);
  WriteFileAtomic(outdir + "/initramfs.cpio.gz", gz);
  if (!kernel.empty()) WriteFileAtomic(outdir + "/" + kernel_name, kernel);
  WriteFileAtomic(outdir + "/manifest.txt", Manifest());
}

}  // namespace mkimage
