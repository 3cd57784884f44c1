/*
 * pckeyboard: an 8042 keyboard controller with a PS/2 keyboard and no
 * mouse.
 *
 * Ports (defaults; `loc` 1/2 override them): io 0x60 data, io 0x64
 * status (read) / command (write).
 * Interrupts: intr 0 = keyboard (default ioapic:1), intr 1 = aux
 * (default ioapic:12). A line is high while the output buffer holds a byte
 * of its kind and the command byte enables that interrupt; each new byte
 * gives a fresh rising edge.
 *
 * Status register: OBF (bit 0), IBF (bit 1) always 0 because every write is
 * processed at once, SYS (bit 2, from the command byte), A2 (bit 3: the last
 * write went to the command port), keyboard not inhibited (bit 4), AUXB
 * (bit 5: the byte in the output buffer is from the aux port), TIMEOUT
 * (bit 6: set with the 0xFE answer for the missing mouse).
 * Output buffer: a 16-entry queue stands for the keyboard's own FIFO
 * behind the one-byte buffer, so multi-byte replies (FA AA, FA AB 83)
 * arrive in order.
 *
 * Controller commands: 0x20-0x3F read RAM (0x20 = command byte), 0x60-0x7F
 * write RAM, 0xA7/0xA8 aux disable/enable, 0xA9 aux test (0x00), 0xAA
 * self test (0x55, sets SYS), 0xAB keyboard test (0x00), 0xAD/0xAE keyboard
 * disable/enable, 0xC0 input port (0x80: keyboard not locked), 0xD0 read
 * output port, 0xD1 write output port (bit 0 clear = system reset; A20 is
 * always on and not modelled), 0xD2 / 0xD3 write the keyboard / aux output
 * buffer (0xD3 is the aux loopback Linux probes with), 0xD4 send to the
 * aux device, 0xF0-0xFF pulse output lines (bit 0 low = reset, so 0xFE
 * resets), 0xDD/0xDF (A20) accepted and ignored.
 * The aux port exists but nothing is plugged into it: a byte sent with
 * 0xD4 is answered by 0xFE from the aux port with TIMEOUT set, which is
 * what a controller reports when the mouse does not answer; Linux's
 * psmouse probe then gives up at once instead of waiting for timeouts.
 *
 * Keyboard (bytes written to 0x60 outside a controller command): 0xFF
 * reset (FA AA), 0xF2 identify (FA AB 83), 0xF4 enable / 0xF5 disable /
 * 0xF6 defaults (FA), 0xED LEDs + arg, 0xF3 typematic + arg, 0xF0 scan
 * code set + arg (0 = query: FA FA set), 0xEE echo (EE), 0xF7-0xFD
 * (FA), 0xFE resend (the last byte again); anything else 0xFE. The
 * keyboard has no host input: it never produces scan codes.
 */
#include <qvm/vdev.h>

#include <errno.h>
#include <string.h>

#define QSIZE 16

#define ST_OBF 0x01
#define ST_SYS 0x04
#define ST_A2 0x08
#define ST_UNLOCKED 0x10
#define ST_AUXB 0x20
#define ST_TIMEOUT 0x40

#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_SYS 0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE 0x40

#define Q_AUX 0x01
#define Q_TIMEOUT 0x02

struct kbc {
    uint8_t q[QSIZE], qflags[QSIZE];
    unsigned qhead, qcount;
    uint8_t ram[32]; /* ram[0] = command byte */
    uint8_t a2;
    uint8_t pending_cmd;  /* controller command waiting for its data byte */
    uint8_t kbd_cmd;      /* keyboard command waiting for its argument */
    uint8_t outport;
    uint8_t scanset, scanning, leds, typematic, last_sent;
    int irq[2];
    uint64_t dropped;
};

static const char *const kbc_options[] = {NULL};

