/*
 * 8259: the PC's cascaded pair of 8259A interrupt controllers in one
 * instance, plus the ELCR edge/level control registers.
 *
 * Ports (defaults; `loc` 1/2/3 override master, slave, ELCR bases):
 *   0x20-0x21 master, 0xA0-0xA1 slave, 0x4D0-0x4D1 ELCR (master, slave).
 *
 * QNX's layout, one instance per chip told apart by its one `loc`: the
 * instance at 0xA0 is the slave chip, which the pair's instance serves (it
 * takes no ports and has no lines of its own: the slave's inputs are lines
 * 8-15 of the pair); an instance with one `loc` elsewhere is the pair with
 * its master there (slave 0xA0, ELCR 0x4D0).
 *
 * Inputs: lines 0-7 master, 8-15 slave (set_line). Line 2 is the cascade
 * input and is driven internally by the slave's output; setting it from
 * outside is ignored. A line is level-sensitive when its ELCR bit (or
 * ICW1.LTIM) is set, otherwise IRR latches on a 0->1 edge and stays set
 * until acknowledged (also when the line drops again first).
 *
 * The master output drives the CPU's external-interrupt input through
 * qvm_cpu_extint whenever it changes; the host then calls inta(), which
 * acts as a real INTA cycle (IRR->ISR, AEOI, cascade to the slave) and
 * returns the vector. With nothing pending it returns the spurious vector
 * (IRQ7 of the master, or IRQ15 when the master saw the cascade but the
 * slave has nothing) without touching ISR, as the hardware does.
 *
 * Power-on state: a bare 8259A is undefined until initialised; we start in
 * the state firmware leaves behind (master vectors 0x08-0x0F, slave
 * 0x70-0x77, 8086 mode, all inputs masked except the cascade), so nothing
 * can reach the CPU before the guest programs the controller.
 */
#include <qvm/vdev.h>

#include <errno.h>
#include <stddef.h>
#include <string.h>

struct chip {
    uint8_t irr, isr, imr;
    uint8_t elcr, elcr_mask;
    uint8_t last_level;      /* input line levels */
    uint8_t priority_add;    /* lowest-priority IRQ + 1 */
    uint8_t irq_base;
    uint8_t read_isr;        /* OCW3 RIS */
    uint8_t poll;
    uint8_t special_mask;
    uint8_t init_state;      /* 0 ready, 1 want ICW2, 2 want ICW3, 3 want ICW4 */
    uint8_t need_icw4;
    uint8_t single;
    uint8_t ltim;
    uint8_t auto_eoi;
    uint8_t rotate_aeoi;
    uint8_t sfnm;
    uint8_t icw3;
};

struct pic {
    struct chip c[2];
    uint64_t base[3];
    int extint;
    int slave_only; /* QNX layout: the slave chip's instance (no ports, no lines) */
};

static const char *const pic_options[] = {NULL};

static int priority_of(const struct chip *s, uint8_t mask)
{
    if (!mask)
        return 8;
    for (int p = 0; p < 8; p++)
        if (mask & (1u << ((p + s->priority_add) & 7)))
            return p;
    return 8;
}

/* IRQ (0-7) the chip would present now, or -1. */
static int chip_pending(const struct chip *s, int is_master)
{
    int prio = priority_of(s, s->irr & (uint8_t)~s->imr);
    if (prio == 8)
        return -1;
    uint8_t in_service = s->isr;
    if (s->special_mask)
        in_service &= (uint8_t)~s->imr;
    if (s->sfnm && is_master)
        in_service &= (uint8_t)~(1u << 2);
    int cur = priority_of(s, in_service);
    if (prio < cur)
        return (prio + s->priority_add) & 7;
    return -1;
}

static void pic_update(qvm_vdev_t *dev, struct pic *p)
{
    struct chip *m = &p->c[0];
    /* The slave's INT output is the master's IR2 input (level). */
    if (chip_pending(&p->c[1], 0) >= 0)
        m->irr |= 1u << 2;
    else
        m->irr &= (uint8_t)~(1u << 2);
    int out = chip_pending(m, 1) >= 0;
    if (out != p->extint) {
        p->extint = out;
        qvm_cpu_extint(dev, out);
    }
}

