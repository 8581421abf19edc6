//! A client on synq, written as with `std::net` (only the imports differ).
//!
//! `cargo run -p synq --example client` (as root) makes a private network namespace, a TUN
//! device in it (the kernel at 192.0.2.1, synq at 192.0.2.2), starts a kernel HTTP-ish
//! server on 192.0.2.1:8080, and has synq fetch from it; then it shows Linux's errors as
//! synq gives them (a closed port: ECONNREFUSED).

use std::io::{Read, Write};
use std::net::Shutdown;
use synq::net::TcpStream;

fn main() -> std::io::Result<()> {
    synq_peer::in_fresh_netns(&[], || -> std::io::Result<()> {
        let driver = synq::on_tun(
            [192, 0, 2, 2].into(),
            &synq::TunConfig::new("synq0", [192, 0, 2, 1].into(), 24),
        )?;
        let _ = synq::net::set_default(driver);

        // The kernel's server.
        let server = std::net::TcpListener::bind("192.0.2.1:8080")?;
        std::thread::spawn(move || -> std::io::Result<()> {
            let (mut s, peer) = server.accept()?;
            let mut request = Vec::new();
            s.read_to_end(&mut request)?;
            write!(s, "the kernel read {} bytes from {peer}", request.len())?;
            Ok(())
        });

        // synq's client.
        let mut s = TcpStream::connect("192.0.2.1:8080")?;
        println!("client: connected {} -> {}", s.local_addr()?, s.peer_addr()?);
        s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
        s.shutdown(Shutdown::Write)?;
        let mut answer = String::new();
        s.read_to_string(&mut answer)?;
        println!("client: {answer}");

        match TcpStream::connect("192.0.2.1:8081") {
            Err(e) => println!("client: a closed port: {e} (errno {:?})", e.raw_os_error()),
            Ok(_) => panic!("nobody listens on 8081"),
        }
        Ok(())
    })
    .map_err(std::io::Error::other)?
}
