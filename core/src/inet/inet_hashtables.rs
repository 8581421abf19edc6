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
use crate::inet::port_bitmap::PortBitmap;

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

/// `__inet_hash_connect`'s search for a socket without a port (rules C10–C12, C15): the first
/// candidate for which `take` returns true (it was free, or its 4-tuple unique, and is now the
/// socket's: rules C13–C14), else `EADDRNOTAVAIL`. `port_offset` is
/// `secure_ipv4_port_ephemeral` of the destination; reserved ports are never offered.
pub fn inet_hash_connect_port(
    range: PortRange,
    port_offset: u64,
    perturb: &mut PortPerturb,
    reserved: &PortBitmap,
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
    loop {
        let mut port = low + offset;
        let mut i = 0;
        while i < remaining {
            if port >= high {
                port -= remaining;
            }
            let candidate = port as u16;
            if !reserved.contains(candidate) && take(candidate) {
                // A little noise in where the next search starts: maximal when the first
                // candidate was free, none under contention.
                let i = i.max(rng.below(8) as u32 * step);
                *entry = entry.wrapping_add(i + step);
                return Ok(candidate);
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

#[cfg(test)]
mod tests {
    use super::*;

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
            match inet_hash_connect_port(r, 0x1234_5678_9abc_def0, &mut perturb, reserved, &mut rng, |p| {
                held.insert(p)
            }) {
                Ok(p) => got.push(p),
                Err(e) => return (got, e),
            }
        }
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
            inet_hash_connect_port(DEFAULT, offset, perturb, &none, rng, |_| true).unwrap()
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
            &PortBitmap::default(),
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
}
