//! listen(), the SYN queue, SYN cookies, the accept queue and accept(): one test per rule of
//! `spec/listen-accept.md`, in virtual time, with exact packets and times. A `Peer` plays the
//! client: it injects segments and reads back what the stack sends.

use std::net::{Ipv4Addr, SocketAddrV4};

use synq_core::consts::*;
use synq_core::{Counter, Errno, Instant, SocketId, Stack, StackConfig};
use synq_wire::{Ipv4Repr, TcpFlags, TcpOptions, TcpRepr, Timestamp};

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PORT: u16 = 8080;

/// What the stack sent: the IP header's TOS/TTL and the segment, owned.
#[derive(Debug, Clone)]
struct Out {
    ip: Ipv4Repr,
    seg: TcpRepr<'static>,
}

impl Out {
    /// A datagram the stack sent (handshake segments carry no data).
    fn parse(d: &[u8]) -> Out {
        let (ip, payload) = Ipv4Repr::parse_bytes(d).unwrap();
        let seg = TcpRepr::parse(payload, ip.src_addr, ip.dst_addr).unwrap();
        assert!(seg.payload.is_empty(), "no data in the handshake");
        Out {
            ip,
            seg: TcpRepr { payload: &[], ..seg },
        }
    }
}

/// A segment from the client, field by field over a template: `In { seq: 1001, ..In::syn() }`.
#[derive(Debug, Clone)]
struct In<'a> {
    port: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    options: TcpOptions,
    payload: &'a [u8],
}

impl In<'static> {
    /// A SYN from port 5000 with ISN 1000 and the usual Linux options without timestamps.
    fn syn() -> In<'static> {
        In {
            port: 5000,
            seq: 1000,
            ack: 0,
            flags: TcpFlags::SYN,
            options: syn_options(),
            payload: &[],
        }
    }

    /// A segment from port 5000 after that SYN (sequence 1001): no flags, no options.
    fn seg() -> In<'static> {
        In {
            port: 5000,
            seq: 1001,
            ack: 0,
            flags: TcpFlags::NONE,
            options: TcpOptions::default(),
            payload: &[],
        }
    }
}

struct Peer {
    stack: Stack,
    now: Instant,
    /// The window field of the segments it sends.
    send_window: u16,
}

fn syn_options() -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        sack_permitted: true,
        window_scale: Some(7),
        ..TcpOptions::default()
    }
}

impl Peer {
    /// A server stack with a listener on PORT, backlog `backlog`, and sysctls `set`.
    fn new(backlog: i32, set: &[(&str, &str)]) -> (Peer, SocketId) {
        let mut stack = Stack::new(StackConfig::new(SERVER));
        for (k, v) in set {
            stack.sysctl.set(k, v).unwrap();
        }
        let l = stack.socket(AF_INET, SOCK_STREAM, 0).unwrap();
        stack.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)).unwrap();
        stack.listen(l, backlog).unwrap();
        (
            Peer {
                stack,
                now: Instant::ZERO,
                send_window: 502,
            },
            l,
        )
    }

    /// Runs the stack's timers up to `t` and collects what it sent, with the send times.
    fn run_until(&mut self, t: Instant) -> Vec<(Instant, Out)> {
        let mut sent = Vec::new();
        self.stack
            .run_until(self.now, t, &mut [0u8; 1500], |at, d| sent.push((at, Out::parse(d))));
        self.now = t;
        sent
    }

    fn at(&mut self, secs: f64) -> Vec<(Instant, Out)> {
        self.run_until(Instant::from_nanos((secs * 1e9).round() as u64))
    }

    fn drain(&mut self) -> Vec<Out> {
        let mut out = Vec::new();
        let mut buf = [0u8; 1500];
        self.stack.drain_transmit(&mut buf, |d| out.push(Out::parse(d)));
        out
    }

    /// Injects a segment from CLIENT and returns what the stack answered at once.
    fn send(&mut self, seg: In<'_>) -> Vec<Out> {
        let seg = TcpRepr {
            src_port: seg.port,
            dst_port: PORT,
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            window: self.send_window,
            urgent: 0,
            options: seg.options,
            payload: seg.payload,
        };
        self.stack
            .receive(self.now, &seg.to_ipv4_datagram(CLIENT, SERVER).unwrap());
        self.drain()
    }

    /// A SYN from `port` with ISN 1000 and the usual Linux options without timestamps.
    fn syn(&mut self, port: u16) -> Vec<Out> {
        self.send(In { port, ..In::syn() })
    }

    /// The third ACK for a SYN-ACK.
    fn ack(&mut self, port: u16, synack: &TcpRepr<'_>) -> Vec<Out> {
        self.send(In {
            port,
            ack: synack.seq.wrapping_add(1),
            flags: TcpFlags::ACK,
            ..In::seg()
        })
    }

    /// A full handshake from `port`; returns the SYN-ACK.
    fn connect(&mut self, port: u16) -> TcpRepr<'static> {
        let synack = one(self.syn(port)).seg;
        assert!(self.ack(port, &synack).is_empty());
        synack
    }

    fn count(&self, c: Counter) -> u64 {
        self.stack.mib().get(c)
    }
}

fn one(mut v: Vec<Out>) -> Out {
    assert_eq!(v.len(), 1, "{v:?}");
    v.pop().unwrap()
}

fn is_synack(o: &Out) -> bool {
    o.seg.flags == TcpFlags::SYN | TcpFlags::ACK
}

#[test]
fn l12_listen_state_flag_filter() {
    let (mut p, _) = Peer::new(8, &[]);
    // ACK (and SYN-ACK) → RST with seq = SEG.ACK, no ACK flag.
    for flags in [TcpFlags::ACK, TcpFlags::SYN | TcpFlags::ACK] {
        let rst = one(p.send(In {
            seq: 1,
            ack: 77,
            flags,
            ..In::seg()
        }))
        .seg;
        assert_eq!((rst.flags, rst.seq), (TcpFlags::RST, 77));
    }
    // RST, SYN+FIN, a bare FIN: silence.
    assert!(p
        .send(In {
            seq: 1,
            flags: TcpFlags::RST,
            ..In::seg()
        })
        .is_empty());
    assert!(p
        .send(In {
            seq: 1,
            flags: TcpFlags::SYN | TcpFlags::FIN,
            ..In::syn()
        })
        .is_empty());
    assert!(p
        .send(In {
            seq: 1,
            flags: TcpFlags::FIN,
            ..In::seg()
        })
        .is_empty());
    // A SYN with 10 bytes: the SYN-ACK acknowledges the SYN only.
    let synack = one(p.send(In {
        port: 5001,
        payload: b"0123456789",
        ..In::syn()
    }))
    .seg;
    assert_eq!(synack.ack, 1001);
}

