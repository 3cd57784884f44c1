/*
 * virtio-blk: a block device backed by a host file or block device.
 *   hostdev [<]FILE   the backing file; `<` = read-only (VIRTIO_BLK_F_RO
 *                     offered, writes fail with IOERR). Opened once, with an
 *                     OFD lock (write lock, or read lock when read-only) so
 *                     a second qvm cannot write the same file.
 * Requests: IN, OUT, FLUSH (fdatasync before completion), GET_ID (file
 * name, 20 bytes), DISCARD and WRITE_ZEROES (offered when the host file
 * can punch holes). Transport: virtio-pci, or virtio-mmio with loc + intr.
 *   threads N         N request queues (1-8; VIRTIO_BLK_F_MQ when N > 1),
 *                     each served by its own worker thread
 *   notify auto|eventfd|exit   eventfd: each queue's kicks arrive on an
 *                     ioeventfd (no VM exit) and its worker serves the
 *                     queue off the vCPU threads, completing through MSI
 *                     irqfds; exit: no eventfds, requests served on the
 *                     notifying vCPU's thread (also the fallback when the
 *                     accelerator has no ioeventfd); auto (default):
 *                     eventfd when qvm may run on more host CPUs than the
 *                     VM has vCPUs, else exit (measured: with no spare CPU
 *                     the worker's wake-ups cost more than the exits).
 *   dio enable|read|disable   QNX's direct I/O: reads and writes (enable) or
 *                     reads only (read, QNX 8.0) go through a second
 *                     descriptor opened O_DIRECT, straight from and into
 *                     guest memory when every buffer, the offset and the
 *                     length are aligned as the file system asks (statx
 *                     STATX_DIOALIGN; 4096 where it does not say), else
 *                     through an aligned bounce buffer of the thread's.
 *                     Refused at start when the file system cannot do
 *                     O_DIRECT on the file. As QNX documents, a direct
 *                     access that fails switches the device back to the
 *                     page cache for good (logged once); a request not
 *                     aligned to the file system's offset alignment goes
 *                     through the page cache alone. disable (default):
 *                     the page cache.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <qvm/vdev.h>

#include "virtio.h"

#define BLK_F_SIZE_MAX 1
#define BLK_F_SEG_MAX 2
#define BLK_F_RO 5
#define BLK_F_BLK_SIZE 6
#define BLK_F_FLUSH 9
#define BLK_F_MQ 12
#define BLK_F_DISCARD 13
#define BLK_F_WRITE_ZEROES 14

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define T_DISCARD 11
#define T_WRITE_ZEROES 13

#define S_OK 0
#define S_IOERR 1
#define S_UNSUPP 2

#define QSIZE 256
#define SIZE_MAX_SEG (1u << 20)
#define MAX_RANGE_SECTORS 0x3fffffu

#define BATCH 8                 /* requests a worker takes per lock hold */
#define BOUNCE (256u << 10)     /* direct I/O bounce buffer, per thread */

enum job_op { OP_DONE, OP_READ, OP_WRITE, OP_FLUSH, OP_ZERO, OP_PUNCH };

/* One request between parsing (device lock held) and completion. */
struct job {
    int op;
    uint8_t status;
    uint32_t written;       /* device-writable bytes filled, before the status */
    uint64_t dlen_w;        /* offset of the status byte among writable bytes */
    uint64_t off, len;      /* file range */
    int niov;
    struct iovec iov[VIO_MAX_QSIZE];
};

struct blk;
struct worker {
    struct blk *b;
    unsigned q;
    pthread_t th;
    int started;
    struct vio_req req[BATCH];
    struct job job[BATCH];
    uint8_t *bounce;        /* direct I/O (aligned), NULL without */
};

struct blk {
    struct vio v;
    struct vio_req req;     /* exit path (vCPU thread, lock held) */
    struct job job;
    uint8_t cfg[60];
    char path[512];
    int have_path;
    int ro;
    int fd;
    int can_punch;
    int dio;                /* QNX's `dio`: 0 disable, 1 enable, 2 read */
    int dfd;                /* the O_DIRECT descriptor, -1 = none */
    uint32_t dio_mem_align, dio_off_align;
    int dio_failed;         /* a direct access failed: page cache for good */
    uint8_t *bounce;        /* the exit path's direct I/O bounce buffer */
    int legacy;             /* QNX's `legacy`: the virtio 0.9.5 PCI transport */
    unsigned nq;            /* `threads N`: request queues */
    int notify_exit;        /* `notify exit`: no ioeventfd/irqfd, no workers */
    int notify_auto;        /* `notify auto` (default): decided at start */
    int workers_on;
    int stopfd;
    int stop;
    unsigned gen;           /* bumped at every device reset */
    unsigned inflight;      /* workers inside file I/O without the lock */
    uint64_t bytes;
    char id[20];
    uint64_t nreq, nerr;
    struct worker *w[VIO_MAX_QUEUES];
    /* QNX's `delayed SECONDS|forever` (delayed_*): 0 = not given, else the
     * seconds to keep trying + 1, or -1 for forever. */
    long long delayed;
    int dl_wake, dl_stop;   /* eventfds: the guest's first access; TERMINATE */
    int dl_requested, dl_running;
    int dl_open;            /* the image is open (capacity published) */
    pthread_t dl_thread;
    qvm_vdev_t *dev;
};

