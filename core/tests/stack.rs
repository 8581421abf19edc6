//! The stack skeleton: socket-call surface, input validation and the no-socket reset.

use std::net::{Ipv4Addr, SocketAddrV4};
use synq_core::consts::*;
use synq_core::{Counter, Errno, Instant, SocketId, Stack, StackConfig};
use synq_wire::{ip_proto, Ipv4Packet, Ipv4Repr, TcpFlags, TcpOptions, TcpRepr, Timestamp, IPV4_HEADER_LEN};

const HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

fn stack() -> Stack {
    Stack::new(StackConfig::new(HOST))
}

fn datagram(src: Ipv4Addr, dst: Ipv4Addr, seg: &TcpRepr<'_>) -> Vec<u8> {
    let ip = Ipv4Repr::new(src, dst, ip_proto::TCP, seg.buffer_len());
    let mut buf = vec![0u8; IPV4_HEADER_LEN + seg.buffer_len()];
    ip.emit(&mut buf).unwrap();
    seg.emit(&mut buf[IPV4_HEADER_LEN..], src, dst).unwrap();
    buf
}

fn syn() -> TcpRepr<'static> {
    TcpRepr {
        src_port: 40000,
        dst_port: 8080,
        seq: 7,
        flags: TcpFlags::SYN,
        window: 64240,
        options: TcpOptions {
            mss: Some(1460),
            sack_permitted: true,
            timestamp: Some(Timestamp { tsval: 1, tsecr: 0 }),
            window_scale: Some(10),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn transmitted(stack: &mut Stack) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    stack.drain_transmit(&mut [0u8; 1500], |d| out.push(d.to_vec()));
    out
}

#[test]
fn socket_checks_in_linux_order() {
    let mut s = stack();
    assert_eq!(
        s.socket(AF_INET, SOCK_STREAM | 0o100, 0),
        Err(Errno::EINVAL),
        "unknown type flag"
    );
    assert_eq!(s.socket(77, SOCK_STREAM, 0), Err(Errno::EAFNOSUPPORT));
    assert_eq!(
        s.socket(AF_INET6, SOCK_STREAM, 0),
        Err(Errno::EAFNOSUPPORT),
        "IPv4 only"
    );
    assert_eq!(s.socket(AF_INET, 12, 0), Err(Errno::EINVAL), "type beyond SOCK_MAX");
    assert_eq!(s.socket(AF_INET, SOCK_SEQPACKET, 0), Err(Errno::ESOCKTNOSUPPORT));
    assert_eq!(s.socket(AF_INET, SOCK_STREAM, 17), Err(Errno::EPROTONOSUPPORT));
    let fd = s
        .socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP)
        .unwrap();
    assert_eq!(fd.raw(), 3, "the first handle is 3, like the first free fd");
}

#[test]
fn fresh_socket_state_matches_linux() {
    let mut s = stack();
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(s.getsockname(fd), Ok(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)));
    assert_eq!(s.getpeername(fd), Err(Errno::ENOTCONN));
    // Linux's tcp_poll on a new socket: POLLOUT | POLLWRNORM | POLLHUP (0x114).
    assert_eq!(s.poll(fd), Ok(0x114));
    let mut v = [0u8; 4];
    assert_eq!(s.getsockopt(fd, SOL_SOCKET, SO_TYPE, &mut v), Ok(4));
    assert_eq!(i32::from_ne_bytes(v), SOCK_STREAM);
    assert_eq!(s.getsockopt(fd, SOL_SOCKET, SO_ERROR, &mut v), Ok(4));
    assert_eq!(i32::from_ne_bytes(v), 0);
}

#[test]
fn flag_options_round_trip_with_linux_errors() {
    let mut s = stack();
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    for (level, name) in [
        (SOL_SOCKET, SO_REUSEADDR),
        (SOL_SOCKET, SO_REUSEPORT),
        (SOL_SOCKET, SO_KEEPALIVE),
        (SOL_TCP, TCP_NODELAY),
    ] {
        let mut v = [0u8; 4];
        s.getsockopt(fd, level, name, &mut v).unwrap();
        assert_eq!(i32::from_ne_bytes(v), 0);
        s.setsockopt(fd, level, name, &5i32.to_ne_bytes()).unwrap();
        s.getsockopt(fd, level, name, &mut v).unwrap();
        assert_eq!(i32::from_ne_bytes(v), 1, "any non-zero value reads back as 1");
    }
    assert_eq!(
        s.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &[1, 0]),
        Err(Errno::EINVAL),
        "short optlen"
    );
    assert_eq!(
        s.setsockopt(fd, SOL_SOCKET, SO_TYPE, &1i32.to_ne_bytes()),
        Err(Errno::ENOPROTOOPT)
    );
    assert_eq!(s.setsockopt(fd, 999, 1, &1i32.to_ne_bytes()), Err(Errno::ENOPROTOOPT));
    assert_eq!(
        s.setsockopt(fd, SOL_TCP, 9999, &1i32.to_ne_bytes()),
        Err(Errno::ENOPROTOOPT)
    );
    let mut one = [0u8; 1];
    assert_eq!(
        s.getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &mut one),
        Ok(1),
        "truncated like Linux"
    );
}

