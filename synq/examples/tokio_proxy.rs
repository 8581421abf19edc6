//! A transparent TCP proxy on synq and tokio, as TUN proxies are built: a transparent
//! listener (`IP_TRANSPARENT`) takes every connection routed to the device, whatever its
//! destination, and each is relayed to its original destination (`local_addr`) through the
//! kernel. Linux's SYN queue, backlog and cookies stand in front of it.
//!
//! `cargo run -p synq --example tokio_proxy` (as root) builds the whole scene in two private
//! network namespaces: in the clients' one, a TUN device (the kernel at 192.0.2.1, synq at
//! 192.0.2.2) with 203.0.113.0/24 routed into it; in the upstream one, an origin server at
//! 203.0.113.7:80. The kernel's clients connect to 203.0.113.7:80, synq accepts, the proxy
//! connects to 203.0.113.7:80 from the upstream namespace and copies both ways.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use synq::tokio::TcpListener;

/// Accepts forever; relays each connection to where it was going.
async fn proxy(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (mut inbound, client) = listener.accept().await?;
        let destination = inbound.local_addr()?;
        println!("tokio_proxy: {client} -> {destination}, relayed");
        tokio::spawn(async move {
            let mut outbound = tokio::net::TcpStream::connect(destination).await?;
            tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await
        });
    }
}

fn ip(args: &str) {
    let args: Vec<&str> = args.split_whitespace().collect();
    synq_peer::ip(&args).expect("ip");
}

fn main() -> std::io::Result<()> {
    synq_peer::in_fresh_netns(&[], || -> std::io::Result<()> {
        // The clients' namespace: the device, and the upstream network routed into it.
        let driver = synq::on_tun(
            [192, 0, 2, 2].into(),
            &synq::TunConfig::new("synq0", [192, 0, 2, 1].into(), 24),
        )?;
        ip("route add 203.0.113.0/24 dev synq0");
        let listener = TcpListener::bind_transparent_on(&driver, 9999)?;

        // The upstream namespace (a thread of its own): the origin server and the proxy's
        // outbound connections.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || -> std::io::Result<()> {
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            ip("link set lo up");
            ip("addr add 203.0.113.7/32 dev lo");
            let origin = std::net::TcpListener::bind("203.0.113.7:80")?;
            std::thread::spawn(move || {
                for s in origin.incoming().flatten() {
                    let mut s = s;
                    let mut request = [0u8; 64];
                    let n = s.read(&mut request).unwrap_or(0);
                    let _ = write!(
                        s,
                        "origin 203.0.113.7:80 got {:?}",
                        String::from_utf8_lossy(&request[..n])
                    );
                }
            });
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            ready_tx.send(()).ok();
            runtime.block_on(proxy(listener))
        });
        ready_rx.recv().map_err(std::io::Error::other)?;

        // The kernel's clients, in the clients' namespace.
        let to: SocketAddr = "203.0.113.7:80".parse().unwrap();
        for hello in ["hello", "through the proxy"] {
            let mut s = std::net::TcpStream::connect(to)?;
            s.write_all(hello.as_bytes())?;
            s.shutdown(Shutdown::Write)?;
            let mut answer = String::new();
            s.read_to_string(&mut answer)?;
            println!("tokio_proxy: the kernel's client sent {hello:?} to {to}: {answer}");
            assert!(answer.contains(hello));
        }
        Ok(())
    })
    .map_err(std::io::Error::other)?
}
