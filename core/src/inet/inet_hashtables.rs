//! connect()'s ephemeral port search, Linux's `__inet_hash_connect` (spec rules C10–C15):
//! RFC 6056's double-hash algorithm. A keyed hash of the destination picks an entry of a
//! random perturbation table; the entry plus the hash's high half gives the starting offset;
//! the scan visits the range's ports of `low`'s parity first (bind(0) prefers the other), then
//! the other parity; a port found moves the entry on, so that repeated connects to one
//! destination walk forward from where the last one stopped.
//!
//! The search is the arithmetic only: whether a candidate port can be taken (its bind bucket,
//! the 4-tuple's uniqueness, a TIME_WAIT to recycle: rules C13–C14) is the caller's answer.

use crate::base::errno::Errno;
use crate::base::rng::Rng;
use crate::inet::ehash::{Ehash, EhashEntry};
use crate::inet::port_bitmap::PortBitmap;
use crate::inet::time_wait::{TimeWaitId, TimeWaitSock, TimeWaitTable};
use crate::inet::tuple::FourTuple;
use crate::tcp::tcp_ipv4::TwReuse;

/// `INET_TABLE_PERTURB_SIZE`: `1 << CONFIG_INET_TABLE_PERTURB_ORDER` (order 16).
pub const INET_TABLE_PERTURB_SIZE: usize = 1 << 16;

/// `table_perturb`: random words, one picked per destination by the port offset's low bits.
/// Allocated and filled on the first search (`get_random_sleepable_once`), so that a stack that
/// never connects does not carry its 256 KiB.
#[derive(Debug, Default)]
pub struct PortPerturb {
    table: Vec<u32>,
}

impl PortPerturb {
    /// The entry for `port_offset`, filling the table on first use.
    fn entry(&mut self, port_offset: u64, rng: &mut Rng) -> &mut u32 {
        if self.table.is_empty() {
            self.table = (0..INET_TABLE_PERTURB_SIZE).map(|_| rng.next_u32()).collect();
        }
        &mut self.table[port_offset as usize & (INET_TABLE_PERTURB_SIZE - 1)]
    }
}

/// Where the search looks: `ip_local_port_range`, or its narrowing by the socket's
/// `IP_LOCAL_PORT_RANGE` (then `local_ports`: one pass, step 1, no parity; rule C10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// Lowest port, inclusive.
    pub low: u16,
    /// Highest port, inclusive.
    pub high: u16,
    /// The range came from the socket's own `IP_LOCAL_PORT_RANGE`.
    pub local_ports: bool,
}

/// `inet_sk_get_local_port_range`: `ip_local_port_range`, each bound replaced by the socket's
/// `IP_LOCAL_PORT_RANGE` bound when that lies inside it (rules B16, C10).
pub fn inet_sk_get_local_port_range((low, high): (u16, u16), local_port_range: u32) -> PortRange {
    if local_port_range == 0 {
        return PortRange {
            low,
            high,
            local_ports: false,
        };
    }
    let (sk_low, sk_high) = (local_port_range as u16, (local_port_range >> 16) as u16);
    let inside = |p: u16| (low..=high).contains(&p);
    PortRange {
        low: if inside(sk_low) { sk_low } else { low },
        high: if inside(sk_high) { sk_high } else { high },
        local_ports: true,
    }
}

/// `__inet_hash_connect`'s search for a socket without a port (rules C10–C12, C15): the first
/// candidate for which `take` returns true (it was free, or its 4-tuple unique, and is now the
/// socket's: rules C13–C14), else `EADDRNOTAVAIL`. `port_offset` is
/// `secure_ipv4_port_ephemeral` of the destination. No port of the `skip` sets is offered:
/// the reserved ports, and those the caller knows `take` refuses. Linux tries each in turn;
/// synq passes over them a bitmap word at a time when the search steps by 2, so that a full
/// range costs about what an empty one does (one port at a time with a socket's own range).
pub fn inet_hash_connect_port(
    range: PortRange,
    port_offset: u64,
    perturb: &mut PortPerturb,
    skip: &[&PortBitmap],
    rng: &mut Rng,
    mut take: impl FnMut(u16) -> bool,
) -> Result<u16, Errno> {
    let step = if range.local_ports { 1 } else { 2 };
    let low = u32::from(range.low);
    let high = u32::from(range.high) + 1;
    if high <= low {
        return Err(Errno::EADDRNOTAVAIL);
    }
    let mut remaining = high - low;
    if !range.local_ports && remaining > 1 {
        // An odd-sized range loses its highest port (rule C10).
        remaining &= !1;
    }
    let entry = perturb.entry(port_offset, rng);
    let mut offset = entry.wrapping_add((port_offset >> 32) as u32) % remaining;
    if !range.local_ports {
        // The first pass tries ports of `low`'s parity (rule C12).
        offset &= !1;
    }
    let sets = skip;
    loop {
        // One pass: `remaining / step` candidates from `low + offset`, wrapping at `high`.
        let mut port = low + offset;
        let mut i = 0;
        while i < remaining {
            if port >= high {
                port -= remaining;
            }
            // The candidates up to the wrap (or the pass's end), and the first not skipped.
            let run = ((high - port).div_ceil(step)).min((remaining - i).div_ceil(step));
            let next = if step == 2 {
                PortBitmap::first_clear(sets, port as u16, run as usize).map(u32::from)
            } else {
                (port..port + run).find(|&p| sets.iter().all(|s| !s.contains(p as u16)))
            };
            let Some(candidate) = next else {
                i += run * step;
                port += run * step;
                continue;
            };
            i += candidate - port;
            port = candidate;
            if take(candidate as u16) {
                // A little noise in where the next search starts: maximal when the first
                // candidate was free, none under contention.
                let i = i.max(rng.below(8) as u32 * step);
                *entry = entry.wrapping_add(i + step);
                return Ok(candidate as u16);
            }
            i += step;
            port += step;
        }
        offset += 1;
        if offset & 1 == 0 || remaining <= 1 {
            return Err(Errno::EADDRNOTAVAIL);
        }
    }
}

