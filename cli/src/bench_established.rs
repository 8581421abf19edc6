//! `synq bench established`: the established connection next to the kernel's and smoltcp's,
//! same run.
//!
//! - Bulk transfer on one core, in memory: two synq stacks handing datagrams to each other;
//!   two smoltcp sockets on one interface over an in-memory loopback with the same MTU
//!   (1500) and buffers; the kernel over loopback (a fresh namespace; its two ends on two
//!   threads, as it runs).
//! - Allocations per segment on synq's established path, counted by the binary's allocator
//!   over a steady transfer after a warm-up.
//! - Bytes per idle established connection and per TIME_WAIT entry: synq's heap per
//!   connection end (counted), against this kernel's slab objects (`TCP`, `tw_sock_TCP` in
//!   `/proc/slabinfo`, read now).
//! - A transfer over a lossy long link (1 % loss each way, 25 ms each way, 100 Mbit/s): synq
//!   with CUBIC in the simulator (virtual time), the kernel with cubic between two
//!   namespaces whose TUN devices are joined by the same link emulated in user space (real
//!   time; this kernel has no netem).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration as WallDuration, Instant as WallClock};

use synq_core::consts::{AF_INET, SOCK_STREAM, SOL_SOCKET, SO_RCVBUF, SO_SNDBUF};
use synq_core::{Counter, Duration, Errno, Instant, SocketId, Stack, StackConfig};

use crate::bench::median;

/// The binary's allocator: the system's, counting calls and live bytes.
pub struct CountingAlloc;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(layout.size() as u64, Ordering::Relaxed);
        std::alloc::System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        std::alloc::System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(new as u64, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        std::alloc::System.realloc(ptr, layout, new)
    }
}

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PORT: u16 = 5001;
const CHUNK: usize = 64 * 1024;
/// Socket buffers for the in-memory runs: smoltcp's rings are half of it each, synq's
/// buffers hold as much payload ([`sockbuf_options`]).
const BUFFER: usize = 4 << 20;

fn gbits(bytes: u64, took: WallDuration) -> f64 {
    bytes as f64 * 8.0 / took.as_secs_f64() / 1e9
}

/// The socket options that give a synq socket the room of smoltcp's rings of `size / 2`
/// bytes of payload: SO_RCVBUF `size / 2`, doubled to `size` in truesize, of which the window
/// is 1448/2304 at MTU 1500 (`tcp_win_from_space`: about 2.5 MiB for 4 MiB); SO_SNDBUF
/// `size / 4`, doubled to `size / 2`, nearly all payload (832 bytes per skb of 64 KiB).
fn sockbuf_options(size: usize) -> [(i32, i32); 2] {
    [(SO_RCVBUF, size as i32 / 2), (SO_SNDBUF, size as i32 / 4)]
}

/// Two synq stacks joined in memory: a client and the server's accepted child.
struct Pair {
    a: Stack,
    b: Stack,
    fd: SocketId,
    child: SocketId,
    listener: SocketId,
    now: Instant,
}

