/*
 * pci-dummy: a PCI function that only identifies itself (QNX's `vdev
 * pci-dummy`): configurable vendor/device, revision, class code and
 * subsystem IDs, no BARs, no interrupt, nothing else. Guests that look for a
 * particular PCI ID pair to recognize a platform find it. The pci-host vdev
 * serves its configuration space (type-0 header); every other register
 * reads as the host's defaults for a function without resources.
 *
 * Options (each may repeat, QVM_OPTF_REPEAT; later values win):
 *   reg OFFSET/SIZE=VALUE   a register by offset and size (1, 2, 4, 8):
 *                           only the identification registers are modelled
 *                           (0x00 vendor, 0x02 device, 0x08 revision,
 *                           0x09-0x0b class code, 0x0e header type, 0x2c
 *                           subsystem vendor, 0x2e subsystem); a range that
 *                           covers anything else is refused naming it
 *   reg NAME=VALUE          the same by name: Vendor_ID, Device_ID,
 *                           Revision_ID, Class_Code[0] (programming
 *                           interface), Class_Code[1] (subclass),
 *                           Class_Code[2] (base class), Header_Type,
 *                           Sub_Vendor_ID, Sub_System_ID
 *   clone HOSTDEV           those registers copied from the host's PCI
 *                           device HOSTDEV, a Linux address
 *                           [DOMAIN:]BUS:DEV.FN, read from
 *                           /sys/bus/pci/devices/DOMAIN:BUS:DEV.FN/config
 *                           ($QVM_PCI_SYSFS names another directory of
 *                           that layout); regs given after `clone`
 *                           override it
 * Header_Type may only be 0 (a single-function type-0 header: what the
 * pci-host serves). Defaults: vendor 0x1C05 (QNX), device 0xFFFF, class
 * 0xFF0000 (unassigned), revision 0, subsystem 0/0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qvm/vdev.h>

/* The identification bytes of config space 0x00-0x2f this device models. */
#define ID_BYTES 0x30

struct dummy {
    uint8_t cfg[ID_BYTES]; /* little-endian config-space bytes */
};

static const char *const dummy_options[] = {"reg", "clone", NULL};
static const uint32_t dummy_option_flags[] = {QVM_OPTF_REPEAT, QVM_OPTF_REPEAT};

/* Bytes that are modelled: 1 = an identification byte. */
static int modelled(unsigned off)
{
    return off <= 0x03 || (off >= 0x08 && off <= 0x0b) || off == 0x0e ||
           (off >= 0x2c && off <= 0x2f);
}

static const struct {
    const char *name;
    unsigned off, size;
} kNames[] = {
    {"Vendor_ID", 0x00, 2},     {"Device_ID", 0x02, 2},     {"Revision_ID", 0x08, 1},
    {"Class_Code[0]", 0x09, 1}, {"Class_Code[1]", 0x0a, 1}, {"Class_Code[2]", 0x0b, 1},
    {"Header_Type", 0x0e, 1},   {"Sub_Vendor_ID", 0x2c, 2}, {"Sub_System_ID", 0x2e, 2},
};

static int parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* `reg OFFSET/SIZE=VALUE` or `reg NAME=VALUE`. */
static int set_reg(qvm_vdev_t *dev, struct dummy *d, const char *value)
{
    const char *eq = strchr(value, '=');
    char key[32];
    uint64_t v, off = 0, size = 0;
    if (!eq || (size_t)(eq - value) >= sizeof key || parse_u64(eq + 1, &v) != 0) {
        qvm_log(dev, QVM_LOG_ERROR, "reg: want OFFSET/SIZE=VALUE or NAME=VALUE");
        return -EINVAL;
    }
    memcpy(key, value, (size_t)(eq - value));
    key[eq - value] = '\0';
    const char *slash = strchr(key, '/');
    if (slash) {
        char offs[32];
        memcpy(offs, key, (size_t)(slash - key));
        offs[slash - key] = '\0';
        if (parse_u64(offs, &off) != 0 || parse_u64(slash + 1, &size) != 0 ||
            (size != 1 && size != 2 && size != 4 && size != 8) || off % size != 0) {
            qvm_log(dev, QVM_LOG_ERROR, "reg %s: want OFFSET/SIZE with SIZE 1, 2, 4 or 8 "
                    "and OFFSET a multiple of SIZE", key);
            return -EINVAL;
        }
    } else {
        for (size_t i = 0; i < sizeof kNames / sizeof kNames[0]; i++)
            if (strcmp(key, kNames[i].name) == 0) {
                off = kNames[i].off;
                size = kNames[i].size;
            }
        if (size == 0) {
            qvm_log(dev, QVM_LOG_ERROR, "reg %s: unknown register name (known: Vendor_ID, "
                    "Device_ID, Revision_ID, Class_Code[0..2], Header_Type, Sub_Vendor_ID, "
                    "Sub_System_ID)", key);
            return -EINVAL;
        }
    }
    if (size < 8 && v >> (8 * size)) {
        qvm_log(dev, QVM_LOG_ERROR, "reg %s: value 0x%llx does not fit %u byte(s)", key,
                (unsigned long long)v, (unsigned)size);
        return -EINVAL;
    }
    for (unsigned i = 0; i < size; i++) {
        unsigned o = (unsigned)off + i;
        uint8_t b = (uint8_t)(v >> (8 * i));
        if (o >= ID_BYTES || !modelled(o)) {
            qvm_log(dev, QVM_LOG_ERROR, "reg %s: config-space byte 0x%x is not modelled "
                    "(pci-dummy sets only the identification registers)", key, o);
            return -EINVAL;
        }
        if (o == 0x0e && b != 0) {
            qvm_log(dev, QVM_LOG_ERROR, "reg %s: Header_Type 0x%x: only 0 (a single-function "
                    "type-0 header, what the PCI host serves)", key, b);
            return -EINVAL;
        }
        d->cfg[o] = b;
    }
    return 0;
}

