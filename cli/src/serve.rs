//! `synq serve` and `synq connect`: synq on a TUN device the command makes, against the
//! kernel on the other side of it.

use clap::Args;
use std::io::{IsTerminal, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use synq::net::{TcpListener, TcpStream};
use synq::{TunConfig, TunDriver};
use synq_core::{Credentials, Stack, StackConfig};

/// The device and the stack on it.
#[derive(Args, Debug)]
pub struct TunArgs {
    /// The TUN device to create (or open).
    #[arg(long, value_name = "NAME")]
    tun: String,
    /// synq's address on it, `A/N`.
    #[arg(long, value_name = "A/N")]
    addr: String,
    /// The kernel's address on it, `B/N`.
    #[arg(long = "kernel-addr", value_name = "B/N")]
    kernel_addr: String,
    /// The device's MTU.
    #[arg(long, default_value_t = 1500)]
    mtu: u16,
    /// Leave the device's offloads off (no virtio-net header: one datagram per read and
    /// write, no GSO/GRO).
    #[arg(long = "no-offload")]
    no_offload: bool,
    /// Set a knob of synq's stack, as `sysctl -w` (repeatable).
    #[arg(long = "sysctl", value_name = "NAME=VALUE")]
    sysctls: Vec<String>,
    /// Write every datagram that crosses the device, either way, to this pcap file.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
}

/// Options of `synq serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    tun: TunArgs,
    /// The port to listen on at synq's address.
    #[arg(long)]
    port: u16,
    /// The listen backlog (clamped to `net.core.somaxconn`, as Linux does).
    #[arg(long, default_value_t = 128)]
    backlog: i32,
    /// Echo what each connection sends.
    #[arg(long, group = "mode")]
    echo: bool,
    /// Read and drop what each connection sends.
    #[arg(long, group = "mode")]
    discard: bool,
    /// Answer `GET /file` with the file's bytes from DIR (HTTP/1.1).
    #[arg(long, value_name = "DIR", group = "mode")]
    http: Option<PathBuf>,
}

/// Options of `synq connect`.
#[derive(Args, Debug)]
pub struct ConnectArgs {
    #[command(flatten)]
    tun: TunArgs,
    /// Where to connect, `HOST:PORT` (an IPv4 address).
    target: String,
    /// Send this file's bytes, then shut down the sending side.
    #[arg(long, value_name = "FILE")]
    send: Option<PathBuf>,
    /// Write what comes back to this file (else to standard output).
    #[arg(long, value_name = "FILE")]
    recv: Option<PathBuf>,
}

fn cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (a, n) = s.split_once('/').ok_or(format!("`{s}`: expected ADDRESS/PREFIX"))?;
    let addr = a.parse().map_err(|e| format!("`{s}`: {e}"))?;
    let prefix = n
        .parse()
        .ok()
        .filter(|&p: &u8| p <= 32)
        .ok_or(format!("`{s}`: a prefix is 0..=32"))?;
    Ok((addr, prefix))
}

/// The stack at `--addr` with the `--sysctl` knobs, driven on a new TUN device.
fn start(args: &TunArgs) -> Result<(Arc<TunDriver>, Ipv4Addr), String> {
    let (addr, _) = cidr(&args.addr)?;
    let (kernel_addr, prefix) = cidr(&args.kernel_addr)?;
    let mut config = StackConfig::new(addr);
    config.credentials = Credentials::ROOT;
    config.mtu = args.mtu;
    let mut stack = Stack::new(config);
    for w in &args.sysctls {
        stack
            .sysctl
            .apply(w)
            .map_err(|e| format!("--sysctl {w}: {}", e.message()))?;
    }
    let tun = TunConfig {
        mtu: args.mtu,
        offload: !args.no_offload,
        ..TunConfig::new(&args.tun, kernel_addr, prefix)
    };
    let driver = TunDriver::start(stack, &tun).map_err(|e| format!("TUN device {}: {e}", args.tun))?;
    if let Some(path) = &args.pcap {
        driver.set_capture(Some(pcap_capture(path)?));
    }
    Ok((Arc::new(driver), addr))
}

