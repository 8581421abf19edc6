//! TCP options parser and iterator; parsed options re-emit and re-parse to themselves.
#![no_main]
use libfuzzer_sys::fuzz_target;
use synq_wire::{TcpOptions, TcpOptionsIter};

fuzz_target!(|data: &[u8]| {
    for option in TcpOptionsIter::new(data) {
        let _ = option;
    }
    if let Ok(options) = TcpOptions::parse(data) {
        let mut buf = [0u8; 64];
        if let Ok(n) = options.emit(&mut buf) {
            assert_eq!(TcpOptions::parse(&buf[..n]).unwrap(), options);
        }
    }
});
