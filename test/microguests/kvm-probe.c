/*
 * qvm-kvm-probe: is /dev/kvm usable for running guests here?
 *
 * Opening the device is not enough (a container may expose a node that no
 * module backs, or the API may be foreign), so the probe:
 *   1. opens /dev/kvm (or $QVM_KVM_DEV) read-write,
 *   2. checks KVM_GET_API_VERSION == 12,
 *   3. creates a VM with one vCPU and 4 KiB of memory and runs a 4-byte
 *      real-mode guest (`mov $0x5a,%al; out %al,$0xf4`), expecting a
 *      KVM_EXIT_IO on port 0xf4 with data 0x5a, bounded by a 5 s alarm.
 * Exit status: 0 usable, 1 not usable (reason on stderr), 2 bad usage.
 * `-v` also prints what was found (the kind of KVM: kvm_pvm, kvm_intel,
 * kvm_amd, per /sys/module). `-n` stops after step 2 (no guest run).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int verbose;

static void on_alarm(int sig) { (void)sig; }

static int unusable(const char *what, int err) {
  if (err)
    fprintf(stderr, "qvm-kvm-probe: not usable: %s: %s\n", what,
            strerror(err));
  else
    fprintf(stderr, "qvm-kvm-probe: not usable: %s\n", what);
  return 1;
}

static const char *kvm_kind(void) {
  static const char *const kinds[] = {"kvm_pvm", "kvm_intel", "kvm_amd"};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/sys/module/%s", kinds[i]);
    if (stat(path, &st) == 0) return kinds[i];
  }
  return "unknown";
}

static int run_guest(int kvm) {
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) return unusable("KVM_CREATE_VM", errno);
  int rc = 1;
  int vcpu = -1;
  struct kvm_run *run = MAP_FAILED;
  long run_size = 0;
  uint8_t *mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    rc = unusable("mmap guest memory", errno);
    goto out;
  }
  /* mov $0x5a,%al ; out %al,$0xf4 ; jmp . */
  static const uint8_t code[] = {0xb0, 0x5a, 0xe6, 0xf4, 0xeb, 0xfe};
  memcpy(mem, code, sizeof code);
  struct kvm_userspace_memory_region region = {
      .slot = 0,
      .guest_phys_addr = 0x1000,
      .memory_size = 0x1000,
      .userspace_addr = (uint64_t)(uintptr_t)mem,
  };
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
    rc = unusable("KVM_SET_USER_MEMORY_REGION", errno);
    goto out;
  }
  vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) {
    rc = unusable("KVM_CREATE_VCPU", errno);
    goto out;
  }
  run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < (long)sizeof(struct kvm_run)) {
    rc = unusable("KVM_GET_VCPU_MMAP_SIZE", run_size < 0 ? errno : 0);
    goto out;
  }
  run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
             vcpu, 0);
  if (run == MAP_FAILED) {
    rc = unusable("mmap kvm_run", errno);
    goto out;
  }
  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) {
    rc = unusable("KVM_GET_SREGS", errno);
    goto out;
  }
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) {
    rc = unusable("KVM_SET_SREGS", errno);
    goto out;
  }
  struct kvm_regs regs;
  memset(&regs, 0, sizeof regs);
  regs.rip = 0x1000;
  regs.rflags = 0x2;
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) {
    rc = unusable("KVM_SET_REGS", errno);
    goto out;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm; /* no SA_RESTART: KVM_RUN returns EINTR */
  sigaction(SIGALRM, &sa, NULL);
  alarm(5);
  /* A few entries at most: the first exit must be our port write. */
  for (int i = 0; i < 16; i++) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) {
      if (errno == EINTR) {
        rc = unusable("KVM_RUN timed out after 5 s", 0);
        break;
      }
      rc = unusable("KVM_RUN", errno);
      break;
    }
    if (run->exit_reason == KVM_EXIT_INTR) continue;
    if (run->exit_reason == KVM_EXIT_IO &&
        run->io.direction == KVM_EXIT_IO_OUT && run->io.port == 0xf4 &&
        run->io.size == 1 && run->io.count == 1 &&
        run->io.data_offset < (uint64_t)run_size &&
        ((const uint8_t *)run)[run->io.data_offset] == 0x5a) {
      rc = 0;
      break;
    }
    char why[96];
    snprintf(why, sizeof why, "test guest: unexpected exit reason %u",
             run->exit_reason);
    rc = unusable(why, 0);
    break;
  }
  alarm(0);
out:
  if (run != MAP_FAILED) munmap(run, (size_t)run_size);
  if (vcpu >= 0) close(vcpu);
  if (mem != MAP_FAILED) munmap(mem, 0x1000);
  close(vm);
  return rc;
}

int main(int argc, char **argv) {
  int no_run = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0) {
      verbose = 1;
    } else if (strcmp(argv[i], "-n") == 0) {
      no_run = 1;
    } else {
      fprintf(stderr, "usage: qvm-kvm-probe [-v] [-n]\n");
      return 2;
    }
  }
  const char *dev = getenv("QVM_KVM_DEV");
  if (!dev || !*dev) dev = "/dev/kvm";
  int kvm = open(dev, O_RDWR | O_CLOEXEC);
  if (kvm < 0) return unusable(dev, errno);
  int version = ioctl(kvm, KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) {
    char why[96];
    snprintf(why, sizeof why, "KVM_GET_API_VERSION returned %d, want %d",
             version, KVM_API_VERSION);
    close(kvm);
    return unusable(why, version < 0 ? errno : 0);
  }
  int rc = no_run ? 0 : run_guest(kvm);
  close(kvm);
  if (rc == 0 && verbose)
    printf("qvm-kvm-probe: %s usable: API %d, module %s%s\n", dev, version,
           kvm_kind(), no_run ? " (guest run skipped)" : ", test guest ran");
  return rc;
}