static void chip_line(struct chip *s, unsigned irq, int level)
{
    uint8_t bit = (uint8_t)(1u << irq);
    if ((s->elcr & bit) || s->ltim) {
        if (level)
            s->irr |= bit;
        else
            s->irr &= (uint8_t)~bit;
    } else if (level && !(s->last_level & bit)) {
        s->irr |= bit;
    }
    if (level)
        s->last_level |= bit;
    else
        s->last_level &= (uint8_t)~bit;
}

/* INTA on one chip for `irq`: move it from IRR to ISR (or EOI at once). */
static void chip_ack(struct chip *s, int irq)
{
    uint8_t bit = (uint8_t)(1u << irq);
    if (s->auto_eoi) {
        if (s->rotate_aeoi)
            s->priority_add = (uint8_t)((irq + 1) & 7);
    } else {
        s->isr |= bit;
    }
    /* An edge request is consumed; a level request stays while the line
     * is high (and is re-evaluated against ISR). */
    if (!((s->elcr & bit) || s->ltim))
        s->irr &= (uint8_t)~bit;
}

static void chip_reset_init(struct chip *s)
{
    /* What ICW1 does: clear IMR/ISR, priority 7 lowest, special mask off,
     * read IRR, edge latches re-armed (IRR keeps only level requests). */
    s->irr &= (uint8_t)(s->elcr & s->last_level);
    s->isr = 0;
    s->imr = 0;
    s->priority_add = 0;
    s->read_isr = 0;
    s->poll = 0;
    s->special_mask = 0;
    s->auto_eoi = 0;
    s->rotate_aeoi = 0;
    s->sfnm = 0;
    s->single = 0;
    s->need_icw4 = 0;
    s->ltim = 0;
    /* last_level keeps the real line levels: an edge input must now go
     * low and high again to request. */
}

static void pic_power_on(struct pic *p)
{
    for (int i = 0; i < 2; i++) {
        struct chip *s = &p->c[i];
        memset(s, 0, sizeof *s);
        s->elcr_mask = i == 0 ? 0xF8 : 0xDE;
        s->irq_base = i == 0 ? 0x08 : 0x70;
        s->imr = i == 0 ? 0xFB : 0xFF;
        s->icw3 = i == 0 ? 0x04 : 0x02;
    }
}

static int highest_isr(const struct chip *s)
{
    int prio = priority_of(s, s->isr);
    if (prio == 8)
        return -1;
    return (prio + s->priority_add) & 7;
}

static void chip_write_cmd(struct chip *s, uint8_t v)
{
    if (v & 0x10) { /* ICW1 */
        chip_reset_init(s);
        s->init_state = 1;
        s->need_icw4 = v & 1;
        s->single = (v >> 1) & 1;
        s->ltim = (v >> 3) & 1;
        if (s->ltim)
            s->irr = s->last_level; /* every input is level-sensitive */
        return;
    }
    if (v & 0x08) { /* OCW3 */
        if (v & 0x04)
            s->poll = 1;
        if (v & 0x02)
            s->read_isr = v & 1;
        if (v & 0x40)
            s->special_mask = (v >> 5) & 1;
        return;
    }
    /* OCW2 */
    int irq;
    switch (v >> 5) {
    case 0: /* rotate in AEOI clear */
        s->rotate_aeoi = 0;
        break;
    case 4: /* rotate in AEOI set */
        s->rotate_aeoi = 1;
        break;
    case 1: /* non-specific EOI */
    case 5: /* rotate on non-specific EOI */
        irq = highest_isr(s);
        if (irq >= 0) {
            s->isr &= (uint8_t)~(1u << irq);
            if (v >> 5 == 5)
                s->priority_add = (uint8_t)((irq + 1) & 7);
        }
        break;
    case 3: /* specific EOI */
        s->isr &= (uint8_t)~(1u << (v & 7));
        break;
    case 7: /* rotate on specific EOI */
        s->isr &= (uint8_t)~(1u << (v & 7));
        s->priority_add = (uint8_t)(((v & 7) + 1) & 7);
        break;
    case 6: /* set priority: v&7 becomes lowest */
        s->priority_add = (uint8_t)(((v & 7) + 1) & 7);
        break;
    default: /* 2: no operation */
        break;
    }
}

