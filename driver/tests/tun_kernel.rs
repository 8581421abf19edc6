//! synq on a TUN device against the Linux kernel, in a network namespace the test makes: the
//! kernel's side of the device at 192.0.2.1, synq at 192.0.2.2 (addresses that exist only in
//! that namespace). Without root or `/dev/net/tun` the test says it skipped; under `CI=true`
//! it must run.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpStream};
use std::time::Duration;

use synq_core::consts::{AF_INET, SOCK_STREAM};
use synq_core::{Credentials, Errno, Stack, StackConfig};
use synq_driver::{TunConfig, TunDriver};

const KERNEL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SYNQ: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const WAIT: Duration = Duration::from_secs(10);

/// Runs `f` in a fresh namespace, or says why it cannot (a failure under `CI=true`).
fn in_netns(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Some(why) = synq_peer::tun_unavailable() {
        return synq_peer::skip_or_fail(name, &why);
    }
    synq_peer::in_fresh_netns(&[], f).expect("a network namespace");
}

fn driver(stack: Stack) -> TunDriver {
    let config = TunConfig::new("synq0", KERNEL, 24);
    TunDriver::start(stack, &config).expect("the TUN device")
}

/// recv() on synq, waiting for data or the end of the stream.
fn recv_all(d: &TunDriver, fd: synq_core::SocketId) -> Vec<u8> {
    let mut got = Vec::new();
    loop {
        let chunk = d
            .wait(Some(WAIT), |s, now| {
                let mut b = [0u8; 2048];
                match s.recv(now, fd, &mut b) {
                    Ok(n) => Some(Ok(b[..n].to_vec())),
                    Err(Errno::EAGAIN) => None,
                    Err(e) => Some(Err(e)),
                }
            })
            .expect("data in time")
            .expect("recv");
        if chunk.is_empty() {
            return got;
        }
        got.extend(chunk);
    }
}

#[test]
fn a_kernel_client_talks_to_a_synq_listener_over_tun() {
    in_netns("tun_kernel", || {
        let mut config = StackConfig::new(SYNQ);
        config.credentials = Credentials::ROOT; // port 7
        let mut stack = Stack::new(config);
        let l = stack.socket(AF_INET, SOCK_STREAM, 0).unwrap();
        stack.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7)).unwrap();
        stack.listen(l, 8).unwrap();
        let d = driver(stack);
        let client = std::thread::spawn(|| {
            let mut s = TcpStream::connect_timeout(&SocketAddrV4::new(SYNQ, 7).into(), WAIT)?;
            s.set_read_timeout(Some(WAIT))?;
            s.write_all(b"hello, synq")?;
            s.shutdown(Shutdown::Write)?;
            let mut back = Vec::new();
            s.read_to_end(&mut back)?;
            Ok::<_, std::io::Error>(back)
        });
        let (child, peer) = d.wait(Some(WAIT), |s, _| s.accept(l).ok()).expect("accept in time");
        assert_eq!(*peer.ip(), KERNEL);
        let got = recv_all(&d, child);
        assert_eq!(got, b"hello, synq");
        assert_eq!(d.call(|s, now| s.send(now, child, &got)), Ok(got.len()));
        d.call(|s, now| s.close(now, child)).unwrap();
        let back = client.join().unwrap().expect("the kernel's client");
        assert_eq!(back, b"hello, synq");
    });
}

#[test]
fn a_synq_client_reaches_a_kernel_server_and_is_refused_by_a_closed_port() {
    in_netns("tun_kernel", || {
        let d = driver(Stack::new(StackConfig::new(SYNQ)));
        // The kernel's server: the device's address exists once the driver made it.
        let server = std::net::TcpListener::bind(SocketAddrV4::new(KERNEL, 8080)).unwrap();
        let echo = std::thread::spawn(move || {
            let (mut s, _) = server.accept()?;
            let mut buf = Vec::new();
            s.read_to_end(&mut buf)?;
            s.write_all(&buf)?;
            Ok::<_, std::io::Error>(())
        });
        let fd = d.call(|s, _| s.socket(AF_INET, SOCK_STREAM, 0)).unwrap();
        let dst = SocketAddrV4::new(KERNEL, 8080);
        assert_eq!(d.call(|s, now| s.connect(now, fd, dst)), Err(Errno::EINPROGRESS));
        let r = d.wait(Some(WAIT), |s, now| match s.connect(now, fd, dst) {
            Err(Errno::EALREADY) => None,
            other => Some(other),
        });
        assert_eq!(r, Some(Ok(())));
        assert_eq!(d.call(|s, now| s.send(now, fd, b"ping")), Ok(4));
        d.call(|s, now| s.shutdown(now, fd, synq_core::consts::SHUT_WR))
            .unwrap();
        assert_eq!(recv_all(&d, fd), b"ping");
        echo.join().unwrap().expect("the kernel's server");
        // No listener on 8081: the kernel's reset refuses the connection.
        let fd = d.call(|s, _| s.socket(AF_INET, SOCK_STREAM, 0)).unwrap();
        let closed = SocketAddrV4::new(KERNEL, 8081);
        assert_eq!(d.call(|s, now| s.connect(now, fd, closed)), Err(Errno::EINPROGRESS));
        let r = d.wait(Some(WAIT), |s, now| match s.connect(now, fd, closed) {
            Err(Errno::EALREADY) => None,
            other => Some(other),
        });
        assert_eq!(r, Some(Err(Errno::ECONNREFUSED)));
    });
}
