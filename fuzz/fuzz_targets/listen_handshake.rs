//! A listener under arbitrary well-formed segments: SYNs, ACKs (some aimed at the SYN-ACKs it
//! sent), resets, data, FINs, with time passing, and accept(), send(), recv(), shutdown() and
//! close() on the children in between. Whatever happens, no panic, and everything the stack
//! sends is valid IPv4 + TCP.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::net::{Ipv4Addr, SocketAddrV4};
use synq_core::consts::{AF_INET, SOCK_STREAM, SOL_TCP, TCP_DEFER_ACCEPT};
use synq_core::{Duration, Instant, Stack, StackConfig};
use synq_wire::{ip_proto, Ipv4Repr, TcpPacket, TcpRepr, IPV4_HEADER_LEN};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let mut stack = Stack::new(StackConfig::new(SERVER));
    stack.sysctl.tcp_syncookies = mode % 3;
    stack.sysctl.tcp_abort_on_overflow = (mode >> 2) & 1;
    let l = stack.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    if mode & 0x80 != 0 {
        stack
            .setsockopt(l, SOL_TCP, TCP_DEFER_ACCEPT, &2i32.to_ne_bytes())
            .unwrap();
    }
    stack.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8080)).unwrap();
    stack.listen(l, i32::from((mode >> 3) & 7)).unwrap();
    let mut now = Instant::ZERO;
    let mut last_synack = [0u32; 4];
    let mut buf = [0u8; 1500];
    let mut children = Vec::new();
    while rest.len() >= 14 {
        let (h, tail) = rest.split_at(14);
        let flags = h[0];
        let mut seq = u32::from_be_bytes([h[1], h[2], h[3], h[4]]);
        let mut ack = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
        let window = u16::from_be_bytes([h[9], h[10]]);
        let client = usize::from(h[11] & 3);
        let optlen = usize::from(h[12] % 11) * 4;
        let paylen = usize::from(h[13] % 64);
        if tail.len() < optlen + paylen {
            break;
        }
        let (opts, tail) = tail.split_at(optlen);
        let (payload, tail) = tail.split_at(paylen);
        rest = tail;
        if h[11] & 0x04 != 0 {
            // Aim at the SYN-ACK this client got: small offsets around the right numbers.
            ack = last_synack[client].wrapping_add(1).wrapping_add(u32::from(h[8] & 3));
            seq = 1001u32.wrapping_add(u32::from(h[4] & 3));
        }
        // A raw segment: header, the fuzzer's option bytes, payload; checksums filled in.
        let tcp_len = 20 + optlen + paylen;
        let mut d = vec![0u8; IPV4_HEADER_LEN + tcp_len];
        Ipv4Repr::new(CLIENT, SERVER, ip_proto::TCP, tcp_len)
            .emit(&mut d)
            .unwrap();
        let t = &mut d[IPV4_HEADER_LEN..];
        t[0..2].copy_from_slice(&(40000 + client as u16).to_be_bytes());
        t[2..4].copy_from_slice(&8080u16.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&ack.to_be_bytes());
        t[12] = ((20 + optlen) / 4 << 4) as u8;
        t[13] = flags;
        t[14..16].copy_from_slice(&window.to_be_bytes());
        t[20..20 + optlen].copy_from_slice(opts);
        t[20 + optlen..].copy_from_slice(payload);
        TcpPacket::new_checked(&mut *t).unwrap().fill_checksum(CLIENT, SERVER);
        stack.receive(now, &d);
        let then = now;
        now = now + Duration::from_millis(u64::from(h[10]) * 16);
        let mut saw = |d: &[u8]| {
            let (ip, payload) = Ipv4Repr::parse_bytes(d).unwrap();
            let seg = TcpRepr::parse(payload, ip.src_addr, ip.dst_addr).unwrap();
            if seg.flags.syn() && seg.flags.ack() {
                last_synack[usize::from(seg.dst_port.wrapping_sub(40000) & 3)] = seg.seq;
            }
        };
        stack.drain_transmit(&mut buf, &mut saw);
        stack.run_until(then, now, &mut buf, |_, d| saw(d));
        if h[12] & 0x80 != 0 {
            if let Ok((child, _)) = stack.accept(l) {
                children.push(child);
            }
        }
        if h[12] & 0x40 != 0 && !children.is_empty() {
            let i = usize::from(h[9]) % children.len();
            let fd = children[i];
            match h[9] >> 6 {
                0 => drop(stack.send(now, fd, payload)),
                1 => drop(stack.recv(now, fd, &mut [0u8; 100])),
                2 => drop(stack.shutdown(now, fd, i32::from(h[9] & 3))),
                _ => {
                    stack.close(now, children.swap_remove(i)).unwrap();
                }
            }
            let _ = stack.poll(fd);
        }
    }
});
