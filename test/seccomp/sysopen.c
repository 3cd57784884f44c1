/* vdev "sysopen" (test only, test/seccomp/run.sh): a plug-in that does what
 * a vCPU thread must never do under qvm's system-call filter. Writing its
 * 4-byte register (on the vCPU thread that made the access) calls
 * open("/etc/hostname", O_RDONLY); reading it returns 1 when that open
 * succeeded, 0x100 + errno when it failed, 0 before any write. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <qvm/vdev.h>

struct st { uint32_t result; };

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
    (void)dev;
    memcpy(d, &s->result, a->size < 4 ? a->size : 4);
    return QVM_DONE;
}

static int wr(qvm_vdev_t *dev, void *state, const struct qvm_access *a, void *d)
{
    struct st *s = state;
    (void)a; (void)d;
    int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        s->result = 1;
        close(fd);
        qvm_log(dev, QVM_LOG_INFO, "open(/etc/hostname) succeeded");
    } else {
        s->result = 0x100u + (uint32_t)errno;
        qvm_log(dev, QVM_LOG_INFO, "open(/etc/hostname) failed: %s", strerror(errno));
    }
    return QVM_DONE;
}

static const struct qvm_factory f = {
    .abi_major = QVM_VDEV_ABI_MAJOR, .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "sysopen", .description = "test: opens a file from its register write handler",
    .flags = QVM_VDEVF_NEEDS_LOC | QVM_VDEVF_SPACE_IO,
    .access_sizes = QVM_ACCESS_4, .state_size = sizeof(struct st),
    .control = ctl, .read = rd, .write = wr,
};

static void __attribute__((constructor)) reg(void) { qvm_register_factory(&f); }
