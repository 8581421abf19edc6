//! `synq sim`: a synq client talks to a synq server over a simulated link, in virtual time.
//!
//! The server listens on port 80; the client connect()s from an ephemeral port: its SYN gets
//! a SYN-ACK (each retransmitted as Linux does if the link loses it), its ACK puts a child on
//! the accept queue and accept() takes it. On that connection the client sends a line, the
//! server echoes it, the client closes and the server closes after it; the client, which
//! closed first, keeps the 4-tuple in TIME_WAIT for 60 s. Then what Linux does for strays,
//! sent raw from the client's address: a SYN and data to closed ports are answered with
//! resets (`tcp_v4_send_reset`), and a reset is never answered.

use clap::Args;
use std::net::Ipv4Addr;
use std::net::SocketAddrV4;
use std::path::PathBuf;
use synq_core::consts::{AF_INET, SOCK_STREAM};
use synq_core::rng::Rng;
use synq_core::{Duration, SocketId, StackConfig};
use synq_sim::{HostId, LinkConfig, Sim, TraceFate};
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
    /// Set a knob of both stacks, as `sysctl -w` (repeatable).
    #[arg(long = "sysctl", value_name = "NAME=VALUE")]
    sysctls: Vec<String>,
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

/// What a demo run leaves: the simulation, the server, the link, and what accept() returned.
struct Played {
    sim: Sim,
    server: HostId,
    link: synq_sim::LinkId,
    accepted: Option<(SocketId, SocketAddrV4)>,
}

/// How long the demo lets a connect() or the exchange run before it gives up.
const PATIENCE: Duration = Duration::from_secs(200);
/// The step at which the demo's client and server look at their sockets.
const STEP: Duration = Duration::from_millis(10);

/// The exchange on an established connection: the client sends a line, the server reads it
/// and writes it back, the client reads the echo and closes, the server reads the end of the
/// stream and closes too; the client's side then waits in TIME_WAIT.
fn echo_and_close(sim: &mut Sim, client: HostId, server: HostId, (cfd, sfd): (SocketId, SocketId)) {
    const LINE: &[u8] = b"hello, synq\n";
    let _ = sim.with_stack(client, |s, now| s.send(now, cfd, LINE));
    let deadline = sim.now() + PATIENCE;
    let (mut echoed, mut client_closed, mut server_closed) = (false, false, false);
    let mut buf = [0u8; 64];
    while !(client_closed && server_closed) && sim.now() < deadline {
        sim.run_for(STEP);
        if !echoed {
            if let Ok(n) = sim.with_stack(server, |s, now| s.recv(now, sfd, &mut buf)) {
                let _ = sim.with_stack(server, |s, now| s.send(now, sfd, &buf[..n]));
                echoed = true;
            }
        }
        if !client_closed && matches!(sim.with_stack(client, |s, now| s.recv(now, cfd, &mut buf)), Ok(n) if n > 0) {
            let _ = sim.with_stack(client, |s, now| s.close(now, cfd));
            client_closed = true;
        }
        if !server_closed && sim.with_stack(server, |s, now| s.recv(now, sfd, &mut buf)) == Ok(0) {
            let _ = sim.with_stack(server, |s, now| s.close(now, sfd));
            server_closed = true;
        }
    }
}

