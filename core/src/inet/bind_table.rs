//! The bind table: Linux's `bhash` (one `PortBucket` per port, `inet_bind_bucket`) and
//! `bhash2` (one owner list per port and local address, `inet_bind2_bucket`), with the
//! conflict rules of `inet_csk_get_port` / `inet_csk_bind_conflict` and the ephemeral search
//! of `inet_csk_find_open_port` (spec rules B11–B18).
//!
//! Owners are handles ([`Owner`]); the rules read an owner's flags and state *live* through a
//! lookup the caller passes (Linux reads `sk2->sk_reuse` at the time of the conflict check:
//! rule B15, "flags are read live"). Lookups are hash lookups; the conflict scan visits only
//! the owners of the port in question, as Linux's does. Three bitmaps per parity (ports with
//! any owner, ports with a wildcard owner, ports with an owner at each specific address) let
//! the ephemeral search test 64 candidate ports a word at a time.

use crate::base::errno::Errno;
use crate::base::rng::Rng;
use crate::inet::port_bitmap::PortBitmap;
use crate::inet::socket::SockId;
use crate::inet::time_wait::{TimeWaitId, TimeWaitSock, TimeWaitTable};
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// Who holds a port: a socket, or a TIME_WAIT entry (Linux links both into `tb2->owners`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// A socket (bound, listening, connected, or an accepted child).
    Socket(SockId),
    /// A TIME_WAIT mini-socket.
    TimeWait(TimeWaitId),
}

/// The state that matters to the conflict rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    /// `TCP_LISTEN`
    Listen,
    /// `TCP_TIME_WAIT`
    TimeWait,
    /// Any other state (bound, connecting, connected, closing).
    Other,
}

/// What the conflict rules read of a socket: its flags, uid and state, as they are now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnerView {
    /// `SO_REUSEADDR` (`sk_reuse`).
    pub reuse_addr: bool,
    /// `SO_REUSEPORT` (`sk_reuseport`).
    pub reuse_port: bool,
    /// Owner uid (`sk_uid`, rule B21).
    pub uid: u32,
    /// State.
    pub state: OwnerState,
}

/// The socket asking for a port: its handle (so that it never conflicts with itself), the
/// address it binds, and its live view.
#[derive(Debug, Clone, Copy)]
pub struct Binder {
    /// The binding socket.
    pub owner: Owner,
    /// Its local address (`inet_rcv_saddr`), 0.0.0.0 for the wildcard.
    pub addr: Ipv4Addr,
    /// Its flags, uid and state.
    pub view: OwnerView,
}

/// How many per-address port sets may stay allocated while empty.
const KEEP_EMPTY_ADDRESS_SETS: usize = 16;

/// `inet_bind_bucket`: one per port in use.
#[derive(Debug, Clone, Default)]
struct PortBucket {
    /// The addresses that have an owner list on this port (the port's `tb2`s).
    addrs: Vec<Ipv4Addr>,
    /// The `fastreuseport` cache (rule B15 quirk): `Some((fastuid, fast_rcv_saddr))` when
    /// `FASTREUSEPORT_STRICT`, `None` when 0. Through bind()/listen() it is never
    /// `FASTREUSEPORT_ANY`.
    fast_reuseport: Option<(u32, Ipv4Addr)>,
    /// Made by connect()'s port search and never joined by bind() (Linux's `fastreuse` and
    /// `fastreuseport` both -1): only such a port may be shared by another connect() (C13).
    by_connect: bool,
}

/// What a port's bucket says to connect()'s port search (rule C13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortUse {
    /// No owner: the port is free.
    Free,
    /// Held only through connect(): usable if the 4-tuple is unique.
    Connect,
    /// Held through bind(): never chosen automatically.
    Bind,
}

/// The bind table of one stack.
#[derive(Debug, Default)]
pub struct BindTable {
    ports: FastMap<u16, PortBucket>,
    owners: FastMap<(u16, Ipv4Addr), Vec<Owner>>,
    /// Each owner's place in its list, so that unlinking one is O(1) however many share
    /// the port (a server's connections all hold its port, as Linux's `hlist_del` is).
    position: Positions,
    /// Emptied owner lists kept for reuse: a listener's connections come and go at one
    /// address, and each time the last one leaves its list would be freed.
    spare_lists: Vec<Vec<Owner>>,
    used: PortBitmap,
    used_wildcard: PortBitmap,
    used_at: FastMap<Ipv4Addr, PortBitmap>,
}

