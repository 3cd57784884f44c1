/*
 * vdev shmem: named shared memory and notifications between guests (and
 * host programs), with the register layout of QNX's guest_shm.
 *
 * Placement: a PCI function (vendor 0x1C05, device 0x0001; BAR 0 = the 4 KiB
 * factory page, with a one-vector MSI-X table at 0x800 and its PBA at 0xC00;
 * INTx pin A) unless `loc` is given, then an MMIO factory page there (and
 * `intr` is required; on a device-tree machine a node compatible
 * "qvm,guest_shm").
 *
 * Factory page: 0 signature (u64), 8 shmem (u64, guest-physical address of
 * the control page of the region last created/attached), 16 vector (u32),
 * 20 status (u32), 24 size (u32, pages; a write creates or attaches the
 * region named in `name`), 28 name (32 bytes), 60 find (u32; a write looks
 * for this guest's existing connection to `name`). Each connection is a
 * range qvm places (qvm_region_alloc): its control page (trapped: 0 status
 * = active clients << 16 | pending bits, cleared by the read; 4 idx; 8
 * notify; 12 detach) and then the region's data pages, host shared memory
 * mapped as guest memory (qvm_mem_map). The regions are libshm objects
 * (vdev/libshm): any qvm and host program attaches them by name.
 *
 * Notifications: a thread per connection waits on its doorbell in the
 * shared object; the guest's interrupt is an MSI when it enabled MSI-X,
 * else the level of its interrupt (INTx or `intr`), high while a
 * connection has pending bits or an active-client change the guest has not
 * read yet.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <qvm/vdev.h>

#include "qvm_shm.h"

#define SIGNATURE 0x4d534732474d5651ull
#define FACTORY_SIZE 0x1000u
#define MSIX_TABLE 0x800u
#define MSIX_PBA 0xc00u
#define MAX_CONNS 16
#define MAX_RULES 32
#define REG_SIG 0
#define REG_SHMEM 8
#define REG_VECTOR 16
#define REG_STATUS 20
#define REG_SIZE 24
#define REG_NAME 28
#define REG_FIND 60
#define REG_END 64
/* Where connections are placed: first between 1 and 3 GiB (reachable by
 * 32-bit guests; on both machines only RAM and device regions live there,
 * and qvm avoids those), else between 4 and 64 GiB (every x86_64 guest's
 * physical address width and arm64's 40-bit IPA reach it). */
static const uint64_t place[2][2] = {{1ull << 30, 3ull << 30}, {1ull << 32, 1ull << 36}};

struct shmem;

struct conn {
    int used;     /* attached, or its thread not joined yet */
    int attached; /* the guest sees it */
    int stop;     /* atomic: the thread ends */
    int thread;   /* a thread was started */
    pthread_t thr;
    struct qvm_shm shm;
    unsigned region;      /* qvm region index of control page + data */
    uint64_t base;        /* its guest-physical address */
    uint32_t seen_active; /* active bits the guest read last */
    uint32_t last_bell;   /* doorbell value of the last MSI */
    struct shmem *s;
};

struct rule {
    int allow;
    char pattern[64];
};

struct shmem {
    qvm_vdev_t *dev;
    int pci;
    unsigned vector;
    uint64_t shmem_gpa;
    uint32_t status, size;
    char name[QVM_SHM_NAME_MAX];
    struct rule rules[MAX_RULES];
    unsigned nrules;
    int any_allow;
    struct conn conns[MAX_CONNS];
    uint32_t msix[4]; /* address lo, address hi, data, vector control */
    int msix_pending;
    int level;
    uint64_t creates; /* counters, for STATUS */
    uint64_t notifies;
    /* The opener: a thread started at set-up that opens and maps regions
     * for the guest's `size` writes. Those run on a vCPU thread, which
     * qvm's system-call filter does not let open a file (shm_open); a
     * thread started before the filters may (vmm/README.md, "System-call
     * filter"). The vCPU waits for the result, as before. */
    struct {
        pthread_t th;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        int running, quit, busy;
        const char *name;
        uint64_t pages;
        struct qvm_shm *shm;
        int rc;
    } op;
};

static const char *const options[] = {"allow", "deny", "create", NULL};
enum { OPT_ALLOW, OPT_DENY, OPT_CREATE };

/* ---- interrupts --------------------------------------------------------- */