/// Plays the demo to its end.
fn play(args: &DemoArgs) -> Result<Played, String> {
    if !(0.0..=1.0).contains(&args.loss) {
        return Err(format!("sim: --loss {} is not a probability", args.loss));
    }
    let mut sim = Sim::new(args.seed);
    sim.enable_trace();
    let mut knobs = synq_core::Sysctl::default();
    for w in &args.sysctls {
        knobs.apply(w).map_err(|e| format!("--sysctl {w}: {}", e.message()))?;
    }
    let mut config = StackConfig::new(CLIENT);
    config.sysctl = knobs.clone();
    let client = sim.add_stack("client", config);
    let mut config = StackConfig::new(SERVER);
    config.sysctl = knobs;
    config.credentials = synq_core::Credentials::ROOT; // port 80 is privileged
    let server = sim.add_stack("server", config);
    let link = sim.connect(
        client,
        server,
        LinkConfig {
            loss: args.loss,
            ..LinkConfig::with_delay(Duration::from_millis(args.delay_ms))
        },
    );
    let listener = sim.with_stack(server, |stack, _| {
        let l = stack.socket(AF_INET, SOCK_STREAM, 0)?;
        stack.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80))?;
        stack.listen(l, 128)?;
        Ok::<_, synq_core::Errno>(l)
    });
    let listener = listener.map_err(|e| format!("sim: listener: {e}"))?;

    // 1. connect(): SYN, SYN-ACK, ACK (each resent as Linux does while the link loses them),
    // asked again every 10 ms as a blocking caller would be woken.
    let dst = SocketAddrV4::new(SERVER, 80);
    let cfd = sim
        .with_stack(client, |s, now| {
            let fd = s.socket(AF_INET, SOCK_STREAM, 0)?;
            match s.connect(now, fd, dst) {
                Err(synq_core::Errno::EINPROGRESS) => Ok(fd),
                other => other.map(|()| fd),
            }
        })
        .map_err(|e| format!("sim: connect: {e}"))?;
    let deadline = sim.now() + PATIENCE;
    let mut accepted = None;
    while sim.now() < deadline {
        sim.run_for(STEP);
        if accepted.is_none() {
            accepted = sim.with_stack(server, |s, _| s.accept(listener)).ok();
        }
        match sim.with_stack(client, |s, now| s.connect(now, cfd, dst)) {
            Err(synq_core::Errno::EALREADY) => continue,
            Ok(()) => {
                while accepted.is_none() && sim.now() < deadline {
                    sim.run_for(STEP);
                    accepted = sim.with_stack(server, |s, _| s.accept(listener)).ok();
                }
                if let Some((sfd, _)) = accepted {
                    echo_and_close(&mut sim, client, server, (cfd, sfd));
                }
                break;
            }
            Err(e) => {
                println!("client: connect() = {e}");
                break;
            }
        }
    }
    let t = sim.now() + Duration::from_millis(100);
    sim.run_until(t);
    // 2. A SYN to a closed port: RST|ACK acknowledging the SYN.
    let mut rng = Rng::seed_from_u64(args.seed);
    let isn = rng.next_u32();
    sim.send_tcp(client, SERVER, &segment(40002, 81, isn, 0, TcpFlags::SYN, &[]));
    sim.run_for(Duration::from_millis(100));
    // 3. Data to a closed port: RST whose sequence number is the segment's ACK.
    let ack = rng.next_u32();
    sim.send_tcp(
        client,
        SERVER,
        &segment(40001, 7, isn, ack, TcpFlags::ACK | TcpFlags::PSH, b"hello, synq\n"),
    );
    sim.run_for(Duration::from_millis(100));
    // 4. A reset to the listener: never answered.
    sim.send_tcp(client, SERVER, &segment(40003, 80, isn, 0, TcpFlags::RST, &[]));
    // 5. The client's TIME_WAIT runs out (60 s).
    sim.run_for(Duration::from_secs(61));
    Ok(Played {
        sim,
        server,
        link,
        accepted,
    })
}

/// `synq sim`: plays the demo, prints its trace and the server's counters, writes the pcap.
pub fn run(args: &DemoArgs) -> Result<(), String> {
    let Played {
        sim,
        server,
        link,
        accepted,
    } = play(args)?;
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
    match accepted {
        Some((fd, peer)) => println!("server: accept() = {fd}, peer {peer}"),
        None => println!("server: no connection accepted (the link lost the handshake)"),
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

/// `synq nstat`: the demo's server counters in nstat's layout (`#kernel`-style header, one
/// counter a line), non-zero ones only unless `zeros` (`nstat -z`).
pub fn nstat(args: &DemoArgs, zeros: bool) -> Result<(), String> {
    let played = play(args)?;
    let mib = played.sim.stack(played.server).mib();
    println!("#synq (the server of `synq sim --seed {}`)", args.seed);
    for &c in synq_core::Counter::ALL {
        let value = mib.get(c);
        if value != 0 || zeros {
            println!("{:<32}{value:<19}0.0", c.name());
        }
    }
    Ok(())
}
