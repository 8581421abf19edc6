//! Wire formats of synq: zero-copy views over packet bytes and plain `Repr` structs.
//!
//! Each protocol has two halves, in the manner of smoltcp's `wire` module:
//! - a *view* (`Ipv4Packet<T>`, `TcpPacket<T>`, `IcmpPacket<T>`) over any `T: AsRef<[u8]>`,
//!   whose `new_checked` validates lengths once so that every accessor is then in bounds;
//! - a *repr* (`Ipv4Repr`, `TcpRepr`, `IcmpRepr`): the header as plain values, with `parse`
//!   (validating, checksum included) and `emit` (writing, checksum included).
//!
//! Nothing here panics on any input: malformed bytes give a typed [`Error`].

mod checksum;
mod error;
mod icmp;
mod ipv4;
mod tcp;
mod tcp_options;

pub use checksum::{checksum, fold, pseudo_header_sum, sum};
pub use error::{Error, Result};
pub use icmp::{IcmpMessage, IcmpPacket, IcmpRepr, ICMP_HEADER_LEN, ICMP_QUOTED_MIN};
pub use ipv4::{ip_proto, Ipv4Packet, Ipv4Repr, IPV4_HEADER_LEN};
pub use tcp::{TcpFlags, TcpPacket, TcpRepr, TCP_HEADER_LEN};
pub use tcp_options::{SackBlocks, TcpOption, TcpOptions, TcpOptionsIter, Timestamp, TCP_MAX_OPTIONS_LEN};