/* Whether connection c has something the guest has not read. */
static int conn_wants(struct conn *c) {
    if (!c->attached) return 0;
    uint32_t st = qvm_shm_status(&c->shm, 0);
    return (st & 0xffffu) || (st >> 16) != c->seen_active;
}

/* Re-evaluates the guest's interrupt; `bell` != 0: a new event arrived. */
static void update_irq(struct shmem *s, int bell) {
    int want = 0;
    for (unsigned i = 0; i < MAX_CONNS; i++) want |= conn_wants(&s->conns[i]);
    uint32_t pci = qvm_pci_state(s->dev);
    if (s->pci && (pci & QVM_PCI_STATE_MSIX_ENABLE)) {
        if (s->level) {
            qvm_intr_set(s->dev, 0, 0);
            s->level = 0;
        }
        if (!want || !bell) return;
        if ((pci & QVM_PCI_STATE_MSIX_MASKALL) || (s->msix[3] & 1u)) {
            s->msix_pending = 1;
            return;
        }
        qvm_msi(s->dev, ((uint64_t)s->msix[1] << 32) | s->msix[0], s->msix[2]);
        return;
    }
    if (s->pci && (pci & QVM_PCI_STATE_INTX_DISABLE)) want = 0;
    if (want != s->level) {
        qvm_intr_set(s->dev, 0, want);
        s->level = want;
    }
}

static void *watch(void *arg) {
    struct conn *c = arg;
    struct shmem *s = c->s;
    uint64_t next_reap = 0;
    for (;;) {
        uint32_t bell = qvm_shm_doorbell(&c->shm);
        /* `stop` is only acted on under the device lock: conn_close (which
         * holds it) still uses the mapping after setting the flag, so the
         * thread must not unmap before conn_close has returned. */
        qvm_dev_lock(s->dev);
        if (__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
            qvm_dev_unlock(s->dev);
            break;
        }
        int fresh = bell != c->last_bell;
        c->last_bell = bell;
        update_irq(s, fresh);
        qvm_dev_unlock(s->dev);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts); /* real time, whatever clock the host gives devices */
        uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        if (now >= next_reap) { /* clients whose process died drop out */
            qvm_shm_reap(&c->shm);
            next_reap = now + 500000000ull;
        }
        qvm_shm_wait(&c->shm, bell, 500);
    }
    qvm_shm_detach(&c->shm);
    return NULL;
}

/* ---- connections -------------------------------------------------------- */

static int permitted(const struct shmem *s, const char *name) {
    for (unsigned i = 0; i < s->nrules; i++)
        if (fnmatch(s->rules[i].pattern, name, 0) == 0) return s->rules[i].allow;
    return !s->any_allow; /* allow ...: implicit deny *; deny ...: implicit allow * */
}

/* Stops showing connection c to the guest; its thread detaches and ends.
 * Called with the device lock held (a register write or a control). */
static void conn_close(struct shmem *s, struct conn *c) {
    if (!c->attached) return;
    c->attached = 0;
    qvm_mem_unmap(s->dev, c->region, QVM_SHM_PAGE);
    qvm_region_free(s->dev, c->region);
    __atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
    qvm_shm_leave(&c->shm); /* the others see it now; the thread unmaps */
    if (c->thread) qvm_shm_ring_self(&c->shm);
    else {
        qvm_shm_detach(&c->shm);
        c->used = 0;
    }
    update_irq(s, 0);
}

/* A free connection slot (joining finished threads), or NULL. */
static struct conn *conn_slot(struct shmem *s) {
    for (unsigned i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &s->conns[i];
        if (c->used && !c->attached && c->thread && pthread_tryjoin_np(c->thr, NULL) == 0) {
            c->used = 0;
            c->thread = 0;
        }
        if (!c->used) return c;
    }
    return NULL;
}

static void *opener_main(void *arg) {
    struct shmem *s = arg;
    pthread_mutex_lock(&s->op.mu);
    for (;;) {
        while (!s->op.busy && !s->op.quit) pthread_cond_wait(&s->op.cv, &s->op.mu);
        if (s->op.quit) break;
        s->op.rc = qvm_shm_attach(s->op.name, s->op.pages, s->op.shm);
        s->op.busy = 0;
        pthread_cond_broadcast(&s->op.cv);
    }
    pthread_mutex_unlock(&s->op.mu);
    return NULL;
}

