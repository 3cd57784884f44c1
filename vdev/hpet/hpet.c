/*
 * hpet: an IA-PC HPET (High Precision Event Timer) block with 3 timers.
 *
 * Region: mem 0xFED00000, 1 KiB (`loc mem:ADDR` overrides; it must be
 * 1 KiB aligned and below 4 GiB because the ACPI HPET table describes it
 * with a 32-bit Memory32Fixed).
 *
 * Registers (offsets; every access of 1, 2, 4 or 8 bytes that stays inside
 * one 8-byte register is served, anything else reads all-ones / is
 * dropped):
 *   0x000 GCAP_ID   RO: REV_ID 1, NUM_TIM_CAP 2 (3 timers), COUNT_SIZE_CAP
 *                   1 (64-bit counter), LEG_RT_CAP 1 (0 with QNX's
 *                   `legacy-free`), VENDOR_ID 0x8086,
 *                   COUNTER_CLK_PERIOD (bits 63:32) = 10^15 / frequency fs.
 *                   Low dword = 0x8086A201 (what the ACPI HPET table's
 *                   "event timer block id" repeats).
 *   0x010 GEN_CONF  bit 0 ENABLE_CNF (main counter runs, timers may
 *                   interrupt), bit 1 LEG_RT_CNF (legacy replacement:
 *                   timer 0 -> IOAPIC input 2 (ISA IRQ0 through the MADT
 *                   override), timer 1 -> IOAPIC input 8 (IRQ8)); with
 *                   `legacy-free` the bit reads 0 and writes are ignored.
 *   0x020 GINTR_STA bit n = timer n's level-triggered interrupt is active;
 *                   write 1 to clear (and deassert the line).
 *   0x0F0 MAIN_CNT  64-bit main counter (writable; the guest should halt it
 *                   first, as the specification says, but a write while
 *                   running is honoured too).
 *   0x100 + 0x20*n  Tn_CONF_CAP: bit 1 INT_TYPE (0 edge, 1 level), bit 2
 *                   INT_ENB, bit 3 TYPE (periodic), bit 4 PER_INT_CAP (RO
 *                   1), bit 5 SIZE_CAP (RO 1: 64-bit comparator), bit 6
 *                   VAL_SET, bit 8 32MODE, bits 13:9 INT_ROUTE, bit 14
 *                   FSB_EN (RO 0), bit 15 FSB_INT_DEL_CAP (RO 0: no FSB/MSI
 *                   delivery), bits 63:32 INT_ROUTE_CAP (RO 0x00F00000:
 *                   IOAPIC inputs 20-23, clear of the ISA lines and of the
 *                   PCI INTx inputs 16-19).
 *   0x108 + 0x20*n  Tn_COMPARATOR. One-shot: the value to match. Periodic:
 *                   a write sets the period and, when VAL_SET is set, also
 *                   the comparator (VAL_SET then clears itself, once the low
 *                   dword was written); each match adds the period.
 *   0x110 + 0x20*n  Tn_FSB_ROUTE: reads 0, writes ignored (no FSB).
 * A route value outside INT_ROUTE_CAP is not stored (the read-back differs,
 * as the specification allows). A timer whose route is not valid (and not
 * overridden by legacy replacement) delivers nothing.
 *
 * Counter: computed from qvm_time_ns at `frequency` Hz (option, default
 * 100000000 = 100 MHz, period 10 ns; any value from 10 MHz to 1 GHz that
 * divides 10^15 so the advertised period in femtoseconds is exact, e.g.
 * 10000000 for 10 MHz). Never ticked: while enabled, counter = base +
 * (now - base_time) * frequency / 10^9.
 *
 * Matching: a timer fires when the counter passes its comparator (in
 * 32-bit mode, the low 32 bits of the counter; the comparator then holds
 * 32 bits). A one-shot 64-bit comparator behind the counter does not fire
 * (until the 64-bit wrap, i.e. never); a 32-bit one fires again each time
 * the low dword comes round (every 2^32 ticks). No extra interrupt at the
 * 32-bit wrap. Periodic timers that missed several periods (a slow host)
 * deliver one interrupt and advance the comparator past the counter.
 *
 * Host protection: qvm timers are armed only for a timer with INT_ENB set
 * while the block is enabled; for periodic timers the host timer is never
 * re-armed sooner than 100 us after the previous expiry (at most 10 kHz of
 * interrupts per timer; the comparator still advances at the programmed
 * rate). One-shot timers need a guest write per interrupt.
 *
 * Interrupts go to the IOAPIC instance named `ioapic` (qvm_irq_set_named);
 * `intr` is therefore refused. Edge: one pulse per match. Level: the line
 * stays high and GINTR_STA's bit set until the guest writes 1 to it, or
 * disables the timer's interrupt, switches it to edge or changes its route.
 * While the block is disabled (ENABLE_CNF = 0) the counter holds and no
 * timer fires.
 *
 * ACPI: the device describes itself with qvm_acpi_hpet (its base and
 * GCAP_ID[31:0]) in QVM_CTRL_GEN_ACPI; qvm then emits the HPET table and
 * the DSDT's HPET device (PNP0103).
 */
