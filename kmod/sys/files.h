/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Files behind memory areas (kmod/sys/files.c): what an area maps, the
 * identity and content hash of a file, opening one by path, and mapping
 * one privately into the current mm. The Rust side is kmod/sys/files.rs.
 */
#ifndef ROAM_FILES_H
#define ROAM_FILES_H

#include <linux/types.h>

struct file;

/* What identifies a file's content for a cache of its hashes. */
struct roam_file_id {
	u64 dev;
	u64 ino;
	u64 size;
	s64 mtime_ns;
	s64 ctime_ns;
	u32 mode;
	u32 pad;
};

struct file *roam_area_clean_file(unsigned long start);
int roam_file_id(struct file *f, struct roam_file_id *id);
int roam_file_path(struct file *f, char *buf, int len);
int roam_file_sha256(struct file *f, u64 off, u64 len, u8 *out);
struct file *roam_file_open_as(const char *path, int write, int *err);
long roam_file_read_user(struct file *f, unsigned long ubuf, size_t len, loff_t pos);
long roam_file_write_user(struct file *f, unsigned long ubuf, size_t len, loff_t pos);
void roam_file_put(struct file *f);
long roam_file_map(struct file *f, u64 addr, u64 len, u32 prot, u64 off);

#endif