static void put16(uint8_t *p, uint16_t x) { p[0] = (uint8_t)x; p[1] = (uint8_t)(x >> 8); }
static void put32(uint8_t *p, uint32_t x) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(x >> (8 * i)); }
static void put64(uint8_t *p, uint64_t x) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(x >> (8 * i)); }

/* Full preadv/pwritev over iovecs (short transfers and EINTR retried). */
static int xfer(int fd, struct iovec *iov, int n, uint64_t off, int wr)
{
    while (n > 0) {
        ssize_t k = wr ? pwritev(fd, iov, n, (off_t)off) : preadv(fd, iov, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (k == 0) {
            if (wr) return -1;
            /* past end of a file that shrank: zero-fill */
            for (int i = 0; i < n; i++) memset(iov[i].iov_base, 0, iov[i].iov_len);
            return 0;
        }
        off += (uint64_t)k;
        while (n > 0 && (size_t)k >= iov->iov_len) {
            k -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + k;
            iov->iov_len -= (size_t)k;
        }
    }
    return 0;
}

static int range_ok(struct blk *b, uint64_t sector, uint64_t len)
{
    if (sector > b->bytes / 512) return 0;
    uint64_t off = sector * 512;
    return len <= b->bytes - off;
}

/* DISCARD / WRITE_ZEROES: one range per request. */
static void parse_ranges(struct blk *b, struct vio_req *r, int type, struct job *j)
{
    j->status = S_IOERR;
    if (b->ro) return;
    if (!b->can_punch) { j->status = S_UNSUPP; return; }
    uint64_t n = (r->rlen - 16) / 16;
    if (n == 0 || n > 1 || (r->rlen - 16) % 16) return;
    uint8_t seg[16];
    if (vio_req_read(&b->v, r, 16, seg, 16) != 16) return;
    uint64_t sector = 0;
    uint32_t count = 0, flags = 0;
    memcpy(&sector, seg, 8);
    memcpy(&count, seg + 8, 4);
    memcpy(&flags, seg + 12, 4);
    if (count > MAX_RANGE_SECTORS || (flags & ~1u) || (type == T_DISCARD && flags)) {
        j->status = S_UNSUPP;
        return;
    }
    if (!range_ok(b, sector, (uint64_t)count * 512)) return;
    j->status = S_OK;
    if (count == 0) return;
    j->off = sector * 512;
    j->len = (uint64_t)count * 512;
    j->op = type == T_WRITE_ZEROES ? OP_ZERO : OP_PUNCH;
}

/* Parses request `r` into `j` (device lock held): everything that touches
 * the rings or device state happens here or in complete(). */
static void prepare(struct blk *b, struct vio_req *r, struct job *j)
{
    struct vio *v = &b->v;
    uint8_t hdr[16];
    j->op = OP_DONE;
    j->status = S_IOERR;
    j->written = 0;
    j->niov = 0;
    b->nreq++;
    if (r->wlen < 1) {                 /* nowhere to put the status */
        j->dlen_w = UINT64_MAX;
        return;
    }
    j->dlen_w = r->wlen - 1;           /* device-writable data before the status byte */
    if (r->rlen < 16 || vio_req_read(v, r, 0, hdr, 16) != 16)
        return;
    uint32_t type;
    uint64_t sector;
    memcpy(&type, hdr, 4);
    memcpy(&sector, hdr + 8, 8);
    switch (type) {
    case T_IN:
    case T_OUT: {
        int wr = type == T_OUT;
        uint64_t len = wr ? r->rlen - 16 : j->dlen_w;
        if (wr && b->ro) return;
        if (len % 512 || !range_ok(b, sector, len)) return;
        int n = vio_req_iov(v, r, !wr, wr ? 16 : 0, len, j->iov, VIO_MAX_QSIZE);
        if (n < 0) return;
        j->niov = n;
        j->off = sector * 512;
        j->len = len;
        j->op = wr ? OP_WRITE : OP_READ;
        return;
    }
    case T_FLUSH:
        if (b->ro) j->status = S_OK;
        else j->op = OP_FLUSH;
        return;
    case T_GET_ID: {
        uint64_t n = j->dlen_w < 20 ? j->dlen_w : 20;
        if (vio_req_write(v, r, 0, b->id, n) == (long)n) {
            j->written = (uint32_t)n;
            j->status = S_OK;
        }
        return;
    }
    case T_DISCARD:
    case T_WRITE_ZEROES:
        parse_ranges(b, r, (int)type, j);
        return;
    default:
        j->status = S_UNSUPP;
    }
}

/* Copies between [at, at+n) of a request's iovecs and `buf`. */
static void iov_copy(const struct iovec *iov, int niov, uint64_t at, uint8_t *buf, size_t n,
                     int to_iov)
{
    for (int i = 0; i < niov && n > 0; i++) {
        if (at >= iov[i].iov_len) {
            at -= iov[i].iov_len;
            continue;
        }
        size_t k = iov[i].iov_len - at < n ? iov[i].iov_len - at : n;
        uint8_t *p = (uint8_t *)iov[i].iov_base + at;
        if (to_iov) memcpy(p, buf, k);
        else memcpy(buf, p, k);
        buf += k;
        n -= k;
        at = 0;
    }
}

/* A read or write through the O_DIRECT descriptor: 0 done, 1 not possible
 * (offset or length unaligned: the caller uses the page cache), -1 the
 * direct access failed. */
static int dio_xfer(struct blk *b, struct job *j, uint8_t *bounce)
{
    int wr = j->op == OP_WRITE;
    uint64_t oa = b->dio_off_align, ma = b->dio_mem_align;
    if ((j->off | j->len) & (oa - 1))
        return 1;
    int aligned = 1;
    for (int i = 0; i < j->niov; i++)
        if ((((uintptr_t)j->iov[i].iov_base) & (ma - 1)) || (j->iov[i].iov_len & (oa - 1)))
            aligned = 0;
    if (aligned) {
        struct iovec tmp[VIO_MAX_QSIZE];   /* xfer advances them; keep j's */
        memcpy(tmp, j->iov, sizeof tmp[0] * (size_t)j->niov);
        return xfer(b->dfd, tmp, j->niov, j->off, wr) == 0 ? 0 : -1;
    }
    if (!bounce)
        return 1;
    for (uint64_t done = 0; done < j->len;) {
        size_t k = j->len - done < BOUNCE ? (size_t)(j->len - done) : BOUNCE;
        if (wr) iov_copy(j->iov, j->niov, done, bounce, k, 0);
        struct iovec bv = {bounce, k};
        if (xfer(b->dfd, &bv, 1, j->off + done, wr) != 0)
            return -1;
        if (!wr) iov_copy(j->iov, j->niov, done, bounce, k, 1);
        done += k;
    }
    return 0;
}

/* The file I/O of a parsed request: no device state, no lock needed.
 * `bounce`: the calling thread's direct I/O buffer (or NULL). */
static void execute(struct blk *b, struct job *j, uint8_t *bounce)
{
    switch (j->op) {
    case OP_READ:
    case OP_WRITE:
        if (b->dio && b->dfd >= 0 && (j->op == OP_READ || b->dio == 1) &&
            !__atomic_load_n(&b->dio_failed, __ATOMIC_ACQUIRE)) {
            int rc = dio_xfer(b, j, bounce);
            if (rc == 0) {
                j->status = S_OK;
                if (j->op == OP_READ) j->written = (uint32_t)j->len;
                break;
            }
            if (rc < 0 && !__atomic_exchange_n(&b->dio_failed, 1, __ATOMIC_ACQ_REL))
                qvm_log(b->v.dev, QVM_LOG_WARN, "dio: a direct %s failed (%s): the page "
                        "cache from now on", j->op == OP_READ ? "read" : "write",
                        strerror(errno));
        }
        if (xfer(b->fd, j->iov, j->niov, j->off, j->op == OP_WRITE) == 0) {
            j->status = S_OK;
            if (j->op == OP_READ) j->written = (uint32_t)j->len;
        }
        break;
    case OP_FLUSH:
        j->status = fdatasync(b->fd) == 0 ? S_OK : S_IOERR;
        break;
    case OP_ZERO:
        if (fallocate(b->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)j->off,
                      (off_t)j->len) == 0) {
            j->status = S_OK;
            break;
        }
        /* a punched hole reads back as zeroes */
        __attribute__((fallthrough));
    case OP_PUNCH:
        j->status = fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)j->off,
                              (off_t)j->len) == 0 ? S_OK : S_IOERR;
        break;
    default:
        break;
    }
}