#include <qvm/vdev.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HPET_BASE 0xFED00000ull
#define HPET_SIZE 0x400ull
#define NTIMERS 3
#define FS_PER_S 1000000000000000ull
#define NS_PER_S 1000000000ull
#define MIN_PERIODIC_NS 100000ull
#define ROUTE_CAP 0x00F00000u
#define VENDOR 0x8086u

#define GCAP_LEG_RT_CAP (1u << 15)
#define GCAP_LOW (0x01u | ((NTIMERS - 1u) << 8) | (1u << 13) | GCAP_LEG_RT_CAP | \
                  (VENDOR << 16))

#define GEN_ENABLE 0x1ull
#define GEN_LEGACY 0x2ull

#define TN_LEVEL (1ull << 1)
#define TN_ENB (1ull << 2)
#define TN_PERIODIC (1ull << 3)
#define TN_PER_CAP (1ull << 4)
#define TN_SIZE_CAP (1ull << 5)
#define TN_VAL_SET (1ull << 6)
#define TN_32MODE (1ull << 8)
#define TN_ROUTE_SHIFT 9
#define TN_ROUTE_MASK (0x1Full << TN_ROUTE_SHIFT)
#define TN_WRITABLE (TN_LEVEL | TN_ENB | TN_PERIODIC | TN_VAL_SET | TN_32MODE)
#define TN_RO_BITS (TN_PER_CAP | TN_SIZE_CAP | ((uint64_t)ROUTE_CAP << 32))

struct hpet;

struct hpet_timer {
    struct hpet *h;
    unsigned idx;
    uint64_t conf;   /* writable bits only; caps are added on read */
    uint64_t cmp;
    uint64_t period;
    uint64_t ref;    /* counter value up to which matches are accounted */
    int line;        /* IOAPIC input currently driven high (level), or -1 */
    uint64_t last_fire_ns;
    uint64_t fired;
    qvm_timer_t *timer;
};

struct hpet {
    qvm_vdev_t *dev;
    uint64_t base; /* where the block lives (ACPI HPET table) */
    uint64_t freq;
    uint64_t gen_conf;
    uint64_t isr;
    uint64_t base_count; /* counter value at base_ns (or held value) */
    uint64_t base_ns;
    struct hpet_timer t[NTIMERS];
    uint64_t bad_accesses;
    char ioapic[64]; /* the I/O APIC the timers drive (`intrmap`) */
    int legacy_free; /* QNX's `legacy-free`: LEG_RT_CAP 0, LEG_RT_CNF inert */
};

/* GCAP_ID's low dword (and the ACPI table's event timer block id). */
static uint32_t gcap_low(const struct hpet *h)
{
    return h->legacy_free ? GCAP_LOW & ~GCAP_LEG_RT_CAP : GCAP_LOW;
}

static const char *const hpet_options[] = {"frequency", "intrmap", "legacy-free", NULL};
static const uint32_t hpet_option_flags[] = {0, 0, QVM_OPTF_NO_ARG};

/* ---- counter ------------------------------------------------------------ */

static uint64_t counter_at(const struct hpet *h, uint64_t now)
{
    if (!(h->gen_conf & GEN_ENABLE))
        return h->base_count;
    uint64_t dt = now > h->base_ns ? now - h->base_ns : 0;
    return h->base_count +
           (uint64_t)((unsigned __int128)dt * h->freq / NS_PER_S);
}

/* Earliest time at which the counter reads `v` (v ticks after base_count,
 * modulo 2^64), or UINT64_MAX when that is too far away to matter. */
static uint64_t time_of_count(const struct hpet *h, uint64_t ticks_after_base)
{
    unsigned __int128 ns =
        ((unsigned __int128)ticks_after_base * NS_PER_S + h->freq - 1) /
        h->freq;
    if (ns > (unsigned __int128)(UINT64_MAX / 2) ||
        (uint64_t)ns > UINT64_MAX - h->base_ns)
        return UINT64_MAX;
    return h->base_ns + (uint64_t)ns;
}

