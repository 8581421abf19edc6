//! Real clients and servers of the kernel against `synq serve` and `synq connect`, each test
//! in a network namespace it makes (documentation addresses that exist only inside it):
//! curl, netcat and Python against synq; synq against std servers; the listen backlog, SYN
//! cookies, TIME_WAIT and Linux's errors as the kernel's own clients see them. Without root
//! or `/dev/net/tun` a test says it skipped; under `CI=true` it must run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{serve, synq, synq_connect};

/// A directory of the test's own, which is also `$XDG_RUNTIME_DIR` for the control sockets.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("synq-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `f` in a fresh namespace, or says why it cannot (failing under CI).
fn in_netns(name: &'static str, f: impl FnOnce(&Path) + Send + 'static) {
    if let Some(why) = synq_peer::tun_unavailable() {
        return synq_peer::skip_or_fail(name, &why);
    }
    let scratch = Scratch::new(name);
    let dir = scratch.0.clone();
    synq_peer::in_fresh_netns(&[], move || f(&dir)).expect("a network namespace");
}

fn run(c: &mut Command) -> Output {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `synq <what> --tun <tun>` (ss or nstat) on a running synq.
fn ask(dir: &Path, what: &str, tun: &str) -> String {
    String::from_utf8(run(synq(dir).args([what, "--tun", tun])).stdout).unwrap()
}

/// A counter of `synq nstat`'s answer (0 when not listed).
fn counter(nstat: &str, name: &str) -> u64 {
    nstat
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(name)).then(|| w.next().unwrap().parse().unwrap())
        })
        .unwrap_or(0)
}

