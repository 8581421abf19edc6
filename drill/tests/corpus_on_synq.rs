//! The shared corpus on the synq target, against the expectations file
//! `tests/drill/synq-expectations.txt` (script → why synq cannot pass it yet). A script that
//! newly passes, or newly fails, changes the result: update the file (run this test with
//! `SYNQ_DRILL_BLESS=1` to rewrite it) together with the change that caused it.

use std::collections::BTreeMap;
mod common;

use std::path::{Path, PathBuf};
use synq_drill::{SynqTarget, Verdict};

fn expectations_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/drill/synq-expectations.txt")
}

/// `folder/name.pkt` relative to the corpus, and the reason without the path prefix.
fn key(path: &Path) -> String {
    path.strip_prefix(common::corpus_dir())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The first line of a reason, without the script's path.
fn first_line(m: &str) -> &str {
    let line = m.lines().next().unwrap_or_default();
    line.rsplit_once(".pkt:").map_or(line, |(_, r)| r)
}

#[test]
fn corpus_on_synq_matches_expectations() {
    let Some(dir) = common::corpus_or_skip() else { return };
    let mut actual = BTreeMap::new();
    let mut passed = 0;
    let all = common::scripts(&dir);
    for path in &all {
        let reason = match synq_drill::run_path(path, &common::reference_args(), &mut SynqTarget::new()) {
            Verdict::Pass => {
                passed += 1;
                continue;
            }
            Verdict::Fail(m) => format!("fail: {}", first_line(&m)),
            Verdict::Unsupported(m) => format!("unsupported: {}", first_line(&m)),
        };
        actual.insert(key(path), reason);
    }
    let rendered: String = actual.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
    let header = "# Corpus scripts synq does not pass yet: `script: fail|unsupported: line: first reason`.\n\
                  # Regenerate with SYNQ_DRILL_BLESS=1 cargo test -p synq-drill --test corpus_on_synq\n";
    if std::env::var("SYNQ_DRILL_BLESS").is_ok() {
        std::fs::write(expectations_file(), format!("{header}{rendered}")).unwrap();
    }
    let expected: BTreeMap<String, String> = std::fs::read_to_string(expectations_file())
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(": ").map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    println!("synq target: {passed} of {} corpus scripts pass", all.len());
    let mut diffs = Vec::new();
    for (k, v) in &actual {
        match expected.get(k) {
            None => diffs.push(format!("newly failing: {k}: {v}")),
            Some(e) if e != v => diffs.push(format!("fails differently: {k}\n  expected: {e}\n  actual:   {v}")),
            _ => {}
        }
    }
    for k in expected.keys().filter(|k| !actual.contains_key(*k)) {
        diffs.push(format!("newly passing: {k}"));
    }
    assert!(
        diffs.is_empty(),
        "update tests/drill/synq-expectations.txt:\n{}",
        diffs.join("\n")
    );
}