/* Writes the status byte and returns the chain (device lock held). */
static void complete(struct blk *b, unsigned q, struct vio_req *r, struct job *j)
{
    uint32_t written = j->written;
    if (j->status != S_OK) b->nerr++;
    /* the status byte is the last device-writable byte */
    if (j->dlen_w != UINT64_MAX && vio_req_write(&b->v, r, j->dlen_w, &j->status, 1) == 1)
        written++;
    vio_push(&b->v, q, r->head, written);
}

/* The exit path: the driver's notify reached the write callback. */
static void blk_notify(struct vio *v, unsigned q)
{
    struct blk *b = (struct blk *)v;
    if (q >= v->nq) return;
    if (b->workers_on) {
        /* a kick the ioeventfd did not catch (another access size): wake
         * the queue's worker */
        uint64_t one = 1;
        if (write(vio_kick_fd(v, q), &one, sizeof one) < 0) { /* counter full: it is awake */ }
        return;
    }
    for (unsigned i = 0; i < v->q[q].size; i++) {
        int rc = vio_pop(v, q, &b->req);
        if (rc <= 0) break;
        prepare(b, &b->req, &b->job);
        execute(b, &b->job, b->bounce);
        complete(b, q, &b->req, &b->job);
    }
    vio_notify_queue(v, q);
}

