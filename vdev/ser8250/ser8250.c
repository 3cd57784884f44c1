/*
 * ser8250: a 16550A UART.
 *
 * Registers (offset >> regshift): 0 RBR/THR (DLL with DLAB), 1 IER (DLM with
 * DLAB), 2 IIR/FCR, 3 LCR, 4 MCR, 5 LSR, 6 MSR, 7 SCR.
 *
 * Model:
 *  - Transmission is instantaneous: THR and the transmitter are always
 *    empty (LSR THRE|TEMT), each THR write goes straight to the host stream
 *    (or, in loopback, into the receiver) and re-arms the THRE interrupt.
 *  - THRE interrupt: pending after every THR write and on every 0->1 change
 *    of IER.ETBEI (THR is always empty); cleared by reading IIR while THRE
 *    is the reported source, or by clearing ETBEI.
 *  - Receiver: 16-byte FIFO (1 byte when FCR.0 is clear) with the FCR
 *    trigger level. Data below the trigger level is reported at once as a
 *    character timeout (IIR 0x0C): the guest is never left waiting for four
 *    character times. An overflowing byte is lost and sets LSR.OE.
 *  - Interrupt priority: line status > rx data/timeout > THRE > modem status.
 *    The interrupt output follows "IIR shows a pending source" as a level.
 *    MCR.OUT2 does not gate the output (on a PC it gates the ISA line; our
 *    guests set it anyway and an ungated line cannot lose interrupts).
 *  - Modem lines: outside loopback the host side is "connected": CTS, DSR
 *    and DCD asserted, RI clear. In loopback CTS=RTS, DSR=DTR, RI=OUT1,
 *    DCD=OUT2; every change sets the MSR delta bits (TERI on RI 1->0).
 *
 * Host side (option `hostdev`, vdev/libuart/uart_hostdev.h): `>-` (default)
 * or `-` writes guest output to qvm's stdout and takes guest input from
 * qvm's console relay (qvm's stdin when that is a terminal, pipe or socket,
 * and /dev/qvm writers); `>PATH` or `PATH` writes output to a file and has
 * no input; a second `hostdev <IN` gives the input separately. Output is written with write() from the vCPU thread; bytes the
 * host refuses are dropped and counted.
 * QNX's `delayed SECONDS|forever`: the host paths are opened by an opener
 * thread after the guest's first register access, retried while missing
 * (vdev/libuart/uart_hostdev.h); until then output is dropped.
 * Input: qvm's relay pipe, watched from GUEST_CONFIGURED on (qvm keeps its
 * write end open, so an exhausted stdin never makes it readable forever;
 * should the pipe still end, the device stops watching it); the device
 * never blocks. Input is staged in a 4 KiB
 * buffer in front of the FIFO so a paste is not lost while the guest drains
 * the FIFO; when both are full, further bytes are dropped and LSR.OE is set,
 * as on a real line. In loopback the receiver ignores the line (staged
 * bytes wait).
 */
#define _GNU_SOURCE
#include <qvm/vdev.h>

#include "../libuart/uart_hostdev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIFO_SIZE 16
#define STAGE_SIZE 4096

#define IER_ERBFI 0x01
#define IER_ETBEI 0x02
#define IER_ELSI 0x04
#define IER_EDSSI 0x08

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_PE 0x04
#define LSR_FE 0x08
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_ERRS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

#define IIR_NONE 0x01
#define IIR_MSR 0x00
#define IIR_THRE 0x02
#define IIR_RDA 0x04
#define IIR_RLS 0x06
#define IIR_CTI 0x0C

