/*
 * libuart: QNX's `hostdev` option of the UART vdevs (ser8250, pl011), in
 * one place. Header only: each plug-in includes it and keeps a struct
 * uart_hostdev in its per-instance state. Uses only <qvm/vdev.h>.
 *
 *   hostdev [<|>]SPEC        given once: `>OUT` output only, `SPEC` (or
 *                            `-`) output and input
 *   hostdev <IN hostdev >OUT given twice: separate input and output
 *   hostdev >"|COMMAND"      refused with the reason (see below)
 *
 * The option is listed with QVM_OPTF_REPEAT (ABI 1.6). At most one input
 * and one output: a second of either is refused. The output (and, for a
 * SPEC without `<`/`>`, the input) comes from qvm_console_open, a separate
 * input from qvm_hostdev_open(`<IN`) (`<-`: qvm's stdin relay).
 */
#ifndef QVM_LIBUART_HOSTDEV_H
#define QVM_LIBUART_HOSTDEV_H

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qvm/vdev.h>

struct uart_hostdev {
    char out[256]; /* output SPEC as written (`>OUT` or `SPEC`), "" = default */
    char in[256];  /* separate input SPEC (`<IN`), "" = none */
};

/* QVM_CTRL_OPTION of `hostdev`: 0 or -EINVAL (logged). */
static inline int uart_hostdev_option(qvm_vdev_t *dev, struct uart_hostdev *h,
                                      const char *value)
{
    if (!value || !*value || strlen(value) >= sizeof h->out) {
        qvm_log(dev, QVM_LOG_ERROR, "option hostdev: bad value");
        return -EINVAL;
    }
    if (value[0] == '>' && value[1] == '|') {
        qvm_log(dev, QVM_LOG_ERROR, "hostdev >\"|COMMAND\": piping the output to a command "
                "is not implemented; give the command a FIFO (mkfifo) to read and write "
                "`hostdev >FIFO`");
        return -EINVAL;
    }
    char *slot = value[0] == '<' ? h->in : h->out;
    if (slot[0] || (value[0] == '<' && h->out[0] && h->out[0] != '>') ||
        (value[0] != '<' && value[0] != '>' && h->in[0])) {
        qvm_log(dev, QVM_LOG_ERROR, "hostdev %s: a second %s (give at most one `<IN` "
                "and one `>OUT`, or one SPEC for both)", value,
                value[0] == '<' ? "input" : "output");
        return -EINVAL;
    }
    strcpy(slot, value);
    return 0;
}

/* At QVM_CTRL_OPTIONS_END: *out_fd for guest output and *in_fd for host
 * input (-1: none), both non-blocking and the device's to close. 0 or a
 * negative errno (logged). */
static inline int uart_hostdev_open(qvm_vdev_t *dev, const struct uart_hostdev *h,
                                    int *out_fd, int *in_fd)
{
    int rc = qvm_console_open(dev, h->out[0] ? h->out : NULL, out_fd,
                              h->in[0] ? NULL : in_fd);
    if (rc < 0) {
        qvm_log(dev, QVM_LOG_ERROR, "option hostdev '%s': %s", h->out,
                rc == -EINVAL ? "not an output" : "cannot open");
        return rc;
    }
    if (!h->in[0])
        return 0;
    int fd = qvm_hostdev_open(dev, h->in, 0);
    if (fd < 0) {
        qvm_log(dev, QVM_LOG_ERROR, "option hostdev '%s': cannot open", h->in);
        close(*out_fd);
        *out_fd = -1;
        return -ENOENT;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    *in_fd = fd;
    return 0;
}

/* QNX's `sched PRIORITY` and `batch MICROSECONDS` (a number up to
 * 0xffffffff): accepted with a note saying they have no effect here. */
static inline int uart_qnx_sched_batch(qvm_vdev_t *dev, const char *name, const char *value)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = value && *value && *value != '-' ? strtoull(value, &end, 0) : 0;
    if (!end || *end || errno || v > 0xffffffffull) {
        qvm_log(dev, QVM_LOG_ERROR, "%s: want a number", name);
        return -EINVAL;
    }
    qvm_log(dev, QVM_LOG_INFO, "%s %s: no effect here (input arrives on qvm's event "
            "loop; output is written as the guest writes it)", name, value);
    return 0;
}

/* QNX's `delayed SECONDS|forever`: refused with the reason. */
static inline int uart_qnx_delayed(qvm_vdev_t *dev)
{
    qvm_log(dev, QVM_LOG_ERROR, "delayed: not implemented; the host device is opened "
            "when qvm starts and must exist then");
    return -EINVAL;
}

#endif
