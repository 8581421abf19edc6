//! Property tests: `emit(repr)` then `parse` gives `repr` back over every option combination,
//! and random bytes into every parser never panic.

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use std::net::Ipv4Addr;
use synq_wire::*;

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn options() -> impl Strategy<Value = TcpOptions> {
    (
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u8>()),
        any::<bool>(),
        proptest::option::of((any::<u32>(), any::<u32>())),
        proptest::collection::vec((any::<u32>(), any::<u32>()), 0..=4),
    )
        .prop_map(|(mss, window_scale, sack_permitted, ts, blocks)| {
            let mut o = TcpOptions {
                mss,
                window_scale,
                sack_permitted,
                timestamp: ts.map(|(tsval, tsecr)| Timestamp { tsval, tsecr }),
                sack_blocks: SackBlocks::EMPTY,
            };
            for (l, r) in blocks {
                // Keep only what fits in 40 bytes, as a sender must.
                let mut grown = o;
                grown.sack_blocks.push(l, r);
                if grown.len() <= TCP_MAX_OPTIONS_LEN {
                    o = grown;
                }
            }
            o
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, rng_seed: RngSeed::Fixed(0x5eed), ..ProptestConfig::default() })]

    #[test]
    fn tcp_emit_then_parse_is_identity(
        src in addr(), dst in addr(),
        src_port in any::<u16>(), dst_port in any::<u16>(),
        seq in any::<u32>(), ack in any::<u32>(),
        flags in 0u16..0x200, window in any::<u16>(), urgent in any::<u16>(),
        options in options(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let repr = TcpRepr { src_port, dst_port, seq, ack, flags: TcpFlags(flags), window, urgent, options, payload: &payload };
        let mut buf = vec![0u8; repr.buffer_len()];
        let n = repr.emit(&mut buf, src, dst).unwrap();
        prop_assert_eq!(n, buf.len());
        prop_assert_eq!(TcpRepr::parse(&buf, src, dst).unwrap(), repr);
    }

    #[test]
    fn ipv4_emit_then_parse_is_identity(
        src in addr(), dst in addr(), protocol in any::<u8>(), ttl in any::<u8>(), tos in any::<u8>(),
        ident in any::<u16>(), dont_frag in any::<bool>(), more_frags in any::<bool>(),
        frag_units in 0u16..0x2000, payload_len in 0usize..100,
    ) {
        let repr = Ipv4Repr {
            src_addr: src, dst_addr: dst, protocol, payload_len, ttl, tos, ident, dont_frag, more_frags,
            frag_offset: frag_units << 3,
        };
        let mut buf = vec![0u8; 20 + payload_len];
        repr.emit(&mut buf).unwrap();
        let (parsed, payload) = Ipv4Repr::parse_bytes(&buf).unwrap();
        prop_assert_eq!(parsed, repr);
        prop_assert_eq!(payload.len(), payload_len);
    }

    #[test]
    fn icmp_emit_then_parse_is_identity(
        unreachable in any::<bool>(), code in any::<u8>(), mtu in any::<u16>(),
        src in addr(), dst in addr(), original_len in 8usize..2000,
        quoted in proptest::collection::vec(any::<u8>(), 8..40),
    ) {
        let message = if unreachable {
            IcmpMessage::DstUnreachable { code, next_hop_mtu: mtu }
        } else {
            IcmpMessage::TimeExceeded { code }
        };
        let repr = IcmpRepr { message, quoted_header: Ipv4Repr::new(src, dst, ip_proto::TCP, original_len), quoted_payload: &quoted };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf).unwrap();
        let parsed = IcmpRepr::parse(&buf).unwrap();
        // Time-exceeded has no MTU field: it reads back as sent because emit zeroes it.
        prop_assert_eq!(parsed, repr);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128), src in addr(), dst in addr()) {
        let _ = Ipv4Repr::parse_bytes(&bytes);
        let _ = Ipv4Repr::parse_quoted(&bytes);
        let _ = TcpRepr::parse(&bytes, src, dst);
        let _ = TcpOptions::parse(&bytes);
        let _ = IcmpRepr::parse(&bytes);
        if let Ok(p) = TcpPacket::new_checked(&bytes[..]) {
            let _ = (p.options(), p.payload(), p.segment_len(), p.flags());
            for o in TcpOptionsIter::new(p.options()) { let _ = o; }
        }
        if let Ok(p) = Ipv4Packet::new_checked(&bytes[..]) {
            let _ = (p.options(), p.payload(), p.is_fragment());
        }
    }

    /// Random bytes dressed with a valid IPv4 header and a valid TCP checksum reach the options
    /// parser, which a random checksum would almost never let them do.
    #[test]
    fn random_tcp_headers_with_valid_checksum_never_panic(mut seg in proptest::collection::vec(any::<u8>(), 20..80)) {
        let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let off = 5 + (seg[12] >> 4) % 11;
        seg[12] = (off << 4) | (seg[12] & 0x0f);
        if usize::from(off) * 4 <= seg.len() {
            TcpPacket::new_unchecked(&mut seg[..]).fill_checksum(src, dst);
            match TcpRepr::parse(&seg, src, dst) {
                Ok(_) | Err(Error::BadOptionLength) => {}
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
    }
}
