//! The shared packetdrill corpus beside the repository (`../shared/packetdrill`), read at
//! run time and never copied.

#![allow(dead_code)] // each test uses some of these

use std::path::{Path, PathBuf};

/// Where CI and the developers have the corpus.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/packetdrill")
}

/// The corpus, or `None` (with a message) when it is absent outside CI.
pub fn corpus_or_skip() -> Option<PathBuf> {
    let dir = corpus_dir();
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the packetdrill corpus is missing at {}", dir.display());
    }
    eprintln!("SKIPPED: no packetdrill corpus at {}", dir.display());
    None
}

/// Every `.pkt` below `dir`, sorted.
pub fn scripts(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(scripts(&path));
        } else if path.extension().is_some_and(|e| e == "pkt") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The arguments `../shared/tools/packetdrill/run` gives every script besides the addresses
/// (which are packetdrill's defaults here): the corpus's `-D` definitions.
pub fn reference_args() -> Vec<String> {
    [
        "-DTFO_COOKIE=3021b9d889017eeb",
        "-DTFO_COOKIE_ZERO=b7c12350a90dc8f5",
        "-DCMSG_LEVEL_IP=SOL_IP",
        "-DCMSG_TYPE_RECVERR=IP_RECVERR",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Our own scripts in `tests/drill/<name>/`, sorted.
pub fn own(name: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/drill").join(name);
    scripts(&dir.canonicalize().unwrap_or(dir))
}

/// Under `CI=true` a test that needs the kernel target must run; elsewhere it may skip.
pub fn kernel_or_skip() -> bool {
    match synq_drill::target_kernel::unavailable() {
        None => true,
        Some(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("kernel target cannot run under CI: {why}")
        }
        Some(why) => {
            eprintln!("SKIPPED kernel target: {why}");
            false
        }
    }
}
