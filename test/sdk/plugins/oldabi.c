/* A plug-in built against the frozen ABI 1.0 header (test/sdk/abi-1.0):
 * its struct qvm_factory is shorter than 1.1's. A 1.1 qvm must load it and
 * run it. Device: one 4-byte register that reads back what was written
 * plus 1, at the configured loc (io or mem). */
#include <errno.h>
#include <string.h>

#include <qvm/vdev.h>

#if QVM_VDEV_ABI_MAJOR != 1 || QVM_VDEV_ABI_MINOR != 0
#error "oldabi.c must be compiled against the frozen 1.0 header"
#endif

struct st { uint32_t reg; };

static int ctl(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg, const char *v)
{
    (void)state; (void)arg; (void)v;
    if (ctrl == QVM_CTRL_OPTIONS_END) {
        uint32_t space;
        uint64_t base;
        if (qvm_loc_get(dev, 0, &space, &base) != 0) return -EINVAL;
        return qvm_region_add(dev, space, base, 4) < 0 ? -EEXIST : 0;
    }
    return 0;
}

static int rd(qvm_vdev_t *dev, void *state, const struct qvm_access *a, void *d)
{
    struct st *s = state;
    uint32_t v = s->reg + 1;
    (void)dev;
    memcpy(d, &v, a->size < 4 ? a->size : 4);
    return QVM_DONE;
}

static int wr(qvm_vdev_t *dev, void *state, const struct qvm_access *a, void *d)
{
    struct st *s = state;
    (void)dev;
    s->reg = 0;
    memcpy(&s->reg, d, a->size < 4 ? a->size : 4);
    return QVM_DONE;
}

static const struct qvm_factory f = {
    .abi_major = QVM_VDEV_ABI_MAJOR, .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "oldabi", .description = "ABI 1.0 test device",
    .flags = QVM_VDEVF_NEEDS_LOC | QVM_VDEVF_SPACE_IO | QVM_VDEVF_SPACE_MEM,
    .access_sizes = QVM_ACCESS_4, .state_size = sizeof(struct st),
    .control = ctl, .read = rd, .write = wr,
};

static void __attribute__((constructor)) reg(void) { qvm_register_factory(&f); }
