//! Rules E* of `spec/established-close.md` that the passive side exercises: data in and out,
//! the delayed-ACK engine, the RTO, resets, close() and shutdown(), FIN_WAIT2 and TIME_WAIT.
//! Each test plays the peer by hand against an accepted connection, in virtual time.

use std::net::{Ipv4Addr, SocketAddrV4};
use synq_core::consts::*;
use synq_core::{Counter, Errno, Instant, SocketId, Stack, StackConfig};
use synq_wire::{Ipv4Repr, TcpFlags, TcpOptions, TcpRepr};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 8080;
const CPORT: u16 = 40000;
/// The peer's ISN; its first data byte is ISN + 1.
const C_ISN: u32 = 1000;

/// A segment the stack sent, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seg {
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    len: usize,
    /// SACK blocks, relative to the peer's ISN.
    sack: Vec<(u32, u32)>,
    /// The timestamp option's TSval.
    tsval: Option<u32>,
}

impl Seg {
    /// A datagram the stack sent, with seq relative to `s_base` (its ISN + 1) and ack/SACK to
    /// the peer's ISN.
    fn parse(d: &[u8], s_base: u32) -> Seg {
        let (ip, payload) = Ipv4Repr::parse_bytes(d).unwrap();
        let s = TcpRepr::parse(payload, ip.src_addr, ip.dst_addr).unwrap();
        let rel_ack = |a: u32| a.wrapping_sub(C_ISN);
        Seg {
            seq: s.seq.wrapping_sub(s_base).wrapping_add(1),
            ack: if s.flags.ack() { rel_ack(s.ack) } else { 0 },
            flags: s.flags,
            window: s.window,
            len: s.payload.len(),
            sack: s
                .options
                .sack_blocks
                .as_slice()
                .iter()
                .map(|&(l, r)| (rel_ack(l), rel_ack(r)))
                .collect(),
            tsval: s.options.timestamp.map(|t| t.tsval),
        }
    }
}

/// A segment from the peer, its `seq` and `ack` relative to the two ISNs (1 = the first
/// byte after each SYN); `ack` counts only with the ACK flag.
struct In<'a> {
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    options: TcpOptions,
    payload: &'a [u8],
}

impl In<'static> {
    /// The template: a bare ACK of the SYN-ACK at the peer's first sequence number.
    fn seg() -> In<'static> {
        In {
            seq: 1,
            ack: 1,
            flags: TcpFlags::ACK,
            window: 65535,
            options: TcpOptions::default(),
            payload: &[],
        }
    }

    /// A bare ACK of `ack`.
    fn ack(ack: u32) -> In<'static> {
        In { ack, ..In::seg() }
    }
}

impl<'a> In<'a> {
    /// The peer's first data, with PSH.
    fn data(payload: &'a [u8]) -> In<'a> {
        In {
            flags: PSH_ACK,
            payload,
            ..In::seg()
        }
    }
}

/// How many TIME_WAIT entries the stack holds.
fn time_waits(stack: &Stack) -> usize {
    stack
        .inet_diag()
        .iter()
        .filter(|d| d.state == synq_core::TcpState::TimeWait)
        .count()
}

/// The peer of one accepted connection.
struct Conn {
    stack: Stack,
    now: Instant,
    listener: SocketId,
    fd: SocketId,
    /// Our side's ISN + 1: the first sequence number of its data.
    s_base: u32,
}

impl Conn {
    /// A listener on PORT, the handshake from CLIENT:CPORT (no options but MSS 1000, window
    /// 65535) and accept().
    fn new() -> Conn {
        Conn::with_syn_options(TcpOptions {
            mss: Some(1000),
            ..TcpOptions::default()
        })
    }

    /// The same with these SYN options.
    fn with_syn_options(syn_opts: TcpOptions) -> Conn {
        let mut stack = Stack::new(StackConfig::new(SERVER));
        let listener = stack.socket(AF_INET, SOCK_STREAM, 0).unwrap();
        stack
            .bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))
            .unwrap();
        stack.listen(listener, 8).unwrap();
        let mut c = Conn {
            stack,
            now: Instant::ZERO,
            listener,
            fd: listener,
            s_base: 0,
        };
        let syn = In {
            seq: 0,
            flags: TcpFlags::SYN,
            options: syn_opts,
            ..In::seg()
        };
        let synack = c.send(syn).remove(0);
        c.s_base = synack.seq; // relative to a base of 0: the raw ISN + 1
        assert!(c.send(In { seq: 1, ..In::seg() }).is_empty());
        c.fd = c.stack.accept(listener).unwrap().0;
        c
    }

    /// Injects a segment from the peer.
    fn send(&mut self, seg: In) -> Vec<Seg> {
        let ack = if seg.flags.ack() {
            self.s_base.wrapping_add(seg.ack - 1)
        } else {
            0
        };
        let seg = TcpRepr {
            src_port: CPORT,
            dst_port: PORT,
            seq: C_ISN.wrapping_add(seg.seq),
            ack,
            flags: seg.flags,
            window: seg.window,
            urgent: 0,
            options: seg.options,
            payload: seg.payload,
        };
        self.stack
            .receive(self.now, &seg.to_ipv4_datagram(CLIENT, SERVER).unwrap());
        self.drain()
    }

    /// What the stack sent, with seq/ack relative to both ISNs.
    fn drain(&mut self) -> Vec<Seg> {
        let mut out = Vec::new();
        let s_base = self.s_base;
        self.stack
            .drain_transmit(&mut [0u8; 1500], |d| out.push(Seg::parse(d, s_base)));
        out
    }

    /// Runs the timers to `t` seconds; what was sent, with when.
    fn at(&mut self, secs: f64) -> Vec<(f64, Seg)> {
        let t = Instant::from_nanos((secs * 1e9).round() as u64);
        let mut sent = Vec::new();
        let s_base = self.s_base;
        self.stack.run_until(self.now, t, &mut [0u8; 1500], |at, d| {
            sent.push((at.as_nanos() as f64 / 1e9, Seg::parse(d, s_base)))
        });
        self.now = t;
        sent
    }

    fn count(&self, c: Counter) -> u64 {
        self.stack.mib().get(c)
    }
}

fn seg(seq: u32, ack: u32, flags: TcpFlags, len: usize) -> (u32, u32, TcpFlags, usize) {
    (seq, ack, flags, len)
}

fn key(s: &Seg) -> (u32, u32, TcpFlags, usize) {
    (s.seq, s.ack, s.flags, s.len)
}

fn keys(segs: &[Seg]) -> Vec<(u32, u32, TcpFlags, usize)> {
    segs.iter().map(key).collect()
}

