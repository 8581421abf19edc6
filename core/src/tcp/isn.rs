//! Secure initial sequence numbers and timestamp offsets (RFC 6528), as Linux's
//! `net/core/secure_seq.c` computes them: a keyed hash of the connection's addresses plus a
//! clock, so that an off-path attacker can neither guess an ISN nor see another connection's.

use core::hash::Hasher;
use core::net::Ipv4Addr;

use siphasher::sip::SipHasher24;

use crate::base::rng::Rng;
use crate::base::time::Instant;

/// A 128-bit SipHash key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SipKey(u64, u64);

impl SipKey {
    /// A fresh key from the stack's generator (seeded by the driver: the simulator's run seed or
    /// the OS).
    pub fn random(rng: &mut Rng) -> SipKey {
        SipKey(rng.next_u64(), rng.next_u64())
    }

    /// SipHash-2-4 of the words, each as its four network-order bytes, as Linux's
    /// `siphash_Nu32` hashes raw `__be32` addresses and ports.
    pub fn hash_words(self, words: &[u32]) -> u64 {
        let mut h = SipHasher24::new_with_keys(self.0, self.1);
        for w in words {
            h.write(&w.to_be_bytes());
        }
        h.finish()
    }
}

impl core::fmt::Debug for SipKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SipKey(..)")
    }
}

/// The two secrets behind ISNs and timestamp offsets (`net_secret`, `ts_secret`).
#[derive(Debug, Clone)]
pub struct IsnSecrets {
    net_secret: SipKey,
    ts_secret: SipKey,
}

impl IsnSecrets {
    /// Fresh secrets.
    pub fn random(rng: &mut Rng) -> IsnSecrets {
        IsnSecrets {
            net_secret: SipKey::random(rng),
            ts_secret: SipKey::random(rng),
        }
    }

    /// Linux's `secure_tcp_seq`: hash of (saddr, daddr, sport, dport) plus the clock in 64 ns
    /// units (`seq_scale`), so that ISNs of one 4-tuple grow by about 15.6 M a second and
    /// a new incarnation starts above the old one's sequence space.
    pub fn secure_tcp_seq(&self, saddr: Ipv4Addr, daddr: Ipv4Addr, sport: u16, dport: u16, now: Instant) -> u32 {
        let hash = self.net_secret.hash_words(&[
            saddr.to_bits(),
            daddr.to_bits(),
            (u32::from(sport) << 16) | u32::from(dport),
        ]) as u32;
        hash.wrapping_add((now.as_nanos() >> 6) as u32)
    }

    /// Linux's `secure_ipv4_port_ephemeral`: where connect()'s port search starts for this
    /// destination (rule C11). The clock term (`jiffies / (10 * HZ)`) moves the start for a
    /// given (saddr, daddr, dport) every 10 s.
    pub fn secure_ipv4_port_ephemeral(&self, saddr: Ipv4Addr, daddr: Ipv4Addr, dport: u16, now: Instant) -> u64 {
        let period = (now.as_nanos() / 10_000_000_000) as u32;
        self.net_secret
            .hash_words(&[saddr.to_bits(), daddr.to_bits(), u32::from(dport), period])
    }

    /// Linux's `secure_tcp_ts_off`: the per-(saddr, daddr) offset added to our TSval when
    /// `tcp_timestamps` is 1; 0 for any other value (2 = timestamps without offset).
    pub fn secure_tcp_ts_off(&self, tcp_timestamps: u8, saddr: Ipv4Addr, daddr: Ipv4Addr) -> u32 {
        if tcp_timestamps != 1 {
            return 0;
        }
        self.ts_secret.hash_words(&[saddr.to_bits(), daddr.to_bits()]) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const B: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);

    #[test]
    fn c17_c18_isn_is_keyed_per_four_tuple_and_advances_with_the_64_ns_clock() {
        let s = IsnSecrets::random(&mut Rng::seed_from_u64(1));
        let other = IsnSecrets::random(&mut Rng::seed_from_u64(2));
        let t0 = Instant::from_secs(10);
        let isn = s.secure_tcp_seq(A, B, 40000, 80, t0);
        assert_eq!(isn, s.secure_tcp_seq(A, B, 40000, 80, t0), "deterministic");
        assert_ne!(isn, s.secure_tcp_seq(A, B, 40001, 80, t0), "another port, another ISN");
        assert_ne!(
            isn,
            other.secure_tcp_seq(A, B, 40000, 80, t0),
            "another secret, another ISN"
        );
        // One second later the same 4-tuple's ISN is 10^9 / 64 further on.
        let later = s.secure_tcp_seq(A, B, 40000, 80, t0 + core::time::Duration::from_secs(1));
        assert_eq!(later.wrapping_sub(isn), 15_625_000);
    }

    #[test]
    fn c11_port_offset_is_keyed_per_destination_and_changes_every_10_s() {
        let s = IsnSecrets::random(&mut Rng::seed_from_u64(4));
        let t0 = Instant::from_secs(20);
        let o = s.secure_ipv4_port_ephemeral(A, B, 80, t0);
        assert_eq!(o, s.secure_ipv4_port_ephemeral(A, B, 80, Instant::from_secs(29)));
        assert_ne!(o, s.secure_ipv4_port_ephemeral(A, B, 80, Instant::from_secs(30)));
        assert_ne!(o, s.secure_ipv4_port_ephemeral(A, B, 81, t0));
        assert_ne!(o, s.secure_ipv4_port_ephemeral(B, A, 80, t0));
    }

    #[test]
    fn c19_ts_off_per_host_pair_only_with_tcp_timestamps_1() {
        let s = IsnSecrets::random(&mut Rng::seed_from_u64(3));
        assert_ne!(s.secure_tcp_ts_off(1, A, B), s.secure_tcp_ts_off(1, B, A));
        assert_eq!(s.secure_tcp_ts_off(2, A, B), 0);
        assert_eq!(s.secure_tcp_ts_off(0, A, B), 0);
    }
}
