//! IPv4 input: the checks of Linux's `ip_rcv_core` and `ip_local_deliver`, then the hand-off
//! to TCP (`tcp_v4_rcv`) or ICMP (`icmp_rcv`). Whatever fails a check is counted and dropped.

use crate::base::mib::Counter;
use crate::base::time::Instant;
use crate::stack::Stack;
use std::net::Ipv4Addr;
use synq_wire::{ip_proto, Error, Ipv4Packet, Ipv4Repr};

/// The synq counter that names a wire error.
pub(crate) fn malformed_counter(e: Error) -> Counter {
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

/// Sources no packet may come from (`ip_route_input_slow`'s martian checks): this network
/// (0/8), loopback (127/8, from outside), multicast and limited broadcast.
fn is_martian_source(a: Ipv4Addr) -> bool {
    a.octets()[0] == 0 || a.is_loopback() || a.is_multicast() || a.is_broadcast()
}

impl Stack {
    /// Takes one inbound IPv4 datagram (`ip_rcv`). Never panics, whatever the bytes.
    pub fn receive(&mut self, now: Instant, datagram: &[u8]) {
        self.mib.inc(Counter::IpInReceives);
        let packet = match Ipv4Packet::new_checked(datagram) {
            Ok(p) => p,
            Err(e) => {
                let ip = if e == Error::Truncated {
                    Counter::IpInTruncatedPkts
                } else {
                    Counter::IpInHdrErrors
                };
                return self.drop_malformed(ip, e);
            }
        };
        let ip = match Ipv4Repr::parse(&packet) {
            Ok(ip) => ip,
            Err(e) => return self.drop_malformed(Counter::IpInHdrErrors, e),
        };
        if !self.is_local(ip.dst_addr) {
            self.mib.inc(Counter::IpInAddrErrors);
            return;
        }
        if is_martian_source(ip.src_addr) {
            self.mib.inc(Counter::SynqInMartianSource);
            return;
        }
        if ip.is_fragment() {
            self.mib.inc(Counter::IpReasmReqds);
            self.mib.inc(Counter::SynqInFragments);
            return;
        }
        let payload = packet.payload();
        match ip.protocol {
            ip_proto::TCP => {
                self.mib.inc(Counter::IpInDelivers);
                self.tcp_v4_rcv(now, &ip, payload);
            }
            ip_proto::ICMP => {
                self.mib.inc(Counter::IpInDelivers);
                self.icmp_rcv(now, payload);
            }
            _ => self.mib.inc(Counter::IpInUnknownProtos),
        }
    }

    /// Counts a malformed datagram under Linux's counter and synq's own, and drops it.
    pub(crate) fn drop_malformed(&mut self, linux: Counter, e: Error) {
        tracing::debug!(error = %e, "dropping malformed packet");
        self.mib.inc(linux);
        self.mib.inc(malformed_counter(e));
    }
}
