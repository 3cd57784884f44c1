/*
 * qvm virtual-device (vdev) plug-in ABI.
 *
 * This is the only header a vdev plug-in includes. It is plain C (usable
 * from C++), and it is the stable contract between qvm and every device,
 * qvm's own included.
 *
 * Versioning: QVM_VDEV_ABI_MAJOR changes only when an existing member or
 * function changes meaning; qvm refuses a plug-in built for another major.
 * QVM_VDEV_ABI_MINOR grows when members are appended to the end of a struct
 * or functions are added; a plug-in built against an older minor keeps
 * working because every struct the plug-in hands to qvm carries its own
 * size (struct_size) and qvm reads only the members that size covers.
 *
 * Lifecycle of one instance (control callback, `ctrl` argument):
 *   QVM_CTRL_OPTIONS_START            state is zeroed, nothing assigned yet
 *   QVM_CTRL_OPTION (arg = index into factory->options, value = argument)
 *   QVM_CTRL_OPTIONS_END              declare regions here (qvm_region_add)
 *   QVM_CTRL_RESOURCES                every region/interrupt is assigned
 *   QVM_CTRL_GUEST_CONFIGURED         threads may be started from here on
 *   QVM_CTRL_STATUS / _GEN_FDT / _GEN_ACPI   when asked
 *   QVM_CTRL_RESET                    guest reset (also before first run)
 *   QVM_CTRL_TERMINATE                release everything
 * The control callback returns 0 on success or a negative errno-style value;
 * during configuration a failure stops qvm with a configuration error.
 *
 * Threading: qvm holds the instance's lock around every callback it makes
 * into the instance (control, read, write, timer, fd), so callbacks of one
 * instance never run concurrently. Read/write callbacks run on the vCPU
 * thread that made the access; timer and fd callbacks run on qvm's event
 * thread (the main thread); control callbacks on the main thread. A device
 * that starts threads of its own (from RESOURCES on, with qvm_thread_create
 * since ABI 1.8: under qvm's system-call filter) takes the same lock with
 * qvm_dev_lock/qvm_dev_unlock before touching its state.
 * Lock order: a device may drive an interrupt (which takes the controller's
 * lock) while holding its own; a controller may cascade to another
 * controller; a controller never calls back into a device.
 *
 * The guest is hostile: every value read from a register write or from guest
 * memory must be range-checked by the device. Guest memory is reached only
 * through qvm_gmem_read/qvm_gmem_write/qvm_gmem_map, which check bounds.
 */
#ifndef QVM_VDEV_H
#define QVM_VDEV_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QVM_VDEV_ABI_MAJOR 1
#define QVM_VDEV_ABI_MINOR 8

/* Opaque handle of one device instance, owned by qvm. */
typedef struct qvm_vdev qvm_vdev_t;
/* Opaque handle of one timer. */
typedef struct qvm_timer qvm_timer_t;

/* Address spaces a region can live in. */
enum qvm_space {
    QVM_SPACE_MEM = 0,     /* guest-physical memory (MMIO) */
    QVM_SPACE_IO = 1,      /* x86 I/O ports */
    QVM_SPACE_PCI_CFG = 2, /* PCI configuration space of the device */
};

/* Result of a read/write callback. */
enum qvm_status {
    QVM_DONE = 0,       /* access completed */
    QVM_RETRY = 1,      /* re-execute the instruction later, do not advance */
    QVM_BUS_ERROR = 2,  /* the guest sees a fault / reads all-ones */
    QVM_TERMINATE = 3,  /* the device hit a fatal error: qvm exits (code 6) */
};

/* Control commands (see lifecycle above). */
enum qvm_ctrl {
    QVM_CTRL_OPTIONS_START = 0,
    QVM_CTRL_OPTION = 1,
    QVM_CTRL_OPTIONS_END = 2,
    QVM_CTRL_RESOURCES = 3,
    QVM_CTRL_GUEST_CONFIGURED = 4,
    QVM_CTRL_STATUS = 5,
    QVM_CTRL_GEN_FDT = 6,
    QVM_CTRL_GEN_ACPI = 7,
    QVM_CTRL_RESET = 8,
    QVM_CTRL_TERMINATE = 9,
    /* The user pressed the virtual power button (SIGTERM/SIGINT, qvmctl).
     * A device that models one (ACPI PM block, PSCI, GPIO key) raises its
     * event and returns 0; others return -ENOTSUP. */
    QVM_CTRL_POWER_BUTTON = 10,
    /* ABI 1.1: a client sent devctl command `arg` (0..INT_MAX) to this
     * instance's node /dev/qvm/<system>/<name>; `value` is the command's
     * input as a NUL-terminated string (clients cannot send NUL bytes).
     * Only delivered to factories with QVM_VDEVF_DEVCTL; the others answer
     * ENOTTY without being called. Called on the main thread with the
     * instance lock held. Reply data goes through qvm_devctl_reply; return
     * 0, or a negative errno (-ENOTTY for an unknown command). */
    QVM_CTRL_DEVCTL = 11,
};

/* One guest access to a device region. */
struct qvm_access {
    uint32_t space;    /* enum qvm_space */
    uint32_t size;     /* 1, 2, 4 or 8 bytes */
    uint64_t offset;   /* offset inside the region */
    uint32_t region;   /* index returned by qvm_region_add */
    uint32_t vcpu;     /* index of the accessing vCPU */
};

