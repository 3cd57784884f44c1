/*
 * virtio-blk: a block device backed by a host file or block device.
 *   hostdev [<]FILE   the backing file; `<` = read-only (VIRTIO_BLK_F_RO
 *                     offered, writes fail with IOERR). Opened once, with an
 *                     OFD lock (write lock, or read lock when read-only) so
 *                     a second qvm cannot write the same file.
 * Requests: IN, OUT, FLUSH (fdatasync before completion), GET_ID (file
 * name, 20 bytes), DISCARD and WRITE_ZEROES (offered when the host file
 * can punch holes). Transport: virtio-pci, or virtio-mmio with loc + intr.
 * Requests are served on the notifying vCPU's thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <qvm/vdev.h>

#include "virtio.h"

#define BLK_F_SIZE_MAX 1
#define BLK_F_SEG_MAX 2
#define BLK_F_RO 5
#define BLK_F_BLK_SIZE 6
#define BLK_F_FLUSH 9
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

struct blk {
    struct vio v;
    struct vio_req req;
    uint8_t cfg[60];
    char path[512];
    int have_path;
    int ro;
    int fd;
    int can_punch;
    uint64_t bytes;
    char id[20];
    uint64_t nreq, nerr;
};

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

static uint8_t do_ranges(struct blk *b, struct vio_req *r, int type)
{
    if (b->ro) return S_IOERR;
    if (!b->can_punch) return S_UNSUPP;
    uint64_t n = (r->rlen - 16) / 16;
    if (n == 0 || n > 1 || (r->rlen - 16) % 16) return S_IOERR;
    uint8_t seg[16];
    if (vio_req_read(&b->v, r, 16, seg, 16) != 16) return S_IOERR;
    uint64_t sector = 0;
    uint32_t count = 0, flags = 0;
    memcpy(&sector, seg, 8);
    memcpy(&count, seg + 8, 4);
    memcpy(&flags, seg + 12, 4);
    if (count > MAX_RANGE_SECTORS || (flags & ~1u) || (type == T_DISCARD && flags))
        return S_UNSUPP;
    if (!range_ok(b, sector, (uint64_t)count * 512)) return S_IOERR;
    if (count == 0) return S_OK;
    off_t off = (off_t)(sector * 512), len = (off_t)count * 512;
    if (type == T_WRITE_ZEROES &&
        fallocate(b->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len) == 0)
        return S_OK;
    /* a punched hole reads back as zeroes */
    return fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) == 0
               ? S_OK : S_IOERR;
}

static void handle(struct blk *b, struct vio_req *r)
{
    struct vio *v = &b->v;
    uint32_t written = 0;
    uint8_t status = S_IOERR;
    uint8_t hdr[16];
    b->nreq++;
    if (r->wlen < 1) {                 /* nowhere to put the status */
        b->nerr++;
        vio_push(v, 0, r->head, 0);
        return;
    }
    uint64_t dlen_w = r->wlen - 1;     /* device-writable data before the status byte */
    if (r->rlen < 16 || vio_req_read(v, r, 0, hdr, 16) != 16)
        goto done;
    uint32_t type;
    uint64_t sector;
    memcpy(&type, hdr, 4);
    memcpy(&sector, hdr + 8, 8);
    switch (type) {
    case T_IN:
    case T_OUT: {
        int wr = type == T_OUT;
        uint64_t len = wr ? r->rlen - 16 : dlen_w;
        if (wr && b->ro) break;
        if (len % 512 || !range_ok(b, sector, len)) break;
        struct iovec iov[VIO_MAX_QSIZE];
        int n = vio_req_iov(v, r, !wr, wr ? 16 : 0, len, iov, VIO_MAX_QSIZE);
        if (n < 0) break;
        if (xfer(b->fd, iov, n, sector * 512, wr) != 0) break;
        if (!wr) written = (uint32_t)len;
        status = S_OK;
        break;
    }
    case T_FLUSH:
        status = (b->ro || fdatasync(b->fd) == 0) ? S_OK : S_IOERR;
        break;
    case T_GET_ID: {
        uint64_t n = dlen_w < 20 ? dlen_w : 20;
        if (vio_req_write(v, r, 0, b->id, n) == (long)n) {
            written = (uint32_t)n;
            status = S_OK;
        }
        break;
    }
    case T_DISCARD:
    case T_WRITE_ZEROES:
        status = do_ranges(b, r, (int)type);
        break;
    default:
        status = S_UNSUPP;
    }
done:
    if (status != S_OK) b->nerr++;
    /* the status byte is the last device-writable byte */
    if (vio_req_write(v, r, dlen_w, &status, 1) == 1)
        written++;
    vio_push(v, 0, r->head, written);
}