#[test]
fn calls_on_an_unconnected_socket() {
    let mut s = stack();
    let now = Instant::ZERO;
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    // tcp_sendmsg → sk_stream_wait_connect: EPIPE; tcp_recvmsg on TCP_CLOSE: ENOTCONN.
    assert_eq!(s.send(now, fd, b"x"), Err(Errno::EPIPE));
    assert_eq!(s.recv(now, fd, &mut [0; 4]), Err(Errno::ENOTCONN));
    assert_eq!(s.shutdown(now, fd, SHUT_WR), Err(Errno::ENOTCONN), "not connected");
    let io: std::io::Error = Errno::ENOSYS.into();
    assert_eq!(io.kind(), std::io::ErrorKind::Unsupported);
}

#[test]
fn bad_handles_are_ebadf() {
    let mut s = stack();
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    s.close(Instant::ZERO, fd).unwrap();
    assert_eq!(s.close(Instant::ZERO, fd), Err(Errno::EBADF));
    assert_eq!(s.bind(fd, SocketAddrV4::new(HOST, 1)), Err(Errno::EBADF));
    assert_eq!(s.listen(fd, 1), Err(Errno::EBADF));
    assert_eq!(s.getsockname(SocketId::from_raw(0)), Err(Errno::EBADF));
    assert_eq!(s.poll(SocketId::from_raw(1000)), Err(Errno::EBADF));
}

#[test]
fn syn_to_closed_port_gets_linux_reset() {
    let mut s = stack();
    s.receive(Instant::ZERO, &datagram(PEER, HOST, &syn()));
    let out = transmitted(&mut s);
    assert_eq!(out.len(), 1);
    let (ip, payload) = Ipv4Repr::parse_bytes(&out[0]).unwrap();
    assert_eq!(
        (ip.src_addr, ip.dst_addr, ip.ttl, ip.dont_frag, ip.ident),
        (HOST, PEER, 64, true, 0)
    );
    let rst = TcpRepr::parse(payload, ip.src_addr, ip.dst_addr).unwrap();
    assert_eq!((rst.src_port, rst.dst_port), (8080, 40000));
    assert_eq!(
        (rst.seq, rst.ack, rst.flags, rst.window),
        (0, 8, TcpFlags::RST | TcpFlags::ACK, 0)
    );
    assert!(rst.options.is_empty());
    assert_eq!(s.mib().get(Counter::TcpOutRsts), 1);
    assert_eq!(s.mib().get(Counter::TcpInSegs), 1);
}

#[test]
fn reset_follows_ip_default_ttl_and_clears_ecn() {
    let mut s = stack();
    s.sysctl.set("net.ipv4.ip_default_ttl", "100").unwrap();
    let mut d = datagram(PEER, HOST, &syn());
    d[1] = 0xb9; // DSCP 46 with ECT(1)
    Ipv4Packet::new_unchecked(&mut d[..]).fill_checksum();
    s.receive(Instant::ZERO, &d);
    let out = transmitted(&mut s);
    let (ip, _) = Ipv4Repr::parse_bytes(&out[0]).unwrap();
    assert_eq!((ip.ttl, ip.tos), (100, 0xb8));
}

#[test]
fn no_reply_to_reset_or_foreign_or_martian_packets() {
    let mut s = stack();
    let rst = TcpRepr {
        flags: TcpFlags::RST,
        ..syn()
    };
    s.receive(Instant::ZERO, &datagram(PEER, HOST, &rst));
    s.receive(Instant::ZERO, &datagram(PEER, Ipv4Addr::new(192, 0, 2, 99), &syn()));
    s.receive(Instant::ZERO, &datagram(Ipv4Addr::BROADCAST, HOST, &syn()));
    s.receive(Instant::ZERO, &datagram(Ipv4Addr::new(0, 0, 0, 0), HOST, &syn()));
    s.receive(Instant::ZERO, &datagram(Ipv4Addr::new(224, 0, 0, 1), HOST, &syn()));
    assert!(transmitted(&mut s).is_empty());
    assert_eq!(s.mib().get(Counter::IpInAddrErrors), 1);
    assert_eq!(s.mib().get(Counter::SynqInMartianSource), 3);
}

