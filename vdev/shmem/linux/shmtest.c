/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * qvm-shmtest: two guests exchange data through one `vdev shmem` region
 * with the qvm_shm driver (qvmshm.h), built static into the test guest.
 *
 *   qvm-shmtest peer DEV NAME SIZE ROLE MIB
 *     ROLE 1 or 2 (one guest each). Attaches region NAME (SIZE bytes) on
 *     DEV (/dev/qvmshm0), registers its client index in the region's
 *     header page and notifies every other client (a host program waiting
 *     on the region sees it), waits for the other role; then
 *       - notification round trips: role 1 notifies role 2, which answers;
 *         200 rounds, the mean printed (QVM-SHM-RTT us rounds);
 *       - MIB MiB role 1 -> role 2, then MIB MiB role 2 -> role 1, in
 *         chunks through a ring of slots after the header page: the sender
 *         fills a slot, publishes its sequence number and notifies; the
 *         receiver checksums it, acknowledges and notifies back
 *         (QVM-SHM-SENT|RECV dir checksum bytes MiB/s);
 *       - role 1 writes "QVMSHM-DONE <sent> <received>" (its checksums) at
 *         byte 1024 of the region for the host to read, and notifies every
 *         other client.
 *     Every wait is bounded (600 s in all); exit 0 when all went through.
 *   qvm-shmtest info DEV NAME    attach (no create), print size/idx/active.
 *   qvm-shmtest check DEV NAME   the driver's refusals, one QVM-SHM-CHECK
 *     line each, then QVM-SHM-CHECKS passed total (exit 1 unless all
 *     passed): read/notify/mmap before attach (ENOTCONN), illegal names
 *     (EINVAL, before the device sees them), a name the device's
 *     `allow "lane-*"` refuses (EACCES), a size over 1 GiB (EFBIG), then on
 *     region NAME (8 KiB, created; nobody else may use it): a second attach on the file (EBUSY), notify
 *     bit 16 (EINVAL), mmap beyond the region (EINVAL), a non-blocking read
 *     with nothing pending (EAGAIN), and a mapping of the whole region.
 *
 * Checksums: FNV-1a over 64-bit words; data: xorshift64 seeded by role.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "qvmshm.h"

#define MAGIC 0x514d5351u /* "QSMQ" */
#define CHUNK (256u << 10)
#define MAX_SLOTS 16u
#define ROUNDS 200
#define TEXT_OFF 1024

struct header { /* the region's first page */
    uint32_t magic;
    uint32_t idx[3];   /* idx[role] = client index + 1 once registered */
    uint32_t ping, pong;
    uint32_t pad[2];
    uint64_t seq[2];   /* per direction: chunks published by the sender */
    uint64_t ack[2];   /* chunks the receiver has taken */
};

static int fd = -1;
static volatile struct header *hdr;
static uint8_t *data;
static uint32_t self_idx, active;
static double deadline;
static unsigned long wakeups;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what) {
    fprintf(stderr, "qvm-shmtest: %s: %s\n", what, strerror(errno));
    printf("QVM-SHM-ERROR %s\n", what);
    exit(1);
}

