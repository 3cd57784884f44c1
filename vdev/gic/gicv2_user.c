/*
 * User-space GICv2 (see gicv2_user.h): distributor, CPU interface and the
 * per-vCPU IRQ/FIQ outputs. Every guest-supplied offset, width, interrupt ID
 * and CPU number is checked; every loop is bounded by GICV2_NIRQS or
 * GICV2_MAXCPU.
 */
#include "gicv2_user.h"

#include <errno.h>
#include <string.h>

/* Distributor register map. */
#define GICD_CTLR 0x000
#define GICD_TYPER 0x004
#define GICD_IIDR 0x008
#define GICD_IGROUPR 0x080
#define GICD_ISENABLER 0x100
#define GICD_ICENABLER 0x180
#define GICD_ISPENDR 0x200
#define GICD_ICPENDR 0x280
#define GICD_ISACTIVER 0x300
#define GICD_ICACTIVER 0x380
#define GICD_IPRIORITYR 0x400
#define GICD_ITARGETSR 0x800
#define GICD_ICFGR 0xc00
#define GICD_SGIR 0xf00
#define GICD_CPENDSGIR 0xf10
#define GICD_SPENDSGIR 0xf20
#define GICD_IDREGS 0xfd0

/* CPU interface register map. */
#define GICC_CTLR 0x00
#define GICC_PMR 0x04
#define GICC_BPR 0x08
#define GICC_IAR 0x0c
#define GICC_EOIR 0x10
#define GICC_RPR 0x14
#define GICC_HPPIR 0x18
#define GICC_ABPR 0x1c
#define GICC_AIAR 0x20
#define GICC_AEOIR 0x24
#define GICC_AHPPIR 0x28
#define GICC_IIDR 0xfc
#define GICC_DIR 0x1000

#define GICC_CTLR_ENABLE 0x1u
#define GICC_CTLR_FIQEN 0x8u
#define GICC_CTLR_EOIMODE 0x200u
#define GICC_CTLR_MASK 0x3ffu

/* Identification: implementer ARM's JEP106 code (0x43b) as the architecture
 * requires for the ID format, product 0x51 ('Q'), revision 1. */
#define GICD_IIDR_VALUE 0x5100143bu
#define GICC_IIDR_VALUE ((0x051u << 20) | (0x2u << 16) | (0x1u << 12) | 0x43bu)

static struct gicv2_irq *irq_of(struct gicv2 *g, unsigned cpu, unsigned id)
{
    if (id < 32)
        return &g->priv[cpu][id];
    return &g->spi[id - 32];
}

static int irq_pending(const struct gicv2 *g, unsigned cpu, unsigned id)
{
    if (id < 16)
        return g->sgi_src[cpu][id] != 0;
    const struct gicv2_irq *p = id < 32 ? &g->priv[cpu][id] : &g->spi[id - 32];
    return p->pend || (!p->edge && p->level);
}

static uint32_t group_mask(uint32_t bpr)
{
    /* BPR n: the group priority is bits [7:n+1]. */
    return (0xffu << (bpr + 1)) & 0xffu;
}

static uint32_t running_prio(const struct gicv2_cpu *c)
{
    return c->nact ? c->act_prio[c->nact - 1] : 0x100u;
}

/* Highest-priority pending, enabled, inactive interrupt for `cpu`; ties go
 * to the lowest ID. Returns the ID or -1. */
static int best_pending(const struct gicv2 *g, unsigned cpu, uint32_t *prio)
{
    int best = -1;
    uint32_t bp = 0x100;
    for (unsigned id = 0; id < 32; id++) {
        const struct gicv2_irq *p = &g->priv[cpu][id];
        if (!p->enabled || p->active || !irq_pending(g, cpu, id))
            continue;
        if (p->prio < bp) {
            bp = p->prio;
            best = (int)id;
        }
    }
    for (unsigned id = 32; id < GICV2_NIRQS; id++) {
        const struct gicv2_irq *p = &g->spi[id - 32];
        if (!p->enabled || p->active || !(p->target & (1u << cpu)))
            continue;
        if (!(p->pend || (!p->edge && p->level)))
            continue;
        if (p->prio < bp) {
            bp = p->prio;
            best = (int)id;
        }
    }
    *prio = bp;
    return best;
}

/* Whether `cpu` has an interrupt it should be signalled (priority above the
 * mask and above the running priority's group). */