#[test]
fn l19_l20_l21_synack_options_and_window_as_linux_sends_them() {
    let (mut p, _) = Peer::new(8, &[]);
    // Observed on Linux 6.18: SYN <mss 1460, sackOK, wscale 7> → win 64240
    // <mss 1460, nop, nop, sackOK, nop, wscale 10>.
    let o = one(p.syn(5000));
    assert!(is_synack(&o));
    assert_eq!((o.seg.ack, o.seg.window), (1001, 64240));
    assert_eq!(
        o.seg.options,
        TcpOptions {
            mss: Some(1460),
            sack_permitted: true,
            window_scale: Some(10),
            ..TcpOptions::default()
        }
    );
    assert_eq!((o.ip.ttl, o.ip.tos, o.ip.src_addr), (64, 0, SERVER));
    // With timestamps: window 65160, TSecr = the SYN's TSval.
    let ts = TcpOptions {
        timestamp: Some(Timestamp { tsval: 4242, tsecr: 0 }),
        ..syn_options()
    };
    let o = one(p.send(In {
        port: 5001,
        options: ts,
        ..In::syn()
    }))
    .seg;
    assert_eq!(o.window, 65160);
    assert_eq!(o.options.timestamp.map(|t| t.tsecr), Some(4242));
    // Nothing but MSS from a SYN with nothing else (sysctls off have the same effect).
    let o = one(p.send(In {
        port: 5002,
        options: TcpOptions::default(),
        ..In::syn()
    }))
    .seg;
    assert_eq!(
        o.options,
        TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        }
    );
    p.stack.sysctl.set("net.ipv4.tcp_sack", "0").unwrap();
    p.stack.sysctl.set("net.ipv4.tcp_window_scaling", "0").unwrap();
    let o = one(p.syn(5003)).seg;
    assert_eq!(
        o.options,
        TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        }
    );
    // ECE+CWR with tcp_ecn on (default 2): ECE in the SYN-ACK.
    let o = one(p.send(In {
        port: 5004,
        flags: TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR,
        ..In::syn()
    }))
    .seg;
    assert_eq!(o.flags, TcpFlags::SYN | TcpFlags::ACK | TcpFlags::ECE);
}

#[test]
fn l15_syn_queue_holds_backlog_plus_one_without_cookies() {
    let (mut p, _) = Peer::new(2, &[("net.ipv4.tcp_syncookies", "0")]);
    for port in 5000..5003 {
        assert!(is_synack(&one(p.syn(port))));
    }
    assert!(p.syn(5003).is_empty(), "the 4th SYN is dropped");
    assert_eq!(p.count(Counter::TcpExtTCPReqQFullDrop), 1);
    assert_eq!(p.count(Counter::TcpExtListenDrops), 1);
    assert_eq!(p.count(Counter::TcpExtListenOverflows), 0);
}

#[test]
fn l18_max_syn_backlog_drops_without_counting_reqqfull() {
    let (mut p, _) = Peer::new(
        100,
        &[("net.ipv4.tcp_syncookies", "0"), ("net.ipv4.tcp_max_syn_backlog", "8")],
    );
    for port in 5000..5007 {
        assert!(is_synack(&one(p.syn(port))));
    }
    assert!(p.syn(5007).is_empty(), "max 8 → 7 requests");
    assert_eq!(p.count(Counter::TcpExtListenDrops), 1);
    assert_eq!(p.count(Counter::TcpExtTCPReqQFullDrop), 0);
}

#[test]
fn l11_l30_syncookies_1_cookie_when_queue_full_and_its_ack_makes_a_child() {
    let (mut p, l) = Peer::new(1, &[]);
    assert!(is_synack(&one(p.syn(5000))));
    assert!(is_synack(&one(p.syn(5001))));
    let cookie = one(p.syn(5002)).seg;
    assert_eq!(p.count(Counter::TcpExtTCPReqQFullDoCookies), 1);
    assert_eq!(p.count(Counter::TcpExtSyncookiesSent), 1);
    assert_eq!(p.count(Counter::TcpExtListenDrops), 0);
    // L33: no timestamps → the cookie SYN-ACK carries MSS only.
    assert_eq!(
        cookie.options,
        TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        }
    );
    // No state: no retransmission of the cookie SYN-ACK (the two requests retransmit).
    let resent = p.at(1.5);
    assert_eq!(resent.iter().filter(|(_, o)| o.seg.dst_port == 5002).count(), 0);
    assert_eq!(resent.len(), 2);
    assert!(p.ack(5002, &cookie).is_empty());
    assert_eq!(p.count(Counter::TcpExtSyncookiesRecv), 1);
    assert_eq!(p.count(Counter::TcpPassiveOpens), 1);
    let (child, peer) = p.stack.accept(l).unwrap();
    assert_eq!(peer, SocketAddrV4::new(CLIENT, 5002));
    assert_eq!(p.stack.getsockname(child).unwrap(), SocketAddrV4::new(SERVER, PORT));
}

#[test]
fn l31_l37_l38_forged_cookie_ack_gets_reset_and_counts_failed() {
    let (mut p, _) = Peer::new(8, &[("net.ipv4.tcp_syncookies", "2")]);
    let cookie = one(p.syn(5000)).seg;
    let bogus = TcpRepr {
        seq: cookie.seq.wrapping_add(1000),
        ..cookie
    };
    let rst = one(p.ack(5000, &bogus)).seg;
    assert_eq!((rst.flags, rst.seq), (TcpFlags::RST, bogus.seq.wrapping_add(1)));
    assert_eq!(p.count(Counter::TcpExtSyncookiesFailed), 1);
    // Without a recent overflow (syncookies 1, none sent) nothing is counted.
    let (mut p, _) = Peer::new(8, &[]);
    assert_eq!(
        p.send(In {
            ack: 12345,
            flags: TcpFlags::ACK,
            ..In::seg()
        })
        .len(),
        1
    );
    assert_eq!(p.count(Counter::TcpExtSyncookiesFailed), 0);
}