static void chip_write_data(struct chip *s, uint8_t v)
{
    switch (s->init_state) {
    case 1:
        s->irq_base = v & 0xF8;
        s->init_state = s->single ? (s->need_icw4 ? 3 : 0) : 2;
        break;
    case 2:
        s->icw3 = v;
        s->init_state = s->need_icw4 ? 3 : 0;
        break;
    case 3:
        s->auto_eoi = (v >> 1) & 1;
        s->sfnm = (v >> 4) & 1;
        s->init_state = 0;
        break;
    default:
        s->imr = v;
        break;
    }
}

/* Poll command read: acknowledge the highest request on this chip. */
static uint8_t chip_poll(struct pic *p, int idx)
{
    struct chip *s = &p->c[idx];
    s->poll = 0;
    int irq = chip_pending(s, idx == 0);
    if (irq < 0)
        return 0;
    if (idx == 0 && irq == 2) {
        int sirq = chip_pending(&p->c[1], 0);
        if (sirq >= 0)
            chip_ack(&p->c[1], sirq);
    }
    chip_ack(s, irq);
    return (uint8_t)(0x80 | irq);
}

static int pic_inta(qvm_vdev_t *dev, void *state)
{
    struct pic *p = state;
    struct chip *m = &p->c[0], *sl = &p->c[1];
    int vector;
    pic_update(dev, p);
    int irq = chip_pending(m, 1);
    if (irq < 0) {
        vector = m->irq_base | 7; /* spurious IRQ7 */
    } else if (irq == 2) {
        int sirq = chip_pending(sl, 0);
        if (sirq >= 0) {
            chip_ack(sl, sirq);
            vector = sl->irq_base | sirq;
        } else {
            vector = sl->irq_base | 7; /* spurious IRQ15 */
        }
        chip_ack(m, 2);
    } else {
        chip_ack(m, irq);
        vector = m->irq_base | irq;
    }
    pic_update(dev, p);
    return vector;
}

static int pic_set_line(qvm_vdev_t *dev, void *state, unsigned line, int level)
{
    struct pic *p = state;
    if (line >= 16 || p->slave_only)
        return -EINVAL;
    if (line == 2)
        return 0; /* cascade input: driven by the slave */
    chip_line(&p->c[line >> 3], line & 7, level != 0);
    pic_update(dev, p);
    return 0;
}

static unsigned pic_line_count(qvm_vdev_t *dev, void *state)
{
    struct pic *p = state;
    (void)dev;
    return p->slave_only ? 0 : 16;
}

static uint8_t port_read(qvm_vdev_t *dev, struct pic *p, unsigned region,
                         unsigned off)
{
    if (region == 2) {
        return p->c[off].elcr;
    }
    struct chip *s = &p->c[region];
    uint8_t v;
    if (s->poll) {
        v = chip_poll(p, (int)region);
        pic_update(dev, p);
        return v;
    }
    if (off == 0)
        return s->read_isr ? s->isr : s->irr;
    return s->imr;
}

static void port_write(qvm_vdev_t *dev, struct pic *p, unsigned region,
                       unsigned off, uint8_t v)
{
    if (region == 2) {
        struct chip *s = &p->c[off];
        s->elcr = v & s->elcr_mask;
        /* A line that became level-sensitive reflects its current level. */
        for (unsigned i = 0; i < 8; i++) {
            uint8_t bit = (uint8_t)(1u << i);
            if ((s->elcr & bit) && !(s->last_level & bit))
                s->irr &= (uint8_t)~bit;
            else if ((s->elcr & bit) && (s->last_level & bit))
                s->irr |= bit;
        }
    } else if (off == 0) {
        chip_write_cmd(&p->c[region], v);
    } else {
        chip_write_data(&p->c[region], v);
    }
    pic_update(dev, p);
}

static int pic_access(qvm_vdev_t *dev, struct pic *p,
                      const struct qvm_access *acc, uint8_t *data, int wr)
{
    if (acc->region > 2 || acc->size == 0 || acc->size > 8)
        return QVM_BUS_ERROR;
    for (unsigned i = 0; i < acc->size; i++) {
        uint64_t off = acc->offset + i;
        if (off >= 2) {
            if (!wr)
                data[i] = 0xFF;
            continue;
        }
        if (wr)
            port_write(dev, p, acc->region, (unsigned)off, data[i]);
        else
            data[i] = port_read(dev, p, acc->region, (unsigned)off);
    }
    return QVM_DONE;
}