static int signalled(const struct gicv2 *g, unsigned cpu, int *id_out, uint32_t *prio_out)
{
    const struct gicv2_cpu *c = &g->cpu[cpu];
    if (!(g->ctlr & 1) || !(c->ctlr & GICC_CTLR_ENABLE))
        return 0;
    uint32_t prio;
    int id = best_pending(g, cpu, &prio);
    if (id < 0 || prio >= c->pmr)
        return 0;
    if ((prio & group_mask(c->bpr)) >= running_prio(c))
        return 0;
    if (id_out) *id_out = id;
    if (prio_out) *prio_out = prio;
    return 1;
}

static void drive(qvm_vdev_t *dev, struct gicv2 *g, unsigned cpu, unsigned input, int level)
{
    struct gicv2_cpu *c = &g->cpu[cpu];
    if (c->driven[input] == level)
        return;
    int rc = qvm_vcpu_irq(dev, cpu, input, level);
    if (rc == 0)
        c->driven[input] = level;
    else if (rc != -EAGAIN)
        qvm_log(dev, QVM_LOG_WARN, "vcpu %u: cannot drive its %s input (%d)", cpu,
                input == QVM_CPU_FIQ ? "FIQ" : "IRQ", rc);
}

void gicv2_update(qvm_vdev_t *dev, struct gicv2 *g)
{
    for (unsigned cpu = 0; cpu < g->ncpu && cpu < GICV2_MAXCPU; cpu++) {
        int want = signalled(g, cpu, NULL, NULL);
        int fiq = (g->cpu[cpu].ctlr & GICC_CTLR_FIQEN) != 0;
        drive(dev, g, cpu, fiq ? QVM_CPU_IRQ : QVM_CPU_FIQ, 0);
        drive(dev, g, cpu, fiq ? QVM_CPU_FIQ : QVM_CPU_IRQ, want);
    }
}

void gicv2_reset(struct gicv2 *g, unsigned ncpu)
{
    memset(g, 0, sizeof *g);
    g->ncpu = ncpu < 1 ? 1 : ncpu > GICV2_MAXCPU ? GICV2_MAXCPU : ncpu;
    for (unsigned c = 0; c < GICV2_MAXCPU; c++) {
        for (unsigned id = 0; id < 16; id++)
            g->priv[c][id].edge = 1; /* SGIs are edge-triggered */
        g->cpu[c].bpr = 2;
        g->cpu[c].abpr = 3;
        g->cpu[c].driven[0] = g->cpu[c].driven[1] = 0; /* a new run starts low */
    }
}

/* ---- distributor ------------------------------------------------------ */

/* A bit-per-interrupt register (enable/pending/active set/clear): word `w`
 * covers IDs 32w..32w+31. */
static uint32_t bits_read(struct gicv2 *g, unsigned cpu, unsigned w, unsigned base)
{
    uint32_t v = 0;
    for (unsigned b = 0; b < 32; b++) {
        unsigned id = w * 32 + b;
        struct gicv2_irq *p = irq_of(g, cpu, id);
        int on = 0;
        switch (base) {
        case GICD_ISENABLER: case GICD_ICENABLER: on = p->enabled; break;
        case GICD_ISPENDR: case GICD_ICPENDR:
            on = id < 32 ? irq_pending(g, cpu, id) : (p->pend || (!p->edge && p->level));
            break;
        default: on = p->active; break;
        }
        if (on)
            v |= 1u << b;
    }
    return v;
}

static void bits_write(struct gicv2 *g, unsigned cpu, unsigned w, unsigned base, uint32_t v)
{
    for (unsigned b = 0; b < 32; b++) {
        if (!(v & (1u << b)))
            continue;
        unsigned id = w * 32 + b;
        struct gicv2_irq *p = irq_of(g, cpu, id);
        switch (base) {
        case GICD_ISENABLER: p->enabled = 1; break;
        case GICD_ICENABLER: p->enabled = 0; break;
        case GICD_ISPENDR: if (id >= 16) p->pend = 1; break;   /* SGIs: SPENDSGIR */
        case GICD_ICPENDR: if (id >= 16) p->pend = 0; break;   /* SGIs: CPENDSGIR */
        case GICD_ISACTIVER: p->active = 1; break;
        case GICD_ICACTIVER: p->active = 0; break;
        }
    }
}

