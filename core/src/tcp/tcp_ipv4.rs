//! TCP input for IPv4 (`tcp_v4_rcv`): the demux of a segment to its request sock,
//! connection, TIME_WAIT entry or listener, else the reset no socket wants
//! ([`tcp_v4_send_reset`](crate::tcp::tcp_output::tcp_v4_send_reset)).

use crate::base::mib::Counter;
use crate::base::time::Instant;
use crate::inet::ehash::EhashEntry;
use crate::inet::listening_hash::ListeningHash;
use crate::inet::socket::SockId;
use crate::inet::tuple::FourTuple;
use crate::ip::input::drop_malformed;
use crate::tcp::ctx::{Ctx, Tables};
use crate::tcp::listener::listen_rcv;
use crate::tcp::tcp_minisocks::{tcp_check_req, tcp_timewait_state_process, tcp_v4_do_rcv};
use crate::tcp::tcp_output::reply_reset;
use std::net::Ipv4Addr;
use synq_wire::{Error, Ipv4Repr, TcpRepr};

/// `tcp_v4_rcv`: counts the segment, validates header and checksum, then finds its
/// socket in Linux's order (L10): the established hash by 4-tuple (request socks and
/// connections), then a listener (`__inet_lookup_listener`), else the `no_tcp_socket`
/// path, a reset.
pub(crate) fn tcp_v4_rcv(cx: &mut Ctx, tables: &mut Tables, now: Instant, ip: &Ipv4Repr, segment: &[u8]) {
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
        Some(EhashEntry::Request(id)) if tcp_check_req(cx, tables, now, id, ip, &seg) => return,
        Some(EhashEntry::Socket(sk)) => return tcp_v4_do_rcv(cx, tables, now, sk, ip, &seg),
        Some(EhashEntry::TimeWait(id)) if tcp_timewait_state_process(cx, tables, now, id, &seg) => return,
        // No entry, or a request whose listener is gone (L40): the request was dropped
        // and the segment goes on to the listeners.
        _ => {}
    }
    if let Some(listener) = listener_for(&tables.listening, &tuple) {
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
