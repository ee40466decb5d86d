// SPDX-License-Identifier: GPL-2.0

//! HMAC-SHA256 through the kernel crypto API.

use kernel::{bindings, c_str, prelude::*};

/// Length of an HMAC-SHA256 tag.
pub(crate) const TAG_LEN: usize = 32;

/// An `hmac(sha256)` transform keyed once at creation.
///
/// # Invariants
///
/// `tfm` is a valid shash transform from `crypto_alloc_shash`, keyed, owned
/// by this value and freed exactly once in `Drop`. It is never re-keyed, so
/// concurrent digests (each with its own on-stack descriptor inside
/// `crypto_shash_tfm_digest`) are safe.
pub(crate) struct HmacSha256 {
    tfm: *mut bindings::crypto_shash,
}

// SAFETY: the transform is immutable after keying; digests are reentrant.
unsafe impl Send for HmacSha256 {}
// SAFETY: see `Send`.
unsafe impl Sync for HmacSha256 {}

impl HmacSha256 {
    /// Allocates the transform and sets `key`.
    pub(crate) fn new(key: &[u8]) -> Result<Self> {
        // SAFETY: the algorithm name is a NUL-terminated static string.
        let tfm = unsafe { bindings::crypto_alloc_shash(c_str!("hmac(sha256)").as_char_ptr(), 0, 0) };
        // SAFETY: IS_ERR only inspects the pointer value.
        if unsafe { bindings::IS_ERR(tfm.cast()) } {
            // SAFETY: as above.
            let e = unsafe { bindings::PTR_ERR(tfm.cast()) } as i32;
            pr_err!("cannot allocate hmac(sha256): error {} (is CONFIG_CRYPTO_HMAC/SHA256 set?)\n", e);
            return Err(Error::from_errno(e));
        }
        // INVARIANT: allocated above; keyed below before any digest.
        let h = HmacSha256 { tfm };
        // SAFETY: `tfm` is valid; `key` is valid for `key.len()` bytes.
        let ret = unsafe { bindings::crypto_shash_setkey(h.tfm, key.as_ptr(), key.len() as u32) };
        kernel::error::to_result(ret)?;
        Ok(h)
    }

    /// The tag of `data`.
    pub(crate) fn digest(&self, data: &[u8]) -> Result<[u8; TAG_LEN]> {
        let mut out = [0u8; TAG_LEN];
        // SAFETY: `tfm` is valid and keyed; `data` is readable for its
        // length; `out` has room for the 32-byte digest.
        let ret = unsafe { bindings::crypto_shash_tfm_digest(self.tfm, data.as_ptr(), data.len() as u32, out.as_mut_ptr()) };
        kernel::error::to_result(ret)?;
        Ok(out)
    }
}

impl Drop for HmacSha256 {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we own `tfm`; this is what the inline
        // `crypto_free_shash` does.
        unsafe { bindings::crypto_destroy_tfm(self.tfm.cast(), &raw mut (*self.tfm).base) };
    }
}