static void opener_start(struct shmem *s) {
    if (s->op.running) return;
    pthread_mutex_init(&s->op.mu, NULL);
    pthread_cond_init(&s->op.cv, NULL);
    /* its filter adds what qvm_shm_attach needs beyond a vCPU's list:
     * shm_open (openat); fstat, ftruncate, fcntl locks and mmap are there */
    if (qvm_thread_create(s->dev, &s->op.th, "shm-opener", opener_main, s) == 0) s->op.running = 1;
    else qvm_log(s->dev, QVM_LOG_WARN, "no opener thread: regions are opened on the vCPU threads");
}

static void opener_stop(struct shmem *s) {
    if (!s->op.running) return;
    pthread_mutex_lock(&s->op.mu);
    s->op.quit = 1;
    pthread_cond_broadcast(&s->op.cv);
    pthread_mutex_unlock(&s->op.mu);
    pthread_join(s->op.th, NULL);
    s->op.running = 0;
}

/* qvm_shm_attach on the opener (the caller holds the device lock: one
 * request at a time). */
static int attach(struct shmem *s, const char *name, uint64_t pages, struct qvm_shm *shm) {
    if (!s->op.running) return qvm_shm_attach(name, pages, shm);
    pthread_mutex_lock(&s->op.mu);
    s->op.name = name;
    s->op.pages = pages;
    s->op.shm = shm;
    s->op.busy = 1;
    pthread_cond_broadcast(&s->op.cv);
    while (s->op.busy) pthread_cond_wait(&s->op.cv, &s->op.mu);
    int rc = s->op.rc;
    pthread_mutex_unlock(&s->op.mu);
    return rc;
}

/* A write of `size`: create or attach region `name`. */
static void do_create(struct shmem *s, uint32_t pages) {
    char name[QVM_SHM_NAME_MAX];
    s->creates++;
    if (!memchr(s->name, 0, sizeof s->name)) { /* unterminated */
        s->status = QVM_SHM_ILLEGAL_NAME;
        return;
    }
    memcpy(name, s->name, sizeof name);
    if (!qvm_shm_name_ok(name)) {
        s->status = QVM_SHM_ILLEGAL_NAME;
        return;
    }
    if (!permitted(s, name)) {
        s->status = QVM_SHM_NO_PERMISSION;
        return;
    }
    if (pages > QVM_SHM_MAX_PAGES) {
        s->status = QVM_SHM_NOMEM;
        return;
    }
    struct conn *c = conn_slot(s);
    if (!c) {
        s->status = QVM_SHM_CLIENT_MAX;
        return;
    }
    memset(c, 0, sizeof *c);
    c->s = s;
    int rc = attach(s, name, pages, &c->shm);
    if (rc != QVM_SHM_OK) {
        s->status = (uint32_t)rc;
        return;
    }
    uint64_t bytes = (c->shm.pages + 1) * QVM_SHM_PAGE;
    int r = qvm_region_alloc(s->dev, bytes, QVM_SHM_PAGE, place[0][0], place[0][1], &c->base);
    if (r == -ENOSPC)
        r = qvm_region_alloc(s->dev, bytes, QVM_SHM_PAGE, place[1][0], place[1][1], &c->base);
    if (r < 0) {
        qvm_shm_detach(&c->shm);
        s->status = r == -ENOSPC ? QVM_SHM_NOMEM : QVM_SHM_UNKNOWN_FAILURE;
        return;
    }
    c->region = (unsigned)r;
    rc = qvm_mem_map(s->dev, c->region, QVM_SHM_PAGE, c->shm.data, c->shm.pages * QVM_SHM_PAGE, 1);
    if (rc < 0) {
        qvm_log(s->dev, QVM_LOG_WARN, "region %s: cannot map it into the guest (%s)", name,
                strerror(-rc));
        qvm_region_free(s->dev, c->region);
        qvm_shm_detach(&c->shm);
        s->status = rc == -ENOSPC ? QVM_SHM_NOMEM : QVM_SHM_UNKNOWN_FAILURE;
        return;
    }
    c->used = c->attached = 1;
    c->seen_active = qvm_shm_status(&c->shm, 0) >> 16;
    c->last_bell = qvm_shm_doorbell(&c->shm);
    if (qvm_thread_create(s->dev, &c->thr, "shm-watch", watch, c) == 0) {
        c->thread = 1;
    } else {
        qvm_log(s->dev, QVM_LOG_WARN, "region %s: no notification thread", name);
        conn_close(s, c);
        s->status = QVM_SHM_UNKNOWN_FAILURE;
        return;
    }
    s->shmem_gpa = c->base;
    s->size = (uint32_t)c->shm.pages;
    s->status = QVM_SHM_OK;
}

