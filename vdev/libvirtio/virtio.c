/* libvirtio: transports and split virtqueues (see virtio.h). */
#include "virtio.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define NO_VECTOR 0xffff

struct vdesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

static uint64_t ld(const void *data, unsigned size)
{
    const uint8_t *p = data;
    uint64_t v = 0;
    for (unsigned k = 0; k < size && k < 8; k++)
        v |= (uint64_t)p[k] << (8 * k);
    return v;
}

static void st(void *data, unsigned size, uint64_t v)
{
    uint8_t *p = data;
    for (unsigned k = 0; k < size && k < 8; k++)
        p[k] = (uint8_t)(v >> (8 * k));
}

int vio_has(const struct vio *v, unsigned feature)
{
    return feature < 64 && ((v->driver_features >> feature) & 1);
}

int vio_running(const struct vio *v)
{
    return (v->status & VIRTIO_S_DRIVER_OK) &&
           !(v->status & (VIRTIO_S_NEEDS_RESET | VIRTIO_S_FAILED));
}

void vio_init(struct vio *v, qvm_vdev_t *dev, const struct vio_ops *ops,
              uint32_t device_id, uint64_t features, unsigned nq,
              uint16_t qmax, void *cfg, unsigned cfg_len)
{
    memset(v, 0, sizeof *v);
    v->dev = dev;
    v->ops = ops;
    v->device_id = device_id;
    v->host_features = features | (1ull << VIRTIO_F_VERSION_1);
    v->nq = nq > VIO_MAX_QUEUES ? VIO_MAX_QUEUES : nq;
    if (qmax == 0 || qmax > VIO_MAX_QSIZE)
        qmax = VIO_MAX_QSIZE;
    for (unsigned i = 0; i < v->nq; i++)
        v->q[i].max = qmax;
    v->cfg = cfg;
    v->cfg_len = cfg_len;
    v->region = -1;
    for (unsigned i = 0; i < VIO_MAX_QUEUES; i++)
        v->kickfd[i] = -1;
    for (unsigned i = 0; i < VIO_MAX_VECTORS; i++)
        v->irqfd[i] = -1;
}

/* ---- interrupts ---------------------------------------------------------- */

static int msix_on(struct vio *v)
{
    return v->transport == VIO_PCI &&
           (qvm_pci_state(v->dev) & QVM_PCI_STATE_MSIX_ENABLE);
}

static void msix_fire(struct vio *v, uint16_t vec)
{
    if (vec == NO_VECTOR || vec >= VIO_MAX_VECTORS)
        return;
    if ((v->msix[vec].ctrl & 1) || (qvm_pci_state(v->dev) & QVM_PCI_STATE_MSIX_MASKALL)) {
        v->pba |= 1u << vec;
        return;
    }
    uint64_t addr = ((uint64_t)v->msix[vec].hi << 32) | v->msix[vec].lo;
    if (v->irqfd[vec] >= 0) {
        /* the vector's route follows the table lazily: set before use */
        if (!v->irqfd_synced[vec] &&
            qvm_irqfd_msi_set(v->dev, v->irqfd[vec], addr, v->msix[vec].data, 0) == 0)
            v->irqfd_synced[vec] = 1;
        if (v->irqfd_synced[vec]) {
            uint64_t one = 1;
            if (write(v->irqfd[vec], &one, sizeof one) == (ssize_t)sizeof one)
                return;
        }
    }
    qvm_msi(v->dev, addr, v->msix[vec].data);
}

/* The guest changed MSI-X entry `e`: a masked vector's route is withdrawn
 * at once, an unmasked one is set again before its next use. */
static void msix_entry_changed(struct vio *v, unsigned e)
{
    if (e >= VIO_MAX_VECTORS || v->irqfd[e] < 0)
        return;
    v->irqfd_synced[e] = 0;
    if (v->msix[e].ctrl & 1)
        qvm_irqfd_msi_set(v->dev, v->irqfd[e], 0, 0, 1);
}

static void set_irq(struct vio *v, int level)
{
    if (level == v->irq_level)
        return;
    v->irq_level = level;
    qvm_intr_set(v->dev, 0, level);
}

static void raise(struct vio *v, uint8_t why, uint16_t vec)
{
    if (msix_on(v)) {
        msix_fire(v, vec);
        return;
    }
    v->isr |= why;
    if (v->transport == VIO_PCI && (qvm_pci_state(v->dev) & QVM_PCI_STATE_INTX_DISABLE))
        return;
    set_irq(v, 1);
}

void vio_config_changed(struct vio *v)
{
    v->config_gen++;
    if (v->status & VIRTIO_S_DRIVER_OK || v->status & VIRTIO_S_NEEDS_RESET)
        raise(v, 2, v->msix_config);
}

void vio_needs_reset(struct vio *v, const char *why)
{
    v->bad_rings++;
    if (v->status & VIRTIO_S_NEEDS_RESET)
        return;
    qvm_log(v->dev, QVM_LOG_WARN, "malformed virtqueue (%s): device needs reset", why);
    v->status |= VIRTIO_S_NEEDS_RESET;
    for (unsigned i = 0; i < v->nq; i++)
        v->q[i].ready = 0;
    vio_config_changed(v);
}

/* ---- reset --------------------------------------------------------------- */

static void reset_queues(struct vio *v)
{
    for (unsigned i = 0; i < v->nq; i++) {
        uint16_t max = v->q[i].max;
        memset(&v->q[i], 0, sizeof v->q[i]);
        v->q[i].max = max;
        v->q[i].size = max;
        v->q[i].msix_vector = NO_VECTOR;
    }
}

