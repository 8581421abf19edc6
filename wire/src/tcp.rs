//! TCP header (RFC 9293 §3.1): view, flags and repr, with the pseudo-header checksum.

use crate::checksum;
use crate::ipv4::ip_proto;
use crate::tcp_options::{TcpOptions, TCP_MAX_OPTIONS_LEN};
use crate::{Error, Result};
use core::fmt;
use std::net::Ipv4Addr;

/// Length of a TCP header without options.
pub const TCP_HEADER_LEN: usize = 20;

/// The TCP flag bits (byte 13, plus the AE/NS bit of byte 12).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// No flag.
    pub const NONE: TcpFlags = TcpFlags(0);
    /// FIN
    pub const FIN: TcpFlags = TcpFlags(0x001);
    /// SYN
    pub const SYN: TcpFlags = TcpFlags(0x002);
    /// RST
    pub const RST: TcpFlags = TcpFlags(0x004);
    /// PSH
    pub const PSH: TcpFlags = TcpFlags(0x008);
    /// ACK
    pub const ACK: TcpFlags = TcpFlags(0x010);
    /// URG
    pub const URG: TcpFlags = TcpFlags(0x020);
    /// ECE
    pub const ECE: TcpFlags = TcpFlags(0x040);
    /// CWR
    pub const CWR: TcpFlags = TcpFlags(0x080);
    /// AE (formerly NS), RFC 9768.
    pub const AE: TcpFlags = TcpFlags(0x100);
    const ALL: u16 = 0x1ff;

    /// True when every flag of `other` is set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// True when any flag of `other` is set.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }
    /// True for SYN.
    pub const fn syn(self) -> bool {
        self.intersects(TcpFlags::SYN)
    }
    /// True for ACK.
    pub const fn ack(self) -> bool {
        self.intersects(TcpFlags::ACK)
    }
    /// True for RST.
    pub const fn rst(self) -> bool {
        self.intersects(TcpFlags::RST)
    }
    /// True for FIN.
    pub const fn fin(self) -> bool {
        self.intersects(TcpFlags::FIN)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

/// tcpdump's notation: `S`, `S.`, `R.`, `P.`, `F.`, `.` for a bare ACK, `none` for nothing.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LETTERS: [(TcpFlags, char); 8] = [
            (TcpFlags::SYN, 'S'),
            (TcpFlags::FIN, 'F'),
            (TcpFlags::PSH, 'P'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::URG, 'U'),
            (TcpFlags::ECE, 'E'),
            (TcpFlags::CWR, 'W'),
            (TcpFlags::ACK, '.'),
        ];
        if self.0 == 0 {
            return f.write_str("none");
        }
        for (flag, c) in LETTERS {
            if self.contains(flag) {
                write!(f, "{c}")?;
            }
        }
        if self.contains(TcpFlags::AE) {
            f.write_str("A")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TcpFlags({self})")
    }
}

/// A zero-copy view of a TCP segment (header, options, payload).
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps `buffer` without any check; use [`TcpPacket::new_checked`] for network input.
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps `buffer` after checking that the fixed header and the data offset fit in it.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = TcpPacket { buffer };
        let len = p.buffer.as_ref().len();
        if len < TCP_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hl = p.header_len();
        if hl < TCP_HEADER_LEN || hl > len {
            return Err(Error::BadHeaderLength);
        }
        Ok(p)
    }

    /// Gives back the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn word(&self, at: usize) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[at], d[at + 1]])
    }
    fn dword(&self, at: usize) -> u32 {
        let d = self.buffer.as_ref();
        u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        self.word(0)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        self.word(2)
    }
    /// Sequence number.
    pub fn seq_number(&self) -> u32 {
        self.dword(4)
    }
    /// Acknowledgment number (meaningful only with ACK).
    pub fn ack_number(&self) -> u32 {
        self.dword(8)
    }
    /// Header length in bytes (data offset × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[12] >> 4) * 4
    }
    /// Flags.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.word(12) & TcpFlags::ALL)
    }
    /// Window field (unscaled).
    pub fn window_len(&self) -> u16 {
        self.word(14)
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        self.word(16)
    }
    /// Urgent pointer.
    pub fn urgent_at(&self) -> u16 {
        self.word(18)
    }
    /// The options area.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[TCP_HEADER_LEN..self.header_len()]
    }
    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
    /// Sequence space the segment occupies: payload plus one for SYN and one for FIN.
    pub fn segment_len(&self) -> usize {
        let f = self.flags();
        self.payload().len() + usize::from(f.syn()) + usize::from(f.fin())
    }
    /// True when the checksum over pseudo-header, header and payload verifies.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let data = self.buffer.as_ref();
        let Ok(len) = u32::try_from(data.len()) else {
            return false;
        };
        let acc = checksum::pseudo_header_sum(src, dst, ip_proto::TCP, len) + checksum::sum(data);
        checksum::fold(acc) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Recomputes and writes the checksum.
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.buffer.as_mut()[16..18].copy_from_slice(&[0, 0]);
        let data = self.buffer.as_ref();
        let len = data.len() as u32;
        let c = !checksum::fold(checksum::pseudo_header_sum(src, dst, ip_proto::TCP, len) + checksum::sum(data));
        self.buffer.as_mut()[16..18].copy_from_slice(&c.to_be_bytes());
    }
}

