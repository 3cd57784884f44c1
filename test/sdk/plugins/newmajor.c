/* A plug-in claiming ABI major 2: qvm must refuse it, naming both versions. */
#include <qvm/vdev.h>

static int ctl(qvm_vdev_t *d, void *s, unsigned c, int a, const char *v)
{ (void)d; (void)s; (void)c; (void)a; (void)v; return 0; }

static const struct qvm_factory f = {
    .abi_major = QVM_VDEV_ABI_MAJOR + 1, .abi_minor = 0,
    .struct_size = sizeof(struct qvm_factory),
    .name = "newmajor", .control = ctl,
};

static void __attribute__((constructor)) reg(void) { qvm_register_factory(&f); }
