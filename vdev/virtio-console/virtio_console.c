/*
 * virtio-console: one console port (no multiport), guest /dev/hvc0.
 *   hostdev SPEC   like ser8250 (qvm_console_open): `>-` or `-` (default) =
 *                  qvm's stdout, and qvm's console relay as input; `>PATH`
 *                  / `PATH` = output to a file only.
 * Queue 0 (receiveq) carries host input to the guest, queue 1 (transmitq)
 * guest output to the host. Input is read only while the guest has
 * receive buffers queued (otherwise the fd is unwatched and re-checked by
 * a 20 ms timer), so a guest that stops reading only stalls its own input.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <qvm/vdev.h>

#include "virtio.h"

#define CHUNK 4096
#define MAX_TX (64u << 10)

struct con {
    struct vio v;
    struct vio_req req;
    uint8_t cfg[12];
    uint8_t buf[CHUNK];
    char hostdev[256];
    int out_fd, in_fd;
    int watching;
    int legacy;             /* QNX's `legacy`: the virtio 0.9.5 PCI transport */
    qvm_timer_t *retry;
    uint64_t tx_bytes, rx_bytes, dropped;
};

static void con_input(qvm_vdev_t *dev, void *state, void *arg);

static void tx(struct con *c)
{
    struct vio *v = &c->v;
    for (unsigned i = 0; i < v->q[1].size; i++) {
        if (vio_pop(v, 1, &c->req) <= 0) break;
        uint64_t n = c->req.rlen < MAX_TX ? c->req.rlen : MAX_TX, off = 0;
        while (off < n) {
            size_t k = n - off < CHUNK ? (size_t)(n - off) : CHUNK;
            if (vio_req_read(v, &c->req, off, c->buf, k) != (long)k) break;
            if (c->out_fd >= 0) {
                ssize_t w = write(c->out_fd, c->buf, k);
                if (w < (ssize_t)k) c->dropped += k - (w > 0 ? (size_t)w : 0);
            }
            off += k;
        }
        c->tx_bytes += off;
        vio_push(v, 1, c->req.head, 0);
    }
    vio_notify_queue(v, 1);
}

static void watch(qvm_vdev_t *dev, struct con *c)
{
    if (c->in_fd < 0 || c->watching) return;
    if (qvm_fd_watch(dev, c->in_fd, con_input, NULL) == 0) c->watching = 1;
}

/* Host input ready: move what fits into the guest's receive buffers. */
static void con_input(qvm_vdev_t *dev, void *state, void *arg)
{
    struct con *c = state;
    struct vio *v = &c->v;
    (void)arg;
    if (c->in_fd < 0) return;
    if (!vio_running(v) || !v->q[0].ready || vio_pop(v, 0, &c->req) <= 0) {
        /* nowhere to put it: stop watching, look again later */
        qvm_fd_unwatch(dev, c->in_fd);
        c->watching = 0;
        if (c->retry) qvm_timer_arm_rel(c->retry, 20000000ull, 0);
        return;
    }
    size_t want = c->req.wlen < CHUNK ? (size_t)c->req.wlen : CHUNK;
    ssize_t n = read(c->in_fd, c->buf, want);
    if (n <= 0) {
        vio_push(v, 0, c->req.head, 0);   /* give the buffer back empty */
        vio_notify_queue(v, 0);
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            qvm_fd_unwatch(dev, c->in_fd);  /* end of input */
            c->watching = 0;
            close(c->in_fd);
            c->in_fd = -1;
        }
        return;
    }
    long w = vio_req_write(v, &c->req, 0, c->buf, (uint64_t)n);
    vio_push(v, 0, c->req.head, w > 0 ? (uint32_t)w : 0);
    vio_notify_queue(v, 0);
    c->rx_bytes += (uint64_t)n;
}

static void con_retry(qvm_vdev_t *dev, void *state, void *arg)
{
    (void)arg;
    watch(dev, state);
}