/// A TCP segment as plain values; the payload is borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number, as on the wire (meaningful only with ACK).
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Window field (unscaled).
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Options.
    pub options: TcpOptions,
    /// Payload.
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Parses a segment carried from `src` to `dst`: checked view, checksum, options.
    pub fn parse(bytes: &'a [u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<TcpRepr<'a>> {
        let packet = TcpPacket::new_checked(bytes)?;
        if !packet.verify_checksum(src, dst) {
            return Err(Error::BadChecksum);
        }
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq_number(),
            ack: packet.ack_number(),
            flags: packet.flags(),
            window: packet.window_len(),
            urgent: packet.urgent_at(),
            options: TcpOptions::parse(packet.options())?,
            payload: &bytes[packet.header_len()..],
        })
    }

    /// Header length `emit` writes (20 plus the options).
    pub fn header_len(&self) -> usize {
        TCP_HEADER_LEN + self.options.len()
    }

    /// Header plus payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Sequence space the segment occupies: payload plus one for SYN and one for FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len() + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }

    /// The segment in a whole IPv4 datagram from `src` to `dst` with `Ipv4Repr::new`'s header
    /// (TTL 64, DF), both checksums filled in.
    pub fn to_ipv4_datagram(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Result<Vec<u8>> {
        let mut d = vec![0u8; crate::IPV4_HEADER_LEN + self.buffer_len()];
        crate::Ipv4Repr::new(src, dst, ip_proto::TCP, self.buffer_len()).emit(&mut d)?;
        self.emit(&mut d[crate::IPV4_HEADER_LEN..], src, dst)?;
        Ok(d)
    }

    /// Writes header, options (Linux's layout) and payload into `buf`, checksum included, and
    /// returns the bytes written.
    pub fn emit(&self, buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<usize> {
        if self.options.len() > TCP_MAX_OPTIONS_LEN {
            return Err(Error::BadOptionLength);
        }
        let hl = self.header_len();
        let total = hl + self.payload.len();
        if buf.len() < total {
            return Err(Error::Truncated);
        }
        let seg = &mut buf[..total];
        seg[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        seg[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        seg[4..8].copy_from_slice(&self.seq.to_be_bytes());
        seg[8..12].copy_from_slice(&self.ack.to_be_bytes());
        let offset_flags = ((hl as u16 / 4) << 12) | (self.flags.0 & TcpFlags::ALL);
        seg[12..14].copy_from_slice(&offset_flags.to_be_bytes());
        seg[14..16].copy_from_slice(&self.window.to_be_bytes());
        seg[18..20].copy_from_slice(&self.urgent.to_be_bytes());
        self.options.emit(&mut seg[TCP_HEADER_LEN..hl])?;
        // The payload is checksummed as it is copied; the header (an even length) after.
        seg[16..18].copy_from_slice(&[0, 0]);
        let payload_sum = checksum::copy_and_sum(&mut seg[hl..], self.payload);
        let sum = checksum::pseudo_header_sum(src, dst, ip_proto::TCP, total as u32)
            + checksum::sum(&seg[..hl])
            + payload_sum;
        seg[16..18].copy_from_slice(&(!checksum::fold(sum)).to_be_bytes());
        Ok(total)
    }
}

impl fmt::Display for TcpRepr<'_> {
    /// One line in tcpdump's style: `1234 > 80: S 100:100(0) win 65535 <mss 1460,...>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = self.seq.wrapping_add(self.payload.len() as u32);
        write!(
            f,
            "{} > {}: {} {}:{}({})",
            self.src_port,
            self.dst_port,
            self.flags,
            self.seq,
            end,
            self.payload.len()
        )?;
        if self.flags.ack() {
            write!(f, " ack {}", self.ack)?;
        }
        write!(f, " win {}", self.window)?;
        let o = &self.options;
        if !o.is_empty() {
            let mut parts: Vec<String> = Vec::new();
            if let Some(m) = o.mss {
                parts.push(format!("mss {m}"));
            }
            if o.sack_permitted {
                parts.push("sackOK".into());
            }
            if let Some(ts) = o.timestamp {
                parts.push(format!("TS val {} ecr {}", ts.tsval, ts.tsecr));
            }
            if let Some(ws) = o.window_scale {
                parts.push(format!("wscale {ws}"));
            }
            if !o.sack_blocks.is_empty() {
                let blocks: Vec<String> = o
                    .sack_blocks
                    .as_slice()
                    .iter()
                    .map(|(l, r)| format!("{l}:{r}"))
                    .collect();
                parts.push(format!("sack {}", blocks.join(" ")));
            }
            write!(f, " <{}>", parts.join(","))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp_options::Timestamp;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    fn syn() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: 0x1234_5678,
            ack: 0,
            flags: TcpFlags::SYN,
            window: 64240,
            urgent: 0,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(10),
                sack_permitted: true,
                timestamp: Some(Timestamp { tsval: 100, tsecr: 0 }),
                ..Default::default()
            },
            payload: &[],
        }
    }

    #[test]
    fn syn_round_trips_and_matches_linux_length() {
        let mut buf = [0u8; 60];
        let n = syn().emit(&mut buf, SRC, DST).unwrap();
        assert_eq!(n, 40, "a Linux SYN is 40 bytes of TCP");
        assert_eq!(TcpRepr::parse(&buf[..n], SRC, DST).unwrap(), syn());
    }

    #[test]
    fn checksum_covers_pseudo_header() {
        let mut buf = [0u8; 60];
        let n = syn().emit(&mut buf, SRC, DST).unwrap();
        assert_eq!(
            TcpRepr::parse(&buf[..n], SRC, Ipv4Addr::new(192, 0, 2, 3)).unwrap_err(),
            Error::BadChecksum
        );
        buf[n - 1] ^= 0x40;
        assert_eq!(TcpRepr::parse(&buf[..n], SRC, DST).unwrap_err(), Error::BadChecksum);
    }

    #[test]
    fn malformed_headers_give_typed_errors() {
        let mut buf = [0u8; 60];
        let n = syn().emit(&mut buf, SRC, DST).unwrap();
        assert_eq!(TcpRepr::parse(&buf[..19], SRC, DST).unwrap_err(), Error::Truncated);
        let mut small = buf;
        small[12] = 0x40; // data offset 4
        assert_eq!(
            TcpRepr::parse(&small[..n], SRC, DST).unwrap_err(),
            Error::BadHeaderLength
        );
        assert_eq!(
            TcpRepr::parse(&buf[..36], SRC, DST).unwrap_err(),
            Error::BadHeaderLength
        );
    }

    #[test]
    fn bad_option_length_is_reported_after_checksum() {
        let mut repr = syn();
        repr.options = TcpOptions::default();
        let mut buf = [0u8; 24];
        repr.emit(&mut buf[..20], SRC, DST).unwrap();
        buf[12] = 0x60;
        buf[20..24].copy_from_slice(&[2, 9, 0, 0]);
        TcpPacket::new_unchecked(&mut buf[..]).fill_checksum(SRC, DST);
        assert_eq!(TcpRepr::parse(&buf, SRC, DST).unwrap_err(), Error::BadOptionLength);
    }

    #[test]
    fn payload_and_segment_length() {
        let mut repr = syn();
        repr.flags = TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN;
        repr.options = TcpOptions::default();
        repr.payload = b"hello";
        let mut buf = [0u8; 64];
        let n = repr.emit(&mut buf, SRC, DST).unwrap();
        let parsed = TcpRepr::parse(&buf[..n], SRC, DST).unwrap();
        assert_eq!(parsed.payload, b"hello");
        assert_eq!(parsed.segment_len(), 6);
        assert_eq!(TcpPacket::new_checked(&buf[..n]).unwrap().segment_len(), 6);
    }

    #[test]
    fn flags_print_like_tcpdump() {
        assert_eq!((TcpFlags::SYN | TcpFlags::ACK).to_string(), "S.");
        assert_eq!((TcpFlags::RST | TcpFlags::ACK).to_string(), "R.");
        assert_eq!(TcpFlags::ACK.to_string(), ".");
        assert_eq!(TcpFlags::NONE.to_string(), "none");
        assert_eq!(
            syn().to_string(),
            "40000 > 80: S 305419896:305419896(0) win 64240 <mss 1460,sackOK,TS val 100 ecr 0,wscale 10>"
        );
    }
}