struct uart {
    /* configuration */
    struct uart_hostdev hostdev; /* `hostdev`, once or twice (<IN, >OUT) */
    unsigned regshift;
    int out_fd;
    int in_fd;    /* qvm's console input pipe (non-blocking), or -1 */
    int watching; /* in_fd is watched */
    int configured;
    /* registers */
    uint8_t ier, lcr, mcr, fcr, scr, dll, dlm;
    uint8_t lsr_err; /* OE/PE/FE/BI latched until LSR is read */
    uint8_t msr;     /* line state (high nibble) + deltas (low nibble) */
    uint8_t thre_pending;
    uint8_t rx[FIFO_SIZE];
    unsigned rx_head, rx_count;
    uint8_t stage[STAGE_SIZE];
    unsigned st_head, st_count;
    int irq_level;
    uint64_t tx_dropped;
};

static const char *const uart_options[] = {"hostdev", "regshift", "sched", "batch",
                                           "delayed", NULL};
static const uint32_t uart_option_flags[] = {QVM_OPTF_REPEAT, 0, 0, 0, 0};

static unsigned rx_capacity(const struct uart *u)
{
    return (u->fcr & 1) ? FIFO_SIZE : 1;
}

static unsigned rx_trigger(const struct uart *u)
{
    static const unsigned levels[4] = {1, 4, 8, 14};
    return levels[(u->fcr >> 6) & 3];
}

/* Highest-priority pending source (IIR bits 3..0). */
static uint8_t uart_iir_source(const struct uart *u)
{
    if ((u->ier & IER_ELSI) && (u->lsr_err & LSR_ERRS))
        return IIR_RLS;
    if ((u->ier & IER_ERBFI) && u->rx_count) {
        if (!(u->fcr & 1) || u->rx_count >= rx_trigger(u))
            return IIR_RDA;
        return IIR_CTI;
    }
    if ((u->ier & IER_ETBEI) && u->thre_pending)
        return IIR_THRE;
    if ((u->ier & IER_EDSSI) && (u->msr & 0x0F))
        return IIR_MSR;
    return IIR_NONE;
}

static void uart_update_irq(qvm_vdev_t *dev, struct uart *u)
{
    int level = uart_iir_source(u) != IIR_NONE;
    if (level != u->irq_level) {
        u->irq_level = level;
        qvm_intr_set(dev, 0, level);
    }
}

static uint8_t modem_lines(const struct uart *u)
{
    if (u->mcr & MCR_LOOP) {
        uint8_t v = 0;
        if (u->mcr & MCR_RTS) v |= MSR_CTS;
        if (u->mcr & MCR_DTR) v |= MSR_DSR;
        if (u->mcr & MCR_OUT1) v |= MSR_RI;
        if (u->mcr & MCR_OUT2) v |= MSR_DCD;
        return v;
    }
    return MSR_CTS | MSR_DSR | MSR_DCD;
}

static void update_msr(struct uart *u)
{
    uint8_t old = u->msr & 0xF0, now = modem_lines(u);
    uint8_t chg = old ^ now, delta = 0;
    if (chg & MSR_CTS) delta |= 0x01;
    if (chg & MSR_DSR) delta |= 0x02;
    if ((old & MSR_RI) && !(now & MSR_RI)) delta |= 0x04;
    if (chg & MSR_DCD) delta |= 0x08;
    u->msr = (uint8_t)(now | ((u->msr | delta) & 0x0F));
}

static void rx_clear(struct uart *u)
{
    u->rx_head = 0;
    u->rx_count = 0;
}

static void rx_push(struct uart *u, uint8_t b)
{
    unsigned cap = rx_capacity(u);
    if (u->rx_count < cap) {
        u->rx[(u->rx_head + u->rx_count) % FIFO_SIZE] = b;
        u->rx_count++;
    } else {
        u->lsr_err |= LSR_OE;
        if (!(u->fcr & 1)) /* 16450 mode: the holding register is overrun */
            u->rx[u->rx_head] = b;
    }
}

/* Move staged host input into the FIFO while there is room. */
static void feed_fifo(struct uart *u)
{
    if (u->mcr & MCR_LOOP)
        return; /* the receiver is disconnected from the line */
    unsigned cap = rx_capacity(u);
    while (u->st_count && u->rx_count < cap) {
        rx_push(u, u->stage[u->st_head]);
        u->st_head = (u->st_head + 1) % STAGE_SIZE;
        u->st_count--;
    }
}