const ACK: TcpFlags = TcpFlags::ACK;
const FIN_ACK: TcpFlags = TcpFlags(TcpFlags::FIN.0 | TcpFlags::ACK.0);
const PSH_ACK: TcpFlags = TcpFlags(TcpFlags::PSH.0 | TcpFlags::ACK.0);
const RST_ACK: TcpFlags = TcpFlags(TcpFlags::RST.0 | TcpFlags::ACK.0);

#[test]
fn e7_first_data_is_acked_at_once_a_fin_after_40_ms() {
    let mut c = Conn::new();
    let out = c.send(In {
        seq: 1,
        flags: PSH_ACK,
        payload: &[7; 100],
        ..In::seg()
    });
    assert_eq!(keys(&out), [seg(1, 101, ACK, 0)], "quick ACK");
    let mut buf = [0; 200];
    assert_eq!(c.stack.recv(c.now, c.fd, &mut buf), Ok(100));
    assert_eq!(buf[..100], [7; 100]);
    // A FIN puts the receiver in ping-pong mode: its ACK waits TCP_ATO_MIN.
    assert!(c
        .send(In {
            seq: 101,
            flags: FIN_ACK,
            ..In::seg()
        })
        .is_empty());
    assert_eq!(c.stack.getsockopt(c.fd, SOL_TCP, TCP_MAXSEG, &mut [0; 4]), Ok(4));
    let later = c.at(1.0);
    assert_eq!(later.len(), 1);
    assert_eq!((later[0].0, key(&later[0].1)), (0.04, seg(1, 102, ACK, 0)));
    assert_eq!(c.count(Counter::TcpExtDelayedACKs), 1);
    assert_eq!(c.stack.recv(c.now, c.fd, &mut buf), Ok(0), "end of stream");
}

#[test]
fn e30_e32_reads_and_readiness() {
    let mut c = Conn::new();
    assert_eq!(c.stack.recv(c.now, c.fd, &mut [0; 10]), Err(Errno::EAGAIN));
    assert_eq!(c.stack.poll(c.fd).unwrap() & POLLIN, 0);
    c.send(In {
        seq: 1,
        flags: PSH_ACK,
        payload: b"hello",
        ..In::seg()
    });
    assert_eq!(c.stack.poll(c.fd).unwrap() & (POLLIN | POLLOUT), POLLIN | POLLOUT);
    let mut buf = [0; 3];
    assert_eq!(c.stack.recv(c.now, c.fd, &mut buf), Ok(3));
    assert_eq!(&buf, b"hel");
    c.send(In {
        seq: 6,
        flags: FIN_ACK,
        ..In::seg()
    });
    assert_eq!(c.stack.poll(c.fd).unwrap() & POLLRDHUP, POLLRDHUP);
    assert_eq!(c.stack.recv(c.now, c.fd, &mut buf), Ok(2), "data before the end");
    assert_eq!(c.stack.recv(c.now, c.fd, &mut buf), Ok(0));
    assert_eq!(c.stack.recv(c.now, c.listener, &mut buf), Err(Errno::ENOTCONN));
}

#[test]
fn e31_writes_go_out_in_mss_segments_psh_on_the_last() {
    let mut c = Conn::new();
    assert_eq!(c.stack.send(c.now, c.fd, &[1; 2500]), Ok(2500));
    let out = c.drain();
    assert_eq!(
        keys(&out),
        [
            seg(1, 1, ACK, 1000),
            seg(1001, 1, ACK, 1000),
            seg(2001, 1, PSH_ACK, 500)
        ]
    );
    assert!(c
        .send(In {
            seq: 1,
            ack: 2501,
            ..In::seg()
        })
        .is_empty());
    assert_eq!(c.stack.shutdown(c.now, c.fd, SHUT_WR), Ok(()));
    assert_eq!(key(&c.drain()[0]), seg(2501, 1, FIN_ACK, 0));
    assert_eq!(c.stack.send(c.now, c.fd, b"x"), Err(Errno::EPIPE), "after SHUT_WR");
}

#[test]
fn e6_rto_after_the_handshake_sample_then_doubling_then_reset_by_an_ack() {
    let mut c = Conn::new();
    c.stack.send(c.now, c.fd, b"data").unwrap();
    assert_eq!(c.drain().len(), 1);
    // RTT sample 0 from the handshake: RTO = 0 + max(0, rto_min) = 200 ms, then 400 ms.
    let rtx = c.at(0.7);
    let times: Vec<f64> = rtx.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [0.2, 0.6]);
    assert!(rtx.iter().all(|(_, s)| key(s) == seg(1, 1, PSH_ACK, 4)));
    assert_eq!(c.count(Counter::TcpExtTCPTimeouts), 2);
    assert_eq!(c.count(Counter::TcpRetransSegs), 2);
    assert!(c
        .send(In {
            seq: 1,
            ack: 5,
            ..In::seg()
        })
        .is_empty());
    assert!(c.at(5.0).is_empty(), "acknowledged: the timer stops");
}

#[test]
fn e10_out_of_window_and_old_segments_get_an_immediate_ack() {
    let mut c = Conn::new();
    c.send(In {
        seq: 1,
        flags: PSH_ACK,
        payload: b"abc",
        ..In::seg()
    });
    // All old: quick-ACK mode answers at once with the current rcv_nxt.
    let out = c.send(In {
        seq: 1,
        flags: PSH_ACK,
        payload: b"abc",
        ..In::seg()
    });
    assert_eq!(keys(&out), [seg(1, 4, ACK, 0)]);
    assert_eq!(c.count(Counter::TcpExtDelayedACKLost), 1);
    // Far beyond the window: dropped, answered, counted.
    let out = c.send(In {
        seq: 10_000_000,
        payload: b"zzz",
        ..In::seg()
    });
    assert_eq!(keys(&out), [seg(1, 4, ACK, 0)]);
    assert_eq!(c.count(Counter::TcpExtBeyondWindow), 1);
    let mut buf = [0; 10];
    assert_eq!(c.stack.recv(c.now, c.fd, &mut buf), Ok(3));
}

#[test]
fn e12_rst_at_rcv_nxt_resets_elsewhere_is_challenged() {
    let mut c = Conn::new();
    let out = c.send(In {
        seq: 5,
        ack: 0,
        flags: TcpFlags::RST,
        ..In::seg()
    });
    assert_eq!(keys(&out), [seg(1, 1, ACK, 0)], "challenge ACK");
    assert_eq!(c.count(Counter::TcpExtTCPChallengeACK), 1);
    assert!(c
        .send(In {
            seq: 1,
            ack: 0,
            flags: TcpFlags::RST,
            ..In::seg()
        })
        .is_empty());
    assert_eq!(c.count(Counter::TcpEstabResets), 1);
    assert_eq!(c.stack.recv(c.now, c.fd, &mut [0; 4]), Err(Errno::ECONNRESET));
    assert_eq!(c.stack.recv(c.now, c.fd, &mut [0; 4]), Ok(0), "then end of stream");
    assert_eq!(c.stack.poll(c.fd).unwrap() & POLLHUP, POLLHUP);
}