/* The virtio device reset (the driver writes status 0): the device's own
 * state, not the function's MSI-X table, which is PCI state the driver's
 * PCI layer programmed once and does not program again after a virtio
 * reset (as on a real function). Pending bits are dropped. */
static void device_reset(struct vio *v)
{
    v->status = 0;
    v->driver_features = 0;
    v->dfsel = v->gfsel = 0;
    v->qsel = 0;
    v->isr = 0;
    v->msix_config = NO_VECTOR;
    v->pba = 0;
    reset_queues(v);
    set_irq(v, 0);
    v->irq_level = 0;
    if (v->ops && v->ops->reset)
        v->ops->reset(v);
}

void vio_reset(struct vio *v)
{
    /* the function's reset (the VM's): the MSI-X table too, every entry
     * masked and zero */
    for (unsigned i = 0; i < VIO_MAX_VECTORS; i++) {
        v->msix[i].lo = v->msix[i].hi = v->msix[i].data = 0;
        v->msix[i].ctrl = 1;   /* masked */
        msix_entry_changed(v, i);
    }
    device_reset(v);
}

/* ---- transport declaration ------------------------------------------------ */

static void cap(uint8_t *p, uint8_t len, uint8_t type, uint32_t off, uint32_t length)
{
    memset(p, 0, len);
    p[0] = 0x09;
    p[2] = len;
    p[3] = type;
    p[4] = 0;       /* bar */
    st(p + 8, 4, off);
    st(p + 12, 4, length);
}

/* The legacy PCI device ID of virtio device type `type` (0: none). */
static uint16_t legacy_pci_id(uint32_t type)
{
    switch (type) {
    case 1: return 0x1000;  /* network */
    case 2: return 0x1001;  /* block */
    case 3: return 0x1003;  /* console */
    case 4: return 0x1005;  /* entropy */
    case 5: return 0x1002;  /* memory balloon */
    case 8: return 0x1004;  /* SCSI host */
    case 9: return 0x1009;  /* 9P transport */
    default: return 0;
    }
}

void vio_legacy(struct vio *v)
{
    v->legacy = 1;
    /* legacy drivers see 32 feature bits and never VIRTIO_F_VERSION_1 */
    v->host_features &= 0xffffffffull;
}

/* The virtio PCI function both transports declare (vendor 1AF4, INTA, one
 * MSI-X vector per queue plus the configuration's) with what differs: IDs,
 * revision, BARs and capabilities. */
struct pci_shape {
    uint16_t device_id, subsystem_id;
    uint8_t revision;
    uint64_t bar0, bar1;
    uint32_t bar0_flags;
    uint8_t msix_bar;
    uint32_t msix_table, msix_pba;
    const uint8_t *caps;
    size_t caps_len;
};

static int declare_pci(struct vio *v, const struct pci_shape *sh, uint8_t class_code,
                       uint8_t subclass, uint8_t prog_if)
{
    struct qvm_pci_function f;
    memset(&f, 0, sizeof f);
    f.struct_size = sizeof f;
    f.vendor_id = 0x1af4;
    f.device_id = sh->device_id;
    f.subsystem_vendor_id = 0x1af4;
    f.subsystem_id = sh->subsystem_id;
    f.revision = sh->revision;
    f.class_code = class_code;
    f.subclass = subclass;
    f.prog_if = prog_if;
    f.intx_pin = 1;
    f.bar_size[0] = sh->bar0;
    f.bar_flags[0] = sh->bar0_flags;
    f.bar_size[1] = sh->bar1;
    f.msix_bar = sh->msix_bar;
    f.msix_vectors = (uint16_t)(v->nq + 1);
    f.msix_table_offset = sh->msix_table;
    f.msix_pba_offset = sh->msix_pba;
    f.caps = sh->caps;
    f.caps_len = sh->caps_len;
    int addr = qvm_pci_declare(v->dev, &f);
    if (addr < 0)
        return addr;
    v->pci_addr = (unsigned)addr;
    if (qvm_intr_count(v->dev) == 0)
        qvm_intr_default(v->dev, "pci-host", QVM_PCI_INTX_LINE(((unsigned)addr >> 3) & 31, 1));
    return 0;
}

static int declare_legacy(struct vio *v, uint8_t class_code, uint8_t subclass, uint8_t prog_if)
{
    uint16_t id = legacy_pci_id(v->device_id);
    if (!id) {
        qvm_log(v->dev, QVM_LOG_ERROR, "legacy: virtio device type %u has no legacy PCI ID",
                v->device_id);
        return -EINVAL;
    }
    /* registers, then the device configuration as MSI-X places it */
    uint32_t need = VIO_LEG_CFG_MSIX + v->cfg_len, size = 32;
    while (size < need)
        size <<= 1;
    if (size > 256) {
        qvm_log(v->dev, QVM_LOG_ERROR, "legacy: %u bytes of device configuration do not "
                "fit an I/O BAR", v->cfg_len);
        return -EINVAL;
    }
    v->legacy_io_size = size;
    const struct pci_shape sh = {
        .device_id = id, .subsystem_id = (uint16_t)v->device_id, .revision = 0,
        .bar0 = size, .bar0_flags = QVM_PCI_BAR_IO, .bar1 = VIO_LEG_BAR1_SIZE,
        .msix_bar = 1, .msix_table = VIO_LEG_MSIX_TABLE, .msix_pba = VIO_LEG_MSIX_PBA,
    };
    int rc = declare_pci(v, &sh, class_code, subclass, prog_if);
    if (rc == -EINVAL)
        qvm_log(v->dev, QVM_LOG_ERROR, "legacy: this qvm takes no I/O BARs (vdev ABI 1.8)");
    return rc;
}