/// A pcap file (raw IPv4, ns timestamps on the wall clock) that the driver writes each
/// datagram to; flushed when the driver goes.
fn pcap_capture(path: &Path) -> Result<synq_driver::Capture, String> {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    use pcap_file::{DataLink, TsResolution};
    let file = std::fs::File::create(path).map_err(|e| format!("--pcap {}: {e}", path.display()))?;
    let header = PcapHeader {
        datalink: DataLink::IPV4,
        ts_resolution: TsResolution::NanoSecond,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(std::io::BufWriter::new(file), header)
        .map_err(|e| format!("--pcap {}: {e}", path.display()))?;
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Box::new(move |since: Duration, datagram: &[u8]| {
        let packet = PcapPacket::new(epoch + since, datagram.len() as u32, datagram);
        if let Err(e) = writer.write_packet(&packet) {
            tracing::warn!(error = %e, "pcap write failed");
        }
    }))
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// `synq serve`: serves until SIGINT or SIGTERM, then closes its listener and its
/// connections.
pub fn serve(args: &ServeArgs) -> Result<(), String> {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let (driver, addr) = start(&args.tun)?;
    let _control = crate::control::open(&driver, &args.tun.tun)?;
    let listener =
        TcpListener::bind_on(&driver, (addr, args.port)).map_err(|e| format!("bind {addr}:{}: {e}", args.port))?;
    listener.listen(args.backlog).map_err(|e| format!("listen: {e}"))?;
    let mode = if args.discard {
        "discard"
    } else if let Some(dir) = &args.http {
        if !dir.is_dir() {
            return Err(format!("--http {}: not a directory", dir.display()));
        }
        "http"
    } else {
        "echo"
    };
    println!("synq serve: {mode} on {addr}:{} over {}", args.port, args.tun.tun);
    let _ = std::io::stdout().flush();
    let mut workers = Vec::new();
    while !STOP.load(Ordering::SeqCst) {
        let Some((stream, peer)) = listener
            .accept_timeout(Duration::from_millis(100))
            .map_err(|e| format!("accept: {e}"))?
        else {
            continue;
        };
        tracing::debug!(%peer, "connection");
        let http = args.http.clone();
        workers.push(std::thread::spawn(move || {
            let r = match (mode, http) {
                ("http", Some(dir)) => serve_http(&stream, &dir),
                ("discard", _) => std::io::copy(&mut &stream, &mut std::io::sink()).map(drop),
                _ => echo(&stream),
            };
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended");
            }
        }));
        workers.retain(|w| !w.is_finished());
    }
    drop(listener);
    for w in workers {
        if w.is_finished() {
            let _ = w.join();
        }
    }
    println!("synq serve: stopped");
    Ok(())
}

fn echo(stream: &TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    let mut s = stream;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return stream.shutdown(Shutdown::Write);
        }
        s.write_all(&buf[..n])?;
    }
}

/// One HTTP/1.1 request: `GET /name` answered with the file `dir/name` (no `..`), or 404.
fn serve_http(stream: &TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    let mut s = stream;
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        if s.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let name = path.trim_start_matches('/');
    let file = (method == "GET" && !name.is_empty() && !name.split('/').any(|p| p == ".." || p.is_empty()))
        .then(|| std::fs::read(dir.join(name)).ok())
        .flatten();
    let mut out = stream;
    match file {
        Some(body) => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            out.write_all(&body)?;
        }
        None => out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?,
    }
    stream.shutdown(Shutdown::Write)?;
    // Read what the client still sends until it closes, so that our close sends no reset.
    std::io::copy(&mut &*stream, &mut std::io::sink()).map(drop)
}