/// How many emptied owner lists are kept.
const SPARE_LISTS: usize = 64;

/// Each owner's index in its owner list, in arrays indexed by the owner's number (sockets'
/// numbers and TIME_WAIT ids are small and dense), so that no hashing is needed.
#[derive(Debug, Default)]
struct Positions {
    socks: Vec<u32>,
    time_waits: Vec<u32>,
}

impl Positions {
    const NONE: u32 = u32::MAX;

    fn slot(&mut self, owner: Owner) -> &mut u32 {
        let (v, i) = match owner {
            Owner::Socket(id) => (&mut self.socks, id.index()),
            Owner::TimeWait(id) => (&mut self.time_waits, id.0),
        };
        let i = i as usize;
        if i >= v.len() {
            v.resize(i + 1, Self::NONE);
        }
        &mut v[i]
    }

    fn get(&self, owner: Owner) -> Option<u32> {
        let (v, i) = match owner {
            Owner::Socket(id) => (&self.socks, id.index()),
            Owner::TimeWait(id) => (&self.time_waits, id.0),
        };
        v.get(i as usize).copied().filter(|&p| p != Self::NONE)
    }

    fn insert(&mut self, owner: Owner, at: u32) {
        *self.slot(owner) = at;
    }

    fn remove(&mut self, owner: Owner) -> Option<u32> {
        let p = std::mem::replace(self.slot(owner), Self::NONE);
        (p != Self::NONE).then_some(p)
    }

    fn len(&self) -> usize {
        [&self.socks, &self.time_waits]
            .iter()
            .map(|v| v.iter().filter(|&&p| p != Self::NONE).count())
            .sum()
    }
}

/// The bind table's maps hash with the stack's fast multiply hasher: their keys (our ports,
/// our addresses, our sockets) are chosen locally, never by a peer, so no secret key is needed.
type FastMap<K, V> = HashMap<K, V, crate::inet::tuple::TupleHashBuilder>;

/// `inet_bind_conflict`'s pairwise predicate for one address-overlapping owner (rule B13).
/// `relax` and `reuseport_ok` are Linux's parameters: bind()/listen() pass (true, true), the
/// ephemeral search (false, false) and its `ip_autobind_reuse` round (true, false).
fn pair_conflicts(sk: &OwnerView, sk2: &OwnerView, relax: bool, reuseport_ok: bool) -> bool {
    let reuseport_pair = sk.reuse_port && sk2.reuse_port && (sk2.state == OwnerState::TimeWait || sk.uid == sk2.uid);
    if sk.reuse_addr && sk2.reuse_addr && sk2.state != OwnerState::Listen {
        !relax || (!reuseport_ok && reuseport_pair)
    } else {
        !reuseport_ok || !reuseport_pair
    }
}

impl BindTable {
    /// The owners bound to exactly `port` and `addr` (a `tb2`'s owner list).
    pub fn owners_at(&self, port: u16, addr: Ipv4Addr) -> &[Owner] {
        self.owners.get(&(port, addr)).map_or(&[], Vec::as_slice)
    }

    /// True when any socket or TIME_WAIT entry holds `port`.
    pub fn port_in_use(&self, port: u16) -> bool {
        self.used.contains(port)
    }

    /// Number of ports in use.
    pub fn ports_in_use(&self) -> usize {
        self.ports.len()
    }

    /// `inet_csk_bind_conflict` scoped as bhash2 scopes it (rule B14): a specific binder
    /// meets the owners at its own address and at the wildcard; a wildcard binder meets
    /// every owner of the port. Owners bound to another specific address never conflict.
    pub fn conflict(
        &self,
        port: u16,
        binder: &Binder,
        relax: bool,
        reuseport_ok: bool,
        view: &impl Fn(Owner) -> OwnerView,
    ) -> bool {
        let Some(bucket) = self.ports.get(&port) else {
            return false;
        };
        let clash = |addr: &Ipv4Addr| {
            self.owners_at(port, *addr)
                .iter()
                .any(|&o| o != binder.owner && pair_conflicts(&binder.view, &view(o), relax, reuseport_ok))
        };
        if binder.addr.is_unspecified() {
            bucket.addrs.iter().any(clash)
        } else {
            [Ipv4Addr::UNSPECIFIED, binder.addr].iter().any(clash)
        }
    }

