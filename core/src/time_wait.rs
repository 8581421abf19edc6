//! TIME_WAIT mini-sockets (`inet_timewait_sock`): what remains of a connection after an
//! active close. `inet_twsk_alloc` copies the flags the bind rules read (SO_REUSEADDR,
//! SO_REUSEPORT, the bound address) and the owner's uid; the entry holds its port in the bind
//! table until it dies (rules B15, B20). The close issue creates them from real connections
//! and expires them; until then [`crate::Stack::insert_time_wait`] is the entry point.

use std::net::SocketAddrV4;

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

/// The TIME_WAIT entries of a stack, in a slab.
#[derive(Debug, Default)]
pub struct TimeWaitTable {
    slots: Vec<Option<TimeWaitSock>>,
    free: Vec<u32>,
}

impl TimeWaitTable {
    /// Stores an entry.
    pub fn insert(&mut self, tw: TimeWaitSock) -> TimeWaitId {
        if let Some(i) = self.free.pop() {
            self.slots[i as usize] = Some(tw);
            return TimeWaitId(i);
        }
        self.slots.push(Some(tw));
        TimeWaitId(self.slots.len() as u32 - 1)
    }
    /// The entry behind `id`.
    pub fn get(&self, id: TimeWaitId) -> Option<&TimeWaitSock> {
        self.slots.get(id.0 as usize).and_then(Option::as_ref)
    }
    /// Takes the entry out.
    pub fn remove(&mut self, id: TimeWaitId) -> Option<TimeWaitSock> {
        let tw = self.slots.get_mut(id.0 as usize)?.take()?;
        self.free.push(id.0);
        Some(tw)
    }
}
