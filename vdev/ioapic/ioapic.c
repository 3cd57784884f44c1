/*
 * ioapic: an 82093AA-style I/O APIC (version 0x20, with the EOI register).
 *
 * Memory layout (default loc mem:0xFEC00000, 4 KiB decoded):
 *   0x00 IOREGSEL (8-bit index), 0x10 IOWIN (32-bit data), 0x40 EOI.
 * Indirect registers: 0x00 ID (bits 24-27), 0x01 VER = 0x00170020
 * (24 pins, version 0x20), 0x02 ARB (reads the ID), 0x10+2n / 0x11+2n the
 * low / high halves of redirection entry n.
 *
 * Redirection entry: vector 0-7, delivery mode 8-10, destination mode 11,
 * delivery status 12 (always 0: delivery is immediate), polarity 13
 * (1 = active low), remote IRR 14 (read-only), trigger 15 (1 = level),
 * mask 16, destination 56-63 (other bits of the high half read as 0).
 *
 * Inputs (set_line) are the physical pin levels; an input is asserted when
 * level XOR polarity is 1. qvm's devices drive "1 = asserted", so firmware
 * tables must describe every line as active-high (ACPI MADT overrides for
 * the SCI: level, active high).
 *   edge pins deliver on each assertion; an assertion while masked is
 *     remembered and delivered on unmask (no edge is lost);
 *   level pins deliver while asserted, unmasked and remote IRR is clear,
 *     and set remote IRR; eoi(vector) (LAPIC broadcast or the EOI register)
 *     clears remote IRR of matching level entries and re-delivers when the
 *     pin is still asserted. Switching an entry to edge clears remote IRR
 *     (the pre-0x20 way Linux clears it).
 * Delivery is an x86 MSI through qvm_msi: address 0xFEE00000 | dest << 12 |
 * destmode << 2, data = vector | mode << 8 | assert (bit 14) |
 * level (bit 15). Every entry change is reported with qvm_msi_route.
 *
 * ISA cascade: pins 1..15 are also forwarded to the controller named
 * `8259` (pin 2, the PIT's override, becomes 8259 line 0; pin 0 is the
 * 8259's own output and pin 2's line 2 is the cascade), ignoring -ENOENT.
 */
#include <qvm/vdev.h>

#include <errno.h>
#include <string.h>

#define NPINS 24
#define RTE_VECTOR 0xFFull
#define RTE_DELMODE (7ull << 8)
#define RTE_DESTMODE (1ull << 11)
#define RTE_DELIVS (1ull << 12)
#define RTE_POLARITY (1ull << 13)
#define RTE_REMOTE_IRR (1ull << 14)
#define RTE_LEVEL (1ull << 15)
#define RTE_MASK (1ull << 16)
#define RTE_DEST_SHIFT 56
/* Guest-writable bits of an entry. */
#define RTE_WRITABLE (RTE_VECTOR | RTE_DELMODE | RTE_DESTMODE | RTE_POLARITY | \
                      RTE_LEVEL | RTE_MASK | (0xFFull << RTE_DEST_SHIFT))

struct ioapic {
    uint64_t base; /* where the registers live (the MADT entry) */
    uint32_t ioregsel;
    uint32_t id;
    uint64_t rte[NPINS];
    uint32_t lines;       /* physical pin levels */
    uint32_t edge_pending;/* asserted edges not yet delivered (masked) */
    uint32_t isa_forward; /* last level forwarded per pin */
    uint64_t msi_count;
};

static const char *const ioapic_options[] = {"hostvector", NULL};

static void rte_msi(uint64_t e, uint64_t *addr, uint32_t *data)
{
    uint64_t dest = e >> RTE_DEST_SHIFT;
    *addr = 0xFEE00000ull | (dest << 12) | (((e >> 11) & 1) << 2);
    *data = (uint32_t)((e & RTE_VECTOR) | (e & RTE_DELMODE) | (1u << 14) |
                       ((e & RTE_LEVEL) ? (1u << 15) : 0));
}

static int pin_asserted(const struct ioapic *s, unsigned pin)
{
    int level = (s->lines >> pin) & 1;
    if (s->rte[pin] & RTE_POLARITY)
        level ^= 1;
    return level;
}

static void deliver(qvm_vdev_t *dev, struct ioapic *s, unsigned pin)
{
    uint64_t addr;
    uint32_t data;
    rte_msi(s->rte[pin], &addr, &data);
    s->msi_count++;
    qvm_msi(dev, addr, data);
}

