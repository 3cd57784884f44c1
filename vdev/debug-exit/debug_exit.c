/*
 * debug-exit: a test device that ends qvm with a chosen exit status, with
 * QEMU's isa-debug-exit semantics so that test kernels written for
 * `qemu -device isa-debug-exit,iobase=0xf4,iosize=4` run unchanged.
 *
 * Default loc io:0xf4, 4 bytes (mem: also accepted, 4 bytes). A write of
 * value v (1, 2 or 4 bytes, little-endian, any offset in the region) ends
 * qvm with exit status (v << 1) | 1. The process exit status holds 8 bits,
 * so the status is ((v << 1) | 1) & 0xff = ((v & 0x7f) << 1) | 1: always
 * odd, 1..255 (v = 0 -> 1, v = 5 -> 11, v = 0x7f or 0xff -> 255). That is
 * exactly what QEMU's exit((v << 1) | 1) produces. These statuses can
 * coincide with qvm's own codes (3, 5, 7, 65 ...): a test that uses this
 * device must know its guest's convention. Reads return 0.
 */
#include <qvm/vdev.h>

#include <errno.h>
#include <string.h>

struct dbgexit {
    uint64_t writes;
};

static const char *const dbgexit_options[] = {NULL};

static int dbgexit_read(qvm_vdev_t *dev, void *state,
                        const struct qvm_access *acc, void *data)
{
    (void)dev;
    (void)state;
    if (acc->size > 8)
        return QVM_BUS_ERROR;
    memset(data, 0, acc->size);
    return QVM_DONE;
}

static int dbgexit_write(qvm_vdev_t *dev, void *state,
                         const struct qvm_access *acc, void *data)
{
    struct dbgexit *d = state;
    if (acc->size == 0 || acc->size > 8)
        return QVM_BUS_ERROR;
    /* Only bits 0-6 of v survive the 8-bit exit status; they are in the
     * low byte of the little-endian data whatever the access size. */
    uint8_t v = ((const uint8_t *)data)[0];
    d->writes++;
    qvm_exit_status(dev, (int)((((unsigned)v << 1) | 1u) & 0xffu));
    return QVM_DONE;
}

static int dbgexit_control(qvm_vdev_t *dev, void *state, unsigned ctrl,
                           int arg, const char *value)
{
    struct dbgexit *d = state;
    (void)arg;
    (void)value;
    switch (ctrl) {
    case QVM_CTRL_OPTION:
        return -EINVAL;
    case QVM_CTRL_OPTIONS_END: {
        uint32_t space = QVM_SPACE_IO;
        uint64_t base = 0xf4;
        if (qvm_loc_count(dev) > 0 && qvm_loc_get(dev, 0, &space, &base))
            return -EINVAL;
        if (space != QVM_SPACE_IO && space != QVM_SPACE_MEM) {
            qvm_log(dev, QVM_LOG_ERROR, "loc: must be io: or mem:");
            return -EINVAL;
        }
        int rc = qvm_region_add(dev, space, base, 4);
        return rc < 0 ? rc : 0;
    }
    case QVM_CTRL_STATUS:
        qvm_log(dev, QVM_LOG_INFO, "writes=%llu",
                (unsigned long long)d->writes);
        return 0;
    case QVM_CTRL_POWER_BUTTON:
        return -ENOTSUP;
    default:
        return 0;
    }
}

static const struct qvm_factory dbgexit_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "debug-exit",
    .description = "test device (QEMU isa-debug-exit): a write of v ends qvm with "
                   "exit status (v << 1) | 1",
    .flags = QVM_VDEVF_SPACE_IO | QVM_VDEVF_SPACE_MEM,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2 | QVM_ACCESS_4,
    .options = dbgexit_options,
    .state_size = sizeof(struct dbgexit),
    .control = dbgexit_control,
    .read = dbgexit_read,
    .write = dbgexit_write,
    .pic = NULL,
};

static void __attribute__((constructor)) dbgexit_register(void)
{
    qvm_register_factory(&dbgexit_factory);
}