static int byte_reg(uint64_t off)
{
    return (off >= GICD_IPRIORITYR && off < GICD_IPRIORITYR + 0x400) ||
           (off >= GICD_ITARGETSR && off < GICD_ITARGETSR + 0x400) ||
           (off >= GICD_CPENDSGIR && off < GICD_SPENDSGIR + 0x10);
}

/* Width rules: 32-bit aligned accesses everywhere; byte accesses to the
 * byte-accessible registers (priorities, targets, SGI pending); anything
 * else is a bus error. */
static int dist_width_ok(uint64_t off, unsigned size)
{
    if (off >= 0x1000 || (off & (size - 1)))
        return 0;
    if (size == 4)
        return 1;
    return size == 1 && byte_reg(off);
}

static uint32_t dist_read_byte(struct gicv2 *g, unsigned cpu, uint64_t off)
{
    if (off >= GICD_IPRIORITYR && off < GICD_IPRIORITYR + GICV2_NIRQS)
        return irq_of(g, cpu, (unsigned)(off - GICD_IPRIORITYR))->prio;
    if (off >= GICD_ITARGETSR && off < GICD_ITARGETSR + GICV2_NIRQS) {
        unsigned id = (unsigned)(off - GICD_ITARGETSR);
        return id < 32 ? 1u << cpu : g->spi[id - 32].target;
    }
    if (off >= GICD_CPENDSGIR && off < GICD_CPENDSGIR + 16)
        return g->sgi_src[cpu][off - GICD_CPENDSGIR];
    if (off >= GICD_SPENDSGIR && off < GICD_SPENDSGIR + 16)
        return g->sgi_src[cpu][off - GICD_SPENDSGIR];
    return 0;
}

static void dist_write_byte(struct gicv2 *g, unsigned cpu, uint64_t off, uint32_t v)
{
    uint8_t all = (uint8_t)((1u << g->ncpu) - 1);
    v &= 0xff;
    if (off >= GICD_IPRIORITYR && off < GICD_IPRIORITYR + GICV2_NIRQS) {
        irq_of(g, cpu, (unsigned)(off - GICD_IPRIORITYR))->prio = (uint8_t)(v & GICV2_PRIO_MASK);
    } else if (off >= GICD_ITARGETSR + 32 && off < GICD_ITARGETSR + GICV2_NIRQS) {
        g->spi[off - GICD_ITARGETSR - 32].target = (uint8_t)(v & all);
    } else if (off >= GICD_CPENDSGIR && off < GICD_CPENDSGIR + 16) {
        g->sgi_src[cpu][off - GICD_CPENDSGIR] &= (uint8_t)~v;
    } else if (off >= GICD_SPENDSGIR && off < GICD_SPENDSGIR + 16) {
        g->sgi_src[cpu][off - GICD_SPENDSGIR] |= (uint8_t)(v & all);
    }
    /* SGI/PPI targets (read-only) and everything past our IDs: WI */
}

static void sgi_send(struct gicv2 *g, unsigned cpu, uint32_t v)
{
    unsigned id = v & 0xf;
    uint32_t all = (1u << g->ncpu) - 1, targets;
    switch ((v >> 24) & 3) {
    case 0: targets = (v >> 16) & 0xff; break;
    case 1: targets = all & ~(1u << cpu); break;
    case 2: targets = 1u << cpu; break;
    default: return; /* reserved filter: ignored */
    }
    targets &= all;
    for (unsigned t = 0; t < g->ncpu; t++)
        if (targets & (1u << t))
            g->sgi_src[t][id] |= (uint8_t)(1u << cpu);
}

