//! `synq bench tun`: synq on a real device against the kernel's clients and servers, next
//! to the kernel talking to itself over a veth pair and to smoltcp on the same kind of TUN
//! device, same run: bulk throughput both ways, and connections per second from kernel
//! clients. Everything runs in private network namespaces (192.0.2.0/24 on the TUN devices,
//! 198.51.100.0/24 on the veth pair); needs root.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use synq::{TunConfig, TunDriver};
use synq_core::{Credentials, Stack, StackConfig};

use crate::bench::median;

const KERNEL_TUN: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER_TUN: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const VETH_A: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const VETH_B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const CHUNK: usize = 64 * 1024;
/// The user-space stacks' socket buffers, the same for both: smoltcp's, and synq's
/// SO_RCVBUF/SO_SNDBUF (synq does not auto-tune its buffers yet, as Linux's
/// `tcp_rcv_space_adjust` and `tcp_sndbuf_expand` do).
const BUFFER: usize = 4 << 20;

/// Reads to the end; the bytes read.
fn drain(mut r: impl Read) -> std::io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut n = 0u64;
    loop {
        match r.read(&mut buf)? {
            0 => return Ok(n),
            k => n += k as u64,
        }
    }
}

/// Writes `bytes` in 64 KiB writes, then half-closes.
fn pour(mut w: impl Write, bytes: u64) -> std::io::Result<()> {
    let buf = vec![0x5au8; CHUNK];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        w.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Gbit/s of `bytes` moved in `took`.
fn gbits(bytes: u64, took: Duration) -> f64 {
    bytes as f64 * 8.0 / took.as_secs_f64() / 1e9
}

/// synq's stack on a TUN device `synq0` of this namespace (synq at .2, the kernel at .1).
fn synq_on_tun(offload: bool) -> Result<Arc<TunDriver>, String> {
    let mut config = StackConfig::new(PEER_TUN);
    config.credentials = Credentials::ROOT;
    let tun = TunConfig {
        offload,
        ..TunConfig::new("synq0", KERNEL_TUN, 24)
    };
    let mut stack = Stack::new(config);
    for knob in ["net.core.rmem_max=8388608", "net.core.wmem_max=8388608"] {
        stack.sysctl.apply(knob).map_err(|e| e.message().to_string())?;
    }
    Ok(Arc::new(
        TunDriver::start(stack, &tun).map_err(|e| format!("TUN: {e}"))?,
    ))
}

/// Gbit/s of one transfer: a thread takes one connection from `accept` and drains it while
/// `send` connects, pours `bytes` and half-closes; timed from the connect to the receiver's
/// end of stream.
fn transfer<S: Read + Send + 'static>(
    bytes: u64,
    accept: impl FnOnce() -> std::io::Result<S> + Send + 'static,
    send: impl FnOnce() -> std::io::Result<()>,
) -> Result<f64, String> {
    let receiver = std::thread::spawn(move || -> std::io::Result<(u64, Instant)> {
        let n = drain(accept()?)?;
        Ok((n, Instant::now()))
    });
    let start = Instant::now();
    send().map_err(|e| format!("send: {e}"))?;
    let (n, end) = receiver
        .join()
        .map_err(|_| "receiver panicked")?
        .map_err(|e| format!("receive: {e}"))?;
    if n != bytes {
        return Err(format!("received {n} of {bytes} bytes"));
    }
    Ok(gbits(bytes, end - start))
}

/// Kernel → synq and synq → kernel over TUN, Gbit/s.
fn synq_bulk(d: &Arc<TunDriver>, bytes: u64, port: u16) -> Result<(f64, f64), String> {
    let l = synq::net::TcpListener::bind_on(d, (PEER_TUN, port)).map_err(|e| e.to_string())?;
    l.set_recv_buffer_size(BUFFER).map_err(|e| e.to_string())?;
    let inbound = transfer(
        bytes,
        move || l.accept().map(|(s, _)| s),
        || {
            let s = TcpStream::connect((PEER_TUN, port))?;
            pour(&s, bytes)?;
            s.shutdown(Shutdown::Write)
        },
    )?;
    let l = TcpListener::bind((KERNEL_TUN, port)).map_err(|e| e.to_string())?;
    let outbound = transfer(
        bytes,
        move || l.accept().map(|(s, _)| s),
        || {
            let s = synq::net::TcpStream::connect_on(d, (KERNEL_TUN, port))?;
            s.set_send_buffer_size(BUFFER)?;
            pour(&s, bytes)?;
            s.shutdown(Shutdown::Write)
        },
    )?;
    Ok((inbound, outbound))
}

