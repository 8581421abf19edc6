//! ICMP error parser; a parsed repr re-emits and re-parses to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use synq_wire::{IcmpPacket, IcmpRepr};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = IcmpPacket::new_checked(data) {
        let _ = (p.msg_type(), p.next_hop_mtu(), p.data(), p.verify_checksum());
    }
    if let Ok(repr) = IcmpRepr::parse(data) {
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf).unwrap();
        assert_eq!(IcmpRepr::parse(&buf).unwrap(), repr);
    }
});