static int is32(const struct hpet_timer *t)
{
    return (t->conf & TN_32MODE) != 0;
}

static uint64_t width_mask(const struct hpet_timer *t)
{
    return is32(t) ? 0xFFFFFFFFull : UINT64_MAX;
}

/* ---- interrupts ----------------------------------------------------------- */

/* The IOAPIC input timer t delivers to, or -1. */
static int route_of(const struct hpet_timer *t)
{
    const struct hpet *h = t->h;
    if (h->gen_conf & GEN_LEGACY) {
        if (t->idx == 0)
            return 2;
        if (t->idx == 1)
            return 8;
    }
    unsigned r = (unsigned)((t->conf & TN_ROUTE_MASK) >> TN_ROUTE_SHIFT);
    if (r < 32 && (ROUTE_CAP & (1u << r)))
        return (int)r;
    return -1;
}

static void drop_level(struct hpet_timer *t)
{
    if (t->line >= 0) {
        qvm_irq_set_named(t->h->dev, t->h->ioapic, (unsigned)t->line, 0);
        t->line = -1;
    }
}

static void deliver(struct hpet_timer *t)
{
    struct hpet *h = t->h;
    t->fired++;
    if (!(t->conf & TN_ENB))
        return;
    int line = route_of(t);
    if (t->conf & TN_LEVEL) {
        h->isr |= 1ull << t->idx;
        if (line < 0 || t->line == line)
            return;
        drop_level(t);
        t->line = line;
        qvm_irq_set_named(h->dev, h->ioapic, (unsigned)line, 1);
    } else if (line >= 0) {
        qvm_irq_set_named(h->dev, h->ioapic, (unsigned)line, 1);
        qvm_irq_set_named(h->dev, h->ioapic, (unsigned)line, 0);
    }
}

/* ---- matching ------------------------------------------------------------- */

/* Accounts for counter movement from t->ref to `count`: returns 1 when the
 * comparator was passed (periodic timers advance their comparator past
 * `count`), and moves ref to `count` (a full counter value). */
static int sync_timer(struct hpet_timer *t, uint64_t count)
{
    uint64_t m = width_mask(t);
    uint64_t span = count - t->ref; /* full 64-bit counter movement */
    uint64_t d = (t->cmp - t->ref) & m;
    int fired = 0;
    if (d == 0 && m != UINT64_MAX)
        d = m + 1; /* 32-bit: equal now means the next wrap */
    if (span != 0 && d != 0 && d <= span) {
        fired = 1;
        if ((t->conf & TN_PERIODIC) && t->period != 0) {
            uint64_t p = t->period & m;
            if (p == 0)
                p = 1; /* unreachable: period is masked on 32-bit entry */
            uint64_t n = (span - d) / p + 1;
            t->cmp = (t->cmp + n * p) & m;
        }
    }
    t->ref = count;
    return fired;
}

static void schedule(struct hpet_timer *t, uint64_t now)
{
    struct hpet *h = t->h;
    if (!t->timer)
        return;
    qvm_timer_cancel(t->timer);
    if (!(h->gen_conf & GEN_ENABLE) || !(t->conf & TN_ENB))
        return;
    uint64_t m = width_mask(t);
    uint64_t count = counter_at(h, now);
    uint64_t d = (t->cmp - count) & m;
    if (d == 0)
        d = m == UINT64_MAX ? 0 : m + 1; /* matched now: next time round */
    if (d == 0)
        return; /* 64-bit: 2^64 ticks away */
    /* Ticks from base_count to the match. */
    uint64_t from_base = count - h->base_count;
    if (d > UINT64_MAX - from_base)
        return;
    uint64_t when = time_of_count(h, from_base + d);
    if (when == UINT64_MAX)
        return;
    if ((t->conf & TN_PERIODIC) && t->last_fire_ns &&
        when < t->last_fire_ns + MIN_PERIODIC_NS)
        when = t->last_fire_ns + MIN_PERIODIC_NS;
    qvm_timer_arm(t->timer, when, 0);
}

static void sync_all(struct hpet *h, uint64_t now, int deliver_fired)
{
    uint64_t count = counter_at(h, now);
    for (unsigned i = 0; i < NTIMERS; i++) {
        if (sync_timer(&h->t[i], count) && deliver_fired &&
            (h->gen_conf & GEN_ENABLE))
            deliver(&h->t[i]);
    }
}

