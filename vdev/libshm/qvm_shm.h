/*
 * qvm shared-memory regions: the host side of `vdev shmem`, as a small C
 * library for vdev-shmem.so and for host programs (qvm-shm).
 *
 * A region NAME is the POSIX shared-memory object "/qvm-shm-NAME"
 * (/dev/shm/qvm-shm-NAME): one 4 KiB header page that guests never see,
 * then the data pages. The header holds, per client slot (at most 16), the
 * pending-notification bits (bit i: client i notified this one) and a
 * doorbell counter that notifiers bump and futex-wake, and the bitset of
 * active clients. A client holds an open-file-description lock on its
 * slot's byte of the object (beyond its end, so it costs nothing); the
 * kernel drops the lock when the process dies, and any other client's
 * qvm_shm_reap() then frees the slot and tells the rest (their doorbells).
 * Creation and slot changes are serialized by another such lock.
 *
 * Status codes are QNX's guest_shm ones (QVM_SHM_OK ... DOES_NOT_EXIST).
 */
#ifndef QVM_SHM_H
#define QVM_SHM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QVM_SHM_MAX_CLIENTS 16
#define QVM_SHM_NAME_MAX 32           /* bytes, the terminating NUL included */
#define QVM_SHM_PAGE 4096u
#define QVM_SHM_MAX_PAGES (1u << 18)  /* 1 GiB of data */

enum qvm_shm_status {
    QVM_SHM_OK = 0,
    QVM_SHM_UNKNOWN_FAILURE = 1,
    QVM_SHM_NOMEM = 2,
    QVM_SHM_CLIENT_MAX = 3,
    QVM_SHM_ILLEGAL_NAME = 4,
    QVM_SHM_NO_PERMISSION = 5,
    QVM_SHM_DOES_NOT_EXIST = 6,
};

struct qvm_shm_header;

/* One client's attachment. */
struct qvm_shm {
    int fd;
    struct qvm_shm_header *hdr; /* the mapping: header page, then data */
    void *data;                 /* data pages */
    uint64_t pages;             /* number of data pages */
    unsigned idx;               /* this client's slot */
    int left;                   /* qvm_shm_leave done */
    char name[QVM_SHM_NAME_MAX];
};

/* 1 when NAME is a legal region name: 1-31 bytes of [A-Za-z0-9._-], not
 * starting with '.'. */
int qvm_shm_name_ok(const char *name);

/* Creates region NAME with `pages` data pages unless it exists (then it is
 * left as it is). Returns a status code. */
int qvm_shm_create(const char *name, uint64_t pages);

/* Attaches to region NAME as a new client. When it does not exist and
 * `pages` is not 0 it is created with that many data pages; an existing
 * region keeps its own size (s->pages says it). Returns a status code;
 * on QVM_SHM_OK *s is filled (the caller ends it with qvm_shm_detach). */
int qvm_shm_attach(const char *name, uint64_t pages, struct qvm_shm *s);

/* Leaves the region: the slot is freed, the others' doorbells rung; the
 * mapping stays (and the other calls stay safe: they act on the freed
 * slot) until qvm_shm_detach. */
void qvm_shm_leave(struct qvm_shm *s);
/* Leaves (unless done) and unmaps: *s is finished. */
void qvm_shm_detach(struct qvm_shm *s);

/* (active clients bitset << 16) | this client's pending bits; with
 * `clear` the pending bits are taken (atomically reset). */
uint32_t qvm_shm_status(struct qvm_shm *s, int clear);

/* Notifies every active client in `mask` (bit i = client i; bits of
 * inactive clients and above 15 are ignored): sets this client's bit in
 * their pending bits and rings their doorbells. Returns how many. */
unsigned qvm_shm_notify(struct qvm_shm *s, uint32_t mask);

/* This client's doorbell counter, and a wait until it differs from `seen`
 * or `timeout_ms` passes (futex; spurious returns are possible). */
uint32_t qvm_shm_doorbell(struct qvm_shm *s);
void qvm_shm_wait(struct qvm_shm *s, uint32_t seen, unsigned timeout_ms);
/* Rings this client's own doorbell (wakes its waiter). */
void qvm_shm_ring_self(struct qvm_shm *s);

/* Frees the slots of clients whose process died; returns how many. */
unsigned qvm_shm_reap(struct qvm_shm *s);

/* Removes region NAME's object (attached clients keep their mappings). */
int qvm_shm_unlink(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* QVM_SHM_H */
