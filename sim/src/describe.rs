//! One-line, tcpdump-style descriptions of datagrams for traces and test failures.

use std::net::Ipv4Addr;
use synq_wire::{ip_proto, IcmpMessage, IcmpRepr, Ipv4Repr, TcpRepr};

/// `10.0.0.1:40000 > 10.0.0.2:80: S 7:7(0) win 64240 <mss 1460,...>`, or an ICMP summary, or
/// what is malformed about the bytes.
pub fn describe(datagram: &[u8]) -> String {
    let (ip, payload) = match Ipv4Repr::parse_bytes(datagram) {
        Ok(v) => v,
        Err(e) => return format!("malformed IPv4 ({e}), {} bytes", datagram.len()),
    };
    let (src, dst) = (ip.src_addr, ip.dst_addr);
    if ip.is_fragment() {
        return format!(
            "{src} > {dst}: fragment offset {} (proto {})",
            ip.frag_offset, ip.protocol
        );
    }
    match ip.protocol {
        ip_proto::TCP => match TcpRepr::parse(payload, src, dst) {
            Ok(seg) => format!("{}", Tcp { src, dst, seg: &seg }),
            Err(e) => format!("{src} > {dst}: malformed TCP ({e}), {} bytes", payload.len()),
        },
        ip_proto::ICMP => match IcmpRepr::parse(payload) {
            Ok(icmp) => {
                let what = match icmp.message {
                    IcmpMessage::DstUnreachable { code, next_hop_mtu } => {
                        format!("unreachable code {code} mtu {next_hop_mtu}")
                    }
                    IcmpMessage::TimeExceeded { code } => format!("time exceeded code {code}"),
                };
                format!(
                    "{src} > {dst}: ICMP {what} about {} > {}",
                    icmp.quoted_header.src_addr, icmp.quoted_header.dst_addr
                )
            }
            Err(e) => format!("{src} > {dst}: ICMP ({e})"),
        },
        p => format!("{src} > {dst}: protocol {p}, {} bytes", payload.len()),
    }
}

struct Tcp<'a> {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    seg: &'a TcpRepr<'a>,
}

impl std::fmt::Display for Tcp<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // TcpRepr's Display starts with "sport > dport: "; put the addresses in front of each.
        let text = self.seg.to_string();
        let rest = text.split_once(": ").map_or(text.as_str(), |(_, r)| r);
        write!(
            f,
            "{}:{} > {}:{}: {rest}",
            self.src, self.seg.src_port, self.dst, self.seg.dst_port
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synq_wire::TcpFlags;

    #[test]
    fn describes_tcp_and_malformed() {
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let seg = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: 5,
            flags: TcpFlags::SYN,
            window: 9,
            ..Default::default()
        };
        let buf = seg.to_ipv4_datagram(a, b).unwrap();
        assert_eq!(describe(&buf), "10.0.0.1:1 > 10.0.0.2:2: S 5:5(0) win 9");
        assert_eq!(describe(&buf[..4]), "malformed IPv4 (truncated packet), 4 bytes");
    }
}