fn sha256(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn write_file(path: &Path, size: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let block: Vec<u8> = (0..65536u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut left = size;
    let mut round = 0u8;
    while left > 0 {
        let n = left.min(block.len());
        let chunk: Vec<u8> = block[..n].iter().map(|b| b ^ round).collect();
        f.write_all(&chunk).unwrap();
        left -= n;
        round = round.wrapping_add(1);
    }
}

const PYTHON_CLIENTS: &str = r#"
import resource, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conns = [socket.create_connection((host, port), timeout=20) for _ in range(n)]
for i, c in enumerate(conns):
    c.sendall(b"%d\n" % i)
for i, c in enumerate(conns):
    want = b"%d\n" % i
    got = b""
    while len(got) < len(want):
        chunk = c.recv(64)
        assert chunk, "connection %d closed early" % i
        got += chunk
    assert got == want, (i, got)
print("open", flush=True)
sys.stdin.readline()
for c in conns:
    c.close()
print("closed", n, flush=True)
"#;

#[test]
fn curl_netcat_and_python_against_synq_serve() {
    in_netns("curl_netcat_python", |dir| {
        // curl fetches a 10 MB file over HTTP; the hashes agree.
        let files = dir.join("files");
        std::fs::create_dir_all(&files).unwrap();
        write_file(&files.join("big"), 10 << 20);
        let http = serve(
            dir,
            "synq0",
            "192.0.2",
            &["--port", "80", "--http", files.to_str().unwrap()],
        );
        let fetched = dir.join("fetched");
        run(Command::new("curl")
            .args(["-sS", "--max-time", "60", "-o"])
            .arg(&fetched)
            .arg("http://192.0.2.2/big"));
        assert_eq!(sha256(&fetched), sha256(&files.join("big")), "curl's copy");
        let nstat = ask(dir, "nstat", "synq0");
        assert_eq!(counter(&nstat, "TcpPassiveOpens"), 1, "{nstat}");
        drop(http);

        // nc: a line there and back.
        let echo = serve(dir, "synq1", "198.51.100", &["--port", "7", "--echo"]);
        let mut nc = Command::new("nc")
            .args(["-N", "198.51.100.2", "7"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("netcat (netcat-openbsd)");
        nc.stdin.take().unwrap().write_all(b"hello synq\n").unwrap();
        let out = nc.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello synq\n");

        // Python opens 1000 connections and keeps them; synq ss lists them all.
        let mut py = Command::new("python3")
            .args(["-c", PYTHON_CLIENTS, "198.51.100.2", "7", "1000"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut lines = BufReader::new(py.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "open");
        let ss = ask(dir, "ss", "synq1");
        let established = ss.lines().filter(|l| l.starts_with("ESTAB")).count();
        assert_eq!(established, 1000, "{}", &ss[..ss.len().min(2000)]);
        let listen = ss.lines().find(|l| l.starts_with("LISTEN")).expect("the listener");
        assert_eq!(
            listen.split_whitespace().collect::<Vec<_>>(),
            ["LISTEN", "0", "128", "198.51.100.2:7", "0.0.0.0:*"]
        );
        py.stdin.take().unwrap().write_all(b"\n").unwrap();
        assert_eq!(lines.next().unwrap().unwrap(), "closed 1000");
        assert!(py.wait().unwrap().success());
        let nstat = ask(dir, "nstat", "synq1");
        assert_eq!(counter(&nstat, "TcpPassiveOpens"), 1001, "{nstat}");
        drop(echo);
    });
}

#[test]
fn syn_cookies_carry_a_connect_burst_past_a_small_backlog() {
    in_netns("syn_cookies_burst", |dir| {
        // A backlog of 4: the fifth request in the SYN queue gets a cookie (tcp_syncookies=1).
        let echo = serve(dir, "synq0", "192.0.2", &["--port", "7", "--echo", "--backlog", "4"]);
        const N: usize = 200;
        // N connect()s at once (non-blocking), then each connection used as a blocking one.
        let socks: Vec<synq_peer::Sock> = (0..N)
            .map(|_| {
                let s = synq_peer::Sock::tcp(0);
                s.set_nonblocking(true);
                s.connect("192.0.2.2:7".parse().unwrap());
                s
            })
            .collect();
        let socks: Vec<std::net::TcpStream> = socks.into_iter().map(synq_peer::Sock::into_std).collect();
        for (i, mut s) in socks.iter().enumerate() {
            s.set_nonblocking(false).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let msg = format!("{i}\n");
            s.write_all(msg.as_bytes()).expect("sent");
            let mut back = vec![0; msg.len()];
            s.read_exact(&mut back).expect("echoed");
            assert_eq!(back, msg.as_bytes());
        }
        let nstat = ask(dir, "nstat", "synq0");
        assert!(counter(&nstat, "TcpExtSyncookiesSent") > 0, "{nstat}");
        assert!(counter(&nstat, "TcpExtSyncookiesRecv") > 0, "{nstat}");
        assert_eq!(counter(&nstat, "TcpExtSyncookiesFailed"), 0, "{nstat}");
        assert_eq!(counter(&nstat, "TcpPassiveOpens"), N as u64, "{nstat}");
        drop(socks);
        drop(echo);
    });
}

/// The kernel's TIME-WAIT sockets in this namespace.
fn kernel_time_waits() -> usize {
    let out = run(Command::new("ss").args(["-Htan", "state", "time-wait"]));
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn synq_connect_moves_100_mb_each_way_and_fails_as_linux() {
    in_netns("synq_connect_100mb", |dir| {
        // 100 MB to a kernel echo server and back; synq half-closes first, so its side ends
        // in TIME-WAIT and the kernel's does not.
        let input = dir.join("in");
        let output = dir.join("out");
        write_file(&input, 100 << 20);
        let l = TcpListener::bind("0.0.0.0:9000").unwrap();
        let kernel = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            std::io::copy(&mut &s, &mut &s).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            (&s).read_to_end(&mut rest).unwrap();
        });
        let out = synq_connect(
            dir,
            &[
                "203.0.113.1:9000".as_ref(),
                "--send".as_ref(),
                input.as_os_str(),
                "--recv".as_ref(),
                output.as_os_str(),
            ],
        );
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{said}");
        kernel.join().unwrap();
        assert_eq!(sha256(&output), sha256(&input), "the file came back");
        assert!(said.contains("sent 104857600 bytes, received 104857600"), "{said}");
        assert!(said.contains("synq's side now TIME-WAIT"), "{said}");
        assert_eq!(kernel_time_waits(), 0);

        // The kernel closes first: TIME-WAIT is on its side.
        let l = TcpListener::bind("0.0.0.0:9001").unwrap();
        let kernel = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(b"bye\n").unwrap();
        });
        let out = synq_connect(dir, &["203.0.113.1:9001".as_ref()]);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{said}");
        kernel.join().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "bye\n");
        assert!(said.contains("synq's side now CLOSED"), "{said}");
        assert_eq!(kernel_time_waits(), 1);

        // A closed port: ECONNREFUSED, in Linux's words.
        let out = synq_connect(dir, &["203.0.113.1:9002".as_ref()]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Connection refused (os error 111)"), "{err}");

        // Nobody answers (the kernel does not forward): ETIMEDOUT after tcp_syn_retries=1,
        // that is the SYN, its retransmission 1 s later, and 2 s more.
        let start = Instant::now();
        let out = synq_connect(
            dir,
            &[
                "--sysctl".as_ref(),
                "net.ipv4.tcp_syn_retries=1".as_ref(),
                "203.0.113.99:9".as_ref(),
            ],
        );
        let took = start.elapsed();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Connection timed out (os error 110)"), "{err}");
        assert!(
            took >= Duration::from_secs(3) && took < Duration::from_secs(6),
            "{took:?}"
        );
    });
}

/// How `N` kernel clients that connect at once fare against a listener with backlog 1 that
/// accepts nothing for 300 ms and then everything: (accepted, reset). The listener is given
/// as its address and an `accept` that returns a connection's first byte, if one is queued.
fn overflow_outcome(
    to: std::net::SocketAddr,
    mut accept: impl FnMut() -> Option<std::io::Result<u8>>,
) -> (usize, usize) {
    const N: usize = 8;
    let to = match to {
        std::net::SocketAddr::V4(a) => a,
        _ => unreachable!(),
    };
    let clients: Vec<std::net::TcpStream> = (0..N)
        .map(|_| {
            let s = synq_peer::Sock::tcp(0);
            s.set_nonblocking(true);
            s.connect(to);
            s.into_std()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut reset = [false; N];
    let mut sent = [false; N];
    let mut accepted = 0;
    let deadline = Instant::now() + Duration::from_secs(15);
    while accepted + reset.iter().filter(|&&r| r).count() < N && Instant::now() < deadline {
        for (i, mut c) in clients.iter().enumerate() {
            if reset[i] {
                continue;
            }
            let r = if sent[i] {
                let mut b = [0u8; 1];
                c.read(&mut b).map(drop)
            } else {
                c.write(b"x").map(|_| sent[i] = true)
            };
            if let Err(e) = r {
                match e.kind() {
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => reset[i] = true,
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::NotConnected => {}
                    _ => panic!("client {i}: {e}"),
                }
            }
        }
        while let Some(first) = accept() {
            assert_eq!(first.expect("the client's byte"), b'x');
            accepted += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (accepted, reset.iter().filter(|&&r| r).count())
}

#[test]
fn listen_backlog_overflow_as_the_kernels_clients_see_it() {
    in_netns("backlog_overflow", |_| {
        let tun = synq::TunConfig::new("synq0", "192.0.2.1".parse().unwrap(), 24);
        let driver = synq::on_tun("192.0.2.2".parse().unwrap(), &tun).expect("TUN");
        for (abort, port) in [(0, 8000), (1, 8001)] {
            // synq's listener, the kernel's clients over TUN.
            driver.call(|s, _| {
                s.sysctl
                    .apply(&format!("net.ipv4.tcp_abort_on_overflow={abort}"))
                    .unwrap()
            });
            let l = synq::net::TcpListener::bind_on(&driver, ("192.0.2.2", port)).unwrap();
            l.listen(1).unwrap();
            l.set_nonblocking(true).unwrap();
            let on_synq = overflow_outcome(l.local_addr().unwrap(), || {
                let (s, _) = l.accept().ok()?;
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut b = [0u8; 1];
                Some((&s).read_exact(&mut b).map(|()| b[0]))
            });
            let (overflows, rsts) = driver.call(|s, _| {
                let mib = s.mib();
                (
                    mib.get(synq_core::Counter::TcpExtListenOverflows),
                    mib.get(synq_core::Counter::TcpOutRsts),
                )
            });
            // The kernel's listener, the same clients over lo.
            synq_peer::sysctl("net.ipv4.tcp_abort_on_overflow", &abort.to_string());
            let k = synq_peer::Sock::tcp(0);
            k.bind(format!("192.0.2.1:{port}").parse().unwrap());
            k.listen(1);
            let k = {
                use std::os::fd::{FromRawFd, IntoRawFd};
                let fd = k.into_std().into_raw_fd();
                unsafe { TcpListener::from_raw_fd(fd) }
            };
            k.set_nonblocking(true).unwrap();
            let on_kernel = overflow_outcome(k.local_addr().unwrap(), || {
                let (mut s, _) = k.accept().ok()?;
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut b = [0u8; 1];
                Some(s.read_exact(&mut b).map(|()| b[0]))
            });
            eprintln!(
                "tcp_abort_on_overflow={abort}: synq (accepted, reset) {on_synq:?}, ListenOverflows {overflows}; the kernel {on_kernel:?}"
            );
            for (who, (accepted, reset)) in [("synq", on_synq), ("the kernel", on_kernel)] {
                assert_eq!(accepted + reset, 8, "{who}: every client accepted or reset");
                if abort == 0 {
                    // Nothing is lost: dropped SYNs and ACKs are retried until the queue
                    // has room.
                    assert_eq!(reset, 0, "{who}");
                } else {
                    assert!(accepted >= 2, "{who}: the queue's two");
                }
            }
            assert!(overflows > 0, "synq counted its overflows");
            if abort == 0 {
                assert_eq!(rsts, 0, "no reset from synq");
            } else {
                assert!(on_synq.1 == 0 || rsts > 0, "each client reset was sent by synq");
            }
        }
    });
}