/* Device reset (status 0, VM reset): wait until no worker is inside file
 * I/O, so that nothing completes into rings of the previous incarnation;
 * requests taken before the reset are dropped (gen). */
static void blk_reset(struct vio *v)
{
    struct blk *b = (struct blk *)v;
    b->gen++;
    while (__atomic_load_n(&b->inflight, __ATOMIC_ACQUIRE) != 0)
        usleep(50);
}

static const struct vio_ops blk_ops = {.notify = blk_notify, .reset = blk_reset};

/* Serves queue w->q until it is empty (called with the lock not held). */
static void serve(struct worker *w)
{
    struct blk *b = w->b;
    struct vio *v = &b->v;
    qvm_vdev_t *dev = v->dev;
    qvm_dev_lock(dev);
    /* bounded per wake-up (a wake-up of our own continues, see below) */
    unsigned round = 0;
    for (; round < 4096 && !__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE); round++) {
        unsigned n = 0, gen = b->gen;
        while (n < BATCH && vio_pop(v, w->q, &w->req[n]) == 1) {
            prepare(b, &w->req[n], &w->job[n]);
            n++;
        }
        if (n == 0) {
            /* publish avail_event, then look again: a request added before
             * the driver saw it would otherwise never be kicked */
            vio_notify_queue(v, w->q);
            if (!vio_queue_pending(v, w->q)) break;
            continue;
        }
        __atomic_add_fetch(&b->inflight, 1, __ATOMIC_ACQ_REL);
        qvm_dev_unlock(dev);
        for (unsigned i = 0; i < n; i++)
            execute(b, &w->job[i], w->bounce);
        __atomic_sub_fetch(&b->inflight, 1, __ATOMIC_ACQ_REL);
        qvm_dev_lock(dev);
        if (gen != b->gen) continue;   /* the device was reset meanwhile */
        for (unsigned i = 0; i < n; i++)
            complete(b, w->q, &w->req[i], &w->job[i]);
        vio_notify_queue(v, w->q);
    }
    qvm_dev_unlock(dev);
    if (round == 4096) {
        /* the driver may not kick again for what is already queued */
        uint64_t one = 1;
        if (write(vio_kick_fd(v, w->q), &one, sizeof one) < 0) { /* full: still readable */ }
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct blk *b = w->b;
    struct pollfd pf[2] = {{.fd = vio_kick_fd(&b->v, w->q), .events = POLLIN},
                           {.fd = b->stopfd, .events = POLLIN}};
    for (;;) {
        if (poll(pf, 2, -1) < 0 && errno != EINTR)
            break;
        if (__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE))
            break;
        uint64_t cnt;
        if (read(pf[0].fd, &cnt, sizeof cnt) < 0 && errno != EAGAIN)
            break;
        serve(w);
    }
    return NULL;
}

static void workers_stop(qvm_vdev_t *dev, struct blk *b, int locked)
{
    if (b->stopfd >= 0) {
        __atomic_store_n(&b->stop, 1, __ATOMIC_RELEASE);
        uint64_t one = 1;
        if (write(b->stopfd, &one, sizeof one) < 0) { /* cannot fail for 1 */ }
        /* workers take the device lock: let them finish */
        if (locked) qvm_dev_unlock(dev);
        for (unsigned i = 0; i < VIO_MAX_QUEUES; i++)
            if (b->w[i] && b->w[i]->started)
                pthread_join(b->w[i]->th, NULL);
        if (locked) qvm_dev_lock(dev);
    }
    for (unsigned i = 0; i < VIO_MAX_QUEUES; i++) {
        if (b->w[i]) free(b->w[i]->bounce);
        free(b->w[i]);
        b->w[i] = NULL;
    }
    b->workers_on = 0;
    vio_eventfds_close(&b->v);
    if (b->stopfd >= 0) close(b->stopfd);
    b->stopfd = -1;
}

/* GUEST_CONFIGURED: a worker per queue woken by the queue's ioeventfd,
 * completions through MSI irqfds. Any failure leaves the exit path. */