/// `synq connect`: sends `--send`'s file while it receives (so an echo cannot stall it),
/// half-closes after the file, receives to the end, closes; exit status 0 and a summary (the
/// state its side of the connection ends in) on standard error, else Linux's error text.
pub fn connect(args: &ConnectArgs) -> Result<(), String> {
    let target: SocketAddrV4 = args
        .target
        .parse()
        .map_err(|e| format!("`{}`: expected IPV4:PORT ({e})", args.target))?;
    let (driver, _) = start(&args.tun)?;
    let _control = crate::control::open(&driver, &args.tun.tun)?;
    let stream = TcpStream::connect_on(&driver, target).map_err(|e| format!("connect {target}: {e}"))?;
    let local = stream.local_addr().map_err(|e| e.to_string())?;
    let counts = [AtomicU64::new(0), AtomicU64::new(0)];
    let done = AtomicBool::new(false);
    let (sent, received) = std::thread::scope(|scope| -> Result<(u64, u64), String> {
        // Progress on a terminal: what has gone and come, twice a second.
        if std::io::stderr().is_terminal() {
            scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(500));
                    let [s, r] = counts.each_ref().map(|c| c.load(Ordering::Relaxed) as f64 / 1048576.0);
                    eprint!("\rsynq connect: sent {s:.1} MiB, received {r:.1} MiB ");
                }
                eprintln!();
            });
        }
        let writer = scope.spawn(|| -> Result<u64, String> {
            let Some(file) = &args.send else { return Ok(0) };
            let f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let n = std::io::copy(&mut Counted(f, &counts[0]), &mut &stream).map_err(|e| format!("send: {e}"))?;
            stream.shutdown(Shutdown::Write).map_err(|e| format!("shutdown: {e}"))?;
            Ok(n)
        });
        let received = match &args.recv {
            Some(file) => {
                let f = std::fs::File::create(file).map_err(|e| format!("{}: {e}", file.display()))?;
                std::io::copy(&mut &stream, &mut Counted(std::io::BufWriter::new(f), &counts[1]))
            }
            None => std::io::copy(&mut &stream, &mut Counted(std::io::stdout().lock(), &counts[1])),
        }
        .map_err(|e| format!("receive: {e}"));
        let sent = writer.join().map_err(|_| "the sender panicked")?;
        done.store(true, Ordering::Relaxed);
        Ok((sent?, received?))
    })?;
    drop(stream);
    // Wait (a little) for the close to settle, so that our FIN is acknowledged before the
    // device goes away and the state reported is the one the connection rests in.
    let state_of = |s: &mut Stack| {
        s.inet_diag()
            .into_iter()
            .find(|d| std::net::SocketAddr::V4(d.local) == local)
            .map_or("CLOSED", |d| synq_core::ss_state_name(d.state))
    };
    let settled = |state: &str| !matches!(state, "FIN-WAIT-1" | "CLOSING" | "LAST-ACK");
    let state = driver
        .wait(Some(Duration::from_secs(1)), |s, _| {
            Some(state_of(s)).filter(|st| settled(st))
        })
        .unwrap_or_else(|| driver.call(|s, _| state_of(s)));
    eprintln!(
        "synq connect: {local} -> {target}: sent {sent} bytes, received {received}; closed, synq's side now {state}"
    );
    Ok(())
}

/// A reader or writer that counts its bytes (for `synq connect`'s progress).
struct Counted<'a, T>(T, &'a AtomicU64);

