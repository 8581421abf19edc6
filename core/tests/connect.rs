//! Rules C* of `spec/connect.md` that synq's active open has: connect()'s answers, the port,
//! the SYN, its retransmission, and what the peer's answer does. Each test plays the peer by
//! hand (or is a second synq stack), in virtual time.

use std::net::{Ipv4Addr, SocketAddrV4};
use synq_core::consts::*;
use synq_core::{sockaddr_in, Counter, Errno, Instant, SocketId, Stack, StackConfig, TcpState};
use synq_wire::{ip_proto, IcmpMessage, IcmpRepr, Ipv4Repr, TcpFlags, TcpOptions, TcpRepr, Timestamp, IPV4_HEADER_LEN};

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const PORT: u16 = 8080;
/// The server's ISN.
const S_ISN: u32 = 5000;

/// A segment the client sent, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Out {
    sport: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    options: TcpOptions,
}

fn parse(d: &[u8]) -> Out {
    let (ip, payload) = Ipv4Repr::parse_bytes(d).unwrap();
    assert_eq!((ip.src_addr, ip.dst_addr), (CLIENT, SERVER));
    let s = TcpRepr::parse(payload, ip.src_addr, ip.dst_addr).unwrap();
    Out {
        sport: s.src_port,
        seq: s.seq,
        ack: s.ack,
        flags: s.flags,
        window: s.window,
        options: s.options,
    }
}

/// A client stack with one socket that called connect() at time 0.
struct Client {
    stack: Stack,
    now: Instant,
    fd: SocketId,
    /// The SYN it sent.
    syn: Out,
}

impl Client {
    fn new() -> Client {
        Client::with(|_, _| {})
    }

    /// The same, with `setup` run on the stack and socket before connect().
    fn with(setup: impl FnOnce(&mut Stack, SocketId)) -> Client {
        let mut stack = Stack::new(StackConfig::new(CLIENT));
        let fd = stack.socket(AF_INET, SOCK_STREAM, 0).unwrap();
        setup(&mut stack, fd);
        assert_eq!(
            stack.connect(Instant::ZERO, fd, SocketAddrV4::new(SERVER, PORT)),
            Err(Errno::EINPROGRESS)
        );
        let mut c = Client {
            stack,
            now: Instant::ZERO,
            fd,
            syn: Out {
                sport: 0,
                seq: 0,
                ack: 0,
                flags: TcpFlags::NONE,
                window: 0,
                options: TcpOptions::default(),
            },
        };
        let sent = c.drain();
        assert_eq!(sent.len(), 1, "one SYN");
        c.syn = sent[0].clone();
        c
    }

    fn drain(&mut self) -> Vec<Out> {
        let mut out = Vec::new();
        self.stack.drain_transmit(&mut [0u8; 1500], |d| out.push(parse(d)));
        out
    }

    /// Runs the timers to `secs`; what was sent, with when (ms).
    fn at(&mut self, secs: f64) -> Vec<(u64, Out)> {
        let t = Instant::from_nanos((secs * 1e9).round() as u64);
        let mut sent = Vec::new();
        self.stack.run_until(self.now, t, &mut [0u8; 1500], |at, d| {
            sent.push((at.as_nanos() / 1_000_000, parse(d)))
        });
        self.now = t;
        sent
    }

    /// The server's segment: `flags`, acknowledging `ack`, with `options`.
    fn answer(&mut self, flags: TcpFlags, ack: u32, options: TcpOptions) -> Vec<Out> {
        let seg = TcpRepr {
            src_port: PORT,
            dst_port: self.syn.sport,
            seq: S_ISN,
            ack,
            flags,
            window: 29200,
            urgent: 0,
            options,
            payload: &[],
        };
        self.stack
            .receive(self.now, &seg.to_ipv4_datagram(SERVER, CLIENT).unwrap());
        self.drain()
    }

    /// The SYN-ACK Linux would send to this SYN (MSS 1460, SACK, TS echoing, wscale 7).
    fn synack(&mut self) -> Vec<Out> {
        let tsval = self.syn.options.timestamp.unwrap().tsval;
        let opts = TcpOptions {
            mss: Some(1460),
            sack_permitted: true,
            timestamp: Some(Timestamp {
                tsval: 777,
                tsecr: tsval,
            }),
            window_scale: Some(7),
            ..TcpOptions::default()
        };
        self.answer(TcpFlags::SYN | TcpFlags::ACK, self.syn.seq.wrapping_add(1), opts)
    }

    /// An ICMP error from the server's router quoting our SYN with sequence `seq`.
    fn icmp(&mut self, message: IcmpMessage, seq: u32) -> Vec<Out> {
        let mut quoted_payload = [0u8; 8];
        quoted_payload[..2].copy_from_slice(&self.syn.sport.to_be_bytes());
        quoted_payload[2..4].copy_from_slice(&PORT.to_be_bytes());
        quoted_payload[4..].copy_from_slice(&seq.to_be_bytes());
        let icmp = IcmpRepr {
            message,
            quoted_header: Ipv4Repr::new(CLIENT, SERVER, ip_proto::TCP, 40),
            quoted_payload: &quoted_payload,
        };
        let ip = Ipv4Repr::new(SERVER, CLIENT, ip_proto::ICMP, icmp.buffer_len());
        let mut buf = vec![0u8; IPV4_HEADER_LEN + icmp.buffer_len()];
        ip.emit(&mut buf).unwrap();
        icmp.emit(&mut buf[IPV4_HEADER_LEN..]).unwrap();
        self.stack.receive(self.now, &buf);
        self.drain()
    }