/// `n` kernel connections, one after another, to a server that accepts and closes at once:
/// connections per second (connect() to the client's end of stream).
fn kernel_connections(to: SocketAddr, n: u32) -> Result<f64, String> {
    let start = Instant::now();
    for _ in 0..n {
        let mut s = TcpStream::connect(to).map_err(|e| format!("connect {to}: {e}"))?;
        let mut b = [0u8; 1];
        s.read(&mut b).map_err(|e| e.to_string())?;
    }
    Ok(f64::from(n) / start.elapsed().as_secs_f64())
}

/// Kernel servers in a second namespace across a veth pair (this namespace 198.51.100.1,
/// that one 198.51.100.2): at :5001 each connection is drained and its byte count and end
/// time sent to `done`; at :5002 each connection is accepted and closed at once.
fn veth_servers(done: std::sync::mpsc::Sender<(u64, Instant)>) -> Result<(), String> {
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    std::thread::spawn(move || {
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return;
        }
        tid_tx.send(unsafe { libc::gettid() }).ok();
        if go_rx.recv().is_err() {
            return;
        }
        let setup = (|| -> Result<(TcpListener, TcpListener), String> {
            for args in [
                &["link", "set", "lo", "up"][..],
                &["addr", "add", &format!("{VETH_B}/24"), "dev", "vb"],
                &["link", "set", "vb", "up"],
            ] {
                synq_peer::ip(args)?;
            }
            let bulk = TcpListener::bind((VETH_B, 5001)).map_err(|e| e.to_string())?;
            let conns = TcpListener::bind((VETH_B, 5002)).map_err(|e| e.to_string())?;
            Ok((bulk, conns))
        })();
        let (bulk, conns) = match setup {
            Ok(l) => l,
            Err(e) => {
                ready_tx.send(Err(e)).ok();
                return;
            }
        };
        std::thread::spawn(move || {
            for s in conns.incoming().flatten() {
                drop(s);
            }
        });
        ready_tx.send(Ok(())).ok();
        for s in bulk.incoming().flatten() {
            let n = drain(&s).unwrap_or(0);
            if done.send((n, Instant::now())).is_err() {
                return;
            }
        }
    });
    let tid = tid_rx.recv().map_err(|_| "the second namespace failed")?.to_string();
    synq_peer::ip(&["link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", &tid])?;
    synq_peer::ip(&["addr", "add", &format!("{VETH_A}/24"), "dev", "va"])?;
    synq_peer::ip(&["link", "set", "va", "up"])?;
    go_tx.send(()).map_err(|_| "the second namespace failed")?;
    ready_rx.recv().map_err(|_| "the second namespace failed")?
}

/// smoltcp on a TUN device: its phy over tun-rs (one datagram per read and write).
mod smol {
    use super::*;
    use smoltcp::iface::{Config, Interface, SocketSet};
    use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
    use smoltcp::socket::tcp::{Socket, SocketBuffer, State};
    use smoltcp::time::Instant as SmolInstant;
    use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
    use std::os::fd::AsRawFd;

    pub struct Tun {
        dev: tun_rs::SyncDevice,
        rx: Vec<u8>,
        tx: Vec<u8>,
    }

