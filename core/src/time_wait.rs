//! TIME_WAIT mini-sockets (`inet_timewait_sock`): what remains of a connection after an
//! active close. `inet_twsk_alloc` copies the flags the bind rules read (SO_REUSEADDR,
//! SO_REUSEPORT, the bound address) and the owner's uid; the entry holds its port in the bind
//! table until it dies (rules B15, B20). The close issue creates them from real connections
//! and expires them; until then [`crate::Stack::insert_time_wait`] is the entry point.

use std::net::SocketAddrV4;

use crate::slab::{Slab, SlabKey};

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