impl Pair {
    fn new(sockbuf: Option<usize>) -> Result<Pair, String> {
        let e = |e: Errno| e.to_string();
        let a = Stack::new(StackConfig::new(A));
        let mut b = Stack::new(StackConfig::new(B));
        let listener = b.socket(AF_INET, SOCK_STREAM, 0).map_err(e)?;
        b.bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))
            .map_err(e)?;
        b.listen(listener, 4096).map_err(e)?;
        let mut pair = Pair {
            a,
            b,
            fd: listener,
            child: listener,
            listener,
            now: Instant::from_secs(1),
        };
        if let Some(size) = sockbuf {
            for (opt, value) in sockbuf_options(size) {
                pair.b
                    .setsockopt(listener, SOL_SOCKET, opt, &value.to_ne_bytes())
                    .map_err(e)?;
            }
        }
        let (fd, child) = pair.connect(sockbuf)?;
        pair.fd = fd;
        pair.child = child;
        Ok(pair)
    }

    /// One more connection; returns (client end, server end).
    fn connect(&mut self, sockbuf: Option<usize>) -> Result<(SocketId, SocketId), String> {
        let e = |e: Errno| e.to_string();
        let fd = self.a.socket(AF_INET, SOCK_STREAM, 0).map_err(e)?;
        if let Some(size) = sockbuf {
            for (opt, value) in sockbuf_options(size) {
                self.a
                    .setsockopt(fd, SOL_SOCKET, opt, &value.to_ne_bytes())
                    .map_err(e)?;
            }
        }
        let dst = SocketAddrV4::new(B, PORT);
        if self.a.connect(self.now, fd, dst) != Err(Errno::EINPROGRESS) {
            return Err("connect() did not start".into());
        }
        self.shuttle();
        self.a.connect(self.now, fd, dst).map_err(e)?;
        let (child, _) = self.b.accept(self.listener).map_err(e)?;
        Ok((fd, child))
    }

    /// Hands datagrams across until neither side has one; then, if nothing moved, runs
    /// the next timer (virtual time moves only when the pair would otherwise wait).
    fn shuttle(&mut self) -> bool {
        let mut moved = false;
        loop {
            let (mut any, now) = (false, self.now);
            let (a, b) = (&mut self.a, &mut self.b);
            while a.transmit_with(|d| b.receive(now, d)).is_some() {
                any = true;
            }
            while b.transmit_with(|d| a.receive(now, d)).is_some() {
                any = true;
            }
            if !any {
                return moved;
            }
            moved = true;
        }
    }

    fn run_timers(&mut self) {
        let next = [self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        if let Some(t) = next {
            self.now = self.now.max(t);
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
        }
    }

    /// Moves `bytes` from the client to the server.
    fn transfer(&mut self, bytes: u64) -> Result<(), String> {
        let data = vec![0x5au8; CHUNK];
        let mut rbuf = vec![0u8; CHUNK];
        let (mut sent, mut got) = (0u64, 0u64);
        while got < bytes {
            while sent < bytes {
                let n = (bytes - sent).min(CHUNK as u64) as usize;
                match self.a.send(self.now, self.fd, &data[..n]) {
                    Ok(k) => sent += k as u64,
                    Err(Errno::EAGAIN) => break,
                    Err(e) => return Err(format!("send: {e}")),
                }
            }
            let mut moved = self.shuttle();
            loop {
                match self.b.recv(self.now, self.child, &mut rbuf) {
                    Ok(0) => return Err("end of stream".into()),
                    Ok(k) => {
                        got += k as u64;
                        moved = true;
                    }
                    Err(Errno::EAGAIN) => break,
                    Err(e) => return Err(format!("recv: {e}")),
                }
            }
            moved |= self.shuttle();
            if !moved {
                self.run_timers();
            }
        }
        Ok(())
    }
}

/// synq to synq in memory: Gbit/s on one core, and allocations per segment sent over the
/// measured part (after a warm-up of the same size).
fn synq_bulk(bytes: u64) -> Result<(f64, f64), String> {
    let mut p = Pair::new(Some(BUFFER))?;
    p.transfer(bytes)?;
    let segs0 = p.a.mib().get(Counter::TcpOutSegs) + p.b.mib().get(Counter::TcpOutSegs);
    let allocs0 = ALLOCS.load(Ordering::Relaxed);
    let start = WallClock::now();
    p.transfer(bytes)?;
    let took = start.elapsed();
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs0;
    let segs = p.a.mib().get(Counter::TcpOutSegs) + p.b.mib().get(Counter::TcpOutSegs) - segs0;
    // The benchmark's own buffers are allocated before the timed part; what remains is synq's.
    Ok((gbits(bytes, took), allocs as f64 / segs.max(1) as f64))
}