/* A write of `find`: this guest's connection to `name`. */
static void do_find(struct shmem *s) {
    for (unsigned i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &s->conns[i];
        if (c->attached && memcmp(c->shm.name, s->name, sizeof s->name) == 0) {
            s->shmem_gpa = c->base;
            s->size = (uint32_t)c->shm.pages;
            s->status = QVM_SHM_OK;
            return;
        }
    }
    s->status = QVM_SHM_DOES_NOT_EXIST;
}

static void close_all(struct shmem *s) {
    for (unsigned i = 0; i < MAX_CONNS; i++) conn_close(s, &s->conns[i]);
}

/* ---- registers ---------------------------------------------------------- */

static uint64_t load(const void *data, unsigned n) {
    uint64_t v = 0;
    memcpy(&v, data, n);
    return v;
}

static void factory_image(const struct shmem *s, uint8_t img[REG_END]) {
    uint64_t sig = SIGNATURE;
    memset(img, 0, REG_END);
    memcpy(img + REG_SIG, &sig, 8);
    memcpy(img + REG_SHMEM, &s->shmem_gpa, 8);
    memcpy(img + REG_VECTOR, &s->vector, 4);
    memcpy(img + REG_STATUS, &s->status, 4);
    memcpy(img + REG_SIZE, &s->size, 4);
    memcpy(img + REG_NAME, s->name, sizeof s->name);
}

static int msix_read(struct shmem *s, uint64_t off, unsigned n, void *data) {
    uint8_t img[16];
    if (off >= MSIX_PBA) {
        uint64_t pba = s->msix_pending ? 1 : 0;
        memset(img, 0, sizeof img);
        memcpy(img, &pba, 8);
        off -= MSIX_PBA;
    } else {
        memcpy(img, s->msix, 16);
        off -= MSIX_TABLE;
    }
    if (off + n <= 16) memcpy(data, img + off, n);
    return QVM_DONE;
}

static void msix_write(struct shmem *s, uint64_t off, unsigned n, const void *data) {
    if (off < MSIX_TABLE || off >= MSIX_TABLE + 16 || off + n > MSIX_TABLE + 16) return;
    uint8_t img[16];
    memcpy(img, s->msix, 16);
    memcpy(img + (off - MSIX_TABLE), data, n);
    memcpy(s->msix, img, 16);
    if (s->msix_pending && !(s->msix[3] & 1u) &&
        !(qvm_pci_state(s->dev) & QVM_PCI_STATE_MSIX_MASKALL)) {
        s->msix_pending = 0;
        update_irq(s, 1);
    }
}

static struct conn *conn_of(struct shmem *s, unsigned region) {
    for (unsigned i = 0; i < MAX_CONNS; i++)
        if (s->conns[i].attached && s->conns[i].region == region) return &s->conns[i];
    return NULL;
}

/* Region 0: BAR 0 of the PCI function, or the `loc` page (connections'
 * regions come later: qvm_region_alloc gives a PCI function indexes >= 6). */
static int is_factory(const struct qvm_access *acc) { return acc->region == 0; }

static int shmem_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data) {
    struct shmem *s = state;
    (void)dev;
    unsigned n = acc->size;
    if (is_factory(acc)) {
        if (acc->offset >= FACTORY_SIZE || n > FACTORY_SIZE - acc->offset) return QVM_BUS_ERROR;
        if (s->pci && acc->offset >= MSIX_TABLE) return msix_read(s, acc->offset, n, data);
        if (acc->offset + n <= REG_END) {
            uint8_t img[REG_END];
            factory_image(s, img);
            memcpy(data, img + acc->offset, n);
        }
        return QVM_DONE;
    }
    struct conn *c = conn_of(s, acc->region);
    if (!c || acc->offset >= QVM_SHM_PAGE) return QVM_BUS_ERROR;
    uint32_t v = 0;
    if (acc->offset == 0 && n == 4) {
        v = qvm_shm_status(&c->shm, 1);
        c->seen_active = v >> 16;
        update_irq(s, 0);
    } else if (acc->offset == 4 && n == 4) {
        v = c->shm.idx;
    }
    memcpy(data, &v, n < 4 ? n : 4);
    return QVM_DONE;
}