static void update_irq(qvm_vdev_t *dev, struct kbc *k, int force_edge)
{
    int lv[2] = {0, 0};
    if (k->qcount) {
        int aux = k->qflags[k->qhead] & Q_AUX;
        if (!aux && (k->ram[0] & CTR_KBDINT))
            lv[0] = 1;
        if (aux && (k->ram[0] & CTR_AUXINT))
            lv[1] = 1;
    }
    for (int i = 0; i < 2; i++) {
        if (force_edge && lv[i] && k->irq[i]) {
            k->irq[i] = 0;
            qvm_intr_set(dev, (unsigned)i, 0);
        }
        if (lv[i] != k->irq[i]) {
            k->irq[i] = lv[i];
            qvm_intr_set(dev, (unsigned)i, lv[i]);
        }
    }
}

static void push(qvm_vdev_t *dev, struct kbc *k, uint8_t v, uint8_t flags)
{
    if (k->qcount >= QSIZE) {
        if (k->dropped++ < 4)
            qvm_log(dev, QVM_LOG_WARN, "output queue full, byte dropped");
        return;
    }
    k->q[(k->qhead + k->qcount) % QSIZE] = v;
    k->qflags[(k->qhead + k->qcount) % QSIZE] = flags;
    k->qcount++;
    if (!(flags & Q_AUX))
        k->last_sent = v;
}

static void kbd_defaults(struct kbc *k)
{
    k->scanset = 2;
    k->typematic = 0x2B;
    k->scanning = 1;
}

static void kbd_write(qvm_vdev_t *dev, struct kbc *k, uint8_t v)
{
    if (k->kbd_cmd) {
        uint8_t cmd = k->kbd_cmd;
        k->kbd_cmd = 0;
        switch (cmd) {
        case 0xED:
            k->leds = v & 7;
            push(dev, k, 0xFA, 0);
            return;
        case 0xF3:
            k->typematic = v & 0x7F;
            push(dev, k, 0xFA, 0);
            return;
        case 0xF0:
            if (v == 0) {
                push(dev, k, 0xFA, 0);
                push(dev, k, k->scanset, 0);
            } else if (v <= 3) {
                k->scanset = v;
                push(dev, k, 0xFA, 0);
            } else {
                push(dev, k, 0xFE, 0);
            }
            return;
        default:
            break;
        }
        /* An argument that is itself a command aborts the old one. */
    }
    switch (v) {
    case 0xED:
    case 0xF3:
    case 0xF0:
        k->kbd_cmd = v;
        push(dev, k, 0xFA, 0);
        break;
    case 0xEE:
        push(dev, k, 0xEE, 0);
        break;
    case 0xF2:
        push(dev, k, 0xFA, 0);
        push(dev, k, 0xAB, 0);
        push(dev, k, 0x83, 0);
        break;
    case 0xF4:
        k->scanning = 1;
        push(dev, k, 0xFA, 0);
        break;
    case 0xF5:
        kbd_defaults(k);
        k->scanning = 0;
        push(dev, k, 0xFA, 0);
        break;
    case 0xF6:
        kbd_defaults(k);
        push(dev, k, 0xFA, 0);
        break;
    case 0xF7: case 0xF8: case 0xF9: case 0xFA: case 0xFB: case 0xFC:
    case 0xFD:
        push(dev, k, 0xFA, 0);
        break;
    case 0xFE:
        push(dev, k, k->last_sent, 0);
        break;
    case 0xFF:
        kbd_defaults(k);
        k->leds = 0;
        push(dev, k, 0xFA, 0);
        push(dev, k, 0xAA, 0);
        break;
    default:
        push(dev, k, 0xFE, 0);
        break;
    }
}

static uint8_t read_outport(const struct kbc *k)
{
    uint8_t v = k->outport & 0x03;
    if (k->qcount) {
        if (k->qflags[k->qhead] & Q_AUX)
            v |= 0x20;
        else
            v |= 0x10;
    }
    return v;
}