#[test]
fn l34_l36_cookie_with_timestamps_keeps_the_options() {
    let (mut p, l) = Peer::new(8, &[("net.ipv4.tcp_syncookies", "2")]);
    p.at(5.0);
    let opts = TcpOptions {
        mss: Some(1400),
        timestamp: Some(Timestamp { tsval: 100, tsecr: 0 }),
        ..syn_options()
    };
    let cookie = one(p.send(In {
        options: opts,
        ..In::syn()
    }))
    .seg;
    assert_eq!(cookie.options.window_scale, Some(10));
    assert!(cookie.options.sack_permitted);
    let tsval = cookie.options.timestamp.unwrap().tsval;
    let ack_opts = TcpOptions {
        timestamp: Some(Timestamp {
            tsval: 101,
            tsecr: tsval,
        }),
        ..TcpOptions::default()
    };
    assert!(p
        .send(In {
            ack: cookie.seq.wrapping_add(1),
            flags: TcpFlags::ACK,
            options: ack_opts,
            ..In::seg()
        })
        .is_empty());
    assert_eq!(p.count(Counter::TcpExtSyncookiesRecv), 1);
    assert!(p.stack.accept(l).is_ok());
}

#[test]
fn l14_l16_accept_queue_full_at_syn_drops_it() {
    let (mut p, l) = Peer::new(0, &[("net.ipv4.tcp_syncookies", "0")]);
    p.connect(5000);
    assert!(
        p.syn(5001).is_empty(),
        "backlog 0 admits one child, then SYNs are dropped"
    );
    assert_eq!(p.count(Counter::TcpExtListenOverflows), 1);
    assert_eq!(p.count(Counter::TcpExtListenDrops), 1);
    p.stack.accept(l).unwrap();
    assert!(is_synack(&one(p.syn(5001))));
}

#[test]
fn l22_l23_l25_synack_retransmitted_at_1_3_7_15_31_then_silent_expiry_at_63() {
    let (mut p, _) = Peer::new(8, &[]);
    let first = one(p.syn(5000)).seg;
    let sent = p.at(200.0);
    let times: Vec<u64> = sent.iter().map(|(t, _)| t.as_millis()).collect();
    assert_eq!(times, [1000, 3000, 7000, 15000, 31000]);
    assert!(
        sent.iter().all(|(_, o)| o.seg.seq == first.seq && is_synack(o)),
        "same ISN"
    );
    assert_eq!(p.count(Counter::TcpExtTCPTimeouts), 6);
    assert_eq!(p.count(Counter::TcpExtTCPSynRetrans), 5);
    assert_eq!(p.count(Counter::TcpRetransSegs), 5);
    assert_eq!(p.stack.poll_timeout(), None, "request freed at 63 s");
    // A late ACK finds no request: RST (seq = SEG.ACK).
    let rst = one(p.ack(5000, &first)).seg;
    assert_eq!((rst.flags, rst.seq), (TcpFlags::RST, first.seq.wrapping_add(1)));
}

#[test]
fn l23_synack_retries_sysctl() {
    let (mut p, _) = Peer::new(8, &[("net.ipv4.tcp_synack_retries", "1")]);
    one(p.syn(5000));
    let sent = p.at(10.0);
    assert_eq!(sent.len(), 1);
    assert_eq!(p.count(Counter::TcpExtTCPTimeouts), 2, "request gone at 3 s");
}

#[test]
fn l24_pressure_expires_five_of_nine_at_7s() {
    let (mut p, _) = Peer::new(8, &[("net.ipv4.tcp_syncookies", "0")]);
    for port in 5000..5009 {
        one(p.syn(port));
    }
    assert_eq!(p.at(1.5).len(), 9);
    assert_eq!(p.at(3.5).len(), 9);
    assert_eq!(p.at(7.5).len(), 4, "5 expire at 7 s, 4 get SYN-ACK #3");
    assert_eq!(p.at(15.5).len(), 4);
}

#[test]
fn l26_duplicate_syn_resends_synack_rate_limited() {
    let (mut p, _) = Peer::new(8, &[]);
    let first = one(p.syn(5000)).seg;
    p.at(0.1);
    let again = one(p.syn(5000)).seg;
    assert_eq!((again.seq, again.ack), (first.seq, first.ack));
    p.at(0.2);
    assert!(p.syn(5000).is_empty(), "within tcp_invalid_ratelimit");
    assert_eq!(p.count(Counter::TcpExtTCPACKSkippedSynRecv), 1);
    // The timer was pushed to 0.1 + 1 s.
    let sent = p.at(2.0);
    assert_eq!(sent.iter().map(|(t, _)| t.as_millis()).collect::<Vec<_>>(), [1100]);
}

#[test]
fn l41_bad_ack_gets_reset_and_keeps_the_request() {
    let (mut p, l) = Peer::new(8, &[]);
    let synack = one(p.syn(5000)).seg;
    let rst = one(p.send(In {
        ack: synack.seq.wrapping_add(7),
        flags: TcpFlags::ACK,
        ..In::seg()
    }))
    .seg;
    assert_eq!((rst.flags, rst.seq), (TcpFlags::RST, synack.seq.wrapping_add(7)));
    assert!(p.ack(5000, &synack).is_empty());
    assert!(p.stack.accept(l).is_ok());
}

#[test]
fn l41_l42_out_of_window_gets_an_ack_rst_in_window_kills() {
    let (mut p, _) = Peer::new(8, &[]);
    let synack = one(p.syn(5000)).seg;
    let ack = one(p.send(In {
        seq: 999_999,
        ack: synack.seq.wrapping_add(1),
        flags: TcpFlags::ACK,
        ..In::seg()
    }))
    .seg;
    assert_eq!(
        (ack.flags, ack.seq, ack.ack),
        (TcpFlags::ACK, synack.seq.wrapping_add(1), 1001)
    );
    // L42: a RST outside the window is ignored, one inside removes the request.
    assert!(p
        .send(In {
            seq: 999_999,
            flags: TcpFlags::RST,
            ..In::seg()
        })
        .is_empty());
    assert!(p
        .send(In {
            flags: TcpFlags::RST,
            ..In::seg()
        })
        .is_empty());
    assert_eq!(p.count(Counter::TcpExtEmbryonicRsts), 1);
    assert_eq!(p.count(Counter::TcpAttemptFails), 1);
    assert!(p.at(5.0).is_empty(), "no more SYN-ACKs");
}