static int shmem_write(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data) {
    struct shmem *s = state;
    (void)dev;
    unsigned n = acc->size;
    uint64_t off = acc->offset;
    if (is_factory(acc)) {
        if (off >= FACTORY_SIZE || n > FACTORY_SIZE - off) return QVM_BUS_ERROR;
        if (s->pci && off >= MSIX_TABLE) {
            msix_write(s, off, n, data);
            return QVM_DONE;
        }
        for (unsigned i = 0; i < n; i++) /* name bytes */
            if (off + i >= REG_NAME && off + i < REG_NAME + QVM_SHM_NAME_MAX)
                s->name[off + i - REG_NAME] = ((const char *)data)[i];
        if (off <= REG_SIZE && off + n >= REG_SIZE + 4)
            do_create(s, (uint32_t)(load(data, n) >> (8 * (REG_SIZE - off))));
        if (off <= REG_FIND && off + n >= REG_FIND + 4) do_find(s);
        return QVM_DONE;
    }
    struct conn *c = conn_of(s, acc->region);
    if (!c || off >= QVM_SHM_PAGE) return QVM_BUS_ERROR;
    if (off == 8 && n == 4) {
        s->notifies++;
        qvm_shm_notify(&c->shm, (uint32_t)load(data, 4) & 0xffffu);
    } else if (off == 12 && n == 4) {
        conn_close(s, c);
    }
    return QVM_DONE;
}

/* ---- configuration ------------------------------------------------------ */

static int parse_size(const char *v, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 0);
    if (errno || end == v) return -1;
    uint64_t mul = 1;
    if (*end == 'k' || *end == 'K') mul = 1ull << 10, end++;
    else if (*end == 'm' || *end == 'M') mul = 1ull << 20, end++;
    else if (*end == 'g' || *end == 'G') mul = 1ull << 30, end++;
    if (*end || n == 0 || n > (uint64_t)QVM_SHM_MAX_PAGES * QVM_SHM_PAGE / mul) return -1;
    *out = n * mul;
    return 0;
}

static int option(struct shmem *s, int which, const char *value) {
    if (which == OPT_ALLOW || which == OPT_DENY) {
        if (s->nrules >= MAX_RULES || !value || !*value ||
            strlen(value) >= sizeof s->rules[0].pattern) {
            qvm_log(s->dev, QVM_LOG_ERROR, "bad %s pattern `%s` (1-63 bytes, at most %d rules)",
                    options[which], value ? value : "", MAX_RULES);
            return -EINVAL;
        }
        s->rules[s->nrules].allow = which == OPT_ALLOW;
        strcpy(s->rules[s->nrules].pattern, value);
        s->nrules++;
        s->any_allow |= which == OPT_ALLOW;
        return 0;
    }
    /* create NAME,SIZE (bytes; k/M/G suffixes) */
    const char *comma = value ? strchr(value, ',') : NULL;
    char name[QVM_SHM_NAME_MAX];
    uint64_t bytes = 0;
    if (!comma || (size_t)(comma - value) >= sizeof name) {
        qvm_log(s->dev, QVM_LOG_ERROR, "create `%s`: expected NAME,SIZE", value ? value : "");
        return -EINVAL;
    }
    memcpy(name, value, (size_t)(comma - value));
    name[comma - value] = 0;
    if (!qvm_shm_name_ok(name) || parse_size(comma + 1, &bytes) != 0) {
        qvm_log(s->dev, QVM_LOG_ERROR,
                "create `%s`: NAME is 1-31 of [A-Za-z0-9._-], SIZE 1 byte to 1G", value);
        return -EINVAL;
    }
    int rc = qvm_shm_create(name, (bytes + QVM_SHM_PAGE - 1) / QVM_SHM_PAGE);
    if (rc != QVM_SHM_OK) {
        qvm_log(s->dev, QVM_LOG_ERROR, "create `%s`: cannot create the region (status %d)", value,
                rc);
        return -EINVAL;
    }
    return 0;
}

