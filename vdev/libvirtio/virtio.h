/*
 * libvirtio: the virtio 1.x device side shared by qvm's virtio vdevs
 * (static library, linked into each vdev-virtio-*.so; uses only
 * <qvm/vdev.h>).
 *
 *  - transports: modern virtio-pci (common/notify/ISR/device capabilities in
 *    BAR 0, MSI-X table and PBA in the same BAR, INTx fallback) and
 *    virtio-mmio version 2 (0x200-byte region + one interrupt line);
 *  - split virtqueues with VIRTIO_F_EVENT_IDX and VIRTIO_F_INDIRECT_DESC;
 *  - feature negotiation (FEATURES_OK refused for unknown features or
 *    without VERSION_1), device reset, NEEDS_RESET on malformed rings.
 *
 * Guest memory is reached only through qvm_gmem_read/qvm_gmem_write/
 * qvm_gmem_map. A descriptor chain is walked at most `queue size`
 * descriptors (an indirect table at most its own length, no nesting),
 * every buffer must lie wholly inside guest RAM and be non-empty; any
 * violation puts the device in NEEDS_RESET and the queue stops.
 */
#ifndef QVM_LIBVIRTIO_H
#define QVM_LIBVIRTIO_H

#include <stdint.h>
#include <sys/uio.h>

#include <qvm/vdev.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VIO_MAX_QUEUES 8
#define VIO_MAX_QSIZE 256
#define VIO_MAX_VECTORS (VIO_MAX_QUEUES + 1)

/* feature bits (transport) */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* device status */
#define VIRTIO_S_ACKNOWLEDGE 1
#define VIRTIO_S_DRIVER 2
#define VIRTIO_S_DRIVER_OK 4
#define VIRTIO_S_FEATURES_OK 8
#define VIRTIO_S_NEEDS_RESET 0x40
#define VIRTIO_S_FAILED 0x80

enum vio_transport { VIO_PCI = 1, VIO_MMIO = 2 };

/* PCI BAR 0 layout */
#define VIO_PCI_COMMON 0x0000
#define VIO_PCI_ISR 0x1000
#define VIO_PCI_DEVCFG 0x2000
#define VIO_PCI_NOTIFY 0x3000
#define VIO_PCI_MSIX_TABLE 0x4000
#define VIO_PCI_MSIX_PBA 0x5000
#define VIO_PCI_BAR_SIZE 0x8000
#define VIO_MMIO_SIZE 0x200

/* Legacy (virtio 0.9.5) PCI transport, QNX's `legacy`: BAR 0 is an I/O
 * BAR with these registers (little-endian), then the device
 * configuration; BAR 1 (memory, 4 KiB) holds the MSI-X table and PBA. */
#define VIO_LEG_HOST_FEATURES 0x00   /* 32 R */
#define VIO_LEG_GUEST_FEATURES 0x04  /* 32 RW */
#define VIO_LEG_QUEUE_PFN 0x08       /* 32 RW: ring address >> 12 */
#define VIO_LEG_QUEUE_SIZE 0x0c      /* 16 R */
#define VIO_LEG_QUEUE_SEL 0x0e       /* 16 RW */
#define VIO_LEG_QUEUE_NOTIFY 0x10    /* 16 W */
#define VIO_LEG_STATUS 0x12          /* 8 RW */
#define VIO_LEG_ISR 0x13             /* 8 R, read clears */
#define VIO_LEG_MSIX_CONFIG 0x14     /* 16 RW, only while MSI-X is enabled */
#define VIO_LEG_MSIX_QUEUE 0x16      /* 16 RW, likewise */
#define VIO_LEG_CFG 0x14             /* device config without MSI-X */
#define VIO_LEG_CFG_MSIX 0x18        /* ... and with it */
#define VIO_LEG_PAGE 4096            /* PFN unit and used-ring alignment */
#define VIO_LEG_MSIX_TABLE 0x000     /* in BAR 1 */
#define VIO_LEG_MSIX_PBA 0x800
#define VIO_LEG_BAR1_SIZE 0x1000

