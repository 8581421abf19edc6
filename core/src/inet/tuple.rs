//! A connection's 4-tuple and the keyed hash the tables use for it (`inet_ehashfn`).

use std::net::Ipv4Addr;

/// A connection's 4-tuple from our side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FourTuple {
    pub local_addr: Ipv4Addr,
    pub local_port: u16,
    pub remote_port: u16,
    pub remote_addr: Ipv4Addr,
}

/// The tuple as two words for the hasher.
impl std::hash::Hash for FourTuple {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from(self.local_addr.to_bits()) << 32 | u64::from(self.remote_addr.to_bits()));
        state.write_u32(u32::from(self.local_port) << 16 | u32::from(self.remote_port));
    }
}

/// Hashes 4-tuples with a random 128-bit key, the way Linux's `inet_ehashfn` keys `jhash`
/// with `inet_ehash_secret`: fast (a few multiplications), and a peer that does not know the
/// key cannot aim its tuples at one bucket.
#[derive(Debug, Clone, Copy, Default)]
pub struct TupleHashBuilder {
    k0: u64,
    k1: u64,
}

impl TupleHashBuilder {
    /// A builder with this key.
    pub fn with_key(k0: u64, k1: u64) -> TupleHashBuilder {
        TupleHashBuilder { k0, k1 }
    }
}

impl std::hash::BuildHasher for TupleHashBuilder {
    type Hasher = TupleHasher;
    fn build_hasher(&self) -> TupleHasher {
        TupleHasher {
            state: self.k0,
            k1: self.k1,
        }
    }
}

/// The hasher of [`TupleHashBuilder`]: each word is mixed in with a keyed multiply, the
/// result finished with murmur3's `fmix64` so that every bit of the key and tuple reaches the
/// bits the table uses.
#[derive(Debug, Clone)]
pub struct TupleHasher {
    state: u64,
    k1: u64,
}

impl std::hash::Hasher for TupleHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        let m = u128::from(self.state ^ i) * u128::from(self.k1 | 1);
        self.state = (m as u64) ^ ((m >> 64) as u64);
    }
    fn finish(&self) -> u64 {
        let mut h = self.state;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}