/* `clone [DOMAIN:]BUS:DEV.FN`: the host device's identification registers. */
static int clone_host(qvm_vdev_t *dev, struct dummy *d, const char *value)
{
    unsigned dom = 0, bus, slot, fn;
    char tail;
    int n = sscanf(value, "%x:%x:%x.%x%c", &dom, &bus, &slot, &fn, &tail);
    if (n != 4) {
        dom = 0;
        n = sscanf(value, "%x:%x.%x%c", &bus, &slot, &fn, &tail);
        if (n != 3)
            n = -1;
    }
    if (n < 0 || dom > 0xffff || bus > 0xff || slot > 0x1f || fn > 7) {
        qvm_log(dev, QVM_LOG_ERROR, "clone %s: want a host PCI address [DOMAIN:]BUS:DEV.FN "
                "(as lspci -D prints it)", value);
        return -EINVAL;
    }
    /* $QVM_PCI_SYSFS names another directory of sysfs's layout (tests). */
    const char *root = getenv("QVM_PCI_SYSFS");
    if (!root || !*root || strlen(root) > 200)
        root = "/sys/bus/pci/devices";
    char path[256];
    snprintf(path, sizeof path, "%s/%04x:%02x:%02x.%x/config", root, dom, bus, slot, fn);
    uint8_t buf[ID_BYTES];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? pread(fd, buf, sizeof buf, 0) : -1;
    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)sizeof buf) {
        qvm_log(dev, QVM_LOG_ERROR, "clone %s: cannot read %s", value, path);
        return -ENOENT;
    }
    for (unsigned o = 0; o < ID_BYTES; o++)
        if (modelled(o) && o != 0x0e) /* the header type stays 0 */
            d->cfg[o] = buf[o];
    return 0;
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static int dummy_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg,
                         const char *value)
{
    struct dummy *d = state;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        d->cfg[0x00] = 0x05; /* vendor 0x1C05 */
        d->cfg[0x01] = 0x1c;
        d->cfg[0x02] = 0xff; /* device 0xFFFF */
        d->cfg[0x03] = 0xff;
        d->cfg[0x0b] = 0xff; /* class 0xFF: unassigned */
        return 0;
    case QVM_CTRL_OPTION:
        if (!value)
            return -EINVAL;
        return arg == 0 ? set_reg(dev, d, value) : clone_host(dev, d, value);
    case QVM_CTRL_OPTIONS_END: {
        struct qvm_pci_function f;
        memset(&f, 0, sizeof f);
        f.struct_size = sizeof f;
        f.vendor_id = le16(&d->cfg[0x00]);
        f.device_id = le16(&d->cfg[0x02]);
        f.revision = d->cfg[0x08];
        f.prog_if = d->cfg[0x09];
        f.subclass = d->cfg[0x0a];
        f.class_code = d->cfg[0x0b];
        f.subsystem_vendor_id = le16(&d->cfg[0x2c]);
        f.subsystem_id = le16(&d->cfg[0x2e]);
        if (f.vendor_id == 0xffff) {
            qvm_log(dev, QVM_LOG_ERROR, "Vendor_ID 0xFFFF means \"no function\" to the guest");
            return -EINVAL;
        }
        int rc = qvm_pci_declare(dev, &f);
        return rc < 0 ? rc : 0;
    }
    case QVM_CTRL_STATUS:
        qvm_log(dev, QVM_LOG_INFO, "%04x:%04x class %02x%02x%02x rev %02x subsystem %04x:%04x",
                le16(&d->cfg[0x00]), le16(&d->cfg[0x02]), d->cfg[0x0b], d->cfg[0x0a],
                d->cfg[0x09], d->cfg[0x08], le16(&d->cfg[0x2c]), le16(&d->cfg[0x2e]));
        return 0;
    default:
        return 0;
    }
}

static const struct qvm_factory dummy_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "pci-dummy",
    .description = "PCI function that only identifies itself (IDs, class)",
    .flags = QVM_VDEVF_SPACE_PCI,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2 | QVM_ACCESS_4,
    .options = dummy_options,
    .state_size = sizeof(struct dummy),
    .control = dummy_control,
    .version = "1.0",
    .option_flags = dummy_option_flags,
};

static void __attribute__((constructor)) dummy_register(void)
{
    qvm_register_factory(&dummy_factory);
}