/// smoltcp to smoltcp in memory: one interface, an in-memory loopback with MTU 1500, the
/// same socket buffers.
fn smoltcp_bulk(bytes: u64) -> Result<f64, String> {
    use smoltcp::iface::{Config, Interface, SocketSet};
    use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
    use smoltcp::socket::tcp::{Socket, SocketBuffer, State};
    use smoltcp::time::Instant as SmolInstant;
    use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
    use std::collections::VecDeque;

    #[derive(Default)]
    struct Queue(VecDeque<Vec<u8>>, Vec<Vec<u8>>);
    struct Rx(Vec<u8>);
    struct Tx<'a>(&'a mut Queue);
    impl RxToken for Rx {
        fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
            f(&self.0)
        }
    }
    impl TxToken for Tx<'_> {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
            let mut b = self.0 .1.pop().unwrap_or_default();
            b.resize(len, 0);
            let r = f(&mut b);
            self.0 .0.push_back(b);
            r
        }
    }
    impl Device for Queue {
        type RxToken<'a> = Rx;
        type TxToken<'a> = Tx<'a>;
        fn receive(&mut self, _: SmolInstant) -> Option<(Rx, Tx<'_>)> {
            let b = self.0.pop_front()?;
            Some((Rx(b), Tx(self)))
        }
        fn transmit(&mut self, _: SmolInstant) -> Option<Tx<'_>> {
            Some(Tx(self))
        }
        fn capabilities(&self) -> DeviceCapabilities {
            let mut caps = DeviceCapabilities::default();
            caps.medium = Medium::Ip;
            caps.max_transmission_unit = 1500;
            caps
        }
    }

    let mut dev = Queue::default();
    let mut t = SmolInstant::from_millis(1000);
    let mut iface = Interface::new(Config::new(HardwareAddress::Ip), &mut dev, t);
    let [a, b, c, d] = B.octets();
    let addr = IpAddress::v4(a, b, c, d);
    iface.update_ip_addrs(|addrs| {
        addrs.push(IpCidr::new(addr, 24)).expect("one address");
    });
    let mut sockets = SocketSet::new(Vec::new());
    let socket = || {
        Socket::new(
            SocketBuffer::new(vec![0; BUFFER / 2]),
            SocketBuffer::new(vec![0; BUFFER / 2]),
        )
    };
    let mut server = socket();
    server.listen(PORT).map_err(|e| format!("smoltcp listen: {e}"))?;
    let mut client = socket();
    client
        .connect(iface.context(), (addr, PORT), 49152)
        .map_err(|e| format!("smoltcp connect: {e}"))?;
    let (hs, hc) = (sockets.add(server), sockets.add(client));
    for _ in 0..100 {
        t += smoltcp::time::Duration::from_millis(1);
        iface.poll(t, &mut dev, &mut sockets);
    }
    if sockets.get::<Socket>(hc).state() != State::Established {
        return Err("smoltcp: no connection".into());
    }
    let data = vec![0x5au8; CHUNK];
    let mut rbuf = vec![0u8; CHUNK];
    let mut run = |bytes: u64| -> Result<(), String> {
        let (mut sent, mut got) = (0u64, 0u64);
        let mut idle = 0;
        while got < bytes {
            if sent < bytes {
                let n = (bytes - sent).min(CHUNK as u64) as usize;
                sent += sockets
                    .get_mut::<Socket>(hc)
                    .send_slice(&data[..n])
                    .map_err(|e| format!("smoltcp send: {e}"))? as u64;
            }
            t += smoltcp::time::Duration::from_micros(10);
            iface.poll(t, &mut dev, &mut sockets);
            let server = sockets.get_mut::<Socket>(hs);
            let before = got;
            while server.can_recv() {
                got += server.recv_slice(&mut rbuf).map_err(|e| format!("smoltcp recv: {e}"))? as u64;
            }
            idle = if got == before { idle + 1 } else { 0 };
            if idle > 1_000_000 {
                return Err("smoltcp stalled".into());
            }
        }
        Ok(())
    };
    run(bytes)?;
    let start = WallClock::now();
    run(bytes)?;
    Ok(gbits(bytes, start.elapsed()))
}

/// The kernel over loopback in a fresh namespace, a writer thread and a reader.
fn kernel_bulk(bytes: u64) -> Result<f64, String> {
    synq_peer::in_fresh_netns(&[], move || -> Result<f64, String> {
        let l = TcpListener::bind(("127.0.0.1", PORT)).map_err(|e| e.to_string())?;
        let writer = std::thread::spawn(move || -> std::io::Result<()> {
            let mut s = TcpStream::connect(("127.0.0.1", PORT))?;
            let buf = vec![0x5au8; CHUNK];
            let mut left = 2 * bytes;
            while left > 0 {
                let n = left.min(CHUNK as u64) as usize;
                s.write_all(&buf[..n])?;
                left -= n as u64;
            }
            s.shutdown(Shutdown::Write)
        });
        let (mut s, _) = l.accept().map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; CHUNK];
        let mut got = 0u64;
        let mut start = WallClock::now();
        loop {
            match s.read(&mut buf).map_err(|e| e.to_string())? {
                0 => break,
                n => {
                    // The first half warms up, as in the other runs.
                    if got < bytes && got + n as u64 >= bytes {
                        start = WallClock::now();
                    }
                    got += n as u64;
                }
            }
        }
        let took = start.elapsed();
        writer
            .join()
            .map_err(|_| "writer panicked")?
            .map_err(|e| e.to_string())?;
        Ok(gbits(bytes, took))
    })?
}

