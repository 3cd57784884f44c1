// A plug-in's own threads (qvm_thread_create, vdev ABI 1.8): started with
// qvm's system-call filter of a worker, the vCPU list plus the calls the
// factory declares in `thread_syscalls` (vmm/syscall_filter.h), installed
// by the new thread on itself before the device's function runs.
#include <pthread.h>
#include <semaphore.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "vmm/syscall_filter.h"
#include "vmm/vdev_host.h"

namespace qvm {

const char* const* ThreadSyscalls(const qvm_factory* f) {
  constexpr size_t kEnd = offsetof(qvm_factory, thread_syscalls) + sizeof(void*);
  return f->struct_size < kEnd ? nullptr : f->thread_syscalls;
}

namespace {

struct Start {
  void* (*fn)(void*);
  void* arg;
  bool filter;
  std::vector<int> extra;
  char label[16];
  sem_t ready;
  int rc = 0;  // the filter's outcome, read by the creator after `ready`
};

void* Trampoline(void* p) {
  Start* s = static_cast<Start*>(p);
  pthread_setname_np(pthread_self(), s->label);
  if (s->filter) {
    absl::Status st = InstallSyscallFilter(FilterKind::Worker, s->label, s->extra);
    if (!st.ok()) {
      Log(LogLevel::Error, "thread %s: system-call filter: %s", s->label,
          std::string(st.message()).c_str());
      s->rc = -EPERM;
      sem_post(&s->ready);
      return nullptr;  // the creator joins it
    }
  }
  void* (*fn)(void*) = s->fn;
  void* arg = s->arg;
  sem_post(&s->ready);  // `s` belongs to the creator from here on
  return fn(arg);
}

}  // namespace

}  // namespace qvm

QVM_EXPORT int qvm_thread_create(qvm_vdev_t* dev, pthread_t* thread, const char* name,
                                 void* (*fn)(void*), void* arg) {
  if (!dev || !thread || !fn) return -EINVAL;
  qvm::Start s;
  s.fn = fn;
  s.arg = arg;
  s.filter = dev->host->filter_threads();
  if (s.filter) {
    // Checked when the plug-in was loaded (vmm/vdev_loader.cc).
    auto nrs = qvm::SyscallNumbers(qvm::ThreadSyscalls(dev->factory));
    if (!nrs.ok()) return -EINVAL;
    s.extra = std::move(*nrs);
  }
  const char* label = name && *name ? name : dev->name.c_str();
  strncpy(s.label, label, sizeof s.label - 1);
  s.label[sizeof s.label - 1] = 0;
  if (sem_init(&s.ready, 0, 0) != 0) return -errno;
  int rc = pthread_create(thread, nullptr, qvm::Trampoline, &s);
  if (rc != 0) {
    sem_destroy(&s.ready);
    return -rc;
  }
  while (sem_wait(&s.ready) != 0 && errno == EINTR) {
  }
  sem_destroy(&s.ready);
  if (s.rc != 0) {
    pthread_join(*thread, nullptr);
    return s.rc;
  }
  return 0;
}