static void reschedule_all(struct hpet *h, uint64_t now)
{
    for (unsigned i = 0; i < NTIMERS; i++)
        schedule(&h->t[i], now);
}

static void hpet_timer_cb(qvm_vdev_t *dev, void *state, void *arg)
{
    struct hpet *h = state;
    struct hpet_timer *t = arg;
    (void)dev;
    uint64_t now = qvm_time_ns();
    if (!(h->gen_conf & GEN_ENABLE))
        return;
    if (sync_timer(t, counter_at(h, now))) {
        t->last_fire_ns = now;
        deliver(t);
    }
    schedule(t, now);
}

/* ---- registers ------------------------------------------------------------ */

static uint64_t reg_read(struct hpet *h, uint64_t reg, uint64_t now)
{
    if (reg == 0x000)
        return gcap_low(h) | ((FS_PER_S / h->freq) << 32);
    if (reg == 0x010)
        return h->gen_conf;
    if (reg == 0x020)
        return h->isr;
    if (reg == 0x0F0)
        return counter_at(h, now);
    if (reg >= 0x100 && reg < 0x100 + 0x20 * NTIMERS) {
        struct hpet_timer *t = &h->t[(reg - 0x100) / 0x20];
        switch ((reg - 0x100) % 0x20) {
        case 0x00:
            return t->conf | TN_RO_BITS;
        case 0x08:
            if (h->gen_conf & GEN_ENABLE)
                sync_timer(t, counter_at(h, now));
            return t->cmp & width_mask(t);
        default:
            return 0; /* FSB route and reserved */
        }
    }
    return 0; /* reserved */
}

static void set_conf(struct hpet_timer *t, uint64_t v)
{
    uint64_t old = t->conf;
    uint64_t nv = v & TN_WRITABLE;
    unsigned r = (unsigned)((v & TN_ROUTE_MASK) >> TN_ROUTE_SHIFT);
    if (r < 32 && (ROUTE_CAP & (1u << r)))
        nv |= v & TN_ROUTE_MASK;
    else
        nv |= old & TN_ROUTE_MASK; /* unsupported route: not stored */
    t->conf = nv;
    if (nv & TN_32MODE) {
        t->cmp &= 0xFFFFFFFFull;
        t->period &= 0xFFFFFFFFull;
    }
    /* A level line drops when the interrupt is disabled, becomes edge or
     * moves; a level interrupt still pending in GINTR_STA re-asserts on
     * the new route only at the next match. */
    if (!(nv & TN_ENB) || !(nv & TN_LEVEL) ||
        ((old ^ nv) & TN_ROUTE_MASK))
        drop_level(t);
}

static void reg_write(struct hpet *h, uint64_t reg, uint64_t val, uint64_t mask,
                      uint64_t now)
{
    /* Bring every timer's accounting up to now first so that a change of
     * mode, comparator or counter applies from this instant. */
    sync_all(h, now, 1);
    if (reg == 0x010) {
        uint64_t nv = (h->gen_conf & ~mask) | (val & mask);
        nv &= h->legacy_free ? GEN_ENABLE : GEN_ENABLE | GEN_LEGACY;
        uint64_t count = counter_at(h, now);
        if ((nv ^ h->gen_conf) & GEN_LEGACY) {
            for (unsigned i = 0; i < NTIMERS; i++)
                drop_level(&h->t[i]);
        }
        if ((nv & GEN_ENABLE) && !(h->gen_conf & GEN_ENABLE)) {
            h->base_count = count;
            h->base_ns = now;
            for (unsigned i = 0; i < NTIMERS; i++)
                h->t[i].ref = count;
        } else if (!(nv & GEN_ENABLE) && (h->gen_conf & GEN_ENABLE)) {
            h->base_count = count; /* the counter holds */
            for (unsigned i = 0; i < NTIMERS; i++)
                drop_level(&h->t[i]);
        }
        h->gen_conf = nv;
    } else if (reg == 0x020) {
        uint64_t clr = val & mask & ((1ull << NTIMERS) - 1);
        for (unsigned i = 0; i < NTIMERS; i++) {
            if (clr & (1ull << i))
                drop_level(&h->t[i]);
        }
        h->isr &= ~clr;
    } else if (reg == 0x0F0) {
        uint64_t count = counter_at(h, now);
        count = (count & ~mask) | (val & mask);
        h->base_count = count;
        h->base_ns = now;
        for (unsigned i = 0; i < NTIMERS; i++)
            h->t[i].ref = count;
    } else if (reg >= 0x100 && reg < 0x100 + 0x20 * NTIMERS) {
        struct hpet_timer *t = &h->t[(reg - 0x100) / 0x20];
        switch ((reg - 0x100) % 0x20) {
        case 0x00:
            set_conf(t, (t->conf & ~mask) | (val & mask));
            break;
        case 0x08: {
            uint64_t m = mask;
            if (is32(t))
                m &= 0xFFFFFFFFull; /* upper dword ignored in 32-bit mode */
            uint64_t v = val & m;
            if (!(t->conf & TN_PERIODIC) || (t->conf & TN_VAL_SET))
                t->cmp = (t->cmp & ~m) | v;
            t->period = (t->period & ~m) | v;
            if (m & 0xFFFFFFFFull)
                t->conf &= ~TN_VAL_SET;
            /* Matches count from now on. */
            t->ref = counter_at(h, now);
            break;
        }
        default:
            break; /* FSB route: no FSB delivery */
        }
    }
    reschedule_all(h, now);
}

