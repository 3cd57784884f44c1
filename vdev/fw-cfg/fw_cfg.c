/*
 * fw-cfg: QEMU's firmware configuration interface (the x86 I/O-port
 * flavour), so that firmware and test kernels written against QEMU's
 * fw_cfg find the VM's facts the same way under qvm.
 *
 * Registers (default loc io:0x510, 12 ports):
 *   +0 (0x510)  selector, 16-bit write: selects an item and rewinds it
 *   +1 (0x511)  data, 8-bit read: the next byte of the selected item
 *               (0 past its end); writes are ignored (as QEMU >= 2.4)
 *   +4 (0x514)  DMA address, big-endian: a 32-bit write at +4 sets the
 *               high half, a 32-bit write at +8 the low half and starts
 *               the transfer (an 8-byte write at +4 does both); reads
 *               give the signature "QEMU CFG" (byte i at +4+i).
 * Items: 0x0000 signature "QEMU"; 0x0001 ID (bit 0 traditional interface,
 * bit 1 DMA); 0x0003 RAM size (u64 LE, the sum of the RAM regions);
 * 0x0005 FW_CFG_NB_CPUS and 0x000f FW_CFG_MAX_CPUS (u16 LE); 0x0014
 * FW_CFG_CMDLINE_SIZE (u32 LE, strlen + 1) and 0x0015 FW_CFG_CMDLINE_DATA
 * (NUL-terminated); 0x0019 FW_CFG_FILE_DIR (u32 BE count, then per file
 * u32 BE size, u16 BE selector, u16 reserved, char name[56]); files from
 * 0x0020 on, sorted by name: "etc/e820" (one 20-byte entry per RAM region:
 * u64 address, u64 length, u32 type 1, little-endian) and
 * "opt/qvm/system-name" (the VM's `system` name, no NUL).
 * DMA (FW_CFG_DMA_CTL_*): the guest writes the address of a 16-byte
 * big-endian control structure {u32 control, u32 length, u64 address};
 * SELECT (bit 3, selector in bits 31-16), READ (bit 1; bytes past the
 * item's end read as 0), SKIP (bit 2) act; WRITE (bit 4) is refused with
 * ERROR (bit 0), as for QEMU's read-only items. The control word is then
 * written back: 0 on success, ERROR otherwise. Every guest address and
 * length goes through qvm_gmem_*; a transfer is one bounded copy.
 * Option: `dma on|off` (default on; off also clears ID bit 1).
 * ACPI: the device is described as QEMU0002 (Linux's qemu_fw_cfg binds to
 * it).
 */
#include <qvm/vdev.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define FWCFG_PORTS 12u
#define FWCFG_CMDLINE_MAX 4096u
#define FWCFG_E820_MAX 16u
#define FWCFG_NAME_MAX 64u
#define FWCFG_FILES 2u
#define FWCFG_FILE_ENTRY 64u /* 4 + 2 + 2 + 56 */

enum {
    KEY_SIGNATURE = 0x0000,
    KEY_ID = 0x0001,
    KEY_RAM_SIZE = 0x0003,
    KEY_NB_CPUS = 0x0005,
    KEY_MAX_CPUS = 0x000f,
    KEY_CMDLINE_SIZE = 0x0014,
    KEY_CMDLINE_DATA = 0x0015,
    KEY_FILE_DIR = 0x0019,
    KEY_FILE_FIRST = 0x0020,
    KEY_E820 = KEY_FILE_FIRST,        /* "etc/e820" */
    KEY_SYSNAME = KEY_FILE_FIRST + 1, /* "opt/qvm/system-name" */
};

enum {
    DMA_ERROR = 1u << 0,
    DMA_READ = 1u << 1,
    DMA_SKIP = 1u << 2,
    DMA_SELECT = 1u << 3,
    DMA_WRITE = 1u << 4,
};