#[test]
fn e13_e14_syn_on_a_connection_is_challenged_once_per_500_ms() {
    let mut c = Conn::new();
    let out = c.send(In {
        seq: 1,
        ack: 0,
        flags: TcpFlags::SYN,
        ..In::seg()
    });
    assert_eq!(keys(&out), [seg(1, 1, ACK, 0)]);
    c.at(0.1);
    assert!(
        c.send(In {
            seq: 1,
            ack: 0,
            flags: TcpFlags::SYN,
            ..In::seg()
        })
        .is_empty(),
        "within 500 ms"
    );
    c.at(0.6);
    assert_eq!(
        c.send(In {
            seq: 1,
            ack: 0,
            flags: TcpFlags::SYN,
            ..In::seg()
        })
        .len(),
        1
    );
    assert_eq!(c.count(Counter::TcpExtTCPSYNChallenge), 3);
    assert_eq!(c.count(Counter::TcpExtTCPACKSkippedChallenge), 1);
    assert_eq!(c.stack.poll(c.fd).unwrap() & POLLHUP, 0, "the connection lives");
}

#[test]
fn e15_close_with_unread_data_resets() {
    let mut c = Conn::new();
    c.send(In {
        seq: 1,
        flags: PSH_ACK,
        payload: b"unread",
        ..In::seg()
    });
    assert_eq!(c.stack.close(c.now, c.fd), Ok(()));
    let out = c.drain();
    assert_eq!(keys(&out), [seg(1, 7, RST_ACK, 0)]);
    assert_eq!(c.count(Counter::TcpExtTCPAbortOnClose), 1);
    // The socket is gone: its 4-tuple answers with a plain reset now.
    let out = c.send(In {
        seq: 7,
        payload: b"more",
        ..In::seg()
    });
    assert_eq!(keys(&out), [seg(1, 0, TcpFlags::RST, 0)]);
}

#[test]
fn e15_so_linger_zero_aborts() {
    let mut c = Conn::new();
    let mut linger = [0u8; 8];
    linger[..4].copy_from_slice(&1i32.to_ne_bytes());
    c.stack.setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &linger).unwrap();
    let mut back = [0u8; 8];
    assert_eq!(c.stack.getsockopt(c.fd, SOL_SOCKET, SO_LINGER, &mut back), Ok(8));
    assert_eq!(back, linger);
    c.stack.close(c.now, c.fd).unwrap();
    assert_eq!(keys(&c.drain()), [seg(1, 1, RST_ACK, 0)]);
}

#[test]
fn e16_e19_passive_close_last_ack_then_gone() {
    let mut c = Conn::new();
    c.send(In {
        seq: 1,
        flags: FIN_ACK,
        ..In::seg()
    });
    c.at(0.04); // the delayed ACK of the FIN
    c.stack.close(c.now, c.fd).unwrap();
    assert_eq!(keys(&c.drain()), [seg(1, 2, FIN_ACK, 0)]);
    // The descriptor is free at once; the orphan waits in LAST_ACK.
    let next = c.stack.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(next, c.fd);
    assert!(c
        .send(In {
            seq: 2,
            ack: 2,
            ..In::seg()
        })
        .is_empty());
    assert_eq!(c.stack.mib().get(Counter::TcpCurrEstab), 0);
    let out = c.send(In {
        seq: 2,
        ack: 2,
        ..In::seg()
    });
    assert_eq!(keys(&out), [seg(2, 0, TcpFlags::RST, 0)], "no socket");
}

#[test]
fn e19_e26_active_close_time_wait_reacks_a_retransmitted_fin_and_ends_after_60_s() {
    let mut c = Conn::new();
    c.stack.close(c.now, c.fd).unwrap();
    assert_eq!(key(&c.drain()[0]), seg(1, 1, FIN_ACK, 0));
    assert!(
        c.send(In {
            seq: 1,
            ack: 2,
            ..In::seg()
        })
        .is_empty(),
        "FIN_WAIT2"
    );
    let out = c.send(In {
        seq: 1,
        ack: 2,
        flags: FIN_ACK,
        ..In::seg()
    });
    assert_eq!(keys(&out), [seg(2, 2, ACK, 0)], "TIME_WAIT");
    c.at(30.0);
    let out = c.send(In {
        seq: 1,
        ack: 2,
        flags: FIN_ACK,
        ..In::seg()
    });
    assert_eq!(keys(&out), [seg(2, 2, ACK, 0)], "re-ACKed");
    // The retransmitted FIN restarted the 60 s: the port is held until 90 s.
    let b = c.stack.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let specific = SocketAddrV4::new(SERVER, PORT);
    c.stack.close(c.now, c.listener).unwrap();
    assert_eq!(c.stack.bind(b, specific), Err(Errno::EADDRINUSE));
    c.at(89.9);
    assert_eq!(c.stack.bind(b, specific), Err(Errno::EADDRINUSE));
    c.at(90.0);
    assert_eq!(c.stack.bind(b, specific), Ok(()));
    assert_eq!(c.count(Counter::TcpExtTW), 1);
}

#[test]
fn e20_data_after_close_resets() {
    let mut c = Conn::new();
    c.stack.close(c.now, c.fd).unwrap();
    c.drain();
    let out = c.send(In {
        seq: 1,
        ack: 2,
        flags: PSH_ACK,
        payload: b"late",
        ..In::seg()
    });
    assert_eq!(keys(&out), [seg(2, 0, TcpFlags::RST, 0)]);
    assert_eq!(c.count(Counter::TcpExtTCPAbortOnData), 1);
}

#[test]
fn e22_orphan_fin_wait2_ends_after_tcp_fin_timeout() {
    let mut c = Conn::new();
    c.stack.close(c.now, c.fd).unwrap();
    c.drain();
    c.send(In {
        seq: 1,
        ack: 2,
        ..In::seg()
    });
    assert!(c.at(59.9).is_empty());
    c.at(60.0);
    let out = c.send(In {
        seq: 1,
        ack: 2,
        flags: FIN_ACK,
        ..In::seg()
    });
    assert_eq!(keys(&out), [seg(2, 0, TcpFlags::RST, 0)], "gone");
}