static void host_output(qvm_vdev_t *dev, struct uart *u, uint8_t b)
{
    if (u->out_fd < 0)
        return;
    for (int tries = 0; tries < 4; tries++) {
        ssize_t n = write(u->out_fd, &b, 1);
        if (n == 1)
            return;
        if (n < 0 && errno == EINTR)
            continue;
        break;
    }
    if (u->tx_dropped++ == 0)
        qvm_log(dev, QVM_LOG_WARN, "host output failed, dropping bytes");
}

static void uart_input(qvm_vdev_t *dev, void *state, void *arg)
{
    struct uart *u = state;
    uint8_t buf[512];
    (void)arg;
    if (u->in_fd < 0)
        return;
    unsigned room = STAGE_SIZE - u->st_count;
    size_t want = room < sizeof buf ? room : sizeof buf;
    if (want == 0)
        want = sizeof buf;
    ssize_t n = read(u->in_fd, buf, want);
    if (n == 0 && u->watching) {
        /* End of input (qvm holds the write end open, so only a host
         * without a relay gets here): stop watching, never spin on EOF. */
        qvm_fd_unwatch(dev, u->in_fd);
        u->watching = 0;
        return;
    }
    if (n < 0)
        return; /* EAGAIN */
    if (room == 0) {
        u->lsr_err |= LSR_OE; /* the guest is not draining: bytes lost */
    } else {
        for (ssize_t i = 0; i < n; i++)
            u->stage[(u->st_head + u->st_count++) % STAGE_SIZE] = buf[i];
        feed_fifo(u);
    }
    uart_update_irq(dev, u);
}

static void close_fd(int *fd)
{
    if (*fd > 2)
        close(*fd);
    *fd = -1;
}

static void uart_reset(struct uart *u)
{
    u->ier = 0;
    u->lcr = 0;
    u->mcr = 0;
    u->fcr = 0;
    u->scr = 0;
    u->dll = 0;
    u->dlm = 0;
    u->lsr_err = 0;
    u->thre_pending = 0;
    rx_clear(u);
    u->st_head = u->st_count = 0;
    u->msr = modem_lines(u);
}

static void reg_write(qvm_vdev_t *dev, struct uart *u, unsigned reg, uint8_t v)
{
    int dlab = (u->lcr & 0x80) != 0;
    switch (reg) {
    case 0:
        if (dlab) {
            u->dll = v;
            break;
        }
        if (u->mcr & MCR_LOOP)
            rx_push(u, v);
        else
            host_output(dev, u, v);
        u->thre_pending = 1; /* sent at once: THR empty again */
        break;
    case 1:
        if (dlab) {
            u->dlm = v;
            break;
        }
        if ((v & IER_ETBEI) && !(u->ier & IER_ETBEI))
            u->thre_pending = 1;
        u->ier = v & 0x0F;
        break;
    case 2: {
        uint8_t nf = (v & 1) ? (uint8_t)(v & 0xC9) : 0;
        if ((nf ^ u->fcr) & 1) {
            rx_clear(u);
        } else if ((v & 1) && (v & 0x02)) {
            rx_clear(u);
        }
        u->fcr = nf;
        feed_fifo(u);
        break;
    }
    case 3:
        u->lcr = v;
        break;
    case 4:
        u->mcr = v & 0x1F;
        update_msr(u);
        feed_fifo(u);
        break;
    case 7:
        u->scr = v;
        break;
    default: /* LSR and MSR are read-only (factory test writes ignored) */
        break;
    }
    uart_update_irq(dev, u);
}

