//! The whole input path: any bytes into `Stack::receive`; whatever the stack sends must be
//! valid IPv4 + TCP.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use synq_core::{Instant, Stack, StackConfig};
use synq_wire::{Ipv4Repr, TcpRepr};

fuzz_target!(|data: &[u8]| {
    let mut stack = Stack::new(StackConfig::new(Ipv4Addr::new(10, 0, 0, 2)));
    stack.receive(Instant::ZERO, data);
    stack.drain_transmit(&mut [0u8; 1500], |d| {
        let (ip, payload) = Ipv4Repr::parse_bytes(d).unwrap();
        TcpRepr::parse(payload, ip.src_addr, ip.dst_addr).unwrap();
    });
});
