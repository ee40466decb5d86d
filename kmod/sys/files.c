// SPDX-License-Identifier: GPL-2.0
/*
 * Files behind memory areas, for migrations that let the destination map
 * an area from its own copy of a file instead of receiving its pages.
 *
 * roam_area_clean_file() says whether the area starting at an address of
 * the current mm is a private mapping of a regular file that holds no
 * page of its own: with no anon_vma, no page in it was ever written (a
 * write to a private mapping, even one forced through ptrace, allocates
 * the anon_vma first), so every byte it shows is the file's. Shared
 * mappings (even read-only ones), huge pages and device memory are never
 * such areas.
 *
 * The hash is SHA-256 of the file's bytes in a range, read with
 * kernel_read in 64 KiB pieces; a fatal signal ends it (-EINTR).
 */
#include <linux/dcache.h>
#include <linux/err.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <crypto/sha2.h>
#include "files.h"

struct file *roam_area_clean_file(unsigned long start)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	struct file *f = NULL;
	const vm_flags_t no = VM_SHARED | VM_MAYSHARE | VM_IO | VM_PFNMAP |
			      VM_MIXEDMAP | VM_HUGETLB;

	if (!mm)
		return NULL;
	mmap_read_lock(mm);
	vma = vma_lookup(mm, start);
	if (vma && vma->vm_start == start && vma->vm_file && !vma->anon_vma &&
	    !(vma->vm_flags & no) &&
	    S_ISREG(file_inode(vma->vm_file)->i_mode))
		f = get_file(vma->vm_file);
	mmap_read_unlock(mm);
	return f;
}

int roam_file_id(struct file *f, struct roam_file_id *id)
{
	struct inode *inode = file_inode(f);
	struct timespec64 m = inode_get_mtime(inode);
	struct timespec64 c = inode_get_ctime(inode);

	if (!S_ISREG(inode->i_mode))
		return -EINVAL;
	id->dev = inode->i_sb->s_dev;
	id->ino = inode->i_ino;
	id->size = i_size_read(inode);
	id->mtime_ns = timespec64_to_ns(&m);
	id->ctime_ns = timespec64_to_ns(&c);
	id->mode = inode->i_mode;
	id->pad = 0;
	return 0;
}

int roam_file_path(struct file *f, char *buf, int len)
{
	char *p = d_path(&f->f_path, buf, len);
	int n;

	if (IS_ERR(p))
		return PTR_ERR(p);
	n = strlen(p);
	memmove(buf, p, n + 1);
	return n;
}

int roam_file_sha256(struct file *f, u64 off, u64 len, u8 *out)
{
	struct sha256_state st;
	loff_t pos = off;
	u64 left = len;
	void *buf;

	if (!(f->f_mode & FMODE_READ))
		return -EBADF;
	buf = kvmalloc(SZ_64K, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	sha256_init(&st);
	while (left) {
		ssize_t r = kernel_read(f, buf, min_t(u64, left, SZ_64K), &pos);

		if (r < 0 || fatal_signal_pending(current)) {
			kvfree(buf);
			return r < 0 ? r : -EINTR;
		}
		if (r == 0)
			break;
		sha256_update(&st, buf, r);
		left -= r;
		cond_resched();
	}
	sha256_final(&st, out);
	kvfree(buf);
	return 0;
}

struct file *roam_file_open_as(const char *path, int write, int *err)
{
	int flags = (write ? O_WRONLY : O_RDONLY) | O_LARGEFILE | O_CLOEXEC;
	struct file *f = filp_open(path, flags, 0);

	if (IS_ERR(f)) {
		*err = PTR_ERR(f);
		return NULL;
	}
	return f;
}

void roam_file_put(struct file *f)
{
	fput(f);
}

long roam_file_map(struct file *f, u64 addr, u64 len, u32 prot, u64 off)
{
	return (long)vm_mmap(f, addr, len, prot, MAP_PRIVATE | MAP_FIXED, off);
}

/*
 * Files of /proc whose operations have ->read/->write but no iterators
 * (pagemap, clear_refs): kernel_read/kernel_write refuse them, so they
 * are called as read(2)/write(2) would, on a buffer of the current mm.
 * Every copy goes through copy_to_user/copy_from_user, which check the
 * address.
 */
long roam_file_read_user(struct file *f, unsigned long ubuf, size_t len, loff_t pos)
{
	if (!(f->f_mode & FMODE_READ) || !f->f_op->read)
		return -EINVAL;
	return f->f_op->read(f, (char __user *)ubuf, len, &pos);
}

long roam_file_write_user(struct file *f, unsigned long ubuf, size_t len, loff_t pos)
{
	if (!(f->f_mode & FMODE_WRITE) || !f->f_op->write)
		return -EINVAL;
	return f->f_op->write(f, (const char __user *)ubuf, len, &pos);
}
