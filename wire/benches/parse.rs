//! TCP parse + checksum: synq's wire against smoltcp's, on the same segments, in one run.
//!
//! Criterion measures each; the ratio printed at the end is computed from the very samples
//! criterion took (`iter_custom`), so that both figures come from the same run.
//!
//! Run: `cargo bench -p synq-wire --bench parse`

use criterion::{black_box, criterion_group, Criterion};
use std::cell::Cell;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::{Duration, Instant};
use synq_wire::{TcpFlags, TcpOptions, TcpRepr, Timestamp};

const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

fn segment(flags: TcpFlags, options: TcpOptions, payload: &[u8]) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: 1,
        ack: 2,
        flags,
        window: 502,
        urgent: 0,
        options,
        payload,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut buf, SRC, DST).unwrap();
    buf
}

fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let syn = TcpOptions {
        mss: Some(1460),
        sack_permitted: true,
        timestamp: Some(Timestamp { tsval: 1, tsecr: 0 }),
        window_scale: Some(10),
        ..TcpOptions::default()
    };
    let ts = TcpOptions {
        timestamp: Some(Timestamp { tsval: 5, tsecr: 6 }),
        ..TcpOptions::default()
    };
    let payload: Vec<u8> = (0..1448u32).map(|i| i as u8).collect();
    vec![
        ("syn_40B", segment(TcpFlags::SYN, syn, &[])),
        ("ack_ts_32B", segment(TcpFlags::ACK, ts, &[])),
        ("data_1480B", segment(TcpFlags::ACK | TcpFlags::PSH, ts, &payload)),
    ]
}

fn synq_parse(bytes: &[u8]) -> usize {
    let repr = TcpRepr::parse(bytes, SRC, DST).expect("valid");
    repr.payload.len() + usize::from(repr.options.mss.unwrap_or(0))
}

fn smoltcp_parse(bytes: &[u8]) -> usize {
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{IpAddress, TcpPacket};
    let packet = TcpPacket::new_checked(bytes).expect("valid");
    let repr = smoltcp::wire::TcpRepr::parse(
        &packet,
        &IpAddress::Ipv4(SRC),
        &IpAddress::Ipv4(DST),
        &ChecksumCapabilities::default(),
    )
    .expect("valid");
    repr.payload.len() + usize::from(repr.max_seg_size.unwrap_or(0))
}

/// Total (iterations, time) criterion spent in one routine.
type Tally = Rc<Cell<(u64, Duration)>>;

fn measure(c: &mut Criterion, group: &str, name: &str, bytes: &[u8], parse: fn(&[u8]) -> usize) -> Tally {
    let tally: Tally = Rc::default();
    let t = tally.clone();
    c.benchmark_group(group).bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(parse(black_box(bytes)));
            }
            let took = start.elapsed();
            let (n, d) = t.get();
            t.set((n + iters, d + took));
            took
        })
    });
    tally
}

fn per_second(t: &Tally) -> f64 {
    let (n, d) = t.get();
    n as f64 / d.as_secs_f64()
}

fn tcp_parse_checksum(c: &mut Criterion) {
    let mut rows = Vec::new();
    for (name, bytes) in cases() {
        assert_eq!(
            synq_parse(&bytes),
            smoltcp_parse(&bytes),
            "both parsers read {name} alike"
        );
        let group = format!("tcp_parse_checksum/{name}");
        let synq = measure(c, &group, "synq", &bytes, synq_parse);
        let smol = measure(c, &group, "smoltcp", &bytes, smoltcp_parse);
        rows.push((name, per_second(&synq), per_second(&smol)));
    }
    println!("\nTCP parse + checksum, segments/s (same run):");
    println!("{:<12} {:>16} {:>16} {:>8}", "segment", "synq", "smoltcp", "ratio");
    for (name, s, m) in rows {
        println!("{name:<12} {s:>16.0} {m:>16.0} {:>7.2}x", s / m);
    }
}

criterion_group!(benches, tcp_parse_checksum);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