/// Backlog 1, no cookies: two children fill the accept queue while a third request waits.
fn third_request_meets_a_full_accept_queue(set: &[(&str, &str)]) -> (Peer, SocketId, TcpRepr<'static>) {
    let mut set = set.to_vec();
    set.push(("net.ipv4.tcp_syncookies", "0"));
    let (mut p, l) = Peer::new(1, &set);
    let a = one(p.syn(5000)).seg;
    let b = one(p.syn(5001)).seg;
    assert!(p.ack(5000, &a).is_empty());
    let c = one(p.syn(5002)).seg;
    assert!(p.ack(5001, &b).is_empty());
    (p, l, c)
}

#[test]
fn l45_full_accept_queue_at_ack_drops_it_then_retries() {
    let (mut p, l, c) = third_request_meets_a_full_accept_queue(&[]);
    assert!(
        p.ack(5002, &c).is_empty(),
        "dropped silently with tcp_abort_on_overflow 0"
    );
    assert_eq!(p.count(Counter::TcpExtListenOverflows), 1);
    assert_eq!(p.count(Counter::TcpExtListenDrops), 1);
    let resent = p.at(1.5);
    assert_eq!(resent.len(), 1, "the request's SYN-ACK is retransmitted at 1 s");
    assert_eq!(resent[0].1.seg.dst_port, 5002);
    p.stack.accept(l).unwrap();
    assert!(p.ack(5002, &c).is_empty());
    p.stack.accept(l).unwrap();
    assert_eq!(p.stack.accept(l).unwrap().1.port(), 5002);
}

#[test]
fn l45_abort_on_overflow_resets() {
    let (mut p, _, c) = third_request_meets_a_full_accept_queue(&[("net.ipv4.tcp_abort_on_overflow", "1")]);
    let rst = one(p.ack(5002, &c)).seg;
    assert_eq!((rst.flags, rst.seq), (TcpFlags::RST, c.seq.wrapping_add(1)));
    assert_eq!(p.count(Counter::TcpExtEmbryonicRsts), 1);
    assert_eq!(p.count(Counter::TcpExtListenOverflows), 1);
    assert_eq!(p.count(Counter::TcpAttemptFails), 0);
    assert!(p.at(5.0).is_empty(), "request gone");
}

#[test]
fn l46_l50_l52_l55_accept_errors_fifo_and_readiness() {
    let (mut p, l) = Peer::new(8, &[]);
    let s = p.stack.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(p.stack.accept(s).unwrap_err(), Errno::EINVAL, "not listening");
    assert_eq!(p.stack.accept4(l, 0x1).unwrap_err(), Errno::EINVAL, "bad flags");
    assert_eq!(p.stack.accept(l).unwrap_err(), Errno::EAGAIN);
    assert_eq!(p.stack.poll(l).unwrap() & POLLIN, 0);
    p.connect(5001);
    p.connect(5000);
    assert_eq!(p.stack.poll(l).unwrap() & (POLLIN | POLLRDNORM), POLLIN | POLLRDNORM);
    let (c1, a1) = p.stack.accept4(l, SOCK_NONBLOCK).unwrap();
    assert_eq!(a1.port(), 5001, "FIFO");
    assert!(p.stack.is_nonblocking(c1).unwrap());
    let (c2, a2) = p.stack.accept(l).unwrap();
    assert_eq!(a2.port(), 5000);
    assert!(!p.stack.is_nonblocking(c2).unwrap());
    assert_eq!(p.stack.getpeername(c2).unwrap(), a2);
    assert_eq!(p.stack.accept(l).unwrap_err(), Errno::EAGAIN);
}

#[test]
fn l61_closing_a_listener_resets_its_queued_children() {
    let (mut p, l) = Peer::new(8, &[]);
    let synack = p.connect(5000);
    p.stack.close(p.now, l).unwrap();
    let rst = one(p.drain()).seg;
    assert_eq!(rst.flags, TcpFlags::RST | TcpFlags::ACK);
    assert_eq!((rst.seq, rst.ack), (synack.seq.wrapping_add(1), 1001));
    assert_eq!(
        rst.window, 63,
        "our window 64240 scaled by 2^10, rounded up (Linux 6.18 sends 63)"
    );
    assert_eq!(p.count(Counter::TcpOutRsts), 1);
    // The port is free again.
    let again = p.stack.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    p.stack
        .bind(again, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))
        .unwrap();
}

#[test]
fn l40_l62_requests_of_a_closed_listener_die_silently() {
    let (mut p, l) = Peer::new(8, &[]);
    let synack = one(p.syn(5000)).seg;
    p.at(0.1);
    p.stack.close(p.now, l).unwrap();
    assert!(p.at(0.2).is_empty());
    let rst = one(p.ack(5000, &synack)).seg;
    assert_eq!((rst.flags, rst.seq), (TcpFlags::RST, synack.seq.wrapping_add(1)));
    assert!(p.at(5.0).is_empty(), "no SYN-ACK retransmission");
    assert_eq!(p.count(Counter::TcpExtTCPTimeouts), 0);
}

#[test]
fn isn_differs_per_connection() {
    let (mut p, _) = Peer::new(8, &[]);
    let a = one(p.syn(5000)).seg.seq;
    let b = one(p.syn(5001)).seg.seq;
    assert_ne!(a, b);
}

fn set_int(p: &mut Peer, fd: SocketId, level: i32, name: i32, v: i32) -> Result<(), Errno> {
    p.stack.setsockopt(fd, level, name, &v.to_ne_bytes())
}

fn get_int(p: &mut Peer, fd: SocketId, level: i32, name: i32) -> i32 {
    let mut out = [0u8; 4];
    p.stack.getsockopt(fd, level, name, &mut out).unwrap();
    i32::from_ne_bytes(out)
}

