//! Raw TCP baseline for `cargo xtask bench transport`: the same round
//! trips and bulk transfer the roam transport does, over a plain TCP
//! connection between the same guests, with no framing or MAC.
//!
//! `tcp_pingpong server PORT SECONDS` serves until SECONDS pass;
//! `tcp_pingpong client IP PORT rtt|bulk COUNT SIZE` prints
//! `elapsed_ns=N done=N`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn serve(mut s: TcpStream) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    let mut head = [0u8; 9];
    s.read_exact(&mut head)?;
    let mode = head[0];
    let count = u32::from_le_bytes(head[1..5].try_into().unwrap());
    let size = u32::from_le_bytes(head[5..9].try_into().unwrap()) as usize;
    let mut buf = vec![0u8; size.max(1)];
    for _ in 0..count {
        s.read_exact(&mut buf[..size])?;
        if mode == 0 {
            s.write_all(&buf[..size])?;
        }
    }
    if mode == 1 {
        s.write_all(&[1])?;
    }
    Ok(())
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    match a.get(1).map(String::as_str) {
        Some("server") if a.len() == 4 => {
            let l = TcpListener::bind(("0.0.0.0", a[2].parse::<u16>().expect("PORT"))).expect("bind");
            l.set_nonblocking(true).expect("nonblocking");
            let until = Instant::now() + Duration::from_secs(a[3].parse().expect("SECONDS"));
            while Instant::now() < until {
                match l.accept() {
                    Ok((s, _)) => {
                        s.set_nonblocking(false).expect("blocking");
                        if let Err(e) = serve(s) {
                            eprintln!("tcp_pingpong: {e}");
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
        Some("client") if a.len() == 7 => {
            let mode: u8 = if a[4] == "bulk" { 1 } else { 0 };
            let count: u32 = a[5].parse().expect("COUNT");
            let size: u32 = a[6].parse().expect("SIZE");
            let mut s = TcpStream::connect((a[2].as_str(), a[3].parse::<u16>().expect("PORT"))).expect("connect");
            s.set_nodelay(true).expect("nodelay");
            s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
            let mut head = vec![mode];
            head.extend_from_slice(&count.to_le_bytes());
            head.extend_from_slice(&size.to_le_bytes());
            s.write_all(&head).expect("send header");
            let buf = vec![0x5au8; size as usize];
            let mut back = vec![0u8; size as usize];
            let start = Instant::now();
            let mut done = 0;
            for _ in 0..count {
                s.write_all(&buf).expect("send");
                if mode == 0 {
                    s.read_exact(&mut back).expect("receive");
                }
                done += 1;
            }
            if mode == 1 {
                let mut one = [0u8; 1];
                s.read_exact(&mut one).expect("final ack");
            }
            println!("elapsed_ns={} done={done}", start.elapsed().as_nanos());
        }
        _ => {
            eprintln!("usage: tcp_pingpong server PORT SECONDS | client IP PORT rtt|bulk COUNT SIZE");
            std::process::exit(2);
        }
    }
}
