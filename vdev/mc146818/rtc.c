/*
 * mc146818: the PC's real-time clock and 128 bytes of CMOS RAM.
 *
 * Ports (default; `loc` overrides): io 0x70 index (bit 7, the NMI mask, is
 * ignored; reading 0x70 returns 0xFF), io 0x71 data.
 *
 * Time: the host's UTC clock. At creation we take the offset between
 * CLOCK_REALTIME and qvm's monotonic timer clock; afterwards the guest's
 * time is qvm_time_ns() + that base + a guest offset, so registers, update
 * flags and interrupts all follow the one clock the timers use. Guest
 * writes to the time registers change the guest offset only:
 *   - with SET (register B bit 7) clear, a write moves the clock at once
 *     and keeps the sub-second phase;
 *   - setting SET freezes the registers (and clears UIE, as the datasheet
 *     says); clearing SET starts the clock at exactly the written time;
 *   - a divider reset (register A DV = 11x) also freezes the clock; on
 *     leaving it the first update comes 500 ms later.
 * Written values outside the calendar (or years outside 1970-2199) are
 * refused with a rate-limited log; the clock keeps running.
 * Time registers follow register B: DM (binary/BCD) and 24/12 hour (bit 7
 * of the hour = PM). Register 0x32 holds the century in the same format.
 *
 * Register A: UIP (bit 7) reads 1 during the last 244 us before each second
 * boundary (when the clock runs), so a guest polling UIP always sees it
 * fall; DV bits 6-4; RS bits 3-0 select the periodic rate (256 Hz, 128 Hz,
 * then 32768 >> (RS - 1) Hz).
 * Register C: IRQF/PF/AF/UF, computed from time (flags are set whether or
 * not their interrupts are enabled); reading it clears it and deasserts
 * the interrupt. Register D: VRT (0x80), read-only.
 * AF is evaluated at each update the device observes: when several seconds
 * pass unobserved (AIE off, or the line already up) only the latest one is
 * compared with the alarm.
 * Interrupt (default ioapic:8): asserted while IRQF is set
 * (PF&PIE | AF&AIE | UF&UIE). A qvm timer wakes the device only while an
 * enabled event can still raise the line.
 *
 * Guest reset behaves like the chip's RESET pin: PIE/AIE/UIE/SQWE and
 * register C are cleared; the clock, CMOS RAM and formats are kept
 * (battery-backed).
 */
#define _GNU_SOURCE
#include <qvm/vdev.h>

#include <errno.h>
#include <string.h>
#include <time.h>

#define NS_PER_S 1000000000ll
#define UIP_NS 244000ll

#define REG_A 0x0A
#define REG_B 0x0B
#define REG_C 0x0C
#define REG_D 0x0D
#define REG_CENTURY 0x32

#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_SQWE 0x08
#define B_DM 0x04
#define B_24H 0x02

#define C_IRQF 0x80
#define C_PF 0x40
#define C_AF 0x20
#define C_UF 0x10

struct rtc {
    uint8_t cmos[128];
    uint8_t index;
    int frozen;
    int irq_level;
    int64_t base_ns;    /* realtime - qvm_time_ns at creation */
    int64_t offset_ns;  /* guest adjustment */
    int64_t last_gt;    /* guest time up to which flags are computed */
    qvm_timer_t *timer;
    uint64_t bad_writes;
};

static const char *const rtc_options[] = {NULL};

/* ---- calendar ---------------------------------------------------------- */

