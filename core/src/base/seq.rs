//! Sequence-number arithmetic modulo 2^32 (RFC 793 3.3, Linux's `before()`/`after()`).

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
    fn wraps() {
        assert!(before(u32::MAX, 0) && after(0, u32::MAX));
        assert!(!before(5, 5) && !after(5, 5));
        assert!(before(1, 1 << 31) && !before(1, (1 << 31) + 2));
    }
}
