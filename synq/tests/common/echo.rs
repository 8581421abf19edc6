// Plain `std::net` code. The module that includes it picks the implementation by its
// imports alone: `std::net`'s types, or `synq::net`'s.

/// Serves one connection: echoes everything it reads, then closes its side.
pub fn echo_one(listener: TcpListener) -> std::io::Result<()> {
    let (mut s, _) = listener.accept()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    s.write_all(&buf)?;
    s.shutdown(Shutdown::Write)?;
    Ok(())
}

/// Sends `message`, half-closes, and reads the answer to its end.
pub fn ask(addr: SocketAddr, message: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    s.write_all(message)?;
    s.shutdown(Shutdown::Write)?;
    let mut back = Vec::new();
    s.read_to_end(&mut back)?;
    Ok(back)
}