static int declare(struct shmem *s) {
    if (qvm_loc_count(s->dev) > 0) {
        uint32_t space = 0;
        uint64_t base = 0;
        qvm_loc_get(s->dev, 0, &space, &base);
        if (space != QVM_SPACE_MEM || qvm_intr_count(s->dev) == 0) {
            qvm_log(s->dev, QVM_LOG_ERROR, "a `loc` must be a memory address and needs an `intr`");
            return -EINVAL;
        }
        int r = qvm_region_add(s->dev, QVM_SPACE_MEM, base, FACTORY_SIZE);
        return r < 0 ? r : 0;
    }
    struct qvm_pci_function f;
    memset(&f, 0, sizeof f);
    f.struct_size = sizeof f;
    f.vendor_id = 0x1c05;
    f.device_id = 0x0001;
    f.subsystem_vendor_id = 0x1c05;
    f.subsystem_id = 0x0001;
    f.class_code = 0x05; /* memory controller, other */
    f.subclass = 0x80;
    f.intx_pin = 1;
    f.msix_bar = 0;
    f.msix_vectors = 1;
    f.msix_table_offset = MSIX_TABLE;
    f.msix_pba_offset = MSIX_PBA;
    f.bar_size[0] = FACTORY_SIZE;
    f.bar_flags[0] = QVM_PCI_BAR_MEM32;
    int addr = qvm_pci_declare(s->dev, &f);
    if (addr < 0) return addr;
    unsigned devnum = ((unsigned)addr >> 3) & 31;
    s->pci = 1;
    /* the PCI host routes INTA of device d to IOAPIC input 16 + (d & 3) */
    s->vector = 16 + (devnum & 3);
    return qvm_intr_default(s->dev, "pci-host", QVM_PCI_INTX_LINE(devnum, 1));
}

static int shmem_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg,
                         const char *value) {
    struct shmem *s = state;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        s->dev = dev;
        return 0;
    case QVM_CTRL_OPTION:
        return option(s, arg, value);
    case QVM_CTRL_OPTIONS_END:
        return declare(s);
    case QVM_CTRL_RESOURCES:
        if (!s->pci) {
            unsigned line = 0;
            if (qvm_intr_line(dev, 0, &line) == 0) s->vector = line;
        }
        opener_start(s);
        return 0;
    case QVM_CTRL_GEN_FDT:
        if (s->pci) return 0;
        {
            int rc = qvm_fdt_node(dev, "shmem", "qvm,guest_shm");
            return rc == -ENOTSUP ? 0 : rc;
        }
    case QVM_CTRL_STATUS: {
        unsigned open = 0;
        for (unsigned i = 0; i < MAX_CONNS; i++) open += s->conns[i].attached ? 1u : 0u;
        qvm_log(dev, QVM_LOG_INFO, "%u connection(s), %llu create/attach, %llu notify writes",
                open, (unsigned long long)s->creates, (unsigned long long)s->notifies);
        return 0;
    }
    case QVM_CTRL_RESET:
        close_all(s);
        memset(s->name, 0, sizeof s->name);
        s->shmem_gpa = 0;
        s->status = s->size = 0;
        memset(s->msix, 0, sizeof s->msix);
        s->msix[3] = 1; /* masked */
        s->msix_pending = 0;
        if (s->level) qvm_intr_set(dev, 0, 0);
        s->level = 0;
        return 0;
    case QVM_CTRL_TERMINATE:
        close_all(s);
        qvm_dev_unlock(dev); /* the threads take the lock; nothing else runs now */
        for (unsigned i = 0; i < MAX_CONNS; i++)
            if (s->conns[i].thread) pthread_join(s->conns[i].thr, NULL);
        opener_stop(s);
        qvm_dev_lock(dev);
        return 0;
    default:
        return ctrl == QVM_CTRL_POWER_BUTTON ? -ENOTSUP : 0;
    }
}

/* The opener thread opens the POSIX shared-memory objects (shm_open). */
static const char *const thread_syscalls[] = {"openat", NULL};

static const struct qvm_factory factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "shmem",
    .description = "named shared memory and notifications between guests (QNX guest_shm layout)",
    .flags = QVM_VDEVF_SPACE_MEM | QVM_VDEVF_SPACE_PCI,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2 | QVM_ACCESS_4 | QVM_ACCESS_8,
    .options = options,
    .state_size = sizeof(struct shmem),
    .control = shmem_control,
    .read = shmem_read,
    .write = shmem_write,
    .version = "1",
    .thread_syscalls = thread_syscalls,
};

static void __attribute__((constructor)) reg(void) { qvm_register_factory(&factory); }
