//! The shared packetdrill corpus beside the repository (`../shared/packetdrill`), read at
//! run time and never copied.

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
