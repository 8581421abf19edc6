// Plain `tokio::net` code. The module that includes it picks the implementation by its
// imports alone: tokio's types, or `synq::tokio`'s.

/// Serves `n` connections at once, each on a task of its own: echoes what it reads through
/// the stream's two halves, then half-closes.
pub async fn echo(listener: TcpListener, n: usize) -> std::io::Result<()> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (stream, _) = listener.accept().await?;
        tasks.push(tokio::spawn(async move {
            let (mut r, mut w) = stream.into_split();
            tokio::io::copy(&mut r, &mut w).await?;
            w.shutdown().await
        }));
    }
    for t in tasks {
        t.await.expect("echo task")?;
    }
    Ok(())
}

/// Sends `message` and half-closes while reading the answer to its end.
pub async fn ask(addr: SocketAddr, message: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let (mut r, mut w) = s.split();
    let send = async {
        w.write_all(message).await?;
        w.shutdown().await
    };
    let recv = async {
        let mut back = Vec::new();
        r.read_to_end(&mut back).await.map(|_| back)
    };
    let (sent, back) = tokio::join!(send, recv);
    sent?;
    back
}
