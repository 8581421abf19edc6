//! Hosts of the simulation: a stack, or a scripted endpoint whose datagrams a test writes.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use synq_core::{Instant, Stack};
use synq_wire::{Ipv4Repr, TcpRepr};

/// Names a host of a [`crate::Sim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostId(pub(crate) usize);

/// A datagram that reached a scripted endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// When it arrived.
    pub at: Instant,
    /// The IPv4 datagram.
    pub bytes: Vec<u8>,
}

impl Received {
    /// Parses the datagram as IPv4 carrying TCP, checksums verified.
    pub fn tcp(&self) -> Result<(Ipv4Repr, TcpRepr<'_>), synq_wire::Error> {
        let (ip, payload) = Ipv4Repr::parse_bytes(&self.bytes)?;
        Ok((ip, TcpRepr::parse(payload, ip.src_addr, ip.dst_addr)?))
    }
}

pub(crate) enum Endpoint {
    /// A synq stack, and the deadline of the timer event the simulation holds for it.
    Stack { stack: Box<Stack>, armed: Option<Instant> },
    /// A test's hand: datagrams that arrived wait here.
    Scripted { inbox: VecDeque<Received> },
}

pub(crate) struct Host {
    pub name: String,
    pub addrs: Vec<Ipv4Addr>,
    pub endpoint: Endpoint,
}
