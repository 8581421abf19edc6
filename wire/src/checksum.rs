//! The Internet checksum (RFC 1071) and the TCP pseudo-header (RFC 9293 §3.1).
//!
//! Sums are kept unfolded in a `u64` so that partial sums (pseudo-header, header, payload)
//! add up before one final fold.

use std::net::Ipv4Addr;

/// Ones' complement sum of `data` as big-endian 16-bit words, not yet folded (RFC 1071).
///
/// Adds the two native-endian 32-bit halves of each 64-bit word into 64-bit accumulators
/// (which the compiler turns into wide vector adds; no carry is lost below 2^32 words), then
/// folds and byte-swaps once: because 2^16 ≡ 1 (mod 2^16 − 1), and by RFC 1071's byte-order
/// independence, this equals the sum of big-endian 16-bit words.
#[inline]
pub fn sum(data: &[u8]) -> u64 {
    let (mut lo, mut hi) = (0u64, 0u64);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        lo += w & 0xffff_ffff;
        hi += w >> 32;
    }
    let rest = chunks.remainder();
    let mut tail = [0u8; 8];
    tail[..rest.len()].copy_from_slice(rest);
    let w = u64::from_ne_bytes(tail);
    let acc = (lo + (w & 0xffff_ffff)) + (hi + (w >> 32));
    u64::from(u16::from_be(fold(acc)))
}

/// Copies `src` into `dst` (of the same length) and returns [`sum`] of it, in one pass over
/// the data (a segment's payload is checksummed as it is written).
#[inline]
pub fn copy_and_sum(dst: &mut [u8], src: &[u8]) -> u64 {
    assert_eq!(dst.len(), src.len(), "copy_and_sum: lengths differ");
    let (mut lo, mut hi) = (0u64, 0u64);
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d, s) in (&mut d).zip(&mut s) {
        let w = u64::from_ne_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]);
        d.copy_from_slice(&w.to_ne_bytes());
        lo += w & 0xffff_ffff;
        hi += w >> 32;
    }
    let rest = s.remainder();
    d.into_remainder().copy_from_slice(rest);
    let mut tail = [0u8; 8];
    tail[..rest.len()].copy_from_slice(rest);
    let w = u64::from_ne_bytes(tail);
    let acc = (lo + (w & 0xffff_ffff)) + (hi + (w >> 32));
    u64::from(u16::from_be(fold(acc)))
}

/// Folds an unfolded sum into 16 bits (end-around carry).
#[inline]
pub fn fold(acc: u64) -> u16 {
    // Four end-around carries always suffice: 64 bits to 33, 33 to 18, 18 to 17, 17 to 16.
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    let acc = (acc & 0xffff) + (acc >> 16);
    let acc = (acc & 0xffff) + (acc >> 16);
    ((acc & 0xffff) + (acc >> 16)) as u16
}

/// The Internet checksum of `data`: the complement of its folded ones' complement sum.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

/// Unfolded sum of the IPv4 pseudo-header: source, destination, zero, protocol, length.
#[inline]
pub fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u32) -> u64 {
    u64::from(u32::from(src)) + u64::from(u32::from(dst)) + u64::from(protocol) + u64::from(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_and_sum_copies_and_sums_like_sum() {
        for len in [0usize, 1, 7, 8, 9, 1460, 1461] {
            let src: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let mut dst = vec![0u8; len];
            assert_eq!(copy_and_sum(&mut dst, &src), sum(&src), "len {len}");
            assert_eq!(dst, src);
        }
    }

    /// The 16-bit reference definition, word by word.
    fn reference(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], 0])
            };
            acc += u32::from(w);
            acc = (acc & 0xffff) + (acc >> 16);
        }
        !(acc as u16)
    }

    #[test]
    fn fold_is_the_end_around_carry_repeated() {
        let slow = |mut acc: u64| {
            while acc > 0xffff {
                acc = (acc & 0xffff) + (acc >> 16);
            }
            acc as u16
        };
        for acc in [
            0,
            1,
            0xffff,
            0x1_0000,
            0x1_fffe,
            0x2_ffff,
            0xffff_ffff,
            0x1_ffff_fffe,
            u64::MAX,
            0x8000_0000_0000_ffff,
        ] {
            assert_eq!(fold(acc), slow(acc), "{acc:#x}");
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn matches_reference_for_every_length() {
        let data: Vec<u8> = (0..300u32).map(|i| (i.wrapping_mul(151) ^ 0x5a) as u8).collect();
        for len in 0..data.len() {
            assert_eq!(checksum(&data[..len]), reference(&data[..len]), "len {len}");
        }
    }

    #[test]
    fn all_ones_does_not_overflow() {
        let data = vec![0xffu8; 65535];
        assert_eq!(checksum(&data), reference(&data));
    }
}