    /// `sk_reuseport_match`: the port's cached SO_REUSEPORT owner admits `binder` without a
    /// scan when the uid matches and the cached address is the binder's or the wildcard.
    fn reuseport_match(bucket: &PortBucket, binder: &Binder) -> bool {
        match bucket.fast_reuseport {
            Some((uid, addr)) => {
                binder.view.reuse_port && uid == binder.view.uid && (addr == binder.addr || addr.is_unspecified())
            }
            None => false,
        }
    }

    /// `inet_csk_get_port` for an explicit port (rules B13–B15, and B18 for listen()):
    /// `EADDRINUSE` on a conflict; otherwise the cache is updated and `binder` becomes an
    /// owner at its address (unless it is one already, as when listen() re-validates).
    pub fn get_port(&mut self, port: u16, binder: &Binder, view: &impl Fn(Owner) -> OwnerView) -> Result<(), Errno> {
        if let Some(bucket) = self.ports.get(&port) {
            let fast = Self::reuseport_match(bucket, binder);
            if !fast && self.conflict(port, binder, true, true, view) {
                return Err(Errno::EADDRINUSE);
            }
        }
        self.take(port, binder);
        Ok(())
    }

    /// The success path of `inet_csk_get_port`: `inet_bind_hash` (linking first, as 6.x
    /// does) then `inet_csk_update_fastreuse`.
    fn take(&mut self, port: u16, binder: &Binder) {
        if !self.owners_at(port, binder.addr).contains(&binder.owner) {
            self.insert(port, binder.addr, binder.owner);
        }
        let bucket = self.ports.get_mut(&port).expect("linked above");
        bucket.by_connect = false;
        if !binder.view.reuse_port {
            bucket.fast_reuseport = None;
        } else if !Self::reuseport_match(bucket, binder) {
            bucket.fast_reuseport = Some((binder.view.uid, binder.addr));
        }
    }

    /// Links `owner` at `(port, addr)`, creating buckets as needed (`inet_bind_hash`; also how
    /// TIME_WAIT entries and accepted children join a port).
    pub fn insert(&mut self, port: u16, addr: Ipv4Addr, owner: Owner) {
        if let Some(list) = self.owners.get_mut(&(port, addr)) {
            // The buckets and bitmaps already know this (port, address).
            self.position.insert(owner, list.len() as u32);
            list.push(owner);
            return;
        }
        let bucket = self.ports.entry(port).or_default();
        if !bucket.addrs.contains(&addr) {
            bucket.addrs.push(addr);
        }
        let spare = &mut self.spare_lists;
        let list = self
            .owners
            .entry((port, addr))
            .or_insert_with(|| spare.pop().unwrap_or_default());
        self.position.insert(owner, list.len() as u32);
        list.push(owner);
        self.used.insert(port);
        if addr.is_unspecified() {
            self.used_wildcard.insert(port);
        } else {
            self.used_at.entry(addr).or_default().insert(port);
        }
    }

    /// How `port` is held, for connect()'s port search (rule C13).
    pub fn port_use(&self, port: u16) -> PortUse {
        match self.ports.get(&port) {
            None => PortUse::Free,
            Some(b) if b.by_connect => PortUse::Connect,
            Some(_) => PortUse::Bind,
        }
    }

    /// Links a connecting socket at the port its search chose (`inet_bind_bucket_create` with
    /// `fastreuse = fastreuseport = -1` when the port was free, then `inet_bind_hash`).
    pub fn insert_connect(&mut self, port: u16, addr: Ipv4Addr, owner: Owner) {
        let fresh = !self.ports.contains_key(&port);
        self.insert(port, addr, owner);
        if fresh {
            self.ports.get_mut(&port).expect("linked above").by_connect = true;
        }
    }

    /// Puts `new` in `old`'s place at `(port, addr)` (a socket that changed handles); false
    /// if `old` was not there.
    pub fn rename(&mut self, port: u16, addr: Ipv4Addr, old: Owner, new: Owner) -> bool {
        let Some(list) = self.owners.get_mut(&(port, addr)) else {
            return false;
        };
        let Some(i) = self.position.remove(old) else {
            return false;
        };
        list[i as usize] = new;
        self.position.insert(new, i);
        true
    }

