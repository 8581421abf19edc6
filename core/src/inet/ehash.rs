//! The established hash (`inet_ehash`): one table, keyed by the 4-tuple, that holds request
//! socks and full connections, so that the demux of a segment is one lookup (spec L10,
//! `__inet_lookup_established`). and TIME_WAIT mini-sockets.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::base::slab::SlabKey;
use crate::inet::port_bitmap::PortBitmap;
use crate::inet::request_sock::RequestId;
use crate::inet::socket::SockId;
use crate::inet::time_wait::TimeWaitId;
use crate::inet::tuple::{FourTuple, TupleHashBuilder};

/// What a 4-tuple names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EhashEntry {
    /// A request sock (`TCP_NEW_SYN_RECV`).
    Request(RequestId),
    /// A full socket: a connection connect() made, a child on its listener's accept queue
    /// or an accepted connection.
    Socket(SockId),
    /// A TIME_WAIT mini-socket.
    TimeWait(TimeWaitId),
}

/// The table.
#[derive(Debug, Default)]
pub struct Ehash {
    map: HashMap<FourTuple, PackedEntry, TupleHashBuilder>,
    /// The local ports of connect()'s connections and of the TIME_WAIT entries they left,
    /// by destination ([`ConnectPorts`]).
    connect_ports: HashMap<Destination, ConnectPorts, TupleHashBuilder>,
}

/// Local address, remote address, remote port: the part of a 4-tuple that connect()'s port
/// search holds fixed.
type Destination = (std::net::Ipv4Addr, std::net::Ipv4Addr, u16);

fn destination(t: &FourTuple) -> Destination {
    (t.local_addr, t.remote_addr, t.remote_port)
}

/// Up to this many ports a destination keeps them in a list; past it, in two bitmaps.
const LIST_MAX: usize = 32;

/// The local ports that a destination's 4-tuples hold among connect()'s entries: connections
/// (`live`), whose tuple no new connection may take, and TIME_WAIT entries (`time_wait`),
/// which `tcp_twsk_unique` may let one take. A few are a list kept in place (no allocation
/// per connection); many, bitmaps that connect()'s search skips a word at a time
/// (`__inet_hash_connect` walks them one by one).
#[derive(Debug)]
pub enum ConnectPorts {
    /// `(port, in TIME_WAIT)`, the first `len`.
    List {
        len: u8,
        ports: [(u16, bool); LIST_MAX],
    },
    Bitmaps {
        live: PortBitmap,
        time_wait: PortBitmap,
    },
}

impl ConnectPorts {
    const EMPTY: ConnectPorts = ConnectPorts::List {
        len: 0,
        ports: [(0, false); LIST_MAX],
    };

    /// True when `port` is held (by a connection or a TIME_WAIT entry).
    pub fn contains(&self, port: u16) -> bool {
        match self {
            ConnectPorts::List { len, ports } => ports[..usize::from(*len)].iter().any(|(p, _)| *p == port),
            ConnectPorts::Bitmaps { live, time_wait } => live.contains(port) || time_wait.contains(port),
        }
    }

    fn set(&mut self, port: u16, time_wait: bool) {
        match self {
            ConnectPorts::List { len, ports } => {
                let n = usize::from(*len);
                if let Some(e) = ports[..n].iter_mut().find(|(p, _)| *p == port) {
                    e.1 = time_wait;
                } else if n < LIST_MAX {
                    ports[n] = (port, time_wait);
                    *len += 1;
                } else {
                    let (mut live, mut tw) = (PortBitmap::default(), PortBitmap::default());
                    for &(p, is_tw) in ports.iter().chain([(port, time_wait)].iter()) {
                        if is_tw {
                            tw.insert(p);
                        } else {
                            live.insert(p);
                        }
                    }
                    *self = ConnectPorts::Bitmaps { live, time_wait: tw };
                }
            }
            ConnectPorts::Bitmaps { live, time_wait: tw } => {
                let (to, from) = if time_wait { (tw, live) } else { (live, tw) };
                from.remove(port);
                to.insert(port);
            }
        }
    }

    /// Takes `port` out; true when nothing is left.
    fn clear(&mut self, port: u16) -> bool {
        match self {
            ConnectPorts::List { len, ports } => {
                let n = usize::from(*len);
                if let Some(i) = ports[..n].iter().position(|(p, _)| *p == port) {
                    ports.swap(i, n - 1);
                    *len -= 1;
                }
                *len == 0
            }
            ConnectPorts::Bitmaps { live, time_wait } => {
                live.remove(port);
                time_wait.remove(port);
                live.is_empty() && time_wait.is_empty()
            }
        }
    }

    /// The bitmaps, once there are many ports.
    pub fn bitmaps(&self) -> Option<(&PortBitmap, &PortBitmap)> {
        match self {
            ConnectPorts::List { .. } => None,
            ConnectPorts::Bitmaps { live, time_wait } => Some((live, time_wait)),
        }
    }
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
            connect_ports: HashMap::with_hasher(key),
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

