/*
 * pl011: the ARM PrimeCell UART (PL011 r1p5).
 *
 * Registers (4 KiB region): 0x000 DR, 0x004 RSR/ECR, 0x018 FR, 0x020 ILPR,
 * 0x024 IBRD, 0x028 FBRD, 0x02c LCR_H, 0x030 CR, 0x034 IFLS, 0x038 IMSC,
 * 0x03c RIS, 0x040 MIS, 0x044 ICR, 0x048 DMACR, 0xfe0-0xffc peripheral and
 * PrimeCell IDs (0x00141011 / 0xb105f00d).
 *
 * Model:
 *  - Transmission is instantaneous: FR shows TXFE and never TXFF/BUSY; each
 *    DR write goes to the host stream and raises TXRIS (the FIFO drained
 *    below every IFLS transmit level at once), which ICR acknowledges; IMSC
 *    only masks it. As on the real part, TXRIS is not raised by enabling
 *    TXIM with nothing sent (the interrupt marks a transition). With the
 *    FIFOs disabled (LCR_H.FEN = 0, as NetBSD runs it) the same holds for
 *    the one-byte holding register. UARTEN/TXE are not modelled as gates:
 *    output written before the guest enables the UART (early consoles)
 *    still appears.
 *  - Receiver: 32-byte FIFO, 1 byte with LCR_H.FEN clear; host input waits
 *    in a 4 KiB staging buffer. RXRIS is set while the FIFO holds at least
 *    the IFLS trigger level, RTRIS (receive timeout) while it holds anything
 *    below it: the guest is never left waiting for a timeout.
 *  - The interrupt output is the level of (RIS & IMSC) != 0.
 * Host side (option `hostdev`, vdev/libuart/uart_hostdev.h): `>-` (default)
 * writes guest output to qvm's stdout and takes input from qvm's console
 * relay; `>PATH` writes to a file; a second `hostdev <IN` gives the input
 * separately. QNX's `sched`/`batch` are accepted with a note (no effect
 * here). `delayed SECONDS|forever`: the host paths are opened by an opener
 * thread after the guest's first register access, retried while missing;
 * until then output is dropped (libuart).
 * Defaults: loc mem:0x1c090000, intr gic:37 (ARM FVP / QNX layout).
 */
#define _GNU_SOURCE
#include <qvm/vdev.h>

#include "../libuart/uart_hostdev.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define FIFO_SIZE 32
#define STAGE_SIZE 4096

#define FR_RXFE 0x10
#define FR_TXFE 0x80
#define FR_RXFF 0x40
#define LCRH_FEN 0x10
#define CR_UARTEN 0x001
#define CR_TXE 0x100
#define CR_RXE 0x200
#define INT_RX 0x10
#define INT_TX 0x20
#define INT_RT 0x40
#define INT_ALL 0x7ff

struct pl011 {
    struct uart_hostdev hostdev; /* `hostdev`, once or twice (<IN, >OUT) */
    int out_fd, in_fd;
    uint32_t ibrd, fbrd, lcrh, cr, ifls, imsc, ris, dmacr, ilpr;
    uint8_t rx[FIFO_SIZE];
    unsigned rx_head, rx_count;
    uint8_t stage[STAGE_SIZE];
    unsigned st_head, st_count;
    int irq_level;
    unsigned long long tx_bytes, tx_dropped, rx_overrun;
};

static const char *const pl011_options[] = {"hostdev", "sched", "batch", "delayed", NULL};
static const uint32_t pl011_option_flags[] = {QVM_OPTF_REPEAT, 0, 0, 0};

static unsigned rx_capacity(const struct pl011 *u)
{
    return (u->lcrh & LCRH_FEN) ? FIFO_SIZE : 1;
}

/* IFLS RX trigger: 1/8, 1/4, 1/2, 3/4, 7/8 of the FIFO. */
static unsigned rx_trigger(const struct pl011 *u)
{
    static const unsigned t[8] = {4, 8, 16, 24, 28, 16, 16, 16};
    return (u->lcrh & LCRH_FEN) ? t[(u->ifls >> 3) & 7] : 1;
}

static void update_rx_status(struct pl011 *u)
{
    u->ris &= ~(uint32_t)(INT_RX | INT_RT);
    if (u->rx_count >= rx_trigger(u))
        u->ris |= INT_RX;
    else if (u->rx_count)
        u->ris |= INT_RT;
}

static void update_irq(qvm_vdev_t *dev, struct pl011 *u)
{
    int level = (u->ris & u->imsc & INT_ALL) != 0;
    if (level != u->irq_level) {
        u->irq_level = level;
        qvm_intr_set(dev, 0, level);
    }
}

static void feed_fifo(struct pl011 *u)
{
    unsigned cap = rx_capacity(u);
    while (u->st_count && u->rx_count < cap) {
        u->rx[(u->rx_head + u->rx_count) % FIFO_SIZE] = u->stage[u->st_head];
        u->rx_count++;
        u->st_head = (u->st_head + 1) % STAGE_SIZE;
        u->st_count--;
    }
    update_rx_status(u);
}