static uint8_t reg_read(qvm_vdev_t *dev, struct uart *u, unsigned reg)
{
    int dlab = (u->lcr & 0x80) != 0;
    uint8_t v = 0;
    switch (reg) {
    case 0:
        if (dlab) {
            v = u->dll;
            break;
        }
        if (u->rx_count) {
            v = u->rx[u->rx_head];
            u->rx_head = (u->rx_head + 1) % FIFO_SIZE;
            u->rx_count--;
            feed_fifo(u);
        }
        break;
    case 1:
        v = dlab ? u->dlm : u->ier;
        break;
    case 2: {
        uint8_t src = uart_iir_source(u);
        if (src == IIR_THRE)
            u->thre_pending = 0;
        v = (uint8_t)(src | ((u->fcr & 1) ? 0xC0 : 0));
        break;
    }
    case 3:
        v = u->lcr;
        break;
    case 4:
        v = u->mcr;
        break;
    case 5:
        v = (uint8_t)(LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0) |
                      u->lsr_err);
        u->lsr_err = 0;
        break;
    case 6:
        v = u->msr;
        u->msr &= 0xF0;
        break;
    case 7:
        v = u->scr;
        break;
    }
    uart_update_irq(dev, u);
    return v;
}

/* Walks the bytes of an access: with regshift 0 each byte is one register
 * (an I/O `outw` covers two ports); with a wider stride the access targets
 * one register and only its low byte carries data. */
static int uart_access(qvm_vdev_t *dev, struct uart *u,
                       const struct qvm_access *acc, uint8_t *data, int wr)
{
    unsigned size = acc->size;
    if (size == 0 || size > 8)
        return QVM_BUS_ERROR;
    uart_delayed_touch(&u->hostdev); /* `delayed`: the first access opens the host side */
    uint64_t stride_mask = ((uint64_t)1 << u->regshift) - 1;
    if (u->regshift == 0) {
        for (unsigned i = 0; i < size; i++) {
            uint64_t off = acc->offset + i;
            if (off >= 8) {
                if (!wr) data[i] = 0xFF;
                continue;
            }
            if (wr)
                reg_write(dev, u, (unsigned)off, data[i]);
            else
                data[i] = reg_read(dev, u, (unsigned)off);
        }
        return QVM_DONE;
    }
    if (acc->offset & stride_mask)
        return QVM_DONE; /* between registers: reads 0, writes ignored */
    uint64_t reg = acc->offset >> u->regshift;
    if (reg >= 8)
        return QVM_DONE;
    if (wr)
        reg_write(dev, u, (unsigned)reg, data[0]);
    else
        data[0] = reg_read(dev, u, (unsigned)reg);
    return QVM_DONE;
}

static int uart_read(qvm_vdev_t *dev, void *state, const struct qvm_access *acc,
                     void *data)
{
    return uart_access(dev, state, acc, data, 0);
}

static int uart_write(qvm_vdev_t *dev, void *state,
                      const struct qvm_access *acc, void *data)
{
    return uart_access(dev, state, acc, data, 1);
}

