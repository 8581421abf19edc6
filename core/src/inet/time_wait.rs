//! TIME_WAIT mini-sockets (`inet_timewait_sock`, `tcp_timewait_sock`): what remains of a
//! connection after an active close. `inet_twsk_alloc` copies the flags the bind rules read
//! (SO_REUSEADDR, SO_REUSEPORT, the bound address) and the owner's uid; the entry holds its
//! port in the bind table until it dies (rules B15, B20). `tcp_time_wait` adds what it needs
//! to answer the peer ([`TwConn`]); [`crate::Stack::insert_time_wait`] enters one directly.

use std::net::SocketAddrV4;

use crate::base::slab::{Slab, SlabKey};
use crate::inet::tuple::FourTuple;

/// `TCP_TIMEWAIT_LEN`: how long a TIME_WAIT entry lives (60 s).
pub const TCP_TIMEWAIT_LEN: crate::Duration = crate::Duration::from_secs(60);

/// The sequence state a TIME_WAIT entry answers with (`tw_rcv_nxt`, `tw_snd_nxt`, ...); zero
/// for an entry made by [`crate::Stack::insert_time_wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TwConn {
    pub rcv_nxt: u32,
    pub snd_nxt: u32,
    /// `tw_rcv_wnd` and our window-scale shift.
    pub rcv_wnd: u32,
    pub rcv_wscale: u8,
    /// Timestamps in use, the peer's latest TSval and our offset.
    pub tstamp_ok: bool,
    pub ts_recent: u32,
    pub ts_off: u32,
    /// When an out-of-window ACK last went out, ms (`tw_last_oow_ack_time`); 0 = never.
    pub last_oow_ack_ms: u32,
    /// When the entry was made, ms of `tcp_clock_ms` (`tw_entry_stamp`): connect() may
    /// recycle it only `tcp_tw_reuse_delay` later (rule C16).
    pub entry_ms: u32,
    /// When it expires (`tw_timer`'s deadline), ms of `tcp_clock_ms`; kept on the stack's
    /// death row.
    pub expires_ms: u32,
}

/// Names a TIME_WAIT entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeWaitId(pub(crate) u32);

/// A TIME_WAIT entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWaitSock {
    /// Local address and port (`tw_rcv_saddr`, `tw_num`).
    pub local: SocketAddrV4,
    /// Peer address and port.
    pub remote: SocketAddrV4,
    /// SO_REUSEADDR of the socket it came from (`tw_reuse`).
    pub reuse_addr: bool,
    /// SO_REUSEPORT of the socket it came from (`tw_reuseport`).
    pub reuse_port: bool,
    /// Owner uid of the socket it came from.
    pub uid: u32,
    /// What it answers segments with.
    pub conn: TwConn,
}

impl TimeWaitSock {
    /// The connection's 4-tuple from our side.
    pub fn tuple(&self) -> FourTuple {
        FourTuple {
            local_addr: *self.local.ip(),
            local_port: self.local.port(),
            remote_port: self.remote.port(),
            remote_addr: *self.remote.ip(),
        }
    }
}

impl SlabKey for TimeWaitId {
    fn from_index(i: u32) -> Self {
        TimeWaitId(i)
    }
    fn index(self) -> u32 {
        self.0
    }
}

/// The TIME_WAIT entries of a stack.
pub type TimeWaitTable = Slab<TimeWaitId, TimeWaitSock>;
