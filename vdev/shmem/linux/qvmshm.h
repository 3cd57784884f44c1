/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * qvmshm: the user-space interface of the qvm_shm guest driver (this
 * folder's README). One character device /dev/qvmshmN per `vdev shmem`
 * function; each open file is one connection to one named region:
 *
 *   ioctl(fd, QVMSHM_IOC_ATTACH, &a)  create (a.size bytes, rounded up to
 *                                      4 KiB pages; 0: only attach) or
 *                                      attach region a.name; a.size then
 *                                      holds the region's data size, a.idx
 *                                      this client's index, a.active the
 *                                      active-clients bitset
 *   mmap(fd, offset 0.. a.size)        the data pages (memory, not trapped)
 *   ioctl(fd, QVMSHM_IOC_NOTIFY, &m)   interrupt the clients in bitset m
 *   read(fd, &ev, sizeof ev)           block for notifications: ev.pending
 *                                      (bit i: client i notified us since
 *                                      the last read), ev.active
 *   poll(fd, POLLIN)                   readable when read would not block
 *   close(fd)                          detach (after the last munmap)
 *
 * Included by the kernel module and by user programs (qvm-shmtest).
 */
#ifndef QVMSHM_H
#define QVMSHM_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define QVMSHM_NAME_MAX 32          /* bytes, the terminating NUL included */
#define QVMSHM_MAX_CLIENTS 16
#define QVMSHM_PAGE 4096u
#define QVMSHM_MAX_BYTES (1ull << 30) /* the device's limit: 2^18 pages */

struct qvmshm_attach {
	char name[QVMSHM_NAME_MAX]; /* in: 1-31 of [A-Za-z0-9._-], not starting with '.' */
	__u64 size;                 /* in: bytes to create with (0: attach only); out: data bytes */
	__u32 idx;                  /* out: this client's index (0-15) */
	__u32 active;               /* out: active-clients bitset */
};

struct qvmshm_event {
	__u32 pending; /* bit i: client i notified this one */
	__u32 active;  /* active-clients bitset now */
};

#define QVMSHM_IOC_ATTACH _IOWR('Q', 0x51, struct qvmshm_attach)
#define QVMSHM_IOC_NOTIFY _IOW('Q', 0x52, __u32)
#define QVMSHM_IOC_INFO _IOR('Q', 0x53, struct qvmshm_attach)

#endif