impl<T: Read> Read for Counted<'_, T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<T: Write> Write for Counted<'_, T> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.0.write(buf)?;
        self.1.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Options of `synq demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Size of the file the kernel fetches, bytes.
    #[arg(long, default_value_t = 1 << 20)]
    size: usize,
    /// Write every datagram that crossed the device to this pcap file.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Set a knob of synq's stack, as `sysctl -w` (repeatable).
    #[arg(long = "sysctl", value_name = "NAME=VALUE")]
    sysctls: Vec<String>,
}

/// `synq demo`: a private network namespace, synq serving a file over HTTP on a TUN device
/// in it, the kernel's own client (curl, else a few lines of std) fetching it, what happened,
/// and everything torn down (the namespace ends with its thread).
pub fn demo(args: &DemoArgs) -> Result<(), String> {
    if let Some(why) = synq_peer::unavailable() {
        return Err(format!(
            "demo: {why} (it makes a network namespace and a TUN device; `synq sim` needs neither)"
        ));
    }
    let dir = std::env::temp_dir().join(format!("synq-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let body: Vec<u8> = (0..args.size).map(|i| (i * 131 % 251) as u8).collect();
    std::fs::write(dir.join("demo.bin"), &body).map_err(|e| e.to_string())?;
    let inside = dir.clone();
    let (pcap, sysctls) = (args.pcap.clone(), args.sysctls.clone());
    let result = synq_peer::in_fresh_netns(&[], move || demo_in_namespace(&inside, &body, pcap, sysctls))?;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn demo_in_namespace(dir: &Path, body: &[u8], pcap: Option<PathBuf>, sysctls: Vec<String>) -> Result<(), String> {
    const SYNQ: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
    let tun = TunArgs {
        tun: "synq0".into(),
        addr: format!("{SYNQ}/24"),
        kernel_addr: "192.0.2.1/24".into(),
        mtu: 1500,
        no_offload: false,
        sysctls,
        pcap,
    };
    println!("synq demo: a fresh network namespace; TUN device synq0: the kernel at 192.0.2.1/24, synq at {SYNQ}");
    let (driver, _) = start(&tun)?;
    let listener = TcpListener::bind_on(&driver, (SYNQ, 80)).map_err(|e| format!("bind: {e}"))?;
    let served = dir.to_path_buf();
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (stream, peer) = listener.accept()?;
        println!("synq demo: synq accepted {peer}");
        serve_http(&stream, &served)
    });
    let url = format!("http://{SYNQ}/demo.bin");
    let out = dir.join("fetched.bin");
    let start = std::time::Instant::now();
    let client = match std::process::Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o"])
        .arg(&out)
        .arg(&url)
        .status()
    {
        Ok(status) if status.success() => "curl",
        Ok(status) => return Err(format!("curl {url}: {status}")),
        Err(_) => {
            std_get(SYNQ, &out)?;
            "std::net::TcpStream"
        }
    };
    let took = start.elapsed();
    server
        .join()
        .map_err(|_| "the server panicked")?
        .map_err(|e| format!("serve: {e}"))?;
    let fetched = std::fs::read(&out).map_err(|e| e.to_string())?;
    if fetched != body {
        return Err(format!(
            "fetched {} bytes that differ from the {} served",
            fetched.len(),
            body.len()
        ));
    }
    println!(
        "synq demo: the kernel's {client} fetched {url}: {} bytes in {:.1} ms, identical to the file",
        fetched.len(),
        took.as_secs_f64() * 1e3
    );
    let counters = driver.call(|s, _| {
        use synq_core::Counter;
        [
            Counter::TcpPassiveOpens,
            Counter::TcpInSegs,
            Counter::TcpOutSegs,
            Counter::TcpRetransSegs,
        ]
        .map(|c| format!("{} {}", c.name(), s.mib().get(c)))
        .join(", ")
    });
    println!("synq demo: synq's counters: {counters}");
    drop(driver);
    println!("synq demo: device and namespace gone");
    Ok(())
}

/// A plain HTTP GET with std, for machines without curl.
fn std_get(host: Ipv4Addr, out: &Path) -> Result<(), String> {
    let mut s = std::net::TcpStream::connect((host, 80)).map_err(|e| format!("connect: {e}"))?;
    s.write_all(b"GET /demo.bin HTTP/1.1\r\nHost: synq\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).map_err(|e| e.to_string())?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP header")?;
    std::fs::write(out, &answer[split + 4..]).map_err(|e| e.to_string())
}
