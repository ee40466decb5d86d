// SPDX-License-Identifier: GPL-2.0

//! The transport's one way up: the [`FrameSink`] it hands frames about
//! processes to, so that `cluster` never names the migration engine that
//! implements it. Calls nothing.

/// Where the transport hands frames about processes, and news of a node
/// going down (the migration engine).
pub(crate) trait FrameSink: Send + Sync {
    /// A frame of type `ty` (Migrate, Proc, Call, Ret) from node `from`.
    fn on_frame(&self, from: u32, ty: crate::wire::MsgType, id: u32, payload: &[u8]);
    /// Node `node` was declared down.
    fn node_down(&self, node: u32);
}
