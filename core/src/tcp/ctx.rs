//! What a TCP handler borrows besides the socket it acts on: the knobs, the counters, the
//! timer wheel, the transmit queue and a scratch buffer ([`Ctx`]), and what the timers stand
//! for ([`Timer`]).

use crate::base::mib::Mib;
use crate::base::sysctl::Sysctl;
use crate::base::time::{tcp_clock_ms, Duration, Instant};
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
    /// The oldest TIME_WAIT entries' end (`tw_timer`; see [`TwDeathRow`]).
    TimeWait,
}

/// TIME_WAIT's expiry queue (the "death row" Linux kept before per-entry timers): every
/// entry lives `TCP_TIMEWAIT_LEN` from its last (re)start, so deadlines come in order and one
/// wheel timer, for the oldest, serves them all; an entry costs 16 bytes here rather than a
/// timer. A queued deadline that is no longer its entry's (restarted, killed, the id reused)
/// is passed over.
#[derive(Debug, Default)]
pub(crate) struct TwDeathRow {
    /// (deadline, ms of `tcp_clock_ms`; the entry).
    queue: std::collections::VecDeque<(u32, TimeWaitId)>,
    timer: Option<crate::base::timer_wheel::TimerId>,
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
    /// When TIME_WAIT entries end.
    pub tw_row: TwDeathRow,
    /// The GSO segment size of the datagram being received, 0 for none
    /// ([`crate::Stack::receive_gso`]).
    pub rx_gso_size: u16,
    /// `tcp_memory_allocated`, `tcp_memory_pressure`: see [`crate::tcp::sk_mem`].
    pub mem: crate::tcp::sk_mem::TcpMemory,
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
    /// Puts TIME_WAIT entry `id` on the death row for `deadline` (later than any there).
    pub fn tw_schedule(&mut self, id: TimeWaitId, deadline: Instant) {
        let s = &mut *self.s;
        s.tw_row.queue.push_back((tcp_clock_ms(deadline), id));
        if s.tw_row.timer.is_none() {
            s.tw_row.timer = Some(s.timers.insert(deadline, Timer::TimeWait));
        }
    }

    /// The death row's timer fired at `now`: the next entry due (whose deadline it still is,
    /// per `expires_ms`), or `None` once none is, the timer then armed for the next.
    pub fn tw_next_due(&mut self, now: Instant, expires_ms: impl Fn(TimeWaitId) -> Option<u32>) -> Option<TimeWaitId> {
        let s = &mut *self.s;
        s.tw_row.timer = None;
        let now_ms = tcp_clock_ms(now);
        while let Some(&(deadline, id)) = s.tw_row.queue.front() {
            let ahead = deadline.wrapping_sub(now_ms) as i32;
            if ahead > 0 {
                let at = now + Duration::from_millis(ahead as u64);
                s.tw_row.timer = Some(s.timers.insert(at, Timer::TimeWait));
                return None;
            }
            s.tw_row.queue.pop_front();
            if expires_ms(id) == Some(deadline) {
                return Some(id);
            }
        }
        None
    }

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
