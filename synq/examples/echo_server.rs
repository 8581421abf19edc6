//! An echo server on synq, written as with `std::net` (only the imports differ).
//!
//! `cargo run -p synq --example echo_server` (as root) makes a private network namespace, a
//! TUN device in it (the kernel at 192.0.2.1, synq at 192.0.2.2), serves echo on
//! 192.0.2.2:7, has the kernel's own client talk to it, and exits. With `--forever` it makes
//! the device in the current namespace instead and serves until killed:
//! `echo hi | nc -N 192.0.2.2 7`.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use synq::net::{TcpListener, TcpStream};

fn serve(listener: TcpListener) -> std::io::Result<()> {
    for stream in listener.incoming() {
        let stream = stream?;
        std::thread::spawn(move || echo(stream));
    }
    Ok(())
}

fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return stream.shutdown(Shutdown::Write);
        }
        stream.write_all(&buf[..n])?;
    }
}

fn start() -> std::io::Result<()> {
    let driver = synq::on_tun(
        [192, 0, 2, 2].into(),
        &synq::TunConfig::new("synq0", [192, 0, 2, 1].into(), 24),
    )?;
    let _ = synq::net::set_default(driver);
    let listener = TcpListener::bind("192.0.2.2:7")?;
    println!("echo_server: listening on {}", listener.local_addr()?);
    std::thread::spawn(move || serve(listener));
    Ok(())
}

fn main() -> std::io::Result<()> {
    if std::env::args().any(|a| a == "--forever") {
        start()?;
        loop {
            std::thread::park();
        }
    }
    synq_peer::in_fresh_netns(&[], || -> std::io::Result<()> {
        start()?;
        // The kernel's client: std::net, over the device.
        let addr: SocketAddr = "192.0.2.2:7".parse().unwrap();
        for line in ["hello", "from the kernel", "to synq"] {
            let mut s = std::net::TcpStream::connect(addr)?;
            s.write_all(line.as_bytes())?;
            s.shutdown(Shutdown::Write)?;
            let mut back = String::new();
            s.read_to_string(&mut back)?;
            assert_eq!(back, line);
            println!("echo_server: the kernel sent {line:?} and got {back:?} back");
        }
        Ok(())
    })
    .map_err(std::io::Error::other)?
}