static int hpet_access(struct hpet *h, const struct qvm_access *acc,
                       uint8_t *data, int wr)
{
    uint64_t now = qvm_time_ns();
    unsigned sub;
    if (acc->region != 0 || acc->size == 0 || acc->size > 8 ||
        acc->offset >= HPET_SIZE || acc->size > HPET_SIZE - acc->offset)
        goto bad;
    sub = (unsigned)(acc->offset & 7);
    if (sub + acc->size > 8)
        goto bad;
    {
        uint64_t reg = acc->offset & ~7ull;
        uint64_t mask = acc->size == 8 ? UINT64_MAX
                                       : ((1ull << (acc->size * 8)) - 1)
                                             << (sub * 8);
        if (wr) {
            uint64_t v = 0;
            memcpy(&v, data, acc->size);
            reg_write(h, reg, v << (sub * 8), mask, now);
        } else {
            uint64_t v = reg_read(h, reg, now) >> (sub * 8);
            memcpy(data, &v, acc->size);
        }
        return QVM_DONE;
    }
bad:
    h->bad_accesses++;
    if (!wr)
        memset(data, 0xFF, acc->size <= 8 ? acc->size : 8);
    return QVM_DONE;
}

static int hpet_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                     void *data)
{
    (void)dev;
    return hpet_access(state, acc, data, 0);
}

static int hpet_write(qvm_vdev_t *dev, void *state,
                      const struct qvm_access *acc, void *data)
{
    (void)dev;
    return hpet_access(state, acc, data, 1);
}

static void hpet_power_on(struct hpet *h)
{
    h->gen_conf = 0;
    h->isr = 0;
    h->base_count = 0;
    h->base_ns = 0;
    for (unsigned i = 0; i < NTIMERS; i++) {
        struct hpet_timer *t = &h->t[i];
        drop_level(t);
        if (t->timer)
            qvm_timer_cancel(t->timer);
        t->h = h;
        t->idx = i;
        t->conf = 0;
        t->cmp = UINT64_MAX;
        t->period = 0;
        t->ref = 0;
        t->last_fire_ns = 0;
    }
}

static int parse_freq(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s)
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || v < 10000000ull || v > 1000000000ull ||
        FS_PER_S % v != 0)
        return -EINVAL;
    *out = v;
    return 0;
}

