/*
 * pci-host: a PCI host bridge for the functions other vdevs declare with
 * qvm_pci_declare().
 *
 * Configuration space: mechanism #1 (ports 0xCF8 address, 0xCFC-0xCFF data)
 * and ECAM (default 0xE0000000, 256 MiB = buses 0-255; `loc mem:ADDR`
 * moves it). Every function gets a type-0 header built from its
 * description, its vendor capabilities from 0x40 and an MSI-X capability
 * after them; writable bits are tracked per byte (command, BARs, interrupt
 * line, MSI-X control), everything else is read-only. Extended space
 * (0x100-0xFFF) reads as zero. Absent functions read as all-ones.
 *
 * BARs: memory BARs are assigned, naturally aligned, in the MMIO window
 * 0xC0000000-0xDFFFFFFF when resources are known (as firmware would) and
 * decode wherever the guest moves them inside that window while
 * command.memory is set (qvm_pci_bar_map dispatches there directly). I/O
 * BARs (QVM_PCI_BAR_IO, ABI 1.8) likewise in the I/O window 0xC000-0xFFFF
 * while command.io is set.
 *
 * INTx: line D*4+P (QVM_PCI_INTX_LINE) is wired-ORed onto IOAPIC input
 * 16 + ((D + P) & 3), driven active low (ACPI's _PRT GSIs are level,
 * active low). Port 0xCF9 bit 2 (reset control) resets the VM.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <qvm/vdev.h>

#define MAXFN 64
#define ECAM_DEFAULT 0xE0000000ull
#define ECAM_SIZE (256ull << 20)
#define WIN_BASE 0xC0000000ull
#define WIN_SIZE 0x20000000ull
#define IOWIN_BASE 0xC000u
#define IOWIN_SIZE 0x4000u
#define NLINES 128
#define GSI_BASE 16

/* The INTx routing, written once: line D*4+(P-1) (QVM_PCI_INTX_LINE) of
 * device D, pin P drives IOAPIC input GSI_BASE + line_gsi(line) = 16 +
 * ((D + P - 1) & 3). The config header's interrupt line and the ACPI _PRT
 * (qvm_acpi_pci_host) are both derived from it. */
static unsigned line_gsi(unsigned line) { return ((line / 4) + (line % 4)) & 3; }

struct fn {
    qvm_vdev_t *h;            /* NULL for the host bridge itself */
    unsigned addr;            /* bus << 8 | dev << 3 | fn */
    uint64_t bar_size[6];
    uint32_t bar_flags[6];
    uint64_t assigned[6];
    uint64_t mapped[6];       /* base currently decoding, 0 = none */
    uint8_t msix_cap;         /* offset of the MSI-X capability, 0 = none */
    uint8_t reset_cfg[256];
    uint8_t cfg[256];
    uint8_t wmask[256];
};

struct host {
    uint32_t cf8;
    uint64_t ecam_base;
    unsigned nfn;
    struct fn fns[MAXFN];
    uint32_t lines[NLINES / 32];
    uint8_t gsi_level[4];     /* 1 = asserted (some line of that GSI) */
    int gsi_driven;
};

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static struct fn *find_fn(struct host *s, unsigned addr) {
    for (unsigned i = 0; i < s->nfn; i++)
        if (s->fns[i].addr == addr)
            return &s->fns[i];
    return NULL;
}

