//! IPv4: input (`ip_rcv`, `ip_local_deliver`) and ICMP errors to TCP (`icmp_unreach`).

pub(crate) mod icmp;
pub(crate) mod input;
pub(crate) mod output;
