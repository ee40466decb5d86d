/* Appended to rust/bindings/bindings_helper.h by `cargo xtask kernel`:
 * the C interfaces roam.ko wraps in kmod/sys/ (the 6.12 kernel crate has no
 * abstractions for them yet). Part of the kernel cache key. */
#include <linux/miscdevice.h>
#include <linux/kobject.h>
#include <linux/sysfs.h>
#include <linux/net.h>
#include <linux/in.h>
#include <linux/socket.h>
#include <net/sock.h>
#include <linux/tcp.h>
#include <crypto/hash.h>
#include <linux/task_work.h>
#include <linux/tracepoint.h>
#include <linux/capability.h>
#include <linux/utsname.h>
#include <linux/mm.h>
#include <linux/kthread.h>
#include <linux/random.h>
#include <linux/cpumask.h>
