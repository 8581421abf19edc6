//! Sequence-number arithmetic modulo 2^32 (RFC 793 3.3, Linux's `before()`/`after()`).

/// `before(a, b)`: `a` comes earlier than `b` in sequence space.
pub fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `after(a, b)`: `a` comes later than `b` in sequence space.
pub fn after(a: u32, b: u32) -> bool {
    before(b, a)
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
