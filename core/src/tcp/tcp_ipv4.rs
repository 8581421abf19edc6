//! TCP input for IPv4 (`tcp_v4_rcv`): the demux of a segment to its request sock,
//! connection, TIME_WAIT entry or listener, else the reset no socket wants
//! ([`tcp_v4_send_reset`](crate::tcp::tcp_output::tcp_v4_send_reset)).

use crate::base::errno::Errno;
use crate::base::mib::Counter;
use crate::base::rng::Rng;
use crate::base::seq::{between, SeqNum};
use crate::base::time::{tcp_clock_ms, Instant};
use crate::inet::bind_table::{Owner, PortUse};
use crate::inet::ehash::EhashEntry;
use crate::inet::inet_hashtables::{inet_check_established, inet_hash_connect_port, inet_sk_get_local_port_range};
use crate::inet::listening_hash::ListeningHash;
use crate::inet::request_sock::TCP_TIMEOUT_INIT;
use crate::inet::socket::{SockId, SockKind, TcpState};
use crate::inet::time_wait::TimeWaitSock;
use crate::inet::tuple::FourTuple;
use crate::ip::input::drop_malformed;
use crate::tcp::calls::{tcp_done, tcp_set_state};
use crate::tcp::ctx::{Ctx, Tables};
use crate::tcp::listener::listen_rcv;
use crate::tcp::syn_sent::{SynRetransmit, SynSent};
use crate::tcp::tcb::{Tcb, TcpTimer, TCP_MSS_DEFAULT};
use crate::tcp::tcp_connect::tcp_connect_init;
use crate::tcp::tcp_minisocks::{inet_twsk_recycle, tcp_check_req, tcp_timewait_state_process, tcp_v4_do_rcv};
use crate::tcp::tcp_output::reply_reset;
use std::net::{Ipv4Addr, SocketAddrV4};
use synq_wire::{ip_proto, Error, IcmpMessage, IcmpRepr, Ipv4Repr, TcpRepr};

/// `tcp_v4_rcv`: counts the segment, validates header and checksum, then finds its
/// socket in Linux's order (L10): the established hash by 4-tuple (request socks and
/// connections), then a listener (`__inet_lookup_listener`), else the `no_tcp_socket`
/// path, a reset. A segment to an address that is not ours (`local` false: only while a
/// transparent listener exists) finds its connection the same way, else the transparent
/// listener (TPROXY's `nf_tproxy_get_sock_v4`: the listener sees every such segment, so a
/// cookie's ACK is checked and a stray ACK reset as a listener does), else it is dropped.
pub(crate) fn tcp_v4_rcv(cx: &mut Ctx, tables: &mut Tables, now: Instant, ip: &Ipv4Repr, segment: &[u8], local: bool) {
    cx.mib.inc(Counter::TcpInSegs);
    let seg = match TcpRepr::parse(segment, ip.src_addr, ip.dst_addr) {
        Ok(seg) => seg,
        Err(e) => {
            if e == Error::BadChecksum {
                cx.mib.inc(Counter::TcpInCsumErrors);
            }
            return drop_malformed(&mut cx.mib, Counter::TcpInErrs, e);
        }
    };
    let tuple = FourTuple {
        local_addr: ip.dst_addr,
        local_port: seg.dst_port,
        remote_port: seg.src_port,
        remote_addr: ip.src_addr,
    };
    match tables.ehash.lookup(&tuple) {
        Some(EhashEntry::Request(id)) => {
            // The connection it may complete lands in its listener's accept queue.
            if let Some(r) = tables.requests.get(id) {
                cx.s.touched.push(r.listener);
            }
            if tcp_check_req(cx, tables, now, id, ip, &seg) {
                return;
            }
        }
        Some(EhashEntry::Socket(sk)) => {
            cx.s.touched.push(sk);
            return tcp_v4_do_rcv(cx, tables, now, sk, ip, &seg);
        }
        Some(EhashEntry::TimeWait(id)) if tcp_timewait_state_process(cx, tables, now, id, &seg) => return,
        // No entry, or a request whose listener is gone (L40): the request was dropped
        // and the segment goes on to the listeners.
        _ => {}
    }
    if !local {
        // A listener bound to this very address (IP_TRANSPARENT or IP_FREEBIND), else the
        // transparent one; never an ordinary wildcard listener on the port.
        let listener = tables
            .listening
            .lookup(tuple.local_addr, &tuple)
            .or_else(|| tables.listening.lookup_transparent(&tuple));
        if let Some(listener) = listener {
            cx.s.touched.push(listener);
            return listen_rcv(cx, tables, now, listener, &tuple, ip, &seg);
        }
        tracing::trace!(%seg, dst = %ip.dst_addr, "not ours and no transparent listener");
        return;
    }
    if let Some(listener) = listener_for(&tables.listening, &tuple) {
        cx.s.touched.push(listener);
        return listen_rcv(cx, tables, now, listener, &tuple, ip, &seg);
    }
    tracing::trace!(%seg, src = %ip.src_addr, "no socket");
    reply_reset(cx, ip, &seg);
}

