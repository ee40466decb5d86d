// SPDX-License-Identifier: GPL-2.0

//! A directory under `/sys/kernel/` whose attribute files are served by a
//! Rust handler.
//!
//! Removing the directory (`kobject_del`) waits for every `show`/`store`
//! call in flight to finish and stops new ones, so the handler only has to
//! outlive the [`Dir`] that owns it.

use kernel::ffi::c_char;
use kernel::{bindings, prelude::*, sync::Arc, types::Opaque};

/// One attribute file: its name and permission bits. Files without any
/// write bit get no `store` callback, so a write fails in the VFS.
#[derive(Clone, Copy)]
pub(crate) struct AttrSpec {
    pub(crate) name: &'static CStr,
    pub(crate) mode: u16,
}

/// What the attribute files of a [`Dir`] show and accept. `index` is the
/// position of the file in the `specs` passed to [`Dir::create`].
pub(crate) trait AttrHandler: Send + Sync + 'static {
    /// Writes the file's contents into `out`.
    fn show(&self, index: usize, out: &mut PageWriter<'_>) -> Result;
    /// Takes the bytes written to the file (exactly what userspace wrote).
    fn store(&self, index: usize, input: &[u8]) -> Result;
}

/// The sysfs page a `show` fills, never past its end.
///
/// # Invariants
///
/// `buf` is valid for writes of `PAGE_SIZE` bytes for `'a`, and
/// `len < PAGE_SIZE`.
pub(crate) struct PageWriter<'a> {
    buf: *mut u8,
    len: usize,
    _page: core::marker::PhantomData<&'a mut [u8]>,
}

impl core::fmt::Write for PageWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        // Keep one byte free, as sysfs_emit does, for the terminating NUL.
        let room = bindings::PAGE_SIZE as usize - 1 - self.len;
        if s.len() > room {
            return Err(core::fmt::Error);
        }
        // SAFETY: by the type invariant `buf` has `PAGE_SIZE` writable bytes
        // and `len + s.len() < PAGE_SIZE`; `s` cannot overlap the page.
        unsafe {
            core::ptr::copy_nonoverlapping(s.as_ptr(), self.buf.add(self.len), s.len())
        };
        // INVARIANT: checked against `room` above.
        self.len += s.len();
        Ok(())
    }
}

/// One attribute as sysfs sees it, with the way back to its handler.
#[repr(C)]
struct Attr<T: AttrHandler> {
    kattr: Opaque<bindings::kobj_attribute>,
    index: usize,
    handler: *const T,
}

/// A `/sys/kernel/NAME/` directory with its files.
///
/// # Invariants
///
/// `kobj` is a live kobject created by `kobject_create_and_add` that we
/// hold one reference to; every `Attr` in `attrs` whose file was created
/// points to `handler`'s data, which lives as long as `self`.
pub(crate) struct Dir<T: AttrHandler> {
    kobj: *mut bindings::kobject,
    attrs: KVec<Pin<KBox<Attr<T>>>>,
    handler: Arc<T>,
}

// SAFETY: the kobject is only used through the thread-safe kobject and sysfs
// APIs; the raw pointers in `attrs` point at `handler`, which is `Sync`.
unsafe impl<T: AttrHandler> Send for Dir<T> {}
// SAFETY: `&Dir` exposes nothing; see `Send`.
unsafe impl<T: AttrHandler> Sync for Dir<T> {}