/// synq's heap per connection end: `n` idle established connections between two stacks
/// (their growth of every table included); and per TIME_WAIT entry: `n` connections made and
/// closed one after another, the server closing first, so that only the TIME_WAIT entries
/// (and the tables that hold them) accumulate.
fn synq_memory(n: u32) -> Result<(f64, f64), String> {
    let mut p = Pair::new(None)?;
    let before = LIVE.load(Ordering::Relaxed) as f64;
    let mut conns = Vec::new();
    for _ in 0..n {
        conns.push(p.connect(None)?);
    }
    let established = (LIVE.load(Ordering::Relaxed) as f64 - before) / f64::from(2 * n);
    drop(conns);
    let mut p = Pair::new(None)?;
    let before = LIVE.load(Ordering::Relaxed) as f64;
    for _ in 0..n {
        let (fd, child) = p.connect(None)?;
        p.b.close(p.now, child).map_err(|e| e.to_string())?;
        p.shuttle();
        p.a.close(p.now, fd).map_err(|e| e.to_string())?;
        p.shuttle();
    }
    // A client port used again meets its TIME_WAIT entry, which hands over to the new
    // connection (tcp_timewait_state_process): count the entries there are.
    let tw =
        p.b.inet_diag()
            .iter()
            .filter(|d| d.state == synq_core::TcpState::TimeWait)
            .count();
    if tw < n as usize / 2 {
        return Err(format!("only {tw} of {n} server ends in TIME_WAIT"));
    }
    let time_wait = (LIVE.load(Ordering::Relaxed) as f64 - before) / tw as f64;
    Ok((established, time_wait))
}

/// This kernel's slab object size for `name` (`/proc/slabinfo`'s objsize).
fn slab_objsize(name: &str) -> Result<f64, String> {
    let text = std::fs::read_to_string("/proc/slabinfo").map_err(|e| format!("/proc/slabinfo: {e}"))?;
    text.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(name))
                .then(|| w.nth(2).and_then(|s| s.parse().ok()))
                .flatten()
        })
        .ok_or_else(|| format!("no slab {name}"))
}

/// synq over the simulated lossy link: virtual seconds to move `bytes` (CUBIC).
fn synq_lossy(bytes: u64, seed: u64) -> Result<f64, String> {
    use synq_sim::{LinkConfig, Sim};
    let mut sim = Sim::new(seed);
    let a = sim.add_stack("a", StackConfig::new(A));
    let b = sim.add_stack("b", StackConfig::new(B));
    sim.connect(
        a,
        b,
        LinkConfig {
            loss: 0.01,
            bandwidth_bps: Some(100_000_000),
            capture: false,
            ..LinkConfig::with_delay(Duration::from_millis(25))
        },
    );
    let e = |e: Errno| e.to_string();
    let l = sim.with_stack(b, |s, _| -> Result<SocketId, Errno> {
        let l = s.socket(AF_INET, SOCK_STREAM, 0)?;
        s.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))?;
        s.listen(l, 16)?;
        Ok(l)
    });
    let l = l.map_err(e)?;
    let dst = SocketAddrV4::new(B, PORT);
    let fd = sim.with_stack(a, |s, now| {
        let fd = s.socket(AF_INET, SOCK_STREAM, 0)?;
        match s.connect(now, fd, dst) {
            Err(Errno::EINPROGRESS) => Ok(fd),
            r => r.map(|()| fd),
        }
    });
    let fd = fd.map_err(e)?;
    let data = vec![0x5au8; CHUNK];
    let mut rbuf = vec![0u8; CHUNK];
    let (mut sent, mut got) = (0u64, 0u64);
    let mut child = None;
    let step = Duration::from_millis(1);
    let start = sim.now();
    while got < bytes {
        if sim.now() > start + Duration::from_secs(3600) {
            return Err("synq lossy transfer did not finish in an hour".into());
        }
        sim.run_for(step);
        while sent < bytes {
            let n = (bytes - sent).min(CHUNK as u64) as usize;
            match sim.with_stack(a, |s, now| s.send(now, fd, &data[..n])) {
                Ok(k) => sent += k as u64,
                Err(_) => break,
            }
        }
        if child.is_none() {
            child = sim.with_stack(b, |s, _| s.accept(l).ok().map(|(c, _)| c));
        }
        if let Some(c) = child {
            while let Ok(k) = sim.with_stack(b, |s, now| s.recv(now, c, &mut rbuf)) {
                if k == 0 {
                    break;
                }
                got += k as u64;
            }
        }
    }
    Ok((sim.now() - start).as_secs_f64())
}