/* Factory flags. */
#define QVM_VDEVF_NEEDS_LOC   (1u << 0) /* a `loc` must be configured */
#define QVM_VDEVF_NEEDS_INTR  (1u << 1) /* an `intr` must be configured */
#define QVM_VDEVF_SPACE_MEM   (1u << 2) /* may live in memory space */
#define QVM_VDEVF_SPACE_IO    (1u << 3) /* may live in I/O space */
#define QVM_VDEVF_SPACE_PCI   (1u << 4) /* is a PCI function */
#define QVM_VDEVF_PIC         (1u << 5) /* is an interrupt controller */
#define QVM_VDEVF_DEVCTL      (1u << 6) /* ABI 1.1: handles QVM_CTRL_DEVCTL */
#define QVM_VDEVF_PCI_HOST    (1u << 7) /* ABI 1.4: is a PCI host (qvm implies
                                           one for declared PCI functions
                                           when no such factory is configured) */

/* Access sizes a device accepts (bitmask); others get QVM_BUS_ERROR-like
 * treatment by qvm without calling the device. */
#define QVM_ACCESS_1 (1u << 0)
#define QVM_ACCESS_2 (1u << 1)
#define QVM_ACCESS_4 (1u << 2)
#define QVM_ACCESS_8 (1u << 3)

typedef int (*qvm_control_fn)(qvm_vdev_t *dev, void *state, unsigned ctrl,
                              int arg, const char *value);
/* data points to `acc->size` bytes, little-endian. For a read qvm has
 * zero-filled it before the call. */
typedef int (*qvm_rw_fn)(qvm_vdev_t *dev, void *state,
                         const struct qvm_access *acc, void *data);
typedef void (*qvm_timer_fn)(qvm_vdev_t *dev, void *state, void *arg);

/* Interrupt-controller interface: a vdev with QVM_VDEVF_PIC can be named
 * by other devices' `intr NAME:LINE`. */
struct qvm_pic_ops {
    size_t struct_size;
    /* Set input `line` to `level` (0 or 1). Edge-triggered inputs act on a
     * 0->1 transition. Returns 0, or -EINVAL for a line that does not exist. */
    int (*set_line)(qvm_vdev_t *dev, void *state, unsigned line, int level);
    /* Number of input lines. */
    unsigned (*line_count)(qvm_vdev_t *dev, void *state);
    /* End-of-interrupt broadcast for `vector` from the CPU's local APIC
     * (x86 level-triggered interrupts); may be NULL. */
    void (*eoi)(qvm_vdev_t *dev, void *state, unsigned vector);
    /* Interrupt acknowledge for a controller that drives the CPU's external
     * interrupt input (x86 8259): return the vector to deliver (a
     * controller may answer with its spurious vector when nothing is
     * pending, as real hardware does), or -1 to deliver nothing. May be
     * NULL. */
    int (*inta)(qvm_vdev_t *dev, void *state);
};

struct qvm_factory {
    uint32_t abi_major;       /* QVM_VDEV_ABI_MAJOR at build time */
    uint32_t abi_minor;       /* QVM_VDEV_ABI_MINOR at build time */
    size_t struct_size;       /* sizeof(struct qvm_factory) at build time */
    const char *name;         /* type name, as in `vdev NAME` */
    const char *description;  /* one line */
    uint32_t flags;           /* QVM_VDEVF_* */
    uint32_t access_sizes;    /* QVM_ACCESS_* */
    const char *const *options; /* NULL-terminated device-specific option
                                 * names; `loc`, `intr`, `name` are handled
                                 * by qvm and never passed here */
    size_t state_size;        /* bytes of zeroed per-instance state */
    qvm_control_fn control;
    qvm_rw_fn read;
    qvm_rw_fn write;
    const struct qvm_pic_ops *pic; /* non-NULL iff QVM_VDEVF_PIC */
    /* ---- ABI 1.1 ---- */
    const char *version;      /* the plug-in's own version (may be NULL) */
    /* ---- ABI 1.6 ---- */
    const uint32_t *option_flags; /* NULL, or one QVM_OPTF_* word for each
                                   * entry of `options` (same index): how
                                   * the option is written. NULL (or a
                                   * factory from before 1.6): every option
                                   * takes one argument and a repeated one
                                   * replaces the earlier */
    /* ---- ABI 1.8 ---- */
    const char *const *thread_syscalls; /* NULL, or NULL-terminated names of
                                   * the system calls ("openat", "socket")
                                   * the device's own threads need beyond
                                   * qvm's base list; granted to threads
                                   * started with qvm_thread_create only */
};

/* ABI 1.6: option_flags bits. */
#define QVM_OPTF_NO_ARG (1u << 0) /* takes no argument (`legacy`): OPTION's
                                     value is "" */
#define QVM_OPTF_REPEAT (1u << 1) /* may be given more than once: OPTION is
                                     called for each, in order */

/* Initializer for the version fields: `.QVM_FACTORY_VERSION,` is not legal
 * C, so use these three designated members explicitly:
 *   .abi_major = QVM_VDEV_ABI_MAJOR, .abi_minor = QVM_VDEV_ABI_MINOR,
 *   .struct_size = sizeof(struct qvm_factory),
 */

/* Register a factory; call from a constructor function in the plug-in:
 *   static void __attribute__((constructor)) reg(void) {
 *       qvm_register_factory(&my_factory);
 *   }
 * The factory must stay valid for the life of the process. */
void qvm_register_factory(const struct qvm_factory *factory);

/* ---- instance information ------------------------------------------- */

/* Instance name (`name` option, or TYPE followed by its instance number). */
const char *qvm_dev_name(qvm_vdev_t *dev);
/* Per-instance lock, for a device's own threads (not recursive: never call
 * it from inside a callback, where qvm already holds it). */
void qvm_dev_lock(qvm_vdev_t *dev);
void qvm_dev_unlock(qvm_vdev_t *dev);

/* Number of `loc` specs configured for this instance, and the i-th one.
 * Returns 0 and fills space/base, or -1 when there is no i-th loc. */
unsigned qvm_loc_count(qvm_vdev_t *dev);
int qvm_loc_get(qvm_vdev_t *dev, unsigned i, uint32_t *space, uint64_t *base);

