// SPDX-License-Identifier: GPL-2.0

//! Misc character devices (`/dev/NAME`) that answer ioctls.
//!
//! Each open file holds a reference to the handler (an [`Arc`]), taken in
//! `open` and dropped in `release`, so an ioctl never sees a freed handler
//! even if the [`Registration`] is dropped while files are still open. The
//! module's code itself stays loaded while files are open because the
//! file operations name the module as their owner.

use kernel::ffi::{c_int, c_long, c_uint, c_ulong, c_void};
use kernel::{
    bindings,
    prelude::*,
    sync::Arc,
    types::{ForeignOwnable, Opaque},
};

/// What a misc device does with the ioctls sent to it.
pub(crate) trait IoctlHandler: Send + Sync + 'static {
    /// Handles ioctl `cmd` whose user argument is `arg` (usually a user
    /// pointer). Unknown commands must return `ENOTTY`.
    fn ioctl(&self, cmd: u32, arg: usize) -> Result<i32>;
}

/// The C objects of one registration; pinned because the misc core keeps
/// pointers to both.
#[pin_data]
struct Inner<T: IoctlHandler> {
    #[pin]
    misc: Opaque<bindings::miscdevice>,
    #[pin]
    fops: Opaque<bindings::file_operations>,
    handler: Arc<T>,
}

/// A registered misc device.
///
/// # Invariants
///
/// `inner.misc` was successfully passed to `misc_register` and not yet to
/// `misc_deregister`; `inner.misc.fops` points to `inner.fops`, whose
/// `open` stores an `Arc<T>` (from [`ForeignOwnable::into_foreign`]) in
/// `file->private_data`, which `release` gives back.
pub(crate) struct Registration<T: IoctlHandler> {
    inner: Pin<KBox<Inner<T>>>,
}

// SAFETY: the C objects are only touched by the misc core under its own
// locking and by `Drop`; the handler is `Send + Sync`.
unsafe impl<T: IoctlHandler> Send for Registration<T> {}
// SAFETY: `&Registration` gives access to nothing; see `Send`.
unsafe impl<T: IoctlHandler> Sync for Registration<T> {}

impl<T: IoctlHandler> Registration<T> {
    /// Creates `/dev/NAME` with permissions `mode`, owned by `module`.
    pub(crate) fn register(
        name: &'static CStr,
        mode: u16,
        module: &'static ThisModule,
        handler: T,
    ) -> Result<Self> {
        let handler = Arc::new(handler, GFP_KERNEL)?;
        let inner = KBox::pin_init(
            pin_init!(Inner {
                // SAFETY: both are plain C structs of integers, pointers and
                // optional function pointers, for which all-zero is valid.
                misc: Opaque::new(unsafe { core::mem::zeroed() }),
                // SAFETY: as above.
                fops: Opaque::new(unsafe { core::mem::zeroed() }),
                handler,
            }),
            GFP_KERNEL,
        )?;
        let fops = inner.fops.get();
        let misc = inner.misc.get();
        // SAFETY: `fops` and `misc` point into the pinned allocation we own
        // and nothing else knows about yet, so writing them cannot race.
        unsafe {
            (*fops).owner = module.as_ptr();
            (*fops).open = Some(open_callback::<T>);
            (*fops).release = Some(release_callback::<T>);
            (*fops).unlocked_ioctl = Some(ioctl_callback::<T>);
            (*fops).llseek = Some(bindings::noop_llseek);
            (*misc).minor = bindings::MISC_DYNAMIC_MINOR as c_int;
            (*misc).name = name.as_char_ptr();
            (*misc).fops = fops;
            (*misc).mode = mode;
        }
        // SAFETY: `misc` is fully initialised, pinned, and stays valid until
        // `Drop` deregisters it (the allocation lives as long as `self`).
        kernel::error::to_result(unsafe { bindings::misc_register(misc) })?;
        // INVARIANT: registered just above with `fops` set up as described.
        Ok(Registration { inner })
    }
}

impl<T: IoctlHandler> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `misc` is registered; after this call
        // no new `open` can find it. Files still open keep their own `Arc`.
        unsafe { bindings::misc_deregister(self.inner.misc.get()) };
    }
}

/// # Safety
///
/// Called by the VFS through `misc_open`, which put the `miscdevice` in
/// `file->private_data` and holds `misc_mtx`, so the device is registered
/// and its [`Inner`] alive for the duration of the call.
unsafe extern "C" fn open_callback<T: IoctlHandler>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `file` is valid for the call; `misc_open` stored our
    // `miscdevice` in `private_data` just before calling us.
    let misc = unsafe { (*file).private_data }.cast::<bindings::miscdevice>();
    // SAFETY: `misc` is the `misc` field of an `Inner<T>` (we registered no
    // other), `Opaque` is `repr(transparent)`, and `Inner` is alive because
    // `misc_mtx` keeps `misc_deregister` out while we run.
    let inner = unsafe { &*kernel::container_of!(misc, Inner<T>, misc) };
    let handler = inner.handler.clone();
    // SAFETY: `file` is valid; `release_callback` takes the reference back.
    unsafe { (*file).private_data = handler.into_foreign() as *mut c_void };
    0
}

/// # Safety
///
/// Called by the VFS once per file opened through [`open_callback`].
unsafe extern "C" fn release_callback<T: IoctlHandler>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `private_data` holds the `Arc<T>` stored by `open_callback`,
    // and release is called exactly once per open file.
    drop(unsafe { <Arc<T> as ForeignOwnable>::from_foreign((*file).private_data) });
    0
}

/// # Safety
///
/// Called by the VFS for a file opened through [`open_callback`] and not
/// yet released.
unsafe extern "C" fn ioctl_callback<T: IoctlHandler>(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
) -> c_long {
    // SAFETY: the file is open, so `private_data` holds the `Arc<T>` from
    // `open_callback`, which stays alive until `release_callback`.
    let handler = unsafe { <Arc<T> as ForeignOwnable>::borrow((*file).private_data) };
    match handler.ioctl(cmd, arg as usize) {
        Ok(v) => v as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}
