/*
 * debug-exit: a test device that ends qvm with a chosen exit code.
 *
 * Default loc io:0xf4, 4 bytes (mem: also accepted, 4 bytes). A write of
 * value v (any size, any offset in the region) asks qvm to exit with code
 * 32 + (v & 31), i.e. 32..63, the vdev-defined range. Reads return 0.
 * Micro-guests use it to report pass/fail without a console.
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
    uint8_t v = ((const uint8_t *)data)[0]; /* low byte holds bits 0-4 */
    d->writes++;
    qvm_exit_code(dev, 32 + (v & 31));
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
    .description = "test device: a write ends qvm with exit code 32 + (v & 31)",
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