static void host_output(qvm_vdev_t *dev, struct pl011 *u, uint8_t b)
{
    if (u->out_fd < 0)
        return;
    for (int tries = 0; tries < 4; tries++) {
        ssize_t n = write(u->out_fd, &b, 1);
        if (n == 1) {
            u->tx_bytes++;
            return;
        }
        if (n < 0 && errno == EINTR)
            continue;
        break;
    }
    if (u->tx_dropped++ == 0)
        qvm_log(dev, QVM_LOG_WARN, "host output failed, dropping bytes");
}

static void pl011_input(qvm_vdev_t *dev, void *state, void *arg)
{
    struct pl011 *u = state;
    uint8_t buf[512];
    (void)arg;
    if (u->in_fd < 0)
        return;
    unsigned room = STAGE_SIZE - u->st_count;
    size_t want = room && room < sizeof buf ? room : sizeof buf;
    ssize_t n = read(u->in_fd, buf, want);
    if (n == 0) { /* end of input */
        qvm_fd_unwatch(dev, u->in_fd);
        return;
    }
    if (n < 0)
        return;
    if (room == 0) {
        u->rx_overrun++;
    } else {
        for (ssize_t i = 0; i < n && u->st_count < STAGE_SIZE; i++)
            u->stage[(u->st_head + u->st_count++) % STAGE_SIZE] = buf[i];
    }
    feed_fifo(u);
    update_irq(dev, u);
}

static void pl011_reset(struct pl011 *u)
{
    u->ibrd = u->fbrd = u->lcrh = u->imsc = u->ris = u->dmacr = u->ilpr = 0;
    u->cr = CR_TXE | CR_RXE;
    u->ifls = 0x12;
    u->rx_head = u->rx_count = 0;
    u->st_head = u->st_count = 0;
}

static uint32_t reg_read(struct pl011 *u, uint64_t off)
{
    static const uint8_t id[8] = {0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
    if (off >= 0xfe0 && off <= 0xffc)
        return id[(off - 0xfe0) / 4];
    switch (off) {
    case 0x000: {
        if (!u->rx_count)
            return 0;
        uint32_t v = u->rx[u->rx_head];
        u->rx_head = (u->rx_head + 1) % FIFO_SIZE;
        u->rx_count--;
        feed_fifo(u);
        return v;
    }
    case 0x004: return 0;
    case 0x018: {
        uint32_t fr = FR_TXFE;
        if (!u->rx_count)
            fr |= FR_RXFE;
        if (u->rx_count >= rx_capacity(u))
            fr |= FR_RXFF;
        return fr;
    }
    case 0x020: return u->ilpr;
    case 0x024: return u->ibrd;
    case 0x028: return u->fbrd;
    case 0x02c: return u->lcrh;
    case 0x030: return u->cr;
    case 0x034: return u->ifls;
    case 0x038: return u->imsc;
    case 0x03c: return u->ris;
    case 0x040: return u->ris & u->imsc;
    case 0x048: return u->dmacr;
    default: return 0;
    }
}

static void reg_write(qvm_vdev_t *dev, struct pl011 *u, uint64_t off, uint32_t v)
{
    switch (off) {
    case 0x000:
        host_output(dev, u, (uint8_t)v);
        u->ris |= INT_TX;
        break;
    case 0x004: break; /* ECR: clears errors (none are modelled) */
    case 0x020: u->ilpr = v & 0xff; break;
    case 0x024: u->ibrd = v & 0xffff; break;
    case 0x028: u->fbrd = v & 0x3f; break;
    case 0x02c: {
        uint32_t old = u->lcrh;
        u->lcrh = v & 0xff;
        if ((old ^ u->lcrh) & LCRH_FEN) {
            /* Switching FIFO mode: keep what fits, the rest waits in staging. */
            while (u->rx_count > rx_capacity(u) && u->st_count < STAGE_SIZE) {
                unsigned last = (u->rx_head + u->rx_count - 1) % FIFO_SIZE;
                u->st_head = (u->st_head + STAGE_SIZE - 1) % STAGE_SIZE;
                u->stage[u->st_head] = u->rx[last];
                u->st_count++;
                u->rx_count--;
            }
            feed_fifo(u);
        }
        break;
    }
    case 0x030: u->cr = v & 0xff87; break;
    case 0x034: u->ifls = v & 0x3f; update_rx_status(u); break;
    case 0x038: u->imsc = v & INT_ALL; break;
    case 0x044:
        u->ris &= ~(v & INT_ALL);
        update_rx_status(u); /* receive conditions persist while data waits */
        break;
    case 0x048: u->dmacr = v & 7; break;
    default: break;
    }
    update_irq(dev, u);
}

static int pl011_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc, void *data)
{
    struct pl011 *u = state;
    if (acc->offset & 3 || acc->offset >= 0x1000)
        return QVM_BUS_ERROR;
    uart_delayed_touch(&u->hostdev); /* `delayed`: the first access opens the host side */
    uint32_t v = reg_read(u, acc->offset);
    update_irq(dev, u);
    memcpy(data, &v, acc->size < 4 ? acc->size : 4);
    return QVM_DONE;
}

