//! The control socket of a running `synq serve` or `synq connect`, and `synq ss` / `synq
//! nstat`, which read it: a Unix socket `<tun>.sock` under `$XDG_RUNTIME_DIR/synq` (else
//! `/run/synq`, else the temporary directory). A reader writes one line, `ss` or `nstat` or
//! `nstat -z`, and gets the text back. A path socket is not bound to a network namespace, so
//! `synq ss` works from outside the namespace the stack's device is in.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use synq::TunDriver;
use synq_core::{ss_state_name, Counter, Stack, TcpState};

/// Where the control sockets live.
fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return Path::new(&d).join("synq");
    }
    let run = Path::new("/run/synq");
    if std::fs::create_dir_all(run).is_ok() {
        return run.to_path_buf();
    }
    std::env::temp_dir().join(format!("synq-{}", unsafe { libc::getuid() }))
}

/// The control socket of a running command: answers until dropped, then its file goes.
pub struct Control {
    path: PathBuf,
}

impl Drop for Control {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Opens `tun`'s control socket and answers on it from a thread of its own.
pub fn open(driver: &Arc<TunDriver>, tun: &str) -> Result<Control, String> {
    let dir = dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("{tun}.sock"));
    // A socket file left by a command that was killed answers nobody: take its place.
    if path.exists() && UnixStream::connect(&path).is_err() {
        let _ = std::fs::remove_file(&path);
    }
    let listener = UnixListener::bind(&path).map_err(|e| format!("control socket {}: {e}", path.display()))?;
    let driver = Arc::downgrade(driver);
    std::thread::Builder::new()
        .name("synq control".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let (Ok(conn), Some(driver)) = (conn, driver.upgrade()) else {
                    break;
                };
                if let Err(e) = answer(conn, &driver) {
                    tracing::debug!(error = %e, "control request");
                }
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(Control { path })
}

fn answer(conn: UnixStream, driver: &TunDriver) -> std::io::Result<()> {
    let mut line = String::new();
    BufReader::new(&conn).take(256).read_line(&mut line)?;
    let text = match line.trim() {
        "ss" => driver.call(|s, _| ss_text(s)),
        "nstat" => driver.call(|s, _| nstat_text(s, false)),
        "nstat -z" => driver.call(|s, _| nstat_text(s, true)),
        other => format!("unknown request `{other}`: ss, nstat or nstat -z\n"),
    };
    (&conn).write_all(text.as_bytes())
}

/// `ss -tan`'s table: state, Recv-Q, Send-Q (for a listener its accept queue and backlog),
/// local and peer address.
pub fn ss_text(stack: &Stack) -> String {
    let mut rows = stack.inet_diag();
    rows.sort_by_key(|d| (d.state != TcpState::Listen, d.local, d.peer));
    let mut out = format!(
        "{:<11}{:>6} {:>6} {:>21} {:>21}\n",
        "State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port"
    );
    for d in rows {
        let peer = if d.peer.port() == 0 {
            format!("{}:*", d.peer.ip())
        } else {
            d.peer.to_string()
        };
        out += &format!(
            "{:<11}{:>6} {:>6} {:>21} {:>21}\n",
            ss_state_name(d.state),
            d.recv_q,
            d.send_q,
            d.local.to_string(),
            peer
        );
    }
    out
}

/// `nstat -a`'s layout: a `#` line, then one counter a line (non-zero ones unless `zeros`).
pub fn nstat_text(stack: &Stack, zeros: bool) -> String {
    let mut out = String::from("#synq\n");
    for &c in Counter::ALL {
        let value = stack.mib().get(c);
        if value != 0 || zeros {
            out += &format!("{:<32}{value:<19}0.0\n", c.name());
        }
    }
    out
}

/// Options of `synq ss`.
#[derive(Args, Debug)]
pub struct SsArgs {
    /// The device of the running `synq serve`/`connect` to ask (else every one running).
    #[arg(long, value_name = "NAME")]
    tun: Option<String>,
}

/// `synq ss`: the sockets of each running synq.
pub fn ss(args: &SsArgs) -> Result<(), String> {
    query(args.tun.as_deref(), "ss")
}

/// `synq nstat` on a running synq (`-z` for zeros too).
pub fn nstat(tun: Option<&str>, zeros: bool) -> Result<(), String> {
    query(tun, if zeros { "nstat -z" } else { "nstat" })
}

fn query(tun: Option<&str>, request: &str) -> Result<(), String> {
    let dir = dir();
    let paths: Vec<PathBuf> = match tun {
        Some(t) => vec![dir.join(format!("{t}.sock"))],
        None => {
            let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map(|entries| {
                    entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "sock"))
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v
        }
    };
    let mut answered = 0;
    for path in &paths {
        let Ok(mut conn) = UnixStream::connect(path) else {
            continue;
        };
        let mut text = String::new();
        conn.write_all(format!("{request}\n").as_bytes())
            .and_then(|()| conn.read_to_string(&mut text))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if paths.len() > 1 {
            println!("# {}", path.file_stem().unwrap_or_default().to_string_lossy());
        }
        print!("{text}");
        answered += 1;
    }
    if answered == 0 {
        return Err(match tun {
            Some(t) => format!(
                "no synq running on device {t} (no answer at {})",
                dir.join(format!("{t}.sock")).display()
            ),
            None => format!(
                "no synq serve or connect running (no control socket in {})",
                dir.display()
            ),
        });
    }
    Ok(())
}
