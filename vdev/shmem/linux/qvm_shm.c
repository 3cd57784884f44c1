// SPDX-License-Identifier: GPL-2.0
/*
 * qvm_shm: Linux guest driver for qvm's `vdev shmem` (PCI function
 * 1C05:0001), the guest_shm register layout (vdev/shmem/README.md). Each
 * function becomes /dev/qvmshmN; each open file of it is one connection to
 * a named region (qvmshm.h): attach by ioctl, mmap of the data pages,
 * notify by ioctl, read/poll for notifications. Interrupts: MSI-X when the
 * kernel gives it, else INTx (shared).
 *
 * The device is trusted to the extent that every value it returns is
 * checked before use: status codes, the control page's address and the
 * region's size (page aligned, no overflow, never over system RAM), client
 * indexes.
 */
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/wait.h>

#include "qvmshm.h"

#define QS_SIGNATURE 0x4d534732474d5651ull
#define QS_FACTORY_SIZE 0x1000u
/* factory page */
#define QS_SIG 0
#define QS_SHMEM 8
#define QS_VECTOR 16
#define QS_STATUS 20
#define QS_SIZE 24
#define QS_NAME 28
/* control page */
#define QS_C_STATUS 0
#define QS_C_IDX 4
#define QS_C_NOTIFY 8
#define QS_C_DETACH 12
/* factory status codes */
enum { QS_OK, QS_UNKNOWN, QS_NOMEM, QS_CLIENT_MAX, QS_BAD_NAME, QS_NO_PERM, QS_NO_SUCH };
#define QS_MAX_PAGES (QVMSHM_MAX_BYTES / QVMSHM_PAGE)
#define QS_MAX_CONNS 16 /* per function, the device's limit */

struct qs_conn;

struct qs_dev {
	struct pci_dev *pdev;
	void __iomem *fac;
	int id;
	int irq;
	bool msix;
	char devname[16];
	struct miscdevice misc;
	struct mutex lock;  /* the factory page, conns[] writers */
	spinlock_t slock;   /* conns[] against the interrupt handler */
	struct qs_conn *conns[QS_MAX_CONNS];
};

struct qs_conn {
	struct qs_dev *d;
	void __iomem *ctl;
	phys_addr_t base;       /* control page; the data pages follow */
	u64 pages;              /* data pages */
	u32 idx;
	struct resource *res;
	/* under d->slock */
	u32 pending;            /* bits collected since the last read() */
	u32 active;             /* active set last read from the device */
	u32 active_read;        /* active set last returned by read() */
	wait_queue_head_t wq;
};

/* One per open file: its connection once attached. */
struct qs_file {
	struct qs_dev *d;
	struct mutex lock;
	struct qs_conn *c;
};

static DEFINE_IDA(qs_ida);

/* Takes the device's status of connection c (reading clears its pending
 * bits) into c; true when it had something. Called with d->slock held. */
static bool qs_collect(struct qs_conn *c)
{
	u32 st = ioread32(c->ctl + QS_C_STATUS);
	u32 pend = st & 0xffffu, act = st >> 16;
	bool news = pend || act != c->active;

	c->pending |= pend;
	c->active = act;
	if (news)
		wake_up_interruptible(&c->wq);
	return news;
}

static irqreturn_t qs_interrupt(int irq, void *arg)
{
	struct qs_dev *d = arg;
	bool any = false;
	unsigned int i;

	spin_lock(&d->slock);
	for (i = 0; i < QS_MAX_CONNS; i++)
		if (d->conns[i])
			any |= qs_collect(d->conns[i]);
	spin_unlock(&d->slock);
	/* INTx is shared: only claim it when a connection had something */
	return any || d->msix ? IRQ_HANDLED : IRQ_NONE;
}

