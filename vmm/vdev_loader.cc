// The plug-in loader: finds vdev-TYPE.so, checks the factory it registers
// against the ABI this qvm provides, and keeps one table of factories per
// loader.
#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "vmm/syscall_filter.h"
#include "vmm/vdev_host.h"

#ifndef QVM_BUILD_VDEV_DIR
#define QVM_BUILD_VDEV_DIR ""
#endif

namespace qvm {
namespace {

// The loader whose dlopen() is running constructors right now. Plug-ins
// register from their constructors, which run inside dlopen on this thread.
thread_local VdevLoader* t_loading = nullptr;

// Members of struct qvm_factory that a plug-in built against ABI 1.0 has.
constexpr size_t kFactoryMinSize = offsetof(qvm_factory, pic) + sizeof(void*);

}  // namespace

VdevLoader::VdevLoader(std::vector<std::string> search_dirs)
    : dirs_(std::move(search_dirs)) {}

std::vector<std::string> VdevLoader::DefaultSearchDirs() {
  std::vector<std::string> dirs;
  if (const char* env = getenv("QVM_VDEV_PATH"))
    for (auto d : absl::StrSplit(env, ':', absl::SkipEmpty()))
      dirs.emplace_back(d);
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    std::string e(exe);
    auto slash = e.rfind('/');
    if (slash != std::string::npos)
      dirs.push_back(e.substr(0, slash) + "/../lib/qvm");
  }
  if (QVM_BUILD_VDEV_DIR[0]) dirs.push_back(QVM_BUILD_VDEV_DIR);
  dirs.push_back("");  // the dynamic loader's own search path
  return dirs;
}

void VdevLoader::accept(const qvm_factory* f) {
  if (f == nullptr) {
    pending_error_ = "registered a null factory";
    return;
  }
  pending_.push_back(f);
}

int OptionIndex(const qvm_factory* f, const std::string& name) {
  if (f->options)
    for (int i = 0; f->options[i]; i++)
      if (name == f->options[i]) return i;
  return -1;
}

uint32_t OptionFlags(const qvm_factory* f, int idx) {
  constexpr size_t kEnd = offsetof(qvm_factory, option_flags) + sizeof(void*);
  if (idx < 0 || f->struct_size < kEnd || f->option_flags == nullptr) return 0;
  return f->option_flags[idx];
}

VdevOptionShape VdevLoader::shape(const std::string& type,
                                  const std::string& option) {
  VdevOptionShape s;
  auto f = get(type);
  if (!f.ok()) return s;
  uint32_t flags = OptionFlags(*f, OptionIndex(*f, option));
  s.no_argument = flags & QVM_OPTF_NO_ARG;
  s.repeats = flags & QVM_OPTF_REPEAT;
  return s;
}

std::string VdevLoader::origin(const std::string& type) const {
  auto it = origins_.find(type);
  return it == origins_.end() ? "" : it->second;
}

absl::StatusOr<const qvm_factory*> VdevLoader::get(const std::string& type) {
  auto it = factories_.find(type);
  if (it != factories_.end()) return it->second;
  // A plug-in's constructors run once per process: a failed load is
  // remembered, not retried (a second dlopen would register nothing).
  auto failed = failures_.find(type);
  if (failed != failures_.end()) return failed->second;
  absl::StatusOr<const qvm_factory*> r = load(type);
  if (!r.ok()) failures_.emplace(type, r.status());
  return r;
}

absl::StatusOr<const qvm_factory*> VdevLoader::load(const std::string& type) {
  for (char c : type)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
          c == '.'))
      return absl::NotFoundError(absl::StrCat("bad vdev type `", type, "`"));
  std::string file = "vdev-" + type + ".so";
  std::string tried;
  for (const auto& d : dirs_) {
    std::string path = d.empty() ? file : d + "/" + file;
    if (!d.empty() && access(path.c_str(), R_OK) != 0) {
      absl::StrAppend(&tried, tried.empty() ? "" : ", ", path);
      continue;
    }
    pending_.clear();
    pending_error_.clear();
    t_loading = this;
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    t_loading = nullptr;
    if (!h) {
      if (d.empty()) {
        absl::StrAppend(&tried, tried.empty() ? "" : ", ", "the loader path");
        continue;
      }
      return absl::FailedPreconditionError(
          absl::StrCat("cannot load ", path, ": ", dlerror()));
    }
    if (!pending_error_.empty())
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": ", pending_error_));
    const qvm_factory* found = nullptr;
    for (const qvm_factory* f : pending_) {
      if (f->abi_major != QVM_VDEV_ABI_MAJOR)
        return absl::FailedPreconditionError(absl::StrFormat(
            "%s: built for vdev ABI %u.%u, this qvm provides %u.%u", path,
            f->abi_major, f->abi_minor, QVM_VDEV_ABI_MAJOR,
            QVM_VDEV_ABI_MINOR));
      if (f->struct_size < kFactoryMinSize)
        return absl::FailedPreconditionError(absl::StrFormat(
            "%s: factory structure too small (%zu bytes)", path,
            f->struct_size));
      if (f->name == nullptr || f->control == nullptr)
        return absl::FailedPreconditionError(
            absl::StrCat(path, ": factory without a name or control callback"));
      if ((f->flags & QVM_VDEVF_PIC) && f->pic == nullptr)
        return absl::FailedPreconditionError(
            absl::StrCat(path, ": controller factory without pic operations"));
      if (f->state_size > (64u << 20))
        return absl::FailedPreconditionError(
            absl::StrCat(path, ": per-instance state size is absurd"));
      if (auto nrs = SyscallNumbers(ThreadSyscalls(f)); !nrs.ok())
        return absl::FailedPreconditionError(
            absl::StrCat(path, ": thread_syscalls: ", nrs.status().message()));
      auto prev = origins_.find(f->name);
      if (prev != origins_.end())
        return absl::FailedPreconditionError(absl::StrCat(
            path, ": registers factory `", f->name, "`, already registered by ",
            prev->second));
      factories_[f->name] = f;
      origins_[f->name] = path;
      if (type == f->name) found = f;
    }
    if (!found)
      return absl::FailedPreconditionError(absl::StrCat(
          path, pending_.empty() ? ": registers no factory (no constructor calling "
                                   "qvm_register_factory)"
                                 : ": does not register a factory named `" + type + "`"));
    return found;
  }
  return absl::NotFoundError(
      absl::StrCat("no plug-in vdev-", type, ".so (looked in ", tried, ")"));
}

}  // namespace qvm

QVM_EXPORT void qvm_register_factory(
    const struct qvm_factory* factory) {
  if (qvm::t_loading) qvm::t_loading->accept(factory);
}
