//! synq against synq over impaired links: connect, accept, an exchange, close, TIME_WAIT on
//! the side that closed first, for 100 seeds. Every connect() ends (established or Linux's
//! errno), nothing hangs, and both stacks end with nothing but the listener.

use std::net::{Ipv4Addr, SocketAddrV4};
use synq_core::consts::*;
use synq_core::{Duration, Errno, Instant, SocketId, StackConfig};
use synq_sim::{HostId, LinkConfig, Sim};

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const DATA: usize = 20_000;

/// A simulation of a client and a server stack joined by `link`.
fn pair(seed: u64, link: LinkConfig) -> (Sim, HostId, HostId) {
    let mut sim = Sim::new(seed);
    let client = sim.add_stack("client", StackConfig::new(CLIENT));
    let server = sim.add_stack("server", StackConfig::new(SERVER));
    sim.connect(client, server, link);
    (sim, client, server)
}

/// A listener on the server's port 8080 and a client connect() to it under way: (the
/// listener, the client's socket, the destination).
fn listen_and_connect(sim: &mut Sim, client: HostId, server: HostId) -> (SocketId, SocketId, SocketAddrV4) {
    let l = sim.with_stack(server, |s, _| {
        let l = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
        s.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8080)).unwrap();
        s.listen(l, 16).unwrap();
        l
    });
    let dst = SocketAddrV4::new(SERVER, 8080);
    let fd = sim.with_stack(client, |s, now| {
        let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
        assert_eq!(s.connect(now, fd, dst), Err(Errno::EINPROGRESS));
        fd
    });
    (l, fd, dst)
}

/// One run; `Ok` with when the client's connect() completed, or the errno it ended with.
fn run(seed: u64, link: LinkConfig) -> Result<Instant, Errno> {
    let (mut sim, client, server) = pair(seed, link);
    let (l, fd, dst) = listen_and_connect(&mut sim, client, server);
    let step = Duration::from_millis(5);
    // connect() until it has an outcome (a blocking caller's loop).
    let connected = loop {
        sim.run_for(step);
        match sim.with_stack(client, |s, now| s.connect(now, fd, dst)) {
            Err(Errno::EALREADY) => assert!(sim.now() < Instant::from_secs(200), "seed {seed}: connect hangs"),
            Ok(()) => break sim.now(),
            Err(e) => {
                assert!(matches!(e, Errno::ETIMEDOUT | Errno::ECONNREFUSED), "seed {seed}: {e}");
                return Err(e);
            }
        }
    };
    // The server accepts, the client sends DATA bytes and closes; the server reads to the
    // end and closes too.
    let mut child = None;
    let mut sent = 0;
    let mut received = 0;
    let mut client_closed = false;
    let mut server_closed = false;
    let mut buf = vec![0u8; 4096];
    while !(client_closed && server_closed) {
        assert!(
            sim.now() < connected + Duration::from_secs(600),
            "seed {seed}: exchange hangs"
        );
        sim.run_for(step);
        if child.is_none() {
            child = sim.with_stack(server, |s, _| s.accept(l).ok().map(|(c, _)| c));
        }
        if sent < DATA {
            let n = sim.with_stack(client, |s, now| {
                s.send(now, fd, &[7u8; 4096][..(DATA - sent).min(4096)])
            });
            sent += n.unwrap_or(0);
        } else if !client_closed {
            sim.with_stack(client, |s, now| s.close(now, fd)).unwrap();
            client_closed = true;
        }
        if let (Some(c), false) = (child, server_closed) {
            loop {
                match sim.with_stack(server, |s, now| s.recv(now, c, &mut buf)) {
                    Ok(0) => {
                        sim.with_stack(server, |s, now| s.close(now, c)).unwrap();
                        server_closed = true;
                        break;
                    }
                    Ok(n) => received += n,
                    Err(Errno::EAGAIN) => break,
                    Err(e) => panic!("seed {seed}: server recv {e}"),
                }
            }
        }
    }
    assert_eq!(received, DATA, "seed {seed}: every byte, once");
    // TIME_WAIT (60 s) on the client, which closed first; then nothing is left.
    assert_eq!(
        sim.stack(client).bind_table().ports_in_use(),
        1,
        "seed {seed}: in TIME_WAIT"
    );
    sim.run_for(Duration::from_secs(200));
    assert_eq!(
        sim.stack(client).bind_table().ports_in_use(),
        0,
        "seed {seed}: client empty"
    );
    assert_eq!(
        sim.stack(server).bind_table().ports_in_use(),
        1,
        "seed {seed}: the server keeps only its listener"
    );
    Ok(connected)
}