/// `__inet_lookup_listener` (L65): a listener bound to the segment's address before one
/// bound to the wildcard; in a SO_REUSEPORT group, the member the 4-tuple's hash picks.
fn listener_for(listening: &ListeningHash, tuple: &FourTuple) -> Option<SockId> {
    [tuple.local_addr, Ipv4Addr::UNSPECIFIED]
        .iter()
        .find_map(|&a| listening.lookup(a, tuple))
}

/// `tcp_v4_connect` once the address checks are done (rules C6–C22): socket `sk` (closed)
/// connects from `saddr` (its bound address, else the route's) to `daddr`. It enters SYN_SENT,
/// gets its port (its own, checked for a unique 4-tuple, or `__inet_hash_connect`'s, maybe
/// recycling a TIME_WAIT), its ISN and timestamp offset, and sends the SYN with the
/// retransmission timer armed at `TCP_TIMEOUT_INIT`. `EADDRNOTAVAIL` leaves it closed, its
/// automatic address and port given back.
pub(crate) fn tcp_v4_connect(
    cx: &mut Ctx,
    tables: &mut Tables,
    rng: &mut Rng,
    now: Instant,
    sk: SockId,
    saddr: Ipv4Addr,
    daddr: SocketAddrV4,
) -> Result<(), Errno> {
    let sysctl = cx.sysctl;
    let now_ms = tcp_clock_ms(now);
    let socket = tables.sockets.get_mut(sk)?;
    let auto_saddr = socket.rcv_saddr.is_unspecified();
    if auto_saddr {
        socket.rcv_saddr = saddr;
    }
    let saddr = socket.rcv_saddr;
    socket.peer = Some(daddr);
    tcp_set_state(&mut cx.mib, socket, TcpState::SynSent);
    let fixed = socket.num != 0;
    let (options, sport) = (socket.options, socket.num);
    let tuple = |port: u16| FourTuple {
        local_addr: saddr,
        local_port: port,
        remote_port: daddr.port(),
        remote_addr: *daddr.ip(),
    };
    let unique = |tables: &Tables, port: u16, fixed: bool| {
        inet_check_established(&tables.ehash, &tables.time_waits, &tuple(port), |tw| {
            tcp_twsk_unique(tw, fixed, sysctl.tcp_tw_reuse, sysctl.tcp_tw_reuse_delay, now_ms)
        })
    };
    let found = if fixed {
        unique(tables, sport, true).map(|tw| (sport, tw))
    } else {
        // `inet_hash_connect`: the search starts where the destination's hash points.
        let offset = cx.isn.secure_ipv4_port_ephemeral(saddr, *daddr.ip(), daddr.port(), now);
        let range = inet_sk_get_local_port_range(sysctl.ip_local_port_range, options.local_port_range);
        let mut recycled = None;
        // The ports this destination's connections hold fail the 4-tuple check; so do its
        // TIME_WAIT entries' unless tcp_twsk_unique could let one go (C16).
        let tw_reusable = tw_reuse_applies(sysctl.tcp_tw_reuse, saddr, *daddr.ip());
        let held = tables.ehash.connect_ports(saddr, *daddr.ip(), daddr.port());
        let reserved = &sysctl.ip_local_reserved_ports;
        let (sets, n) = match held.and_then(|h| h.bitmaps()) {
            Some((live, time_wait)) => ([reserved, live, time_wait], if tw_reusable { 2 } else { 3 }),
            None => ([reserved; 3], 1),
        };
        let port = inet_hash_connect_port(range, offset, &mut cx.s.port_perturb, &sets[..n], rng, |p| match tables
            .bind_table
            .port_use(p)
        {
            PortUse::Free => true,
            PortUse::Bind => false,
            PortUse::Connect => unique(tables, p, false).map(|tw| recycled = tw).is_ok(),
        });
        port.map(|p| (p, recycled))
    };
    let (port, recycled) = match found {
        Ok(found) => found,
        Err(e) => {
            // The `failure:` path: closed again, the automatic address given back.
            let socket = tables.sockets.get_mut(sk)?;
            tcp_set_state(&mut cx.mib, socket, TcpState::Close);
            socket.peer = None;
            if auto_saddr && !socket.bind_addr_lock {
                socket.rcv_saddr = Ipv4Addr::UNSPECIFIED;
            }
            return Err(e);
        }
    };
    if let Some((id, _)) = recycled {
        inet_twsk_recycle(cx, tables, id);
    }
    if fixed {
        tables.ehash.replace(tuple(port), EhashEntry::Socket(sk));
    } else {
        tables.bind_table.insert_connect(port, saddr, Owner::Socket(sk));
        tables.ehash.insert_connect(tuple(port), sk);
    }
    // The ISN: past a recycled TIME_WAIT's sequence space, else what an earlier attempt left
    // (`write_seq`), else `secure_tcp_seq` (C8, C16, C18).
    let reuse = recycled.map(|(_, r)| r);
    let left = tables.sockets.get(sk).map_or(0, |s| s.write_seq);
    let iss = match (reuse, left) {
        (Some(r), _) => r.write_seq,
        (None, 0) => cx.isn.secure_tcp_seq(saddr, *daddr.ip(), port, daddr.port(), now),
        (None, seq) => seq,
    };
    let ts_off = cx.isn.secure_tcp_ts_off(sysctl.tcp_timestamps, saddr, *daddr.ip());
    let init = tcp_connect_init(
        sysctl,
        cx.mtu,
        options.user_mss,
        (options.rcvbuf, options.rcvbuf_locked),
        reuse.is_some(),
    );
    let mut tcb = tables.tcb_pool.take(Tcb::new(SeqNum(iss), SeqNum(0)));
    tcb.set_congestion(sysctl, options.congestion);
    tcb.rcv.wnd = init.window.rcv_wnd;
    tcb.rcv.ssthresh = init.window.rcv_wnd;
    tcb.rcv.window_clamp = init.window.window_clamp;
    tcb.rcv.wscale = init.window.rcv_wscale;
    tcb.advmss = init.advmss;
    tcb.mss_clamp = if options.user_mss != 0 {
        options.user_mss
    } else {
        TCP_MSS_DEFAULT
    };
    tcb.ts_off = ts_off;
    tcb.ts_recent = reuse.map_or(0, |r| r.ts_recent);
    tcb.rtt.rto = TCP_TIMEOUT_INIT;
    let syn_sent = SynSent {
        iss: SeqNum(iss),
        retrans_stamp_ms: now_ms,
        ts_off,
        ts_recent: reuse.map(|r| r.ts_recent),
        retransmit: SynRetransmit::new(TCP_TIMEOUT_INIT),
        init,
    };
    let syn = syn_sent.syn(port, daddr.port(), now_ms);
    tcb.syn_sent = Some(Box::new(syn_sent));
    let socket = tables.sockets.get_mut(sk)?;
    socket.num = port;
    socket.sport = port;
    socket.shutdown = 0;
    socket.done = false;
    socket.error = None;
    if let SockKind::Conn(mut old) = std::mem::replace(&mut socket.kind, SockKind::Conn(tcb)) {
        crate::tcp::sk_mem::sk_mem_uncharge(cx, &mut old);
        tables.tcb_pool.give(old);
    }
    // inet_id starts at random (get_random_u16) and the SYN carries it (rule C20).
    socket.inet_id = rng.next_u32() as u16;
    let ident = socket.next_ip_id();
    cx.send_segment(saddr, *daddr.ip(), (0, ident), &syn);
    cx.mib.inc(Counter::TcpActiveOpens);
    if let Some(tcb) = socket.tcb_mut() {
        cx.arm_timer(tcb, sk, TcpTimer::Retransmit, now + TCP_TIMEOUT_INIT);
    }
    Ok(())
}