struct fwcfg {
    int dma_off;            /* option `dma off` */
    uint16_t sel;
    uint32_t off;           /* read position in the selected item */
    uint32_t dma_hi;        /* latched high half of the DMA address */
    uint8_t id[4];
    uint8_t ram_size[8];
    uint8_t ncpus[2];
    uint8_t cmdline_size[4];
    char cmdline[FWCFG_CMDLINE_MAX + 1];
    uint32_t cmdline_len;   /* including the NUL */
    uint8_t e820[FWCFG_E820_MAX * 20];
    uint32_t e820_len;
    char sysname[FWCFG_NAME_MAX];
    uint32_t sysname_len;
    uint8_t filedir[4 + FWCFG_FILES * FWCFG_FILE_ENTRY];
    uint64_t reads, dma_ops, dma_errors, ignored;
};

static const char *const fwcfg_options[] = {"dma", NULL};

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* The bytes of item `key`, or NULL (unknown key: reads give 0). */
static const uint8_t *item(const struct fwcfg *d, uint16_t key, uint32_t *len)
{
    static const uint8_t sig[4] = {'Q', 'E', 'M', 'U'};
    switch (key) {
    case KEY_SIGNATURE: *len = 4; return sig;
    case KEY_ID: *len = 4; return d->id;
    case KEY_RAM_SIZE: *len = 8; return d->ram_size;
    case KEY_NB_CPUS:
    case KEY_MAX_CPUS: *len = 2; return d->ncpus;
    case KEY_CMDLINE_SIZE: *len = 4; return d->cmdline_size;
    case KEY_CMDLINE_DATA: *len = d->cmdline_len; return (const uint8_t *)d->cmdline;
    case KEY_FILE_DIR: *len = sizeof d->filedir; return d->filedir;
    case KEY_E820: *len = d->e820_len; return d->e820;
    case KEY_SYSNAME: *len = d->sysname_len; return (const uint8_t *)d->sysname;
    default: *len = 0; return NULL;
    }
}

static void dir_entry(struct fwcfg *d, unsigned i, uint32_t size, uint16_t key,
                      const char *name)
{
    uint8_t *e = d->filedir + 4 + i * FWCFG_FILE_ENTRY;
    put_be(e, size, 4);
    put_be(e + 4, key, 2);
    e[6] = e[7] = 0;
    memset(e + 8, 0, 56);
    strncpy((char *)e + 8, name, 55);
}

/* Builds every item from what qvm reports (at QVM_CTRL_RESOURCES). */
static void build_items(qvm_vdev_t *dev, struct fwcfg *d)
{
    put_le(d->id, d->dma_off ? 1u : 3u, 4);
    unsigned n = qvm_vcpu_count(dev);
    put_le(d->ncpus, n > 0xffff ? 0xffff : n, 2);
    uint64_t total = 0, base, size;
    d->e820_len = 0;
    for (unsigned i = 0; qvm_ram_region(dev, i, &base, &size) == 0; i++) {
        total += size;
        if (i < FWCFG_E820_MAX) {
            uint8_t *e = d->e820 + 20 * i;
            put_le(e, base, 8);
            put_le(e + 8, size, 8);
            put_le(e + 16, 1, 4);
            d->e820_len += 20;
        }
    }
    put_le(d->ram_size, total, 8);
    const char *c = qvm_cmdline(dev);
    size_t cl = c ? strlen(c) : 0;
    if (cl > FWCFG_CMDLINE_MAX) {
        qvm_log(dev, QVM_LOG_WARN, "cmdline longer than %u bytes: truncated",
                FWCFG_CMDLINE_MAX);
        cl = FWCFG_CMDLINE_MAX;
    }
    if (cl)
        memcpy(d->cmdline, c, cl);
    d->cmdline[cl] = 0;
    d->cmdline_len = (uint32_t)cl + 1;
    put_le(d->cmdline_size, d->cmdline_len, 4);
    const char *s = qvm_system_name(dev);
    snprintf(d->sysname, sizeof d->sysname, "%s", s ? s : "");
    d->sysname_len = (uint32_t)strlen(d->sysname);
    put_be(d->filedir, FWCFG_FILES, 4);
    dir_entry(d, 0, d->e820_len, KEY_E820, "etc/e820");
    dir_entry(d, 1, d->sysname_len, KEY_SYSNAME, "opt/qvm/system-name");
}

