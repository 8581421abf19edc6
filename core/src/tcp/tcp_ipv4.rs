//! TCP input for IPv4 (`tcp_v4_rcv`) and the reset sent when no socket wants a segment
//! (`tcp_v4_send_reset`).

use crate::base::mib::Counter;
use crate::base::time::Instant;
use crate::inet::ehash::EhashEntry;
use crate::inet::socket::SocketId;
use crate::inet::tuple::FourTuple;
use crate::ip::input::drop_malformed;
use crate::ip::output::ip_send_tcp;
use crate::stack::Stack;
use crate::tcp::ctx::Ctx;
use std::net::Ipv4Addr;
use synq_wire::{Error, Ipv4Repr, TcpFlags, TcpOptions, TcpRepr};

/// The reset Linux's `tcp_v4_send_reset` answers `seg` with, or `None` for a reset (never a
/// RST in answer to a RST). With ACK set, the reset takes its sequence number from the
/// segment's acknowledgment and carries no ACK; otherwise it has sequence 0 and acknowledges
/// everything the segment occupied (payload, SYN and FIN). Window 0, no options.
pub fn tcp_v4_send_reset<'a>(seg: &TcpRepr<'_>) -> Option<TcpRepr<'a>> {
    if seg.flags.rst() {
        return None;
    }
    let (seq, ack, flags) = if seg.flags.ack() {
        (seg.ack, 0, TcpFlags::RST)
    } else {
        (
            0,
            seg.seq.wrapping_add(seg.segment_len() as u32),
            TcpFlags::RST | TcpFlags::ACK,
        )
    };
    Some(TcpRepr {
        src_port: seg.dst_port,
        dst_port: seg.src_port,
        seq,
        ack,
        flags,
        window: 0,
        urgent: 0,
        options: TcpOptions::default(),
        payload: &[],
    })
}

/// Answers `seg` (carried by `ip`) with `tcp_v4_send_reset`'s reset, if any: from the
/// address it was sent to, with the incoming TOS without its ECN bits (Linux's control
/// socket).
pub(crate) fn reply_reset(cx: &mut Ctx, ip: &Ipv4Repr, seg: &TcpRepr<'_>) {
    if let Some(rst) = tcp_v4_send_reset(seg) {
        if cx.send_segment(ip.dst_addr, ip.src_addr, ip.tos & !0b11, &rst) {
            cx.mib.inc(Counter::TcpOutRsts);
        }
    }
}

impl Stack {
    /// `tcp_v4_rcv`: counts the segment, validates header and checksum, then finds its
    /// socket in Linux's order (L10): the established hash by 4-tuple (request socks and
    /// connections), then a listener (`__inet_lookup_listener`), else the `no_tcp_socket`
    /// path, a reset.
    pub(crate) fn tcp_v4_rcv(&mut self, now: Instant, ip: &Ipv4Repr, segment: &[u8]) {
        self.mib.inc(Counter::TcpInSegs);
        let seg = match TcpRepr::parse(segment, ip.src_addr, ip.dst_addr) {
            Ok(seg) => seg,
            Err(e) => {
                if e == Error::BadChecksum {
                    self.mib.inc(Counter::TcpInCsumErrors);
                }
                return drop_malformed(&mut self.mib, Counter::TcpInErrs, e);
            }
        };
        let tuple = FourTuple {
            local_addr: ip.dst_addr,
            local_port: seg.dst_port,
            remote_port: seg.src_port,
            remote_addr: ip.src_addr,
        };
        match self.ehash.lookup(&tuple) {
            Some(EhashEntry::Request(id)) if self.tcp_check_req(now, id, ip, &seg) => return,
            Some(EhashEntry::Socket(fd)) => return self.tcp_rcv_synchronized(now, fd, ip, &seg),
            Some(EhashEntry::TimeWait(id)) if self.tcp_timewait_state_process(now, id, &seg) => return,
            // No entry, or a request whose listener is gone (L40): the request was dropped
            // and the segment goes on to the listeners.
            _ => {}
        }
        if let Some(listener) = self.listener_for(&tuple) {
            return self.listen_rcv(now, listener, &tuple, ip, &seg);
        }
        tracing::trace!(%seg, src = %ip.src_addr, "no socket");
        self.reply_reset(ip, &seg);
    }

    /// `__inet_lookup_listener` (L65): a listener bound to the segment's address before one
    /// bound to the wildcard; in a SO_REUSEPORT group, the member the 4-tuple's hash picks.
    fn listener_for(&self, t: &FourTuple) -> Option<SocketId> {
        [t.local_addr, Ipv4Addr::UNSPECIFIED]
            .iter()
            .find_map(|&a| self.listening.lookup(a, t))
    }

    /// [`reply_reset`] from the stack.
    pub(crate) fn reply_reset(&mut self, ip: &Ipv4Repr, seg: &TcpRepr<'_>) {
        let (mut cx, _) = self.ctx();
        reply_reset(&mut cx, ip, seg);
    }

    /// Queues `seg` from `src` to `dst` with TTL `ip_default_ttl` and the given TOS
    /// ([`ip_send_tcp`]); false if it could not be built.
    pub(crate) fn send_segment(&mut self, src: Ipv4Addr, dst: Ipv4Addr, tos: u8, seg: &TcpRepr<'_>) -> bool {
        ip_send_tcp(
            &mut self.tx,
            &mut self.mib,
            self.sysctl.ip_default_ttl,
            (src, dst),
            tos,
            seg,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(flags: TcpFlags, payload: &'static [u8]) -> TcpRepr<'static> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: 1000,
            ack: 5000,
            flags,
            window: 100,
            payload,
            ..Default::default()
        }
    }

    #[test]
    fn reset_to_syn_acknowledges_the_syn() {
        let rst = tcp_v4_send_reset(&seg(TcpFlags::SYN, b"")).unwrap();
        assert_eq!((rst.src_port, rst.dst_port), (80, 40000));
        assert_eq!((rst.seq, rst.ack, rst.flags), (0, 1001, TcpFlags::RST | TcpFlags::ACK));
        assert_eq!(rst.window, 0);
    }

    #[test]
    fn reset_to_ack_takes_its_sequence_from_the_ack() {
        let rst = tcp_v4_send_reset(&seg(TcpFlags::ACK | TcpFlags::PSH, b"data")).unwrap();
        assert_eq!((rst.seq, rst.ack, rst.flags), (5000, 0, TcpFlags::RST));
    }

    #[test]
    fn reset_to_data_and_fin_without_ack_covers_both() {
        let rst = tcp_v4_send_reset(&seg(TcpFlags::FIN, b"abc")).unwrap();
        assert_eq!(rst.ack, 1004);
        let wrap = TcpRepr {
            seq: u32::MAX,
            ..seg(TcpFlags::SYN, b"")
        };
        assert_eq!(tcp_v4_send_reset(&wrap).unwrap().ack, 0);
    }

    #[test]
    fn never_a_reset_for_a_reset() {
        assert_eq!(tcp_v4_send_reset(&seg(TcpFlags::RST, b"")), None);
        assert_eq!(tcp_v4_send_reset(&seg(TcpFlags::RST | TcpFlags::ACK, b"")), None);
    }
}
