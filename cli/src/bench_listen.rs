//! `synq bench listen`: the passive-open path of synq next to the kernel's, in the same run.
//!
//! - SYN → SYN-ACK with a request sock kept, and SYN → cookie SYN-ACK (`tcp_syncookies` 2):
//!   synq in memory on one core; the kernel fed the same SYN stream through a TUN device in a
//!   fresh network namespace, its SYN-ACKs read back.
//! - The size of a request sock and the resident memory of 1 M half-open requests.
//! - Completed handshakes into the accept queue and out through accept(): synq in memory;
//!   the kernel's connect()/accept() over loopback.

use crate::bench::median;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant as WallClock};

use synq_core::consts::{AF_INET, SOCK_STREAM, SOL_SOCKET, SO_LINGER};
use synq_core::request_sock::RequestSock;
use synq_core::{Instant, Stack, StackConfig};
use synq_wire::{ip_proto, TcpFlags, TcpOptions, TcpRepr};

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
const PORT: u16 = 8080;

/// The i-th client of a SYN stream: 10.0.0.0/8 addresses, ports 1024..61024.
fn client(i: u32) -> (Ipv4Addr, u16) {
    let addr = Ipv4Addr::from_bits(0x0a00_0000 | (i / 60_000 + 1));
    (addr, 1024 + (i % 60_000) as u16)
}

/// The `i` of [`client`]`(i)`, if `(addr, port)` is one.
fn client_index(addr: Ipv4Addr, port: u16) -> Option<u32> {
    let high = addr.to_bits().checked_sub(0x0a00_0001)?;
    let low = port.checked_sub(1024).filter(|&p| p < 60_000)?;
    high.checked_mul(60_000)?.checked_add(u32::from(low))
}

/// A datagram from `src` to SERVER:PORT.
fn datagram(src: (Ipv4Addr, u16), seq: u32, ack: u32, flags: TcpFlags, options: TcpOptions) -> Vec<u8> {
    let seg = TcpRepr {
        src_port: src.1,
        dst_port: PORT,
        seq,
        ack,
        flags,
        window: 64240,
        urgent: 0,
        options,
        payload: &[],
    };
    seg.to_ipv4_datagram(src.0, SERVER).expect("options that fit")
}

fn syn_options() -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        sack_permitted: true,
        window_scale: Some(7),
        ..TcpOptions::default()
    }
}

/// `n` SYNs from distinct clients.
fn syn_stream(n: u32) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| datagram(client(i), i.wrapping_mul(7919), 0, TcpFlags::SYN, syn_options()))
        .collect()
}

/// A stack with a listener that keeps every request (`syncookies` 0, limits raised) or
/// answers every SYN with a cookie (`syncookies` 2).
fn server(syncookies: u8, requests: u32) -> Stack {
    let mut stack = Stack::new(StackConfig::new(SERVER));
    let s = &mut stack.sysctl;
    let big = (requests * 2).to_string();
    s.set("net.core.somaxconn", &big).expect("sysctl");
    s.set("net.ipv4.tcp_max_syn_backlog", &big).expect("sysctl");
    s.set("net.ipv4.tcp_syncookies", &syncookies.to_string())
        .expect("sysctl");
    let l = stack.socket(AF_INET, SOCK_STREAM, 0).expect("socket");
    stack
        .bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))
        .expect("bind");
    stack.listen(l, i32::MAX).expect("listen");
    stack
}

/// SYN-ACKs per second from synq for the stream, and how many came out.
fn synq_synacks(syncookies: u8, syns: &[Vec<u8>]) -> (f64, usize) {
    let mut stack = server(syncookies, syns.len() as u32);
    let mut buf = [0u8; 1500];
    let now = Instant::from_secs(1);
    let start = WallClock::now();
    let mut out = 0;
    for d in syns {
        stack.receive(now, d);
        while stack.poll_transmit(&mut buf).is_some() {
            out += 1;
        }
    }
    (syns.len() as f64 / start.elapsed().as_secs_f64(), out)
}