/* 1-31 bytes of [A-Za-z0-9._-], not starting with '.', NUL-terminated. */
static bool qs_name_ok(const char *n)
{
	size_t i, len = strnlen(n, QVMSHM_NAME_MAX);

	if (len == 0 || len >= QVMSHM_NAME_MAX || n[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		char ch = n[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static int qs_errno(u32 status)
{
	switch (status) {
	case QS_NOMEM: return -ENOMEM;
	case QS_CLIENT_MAX: return -EUSERS;
	case QS_BAD_NAME: return -EINVAL;
	case QS_NO_PERM: return -EACCES;
	case QS_NO_SUCH: return -ENOENT;
	default: return -EIO;
	}
}

/* Create or attach region a->name on the device; a new connection. */
static int qs_attach(struct qs_file *f, struct qvmshm_attach *a)
{
	struct qs_dev *d = f->d;
	struct qs_conn *c;
	char name[QVMSHM_NAME_MAX];
	u64 pages, base, len;
	u32 status, npages, idx, w;
	unsigned int i, slot;
	int rc;

	if (!memchr(a->name, 0, sizeof(a->name)) || !qs_name_ok(a->name))
		return -EINVAL;
	if (a->size > QVMSHM_MAX_BYTES)
		return -EFBIG;
	pages = DIV_ROUND_UP(a->size, QVMSHM_PAGE);
	memset(name, 0, sizeof(name));
	strscpy(name, a->name, sizeof(name));

	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	c->d = d;
	init_waitqueue_head(&c->wq);

	mutex_lock(&d->lock);
	for (slot = 0; slot < QS_MAX_CONNS && d->conns[slot]; slot++)
		;
	if (slot == QS_MAX_CONNS) {
		rc = -EUSERS;
		goto out_unlock;
	}
	for (i = 0; i < QVMSHM_NAME_MAX; i += 4) {
		memcpy(&w, name + i, 4);
		iowrite32(w, d->fac + QS_NAME + i);
	}
	/* INTx is a level: from the size write until the connection is in
	 * conns[], a notification for it would hold the line up with nothing
	 * here to read it (the handler would find nothing, again and again) */
	if (!d->msix)
		disable_irq(d->irq);
	iowrite32((u32)pages, d->fac + QS_SIZE); /* creates or attaches */
	status = ioread32(d->fac + QS_STATUS);
	if (status != QS_OK) {
		rc = qs_errno(status);
		goto out_enable;
	}
	base = ioread32(d->fac + QS_SHMEM) | (u64)ioread32(d->fac + QS_SHMEM + 4) << 32;
	npages = ioread32(d->fac + QS_SIZE);
	/* The connection exists on the device from here: the checks below
	 * end it (detach) when they fail, once its control page is mapped. */
	if (!base || !PAGE_ALIGNED(base) || !npages || npages > QS_MAX_PAGES ||
	    check_add_overflow(base, ((u64)npages + 1) * QVMSHM_PAGE, &len)) {
		dev_warn_ratelimited(&d->pdev->dev,
				     "region %s: device gave control page %#llx, %u pages\n",
				     name, base, npages);
		rc = -EIO;
		goto out_enable;
	}
	len = ((u64)npages + 1) * QVMSHM_PAGE;
	c->ctl = ioremap(base, QVMSHM_PAGE);
	if (!c->ctl) {
		rc = -ENOMEM;
		goto out_enable;
	}
	idx = ioread32(c->ctl + QS_C_IDX);
	if (idx >= QVMSHM_MAX_CLIENTS ||
	    region_intersects(base, len, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE) != REGION_DISJOINT) {
		dev_warn_ratelimited(&d->pdev->dev, "region %s: index %u or range %#llx+%#llx refused\n",
				     name, idx, base, len);
		rc = -EIO;
		goto out_detach;
	}
	c->res = request_mem_region(base, len, d->devname);
	if (!c->res) {
		dev_warn_ratelimited(&d->pdev->dev, "region %s: range %#llx+%#llx is busy\n",
				     name, base, len);
		rc = -EBUSY;
		goto out_detach;
	}
	c->base = base;
	c->pages = npages;
	c->idx = idx;

	spin_lock_irq(&d->slock);
	d->conns[slot] = c;
	qs_collect(c); /* anything that arrived before it was listed */
	a->active = c->active;
	c->active_read = c->active;
	spin_unlock_irq(&d->slock);
	if (!d->msix)
		enable_irq(d->irq);
	f->c = c;
	mutex_unlock(&d->lock);
	a->size = c->pages * QVMSHM_PAGE;
	a->idx = idx;
	return 0;

out_detach:
	iowrite32(1, c->ctl + QS_C_DETACH);
	iounmap(c->ctl);
out_enable:
	if (!d->msix)
		enable_irq(d->irq);
out_unlock:
	mutex_unlock(&d->lock);
	kfree(c);
	return rc;
}

static void qs_detach(struct qs_conn *c)
{
	struct qs_dev *d = c->d;
	unsigned int i;

	mutex_lock(&d->lock);
	if (!d->msix)
		disable_irq(d->irq); /* as in qs_attach: unlisted, not yet detached */
	spin_lock_irq(&d->slock);
	for (i = 0; i < QS_MAX_CONNS; i++)
		if (d->conns[i] == c)
			d->conns[i] = NULL;
	spin_unlock_irq(&d->slock);
	iowrite32(1, c->ctl + QS_C_DETACH); /* the device unmaps the range */
	if (!d->msix)
		enable_irq(d->irq);
	mutex_unlock(&d->lock);
	iounmap(c->ctl);
	release_mem_region(c->base, (c->pages + 1) * QVMSHM_PAGE);
	kfree(c);
}

static int qs_open(struct inode *inode, struct file *file)
{
	struct qs_dev *d = container_of(file->private_data, struct qs_dev, misc);
	struct qs_file *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return -ENOMEM;
	f->d = d;
	mutex_init(&f->lock);
	file->private_data = f;
	return stream_open(inode, file);
}

/* Runs after the last mapping of the file is gone (a mapping holds the
 * file), so detaching cannot pull memory from under user space. */
static int qs_release(struct inode *inode, struct file *file)
{
	struct qs_file *f = file->private_data;

	if (f->c)
		qs_detach(f->c);
	kfree(f);
	return 0;
}

static long qs_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct qs_file *f = file->private_data;
	void __user *up = (void __user *)arg;
	struct qvmshm_attach a;
	u32 mask;
	long rc = 0;

	switch (cmd) {
	case QVMSHM_IOC_ATTACH:
		if (copy_from_user(&a, up, sizeof(a)))
			return -EFAULT;
		mutex_lock(&f->lock);
		if (f->c)
			rc = -EBUSY; /* one connection per open file */
		else
			rc = qs_attach(f, &a);
		mutex_unlock(&f->lock);
		if (!rc && copy_to_user(up, &a, sizeof(a)))
			rc = -EFAULT; /* attached all the same; close detaches */
		return rc;
	case QVMSHM_IOC_INFO:
		mutex_lock(&f->lock);
		if (!f->c) {
			mutex_unlock(&f->lock);
			return -ENOTCONN;
		}
		memset(&a, 0, sizeof(a));
		a.size = f->c->pages * QVMSHM_PAGE;
		a.idx = f->c->idx;
		spin_lock_irq(&f->d->slock);
		a.active = f->c->active;
		spin_unlock_irq(&f->d->slock);
		mutex_unlock(&f->lock);
		return copy_to_user(up, &a, sizeof(a)) ? -EFAULT : 0;
	case QVMSHM_IOC_NOTIFY:
		if (get_user(mask, (u32 __user *)up))
			return -EFAULT;
		if (mask >> QVMSHM_MAX_CLIENTS)
			return -EINVAL; /* no such client index */
		mutex_lock(&f->lock);
		if (f->c)
			iowrite32(mask, f->c->ctl + QS_C_NOTIFY);
		else
			rc = -ENOTCONN;
		mutex_unlock(&f->lock);
		return rc;
	default:
		return -ENOTTY;
	}
}

/* Something for read(): pending bits or an active set not yet returned. */
static bool qs_ready(struct qs_conn *c, struct qvmshm_event *ev, bool take)
{
	unsigned long flags;
	bool r;

	spin_lock_irqsave(&c->d->slock, flags);
	r = c->pending || c->active != c->active_read;
	if (r && take) {
		ev->pending = c->pending;
		ev->active = c->active;
		c->pending = 0;
		c->active_read = c->active;
	}
	spin_unlock_irqrestore(&c->d->slock, flags);
	return r;
}

static ssize_t qs_read(struct file *file, char __user *buf, size_t count, loff_t *pos)
{
	struct qs_file *f = file->private_data;
	struct qs_conn *c;
	struct qvmshm_event ev;
	int rc;

	if (count < sizeof(ev))
		return -EINVAL;
	mutex_lock(&f->lock);
	c = f->c; /* set once, freed only at release: no lock needed below */
	mutex_unlock(&f->lock);
	if (!c)
		return -ENOTCONN;
	for (;;) {
		if (qs_ready(c, &ev, true))
			break;
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		rc = wait_event_interruptible(c->wq, qs_ready(c, &ev, false));
		if (rc)
			return rc;
	}
	if (copy_to_user(buf, &ev, sizeof(ev)))
		return -EFAULT;
	return sizeof(ev);
}

static __poll_t qs_poll(struct file *file, poll_table *wait)
{
	struct qs_file *f = file->private_data;
	struct qs_conn *c;
	struct qvmshm_event ev;

	mutex_lock(&f->lock);
	c = f->c;
	mutex_unlock(&f->lock);
	if (!c)
		return EPOLLERR;
	poll_wait(file, &c->wq, wait);
	return qs_ready(c, &ev, false) ? EPOLLIN | EPOLLRDNORM : 0;
}

static int qs_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct qs_file *f = file->private_data;
	unsigned long len = vma->vm_end - vma->vm_start;
	unsigned long off = vma->vm_pgoff;
	struct qs_conn *c;

	mutex_lock(&f->lock);
	c = f->c;
	mutex_unlock(&f->lock);
	if (!c)
		return -ENOTCONN;
	if (off > c->pages || (len >> PAGE_SHIFT) > c->pages - off)
		return -EINVAL; /* beyond the region's data pages */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, VM_DONTCOPY);
#else
	vma->vm_flags |= VM_DONTCOPY;
#endif
	/* host memory laid over guest-physical space: ordinary cacheable
	 * mapping (the attribute x86's PAT/MTRRs allow for the range) */
	return remap_pfn_range(vma, vma->vm_start, PHYS_PFN(c->base + QVMSHM_PAGE) + off, len,
			       vma->vm_page_prot);
}

static const struct file_operations qs_fops = {
	.owner = THIS_MODULE,
	.open = qs_open,
	.release = qs_release,
	.unlocked_ioctl = qs_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.read = qs_read,
	.poll = qs_poll,
	.mmap = qs_mmap,
	.llseek = no_llseek,
};

static int qs_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct qs_dev *d;
	u64 sig;
	int rc, n;

	d = devm_kzalloc(&pdev->dev, sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	d->pdev = pdev;
	mutex_init(&d->lock);
	spin_lock_init(&d->slock);
	rc = pcim_enable_device(pdev);
	if (rc)
		return rc;
	if (pci_resource_len(pdev, 0) < QS_FACTORY_SIZE ||
	    !(pci_resource_flags(pdev, 0) & IORESOURCE_MEM)) {
		dev_err(&pdev->dev, "BAR 0 is not a 4 KiB memory BAR\n");
		return -ENODEV;
	}
	rc = pcim_iomap_regions(pdev, BIT(0), "qvm_shm");
	if (rc)
		return rc;
	d->fac = pcim_iomap_table(pdev)[0];
	sig = ioread32(d->fac + QS_SIG) | (u64)ioread32(d->fac + QS_SIG + 4) << 32;
	if (sig != QS_SIGNATURE) {
		dev_err(&pdev->dev, "signature %#llx, not guest_shm's\n", sig);
		return -ENODEV;
	}
	pci_set_master(pdev); /* MSI-X writes */
	n = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSIX | PCI_IRQ_LEGACY);
	if (n < 0)
		return n;
	d->msix = pdev->msix_enabled;
	d->irq = pci_irq_vector(pdev, 0);
	d->id = ida_alloc(&qs_ida, GFP_KERNEL);
	if (d->id < 0) {
		rc = d->id;
		goto out_vec;
	}
	snprintf(d->devname, sizeof(d->devname), "qvmshm%d", d->id);
	rc = request_irq(d->irq, qs_interrupt, d->msix ? 0 : IRQF_SHARED, d->devname, d);
	if (rc)
		goto out_ida;
	d->misc.minor = MISC_DYNAMIC_MINOR;
	d->misc.name = d->devname;
	d->misc.fops = &qs_fops;
	d->misc.parent = &pdev->dev;
	d->misc.mode = 0600;
	rc = misc_register(&d->misc);
	if (rc)
		goto out_irq;
	pci_set_drvdata(pdev, d);
	dev_info(&pdev->dev, "/dev/%s, %s\n", d->devname, d->msix ? "MSI-X" : "INTx");
	return 0;

out_irq:
	free_irq(d->irq, d);
out_ida:
	ida_free(&qs_ida, d->id);
out_vec:
	pci_free_irq_vectors(pdev);
	return rc;
}