static uint64_t ld(volatile uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static uint32_t ld32(volatile uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void st(volatile uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static void st32(volatile uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

static void notify(uint32_t mask) {
    if (ioctl(fd, QVMSHM_IOC_NOTIFY, &mask) != 0) die("notify");
}

/* Blocks for the next notification (or active-set change), bounded by the
 * run's deadline. */
static void wait_event(const char *what) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        double left = deadline - now();
        if (left <= 0) {
            fprintf(stderr, "qvm-shmtest: timed out waiting for %s\n", what);
            printf("QVM-SHM-ERROR timeout %s\n", what);
            exit(1);
        }
        int r = poll(&p, 1, left > 10 ? 10000 : (int)(left * 1000) + 1);
        if (r < 0 && errno != EINTR) die("poll");
        if (r <= 0) continue;
        struct qvmshm_event ev;
        ssize_t n = read(fd, &ev, sizeof ev);
        if (n == (ssize_t)sizeof ev) {
            active = ev.active;
            wakeups++;
            return;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) die("read");
    }
}

static uint64_t fnv(uint64_t h, const uint64_t *w, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ w[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t xs(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* One direction: `send` fills `total` bytes into the slots, else takes them. */
static uint64_t transfer(int dir, int send, uint64_t total, uint32_t pmask, unsigned nslots,
                         uint64_t seed, double *mibs) {
    uint64_t h = 0xcbf29ce484222325ull, chunks = total / CHUNK;
    double t0 = now();
    for (uint64_t k = 0; k < chunks; k++) {
        uint64_t *slot = (uint64_t *)(data + QVMSHM_PAGE + (k % nslots) * CHUNK);
        if (send) {
            while (k - ld(&hdr->ack[dir]) >= nslots) wait_event("a free slot");
            for (size_t i = 0; i < CHUNK / 8; i++) slot[i] = xs(&seed);
            h = fnv(h, slot, CHUNK / 8);
            st(&hdr->seq[dir], k + 1);
        } else {
            while (ld(&hdr->seq[dir]) <= k) wait_event("a chunk");
            h = fnv(h, slot, CHUNK / 8);
            st(&hdr->ack[dir], k + 1);
        }
        notify(pmask);
    }
    if (send)
        while (ld(&hdr->ack[dir]) < chunks) wait_event("the last acknowledgement");
    double dt = now() - t0;
    *mibs = dt > 0 ? (double)total / (1 << 20) / dt : 0;
    return h;
}

static int attach(const char *dev, const char *name, uint64_t size, struct qvmshm_attach *a) {
    fd = open(dev, O_RDWR);
    if (fd < 0) die(dev);
    memset(a, 0, sizeof *a);
    if (strlen(name) >= sizeof a->name) {
        errno = ENAMETOOLONG;
        die("name");
    }
    strcpy(a->name, name);
    a->size = size;
    if (ioctl(fd, QVMSHM_IOC_ATTACH, a) != 0) die("attach");
    self_idx = a->idx;
    active = a->active;
    return 0;
}

static int checks, passed;

static void expect(const char *what, int rc, int want_errno) {
    int ok = want_errno ? rc < 0 && errno == want_errno : rc == 0;
    checks++;
    passed += ok;
    printf("QVM-SHM-CHECK %s %s (%s)\n", what, ok ? "ok" : "FAIL",
           rc == 0 ? "succeeded" : strerror(errno));
}

static int try_attach(int f, const char *name, uint64_t size) {
    struct qvmshm_attach a;
    memset(&a, 0, sizeof a);
    memcpy(a.name, name, strnlen(name, sizeof a.name));
    a.size = size;
    return ioctl(f, QVMSHM_IOC_ATTACH, &a);
}

static int check(const char *dev, const char *name) {
    struct qvmshm_event ev;
    uint32_t m = 1;
    int f = open(dev, O_RDWR | O_NONBLOCK);
    if (f < 0) die(dev);
    expect("read-unattached", read(f, &ev, sizeof ev) < 0 ? -1 : 0, ENOTCONN);
    expect("notify-unattached", ioctl(f, QVMSHM_IOC_NOTIFY, &m), ENOTCONN);
    void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, f, 0);
    expect("mmap-unattached", p == MAP_FAILED ? -1 : 0, ENOTCONN);
    expect("name-empty", try_attach(f, "", 4096), EINVAL);
    expect("name-slash", try_attach(f, "lane/x", 4096), EINVAL);
    expect("name-dot", try_attach(f, ".lane", 4096), EINVAL);
    char longname[QVMSHM_NAME_MAX];
    memset(longname, 'a', sizeof longname); /* 32 bytes, no NUL */
    struct qvmshm_attach a;
    memset(&a, 0, sizeof a);
    memcpy(a.name, longname, sizeof a.name);
    a.size = 4096;
    expect("name-unterminated", ioctl(f, QVMSHM_IOC_ATTACH, &a), EINVAL);
    expect("name-denied", try_attach(f, "other", 4096), EACCES);
    expect("size-over-1GiB", try_attach(f, "lane-big", QVMSHM_MAX_BYTES + 1), EFBIG);
    expect("attach", try_attach(f, name, 8192), 0);
    expect("attach-twice", try_attach(f, name, 8192), EBUSY);
    m = 1u << 16;
    expect("notify-bit16", ioctl(f, QVMSHM_IOC_NOTIFY, &m), EINVAL);
    p = mmap(NULL, 3 * 4096, PROT_READ, MAP_SHARED, f, 0);
    expect("mmap-beyond", p == MAP_FAILED ? -1 : 0, EINVAL);
    p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, f, 2 * 4096);
    expect("mmap-offset-beyond", p == MAP_FAILED ? -1 : 0, EINVAL);
    expect("read-nothing-pending", read(f, &ev, sizeof ev) < 0 ? -1 : 0, EAGAIN);
    p = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
    int mapped = p != MAP_FAILED;
    if (mapped) {
        memcpy(p, "chk", 4);
        mapped = !memcmp(p, "chk", 4) && !munmap(p, 2 * 4096);
    }
    expect("mmap-whole", mapped ? 0 : -1, 0);
    close(f);
    printf("QVM-SHM-CHECKS %d %d\n", passed, checks);
    return passed == checks ? 0 : 1;
}

static int usage(void) {
    fprintf(stderr, "usage: qvm-shmtest peer DEV NAME SIZE ROLE(1|2) MIB | info DEV NAME | check DEV NAME\n");
    return 2;
}

int main(int argc, char **argv) {
    struct qvmshm_attach a;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && !strcmp(argv[1], "info")) {
        attach(argv[2], argv[3], 0, &a);
        printf("QVM-SHM-INFO size %" PRIu64 " idx %u active 0x%x\n", (uint64_t)a.size, a.idx,
               a.active);
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "check")) return check(argv[2], argv[3]);
    if (argc != 7 || strcmp(argv[1], "peer")) return usage();
    char *end;
    uint64_t size = strtoull(argv[4], &end, 0);
    if (*end || size == 0) return usage();
    int role = atoi(argv[5]);
    uint64_t mib = strtoull(argv[6], &end, 0);
    if ((role != 1 && role != 2) || *end || mib == 0 || mib > 4096) return usage();
    deadline = now() + 600;

    attach(argv[2], argv[3], size, &a);
    if (a.size < QVMSHM_PAGE + 2 * CHUNK) {
        fprintf(stderr, "qvm-shmtest: region of %" PRIu64 " bytes, need %u\n", (uint64_t)a.size,
                QVMSHM_PAGE + 2 * CHUNK);
        printf("QVM-SHM-ERROR region too small\n");
        return 1;
    }
    void *m = mmap(NULL, a.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) die("mmap");
    data = m;
    hdr = m;
    unsigned nslots = (unsigned)((a.size - QVMSHM_PAGE) / CHUNK);
    if (nslots > MAX_SLOTS) nslots = MAX_SLOTS;
    printf("QVM-SHM-ATTACH idx %u size %" PRIu64 " active 0x%x slots %u\n", a.idx,
           (uint64_t)a.size, a.active, nslots);

    /* Register, tell everyone, wait for the other role. */
    int other = 3 - role;
    if (ld32(&hdr->magic) != MAGIC) st32(&hdr->magic, MAGIC);
    st32(&hdr->idx[role], self_idx + 1);
    notify(active & ~(1u << self_idx) & 0xffffu);
    uint32_t peer;
    while ((peer = ld32(&hdr->idx[other])) == 0) wait_event("the other guest");
    peer -= 1;
    if (peer >= QVMSHM_MAX_CLIENTS || peer == self_idx) {
        printf("QVM-SHM-ERROR bad peer index %u\n", peer);
        return 1;
    }
    uint32_t pmask = 1u << peer;
    notify(pmask); /* it may be waiting for our registration */
    printf("QVM-SHM-PEER %u\n", peer);

    /* Notification round trips. */
    double t0 = now();
    for (uint32_t i = 1; i <= ROUNDS; i++) {
        if (role == 1) {
            st32(&hdr->ping, i);
            notify(pmask);
            while (ld32(&hdr->pong) != i) wait_event("a pong");
        } else {
            while (ld32(&hdr->ping) != i) wait_event("a ping");
            st32(&hdr->pong, i);
            notify(pmask);
        }
    }
    if (role == 1) printf("QVM-SHM-RTT %.1f %d\n", (now() - t0) * 1e6 / ROUNDS, ROUNDS);

    /* The data, both ways. */
    uint64_t total = mib << 20, sent, got;
    double s_mibs, r_mibs;
    if (role == 1) {
        sent = transfer(0, 1, total, pmask, nslots, 0x9e3779b97f4a7c15ull, &s_mibs);
        got = transfer(1, 0, total, pmask, nslots, 0, &r_mibs);
    } else {
        got = transfer(0, 0, total, pmask, nslots, 0, &r_mibs);
        sent = transfer(1, 1, total, pmask, nslots, 0xd1b54a32d192ed03ull, &s_mibs);
    }
    printf("QVM-SHM-SENT %d %016" PRIx64 " %" PRIu64 " %.1f\n", role, sent, total, s_mibs);
    printf("QVM-SHM-RECV %d %016" PRIx64 " %" PRIu64 " %.1f\n", role, got, total, r_mibs);
    if (role == 1) {
        char text[128];
        int n = snprintf(text, sizeof text, "QVMSHM-DONE %016" PRIx64 " %016" PRIx64, sent, got);
        memcpy(data + TEXT_OFF, text, (size_t)n + 1);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        notify(active & ~(1u << self_idx) & 0xffffu);
    }
    printf("QVM-SHM-DONE role %d wakeups %lu active 0x%x\n", role, wakeups, active);
    munmap(m, a.size);
    close(fd);
    return 0;
}