/// The kernel (cubic) across the same link: two namespaces, each with a TUN device, and
/// the link between the devices in user space (this kernel has no `netem`:
/// `CONFIG_NET_SCH_NETEM` is not set) — each direction drops 1 % of datagrams at random,
/// serialises the rest at 100 Mbit/s and delivers them 25 ms later. Seconds to move `bytes`.
fn kernel_lossy(bytes: u64, seed: u64) -> Result<f64, String> {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use synq_peer::Tun;
    synq_peer::in_fresh_netns(&[], move || -> Result<f64, String> {
        let (tun_tx, tun_rx) = std::sync::mpsc::channel::<Result<Tun, String>>();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<(u64, WallClock)>();
        std::thread::spawn(move || {
            let setup = (|| -> Result<(Tun, TcpListener), String> {
                // SAFETY: unshare on this thread only.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                    return Err("unshare".into());
                }
                let tun = Tun::create("tb")?;
                synq_peer::ip(&["link", "set", "lo", "up"])?;
                synq_peer::ip(&["addr", "add", "192.0.2.2/24", "dev", "tb"])?;
                synq_peer::ip(&["link", "set", "tb", "up"])?;
                synq_peer::sysctl("net.ipv4.tcp_congestion_control", "cubic");
                let l = TcpListener::bind(("192.0.2.2", PORT)).map_err(|e| e.to_string())?;
                Ok((tun, l))
            })();
            let l = match setup {
                Ok((tun, l)) => {
                    tun_tx.send(Ok(tun)).ok();
                    l
                }
                Err(e) => {
                    tun_tx.send(Err(e)).ok();
                    return;
                }
            };
            if let Some(mut s) = l.incoming().flatten().next() {
                let mut buf = vec![0u8; CHUNK];
                let mut n = 0u64;
                while let Ok(k) = s.read(&mut buf) {
                    if k == 0 {
                        break;
                    }
                    n += k as u64;
                }
                done_tx.send((n, WallClock::now())).ok();
            }
        });
        let ta = Tun::create("ta")?;
        synq_peer::ip(&["addr", "add", "192.0.2.1/24", "dev", "ta"])?;
        synq_peer::ip(&["link", "set", "ta", "up"])?;
        synq_peer::sysctl("net.ipv4.tcp_congestion_control", "cubic");
        let tb = tun_rx.recv().map_err(|_| "the second namespace failed")??;
        let (ta, tb) = (Arc::new(ta), Arc::new(tb));
        let stop = Arc::new(AtomicBool::new(false));
        let relays: Vec<_> = [(ta.clone(), tb.clone(), seed), (tb, ta, seed ^ 0xabcd)]
            .into_iter()
            .map(|(from, to, seed)| {
                let stop = stop.clone();
                std::thread::spawn(move || relay(&from, &to, seed, &stop))
            })
            .collect();
        let result = (|| -> Result<f64, String> {
            let start = WallClock::now();
            let mut s = TcpStream::connect(("192.0.2.2", PORT)).map_err(|e| e.to_string())?;
            let buf = vec![0x5au8; CHUNK];
            let mut left = bytes;
            while left > 0 {
                let n = left.min(CHUNK as u64) as usize;
                s.write_all(&buf[..n]).map_err(|e| e.to_string())?;
                left -= n as u64;
            }
            s.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
            let (n, end) = done_rx.recv().map_err(|_| "the receiver stopped")?;
            if n != bytes {
                return Err(format!("received {n} of {bytes} bytes"));
            }
            Ok((end - start).as_secs_f64())
        })();
        stop.store(true, Ordering::Relaxed);
        for r in relays {
            r.join().ok();
        }
        result
    })?
}