static void select_item(struct fwcfg *d, uint16_t key)
{
    d->sel = key;
    d->off = 0;
}

/* One DMA request: the control structure at guest-physical `addr`. */
static void dma(qvm_vdev_t *dev, struct fwcfg *d, uint64_t addr)
{
    uint8_t cs[16];
    d->dma_ops++;
    if (addr > UINT64_MAX - 16 || qvm_gmem_read(dev, addr, cs, sizeof cs)) {
        d->dma_errors++;
        qvm_log(dev, QVM_LOG_WARN, "DMA control structure at 0x%llx is not in RAM",
                (unsigned long long)addr);
        return; /* nowhere to report the error */
    }
    uint32_t control = (uint32_t)get_be(cs, 4);
    uint32_t length = (uint32_t)get_be(cs + 4, 4);
    uint64_t gpa = get_be(cs + 8, 8);
    int error = 0;
    if (control & DMA_SELECT)
        select_item(d, (uint16_t)(control >> 16));
    uint32_t ilen;
    const uint8_t *it = item(d, d->sel, &ilen);
    if (!it)
        ilen = 0;
    uint32_t avail = d->off < ilen ? ilen - d->off : 0;
    uint32_t n = length < avail ? length : avail;
    if (control & DMA_WRITE) {
        error = 1; /* no writable items */
    } else if (control & DMA_READ) {
        if (length) {
            uint8_t *p = NULL;
            if (gpa <= UINT64_MAX - length)
                p = qvm_gmem_map(dev, gpa, length, 1);
            if (!p) {
                error = 1;
            } else {
                if (n)
                    memcpy(p, it + d->off, n);
                memset(p + n, 0, length - n);
                qvm_gmem_unmap(dev, p, length);
                d->off += n;
            }
        }
    } else if (control & DMA_SKIP) {
        d->off += n;
    }
    if (error) {
        d->dma_errors++;
        qvm_log(dev, QVM_LOG_WARN, "DMA control 0x%x length %u address 0x%llx refused",
                control, length, (unsigned long long)gpa);
    }
    uint8_t done[4];
    put_be(done, error ? DMA_ERROR : 0, 4);
    if (qvm_gmem_write(dev, addr, done, sizeof done))
        d->dma_errors++;
}

static int fwcfg_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                      void *data)
{
    static const char dma_sig[8] = {'Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G'};
    struct fwcfg *d = state;
    uint8_t *out = data;
    (void)dev;
    if (acc->size == 0 || acc->size > 8 || acc->offset >= FWCFG_PORTS ||
        acc->size > FWCFG_PORTS - acc->offset)
        return QVM_BUS_ERROR;
    memset(out, 0, acc->size);
    if (acc->offset <= 1 && acc->size == 1) { /* either port, as QEMU */
        uint32_t len;
        const uint8_t *it = item(d, d->sel, &len);
        if (it && d->off < len)
            out[0] = it[d->off++];
        d->reads++;
        return QVM_DONE;
    }
    if (acc->offset >= 4 && !d->dma_off) {
        for (unsigned i = 0; i < acc->size; i++)
            out[i] = (uint8_t)dma_sig[acc->offset - 4 + i];
        return QVM_DONE;
    }
    d->ignored++;
    return QVM_DONE;
}

