//! This machine's IPv4 addresses, to find which cluster node it is.

use std::io;

/// Every IPv4 address on any interface, in host byte order.
pub fn local_ipv4s() -> io::Result<Vec<u32>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `head` is a valid place for getifaddrs to store the pointer
    // to the list it allocates; nothing else is passed.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a non-null node of the list getifaddrs returned,
        // which stays allocated until the freeifaddrs call below; only
        // copies of its fields leave this loop.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: a non-null `ifa_addr` points to a sockaddr, whose
            // family field every sockaddr variant starts with.
            let family = unsafe { (*ifa.ifa_addr).sa_family };
            if i32::from(family) == libc::AF_INET {
                // SAFETY: family AF_INET means the kernel filled a
                // `sockaddr_in` there (glibc allocates it as such).
                let sin = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in>() };
                out.push(u32::from_be(sin.sin_addr.s_addr));
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from a successful getifaddrs, is freed once, and
    // no reference into the list outlives this point.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_addresses() {
        let ips = local_ipv4s().expect("getifaddrs works");
        // Loopback is there whenever `lo` is up; every address is a real one.
        assert!(ips.iter().all(|&ip| ip != 0), "{ips:x?}");
    }
}