/// One direction of the emulated link: 1 % loss, 100 Mbit/s, 25 ms.
fn relay(from: &synq_peer::Tun, to: &synq_peer::Tun, seed: u64, stop: &std::sync::atomic::AtomicBool) {
    use std::collections::VecDeque;
    let mut rng = synq_core::rng::Rng::seed_from_u64(seed);
    let mut queue: VecDeque<(WallClock, Vec<u8>)> = VecDeque::new();
    let mut free_at = WallClock::now();
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let now = WallClock::now();
        while queue.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, d)) = queue.pop_front() {
                let _ = to.write(&d);
            }
        }
        let wait = queue.front().map_or(WallDuration::from_millis(1), |(due, _)| {
            due.saturating_duration_since(now)
        });
        if let Some(n) = from.read_timeout(&mut buf, wait.min(WallDuration::from_millis(1))) {
            if rng.below(100) == 0 {
                continue;
            }
            let now = WallClock::now();
            free_at = free_at.max(now) + WallDuration::from_nanos(n as u64 * 8 * 10);
            queue.push_back((free_at + WallDuration::from_millis(25), buf[..n].to_vec()));
        }
    }
}

fn ratio(a: f64, b: &Result<f64, String>) -> String {
    b.as_ref().map_or("-".into(), |b| format!("{:.2}x", a / b))
}

fn col(r: &Result<f64, String>, unit: &str) -> String {
    r.as_ref()
        .map_or_else(|e| format!("- ({e})"), |v| format!("{v:.2}{unit}"))
}

/// Runs the benchmark: `mb` MiB in memory, `lossy_mb` MiB over the lossy link, `conns`
/// idle connections, each figure the median of `runs`.
pub fn established(mb: u64, lossy_mb: u64, conns: u32, runs: usize) -> Result<(), String> {
    let bytes = mb << 20;
    let kernel_ok = synq_peer::unavailable();
    let kernel = |f: &dyn Fn() -> Result<f64, String>| match &kernel_ok {
        None => f(),
        Some(why) => Err(why.clone()),
    };
    println!("synq bench established: {mb} MiB in memory, {lossy_mb} MiB over a lossy link, {conns} idle connections; median of {runs} runs");
    let mut allocs = 0.0;
    let synq = median(runs, || {
        synq_bulk(bytes).map(|(g, a)| {
            allocs = a;
            g
        })
    })?;
    let smol = median(runs, || smoltcp_bulk(bytes));
    let kern = kernel(&|| median(runs, || kernel_bulk(bytes)));
    println!(
        "{:<30}{:>10}{:>12}{:>12}{:>14}{:>14}",
        "bulk, Gbit/s (one core)", "synq", "smoltcp", "kernel lo", "synq÷smoltcp", "synq÷kernel"
    );
    println!(
        "{:<30}{:>10.2}{:>12}{:>12}{:>14}{:>14}",
        "in memory, MTU 1500",
        synq,
        col(&smol, ""),
        col(&kern, ""),
        ratio(synq, &smol),
        ratio(synq, &kern)
    );
    println!("allocations per segment on synq's established path: {allocs:.3}");
    let (est, tw) = synq_memory(conns)?;
    let k_est = slab_objsize("TCP");
    let k_tw = slab_objsize("tw_sock_TCP");
    println!(
        "{:<30}{:>10}{:>12}{:>14}",
        "bytes per", "synq", "kernel slab", "synq÷kernel"
    );
    println!(
        "{:<30}{:>10.0}{:>12}{:>14}",
        "idle established connection",
        est,
        col(&k_est, ""),
        ratio(est, &k_est)
    );
    println!(
        "{:<30}{:>10.0}{:>12}{:>14}",
        "TIME_WAIT entry",
        tw,
        col(&k_tw, ""),
        ratio(tw, &k_tw)
    );
    let lossy = lossy_mb << 20;
    let mut seed = 0;
    let s = median(runs, || {
        seed += 1;
        synq_lossy(lossy, seed)
    })?;
    let k = kernel(&|| {
        let mut v = Vec::new();
        for seed in 1..=runs.max(1) as u64 {
            v.push(kernel_lossy(lossy, seed)?);
        }
        v.sort_by(f64::total_cmp);
        Ok(v[v.len() / 2])
    });
    println!(
        "{:<30}{:>10}{:>12}{:>14}",
        "1 % loss, 50 ms RTT, 100 Mbit/s", "synq s", "kernel s", "synq÷kernel"
    );
    println!(
        "{:<30}{:>10.2}{:>12}{:>14}",
        format!("{lossy_mb} MiB, cubic"),
        s,
        col(&k, ""),
        ratio(s, &k)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synq_and_smoltcp_move_a_mebibyte_in_memory() {
        assert!(synq_bulk(1 << 20).unwrap().0 > 0.0);
        assert!(smoltcp_bulk(1 << 20).unwrap() > 0.0);
        assert!(synq_lossy(64 << 10, 1).unwrap() > 0.05);
    }
}