static int fwcfg_write(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                       void *data)
{
    struct fwcfg *d = state;
    const uint8_t *in = data;
    if (acc->size == 0 || acc->size > 8 || acc->offset >= FWCFG_PORTS ||
        acc->size > FWCFG_PORTS - acc->offset)
        return QVM_BUS_ERROR;
    if (acc->offset == 0 && acc->size == 2) {
        select_item(d, (uint16_t)(in[0] | (in[1] << 8)));
        return QVM_DONE;
    }
    if (!d->dma_off) {
        if (acc->offset == 4 && acc->size == 4) {
            d->dma_hi = (uint32_t)get_be(in, 4);
            return QVM_DONE;
        }
        if (acc->offset == 8 && acc->size == 4) {
            uint64_t addr = ((uint64_t)d->dma_hi << 32) | get_be(in, 4);
            d->dma_hi = 0;
            dma(dev, d, addr);
            return QVM_DONE;
        }
        if (acc->offset == 4 && acc->size == 8) {
            d->dma_hi = 0;
            dma(dev, d, get_be(in, 8));
            return QVM_DONE;
        }
    }
    d->ignored++; /* data-port writes and odd widths: ignored */
    return QVM_DONE;
}

static int fwcfg_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg,
                         const char *value)
{
    struct fwcfg *d = state;
    switch (ctrl) {
    case QVM_CTRL_OPTION:
        if (arg == 0 && value) {
            if (!strcmp(value, "on") || !strcmp(value, "yes") || !strcmp(value, "1"))
                d->dma_off = 0;
            else if (!strcmp(value, "off") || !strcmp(value, "no") || !strcmp(value, "0"))
                d->dma_off = 1;
            else
                return -EINVAL;
            return 0;
        }
        return -EINVAL;
    case QVM_CTRL_OPTIONS_END: {
        uint32_t space = QVM_SPACE_IO;
        uint64_t base = 0x510;
        if (qvm_loc_count(dev) > 0 && qvm_loc_get(dev, 0, &space, &base))
            return -EINVAL;
        if (space != QVM_SPACE_IO || base > 0x10000 - FWCFG_PORTS) {
            qvm_log(dev, QVM_LOG_ERROR, "loc: must be io:PORT");
            return -EINVAL;
        }
        int rc = qvm_region_add(dev, space, base, FWCFG_PORTS);
        return rc < 0 ? rc : 0;
    }
    case QVM_CTRL_RESOURCES:
        build_items(dev, d);
        return 0;
    case QVM_CTRL_RESET:
        d->sel = 0;
        d->off = 0;
        d->dma_hi = 0;
        return 0;
    case QVM_CTRL_GEN_ACPI: {
        int rc = qvm_acpi_device(dev, "QEMU0002", NULL);
        return rc == -ENOTSUP ? 0 : rc;
    }
    case QVM_CTRL_STATUS:
        qvm_log(dev, QVM_LOG_INFO,
                "selector 0x%x offset %u, %llu data reads, %llu DMA requests "
                "(%llu refused), %llu ignored accesses",
                d->sel, d->off, (unsigned long long)d->reads,
                (unsigned long long)d->dma_ops, (unsigned long long)d->dma_errors,
                (unsigned long long)d->ignored);
        return 0;
    case QVM_CTRL_POWER_BUTTON:
        return -ENOTSUP;
    default:
        return 0;
    }
}

static const struct qvm_factory fwcfg_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "fw-cfg",
    .description = "QEMU fw_cfg interface (io 0x510): signature, CPU count, RAM "
                   "size, command line, file directory, DMA",
    .flags = QVM_VDEVF_SPACE_IO,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2 | QVM_ACCESS_4 | QVM_ACCESS_8,
    .options = fwcfg_options,
    .state_size = sizeof(struct fwcfg),
    .control = fwcfg_control,
    .read = fwcfg_read,
    .write = fwcfg_write,
    .pic = NULL,
    .version = "1.0",
};

static void __attribute__((constructor)) fwcfg_register(void)
{
    qvm_register_factory(&fwcfg_factory);
}