/// `icmp_err_convert`: the errno of a destination-unreachable code, `None` for the ones TCP
/// does not report (4, fragmentation needed: a path-MTU matter; codes above 15).
fn icmp_err_convert(code: u8) -> Option<Errno> {
    Some(match code {
        0 | 6 | 9 | 11 => Errno::ENETUNREACH,
        1 | 10 | 12..=15 => Errno::EHOSTUNREACH,
        2 => Errno::ENOPROTOOPT,
        3 => Errno::ECONNREFUSED,
        5 => Errno::EOPNOTSUPP,
        7 => Errno::EHOSTDOWN,
        8 => Errno::ENONET,
        _ => return None,
    })
}

/// `tcp_v4_err` (rule C33): an ICMP error quoting one of our segments. For a socket in
/// SYN_SENT whose SYN it quotes (sequence number our ISN), a destination-unreachable or
/// time-exceeded error ends the attempt at once with its errno (port unreachable:
/// `ECONNREFUSED`). A quoted sequence outside what we sent is counted (`OutOfWindowIcmps`)
/// and ignored; so is every error for other states (Linux keeps them as soft errors).
pub(crate) fn tcp_v4_err(cx: &mut Ctx, tables: &mut Tables, icmp: &IcmpRepr<'_>) {
    let (q, bytes) = (&icmp.quoted_header, icmp.quoted_payload);
    if q.protocol != ip_proto::TCP || bytes.len() < 8 {
        return;
    }
    let port = |i: usize| u16::from_be_bytes([bytes[i], bytes[i + 1]]);
    let seq = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let tuple = FourTuple {
        local_addr: q.src_addr,
        local_port: port(0),
        remote_port: port(2),
        remote_addr: q.dst_addr,
    };
    let Some(EhashEntry::Socket(sk)) = tables.ehash.lookup(&tuple) else {
        return;
    };
    let Ok(socket) = tables.sockets.get_mut(sk) else { return };
    let Some(ss) = socket.tcb().and_then(|t| t.syn_sent.as_deref().copied()) else {
        return;
    };
    if !between(seq, ss.iss.0, ss.iss.0.wrapping_add(1)) {
        cx.mib.inc(Counter::TcpExtOutOfWindowIcmps);
        return;
    }
    let err = match icmp.message {
        IcmpMessage::DstUnreachable { code, .. } => icmp_err_convert(code),
        IcmpMessage::TimeExceeded { .. } => Some(Errno::EHOSTUNREACH),
    };
    if let Some(err) = err {
        socket.error = Some(err);
        tcp_done(cx, tables, sk);
    }
}