impl<T: AttrHandler> Dir<T> {
    /// Creates `/sys/kernel/NAME/` with one file per entry of `specs`.
    pub(crate) fn create(name: &'static CStr, specs: &[AttrSpec], handler: T) -> Result<Self> {
        let handler = Arc::new(handler, GFP_KERNEL)?;
        let mut attrs = KVec::with_capacity(specs.len(), GFP_KERNEL)?;
        let key = kernel::static_lock_class!();
        for (index, spec) in specs.iter().enumerate() {
            // SAFETY: `kobj_attribute` is plain C data (a name pointer, a
            // mode, optional lockdep key, optional callbacks); zero is valid.
            let kattr: bindings::kobj_attribute = unsafe { core::mem::zeroed() };
            let attr = KBox::pin(
                Attr { kattr: Opaque::new(kattr), index, handler: &*handler as *const T },
                GFP_KERNEL,
            )?;
            let ka = attr.kattr.get();
            // SAFETY: `ka` points into the allocation we own, not yet shared.
            unsafe {
                (*ka).attr.name = spec.name.as_char_ptr();
                (*ka).attr.mode = spec.mode;
                (*ka).show = Some(show_callback::<T>);
                if spec.mode & 0o222 != 0 {
                    (*ka).store = Some(store_callback::<T>);
                }
            }
            #[cfg(CONFIG_DEBUG_LOCK_ALLOC)]
            // SAFETY: as above. Dynamically allocated attributes need a static
            // lockdep key (what `sysfs_attr_init` does in C); `LockClassKey`
            // is `repr(transparent)` over the C `lock_class_key`.
            unsafe {
                (*ka).attr.key = (key as *const kernel::sync::LockClassKey)
                    .cast_mut()
                    .cast::<bindings::lock_class_key>();
            }
            let _ = key;
            attrs.push(attr, GFP_KERNEL)?;
        }

        // SAFETY: `kernel_kobj` is set up at boot and never freed; `name` is a
        // NUL-terminated static string.
        let kobj = unsafe { bindings::kobject_create_and_add(name.as_char_ptr(), bindings::kernel_kobj) };
        if kobj.is_null() {
            return Err(EEXIST);
        }
        // INVARIANT: `kobj` was just created and we hold its reference; the
        // attributes point at `handler`, stored alongside.
        let dir = Dir { kobj, attrs, handler };
        for attr in dir.attrs.iter() {
            // SAFETY: `kobj` is live; the attribute is pinned and lives as
            // long as `dir`, whose `Drop` removes the directory first.
            let ret = unsafe {
                bindings::sysfs_create_file_ns(dir.kobj, &raw mut (*attr.kattr.get()).attr, core::ptr::null())
            };
            // On error `dir` is dropped, which removes what was created.
            kernel::error::to_result(ret)?;
        }
        Ok(dir)
    }
}

impl<T: AttrHandler> Drop for Dir<T> {
    fn drop(&mut self) {
        // The attributes and the handler are freed only after this, when the
        // fields drop.
        // SAFETY: `kobj` is live and ours (type invariant); `kobject_del`
        // waits for running callbacks, then we drop our reference.
        unsafe {
            bindings::kobject_del(self.kobj);
            bindings::kobject_put(self.kobj);
        }
        let _ = &self.handler;
    }
}

/// # Safety
///
/// Called by sysfs for an attribute created by [`Dir::create`] while its
/// directory exists, with `buf` a `PAGE_SIZE` buffer.
unsafe extern "C" fn show_callback<T: AttrHandler>(
    _kobj: *mut bindings::kobject,
    kattr: *mut bindings::kobj_attribute,
    buf: *mut c_char,
) -> isize {
    // Every `kobj_attribute` we register is the first field of an `Attr<T>`
    // (`repr(C)`, `Opaque` is transparent).
    // SAFETY: that `Attr` is alive while sysfs may call us, and its handler
    // as long as the directory (type invariant of `Dir`).
    let (index, handler) = unsafe {
        let attr = &*kernel::container_of!(kattr, Attr<T>, kattr);
        (attr.index, &*attr.handler)
    };
    // INVARIANT: sysfs hands `show` a zeroed page of `PAGE_SIZE` bytes.
    let mut out = PageWriter { buf: buf.cast(), len: 0, _page: core::marker::PhantomData };
    match handler.show(index, &mut out) {
        Ok(()) => out.len as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// # Safety
///
/// Called by sysfs for a writable attribute created by [`Dir::create`] while
/// its directory exists, with `buf` holding `count` bytes.
unsafe extern "C" fn store_callback<T: AttrHandler>(
    _kobj: *mut bindings::kobject,
    kattr: *mut bindings::kobj_attribute,
    buf: *const c_char,
    count: usize,
) -> isize {
    // SAFETY: as in `show_callback`.
    let (index, handler) = unsafe {
        let attr = &*kernel::container_of!(kattr, Attr<T>, kattr);
        (attr.index, &*attr.handler)
    };
    // SAFETY: sysfs copied the user's `count` bytes into `buf`, which stays
    // valid and unchanged for the duration of the call.
    let input = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), count) };
    match handler.store(index, input) {
        Ok(()) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}