/* Builds the reset image and write masks of one function. */
static void build_cfg(struct fn *f, const struct qvm_pci_function *d, int multi)
{
    uint8_t *c = f->reset_cfg, *w = f->wmask;
    memset(c, 0, 256);
    memset(w, 0, 256);
    put16(c + 0x00, d->vendor_id);
    put16(c + 0x02, d->device_id);
    c[0x08] = d->revision;
    c[0x09] = d->prog_if;
    c[0x0a] = d->subclass;
    c[0x0b] = d->class_code;
    c[0x0e] = multi ? 0x80 : 0x00;
    put16(c + 0x2c, d->subsystem_vendor_id);
    put16(c + 0x2e, d->subsystem_id);
    c[0x3d] = d->intx_pin;
    if (d->intx_pin) {
        c[0x3c] = (uint8_t)(GSI_BASE + line_gsi(QVM_PCI_INTX_LINE((f->addr >> 3) & 31, d->intx_pin)));
        w[0x3c] = 0xff;
    }
    w[0x04] = 0x06;                  /* memory space, bus master */
    w[0x05] = 0x04;                  /* interrupt disable */
    c[0x04] = 0x02;                  /* memory decoding on, as firmware leaves it */
    for (unsigned i = 0; i < 6; i++) {
        f->bar_size[i] = d->bar_size[i];
        f->bar_flags[i] = d->bar_flags[i];
        if (!d->bar_size[i])
            continue;
        uint64_t mask = ~(d->bar_size[i] - 1);
        if (d->bar_flags[i] & QVM_PCI_BAR_IO) {
            put32(c + 0x10 + 4 * i, (uint32_t)(f->assigned[i] & 0xfffcu) | 0x1);
            put32(w + 0x10 + 4 * i, (uint32_t)mask & 0xfffcu);
            w[0x04] |= 0x01;         /* I/O space */
            c[0x04] |= 0x01;         /* decoding on, as firmware leaves it */
            continue;
        }
        uint32_t lo = (uint32_t)(f->assigned[i] & 0xfffffff0u);
        if (d->bar_flags[i] & QVM_PCI_BAR_MEM64) lo |= 0x4;
        if (d->bar_flags[i] & QVM_PCI_BAR_PREFETCH) lo |= 0x8;
        put32(c + 0x10 + 4 * i, lo);
        put32(w + 0x10 + 4 * i, (uint32_t)mask & 0xfffffff0u);
        if (d->bar_flags[i] & QVM_PCI_BAR_MEM64) {
            put32(c + 0x14 + 4 * i, (uint32_t)(f->assigned[i] >> 32));
            put32(w + 0x14 + 4 * i, (uint32_t)(mask >> 32));
            i++;
        }
    }
    /* Capabilities: the vendor's, then MSI-X. */
    uint8_t at = 0x40, *prev_next = &c[0x34];
    size_t off = 0;
    while (off + 3 <= d->caps_len) {
        uint8_t len = d->caps[off + 2];
        if (len < 3 || len > d->caps_len - off || at + len > 0xf4)
            break;  /* qvm validated this; stay safe anyway */
        memcpy(c + at, d->caps + off, len);
        *prev_next = at;
        prev_next = &c[at + 1];
        *prev_next = 0;
        off += len;
        at = (uint8_t)((at + len + 3) & ~3);
    }
    if (d->msix_vectors && at + 12 <= 0x100) {
        f->msix_cap = at;
        c[at] = 0x11;
        *prev_next = at;
        c[at + 1] = 0;
        put16(c + at + 2, (uint16_t)(d->msix_vectors - 1));
        put32(c + at + 4, d->msix_table_offset | d->msix_bar);
        put32(c + at + 8, d->msix_pba_offset | d->msix_bar);
        w[at + 3] = 0xc0;            /* enable, function mask */
    }
    if (c[0x34])
        c[0x06] = 0x10;              /* capability list */
    memcpy(f->cfg, c, 256);
}

static uint64_t bar_addr(const struct fn *f, unsigned i)
{
    if (f->bar_flags[i] & QVM_PCI_BAR_IO)
        return get32(f->cfg + 0x10 + 4 * i) & 0xfffcu;
    uint64_t a = get32(f->cfg + 0x10 + 4 * i) & 0xfffffff0u;
    if ((f->bar_flags[i] & QVM_PCI_BAR_MEM64) && i < 5)
        a |= (uint64_t)get32(f->cfg + 0x14 + 4 * i) << 32;
    return a;
}

static uint32_t fn_state(const struct fn *f)
{
    uint32_t st = 0;
    if (f->cfg[0x04] & 0x02) st |= QVM_PCI_STATE_MEM_ENABLE;
    if (f->cfg[0x04] & 0x04) st |= QVM_PCI_STATE_BUS_MASTER;
    if (f->cfg[0x05] & 0x04) st |= QVM_PCI_STATE_INTX_DISABLE;
    if (f->msix_cap) {
        if (f->cfg[f->msix_cap + 3] & 0x80) st |= QVM_PCI_STATE_MSIX_ENABLE;
        if (f->cfg[f->msix_cap + 3] & 0x40) st |= QVM_PCI_STATE_MSIX_MASKALL;
    }
    return st;
}

