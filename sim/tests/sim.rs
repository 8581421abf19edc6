//! The simulator: timing, impairment rates, determinism, capture.

use std::net::Ipv4Addr;
use synq_core::{Counter, Duration, Instant, StackConfig};
use synq_sim::{LinkConfig, Sim, TraceFate};
use synq_wire::{TcpFlags, TcpRepr};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn probe(i: u32) -> TcpRepr<'static> {
    TcpRepr {
        src_port: 1000,
        dst_port: 2000,
        seq: i,
        flags: TcpFlags::ACK,
        window: 1000,
        ..Default::default()
    }
}

/// Two scripted hosts; `n` segments from A to B, 1 ms apart; returns the sim and link.
fn blast(seed: u64, cfg: LinkConfig, n: u32) -> (Sim, synq_sim::LinkId, synq_sim::HostId) {
    let mut sim = Sim::new(seed);
    let a = sim.add_scripted("a", A);
    let b = sim.add_scripted("b", B);
    let link = sim.connect(a, b, cfg);
    for i in 0..n {
        sim.send_tcp(a, B, &probe(i));
        sim.run_for(Duration::from_millis(1));
    }
    sim.run_for(Duration::from_secs(10));
    (sim, link, b)
}

#[test]
fn delay_is_exact_in_virtual_time() {
    let (mut sim, _, b) = blast(1, LinkConfig::with_delay(Duration::from_millis(25)), 3);
    let arrivals: Vec<Instant> = std::iter::from_fn(|| sim.recv(b)).map(|r| r.at).collect();
    assert_eq!(
        arrivals,
        vec![
            Instant::from_millis(25),
            Instant::from_millis(26),
            Instant::from_millis(27)
        ]
    );
}

#[test]
fn loss_duplication_and_reordering_rates_are_within_tolerance() {
    let n = 10_000u32;
    let cfg = LinkConfig {
        delay: Duration::from_millis(10),
        loss: 0.1,
        duplicate: 0.05,
        reorder: 0.2,
        reorder_delay: Duration::from_millis(3),
        ..LinkConfig::default()
    };
    let (mut sim, link, b) = blast(7, cfg, n);
    let stats = sim.link_stats(link);
    let rate = |x: u64, of: u64| x as f64 / of as f64;
    // Tolerances are about 4 standard deviations of each binomial count.
    assert!((rate(stats.lost, u64::from(n)) - 0.1).abs() < 0.012, "{stats:?}");
    let kept = stats.sent - stats.lost;
    assert!((rate(stats.duplicated, kept) - 0.05).abs() < 0.01, "{stats:?}");
    assert!(
        (rate(stats.reordered, kept + stats.duplicated) - 0.2).abs() < 0.02,
        "{stats:?}"
    );
    assert_eq!(stats.delivered, kept + stats.duplicated);
    // Reordering is visible to the receiver: sequence numbers arrive out of order.
    let seqs: Vec<u32> = std::iter::from_fn(|| sim.recv(b))
        .map(|r| r.tcp().unwrap().1.seq)
        .collect();
    assert_eq!(seqs.len() as u64, stats.delivered);
    let inversions = seqs.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(inversions > 1000, "{inversions} inversions");
}

#[test]
fn bandwidth_limit_serialises_datagrams() {
    let mut sim = Sim::new(3);
    let a = sim.add_scripted("a", A);
    let b = sim.add_scripted("b", B);
    // 40-byte datagrams at 320 kbit/s take exactly 1 ms each.
    sim.connect(
        a,
        b,
        LinkConfig {
            bandwidth_bps: Some(320_000),
            ..LinkConfig::default()
        },
    );
    for i in 0..3 {
        sim.send_tcp(a, B, &probe(i));
    }
    sim.run_for(Duration::from_secs(1));
    let arrivals: Vec<Instant> = std::iter::from_fn(|| sim.recv(b)).map(|r| r.at).collect();
    assert_eq!(
        arrivals,
        vec![
            Instant::from_millis(1),
            Instant::from_millis(2),
            Instant::from_millis(3)
        ]
    );
}

