/* qvm shared-memory regions (see qvm_shm.h for the object's layout). */
#define _GNU_SOURCE
#include "qvm_shm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x314d48534d5651ull /* "QVMSHM1" */
/* Lock bytes, far beyond any object's end: the table, then one per slot. */
#define LOCK_TABLE ((off_t)1 << 40)
#define LOCK_SLOT(i) (LOCK_TABLE + 1 + (off_t)(i))

struct qvm_shm_header {
    uint64_t magic;
    uint64_t pages;
    uint32_t active; /* bitset of clients */
    uint32_t reserved;
    struct {
        uint32_t pending;  /* bit j: client j notified this one */
        uint32_t doorbell; /* bumped (and futex-woken) on every event */
        int32_t pid;       /* 0: free slot */
        uint32_t reserved;
    } c[QVM_SHM_MAX_CLIENTS];
};

static int lock_byte(int fd, off_t at, int type, int wait) {
    struct flock l;
    memset(&l, 0, sizeof l);
    l.l_type = (short)type;
    l.l_whence = SEEK_SET;
    l.l_start = at;
    l.l_len = 1;
    return fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &l);
}

/* 1 when another open file description holds slot i's lock. */
static int slot_held(int fd, unsigned i) {
    struct flock l;
    memset(&l, 0, sizeof l);
    l.l_type = F_WRLCK;
    l.l_whence = SEEK_SET;
    l.l_start = LOCK_SLOT(i);
    l.l_len = 1;
    if (fcntl(fd, F_OFD_GETLK, &l) != 0) return 1; /* cannot tell: keep it */
    return l.l_type != F_UNLCK;
}