    fn so_error(&mut self) -> i32 {
        let mut b = [0u8; 4];
        self.stack.getsockopt(self.fd, SOL_SOCKET, SO_ERROR, &mut b).unwrap();
        i32::from_ne_bytes(b)
    }

    fn connect_again(&mut self) -> Result<(), Errno> {
        self.stack.connect(self.now, self.fd, SocketAddrV4::new(SERVER, PORT))
    }
}

#[test]
fn c22_c23_c28_c32_the_syn_and_what_the_socket_shows_meanwhile() {
    let mut c = Client::new();
    let syn = c.syn.clone();
    assert_eq!((syn.flags, syn.ack, syn.window), (TcpFlags::SYN, 0, 64240));
    let o = syn.options;
    assert_eq!(o.mss, Some(1460));
    assert!(o.sack_permitted);
    assert_eq!(o.timestamp.map(|t| t.tsecr), Some(0));
    assert_eq!(o.window_scale, Some(10));
    assert_eq!(c.stack.mib().get(Counter::TcpActiveOpens), 1);
    // C32: the address and port are fixed before the SYN; no peer yet; no events.
    assert_eq!(c.stack.getsockname(c.fd), Ok(SocketAddrV4::new(CLIENT, syn.sport)));
    assert_eq!(c.stack.getpeername(c.fd), Err(Errno::ENOTCONN));
    assert_eq!(c.stack.poll(c.fd), Ok(0));
    // C3: asked again while the attempt runs.
    assert_eq!(c.connect_again(), Err(Errno::EALREADY));
}

#[test]
fn c7_c12_ports_of_connect_have_the_parity_of_low_and_are_exhausted_with_eaddrnotavail() {
    let mut s = Stack::new(StackConfig::new(CLIENT));
    s.sysctl.set("net.ipv4.ip_local_port_range", "40000 40003").unwrap();
    let dst = SocketAddrV4::new(SERVER, PORT);
    let mut ports = Vec::new();
    for _ in 0..4 {
        let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
        assert_eq!(s.connect(Instant::ZERO, fd, dst), Err(Errno::EINPROGRESS));
        ports.push(s.getsockname(fd).unwrap().port());
    }
    assert!(ports[..2].iter().all(|p| p % 2 == 0), "even first: {ports:?}");
    assert!(ports[2..].iter().all(|p| p % 2 == 1), "then odd: {ports:?}");
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(s.connect(Instant::ZERO, fd, dst), Err(Errno::EADDRNOTAVAIL));
    // C7: the failure path leaves the socket as it was: closed, no address, port or peer.
    assert_eq!(s.getsockname(fd), Ok(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)));
    assert_eq!(s.getpeername(fd), Err(Errno::ENOTCONN));
    assert_eq!(s.poll(fd).unwrap() & POLLHUP, POLLHUP);
    // Another destination shares the same four ports (C13).
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let other = SocketAddrV4::new(SERVER, PORT + 1);
    assert_eq!(s.connect(Instant::ZERO, fd, other), Err(Errno::EINPROGRESS));
    assert!(ports.contains(&s.getsockname(fd).unwrap().port()));
}

#[test]
fn c3_c5_a_listener_is_already_connected_broadcast_is_unreachable() {
    let mut s = Stack::new(StackConfig::new(CLIENT));
    let l = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    s.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9000)).unwrap();
    s.listen(l, 1).unwrap();
    let dst = SocketAddrV4::new(SERVER, PORT);
    assert_eq!(s.connect(Instant::ZERO, l, dst), Err(Errno::EISCONN));
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let bcast = SocketAddrV4::new(Ipv4Addr::BROADCAST, PORT);
    assert_eq!(s.connect(Instant::ZERO, fd, bcast), Err(Errno::ENETUNREACH));
    let mcast = SocketAddrV4::new(Ipv4Addr::new(224, 0, 0, 1), PORT);
    assert_eq!(s.connect(Instant::ZERO, fd, mcast), Err(Errno::ENETUNREACH));
}

#[test]
fn c1_c4_address_checks_come_around_the_state_checks() {
    let mut s = Stack::new(StackConfig::new(CLIENT));
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let now = Instant::ZERO;
    let sin = sockaddr_in(SocketAddrV4::new(SERVER, PORT));
    assert_eq!(s.connect_raw(now, fd, &sin[..1]), Err(Errno::EINVAL), "C1");
    assert_eq!(s.connect_raw(now, fd, &sin[..15]), Err(Errno::EINVAL), "C4: length");
    let mut inet6 = sin;
    inet6[..2].copy_from_slice(&10u16.to_ne_bytes());
    assert_eq!(s.connect_raw(now, fd, &inet6), Err(Errno::EAFNOSUPPORT), "C4: family");
    // AF_UNSPEC with just its family field disconnects: on a fresh socket, nothing but 0.
    assert_eq!(s.connect_raw(now, fd, &0u16.to_ne_bytes()), Ok(()), "C2");
    assert_eq!(s.connect_raw(now, fd, &sin), Err(Errno::EINPROGRESS));
    // C3 comes before C4: an attempt in progress says EALREADY whatever the address.
    assert_eq!(s.connect_raw(now, fd, &sin[..15]), Err(Errno::EALREADY));
}

