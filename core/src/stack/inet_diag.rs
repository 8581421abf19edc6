//! What `ss -tan` shows of a stack (`inet_diag_dump_icsk`, `tcp_diag_get_info`): every
//! listener, connection, request sock and TIME_WAIT entry, with its queues.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::inet::socket::{SockKind, TcpState};
use crate::inet::tuple::FourTuple;
use crate::Stack;

/// One line of `ss -tan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockDiag {
    pub state: TcpState,
    /// A listener's accept-queue length (`sk_ack_backlog`); a connection's bytes received
    /// and not read (`rcv_nxt - copied_seq`).
    pub recv_q: u32,
    /// A listener's backlog (`sk_max_ack_backlog`); a connection's bytes written and not
    /// acknowledged, its FIN included (`write_seq - snd_una`).
    pub send_q: u32,
    pub local: SocketAddrV4,
    /// 0.0.0.0:0 for a listener (`*` in ss).
    pub peer: SocketAddrV4,
}

impl SockDiag {
    fn of(state: TcpState, t: FourTuple) -> SockDiag {
        SockDiag {
            state,
            recv_q: 0,
            send_q: 0,
            local: SocketAddrV4::new(t.local_addr, t.local_port),
            peer: SocketAddrV4::new(t.remote_addr, t.remote_port),
        }
    }
}

/// ss's name for a state (`sstate_name` in iproute2's ss.c).
pub fn ss_state_name(state: TcpState) -> &'static str {
    match state {
        TcpState::Established => "ESTAB",
        TcpState::SynSent => "SYN-SENT",
        TcpState::SynRecv | TcpState::NewSynRecv => "SYN-RECV",
        TcpState::FinWait1 => "FIN-WAIT-1",
        TcpState::FinWait2 => "FIN-WAIT-2",
        TcpState::TimeWait => "TIME-WAIT",
        TcpState::Close => "UNCONN",
        TcpState::CloseWait => "CLOSE-WAIT",
        TcpState::LastAck => "LAST-ACK",
        TcpState::Listen => "LISTEN",
        TcpState::Closing => "CLOSING",
    }
}

impl Stack {
    /// Every socket `ss -tan` would list: listeners, connections (orphans and unaccepted
    /// children included), request socks (SYN-RECV) and TIME_WAIT entries. A socket that is
    /// neither listening nor connected is in no hash table and is not listed, as on Linux.
    pub fn inet_diag(&self) -> Vec<SockDiag> {
        let mut out = Vec::new();
        for s in self.tables.sockets.values() {
            match &s.kind {
                SockKind::Listener(q) => out.push(SockDiag {
                    state: TcpState::Listen,
                    recv_q: q.accept_queue.len(),
                    send_q: q.backlog,
                    local: s.local(),
                    peer: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
                }),
                SockKind::Conn(t) => {
                    let Some(tuple) = s.tuple() else { continue };
                    // Linux's `write_seq` counts our SYN and FIN until they are acknowledged;
                    // synq's sequence space starts after the SYN and ends before the FIN.
                    let syn = u32::from(matches!(s.state, TcpState::SynSent | TcpState::SynRecv));
                    let fin = u32::from(t.snd.fin_queued && !t.snd.fin_acked());
                    out.push(SockDiag {
                        recv_q: t.rcv.buf.len() as u32,
                        send_q: t.snd.write_seq.0.wrapping_sub(t.snd.una.0) + syn + fin,
                        ..SockDiag::of(s.state, tuple)
                    });
                }
                SockKind::Idle => {}
            }
        }
        out.extend(
            self.tables
                .requests
                .values()
                .map(|r| SockDiag::of(TcpState::SynRecv, r.tuple())),
        );
        out.extend(
            self.tables
                .time_waits
                .values()
                .map(|tw| SockDiag::of(TcpState::TimeWait, tw.tuple())),
        );
        out
    }
}
