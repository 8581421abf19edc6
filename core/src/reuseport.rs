//! SO_REUSEPORT listener groups (spec §8, L64, L65): listeners sharing a port and address
//! take turns by a hash of each SYN's 4-tuple. Linux's `net/core/sock_reuseport.c`.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::Ipv4Addr;

use crate::ehash::{FourTuple, TupleHashBuilder};
use crate::socket::SocketId;

/// The groups of a stack, by (port, bound address).
#[derive(Debug, Default)]
pub struct ReuseportGroups {
    groups: HashMap<(u16, Ipv4Addr), Vec<SocketId>>,
    /// The key of `inet_ehashfn` for the choice.
    key: TupleHashBuilder,
}

impl ReuseportGroups {
    /// No groups; choices keyed with `key`.
    pub fn new(key: TupleHashBuilder) -> ReuseportGroups {
        ReuseportGroups {
            groups: HashMap::new(),
            key,
        }
    }

    /// `reuseport_add_sock`: a listener joins at the end of its group.
    pub fn add(&mut self, port: u16, addr: Ipv4Addr, fd: SocketId) {
        self.groups.entry((port, addr)).or_default().push(fd);
    }

    /// `reuseport_detach_sock`: the last member moves into the leaver's slot.
    pub fn detach(&mut self, port: u16, addr: Ipv4Addr, fd: SocketId) {
        let Some(group) = self.groups.get_mut(&(port, addr)) else {
            return;
        };
        if let Some(i) = group.iter().position(|&m| m == fd) {
            group.swap_remove(i);
        }
        if group.is_empty() {
            self.groups.remove(&(port, addr));
        }
    }

    /// The members of the group at (port, addr), in slot order.
    pub fn members(&self, port: u16, addr: Ipv4Addr) -> &[SocketId] {
        self.groups.get(&(port, addr)).map_or(&[], Vec::as_slice)
    }

    /// `reuseport_select_sock_by_hash` (L65): for a segment with 4-tuple `t` that found the
    /// group bound at `bound`, the member at `(hash · n) >> 32`; `None` without a group.
    pub fn select(&self, bound: Ipv4Addr, t: &FourTuple) -> Option<SocketId> {
        let group = self.groups.get(&(t.local_port, bound))?;
        let hash = self.key.hash_one(t) as u32;
        let i = ((u64::from(hash) * group.len() as u64) >> 32) as usize;
        group.get(i).copied()
    }
}
