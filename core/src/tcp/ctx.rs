//! What a TCP handler borrows besides the socket it acts on: the knobs, the counters, the
//! timer wheel, the transmit queue and a scratch buffer ([`Ctx`]), and what the timers stand
//! for ([`Timer`]).

use crate::base::mib::Mib;
use crate::base::sysctl::Sysctl;
use crate::base::time::{Duration, Instant};
use crate::base::timer_wheel::TimerWheel;
use crate::inet::bind_table::BindTable;
use crate::inet::ehash::Ehash;
use crate::inet::inet_hashtables::PortPerturb;
use crate::inet::listening_hash::ListeningHash;
use crate::inet::request_sock::{RequestId, RequestTable};
use crate::inet::socket::{SockId, SocketTable};
use crate::inet::time_wait::{TimeWaitId, TimeWaitTable};
use crate::ip::output::{ip_send_tcp, TxQueue};
use crate::tcp::isn::IsnSecrets;
use crate::tcp::syncookies::SynCookies;
use crate::tcp::tcb::{Tcb, TcbPool, TcpTimer};
use std::net::Ipv4Addr;
use synq_wire::TcpRepr;

/// What the stack's timers stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// A request sock's SYN-ACK retransmission and expiry (`rsk_timer`).
    SynAck(RequestId),
    /// One of a connection's timers.
    Tcp(SockId, TcpTimer),
    /// The end of a TIME_WAIT entry (`tw_timer`).
    TimeWait(TimeWaitId),
}

/// The parts of the stack every TCP handler may touch; the stack owns them.
#[derive(Debug)]
pub(crate) struct Shared {
    pub mib: Mib,
    pub timers: TimerWheel<Timer>,
    pub tx: TxQueue,
    /// A segment's payload is gathered here from the send queue (no allocation per segment).
    pub scratch: Vec<u8>,
    /// The keys of ISNs and timestamp offsets, and of SYN cookies.
    pub isn: IsnSecrets,
    pub syncookies: SynCookies,
    /// The link MTU (the route's advertised MSS is this less 40).
    pub mtu: u16,
    /// connect()'s port-search perturbation table (`table_perturb`).
    pub port_perturb: PortPerturb,
    /// The sockets the current [`crate::Stack::receive`] delivered to (`sk_data_ready` and
    /// `sk_state_change` would run for them): [`crate::Stack::take_touched`] reads them.
    pub touched: Vec<SockId>,
}

/// What a TCP handler borrows besides the socket it acts on: the knobs (read) and the
/// shared parts (`cx.mib`, `cx.timers`, ... through `Deref`).
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub sysctl: &'a Sysctl,
    pub s: &'a mut Shared,
}

impl std::ops::Deref for Ctx<'_> {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        self.s
    }
}

impl std::ops::DerefMut for Ctx<'_> {
    fn deref_mut(&mut self) -> &mut Shared {
        self.s
    }
}

/// The stack's tables, for the handlers that move sockets between them: the passive open
/// (requests, children, the accept queue), TIME_WAIT, a connection's end.
#[derive(Debug)]
pub(crate) struct Tables {
    pub sockets: SocketTable,
    pub requests: RequestTable,
    pub ehash: Ehash,
    pub listening: ListeningHash,
    pub time_waits: TimeWaitTable,
    pub bind_table: BindTable,
    pub tcb_pool: TcbPool,
}

impl Ctx<'_> {
    /// `tcp_rto_min` from the sysctl.
    pub fn rto_min(&self) -> Duration {
        Duration::from_micros(self.sysctl.tcp_rto_min_us.max(1) as u64)
    }

    /// `tcp_rto_max` from the sysctl.
    pub fn rto_max(&self) -> Duration {
        Duration::from_millis(self.sysctl.tcp_rto_max_ms.max(1) as u64)
    }

    /// Arms (or re-arms) one of connection `sk`'s timers.
    pub fn arm_timer(&mut self, tcb: &mut Tcb, sk: SockId, kind: TcpTimer, deadline: Instant) {
        if let Some(old) = tcb.timers[kind].take() {
            self.timers.cancel(old);
        }
        tcb.timers[kind] = Some(self.timers.insert(deadline, Timer::Tcp(sk, kind)));
    }

    /// Stops one of a connection's timers.
    pub fn cancel_timer(&mut self, tcb: &mut Tcb, kind: TcpTimer) {
        if let Some(old) = tcb.timers[kind].take() {
            self.timers.cancel(old);
        }
    }

    /// Queues `seg` from `src` to `dst` with TTL `ip_default_ttl`, TOS `tos` and IP ID
    /// `ident`; false if it could not be built.
    pub fn send_segment(&mut self, src: Ipv4Addr, dst: Ipv4Addr, (tos, ident): (u8, u16), seg: &TcpRepr<'_>) -> bool {
        ip_send_tcp(
            &mut self.s.tx,
            &mut self.s.mib,
            self.sysctl.ip_default_ttl,
            (src, dst),
            (tos, ident),
            seg,
        )
    }
}
