//! A set of port numbers as two bitmaps, one per parity: bit `i` of parity `q` stands for port
//! `2i + q`. Linux scans ephemeral ports two at a time (`inet_csk_find_open_port`,
//! `__inet_hash_connect`), so a run of candidates is a run of consecutive bits here and can be
//! searched a 64-bit word at a time.

use core::fmt;

const WORDS: usize = 32768 / 64;

/// A set of ports.
#[derive(Clone, PartialEq, Eq)]
pub struct PortBitmap {
    words: Box<[[u64; WORDS]; 2]>,
    /// Ports in the set, so that `len` and `is_empty` need no scan.
    count: u32,
}

impl Default for PortBitmap {
    fn default() -> Self {
        PortBitmap {
            words: Box::new([[0; WORDS]; 2]),
            count: 0,
        }
    }
}

impl fmt::Debug for PortBitmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PortBitmap({:?})", self.to_string())
    }
}

fn at(port: u16) -> (usize, usize, u64) {
    let i = usize::from(port >> 1);
    (usize::from(port & 1), i / 64, 1u64 << (i % 64))
}

impl PortBitmap {
    /// True when `port` is in the set.
    pub fn contains(&self, port: u16) -> bool {
        let (q, w, bit) = at(port);
        self.words[q][w] & bit != 0
    }
    /// Adds `port`.
    pub fn insert(&mut self, port: u16) {
        let (q, w, bit) = at(port);
        self.count += u32::from(self.words[q][w] & bit == 0);
        self.words[q][w] |= bit;
    }
    /// Removes `port`.
    pub fn remove(&mut self, port: u16) {
        let (q, w, bit) = at(port);
        self.count -= u32::from(self.words[q][w] & bit != 0);
        self.words[q][w] &= !bit;
    }
    /// True when the set is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// Number of ports in the set.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// The first port of the run `start, start + 2, ...` (`count` ports, all of `start`'s
    /// parity, the last at most 65535) that is in none of `sets`; `None` if every one is.
    pub fn first_clear(sets: &[&PortBitmap], start: u16, count: usize) -> Option<u16> {
        if count == 0 {
            return None;
        }
        let q = usize::from(start & 1);
        let first = usize::from(start >> 1);
        let last = first + count - 1;
        debug_assert!(last < 32768, "run past port 65535");
        for w in first / 64..=last / 64 {
            let mut taken = sets.iter().fold(0u64, |acc, s| acc | s.words[q][w]);
            if w == first / 64 {
                taken |= (1u64 << (first % 64)) - 1;
            }
            if w == last / 64 && last % 64 != 63 {
                taken |= !0u64 << (last % 64 + 1);
            }
            if taken != u64::MAX {
                let i = w * 64 + taken.trailing_ones() as usize;
                return Some((i * 2 + q) as u16);
            }
        }
        None
    }
}

/// Linux's list format (`ip_local_reserved_ports`): ranges merged, `8080,9000-9002`.
impl fmt::Display for PortBitmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut port: u32 = 0;
        while port <= 65535 {
            if !self.contains(port as u16) {
                port += 1;
                continue;
            }
            let start = port;
            while port < 65535 && self.contains(port as u16 + 1) {
                port += 1;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == port {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{port}")?;
            }
            port += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(sets: &[&PortBitmap], start: u16, count: usize) -> Option<u16> {
        (0..count)
            .map(|k| start as usize + 2 * k)
            .map(|p| p as u16)
            .find(|&p| sets.iter().all(|s| !s.contains(p)))
    }

    #[test]
    fn first_clear_matches_a_port_by_port_scan() {
        let mut rng = crate::base::rng::Rng::seed_from_u64(3);
        for _ in 0..300 {
            let mut a = PortBitmap::default();
            let mut b = PortBitmap::default();
            let fill = rng.below(100);
            for p in 0..=65535u16 {
                if rng.below(100) < fill {
                    if rng.below(2) == 0 {
                        a.insert(p)
                    } else {
                        b.insert(p)
                    }
                }
            }
            let start = rng.below(65536) as u16;
            let max = (65535 - usize::from(start)) / 2 + 1;
            let count = rng.below(max as u64 + 1) as usize;
            assert_eq!(
                PortBitmap::first_clear(&[&a, &b], start, count),
                naive(&[&a, &b], start, count),
                "{start} {count}"
            );
        }
    }

    #[test]
    fn set_operations_and_display() {
        let mut s = PortBitmap::default();
        for p in [1, 2, 3, 8080, 65535, 0] {
            s.insert(p);
        }
        s.remove(2);
        assert_eq!(s.to_string(), "0-1,3,8080,65535");
        assert_eq!(s.len(), 5);
        assert!(s.contains(65535) && !s.contains(2));
        assert_eq!(PortBitmap::first_clear(&[&s], 1, 3), Some(5));
        assert_eq!(PortBitmap::first_clear(&[&s], 65535, 1), None);
    }
}
