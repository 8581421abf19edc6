//! TCP input for IPv4 (`tcp_v4_rcv`) and the reset sent when no socket wants a segment
//! (`tcp_v4_send_reset`).

use crate::bind_table::Owner;
use crate::mib::Counter;
use crate::socket::{SocketId, TcpState};
use crate::stack::Stack;
use crate::time::Instant;
use synq_wire::{ip_proto, Error, Ipv4Repr, TcpFlags, TcpOptions, TcpRepr, IPV4_HEADER_LEN};

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

impl Stack {
    /// `tcp_v4_rcv`: counts the segment, validates header and checksum, then finds the
    /// socket: a listener (`__inet_lookup_listener`), else the `no_tcp_socket` path, a reset.
    pub(crate) fn tcp_v4_rcv(&mut self, _now: Instant, ip: &Ipv4Repr, segment: &[u8]) {
        self.mib.inc(Counter::TcpInSegs);
        let seg = match TcpRepr::parse(segment, ip.src_addr, ip.dst_addr) {
            Ok(seg) => seg,
            Err(e) => {
                if e == Error::BadChecksum {
                    self.mib.inc(Counter::TcpInCsumErrors);
                }
                return self.drop_malformed(Counter::TcpInErrs, e);
            }
        };
        if let Some(listener) = self.listener_for(seg.dst_port, ip.dst_addr) {
            return self.listen_rcv(listener, ip, &seg);
        }
        tracing::trace!(%seg, src = %ip.src_addr, "no socket");
        if let Some(rst) = tcp_v4_send_reset(&seg) {
            self.send_reset(ip, &rst);
        }
    }

    /// `__inet_lookup_listener`, without reuseport groups yet: a listener bound to the
    /// segment's address before one bound to the wildcard.
    fn listener_for(&self, port: u16, addr: std::net::Ipv4Addr) -> Option<SocketId> {
        [addr, std::net::Ipv4Addr::UNSPECIFIED].iter().find_map(|&a| {
            self.bind_table.owners_at(port, a).iter().find_map(|&o| match o {
                Owner::Socket(fd) if self.sockets.get(fd).is_ok_and(|s| s.state == TcpState::Listen) => Some(fd),
                _ => None,
            })
        })
    }

    /// `tcp_rcv_state_process` in `TCP_LISTEN`: an ACK is answered with a reset, a RST is
    /// dropped, a SYN (without FIN) is a connection request, anything else is dropped.
    /// Connection requests are built by the passive-open issue; until then a SYN is dropped
    /// and counted in `TcpExtListenDrops`, as a listener that cannot take it does.
    fn listen_rcv(&mut self, listener: SocketId, ip: &Ipv4Repr, seg: &TcpRepr<'_>) {
        let f = seg.flags;
        if f.ack() {
            if let Some(rst) = tcp_v4_send_reset(seg) {
                self.send_reset(ip, &rst);
            }
        } else if f.syn() && !f.rst() && !f.fin() {
            tracing::debug!(%listener, "SYN on a listener: passive open not built yet, dropped");
            self.mib.inc(Counter::TcpExtListenDrops);
        }
    }

    /// Queues a reset in reply to a datagram with header `ip`: from the address it was sent
    /// to, with TTL `ip_default_ttl`, DF set and IP ID 0 (Linux's control socket), and the
    /// incoming TOS without its ECN bits.
    fn send_reset(&mut self, ip: &Ipv4Repr, rst: &TcpRepr<'_>) {
        let mut reply = Ipv4Repr::new(ip.dst_addr, ip.src_addr, ip_proto::TCP, rst.buffer_len());
        reply.ttl = self.sysctl.ip_default_ttl;
        reply.tos = ip.tos & !0b11;
        let len = IPV4_HEADER_LEN + rst.buffer_len();
        let queued = self.tx.push_with(len, |buf| {
            reply.emit(buf)?;
            rst.emit(&mut buf[IPV4_HEADER_LEN..], reply.src_addr, reply.dst_addr)
                .map(drop)
        });
        match queued {
            Ok(()) => {
                self.mib.inc(Counter::TcpOutRsts);
                self.mib.inc(Counter::TcpOutSegs);
                self.mib.inc(Counter::IpOutRequests);
            }
            Err(e) => tracing::error!(error = %e, "could not build a reset"),
        }
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
