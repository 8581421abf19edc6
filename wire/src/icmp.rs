//! ICMP errors that TCP acts on (RFC 792, RFC 1191): destination unreachable (type 3) and
//! time exceeded (type 11), each quoting the header of the datagram that caused it.

use crate::checksum;
use crate::ipv4::Ipv4Repr;
use crate::{Error, Result};

/// Length of the ICMP header (type, code, checksum, four rest-of-header bytes).
pub const ICMP_HEADER_LEN: usize = 8;
/// Bytes of the original datagram's payload an ICMP error must quote for TCP to use it:
/// ports and sequence number (as `icmp_unreach` requires of `iph->ihl*4 + 8` bytes).
pub const ICMP_QUOTED_MIN: usize = 8;

const TYPE_DST_UNREACHABLE: u8 = 3;
const TYPE_TIME_EXCEEDED: u8 = 11;

/// A zero-copy view of an ICMP message.
#[derive(Debug, Clone)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Wraps `buffer` after checking that the 8-byte header fits.
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < ICMP_HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(IcmpPacket { buffer })
    }
    /// Message type.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    /// Message code.
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[1]
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[2], d[3]])
    }
    /// The next-hop MTU of a "fragmentation needed" message (RFC 1191): bytes 6..8.
    pub fn next_hop_mtu(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[6], d[7]])
    }
    /// Everything after the 8-byte header.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[ICMP_HEADER_LEN..]
    }
    /// True when the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
}

/// The ICMP error kinds TCP handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IcmpMessage {
    /// Type 3. `next_hop_mtu` is meaningful for code 4 (fragmentation needed) and is carried
    /// as found otherwise.
    DstUnreachable {
        /// Code: 0 net, 1 host, 2 protocol, 3 port, 4 fragmentation needed, ...
        code: u8,
        /// Next-hop MTU field.
        next_hop_mtu: u16,
    },
    /// Type 11.
    TimeExceeded {
        /// Code: 0 TTL exceeded in transit, 1 fragment reassembly time exceeded.
        code: u8,
    },
}

/// An ICMP error with the quoted header of the original datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpRepr<'a> {
    /// What kind of error.
    pub message: IcmpMessage,
    /// The original datagram's IPv4 header (its `payload_len` is the original's).
    pub quoted_header: Ipv4Repr,
    /// The quoted bytes after that header: at least 8 (ports and sequence number).
    pub quoted_payload: &'a [u8],
}

impl<'a> IcmpRepr<'a> {
    /// Parses an ICMP message: checksum, type, quoted header, at least 8 quoted bytes.
    pub fn parse(bytes: &'a [u8]) -> Result<IcmpRepr<'a>> {
        let packet = IcmpPacket::new_checked(bytes)?;
        if !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        let message = match packet.msg_type() {
            TYPE_DST_UNREACHABLE => IcmpMessage::DstUnreachable {
                code: packet.msg_code(),
                next_hop_mtu: packet.next_hop_mtu(),
            },
            TYPE_TIME_EXCEEDED => IcmpMessage::TimeExceeded {
                code: packet.msg_code(),
            },
            other => return Err(Error::UnsupportedIcmpType(other)),
        };
        let (quoted_header, quoted_payload) = Ipv4Repr::parse_quoted(&bytes[ICMP_HEADER_LEN..])?;
        if quoted_payload.len() < ICMP_QUOTED_MIN {
            return Err(Error::Truncated);
        }
        Ok(IcmpRepr {
            message,
            quoted_header,
            quoted_payload,
        })
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        ICMP_HEADER_LEN + self.quoted_header.header_len() + self.quoted_payload.len()
    }

    /// Writes the message, checksum included; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let total = self.buffer_len();
        if buf.len() < total {
            return Err(Error::Truncated);
        }
        let msg = &mut buf[..total];
        let (ty, code, rest) = match self.message {
            IcmpMessage::DstUnreachable { code, next_hop_mtu } => {
                let m = next_hop_mtu.to_be_bytes();
                (TYPE_DST_UNREACHABLE, code, [0, 0, m[0], m[1]])
            }
            IcmpMessage::TimeExceeded { code } => (TYPE_TIME_EXCEEDED, code, [0; 4]),
        };
        msg[..4].copy_from_slice(&[ty, code, 0, 0]);
        msg[4..8].copy_from_slice(&rest);
        let hl = self.quoted_header.header_len();
        self.quoted_header.emit(&mut msg[ICMP_HEADER_LEN..])?;
        msg[ICMP_HEADER_LEN + hl..].copy_from_slice(self.quoted_payload);
        let c = checksum::checksum(msg);
        msg[2..4].copy_from_slice(&c.to_be_bytes());
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipv4::ip_proto;
    use std::net::Ipv4Addr;

    fn port_unreachable() -> IcmpRepr<'static> {
        IcmpRepr {
            message: IcmpMessage::DstUnreachable {
                code: 3,
                next_hop_mtu: 0,
            },
            quoted_header: Ipv4Repr::new(
                Ipv4Addr::new(10, 0, 0, 1),
                Ipv4Addr::new(10, 0, 0, 2),
                ip_proto::TCP,
                40,
            ),
            quoted_payload: &[0x9c, 0x40, 0, 80, 0, 0, 0, 1],
        }
    }

    #[test]
    fn round_trip() {
        let mut buf = [0u8; 64];
        let n = port_unreachable().emit(&mut buf).unwrap();
        assert_eq!(n, 36);
        assert_eq!(IcmpRepr::parse(&buf[..n]).unwrap(), port_unreachable());
    }

    #[test]
    fn frag_needed_carries_mtu() {
        let mut repr = port_unreachable();
        repr.message = IcmpMessage::DstUnreachable {
            code: 4,
            next_hop_mtu: 1280,
        };
        let mut buf = [0u8; 64];
        let n = repr.emit(&mut buf).unwrap();
        assert_eq!(IcmpPacket::new_checked(&buf[..n]).unwrap().next_hop_mtu(), 1280);
        assert_eq!(IcmpRepr::parse(&buf[..n]).unwrap(), repr);
    }

    #[test]
    fn errors() {
        let mut buf = [0u8; 64];
        let n = port_unreachable().emit(&mut buf).unwrap();
        assert_eq!(IcmpRepr::parse(&buf[..7]).unwrap_err(), Error::Truncated);
        assert_eq!(IcmpRepr::parse(&buf[..n - 1]).unwrap_err(), Error::BadChecksum);
        let mut echo = buf;
        echo[0] = 8;
        echo[2..4].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&echo[..n]);
        echo[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(IcmpRepr::parse(&echo[..n]).unwrap_err(), Error::UnsupportedIcmpType(8));
        // Only four quoted payload bytes: too few for TCP's ports and sequence number.
        let mut short = port_unreachable();
        short.quoted_payload = &[1, 2, 3, 4];
        let n = short.emit(&mut buf).unwrap();
        assert_eq!(IcmpRepr::parse(&buf[..n]).unwrap_err(), Error::Truncated);
    }
}