/* Declare a region this device serves (from OPTIONS_END). Returns the region
 * index (>= 0) or a negative errno: -EEXIST when it overlaps another region
 * (qvm then reports the conflict and exits with a configuration error). */
int qvm_region_add(qvm_vdev_t *dev, uint32_t space, uint64_t base,
                   uint64_t size);

/* ---- interrupts -------------------------------------------------------- */

/* Number of `intr` specs configured for this instance (defaults supplied
 * with qvm_intr_default are not counted). When the config gives
 * none, a device may supply defaults from OPTIONS_END with qvm_intr_default,
 * which the configuration overrides. */
unsigned qvm_intr_count(qvm_vdev_t *dev);
int qvm_intr_default(qvm_vdev_t *dev, const char *controller, unsigned line);
/* Drive the device's i-th interrupt: level 1 asserts, 0 deasserts. */
int qvm_intr_set(qvm_vdev_t *dev, unsigned i, int level);
/* Assert then deassert (edge). */
int qvm_intr_pulse(qvm_vdev_t *dev, unsigned i);
/* Drive a line on a named controller directly (used by controllers that
 * cascade, e.g. the IOAPIC forwarding ISA lines to the 8259). Returns
 * -ENOENT when no such controller exists. */
int qvm_irq_set_named(qvm_vdev_t *dev, const char *controller, unsigned line,
                      int level);
/* Deliver a message-signalled interrupt (x86: address/data as written to
 * the LAPIC window). */
int qvm_msi(qvm_vdev_t *dev, uint64_t address, uint32_t data);
/* Tell the host which MSI a controller input currently maps to so that the
 * accelerator can track level-triggered EOIs and deliver it directly.
 * `gsi` is the controller's input line. */
int qvm_msi_route(qvm_vdev_t *dev, unsigned gsi, uint64_t address,
                  uint32_t data, int masked);
/* For a controller driving the CPU's external-interrupt input (8259):
 * level 1 = an interrupt is pending (the host will call pic->inta). */
int qvm_cpu_extint(qvm_vdev_t *dev, int level);

/* ---- timers ------------------------------------------------------------ */

/* Clock used by timers: CLOCK_MONOTONIC in nanoseconds. */
uint64_t qvm_time_ns(void);
/* Create a timer whose callback runs on qvm's event thread, with the
 * instance lock held. Call from QVM_CTRL_RESOURCES or later. Returns NULL on
 * failure. */
qvm_timer_t *qvm_timer_create(qvm_vdev_t *dev, qvm_timer_fn fn, void *arg);
/* Arm: fire once at absolute time `when_ns` (qvm_time_ns clock), then every
 * `period_ns` if non-zero. Re-arming replaces the previous setting. */
int qvm_timer_arm(qvm_timer_t *t, uint64_t when_ns, uint64_t period_ns);
/* ABI 1.1: arm relative to now: first expiry after `delay_ns`. */
int qvm_timer_arm_rel(qvm_timer_t *t, uint64_t delay_ns, uint64_t period_ns);
int qvm_timer_cancel(qvm_timer_t *t);
void qvm_timer_destroy(qvm_timer_t *t);

/* ---- guest memory ------------------------------------------------------ */

/* Copy to/from guest-physical memory. The whole range must lie in guest RAM
 * (ROM for reads too); returns 0 or -EFAULT, never touching anything else. */
int qvm_gmem_read(qvm_vdev_t *dev, uint64_t gpa, void *buf, size_t len);
int qvm_gmem_write(qvm_vdev_t *dev, uint64_t gpa, const void *buf,
                   size_t len);
/* Map a guest-physical range for DMA. Refused (NULL) unless the whole range
 * lies inside one RAM region. */
void *qvm_gmem_map(qvm_vdev_t *dev, uint64_t gpa, size_t len, int writable);
void qvm_gmem_unmap(qvm_vdev_t *dev, void *ptr, size_t len);

/* ---- host I/O, power, logging ----------------------------------------- */

/* Host streams named by `hostdev`: ">-" is qvm's stdout, "<-"/"-" stdin,
 * otherwise a path (a leading '>' or '<' gives the direction). Returns a new
 * file descriptor that the device owns and closes, or -1. */
int qvm_hostdev_open(qvm_vdev_t *dev, const char *spec, int for_write);
/* Ask for a host fd to be watched: `fn(dev, state, arg)` runs on qvm's event
 * thread with the instance lock held whenever fd is readable. */
int qvm_fd_watch(qvm_vdev_t *dev, int fd, qvm_timer_fn fn, void *arg);
/* Stop watching fd (for example at end of file, or before closing it).
 * Safe to call from the fd's own callback. */
int qvm_fd_unwatch(qvm_vdev_t *dev, int fd);

enum qvm_power {
    QVM_POWER_OFF = 0,
    QVM_POWER_RESET = 1,
    QVM_POWER_WATCHDOG = 2, /* ABI 1.1: a watchdog expired: qvm exits, code 4 */
};
/* Ask the VM to power off, reset or stop for a watchdog (asynchronous). */
void qvm_power(qvm_vdev_t *dev, int what);

/* ABI 1.1: during QVM_CTRL_GEN_ACPI, describe this instance in the
 * machine's ACPI namespace: qvm emits a Device with _HID `hid` (an EISA id
 * such as "PNP0501" or a string id such as "LNRO0005"), an optional _CID,
 * _UID and a _CRS built from the instance's regions and interrupts. Returns
 * 0, or -ENOTSUP when the machine has no ACPI (then nothing is emitted). */
int qvm_acpi_device(qvm_vdev_t *dev, const char *hid, const char *cid);

/* End qvm with a vdev-defined exit code (32..63; anything else becomes 6,
 * "vdev error"). Asynchronous like qvm_power. Test devices that must
 * reproduce another VMM's exit status use qvm_exit_status (ABI 1.2). */