int gicv2_dist_read(qvm_vdev_t *dev, struct gicv2 *g, unsigned cpu, uint64_t off,
                    unsigned size, uint32_t *val)
{
    (void)dev;
    *val = 0;
    if (cpu >= g->ncpu || !dist_width_ok(off, size))
        return QVM_BUS_ERROR;
    if (byte_reg(off)) {
        for (unsigned i = 0; i < size; i++)
            *val |= dist_read_byte(g, cpu, off + i) << (8 * i);
        return QVM_DONE;
    }
    unsigned nwords = GICV2_NIRQS / 32;
    if (off == GICD_CTLR) {
        *val = g->ctlr;
    } else if (off == GICD_TYPER) {
        *val = (nwords - 1) | ((g->ncpu - 1) << 5);
    } else if (off == GICD_IIDR) {
        *val = GICD_IIDR_VALUE;
    } else if (off >= GICD_ISENABLER && off < GICD_ICACTIVER + 0x80) {
        unsigned base = (unsigned)(off & ~0x7full), w = (unsigned)((off & 0x7f) / 4);
        if (w < nwords)
            *val = bits_read(g, cpu, w, base);
    } else if (off >= GICD_ICFGR && off < GICD_ICFGR + 0x100) {
        unsigned w = (unsigned)((off - GICD_ICFGR) / 4);
        if (w < nwords * 2)
            for (unsigned i = 0; i < 16; i++)
                if (irq_of(g, cpu, w * 16 + i)->edge)
                    *val |= 2u << (2 * i);
    } else if (off >= GICD_IDREGS) {
        static const uint8_t ids[12] = {0x04, 0, 0, 0,      /* PIDR4..7 */
                                        0x90, 0xb4, 0x2b, 0, /* PIDR0..3: ArchRev 2 */
                                        0x0d, 0xf0, 0x05, 0xb1};
        *val = ids[(off - GICD_IDREGS) / 4];
    }
    /* IGROUPR (all group 0), SGIR (write-only), reserved space: RAZ */
    return QVM_DONE;
}

int gicv2_dist_write(qvm_vdev_t *dev, struct gicv2 *g, unsigned cpu, uint64_t off,
                     unsigned size, uint32_t val)
{
    if (cpu >= g->ncpu || !dist_width_ok(off, size))
        return QVM_BUS_ERROR;
    unsigned nwords = GICV2_NIRQS / 32;
    if (byte_reg(off)) {
        for (unsigned i = 0; i < size; i++)
            dist_write_byte(g, cpu, off + i, val >> (8 * i));
    } else if (off == GICD_CTLR) {
        g->ctlr = val & 3;
    } else if (off >= GICD_ISENABLER && off < GICD_ICACTIVER + 0x80) {
        unsigned base = (unsigned)(off & ~0x7full), w = (unsigned)((off & 0x7f) / 4);
        if (w < nwords)
            bits_write(g, cpu, w, base, val);
    } else if (off >= GICD_ICFGR && off < GICD_ICFGR + 0x100) {
        unsigned w = (unsigned)((off - GICD_ICFGR) / 4);
        if (w >= 1 && w < nwords * 2) /* ICFGR0 (SGIs) is read-only */
            for (unsigned i = 0; i < 16; i++)
                irq_of(g, cpu, w * 16 + i)->edge = (val >> (2 * i + 1)) & 1;
    } else if (off == GICD_SGIR) {
        sgi_send(g, cpu, val);
    }
    /* TYPER, IIDR, IGROUPR, ID registers, reserved space: WI */
    gicv2_update(dev, g);
    return QVM_DONE;
}

/* ---- CPU interface ---------------------------------------------------- */

static uint32_t ack(struct gicv2 *g, unsigned cpu)
{
    struct gicv2_cpu *c = &g->cpu[cpu];
    int id;
    uint32_t prio;
    if (!signalled(g, cpu, &id, &prio) || c->nact >= GICV2_ACT_DEPTH)
        return GICV2_SPURIOUS;
    uint32_t v = (uint32_t)id;
    struct gicv2_irq *p = irq_of(g, cpu, (unsigned)id);
    if (id < 16) {
        uint8_t src = g->sgi_src[cpu][id];
        unsigned s = 0;
        while (s < 7 && !(src & (1u << s)))
            s++;
        g->sgi_src[cpu][id] = (uint8_t)(src & ~(1u << s));
        v |= s << 10;
    } else {
        p->pend = 0; /* a level-sensitive one stays pending while its line is high */
    }
    p->active = 1;
    c->act_id[c->nact] = (uint16_t)id;
    c->act_prio[c->nact] = (uint8_t)(prio & group_mask(c->bpr));
    c->nact++;
    return v;
}