static int64_t days_from_date(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void date_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* ---- helpers ----------------------------------------------------------- */

static int64_t guest_ns(const struct rtc *r, uint64_t now)
{
    int64_t g = (int64_t)now + r->base_ns + r->offset_ns;
    return g < 0 ? 0 : g;
}

static int running(const struct rtc *r)
{
    return (r->cmos[REG_A] & 0x60) != 0x60;
}

static uint8_t enc(const struct rtc *r, unsigned v)
{
    if (r->cmos[REG_B] & B_DM)
        return (uint8_t)v;
    return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int dec(const struct rtc *r, uint8_t v, unsigned *out)
{
    if (r->cmos[REG_B] & B_DM) {
        *out = v;
        return 0;
    }
    if ((v & 0x0F) > 9 || (v >> 4) > 9)
        return -1;
    *out = (v >> 4) * 10u + (v & 0x0Fu);
    return 0;
}

static uint8_t enc_hour(const struct rtc *r, unsigned h)
{
    if (r->cmos[REG_B] & B_24H)
        return enc(r, h);
    unsigned h12 = h % 12 ? h % 12 : 12;
    return (uint8_t)(enc(r, h12) | (h >= 12 ? 0x80 : 0));
}

/* Write the time of guest second `secs` into the time registers. */
static void store_time(struct rtc *r, int64_t secs)
{
    int64_t days = secs / 86400, rem = secs % 86400, y;
    unsigned m, d;
    date_from_days(days, &y, &m, &d);
    r->cmos[0x00] = enc(r, (unsigned)(rem % 60));
    r->cmos[0x02] = enc(r, (unsigned)(rem / 60 % 60));
    r->cmos[0x04] = enc_hour(r, (unsigned)(rem / 3600));
    r->cmos[0x06] = (uint8_t)enc(r, (unsigned)((days + 4) % 7 + 1));
    r->cmos[0x07] = enc(r, d);
    r->cmos[0x08] = enc(r, m);
    r->cmos[0x09] = enc(r, (unsigned)(y % 100));
    r->cmos[REG_CENTURY] = enc(r, (unsigned)(y / 100));
}

/* Decode the time registers into guest seconds; -1 if invalid. */
static int load_time(const struct rtc *r, int64_t *secs)
{
    unsigned s, mi, h, d, mo, yy, cent;
    if (dec(r, r->cmos[0x00], &s) || s > 59 || dec(r, r->cmos[0x02], &mi) ||
        mi > 59 || dec(r, r->cmos[0x07], &d) || d < 1 || d > 31 ||
        dec(r, r->cmos[0x08], &mo) || mo < 1 || mo > 12 ||
        dec(r, r->cmos[0x09], &yy) || yy > 99)
        return -1;
    uint8_t hr = r->cmos[0x04];
    if (r->cmos[REG_B] & B_24H) {
        if (dec(r, hr, &h) || h > 23)
            return -1;
    } else {
        if (dec(r, hr & 0x7F, &h) || h < 1 || h > 12)
            return -1;
        h = h % 12 + ((hr & 0x80) ? 12 : 0);
    }
    if (dec(r, r->cmos[REG_CENTURY], &cent) || cent < 19 || cent > 21)
        cent = yy >= 70 ? 19 : 20;
    int64_t year = (int64_t)cent * 100 + yy;
    if (year < 1970 || year > 2199)
        return -1;
    int64_t days = days_from_date(year, mo, d);
    *secs = days * 86400 + (int64_t)h * 3600 + mi * 60 + s;
    return 0;
}

/* Periodic interrupt period in 32.768 kHz ticks (0 = off). */
static uint64_t period_ticks(const struct rtc *r)
{
    unsigned rs = r->cmos[REG_A] & 0x0F;
    if (rs == 0)
        return 0;
    if (rs <= 2)
        return 64u << rs; /* 256 Hz, 128 Hz */
    return 1ull << (rs - 1);
}

static uint64_t period_index(int64_t gt, uint64_t pt)
{
    return (uint64_t)((unsigned __int128)(uint64_t)gt * 32768 /
                      ((unsigned __int128)NS_PER_S * pt));
}

static int alarm_field(uint8_t alarm, uint8_t cur)
{
    return (alarm & 0xC0) == 0xC0 || alarm == cur;
}

static int alarm_match(struct rtc *r, int64_t secs)
{
    uint8_t saved[10];
    uint8_t century = r->cmos[REG_CENTURY];
    memcpy(saved, r->cmos, sizeof saved);
    store_time(r, secs);
    int m = alarm_field(saved[1], r->cmos[0]) &&
            alarm_field(saved[3], r->cmos[2]) &&
            alarm_field(saved[5], r->cmos[4]);
    memcpy(r->cmos, saved, sizeof saved);
    r->cmos[REG_CENTURY] = century;
    return m;
}

/* Bring register C up to date with the time that passed. */
static void update_flags(struct rtc *r, uint64_t now)
{
    int64_t gt = guest_ns(r, now), prev = r->last_gt;
    if (gt > prev && running(r)) {
        if (!r->frozen && gt / NS_PER_S != prev / NS_PER_S) {
            r->cmos[REG_C] |= C_UF;
            if (alarm_match(r, gt / NS_PER_S))
                r->cmos[REG_C] |= C_AF;
        }
        uint64_t pt = period_ticks(r);
        if (pt && period_index(gt, pt) != period_index(prev, pt))
            r->cmos[REG_C] |= C_PF;
    }
    r->last_gt = gt;
    if (r->cmos[REG_C] & r->cmos[REG_B] & (C_PF | C_AF | C_UF))
        r->cmos[REG_C] |= C_IRQF;
}

static void update_irq(qvm_vdev_t *dev, struct rtc *r)
{
    int level = (r->cmos[REG_C] & C_IRQF) != 0;
    if (level != r->irq_level) {
        r->irq_level = level;
        qvm_intr_set(dev, 0, level);
    }
}

/* Arm the timer for the next event that could raise the line. */
static void schedule(struct rtc *r, uint64_t now)
{
    if (!r->timer)
        return;
    qvm_timer_cancel(r->timer);
    if ((r->cmos[REG_C] & C_IRQF) || !running(r))
        return; /* the line is already up, or nothing runs */
    uint8_t b = r->cmos[REG_B];
    int64_t gt = guest_ns(r, now), next = INT64_MAX;
    uint64_t pt = period_ticks(r);
    if ((b & B_PIE) && pt) {
        uint64_t idx = period_index(gt, pt) + 1;
        int64_t t = (int64_t)(((unsigned __int128)idx * pt * NS_PER_S + 32767) /
                              32768);
        if (t < next)
            next = t;
    }
    if ((b & (B_UIE | B_AIE)) && !r->frozen) {
        int64_t t = (gt / NS_PER_S + 1) * NS_PER_S;
        if (t < next)
            next = t;
    }
    if (next == INT64_MAX)
        return;
    int64_t mono = next - r->base_ns - r->offset_ns;
    qvm_timer_arm(r->timer, mono > (int64_t)now ? (uint64_t)mono : now + 1, 0);
}

static void rtc_timer(qvm_vdev_t *dev, void *state, void *arg)
{
    struct rtc *r = state;
    uint64_t now = qvm_time_ns();
    (void)arg;
    update_flags(r, now);
    update_irq(dev, r);
    schedule(r, now);
}

/* Refresh the time registers from the clock (when it runs freely). */
static void refresh(struct rtc *r, uint64_t now)
{
    if (!r->frozen)
        store_time(r, guest_ns(r, now) / NS_PER_S);
}

/* Make the registers' time the clock's time, starting `phase_ns` into the
 * second. */
static void adopt_registers(qvm_vdev_t *dev, struct rtc *r, uint64_t now,
                            int64_t phase_ns)
{
    int64_t secs;
    if (load_time(r, &secs) != 0) {
        if (r->bad_writes++ < 8)
            qvm_log(dev, QVM_LOG_WARN,
                    "guest set an invalid time; clock left unchanged");
        return;
    }
    update_flags(r, now);
    r->offset_ns = secs * NS_PER_S + phase_ns - (int64_t)now - r->base_ns;
    r->last_gt = guest_ns(r, now);
}

static void set_frozen(qvm_vdev_t *dev, struct rtc *r, uint64_t now,
                       int frozen, int64_t phase_ns)
{
    if (frozen == r->frozen)
        return;
    if (frozen) {
        update_flags(r, now);
        store_time(r, guest_ns(r, now) / NS_PER_S);
        r->frozen = 1;
    } else {
        r->frozen = 0;
        adopt_registers(dev, r, now, phase_ns);
    }
}

static int is_time_reg(unsigned idx)
{
    return idx == 0 || idx == 2 || idx == 4 || idx == 6 || idx == 7 ||
           idx == 8 || idx == 9 || idx == REG_CENTURY;
}

static uint8_t data_read(qvm_vdev_t *dev, struct rtc *r, uint64_t now)
{
    unsigned idx = r->index;
    uint8_t v;
    switch (idx) {
    case REG_A: {
        v = r->cmos[REG_A] & 0x7F;
        int64_t gt = guest_ns(r, now);
        if (running(r) && !r->frozen && gt % NS_PER_S >= NS_PER_S - UIP_NS)
            v |= 0x80;
        return v;
    }
    case REG_C:
        update_flags(r, now);
        v = r->cmos[REG_C];
        r->cmos[REG_C] = 0;
        update_irq(dev, r);
        schedule(r, now);
        return v;
    case REG_D:
        return 0x80;
    default:
        if (is_time_reg(idx))
            refresh(r, now);
        return r->cmos[idx];
    }
}

static void data_write(qvm_vdev_t *dev, struct rtc *r, uint64_t now, uint8_t v)
{
    unsigned idx = r->index;
    switch (idx) {
    case REG_A: {
        int was = running(r);
        update_flags(r, now);
        r->cmos[REG_A] = v & 0x7F;
        int is = running(r);
        if (was != is)
            set_frozen(dev, r, now,
                       !is || (r->cmos[REG_B] & B_SET), NS_PER_S / 2);
        break;
    }
    case REG_B: {
        update_flags(r, now);
        if (v & B_SET)
            v &= (uint8_t)~B_UIE;
        r->cmos[REG_B] = v;
        set_frozen(dev, r, now, (v & B_SET) || !running(r), 0);
        r->cmos[REG_C] &= (uint8_t)~C_IRQF;
        if (r->cmos[REG_C] & v & (C_PF | C_AF | C_UF))
            r->cmos[REG_C] |= C_IRQF;
        break;
    }
    case REG_C:
    case REG_D:
        return; /* read-only */
    default:
        if (is_time_reg(idx) && !r->frozen) {
            refresh(r, now);
            int64_t phase = guest_ns(r, now) % NS_PER_S;
            r->cmos[idx] = v;
            adopt_registers(dev, r, now, phase);
        } else {
            r->cmos[idx] = v;
        }
        break;
    }
    update_irq(dev, r);
    schedule(r, now);
}

static int rtc_access(qvm_vdev_t *dev, struct rtc *r,
                      const struct qvm_access *acc, uint8_t *data, int wr)
{
    uint64_t now = qvm_time_ns();
    if (acc->size == 0 || acc->size > 8)
        return QVM_BUS_ERROR;
    for (unsigned i = 0; i < acc->size; i++) {
        uint64_t off = acc->offset + i;
        if (off >= 2) {
            if (!wr)
                data[i] = 0xFF;
        } else if (off == 0) {
            if (wr)
                r->index = data[i] & 0x7F;
            else
                data[i] = 0xFF;
        } else if (wr) {
            data_write(dev, r, now, data[i]);
        } else {
            data[i] = data_read(dev, r, now);
        }
    }
    return QVM_DONE;
}

static int rtc_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                    void *data)
{
    return rtc_access(dev, state, acc, data, 0);
}

static int rtc_write(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                     void *data)
{
    return rtc_access(dev, state, acc, data, 1);
}

static int rtc_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg,
                       const char *value)
{
    struct rtc *r = state;
    (void)arg;
    (void)value;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START: {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t real = (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
        r->base_ns = real - (int64_t)qvm_time_ns();
        r->offset_ns = 0;
        memset(r->cmos, 0, sizeof r->cmos);
        r->cmos[REG_A] = 0x26; /* 32.768 kHz divider, 1024 Hz periodic */
        r->cmos[REG_B] = B_24H;
        r->cmos[REG_D] = 0x80;
        r->last_gt = guest_ns(r, qvm_time_ns());
        refresh(r, qvm_time_ns());
        return 0;
    }
    case QVM_CTRL_OPTION:
        return -EINVAL;
    case QVM_CTRL_OPTIONS_END: {
        uint32_t space = QVM_SPACE_IO;
        uint64_t base = 0x70;
        if (qvm_loc_count(dev) > 0 && qvm_loc_get(dev, 0, &space, &base))
            return -EINVAL;
        if (space != QVM_SPACE_IO) {
            qvm_log(dev, QVM_LOG_ERROR, "loc: the RTC lives in io: space");
            return -EINVAL;
        }
        int rc = qvm_region_add(dev, QVM_SPACE_IO, base, 2);
        if (rc < 0)
            return rc;
        if (qvm_intr_count(dev) == 0)
            return qvm_intr_default(dev, "ioapic", 8) < 0 ? -EINVAL : 0;
        return 0;
    }
    case QVM_CTRL_RESOURCES:
        if (!r->timer)
            r->timer = qvm_timer_create(dev, rtc_timer, NULL);
        if (!r->timer) {
            qvm_log(dev, QVM_LOG_ERROR, "cannot create timer");
            return -ENOMEM;
        }
        return 0;
    case QVM_CTRL_GEN_ACPI:
        /* The AT real-time clock's PNP id (qvm derives _CRS from our
         * regions/intr) and its presence (FADT: CMOS RTC present). */
        if (qvm_acpi_legacy(dev, QVM_ACPI_LEGACY_RTC) < 0)
            return -EINVAL;
        return qvm_acpi_device(dev, "PNP0B00", NULL);
    case QVM_CTRL_RESET: {
        uint64_t now = qvm_time_ns();
        update_flags(r, now);
        r->cmos[REG_B] &= (uint8_t)~(B_PIE | B_AIE | B_UIE | B_SQWE);
        r->cmos[REG_C] = 0;
        update_irq(dev, r);
        schedule(r, now);
        return 0;
    }
    case QVM_CTRL_STATUS:
        qvm_log(dev, QVM_LOG_INFO, "A=%02x B=%02x C=%02x offset=%lldns",
                r->cmos[REG_A], r->cmos[REG_B], r->cmos[REG_C],
                (long long)r->offset_ns);
        return 0;
    case QVM_CTRL_TERMINATE:
        if (r->timer)
            qvm_timer_destroy(r->timer);
        r->timer = NULL;
        return 0;
    case QVM_CTRL_POWER_BUTTON:
        return -ENOTSUP;
    default:
        return 0;
    }
}

static const struct qvm_factory rtc_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "mc146818",
    .description = "MC146818 real-time clock and CMOS RAM",
    .flags = QVM_VDEVF_SPACE_IO,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2,
    .options = rtc_options,
    .state_size = sizeof(struct rtc),
    .control = rtc_control,
    .read = rtc_read,
    .write = rtc_write,
    .pic = NULL,
};

static void __attribute__((constructor)) rtc_register(void)
{
    qvm_register_factory(&rtc_factory);
}
