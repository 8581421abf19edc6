//! What the CLI's kernel tests share: running `synq serve` and `synq connect` with their
//! control sockets in a directory of the test's own.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub const SYNQ: &str = env!("CARGO_BIN_EXE_synq");

/// `synq` with `$XDG_RUNTIME_DIR` at `dir`, where serve and connect put their control sockets.
pub fn synq(dir: &Path) -> Command {
    let mut c = Command::new(SYNQ);
    c.env("XDG_RUNTIME_DIR", dir);
    c
}

/// A running `synq serve`, stopped with SIGTERM when dropped (a failing test leaves none).
pub struct Served(Option<Child>);

impl Served {
    /// SIGTERM; it must exit 0. The rest of what it printed.
    pub fn stop(mut self) -> String {
        let mut child = self.0.take().unwrap();
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().unwrap();
        let mut out = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        assert!(status.success(), "synq serve: {status}: {out}");
        out
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let status = child.wait().unwrap();
            assert!(status.success() || std::thread::panicking(), "synq serve: {status}");
        }
    }
}

/// `synq serve` on `tun` (synq at `net.2`, the kernel at `net.1`) with `args`, once it serves.
pub fn serve(dir: &Path, tun: &str, net: &str, args: &[&str]) -> Served {
    let mut child = synq(dir)
        .args(["serve", "--tun", tun, "--addr", &format!("{net}.2/24"), "--kernel-addr"])
        .arg(format!("{net}.1/24"))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("synq serve");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("synq serve:"), "{line}");
    Served(Some(child))
}

/// `synq connect` on device synq2 (synq at 203.0.113.2, the kernel at .1) with `args`.
pub fn synq_connect(dir: &Path, args: &[&std::ffi::OsStr]) -> Output {
    synq(dir)
        .args([
            "connect",
            "--tun",
            "synq2",
            "--addr",
            "203.0.113.2/24",
            "--kernel-addr",
            "203.0.113.1/24",
        ])
        .args(args)
        .output()
        .unwrap()
}