/* Only at module unload (manual unbinding is suppressed and an open file
 * holds the module), so no connection is left. */
static void qs_remove(struct pci_dev *pdev)
{
	struct qs_dev *d = pci_get_drvdata(pdev);

	misc_deregister(&d->misc);
	free_irq(d->irq, d);
	pci_free_irq_vectors(pdev);
	ida_free(&qs_ida, d->id);
}

static const struct pci_device_id qs_ids[] = {
	{ PCI_DEVICE(0x1c05, 0x0001) },
	{ }
};
MODULE_DEVICE_TABLE(pci, qs_ids);

static struct pci_driver qs_driver = {
	.name = "qvm_shm",
	.id_table = qs_ids,
	.probe = qs_probe,
	.remove = qs_remove,
	.driver.suppress_bind_attrs = true,
};

static int __init qs_init(void)
{
	BUILD_BUG_ON(PAGE_SIZE != QVMSHM_PAGE); /* the device's pages are 4 KiB */
	return pci_register_driver(&qs_driver);
}

static void __exit qs_exit(void)
{
	pci_unregister_driver(&qs_driver);
	ida_destroy(&qs_ida);
}

module_init(qs_init);
module_exit(qs_exit);
MODULE_DESCRIPTION("qvm vdev shmem (guest_shm register layout) guest driver");
MODULE_LICENSE("GPL");