    /// Puts `e` where `t` named something else, or enters it (`inet_ehash_nolisten`
    /// replacing the request; a connection's TIME_WAIT entry taking its place; a connection
    /// from a port bind() chose). A tuple the connect index holds follows its new kind.
    pub fn replace(&mut self, t: FourTuple, e: EhashEntry) {
        self.map.insert(t, e.into());
        if self.connect_ports.is_empty() {
            return;
        }
        if let Some(ports) = self.connect_ports.get_mut(&destination(&t)) {
            if ports.contains(t.local_port) {
                match e {
                    EhashEntry::TimeWait(_) => ports.set(t.local_port, true),
                    EhashEntry::Socket(_) => ports.set(t.local_port, false),
                    EhashEntry::Request(_) => self.unindex(&t),
                }
            }
        }
    }

    /// Enters connection `sk` at `t`, a tuple whose port connect() chose, indexed by
    /// destination for later searches ([`Ehash::connect_ports`]).
    pub fn insert_connect(&mut self, t: FourTuple, sk: SockId) {
        self.map.insert(t, EhashEntry::Socket(sk).into());
        self.connect_ports
            .entry(destination(&t))
            .or_insert(ConnectPorts::EMPTY)
            .set(t.local_port, false);
    }

    /// The local ports connect()'s entries hold towards `remote:remote_port` from `local`.
    pub fn connect_ports(
        &self,
        local: std::net::Ipv4Addr,
        remote: std::net::Ipv4Addr,
        remote_port: u16,
    ) -> Option<&ConnectPorts> {
        self.connect_ports.get(&(local, remote, remote_port))
    }

    fn unindex(&mut self, t: &FourTuple) {
        let d = destination(t);
        if self.connect_ports.get_mut(&d).is_some_and(|p| p.clear(t.local_port)) {
            self.connect_ports.remove(&d);
        }
    }

    /// Removes `t` if it names `e`.
    pub fn remove(&mut self, t: &FourTuple, e: EhashEntry) -> bool {
        match self.map.entry(*t) {
            Entry::Occupied(o) if *o.get() == e.into() => {
                o.remove();
                if !self.connect_ports.is_empty() {
                    self.unindex(t);
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::rng::Rng;
    use std::net::Ipv4Addr;

    const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const REMOTE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

    fn tuple(port: u16) -> FourTuple {
        FourTuple {
            local_addr: LOCAL,
            local_port: port,
            remote_port: 80,
            remote_addr: REMOTE,
        }
    }

    /// The ports the index says a destination holds, `(live, time_wait)`.
    fn held(e: &Ehash) -> (Vec<u16>, Vec<u16>) {
        let (mut live, mut tw) = (Vec::new(), Vec::new());
        match e.connect_ports(LOCAL, REMOTE, 80) {
            None => {}
            Some(ConnectPorts::List { len, ports }) => {
                for &(p, is_tw) in &ports[..usize::from(*len)] {
                    if is_tw {
                        tw.push(p)
                    } else {
                        live.push(p)
                    }
                }
            }
            Some(ConnectPorts::Bitmaps { live: l, time_wait: t }) => {
                // The ports the test uses.
                let ports = || (40000..40120).chain(50000..50040);
                live = ports().filter(|&p| l.contains(p)).collect();
                tw = ports().filter(|&p| t.contains(p)).collect();
            }
        }
        live.sort_unstable();
        tw.sort_unstable();
        (live, tw)
    }

    #[test]
    fn the_connect_index_follows_every_change_of_the_table() {
        let mut e = Ehash::default();
        let mut rng = Rng::seed_from_u64(5);
        // What the table holds for the destination: port → in TIME_WAIT.
        let mut model = std::collections::BTreeMap::new();
        for step in 0..4000u32 {
            let port = 40000 + rng.below(120) as u16;
            let t = tuple(port);
            match (e.lookup(&t), rng.below(3)) {
                (None, _) => {
                    e.insert_connect(t, SockId::from_index(step));
                    model.insert(port, false);
                }
                (Some(EhashEntry::Socket(_)), 0) => {
                    e.replace(t, EhashEntry::TimeWait(TimeWaitId::from_index(step)));
                    model.insert(port, true);
                }
                (Some(entry), _) => {
                    assert!(e.remove(&t, entry));
                    model.remove(&port);
                }
            }
            let want: (Vec<u16>, Vec<u16>) = (
                model.iter().filter(|(_, &tw)| !tw).map(|(&p, _)| p).collect(),
                model.iter().filter(|(_, &tw)| tw).map(|(&p, _)| p).collect(),
            );
            assert_eq!(held(&e), want, "step {step}");
        }
        // Past 32 ports the destination's ports are bitmaps; emptied, it is gone.
        for p in 0..40 {
            e.insert_connect(tuple(50000 + p), SockId::from_index(9));
        }
        assert!(e.connect_ports(LOCAL, REMOTE, 80).unwrap().bitmaps().is_some());
        let all: Vec<(FourTuple, EhashEntry)> = e.map.iter().map(|(t, &p)| (*t, p.into())).collect();
        for (t, entry) in all {
            assert!(e.remove(&t, entry));
        }
        assert!(e.connect_ports(LOCAL, REMOTE, 80).is_none());
        // A passive child's tuple is not indexed.
        e.replace(tuple(8080), EhashEntry::Socket(SockId::from_index(1)));
        assert!(e.connect_ports(LOCAL, REMOTE, 80).is_none());
    }
}