int vio_declare(struct vio *v, uint8_t class_code, uint8_t subclass, uint8_t prog_if)
{
    uint32_t space;
    uint64_t base;
    int have_mem = 0;
    for (unsigned i = 0; qvm_loc_get(v->dev, i, &space, &base) == 0; i++)
        if (space == QVM_SPACE_MEM) {
            have_mem = 1;
            break;
        }
    if (have_mem && qvm_intr_count(v->dev) > 0) {
        if (v->legacy) {
            qvm_log(v->dev, QVM_LOG_ERROR, "legacy: the virtio 0.9.5 interface is a PCI "
                    "transport; with `loc mem:` and `intr` the device is virtio-mmio "
                    "(drop `legacy`, or the `loc mem:`)");
            return -EINVAL;
        }
        v->transport = VIO_MMIO;
        v->mmio_base = base;
        int rc = qvm_region_add(v->dev, QVM_SPACE_MEM, base, VIO_MMIO_SIZE);
        if (rc >= 0)
            v->region = rc;
        return rc < 0 ? rc : 0;
    }
    if (have_mem)
        return -EINVAL;   /* virtio-mmio needs both `loc mem:` and `intr` */
    v->transport = VIO_PCI;
    if (v->legacy)
        return declare_legacy(v, class_code, subclass, prog_if);
    uint8_t caps[16 * 3 + 20];
    cap(caps, 16, 1, VIO_PCI_COMMON, 0x38);
    cap(caps + 16, 16, 3, VIO_PCI_ISR, 4);
    cap(caps + 32, 16, 4, VIO_PCI_DEVCFG, 0x1000);
    cap(caps + 48, 20, 2, VIO_PCI_NOTIFY, 0x1000);
    st(caps + 48 + 16, 4, 4);   /* notify_off_multiplier */
    const struct pci_shape sh = {
        .device_id = (uint16_t)(0x1040 + v->device_id), .subsystem_id = 0x40, .revision = 1,
        .bar0 = VIO_PCI_BAR_SIZE, .msix_bar = 0, .msix_table = VIO_PCI_MSIX_TABLE,
        .msix_pba = VIO_PCI_MSIX_PBA, .caps = caps, .caps_len = sizeof caps,
    };
    return declare_pci(v, &sh, class_code, subclass, prog_if);
}

int vio_gen_acpi(struct vio *v)
{
    if (v->transport != VIO_MMIO)
        return 0;
    int rc = qvm_acpi_device(v->dev, "LNRO0005", NULL);
    return rc == -ENOTSUP ? 0 : rc;
}

int vio_gen_fdt(struct vio *v)
{
    if (v->transport != VIO_MMIO)
        return 0;
    int rc = qvm_fdt_node(v->dev, "virtio_mmio", "virtio,mmio");
    if (rc == 0)
        rc = qvm_fdt_prop_bytes(v->dev, "dma-coherent", NULL, 0);
    return rc == -ENOTSUP ? 0 : rc;
}

/* ---- common configuration ------------------------------------------------- */

static int queue_ok(struct vio *v, struct vio_queue *q)
{
    uint64_t n = q->size;
    if (n == 0 || n > q->max)
        return 0;
    if ((q->desc & 15) || (q->avail & 1) || (q->used & 3))
        return 0;
    /* the whole rings, EVENT_IDX words included, must be guest RAM */
    if (!qvm_gmem_map(v->dev, q->desc, 16 * n, 0) ||
        !qvm_gmem_map(v->dev, q->avail, 6 + 2 * n, 1) ||
        !qvm_gmem_map(v->dev, q->used, 6 + 8 * n, 1))
        return 0;
    return 1;
}

static void set_status(struct vio *v, uint8_t s)
{
    if (s == 0) {
        device_reset(v);
        return;
    }
    if ((s & VIRTIO_S_FEATURES_OK) && !(v->status & VIRTIO_S_FEATURES_OK)) {
        /* only offered features, and virtio 1.x */
        if ((v->driver_features & ~v->host_features) ||
            !vio_has(v, VIRTIO_F_VERSION_1))
            s &= (uint8_t)~VIRTIO_S_FEATURES_OK;
    }
    v->status = (uint8_t)(s | (v->status & VIRTIO_S_NEEDS_RESET));
}

static struct vio_queue *selq(struct vio *v)
{
    return v->qsel < v->nq ? &v->q[v->qsel] : NULL;
}

static uint64_t common_read(struct vio *v, unsigned off, unsigned size)
{
    struct vio_queue *q = selq(v);
    switch (off) {
    case 0: return v->dfsel;
    case 4: return v->dfsel < 2 ? (uint32_t)(v->host_features >> (32 * v->dfsel)) : 0;
    case 8: return v->gfsel;
    case 12: return v->gfsel < 2 ? (uint32_t)(v->driver_features >> (32 * v->gfsel)) : 0;
    case 16: return v->msix_config;
    case 18: return v->nq;
    case 20: return v->status;
    case 21: return v->config_gen;
    case 22: return v->qsel;
    case 24: return q ? q->size : 0;
    case 26: return q ? __atomic_load_n(&q->msix_vector, __ATOMIC_RELAXED) : NO_VECTOR;
    case 28: return q ? q->ready : 0;
    case 30: return q ? v->qsel : 0;
    case 32: return q ? (uint32_t)q->desc : 0;
    case 36: return q ? (uint32_t)(q->desc >> 32) : 0;
    case 40: return q ? (uint32_t)q->avail : 0;
    case 44: return q ? (uint32_t)(q->avail >> 32) : 0;
    case 48: return q ? (uint32_t)q->used : 0;
    case 52: return q ? (uint32_t)(q->used >> 32) : 0;
    default: (void)size; return 0;
    }
}