/// The same from the kernel behind tun0: SYNs written in batches, SYN-ACKs read between.
fn kernel_synacks(syncookies: u8, syns: Vec<Vec<u8>>) -> Result<(f64, usize), String> {
    synq_peer::in_fresh_netns(&[], move || -> Result<(f64, usize), String> {
        let n = syns.len();
        synq_peer::ip(&["link", "set", "lo", "up"])?;
        let tun = synq_peer::Tun::create("tun0")?;
        synq_peer::ip(&["addr", "add", &format!("{SERVER}/16"), "dev", "tun0"])?;
        // A queue that holds every SYN-ACK: with tun's default 500, a burst of answers
        // overflows it and the kernel would be charged for drops that are not its listener's.
        synq_peer::ip(&["link", "set", "tun0", "txqueuelen", &n.max(1000).to_string(), "up"])?;
        synq_peer::ip(&["route", "add", "10.0.0.0/8", "dev", "tun0"])?;
        let big = (n * 2).to_string();
        synq_peer::sysctl("net.core.somaxconn", &big);
        synq_peer::sysctl("net.ipv4.tcp_max_syn_backlog", &big);
        synq_peer::sysctl("net.ipv4.tcp_syncookies", &syncookies.to_string());
        let l = synq_peer::Sock::tcp(0);
        if l.bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)) != 0 || l.listen(i32::MAX) != 0 {
            return Err(format!("kernel listener: {}", std::io::Error::last_os_error()));
        }
        let mut buf = [0u8; 2048];
        // Each client counts once: a retransmitted SYN-ACK (after 1 s, while a long stream is
        // still being written) neither counts again nor moves the end of the measurement.
        let mut answered = vec![false; n];
        let mut synacks = 0;
        let start = WallClock::now();
        let mut last = start;
        let mut read = |timeout: Duration, synacks: &mut usize| -> bool {
            let Some(len) = tun.read_timeout(&mut buf, timeout) else {
                return false;
            };
            if first_answer(&mut answered, &buf[..len]) {
                *synacks += 1;
                last = WallClock::now();
            }
            true
        };
        for batch in syns.chunks(64) {
            for d in batch {
                tun.write(d)?;
            }
            while read(Duration::ZERO, &mut synacks) {}
        }
        while synacks < n && read(Duration::from_millis(200), &mut synacks) {}
        drop(l);
        Ok((n as f64 / last.duration_since(start).as_secs_f64(), synacks))
    })?
}

/// Whether `d` is a SYN-ACK to a client not answered before (and marks it answered).
fn first_answer(answered: &mut [bool], d: &[u8]) -> bool {
    // IPv4 header of 20 bytes: destination at 16..20, TCP destination port at 22..24, flags
    // at 33.
    if d.len() < 40 || d[9] != ip_proto::TCP || d[33] & 0x12 != 0x12 {
        return false;
    }
    let dst = Ipv4Addr::new(d[16], d[17], d[18], d[19]);
    let port = u16::from_be_bytes([d[22], d[23]]);
    client_index(dst, port)
        .and_then(|i| answered.get_mut(i as usize))
        .is_some_and(|seen| !std::mem::replace(seen, true))
}

/// Resident set size of this process, bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Bytes of resident memory a million half-open requests take in synq.
fn synq_request_memory(n: u32) -> u64 {
    let before = rss();
    let mut stack = server(0, n);
    let mut buf = [0u8; 1500];
    let now = Instant::from_secs(1);
    for i in 0..n {
        // Built one at a time: only the stack grows.
        let syn = datagram(client(i), i.wrapping_mul(7919), 0, TcpFlags::SYN, syn_options());
        stack.receive(now, &syn);
        while stack.poll_transmit(&mut buf).is_some() {}
    }
    let after = rss();
    drop(stack);
    after.saturating_sub(before)
}