static int hpet_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg,
                        const char *value)
{
    struct hpet *h = state;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        h->dev = dev;
        h->freq = 100000000ull;
        strcpy(h->ioapic, "ioapic");
        for (unsigned i = 0; i < NTIMERS; i++)
            h->t[i].line = -1;
        hpet_power_on(h);
        return 0;
    case QVM_CTRL_OPTION:
        if (arg == 2) {
            h->legacy_free = 1;
            return 0;
        }
        if (arg == 1) {
            /* QNX's `intrmap NAME:2`: the I/O APIC (by name) the timers
             * drive; timer 0's legacy route is its input 2. */
            const char *colon = value ? strrchr(value, ':') : NULL;
            size_t n = colon ? (size_t)(colon - value) : 0;
            if (!colon || n == 0 || n >= sizeof h->ioapic || strcmp(colon + 1, "2") != 0) {
                qvm_log(dev, QVM_LOG_ERROR,
                        "intrmap: want IOAPIC:2 (the I/O APIC the timers drive; "
                        "timer 0's legacy route is its input 2)");
                return -EINVAL;
            }
            memcpy(h->ioapic, value, n);
            h->ioapic[n] = '\0';
            return 0;
        }
        if (arg == 0) {
            if (parse_freq(value, &h->freq) < 0) {
                qvm_log(dev, QVM_LOG_ERROR,
                        "frequency: want 10000000..1000000000 Hz dividing "
                        "10^15 (e.g. 10000000 or 100000000)");
                return -EINVAL;
            }
            return 0;
        }
        return -EINVAL;
    case QVM_CTRL_OPTIONS_END: {
        uint32_t space = QVM_SPACE_MEM;
        uint64_t base = HPET_BASE;
        if (qvm_loc_count(dev) > 1) {
            qvm_log(dev, QVM_LOG_ERROR, "loc: one region only");
            return -EINVAL;
        }
        if (qvm_loc_count(dev) == 1 && qvm_loc_get(dev, 0, &space, &base))
            return -EINVAL;
        if (space != QVM_SPACE_MEM || (base & (HPET_SIZE - 1)) ||
            base >= (1ull << 32)) {
            qvm_log(dev, QVM_LOG_ERROR,
                    "loc: the HPET lives in mem: space, 1 KiB aligned, "
                    "below 4 GiB");
            return -EINVAL;
        }
        if (qvm_intr_count(dev) != 0) {
            qvm_log(dev, QVM_LOG_ERROR,
                    "intr: the HPET routes its timers to its I/O APIC itself "
                    "(legacy replacement or Tn_INT_ROUTE); name that one with "
                    "`intrmap NAME:2`");
            return -EINVAL;
        }
        int rc = qvm_region_add(dev, QVM_SPACE_MEM, base, HPET_SIZE);
        h->base = base;
        return rc < 0 ? rc : 0;
    }
    case QVM_CTRL_RESOURCES:
        for (unsigned i = 0; i < NTIMERS; i++) {
            if (!h->t[i].timer)
                h->t[i].timer = qvm_timer_create(dev, hpet_timer_cb, &h->t[i]);
            if (!h->t[i].timer) {
                qvm_log(dev, QVM_LOG_ERROR, "cannot create timer");
                return -ENOMEM;
            }
        }
        return 0;
    case QVM_CTRL_GEN_ACPI:
        /* The HPET table and the DSDT's PNP0103 device, with our block id. */
        return qvm_acpi_hpet(dev, h->base, gcap_low(h));
    case QVM_CTRL_RESET:
        hpet_power_on(h);
        return 0;
    case QVM_CTRL_STATUS: {
        uint64_t now = qvm_time_ns();
        qvm_log(dev, QVM_LOG_INFO,
                "%llu Hz gen_conf 0x%llx isr 0x%llx counter 0x%llx bad "
                "accesses %llu",
                (unsigned long long)h->freq, (unsigned long long)h->gen_conf,
                (unsigned long long)h->isr,
                (unsigned long long)counter_at(h, now),
                (unsigned long long)h->bad_accesses);
        for (unsigned i = 0; i < NTIMERS; i++)
            qvm_log(dev, QVM_LOG_INFO,
                    "timer %u: conf 0x%llx cmp 0x%llx period 0x%llx fired "
                    "%llu",
                    i, (unsigned long long)h->t[i].conf,
                    (unsigned long long)h->t[i].cmp,
                    (unsigned long long)h->t[i].period,
                    (unsigned long long)h->t[i].fired);
        return 0;
    }
    case QVM_CTRL_TERMINATE:
        for (unsigned i = 0; i < NTIMERS; i++) {
            if (h->t[i].timer)
                qvm_timer_destroy(h->t[i].timer);
            h->t[i].timer = NULL;
        }
        return 0;
    case QVM_CTRL_POWER_BUTTON:
        return -ENOTSUP;
    default:
        return 0;
    }
}

static const struct qvm_factory hpet_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "hpet",
    .description = "IA-PC HPET: 64-bit counter, 3 timers, legacy replacement",
    .flags = QVM_VDEVF_SPACE_MEM,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2 | QVM_ACCESS_4 | QVM_ACCESS_8,
    .options = hpet_options,
    .option_flags = hpet_option_flags,
    .state_size = sizeof(struct hpet),
    .control = hpet_control,
    .read = hpet_read,
    .write = hpet_write,
    .pic = NULL,
    .version = "1.0",
};

static void __attribute__((constructor)) hpet_register(void)
{
    qvm_register_factory(&hpet_factory);
}