/* Re-publishes decoding and state after a config write or reset. */
static void sync_fn(qvm_vdev_t *dev, struct fn *f)
{
    if (!f->h)
        return;
    int mem = (f->cfg[0x04] & 0x02) != 0, io = (f->cfg[0x04] & 0x01) != 0;
    for (unsigned i = 0; i < 6; i++) {
        if (!f->bar_size[i])
            continue;
        uint64_t a = bar_addr(f, i), want = 0;
        if (f->bar_flags[i] & QVM_PCI_BAR_IO) {
            if (io && a >= IOWIN_BASE && a < IOWIN_BASE + IOWIN_SIZE &&
                f->bar_size[i] <= IOWIN_BASE + IOWIN_SIZE - a)
                want = a;
        } else if (mem && a >= WIN_BASE && a < WIN_BASE + WIN_SIZE &&
                   f->bar_size[i] <= WIN_BASE + WIN_SIZE - a) {
            want = a;
        }
        if (want != f->mapped[i]) {
            if (qvm_pci_bar_map(dev, f->h, i, want, want ? f->bar_size[i] : 0) == 0)
                f->mapped[i] = want;
            else
                f->mapped[i] = 0;
        }
        if (f->bar_flags[i] & QVM_PCI_BAR_MEM64)
            i++;
    }
    qvm_pci_set_state(dev, f->h, fn_state(f));
}

static uint32_t cfg_read(struct host *s, unsigned addr, unsigned off, unsigned size)
{
    struct fn *f = find_fn(s, addr);
    if (!f)
        return size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
    if (off >= 256 || off + size > 256)
        return 0;
    uint32_t v = 0;
    for (unsigned k = 0; k < size; k++)
        v |= (uint32_t)f->cfg[off + k] << (8 * k);
    return v;
}

static void cfg_write(qvm_vdev_t *dev, struct host *s, unsigned addr, unsigned off,
                      unsigned size, uint32_t v)
{
    struct fn *f = find_fn(s, addr);
    if (!f || off >= 256 || off + size > 256)
        return;
    for (unsigned k = 0; k < size; k++) {
        uint8_t b = (uint8_t)(v >> (8 * k)), m = f->wmask[off + k];
        f->cfg[off + k] = (uint8_t)((f->cfg[off + k] & ~m) | (b & m));
    }
    sync_fn(dev, f);
}

/* ---- INTx ---------------------------------------------------------------- */

static void drive_gsi(qvm_vdev_t *dev, struct host *s, unsigned g, int force)
{
    int level = 0;
    for (unsigned l = 0; l < NLINES; l++)
        if (((s->lines[l / 32] >> (l % 32)) & 1) && line_gsi(l) == g)
            level = 1;
    if (!force && level == s->gsi_level[g])
        return;
    s->gsi_level[g] = (uint8_t)level;
    /* active low: an asserted line pulls the pin to 0 */
    (void)qvm_irq_set_named(dev, "ioapic", GSI_BASE + g, level ? 0 : 1);
}

static int host_set_line(qvm_vdev_t *dev, void *state, unsigned line, int level)
{
    struct host *s = state;
    if (line >= NLINES)
        return -EINVAL;
    if (level) s->lines[line / 32] |= 1u << (line % 32);
    else s->lines[line / 32] &= ~(1u << (line % 32));
    drive_gsi(dev, s, line_gsi(line), 0);
    return 0;
}

static unsigned host_line_count(qvm_vdev_t *dev, void *state)
{
    (void)dev; (void)state;
    return NLINES;
}

/* ---- accesses --------------------------------------------------------------- */

static uint32_t load(const void *data, unsigned size)
{
    const uint8_t *p = data;
    uint32_t v = 0;
    for (unsigned k = 0; k < size && k < 4; k++)
        v |= (uint32_t)p[k] << (8 * k);
    return v;
}

static void store(void *data, unsigned size, uint64_t v)
{
    uint8_t *p = data;
    for (unsigned k = 0; k < size; k++)
        p[k] = (uint8_t)(v >> (8 * k));
}

static int host_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data)
{
    struct host *s = state;
    (void)dev;
    if (acc->region == 0) {                       /* ports 0xCF8-0xCFF */
        if (acc->offset == 0 && acc->size == 4) {
            store(data, 4, s->cf8);
        } else if (acc->offset >= 4 && acc->offset + acc->size <= 8) {
            if (!(s->cf8 & 0x80000000u)) {
                store(data, acc->size, 0xffffffffu);
                return QVM_DONE;
            }
            unsigned addr = (s->cf8 >> 8) & 0xffff;
            unsigned off = (s->cf8 & 0xfc) | (unsigned)(acc->offset - 4);
            store(data, acc->size, cfg_read(s, addr, off, acc->size));
        }
        return QVM_DONE;
    }
    if (acc->region == 1) {                       /* ECAM */
        if (acc->size > 4 || (acc->offset & (acc->size - 1))) {
            store(data, acc->size, ~0ull);
            return QVM_DONE;
        }
        unsigned addr = (unsigned)(acc->offset >> 12) & 0xffff;
        unsigned off = (unsigned)(acc->offset & 0xfff);
        store(data, acc->size, cfg_read(s, addr, off, acc->size));
        return QVM_DONE;
    }
    store(data, acc->size, ~0ull);                /* a window, no BAR there */
    return QVM_DONE;
}

