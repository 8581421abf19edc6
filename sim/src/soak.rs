//! The soak: two synq stacks move `bytes` each way over one impaired link, as two programs
//! would — each side writes its stream, shuts its sending half, reads the other's to the end
//! and closes once what it wrote is acknowledged. Every byte is checked where it arrives (the
//! streams are a function of their offset), both sides must close, the side whose FIN went
//! first must sit in TIME_WAIT for Linux's 60 s (`tcp_rfc1337` on, so that no reset cuts it
//! short) and then be gone, and at the end neither stack may hold a socket (but the
//! listener), a timer, or a queued datagram.

use std::net::{Ipv4Addr, SocketAddrV4};

use synq_core::consts::*;
use synq_core::{Duration, Errno, Instant, SocketId, StackConfig, TcpState};

use crate::{HostId, LinkConfig, Sim};

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PORT: u16 = 5001;
/// `TCP_TIMEWAIT_LEN`.
const TIME_WAIT: Duration = Duration::from_secs(60);

/// What one soak run measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoakReport {
    /// When both streams had arrived whole (virtual time from the start).
    pub transfer_done: Instant,
    /// Datagrams the link carried, and lost.
    pub datagrams: u64,
    pub lost: u64,
    /// The stacks' retransmitted segments (`TcpRetransSegs`, both sides).
    pub retransmits: u64,
}

/// The streams repeat with a prime period, so that a misplaced segment (its offset off by
/// anything but a multiple of the period) shows; [`Pattern`] holds one period and a chunk.
const PERIOD: usize = 65_521;
const CHUNK: usize = 64 * 1024;

/// The bytes the side `side` (0 client, 1 server) sends, from any offset: one period of
/// its stream and a chunk more.
struct Pattern(Vec<u8>);