/* A vector the driver writes: an entry of the MSI-X table the device
 * declared (one per queue plus the configuration vector), else NO_VECTOR,
 * which the driver reads back as "not accepted". */
static uint16_t msix_vector_or_none(const struct vio *v, uint64_t val)
{
    return val < (uint64_t)v->nq + 1 && val < VIO_MAX_VECTORS ? (uint16_t)val : NO_VECTOR;
}

static void set_lo(uint64_t *r, uint32_t v) { *r = (*r & 0xffffffff00000000ull) | v; }
static void set_hi(uint64_t *r, uint32_t v) { *r = (*r & 0xffffffffull) | ((uint64_t)v << 32); }

static void common_write(struct vio *v, unsigned off, uint64_t val)
{
    struct vio_queue *q = selq(v);
    int locked = (v->status & VIRTIO_S_FEATURES_OK) != 0;
    switch (off) {
    case 0: v->dfsel = (uint32_t)val; return;
    case 8: v->gfsel = (uint32_t)val; return;
    case 12:
        if (locked || v->gfsel >= 2) return;
        if (v->gfsel == 0) set_lo(&v->driver_features, (uint32_t)val);
        else set_hi(&v->driver_features, (uint32_t)val);
        return;
    case 16: v->msix_config = msix_vector_or_none(v, val); return;
    case 20: set_status(v, (uint8_t)val); return;
    case 22: v->qsel = (uint16_t)val; return;
    case 26:
        /* Routing, not ring layout: accepted on an enabled queue too
         * (NetBSD enables its queues first, then programs and reads back
         * each queue's vector; a queue worker reads it concurrently). */
        if (q)
            __atomic_store_n(&q->msix_vector, msix_vector_or_none(v, val), __ATOMIC_RELAXED);
        return;
    }
    if (!q || q->ready)
        return;   /* the ring's registers are frozen once enabled */
    switch (off) {
    case 24: if (val >= 1 && val <= q->max) q->size = (uint16_t)val; return;
    case 28:
        if (val == 1) {
            if (queue_ok(v, q)) {
                q->ready = 1;
                q->last_avail = q->used_idx = q->signalled = 0;
            } else {
                vio_needs_reset(v, "queue rings outside guest RAM or misaligned");
            }
        }
        return;
    case 32: set_lo(&q->desc, (uint32_t)val); return;
    case 36: set_hi(&q->desc, (uint32_t)val); return;
    case 40: set_lo(&q->avail, (uint32_t)val); return;
    case 44: set_hi(&q->avail, (uint32_t)val); return;
    case 48: set_lo(&q->used, (uint32_t)val); return;
    case 52: set_hi(&q->used, (uint32_t)val); return;
    }
}

/* Width of the common-config field at `off` (0: none). */
static unsigned common_width(unsigned off)
{
    switch (off) {
    case 0: case 4: case 8: case 12: return 4;
    case 16: case 18: case 22: case 24: case 26: case 28: case 30: return 2;
    case 20: case 21: return 1;
    default: return off >= 32 && off < 56 && !(off & 3) ? 4 : 0;
    }
}

/* Device configuration bytes [o, o+size); past its end they read 0. */
static void cfg_read(const struct vio *v, uint64_t o, unsigned size, void *data)
{
    for (unsigned k = 0; k < size; k++)
        ((uint8_t *)data)[k] = o + k < v->cfg_len ? v->cfg[o + k] : 0;
}

static void do_notify(struct vio *v, uint64_t qi)
{
    if (qi < v->nq && v->q[qi].ready && vio_running(v) && v->ops && v->ops->notify)
        v->ops->notify(v, (unsigned)qi);
}

/* The MSI-X table at `table` and the PBA at `pba` of the BAR holding them. */
static int msix_rw(struct vio *v, uint64_t off, uint64_t table, uint64_t pba, unsigned size,
                   void *data, int wr)
{
    if (off >= table && off < table + 16u * VIO_MAX_VECTORS) {
        uint64_t o = off - table;
        unsigned e = (unsigned)(o / 16), f = (unsigned)(o % 16);
        if ((size != 4 && size != 8) || (f & 3) || f + size > 16)
            return QVM_DONE;
        for (unsigned k = 0; k < size / 4; k++, f += 4) {
            uint32_t *r = f == 0 ? &v->msix[e].lo : f == 4 ? &v->msix[e].hi
                        : f == 8 ? &v->msix[e].data : &v->msix[e].ctrl;
            if (!wr) {
                st((uint8_t *)data + 4 * k, 4, *r);
                continue;
            }
            uint32_t val = (uint32_t)ld((uint8_t *)data + 4 * k, 4);
            uint32_t old = *r;
            *r = f == 12 ? (val & 1) : val;
            if (*r != old)
                msix_entry_changed(v, e);
            if (f == 12 && !(val & 1) && (v->pba & (1u << e)) &&
                !(qvm_pci_state(v->dev) & QVM_PCI_STATE_MSIX_MASKALL)) {
                v->pba &= ~(1u << e);
                msix_fire(v, (uint16_t)e);
            }
        }
        return QVM_DONE;
    }
    if (off >= pba && off < pba + 8) {
        if (!wr)
            st(data, size, off == pba ? v->pba : 0);
        return QVM_DONE;
    }
    return QVM_DONE;
}