static void ctrl_command(qvm_vdev_t *dev, struct kbc *k, uint8_t c)
{
    if (c >= 0x20 && c <= 0x3F) {
        push(dev, k, k->ram[c - 0x20], 0);
        return;
    }
    if ((c >= 0x60 && c <= 0x7F) || c == 0xD1 || c == 0xD2 || c == 0xD3 ||
        c == 0xD4) {
        k->pending_cmd = c;
        return;
    }
    if (c >= 0xF0) {
        if (!(c & 1))
            qvm_power(dev, QVM_POWER_RESET);
        return;
    }
    switch (c) {
    case 0xA7:
        k->ram[0] |= CTR_AUXDIS;
        break;
    case 0xA8:
        k->ram[0] &= (uint8_t)~CTR_AUXDIS;
        break;
    case 0xA9:
        push(dev, k, 0x00, 0);
        break;
    case 0xAA:
        k->ram[0] |= CTR_SYS;
        push(dev, k, 0x55, 0);
        break;
    case 0xAB:
        push(dev, k, 0x00, 0);
        break;
    case 0xAD:
        k->ram[0] |= CTR_KBDDIS;
        break;
    case 0xAE:
        k->ram[0] &= (uint8_t)~CTR_KBDDIS;
        break;
    case 0xC0:
        push(dev, k, 0x80, 0);
        break;
    case 0xD0:
        push(dev, k, read_outport(k), 0);
        break;
    case 0xDD:
    case 0xDF:
        break;
    default:
        if (k->dropped++ < 8)
            qvm_log(dev, QVM_LOG_DEBUG, "unknown controller command %#x", c);
        break;
    }
}

static void data_write(qvm_vdev_t *dev, struct kbc *k, uint8_t v)
{
    uint8_t c = k->pending_cmd;
    k->pending_cmd = 0;
    if (!c) {
        kbd_write(dev, k, v);
        return;
    }
    if (c >= 0x60 && c <= 0x7F) {
        k->ram[c - 0x60] = v;
        return;
    }
    switch (c) {
    case 0xD1:
        k->outport = v | 0x02; /* A20 stays enabled */
        if (!(v & 1))
            qvm_power(dev, QVM_POWER_RESET);
        break;
    case 0xD2:
        push(dev, k, v, 0);
        break;
    case 0xD3:
        push(dev, k, v, Q_AUX);
        break;
    case 0xD4:
        push(dev, k, 0xFE, Q_AUX | Q_TIMEOUT); /* no mouse answers */
        break;
    default:
        break;
    }
}

static uint8_t status(const struct kbc *k)
{
    uint8_t v = ST_UNLOCKED;
    if (k->ram[0] & CTR_SYS)
        v |= ST_SYS;
    if (k->a2)
        v |= ST_A2;
    if (k->qcount) {
        v |= ST_OBF;
        if (k->qflags[k->qhead] & Q_AUX)
            v |= ST_AUXB;
        if (k->qflags[k->qhead] & Q_TIMEOUT)
            v |= ST_TIMEOUT;
    }
    return v;
}

static uint8_t data_read(struct kbc *k, int *popped)
{
    *popped = 0;
    if (!k->qcount)
        return k->q[(k->qhead + QSIZE - 1) % QSIZE]; /* last byte again */
    uint8_t v = k->q[k->qhead];
    k->qhead = (k->qhead + 1) % QSIZE;
    k->qcount--;
    *popped = 1;
    return v;
}

static int kbc_access(qvm_vdev_t *dev, struct kbc *k,
                      const struct qvm_access *acc, uint8_t *data, int wr)
{
    if (acc->region > 1 || acc->size == 0 || acc->size > 8)
        return QVM_BUS_ERROR;
    for (unsigned i = 0; i < acc->size; i++) {
        if (acc->offset + i != 0) {
            if (!wr)
                data[i] = 0xFF;
            continue;
        }
        int popped = 0;
        if (acc->region == 0) {
            if (wr) {
                k->a2 = 0;
                data_write(dev, k, data[i]);
            } else {
                data[i] = data_read(k, &popped);
            }
        } else if (wr) {
            k->a2 = 1;
            k->pending_cmd = 0;
            ctrl_command(dev, k, data[i]);
        } else {
            data[i] = status(k);
        }
        update_irq(dev, k, popped);
    }
    return QVM_DONE;
}