#[test]
fn e24_shutdown_rd_keeps_receiving_shutdown_wr_sends_fin() {
    let mut c = Conn::new();
    assert_eq!(c.stack.shutdown(c.now, c.fd, SHUT_RD), Ok(()));
    c.send(In {
        seq: 1,
        flags: PSH_ACK,
        payload: b"abc",
        ..In::seg()
    });
    assert_eq!(c.stack.recv(c.now, c.fd, &mut [0; 8]), Ok(3), "queued data still reads");
    assert_eq!(c.stack.recv(c.now, c.fd, &mut [0; 8]), Ok(0));
    assert_eq!(c.stack.shutdown(c.now, c.fd, SHUT_WR), Ok(()));
    let fin = c.drain().into_iter().find(|s| s.flags.fin()).unwrap();
    assert_eq!(key(&fin), seg(1, 4, FIN_ACK, 0));
}

#[test]
fn accept_gives_the_lowest_descriptor_when_it_is_called() {
    let mut c = Conn::new();
    assert_eq!(c.fd.raw(), 4);
    // A second handshake completes before a socket is opened: the socket takes 5, and
    // accept() hands the child 6 (Linux installs the descriptor in accept()).
    let mut buf = [0u8; 1500];
    let from = |seq, ack, flags| {
        TcpRepr {
            src_port: CPORT + 1,
            dst_port: PORT,
            seq,
            ack,
            flags,
            window: 65535,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[],
        }
        .to_ipv4_datagram(CLIENT, SERVER)
        .unwrap()
    };
    c.stack.receive(c.now, &from(7000, 0, TcpFlags::SYN));
    let n = c.stack.poll_transmit(&mut buf).unwrap();
    let (ip, payload) = Ipv4Repr::parse_bytes(&buf[..n]).unwrap();
    let synack = TcpRepr::parse(payload, ip.src_addr, ip.dst_addr).unwrap();
    c.stack.receive(c.now, &from(7001, synack.seq.wrapping_add(1), ACK));
    let s = c.stack.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(s.raw(), 5);
    let (child, peer) = c.stack.accept(c.listener).unwrap();
    assert_eq!((child.raw(), peer.port()), (6, CPORT + 1));
    assert_eq!(c.stack.getpeername(child), Ok(SocketAddrV4::new(CLIENT, CPORT + 1)));
}

#[test]
fn e4_out_of_order_data_is_held_sacked_and_d_sacked() {
    let mut c = Conn::with_syn_options(TcpOptions {
        mss: Some(1000),
        sack_permitted: true,
        ..TcpOptions::default()
    });
    let ack_of = |out: Vec<Seg>| {
        assert_eq!(out.len(), 1, "{out:?}");
        (out[0].ack, out[0].sack.clone())
    };
    // A hole at 1..101: 101..201 and 301..401 wait, each SACKed at once, newest first.
    assert_eq!(
        ack_of(c.send(In {
            seq: 101,
            flags: PSH_ACK,
            payload: &[2; 100],
            ..In::seg()
        })),
        (1, vec![(101, 201)])
    );
    assert_eq!(
        ack_of(c.send(In {
            seq: 301,
            flags: PSH_ACK,
            payload: &[4; 100],
            ..In::seg()
        })),
        (1, vec![(301, 401), (101, 201)])
    );
    assert_eq!(c.count(Counter::TcpExtTCPOFOQueue), 2);
    // 1..201 fills the hole and repeats 101..201: D-SACK first, then what still waits.
    assert_eq!(
        ack_of(c.send(In {
            seq: 1,
            flags: PSH_ACK,
            payload: &[1; 200],
            ..In::seg()
        })),
        (201, vec![(101, 201), (301, 401)])
    );
    // 201..301 fills the last hole: everything to 401, no block left.
    assert_eq!(
        ack_of(c.send(In {
            seq: 201,
            flags: PSH_ACK,
            payload: &[3; 100],
            ..In::seg()
        })),
        (401, vec![])
    );
    let mut buf = [0u8; 500];
    assert_eq!(c.stack.recv(c.now, c.fd, &mut buf), Ok(400));
    assert_eq!(
        (buf[0], buf[150], buf[250], buf[350]),
        (1, 1, 3, 4),
        "held bytes in order"
    );
    // An old segment again: D-SACKed alone.
    assert_eq!(
        ack_of(c.send(In {
            seq: 1,
            flags: PSH_ACK,
            payload: &[1; 100],
            ..In::seg()
        })),
        (401, vec![(1, 101)])
    );
}

/// `tcp_rcvbuf_grow` on out-of-order data (a child still in the accept queue does not grow:
/// Linux's `tcp_ooo-before-and-after-accept.pkt`, which passes on synq).
#[test]
fn out_of_order_data_grows_the_receive_buffer_unless_so_rcvbuf_fixed_it() {
    let sack = TcpOptions {
        mss: Some(1000),
        sack_permitted: true,
        ..TcpOptions::default()
    };
    let rcvbuf = |c: &mut Conn| {
        let mut v = [0u8; 4];
        c.stack.getsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &mut v).unwrap();
        i32::from_ne_bytes(v)
    };
    let mut c = Conn::with_syn_options(sack);
    let before = rcvbuf(&mut c);
    c.send(In {
        seq: 2001,
        payload: &[0; 1000],
        ..In::seg()
    });
    assert_eq!(rcvbuf(&mut c), before, "2 × 14600 + 3000 is still within it");
    c.send(In {
        seq: 60001,
        payload: &[0; 1000],
        ..In::seg()
    });
    // tcp_rcvbuf_grow: 2 × rcvq_space + the span to 61001 = 90200 of window, as buffer at
    // the scaling ratio the segments measured (1000 bytes in a 2304-byte skb: 111/256):
    // 90200 × 256 / 111.
    assert_eq!(rcvbuf(&mut c), 208_028, "tcp_rcvbuf_grow after accept()");
    // SO_RCVBUF fixes the buffer (SOCK_RCVBUF_LOCK).
    let mut c = Conn::with_syn_options(sack);
    c.stack
        .setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &65536i32.to_ne_bytes())
        .unwrap();
    c.send(In {
        seq: 60001,
        payload: &[0; 1000],
        ..In::seg()
    });
    assert_eq!(rcvbuf(&mut c), 131072);
}

