//! TCP parser with a fixed pseudo-header: the first two bytes pick whether the checksum is
//! made valid, so that the options parser is reached; a parsed repr re-emits and re-parses to
//! itself, unless its options need more than 40 bytes in Linux's layout (a segment may carry
//! SACK-permitted and four SACK blocks, which Linux never sends together).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use synq_wire::{Error, TcpPacket, TcpRepr};

const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fuzz_target!(|data: &[u8]| {
    let mut seg = data.to_vec();
    if let Ok(mut p) = TcpPacket::new_checked(&mut seg[..]) {
        let _ = (p.options(), p.payload(), p.segment_len());
        if data[0] & 1 == 0 {
            p.fill_checksum(SRC, DST);
        }
    }
    if let Ok(repr) = TcpRepr::parse(&seg, SRC, DST) {
        let mut out = vec![0u8; repr.buffer_len()];
        match repr.emit(&mut out, SRC, DST) {
            Ok(_) => assert_eq!(TcpRepr::parse(&out, SRC, DST).unwrap(), repr),
            Err(e) => assert!(e == Error::BadOptionLength && repr.options.len() > 40),
        }
    }
});