/* Deliver whatever pin `pin` owes the CPU now. */
static void service(qvm_vdev_t *dev, struct ioapic *s, unsigned pin)
{
    uint64_t e = s->rte[pin];
    if (e & RTE_MASK)
        return;
    if (e & RTE_LEVEL) {
        s->edge_pending &= ~(1u << pin);
        if (pin_asserted(s, pin) && !(e & RTE_REMOTE_IRR)) {
            s->rte[pin] |= RTE_REMOTE_IRR;
            deliver(dev, s, pin);
        }
    } else if (s->edge_pending & (1u << pin)) {
        s->edge_pending &= ~(1u << pin);
        deliver(dev, s, pin);
    }
}

static void report_route(qvm_vdev_t *dev, struct ioapic *s, unsigned pin)
{
    uint64_t addr;
    uint32_t data;
    rte_msi(s->rte[pin], &addr, &data);
    qvm_msi_route(dev, pin, addr, data, (s->rte[pin] & RTE_MASK) != 0);
}

static void isa_forward(qvm_vdev_t *dev, struct ioapic *s, unsigned pin,
                        int level)
{
    if (pin == 0 || pin >= 16)
        return;
    uint32_t bit = 1u << pin;
    if (!!(s->isa_forward & bit) == !!level)
        return;
    if (level)
        s->isa_forward |= bit;
    else
        s->isa_forward &= ~bit;
    unsigned line = pin == 2 ? 0 : pin;
    (void)qvm_irq_set_named(dev, "8259", line, level); /* -ENOENT: none */
}

static int ioapic_set_line(qvm_vdev_t *dev, void *state, unsigned line,
                           int level)
{
    struct ioapic *s = state;
    if (line >= NPINS)
        return -EINVAL;
    int was = pin_asserted(s, line);
    if (level)
        s->lines |= 1u << line;
    else
        s->lines &= ~(1u << line);
    int now = pin_asserted(s, line);
    if (!(s->rte[line] & RTE_LEVEL) && now && !was)
        s->edge_pending |= 1u << line;
    service(dev, s, line);
    isa_forward(dev, s, line, level != 0);
    return 0;
}

static unsigned ioapic_line_count(qvm_vdev_t *dev, void *state)
{
    (void)dev;
    (void)state;
    return NPINS;
}

static void ioapic_eoi(qvm_vdev_t *dev, void *state, unsigned vector)
{
    struct ioapic *s = state;
    for (unsigned pin = 0; pin < NPINS; pin++) {
        uint64_t e = s->rte[pin];
        if ((e & RTE_VECTOR) != (vector & 0xFF) || !(e & RTE_LEVEL) ||
            !(e & RTE_REMOTE_IRR))
            continue;
        s->rte[pin] &= ~RTE_REMOTE_IRR;
        service(dev, s, pin);
    }
}