static void ring(struct qvm_shm_header *h, unsigned i) {
    __atomic_add_fetch(&h->c[i].doorbell, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &h->c[i].doorbell, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Rings every active client but `self` (slot changes). */
static void ring_others(struct qvm_shm_header *h, unsigned self) {
    uint32_t act = __atomic_load_n(&h->active, __ATOMIC_SEQ_CST);
    for (unsigned i = 0; i < QVM_SHM_MAX_CLIENTS; i++)
        if (i != self && (act & (1u << i))) ring(h, i);
}

int qvm_shm_name_ok(const char *name) {
    size_t n = 0;
    if (!name || name[0] == '.' || name[0] == 0) return 0;
    for (; name[n]; n++) {
        char ch = name[n];
        if (n >= QVM_SHM_NAME_MAX - 1) return 0;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

static void object_name(const char *name, char *out, size_t len) {
    size_t p = 0;
    const char *pre = "/qvm-shm-";
    while (*pre && p + 1 < len) out[p++] = *pre++;
    while (*name && p + 1 < len) out[p++] = *name++;
    out[p] = 0;
}

static int errno_status(int e) {
    if (e == EACCES || e == EPERM) return QVM_SHM_NO_PERMISSION;
    if (e == ENOMEM || e == ENOSPC || e == EFBIG) return QVM_SHM_NOMEM;
    if (e == ENOENT) return QVM_SHM_DOES_NOT_EXIST;
    return QVM_SHM_UNKNOWN_FAILURE;
}

/* Opens (creating with `pages` when pages != 0) and maps the region, with
 * the table lock held on return (QVM_SHM_OK). */
static int open_locked(const char *name, uint64_t pages, struct qvm_shm *s) {
    char obj[64];
    struct stat st;
    if (!qvm_shm_name_ok(name)) return QVM_SHM_ILLEGAL_NAME;
    if (pages > QVM_SHM_MAX_PAGES) return QVM_SHM_NOMEM;
    object_name(name, obj, sizeof obj);
    int fd = shm_open(obj, O_RDWR | O_CLOEXEC | (pages ? O_CREAT : 0), 0660);
    if (fd < 0) return errno_status(errno);
    if (lock_byte(fd, LOCK_TABLE, F_WRLCK, 1) != 0) {
        close(fd);
        return QVM_SHM_UNKNOWN_FAILURE;
    }
    int rc = QVM_SHM_OK;
    if (fstat(fd, &st) != 0) {
        rc = QVM_SHM_UNKNOWN_FAILURE;
    } else if (st.st_size == 0) { /* new (or left empty by a failed creator) */
        if (!pages) rc = QVM_SHM_DOES_NOT_EXIST;
        else if (ftruncate(fd, (off_t)((pages + 1) * QVM_SHM_PAGE)) != 0) rc = errno_status(errno);
        else st.st_size = (off_t)((pages + 1) * QVM_SHM_PAGE);
    }
    struct qvm_shm_header *h = MAP_FAILED;
    if (rc == QVM_SHM_OK) {
        h = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (h == MAP_FAILED) rc = errno_status(errno);
    }
    if (rc == QVM_SHM_OK) {
        if (h->magic == 0) { /* initialize (the object is zero-filled) */
            h->pages = (uint64_t)st.st_size / QVM_SHM_PAGE - 1;
            __atomic_store_n(&h->magic, MAGIC, __ATOMIC_RELEASE);
        }
        /* never trust the header beyond what the object holds */
        if (h->magic != MAGIC || (uint64_t)st.st_size % QVM_SHM_PAGE || h->pages == 0 ||
            h->pages > QVM_SHM_MAX_PAGES || h->pages + 1 > (uint64_t)st.st_size / QVM_SHM_PAGE) {
            munmap(h, (size_t)st.st_size);
            rc = QVM_SHM_UNKNOWN_FAILURE;
        }
    }
    if (rc != QVM_SHM_OK) {
        lock_byte(fd, LOCK_TABLE, F_UNLCK, 0);
        close(fd);
        return rc;
    }
    memset(s, 0, sizeof *s);
    s->fd = fd;
    s->hdr = h;
    s->pages = h->pages;
    s->data = (char *)h + QVM_SHM_PAGE;
    s->idx = QVM_SHM_MAX_CLIENTS;
    strncpy(s->name, name, sizeof s->name - 1);
    return QVM_SHM_OK;
}

static void unmap_close(struct qvm_shm *s) {
    munmap(s->hdr, (size_t)((s->pages + 1) * QVM_SHM_PAGE));
    close(s->fd);
    s->fd = -1;
    s->hdr = NULL;
}

/* Frees dead clients' slots; table lock held. */
static unsigned reap_locked(struct qvm_shm *s) {
    struct qvm_shm_header *h = s->hdr;
    unsigned n = 0;
    for (unsigned i = 0; i < QVM_SHM_MAX_CLIENTS; i++) {
        if (i == s->idx || __atomic_load_n(&h->c[i].pid, __ATOMIC_ACQUIRE) == 0) continue;
        if (slot_held(s->fd, i)) continue;
        __atomic_and_fetch(&h->active, ~(1u << i), __ATOMIC_SEQ_CST);
        __atomic_store_n(&h->c[i].pending, 0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&h->c[i].pid, 0, __ATOMIC_RELEASE);
        n++;
    }
    if (n) ring_others(h, s->idx);
    return n;
}

int qvm_shm_create(const char *name, uint64_t pages) {
    struct qvm_shm s;
    if (!pages) return QVM_SHM_NOMEM;
    int rc = open_locked(name, pages, &s);
    if (rc != QVM_SHM_OK) return rc;
    lock_byte(s.fd, LOCK_TABLE, F_UNLCK, 0);
    unmap_close(&s);
    return QVM_SHM_OK;
}

int qvm_shm_attach(const char *name, uint64_t pages, struct qvm_shm *s) {
    int rc = open_locked(name, pages, s);
    if (rc != QVM_SHM_OK) return rc;
    struct qvm_shm_header *h = s->hdr;
    reap_locked(s);
    unsigned i = 0;
    for (; i < QVM_SHM_MAX_CLIENTS; i++)
        if (__atomic_load_n(&h->c[i].pid, __ATOMIC_ACQUIRE) == 0 && !slot_held(s->fd, i) &&
            lock_byte(s->fd, LOCK_SLOT(i), F_WRLCK, 0) == 0)
            break;
    if (i == QVM_SHM_MAX_CLIENTS) {
        lock_byte(s->fd, LOCK_TABLE, F_UNLCK, 0);
        unmap_close(s);
        return QVM_SHM_CLIENT_MAX;
    }
    s->idx = i;
    __atomic_store_n(&h->c[i].pending, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&h->c[i].pid, (int32_t)getpid(), __ATOMIC_RELEASE);
    __atomic_or_fetch(&h->active, 1u << i, __ATOMIC_SEQ_CST);
    ring_others(h, i);
    lock_byte(s->fd, LOCK_TABLE, F_UNLCK, 0);
    return QVM_SHM_OK;
}

void qvm_shm_leave(struct qvm_shm *s) {
    if (!s->hdr || s->left) return;
    struct qvm_shm_header *h = s->hdr;
    s->left = 1;
    lock_byte(s->fd, LOCK_TABLE, F_WRLCK, 1);
    if (s->idx < QVM_SHM_MAX_CLIENTS) {
        __atomic_and_fetch(&h->active, ~(1u << s->idx), __ATOMIC_SEQ_CST);
        __atomic_store_n(&h->c[s->idx].pending, 0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&h->c[s->idx].pid, 0, __ATOMIC_RELEASE);
        ring_others(h, s->idx);
        lock_byte(s->fd, LOCK_SLOT(s->idx), F_UNLCK, 0);
    }
    lock_byte(s->fd, LOCK_TABLE, F_UNLCK, 0);
}

void qvm_shm_detach(struct qvm_shm *s) {
    if (!s->hdr) return;
    qvm_shm_leave(s);
    unmap_close(s);
}

uint32_t qvm_shm_status(struct qvm_shm *s, int clear) {
    struct qvm_shm_header *h = s->hdr;
    uint32_t p = clear ? __atomic_exchange_n(&h->c[s->idx].pending, 0, __ATOMIC_SEQ_CST)
                       : __atomic_load_n(&h->c[s->idx].pending, __ATOMIC_SEQ_CST);
    uint32_t a = __atomic_load_n(&h->active, __ATOMIC_SEQ_CST);
    return ((a & 0xffffu) << 16) | (p & 0xffffu);
}

unsigned qvm_shm_notify(struct qvm_shm *s, uint32_t mask) {
    struct qvm_shm_header *h = s->hdr;
    unsigned n = 0;
    mask &= __atomic_load_n(&h->active, __ATOMIC_SEQ_CST) & 0xffffu;
    for (unsigned i = 0; i < QVM_SHM_MAX_CLIENTS; i++) {
        if (!(mask & (1u << i))) continue;
        __atomic_or_fetch(&h->c[i].pending, 1u << s->idx, __ATOMIC_SEQ_CST);
        ring(h, i);
        n++;
    }
    return n;
}

uint32_t qvm_shm_doorbell(struct qvm_shm *s) {
    return __atomic_load_n(&s->hdr->c[s->idx].doorbell, __ATOMIC_SEQ_CST);
}

void qvm_shm_wait(struct qvm_shm *s, uint32_t seen, unsigned timeout_ms) {
    struct timespec ts = {(time_t)(timeout_ms / 1000), (long)(timeout_ms % 1000) * 1000000L};
    syscall(SYS_futex, &s->hdr->c[s->idx].doorbell, FUTEX_WAIT, seen, &ts, NULL, 0);
}

void qvm_shm_ring_self(struct qvm_shm *s) { ring(s->hdr, s->idx); }

unsigned qvm_shm_reap(struct qvm_shm *s) {
    if (lock_byte(s->fd, LOCK_TABLE, F_WRLCK, 1) != 0) return 0;
    unsigned n = reap_locked(s);
    lock_byte(s->fd, LOCK_TABLE, F_UNLCK, 0);
    return n;
}

int qvm_shm_unlink(const char *name) {
    char obj[64];
    if (!qvm_shm_name_ok(name)) return QVM_SHM_ILLEGAL_NAME;
    object_name(name, obj, sizeof obj);
    return shm_unlink(obj) == 0 ? QVM_SHM_OK : errno_status(errno);
}