static int pic_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                    void *data)
{
    return pic_access(dev, state, acc, data, 0);
}

static int pic_write(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                     void *data)
{
    return pic_access(dev, state, acc, data, 1);
}

static int pic_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg,
                       const char *value)
{
    struct pic *p = state;
    (void)arg;
    (void)value;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        pic_power_on(p);
        return 0;
    case QVM_CTRL_OPTION:
        return -EINVAL;
    case QVM_CTRL_OPTIONS_END: {
        static const uint64_t defaults[3] = {0x20, 0xA0, 0x4D0};
        if (qvm_loc_count(dev) == 1) {
            uint32_t space = QVM_SPACE_IO;
            uint64_t base = 0;
            if (qvm_loc_get(dev, 0, &space, &base))
                return -EINVAL;
            if (space == QVM_SPACE_IO && base == defaults[1]) {
                p->slave_only = 1;
                qvm_log(dev, QVM_LOG_INFO,
                        "loc 0xa0: the slave 8259, served with its master by the "
                        "pair's instance");
                return 0;
            }
        }
        for (unsigned i = 0; i < 3; i++) {
            uint32_t space = QVM_SPACE_IO;
            uint64_t base = defaults[i];
            if (i < qvm_loc_count(dev) && qvm_loc_get(dev, i, &space, &base))
                return -EINVAL;
            if (space != QVM_SPACE_IO) {
                qvm_log(dev, QVM_LOG_ERROR, "loc: the 8259 lives in io: space");
                return -EINVAL;
            }
            int rc = qvm_region_add(dev, QVM_SPACE_IO, base, 2);
            if (rc < 0)
                return rc;
            if (rc != (int)i) {
                qvm_log(dev, QVM_LOG_ERROR, "unexpected region index %d", rc);
                return -EINVAL;
            }
            p->base[i] = base;
        }
        return 0;
    }
    case QVM_CTRL_GEN_ACPI:
        /* Dual 8259s present: the MADT's PCAT_COMPAT flag. */
        return p->slave_only ? 0 : qvm_acpi_legacy(dev, QVM_ACPI_LEGACY_8259);
    case QVM_CTRL_RESET: {
        if (p->slave_only)
            return 0;
        uint8_t lines[2] = {p->c[0].last_level, p->c[1].last_level};
        pic_power_on(p);
        /* Inputs keep their current level; edges need a new rising edge. */
        p->c[0].last_level = lines[0];
        p->c[1].last_level = lines[1];
        pic_update(dev, p);
        return 0;
    }
    case QVM_CTRL_STATUS:
        if (p->slave_only) {
            qvm_log(dev, QVM_LOG_INFO, "slave chip: served by the pair's instance");
            return 0;
        }
        qvm_log(dev, QVM_LOG_INFO,
                "master irr=%02x isr=%02x imr=%02x base=%02x elcr=%02x; "
                "slave irr=%02x isr=%02x imr=%02x base=%02x elcr=%02x; int=%d",
                p->c[0].irr, p->c[0].isr, p->c[0].imr, p->c[0].irq_base,
                p->c[0].elcr, p->c[1].irr, p->c[1].isr, p->c[1].imr,
                p->c[1].irq_base, p->c[1].elcr, p->extint);
        return 0;
    case QVM_CTRL_POWER_BUTTON:
        return -ENOTSUP;
    default:
        return 0;
    }
}

static const struct qvm_pic_ops pic_ops = {
    .struct_size = sizeof(struct qvm_pic_ops),
    .set_line = pic_set_line,
    .line_count = pic_line_count,
    .eoi = NULL,
    .inta = pic_inta,
};

static const struct qvm_factory pic_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "8259",
    .description = "cascaded 8259A interrupt controllers with ELCR",
    .flags = QVM_VDEVF_SPACE_IO | QVM_VDEVF_PIC,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2,
    .options = pic_options,
    .state_size = sizeof(struct pic),
    .control = pic_control,
    .read = pic_read,
    .write = pic_write,
    .pic = &pic_ops,
};

static void __attribute__((constructor)) pic_register(void)
{
    qvm_register_factory(&pic_factory);
}
