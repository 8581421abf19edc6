//! `synq sim`: a scripted client talks to a synq host over a simulated link, in virtual time.
//!
//! No socket of synq accepts connections yet, so the exchange shows what the stack does
//! today, exactly as Linux would: a SYN to a closed port and data to a closed port are
//! answered with resets (`tcp_v4_send_reset`), and a reset is never answered.

use clap::Args;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use synq_core::rng::Rng;
use synq_core::{Duration, Instant, StackConfig};
use synq_sim::{LinkConfig, Sim, TraceFate};
use synq_wire::{TcpFlags, TcpOptions, TcpRepr, Timestamp};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// Options of `synq sim`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Write every datagram on the link to this pcap file (raw IPv4, nanosecond timestamps).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Seed of the run's random choices (ISN, link impairments).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// One-way link delay in milliseconds.
    #[arg(long, default_value_t = 10)]
    delay_ms: u64,
    /// Probability that the link loses a datagram.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
}

/// A client segment from `src_port` with Linux's SYN options where it is a SYN.
fn segment(src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) -> TcpRepr<'_> {
    let options = if flags.syn() {
        TcpOptions {
            mss: Some(1460),
            sack_permitted: true,
            timestamp: Some(Timestamp {
                tsval: seq >> 8,
                tsecr: 0,
            }),
            window_scale: Some(10),
            ..TcpOptions::default()
        }
    } else {
        TcpOptions::default()
    };
    TcpRepr {
        src_port,
        dst_port,
        seq,
        ack,
        flags,
        window: 64240,
        urgent: 0,
        options,
        payload,
    }
}

/// Runs the demo, prints its trace and the server's counters, and writes the pcap.
pub fn run(args: &DemoArgs) -> Result<(), String> {
    if !(0.0..=1.0).contains(&args.loss) {
        return Err(format!("sim: --loss {} is not a probability", args.loss));
    }
    let mut sim = Sim::new(args.seed);
    sim.enable_trace();
    let client = sim.add_scripted("client", CLIENT);
    let server = sim.add_stack("server", StackConfig::new(SERVER));
    let link = sim.connect(
        client,
        server,
        LinkConfig {
            loss: args.loss,
            ..LinkConfig::with_delay(Duration::from_millis(args.delay_ms))
        },
    );
    let mut rng = Rng::seed_from_u64(args.seed);
    let isn = rng.next_u32();

    // 1. A SYN to a closed port: RST|ACK acknowledging the SYN.
    sim.send_tcp(client, SERVER, &segment(40000, 80, isn, 0, TcpFlags::SYN, &[]));
    sim.run_until(Instant::from_millis(100));
    // 2. Data to a closed port: RST whose sequence number is the segment's ACK.
    let ack = rng.next_u32();
    sim.send_tcp(
        client,
        SERVER,
        &segment(40001, 7, isn, ack, TcpFlags::ACK | TcpFlags::PSH, b"hello, synq\n"),
    );
    sim.run_until(Instant::from_millis(200));
    // 3. A reset: never answered.
    sim.send_tcp(client, SERVER, &segment(40003, 80, isn, 0, TcpFlags::RST, &[]));
    sim.run_until(Instant::from_secs(1));

    println!(
        "synq sim: seed {}, client {CLIENT} <-> server {SERVER} (synq), one-way delay {} ms, loss {}",
        args.seed, args.delay_ms, args.loss
    );
    for t in sim.trace() {
        let fate = match t.fate {
            TraceFate::Sent => "",
            TraceFate::Lost => "  [lost]",
            TraceFate::NoRoute => "  [no route]",
        };
        println!("{:>14}  {:<7} {}{fate}", t.at.to_string(), t.from, t.summary);
    }
    println!("server counters (nstat names):");
    for (name, value) in sim.stack(server).mib().nonzero() {
        println!("  {name:<24} {value}");
    }
    if let Some(path) = &args.pcap {
        std::fs::write(path, sim.pcap(link)).map_err(|e| format!("sim: writing {}: {e}", path.display()))?;
        println!("wrote {} ({} datagrams)", path.display(), sim.link_stats(link).sent);
    }
    Ok(())
}