/// `__inet_check_established` (rule C14): is `tuple` free for a new connection? Any live
/// connection or request on it says no; a TIME_WAIT entry says what `twsk_unique`
/// (`tcp_twsk_unique`, rule C16) decides of it: `Ok(Some(..))` names the entry to recycle and
/// what the new connection inherits.
pub fn inet_check_established(
    ehash: &Ehash,
    time_waits: &TimeWaitTable,
    tuple: &FourTuple,
    twsk_unique: impl FnOnce(&TimeWaitSock) -> Option<TwReuse>,
) -> Result<Option<(TimeWaitId, TwReuse)>, Errno> {
    match ehash.lookup(tuple) {
        None => Ok(None),
        Some(EhashEntry::TimeWait(id)) => time_waits
            .get(id)
            .and_then(twsk_unique)
            .map(|reuse| Some((id, reuse)))
            .ok_or(Errno::EADDRNOTAVAIL),
        Some(EhashEntry::Socket(_) | EhashEntry::Request(_)) => Err(Errno::EADDRNOTAVAIL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inet::bind_table::{BindTable, Owner, PortUse};
    use crate::inet::socket::SockId;
    use crate::inet::time_wait::TwConn;
    use crate::inet::tuple::TupleHashBuilder;
    use std::net::{Ipv4Addr, SocketAddrV4};

    const DEFAULT: PortRange = PortRange {
        low: 32768,
        high: 60999,
        local_ports: false,
    };

    fn range(low: u16, high: u16) -> PortRange {
        PortRange {
            low,
            high,
            local_ports: false,
        }
    }

    /// Connects to one destination until the range is full: the ports in the order taken.
    fn fill(r: PortRange, reserved: &PortBitmap, seed: u64) -> (Vec<u16>, Errno) {
        let mut perturb = PortPerturb::default();
        let mut rng = Rng::seed_from_u64(seed);
        let mut held = std::collections::HashSet::new();
        let mut got = Vec::new();
        loop {
            match inet_hash_connect_port(r, 0x1234_5678_9abc_def0, &mut perturb, &[reserved], &mut rng, |p| {
                held.insert(p)
            }) {
                Ok(p) => got.push(p),
                Err(e) => return (got, e),
            }
        }
    }

    /// Connects to one destination until the range is full, the ports taken so far also
    /// given as `skip` when `skipping`: the ports in the order taken.
    fn fill_skipping(r: PortRange, reserved: &PortBitmap, seed: u64, skipping: bool) -> (Vec<u16>, Errno) {
        let mut perturb = PortPerturb::default();
        let mut rng = Rng::seed_from_u64(seed);
        let mut held = PortBitmap::default();
        let mut got = Vec::new();
        loop {
            let skip = if skipping {
                vec![reserved, &held]
            } else {
                vec![reserved]
            };
            let r = inet_hash_connect_port(r, 0x1234_5678_9abc_def0 ^ seed, &mut perturb, &skip, &mut rng, |p| {
                !held.contains(p)
            });
            match r {
                Ok(p) => {
                    got.push(p);
                    held.insert(p);
                }
                Err(e) => return (got, e),
            }
        }
    }

    #[test]
    fn c11_c12_skipping_a_word_at_a_time_picks_the_ports_the_walk_picks() {
        let mut reserved = PortBitmap::default();
        for p in [40003, 40010, 40011, 40150] {
            reserved.insert(p);
        }
        for (low, high, local_ports) in [
            (40000, 40199, false),
            (40001, 40200, false),
            (40000, 40200, false),
            (40000, 40099, true),
        ] {
            let r = PortRange { low, high, local_ports };
            for seed in 0..5 {
                let walked = fill_skipping(r, &reserved, seed, false);
                assert_eq!(
                    walked,
                    fill_skipping(r, &reserved, seed, true),
                    "{low}-{high} {local_ports} seed {seed}"
                );
                assert_eq!(walked.1, Errno::EADDRNOTAVAIL);
                assert!(walked.0.len() >= usize::from(high - low) - 4, "{}", walked.0.len());
            }
        }
    }

    #[test]
    fn c10_ip_local_port_range_bounds_apply_only_inside_the_sysctl_range() {
        let sysctl = (40000, 40199);
        let r = |lo: u32, hi: u32| inet_sk_get_local_port_range(sysctl, lo | hi << 16);
        assert_eq!(
            inet_sk_get_local_port_range(sysctl, 0),
            PortRange {
                low: 40000,
                high: 40199,
                local_ports: false
            }
        );
        assert_eq!(
            r(30000, 40009),
            PortRange {
                low: 40000,
                high: 40009,
                local_ports: true
            }
        );
        assert_eq!((r(30000, 30010).low, r(30000, 30010).high), (40000, 40199));
        assert!(r(30000, 30010).local_ports, "still one pass, step 1");
        assert_eq!((r(40100, 0).low, r(40100, 0).high), (40100, 40199));
    }

    #[test]
    fn c10_an_odd_sized_range_never_gives_its_highest_port() {
        let (got, err) = fill(range(40000, 40002), &PortBitmap::default(), 1);
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(sorted, [40000, 40001]);
        assert_eq!(err, Errno::EADDRNOTAVAIL);
        // A one-port range works.
        assert_eq!(fill(range(40000, 40000), &PortBitmap::default(), 1).0, [40000]);
    }

    #[test]
    fn c10_ip_local_port_range_scans_every_port_in_one_pass() {
        let r = PortRange {
            low: 40000,
            high: 40002,
            local_ports: true,
        };
        let (mut got, err) = fill(r, &PortBitmap::default(), 2);
        got.sort();
        assert_eq!(got, [40000, 40001, 40002], "no rounding, both parities");
        assert_eq!(err, Errno::EADDRNOTAVAIL);
    }

    #[test]
    fn c11_the_start_depends_on_the_destination_and_moves_on_after_each_connect() {
        let mut rng = Rng::seed_from_u64(3);
        let mut perturb = PortPerturb::default();
        let none = PortBitmap::default();
        let first = |offset: u64, perturb: &mut PortPerturb, rng: &mut Rng| {
            inet_hash_connect_port(DEFAULT, offset, perturb, &[&none], rng, |_| true).unwrap()
        };
        let a = first(7 << 32 | 1, &mut perturb, &mut rng);
        let b = first(7 << 32 | 2, &mut perturb, &mut rng);
        assert_ne!(a, b, "another table entry, another start");
        // The same destination again: its entry moved on by 2..=16 (i = rand(0..8) * 2, + 2).
        let a2 = first(7 << 32 | 1, &mut perturb, &mut rng);
        let gap = a2.wrapping_sub(a);
        assert!((2..=16).contains(&gap) && gap % 2 == 0, "gap {gap}");
        // The table entry plus the hash's high half, modulo the (even) range size, made even.
        let entry = *perturb.entry(9 << 32 | 5, &mut rng);
        let expect = 32768 + ((entry.wrapping_add(9) % 28232) & !1) as u16;
        assert_eq!(first(9 << 32 | 5, &mut perturb, &mut rng), expect);
    }

    #[test]
    fn c12_connect_takes_the_parity_of_low_first_then_the_other() {
        let (got, _) = fill(range(40000, 40199), &PortBitmap::default(), 4);
        assert_eq!(got.len(), 200);
        assert!(got[..100].iter().all(|p| p % 2 == 0), "the even ports first");
        assert!(got[100..].iter().all(|p| p % 2 == 1), "then the odd ones");
        let (got, _) = fill(range(40001, 40200), &PortBitmap::default(), 4);
        assert!(got[..100].iter().all(|p| p % 2 == 1), "low odd: odd first");
    }

    #[test]
    fn c13_reserved_ports_are_never_offered() {
        let mut reserved = PortBitmap::default();
        for p in (40000..40010).step_by(3) {
            reserved.insert(p);
        }
        let (got, err) = fill(range(40000, 40009), &reserved, 5);
        assert!(got.iter().all(|p| !reserved.contains(*p)));
        assert_eq!(got.len(), 6);
        assert_eq!(err, Errno::EADDRNOTAVAIL);
    }

    #[test]
    fn c15_a_full_range_is_eaddrnotavail_after_both_passes() {
        let mut tried = Vec::new();
        let mut rng = Rng::seed_from_u64(6);
        let r = inet_hash_connect_port(
            range(40000, 40003),
            0,
            &mut PortPerturb::default(),
            &[&PortBitmap::default()],
            &mut rng,
            |p| {
                tried.push(p);
                false
            },
        );
        assert_eq!(r, Err(Errno::EADDRNOTAVAIL));
        tried.sort();
        assert_eq!(tried, [40000, 40001, 40002, 40003], "each port asked once");
    }

    const HERE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const THERE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

    fn tuple(port: u16, dport: u16) -> FourTuple {
        FourTuple {
            local_addr: HERE,
            local_port: port,
            remote_port: dport,
            remote_addr: THERE,
        }
    }

    /// The C13 decision over real tables, as connect() will ask it: a bind()-held port is
    /// skipped, a free one taken, a connect()-held one shared if the 4-tuple is unique.
    fn connect_to(
        dport: u16,
        bt: &mut BindTable,
        ehash: &mut Ehash,
        tws: &TimeWaitTable,
        sk: u32,
        rng: &mut Rng,
    ) -> Result<u16, Errno> {
        let r = range(40000, 40003);
        let mut perturb = PortPerturb::default();
        let port = inet_hash_connect_port(r, 0, &mut perturb, &[&PortBitmap::default()], rng, |p| {
            match bt.port_use(p) {
                PortUse::Free => true,
                PortUse::Bind => false,
                PortUse::Connect => inet_check_established(ehash, tws, &tuple(p, dport), |_| None).is_ok(),
            }
        })?;
        let owner = Owner::Socket(SockId::from_index(sk));
        bt.insert_connect(port, HERE, owner);
        ehash.insert(tuple(port, dport), EhashEntry::Socket(SockId::from_index(sk)));
        Ok(port)
    }

    #[test]
    fn c13_a_port_held_by_bind_is_skipped_connect_ports_are_shared_across_destinations() {
        let mut bt = BindTable::default();
        let mut ehash = Ehash::with_hasher(TupleHashBuilder::with_key(1, 2));
        let tws = TimeWaitTable::default();
        let mut rng = Rng::seed_from_u64(7);
        // 40000 bound (not listening) at another address.
        bt.insert(
            40000,
            Ipv4Addr::new(192, 0, 2, 99),
            Owner::Socket(SockId::from_index(99)),
        );
        assert_eq!(bt.port_use(40000), PortUse::Bind);
        let mut first = Vec::new();
        for sk in 0..3 {
            first.push(connect_to(80, &mut bt, &mut ehash, &tws, sk, &mut rng).unwrap());
        }
        first.sort();
        assert_eq!(first, [40001, 40002, 40003]);
        assert_eq!(bt.port_use(40002), PortUse::Connect);
        assert_eq!(
            connect_to(80, &mut bt, &mut ehash, &tws, 3, &mut rng),
            Err(Errno::EADDRNOTAVAIL)
        );
        // Another destination port: the same three ports again, each 4-tuple unique.
        let mut second: Vec<u16> = (4..7)
            .map(|sk| connect_to(81, &mut bt, &mut ehash, &tws, sk, &mut rng).unwrap())
            .collect();
        second.sort();
        assert_eq!(second, first);
    }

    #[test]
    fn c14_time_wait_on_the_tuple_is_unique_only_if_tcp_twsk_unique_says_so() {
        let mut ehash = Ehash::with_hasher(TupleHashBuilder::with_key(3, 4));
        let mut tws = TimeWaitTable::default();
        let t = tuple(40000, 80);
        assert_eq!(inet_check_established(&ehash, &tws, &t, |_| None), Ok(None), "free");
        let id = tws.insert(TimeWaitSock {
            local: SocketAddrV4::new(HERE, 40000),
            remote: SocketAddrV4::new(THERE, 80),
            reuse_addr: false,
            reuse_port: false,
            uid: 0,
            conn: TwConn::default(),
        });
        ehash.insert(t, EhashEntry::TimeWait(id));
        assert_eq!(
            inet_check_established(&ehash, &tws, &t, |_| None),
            Err(Errno::EADDRNOTAVAIL)
        );
        let reuse = TwReuse {
            write_seq: 9,
            ts_recent: 8,
        };
        assert_eq!(
            inet_check_established(&ehash, &tws, &t, |_| Some(reuse)),
            Ok(Some((id, reuse)))
        );
        ehash.replace(t, EhashEntry::Socket(SockId::from_index(1)));
        assert_eq!(
            inet_check_established(&ehash, &tws, &t, |_| Some(reuse)),
            Err(Errno::EADDRNOTAVAIL),
            "a live connection"
        );
    }
}
