/*
 * virtio-entropy (virtio-rng): fills each device-writable buffer the guest
 * queues with bytes from the host's getrandom(). Transport: virtio-pci, or
 * virtio-mmio with loc + intr. At most 64 KiB per request.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <qvm/vdev.h>

#include "virtio.h"

#define CHUNK 4096
#define MAX_PER_REQ (64u << 10)

struct rng {
    struct vio v;
    struct vio_req req;
    uint8_t buf[CHUNK];
    uint64_t bytes, reqs;
    int legacy;             /* QNX's `legacy`: the virtio 0.9.5 PCI transport */
};

static int fill(uint8_t *p, size_t n)
{
    size_t got = 0;
    for (int tries = 0; got < n && tries < 64; tries++) {
        ssize_t k = getrandom(p + got, n - got, 0);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        got += (size_t)k;
    }
    return got == n ? 0 : -1;
}

static void rng_notify(struct vio *v, unsigned q)
{
    struct rng *r = (struct rng *)v;
    if (q != 0) return;
    for (unsigned i = 0; i < v->q[0].size; i++) {
        if (vio_pop(v, 0, &r->req) <= 0) break;
        uint64_t want = r->req.wlen < MAX_PER_REQ ? r->req.wlen : MAX_PER_REQ, done = 0;
        while (done < want) {
            size_t n = want - done < CHUNK ? (size_t)(want - done) : CHUNK;
            if (fill(r->buf, n) != 0) break;
            if (vio_req_write(v, &r->req, done, r->buf, n) != (long)n) break;
            done += n;
        }
        memset(r->buf, 0, sizeof r->buf);
        r->bytes += done;
        r->reqs++;
        vio_push(v, 0, r->req.head, (uint32_t)done);
    }
    vio_notify_queue(v, 0);
}

static const struct vio_ops rng_ops = {.notify = rng_notify};

static int rng_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg, const char *value)
{
    struct rng *r = state;
    (void)arg; (void)value;
    switch (ctrl) {
    case QVM_CTRL_OPTION:
        r->legacy = 1;                 /* the only option: `legacy` */
        return vio_option_legacy(dev);
    case QVM_CTRL_OPTIONS_END:
        vio_init(&r->v, dev, &rng_ops, 4,
                 (1ull << VIRTIO_F_EVENT_IDX) | (1ull << VIRTIO_F_INDIRECT_DESC), 1, 64, NULL, 0);
        if (r->legacy) vio_legacy(&r->v);
        return vio_declare(&r->v, 0xff, 0x00, 0x00);
    case QVM_CTRL_GEN_ACPI:
        return vio_gen_acpi(&r->v);
    case QVM_CTRL_GEN_FDT:
        return vio_gen_fdt(&r->v);
    case QVM_CTRL_RESET:
        vio_reset(&r->v);
        return 0;
    case QVM_CTRL_STATUS:
        qvm_log(dev, QVM_LOG_INFO, "status 0x%x, %llu requests, %llu bytes, %u malformed",
                r->v.status, (unsigned long long)r->reqs, (unsigned long long)r->bytes,
                r->v.bad_rings);
        return 0;
    default:
        return 0;
    }
}

static int rng_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data)
{
    (void)dev;
    return vio_read(&((struct rng *)state)->v, acc, data);
}

static int rng_write(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data)
{
    (void)dev;
    return vio_write(&((struct rng *)state)->v, acc, data);
}

static const char *const rng_options[] = {VIO_OPTION_LEGACY, NULL};
static const uint32_t rng_option_flags[] = {QVM_OPTF_NO_ARG};

static const struct qvm_factory rng_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR, .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "virtio-entropy",
    .description = "virtio entropy device fed by the host's getrandom()",
    .flags = QVM_VDEVF_SPACE_PCI | QVM_VDEVF_SPACE_MEM,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2 | QVM_ACCESS_4 | QVM_ACCESS_8,
    .options = rng_options,
    .option_flags = rng_option_flags,
    .state_size = sizeof(struct rng),
    .control = rng_control,
    .read = rng_read,
    .write = rng_write,
    .version = "1.0",
};

static void __attribute__((constructor)) reg(void) { qvm_register_factory(&rng_factory); }
