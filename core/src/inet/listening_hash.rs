//! The listening hash (`lhash2`): listeners by (port, bound address), so that a segment finds
//! its listener with one lookup per address (specific, then wildcard). Listeners sharing a
//! port and address are a SO_REUSEPORT group (spec §8, L64, L65) and take turns by a hash of
//! each SYN's 4-tuple, as Linux's `net/core/sock_reuseport.c` picks.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::Ipv4Addr;

use crate::inet::socket::SockId;
use crate::inet::tuple::{FourTuple, TupleHashBuilder};

/// The listeners of a stack.
#[derive(Debug, Default)]
pub struct ListeningHash {
    /// Members in slot order; more than one only for a reuseport group.
    listeners: HashMap<(u16, Ipv4Addr), Vec<SockId>>,
    /// The key of `inet_ehashfn` for the choice within a group.
    key: TupleHashBuilder,
    /// Listeners on the wildcard with `IP_TRANSPARENT`, oldest first: where a segment to an
    /// address that is not ours goes (a TPROXY rule's `--on-port`).
    transparent: Vec<SockId>,
}

impl ListeningHash {
    /// No listeners; group choices keyed with `key`.
    pub fn new(key: TupleHashBuilder) -> ListeningHash {
        ListeningHash {
            listeners: HashMap::new(),
            key,
            transparent: Vec::new(),
        }
    }

    /// `inet_hash` and `reuseport_add_sock`: a listener joins at the end of its group.
    pub fn add(&mut self, port: u16, addr: Ipv4Addr, fd: SockId) {
        self.listeners.entry((port, addr)).or_default().push(fd);
    }

    /// `inet_unhash` and `reuseport_detach_sock`: the last member moves into the leaver's slot.
    pub fn remove(&mut self, port: u16, addr: Ipv4Addr, fd: SockId) {
        let Some(group) = self.listeners.get_mut(&(port, addr)) else {
            return;
        };
        if let Some(i) = group.iter().position(|&m| m == fd) {
            group.swap_remove(i);
        }
        if group.is_empty() {
            self.listeners.remove(&(port, addr));
        }
    }

    /// Marks listener `fd` (on the wildcard) as taking connections to addresses that are not
    /// the stack's, or no longer.
    pub fn set_transparent(&mut self, fd: SockId, on: bool) {
        let at = self.transparent.iter().position(|&m| m == fd);
        match (on, at) {
            (true, None) => self.transparent.push(fd),
            (false, Some(i)) => {
                self.transparent.remove(i);
            }
            _ => {}
        }
    }

    /// Whether a transparent listener exists: segments to other addresses are then TCP's.
    pub fn has_transparent(&self) -> bool {
        !self.transparent.is_empty()
    }

    /// The listener for a segment to an address that is not the stack's (TPROXY's lookup,
    /// `nf_tproxy_get_sock_v4`'s listener half): a transparent listener on the wildcard at
    /// the segment's port, else the oldest transparent listener, whatever its port.
    pub fn lookup_transparent(&self, t: &FourTuple) -> Option<SockId> {
        self.lookup(Ipv4Addr::UNSPECIFIED, t)
            .filter(|l| self.transparent.contains(l))
            .or_else(|| self.transparent.first().copied())
    }

    /// The listener bound at `bound` on `t`'s port for a segment with 4-tuple `t`: the only
    /// one, or the member of a reuseport group at `(hash · n) >> 32`
    /// (`reuseport_select_sock_by_hash`, L65).
    pub fn lookup(&self, bound: Ipv4Addr, t: &FourTuple) -> Option<SockId> {
        match self.listeners.get(&(t.local_port, bound))?.as_slice() {
            [only] => Some(*only),
            group => {
                let hash = self.key.hash_one(t) as u32;
                group
                    .get(((u64::from(hash) * group.len() as u64) >> 32) as usize)
                    .copied()
            }
        }
    }
}