struct vio_queue {
    uint16_t size;        /* guest-chosen, 1..max */
    uint16_t max;
    uint8_t ready;
    uint16_t msix_vector;
    uint64_t desc, avail, used;
    uint16_t last_avail;  /* next avail entry to take */
    uint16_t used_idx;    /* next used entry to fill */
    uint16_t signalled;   /* used_idx at the last interrupt decision */
};

struct vio_seg {
    uint64_t gpa;
    uint32_t len;
    uint8_t write;        /* device-writable */
};

/* One descriptor chain, as taken from the avail ring. */
struct vio_req {
    uint16_t head;
    unsigned nseg;
    uint64_t rlen, wlen;  /* total driver->device and device->driver bytes */
    struct vio_seg seg[VIO_MAX_QSIZE];
};

struct vio;
struct vio_ops {
    /* The driver notified queue `q` (instance lock held). */
    void (*notify)(struct vio *v, unsigned q);
    /* Device-specific reset (status written 0, or VM reset). */
    void (*reset)(struct vio *v);
};

struct vio {
    qvm_vdev_t *dev;
    const struct vio_ops *ops;
    int transport;
    uint32_t device_id;
    uint64_t host_features;
    uint64_t driver_features;
    uint32_t dfsel, gfsel;
    uint8_t status;
    uint8_t config_gen;
    uint8_t isr;          /* bit 0 queue, bit 1 config */
    int irq_level;
    uint16_t qsel;
    unsigned nq;
    struct vio_queue q[VIO_MAX_QUEUES];
    uint16_t msix_config;
    struct { uint32_t lo, hi, data, ctrl; } msix[VIO_MAX_VECTORS];
    uint32_t pba;
    uint8_t *cfg;         /* device configuration (little-endian), read-only */
    unsigned cfg_len;
    unsigned pci_addr;
    uint64_t mmio_base;
    unsigned bad_rings;   /* malformed chains seen */
    /* ABI 1.3 notifications (vio_eventfds_setup); -1 = none */
    int region;                    /* MMIO: index of the 0x200-byte region */
    int kickfd[VIO_MAX_QUEUES];    /* ioeventfd on queue i's notify address */
    int irqfd[VIO_MAX_VECTORS];    /* MSI irqfd of MSI-X vector i */
    uint8_t irqfd_synced[VIO_MAX_VECTORS]; /* route == table entry */
    /* QNX's `legacy` (vio_legacy): the virtio 0.9.5 PCI transport */
    uint8_t legacy;
    uint32_t legacy_io_size;       /* BAR 0 (I/O) size */
};

/* Sets up `v` (call from OPTIONS_START). */
void vio_init(struct vio *v, qvm_vdev_t *dev, const struct vio_ops *ops,
              uint32_t device_id, uint64_t features, unsigned nq,
              uint16_t qmax, void *cfg, unsigned cfg_len);
/* Chooses the transport and declares it (call from OPTIONS_END): MMIO when
 * a `loc mem:` and an `intr` are configured, otherwise PCI (class triple
 * for the config header). Returns 0 or a negative errno. */
int vio_declare(struct vio *v, uint8_t class_code, uint8_t subclass,
                uint8_t prog_if);
/* Register accesses (the vdev's read/write callbacks forward here). */
int vio_read(struct vio *v, const struct qvm_access *acc, void *data);
int vio_write(struct vio *v, const struct qvm_access *acc, void *data);
/* QVM_CTRL_GEN_ACPI: virtio-mmio devices appear as LNRO0005. */
int vio_gen_acpi(struct vio *v);
/* QVM_CTRL_GEN_FDT: virtio-mmio devices get a "virtio,mmio" node (qvm adds
 * reg and interrupts). */
int vio_gen_fdt(struct vio *v);
/* The function's reset (QVM_CTRL_RESET: the VM's reset): the MSI-X table
 * and the device. The driver's status 0 resets the device only (its MSI-X
 * table stays, as on a real PCI function). */
void vio_reset(struct vio *v);
/* 1 when the driver is running and may use the queues. */
int vio_running(const struct vio *v);
int vio_has(const struct vio *v, unsigned feature);

/* Takes the next chain of queue `qi`: 1 = `*r` filled, 0 = ring empty,
 * -1 = malformed (the device is now in NEEDS_RESET). */