#[test]
fn l27_defer_accept_holds_a_bare_ack_and_resumes_synacks() {
    let (mut p, l) = Peer::new(8, &[]);
    set_int(&mut p, l, SOL_TCP, TCP_DEFER_ACCEPT, 2).unwrap();
    assert_eq!(get_int(&mut p, l, SOL_TCP, TCP_DEFER_ACCEPT), 3);
    let synack = one(p.syn(5000)).seg;
    p.at(0.1);
    assert!(p.ack(5000, &synack).is_empty());
    assert_eq!(p.count(Counter::TcpExtTCPDeferAcceptDrop), 1);
    assert_eq!(p.stack.accept(l).unwrap_err(), Errno::EAGAIN);
    // Observed on Linux 6.18: no SYN-ACK at 1 s, SYN-ACKs at 3 s and 7 s.
    let times: Vec<u64> = p.at(7.5).iter().map(|(t, _)| t.as_millis()).collect();
    assert_eq!(times, [3000, 7000]);
    // A pure ACK once num_timeout ≥ N makes the child.
    assert!(p.ack(5000, &synack).is_empty());
    assert!(p.stack.accept(l).is_ok());
}

#[test]
fn l27_defer_accept_with_one_synack_retry_expires_at_7s() {
    let (mut p, l) = Peer::new(8, &[("net.ipv4.tcp_synack_retries", "1")]);
    set_int(&mut p, l, SOL_TCP, TCP_DEFER_ACCEPT, 2).unwrap();
    let synack = one(p.syn(5000)).seg;
    p.at(0.1);
    assert!(p.ack(5000, &synack).is_empty());
    let times: Vec<u64> = p.at(10.0).iter().map(|(t, _)| t.as_millis()).collect();
    assert_eq!(times, [3000]);
    assert_eq!(p.count(Counter::TcpExtTCPTimeouts), 3, "freed at 7 s");
    let rst = one(p.send(In {
        ack: synack.seq.wrapping_add(1),
        flags: TcpFlags::ACK | TcpFlags::PSH,
        payload: b"x",
        ..In::seg()
    }))
    .seg;
    assert_eq!((rst.flags, rst.seq), (TcpFlags::RST, synack.seq.wrapping_add(1)));
}

#[test]
fn l23_tcp_syncnt_on_the_listener_replaces_synack_retries() {
    let (mut p, l) = Peer::new(8, &[]);
    assert_eq!(set_int(&mut p, l, SOL_TCP, TCP_SYNCNT, 0), Err(Errno::EINVAL));
    assert_eq!(set_int(&mut p, l, SOL_TCP, TCP_SYNCNT, 128), Err(Errno::EINVAL));
    assert_eq!(get_int(&mut p, l, SOL_TCP, TCP_SYNCNT), 6, "tcp_syn_retries until set");
    set_int(&mut p, l, SOL_TCP, TCP_SYNCNT, 1).unwrap();
    one(p.syn(5000));
    let times: Vec<u64> = p.at(10.0).iter().map(|(t, _)| t.as_millis()).collect();
    assert_eq!(times, [1000]);
    assert_eq!(p.count(Counter::TcpExtTCPTimeouts), 2, "gone at 3 s");
}

#[test]
fn l17_l19_tcp_maxseg_clamps_our_mss_and_the_peers() {
    let (mut p, l) = Peer::new(8, &[]);
    assert_eq!(get_int(&mut p, l, SOL_TCP, TCP_MAXSEG), 536);
    assert_eq!(set_int(&mut p, l, SOL_TCP, TCP_MAXSEG, 87), Err(Errno::EINVAL));
    set_int(&mut p, l, SOL_TCP, TCP_MAXSEG, 1100).unwrap();
    assert_eq!(get_int(&mut p, l, SOL_TCP, TCP_MAXSEG), 1100);
    let synack = one(p.syn(5000)).seg;
    assert_eq!(synack.options.mss, Some(1100));
    assert!(p.ack(5000, &synack).is_empty());
    let (child, _) = p.stack.accept(l).unwrap();
    assert_eq!(get_int(&mut p, child, SOL_TCP, TCP_MAXSEG), 1100);
}

#[test]
fn l33_cookie_child_mss_is_quantised() {
    let (mut p, l) = Peer::new(8, &[("net.ipv4.tcp_syncookies", "2")]);
    let opts = TcpOptions {
        mss: Some(1400),
        ..syn_options()
    };
    let cookie = one(p.send(In {
        options: opts,
        ..In::syn()
    }))
    .seg;
    assert_eq!(
        cookie.options,
        TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        }
    );
    // The peer's window: 502 unscaled (a cookie without timestamps has no window scale),
    // and the MSS is at most half the largest window offered (`tcp_bound_to_half_wnd`).
    assert!(p.ack(5000, &cookie).is_empty());
    let (child, _) = p.stack.accept(l).unwrap();
    assert_eq!(get_int(&mut p, child, SOL_TCP, TCP_MAXSEG), 502);
    let cookie = one(p.send(In {
        port: 5001,
        options: opts,
        ..In::syn()
    }))
    .seg;
    p.send_window = 65535;
    assert!(p.ack(5001, &cookie).is_empty());
    let (child, _) = p.stack.accept(l).unwrap();
    assert_eq!(get_int(&mut p, child, SOL_TCP, TCP_MAXSEG), 1300);
}

#[test]
fn l21_so_rcvbuf_on_the_listener_clamps_the_synack_window() {
    let (mut p, l) = Peer::new(8, &[]);
    assert_eq!(get_int(&mut p, l, SOL_SOCKET, SO_RCVBUF), 131072);
    set_int(&mut p, l, SOL_SOCKET, SO_RCVBUF, 20000).unwrap();
    assert_eq!(get_int(&mut p, l, SOL_SOCKET, SO_RCVBUF), 40000, "doubled");
    set_int(&mut p, l, SOL_SOCKET, SO_SNDBUF, 1).unwrap();
    assert_eq!(get_int(&mut p, l, SOL_SOCKET, SO_SNDBUF), 4608, "SOCK_MIN_SNDBUF");
    let o = one(p.syn(5000)).seg;
    // full space 20000, rounded down to 13 · 1460; no shift is needed under 64 KiB.
    assert_eq!((o.window, o.options.window_scale), (18980, Some(0)));
}