/// What a connection that takes over a TIME_WAIT 4-tuple inherits (rule C16.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwReuse {
    /// The new connection's ISN (`write_seq`): past everything the old one could have sent.
    pub write_seq: u32,
    /// The peer's latest TSval, echoed in the SYN (`ts_recent`).
    pub ts_recent: u32,
}

/// `tcp_tw_reuse` lets connect() take over a TIME_WAIT 4-tuple between these addresses
/// (1: always; 2: only when either is loopback), given its age and timestamps.
fn tw_reuse_applies(tw_reuse: u8, local: Ipv4Addr, remote: Ipv4Addr) -> bool {
    tw_reuse == 1 || (tw_reuse == 2 && (local.is_loopback() || remote.is_loopback()))
}

/// `tcp_twsk_unique` (rule C16): may connect() take over the 4-tuple of TIME_WAIT entry `tw`?
/// Only if the old connection used timestamps (PAWS then tells old segments from new), and
/// either the port was the socket's own (`fixed_port`: `twp == NULL`, rule C9) or
/// `tcp_tw_reuse` allows it (2: only when either address is loopback) and the entry is older
/// than `tcp_tw_reuse_delay` ms.
pub fn tcp_twsk_unique(
    tw: &TimeWaitSock,
    fixed_port: bool,
    tw_reuse: u8,
    reuse_delay_ms: u32,
    now_ms: u32,
) -> Option<TwReuse> {
    let reuse = tw_reuse_applies(tw_reuse, *tw.local.ip(), *tw.remote.ip());
    let aged = now_ms.wrapping_sub(tw.conn.entry_ms) as i32 > reuse_delay_ms as i32;
    if !tw.conn.tstamp_ok || !(fixed_port || (reuse && aged)) {
        return None;
    }
    let write_seq = match tw.conn.snd_nxt.wrapping_add(65535 + 2) {
        0 => 1,
        seq => seq,
    };
    Some(TwReuse {
        write_seq,
        ts_recent: tw.conn.ts_recent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inet::time_wait::TwConn;
    use std::net::SocketAddrV4;

    fn tw(local: Ipv4Addr, remote: Ipv4Addr, tstamp_ok: bool) -> TimeWaitSock {
        TimeWaitSock {
            local: SocketAddrV4::new(local, 40000),
            remote: SocketAddrV4::new(remote, 80),
            reuse_addr: false,
            reuse_port: false,
            uid: 0,
            conn: TwConn {
                snd_nxt: 5000,
                tstamp_ok,
                ts_recent: 777,
                entry_ms: 10_000,
                ..TwConn::default()
            },
        }
    }

    const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;
    const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

    #[test]
    fn c16_reuse_2_recycles_a_loopback_entry_strictly_after_the_delay() {
        let t = tw(LO, LO, true);
        assert_eq!(tcp_twsk_unique(&t, false, 2, 1000, 10_900), None, "0.9 s");
        assert_eq!(tcp_twsk_unique(&t, false, 2, 1000, 11_000), None, "exactly the delay");
        assert_eq!(
            tcp_twsk_unique(&t, false, 2, 1000, 11_001),
            Some(TwReuse {
                write_seq: 5000 + 65537,
                ts_recent: 777
            })
        );
        assert_eq!(tcp_twsk_unique(&t, false, 2, 3000, 12_900), None, "a longer delay");
        assert!(tcp_twsk_unique(&t, false, 2, 3000, 13_100).is_some());
    }

    #[test]
    fn c16_reuse_2_never_recycles_between_other_addresses_reuse_1_does() {
        let t = tw(A, B, true);
        assert_eq!(tcp_twsk_unique(&t, false, 2, 1000, 14_000), None);
        assert!(tcp_twsk_unique(&t, false, 1, 1000, 11_100).is_some());
        assert_eq!(
            tcp_twsk_unique(&tw(LO, LO, true), false, 0, 1000, 14_000),
            None,
            "reuse 0"
        );
    }

    #[test]
    fn c16_without_timestamps_never_with_a_fixed_port_always() {
        assert_eq!(tcp_twsk_unique(&tw(LO, LO, false), false, 1, 1000, 20_000), None);
        assert_eq!(tcp_twsk_unique(&tw(LO, LO, false), true, 1, 1000, 20_000), None);
        // The socket's own port (rule C9): no reuse setting or delay asked.
        assert!(tcp_twsk_unique(&tw(A, B, true), true, 0, 1000, 10_010).is_some());
    }

    #[test]
    fn c16_write_seq_skips_zero() {
        let mut t = tw(LO, LO, true);
        t.conn.snd_nxt = 0u32.wrapping_sub(65537);
        assert_eq!(tcp_twsk_unique(&t, true, 0, 1000, 0).map(|r| r.write_seq), Some(1));
    }
}
