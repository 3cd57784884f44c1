/* Registers a factory named like qvm's own `ser8250`: a duplicate name. */
#include <qvm/vdev.h>

static int ctl(qvm_vdev_t *d, void *s, unsigned c, int a, const char *v)
{ (void)d; (void)s; (void)c; (void)a; (void)v; return 0; }

static const struct qvm_factory f = {
    .abi_major = QVM_VDEV_ABI_MAJOR, .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "ser8250", .control = ctl,
};

static void __attribute__((constructor)) reg(void) { qvm_register_factory(&f); }
