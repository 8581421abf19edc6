//! The established hash (`inet_ehash`): one table, keyed by the 4-tuple, that holds request
//! socks and full connections, so that the demux of a segment is one lookup (spec L10,
//! `__inet_lookup_established`). TIME_WAIT entries join it with the close issue.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::request_sock::RequestId;
use crate::socket::SocketId;

/// A connection's 4-tuple from our side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourTuple {
    pub local_addr: Ipv4Addr,
    pub local_port: u16,
    pub remote_port: u16,
    pub remote_addr: Ipv4Addr,
}

/// What a 4-tuple names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EhashEntry {
    /// A request sock (`TCP_NEW_SYN_RECV`).
    Request(RequestId),
    /// A full socket: a child on its listener's accept queue or an accepted connection.
    Socket(SocketId),
}

/// The table.
#[derive(Debug, Default)]
pub struct Ehash {
    map: HashMap<FourTuple, EhashEntry>,
}

impl Ehash {
    /// What `t` names.
    pub fn lookup(&self, t: &FourTuple) -> Option<EhashEntry> {
        self.map.get(t).copied()
    }

    /// Enters `t` (`inet_ehash_insert`); `false`, leaving the table as it was, if `t` is taken.
    pub fn insert(&mut self, t: FourTuple, e: EhashEntry) -> bool {
        match self.map.entry(t) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(e);
                true
            }
        }
    }

    /// Puts `e` where `t` named something else (`inet_ehash_nolisten` replacing the request).
    pub fn replace(&mut self, t: FourTuple, e: EhashEntry) {
        self.map.insert(t, e);
    }

    /// Removes `t` if it names `e`.
    pub fn remove(&mut self, t: &FourTuple, e: EhashEntry) -> bool {
        if self.map.get(t) == Some(&e) {
            self.map.remove(t);
            return true;
        }
        false
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