static void blk_notify(struct vio *v, unsigned q)
{
    struct blk *b = (struct blk *)v;
    if (q != 0) return;
    for (unsigned i = 0; i < v->q[0].size; i++) {
        int rc = vio_pop(v, 0, &b->req);
        if (rc <= 0) break;
        handle(b, &b->req);
    }
    vio_notify_queue(v, 0);
}

static const struct vio_ops blk_ops = {.notify = blk_notify, .reset = NULL};

static int blk_open(qvm_vdev_t *dev, struct blk *b)
{
    b->fd = open(b->path, (b->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
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
    return 0;
}

static int blk_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg, const char *value)
{
    struct blk *b = state;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        b->fd = -1;
        return 0;
    case QVM_CTRL_OPTION:
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
        vio_init(&b->v, dev, &blk_ops, 2, f, 1, QSIZE, b->cfg, sizeof b->cfg);
        return vio_declare(&b->v, 0x01, 0x00, 0x00);
    }
    case QVM_CTRL_RESOURCES: {
        int rc = blk_open(dev, b);
        if (rc < 0) return rc;
        if (b->ro) b->v.host_features |= 1ull << BLK_F_RO;
        if (b->can_punch)
            b->v.host_features |= (1ull << BLK_F_DISCARD) | (1ull << BLK_F_WRITE_ZEROES);
        put64(b->cfg + 0, b->bytes / 512);          /* capacity */
        put32(b->cfg + 8, SIZE_MAX_SEG);             /* size_max */
        put32(b->cfg + 12, QSIZE - 2);               /* seg_max */
        put32(b->cfg + 20, 512);                     /* blk_size */
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
    case QVM_CTRL_RESET:
        vio_reset(&b->v);
        return 0;
    case QVM_CTRL_STATUS:
        qvm_log(dev, QVM_LOG_INFO, "%s%s, %llu sectors, status 0x%x, %llu requests, %llu errors, "
                "%u malformed", b->path, b->ro ? " (read-only)" : "",
                (unsigned long long)(b->bytes / 512), b->v.status,
                (unsigned long long)b->nreq, (unsigned long long)b->nerr, b->v.bad_rings);
        return 0;
    case QVM_CTRL_TERMINATE:
        if (b->fd >= 0) {
            fdatasync(b->fd);
            close(b->fd);
            b->fd = -1;
        }
        return 0;
    default:
        return 0;
    }
}

static int blk_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data)
{
    (void)dev;
    return vio_read(&((struct blk *)state)->v, acc, data);
}

static int blk_write(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data)
{
    (void)dev;
    return vio_write(&((struct blk *)state)->v, acc, data);
}

static const char *const blk_options[] = {"hostdev", NULL};

static const struct qvm_factory blk_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR, .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "virtio-blk",
    .description = "virtio block device (PCI, or MMIO with loc + intr)",
    .flags = QVM_VDEVF_SPACE_PCI | QVM_VDEVF_SPACE_MEM,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2 | QVM_ACCESS_4 | QVM_ACCESS_8,
    .options = blk_options,
    .state_size = sizeof(struct blk),
    .control = blk_control,
    .read = blk_read,
    .write = blk_write,
    .version = "1.0",
};

static void __attribute__((constructor)) reg(void) { qvm_register_factory(&blk_factory); }