#[test]
fn e7_a_read_sends_the_owed_ack_once_more_than_a_segment_is_unacknowledged() {
    // tcp_cleanup_rbuf: with an ACK scheduled, a read sends it at once if more than one
    // full segment arrived since the last window update (the once-per-two-segments ACK
    // tcp_input.c held back because the reader was behind).
    let mut c = Conn::new();
    let mut unacked = 0;
    for i in 0..40u32 {
        let out = c.send(In {
            seq: 1 + i * 1000,
            payload: &[1; 1000],
            ..In::seg()
        });
        unacked = if out.is_empty() { unacked + 1 } else { 0 };
    }
    assert!(
        unacked >= 2,
        "the unread data held the ACKs back ({unacked} segments owed)"
    );
    let mut buf = [0u8; 1000];
    assert_eq!(c.stack.recv(c.now, c.fd, &mut buf), Ok(1000));
    assert_eq!(keys(&c.drain()), [seg(1, 40_001, ACK, 0)], "the read sent the owed ACK");
    // Nothing is owed now: the next read sends nothing (the window did not double).
    assert_eq!(c.stack.recv(c.now, c.fd, &mut buf), Ok(1000));
    assert!(c.drain().is_empty());
}

#[test]
fn e5_cubic_by_default_reno_selectable_fast_retransmit_at_three_duplicate_acks() {
    for (algo, ssthresh) in [(None, 7), (Some("reno"), 5)] {
        let mut c = Conn::new();
        if let Some(name) = algo {
            c.stack
                .setsockopt(c.fd, SOL_TCP, TCP_CONGESTION, name.as_bytes())
                .unwrap();
        }
        assert_eq!(
            c.stack.setsockopt(c.fd, SOL_TCP, TCP_CONGESTION, b"vegas"),
            Err(Errno::ENOENT),
            "not built in"
        );
        c.stack.send(c.now, c.fd, &[1; 10_000]).unwrap();
        assert_eq!(c.drain().len(), 10, "IW10");
        // Two duplicate ACKs: nothing new to send (limited transmit has no data).
        assert!(c.send(In::ack(1)).is_empty());
        assert!(c.send(In::ack(1)).is_empty());
        // The third: fast retransmit of the head (without SACK, NewReno), no PSH.
        assert_eq!(keys(&c.send(In::ack(1))), [seg(1, 1, ACK, 1000)]);
        let info = c.stack.tcp_info(c.now, c.fd).unwrap();
        assert_eq!((info.ca_state, info.snd_ssthresh), (3, ssthresh), "{algo:?}");
        assert_eq!(c.count(Counter::TcpExtTCPRenoRecovery), 1);
        // Everything acknowledged: without SACK, Recovery holds until an ACK beyond
        // high_seq (RFC 2582, tcp_try_undo_recovery); that one ends it at ssthresh.
        assert!(c.send(In::ack(10_001)).is_empty());
        assert_eq!(c.stack.tcp_info(c.now, c.fd).unwrap().ca_state, 3);
        c.stack.send(c.now, c.fd, &[2; 100]).unwrap();
        assert_eq!(keys(&c.drain()), [seg(10_001, 1, PSH_ACK, 100)]);
        assert!(c.send(In::ack(10_101)).is_empty());
        let info = c.stack.tcp_info(c.now, c.fd).unwrap();
        assert_eq!((info.ca_state, info.snd_cwnd), (0, ssthresh), "{algo:?}");
    }
}

#[test]
fn e5_a_fast_recovery_proved_needless_by_timestamps_is_undone() {
    // tcp_try_undo_recovery (tcp_packet_delayed, the Eifel test): without SACK, three
    // duplicate ACKs resend the head at 100 ms; the ACK that covers everything echoes the
    // TSval of the original, sent before that retransmission — the original had only been
    // delayed. The reduction is undone (TCPFullUndo): ssthresh as before (infinite).
    // Without SACK, Recovery holds at high_seq (RFC 2582), so PRR still sets the window:
    // nothing in flight + the 1 + 7 segments delivered in Recovery less the 1 resent, + 1 for
    // the advance = 8 (the duplicate ACKs are not counted twice). The next ACK ends Recovery
    // without cutting the window to ssthresh.
    let ts = |tsval: u32, tsecr: u32| TcpOptions {
        timestamp: Some(synq_wire::Timestamp { tsval, tsecr }),
        ..TcpOptions::default()
    };
    let mut c = Conn::with_syn_options(TcpOptions {
        mss: Some(1012),
        ..ts(1, 0)
    });
    c.stack.send(c.now, c.fd, &[1; 10_000]).unwrap();
    let flight = c.drain();
    assert_eq!(flight.len(), 10, "IW10");
    let original = flight[0].tsval.unwrap();
    c.at(0.1);
    let dupack = || In {
        options: ts(2, original),
        ..In::ack(1)
    };
    for _ in 0..2 {
        assert!(c.send(dupack()).is_empty());
    }
    let rexmit = c.send(dupack());
    assert_eq!(keys(&rexmit), [seg(1, 1, ACK, 1000)]);
    assert!(rexmit[0].tsval.unwrap() > original, "resent later");
    let info = c.stack.tcp_info(c.now, c.fd).unwrap();
    assert_eq!((info.ca_state, info.snd_ssthresh), (3, 7));
    c.at(0.2);
    assert!(c
        .send(In {
            options: ts(3, original),
            ..In::ack(10_001)
        })
        .is_empty());
    assert_eq!(c.count(Counter::TcpExtTCPFullUndo), 1);
    let info = c.stack.tcp_info(c.now, c.fd).unwrap();
    assert_eq!(
        (info.ca_state, info.snd_cwnd, info.snd_ssthresh),
        (3, 8, i32::MAX as u32)
    );
    c.stack.send(c.now, c.fd, &[2; 100]).unwrap();
    let more = c.drain();
    assert!(c
        .send(In {
            options: ts(4, more[0].tsval.unwrap()),
            ..In::ack(10_101)
        })
        .is_empty());
    let info = c.stack.tcp_info(c.now, c.fd).unwrap();
    assert_eq!((info.ca_state, info.snd_cwnd), (0, 8), "not cut at the end");
}

#[test]
fn e8_cork_holds_a_partial_segment_until_uncorked_or_the_200_ms_probe() {
    let mut c = Conn::new();
    c.stack
        .setsockopt(c.fd, SOL_TCP, TCP_CORK, &1i32.to_ne_bytes())
        .unwrap();
    c.stack.send(c.now, c.fd, &[1; 10]).unwrap();
    assert!(c.drain().is_empty(), "corked");
    // Nothing in flight: the probe timer (the RTO, 200 ms) lets it go, with PSH.
    let out: Vec<_> = c.at(0.3).into_iter().map(|(t, s)| (t, key(&s))).collect();
    assert_eq!(out, [(0.2, seg(1, 1, PSH_ACK, 10))]);
    assert!(c.send(In::ack(11)).is_empty());
    c.stack.send(c.now, c.fd, &[2; 10]).unwrap();
    assert!(c.drain().is_empty());
    // Uncorking pushes it at once.
    c.stack
        .setsockopt_at(c.now, c.fd, SOL_TCP, TCP_CORK, &0i32.to_ne_bytes())
        .unwrap();
    assert_eq!(keys(&c.drain()), [seg(11, 1, PSH_ACK, 10)]);
    assert!(c.send(In::ack(21)).is_empty());
    // MSG_MORE: the full segment goes, the rest waits, and nothing carries PSH; the ACK's
    // push (Nagle, nothing in flight) lets the rest go.
    c.stack.send_flags(c.now, c.fd, &[3; 1500], MSG_MORE).unwrap();
    assert_eq!(keys(&c.drain()), [seg(21, 1, ACK, 1000)]);
    assert_eq!(keys(&c.send(In::ack(1021))), [seg(1021, 1, ACK, 500)]);
}