    /// Unlinks `owner` from `(port, addr)` and frees the buckets it leaves empty
    /// (`__inet_put_port`, rule B12). Returns false if it was not there.
    pub fn remove(&mut self, port: u16, addr: Ipv4Addr, owner: Owner) -> bool {
        let Some(list) = self.owners.get_mut(&(port, addr)) else {
            return false;
        };
        let Some(i) = self
            .position
            .get(owner)
            .filter(|&i| list.get(i as usize) == Some(&owner))
        else {
            return false;
        };
        self.position.remove(owner);
        list.swap_remove(i as usize);
        if let Some(&moved) = list.get(i as usize) {
            self.position.insert(moved, i);
        }
        if !list.is_empty() {
            return true;
        }
        if let Some(list) = self.owners.remove(&(port, addr)) {
            if self.spare_lists.len() < SPARE_LISTS {
                self.spare_lists.push(list);
            }
        }
        if addr.is_unspecified() {
            self.used_wildcard.remove(port);
        } else if let Some(set) = self.used_at.get_mut(&addr) {
            set.remove(port);
            // An address's set is kept when it empties (a listener's children come and go at
            // one address); only a table of many addresses gives empty ones back.
            if set.is_empty() && self.used_at.len() > KEEP_EMPTY_ADDRESS_SETS {
                self.used_at.remove(&addr);
            }
        }
        let bucket = self.ports.get_mut(&port).expect("an owner list has its port bucket");
        bucket.addrs.retain(|&a| a != addr);
        if bucket.addrs.is_empty() {
            self.ports.remove(&port);
            self.used.remove(port);
        }
        true
    }

    /// `inet_csk_find_open_port` (rule B16): the port Linux's algorithm picks for `binder`
    /// given the same random draws. Range `[low, high]`; with SO_REUSEADDR and at least four
    /// ports, the lower half is searched first; each pass starts at a random odd offset,
    /// scans the parity opposite to `low`, then `low`'s parity; reserved ports are skipped;
    /// a port in use qualifies only if no owner overlaps the binder's address. With
    /// `autobind_reuse`, a second, relaxed round follows. The port is not taken: the caller
    /// links the binder with [`BindTable::take_found`].
    pub fn find_open_port(
        &self,
        binder: &Binder,
        (low, high): (u16, u16),
        reserved: &PortBitmap,
        autobind_reuse: bool,
        rng: &mut Rng,
        view: &impl Fn(Owner) -> OwnerView,
    ) -> Option<u16> {
        let (low, high) = (u32::from(low), u32::from(high) + 1);
        for relax in [false, true] {
            if relax && !autobind_reuse {
                break;
            }
            let halves: &[(u32, u32)] = if binder.view.reuse_addr && high - low >= 4 {
                let half = low + (((high - low) >> 2) << 1);
                &[(low, half), (half, high)]
            } else {
                &[(low, high)]
            };
            for &(lo, hi) in halves {
                let mut remaining = hi - lo;
                if remaining > 1 {
                    remaining &= !1;
                }
                let offset = rng.below(u64::from(remaining)) as u32 | 1;
                for offset in [offset, offset - 1] {
                    if let Some(port) = self.scan(binder, lo, hi, remaining, offset, reserved, relax, view) {
                        return Some(port);
                    }
                }
            }
        }
        None
    }