    pub struct Rx<'a>(&'a mut [u8]);
    pub struct Tx<'a>(&'a tun_rs::SyncDevice, &'a mut Vec<u8>);

    impl RxToken for Rx<'_> {
        fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
            f(self.0)
        }
    }

    impl TxToken for Tx<'_> {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
            self.1.resize(len, 0);
            let r = f(&mut self.1[..len]);
            let _ = self.0.send(&self.1[..len]);
            r
        }
    }

    impl Device for Tun {
        type RxToken<'a> = Rx<'a>;
        type TxToken<'a> = Tx<'a>;

        fn receive(&mut self, _: SmolInstant) -> Option<(Rx<'_>, Tx<'_>)> {
            let n = self.dev.recv(&mut self.rx).ok()?;
            Some((Rx(&mut self.rx[..n]), Tx(&self.dev, &mut self.tx)))
        }

        fn transmit(&mut self, _: SmolInstant) -> Option<Tx<'_>> {
            Some(Tx(&self.dev, &mut self.tx))
        }

        fn capabilities(&self) -> DeviceCapabilities {
            let mut caps = DeviceCapabilities::default();
            caps.medium = Medium::Ip;
            caps.max_transmission_unit = 1500;
            caps
        }
    }

    /// smoltcp at 192.0.2.2 on a device `smol0` (the addresses synq has on its own, in a
    /// namespace of its own): kernel → smoltcp and smoltcp → kernel, Gbit/s.
    pub fn bulk(bytes: u64, port: u16) -> Result<(f64, f64), String> {
        let dev = tun_rs::DeviceBuilder::new()
            .name("smol0")
            .ipv4(KERNEL_TUN, 24, None)
            .mtu(1500)
            .build_sync()
            .map_err(|e| format!("TUN: {e}"))?;
        dev.set_nonblocking(true).map_err(|e| e.to_string())?;
        let _ = std::fs::write("/proc/sys/net/ipv6/conf/smol0/disable_ipv6", "1");
        let mut tun = Tun {
            dev,
            rx: vec![0; 65536],
            tx: Vec::with_capacity(1500),
        };
        let epoch = Instant::now();
        let now = || SmolInstant::from_micros(epoch.elapsed().as_micros() as i64);
        let mut iface = Interface::new(Config::new(HardwareAddress::Ip), &mut tun, now());
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::from(PEER_TUN), 24)).unwrap();
        });
        let mut sockets = SocketSet::new(vec![]);
        let buffer = || SocketBuffer::new(vec![0u8; BUFFER]);

        // Kernel → smoltcp: the kernel pours from a thread, smoltcp drains in this one.
        let mut server = Socket::new(buffer(), buffer());
        server.listen(port).map_err(|e| format!("smoltcp listen: {e}"))?;
        let h = sockets.add(server);
        let start = Instant::now();
        let kernel = std::thread::spawn(move || -> std::io::Result<()> {
            let s = TcpStream::connect((PEER_TUN, port))?;
            pour(&s, bytes)?;
            s.shutdown(Shutdown::Write)
        });
        let mut got = 0u64;
        run(&mut iface, &mut tun, &mut sockets, now, |sockets| {
            let s = sockets.get_mut::<Socket>(h);
            while let Ok(n) = s.recv(|b| (b.len(), b.len())) {
                if n == 0 {
                    break;
                }
                got += n as u64;
            }
            if !s.may_recv() && s.state() != State::Listen && s.state() != State::SynReceived {
                s.close();
                return true;
            }
            false
        })?;
        let inbound = gbits(got, start.elapsed());
        kernel
            .join()
            .map_err(|_| "the kernel client panicked")?
            .map_err(|e| e.to_string())?;
        if got != bytes {
            return Err(format!("smoltcp received {got} of {bytes} bytes"));
        }

        // smoltcp → kernel.
        let kl = TcpListener::bind((KERNEL_TUN, port + 1)).map_err(|e| e.to_string())?;
        let outbound = transfer(
            bytes,
            move || kl.accept().map(|(s, _)| s),
            || {
                let mut client = Socket::new(buffer(), buffer());
                client
                    .connect(iface.context(), (IpAddress::from(KERNEL_TUN), port + 1), 49152)
                    .map_err(|e| std::io::Error::other(format!("smoltcp connect: {e}")))?;
                let h = sockets.add(client);
                let block = vec![0x5au8; CHUNK];
                let mut sent = 0u64;
                run(&mut iface, &mut tun, &mut sockets, now, |sockets| {
                    let s = sockets.get_mut::<Socket>(h);
                    while sent < bytes && s.can_send() {
                        let want = (bytes - sent).min(CHUNK as u64) as usize;
                        match s.send_slice(&block[..want]) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => sent += n as u64,
                        }
                    }
                    if sent == bytes {
                        s.close();
                    }
                    sent == bytes && !s.is_active() || s.state() == State::TimeWait
                })
                .map_err(std::io::Error::other)
            },
        )?;
        Ok((inbound, outbound))
    }

    /// smoltcp's loop: poll the interface, run `app` until it says done, sleep in poll(2) on
    /// the device until smoltcp's next deadline.
    fn run(
        iface: &mut Interface,
        tun: &mut Tun,
        sockets: &mut SocketSet,
        now: impl Fn() -> SmolInstant,
        mut app: impl FnMut(&mut SocketSet) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            iface.poll(now(), tun, sockets);
            if app(sockets) {
                iface.poll(now(), tun, sockets);
                return Ok(());
            }
            iface.poll(now(), tun, sockets);
            if Instant::now() > deadline {
                return Err("smoltcp: the transfer did not finish in 120 s".into());
            }
            let wait = iface
                .poll_delay(now(), sockets)
                .map_or(100, |d| d.total_millis().min(100) as i32);
            let mut fd = libc::pollfd {
                fd: tun.dev.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll(2) on one valid pollfd.
            unsafe { libc::poll(&mut fd, 1, wait) };
        }
    }
}

