/*
 * qvm-bench-kvmloop: the floor for exit costs. A minimal KVM_RUN loop that
 * runs a bench micro-guest (the raw image of guest.s) the way qvm enters it:
 * RAM at 0, the image at 0x100000, 32-bit flat protected mode, paging off,
 * IF=0, EIP = 0x100000. No devices, no threads, no irqchip: every port or
 * MMIO exit is answered inline (reads return all-ones, writes are dropped;
 * bytes to COM1's THR, port 0x3f8, go to stdout) and the first write to the
 * debug-exit port 0xf4 ends the loop with exit status 0.
 *
 *   qvm-bench-kvmloop IMAGE [RAM_MIB]    (default 16)
 *
 * Exit status: 0 when the guest wrote the debug-exit port, 1 on an
 * unexpected exit or error (reason on stderr), 2 on usage errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOAD_ADDR 0x100000u

static int die(const char *what) {
  fprintf(stderr, "qvm-bench-kvmloop: %s: %s\n", what, strerror(errno));
  return 1;
}

static void flat(struct kvm_segment *s, uint16_t sel, uint8_t type) {
  memset(s, 0, sizeof *s);
  s->base = 0;
  s->limit = 0xffffffff;
  s->selector = sel;
  s->type = type;
  s->present = 1;
  s->dpl = 0;
  s->db = 1;
  s->s = 1;
  s->g = 1;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: qvm-bench-kvmloop IMAGE [RAM_MIB]\n");
    return 2;
  }
  long ram_mib = argc == 3 ? atol(argv[2]) : 16;
  if (ram_mib < 2 || ram_mib > 4096) {
    fprintf(stderr, "qvm-bench-kvmloop: RAM_MIB must be 2..4096\n");
    return 2;
  }
  size_t ram_size = (size_t)ram_mib << 20;

  int img = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (img < 0) return die(argv[1]);
  struct stat st;
  if (fstat(img, &st) < 0) return die("fstat");
  if (st.st_size <= 0 || (uint64_t)st.st_size > ram_size - LOAD_ADDR) {
    fprintf(stderr, "qvm-bench-kvmloop: %s: empty or larger than RAM\n",
            argv[1]);
    return 1;
  }

  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) return die("/dev/kvm");
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) return die("KVM_CREATE_VM");
  uint8_t *mem = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return die("mmap RAM");
  size_t done = 0;
  while (done < (size_t)st.st_size) {
    ssize_t r = read(img, mem + LOAD_ADDR + done, (size_t)st.st_size - done);
    if (r <= 0) return die("read image");
    done += (size_t)r;
  }
  close(img);
  struct kvm_userspace_memory_region region = {
      .slot = 0,
      .guest_phys_addr = 0,
      .memory_size = ram_size,
      .userspace_addr = (uint64_t)(uintptr_t)mem,
  };
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
    return die("KVM_SET_USER_MEMORY_REGION");
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) return die("KVM_CREATE_VCPU");
  long run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < (long)sizeof(struct kvm_run)) return die("KVM_GET_VCPU_MMAP_SIZE");
  struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE,
                             MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) return die("mmap kvm_run");

  /* The guest's CPUID (some KVMs refuse to run a vCPU without one). */
  struct {
    struct kvm_cpuid2 c;
    struct kvm_cpuid_entry2 e[256];
  } cpuid;
  memset(&cpuid, 0, sizeof cpuid);
  cpuid.c.nent = 256;
  if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid) == 0)
    ioctl(vcpu, KVM_SET_CPUID2, &cpuid);

  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) return die("KVM_GET_SREGS");
  flat(&sregs.cs, 0x08, 0xb);
  flat(&sregs.ds, 0x10, 0x3);
  sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
  sregs.cr0 = 0x11; /* PE | ET */
  sregs.cr4 = 0;
  sregs.efer = 0;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) return die("KVM_SET_SREGS");
  struct kvm_regs regs;
  memset(&regs, 0, sizeof regs);
  regs.rip = LOAD_ADDR;
  regs.rflags = 0x2;
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) return die("KVM_SET_REGS");

  for (;;) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return die("KVM_RUN");
    }
    switch (run->exit_reason) {
      case KVM_EXIT_IO: {
        if ((uint64_t)run->io.data_offset + (uint64_t)run->io.size * run->io.count >
            (uint64_t)run_size) {
          fprintf(stderr, "qvm-bench-kvmloop: I/O data outside kvm_run\n");
          return 1;
        }
        uint8_t *data = (uint8_t *)run + run->io.data_offset;
        if (run->io.direction == KVM_EXIT_IO_OUT) {
          if (run->io.port == 0xf4) return 0;
          if (run->io.port == 0x3f8 && run->io.size == 1) {
            if (write(1, data, run->io.count) < 0) return die("write");
          }
        } else {
          memset(data, 0xff, (size_t)run->io.size * run->io.count);
        }
        break;
      }
      case KVM_EXIT_MMIO:
        if (!run->mmio.is_write) memset(run->mmio.data, 0xff, sizeof run->mmio.data);
        break;
      case KVM_EXIT_INTR:
        break;
      default:
        fprintf(stderr, "qvm-bench-kvmloop: unexpected exit reason %u\n",
                run->exit_reason);
        return 1;
    }
  }
}