static int parse_uint(const char *s, unsigned long long max,
                      unsigned long long *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int uart_open_host(qvm_vdev_t *dev, struct uart *u)
{
    return uart_hostdev_open(dev, &u->hostdev, &u->out_fd, &u->in_fd);
}

static int uart_control(qvm_vdev_t *dev, void *state, unsigned ctrl, int arg,
                        const char *value)
{
    struct uart *u = state;
    switch (ctrl) {
    case QVM_CTRL_OPTIONS_START:
        u->out_fd = u->in_fd = -1;
        uart_reset(u);
        return 0;
    case QVM_CTRL_OPTION: {
        unsigned long long v;
        if (arg == 0)
            return uart_hostdev_option(dev, &u->hostdev, value);
        if (arg == 1) {
            if (parse_uint(value, 4, &v)) {
                qvm_log(dev, QVM_LOG_ERROR,
                        "option regshift '%s': expected 0..4",
                        value ? value : "");
                return -EINVAL;
            }
            u->regshift = (unsigned)v;
            return 0;
        }
        if (arg == 2 || arg == 3) /* QNX's sched PRIORITY, batch MICROSECONDS */
            return uart_qnx_sched_batch(dev, uart_options[arg], value);
        return uart_delayed_option(dev, &u->hostdev, value);
    }
    case QVM_CTRL_OPTIONS_END: {
        uint32_t space = QVM_SPACE_IO;
        uint64_t base = 0x3f8;
        if (qvm_loc_count(dev) > 0 && qvm_loc_get(dev, 0, &space, &base) != 0)
            return -EINVAL;
        if (space != QVM_SPACE_IO && space != QVM_SPACE_MEM) {
            qvm_log(dev, QVM_LOG_ERROR, "loc: must be io: or mem:");
            return -EINVAL;
        }
        int rc = qvm_region_add(dev, space, base, (uint64_t)8 << u->regshift);
        if (rc < 0)
            return rc;
        if (qvm_intr_count(dev) == 0) {
            rc = qvm_intr_default(dev, "ioapic", 4);
            if (rc < 0)
                return rc;
        }
        rc = uart_open_host(dev, u);
        if (rc < 0)
            return rc;
        u->configured = 1;
        return 0;
    }
    case QVM_CTRL_GUEST_CONFIGURED:
        (void)uart_hostdev_start(dev, &u->hostdev, &u->out_fd);  /* `>|CMD`; logged */
        (void)uart_delayed_start(dev, &u->hostdev, u, &u->out_fd, &u->in_fd, uart_input);
        if (u->in_fd >= 0 && !u->watching) {
            if (qvm_fd_watch(dev, u->in_fd, uart_input, NULL) == 0)
                u->watching = 1;
            else
                qvm_log(dev, QVM_LOG_WARN, "cannot watch host input; input off");
        }
        return 0;
    case QVM_CTRL_GEN_ACPI:
        /* The 16550A UART's PNP id; qvm derives _CRS from our regions/intr. */
        return qvm_acpi_device(dev, "PNP0501", NULL);
    case QVM_CTRL_RESET:
        uart_reset(u);
        if (u->irq_level) {
            u->irq_level = 0;
            qvm_intr_set(dev, 0, 0);
        }
        return 0;
    case QVM_CTRL_STATUS:
        qvm_log(dev, QVM_LOG_INFO,
                "ier=%02x iir=%02x lcr=%02x mcr=%02x fcr=%02x rx=%u staged=%u "
                "dropped=%llu",
                u->ier, uart_iir_source(u), u->lcr, u->mcr, u->fcr,
                u->rx_count, u->st_count, (unsigned long long)u->tx_dropped);
        return 0;
    case QVM_CTRL_TERMINATE:
        uart_delayed_stop(dev, &u->hostdev);
        if (u->watching)
            qvm_fd_unwatch(dev, u->in_fd);
        u->watching = 0;
        uart_hostdev_stop(&u->hostdev, &u->out_fd);
        close_fd(&u->in_fd);
        return 0;
    case QVM_CTRL_POWER_BUTTON:
        return -ENOTSUP;
    default:
        return 0;
    }
}

static const struct qvm_factory uart_factory = {
    .abi_major = QVM_VDEV_ABI_MAJOR,
    .abi_minor = QVM_VDEV_ABI_MINOR,
    .struct_size = sizeof(struct qvm_factory),
    .name = "ser8250",
    .description = "16550A UART",
    .flags = QVM_VDEVF_SPACE_IO | QVM_VDEVF_SPACE_MEM,
    .access_sizes = QVM_ACCESS_1 | QVM_ACCESS_2 | QVM_ACCESS_4,
    .options = uart_options,
    .option_flags = uart_option_flags,
    .thread_syscalls = uart_thread_syscalls,
    .state_size = sizeof(struct uart),
    .control = uart_control,
    .read = uart_read,
    .write = uart_write,
    .pic = NULL,
};

static void __attribute__((constructor)) uart_register(void)
{
    qvm_register_factory(&uart_factory);
}