#[test]
fn c2_af_unspec_in_syn_sent_drops_the_attempt_without_a_word() {
    let mut c = Client::new();
    let now = c.now;
    assert_eq!(c.stack.connect_raw(now, c.fd, &0u16.to_ne_bytes()), Ok(()));
    assert!(c.drain().is_empty(), "no packet");
    assert!(c.at(10.0).is_empty(), "no more SYNs");
    assert_eq!(c.so_error(), Errno::ECONNRESET.raw());
    assert_eq!(c.stack.poll(c.fd).unwrap() & (POLLOUT | POLLHUP), POLLOUT | POLLHUP);
    // C8: the next attempt's ISN is 3 on, from a new port.
    assert_eq!(c.connect_again(), Err(Errno::EINPROGRESS));
    let syn = parse_one(&mut c);
    assert_eq!(syn.seq, c.syn.seq.wrapping_add(3));
}

#[test]
fn c2_af_unspec_on_a_connection_resets_it() {
    let mut c = Client::new();
    c.synack();
    assert_eq!(c.connect_again(), Ok(()));
    let now = c.now;
    assert_eq!(c.stack.connect_raw(now, c.fd, &0u16.to_ne_bytes()), Ok(()));
    let out = c.drain();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].flags, TcpFlags::RST | TcpFlags::ACK);
    assert_eq!((out[0].seq, out[0].ack), (c.syn.seq.wrapping_add(1), S_ISN + 1));
    assert_eq!(c.so_error(), Errno::ECONNRESET.raw());
    assert_eq!(c.stack.getpeername(c.fd), Err(Errno::ENOTCONN));
    assert_eq!(c.stack.send(now, c.fd, b"x"), Err(Errno::EPIPE));
    // The peer's window (29200) was the largest seen: the next ISN is ISN + 1 + 29200 + 2.
    assert_eq!(c.connect_again(), Err(Errno::EINPROGRESS));
    let syn = parse_one(&mut c);
    assert_eq!(syn.seq, c.syn.seq.wrapping_add(1 + 29200 + 2));
}

#[test]
fn c25_c27_c30_c31_eleven_syns_then_etimedout_at_131_s() {
    let mut c = Client::new();
    let sent = c.at(200.0);
    let times: Vec<u64> = sent.iter().map(|(t, _)| t / 1000).collect();
    assert_eq!(times, [1, 2, 3, 4, 5, 7, 11, 19, 35, 67]);
    for (_, s) in &sent {
        assert_eq!(
            (s.seq, s.flags, s.sport),
            (c.syn.seq, TcpFlags::SYN, c.syn.sport),
            "the same SYN"
        );
    }
    // A fresh TSval each time.
    assert_eq!(
        sent[0].1.options.timestamp.unwrap().tsval,
        c.syn.options.timestamp.unwrap().tsval + 1000
    );
    // C30, C31: failed; SO_ERROR once; then connect() reports ECONNABORTED (C3).
    let mask = c.stack.poll(c.fd).unwrap();
    assert_eq!(mask & (POLLERR | POLLHUP), POLLERR | POLLHUP);
    assert_eq!(c.so_error(), Errno::ETIMEDOUT.raw());
    assert_eq!(c.so_error(), 0);
    assert_eq!(c.connect_again(), Err(Errno::ECONNABORTED));
    assert_eq!(c.stack.mib().get(Counter::TcpAttemptFails), 1);
    assert_eq!(c.stack.mib().get(Counter::TcpRetransSegs), 10);
}

#[test]
fn c6_c8_c26_tcp_syncnt_1_fails_at_3_s_connect_reports_it_and_the_next_isn_is_3_on() {
    let mut c = Client::with(|s, fd| {
        s.setsockopt(fd, SOL_TCP, TCP_SYNCNT, &1i32.to_ne_bytes()).unwrap();
    });
    let times: Vec<u64> = c.at(10.0).iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [1000, 2000]);
    assert_eq!(c.connect_again(), Err(Errno::ETIMEDOUT), "the error itself, unread");
    // C6: the automatic address is given back (the stale port stays in getsockname, as
    // Linux's does).
    assert_eq!(c.stack.getsockname(c.fd).unwrap().ip(), &Ipv4Addr::UNSPECIFIED);
    // A new attempt on the same socket (C3: SS_UNCONNECTED and CLOSE), C8: its ISN is the
    // last one's + 3 (ISN + 1, max_window 0, + 2), from a new port.
    assert_eq!(c.connect_again(), Err(Errno::EINPROGRESS));
    let syn = parse_one(&mut c);
    assert_eq!(syn.seq, c.syn.seq.wrapping_add(3));
    assert_ne!(syn.sport, c.syn.sport);
}

fn parse_one(c: &mut Client) -> Out {
    let mut sent = c.drain();
    assert_eq!(sent.len(), 1);
    sent.remove(0)
}

#[test]
fn c34_a_bad_ack_is_reset_and_the_syn_resent_at_once() {
    let mut c = Client::new();
    let bad = c.syn.seq.wrapping_add(5);
    let out = c.answer(TcpFlags::SYN | TcpFlags::ACK, bad, TcpOptions::default());
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags, out[0].seq), (TcpFlags::RST, bad));
    let again = c.at(0.1);
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].0, again[0].1.flags), (2, TcpFlags::SYN), "2 ms later");
    // Still connecting; the right SYN-ACK completes it.
    assert_eq!(c.connect_again(), Err(Errno::EALREADY));
    c.synack();
    assert_eq!(c.connect_again(), Ok(()));
}