    /// One parity scan of `inet_csk_find_open_port`: candidates `lo + offset`, then `+2`,
    /// wrapping by `remaining` at `hi`, `remaining / 2` of them. The candidates form two
    /// ascending runs of one parity, each searched a word at a time (strict round) or port by
    /// port with the relaxed predicate.
    #[allow(clippy::too_many_arguments)]
    fn scan(
        &self,
        binder: &Binder,
        lo: u32,
        hi: u32,
        remaining: u32,
        offset: u32,
        reserved: &PortBitmap,
        relax: bool,
        view: &impl Fn(Owner) -> OwnerView,
    ) -> Option<u16> {
        // Linux's loop runs `for (i = 0; i < remaining; i += 2)`: ceil(remaining / 2) ports.
        let total = remaining.div_ceil(2);
        let start = lo + offset;
        let before_wrap = if start < hi {
            (hi - start).div_ceil(2).min(total)
        } else {
            0
        };
        let runs = [
            (start, before_wrap),
            (start + 2 * before_wrap - remaining, total - before_wrap),
        ];
        let empty = PortBitmap::default();
        for (first, count) in runs {
            if count == 0 {
                continue;
            }
            let first = first as u16;
            if relax {
                let found = (0..count as u16)
                    .map(|k| first + 2 * k)
                    .find(|&p| !reserved.contains(p) && !self.conflict(p, binder, true, false, view));
                if found.is_some() {
                    return found;
                }
                continue;
            }
            // Strict round: any address-overlapping owner conflicts, whatever its options.
            let found = if binder.addr.is_unspecified() {
                PortBitmap::first_clear(&[reserved, &self.used], first, count as usize)
            } else {
                let at = self.used_at.get(&binder.addr).unwrap_or(&empty);
                PortBitmap::first_clear(&[reserved, &self.used_wildcard, at], first, count as usize)
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Takes a port [`BindTable::find_open_port`] returned: the success path of
    /// `inet_csk_get_port` for port 0.
    pub fn take_found(&mut self, port: u16, binder: &Binder) {
        self.take(port, binder);
    }

    /// Checks the table's invariants: every owner list is non-empty and listed by its port
    /// bucket, every port bucket has owner lists, and the bitmaps say exactly which ports and
    /// addresses are in use. For tests.
    pub fn check_consistency(&self) -> Result<(), String> {
        for (&(port, addr), list) in &self.owners {
            if list.is_empty() {
                return Err(format!("empty owner list at {addr}:{port}"));
            }
            let bucket = self
                .ports
                .get(&port)
                .ok_or(format!("no port bucket for {addr}:{port}"))?;
            if !bucket.addrs.contains(&addr) {
                return Err(format!("port {port} does not list {addr}"));
            }
            for (i, o) in list.iter().enumerate() {
                if self.position.get(*o) != Some(i as u32) {
                    return Err(format!("{o:?} at {addr}:{port} is not indexed at {i}"));
                }
            }
        }
        if self.position.len() != self.owners.values().map(Vec::len).sum::<usize>() {
            return Err("the position index holds owners no list has".into());
        }
        let mut used = PortBitmap::default();
        let mut wildcard = PortBitmap::default();
        let mut at: HashMap<Ipv4Addr, PortBitmap> = HashMap::new();
        for (&port, bucket) in &self.ports {
            if bucket.addrs.is_empty() {
                return Err(format!("port {port} has a bucket but no owner list"));
            }
            used.insert(port);
            for &addr in &bucket.addrs {
                if !self.owners.contains_key(&(port, addr)) {
                    return Err(format!("port {port} lists {addr} without owners"));
                }
                if addr.is_unspecified() {
                    wildcard.insert(port);
                } else {
                    at.entry(addr).or_default().insert(port);
                }
            }
        }
        let kept = |(a, set): (&Ipv4Addr, &PortBitmap)| (!set.is_empty()).then_some((*a, set.clone()));
        let used_at: HashMap<Ipv4Addr, PortBitmap> = self.used_at.iter().filter_map(kept).collect();
        if used != self.used || wildcard != self.used_wildcard || at != used_at {
            return Err("port bitmaps disagree with the buckets".into());
        }
        Ok(())
    }
}
/// Enters a TIME_WAIT entry and holds `tw.local`'s port for it in the bind table with the
/// flags it carries (rule B15).
pub(crate) fn insert_time_wait(
    time_waits: &mut TimeWaitTable,
    bind_table: &mut BindTable,
    tw: TimeWaitSock,
) -> TimeWaitId {
    let id = time_waits.insert(tw);
    bind_table.insert(tw.local.port(), *tw.local.ip(), Owner::TimeWait(id));
    id
}

/// Removes a TIME_WAIT entry and frees its port (`inet_twsk_kill`). False if unknown.
pub(crate) fn remove_time_wait(time_waits: &mut TimeWaitTable, bind_table: &mut BindTable, id: TimeWaitId) -> bool {
    match time_waits.remove(id) {
        Some(tw) => bind_table.remove(tw.local.port(), *tw.local.ip(), Owner::TimeWait(id)),
        None => false,
    }
}