/// `net.ipv4.tcp_mem` (`__sk_mem_raise_allocated`, `tcp_enter_memory_pressure`): the pages
/// the connections hold. Over the second limit the stack is under pressure (counted once; the
/// window's part is `tcp_output`'s unit test); over the third, data that would queue behind
/// other data is dropped and a write takes no second skb; all read and acknowledged, the
/// pages go back and the pressure ends.
#[test]
fn memory_pressure_over_tcp_mem_shrinks_windows_then_drops() {
    let mut c = Conn::new();
    c.stack.sysctl.set("net.ipv4.tcp_mem", "1 2 3").unwrap();
    let data = |i: u32| In {
        seq: 1 + i * 1000,
        payload: &[7; 1000],
        ..In::seg()
    };
    // 1000 bytes cost an skb of 2304: two segments hold 2 pages, four 3.
    for i in 0..3 {
        c.send(data(i));
    }
    assert_eq!(c.stack.tcp_memory(), (2, false));
    c.send(data(3));
    assert_eq!(c.stack.tcp_memory(), (3, true));
    assert_eq!(c.count(Counter::TcpExtTCPMemoryPressures), 1);
    // 6 segments: 4 pages, over tcp_mem[2]: the next is dropped, ACKed at once.
    c.send(data(4));
    c.send(data(5));
    assert_eq!(c.stack.tcp_memory().0, 4);
    let out = c.send(data(6));
    assert_eq!(keys(&out), [seg(1, 6001, ACK, 0)]);
    assert_eq!(c.count(Counter::TcpExtTCPRcvQDrop), 1);
    // A write gets its first skb (sk_forced_mem_schedule), not a second one.
    let sent = c.stack.send(c.now, c.fd, &[1; 100_000]).unwrap();
    assert!(sent < 100_000, "one skb of the size goal: {sent}");
    assert_eq!(c.stack.send(c.now, c.fd, &[1; 10]), Err(Errno::EAGAIN));
    let mut out = c.drain();
    while let Some(end) = out.iter().filter(|s| s.len > 0).map(|s| s.seq + s.len as u32).max() {
        out = c.send(In {
            seq: 6001,
            ..In::ack(end)
        });
    }
    let mut buf = [0u8; 10_000];
    assert_eq!(c.stack.recv(c.now, c.fd, &mut buf), Ok(6000));
    assert_eq!(c.stack.tcp_memory(), (0, false));
}

#[test]
fn e9_zero_window_probes_back_off_while_answered_and_data_goes_when_it_opens() {
    let mut c = Conn::new();
    c.stack.send(c.now, c.fd, &[1; 1000]).unwrap();
    c.drain();
    // The peer takes it and closes its window.
    assert!(c
        .send(In {
            window: 0,
            ..In::ack(1001)
        })
        .is_empty());
    c.stack.send(c.now, c.fd, &[2; 500]).unwrap();
    assert!(c.drain().is_empty(), "the window is shut");
    // Probes: an ACK one below snd_una, at RTO × 2^backoff (200 ms, then 400, 800 ms).
    let probes: Vec<_> = c.at(1.5).into_iter().map(|(t, s)| (t, key(&s))).collect();
    assert_eq!(
        probes,
        [
            (0.2, seg(1000, 1, ACK, 0)),
            (0.6, seg(1000, 1, ACK, 0)),
            (1.4, seg(1000, 1, ACK, 0))
        ]
    );
    assert_eq!(c.stack.tcp_info(c.now, c.fd).unwrap().probes, 3);
    // An answer, still shut, resets the count; the window opens: the data goes.
    assert!(c
        .send(In {
            window: 0,
            ..In::ack(1001)
        })
        .is_empty());
    assert_eq!(c.stack.tcp_info(c.now, c.fd).unwrap().probes, 0);
    assert_eq!(keys(&c.send(In::ack(1001))), [seg(1001, 1, PSH_ACK, 500)]);
}

#[test]
fn e29_keepalive_probes_after_the_idle_time_then_resets_with_etimedout() {
    let mut c = Conn::new();
    // Defaults (7200 s, 75 s, 9 probes); off until SO_KEEPALIVE.
    let get = |c: &mut Conn, name| {
        let mut v = [0u8; 4];
        c.stack.getsockopt(c.fd, SOL_TCP, name, &mut v).unwrap();
        i32::from_ne_bytes(v)
    };
    assert_eq!(
        (
            get(&mut c, TCP_KEEPIDLE),
            get(&mut c, TCP_KEEPINTVL),
            get(&mut c, TCP_KEEPCNT)
        ),
        (7200, 75, 9)
    );
    for (name, bad) in [
        (TCP_KEEPIDLE, 0i32),
        (TCP_KEEPIDLE, 32768),
        (TCP_KEEPINTVL, 0),
        (TCP_KEEPCNT, 128),
    ] {
        assert_eq!(
            c.stack.setsockopt(c.fd, SOL_TCP, name, &bad.to_ne_bytes()),
            Err(Errno::EINVAL)
        );
    }
    assert!(c.at(8000.0).is_empty(), "no keepalive by default");
    c.stack
        .setsockopt_at(c.now, c.fd, SOL_TCP, TCP_KEEPINTVL, &10i32.to_ne_bytes())
        .unwrap();
    c.stack
        .setsockopt_at(c.now, c.fd, SOL_TCP, TCP_KEEPCNT, &2i32.to_ne_bytes())
        .unwrap();
    c.stack
        .setsockopt_at(c.now, c.fd, SOL_SOCKET, SO_KEEPALIVE, &1i32.to_ne_bytes())
        .unwrap();
    // The whole idle time from SO_KEEPALIVE on, then probes every 10 s; after 2 unanswered,
    // the next firing resets.
    let t0 = 8000.0;
    let sent: Vec<_> = c.at(t0 + 7300.0).into_iter().map(|(t, s)| (t - t0, key(&s))).collect();
    assert_eq!(
        sent,
        [
            (7200.0, seg(0, 1, ACK, 0)),
            (7210.0, seg(0, 1, ACK, 0)),
            (7220.0, seg(1, 1, RST_ACK, 0))
        ]
    );
    assert_eq!(c.stack.recv(c.now, c.fd, &mut [0; 10]), Err(Errno::ETIMEDOUT));
}

