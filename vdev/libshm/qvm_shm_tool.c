/*
 * qvm-shm: the host side of `vdev shmem` from a shell, on libshm.
 *
 *   qvm-shm create NAME SIZE            create region NAME (SIZE bytes, rounded
 *                                       up to 4 KiB pages) unless it exists
 *   qvm-shm put NAME OFFSET TEXT [MASK] attach, copy TEXT (and its NUL) to the
 *                                       data at OFFSET, notify clients MASK
 *                                       (default: every other client), detach
 *   qvm-shm get NAME OFFSET LEN         attach, print LEN data bytes at
 *                                       OFFSET up to the first NUL, detach
 *   qvm-shm wait NAME SECONDS           attach, wait for a notification,
 *                                       print "from MASK" and the client
 *                                       index, detach (exit 1: none came)
 *   qvm-shm status NAME                 attach, print "pages P idx I active
 *                                       MASK", detach
 *   qvm-shm unlink NAME                 remove the object
 *
 * Exit status: 0, 1 (timeout), 2 (usage), or 10 + the guest_shm status
 * code of a failed create/attach.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qvm_shm.h"

static int usage(void) {
    fprintf(stderr,
            "usage: qvm-shm create NAME SIZE | put NAME OFFSET TEXT [MASK] | get NAME OFFSET LEN"
            " | wait NAME SECONDS | status NAME | unlink NAME\n");
    return 2;
}

static int number(const char *s, unsigned long long *out) {
    char *end = NULL;
    *out = strtoull(s, &end, 0);
    return end != s && *end == 0;
}

static int attach(const char *name, struct qvm_shm *s) {
    int rc = qvm_shm_attach(name, 0, s);
    if (rc != QVM_SHM_OK) fprintf(stderr, "qvm-shm: %s: status %d\n", name, rc);
    return rc;
}

static uint64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

int main(int argc, char **argv) {
    struct qvm_shm s;
    unsigned long long a = 0, b = 0;
    if (argc < 3) return usage();
    const char *cmd = argv[1], *name = argv[2];
    if (!strcmp(cmd, "create") && argc == 4 && number(argv[3], &a) && a) {
        int rc = qvm_shm_create(name, (a + QVM_SHM_PAGE - 1) / QVM_SHM_PAGE);
        return rc == QVM_SHM_OK ? 0 : 10 + rc;
    }
    if (!strcmp(cmd, "unlink") && argc == 3) return qvm_shm_unlink(name) == QVM_SHM_OK ? 0 : 1;
    if (!strcmp(cmd, "put") && (argc == 5 || argc == 6) && number(argv[3], &a) &&
        (argc == 5 || number(argv[5], &b))) {
        int rc = attach(name, &s);
        if (rc != QVM_SHM_OK) return 10 + rc;
        size_t len = strlen(argv[4]) + 1;
        int ok = a <= s.pages * QVM_SHM_PAGE && len <= s.pages * QVM_SHM_PAGE - a;
        if (ok) {
            memcpy((char *)s.data + a, argv[4], len);
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            qvm_shm_notify(&s, argc == 6 ? (uint32_t)b : ~(1u << s.idx));
        }
        qvm_shm_detach(&s);
        if (!ok) fprintf(stderr, "qvm-shm: offset/length outside the region\n");
        return ok ? 0 : 2;
    }
    if (!strcmp(cmd, "get") && argc == 5 && number(argv[3], &a) && number(argv[4], &b)) {
        int rc = attach(name, &s);
        if (rc != QVM_SHM_OK) return 10 + rc;
        int ok = a <= s.pages * QVM_SHM_PAGE && b <= s.pages * QVM_SHM_PAGE - a;
        if (ok) {
            const char *p = (const char *)s.data + a;
            size_t n = strnlen(p, (size_t)b);
            fwrite(p, 1, n, stdout);
            putchar('\n');
        }
        qvm_shm_detach(&s);
        return ok ? 0 : 2;
    }
    if (!strcmp(cmd, "wait") && argc == 4 && number(argv[3], &a)) {
        int rc = attach(name, &s);
        if (rc != QVM_SHM_OK) return 10 + rc;
        printf("idx %u\n", s.idx);
        fflush(stdout);
        uint64_t end = now_ms() + a * 1000u;
        uint32_t got = 0;
        for (;;) { /* bounded by the deadline */
            uint32_t bell = qvm_shm_doorbell(&s);
            got = qvm_shm_status(&s, 1) & 0xffffu;
            uint64_t t = now_ms();
            if (got || t >= end) break;
            qvm_shm_wait(&s, bell, (unsigned)(end - t < 1000 ? end - t : 1000));
        }
        if (got) printf("from 0x%x\n", got);
        qvm_shm_detach(&s);
        return got ? 0 : 1;
    }
    if (!strcmp(cmd, "status") && argc == 3) {
        int rc = attach(name, &s);
        if (rc != QVM_SHM_OK) return 10 + rc;
        qvm_shm_reap(&s);
        uint32_t st = qvm_shm_status(&s, 0);
        printf("pages %llu idx %u active 0x%x\n", (unsigned long long)s.pages, s.idx, st >> 16);
        qvm_shm_detach(&s);
        return 0;
    }
    return usage();
}