#[test]
fn l9_shutdown_on_a_listener() {
    let (mut p, l) = Peer::new(8, &[]);
    let now = p.now;
    assert_eq!(p.stack.shutdown(now, l, 3), Err(Errno::EINVAL));
    // SHUT_WR: nothing changes.
    p.stack.shutdown(now, l, SHUT_WR).unwrap();
    let synack = p.connect(5000);
    // SHUT_RD: no longer listening, the queued child is reset, accept() fails.
    p.stack.shutdown(now, l, SHUT_RD).unwrap();
    let rst = one(p.drain()).seg;
    assert_eq!(
        (rst.flags, rst.seq),
        (TcpFlags::RST | TcpFlags::ACK, synack.seq.wrapping_add(1))
    );
    assert_eq!(p.stack.accept(l).unwrap_err(), Errno::EINVAL);
    assert_eq!(p.stack.shutdown(now, l, SHUT_RDWR), Err(Errno::ENOTCONN));
    let rst = one(p.syn(5001)).seg;
    assert_eq!(
        rst.flags,
        TcpFlags::RST | TcpFlags::ACK,
        "a SYN to the port gets a reset"
    );
    // listen() again: the port was the user's, so it is still held.
    assert_eq!(p.stack.getsockname(l).unwrap().port(), PORT);
    p.stack.listen(l, 8).unwrap();
    assert!(is_synack(&one(p.syn(5002))));
}

/// A listener on PORT with SO_REUSEPORT, joining the group.
fn reuseport_listener(p: &mut Peer) -> SocketId {
    let fd = p.stack.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    set_int(p, fd, SOL_SOCKET, SO_REUSEPORT, 1).unwrap();
    p.stack
        .bind(fd, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))
        .unwrap();
    p.stack.listen(fd, 64).unwrap();
    fd
}

/// Which of `listeners` accepted the connection from each port (each child is closed and
/// the peer resets it, so that a port can connect once more).
fn who_accepts(p: &mut Peer, listeners: &[SocketId], ports: std::ops::Range<u16>) -> Vec<usize> {
    ports
        .map(|port| {
            p.connect(port);
            let (member, child) = listeners
                .iter()
                .enumerate()
                .find_map(|(i, &l)| p.stack.accept(l).ok().map(|(c, _)| (i, c)))
                .expect("one listener has it");
            p.stack.close(p.now, child).unwrap();
            assert_eq!(one(p.drain()).seg.flags, TcpFlags::FIN | TcpFlags::ACK);
            assert!(p
                .send(In {
                    port,
                    flags: TcpFlags::RST,
                    ..In::seg()
                })
                .is_empty());
            member
        })
        .collect()
}

#[test]
fn l64_l65_reuseport_group_spreads_syns_by_tuple_hash() {
    let (mut p, plain) = Peer::new(8, &[]);
    p.stack.close(p.now, plain).unwrap();
    let group = [
        reuseport_listener(&mut p),
        reuseport_listener(&mut p),
        reuseport_listener(&mut p),
    ];
    let first = who_accepts(&mut p, &group, 6000..6300);
    for member in 0..3 {
        let n = first.iter().filter(|&&m| m == member).count();
        assert!((60..140).contains(&n), "member {member} got {n} of 300");
    }
    // The choice is a function of the 4-tuple: the same ports land on the same members.
    assert_eq!(who_accepts(&mut p, &group, 6000..6300), first);
    // L64: a member that leaves is replaced by the last one in its slot; every SYN still
    // finds one of the two left, and both get some.
    p.stack.close(p.now, group[0]).unwrap();
    let after = who_accepts(&mut p, &group[1..], 7000..7100);
    assert!(after.contains(&0) && after.contains(&1));
}

/// Spec §10.2: a flood of SYNs that never complete on a backlog of 8, per tcp_syncookies.
#[test]
fn timeline_10_2_syn_flood_backlog_8() {
    for (cookies, requests_kept) in [("0", 9), ("1", 9), ("2", 0)] {
        let (mut p, _) = Peer::new(8, &[("net.ipv4.tcp_syncookies", cookies)]);
        let answered = (5000..5020).filter(|&port| !p.syn(port).is_empty()).count();
        let c = |c| p.count(c);
        match cookies {
            "0" => {
                assert_eq!(answered, 9, "9 requests, the other 11 SYNs dropped");
                assert_eq!(
                    (c(Counter::TcpExtTCPReqQFullDrop), c(Counter::TcpExtListenDrops)),
                    (11, 11)
                );
            }
            "1" => {
                assert_eq!(answered, 20, "9 requests and 11 cookies");
                assert_eq!(c(Counter::TcpExtSyncookiesSent), 11);
                assert_eq!(c(Counter::TcpExtTCPReqQFullDoCookies), 11);
            }
            _ => {
                assert_eq!(answered, 20, "all cookies");
                assert_eq!(c(Counter::TcpExtSyncookiesSent), 20);
            }
        }
        // 1 s: each kept request retransmits once; cookies never do.
        assert_eq!(p.at(1.5).len(), requests_kept, "tcp_syncookies={cookies}");
        // 7 s: the pressure rule leaves 4 of 9 (L24).
        p.at(3.5);
        assert_eq!(p.at(7.5).len(), requests_kept.min(4), "tcp_syncookies={cookies}");
    }
}

#[test]
fn l13_syn_to_a_broadcast_address_is_dropped() {
    let mut stack = Stack::new(StackConfig::new(SERVER));
    let l = stack.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    stack.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)).unwrap();
    stack.listen(l, 8).unwrap();
    let seg = TcpRepr {
        src_port: 5000,
        dst_port: PORT,
        seq: 1,
        flags: TcpFlags::SYN,
        window: 100,
        ..Default::default()
    };
    stack.receive(
        Instant::ZERO,
        &seg.to_ipv4_datagram(CLIENT, Ipv4Addr::BROADCAST).unwrap(),
    );
    assert_eq!(stack.poll_transmit(&mut [0u8; 1500]), None);
}