static void eoi(qvm_vdev_t *dev, struct gicv2 *g, unsigned cpu, uint32_t v)
{
    struct gicv2_cpu *c = &g->cpu[cpu];
    unsigned id = v & 0x3ff;
    if (id >= GICV2_NIRQS)
        return; /* spurious IDs: ignored */
    unsigned i = c->nact;
    while (i > 0 && c->act_id[i - 1] != id)
        i--;
    if (i == 0) {
        g->spurious_eoi++;
        qvm_log(dev, QVM_LOG_DEBUG, "vcpu %u: EOI of interrupt %u, which is not active", cpu, id);
        return;
    }
    for (unsigned k = i; k < c->nact; k++) { /* drop that priority */
        c->act_id[k - 1] = c->act_id[k];
        c->act_prio[k - 1] = c->act_prio[k];
    }
    c->nact--;
    if (!(c->ctlr & GICC_CTLR_EOIMODE))
        irq_of(g, cpu, id)->active = 0;
}

int gicv2_cpu_read(qvm_vdev_t *dev, struct gicv2 *g, unsigned cpu, uint64_t off,
                   unsigned size, uint32_t *val)
{
    *val = 0;
    if (cpu >= g->ncpu || size != 4 || (off & 3) || off >= 0x2000)
        return QVM_BUS_ERROR;
    struct gicv2_cpu *c = &g->cpu[cpu];
    uint32_t prio;
    int id;
    switch (off) {
    case GICC_CTLR: *val = c->ctlr; break;
    case GICC_PMR: *val = c->pmr; break;
    case GICC_BPR: *val = c->bpr; break;
    case GICC_ABPR: *val = c->abpr; break;
    case GICC_IAR:
        *val = ack(g, cpu);
        gicv2_update(dev, g);
        break;
    case GICC_RPR: *val = c->nact ? c->act_prio[c->nact - 1] : 0xff; break;
    case GICC_HPPIR:
        id = best_pending(g, cpu, &prio);
        if (id < 0) {
            *val = GICV2_SPURIOUS;
        } else {
            *val = (uint32_t)id;
            if (id < 16) {
                unsigned s = 0;
                while (s < 7 && !(g->sgi_src[cpu][id] & (1u << s)))
                    s++;
                *val |= s << 10;
            }
        }
        break;
    case GICC_AIAR: case GICC_AHPPIR: *val = GICV2_SPURIOUS; break; /* no group 1 */
    case GICC_IIDR: *val = GICC_IIDR_VALUE; break;
    default: break; /* APRn, NSAPRn, EOIR/DIR (write-only), reserved: RAZ */
    }
    return QVM_DONE;
}

int gicv2_cpu_write(qvm_vdev_t *dev, struct gicv2 *g, unsigned cpu, uint64_t off,
                    unsigned size, uint32_t val)
{
    if (cpu >= g->ncpu || size != 4 || (off & 3) || off >= 0x2000)
        return QVM_BUS_ERROR;
    struct gicv2_cpu *c = &g->cpu[cpu];
    switch (off) {
    case GICC_CTLR: c->ctlr = val & GICC_CTLR_MASK; break;
    case GICC_PMR: c->pmr = val & GICV2_PRIO_MASK; break;
    case GICC_BPR: c->bpr = (val & 7) < 2 ? 2 : val & 7; break;
    case GICC_ABPR: c->abpr = (val & 7) < 3 ? 3 : val & 7; break;
    case GICC_EOIR: eoi(dev, g, cpu, val); break;
    case GICC_DIR:
        if ((c->ctlr & GICC_CTLR_EOIMODE) && (val & 0x3ff) < GICV2_NIRQS)
            irq_of(g, cpu, val & 0x3ff)->active = 0;
        break;
    default: break; /* read-only, group-1 aliases, reserved: WI */
    }
    gicv2_update(dev, g);
    return QVM_DONE;
}

/* ---- inputs ----------------------------------------------------------- */

static void set_input(struct gicv2_irq *p, int level)
{
    level = level ? 1 : 0;
    if (p->edge && level && !p->level)
        p->pend = 1;
    p->level = (uint8_t)level;
}

int gicv2_set_spi(qvm_vdev_t *dev, struct gicv2 *g, unsigned intid, int level)
{
    if (intid < 32 || intid >= GICV2_NIRQS)
        return -EINVAL;
    set_input(&g->spi[intid - 32], level);
    gicv2_update(dev, g);
    return 0;
}

int gicv2_set_ppi(qvm_vdev_t *dev, struct gicv2 *g, unsigned cpu, unsigned intid, int level)
{
    if (cpu >= g->ncpu || intid < 16 || intid >= 32)
        return -EINVAL;
    set_input(&g->priv[cpu][intid], level);
    gicv2_update(dev, g);
    return 0;
}