#[test]
fn c36_a_reset_acking_the_syn_refuses_one_without_ack_is_ignored() {
    let mut c = Client::new();
    assert!(c.answer(TcpFlags::RST, 0, TcpOptions::default()).is_empty());
    assert_eq!(c.connect_again(), Err(Errno::EALREADY));
    let ack = c.syn.seq.wrapping_add(1);
    assert!(c
        .answer(TcpFlags::RST | TcpFlags::ACK, ack, TcpOptions::default())
        .is_empty());
    let mask = c.stack.poll(c.fd).unwrap();
    assert_eq!(mask & (POLLERR | POLLHUP), POLLERR | POLLHUP);
    assert_eq!(c.connect_again(), Err(Errno::ECONNREFUSED));
    assert_eq!(c.stack.getpeername(c.fd), Err(Errno::ENOTCONN));
    assert!(c.at(10.0).is_empty(), "no more SYNs");
}

#[test]
fn c33_icmp_errors_quoting_the_syn_end_the_attempt_with_their_errno() {
    let unreach = |code| IcmpMessage::DstUnreachable { code, next_hop_mtu: 0 };
    for (message, errno) in [
        (unreach(0), Errno::ENETUNREACH),
        (unreach(1), Errno::EHOSTUNREACH),
        (unreach(2), Errno::ENOPROTOOPT),
        (unreach(3), Errno::ECONNREFUSED),
        (unreach(5), Errno::EOPNOTSUPP),
        (unreach(7), Errno::EHOSTDOWN),
        (unreach(8), Errno::ENONET),
        (unreach(9), Errno::ENETUNREACH),
        (unreach(13), Errno::EHOSTUNREACH),
        (IcmpMessage::TimeExceeded { code: 0 }, Errno::EHOSTUNREACH),
    ] {
        let mut c = Client::new();
        c.now = Instant::from_millis(100);
        let seq = c.syn.seq;
        assert!(c.icmp(message, seq).is_empty());
        assert_eq!(c.connect_again(), Err(errno), "{message:?}");
        assert_eq!(c.so_error(), 0, "consumed by connect()");
    }
    // Fragmentation needed, a code above 15 and a sequence we never sent change nothing:
    // the SYN-ACK still completes the connect.
    let mut c = Client::new();
    let seq = c.syn.seq;
    c.icmp(unreach(4), seq);
    c.icmp(unreach(16), seq);
    c.icmp(unreach(3), seq.wrapping_add(100));
    assert_eq!(c.stack.mib().get(Counter::TcpExtOutOfWindowIcmps), 1);
    assert_eq!(c.connect_again(), Err(Errno::EALREADY));
    c.synack();
    assert_eq!(c.connect_again(), Ok(()));
}

#[test]
fn c38_the_syn_ack_establishes_and_is_acked_at_once() {
    let mut c = Client::new();
    c.now = Instant::from_millis(30);
    let out = c.synack();
    assert_eq!(out.len(), 1);
    let ack = &out[0];
    assert_eq!(ack.flags, TcpFlags::ACK);
    assert_eq!((ack.seq, ack.ack), (c.syn.seq.wrapping_add(1), S_ISN + 1));
    assert_eq!(ack.options.timestamp.map(|t| t.tsecr), Some(777));
    // Our window, scaled by our shift (10) now that both sides scale, rounded up to a
    // whole unit (`__tcp_select_window`'s ALIGN): 64240 → 64512 = 63 << 10.
    assert_eq!(ack.window, 63);
    assert_eq!(c.stack.poll(c.fd).unwrap() & POLLOUT, POLLOUT);
    assert_eq!(c.connect_again(), Ok(()));
    assert_eq!(c.connect_again(), Err(Errno::EISCONN));
    assert_eq!(c.stack.getpeername(c.fd), Ok(SocketAddrV4::new(SERVER, PORT)));
    assert_eq!(c.so_error(), 0);
    // MSS 1460 less the timestamps: TCP_MAXSEG reads 1448.
    let mut b = [0u8; 4];
    c.stack.getsockopt(c.fd, SOL_TCP, TCP_MAXSEG, &mut b).unwrap();
    assert_eq!(i32::from_ne_bytes(b), 1448);
    assert!(c.at(200.0).is_empty(), "the SYN timer is gone");
}