/* ---- legacy PCI (virtio 0.9.5): BAR 0 I/O registers, BAR 1 MSI-X --------- */

/* The driver wrote queue `q`'s page frame number: the rings lie at
 * pfn * 4096 in the legacy layout (descriptors, avail ring, then the used
 * ring at the next 4096-byte boundary) for the queue's fixed size. */
static void legacy_set_pfn(struct vio *v, struct vio_queue *q, uint32_t pfn)
{
    if (pfn == 0) {                /* the driver releases the queue */
        q->ready = 0;
        q->desc = q->avail = q->used = 0;
        return;
    }
    if (q->ready)
        return;                    /* frozen while in use, as the modern registers */
    uint64_t n = q->size, base = (uint64_t)pfn * VIO_LEG_PAGE;   /* < 2^44: no overflow */
    q->desc = base;
    q->avail = base + 16 * n;
    q->used = (q->avail + 6 + 2 * n + VIO_LEG_PAGE - 1) & ~(uint64_t)(VIO_LEG_PAGE - 1);
    if (queue_ok(v, q)) {
        q->ready = 1;
        q->last_avail = q->used_idx = q->signalled = 0;
    } else {
        q->desc = q->avail = q->used = 0;
        vio_needs_reset(v, "legacy queue address outside guest RAM");
    }
}

static int legacy_io(struct vio *v, uint64_t off, unsigned size, void *data, int wr)
{
    unsigned cfg_at = msix_on(v) ? VIO_LEG_CFG_MSIX : VIO_LEG_CFG;
    if (off >= cfg_at) {           /* device configuration, read-only */
        uint64_t o = off - cfg_at;
        if (!wr)
            cfg_read(v, o, size, data);
        return QVM_DONE;
    }
    static const uint8_t width[VIO_LEG_CFG_MSIX] = {
        [VIO_LEG_HOST_FEATURES] = 4, [VIO_LEG_GUEST_FEATURES] = 4, [VIO_LEG_QUEUE_PFN] = 4,
        [VIO_LEG_QUEUE_SIZE] = 2, [VIO_LEG_QUEUE_SEL] = 2, [VIO_LEG_QUEUE_NOTIFY] = 2,
        [VIO_LEG_STATUS] = 1, [VIO_LEG_ISR] = 1, [VIO_LEG_MSIX_CONFIG] = 2,
        [VIO_LEG_MSIX_QUEUE] = 2,
    };
    if (off >= VIO_LEG_CFG_MSIX || width[off] != size)
        return QVM_DONE;           /* not a register at that width: reads 0 */
    struct vio_queue *q = selq(v);
    if (!wr) {
        uint64_t r = 0;
        switch (off) {
        case VIO_LEG_HOST_FEATURES: r = (uint32_t)v->host_features; break;
        case VIO_LEG_GUEST_FEATURES: r = (uint32_t)v->driver_features; break;
        case VIO_LEG_QUEUE_PFN: r = q && q->ready ? (uint32_t)(q->desc / VIO_LEG_PAGE) : 0; break;
        case VIO_LEG_QUEUE_SIZE: r = q ? q->size : 0; break;
        case VIO_LEG_QUEUE_SEL: r = v->qsel; break;
        case VIO_LEG_STATUS: r = v->status; break;
        case VIO_LEG_ISR:
            r = v->isr;
            v->isr = 0;
            set_irq(v, 0);
            break;
        case VIO_LEG_MSIX_CONFIG: r = common_read(v, 16, 2); break;
        case VIO_LEG_MSIX_QUEUE: r = common_read(v, 26, 2); break;
        }
        st(data, size, r);
        return QVM_DONE;
    }
    uint32_t val = (uint32_t)ld(data, size);
    switch (off) {
    case VIO_LEG_GUEST_FEATURES:
        /* what the driver accepts of what is offered, until DRIVER_OK */
        if (!(v->status & VIRTIO_S_DRIVER_OK))
            v->driver_features = val & v->host_features;
        break;
    case VIO_LEG_QUEUE_PFN:
        if (q)
            legacy_set_pfn(v, q, val);
        break;
    case VIO_LEG_QUEUE_SEL: v->qsel = (uint16_t)val; break;
    case VIO_LEG_QUEUE_NOTIFY: do_notify(v, val); break;
    case VIO_LEG_STATUS: set_status(v, (uint8_t)val); break;
    case VIO_LEG_MSIX_CONFIG: common_write(v, 16, val); break;
    case VIO_LEG_MSIX_QUEUE: common_write(v, 26, val); break;
    }
    return QVM_DONE;
}

static int legacy_rw(struct vio *v, const struct qvm_access *acc, void *data, int wr)
{
    if (acc->region == 0 && acc->space == QVM_SPACE_IO && acc->offset < v->legacy_io_size &&
        acc->size <= v->legacy_io_size - acc->offset)
        return legacy_io(v, acc->offset, acc->size, data, wr);
    if (acc->region == 1 && acc->space == QVM_SPACE_MEM)
        return msix_rw(v, acc->offset, VIO_LEG_MSIX_TABLE, VIO_LEG_MSIX_PBA, acc->size, data, wr);
    return QVM_DONE;
}

