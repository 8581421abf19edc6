//! `synq bench connect`: the active open next to the kernel's (and smoltcp's), same run.
//!
//! - connect()'s port choice as the local range fills with connections to one destination
//!   (owners established or in TIME_WAIT): nanoseconds per non-blocking connect(), which
//!   picks the port (`__inet_hash_connect`) and sends the SYN. synq in memory, its peer
//!   scripted; the kernel in a fresh network namespace, its owners made over loopback, which
//!   then drops every packet (`pfifo limit 0`) so that a measured connect() does no more than
//!   synq's.
//! - A whole connection, both ends: socket, connect, accept, the server's close, the client's
//!   close, the server left in TIME_WAIT (as an HTTP/1.0 server closes first: its TIME_WAIT
//!   entries share the listener's port, so that no client port search walks over them). Two
//!   synq stacks in memory; the kernel over
//!   loopback; smoltcp's two sockets (a listening socket per connection, its usual pattern)
//!   over its loopback device.

use crate::bench::median;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::Command;
use std::time::Instant as WallClock;

use synq_core::consts::{AF_INET, SOCK_STREAM};
use synq_core::{Credentials, Errno, Instant, SocketId, Stack, StackConfig};
use synq_peer::Sock;
use synq_wire::{Ipv4Repr, TcpFlags, TcpOptions, TcpRepr};

const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const DEST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const DPORT: u16 = 80;
const LOW: u16 = 40000;
/// The scripted peer's ISN.
const PEER_ISN: u32 = 1_000_000;

/// What holds the ports of a fill level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owners {
    Established,
    TimeWait,
}

/// A fill level: this fraction of the range held by connections to the destination.
#[derive(Debug, Clone, Copy)]
struct Level {
    fraction: f64,
    owners: Owners,
}

impl Level {
    fn label(self) -> String {
        let owners = match self.owners {
            Owners::Established => "established",
            Owners::TimeWait => "TIME_WAIT",
        };
        if self.fraction == 0.0 {
            "empty".into()
        } else {
            format!("{:.0}% {owners}", self.fraction * 100.0)
        }
    }
}

const LEVELS: [Level; 5] = [
    Level {
        fraction: 0.0,
        owners: Owners::Established,
    },
    Level {
        fraction: 0.9,
        owners: Owners::Established,
    },
    Level {
        fraction: 0.99,
        owners: Owners::Established,
    },
    Level {
        fraction: 0.9,
        owners: Owners::TimeWait,
    },
    Level {
        fraction: 0.99,
        owners: Owners::TimeWait,
    },
];

/// How many connect() calls one run times at a level: half the free ports, at most 2000.
fn sample(ports: u16, taken: u32) -> u32 {
    ((u32::from(ports) - taken) / 2).clamp(1, 2000)
}

fn taken(ports: u16, level: Level) -> u32 {
    (f64::from(ports) * level.fraction).round() as u32
}

/// The scripted peer's answer to a segment synq sent: a SYN-ACK to a SYN, FIN|ACK to a FIN.
fn peer_answer(d: &[u8]) -> Option<Vec<u8>> {
    let (ip, payload) = Ipv4Repr::parse_bytes(d).ok()?;
    let s = TcpRepr::parse(payload, ip.src_addr, ip.dst_addr).ok()?;
    let (flags, seq, mss) = if s.flags.syn() {
        (TcpFlags::SYN | TcpFlags::ACK, PEER_ISN, Some(1460))
    } else if s.flags.fin() {
        (TcpFlags::FIN | TcpFlags::ACK, PEER_ISN + 1, None)
    } else {
        return None;
    };
    let answer = TcpRepr {
        src_port: s.dst_port,
        dst_port: s.src_port,
        seq,
        ack: s.seq.wrapping_add(1),
        flags,
        window: 65535,
        urgent: 0,
        options: TcpOptions {
            mss,
            ..TcpOptions::default()
        },
        payload: &[],
    };
    answer.to_ipv4_datagram(ip.dst_addr, ip.src_addr).ok()
}

/// Hands what `stack` sent to the scripted peer and its answers back, until quiet.
fn settle(stack: &mut Stack, now: Instant, buf: &mut [u8]) {
    loop {
        let mut answers = Vec::new();
        stack.drain_transmit(buf, |d| answers.extend(peer_answer(d)));
        if answers.is_empty() {
            return;
        }
        for a in answers {
            stack.receive(now, &a);
        }
    }
}