#[test]
fn same_seed_same_pcap_byte_for_byte() {
    let cfg = LinkConfig {
        delay: Duration::from_millis(5),
        jitter: Duration::from_millis(3),
        loss: 0.2,
        duplicate: 0.2,
        reorder: 0.2,
        ..LinkConfig::default()
    };
    let run = |seed| {
        let mut sim = Sim::new(seed);
        let a = sim.add_scripted("a", A);
        let b = sim.add_stack("b", StackConfig::new(B));
        let link = sim.connect(a, b, cfg.clone());
        for i in 0..200 {
            sim.send_tcp(
                a,
                B,
                &TcpRepr {
                    flags: TcpFlags::SYN,
                    ..probe(i)
                },
            );
            sim.run_for(Duration::from_micros(700));
        }
        sim.run_for(Duration::from_secs(1));
        let received: Vec<_> = std::iter::from_fn(|| sim.recv(a)).collect();
        (sim.pcap(link), received)
    };
    let (p1, r1) = run(99);
    let (p2, r2) = run(99);
    let (p3, _) = run(100);
    assert_eq!(p1, p2, "same seed, same pcap");
    assert_eq!(r1, r2, "same seed, same arrivals");
    assert_ne!(p1, p3, "another seed, another run");
    // pcap header: nanosecond magic, little-endian; LINKTYPE_IPV4.
    assert_eq!(&p1[..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
    assert_eq!(u32::from_le_bytes(p1[20..24].try_into().unwrap()), 228);
}

#[test]
fn stack_host_answers_scripted_syn_with_reset_after_round_trip() {
    let mut sim = Sim::new(5);
    sim.enable_trace();
    let client = sim.add_scripted("client", A);
    let server = sim.add_stack("server", StackConfig::new(B));
    sim.connect(client, server, LinkConfig::with_delay(Duration::from_millis(10)));
    let syn = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: 100,
        flags: TcpFlags::SYN,
        window: 64240,
        ..Default::default()
    };
    sim.send_tcp(client, B, &syn);
    sim.run_for(Duration::from_secs(1));
    let reply = sim.recv(client).expect("a reset");
    assert_eq!(reply.at, Instant::from_millis(20));
    let (ip, rst) = reply.tcp().unwrap();
    assert_eq!((ip.src_addr, rst.src_port, rst.dst_port), (B, 80, 40000));
    assert_eq!((rst.flags, rst.seq, rst.ack), (TcpFlags::RST | TcpFlags::ACK, 0, 101));
    assert_eq!(sim.stack(server).mib().get(Counter::TcpOutRsts), 1);
    let trace: Vec<_> = sim.trace().iter().map(|t| (t.from.as_str(), t.fate)).collect();
    assert_eq!(trace, vec![("client", TraceFate::Sent), ("server", TraceFate::Sent)]);
    assert_eq!(
        sim.trace()[1].summary,
        "10.0.0.2:80 > 10.0.0.1:40000: R. 0:0(0) ack 101 win 0"
    );
}

#[test]
fn no_route_is_traced_not_delivered() {
    let mut sim = Sim::new(1);
    sim.enable_trace();
    let a = sim.add_scripted("a", A);
    sim.send_tcp(a, B, &probe(0));
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.trace()[0].fate, TraceFate::NoRoute);
}

#[test]
fn socket_calls_run_at_virtual_now() {
    use synq_core::consts::*;
    let mut sim = Sim::new(1);
    let h = sim.add_stack("h", StackConfig::new(A));
    sim.run_for(Duration::from_secs(3));
    let (fd, now) = sim.with_stack(h, |s, now| (s.socket(AF_INET, SOCK_STREAM, 0), now));
    assert_eq!(now, Instant::from_secs(3));
    assert_eq!(fd.unwrap().raw(), 3);
}