static void workers_start(qvm_vdev_t *dev, struct blk *b)
{
    if (b->notify_exit) return;
    if (b->notify_auto) {
        cpu_set_t set;
        unsigned ncpu = 0, nvcpu = qvm_vcpu_count(dev);
        if (sched_getaffinity(0, sizeof set, &set) == 0) ncpu = (unsigned)CPU_COUNT(&set);
        if (ncpu <= nvcpu) {
            qvm_log(dev, QVM_LOG_INFO,
                    "notify auto: %u host CPU(s) for %u vCPU(s), no spare CPU for queue "
                    "workers: requests served on the vCPU threads", ncpu, nvcpu);
            return;
        }
    }
    if (vio_eventfds_setup(&b->v, 1) != (int)b->v.nq) {
        vio_eventfds_close(&b->v);
        qvm_log(dev, QVM_LOG_INFO, "no ioeventfds: requests served on the vCPU threads");
        return;
    }
    b->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (b->stopfd < 0) {
        vio_eventfds_close(&b->v);
        return;
    }
    for (unsigned i = 0; i < b->v.nq; i++) {
        b->w[i] = calloc(1, sizeof *b->w[i]);
        if (!b->w[i]) break;
        b->w[i]->b = b;
        b->w[i]->q = i;
        if (b->dio && b->dfd >= 0 &&
            posix_memalign((void **)&b->w[i]->bounce, b->dio_mem_align, BOUNCE) != 0)
            b->w[i]->bounce = NULL;   /* unaligned requests then use the page cache */
        /* under qvm's filter for device threads: polls, reads, writes,
         * flushes and discards on descriptors opened at set-up, nothing
         * more (the factory's `openat` is the `delayed` opener's) */
        char name[16];
        snprintf(name, sizeof name, "blk-q%u", i);
        if (qvm_thread_create(dev, &b->w[i]->th, name, worker_main, b->w[i]) != 0) break;
        b->w[i]->started = 1;
    }
    for (unsigned i = 0; i < b->v.nq; i++)
        if (!b->w[i] || !b->w[i]->started) {
            qvm_log(dev, QVM_LOG_WARN, "cannot start queue workers: requests served on the vCPU threads");
            workers_stop(dev, b, 1);
            return;
        }
    b->workers_on = 1;
}

/* QNX's `dio enable|read`: the O_DIRECT descriptor beside the buffered one,
 * the file system's alignments, the exit path's bounce buffer. Refused
 * (logged, naming the file and why) when the file system cannot. */
