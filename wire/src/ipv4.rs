//! IPv4 header (RFC 791): view and repr.
//!
//! Options are skipped by the header length; fragments are recognised (`more_frags`,
//! `frag_offset`) and reported to the caller, which does not reassemble them.

use crate::checksum;
use crate::{Error, Result};
use std::net::Ipv4Addr;

/// Length of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;

/// IP protocol numbers (IANA), as in Linux's `IPPROTO_*`.
pub mod ip_proto {
    /// `IPPROTO_ICMP`
    pub const ICMP: u8 = 1;
    /// `IPPROTO_TCP`
    pub const TCP: u8 = 6;
    /// `IPPROTO_UDP`
    pub const UDP: u8 = 17;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A zero-copy view of an IPv4 datagram.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` without any check; accessors may then panic on short input.
    /// Use [`Ipv4Packet::new_checked`] for bytes from the network.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps `buffer` after checking version, header length and total length, so that every
    /// accessor is in bounds.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Ipv4Packet { buffer };
        p.check_header()?;
        let len = p.buffer.as_ref().len();
        let total = usize::from(p.total_len());
        if total < p.header_len() {
            return Err(Error::BadTotalLength);
        }
        if total > len {
            return Err(Error::Truncated);
        }
        Ok(p)
    }

    /// Checks the fixed header and the header length against the buffer, but not the total
    /// length: the check that fits a header quoted inside an ICMP error.
    fn check_header(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < IPV4_HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Error::BadVersion);
        }
        let hl = self.header_len();
        if hl < IPV4_HEADER_LEN {
            return Err(Error::BadHeaderLength);
        }
        if hl > data.len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Gives back the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn word(&self, at: usize) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[at], d[at + 1]])
    }

    /// Version field (4 for IPv4).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }
    /// Header length in bytes (IHL × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[0] & 0x0f) * 4
    }
    /// Type of service byte (DSCP and ECN).
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[1]
    }
    /// Total length field: header plus payload.
    pub fn total_len(&self) -> u16 {
        self.word(2)
    }
    /// Identification field.
    pub fn ident(&self) -> u16 {
        self.word(4)
    }
    /// Don't-fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.word(6) & FLAG_DF != 0
    }
    /// More-fragments flag.
    pub fn more_frags(&self) -> bool {
        self.word(6) & FLAG_MF != 0
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (self.word(6) & OFFSET_MASK) << 3
    }
    /// True for any fragment of a larger datagram (first, middle or last).
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }
    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[8]
    }
    /// Protocol number of the payload (see [`ip_proto`]).
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[9]
    }
    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        self.word(10)
    }
    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        let d = self.buffer.as_ref();
        Ipv4Addr::new(d[12], d[13], d[14], d[15])
    }
    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        let d = self.buffer.as_ref();
        Ipv4Addr::new(d[16], d[17], d[18], d[19])
    }
    /// The options bytes (between the fixed header and the payload).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[IPV4_HEADER_LEN..self.header_len()]
    }
    /// True when the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(&self.buffer.as_ref()[..self.header_len()]) == 0
    }
    /// The payload, up to the total length (trailing link padding excluded).
    pub fn payload(&self) -> &[u8] {
        let end = usize::from(self.total_len()).min(self.buffer.as_ref().len());
        let start = self.header_len().min(end);
        &self.buffer.as_ref()[start..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn set_word(&mut self, at: usize, v: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }
    /// Recomputes and writes the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_word(10, 0);
        let c = checksum::checksum(&self.buffer.as_ref()[..self.header_len()]);
        self.set_word(10, c);
    }
    /// Sets the TTL (the checksum must be refilled afterwards).
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[8] = ttl;
    }
    /// The payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.total_len()).min(self.buffer.as_ref().len());
        let start = self.header_len().min(end);
        &mut self.buffer.as_mut()[start..end]
    }
}

/// An IPv4 header as plain values. Options are not represented: `parse` skips them, `emit`
/// writes none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol number of the payload.
    pub protocol: u8,
    /// Payload length in bytes (total length minus header length).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// Type of service byte (DSCP and ECN).
    pub tos: u8,
    /// Identification field.
    pub ident: u16,
    /// Don't-fragment flag.
    pub dont_frag: bool,
    /// More-fragments flag.
    pub more_frags: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: u16,
}

impl Ipv4Repr {
    /// A plain unfragmented header with Linux's defaults for a TCP socket: TTL 64
    /// (`ip_default_ttl`), DF set (PMTU discovery on), TOS 0, ident 0.
    pub fn new(src_addr: Ipv4Addr, dst_addr: Ipv4Addr, protocol: u8, payload_len: usize) -> Self {
        Ipv4Repr {
            src_addr,
            dst_addr,
            protocol,
            payload_len,
            ttl: 64,
            tos: 0,
            ident: 0,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        }
    }

    /// Parses a checked view, verifying the header checksum.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Ipv4Repr> {
        if !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        Ok(Self::from_view(packet))
    }

    /// Parses a datagram from raw bytes: checked view plus checksum. Returns the header and
    /// its payload.
    pub fn parse_bytes(bytes: &[u8]) -> Result<(Ipv4Repr, &[u8])> {
        let packet = Ipv4Packet::new_checked(bytes)?;
        let repr = Self::parse(&packet)?;
        let (start, end) = (packet.header_len(), usize::from(packet.total_len()));
        Ok((repr, &bytes[start..end]))
    }

    /// Parses the header of a datagram quoted inside an ICMP error (RFC 792): the total
    /// length describes the original datagram, so it is not checked against the bytes, nor
    /// is the checksum. Returns the header and whatever payload bytes were quoted.
    pub fn parse_quoted(bytes: &[u8]) -> Result<(Ipv4Repr, &[u8])> {
        let packet = Ipv4Packet::new_unchecked(bytes);
        packet.check_header()?;
        let hl = packet.header_len();
        let mut repr = Self::from_view(&packet);
        repr.payload_len = usize::from(packet.total_len()).saturating_sub(hl);
        Ok((repr, &bytes[hl..]))
    }

    fn from_view<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Ipv4Repr {
        Ipv4Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: usize::from(p.total_len()).saturating_sub(p.header_len()),
            ttl: p.ttl(),
            tos: p.tos(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            more_frags: p.more_frags(),
            frag_offset: p.frag_offset(),
        }
    }

    /// True for any fragment of a larger datagram.
    pub fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }

    /// Length of the header `emit` writes.
    pub const fn header_len(&self) -> usize {
        IPV4_HEADER_LEN
    }

    /// Writes the 20-byte header, checksum included, at the start of `buf`. Fails with
    /// `Truncated` if `buf` is too short, `BadTotalLength` if the payload does not fit the
    /// 16-bit total length, `BadHeaderLength` for a fragment offset that is not a multiple of 8.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        if buf.len() < IPV4_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let total = u16::try_from(self.payload_len + IPV4_HEADER_LEN).map_err(|_| Error::BadTotalLength)?;
        if self.frag_offset % 8 != 0 {
            return Err(Error::BadHeaderLength);
        }
        let mut flags = self.frag_offset >> 3;
        if self.dont_frag {
            flags |= FLAG_DF;
        }
        if self.more_frags {
            flags |= FLAG_MF;
        }
        let h = &mut buf[..IPV4_HEADER_LEN];
        h[0] = 0x45;
        h[1] = self.tos;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&self.ident.to_be_bytes());
        h[6..8].copy_from_slice(&flags.to_be_bytes());
        h[8] = self.ttl;
        h[9] = self.protocol;
        h[10..12].copy_from_slice(&[0, 0]);
        h[12..16].copy_from_slice(&self.src_addr.octets());
        h[16..20].copy_from_slice(&self.dst_addr.octets());
        let c = checksum::checksum(h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Ipv4Repr {
        Ipv4Repr::new(
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(192, 0, 2, 2),
            ip_proto::TCP,
            4,
        )
    }

    #[test]
    fn emit_parse_round_trip_with_payload() {
        let mut buf = [0u8; 24];
        sample().emit(&mut buf).unwrap();
        buf[20..].copy_from_slice(b"abcd");
        let (repr, payload) = Ipv4Repr::parse_bytes(&buf).unwrap();
        assert_eq!(repr, sample());
        assert_eq!(payload, b"abcd");
    }

    #[test]
    fn options_are_skipped_by_header_length() {
        let mut buf = [0u8; 28];
        sample().emit(&mut buf).unwrap();
        buf[0] = 0x46; // IHL 6: four bytes of options
        buf[2..4].copy_from_slice(&28u16.to_be_bytes());
        buf[20..24].copy_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
        buf[24..28].copy_from_slice(b"wxyz");
        Ipv4Packet::new_unchecked(&mut buf[..]).fill_checksum();
        let (repr, payload) = Ipv4Repr::parse_bytes(&buf).unwrap();
        assert_eq!(payload, b"wxyz");
        assert_eq!(repr.payload_len, 4);
        assert_eq!(Ipv4Packet::new_checked(&buf[..]).unwrap().options(), &[1, 1, 1, 0]);
    }

    #[test]
    fn malformed_headers_give_typed_errors() {
        let mut buf = [0u8; 24];
        sample().emit(&mut buf).unwrap();
        assert_eq!(Ipv4Repr::parse_bytes(&buf[..19]).unwrap_err(), Error::Truncated);
        let mut v6 = buf;
        v6[0] = 0x65;
        assert_eq!(Ipv4Repr::parse_bytes(&v6).unwrap_err(), Error::BadVersion);
        let mut short_ihl = buf;
        short_ihl[0] = 0x44;
        assert_eq!(Ipv4Repr::parse_bytes(&short_ihl).unwrap_err(), Error::BadHeaderLength);
        let mut long_ihl = buf;
        long_ihl[0] = 0x4f;
        assert_eq!(Ipv4Repr::parse_bytes(&long_ihl).unwrap_err(), Error::Truncated);
        let mut small_total = buf;
        small_total[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(Ipv4Repr::parse_bytes(&small_total).unwrap_err(), Error::BadTotalLength);
        let mut big_total = buf;
        big_total[2..4].copy_from_slice(&25u16.to_be_bytes());
        assert_eq!(Ipv4Repr::parse_bytes(&big_total).unwrap_err(), Error::Truncated);
        let mut bad_sum = buf;
        bad_sum[8] ^= 1;
        assert_eq!(Ipv4Repr::parse_bytes(&bad_sum).unwrap_err(), Error::BadChecksum);
    }

    #[test]
    fn trailing_link_padding_is_not_payload() {
        let mut buf = [0u8; 30];
        sample().emit(&mut buf).unwrap();
        let (_, payload) = Ipv4Repr::parse_bytes(&buf).unwrap();
        assert_eq!(payload.len(), 4);
    }

    #[test]
    fn fragments_are_recognised() {
        let mut first = sample();
        first.more_frags = true;
        first.dont_frag = false;
        let mut later = sample();
        later.frag_offset = 1480;
        for repr in [first, later] {
            let mut buf = [0u8; 24];
            repr.emit(&mut buf).unwrap();
            let (parsed, _) = Ipv4Repr::parse_bytes(&buf).unwrap();
            assert!(parsed.is_fragment());
            assert!(Ipv4Packet::new_checked(&buf[..]).unwrap().is_fragment());
            assert_eq!(parsed, repr);
        }
        assert!(!sample().is_fragment());
    }

    #[test]
    fn quoted_header_ignores_total_length() {
        let mut repr = sample();
        repr.payload_len = 1000;
        let mut buf = [0u8; 28];
        repr.emit(&mut buf).unwrap();
        let (parsed, quoted) = Ipv4Repr::parse_quoted(&buf).unwrap();
        assert_eq!(parsed.payload_len, 1000);
        assert_eq!(quoted.len(), 8);
    }
}