static int host_write(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data)
{
    struct host *s = state;
    uint32_t v = load(data, acc->size);
    if (acc->region == 0) {
        if (acc->offset == 0 && acc->size == 4) {
            s->cf8 = v & 0x80fffffcu;
        } else if (acc->offset == 1 && acc->size == 1) {
            if (v & 0x04)                          /* 0xCF9 reset control */
                qvm_power(dev, QVM_POWER_RESET);
        } else if (acc->offset >= 4 && acc->offset + acc->size <= 8 &&
                   (s->cf8 & 0x80000000u)) {
            unsigned addr = (s->cf8 >> 8) & 0xffff;
            unsigned off = (s->cf8 & 0xfc) | (unsigned)(acc->offset - 4);
            cfg_write(dev, s, addr, off, acc->size, v);
        }
        return QVM_DONE;
    }
    if (acc->region == 1) {
        if (acc->size > 4 || (acc->offset & (acc->size - 1)))
            return QVM_DONE;
        cfg_write(dev, s, (unsigned)(acc->offset >> 12) & 0xffff,
                  (unsigned)(acc->offset & 0xfff), acc->size, v);
    }
    return QVM_DONE;                              /* windows: writes dropped */
}

/* ---- control ---------------------------------------------------------------- */

static int take_functions(qvm_vdev_t *dev, struct host *s)
{
    struct qvm_pci_function d;
    unsigned addr;
    struct fn *br = &s->fns[0];
    memset(&d, 0, sizeof d);
    d.vendor_id = 0x1b36;                          /* a generic host bridge */
    d.device_id = 0x0008;
    d.class_code = 0x06;
    br->addr = 0;
    build_cfg(br, &d, 0);
    s->nfn = 1;
    uint64_t cursor = WIN_BASE, iocursor = IOWIN_BASE;
    for (unsigned i = 0;; i++) {
        memset(&d, 0, sizeof d);
        d.struct_size = sizeof d;
        qvm_vdev_t *h = qvm_pci_enum(dev, i, &d, &addr);
        if (!h)
            break;
        if (s->nfn >= MAXFN) {
            qvm_log(dev, QVM_LOG_ERROR, "more than %d PCI functions", MAXFN - 1);
            return -ENOSPC;
        }
        struct fn *f = &s->fns[s->nfn++];
        memset(f, 0, sizeof *f);
        f->h = h;
        f->addr = addr;
        /* Place the BARs, largest alignment first within the function. */
        for (unsigned b = 0; b < 6; b++) {
            uint64_t sz = d.bar_size[b];
            if (!sz)
                continue;
            if (d.bar_flags[b] & QVM_PCI_BAR_IO) {
                uint64_t base = (iocursor + sz - 1) & ~(sz - 1);
                if (base > IOWIN_BASE + IOWIN_SIZE || sz > IOWIN_BASE + IOWIN_SIZE - base) {
                    qvm_log(dev, QVM_LOG_ERROR, "PCI I/O window full");
                    return -ENOSPC;
                }
                f->assigned[b] = base;
                iocursor = base + sz;
                continue;
            }
            uint64_t base = (cursor + sz - 1) & ~(sz - 1);
            if (base < cursor || base > WIN_BASE + WIN_SIZE || sz > WIN_BASE + WIN_SIZE - base) {
                qvm_log(dev, QVM_LOG_ERROR, "PCI memory window full");
                return -ENOSPC;
            }
            f->assigned[b] = base;
            cursor = base + sz;
            if (d.bar_flags[b] & QVM_PCI_BAR_MEM64)
                b++;
        }
        int multi = 0;
        for (unsigned j = 0;; j++) {
            struct qvm_pci_function o;
            unsigned oaddr;
            memset(&o, 0, sizeof o);
            o.struct_size = sizeof o;
            if (!qvm_pci_enum(dev, j, &o, &oaddr))
                break;
            if ((oaddr >> 3) == (addr >> 3) && oaddr != addr)
                multi = 1;
        }
        build_cfg(f, &d, multi);
        if (d.intx_pin && (addr >> 8) != 0)
            qvm_log(dev, QVM_LOG_WARN, "function %02x:%02x.%x: INTx is only routed on bus 0",
                    addr >> 8, (addr >> 3) & 31, addr & 7);
    }
    return 0;
}

