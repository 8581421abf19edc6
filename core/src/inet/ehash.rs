//! The established hash (`inet_ehash`): one table, keyed by the 4-tuple, that holds request
//! socks and full connections, so that the demux of a segment is one lookup (spec L10,
//! `__inet_lookup_established`). and TIME_WAIT mini-sockets.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::base::slab::SlabKey;
use crate::inet::request_sock::RequestId;
use crate::inet::socket::SocketId;
use crate::inet::time_wait::TimeWaitId;

/// A connection's 4-tuple from our side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FourTuple {
    pub local_addr: Ipv4Addr,
    pub local_port: u16,
    pub remote_port: u16,
    pub remote_addr: Ipv4Addr,
}

/// The tuple as two words for the hasher.
impl std::hash::Hash for FourTuple {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from(self.local_addr.to_bits()) << 32 | u64::from(self.remote_addr.to_bits()));
        state.write_u32(u32::from(self.local_port) << 16 | u32::from(self.remote_port));
    }
}

/// What a 4-tuple names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EhashEntry {
    /// A request sock (`TCP_NEW_SYN_RECV`).
    Request(RequestId),
    /// A full socket: a child on its listener's accept queue or an accepted connection.
    Socket(SocketId),
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
            EhashEntry::Socket(fd) => PackedEntry(fd.raw()),
            EhashEntry::TimeWait(id) => PackedEntry(id.index() | 1 << TAG_SHIFT),
            EhashEntry::Request(id) => PackedEntry(id.index() | 2 << TAG_SHIFT),
        }
    }
}

impl From<PackedEntry> for EhashEntry {
    fn from(p: PackedEntry) -> EhashEntry {
        let index = p.0 & INDEX_MASK;
        match p.0 >> TAG_SHIFT {
            0 => EhashEntry::Socket(SocketId::from_stored(index)),
            1 => EhashEntry::TimeWait(TimeWaitId::from_index(index)),
            _ => EhashEntry::Request(RequestId::from_index(index)),
        }
    }
}

/// Hashes 4-tuples with a random 128-bit key, the way Linux's `inet_ehashfn` keys `jhash`
/// with `inet_ehash_secret`: fast (a few multiplications), and a peer that does not know the
/// key cannot aim its tuples at one bucket.
#[derive(Debug, Clone, Copy, Default)]
pub struct TupleHashBuilder {
    k0: u64,
    k1: u64,
}

impl TupleHashBuilder {
    /// A builder with this key.
    pub fn with_key(k0: u64, k1: u64) -> TupleHashBuilder {
        TupleHashBuilder { k0, k1 }
    }
}

impl std::hash::BuildHasher for TupleHashBuilder {
    type Hasher = TupleHasher;
    fn build_hasher(&self) -> TupleHasher {
        TupleHasher {
            state: self.k0,
            k1: self.k1,
        }
    }
}

/// The hasher of [`TupleHashBuilder`]: each word is mixed in with a keyed multiply, the
/// result finished with murmur3's `fmix64` so that every bit of the key and tuple reaches the
/// bits the table uses.
#[derive(Debug, Clone)]
pub struct TupleHasher {
    state: u64,
    k1: u64,
}

impl std::hash::Hasher for TupleHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        let m = u128::from(self.state ^ i) * u128::from(self.k1 | 1);
        self.state = (m as u64) ^ ((m >> 64) as u64);
    }
    fn finish(&self) -> u64 {
        let mut h = self.state;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
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