static int kbc_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                    void *data)
{
    return kbc_access(dev, state, acc, data, 0);
}

static int kbc_write(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                     void *data)
{
    return kbc_access(dev, state, acc, data, 1);
}

static void kbc_power_on(struct kbc *k)
{
    memset(k->q, 0, sizeof k->q);
    memset(k->qflags, 0, sizeof k->qflags);
    k->qhead = k->qcount = 0;
    memset(k->ram, 0, sizeof k->ram);
    /* What firmware leaves: keyboard interrupt on, system flag, translation
     * on, aux port disabled. */
    k->ram[0] = CTR_KBDINT | CTR_SYS | CTR_XLATE | CTR_AUXDIS;
    k->a2 = 0;
    k->pending_cmd = 0;
    k->kbd_cmd = 0;
    k->outport = 0x03;
    k->leds = 0;
    k->last_sent = 0xFA;
    kbd_defaults(k);
}

static int kbc_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg,
                       const char *value)
{
    struct kbc *k = state;
    (void)arg;
    (void)value;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        kbc_power_on(k);
        return 0;
    case QVM_CTRL_OPTION:
        return -EINVAL;
    case QVM_CTRL_OPTIONS_END: {
        static const uint64_t defaults[2] = {0x60, 0x64};
        for (unsigned i = 0; i < 2; i++) {
            uint32_t space = QVM_SPACE_IO;
            uint64_t base = defaults[i];
            if (i < qvm_loc_count(dev) && qvm_loc_get(dev, i, &space, &base))
                return -EINVAL;
            if (space != QVM_SPACE_IO) {
                qvm_log(dev, QVM_LOG_ERROR, "loc: the 8042 lives in io: space");
                return -EINVAL;
            }
            int rc = qvm_region_add(dev, QVM_SPACE_IO, base, 1);
            if (rc < 0)
                return rc;
            if (rc != (int)i)
                return -EINVAL;
        }
        if (qvm_intr_count(dev) == 0) {
            if (qvm_intr_default(dev, "ioapic", 1) < 0 ||
                qvm_intr_default(dev, "ioapic", 12) < 0)
                return -EINVAL;
        }
        return 0;
    }
    case QVM_CTRL_GEN_ACPI:
        /* The 8042 keyboard controller's PNP id (qvm derives _CRS from our
         * regions/intr) and its presence (FADT IAPC_BOOT_ARCH.8042). */
        if (qvm_acpi_legacy(dev, QVM_ACPI_LEGACY_8042) < 0)
            return -EINVAL;
        return qvm_acpi_device(dev, "PNP0303", NULL);
    case QVM_CTRL_RESET:
        kbc_power_on(k);
        update_irq(dev, k, 0);
        return 0;
    case QVM_CTRL_STATUS:
        qvm_log(dev, QVM_LOG_INFO, "ctr=%02x status=%02x queued=%u", k->ram[0],
                status(k), k->qcount);
        return 0;
    case QVM_CTRL_POWER_BUTTON:
        return -ENOTSUP;
    default:
        return 0;
    }
}

static const struct qvm_factory kbc_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "pckeyboard",
    .description = "8042 keyboard controller with a PS/2 keyboard",
    .flags = QVM_VDEVF_SPACE_IO,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2 | QVM_ACCESS_4,
    .options = kbc_options,
    .state_size = sizeof(struct kbc),
    .control = kbc_control,
    .read = kbc_read,
    .write = kbc_write,
    .pic = NULL,
};

static void __attribute__((constructor)) kbc_register(void)
{
    qvm_register_factory(&kbc_factory);
}