#[test]
fn malformed_input_is_counted_and_dropped() {
    let mut s = stack();
    let good = datagram(PEER, HOST, &syn());
    let mut bad_tcp_sum = good.clone();
    let last = bad_tcp_sum.len() - 1;
    bad_tcp_sum[last] ^= 1; // the last option byte: IP header stays valid
    let mut bad_ip_sum = good.clone();
    bad_ip_sum[8] = 1; // TTL changed, checksum not
    let mut fragment = good.clone();
    fragment[6] = 0x20; // MF
    Ipv4Packet::new_unchecked(&mut fragment[..]).fill_checksum();
    let mut bad_offset = good.clone();
    bad_offset[IPV4_HEADER_LEN + 12] = 0xf0; // data offset 60 > segment
    let mut bad_option = good.clone();
    bad_option[IPV4_HEADER_LEN + 21] = 0; // MSS option length 0
    synq_wire::TcpPacket::new_unchecked(&mut bad_option[IPV4_HEADER_LEN..]).fill_checksum(PEER, HOST);
    let mut udp = good.clone();
    udp[9] = ip_proto::UDP;
    Ipv4Packet::new_unchecked(&mut udp[..]).fill_checksum();

    for d in [
        &good[..10],
        &bad_tcp_sum,
        &bad_ip_sum,
        &fragment,
        &bad_offset,
        &bad_option,
        &udp,
    ] {
        s.receive(Instant::ZERO, d);
    }
    assert!(transmitted(&mut s).is_empty(), "nothing malformed is answered");
    let m = s.mib();
    assert_eq!(m.get(Counter::IpInReceives), 7);
    assert_eq!(m.get(Counter::IpInTruncatedPkts), 1);
    assert_eq!(m.get(Counter::SynqInTruncated), 1);
    assert_eq!(m.get(Counter::IpInHdrErrors), 1);
    assert_eq!(m.get(Counter::TcpInCsumErrors), 1);
    assert_eq!(m.get(Counter::SynqInBadChecksum), 2);
    assert_eq!(m.get(Counter::SynqInFragments), 1);
    assert_eq!(m.get(Counter::SynqInBadHeaderLen), 1);
    assert_eq!(m.get(Counter::SynqInBadOptionLen), 1);
    assert_eq!(m.get(Counter::TcpInErrs), 3);
    assert_eq!(m.get(Counter::IpInUnknownProtos), 1);
}

#[test]
fn icmp_errors_are_counted_by_type() {
    use synq_wire::{IcmpMessage, IcmpRepr};
    let mut s = stack();
    let quoted = Ipv4Repr::new(HOST, PEER, ip_proto::TCP, 40);
    for message in [
        IcmpMessage::DstUnreachable {
            code: 3,
            next_hop_mtu: 0,
        },
        IcmpMessage::TimeExceeded { code: 0 },
    ] {
        let icmp = IcmpRepr {
            message,
            quoted_header: quoted,
            quoted_payload: &[0x1f, 0x90, 0x9c, 0x40, 0, 0, 0, 1],
        };
        let ip = Ipv4Repr::new(PEER, HOST, ip_proto::ICMP, icmp.buffer_len());
        let mut buf = vec![0u8; IPV4_HEADER_LEN + icmp.buffer_len()];
        ip.emit(&mut buf).unwrap();
        icmp.emit(&mut buf[IPV4_HEADER_LEN..]).unwrap();
        s.receive(Instant::ZERO, &buf);
    }
    assert_eq!(s.mib().get(Counter::IcmpInDestUnreachs), 1);
    assert_eq!(s.mib().get(Counter::IcmpInTimeExcds), 1);
    assert!(transmitted(&mut s).is_empty());
}

#[test]
fn short_transmit_buffer_drops_and_counts() {
    let mut s = stack();
    s.receive(Instant::ZERO, &datagram(PEER, HOST, &syn()));
    assert_eq!(s.poll_transmit(&mut [0u8; 10]), None);
    assert_eq!(s.mib().get(Counter::IpOutDiscards), 1);
}

#[test]
fn timeouts_are_empty_until_timers_exist() {
    let mut s = stack();
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(Instant::from_secs(1));
}

mod fuzz_like {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::RngSeed;

    proptest! {

        #![proptest_config(ProptestConfig { rng_seed: RngSeed::Fixed(0x5eed), ..ProptestConfig::default() })]
        /// Random datagrams, some with a valid IPv4 header, never panic the stack, and any
        /// reply is a well-formed reset to the sender.
        #[test]
        fn random_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100), fix_ip in any::<bool>()) {
            let mut s = stack();
            let mut d = bytes;
            if fix_ip && d.len() >= 20 {
                let payload = d.len() - 20;
                Ipv4Repr::new(PEER, HOST, ip_proto::TCP, payload).emit(&mut d).unwrap();
                if payload >= 20 {
                    synq_wire::TcpPacket::new_unchecked(&mut d[20..]).fill_checksum(PEER, HOST);
                }
            }
            s.receive(Instant::ZERO, &d);
            for out in transmitted(&mut s) {
                let (ip, payload) = Ipv4Repr::parse_bytes(&out).unwrap();
                prop_assert_eq!(ip.dst_addr, PEER);
                let rst = TcpRepr::parse(payload, ip.src_addr, ip.dst_addr).unwrap();
                prop_assert!(rst.flags.rst());
            }
        }
    }
}