/// `synq bench tun`.
pub fn tun(mb: u64, conns: u32, runs: usize, offload: bool) -> Result<(), String> {
    if let Some(why) = synq_peer::tun_unavailable() {
        return Err(format!("bench tun: {why}"));
    }
    let bytes = mb << 20;
    let runs = runs.max(1);
    println!(
        "synq bench tun: {mb} MiB each way, {conns} connections one after another, median of {runs} runs; synq's device offloads {}",
        if offload { "on (virtio-net header, GSO/GRO)" } else { "off" }
    );

    // The kernel and itself across a veth pair.
    let (veth_bulk, veth_conns) = synq_peer::in_fresh_netns(&[], move || -> Result<(f64, f64), String> {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        veth_servers(done_tx)?;
        let to = SocketAddr::V4(SocketAddrV4::new(VETH_B, 5001));
        let bulk = median(runs, || {
            let start = Instant::now();
            let s = TcpStream::connect(to).map_err(|e| format!("connect {to}: {e}"))?;
            pour(&s, bytes).map_err(|e| e.to_string())?;
            s.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
            let (n, end) = done_rx.recv().map_err(|_| "the veth server stopped")?;
            if n != bytes {
                return Err(format!("received {n} of {bytes} bytes"));
            }
            Ok(gbits(bytes, end - start))
        })?;
        let rate = median(runs, || {
            kernel_connections(SocketAddr::V4(SocketAddrV4::new(VETH_B, 5002)), conns)
        })?;
        Ok((bulk, rate))
    })??;

    // synq on TUN, the kernel's clients and servers on the other side.
    let (synq_in, synq_out, synq_conns) =
        synq_peer::in_fresh_netns(&[], move || -> Result<(f64, f64, f64), String> {
            let d = synq_on_tun(offload)?;
            let mut port = 5000;
            let mut ins = Vec::new();
            let outs = median(runs, || {
                port += 2;
                let (i, o) = synq_bulk(&d, bytes, port)?;
                ins.push(i);
                Ok::<f64, String>(o)
            })?;
            ins.sort_by(f64::total_cmp);
            let l = synq::net::TcpListener::bind_on(&d, (PEER_TUN, 6000)).map_err(|e| e.to_string())?;
            l.listen(4096).map_err(|e| e.to_string())?;
            std::thread::spawn(move || {
                for s in l.incoming() {
                    drop(s);
                }
            });
            let rate = median(runs, || {
                kernel_connections(SocketAddr::V4(SocketAddrV4::new(PEER_TUN, 6000)), conns)
            })?;
            Ok((ins[ins.len() / 2], outs, rate))
        })??;

    // smoltcp on the same kind of device.
    let (smol_in, smol_out) = synq_peer::in_fresh_netns(&[], move || -> Result<(f64, f64), String> {
        let mut port = 7000;
        let mut ins = Vec::new();
        let outs = median(runs, || {
            port += 2;
            let (i, o) = smol::bulk(bytes, port)?;
            ins.push(i);
            Ok::<f64, String>(o)
        })?;
        ins.sort_by(f64::total_cmp);
        Ok((ins[ins.len() / 2], outs))
    })??;

    println!();
    println!(
        "{:<28}{:>11}{:>13}{:>13}{:>11}{:>14}",
        "bulk, Gbit/s", "synq TUN", "kernel veth", "smoltcp TUN", "synq÷veth", "synq÷smoltcp"
    );
    for (what, synq, smol) in [
        ("kernel → stack", synq_in, smol_in),
        ("stack → kernel", synq_out, smol_out),
    ] {
        println!(
            "{what:<28}{synq:>11.2}{veth_bulk:>13.2}{smol:>13.2}{:>10.2}x{:>13.2}x",
            synq / veth_bulk,
            synq / smol
        );
    }
    println!();
    println!(
        "{:<28}{:>11}{:>13}{:>11}",
        "connections/s", "synq TUN", "kernel veth", "synq÷veth"
    );
    println!(
        "{:<28}{synq_conns:>11.0}{veth_conns:>13.0}{:>10.2}x",
        "kernel client, one by one",
        synq_conns / veth_conns
    );
    Ok(())
}
