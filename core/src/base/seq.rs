//! Sequence-number arithmetic modulo 2^32 (RFC 793 3.3, Linux's `before()`/`after()`):
//! [`SeqNum`], and the same comparisons on raw numbers for code that holds wire values.

use core::fmt;
use core::ops::{Add, AddAssign, Sub, SubAssign};

/// A TCP sequence number. It adds and compares modulo 2^32: `a.before(b)` when `a` is less
/// than 2^31 behind `b`; `b - a` is the distance from `a` to `b`. There is no `Ord`: a
/// wrapping order is not an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// `before(self, other)`.
    pub const fn before(self, other: SeqNum) -> bool {
        (self.0.wrapping_sub(other.0) as i32) < 0
    }

    /// `after(self, other)`.
    pub const fn after(self, other: SeqNum) -> bool {
        other.before(self)
    }

    /// The later of the two in sequence space.
    pub const fn max(self, other: SeqNum) -> SeqNum {
        if self.before(other) {
            other
        } else {
            self
        }
    }

    /// The earlier of the two in sequence space.
    pub const fn min(self, other: SeqNum) -> SeqNum {
        if self.after(other) {
            other
        } else {
            self
        }
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    fn add(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }
}

impl AddAssign<u32> for SeqNum {
    fn add_assign(&mut self, n: u32) {
        self.0 = self.0.wrapping_add(n);
    }
}

impl Sub<u32> for SeqNum {
    type Output = SeqNum;
    fn sub(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(n))
    }
}

impl SubAssign<u32> for SeqNum {
    fn sub_assign(&mut self, n: u32) {
        self.0 = self.0.wrapping_sub(n);
    }
}

/// The distance from `rhs` forward to `self`.
impl Sub<SeqNum> for SeqNum {
    type Output = u32;
    fn sub(self, rhs: SeqNum) -> u32 {
        self.0.wrapping_sub(rhs.0)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `before(a, b)`: `a` comes earlier than `b` in sequence space.
pub fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `after(a, b)`: `a` comes later than `b` in sequence space.
pub fn after(a: u32, b: u32) -> bool {
    before(b, a)
}

/// `tcp_in_window`: whether [seq, end_seq) touches the window [s_win, e_win).
pub fn tcp_in_window(seq: u32, end_seq: u32, s_win: u32, e_win: u32) -> bool {
    seq == s_win || (after(end_seq, s_win) && before(seq, e_win)) || (seq == e_win && seq == end_seq)
}

/// `between(x, lo, hi)`: lo ≤ x ≤ hi in sequence space.
pub fn between(x: u32, lo: u32, hi: u32) -> bool {
    hi.wrapping_sub(lo) >= x.wrapping_sub(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seqnum_wraps() {
        let a = SeqNum(u32::MAX - 1);
        let b = a + 3;
        assert_eq!(b, SeqNum(1));
        assert!(a.before(b) && b.after(a));
        assert_eq!(b - a, 3);
        assert_eq!(a.max(b), b);
        assert_eq!(b.min(a), a);
        assert_eq!(b - 3, a);
    }

    #[test]
    fn wraps() {
        assert!(before(u32::MAX, 0) && after(0, u32::MAX));
        assert!(!before(5, 5) && !after(5, 5));
        assert!(before(1, 1 << 31) && !before(1, (1 << 31) + 2));
    }
}