/* ---- PCI BAR 0 -------------------------------------------------------------- */

static int pci_rw(struct vio *v, const struct qvm_access *acc, void *data, int wr)
{
    uint64_t off = acc->offset;
    unsigned size = acc->size;
    if (v->legacy)
        return legacy_rw(v, acc, data, wr);
    if (acc->region != 0)
        return QVM_BUS_ERROR;
    if (off < VIO_PCI_COMMON + 0x38) {
        unsigned o = (unsigned)off;
        unsigned w = common_width(o);
        if (w == 4 && size == 8 && o >= 32) {     /* 64-bit address access */
            if (wr) {
                common_write(v, o, ld(data, 4));
                common_write(v, o + 4, ld((uint8_t *)data + 4, 4));
            } else {
                st(data, 8, common_read(v, o, 4) | (common_read(v, o + 4, 4) << 32));
            }
            return QVM_DONE;
        }
        if (w != size)
            return QVM_DONE;                      /* ignored / reads zero */
        if (wr) common_write(v, o, ld(data, size));
        else st(data, size, common_read(v, o, size));
        return QVM_DONE;
    }
    if (off >= VIO_PCI_ISR && off < VIO_PCI_ISR + 4) {
        if (!wr && off == VIO_PCI_ISR) {
            st(data, size, v->isr);
            v->isr = 0;
            set_irq(v, 0);
        }
        return QVM_DONE;
    }
    if (off >= VIO_PCI_DEVCFG && off < VIO_PCI_DEVCFG + 0x1000) {
        uint64_t o = off - VIO_PCI_DEVCFG;
        if (!wr)
            cfg_read(v, o, size, data);
        return QVM_DONE;
    }
    if (off >= VIO_PCI_NOTIFY && off < VIO_PCI_NOTIFY + 0x1000) {
        if (wr)
            do_notify(v, (off - VIO_PCI_NOTIFY) / 4);
        return QVM_DONE;
    }
    if (off >= VIO_PCI_MSIX_TABLE)
        return msix_rw(v, off, VIO_PCI_MSIX_TABLE, VIO_PCI_MSIX_PBA, size, data, wr);
    return QVM_DONE;
}

/* ---- virtio-mmio ------------------------------------------------------------ */

static int mmio_rw(struct vio *v, const struct qvm_access *acc, void *data, int wr)
{
    uint64_t off = acc->offset;
    if (off >= 0x100) {
        uint64_t o = off - 0x100;
        if (!wr)
            cfg_read(v, o, acc->size, data);
        return QVM_DONE;
    }
    if (acc->size != 4 || (off & 3))
        return QVM_DONE;
    struct vio_queue *q = selq(v);
    if (!wr) {
        uint32_t r = 0;
        switch (off) {
        case 0x000: r = 0x74726976; break;
        case 0x004: r = 2; break;
        case 0x008: r = v->device_id; break;
        case 0x00c: r = 0x4d565100; break;    /* "QVM" */
        case 0x010: r = (uint32_t)common_read(v, 4, 4); break;
        case 0x034: r = q ? q->max : 0; break;
        case 0x044: r = q ? q->ready : 0; break;
        case 0x060: r = v->isr; break;
        case 0x070: r = v->status; break;
        case 0x0fc: r = v->config_gen; break;
        case 0x0b0: case 0x0b4: r = 0xffffffffu; break;   /* SHMLen: no regions */
        }
        st(data, 4, r);
        return QVM_DONE;
    }
    uint32_t val = (uint32_t)ld(data, 4);
    switch (off) {
    case 0x014: common_write(v, 0, val); break;
    case 0x020: common_write(v, 12, val); break;
    case 0x024: common_write(v, 8, val); break;
    case 0x030: common_write(v, 22, val); break;
    case 0x038: common_write(v, 24, val); break;
    case 0x044:
        if (val == 1) common_write(v, 28, 1);
        else if (q) q->ready = 0;
        break;
    case 0x050: do_notify(v, val); break;
    case 0x064:
        v->isr &= (uint8_t)~val;
        if (!v->isr) set_irq(v, 0);
        break;
    case 0x070: set_status(v, (uint8_t)val); break;
    case 0x080: common_write(v, 32, val); break;
    case 0x084: common_write(v, 36, val); break;
    case 0x090: common_write(v, 40, val); break;
    case 0x094: common_write(v, 44, val); break;
    case 0x0a0: common_write(v, 48, val); break;
    case 0x0a4: common_write(v, 52, val); break;
    }
    return QVM_DONE;
}

int vio_read(struct vio *v, const struct qvm_access *acc, void *data)
{
    /* registers and bytes nothing answers read as zero, never as what the
     * access buffer held before */
    memset(data, 0, acc->size < 8 ? acc->size : 8);
    return v->transport == VIO_PCI ? pci_rw(v, acc, data, 0) : mmio_rw(v, acc, data, 0);
}

int vio_write(struct vio *v, const struct qvm_access *acc, void *data)
{
    return v->transport == VIO_PCI ? pci_rw(v, acc, data, 1) : mmio_rw(v, acc, data, 1);
}

/* ---- split virtqueue ------------------------------------------------------- */

static int rd16(struct vio *v, uint64_t gpa, uint16_t *out)
{
    return qvm_gmem_read(v->dev, gpa, out, 2);
}