static int dio_open(qvm_vdev_t *dev, struct blk *b)
{
    const char *what = b->dio == 1 ? "enable" : "read";
    b->dfd = open(b->path, (b->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_DIRECT);
    if (b->dfd < 0) {
        int e = errno;
        qvm_log(dev, QVM_LOG_ERROR, "dio %s: %s: %s", what, b->path,
                e == EINVAL ? "its file system does not support direct I/O (O_DIRECT)"
                            : strerror(e));
        return e == EINVAL ? -EINVAL : -e;
    }
    struct statx sx;
    memset(&sx, 0, sizeof sx);
    /* The alignment statx reports; where it says nothing (an older kernel,
     * or zeros: qemu-user does not translate these fields) a page, which
     * is always enough. The O_DIRECT open succeeded; should the file system
     * still refuse a direct access, the device falls back to the page
     * cache for good (dio_failed below). */
    if (statx(b->dfd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
        (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align && sx.stx_dio_mem_align) {
        b->dio_off_align = sx.stx_dio_offset_align;
        b->dio_mem_align = sx.stx_dio_mem_align;
    } else {
        b->dio_off_align = b->dio_mem_align = 4096;
    }
    if (b->dio_off_align < 512 || (b->dio_off_align & (b->dio_off_align - 1)) ||
        b->dio_mem_align > 4096 || (b->dio_mem_align & (b->dio_mem_align - 1)))
        b->dio_off_align = b->dio_mem_align = 4096;
    if (b->dio_mem_align < sizeof(void *)) b->dio_mem_align = sizeof(void *);
    if (posix_memalign((void **)&b->bounce, b->dio_mem_align, BOUNCE) != 0) {
        close(b->dfd);
        b->dfd = -1;
        return -ENOMEM;
    }
    qvm_log(dev, QVM_LOG_INFO, "dio %s: %s opened O_DIRECT (alignment: offsets %u, memory %u)",
            what, b->path, b->dio_off_align, b->dio_mem_align);
    return 0;
}

static int blk_open(qvm_vdev_t *dev, struct blk *b)
{
    int fd = open(b->path, (b->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    b->fd = fd;
    if (b->fd < 0) {
        qvm_log(dev, QVM_LOG_ERROR, "hostdev %s: %s", b->path, strerror(errno));
        return -errno;
    }
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = b->ro ? F_RDLCK : F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(b->fd, F_OFD_SETLK, &fl) != 0) {
        int e = errno;
        qvm_log(dev, QVM_LOG_ERROR, "hostdev %s: locked by another process (%s)", b->path,
                strerror(e));
        close(b->fd);
        b->fd = -1;
        return -EBUSY;
    }
    struct stat sb;
    if (fstat(b->fd, &sb) != 0) return -errno;
    if (S_ISBLK(sb.st_mode)) {
        uint64_t sz = 0;
        if (ioctl(b->fd, BLKGETSIZE64, &sz) != 0) return -errno;
        b->bytes = sz;
    } else if (S_ISREG(sb.st_mode)) {
        b->bytes = (uint64_t)sb.st_size;
        if (!b->ro) {
            /* hole punching past the end changes nothing: a safe probe */
            off_t end = (off_t)((b->bytes + 4095) & ~4095ull);
            b->can_punch = fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                     end, 4096) == 0;
        }
    } else {
        qvm_log(dev, QVM_LOG_ERROR, "hostdev %s: not a file or block device", b->path);
        return -EINVAL;
    }
    b->bytes &= ~511ull;
    return b->dio ? dio_open(dev, b) : 0;
}

/*
 * QNX's `delayed SECONDS|forever`: the image is opened after the guest's
 * first access to the device's registers, tried again every 100 ms while
 * it cannot be opened, for SECONDS (0: once; forever: until it can or qvm
 * ends). An opener thread (`blk-open`, started at GUEST_CONFIGURED: a vCPU
 * thread may not open files under qvm's system-call filter) does the open
 * (the factory declares `openat`); the access only writes an eventfd.
 * Until then the disk has 0 sectors and requests fail (IOERR); once open,
 * the capacity is published under the instance lock and a configuration
 * change interrupt tells the driver (Linux's virtio_blk re-reads the
 * capacity). DISCARD/WRITE_ZEROES are not offered (the features are fixed
 * before the file can be probed). A failure other than "cannot open yet"
 * (locked by another process, not a file) or a wait that runs out is
 * logged and the disk stays empty.
 */
#define DELAYED_RETRY_MS 100

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *delayed_main(void *arg)
{
    struct blk *b = arg;
    qvm_vdev_t *dev = b->dev;
    struct pollfd p[2] = {{b->dl_stop, POLLIN, 0}, {b->dl_wake, POLLIN, 0}};
    for (;;) {
        int n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 || (p[0].revents & POLLIN)) return NULL;
        if (p[1].revents & POLLIN) break;
    }
    long long deadline = b->delayed < 0 ? -1 : now_ms() + (b->delayed - 1) * 1000;
    unsigned long long tries = 0;
    for (;;) {
        tries++;
        /* a quiet try first: blk_open logs its failures */
        int fd = open(b->path, (b->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        int e = errno;
        if (fd >= 0) {
            close(fd);
            break;
        }
        long long now = now_ms();
        if (deadline >= 0 && now >= deadline) {
            qvm_log(dev, QVM_LOG_ERROR, "delayed: hostdev %s: %s after %llu tries; the disk "
                    "stays empty", b->path, strerror(e), tries);
            return NULL;
        }
        long long wait = DELAYED_RETRY_MS;
        if (deadline >= 0 && deadline - now < wait) wait = deadline - now;
        if (poll(p, 1, (int)wait) > 0) return NULL;   /* TERMINATE */
    }
    /* The image's state is built aside and published under the lock. */
    struct blk t;
    memset(&t, 0, sizeof t);
    memcpy(t.path, b->path, sizeof t.path);
    t.ro = b->ro;
    t.dio = b->dio;
    t.fd = t.dfd = -1;
    int rc = blk_open(dev, &t);
    if (rc < 0 && t.dio && t.fd >= 0 && t.dfd < 0) {
        qvm_log(dev, QVM_LOG_WARN, "delayed: dio: the page cache instead");
        t.dio = 0;
        rc = 0;
    }
    if (rc < 0) {
        if (t.fd >= 0) close(t.fd);
        qvm_log(dev, QVM_LOG_ERROR, "delayed: hostdev %s: cannot use it (above); the disk "
                "stays empty", b->path);
        return NULL;
    }
    qvm_dev_lock(dev);
    b->dio = t.dio;
    b->dfd = t.dfd;
    b->dio_mem_align = t.dio_mem_align;
    b->dio_off_align = t.dio_off_align;
    b->bounce = t.bounce;
    __atomic_store_n(&b->fd, t.fd, __ATOMIC_RELEASE);
    b->bytes = t.bytes;
    b->dl_open = 1;
    put64(b->cfg + 0, b->bytes / 512);          /* capacity */
    vio_config_changed(&b->v);
    qvm_dev_unlock(dev);
    qvm_log(dev, QVM_LOG_INFO, "delayed: hostdev %s opened after the guest's first access "
            "(%llu %s): %llu sectors", b->path, tries, tries == 1 ? "try" : "tries",
            (unsigned long long)(t.bytes / 512));
    return NULL;
}

static void delayed_touch(struct blk *b)
{
    if (!b->dl_running || b->dl_requested) return;
    b->dl_requested = 1;
    uint64_t one = 1;
    if (write(b->dl_wake, &one, sizeof one) != (ssize_t)sizeof one) b->dl_requested = 0;
}

static void delayed_start(qvm_vdev_t *dev, struct blk *b)
{
    if (!b->delayed || b->dl_running) return;
    b->dev = dev;
    b->dl_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    b->dl_stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (b->dl_wake < 0 || b->dl_stop < 0 ||
        qvm_thread_create(dev, &b->dl_thread, "blk-open", delayed_main, b) != 0) {
        qvm_log(dev, QVM_LOG_ERROR, "delayed: no opener thread: the disk stays empty");
        return;
    }
    b->dl_running = 1;
}

/* At TERMINATE, with the instance lock held (released while joining: the
 * opener takes it). */
static void delayed_stop(qvm_vdev_t *dev, struct blk *b)
{
    if (b->dl_running) {
        uint64_t one = 1;
        ssize_t w = write(b->dl_stop, &one, sizeof one);
        (void)w;
        qvm_dev_unlock(dev);
        pthread_join(b->dl_thread, NULL);
        qvm_dev_lock(dev);
        b->dl_running = 0;
    }
    if (b->dl_wake > 0) close(b->dl_wake);
    if (b->dl_stop > 0) close(b->dl_stop);
    b->dl_wake = b->dl_stop = -1;
}

static int blk_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg, const char *value)
{
    struct blk *b = state;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        b->fd = -1;
        b->dfd = -1;
        b->stopfd = -1;
        b->nq = 1;
        b->notify_auto = 1;
        return 0;
    case QVM_CTRL_OPTION:
        if (arg == 1) {                                  /* threads N */
            char *end;
            errno = 0;
            unsigned long n = strtoul(value, &end, 10);
            if (errno || end == value || *end || n < 1 || n > VIO_MAX_QUEUES) return -EINVAL;
            b->nq = (unsigned)n;
            return 0;
        }
        if (arg == 2) {                                  /* notify eventfd|exit */
            b->notify_exit = b->notify_auto = 0;
            if (!strcmp(value, "exit")) b->notify_exit = 1;
            else if (!strcmp(value, "auto")) b->notify_auto = 1;
            else if (!strcmp(value, "eventfd")) b->notify_exit = 0;
            else return -EINVAL;
            return 0;
        }
        if (arg == 3) {                                  /* QNX's dio enable|read|disable */
            if (!strcmp(value, "disable")) b->dio = 0;
            else if (!strcmp(value, "enable")) b->dio = 1;
            else if (!strcmp(value, "read")) b->dio = 2;
            else {
                qvm_log(dev, QVM_LOG_ERROR, "dio %s: want enable, read or disable", value);
                return -EINVAL;
            }
            return 0;
        }
        if (arg == 5) {
            b->legacy = 1;
            return vio_option_legacy(dev);
        }
        if (arg == 4) {                                  /* QNX's delayed SECONDS|forever */
            if (!strcmp(value, "forever")) {
                b->delayed = -1;
                return 0;
            }
            char *end = NULL;
            errno = 0;
            unsigned long long n = value[0] >= '0' && value[0] <= '9' ? strtoull(value, &end, 10) : 0;
            if (!end || *end || errno || n > 0x7fffffffull) {
                qvm_log(dev, QVM_LOG_ERROR, "delayed: want SECONDS (0 to 2147483647) or `forever`");
                return -EINVAL;
            }
            b->delayed = (long long)n + 1;
            return 0;
        }
        if (arg == 0) {
            const char *p = value;
            b->ro = 0;
            if (p[0] == '<') { b->ro = 1; p++; }
            else if (p[0] == '>') p++;
            if (!p[0] || strlen(p) >= sizeof b->path) return -EINVAL;
            strcpy(b->path, p);
            b->have_path = 1;
            return 0;
        }
        return -EINVAL;
    case QVM_CTRL_OPTIONS_END: {
        if (!b->have_path) {
            qvm_log(dev, QVM_LOG_ERROR, "needs `hostdev FILE`");
            return -EINVAL;
        }
        uint64_t f = (1ull << BLK_F_SIZE_MAX) | (1ull << BLK_F_SEG_MAX) |
                     (1ull << BLK_F_BLK_SIZE) | (1ull << BLK_F_FLUSH) |
                     (1ull << VIRTIO_F_EVENT_IDX) | (1ull << VIRTIO_F_INDIRECT_DESC);
        if (b->nq > 1) f |= 1ull << BLK_F_MQ;
        vio_init(&b->v, dev, &blk_ops, 2, f, b->nq, QSIZE, b->cfg, sizeof b->cfg);
        if (b->legacy) vio_legacy(&b->v);
        return vio_declare(&b->v, 0x01, 0x00, 0x00);
    }
    case QVM_CTRL_RESOURCES: {
        int rc = b->delayed ? 0 : blk_open(dev, b);   /* `delayed`: the opener's */
        if (rc < 0) return rc;
        if (b->ro) b->v.host_features |= 1ull << BLK_F_RO;
        if (b->can_punch)
            b->v.host_features |= (1ull << BLK_F_DISCARD) | (1ull << BLK_F_WRITE_ZEROES);
        put64(b->cfg + 0, b->bytes / 512);          /* capacity */
        put32(b->cfg + 8, SIZE_MAX_SEG);             /* size_max */
        put32(b->cfg + 12, QSIZE - 2);               /* seg_max */
        put32(b->cfg + 20, 512);                     /* blk_size */
        put16(b->cfg + 34, (uint16_t)b->nq);         /* num_queues */
        if (b->can_punch) {
            put32(b->cfg + 36, MAX_RANGE_SECTORS);   /* max_discard_sectors */
            put32(b->cfg + 40, 1);                   /* max_discard_seg */
            put32(b->cfg + 44, 8);                   /* discard_sector_alignment */
            put32(b->cfg + 48, MAX_RANGE_SECTORS);   /* max_write_zeroes_sectors */
            put32(b->cfg + 52, 1);                   /* max_write_zeroes_seg */
            b->cfg[56] = 1;                          /* write_zeroes_may_unmap */
        }
        const char *base = strrchr(b->path, '/');
        base = base ? base + 1 : b->path;
        memset(b->id, 0, sizeof b->id);
        size_t idlen = strlen(base);
        memcpy(b->id, base, idlen < sizeof b->id ? idlen : sizeof b->id);
        return 0;
    }
    case QVM_CTRL_GEN_ACPI:
        return vio_gen_acpi(&b->v);
    case QVM_CTRL_GEN_FDT:
        return vio_gen_fdt(&b->v);
    case QVM_CTRL_GUEST_CONFIGURED:
        workers_start(dev, b);
        delayed_start(dev, b);
        return 0;
    case QVM_CTRL_RESET:
        vio_reset(&b->v);
        return 0;
    case QVM_CTRL_STATUS:
        qvm_log(dev, QVM_LOG_INFO, "%s%s%s, %llu sectors, %u queue(s) %s, status 0x%x, "
                "%llu requests, %llu errors, %u malformed", b->path, b->ro ? " (read-only)" : "",
                b->delayed && !b->dl_open ? " (delayed: not open yet)" : "",
                (unsigned long long)(b->bytes / 512), b->v.nq,
                b->workers_on ? "on worker threads (eventfds)" : "on vCPU threads (exits)",
                b->v.status, (unsigned long long)b->nreq, (unsigned long long)b->nerr,
                b->v.bad_rings);
        return 0;
    case QVM_CTRL_TERMINATE:
        delayed_stop(dev, b);
        workers_stop(dev, b, 1);
        if (b->fd >= 0) {
            fdatasync(b->fd);
            close(b->fd);
            b->fd = -1;
        }
        if (b->dio && b->dfd >= 0) close(b->dfd);
        b->dfd = -1;
        free(b->bounce);
        b->bounce = NULL;
        return 0;
    default:
        return 0;
    }
}

static int blk_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data)
{
    (void)dev;
    delayed_touch(state);   /* `delayed`: the first access opens the image */
    return vio_read(&((struct blk *)state)->v, acc, data);
}

static int blk_write(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data)
{
    (void)dev;
    delayed_touch(state);
    return vio_write(&((struct blk *)state)->v, acc, data);
}

/* The opener's open (`delayed`); the queue workers use none of it. */
static const char *const blk_thread_syscalls[] = {"openat", NULL};

static const char *const blk_options[] = {"hostdev", "threads", "notify", "dio", "delayed",
                                          VIO_OPTION_LEGACY, NULL};
static const uint32_t blk_option_flags[] = {0, 0, 0, 0, 0, QVM_OPTF_NO_ARG};

static const struct qvm_factory blk_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR, .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "virtio-blk",
    .description = "virtio block device (PCI, or MMIO with loc + intr)",
    .flags = QVM_VDEVF_SPACE_PCI | QVM_VDEVF_SPACE_MEM,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2 | QVM_ACCESS_4 | QVM_ACCESS_8,
    .options = blk_options,
    .option_flags = blk_option_flags,
    .thread_syscalls = blk_thread_syscalls,
    .state_size = sizeof(struct blk),
    .control = blk_control,
    .read = blk_read,
    .write = blk_write,
    .version = "1.0",
};

static void __attribute__((constructor)) reg(void) { qvm_register_factory(&blk_factory); }