#[test]
fn synq_to_synq_on_a_clean_link_connects_in_one_round_trip() {
    let link = LinkConfig::with_delay(Duration::from_millis(10));
    assert_eq!(run(1, link), Ok(Instant::from_millis(20)));
}

#[test]
fn synq_to_synq_over_lossy_reordering_duplicating_links_for_100_seeds() {
    let link = LinkConfig {
        loss: 0.05,
        duplicate: 0.02,
        reorder: 0.05,
        ..LinkConfig::with_delay(Duration::from_millis(10))
    };
    let connected = (0..100).filter(|&seed| run(seed, link.clone()).is_ok()).count();
    assert_eq!(connected, 100, "with 5 % loss every SYN gets through within 131 s");
}

/// The soak in small (the full one, 100 MB each way for 100 seeds, is `synq soak`, run by
/// `.ci/run` in release): 256 KiB each way over 0–20 % loss with reordering and duplication.
#[test]
fn soak_every_byte_arrives_and_everything_closes_for_20_seeds() {
    for seed in 0..20u64 {
        let link = LinkConfig {
            loss: (seed % 21) as f64 / 100.0,
            duplicate: 0.01,
            reorder: 0.02,
            ..LinkConfig::with_delay(Duration::from_millis(10))
        };
        let r = synq_sim::soak(seed, 256 * 1024, link).unwrap_or_else(|e| panic!("{e}"));
        assert!(r.datagrams > 0);
        if seed % 21 != 0 {
            assert!(r.lost > 0 && r.retransmits > 0, "seed {seed}: {r:?}");
        }
    }
}

/// Dynamic right-sizing (`tcp_rcv_space_adjust`): a reader keeping up with a fast long link
/// grows its receive buffer (and window) round trip by round trip, so that 16 MiB over 100
/// Mbit/s and 50 ms take about the link's time, not the 64 KiB-a-round-trip an unmoved
/// tcp_rmem[1] buffer would allow (12.8 s).
#[test]
fn the_receive_buffer_grows_with_the_read_rate() {
    let link = LinkConfig {
        bandwidth_bps: Some(100_000_000),
        capture: false,
        ..LinkConfig::with_delay(Duration::from_millis(25))
    };
    let (mut sim, client, server) = pair(7, link);
    let (l, fd, _) = listen_and_connect(&mut sim, client, server);
    const BYTES: usize = 16 << 20;
    let data = vec![7u8; 65536];
    let mut buf = vec![0u8; 65536];
    let (mut sent, mut got, mut child) = (0, 0, None);
    while got < BYTES {
        assert!(sim.now() < Instant::from_secs(60), "transfer stalls");
        sim.run_for(Duration::from_millis(1));
        while sent < BYTES {
            match sim.with_stack(client, |s, now| s.send(now, fd, &data[..(BYTES - sent).min(65536)])) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        if child.is_none() {
            child = sim.with_stack(server, |s, _| s.accept(l).ok().map(|(c, _)| c));
        }
        if let Some(c) = child {
            while let Ok(n) = sim.with_stack(server, |s, now| s.recv(now, c, &mut buf)) {
                if n == 0 {
                    break;
                }
                got += n;
            }
        }
    }
    let took = sim.now().as_nanos() as f64 / 1e9;
    let mut v = [0u8; 4];
    sim.with_stack(server, |s, _| {
        s.getsockopt(child.unwrap(), SOL_SOCKET, SO_RCVBUF, &mut v)
    })
    .unwrap();
    let rcvbuf = i32::from_ne_bytes(v);
    assert!(rcvbuf > 131_072, "the buffer grew: {rcvbuf}");
    assert!(took < 4.0, "16 MiB in {took:.2} s");
}