int vio_pop(struct vio *v, unsigned qi, struct vio_req *r);
/* Gives back the last `n` chains taken from queue `qi` with vio_pop and not
 * yet pushed: the next vio_pop takes them again (a device that found too
 * few buffers for a frame leaves them to the driver). */
void vio_unpop(struct vio *v, unsigned qi, uint16_t n);
/* Returns chain `head` with `written` bytes written. */
int vio_push(struct vio *v, unsigned qi, uint16_t head, uint32_t written);
/* Interrupts the driver for queue `qi` if it asked (EVENT_IDX/flags) and
 * something was pushed since the last call; with EVENT_IDX also publishes
 * avail_event. */
void vio_notify_queue(struct vio *v, unsigned qi);
/* Marks the device broken (NEEDS_RESET) and tells the driver. */
void vio_needs_reset(struct vio *v, const char *why);
/* Config-change interrupt. */
void vio_config_changed(struct vio *v);

/* ABI 1.3, notifications without exits. Asks qvm for an ioeventfd on every
 * queue's notify address (PCI: 16-bit write at notify + 4*i; MMIO: 32-bit
 * write of i to QueueNotify) and, with `irqfds` and PCI, an MSI irqfd per
 * MSI-X vector (interrupts then go out as eventfd writes, the vector's
 * message kept in sync with the MSI-X table; masked vectors still set
 * their PBA bit). Call from GUEST_CONFIGURED; the device must then serve
 * the queues from its own threads, woken by vio_kick_fd(). Returns the
 * number of queues with an ioeventfd: 0 when qvm cannot (-ENOTSUP:
 * everything stays on the exit path, ops->notify on the vCPU thread).
 * Notifications arriving as exits (other access sizes) still reach
 * ops->notify. INTx / virtio-mmio's level interrupt keep qvm_intr_set. */
int vio_eventfds_setup(struct vio *v, int irqfds);
/* The ioeventfd of queue `q`, or -1. */
int vio_kick_fd(const struct vio *v, unsigned q);
/* Releases every fd of vio_eventfds_setup (after the device's threads
 * stopped). */
void vio_eventfds_close(struct vio *v);
/* 1 when queue `q` has chains the device has not taken (for a device
 * thread's "publish avail_event, then look again" step). */
int vio_queue_pending(struct vio *v, unsigned q);

/* Copy between a request's buffers and host memory. `off` counts bytes
 * across the readable (from) or writable (to) segments only. Return the
 * bytes copied, or -1 on a guest-memory error. */
long vio_req_read(struct vio *v, const struct vio_req *r, uint64_t off,
                  void *buf, uint64_t len);
long vio_req_write(struct vio *v, const struct vio_req *r, uint64_t off,
                   const void *buf, uint64_t len);
/* Maps up to `max` iovecs covering [off, off+len) of the readable
 * (write=0) or writable (write=1) segments. Returns the count, or -1. The
 * pointers are valid only for the current request. */
int vio_req_iov(struct vio *v, const struct vio_req *r, int write,
                uint64_t off, uint64_t len, struct iovec *iov, int max);

/* QNX's `legacy` option (no argument): the virtio 0.9.5 PCI transport.
 * List VIO_OPTION_LEGACY in the factory's options with QVM_OPTF_NO_ARG
 * (ABI 1.6) and answer its QVM_CTRL_OPTION with vio_option_legacy(): 0
 * where the machine has PCI I/O ports (x86), else it logs why it is
 * refused and returns -ENOTSUP. The device remembers the option and calls
 * vio_legacy() between vio_init() and vio_declare(). */
#define VIO_OPTION_LEGACY "legacy"
int vio_option_legacy(qvm_vdev_t *dev);
/* Makes `v` a legacy (virtio 0.9.5) PCI device, not a transitional one:
 * PCI device ID 0x1000-0x103f with the type as subsystem ID, revision 0,
 * no virtio 1.x capabilities, BAR 0 the legacy I/O registers, BAR 1 the
 * MSI-X table; only the low 32 feature bits, no VIRTIO_F_VERSION_1. With
 * `loc mem:` + `intr` (virtio-mmio) vio_declare() refuses it. */
void vio_legacy(struct vio *v);

#ifdef __cplusplus
}
#endif

#endif
