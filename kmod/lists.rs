// SPDX-License-Identifier: GPL-2.0

//! Fallible list helpers for `KVec`: filtering and splitting that reserve
//! their memory first, so an allocation failure leaves the list as it was.
//! Used by every layer above `sys`; imports nothing of roam's.

use kernel::prelude::*;

/// Keeps the elements matching `keep`. Memory is reserved first, so on
/// failure `v` is unchanged.
pub(crate) fn retain<T: Copy>(v: &mut KVec<T>, keep: impl Fn(&T) -> bool) -> Result {
    let mut out = KVec::with_capacity(v.len(), GFP_KERNEL)?;
    for x in v.iter() {
        if keep(x) {
            // Cannot fail: capacity reserved above.
            let _ = out.push(*x, GFP_KERNEL);
        }
    }
    *v = out;
    Ok(())
}

/// Keeps the elements matching `keep`, moving them (see [`retain`]); the
/// others are dropped.
pub(crate) fn retain_owned<T>(v: &mut KVec<T>, keep: impl Fn(&T) -> bool) -> Result {
    take_where(v, |x| !keep(x)).map(drop)
}

/// Removes the elements of `v` matching `take` and returns them, keeping
/// the order of both. Memory is reserved first, so on failure nothing
/// moves.
pub(crate) fn take_where<T>(v: &mut KVec<T>, take: impl Fn(&T) -> bool) -> Result<KVec<T>> {
    let mut out = KVec::new();
    split_off(v, &mut out, take)?;
    Ok(out)
}

/// Moves the elements of `v` matching `take` to the end of `out`, keeping
/// the order of both. Memory is reserved first, so on failure nothing
/// moves.
pub(crate) fn split_off<T>(v: &mut KVec<T>, out: &mut KVec<T>, take: impl Fn(&T) -> bool) -> Result {
    // Room for every element on both sides: `take` is called once per
    // element, after the allocations (it may read state that changes).
    let mut keep = KVec::with_capacity(v.len(), GFP_KERNEL)?;
    out.reserve(v.len(), GFP_KERNEL)?;
    for x in core::mem::take(v) {
        // Cannot fail: capacity reserved above.
        let _ = if take(&x) { out.push(x, GFP_KERNEL) } else { keep.push(x, GFP_KERNEL) };
    }
    *v = keep;
    Ok(())
}
