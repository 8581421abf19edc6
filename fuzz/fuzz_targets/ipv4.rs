//! IPv4 parser: checked view, repr, quoted-header parse; a parsed repr re-emits and re-parses
//! to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use synq_wire::{Ipv4Packet, Ipv4Repr};

fuzz_target!(|data: &[u8]| {
    let _ = Ipv4Repr::parse_quoted(data);
    if let Ok(p) = Ipv4Packet::new_checked(data) {
        let _ = (p.options(), p.payload(), p.is_fragment(), p.verify_checksum());
    }
    if let Ok((repr, payload)) = Ipv4Repr::parse_bytes(data) {
        assert_eq!(repr.payload_len, payload.len());
        let mut buf = vec![0u8; 20 + repr.payload_len];
        repr.emit(&mut buf).unwrap();
        assert_eq!(Ipv4Repr::parse_bytes(&buf).unwrap().0, repr);
    }
});