static int host_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg,
                        const char *value)
{
    struct host *s = state;
    (void)arg; (void)value;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        s->ecam_base = ECAM_DEFAULT;
        return 0;
    case QVM_CTRL_OPTIONS_END: {
        uint32_t space;
        uint64_t base;
        for (unsigned i = 0; qvm_loc_get(dev, i, &space, &base) == 0; i++)
            if (space == QVM_SPACE_MEM) {
                if (base & ((1ull << 20) - 1))
                    return -EINVAL;
                s->ecam_base = base;
            }
        int rc = qvm_region_add(dev, QVM_SPACE_IO, 0xcf8, 8);
        if (rc < 0) return rc;
        rc = qvm_region_add(dev, QVM_SPACE_MEM, s->ecam_base, ECAM_SIZE);
        if (rc < 0) return rc;
        rc = qvm_region_add(dev, QVM_SPACE_MEM, WIN_BASE, WIN_SIZE);
        if (rc < 0) return rc;
        rc = qvm_region_add(dev, QVM_SPACE_IO, IOWIN_BASE, IOWIN_SIZE);
        return rc < 0 ? rc : 0;
    }
    case QVM_CTRL_RESOURCES:
        return take_functions(dev, s);
    case QVM_CTRL_GEN_ACPI: {
        /* PNP0A08 with our windows and routing, MCFG for the ECAM. */
        struct qvm_acpi_pci h = {
            .struct_size = sizeof h,
            .ecam_base = s->ecam_base,
            .bus_end = (uint8_t)((ECAM_SIZE >> 20) - 1),
            .mem_base = WIN_BASE,
            .mem_size = WIN_SIZE,
            .io_base = IOWIN_BASE,
            .io_size = IOWIN_SIZE,
        };
        for (unsigned d = 0; d < 32; d++)
            for (unsigned pin = 1; pin <= 4; pin++)
                h.intx_gsi[d][pin - 1] = GSI_BASE + line_gsi(QVM_PCI_INTX_LINE(d, pin));
        return qvm_acpi_pci_host(dev, &h);
    }
    case QVM_CTRL_RESET:
        s->cf8 = 0;
        for (unsigned i = 0; i < s->nfn; i++) {
            memcpy(s->fns[i].cfg, s->fns[i].reset_cfg, 256);
            sync_fn(dev, &s->fns[i]);
        }
        memset(s->lines, 0, sizeof s->lines);
        for (unsigned g = 0; g < 4; g++)
            drive_gsi(dev, s, g, 1);
        return 0;
    case QVM_CTRL_STATUS: {
        unsigned n = s->nfn ? s->nfn - 1 : 0;
        qvm_log(dev, QVM_LOG_INFO, "%u function(s), ECAM 0x%llx, window 0x%llx+0x%llx, "
                "INTx GSIs 16-19 asserted %u%u%u%u", n, (unsigned long long)s->ecam_base,
                (unsigned long long)WIN_BASE, (unsigned long long)WIN_SIZE,
                s->gsi_level[0], s->gsi_level[1], s->gsi_level[2], s->gsi_level[3]);
        return 0;
    }
    default:
        return 0;
    }
}

static const struct qvm_pic_ops host_pic = {
    .struct_size = sizeof(struct qvm_pic_ops),
    .set_line = host_set_line,
    .line_count = host_line_count,
};

static const char *const host_options[] = {NULL};

static const struct qvm_factory host_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR, .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "pci-host",
    .description = "PCI host bridge: 0xCF8/0xCFC and ECAM config space, BAR window, INTx routing",
    .flags = QVM_VDEVF_SPACE_MEM | QVM_VDEVF_SPACE_IO | QVM_VDEVF_PIC | QVM_VDEVF_PCI_HOST,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2 | QVM_ACCESS_4 | QVM_ACCESS_8,
    .options = host_options,
    .state_size = sizeof(struct host),
    .control = host_control,
    .read = host_read,
    .write = host_write,
    .pic = &host_pic,
    .version = "1.0",
};

static void __attribute__((constructor)) reg(void) { qvm_register_factory(&host_factory); }
