/*
 * qvm-blkbench: a tiny static block benchmark for the test guest
 * (test/guest/guest.build puts it at /bin/qvm-blkbench).
 *   qvm-blkbench gen SEED MIB          pseudo-random bytes (xorshift64*) to stdout
 *   qvm-blkbench seqw DEV MIB          O_DIRECT sequential write, 1 MiB blocks, fdatasync
 *   qvm-blkbench seqr DEV MIB          O_DIRECT sequential read, 1 MiB blocks
 *   qvm-blkbench randr DEV MIB SECS    O_DIRECT 4 KiB reads at random aligned
 *                                      offsets inside the first MIB MiB, for SECS s
 * The measuring commands print one line: "<what> <value> <unit> <bytes|ops> <ns>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static void fill(uint8_t *buf, size_t n)
{
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t x = rnd();
        memcpy(buf + i, &x, 8);
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: qvm-blkbench gen SEED MIB | seqw DEV MIB | seqr DEV MIB | "
                    "randr DEV MIB SECS\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 4) return usage();
    const char *cmd = argv[1];
    const size_t blk = 1u << 20;
    uint8_t *buf;
    if (posix_memalign((void **)&buf, 4096, blk) != 0) return 1;
    if (!strcmp(cmd, "gen")) {
        rng_state = strtoull(argv[2], NULL, 0) * 2654435761ull + 1;
        long mib = atol(argv[3]);
        for (long i = 0; i < mib; i++) {
            fill(buf, blk);
            if (fwrite(buf, 1, blk, stdout) != blk) return 1;
        }
        return fflush(stdout) == 0 ? 0 : 1;
    }
    long mib = atol(argv[3]);
    if (mib <= 0) return usage();
    int wr = !strcmp(cmd, "seqw");
    int fd = open(argv[2], (wr ? O_WRONLY : O_RDONLY) | O_DIRECT);
    if (fd < 0) {
        fprintf(stderr, "%s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    if (wr || !strcmp(cmd, "seqr")) {
        rng_state = 7;
        fill(buf, blk);
        uint64_t t0 = now_ns();
        for (long i = 0; i < mib; i++) {
            ssize_t k = wr ? pwrite(fd, buf, blk, (off_t)i * (off_t)blk)
                           : pread(fd, buf, blk, (off_t)i * (off_t)blk);
            if (k != (ssize_t)blk) {
                fprintf(stderr, "%s at %ld MiB: %s\n", cmd, i, k < 0 ? strerror(errno) : "short");
                return 1;
            }
        }
        if (wr && fdatasync(fd) != 0) return 1;
        uint64_t dt = now_ns() - t0;
        printf("%s %.1f MiB/s %llu %llu\n", cmd, (double)mib * 1e9 / (double)(dt ? dt : 1),
               (unsigned long long)mib << 20, (unsigned long long)dt);
        return 0;
    }
    if (!strcmp(cmd, "randr") && argc >= 5) {
        double secs = atof(argv[4]);
        uint64_t blocks = ((uint64_t)mib << 20) / 4096, ops = 0;
        rng_state = 12345;
        uint64_t t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9), t;
        do {
            for (int k = 0; k < 64; k++) {
                off_t off = (off_t)(rnd() % blocks) * 4096;
                if (pread(fd, buf, 4096, off) != 4096) {
                    fprintf(stderr, "randr: %s\n", strerror(errno));
                    return 1;
                }
                ops++;
            }
            t = now_ns();
        } while (t < end);
        uint64_t dt = t - t0;
        printf("randr %.0f IOPS %llu %llu\n", (double)ops * 1e9 / (double)dt,
               (unsigned long long)ops, (unsigned long long)dt);
        return 0;
    }
    return usage();
}