static uint32_t reg_read(const struct ioapic *s)
{
    uint32_t idx = s->ioregsel;
    switch (idx) {
    case 0x00:
        return s->id << 24;
    case 0x01:
        return 0x00170020;
    case 0x02:
        return s->id << 24;
    default:
        if (idx >= 0x10 && idx < 0x10 + 2 * NPINS) {
            uint64_t e = s->rte[(idx - 0x10) / 2];
            return (idx & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
        }
        return 0;
    }
}

static void reg_write(qvm_vdev_t *dev, struct ioapic *s, uint32_t v)
{
    uint32_t idx = s->ioregsel;
    if (idx == 0x00) {
        s->id = (v >> 24) & 0x0F;
        return;
    }
    if (idx < 0x10 || idx >= 0x10 + 2 * NPINS)
        return; /* VER, ARB and unknown registers are read-only */
    unsigned pin = (idx - 0x10) / 2;
    uint64_t old = s->rte[pin], e = old;
    if (idx & 1)
        e = (e & 0xFFFFFFFFull) | ((uint64_t)v << 32);
    else
        e = (e & ~0xFFFFFFFFull) | v;
    e = (e & RTE_WRITABLE) | (old & RTE_REMOTE_IRR);
    if (!(e & RTE_LEVEL))
        e &= ~RTE_REMOTE_IRR;
    /* A polarity change can turn the current level into an assertion. */
    if (!(e & RTE_LEVEL)) {
        int was = pin_asserted(s, pin);
        s->rte[pin] = e;
        if (!was && pin_asserted(s, pin) && ((old ^ e) & RTE_POLARITY))
            s->edge_pending |= 1u << pin;
    } else {
        s->rte[pin] = e;
    }
    report_route(dev, s, pin);
    service(dev, s, pin);
}

static int ioapic_rw(qvm_vdev_t *dev, struct ioapic *s,
                     const struct qvm_access *acc, uint8_t *data, int wr)
{
    uint64_t off = acc->offset;
    unsigned size = acc->size;
    if (size == 0 || size > 8 || off >= 0x1000 || off + size > 0x1000)
        return QVM_DONE; /* ignore; reads are zero-filled */
    if (off < 0x10) {
        if (off != 0)
            return QVM_DONE;
        if (wr)
            s->ioregsel = data[0];
        else
            data[0] = (uint8_t)s->ioregsel;
        return QVM_DONE;
    }
    if (off >= 0x10 && off < 0x14) {
        if (off + size > 0x14)
            return QVM_DONE;
        unsigned shift = (unsigned)(off - 0x10) * 8;
        uint32_t cur = reg_read(s);
        if (wr) {
            uint32_t v = cur;
            for (unsigned i = 0; i < size; i++) {
                v &= ~(0xFFu << (shift + 8 * i));
                v |= (uint32_t)data[i] << (shift + 8 * i);
            }
            reg_write(dev, s, v);
        } else {
            for (unsigned i = 0; i < size; i++)
                data[i] = (uint8_t)(cur >> (shift + 8 * i));
        }
        return QVM_DONE;
    }
    if (off == 0x40 && wr) {
        ioapic_eoi(dev, s, data[0]);
        return QVM_DONE;
    }
    return QVM_DONE;
}

static int ioapic_read(qvm_vdev_t *dev, void *state,
                       const struct qvm_access *acc, void *data)
{
    return ioapic_rw(dev, state, acc, data, 0);
}

static int ioapic_write(qvm_vdev_t *dev, void *state,
                        const struct qvm_access *acc, void *data)
{
    return ioapic_rw(dev, state, acc, data, 1);
}

static void ioapic_power_on(qvm_vdev_t *dev, struct ioapic *s, int report)
{
    s->ioregsel = 0;
    s->id = 0;
    s->edge_pending = 0;
    for (unsigned i = 0; i < NPINS; i++) {
        s->rte[i] = RTE_MASK;
        if (report)
            report_route(dev, s, i);
    }
}

static int ioapic_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg,
                          const char *value)
{
    struct ioapic *s = state;
    (void)arg;
    (void)value;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        ioapic_power_on(dev, s, 0);
        return 0;
    case QVM_CTRL_OPTION:
        /* QNX's hostvector: host interrupts for passed-through inputs. */
        qvm_log(dev, QVM_LOG_ERROR, "hostvector: qvm passes no host interrupts through "
                "(`pass` is not supported yet)");
        return -EINVAL;
    case QVM_CTRL_OPTIONS_END: {
        uint32_t space = QVM_SPACE_MEM;
        uint64_t base = 0xFEC00000ull;
        if (qvm_loc_count(dev) > 0 && qvm_loc_get(dev, 0, &space, &base))
            return -EINVAL;
        if (space != QVM_SPACE_MEM) {
            qvm_log(dev, QVM_LOG_ERROR, "loc: the ioapic lives in mem: space");
            return -EINVAL;
        }
        int rc = qvm_region_add(dev, QVM_SPACE_MEM, base, 0x1000);
        s->base = base;
        return rc < 0 ? rc : 0;
    }
    case QVM_CTRL_GEN_ACPI:
        /* The MADT's I/O APIC: inputs from GSI 0; the 8259 legacy ISA lines. */
        return qvm_acpi_ioapic(dev, s->base, 0);
    case QVM_CTRL_RESET:
        ioapic_power_on(dev, s, 1);
        return 0;
    case QVM_CTRL_STATUS:
        qvm_log(dev, QVM_LOG_INFO, "id=%u lines=%06x msis=%llu", s->id,
                s->lines, (unsigned long long)s->msi_count);
        for (unsigned i = 0; i < NPINS; i++)
            if (!(s->rte[i] & RTE_MASK))
                qvm_log(dev, QVM_LOG_INFO, "pin %u: rte=%016llx", i,
                        (unsigned long long)s->rte[i]);
        return 0;
    case QVM_CTRL_POWER_BUTTON:
        return -ENOTSUP;
    default:
        return 0;
    }
}

static const struct qvm_pic_ops ioapic_ops = {
    .struct_size = sizeof(struct qvm_pic_ops),
    .set_line = ioapic_set_line,
    .line_count = ioapic_line_count,
    .eoi = ioapic_eoi,
    .inta = NULL,
};

static const struct qvm_factory ioapic_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "ioapic",
    .description = "82093AA-style I/O APIC, 24 pins",
    .flags = QVM_VDEVF_SPACE_MEM | QVM_VDEVF_PIC,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2 | QVM_ACCESS_4 | QVM_ACCESS_8,
    .options = ioapic_options,
    .state_size = sizeof(struct ioapic),
    .control = ioapic_control,
    .read = ioapic_read,
    .write = ioapic_write,
    .pic = &ioapic_ops,
};

static void __attribute__((constructor)) ioapic_register(void)
{
    qvm_register_factory(&ioapic_factory);
}
