//! IPv4 input: the checks of Linux's `ip_rcv_core` and `ip_local_deliver`. Whatever fails a
//! check is counted and dropped; what passes goes to TCP (`tcp_v4_rcv`) or ICMP (`icmp_rcv`),
//! as [`crate::Stack::receive`] dispatches it.

use crate::base::mib::{Counter, Mib};
use std::net::Ipv4Addr;
use synq_wire::{Error, Ipv4Packet, Ipv4Repr};

/// The synq counter that names a wire error.
fn malformed_counter(e: Error) -> Counter {
    match e {
        Error::Truncated => Counter::SynqInTruncated,
        Error::BadVersion => Counter::SynqInBadVersion,
        Error::BadHeaderLength => Counter::SynqInBadHeaderLen,
        Error::BadTotalLength => Counter::SynqInBadTotalLen,
        Error::BadChecksum => Counter::SynqInBadChecksum,
        Error::BadOptionLength => Counter::SynqInBadOptionLen,
        Error::UnsupportedIcmpType(_) => Counter::SynqInIcmpIgnored,
    }
}

/// Counts a malformed datagram under Linux's counter and synq's own, and drops it.
pub(crate) fn drop_malformed(mib: &mut Mib, linux: Counter, e: Error) {
    tracing::debug!(error = %e, "dropping malformed packet");
    mib.inc(linux);
    mib.inc(malformed_counter(e));
}

/// Sources no packet may come from (`ip_route_input_slow`'s martian checks): this network
/// (0/8), loopback (127/8, from outside), multicast and limited broadcast.
fn is_martian_source(a: Ipv4Addr) -> bool {
    a.octets()[0] == 0 || a.is_loopback() || a.is_multicast() || a.is_broadcast()
}

/// `ip_rcv_core` + `ip_local_deliver` for a host whose addresses `is_local` recognises: the
/// header, its payload and whether it is addressed to us, if the datagram is well formed,
/// for us (or TCP to another unicast address that `divert` takes, header and payload: a
/// TPROXY rule's, `tproxy_tg4`), from a possible source and not a fragment; otherwise it is
/// counted and `None`.
#[inline]
pub(crate) fn ip_rcv<'a>(
    mib: &mut Mib,
    is_local: impl Fn(Ipv4Addr) -> bool,
    divert: impl FnOnce(&Ipv4Repr, &[u8]) -> bool,
    datagram: &'a [u8],
) -> Option<(Ipv4Repr, &'a [u8], bool)> {
    mib.inc(Counter::IpInReceives);
    let packet = match Ipv4Packet::new_checked(datagram) {
        Ok(p) => p,
        Err(e) => {
            let ip = if e == Error::Truncated {
                Counter::IpInTruncatedPkts
            } else {
                Counter::IpInHdrErrors
            };
            drop_malformed(mib, ip, e);
            return None;
        }
    };
    let ip = match Ipv4Repr::parse(&packet) {
        Ok(ip) => ip,
        Err(e) => {
            drop_malformed(mib, Counter::IpInHdrErrors, e);
            return None;
        }
    };
    // The payload as `Ipv4Packet::payload` bounds it, borrowed from the datagram itself.
    let end = usize::from(packet.total_len()).min(datagram.len());
    let payload = &datagram[packet.header_len().min(end)..end];
    let local = is_local(ip.dst_addr);
    let d = ip.dst_addr;
    if !local
        && !(ip.protocol == synq_wire::ip_proto::TCP
            && !(d.octets()[0] == 0 || d.is_loopback() || d.is_multicast() || d.is_broadcast())
            && divert(&ip, payload))
    {
        mib.inc(Counter::IpInAddrErrors);
        return None;
    }
    if is_martian_source(ip.src_addr) {
        mib.inc(Counter::SynqInMartianSource);
        return None;
    }
    if ip.is_fragment() {
        mib.inc(Counter::IpReasmReqds);
        mib.inc(Counter::SynqInFragments);
        return None;
    }
    Some((ip, payload, local))
}