#[test]
fn l41_paws_and_tsecr_rejects_answer_with_an_ack() {
    let (mut p, l) = Peer::new(8, &[]);
    let ts = |tsval, tsecr| TcpOptions {
        timestamp: Some(Timestamp { tsval, tsecr }),
        ..TcpOptions::default()
    };
    let syn = TcpOptions {
        timestamp: Some(Timestamp { tsval: 1000, tsecr: 0 }),
        ..syn_options()
    };
    let synack = one(p.send(In {
        options: syn,
        ..In::syn()
    }))
    .seg;
    let our_tsval = synack.options.timestamp.unwrap().tsval;
    let ack_no = synack.seq.wrapping_add(1);
    // An older TSval: PAWS reject, an ACK with TSecr = the SYN's TSval.
    let a = one(p.send(In {
        ack: ack_no,
        flags: TcpFlags::ACK,
        options: ts(999, our_tsval),
        ..In::seg()
    }))
    .seg;
    assert_eq!((a.flags, a.seq, a.ack), (TcpFlags::ACK, ack_no, 1001));
    assert_eq!(a.options.timestamp.map(|t| t.tsecr), Some(1000));
    assert_eq!(p.count(Counter::TcpExtPAWSEstab), 1);
    // A TSecr we never sent (rate limit: half a second later).
    p.at(0.6);
    one(p.send(In {
        ack: ack_no,
        flags: TcpFlags::ACK,
        options: ts(1001, our_tsval.wrapping_add(1_000_000)),
        ..In::seg()
    }));
    assert_eq!(p.count(Counter::TcpExtTSEcrRejected), 1);
    assert_eq!(p.stack.accept(l).unwrap_err(), Errno::EAGAIN, "the request is kept");
    assert!(p
        .send(In {
            ack: ack_no,
            flags: TcpFlags::ACK,
            options: ts(1002, our_tsval),
            ..In::seg()
        })
        .is_empty());
    assert!(p.stack.accept(l).is_ok());
}

#[test]
fn l43_new_syn_out_of_window_gets_an_ack_for_the_old_request() {
    let (mut p, _) = Peer::new(8, &[]);
    let synack = one(p.syn(5000)).seg;
    let a = one(p.send(In {
        seq: 900_000,
        ..In::syn()
    }))
    .seg;
    assert_eq!(
        (a.flags, a.seq, a.ack),
        (TcpFlags::ACK, synack.seq.wrapping_add(1), 1001)
    );
    // The peer's reset (seq = our rcv_nxt) removes the request; its next SYN is new.
    assert!(p
        .send(In {
            flags: TcpFlags::RST,
            ..In::seg()
        })
        .is_empty());
    let fresh = one(p.send(In {
        seq: 900_000,
        ..In::syn()
    }))
    .seg;
    assert_eq!(fresh.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(fresh.ack, 900_001);
}

#[test]
fn l54_a_child_reset_before_accept_is_still_accepted() {
    let (mut p, l) = Peer::new(8, &[]);
    p.connect(5000);
    assert!(p
        .send(In {
            flags: TcpFlags::RST,
            ..In::seg()
        })
        .is_empty());
    let (child, peer) = p.stack.accept(l).unwrap();
    assert_eq!(peer.port(), 5000);
    let mut err = [0u8; 4];
    p.stack.getsockopt(child, SOL_SOCKET, SO_ERROR, &mut err).unwrap();
    assert_eq!(i32::from_ne_bytes(err), Errno::ECONNRESET.raw());
}

#[test]
fn l44_l53_child_inherits_the_listeners_options_not_its_file_flags() {
    let (mut p, l) = Peer::new(8, &[]);
    set_int(&mut p, l, SOL_SOCKET, SO_KEEPALIVE, 1).unwrap();
    set_int(&mut p, l, SOL_TCP, TCP_NODELAY, 1).unwrap();
    set_int(&mut p, l, SOL_SOCKET, SO_RCVBUF, 50_000).unwrap();
    p.stack.set_nonblocking(l, true).unwrap();
    p.connect(5000);
    let (child, _) = p.stack.accept(l).unwrap();
    assert_eq!(get_int(&mut p, child, SOL_SOCKET, SO_KEEPALIVE), 1);
    assert_eq!(get_int(&mut p, child, SOL_TCP, TCP_NODELAY), 1);
    assert_eq!(get_int(&mut p, child, SOL_SOCKET, SO_RCVBUF), 100_000);
    assert_eq!(get_int(&mut p, child, SOL_SOCKET, SO_ACCEPTCONN), 0);
    assert!(
        !p.stack.is_nonblocking(child).unwrap(),
        "O_NONBLOCK comes from accept4 only"
    );
}

#[test]
fn l1_l2_listen_on_a_bad_descriptor_or_a_connected_socket() {
    let (mut p, l) = Peer::new(8, &[]);
    // L1: synq's descriptors are all TCP sockets, so only EBADF of the fd checks applies.
    assert_eq!(p.stack.listen(SocketId::from_raw(99), 8), Err(Errno::EBADF));
    p.connect(5000);
    let (child, _) = p.stack.accept(l).unwrap();
    assert_eq!(
        p.stack.listen(child, 8),
        Err(Errno::EINVAL),
        "L2: TCP state not CLOSE/LISTEN"
    );
}

#[test]
fn l3_a_negative_backlog_is_clamped_to_somaxconn() {
    let (mut p, _) = Peer::new(-1, &[("net.core.somaxconn", "2")]);
    for port in 5000..5003 {
        p.connect(port); // backlog 2 admits three children (L16)
    }
    assert!(p.syn(5003).is_empty(), "the fourth SYN meets a full accept queue");
    assert_eq!(p.count(Counter::TcpExtListenOverflows), 1);
}

#[test]
fn l4_listen_again_changes_only_the_backlog() {
    let (mut p, l) = Peer::new(8, &[]);
    p.connect(5000);
    p.connect(5001);
    assert_eq!(p.stack.listen(l, 0), Ok(()));
    assert!(p.syn(5002).is_empty(), "2 children > backlog 0: full");
    let ports: Vec<u16> = (0..2).map(|_| p.stack.accept(l).unwrap().1.port()).collect();
    assert_eq!(ports, [5000, 5001], "children queued before are kept");
    assert_eq!(
        p.stack.getsockname(l),
        Ok(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))
    );
    assert!(is_synack(&one(p.syn(5003))), "an empty queue admits backlog + 1 = 1");
}

#[test]
fn l5_l6_listen_without_bind_starts_listening_on_an_odd_ephemeral_port() {
    let mut s = Stack::new(StackConfig::new(SERVER));
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(s.listen(fd, 4), Ok(()));
    let local = s.getsockname(fd).unwrap();
    assert_eq!(*local.ip(), Ipv4Addr::UNSPECIFIED);
    assert!((32768..=60999).contains(&local.port()), "{local}");
    assert_eq!(
        local.port() % 2,
        1,
        "the parity opposite to the range's low bound first"
    );
    let mut v = [0u8; 4];
    s.getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &mut v).unwrap();
    assert_eq!(i32::from_ne_bytes(v), 1);
    assert_eq!(s.poll(fd), Ok(0), "an empty accept queue");
    assert_eq!(s.accept(fd).unwrap_err(), Errno::EAGAIN);
}