int vio_pop(struct vio *v, unsigned qi, struct vio_req *r)
{
    if (qi >= v->nq || !v->q[qi].ready || !vio_running(v))
        return 0;
    struct vio_queue *q = &v->q[qi];
    uint16_t avail_idx, head;
    if (rd16(v, q->avail + 2, &avail_idx) != 0) {
        vio_needs_reset(v, "avail ring unreadable");
        return -1;
    }
    uint16_t pending = (uint16_t)(avail_idx - q->last_avail);
    if (pending == 0)
        return 0;
    if (pending > q->size) {
        vio_needs_reset(v, "avail index ran ahead");
        return -1;
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (rd16(v, q->avail + 4 + 2ull * (q->last_avail % q->size), &head) != 0 ||
        head >= q->size) {
        vio_needs_reset(v, "bad chain head");
        return -1;
    }
    r->head = head;
    r->nseg = 0;
    r->rlen = r->wlen = 0;
    uint64_t table = q->desc;
    uint32_t count = q->size, idx = head, ttl = q->size;
    int indirect = 0, seen_write = 0;
    for (;;) {
        struct vdesc d;
        if (ttl-- == 0) {
            vio_needs_reset(v, "descriptor chain longer than the queue (loop?)");
            return -1;
        }
        if (idx >= count || qvm_gmem_read(v->dev, table + 16ull * idx, &d, sizeof d) != 0) {
            vio_needs_reset(v, "descriptor index out of range");
            return -1;
        }
        if (d.flags & VRING_DESC_F_INDIRECT) {
            if (indirect || (d.flags & VRING_DESC_F_NEXT) || r->nseg ||
                !vio_has(v, VIRTIO_F_INDIRECT_DESC)) {
                vio_needs_reset(v, "misplaced indirect descriptor");
                return -1;
            }
            if (d.len == 0 || (d.len % 16) || d.len / 16 > q->size || (d.addr & 15) ||
                !qvm_gmem_map(v->dev, d.addr, d.len, 0)) {
                vio_needs_reset(v, "bad indirect table");
                return -1;
            }
            indirect = 1;
            table = d.addr;
            count = d.len / 16;
            ttl = count;
            idx = 0;
            continue;
        }
        int w = (d.flags & VRING_DESC_F_WRITE) != 0;
        if (d.len == 0 || !qvm_gmem_map(v->dev, d.addr, d.len, w)) {
            vio_needs_reset(v, "buffer outside guest RAM or empty");
            return -1;
        }
        if (!w && seen_write) {
            vio_needs_reset(v, "readable buffer after a writable one");
            return -1;
        }
        seen_write |= w;
        if (r->nseg >= VIO_MAX_QSIZE) {
            vio_needs_reset(v, "too many buffers");
            return -1;
        }
        r->seg[r->nseg].gpa = d.addr;
        r->seg[r->nseg].len = d.len;
        r->seg[r->nseg].write = (uint8_t)w;
        r->nseg++;
        if (w) r->wlen += d.len;
        else r->rlen += d.len;
        if (!(d.flags & VRING_DESC_F_NEXT))
            break;
        idx = d.next;
    }
    q->last_avail++;
    return 1;
}

void vio_unpop(struct vio *v, unsigned qi, uint16_t n)
{
    if (qi < v->nq)
        v->q[qi].last_avail = (uint16_t)(v->q[qi].last_avail - n);
}

int vio_push(struct vio *v, unsigned qi, uint16_t head, uint32_t written)
{
    if (qi >= v->nq || !v->q[qi].ready)
        return -1;
    struct vio_queue *q = &v->q[qi];
    uint32_t elem[2] = {head, written};
    if (qvm_gmem_write(v->dev, q->used + 4 + 8ull * (q->used_idx % q->size), elem, 8) != 0) {
        vio_needs_reset(v, "used ring unwritable");
        return -1;
    }
    __atomic_thread_fence(__ATOMIC_RELEASE);
    q->used_idx++;
    if (qvm_gmem_write(v->dev, q->used + 2, &q->used_idx, 2) != 0) {
        vio_needs_reset(v, "used ring unwritable");
        return -1;
    }
    return 0;
}

void vio_notify_queue(struct vio *v, unsigned qi)
{
    if (qi >= v->nq || !v->q[qi].ready)
        return;
    struct vio_queue *q = &v->q[qi];
    int want;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (vio_has(v, VIRTIO_F_EVENT_IDX)) {
        /* ask for a kick when the driver adds past what we consumed */
        (void)qvm_gmem_write(v->dev, q->used + 4 + 8ull * q->size, &q->last_avail, 2);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        uint16_t ev;
        if (rd16(v, q->avail + 4 + 2ull * q->size, &ev) != 0)
            ev = (uint16_t)(q->used_idx - 1);
        uint16_t nw = q->used_idx, old = q->signalled;
        want = (uint16_t)(nw - ev - 1) < (uint16_t)(nw - old);
    } else {
        uint16_t flags = 0;
        (void)rd16(v, q->avail, &flags);
        want = q->used_idx != q->signalled && !(flags & VRING_AVAIL_F_NO_INTERRUPT);
    }
    q->signalled = q->used_idx;
    if (want)
        raise(v, 1, __atomic_load_n(&q->msix_vector, __ATOMIC_RELAXED));
}

/* ---- buffer copies ----------------------------------------------------------- */

static long req_copy(struct vio *v, const struct vio_req *r, int write_side,
                     uint64_t off, void *buf, uint64_t len)
{
    uint64_t done = 0, pos = 0;
    for (unsigned i = 0; i < r->nseg && done < len; i++) {
        const struct vio_seg *s = &r->seg[i];
        if (s->write != write_side)
            continue;
        if (off >= pos + s->len) {
            pos += s->len;
            continue;
        }
        uint64_t in = off > pos ? off - pos : 0;
        uint64_t n = s->len - in;
        if (n > len - done) n = len - done;
        int rc = write_side
            ? qvm_gmem_write(v->dev, s->gpa + in, (const uint8_t *)buf + done, n)
            : qvm_gmem_read(v->dev, s->gpa + in, (uint8_t *)buf + done, n);
        if (rc != 0)
            return -1;
        done += n;
        off += n;
        pos += s->len;
    }
    return (long)done;
}

long vio_req_read(struct vio *v, const struct vio_req *r, uint64_t off, void *buf, uint64_t len)
{
    return req_copy(v, r, 0, off, buf, len);
}

long vio_req_write(struct vio *v, const struct vio_req *r, uint64_t off, const void *buf,
                   uint64_t len)
{
    return req_copy(v, r, 1, off, (void *)buf, len);
}

int vio_req_iov(struct vio *v, const struct vio_req *r, int write, uint64_t off,
                uint64_t len, struct iovec *iov, int max)
{
    int n = 0;
    uint64_t pos = 0, done = 0;
    for (unsigned i = 0; i < r->nseg && done < len; i++) {
        const struct vio_seg *s = &r->seg[i];
        if (s->write != write)
            continue;
        if (off >= pos + s->len) {
            pos += s->len;
            continue;
        }
        uint64_t in = off > pos ? off - pos : 0;
        uint64_t k = s->len - in;
        if (k > len - done) k = len - done;
        if (n >= max)
            return -1;
        void *p = qvm_gmem_map(v->dev, s->gpa + in, k, write);
        if (!p)
            return -1;
        iov[n].iov_base = p;
        iov[n].iov_len = k;
        n++;
        done += k;
        off += k;
        pos += s->len;
    }
    return done == len ? n : -1;
}

/* ---- ABI 1.3: ioeventfds and irqfds ------------------------------------------ */

int vio_eventfds_setup(struct vio *v, int irqfds)
{
    int n = 0;
    for (unsigned i = 0; i < v->nq; i++) {
        int fd = -1;
        if (v->transport == VIO_PCI && v->legacy)   /* one port, the queue as data */
            fd = qvm_ioeventfd(v->dev, 0, VIO_LEG_QUEUE_NOTIFY, 2, QVM_IOEVENTFD_DATAMATCH, i);
        else if (v->transport == VIO_PCI)
            fd = qvm_ioeventfd(v->dev, 0, VIO_PCI_NOTIFY + 4u * i, 2, 0, 0);
        else if (v->transport == VIO_MMIO && v->region >= 0)
            fd = qvm_ioeventfd(v->dev, (unsigned)v->region, 0x050, 4, QVM_IOEVENTFD_DATAMATCH, i);
        if (fd < 0) {
            if (fd != -ENOTSUP)
                qvm_log(v->dev, QVM_LOG_WARN, "queue %u: no ioeventfd (%s): kicks stay on the exit path",
                        i, strerror(-fd));
            vio_eventfds_close(v);
            return 0;
        }
        v->kickfd[i] = fd;
        n++;
    }
    if (irqfds && v->transport == VIO_PCI)
        for (unsigned e = 0; e < v->nq + 1 && e < VIO_MAX_VECTORS; e++) {
            int fd = qvm_irqfd_msi(v->dev);
            if (fd < 0)
                break;          /* qvm_msi for this and the rest */
            v->irqfd[e] = fd;
            v->irqfd_synced[e] = 0;
        }
    return n;
}

int vio_kick_fd(const struct vio *v, unsigned q)
{
    return q < VIO_MAX_QUEUES ? v->kickfd[q] : -1;
}

void vio_eventfds_close(struct vio *v)
{
    for (unsigned i = 0; i < VIO_MAX_QUEUES; i++)
        if (v->kickfd[i] >= 0) {
            qvm_notify_close(v->dev, v->kickfd[i]);
            v->kickfd[i] = -1;
        }
    for (unsigned i = 0; i < VIO_MAX_VECTORS; i++)
        if (v->irqfd[i] >= 0) {
            qvm_notify_close(v->dev, v->irqfd[i]);
            v->irqfd[i] = -1;
        }
}

int vio_queue_pending(struct vio *v, unsigned q)
{
    if (q >= v->nq || !v->q[q].ready || !vio_running(v))
        return 0;
    uint16_t idx;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (rd16(v, v->q[q].avail + 2, &idx) != 0)
        return 0;
    return idx != v->q[q].last_avail;
}

int vio_option_legacy(qvm_vdev_t *dev)
{
#if defined(__x86_64__) || defined(__i386__)
    (void)dev;
    return 0;
#else
    /* KVM runs guests of the host's architecture, the one this plug-in was
     * built for. */
    qvm_log(dev, QVM_LOG_ERROR,
            "legacy: the virtio 0.9.5 (legacy) PCI transport needs an I/O BAR, and this "
            "machine's PCI host has no I/O window (arm64 has no I/O ports; qvm maps no PCI "
            "I/O space into memory): the guest needs a virtio 1.0 driver (modern PCI, or "
            "virtio-mmio with `loc mem:` and `intr`)");
    return -ENOTSUP;
#endif
}