impl Pattern {
    fn new(side: u8) -> Pattern {
        Pattern(
            (0..(PERIOD + CHUNK) as u64)
                .map(|i| {
                    let x = (i % PERIOD as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        ^ u64::from(side).wrapping_mul(0xD6E8_FEB8_6659_FD93);
                    (x >> 56) as u8
                })
                .collect(),
        )
    }

    /// The stream's bytes from `offset`, at most a chunk.
    fn at(&self, offset: u64, len: usize) -> &[u8] {
        let from = (offset % PERIOD as u64) as usize;
        &self.0[from..from + len.min(CHUNK)]
    }
}

/// One end of the exchange.
struct End {
    host: HostId,
    side: u8,
    fd: Option<SocketId>,
    sent: u64,
    received: u64,
    shut: bool,
    closed: bool,
}

impl End {
    /// Writes what the socket takes, shuts the sending half once all is written, reads what
    /// arrived (checking each byte) and closes at the end of the peer's stream.
    fn step(&mut self, sim: &mut Sim, bytes: u64, patterns: &[Pattern; 2], buf: &mut [u8]) -> Result<(), String> {
        let (Some(fd), false) = (self.fd, self.closed) else {
            return Ok(());
        };
        let side = self.side;
        while self.sent < bytes {
            let data = patterns[usize::from(side)].at(self.sent, (bytes - self.sent).min(CHUNK as u64) as usize);
            match sim.with_stack(self.host, |s, now| s.send(now, fd, data)) {
                Ok(k) => self.sent += k as u64,
                Err(Errno::EAGAIN) => break,
                Err(e) => return Err(format!("side {side}: send: {e}")),
            }
        }
        if self.sent == bytes && !self.shut {
            sim.with_stack(self.host, |s, now| s.shutdown(now, fd, SHUT_WR))
                .map_err(|e| format!("side {side}: shutdown: {e}"))?;
            self.shut = true;
        }
        loop {
            match sim.with_stack(self.host, |s, now| s.recv(now, fd, buf)) {
                Ok(0) => {
                    if self.received != bytes {
                        return Err(format!("side {side}: end of stream after {} bytes", self.received));
                    }
                    // Close once all it wrote (and its FIN) is acknowledged (SIOCOUTQ 0): an
                    // orphan with data in flight gives up after tcp_orphan_retries (8)
                    // back-offs, which 20 % loss can exhaust, and the peer would wait forever.
                    let unacked = sim.with_stack(self.host, |s, _| s.ioctl(fd, SIOCOUTQ));
                    if self.shut && unacked == Ok(0) {
                        sim.with_stack(self.host, |s, now| s.close(now, fd))
                            .map_err(|e| format!("side {side}: close: {e}"))?;
                        self.closed = true;
                    }
                    return Ok(());
                }
                Ok(n) => {
                    let expected = patterns[usize::from(1 - side)].at(self.received, n);
                    if let Some(i) = buf[..n].iter().zip(expected).position(|(a, b)| a != b) {
                        return Err(format!("side {side}: byte {} is wrong", self.received + i as u64));
                    }
                    self.received += n as u64;
                    if self.received > bytes {
                        return Err(format!("side {side}: more than {bytes} bytes"));
                    }
                }
                Err(Errno::EAGAIN) => return Ok(()),
                Err(e) => return Err(format!("side {side}: recv: {e}")),
            }
        }
    }
}

/// Runs the soak once with `seed` over `link` (its capture turned off).
pub fn soak(seed: u64, bytes: u64, link: LinkConfig) -> Result<SoakReport, String> {
    let mut sim = Sim::new(seed);
    // RFC 1337: a duplicated last ACK reaching the closed side draws a reset, which would
    // end the other side's TIME_WAIT early (Linux's default, TIME_WAIT assassination);
    // with tcp_rfc1337 = 1 TIME_WAIT ignores resets and lasts its 60 s, as checked here.
    let config = |addr| {
        let mut c = StackConfig::new(addr);
        c.sysctl.tcp_rfc1337 = 1;
        c
    };
    let client = sim.add_stack("client", config(CLIENT));
    let server = sim.add_stack("server", config(SERVER));
    let link = sim.connect(client, server, LinkConfig { capture: false, ..link });
    let listener = sim.with_stack(server, |s, _| -> Result<SocketId, Errno> {
        let l = s.socket(AF_INET, SOCK_STREAM, 0)?;
        s.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))?;
        s.listen(l, 16)?;
        Ok(l)
    });
    let listener = listener.map_err(|e| format!("listen: {e}"))?;
    let dst = SocketAddrV4::new(SERVER, PORT);
    let fd = sim
        .with_stack(client, |s, now| {
            let fd = s.socket(AF_INET, SOCK_STREAM, 0)?;
            match s.connect(now, fd, dst) {
                Err(Errno::EINPROGRESS) => Ok(fd),
                Err(e) => Err(e),
                Ok(()) => Ok(fd),
            }
        })
        .map_err(|e| format!("connect: {e}"))?;
    let mut ends = [
        End {
            host: client,
            side: 0,
            fd: None,
            sent: 0,
            received: 0,
            shut: false,
            closed: false,
        },
        End {
            host: server,
            side: 1,
            fd: None,
            sent: 0,
            received: 0,
            shut: false,
            closed: false,
        },
    ];
    let mut buf = vec![0u8; CHUNK];
    let patterns = [Pattern::new(0), Pattern::new(1)];
    let step = Duration::from_millis(5);
    let deadline = Instant::from_secs(200_000);
    let mut transfer_done = None;
    while !(ends[0].closed && ends[1].closed) {
        if sim.now() > deadline {
            let now = sim.now();
            let info: Vec<String> = ends
                .iter()
                .filter_map(|e| e.fd.map(|fd| (e.host, fd)))
                .map(|(h, fd)| format!("{:?}", sim.stack(h).tcp_info(now, fd)))
                .collect();
            return Err(format!(
                "seed {seed}: not done by {:?}: client {}/{} bytes in, server {}/{}; TCP_INFO {info:?}",
                deadline, ends[0].received, bytes, ends[1].received, bytes
            ));
        }
        sim.run_for(step);
        if ends[0].fd.is_none() {
            match sim.with_stack(client, |s, now| s.connect(now, fd, dst)) {
                Ok(()) => ends[0].fd = Some(fd),
                Err(Errno::EALREADY) => {}
                Err(e) => return Err(format!("seed {seed}: connect: {e}")),
            }
        }
        if ends[1].fd.is_none() {
            ends[1].fd = sim.with_stack(server, |s, _| s.accept(listener).ok().map(|(c, _)| c));
        }
        for end in &mut ends {
            end.step(&mut sim, bytes, &patterns, &mut buf)
                .map_err(|e| format!("seed {seed}: {e}"))?;
        }
        if transfer_done.is_none() && ends.iter().all(|e| e.received == bytes) {
            transfer_done = Some(sim.now());
        }
    }
    let closed_at = sim.now();
    // TIME_WAIT: one side (both, after a simultaneous close) holds it for 60 s.
    let in_time_wait = |sim: &Sim| {
        [client, server]
            .iter()
            .map(|&h| {
                sim.stack(h)
                    .inet_diag()
                    .iter()
                    .filter(|d| d.state == TcpState::TimeWait)
                    .count()
            })
            .sum::<usize>()
    };
    sim.run_until(closed_at + TIME_WAIT - Duration::from_secs(2));
    if in_time_wait(&sim) == 0 {
        return Err(format!("seed {seed}: no TIME_WAIT 58 s after both closed"));
    }
    sim.run_until(closed_at + TIME_WAIT + Duration::from_secs(60));
    if in_time_wait(&sim) != 0 {
        return Err(format!("seed {seed}: TIME_WAIT outlives 60 s"));
    }
    for (h, name, sockets) in [(client, "client", 0), (server, "server", 1)] {
        let left = sim.stack(h).inet_diag().len();
        if left != sockets {
            return Err(format!("seed {seed}: the {name} still holds {left} sockets"));
        }
        let timer = sim.with_stack(h, |s, _| s.poll_timeout());
        if let Some(t) = timer {
            return Err(format!("seed {seed}: the {name} still has a timer at {t:?}"));
        }
        let (pages, _) = sim.stack(h).tcp_memory();
        if pages != 0 {
            return Err(format!("seed {seed}: the {name} still holds {pages} pages of buffers"));
        }
    }
    let stats = sim.link_stats(link);
    let retransmits = [client, server]
        .iter()
        .map(|&h| sim.stack(h).mib().get(synq_core::Counter::TcpRetransSegs))
        .sum();
    Ok(SoakReport {
        transfer_done: transfer_done.unwrap_or(closed_at),
        datagrams: stats.sent,
        lost: stats.lost,
        retransmits,
    })
}
