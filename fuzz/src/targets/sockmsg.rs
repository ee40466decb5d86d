//! `sockmsg`: the message images that carry `sendmsg`'s and `recvmsg`'s
//! `msghdr` ([`roam_proto::sockmsg`]). A request image is what a deputy
//! lays out in its scratch area (`kmod/migrate/sockmsg.rs`, `place`); an
//! answer image is what a remote writes into the program's memory
//! (`unpack`).
//!
//! The first input byte picks how the rest is read: bit 0 a send request
//! (else a receive request), bit 1 an answer instead, read with the
//! address capacity in the second byte. Checks: a decoded image
//! re-encodes to the same bytes; no part is longer than its maximum; an
//! answer's address is no longer than the capacity; a receive request
//! carries no bytes; the deputy's layout of any image stays inside
//! [`SCRATCH`].

use crate::ensure;
use crate::target::{Cx, Target, Violation};
use roam_proto::sockmsg::{
    answer_parts, decode, encode, layout, request_parts, Image, CONTROL_MAX, DATA_MAX, HEAD, NAME_MAX, SCRATCH,
};

/// The `sockmsg` target.
pub struct SockMsg;

fn image(img: &Image<'_>) -> Vec<u8> {
    let mut out = vec![0u8; img.len()];
    let n = encode(img, &mut out).expect("a seed image encodes");
    out.truncate(n);
    out
}

impl Target for SockMsg {
    fn name(&self) -> &'static str {
        "sockmsg"
    }

    fn about(&self) -> &'static str {
        "sendmsg/recvmsg message images: requests as the deputy lays them out, answers as the remote writes them back"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let name = [2u8, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        let ctl = [0x14u8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0];
        let send = Image { has_name: true, has_control: true, namelen: 16, controllen: 20, flags: 0, datalen: 5, name: &name, control: &ctl, data: b"hello" };
        let recv = Image { has_name: true, has_control: true, namelen: 16, controllen: 64, flags: 0, datalen: 4096, ..Image::default() };
        let answer = Image { has_name: true, has_control: true, namelen: 16, controllen: 20, flags: 0x20, datalen: 3, name: &name, control: &ctl, data: b"abc" };
        vec![
            [vec![1, 0], image(&send)].concat(),
            [vec![0, 0], image(&recv)].concat(),
            [vec![2, 16], image(&answer)].concat(),
        ]
    }

    fn max_len(&self) -> usize {
        2 + HEAD + NAME_MAX + CONTROL_MAX + 256
    }

    fn run(&self, data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
        let [mode, cap, ref buf @ ..] = *data else { return Ok(()) };
        let (answer, send) = (mode & 2 != 0, mode & 1 != 0);
        let parts = if answer { answer_parts(buf, usize::from(cap)) } else { request_parts(buf, send) };
        let Ok(parts) = parts else {
            cx.hit("parts", "refused");
            return Ok(());
        };
        let Ok(img) = decode(buf, parts) else {
            cx.hit("decode", "refused");
            return Ok(());
        };
        cx.hit("decode", if answer { "answer" } else if send { "send" } else { "receive" });
        ensure!(img.name.len() <= NAME_MAX && img.control.len() <= CONTROL_MAX && img.data.len() <= DATA_MAX, "a part beyond its maximum: {parts:?}");
        if answer {
            ensure!(img.name.len() <= usize::from(cap), "{} address bytes for a capacity of {cap}", img.name.len());
        } else if !send {
            ensure!(img.is_empty(), "a receive request carries {parts:?}");
        }
        let mut again = vec![0u8; img.len()];
        ensure!(encode(&img, &mut again) == Ok(buf.len()) && again == buf, "the image does not re-encode to its bytes");
        let (mh, _, name, control, data_at) = layout(0x10000);
        ensure!(name + img.name.len() as u64 <= control && control + img.control.len() as u64 <= data_at, "parts overlap in the layout");
        ensure!(data_at + img.data.len() as u64 <= mh + SCRATCH as u64, "the data runs past the scratch room");
        Ok(())
    }
}