#[test]
fn e11_a_reset_leaves_queued_data_readable_then_econnreset_then_end_and_epipe() {
    let mut c = Conn::new();
    c.send(In::data(b"0123456789"));
    c.drain();
    let out = c.send(In {
        seq: 11,
        flags: TcpFlags::RST,
        ..In::seg()
    });
    assert!(out.is_empty(), "nothing answers a reset");
    let mut buf = [0u8; 100];
    assert_eq!(c.stack.recv(c.now, c.fd, &mut buf), Ok(10));
    assert_eq!(c.stack.recv(c.now, c.fd, &mut buf), Err(Errno::ECONNRESET));
    assert_eq!(c.stack.recv(c.now, c.fd, &mut buf), Ok(0));
    assert_eq!(c.stack.send(c.now, c.fd, b"x"), Err(Errno::EPIPE));
}

#[test]
fn e17_connect_af_unspec_resets_an_established_connection() {
    let mut c = Conn::new();
    c.send(In::data(b"abc"));
    c.drain();
    let unspec = [0u8; 16]; // sa_family AF_UNSPEC
    assert_eq!(c.stack.connect_raw(c.now, c.fd, &unspec), Ok(()));
    assert_eq!(keys(&c.drain()), [seg(1, 4, RST_ACK, 0)]);
    let mut err = [0u8; 4];
    c.stack.getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &mut err).unwrap();
    assert_eq!(i32::from_ne_bytes(err), Errno::ECONNRESET.raw());
}

#[test]
fn e18_the_fin_rides_on_the_last_queued_data() {
    let mut c = Conn::new();
    // The peer's window is shut (the same segment with a zero window updates it,
    // tcp_may_update_window): what is written waits, and so does the FIN behind it.
    assert!(c
        .send(In {
            window: 0,
            ..In::ack(1)
        })
        .is_empty());
    c.stack.send(c.now, c.fd, &[1; 500]).unwrap();
    c.stack.shutdown(c.now, c.fd, SHUT_WR).unwrap();
    assert!(c.drain().is_empty());
    // The window opens: data and FIN in one segment.
    let out = c.send(In::ack(1));
    assert_eq!(
        keys(&out),
        [seg(
            1,
            1,
            TcpFlags(TcpFlags::FIN.0 | TcpFlags::PSH.0 | TcpFlags::ACK.0),
            500
        )]
    );
}

#[test]
fn e25_time_wait_guards_the_tuple_while_the_users_socket_is_closed() {
    let mut c = Conn::new();
    c.stack.shutdown(c.now, c.fd, SHUT_WR).unwrap();
    assert_eq!(keys(&c.drain()), [seg(1, 1, FIN_ACK, 0)]);
    assert!(c.send(In::ack(2)).is_empty());
    // The peer's FIN: ACKed, TIME_WAIT holds the 4-tuple, the user's socket is CLOSE.
    let out = c.send(In {
        flags: FIN_ACK,
        ..In::ack(2)
    });
    assert_eq!(keys(&out), [seg(2, 2, ACK, 0)]);
    assert_eq!(c.stack.recv(c.now, c.fd, &mut [0; 10]), Ok(0));
    assert_eq!(c.stack.send(c.now, c.fd, b"x"), Err(Errno::EPIPE));
    assert_eq!(c.stack.shutdown(c.now, c.fd, SHUT_RDWR), Err(Errno::ENOTCONN));
    assert_eq!(c.stack.close(c.now, c.fd), Ok(()));
    assert!(c.drain().is_empty(), "close() sends nothing");
    assert_eq!(time_waits(&c.stack), 1);
    // Still there at 58 s, gone after 60 s.
    c.at(58.0);
    assert_eq!(time_waits(&c.stack), 1);
    c.at(64.0);
    assert_eq!(time_waits(&c.stack), 0);
}

#[test]
fn e27_a_segment_for_no_socket_gets_a_bare_reset() {
    let mut c = Conn::new();
    let to_closed_port = |flags: TcpFlags, payload: &[u8]| {
        TcpRepr {
            src_port: 50000,
            dst_port: 9,
            seq: 777,
            ack: 4242,
            flags,
            window: 100,
            urgent: 0,
            options: TcpOptions::default(),
            payload,
        }
        .to_ipv4_datagram(CLIENT, SERVER)
        .unwrap()
    };
    let mut replies = Vec::new();
    for (flags, payload) in [
        (ACK, &b""[..]),
        (TcpFlags(TcpFlags::SYN.0 | TcpFlags::FIN.0), &b"abc"[..]),
    ] {
        c.stack.receive(c.now, &to_closed_port(flags, payload));
        c.stack.drain_transmit(&mut [0u8; 1500], |d| replies.push(d.to_vec()));
    }
    let parsed: Vec<_> = replies
        .iter()
        .map(|d| {
            let (ip, payload) = Ipv4Repr::parse_bytes(d).unwrap();
            let s = TcpRepr::parse(payload, ip.src_addr, ip.dst_addr).unwrap();
            (
                ip.ttl,
                ip.ident,
                d.len(),
                s.seq,
                s.ack,
                s.flags,
                s.window,
                s.options.is_empty(),
            )
        })
        .collect();
    assert_eq!(
        parsed,
        [
            (64, 0, 40, 4242, 0, TcpFlags::RST, 0, true),
            (64, 0, 40, 0, 777 + 3 + 2, RST_ACK, 0, true)
        ]
    );
    // Never a reset for a reset.
    c.stack.receive(c.now, &to_closed_port(TcpFlags::RST, b""));
    assert!(c.drain().is_empty());
}

#[test]
fn e28_an_active_reset_carries_the_window_and_timestamps() {
    let mut c = Conn::with_syn_options(TcpOptions {
        mss: Some(1000),
        timestamp: Some(synq_wire::Timestamp { tsval: 5, tsecr: 0 }),
        ..TcpOptions::default()
    });
    c.send(In {
        flags: PSH_ACK,
        payload: b"unread",
        options: TcpOptions {
            timestamp: Some(synq_wire::Timestamp { tsval: 6, tsecr: 0 }),
            ..TcpOptions::default()
        },
        ..In::seg()
    });
    c.drain();
    c.stack.close(c.now, c.fd).unwrap();
    let mut raw = Vec::new();
    c.stack.drain_transmit(&mut [0u8; 1500], |d| raw.push(d.to_vec()));
    let (ip, payload) = Ipv4Repr::parse_bytes(&raw[0]).unwrap();
    let s = TcpRepr::parse(payload, ip.src_addr, ip.dst_addr).unwrap();
    assert_eq!(s.flags, RST_ACK);
    assert!(s.window > 0, "the window as advertised");
    assert_eq!(s.options.timestamp.map(|t| t.tsecr), Some(6), "TSecr = ts_recent");
    assert_eq!(raw[0].len(), 52);
}