static void con_notify(struct vio *v, unsigned q)
{
    struct con *c = (struct con *)v;
    if (q == 1) tx(c);
    /* q == 0: new receive buffers; the retry timer re-watches the input */
}

static const struct vio_ops con_ops = {.notify = con_notify};

static int con_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg, const char *value)
{
    struct con *c = state;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        c->out_fd = c->in_fd = -1;
        return 0;
    case QVM_CTRL_OPTION:
        if (arg == 1) {
            c->legacy = 1;
            return vio_option_legacy(dev);
        }
        if (arg != 0 || strlen(value) >= sizeof c->hostdev || !value[0]) return -EINVAL;
        if (value[0] == '<') return -EINVAL;  /* input-only: not supported */
        strcpy(c->hostdev, value);
        return 0;
    case QVM_CTRL_OPTIONS_END:
        vio_init(&c->v, dev, &con_ops, 3,
                 (1ull << VIRTIO_F_EVENT_IDX) | (1ull << VIRTIO_F_INDIRECT_DESC), 2, 128,
                 c->cfg, sizeof c->cfg);
        if (c->legacy) vio_legacy(&c->v);
        return vio_declare(&c->v, 0x07, 0x80, 0x00);
    case QVM_CTRL_RESOURCES: {
        int rc = qvm_console_open(dev, c->hostdev[0] ? c->hostdev : NULL, &c->out_fd, &c->in_fd);
        if (rc < 0) {
            qvm_log(dev, QVM_LOG_ERROR, "hostdev %s: cannot open", c->hostdev);
            return rc;
        }
        c->retry = qvm_timer_create(dev, con_retry, NULL);
        return 0;
    }
    case QVM_CTRL_GUEST_CONFIGURED:
        watch(dev, c);
        return 0;
    case QVM_CTRL_GEN_ACPI:
        return vio_gen_acpi(&c->v);
    case QVM_CTRL_GEN_FDT:
        return vio_gen_fdt(&c->v);
    case QVM_CTRL_RESET:
        vio_reset(&c->v);
        return 0;
    case QVM_CTRL_STATUS:
        qvm_log(dev, QVM_LOG_INFO, "status 0x%x, tx %llu bytes (%llu dropped), rx %llu bytes, "
                "%u malformed", c->v.status, (unsigned long long)c->tx_bytes,
                (unsigned long long)c->dropped, (unsigned long long)c->rx_bytes, c->v.bad_rings);
        return 0;
    case QVM_CTRL_TERMINATE:
        if (c->retry) { qvm_timer_destroy(c->retry); c->retry = NULL; }
        if (c->in_fd >= 0) {
            if (c->watching) qvm_fd_unwatch(dev, c->in_fd);
            close(c->in_fd);
            c->in_fd = -1;
        }
        if (c->out_fd >= 0) { close(c->out_fd); c->out_fd = -1; }
        return 0;
    default:
        return 0;
    }
}

static int con_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data)
{
    (void)dev;
    return vio_read(&((struct con *)state)->v, acc, data);
}

static int con_write(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data)
{
    (void)dev;
    return vio_write(&((struct con *)state)->v, acc, data);
}

static const char *const con_options[] = {"hostdev", VIO_OPTION_LEGACY, NULL};
static const uint32_t con_option_flags[] = {0, QVM_OPTF_NO_ARG};

static const struct qvm_factory con_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR, .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "virtio-console",
    .description = "virtio console (one port, /dev/hvc0 in the guest)",
    .flags = QVM_VDEVF_SPACE_PCI | QVM_VDEVF_SPACE_MEM,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2 | QVM_ACCESS_4 | QVM_ACCESS_8,
    .options = con_options,
    .option_flags = con_option_flags,
    .state_size = sizeof(struct con),
    .control = con_control,
    .read = con_read,
    .write = con_write,
    .version = "1.0",
};

static void __attribute__((constructor)) reg(void) { qvm_register_factory(&con_factory); }