/// Handshakes per second through synq: SYN, SYN-ACK read, ACK, accept(), an abortive
/// close() (SO_LINGER 0: the child resets and is gone) — the kernel run's sequence. The
/// client's segments are built beforehand; the ACK's number and checksum are patched in.
fn synq_handshakes(n: u32) -> f64 {
    let mut stack = server(1, 1024);
    let l = synq_core::SocketId::from_raw(3);
    let syns = syn_stream(n);
    let mut acks: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            datagram(
                client(i),
                i.wrapping_mul(7919).wrapping_add(1),
                0,
                TcpFlags::ACK,
                TcpOptions::default(),
            )
        })
        .collect();
    let mut linger_0 = [0u8; 8];
    linger_0[..4].copy_from_slice(&1i32.to_ne_bytes());
    let mut buf = [0u8; 1500];
    let now = Instant::from_secs(1);
    let start = WallClock::now();
    for (syn, ack) in syns.iter().zip(&mut acks) {
        stack.receive(now, syn);
        stack.poll_transmit(&mut buf).expect("a SYN-ACK");
        let their_isn = u32::from_be_bytes([buf[24], buf[25], buf[26], buf[27]]);
        set_ack(ack, their_isn.wrapping_add(1));
        stack.receive(now, ack);
        let (child, _) = stack.accept(l).expect("a child");
        stack
            .setsockopt(child, SOL_SOCKET, SO_LINGER, &linger_0)
            .expect("SO_LINGER");
        stack.close(now, child).expect("close");
        while stack.poll_transmit(&mut buf).is_some() {}
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

/// Writes the acknowledgment number of a TCP-over-IPv4 datagram whose number is 0 and
/// updates its checksum incrementally (RFC 1624).
fn set_ack(d: &mut [u8], ack: u32) {
    d[28..32].copy_from_slice(&ack.to_be_bytes());
    let mut sum = u32::from(!u16::from_be_bytes([d[36], d[37]]));
    sum += ack >> 16;
    sum += ack & 0xffff;
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    d[36..38].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

/// The kernel's connect()/accept() over loopback; the accepted child closes with a linger of
/// 0 (a reset, so that no TIME_WAIT piles up), then the client.
fn kernel_handshakes(n: u32) -> Result<f64, String> {
    synq_peer::in_fresh_netns(&[], move || -> Result<f64, String> {
        synq_peer::ip(&["link", "set", "lo", "up"])?;
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, PORT);
        let l = synq_peer::Sock::tcp(0);
        if l.bind(addr) != 0 || l.listen(4096) != 0 {
            return Err(format!("kernel listener: {}", std::io::Error::last_os_error()));
        }
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        let start = WallClock::now();
        for _ in 0..n {
            let c = synq_peer::Sock::tcp(0);
            if c.connect(addr) != 0 {
                return Err(format!("connect: {}", std::io::Error::last_os_error()));
            }
            let child = l.accept();
            unsafe {
                libc::setsockopt(
                    child.0,
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    &linger as *const libc::linger as *const libc::c_void,
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                );
            }
            drop(child);
            drop(c);
        }
        Ok(f64::from(n) / start.elapsed().as_secs_f64())
    })?
}

/// One table row: synq's rate and the kernel's (or why it was not measured), with the ratio.
fn row(name: &str, synq: f64, kernel: Result<f64, String>) {
    let (k, ratio) = match kernel {
        Ok(k) => (format!("{:.3} M/s", k / 1e6), format!("{:.1}x", synq / k)),
        Err(e) => (format!("- ({e})"), "-".into()),
    };
    println!("{name:<34} {:>10.3} M/s {k:>14} {ratio:>13}", synq / 1e6);
}

/// Runs the benchmark: `syns` SYNs per stream, `handshakes` handshakes, each measurement
/// the median of `runs`.
pub fn listen(syns: u32, handshakes: u32, runs: usize) -> Result<(), String> {
    // Memory first, while the heap is fresh.
    let n = 1_000_000;
    let bytes = synq_request_memory(n);
    let kernel_ok = synq_peer::unavailable();
    let kernel = |f: &mut dyn FnMut() -> Result<f64, String>| match &kernel_ok {
        None => median(runs, f),
        Some(why) => Err(why.clone()),
    };
    println!(
        "synq bench listen: {syns} SYNs from distinct clients, {handshakes} handshakes, one core, median of {runs} runs"
    );
    println!("{:<34} {:>14} {:>14} {:>13}", "path", "synq", "kernel", "synq÷kernel");
    for (name, cookies) in [("SYN → SYN-ACK, request kept", 0u8), ("SYN → cookie SYN-ACK", 2)] {
        let stream = syn_stream(syns);
        let synq = median(runs, || {
            let (rate, out) = synq_synacks(cookies, &stream);
            if out == stream.len() {
                Ok(rate)
            } else {
                Err(format!("synq answered {out} of {} SYNs", stream.len()))
            }
        })?;
        let k = kernel(&mut || {
            let (rate, out) = kernel_synacks(cookies, stream.clone())?;
            if out == stream.len() {
                Ok(rate)
            } else {
                Err(format!("the kernel answered {out} of {} SYNs", stream.len()))
            }
        });
        row(name, synq, k);
    }
    let synq = median(runs, || Ok::<_, String>(synq_handshakes(handshakes)))?;
    row(
        "handshake → accept() (loopback)",
        synq,
        kernel(&mut || kernel_handshakes(handshakes)),
    );
    println!(
        "size_of::<RequestSock>() = {} bytes; {n} half-open requests: {:.1} MiB resident ({} bytes each, tables included)",
        std::mem::size_of::<RequestSock>(),
        bytes as f64 / (1 << 20) as f64,
        bytes / u64::from(n)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_counts_once() {
        for i in [0, 1, 59_999, 60_000, 199_999] {
            let (addr, port) = client(i);
            assert_eq!(client_index(addr, port), Some(i));
        }
        assert_eq!(client_index(SERVER, PORT), None, "not a client");
        // A SYN-ACK from SERVER:PORT to client 7, as the kernel sends it.
        let seg = TcpRepr {
            src_port: PORT,
            dst_port: client(7).1,
            seq: 1,
            ack: 2,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: 1000,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[],
        };
        let synack = seg.to_ipv4_datagram(SERVER, client(7).0).unwrap();
        let mut answered = vec![false; 10];
        assert!(first_answer(&mut answered, &synack));
        assert!(!first_answer(&mut answered, &synack), "a retransmission");
        assert!(!first_answer(&mut answered, &synack[..30]), "too short");
    }
}
