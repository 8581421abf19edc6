//! `synq bench`: synq measured next to the Linux kernel in the same run.

use clap::{Args, Subcommand};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant as WallClock;
use synq_core::consts::{AF_INET, SOCK_STREAM};
use synq_core::rng::Rng;
use synq_core::{Credentials, SocketId, Stack, StackConfig};
use synq_peer::Sock;

const ADDR: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 1);
const WILDCARD: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

/// Options of `synq bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: Bench,
}

#[derive(Subcommand, Debug)]
enum Bench {
    /// bind() with port 0 and with an explicit port, as the local range fills (0 %, 90 %,
    /// 99 % at random, and every odd port), in synq and in the kernel (inside a fresh network
    /// namespace; needs root).
    Bind {
        /// Size of the local port range.
        #[arg(long, default_value_t = 10_000)]
        ports: u16,
        /// Runs per measurement; the median is printed.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// The passive open: SYN → SYN-ACK with a request sock and with a cookie, handshakes
    /// through accept(), memory of 1 M half-open requests; synq in memory, the kernel through
    /// a TUN device and over loopback in a fresh network namespace (needs root).
    Listen {
        /// SYNs per stream.
        #[arg(long, default_value_t = 200_000)]
        syns: u32,
        /// Handshakes.
        #[arg(long, default_value_t = 50_000)]
        handshakes: u32,
        /// Runs per measurement; the median is printed.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// The active open: connect()'s port choice as the local range fills (owners
    /// established or in TIME_WAIT), and whole connections (socket, connect, accept, close)
    /// between two synq stacks, against the kernel (fresh network namespace, loopback; needs
    /// root) and smoltcp, same run.
    Connect {
        /// Size of the local port range for the port choice.
        #[arg(long, default_value_t = 10_000)]
        ports: u16,
        /// Whole connections per run.
        #[arg(long, default_value_t = 20_000)]
        conns: u32,
        /// Runs per measurement; the median is printed.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// The established connection: bulk transfer in memory (synq↔synq, smoltcp↔smoltcp,
    /// the kernel over loopback), allocations per segment, bytes per idle connection and
    /// TIME_WAIT entry against this kernel's slabs, and a transfer over a lossy long link
    /// (synq in the simulator, the kernel across a veth pair with netem; needs root).
    Established {
        /// MiB per in-memory transfer.
        #[arg(long, default_value_t = 256)]
        mb: u64,
        /// MiB over the lossy link.
        #[arg(long, default_value_t = 4)]
        lossy_mb: u64,
        /// Idle connections for the memory figures.
        #[arg(long, default_value_t = 10_000)]
        conns: u32,
        /// Runs per measurement; the median is printed.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// synq on a TUN device against the kernel: bulk throughput both ways and connections
    /// per second from kernel clients, next to the kernel over a veth pair and smoltcp on the
    /// same kind of TUN device, same run (private network namespaces; needs root).
    Tun {
        /// MiB per transfer.
        #[arg(long, default_value_t = 256)]
        mb: u64,
        /// Connections per run, one after another.
        #[arg(long, default_value_t = 5000)]
        conns: u32,
        /// Runs per measurement; the median is printed.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// synq's device without offloads (one datagram per read and write).
        #[arg(long = "no-offload")]
        no_offload: bool,
    },
}

/// Runs the chosen benchmark.
pub fn run(args: &BenchArgs) -> Result<(), String> {
    match args.what {
        Bench::Bind { ports, runs } => bind(ports, runs.max(1)),
        Bench::Listen { syns, handshakes, runs } => crate::bench_listen::listen(syns.max(1), handshakes.max(1), runs),
        Bench::Connect { ports, conns, runs } => crate::bench_connect::connect(ports, conns, runs),
        Bench::Established {
            mb,
            lossy_mb,
            conns,
            runs,
        } => crate::bench_established::established(mb.max(1), lossy_mb.max(1), conns.max(1), runs),
        Bench::Tun {
            mb,
            conns,
            runs,
            no_offload,
        } => crate::bench_tun::tun(mb.max(1), conns.max(1), runs, !no_offload),
    }
}

/// The median of `runs` measurements; the first error stops.
pub(crate) fn median<E>(runs: usize, mut f: impl FnMut() -> Result<f64, E>) -> Result<f64, E> {
    let mut v = (0..runs.max(1)).map(|_| f()).collect::<Result<Vec<f64>, E>>()?;
    v.sort_by(f64::total_cmp);
    Ok(v[v.len() / 2])
}

/// Where a fill level leaves the range: the ports taken and the ports free, in random order.
struct Fill {
    taken: Vec<u16>,
    free: Vec<u16>,
}

/// How the range is filled before measuring.
#[derive(Debug, Clone, Copy)]
enum Level {
    /// This fraction of the ports, chosen at random.
    Random(f64),
    /// Every port of the parity bind(0) prefers (odd, with an even low end): the case where
    /// Linux walks every taken port before it tries the other parity.
    PreferredParity,
}

impl Level {
    fn label(self) -> String {
        match self {
            Level::Random(f) => format!("{:.0}%", f * 100.0),
            Level::PreferredParity => "odd".into(),
        }
    }
}

fn fill(low: u16, ports: u16, level: Level, seed: u64) -> Fill {
    let mut all: Vec<u16> = (0..ports).map(|i| low + i).collect();
    let mut rng = Rng::seed_from_u64(seed);
    for i in (1..all.len()).rev() {
        all.swap(i, rng.below(i as u64 + 1) as usize);
    }
    match level {
        Level::Random(fraction) => {
            let n = (f64::from(ports) * fraction).round() as usize;
            let free = all.split_off(n);
            Fill { taken: all, free }
        }
        Level::PreferredParity => {
            let (taken, free) = all.into_iter().partition(|p| p % 2 != low % 2);
            Fill { taken, free }
        }
    }
}

/// One stack under test: synq or the kernel.
trait Binder {
    type S;
    fn socket(&mut self) -> Self::S;
    fn bind(&mut self, s: &Self::S, port: u16) -> bool;
    fn close(&mut self, s: Self::S);
}

struct Synq(Stack);

impl Binder for Synq {
    type S = SocketId;
    fn socket(&mut self) -> SocketId {
        self.0.socket(AF_INET, SOCK_STREAM, 0).expect("socket")
    }
    fn bind(&mut self, s: &SocketId, port: u16) -> bool {
        self.0.bind(*s, SocketAddrV4::new(WILDCARD, port)).is_ok()
    }
    fn close(&mut self, s: SocketId) {
        self.0.close(synq_core::Instant::ZERO, s).expect("close");
    }
}

struct Kernel;

impl Binder for Kernel {
    type S = Sock;
    fn socket(&mut self) -> Sock {
        Sock::tcp(0)
    }
    fn bind(&mut self, s: &Sock, port: u16) -> bool {
        s.bind(SocketAddrV4::new(WILDCARD, port)) == 0
    }
    fn close(&mut self, s: Sock) {
        drop(s);
    }
}

/// Median nanoseconds per bind() call at one fill level: `(port 0, explicit port)`.
fn measure<B: Binder>(b: &mut B, f: &Fill, runs: usize) -> (f64, f64) {
    let holders: Vec<B::S> = f
        .taken
        .iter()
        .map(|&p| {
            let s = b.socket();
            assert!(b.bind(&s, p), "filling port {p}");
            s
        })
        .collect();
    let n = (f.free.len() / 2).clamp(1, 2000);
    let mut time = |explicit: bool| {
        let mut per_call: Vec<f64> = (0..runs)
            .map(|_| {
                let socks: Vec<B::S> = (0..n).map(|_| b.socket()).collect();
                let start = WallClock::now();
                for (s, &p) in socks.iter().zip(&f.free) {
                    let port = if explicit { p } else { 0 };
                    assert!(b.bind(s, port), "bind to {port}");
                }
                let took = start.elapsed().as_nanos() as f64 / n as f64;
                socks.into_iter().for_each(|s| b.close(s));
                took
            })
            .collect();
        per_call.sort_by(f64::total_cmp);
        per_call[per_call.len() / 2]
    };
    let result = (time(false), time(true));
    holders.into_iter().for_each(|s| b.close(s));
    result
}

fn bind(ports: u16, runs: usize) -> Result<(), String> {
    const LOW: u16 = 40000;
    if ports < 100 || u32::from(LOW) + u32::from(ports) > 65536 {
        return Err(format!(
            "bench bind: --ports {ports} must be within 100..={}",
            65536 - u32::from(LOW)
        ));
    }
    let high = LOW + (ports - 1);
    let range = format!("{LOW} {high}");
    let fills = [
        Level::Random(0.0),
        Level::Random(0.9),
        Level::Random(0.99),
        Level::PreferredParity,
    ];

    let mut synq_rows = Vec::new();
    for (i, &level) in fills.iter().enumerate() {
        let mut config = StackConfig::new(ADDR);
        config.credentials = Credentials::ROOT;
        config.seed = 7;
        let mut stack = Stack::new(config);
        stack
            .sysctl
            .set("net.ipv4.ip_local_port_range", &range)
            .map_err(|e| e.to_string())?;
        synq_rows.push(measure(&mut Synq(stack), &fill(LOW, ports, level, i as u64), runs));
    }

    let kernel_rows = match synq_peer::unavailable() {
        Some(why) => Err(why),
        None => {
            synq_peer::raise_nofile(u64::from(ports) + 10_000);
            let range = range.clone();
            synq_peer::in_fresh_netns(&[ADDR], move || {
                synq_peer::sysctl("net.ipv4.ip_local_port_range", &range);
                fills
                    .iter()
                    .enumerate()
                    .map(|(i, &level)| measure(&mut Kernel, &fill(LOW, ports, level, i as u64), runs))
                    .collect::<Vec<_>>()
            })
        }
    };

    println!("synq bench bind: local range {LOW}-{high} ({ports} ports), wildcard binds, median of {runs} runs");
    println!(
        "{:>5}  {:<14} {:>12} {:>12} {:>13}",
        "fill", "call", "synq/call", "kernel/call", "kernel÷synq"
    );
    for (i, level) in fills.iter().enumerate() {
        for (j, call) in ["bind(port 0)", "bind(port P)"].iter().enumerate() {
            let s = if j == 0 { synq_rows[i].0 } else { synq_rows[i].1 };
            let (k, ratio) = match &kernel_rows {
                Ok(rows) => {
                    let k = if j == 0 { rows[i].0 } else { rows[i].1 };
                    (format!("{:.3} µs", k / 1000.0), format!("{:.1}x", k / s))
                }
                Err(_) => ("-".into(), "-".into()),
            };
            println!(
                "{:>5}  {call:<14} {:>9.3} µs {k:>12} {ratio:>13}",
                level.label(),
                s / 1000.0
            );
        }
    }
    if let Err(why) = kernel_rows {
        println!("kernel not measured: {why}");
    }
    Ok(())
}