#[test]
fn l7_two_reuseaddr_sockets_bind_one_port_but_only_one_listens() {
    let mut s = Stack::new(StackConfig::new(SERVER));
    let addr = SocketAddrV4::new(SERVER, 9000);
    let mut pair = |opt| {
        let fds: Vec<SocketId> = (0..2).map(|_| s.socket(AF_INET, SOCK_STREAM, 0).unwrap()).collect();
        for &fd in &fds {
            s.setsockopt(fd, SOL_SOCKET, opt, &1i32.to_ne_bytes()).unwrap();
            s.bind(fd, addr).unwrap();
        }
        let r = (s.listen(fds[0], 4), s.listen(fds[1], 4));
        for fd in fds {
            s.close(Instant::ZERO, fd).unwrap();
        }
        r
    };
    assert_eq!(pair(SO_REUSEADDR), (Ok(()), Err(Errno::EADDRINUSE)));
    assert_eq!(pair(SO_REUSEPORT), (Ok(()), Ok(())), "a reuseport group");
}

#[test]
fn l10_the_established_hash_comes_before_the_listener() {
    let (mut p, _) = Peer::new(8, &[]);
    p.connect(5000);
    // A SYN on the connection's 4-tuple reaches the connection (a challenge ACK), not the
    // listener (which would answer with a SYN-ACK).
    let out = one(p.syn(5000));
    assert_eq!(out.seg.flags, TcpFlags::ACK);
    assert_eq!(p.count(Counter::TcpExtTCPSYNChallenge), 1);
}

#[test]
fn l47_the_child_queues_data_and_fin_carried_by_the_third_ack() {
    let (mut p, l) = Peer::new(8, &[]);
    let synack = one(p.syn(5000)).seg;
    let flags = TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN;
    let now = p.send(In {
        ack: synack.seq.wrapping_add(1),
        flags,
        payload: b"hello",
        ..In::seg()
    });
    assert!(now.is_empty(), "the FIN makes the ACK a delayed one");
    let later = p.at(1.0);
    assert_eq!(later.len(), 1);
    assert_eq!((later[0].0, later[0].1.seg.ack), (Instant::from_millis(40), 1007));
    let (child, _) = p.stack.accept(l).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(p.stack.recv(p.now, child, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(
        p.stack.recv(p.now, child, &mut buf),
        Ok(0),
        "then the end of the stream"
    );
}

#[test]
fn l35_a_cookie_child_has_no_rtt_sample_so_its_first_rto_is_3_s() {
    let (mut p, l) = Peer::new(8, &[("net.ipv4.tcp_syncookies", "2")]);
    let cookie = one(p.syn(5000)).seg;
    p.at(0.1);
    assert!(p.ack(5000, &cookie).is_empty());
    let (child, _) = p.stack.accept(l).unwrap();
    let start = p.now;
    assert_eq!(p.stack.send(p.now, child, b"x"), Ok(1));
    p.stack.poll_transmit(&mut [0u8; 1500]).expect("the data");
    // TCP_TIMEOUT_FALLBACK, where a request's child would have srtt + max(2·srtt, 200 ms).
    let mut times = Vec::new();
    let end = start + synq_core::Duration::from_secs(4);
    p.stack.run_until(start, end, &mut [0u8; 1500], |at, _| times.push(at));
    assert_eq!(times, [start + synq_core::Duration::from_secs(3)]);
}

/// L51 in a sans-IO stack: the stack never sleeps; a blocking caller waits for POLLIN and
/// calls again (the drill's synq target does; `tcp_blocking_blocking-accept.pkt` passes).
/// One child satisfies one accept(), as Linux's wake-one waiters do.
#[test]
fn l51_a_blocking_accept_is_poll_then_accept_and_one_child_serves_one_waiter() {
    let (mut p, l) = Peer::new(8, &[]);
    assert!(!p.stack.is_nonblocking(l).unwrap());
    assert_eq!(p.stack.accept(l).unwrap_err(), Errno::EAGAIN);
    p.connect(5000);
    assert_eq!(p.stack.poll(l).unwrap() & POLLIN, POLLIN);
    assert!(p.stack.accept(l).is_ok());
    assert_eq!(
        p.stack.accept(l).unwrap_err(),
        Errno::EAGAIN,
        "the second waiter sleeps on"
    );
    assert_eq!(p.stack.poll(l).unwrap() & POLLIN, 0);
}

/// L8 with Linux's default `tcp_fastopen` = 1 (client only; synq has no server-side TFO): a
/// listener takes no data from a SYN.
#[test]
fn l8_no_fast_open_by_default_a_syns_data_is_not_taken() {
    let (mut p, _) = Peer::new(8, &[]);
    let synack = one(p.send(In {
        payload: b"early data",
        ..In::syn()
    }))
    .seg;
    assert_eq!(synack.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(synack.ack, 1001, "the SYN only");
}

/// L66 with the default `tcp_migrate_req` = 0: a reuseport member that closes takes its
/// requests with it; their ACKs find the other member without a request: RST.
#[test]
fn l66_no_request_migration_by_default() {
    let (mut p, plain) = Peer::new(8, &[]);
    p.stack.close(p.now, plain).unwrap();
    let group = [reuseport_listener(&mut p), reuseport_listener(&mut p)];
    // A port whose SYN lands on group[0]: find it by completing handshakes.
    let port = (6000..6100)
        .find(|&port| {
            p.connect(port);
            let got = p.stack.accept(group[0]).is_ok();
            let _ = p.stack.accept(group[1]);
            got
        })
        .expect("some tuple hashes to the first member");
    // A new request from that client (another ISN, after a reset of the old connection).
    p.send(In {
        port,
        flags: TcpFlags::RST,
        ..In::seg()
    });
    let synack = one(p.syn(port)).seg;
    p.stack.close(p.now, group[0]).unwrap();
    let rst = one(p.ack(port, &synack)).seg;
    assert_eq!((rst.flags, rst.seq), (TcpFlags::RST, synack.seq.wrapping_add(1)));
}