void qvm_exit_code(qvm_vdev_t *dev, int code);

enum qvm_log_level {
    QVM_LOG_FATAL = 0, QVM_LOG_INTERNAL = 1, QVM_LOG_ERROR = 2,
    QVM_LOG_WARN = 3, QVM_LOG_INFO = 4, QVM_LOG_DEBUG = 5,
    QVM_LOG_VERBOSE = 6,
};
/* Logging, rate-limited per instance: safe to call on guest-triggered
 * paths. */
void qvm_log(qvm_vdev_t *dev, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ABI 1.1: append `len` bytes to the reply of the QVM_CTRL_DEVCTL being
 * handled (only valid inside that control call). Returns 0, -EINVAL outside
 * a devctl, or -ENOSPC when the reply would exceed 65512 bytes (nothing is
 * appended then). */
int qvm_devctl_reply(qvm_vdev_t *dev, const void *data, size_t len);


/* ---- ABI 1.2 ---- */

/* Device-tree contribution (machines described by an FDT: aarch64). During
 * QVM_CTRL_GEN_FDT a device describes itself with one node under the root,
 * named NAME@<base of its first region> (or NAME without regions).
 * `compatible` is a space-separated list of compatible strings, most
 * specific first ("arm,pl011 arm,primecell"). qvm adds `reg` (from the
 * instance's memory regions, in the root's 2+2 cells), `interrupts` (from
 * its `intr` specs, in the controller's format: GIC triplets) and `phandle`
 * unless the device sets them itself. Returns 0, -EINVAL (bad name, or a
 * second node), or -ENOTSUP outside GEN_FDT / when the machine has no FDT. */
int qvm_fdt_node(qvm_vdev_t *dev, const char *name, const char *compatible);
/* Properties of that node (after qvm_fdt_node): one 32-bit cell, `n` cells,
 * a string, or raw bytes (len 0: an empty property such as
 * "interrupt-controller"). Cells are given in host order and stored
 * big-endian. Return 0, -EINVAL, -ENOSPC (more than 64 KiB of properties),
 * or -ENOTSUP outside GEN_FDT. */
int qvm_fdt_prop_u32(qvm_vdev_t *dev, const char *prop, uint32_t value);
int qvm_fdt_prop_cells(qvm_vdev_t *dev, const char *prop,
                       const uint32_t *cells, unsigned n);
int qvm_fdt_prop_string(qvm_vdev_t *dev, const char *prop, const char *value);
int qvm_fdt_prop_bytes(qvm_vdev_t *dev, const char *prop, const void *data,
                       size_t len);
/* The phandle of instance `name`'s node (NULL: this instance), for
 * properties that refer to another device; 0 when there is no such
 * instance. */
uint32_t qvm_fdt_phandle(qvm_vdev_t *dev, const char *name);

/* Interrupt controllers the accelerator can model in the host kernel. */
enum qvm_irqchip_kind {
    /* GICv2: region 0 distributor (4 KiB), region 1 CPU interface (8 KiB) */
    QVM_IRQCHIP_GICV2 = 1,
    /* GICv3: region 0 distributor (64 KiB), region 1 redistributors
     * (128 KiB per vCPU) */
    QVM_IRQCHIP_GICV3 = 2,
};
/* From QVM_CTRL_OPTIONS_END, after declaring its regions with
 * qvm_region_add: this interrupt controller is modelled by the accelerator
 * (arm64 KVM's vGIC) with `nirqs` interrupt IDs (a multiple of 32,
 * 64..1024); guest accesses to its regions never reach the device. Returns
 * 0, -EINVAL (bad kind/nirqs or fewer than 2 regions), -EEXIST (asked
 * twice) or -ENOTSUP (this machine or accelerator cannot). A second
 * accelerated controller in one VM is a configuration error. */
int qvm_irqchip_accel(qvm_vdev_t *dev, unsigned kind, unsigned nirqs);
/* Drive input `intid` of the accelerated controller (GIC: an SPI, interrupt
 * ID 32..nirqs-1) to `level`. Returns 0, -EINVAL, -ENOTSUP (no accelerated
 * controller) or -EAGAIN (no guest running: the device re-drives its lines
 * at QVM_CTRL_RESET). */
int qvm_irqchip_line(qvm_vdev_t *dev, unsigned intid, int level);


/* ABI 1.2 (PCI): a device with QVM_VDEVF_SPACE_PCI describes itself with
 * qvm_pci_declare() from QVM_CTRL_OPTIONS_END; the `pci-host` vdev (implied
 * when any PCI function exists) then serves its configuration space (type-0
 * header, the BARs declared here, the capabilities given here plus an MSI-X
 * capability) through ports 0xCF8/0xCFC and ECAM, places its BARs in its
 * MMIO window and routes its INTx pin to the IOAPIC. Guest accesses to a
 * BAR reach the function's read/write callbacks with acc->space =
 * QVM_SPACE_MEM, acc->region = the BAR index (0-5) and acc->offset relative
 * to the BAR; a PCI function therefore declares no regions of its own.
 * The MSI-X table and PBA live inside one of the function's BARs and are
 * served by the function itself (it delivers with qvm_msi); whether MSI-X
 * is enabled or masked in config space is read with qvm_pci_state(). */
#define QVM_PCI_BAR_MEM32    0u
#define QVM_PCI_BAR_MEM64    (1u << 0)
#define QVM_PCI_BAR_PREFETCH (1u << 1)
/* ABI 1.8: an I/O-space BAR (alone: not with MEM64 or PREFETCH; 4-256
 * bytes; never the MSI-X BAR). The PCI host places it in its I/O window;
 * accesses reach the function with acc->space = QVM_SPACE_IO, acc->region
 * = the BAR index. A qvm before 1.8 refuses the declaration (-EINVAL). */
#define QVM_PCI_BAR_IO       (1u << 2)

struct qvm_pci_function {
    size_t struct_size;            /* sizeof(struct qvm_pci_function) */
    uint16_t vendor_id, device_id;
    uint16_t subsystem_vendor_id, subsystem_id;
    uint8_t revision;
    uint8_t prog_if, subclass, class_code;
    uint8_t intx_pin;              /* 0 none, 1 = INTA .. 4 = INTD */
    uint8_t msix_bar;              /* BAR holding the MSI-X table and PBA */
    uint16_t msix_vectors;         /* 0 = no MSI-X capability, else 1-2048 */
    uint32_t msix_table_offset;    /* 8-byte aligned, inside msix_bar */
    uint32_t msix_pba_offset;      /* 8-byte aligned, inside msix_bar */
    uint64_t bar_size[6];          /* 0 = unused; power of two, 16 B-1 GiB */
    uint32_t bar_flags[6];         /* QVM_PCI_BAR_*; a MEM64 BAR uses i+1 */
    /* Vendor-specific capabilities (ID 0x09) laid end to end, each with its
     * length in byte 2 (>= 3; total <= 180 bytes); qvm copies them and the
     * host fills in the next pointers. */
    const uint8_t *caps;
    size_t caps_len;
};

/* Declare this instance a PCI function (from OPTIONS_END). Its address is
 * the configured `loc pci:BUS:DEV[.FN]` when there is one, else the next
 * free device on bus 0 (device 0 is the host bridge). Returns the address
 * as (bus << 8) | (dev << 3) | fn, or -EINVAL (bad description), -EEXIST
 * (address taken), -ENOSPC (bus full), -EBUSY (declared twice). */
int qvm_pci_declare(qvm_vdev_t *dev, const struct qvm_pci_function *f);

/* The pci-host's interrupt line for INTx pin `pin` (1-4) of device `devnum`
 * (0-31) on bus 0: a PCI function names it with
 * qvm_intr_default(dev, "pci-host", QVM_PCI_INTX_LINE(devnum, pin)). The
 * host routes it (wired-OR, active low) to IOAPIC input
 * 16 + ((devnum + pin - 1) & 3), as ACPI's _PRT describes. */
#define QVM_PCI_INTX_LINE(devnum, pin) \
    ((unsigned)(devnum) * 4u + (unsigned)(pin) - 1u)

/* Config-space state a function may need, published by the host. */
#define QVM_PCI_STATE_MEM_ENABLE   (1u << 0) /* command: memory space */
#define QVM_PCI_STATE_BUS_MASTER   (1u << 1) /* command: bus master */
#define QVM_PCI_STATE_INTX_DISABLE (1u << 2) /* command: interrupt disable */
#define QVM_PCI_STATE_MSIX_ENABLE  (1u << 3) /* MSI-X control: enable */
#define QVM_PCI_STATE_MSIX_MASKALL (1u << 4) /* MSI-X control: function mask */
/* The function's current state bits (0 for a device that is no PCI
 * function). Lock-free; callable from any callback. */
uint32_t qvm_pci_state(qvm_vdev_t *dev);

/* For the PCI host vdev: the i-th PCI function (declaration order). Fills
 * `*out` (up to out->struct_size bytes; out->caps points into qvm's copy)
 * and `*addr`; returns its handle, or NULL past the last one. */
qvm_vdev_t *qvm_pci_enum(qvm_vdev_t *host, unsigned i,
                         struct qvm_pci_function *out, unsigned *addr);
/* For the PCI host vdev: make BAR `bar` of `fn` decode guest-physical
 * [base, base+size), which must lie inside one of `host`'s own
 * QVM_SPACE_MEM regions (an I/O BAR, ABI 1.8: ports inside one of its
 * QVM_SPACE_IO regions), or stop it decoding (size 0). Accesses there are
 * dispatched to `fn` directly (the host's lock is not taken). Safe while
 * the guest runs. Returns 0 or -EINVAL. */
int qvm_pci_bar_map(qvm_vdev_t *host, qvm_vdev_t *fn, unsigned bar,
                    uint64_t base, uint64_t size);
/* For the PCI host vdev: publish `fn`'s QVM_PCI_STATE_* bits. */
int qvm_pci_set_state(qvm_vdev_t *host, qvm_vdev_t *fn, uint32_t state);

/* ABI 1.2: the VM's `system` name ("qvm-PID" when the config has none);
 * stable for the life of the process (useful to derive default MACs, file
 * names, ...). */
const char *qvm_system_name(qvm_vdev_t *dev);

/* ABI 1.2, for test devices only: end qvm with process exit status `code`
 * (0..255; anything else becomes 6, "vdev error"), bypassing the 32..63
 * vdev-defined range of qvm_exit_code. It exists so that a device can mimic
 * another VMM's test-exit convention (debug-exit: QEMU's isa-debug-exit,
 * status (v << 1) | 1) so that existing test kernels run unchanged; the
 * status may then collide with qvm's own codes (0, 3-7, 64, 65, 96), which
 * is the price of that compatibility. Asynchronous like qvm_power. */
void qvm_exit_status(qvm_vdev_t *dev, int code);

/* ABI 1.3 */

/* ABI 1.3: the number of vCPUs of the VM (>= 1; the `cpu` count of the
 * configuration, 1 when it gives none). Callable from OPTIONS_END on. */
unsigned qvm_vcpu_count(qvm_vdev_t *dev);
/* ABI 1.3: the i-th region of guest RAM (ROM excluded), in ascending
 * address order. Returns 0 and fills base/size, or -1 past the last one.
 * Valid from QVM_CTRL_RESOURCES on (memory is built before devices). */
int qvm_ram_region(qvm_vdev_t *dev, unsigned i, uint64_t *base,
                   uint64_t *size);
/* ABI 1.3: the kernel command line of the configuration (`cmdline`), ""
 * when it gives none. The string stays valid for the life of the
 * process. */
const char *qvm_cmdline(qvm_vdev_t *dev);

/* ABI 1.3: interrupt controllers emulated by the device itself ("user
 * irqchip"), for machines whose accelerator can leave the controller to
 * user space and still run the per-vCPU devices it keeps in the kernel
 * (arm64 KVM: the generic timers and the PMU, KVM_CAP_ARM_USER_IRQ).
 *
 * Per-vCPU outputs of those in-kernel devices, as bits of the `outputs`
 * mask handed to a qvm_vcpu_outputs_fn. Which interrupt each one raises is
 * the controller's business (GIC: PPI 27, 30, 23). */
#define QVM_VCPU_OUT_VTIMER (1u << 0) /* EL1 virtual timer */
#define QVM_VCPU_OUT_PTIMER (1u << 1) /* EL1 physical timer */
#define QVM_VCPU_OUT_PMU    (1u << 2) /* performance-monitor overflow */
/* Called with the instance lock held, on vCPU `vcpu`'s own thread, before
 * that vCPU re-enters the guest, whenever its outputs changed; `outputs`
 * is the complete new mask (levels, not edges). Every output is low when
 * a vCPU first runs after a guest (re)start; the first call reports the
 * first change. */
typedef void (*qvm_vcpu_outputs_fn)(qvm_vdev_t *dev, void *state,
                                    unsigned vcpu, uint32_t outputs);
/* From QVM_CTRL_OPTIONS_END, with the device's regions declared: this PIC
 * is the machine's interrupt controller of kind `kind` (enum
 * qvm_irqchip_kind; it tells the machine how to describe the controller
 * and the timers to the guest) and the device emulates it: the accelerator
 * models none, guest accesses to the regions reach the device, the device
 * drives every vCPU's interrupt inputs with qvm_vcpu_irq, and `outputs`
 * (may be NULL) learns of the per-vCPU outputs above. Returns 0, -EINVAL
 * (bad kind, fewer than 2 regions), -EEXIST (this VM already has an
 * accelerated or user interrupt controller) or -ENOTSUP (the machine
 * cannot; arm64: only QVM_IRQCHIP_GICV2, whose CPU interface is memory
 * mapped, and at most 8 vCPUs). A VM whose accelerator lacks the support
 * (KVM without KVM_CAP_ARM_USER_IRQ) stops before the guest starts. */
int qvm_irqchip_user(qvm_vdev_t *dev, unsigned kind,
                     qvm_vcpu_outputs_fn outputs);
/* vCPU interrupt inputs driven by a user irqchip. */
enum qvm_cpu_input {
    QVM_CPU_IRQ = 0, /* arm64: IRQ */
    QVM_CPU_FIQ = 1, /* arm64: FIQ */
};
/* For the device that called qvm_irqchip_user: drive input `input` of vCPU
 * `vcpu` (0 .. qvm_vcpu_count()-1) to `level`. Inputs are level-sensitive:
 * the vCPU takes the exception whenever the input is high and the guest
 * has it unmasked, including out of WFI. Safe from any callback on any
 * thread (the target vCPU is woken). The host remembers the level: at a
 * guest (re)start the inputs start low, and a level set before the vCPUs
 * exist is applied when they are created. Returns 0, -EINVAL (no such
 * vCPU or input), -EPERM (not the user irqchip), -EAGAIN (between two
 * guest runs; QVM_CTRL_RESET follows) or -EIO. */
int qvm_vcpu_irq(qvm_vdev_t *dev, unsigned vcpu, unsigned input, int level);

/* ABI 1.3: notifications without VM exits (KVM ioeventfd / irqfd). The fds
 * these functions return are eventfds owned by qvm: the device reads, polls
 * or writes them (typically from its own threads) but never closes them;
 * qvm_notify_close releases one, QVM_CTRL_TERMINATE all. Registrations
 * survive guest resets (qvm registers them again with each new VM). Where
 * the accelerator lacks the capability they return -ENOTSUP and the device
 * keeps today's path (write callback, qvm_msi). */
#define QVM_IOEVENTFD_DATAMATCH (1u << 0)
/* An eventfd signalled (counter +1) whenever the guest writes exactly `size`
 * bytes (1, 2, 4, 8) at `offset` of the device's region `region` (the index
 * qvm_region_add returned; for a PCI function: the BAR index) and, with
 * QVM_IOEVENTFD_DATAMATCH, only when the value written equals `datamatch`.
 * Such a write completes in the kernel and never reaches the write
 * callback; other sizes and values still do, so a device keeps handling
 * them there. A PCI BAR registration follows the BAR: active while the BAR
 * decodes, moved when the guest (or the PCI host) moves it. Call from
 * QVM_CTRL_RESOURCES on (GUEST_CONFIGURED is typical). Returns the fd, or
 * -EINVAL (no such region, range outside it, bad size/flags, a datamatch
 * wider than `size`), -EEXIST (same place already registered), -ENOSPC (64
 * notifiers per instance), -ENOTSUP or -EIO. */
int qvm_ioeventfd(qvm_vdev_t *dev, unsigned region, uint64_t offset,
                  unsigned size, unsigned flags, uint64_t datamatch);
/* An eventfd whose write (an 8-byte count >= 1) delivers a message-signalled
 * interrupt in the kernel, without qvm in the path: the message last given
 * with qvm_irqfd_msi_set. Until then, and while masked, writes are
 * dropped. Returns the fd, -ENOTSUP (no in-kernel MSI routing, e.g. arm64
 * without an ITS: use qvm_msi), -ENOSPC or -EIO. */
int qvm_irqfd_msi(qvm_vdev_t *dev);
/* Sets the message of an MSI irqfd; call whenever the guest reprograms or
 * masks the vector (`masked` != 0: writes are dropped; a device that keeps
 * pending bits checks masking itself and does not write a masked vector's
 * fd). Cheap when nothing changed. Returns 0, -EINVAL (not an irqfd of this
 * instance) or -EIO. */
int qvm_irqfd_msi_set(qvm_vdev_t *dev, int fd, uint64_t address,
                      uint32_t data, int masked);
/* Deregisters and closes an fd from qvm_ioeventfd / qvm_irqfd_msi. Returns
 * 0 or -EINVAL. Level-triggered lines (INTx, virtio-mmio's interrupt) have
 * no irqfd service: devices drive them with qvm_intr_set, from any thread. */
int qvm_notify_close(qvm_vdev_t *dev, int fd);

/* ABI 1.4: host services, so that devices do not re-implement qvm's policy. */

/* Opens the host side of a console from a `hostdev`-style SPEC (NULL or ""
 * means ">-"): ">-" or "-" = guest output to qvm's stdout, guest input from
 * qvm's stdin (when that is a terminal, pipe or socket; qvm reads it on its
 * main loop and never changes its flags) and from writers of
 * /dev/qvm/<system>/<vdev>; ">PATH" or "PATH" = output appended to the file,
 * no input. An input-only SPEC ("<...") is -EINVAL. On success *out_fd is a
 * non-blocking fd for guest output (bytes the host cannot take at once are
 * the device's to drop) and *in_fd (when in_fd is not NULL) a non-blocking fd
 * to watch with qvm_fd_watch, or -1 when the console has no input; both are
 * the device's to close (at QVM_CTRL_TERMINATE). Every console is readable
 * through /dev/qvm/<system>/<vdev>. Returns 0, -EINVAL, or -ENOENT (the file
 * cannot be opened). Call during QVM_CTRL_OPTIONS_END or later. */
int qvm_console_open(qvm_vdev_t *dev, const char *spec, int *out_fd,
                     int *in_fd);

/* qvm's runtime directory: the directory of /dev/qvm/<system> (`set
 * resmgr-path`, else $QVM_RESMGR_DIR, else /dev/qvm, else
 * $XDG_RUNTIME_DIR/qvm, else /tmp/qvm-UID), created when missing. Devices
 * keep their rendezvous files (sockets, ...) below it. Returns a path that
 * stays valid for the life of the process, or NULL when no directory could
 * be chosen or created. */
const char *qvm_runtime_dir(qvm_vdev_t *dev);

/* ABI 1.4: typed ACPI contributions (x86). A device that is part of the
 * platform says so during QVM_CTRL_GEN_ACPI, and qvm builds the FADT, MADT,
 * HPET and MCFG tables and the DSDT from what the devices said: the machine
 * knows no device by name or register layout. Each returns 0, -ENOTSUP
 * outside QVM_CTRL_GEN_ACPI, -EINVAL for a bad description, or -EEXIST
 * when this instance already made that contribution. */

/* The ACPI PM fixed-hardware blocks (FADT), I/O ports: PM1a_EVT_BLK (4
 * ports), PM1a_CNT_BLK (2), PM_TMR_BLK (4, 32-bit timer), RESET_REG (1
 * port, written with reset_value). The SCI is the device's interrupt 0
 * (an ISA line < 16). */
struct qvm_acpi_pm {
    size_t struct_size; /* sizeof(struct qvm_acpi_pm) */
    uint16_t pm1a_evt, pm1a_cnt, pm_tmr, reset;
    uint8_t reset_value;
};
int qvm_acpi_pm_block(qvm_vdev_t *dev, const struct qvm_acpi_pm *pm);

/* A PCI host bridge (DSDT PNP0A08 with _PRT, MCFG, the ECAM reserved):
 * ECAM base (0 = none) covering buses 0..bus_end, one 32- or 64-bit memory
 * window for BARs, and the INTx routing: intx_gsi[device][pin - 1] is the
 * GSI (level, active low) that INTA..INTD of each device on bus 0 drive.
 * The PCI host alone knows its routing; qvm copies it into the _PRT. */
struct qvm_acpi_pci {
    size_t struct_size; /* sizeof(struct qvm_acpi_pci) */
    uint64_t ecam_base;
    uint8_t bus_end;
    uint64_t mem_base, mem_size;
    uint32_t intx_gsi[32][4];
    /* ABI 1.8: an I/O-port window for I/O BARs (io_size 0 = none). */
    uint16_t io_base;
    uint32_t io_size;
};
int qvm_acpi_pci_host(qvm_vdev_t *dev, const struct qvm_acpi_pci *host);

/* An HPET block (HPET table, DSDT PNP0103) at `base` whose GCAP_ID[31:0] is
 * `block_id`. */
int qvm_acpi_hpet(qvm_vdev_t *dev, uint64_t base, uint32_t block_id);

/* An I/O APIC (MADT entry) at `base` whose inputs start at GSI `gsi_base`.
 * Interrupts of other devices on this controller appear in their _CRS. */
int qvm_acpi_ioapic(qvm_vdev_t *dev, uint64_t base, uint32_t gsi_base);

/* Legacy hardware present in the VM (FADT IAPC_BOOT_ARCH, MADT flags). */
#define QVM_ACPI_LEGACY_8259 0x1 /* dual 8259 PICs (MADT PCAT_COMPAT) */
#define QVM_ACPI_LEGACY_8042 0x2 /* 8042 keyboard controller */
#define QVM_ACPI_LEGACY_RTC 0x4  /* CMOS RTC at the usual ports */
int qvm_acpi_legacy(qvm_vdev_t *dev, unsigned what);

/* ABI 1.5: host memory as guest memory (memory shared between VMs and host
 * programs). A device reserves a guest-physical range that qvm chooses,
 * serves it as an ordinary trapped region, and lays host memory over parts
 * of it: guest accesses there are plain memory accesses (an accelerator
 * memory slot: no exit, no callback); accesses elsewhere in the range still
 * reach the device's read/write callbacks. */

/* Reserves the lowest free guest-physical range of `size` bytes (a non-zero
 * multiple of 4 KiB) aligned to `align` (a power of two >= 4096) inside
 * [lo, hi): it overlaps no guest RAM or ROM and no other device's memory
 * region. The range becomes a QVM_SPACE_MEM region of the device, like one
 * from qvm_region_add, and *base its address (a PCI function's index is 6
 * or more, never a BAR index). Callable from OPTIONS_END on,
 * also while the guest runs (the region then appears in no firmware table:
 * the device tells the guest where it is). Returns the region index, or
 * -EINVAL (bad size/align/range, base NULL), -ENOSPC (no such free range,
 * or 64 regions) or -EIO. */
int qvm_region_alloc(qvm_vdev_t *dev, uint64_t size, uint64_t align,
                     uint64_t lo, uint64_t hi, uint64_t *base);
/* Releases a region from qvm_region_alloc (its mappings are removed first);
 * its index is not reused. Returns 0 or -EINVAL. */
int qvm_region_free(qvm_vdev_t *dev, unsigned region);

/* Lays `size` bytes of host memory at `host` (page-aligned, readable, and
 * writable when `writable`; typically a MAP_SHARED mapping of a shared-
 * memory object) over [offset, offset+size) of the device's memory region
 * `region` (offset and size multiples of 4 KiB). The guest then reads and
 * writes that host memory directly (read-only mappings: guest writes reach
 * the write callback). The device keeps `host` mapped until it calls
 * qvm_mem_unmap (or until QVM_CTRL_TERMINATE returns; qvm removes what is
 * left after it). Mappings survive guest resets. qvm_gmem_* do not reach
 * them: the device has the host pointer. Returns 0, -EINVAL (bad
 * arguments, not a memory region, a PCI BAR), -EEXIST (overlaps another
 * mapping), -ENOSPC (16 mappings per instance, or the accelerator has no
 * free memory slot), -ENOTSUP or -EIO. */
int qvm_mem_map(qvm_vdev_t *dev, unsigned region, uint64_t offset, void *host,
                uint64_t size, int writable);
/* Removes the mapping that starts at `offset` of `region`. When it returns
 * no vCPU accesses the host memory any more (the device may unmap it);
 * accesses reach the callbacks again. Returns 0 or -EINVAL (no such
 * mapping). */
int qvm_mem_unmap(qvm_vdev_t *dev, unsigned region, uint64_t offset);

/* ABI 1.5: the line of the device's i-th interrupt (`intr CONTROLLER:LINE`
 * as configured, or the default), for devices that tell the guest its
 * interrupt number in a register. From QVM_CTRL_RESOURCES on. Returns 0,
 * or -EINVAL when there is no i-th interrupt. */
int qvm_intr_line(qvm_vdev_t *dev, unsigned i, unsigned *line);

/* ABI 1.7: a guest dump on the device's behalf (a watchdog's `dump`
 * action). qvm writes the same dump as SIGUSR2 and `qvmctl dump` do (an
 * ELF core named <system>-YYYYMMDD-hhmmss.gcore in the `dump DIR`
 * directory, qvm's working directory when the configuration has no
 * `dump`, or the input of `dump "|CMD"`), then does `then`:
 * QVM_DUMP_CONTINUE (the guest keeps running) or a qvm_power value
 * (QVM_POWER_WATCHDOG: qvm exits with code 4 once the dump is written,
 * whether or not writing it succeeded). Asynchronous: the request is
 * queued to qvm's main loop, which pauses the vCPUs and writes the dump
 * after the calling callback has returned, so a device may call it from
 * any callback (a timer) with its instance lock held; a dump written
 * inside the callback would wait for a vCPU blocked on that very lock.
 * Requests that arrive while one is queued share its dump; each keeps its
 * follow-up. A request within 10 s of the last dump written for a device
 * gets no dump of its own (logged; a guest that expires its watchdog in a
 * loop must not fill the disk); its follow-up still happens. Returns 0,
 * -EINVAL (`then` is neither QVM_DUMP_CONTINUE nor a qvm_power value) or
 * -ENOTSUP (this host writes no dumps). */
#define QVM_DUMP_CONTINUE (-1)
int qvm_guest_dump(qvm_vdev_t *dev, int then);

/* ABI 1.8: start a thread of the device (from QVM_CTRL_RESOURCES on, or
 * from a callback) under qvm's system-call filter. The thread installs, before
 * `fn(arg)` runs, the filter of a vCPU thread (memory, locks, threads,
 * I/O on descriptors that exist, clocks, signals: sdk/SDK.md "System
 * calls") plus the calls the factory names in `thread_syscalls`; any other
 * call ends qvm with exit 7, its report naming the call and `name`.
 * `name` (at most 15 characters kept; NULL: the instance name) is also the
 * thread's name (pthread_setname_np). Filters stack: a thread started
 * from a filtered thread (a vCPU's read/write callback, a timer on the
 * main loop) keeps that thread's filter too, so calls beyond the vCPU
 * list work only in threads started during set-up (RESOURCES to
 * GUEST_CONFIGURED).
 * Without filters (`set seccomp off`, a sanitizer build) a plain thread.
 * The thread is joinable: pthread_join(*thread, ...) as usual. Returns 0
 * once the filter is in place, or a negative errno (-EINVAL, -EAGAIN; the
 * filter could not be installed: -EPERM, and no thread runs). */
int qvm_thread_create(qvm_vdev_t *dev, pthread_t *thread, const char *name,
                      void *(*fn)(void *), void *arg);

#ifdef __cplusplus
}
#endif

#endif /* QVM_VDEV_H */
