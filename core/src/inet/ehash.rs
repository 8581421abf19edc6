//! The established hash (`inet_ehash`): one table, keyed by the 4-tuple, that holds request
//! socks and full connections, so that the demux of a segment is one lookup (spec L10,
//! `__inet_lookup_established`). and TIME_WAIT mini-sockets.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::base::slab::SlabKey;
use crate::inet::request_sock::RequestId;
use crate::inet::socket::SockId;
use crate::inet::time_wait::TimeWaitId;
use crate::inet::tuple::{FourTuple, TupleHashBuilder};

/// What a 4-tuple names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EhashEntry {
    /// A request sock (`TCP_NEW_SYN_RECV`).
    Request(RequestId),
    /// A full socket: a child on its listener's accept queue or an accepted connection.
    Socket(SockId),
    /// A TIME_WAIT mini-socket.
    TimeWait(TimeWaitId),
}

/// The table.
#[derive(Debug, Default)]
pub struct Ehash {
    map: HashMap<FourTuple, PackedEntry, TupleHashBuilder>,
}

/// An [`EhashEntry`] in 32 bits (the two top bits tell its kind), so that a bucket is 16
/// bytes: a million half-open requests cost 8 MB less.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PackedEntry(u32);

const TAG_SHIFT: u32 = 30;
const INDEX_MASK: u32 = (1 << TAG_SHIFT) - 1;

impl From<EhashEntry> for PackedEntry {
    fn from(e: EhashEntry) -> PackedEntry {
        match e {
            EhashEntry::Socket(sk) => PackedEntry(sk.index()),
            EhashEntry::TimeWait(id) => PackedEntry(id.index() | 1 << TAG_SHIFT),
            EhashEntry::Request(id) => PackedEntry(id.index() | 2 << TAG_SHIFT),
        }
    }
}

impl From<PackedEntry> for EhashEntry {
    fn from(p: PackedEntry) -> EhashEntry {
        let index = p.0 & INDEX_MASK;
        match p.0 >> TAG_SHIFT {
            0 => EhashEntry::Socket(SockId::from_index(index)),
            1 => EhashEntry::TimeWait(TimeWaitId::from_index(index)),
            _ => EhashEntry::Request(RequestId::from_index(index)),
        }
    }
}

impl Ehash {
    /// An empty table whose hash is keyed with `key`.
    pub fn with_hasher(key: TupleHashBuilder) -> Ehash {
        Ehash {
            map: HashMap::with_hasher(key),
        }
    }

    /// What `t` names.
    pub fn lookup(&self, t: &FourTuple) -> Option<EhashEntry> {
        self.map.get(t).map(|&p| p.into())
    }

    /// Enters `t` (`inet_ehash_insert`); `false`, leaving the table as it was, if `t` is taken.
    pub fn insert(&mut self, t: FourTuple, e: EhashEntry) -> bool {
        match self.map.entry(t) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                v.insert(e.into());
                true
            }
        }
    }

    /// Puts `e` where `t` named something else (`inet_ehash_nolisten` replacing the request).
    pub fn replace(&mut self, t: FourTuple, e: EhashEntry) {
        self.map.insert(t, e.into());
    }

    /// Removes `t` if it names `e`.
    pub fn remove(&mut self, t: &FourTuple, e: EhashEntry) -> bool {
        match self.map.entry(*t) {
            Entry::Occupied(o) if *o.get() == e.into() => {
                o.remove();
                true
            }
            _ => false,
        }
    }

    /// Makes `t` name `new` where it named `old` (a socket that changed handles); false,
    /// changing nothing, if it did not name `old`.
    pub fn rename(&mut self, t: &FourTuple, old: EhashEntry, new: EhashEntry) -> bool {
        match self.map.get_mut(t) {
            Some(p) if *p == old.into() => {
                *p = new.into();
                true
            }
            _ => false,
        }
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