#[test]
fn e1_the_send_mss_is_536_without_the_option_and_less_the_timestamps_with_them() {
    let mut c = Conn::with_syn_options(TcpOptions::default());
    c.stack.send(c.now, c.fd, &[1; 1100]).unwrap();
    let lens: Vec<usize> = c.drain().iter().map(|s| s.len).collect();
    assert_eq!(lens, [536, 536, 28], "TCP_MSS_DEFAULT");
    let mut c = Conn::with_syn_options(TcpOptions {
        mss: Some(1460),
        timestamp: Some(synq_wire::Timestamp { tsval: 1, tsecr: 0 }),
        ..TcpOptions::default()
    });
    let mut v = [0u8; 4];
    c.stack.getsockopt(c.fd, SOL_TCP, TCP_MAXSEG, &mut v).unwrap();
    assert_eq!(i32::from_ne_bytes(v), 1448, "1460 less the 12 bytes of timestamps");
    for bad in [1i32, 87, 32768] {
        assert_eq!(
            c.stack.setsockopt(c.fd, SOL_TCP, TCP_MAXSEG, &bad.to_ne_bytes()),
            Err(Errno::EINVAL)
        );
    }
}

#[test]
fn e2_our_window_scale_follows_tcp_rmem_max_and_only_the_syn_windows_are_unscaled() {
    let mut c = Conn::with_syn_options(TcpOptions {
        mss: Some(1000),
        window_scale: Some(7),
        ..TcpOptions::default()
    });
    // tcp_rmem[2] = 32 MiB: ilog2 25 − 15 = 10 (the SYN-ACK is checked in the L rules).
    let out = c.send(In::data(&[1; 100]));
    // The ACK's window field is the window >> 10. The 100 bytes cost an skb of 832, so the
    // free buffer (131072 − 832, half of it window) exceeds rcv_ssthresh, which
    // tcp_init_buffer_space held one segment below the buffer's window (65536 − 1460 =
    // 64076); rounded up to the scale: 64512, 63 units, as Linux sends.
    assert_eq!(out[0].window, 63);
}

#[test]
fn e3_paws_drops_an_old_timestamp_with_a_duplicate_ack() {
    let ts = |tsval: u32| TcpOptions {
        timestamp: Some(synq_wire::Timestamp { tsval, tsecr: 0 }),
        ..TcpOptions::default()
    };
    let mut c = Conn::with_syn_options(TcpOptions {
        mss: Some(1000),
        ..ts(100)
    });
    c.send(In {
        flags: PSH_ACK,
        payload: b"new",
        options: ts(200),
        ..In::seg()
    });
    c.drain();
    // Older than ts_recent by more than one: rejected, answered with a duplicate ACK.
    let out = c.send(In {
        seq: 4,
        flags: PSH_ACK,
        payload: b"old",
        options: ts(150),
        ..In::seg()
    });
    assert_eq!(keys(&out), [seg(1, 4, ACK, 0)]);
    assert_eq!(c.count(Counter::TcpExtPAWSEstab), 1);
    assert_eq!(c.stack.recv(c.now, c.fd, &mut [0; 10]), Ok(3), "only the first");
}

#[test]
fn e21_an_orphan_gives_up_after_eight_retries_worth_of_time_without_a_reset() {
    let mut c = Conn::new();
    c.stack.close(c.now, c.fd).unwrap();
    assert_eq!(keys(&c.drain()), [seg(1, 1, FIN_ACK, 0)]);
    // tcp_orphan_retries 0 means 8: (2^9 - 1) x 200 ms = 102.2 s from the first retransmission
    // (at 0.2 s). The ninth goes at 102.2 s, 102 s after it; at 204.6 s the orphan is gone
    // (tcp_write_err: no reset). Linux 6.18 with 2 retries: tests/drill/pass/orphan_retries.pkt.
    let sent = c.at(300.0);
    assert_eq!(sent.len(), 9, "{sent:?}");
    assert!(sent.iter().all(|(_, s)| key(s) == seg(1, 1, FIN_ACK, 0)));
    assert_eq!(c.count(Counter::TcpExtTCPAbortOnTimeout), 1);
    let out = c.send(In::ack(2));
    assert_eq!(keys(&out), [seg(2, 0, TcpFlags::RST, 0)], "gone: the no-socket reset");
}

#[test]
fn e23_an_orphan_in_fin_wait2_takes_the_exact_fin_ignores_a_bare_ack_and_resets_data() {
    for (what, input, reply) in [
        ("bare ACK", In::ack(2), vec![]),
        (
            "exact FIN",
            In {
                flags: FIN_ACK,
                ..In::ack(2)
            },
            vec![seg(2, 2, ACK, 0)],
        ),
        (
            "new data",
            In {
                flags: PSH_ACK,
                payload: b"late",
                ..In::ack(2)
            },
            vec![seg(2, 0, TcpFlags::RST, 0)],
        ),
    ] {
        let mut c = Conn::new();
        c.stack.close(c.now, c.fd).unwrap();
        c.drain();
        assert!(c.send(In::ack(2)).is_empty(), "FIN_WAIT2");
        assert_eq!(keys(&c.send(input)), reply, "{what}");
    }
}

#[test]
fn e5_a_write_after_more_than_an_rto_of_silence_restarts_from_the_initial_window() {
    let mut c = Conn::new();
    c.stack.send(c.now, c.fd, &[1; 10_000]).unwrap();
    c.drain();
    assert!(c.send(In::ack(10_001)).is_empty());
    assert_eq!(c.stack.tcp_info(c.now, c.fd).unwrap().snd_cwnd, 20, "slow start");
    // 0.1 s later (less than the 200 ms RTO): the window stays.
    c.at(0.1);
    c.stack.send(c.now, c.fd, &[2; 1000]).unwrap();
    c.drain();
    assert!(c.send(In::ack(11_001)).is_empty());
    let grown = c.stack.tcp_info(c.now, c.fd).unwrap().snd_cwnd;
    assert!(grown >= 20);
    // A second of silence: the next write starts from 10.
    c.at(1.2);
    c.stack.send(c.now, c.fd, &[3; 1000]).unwrap();
    assert_eq!(c.stack.tcp_info(c.now, c.fd).unwrap().snd_cwnd, 10);
}