/// Moves every datagram between two stacks until both are quiet.
fn exchange(a: &mut Stack, b: &mut Stack, now: Instant) {
    let mut buf = [0u8; 1500];
    loop {
        let mut moved = false;
        while let Some(n) = a.poll_transmit(&mut buf) {
            b.receive(now, &buf[..n]);
            moved = true;
        }
        while let Some(n) = b.poll_transmit(&mut buf) {
            a.receive(now, &buf[..n]);
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

#[test]
fn c3_synq_connects_to_synq_and_they_exchange_data() {
    let mut server = Stack::new(StackConfig::new(SERVER));
    let l = server.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    server.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)).unwrap();
    server.listen(l, 8).unwrap();
    let mut client = Stack::new(StackConfig::new(CLIENT));
    let fd = client.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let now = Instant::ZERO;
    assert_eq!(
        client.connect(now, fd, SocketAddrV4::new(SERVER, PORT)),
        Err(Errno::EINPROGRESS)
    );
    exchange(&mut client, &mut server, now);
    assert_eq!(client.connect(now, fd, SocketAddrV4::new(SERVER, PORT)), Ok(()));
    let (child, peer) = server.accept(l).unwrap();
    assert_eq!(peer, client.getsockname(fd).unwrap());
    // C3: an accepted socket is connected (SS_CONNECTED).
    assert_eq!(server.connect(now, child, peer), Err(Errno::EISCONN));
    assert_eq!(client.send(now, fd, b"hello"), Ok(5));
    exchange(&mut client, &mut server, now);
    let mut buf = [0u8; 16];
    assert_eq!(server.recv(now, child, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(server.send(now, child, b"world!"), Ok(6));
    exchange(&mut client, &mut server, now);
    assert_eq!(client.recv(now, fd, &mut buf), Ok(6));
    assert_eq!(&buf[..6], b"world!");
}

#[test]
fn c39_two_synq_stacks_connecting_to_each_other_at_once_meet_in_a_simultaneous_open() {
    // Each binds its port and connects to the other's; the SYNs cross on the wire.
    let a_addr = SocketAddrV4::new(CLIENT, 40000);
    let b_addr = SocketAddrV4::new(SERVER, 50000);
    let mut a = Stack::new(StackConfig::new(CLIENT));
    let mut b = Stack::new(StackConfig::new(SERVER));
    let now = Instant::from_millis(10);
    let mut fds = Vec::new();
    for (stack, local, remote) in [(&mut a, a_addr, b_addr), (&mut b, b_addr, a_addr)] {
        let fd = stack.socket(AF_INET, SOCK_STREAM, 0).unwrap();
        stack.bind(fd, local).unwrap();
        assert_eq!(stack.connect(Instant::ZERO, fd, remote), Err(Errno::EINPROGRESS));
        fds.push(fd);
    }
    let (fa, fb) = (fds[0], fds[1]);
    let mut buf = [0u8; 1500];
    let take = |s: &mut Stack, buf: &mut [u8]| {
        let mut v = Vec::new();
        s.drain_transmit(buf, |d| v.push(d.to_vec()));
        v
    };
    let (syn_a, syn_b) = (take(&mut a, &mut buf), take(&mut b, &mut buf));
    assert_eq!((syn_a.len(), syn_b.len()), (1, 1));
    // Each meets the other's SYN in SYN_SENT: SYN_RECV, and its SYN again with ACK.
    a.receive(now, &syn_b[0]);
    b.receive(now, &syn_a[0]);
    let mut synacks = Vec::new();
    for (s, fd, syn) in [(&mut a, fa, &syn_a[0]), (&mut b, fb, &syn_b[0])] {
        assert_eq!(
            s.connect(now, fd, if fd == fa { b_addr } else { a_addr }),
            Err(Errno::EALREADY)
        );
        let out = take(s, &mut buf);
        assert_eq!(out.len(), 1);
        let (ip, p) = Ipv4Repr::parse_bytes(&out[0]).unwrap();
        let synack = TcpRepr::parse(p, ip.src_addr, ip.dst_addr).unwrap();
        let (ip, p) = Ipv4Repr::parse_bytes(syn).unwrap();
        let first = TcpRepr::parse(p, ip.src_addr, ip.dst_addr).unwrap();
        assert_eq!(synack.flags, TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(synack.seq, first.seq, "the same ISN");
        assert_eq!(
            (synack.options.mss, synack.options.window_scale),
            (first.options.mss, first.options.window_scale)
        );
        synacks.push(out[0].clone());
    }
    assert_eq!(a.mib().get(Counter::TcpCurrEstab), 0);
    // The SYN-ACKs cross too: each completes its side and is acknowledged at once.
    a.receive(now, &synacks[1]);
    b.receive(now, &synacks[0]);
    exchange(&mut a, &mut b, now);
    for (s, fd, peer) in [(&mut a, fa, b_addr), (&mut b, fb, a_addr)] {
        assert_eq!(s.connect(now, fd, peer), Ok(()));
        assert_eq!(s.getpeername(fd), Ok(peer));
        assert_eq!(s.mib().get(Counter::TcpCurrEstab), 1);
        assert_eq!(s.mib().get(Counter::TcpActiveOpens), 1);
    }
    assert_eq!(a.send(now, fa, b"ping"), Ok(4));
    exchange(&mut a, &mut b, now);
    let mut got = [0u8; 8];
    assert_eq!(b.recv(now, fb, &mut got), Ok(4));
    assert_eq!(&got[..4], b"ping");
    // No SYN-ACK is resent later: both timers are gone with nothing in flight.
    let mut late = 0;
    a.run_until(now, Instant::from_secs(10), &mut buf, |_, _| late += 1);
    assert_eq!(late, 0);
}

#[test]
fn c20_the_syn_carries_a_random_ip_id_and_every_later_segment_the_next() {
    let ids = |seed: u64| {
        let mut config = StackConfig::new(CLIENT);
        config.seed = seed;
        let mut stack = Stack::new(config);
        let fd = stack.socket(AF_INET, SOCK_STREAM, 0).unwrap();
        let _ = stack.connect(Instant::ZERO, fd, SocketAddrV4::new(SERVER, PORT));
        let mut ids = Vec::new();
        let mut buf = [0u8; 1500];
        // The SYN, then two resends.
        stack.drain_transmit(&mut buf, |d| ids.push(Ipv4Repr::parse_bytes(d).unwrap().0));
        stack.run_until(Instant::ZERO, Instant::from_millis(2500), &mut buf, |_, d| {
            ids.push(Ipv4Repr::parse_bytes(d).unwrap().0)
        });
        ids
    };
    let (a, b) = (ids(1), ids(2));
    assert_eq!(a.len(), 3);
    assert!(a.iter().all(|ip| ip.dont_frag), "DF on every segment");
    let first = a[0].ident;
    assert_eq!(
        a.iter().map(|ip| ip.ident).collect::<Vec<_>>(),
        [first, first.wrapping_add(1), first.wrapping_add(2)]
    );
    assert_ne!(first, b[0].ident, "another stack's secret, another start");
    // After the handshake the ACK and then data go on counting from the SYN's.
    let mut stack = Stack::new(StackConfig::new(CLIENT));
    let fd = stack.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let _ = stack.connect(Instant::ZERO, fd, SocketAddrV4::new(SERVER, PORT));
    let mut sent = Vec::new();
    let mut buf = [0u8; 1500];
    stack.drain_transmit(&mut buf, |d| sent.push(d.to_vec()));
    let (ip, payload) = Ipv4Repr::parse_bytes(&sent[0]).unwrap();
    let syn = TcpRepr::parse(payload, ip.src_addr, ip.dst_addr).unwrap();
    let synack = TcpRepr {
        src_port: PORT,
        dst_port: syn.src_port,
        seq: S_ISN,
        ack: syn.seq.wrapping_add(1),
        flags: TcpFlags::SYN | TcpFlags::ACK,
        window: 29200,
        urgent: 0,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let now = Instant::from_millis(10);
    stack.receive(now, &synack.to_ipv4_datagram(SERVER, CLIENT).unwrap());
    assert_eq!(stack.send(now, fd, b"x"), Ok(1));
    let mut ids = vec![ip.ident];
    stack.drain_transmit(&mut buf, |d| ids.push(Ipv4Repr::parse_bytes(d).unwrap().0.ident));
    assert_eq!(ids, [ip.ident, ip.ident.wrapping_add(1), ip.ident.wrapping_add(2)]);
}

#[test]
fn c9_a_bound_port_is_kept_and_only_its_4_tuple_checked() {
    let mut s = Stack::new(StackConfig::new(CLIENT));
    let dst = SocketAddrV4::new(SERVER, PORT);
    let bound = |s: &mut Stack| {
        let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
        s.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &1i32.to_ne_bytes()).unwrap();
        s.bind(fd, SocketAddrV4::new(CLIENT, 45001)).unwrap();
        fd
    };
    let a = bound(&mut s);
    assert_eq!(s.connect(Instant::ZERO, a, dst), Err(Errno::EINPROGRESS));
    assert_eq!(s.getsockname(a).unwrap().port(), 45001, "no search: the bound port");
    // The same port to the same destination: the 4-tuple is taken.
    let b = bound(&mut s);
    assert_eq!(s.connect(Instant::ZERO, b, dst), Err(Errno::EADDRNOTAVAIL));
    // To another destination it is unique.
    assert_eq!(
        s.connect(Instant::ZERO, b, SocketAddrV4::new(SERVER, PORT + 1)),
        Err(Errno::EINPROGRESS)
    );
    // IP_BIND_ADDRESS_NO_PORT: bind() kept the address only; connect() searches (C10-C12).
    let c = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    s.setsockopt(c, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &1i32.to_ne_bytes())
        .unwrap();
    s.bind(c, SocketAddrV4::new(CLIENT, 0)).unwrap();
    assert_eq!(s.getsockname(c), Ok(SocketAddrV4::new(CLIENT, 0)));
    assert_eq!(s.connect(Instant::ZERO, c, dst), Err(Errno::EINPROGRESS));
    let port = s.getsockname(c).unwrap().port();
    assert!((32768..=60999).contains(&port), "{port}");
}

#[test]
fn c21_the_state_tcp_connect_init_leaves() {
    let mut c = Client::with(|s, fd| {
        s.setsockopt(fd, SOL_TCP, TCP_MAXSEG, &1000i32.to_ne_bytes()).unwrap();
    });
    // advmss = min(MTU - 40, user_mss); the RTO starts at 1 s; no error.
    assert_eq!(c.syn.options.mss, Some(1000));
    assert_eq!(c.so_error(), 0);
    let info = c.stack.tcp_info(c.now, c.fd).unwrap();
    assert_eq!((info.rto, info.retransmits, info.advmss), (1_000_000, 0, 1000));
    assert_eq!(info.state, TcpState::SynSent as u8);
    // mss_clamp = user_mss: a SYN-ACK offering more is held to it.
    c.now = Instant::from_millis(10);
    c.synack();
    let mut b = [0u8; 4];
    c.stack.getsockopt(c.fd, SOL_TCP, TCP_MAXSEG, &mut b).unwrap();
    assert_eq!(i32::from_ne_bytes(b), 1000 - 12, "less the timestamps");
}

#[test]
fn c29_c30_a_blocking_connect_is_poll_for_pollout_then_so_error() {
    // A driver's blocking connect() (synq::net, the drill's target) waits as
    // inet_wait_for_connect does: while SYN_SENT no event, then POLLOUT, then SO_ERROR.
    let mut c = Client::new();
    assert_eq!(c.stack.poll(c.fd), Ok(0), "still waiting");
    assert_eq!(c.connect_again(), Err(Errno::EALREADY));
    c.now = Instant::from_millis(10);
    c.synack();
    assert_eq!(c.stack.poll(c.fd).unwrap() & POLLOUT, POLLOUT);
    assert_eq!(c.so_error(), 0);
    assert_eq!(c.connect_again(), Ok(()));
}

#[test]
fn c32_shutdown_or_close_in_syn_sent_drop_the_attempt_without_a_packet() {
    for how in [SHUT_WR, SHUT_RDWR] {
        let mut c = Client::new();
        let now = c.now;
        assert_eq!(c.stack.shutdown(now, c.fd, how), Ok(()));
        assert!(c.drain().is_empty() && c.at(10.0).is_empty(), "no packet, no more SYNs");
        assert_eq!(c.so_error(), Errno::ECONNRESET.raw());
        assert_eq!(c.connect_again(), Err(Errno::EINPROGRESS), "a new attempt");
        assert_eq!(parse_one(&mut c).seq, c.syn.seq.wrapping_add(3));
    }
    let mut c = Client::new();
    let now = c.now;
    assert_eq!(c.stack.close(now, c.fd), Ok(()));
    assert!(
        c.drain().is_empty() && c.at(10.0).is_empty(),
        "close: nothing on the wire"
    );
}

#[test]
fn c39_c32_a_socket_connected_to_itself_meets_itself_in_a_simultaneous_open() {
    // bind(A:p) + connect(A:p): the SYN comes back to the same socket, in SYN_SENT; as on
    // Linux's loopback the packets are processed before connect() returns (EINPROGRESS),
    // and the socket is already established.
    let mut s = Stack::new(StackConfig::new(CLIENT));
    let me = SocketAddrV4::new(CLIENT, 40000);
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    s.bind(fd, me).unwrap();
    assert_eq!(s.connect(Instant::ZERO, fd, me), Err(Errno::EINPROGRESS));
    assert_eq!(s.poll(fd).unwrap() & POLLOUT, POLLOUT);
    assert_eq!(s.connect(Instant::ZERO, fd, me), Ok(()));
    assert_eq!(s.connect(Instant::ZERO, fd, me), Err(Errno::EISCONN));
    assert_eq!(s.getpeername(fd), Ok(me));
    let mut buf = [0u8; 1500];
    assert!(s.poll_transmit(&mut buf).is_none(), "nothing leaves the host");
    // What it writes it reads.
    assert_eq!(s.send(Instant::ZERO, fd, b"echo"), Ok(4));
    let mut got = [0u8; 8];
    assert_eq!(s.recv(Instant::ZERO, fd, &mut got), Ok(4));
    assert_eq!(&got[..4], b"echo");
    assert_eq!(s.mib().get(Counter::TcpCurrEstab), 1);
}

#[test]
fn a_client_reaches_a_listener_of_its_own_stack_through_the_loopback() {
    let mut s = Stack::new(StackConfig::new(CLIENT));
    let l = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    s.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)).unwrap();
    s.listen(l, 8).unwrap();
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let now = Instant::ZERO;
    assert_eq!(
        s.connect(now, fd, SocketAddrV4::new(CLIENT, PORT)),
        Err(Errno::EINPROGRESS)
    );
    assert_eq!(s.connect(now, fd, SocketAddrV4::new(CLIENT, PORT)), Ok(()));
    let (child, peer) = s.accept(l).unwrap();
    assert_eq!(peer, s.getsockname(fd).unwrap());
    assert_eq!(s.send(now, fd, b"hi"), Ok(2));
    let mut got = [0u8; 4];
    assert_eq!(s.recv(now, child, &mut got), Ok(2));
    // Both close; the client, first, keeps the TIME_WAIT; nothing went on the wire.
    s.close(now, fd).unwrap();
    s.close(now, child).unwrap();
    let mut buf = [0u8; 1500];
    assert!(s.poll_transmit(&mut buf).is_none());
    assert_eq!(
        s.bind_table().ports_in_use(),
        2,
        "the listener's port and the TIME_WAIT's"
    );
}

#[test]
fn c39_close_during_a_simultaneous_open_goes_on_as_fin_wait1() {
    let mut c = Client::new();
    c.now = Instant::from_millis(10);
    let out = c.answer(
        TcpFlags::SYN,
        0,
        TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].flags, TcpFlags::SYN | TcpFlags::ACK);
    let now = c.now;
    assert_eq!(c.stack.close(now, c.fd), Ok(()));
    let fin = parse_one(&mut c);
    assert_eq!(fin.flags, TcpFlags::FIN | TcpFlags::ACK);
    assert_eq!((fin.seq, fin.ack), (c.syn.seq.wrapping_add(1), S_ISN + 1));
    // What the timer resends is the FIN, never a bare SYN.
    let later = c.at(5.0);
    assert!(!later.is_empty());
    assert!(
        later.iter().all(|(_, s)| s.flags == TcpFlags::FIN | TcpFlags::ACK),
        "{later:?}"
    );
}

/// What `ss -tan` would list on each side, as (state, Recv-Q, Send-Q, local port, peer port).
fn ss(stack: &Stack) -> Vec<(&'static str, u32, u32, u16, u16)> {
    let mut v: Vec<_> = stack
        .inet_diag()
        .iter()
        .map(|d| {
            (
                synq_core::ss_state_name(d.state),
                d.recv_q,
                d.send_q,
                d.local.port(),
                d.peer.port(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn inet_diag_lists_every_socket_as_ss_tan_shows_it() {
    let mut server = Stack::new(StackConfig::new(SERVER));
    let l = server.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    server.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)).unwrap();
    server.listen(l, 3).unwrap();
    let mut client = Stack::new(StackConfig::new(CLIENT));
    let to = SocketAddrV4::new(SERVER, PORT);
    let now = Instant::ZERO;
    let a = client.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let b = client.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let _ = client.connect(now, a, to);
    let _ = client.connect(now, b, to);
    exchange(&mut client, &mut server, now);
    let (pa, pb) = (
        client.getsockname(a).unwrap().port(),
        client.getsockname(b).unwrap().port(),
    );
    // Unread and unacknowledged bytes: Recv-Q on the server's child, Send-Q on the client.
    assert_eq!(client.send(now, a, &[7; 100]), Ok(100));
    assert!(ss(&client).contains(&("ESTAB", 0, 100, pa, PORT)));
    exchange(&mut client, &mut server, now);
    // A listener shows its accept queue and backlog; unaccepted children are listed.
    assert_eq!(
        ss(&server),
        [
            ("ESTAB", 0, 0, PORT, pb),
            ("ESTAB", 100, 0, PORT, pa),
            ("LISTEN", 2, 3, PORT, 0),
        ]
    );
    // A SYN the server answered but whose handshake is not done: SYN-RECV there, SYN-SENT
    // with the SYN's one unacknowledged byte here.
    let c = client.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let _ = client.connect(now, c, to);
    let pc = client.getsockname(c).unwrap().port();
    let mut buf = [0u8; 1500];
    let n = client.poll_transmit(&mut buf).unwrap();
    server.receive(now, &buf[..n]);
    while server.poll_transmit(&mut buf).is_some() {}
    assert!(ss(&server).contains(&("SYN-RECV", 0, 0, PORT, pc)));
    assert!(ss(&client).contains(&("SYN-SENT", 0, 1, pc, PORT)), "{:?}", ss(&client));
    // The client closes first and ends in TIME-WAIT once the server's child, its bytes read,
    // closes too.
    let (child, _) = server.accept(l).unwrap();
    client.close(now, a).unwrap();
    assert!(ss(&client).contains(&("FIN-WAIT-1", 0, 1, pa, PORT)));
    exchange(&mut client, &mut server, now);
    assert!(ss(&server).contains(&("CLOSE-WAIT", 100, 0, PORT, pa)));
    assert_eq!(server.recv(now, child, &mut buf), Ok(100));
    server.close(now, child).unwrap();
    exchange(&mut client, &mut server, now);
    assert!(ss(&client).contains(&("TIME-WAIT", 0, 0, pa, PORT)));
    assert!(!ss(&server).iter().any(|e| e.4 == pa), "{:?}", ss(&server));
}

#[test]
fn ip_transparent_listener_takes_connections_to_any_address_with_their_destination() {
    let mut config = StackConfig::new(SERVER);
    config.credentials = synq_core::Credentials::ROOT;
    let mut server = Stack::new(config);
    let mut client = Stack::new(StackConfig::new(CLIENT));
    let now = Instant::ZERO;
    let elsewhere = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 7), 443);

    // No transparent listener: a datagram to another address is not ours (IpInAddrErrors),
    // and an ordinary wildcard listener on the port does not take it either.
    let plain = server.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    server
        .bind(plain, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 443))
        .unwrap();
    server.listen(plain, 8).unwrap();
    let fd = client.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let _ = client.connect(now, fd, elsewhere);
    exchange(&mut client, &mut server, now);
    assert_eq!(server.mib().get(Counter::IpInAddrErrors), 1);
    assert_eq!(server.accept(plain), Err(Errno::EAGAIN));
    client.close(now, fd).unwrap();

    // IP_TRANSPARENT needs CAP_NET_ADMIN (EPERM for nobody) and at least a byte.
    let mut unprivileged = Stack::new(StackConfig::new(SERVER));
    let u = unprivileged.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let one = 1i32.to_ne_bytes();
    assert_eq!(
        unprivileged.setsockopt(u, SOL_IP, IP_TRANSPARENT, &one),
        Err(Errno::EPERM)
    );
    assert_eq!(
        unprivileged.setsockopt(u, SOL_IP, IP_TRANSPARENT, &[]),
        Err(Errno::EINVAL)
    );

    // A transparent listener on the wildcard (port 9999) takes a connection to
    // 203.0.113.7:443; the child's local address is that destination, which it speaks from.
    let t = server.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    server.setsockopt(t, SOL_IP, IP_TRANSPARENT, &one).unwrap();
    let mut b = [0u8; 4];
    assert_eq!(server.getsockopt(t, SOL_IP, IP_TRANSPARENT, &mut b), Ok(4));
    assert_eq!(i32::from_ne_bytes(b), 1);
    server.bind(t, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9999)).unwrap();
    server.listen(t, 8).unwrap();
    let fd = client.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(client.connect(now, fd, elsewhere), Err(Errno::EINPROGRESS));
    exchange(&mut client, &mut server, now);
    assert_eq!(client.connect(now, fd, elsewhere), Ok(()));
    assert_eq!(server.accept(plain), Err(Errno::EAGAIN), "not the ordinary listener");
    let (child, peer) = server.accept(t).unwrap();
    assert_eq!(peer, client.getsockname(fd).unwrap());
    assert_eq!(server.getsockname(child), Ok(elsewhere));
    assert_eq!(server.send(now, child, b"from afar"), Ok(9));
    let mut buf = [0u8; 1500];
    let n = server.poll_transmit(&mut buf).unwrap();
    assert_eq!(
        &buf[12..16],
        &elsewhere.ip().octets(),
        "the source is the original destination"
    );
    client.receive(now, &buf[..n]);
    let mut got = [0u8; 16];
    assert_eq!(client.recv(now, fd, &mut got), Ok(9));
    assert_eq!(&got[..9], b"from afar");
    let listed = server.inet_diag();
    assert!(listed.iter().any(|d| d.local == elsewhere), "{listed:?}");

    // Closing the transparent listener ends the diversion of new connections; the ones it
    // accepted go on.
    server.close(now, t).unwrap();
    assert_eq!(client.send(now, fd, b"more"), Ok(4));
    exchange(&mut client, &mut server, now);
    assert_eq!(server.recv(now, child, &mut got), Ok(4));
    let fd = client.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let _ = client.connect(now, fd, SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 8), 80));
    let before = server.mib().get(Counter::IpInAddrErrors);
    exchange(&mut client, &mut server, now);
    assert_eq!(server.mib().get(Counter::IpInAddrErrors), before + 1);
}
