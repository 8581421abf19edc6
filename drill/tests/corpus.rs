//! Every script of the shared corpus (`../shared/packetdrill`, read at run time, never copied)
//! parses.

use std::path::{Path, PathBuf};

/// The corpus beside the repository, where CI and the developers have it.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/packetdrill")
}

fn scripts(dir: &Path) -> Vec<PathBuf> {
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

#[test]
fn the_whole_corpus_parses() {
    let dir = corpus_dir();
    if !dir.is_dir() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the packetdrill corpus is missing at {}", dir.display());
        }
        eprintln!("SKIPPED: no packetdrill corpus at {}", dir.display());
        return;
    }
    let all = scripts(&dir);
    assert!(all.len() >= 55, "found {} scripts", all.len());
    let mut failures = Vec::new();
    let mut events = 0;
    for path in &all {
        match synq_drill::parse_file(path) {
            Ok(s) => events += s.events.len(),
            Err(e) => failures.push(e.to_string()),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scripts fail to parse:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
    println!("{} scripts, {events} events parsed", all.len());
}