static int pl011_write(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                       const void *data_in)
{
    struct pl011 *u = state;
    uint32_t v = 0;
    if (acc->offset & 3 || acc->offset >= 0x1000)
        return QVM_BUS_ERROR;
    uart_delayed_touch(&u->hostdev);
    memcpy(&v, data_in, acc->size < 4 ? acc->size : 4);
    reg_write(dev, u, acc->offset, v);
    return QVM_DONE;
}

static int pl011_write_cb(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                          void *data)
{
    return pl011_write(dev, state, acc, data);
}

static int open_host(qvm_vdev_t *dev, struct pl011 *u)
{
    return uart_hostdev_open(dev, &u->hostdev, &u->out_fd, &u->in_fd);
}

static void close_fd(int *fd)
{
    if (*fd > 2)
        close(*fd);
    *fd = -1;
}

static int pl011_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg,
                         const char *value)
{
    struct pl011 *u = state;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        u->out_fd = u->in_fd = -1;
        pl011_reset(u);
        return 0;
    case QVM_CTRL_OPTION:
        if (arg == 0)
            return uart_hostdev_option(dev, &u->hostdev, value);
        if (arg == 1 || arg == 2)
            return uart_qnx_sched_batch(dev, pl011_options[arg], value);
        return uart_delayed_option(dev, &u->hostdev, value);
    case QVM_CTRL_OPTIONS_END: {
        uint32_t space = QVM_SPACE_MEM;
        uint64_t base = 0x1c090000;
        if (qvm_loc_count(dev) > 0 && qvm_loc_get(dev, 0, &space, &base) != 0)
            return -EINVAL;
        if (space != QVM_SPACE_MEM || (base & 0xfff)) {
            qvm_log(dev, QVM_LOG_ERROR, "loc: must be a 4 KiB-aligned mem: address");
            return -EINVAL;
        }
        int rc = qvm_region_add(dev, QVM_SPACE_MEM, base, 0x1000);
        if (rc < 0)
            return rc;
        if (qvm_intr_count(dev) == 0) {
            rc = qvm_intr_default(dev, "gic", 37);
            if (rc < 0)
                return rc;
        }
        return open_host(dev, u);
    }
    case QVM_CTRL_GUEST_CONFIGURED:
        (void)uart_hostdev_start(dev, &u->hostdev, &u->out_fd);  /* `>|CMD`; logged */
        (void)uart_delayed_start(dev, &u->hostdev, u, &u->out_fd, &u->in_fd, pl011_input);
        if (u->in_fd >= 0) {
            fcntl(u->in_fd, F_SETFL, fcntl(u->in_fd, F_GETFL) | O_NONBLOCK);
            if (qvm_fd_watch(dev, u->in_fd, pl011_input, NULL) != 0) {
                qvm_log(dev, QVM_LOG_WARN, "cannot watch host input; input off");
                close_fd(&u->in_fd);
            }
        }
        return 0;
    case QVM_CTRL_GEN_FDT:
        return qvm_fdt_node(dev, "pl011", "arm,pl011 arm,primecell");
    case QVM_CTRL_RESET:
        pl011_reset(u);
        u->irq_level = 0;
        qvm_intr_set(dev, 0, 0);
        return 0;
    case QVM_CTRL_STATUS:
        qvm_log(dev, QVM_LOG_INFO,
                "cr=%03x lcr_h=%02x imsc=%03x ris=%03x rx=%u staged=%u tx=%llu dropped=%llu",
                u->cr, u->lcrh, u->imsc, u->ris, u->rx_count, u->st_count, u->tx_bytes,
                u->tx_dropped);
        return 0;
    case QVM_CTRL_TERMINATE:
        if (u->in_fd >= 0 && !u->hostdev.delayed)
            qvm_fd_unwatch(dev, u->in_fd);
        uart_delayed_stop(dev, &u->hostdev);
        uart_hostdev_stop(&u->hostdev, &u->out_fd);
        close_fd(&u->in_fd);
        return 0;
    case QVM_CTRL_POWER_BUTTON:
        return -ENOTSUP;
    default:
        return 0;
    }
}

static const struct qvm_factory pl011_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "pl011",
    .description = "ARM PrimeCell PL011 UART",
    .flags = QVM_VDEVF_SPACE_MEM,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2 | QVM_ACCESS_4,
    .options = pl011_options,
    .option_flags = pl011_option_flags,
    .thread_syscalls = uart_thread_syscalls,
    .state_size = sizeof(struct pl011),
    .control = pl011_control,
    .read = pl011_read,
    .write = pl011_write_cb,
    .pic = NULL,
    .version = "1.0",
};

static void __attribute__((constructor)) pl011_register(void)
{
    qvm_register_factory(&pl011_factory);
}