/// Median ns per connect() for synq at `level` of a `ports`-port range.
fn synq_port_choice(ports: u16, level: Level, runs: usize) -> Result<f64, String> {
    let mut stack = Stack::new(StackConfig::new(LOCAL));
    let range = format!("{LOW} {}", LOW + (ports - 1));
    for (name, value) in [
        ("net.ipv4.ip_local_port_range", range.as_str()),
        ("net.ipv4.tcp_tw_reuse", "0"),
    ] {
        stack.sysctl.set(name, value).map_err(|e| format!("{name}: {e}"))?;
    }
    let dest = SocketAddrV4::new(DEST, DPORT);
    let now = Instant::from_secs(1);
    let mut buf = [0u8; 1500];
    let connect = |stack: &mut Stack| -> Result<SocketId, String> {
        let fd = stack.socket(AF_INET, SOCK_STREAM, 0).map_err(|e| e.to_string())?;
        match stack.connect(now, fd, dest) {
            Err(Errno::EINPROGRESS) => Ok(fd),
            other => Err(format!("synq connect(): {other:?}")),
        }
    };
    let mut owners = Vec::new();
    for _ in 0..taken(ports, level) {
        let fd = connect(&mut stack)?;
        settle(&mut stack, now, &mut buf);
        if level.owners == Owners::TimeWait {
            stack.close(now, fd).map_err(|e| e.to_string())?;
            settle(&mut stack, now, &mut buf);
        } else {
            owners.push(fd);
        }
    }
    let n = sample(ports, taken(ports, level));
    median(runs, || {
        let fds: Vec<SocketId> = (0..n)
            .map(|_| stack.socket(AF_INET, SOCK_STREAM, 0).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        let start = WallClock::now();
        for &fd in &fds {
            if stack.connect(now, fd, dest) != Err(Errno::EINPROGRESS) {
                return Err("synq connect() failed while measuring".to_string());
            }
            while stack.poll_transmit(&mut buf).is_some() {}
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(n);
        for fd in fds {
            stack.close(now, fd).map_err(|e| e.to_string())?;
        }
        Ok(ns)
    })
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The same for the kernel, in a fresh namespace where `DEST` is on `lo`.
fn kernel_port_choice(ports: u16, level: Level, runs: usize) -> Result<f64, String> {
    let range = format!("{LOW} {}", LOW + (ports - 1));
    synq_peer::in_fresh_netns(&[DEST], move || -> Result<f64, String> {
        synq_peer::sysctl("net.ipv4.ip_local_port_range", &range);
        synq_peer::sysctl("net.ipv4.tcp_tw_reuse", "0");
        let dest = SocketAddrV4::new(DEST, DPORT);
        let l = Sock::tcp(0);
        if l.bind(dest) != 0 || l.listen(4096) != 0 {
            return Err(format!("kernel listener: {}", std::io::Error::last_os_error()));
        }
        let mut owners = Vec::new();
        for _ in 0..taken(ports, level) {
            let c = Sock::tcp(0);
            if c.connect(dest) != 0 {
                return Err(format!("kernel connect: {}", std::io::Error::last_os_error()));
            }
            let child = l.accept();
            if level.owners == Owners::TimeWait {
                drop(c); // the client closes first and keeps the TIME_WAIT
                drop(child);
            } else {
                owners.push((c, child));
            }
        }
        // From now on lo drops everything: a measured connect() sends its SYN into the void.
        let out = Command::new("tc")
            .args(["qdisc", "add", "dev", "lo", "root", "pfifo", "limit", "0"])
            .output()
            .map_err(|e| format!("tc: {e}"))?;
        if !out.status.success() {
            return Err(format!("tc: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        let n = sample(ports, taken(ports, level));
        median(runs, || {
            let socks: Vec<Sock> = (0..n)
                .map(|_| {
                    let s = Sock::tcp(0);
                    unsafe { libc::fcntl(s.0, libc::F_SETFL, libc::O_NONBLOCK) };
                    s
                })
                .collect();
            let sa = synq_peer::sockaddr(dest);
            let start = WallClock::now();
            for s in &socks {
                let rc = unsafe {
                    libc::connect(
                        s.0,
                        &sa as *const _ as *const libc::sockaddr,
                        std::mem::size_of_val(&sa) as u32,
                    )
                };
                if rc == 0 || errno() != libc::EINPROGRESS {
                    return Err(format!("kernel connect(): {}", std::io::Error::last_os_error()));
                }
            }
            Ok(start.elapsed().as_nanos() as f64 / f64::from(n))
        })
    })?
}

/// Moves every datagram between two stacks until both are quiet.
fn shuttle(a: &mut Stack, b: &mut Stack, now: Instant, buf: &mut [u8]) {
    loop {
        let mut moved = false;
        while let Some(n) = a.poll_transmit(buf) {
            b.receive(now, &buf[..n]);
            moved = true;
        }
        while let Some(n) = b.poll_transmit(buf) {
            a.receive(now, &buf[..n]);
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

/// Connections per second between two synq stacks: socket, connect, accept, both closes.
fn synq_setups(n: u32) -> Result<f64, String> {
    let mut config = StackConfig::new(DEST);
    config.credentials = Credentials::ROOT; // port 80
    let mut server = Stack::new(config);
    let mut client = Stack::new(StackConfig::new(LOCAL));
    let e = |e: Errno| e.to_string();
    let l = server.socket(AF_INET, SOCK_STREAM, 0).map_err(e)?;
    server
        .bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, DPORT))
        .map_err(e)?;
    server.listen(l, 1024).map_err(e)?;
    let dest = SocketAddrV4::new(DEST, DPORT);
    let now = Instant::from_secs(1);
    let mut buf = [0u8; 1500];
    let start = WallClock::now();
    for _ in 0..n {
        let fd = client.socket(AF_INET, SOCK_STREAM, 0).map_err(e)?;
        if client.connect(now, fd, dest) != Err(Errno::EINPROGRESS) {
            return Err("synq connect() did not start".into());
        }
        shuttle(&mut client, &mut server, now, &mut buf);
        client.connect(now, fd, dest).map_err(e)?;
        let (child, _) = server.accept(l).map_err(e)?;
        server.close(now, child).map_err(e)?;
        shuttle(&mut client, &mut server, now, &mut buf);
        client.close(now, fd).map_err(e)?;
        shuttle(&mut client, &mut server, now, &mut buf);
    }
    let rate = f64::from(n) / start.elapsed().as_secs_f64();
    // Every client port is free again; the server's TIME_WAIT entries share its listener's.
    let (held, serving) = (client.bind_table().ports_in_use(), server.bind_table().ports_in_use());
    if (held, serving) != (0, 1) {
        return Err(format!("synq left {held} client ports and {serving} server ports"));
    }
    Ok(rate)
}

/// The same with the kernel over loopback in a fresh namespace.
fn kernel_setups(n: u32) -> Result<f64, String> {
    synq_peer::in_fresh_netns(&[DEST], move || -> Result<f64, String> {
        let dest = SocketAddrV4::new(DEST, DPORT);
        let l = Sock::tcp(0);
        if l.bind(dest) != 0 || l.listen(1024) != 0 {
            return Err(format!("kernel listener: {}", std::io::Error::last_os_error()));
        }
        let start = WallClock::now();
        for _ in 0..n {
            let c = Sock::tcp(0);
            if c.connect(dest) != 0 {
                return Err(format!("kernel connect: {}", std::io::Error::last_os_error()));
            }
            let child = l.accept();
            drop(child);
            drop(c);
        }
        Ok(f64::from(n) / start.elapsed().as_secs_f64())
    })?
}

/// The same with smoltcp: one interface on its loopback device, a listening socket and a
/// client socket per connection, polled until the server is in TIME_WAIT and the client
/// closed, then both removed (smoltcp keeps TIME_WAIT in the socket).
fn smoltcp_setups(n: u32) -> Result<f64, String> {
    use smoltcp::iface::{Config, Interface, SocketSet};
    use smoltcp::phy::{Loopback, Medium};
    use smoltcp::socket::tcp::{Socket, SocketBuffer, State};
    use smoltcp::time::Instant as SmolInstant;
    use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

    let mut device = Loopback::new(Medium::Ip);
    let mut t = SmolInstant::from_millis(1000);
    let mut iface = Interface::new(Config::new(HardwareAddress::Ip), &mut device, t);
    let [a, b, c, d] = DEST.octets();
    let addr = IpAddress::v4(a, b, c, d);
    iface.update_ip_addrs(|addrs| {
        addrs.push(IpCidr::new(addr, 24)).expect("one address");
    });
    let mut sockets = SocketSet::new(Vec::new());
    let socket = || Socket::new(SocketBuffer::new(vec![0; 1024]), SocketBuffer::new(vec![0; 1024]));
    let start = WallClock::now();
    for i in 0..n {
        let mut server = socket();
        server.listen(DPORT).map_err(|e| format!("smoltcp listen: {e}"))?;
        let mut client = socket();
        client
            .connect(iface.context(), (addr, DPORT), 49152 + (i % 16384) as u16)
            .map_err(|e| format!("smoltcp connect: {e}"))?;
        let (hs, hc) = (sockets.add(server), sockets.add(client));
        let mut poll_until = |sockets: &mut SocketSet, done: &dyn Fn(State, State) -> bool| -> Result<(), String> {
            for _ in 0..1000 {
                let (s, c) = (sockets.get::<Socket>(hs).state(), sockets.get::<Socket>(hc).state());
                if done(s, c) {
                    return Ok(());
                }
                t += smoltcp::time::Duration::from_millis(1);
                iface.poll(t, &mut device, sockets);
            }
            Err("smoltcp: a connection did not finish".into())
        };
        poll_until(&mut sockets, &|s, c| s == State::Established && c == State::Established)?;
        sockets.get_mut::<Socket>(hs).close();
        poll_until(&mut sockets, &|_, c| c == State::CloseWait)?;
        sockets.get_mut::<Socket>(hc).close();
        poll_until(&mut sockets, &|s, c| s == State::TimeWait && c == State::Closed)?;
        sockets.remove(hs);
        sockets.remove(hc);
    }
    Ok(f64::from(n) / start.elapsed().as_secs_f64())
}

fn ratio(a: f64, b: &Result<f64, String>) -> String {
    b.as_ref().map_or("-".into(), |b| format!("{:.1}x", a / b))
}

/// Runs the benchmark: a `ports`-port range for the port choice, `conns` whole connections,
/// each figure the median of `runs`.
pub fn connect(ports: u16, conns: u32, runs: usize) -> Result<(), String> {
    if !(100..=25_000).contains(&ports) {
        return Err(format!("bench connect: --ports {ports} must be within 100..=25000"));
    }
    if !(1..=1_000_000).contains(&conns) {
        return Err(format!("bench connect: --conns {conns} must be within 1..=1000000"));
    }
    let kernel_ok = synq_peer::unavailable();
    let kernel = |f: &dyn Fn() -> Result<f64, String>| match &kernel_ok {
        None => f(),
        Some(why) => Err(why.clone()),
    };
    println!(
        "synq bench connect: port choice in a {ports}-port range to one destination; {conns} whole connections; median of {runs} runs"
    );
    println!(
        "{:<18} {:>13} {:>13} {:>13}",
        "fill", "synq/call", "kernel/call", "kernel÷synq"
    );
    let mut synq_empty = None;
    let mut flat = 1.0f64;
    for level in LEVELS {
        let s = synq_port_choice(ports, level, runs)?;
        let k = kernel(&|| kernel_port_choice(ports, level, runs));
        let kernel_col = k.as_ref().map_or_else(|e| format!("- ({e})"), |k| format!("{k:.0} ns"));
        println!(
            "{:<18} {:>10.0} ns {kernel_col:>13} {:>13}",
            level.label(),
            s,
            k.as_ref().map_or("-".into(), |k| format!("{:.1}x", k / s))
        );
        let empty = *synq_empty.get_or_insert(s);
        flat = flat.max(s / empty);
    }
    println!("synq's slowest fill ÷ empty: {flat:.2}x");
    println!();
    println!(
        "{:<34} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "whole connection (both ends)", "synq", "kernel lo", "smoltcp", "synq÷kernel", "synq÷smoltcp"
    );
    let s = median(runs, || synq_setups(conns))?;
    let k = kernel(&|| median(runs, || kernel_setups(conns)));
    let m = median(runs, || smoltcp_setups(conns));
    let col = |r: &Result<f64, String>| r.as_ref().map_or("-".into(), |v| format!("{:.0}/s", v));
    println!(
        "{:<34} {:>10.0}/s {:>12} {:>12} {:>12} {:>12}",
        "socket+connect+accept+close",
        s,
        col(&k),
        col(&m),
        ratio(s, &k),
        ratio(s, &m)
    );
    for (who, r) in [("kernel", &k), ("smoltcp", &m)] {
        if let Err(why) = r {
            println!("{who} not measured: {why}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scripted_peer_answers_a_syn_and_a_fin_and_nothing_else() {
        let seg = |flags| {
            TcpRepr {
                src_port: 40000,
                dst_port: DPORT,
                seq: 7,
                ack: 0,
                flags,
                window: 1000,
                urgent: 0,
                options: TcpOptions::default(),
                payload: &[],
            }
            .to_ipv4_datagram(LOCAL, DEST)
            .unwrap()
        };
        let parse = |d: Vec<u8>| {
            let (ip, p) = Ipv4Repr::parse_bytes(&d).unwrap();
            let s = TcpRepr::parse(p, ip.src_addr, ip.dst_addr).unwrap();
            (ip.src_addr, s.src_port, s.dst_port, s.flags, s.ack)
        };
        let synack = parse(peer_answer(&seg(TcpFlags::SYN)).unwrap());
        assert_eq!(synack, (DEST, DPORT, 40000, TcpFlags::SYN | TcpFlags::ACK, 8));
        let finack = parse(peer_answer(&seg(TcpFlags::FIN | TcpFlags::ACK)).unwrap());
        assert_eq!(finack.3, TcpFlags::FIN | TcpFlags::ACK);
        assert!(peer_answer(&seg(TcpFlags::ACK)).is_none());
    }

    #[test]
    fn synq_fills_the_range_and_times_connects() {
        let level = Level {
            fraction: 0.9,
            owners: Owners::TimeWait,
        };
        assert!(synq_port_choice(200, level, 1).unwrap() > 0.0);
        assert!(synq_setups(50).unwrap() > 0.0);
        assert!(smoltcp_setups(50).unwrap() > 0.0);
    }
}
