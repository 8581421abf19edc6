//! The kernel target against real packetdrill (`../shared/tools/packetdrill/run`): for every
//! script of the shared corpus and of ours (`tests/drill/pass`, `fail`, `conformance`), both
//! must give the same verdict; the kernel target must pass every `pass` line of the corpus's
//! `REFERENCE`; our `pass/` scripts must pass under real packetdrill and the conformance set
//! must do what its `EXPECTED.txt` says. Needs root; under `CI=true` it must run. One test, so
//! that nothing else runs beside its real-time scripts.
//!
//! A disagreement is run again, one script at a time; one that persists may be listed in
//! `tests/drill/differential-flakes.txt` only as a timing flake with its evidence.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use synq_drill::Verdict;

fn runner() -> PathBuf {
    common::corpus_dir().join("../tools/packetdrill/run")
}

/// Real packetdrill's verdicts (`true` = pass) for `scripts`, from one run of `run`.
fn reference(scripts: &[PathBuf]) -> BTreeMap<PathBuf, (bool, String)> {
    let out = Command::new(runner())
        .args(scripts)
        .output()
        .expect("run packetdrill's runner");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut verdicts = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(word), Some(path)) = (words.next(), words.next()) else {
            continue;
        };
        if word == "pass" || word == "FAIL" {
            let rest: Vec<&str> = words.collect();
            verdicts.insert(PathBuf::from(path), (word == "pass", rest.join(" ")));
        }
    }
    verdicts
}

fn kernel(path: &Path) -> Verdict {
    synq_drill::target_kernel::run_path(path, &common::reference_args())
}

/// `name: reason` lines of an expectations file.
fn listed(file: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            l.split_once(": ")
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

fn own_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/drill")
        .canonicalize()
        .unwrap()
}

/// A script's name in reports and lists: relative to the corpus or to `tests/drill`.
fn key(path: &Path) -> String {
    let corpus = common::corpus_dir().canonicalize().unwrap();
    path.strip_prefix(&corpus)
        .or_else(|_| path.strip_prefix(own_dir()))
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn kernel_target_gives_real_packetdrills_verdict() {
    let Some(corpus) = common::corpus_or_skip() else { return };
    if !common::kernel_or_skip() {
        return;
    }
    if !runner().exists() {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "real packetdrill is missing at {}",
            runner().display()
        );
        eprintln!("SKIPPED: no real packetdrill at {}", runner().display());
        return;
    }
    let corpus = corpus.canonicalize().unwrap();
    let mut scripts = common::scripts(&corpus);
    for folder in ["pass", "fail", "conformance"] {
        scripts.extend(common::own(folder));
    }
    // Real packetdrill runs the whole list on the side while the kernel target runs it here.
    let list = scripts.clone();
    let reference_run = std::thread::spawn(move || reference(&list));
    let ours: Vec<Verdict> = scripts.iter().map(|p| kernel(p)).collect();
    let theirs = reference_run.join().unwrap();

    let flakes = listed(&own_dir().join("differential-flakes.txt"));
    let mut disagreements = Vec::new();
    let mut agreed = 0;
    let mut kernel_passes = BTreeMap::new();
    for (path, mut verdict) in scripts.iter().zip(ours) {
        let (mut pd_pass, mut pd_msg) = theirs
            .get(path)
            .cloned()
            .unwrap_or_else(|| panic!("packetdrill's runner said nothing of {}", path.display()));
        if (verdict == Verdict::Pass) != pd_pass {
            // Real time on a small machine can be late: once more, one at a time.
            (pd_pass, pd_msg) = reference(std::slice::from_ref(path)).remove(path).unwrap_or_default();
            verdict = kernel(path);
        }
        kernel_passes.insert(key(path), verdict == Verdict::Pass);
        if (verdict == Verdict::Pass) == pd_pass {
            agreed += 1;
            continue;
        }
        let line = format!(
            "{}: packetdrill {} ({pd_msg}); kernel target {verdict:?}",
            key(path),
            if pd_pass { "passes" } else { "fails" }
        );
        if flakes.contains_key(&key(path)) {
            println!("listed timing flake: {line}");
        } else {
            disagreements.push(line);
        }
    }
    let reference_passes: Vec<String> = std::fs::read_to_string(corpus.join("REFERENCE"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("pass "))
        .map(|s| s.trim().to_string())
        .collect();
    assert!(
        reference_passes.len() >= 40,
        "REFERENCE lists {} passing scripts",
        reference_passes.len()
    );
    let missed: Vec<&String> = reference_passes
        .iter()
        .filter(|s| kernel_passes.get(*s) != Some(&true))
        .collect();
    println!(
        "differential: {agreed} of {} scripts get real packetdrill's verdict on the kernel target; \
         the kernel target passes {} of the {} `pass` lines of REFERENCE",
        scripts.len(),
        reference_passes.len() - missed.len(),
        reference_passes.len()
    );
    assert!(
        disagreements.is_empty(),
        "verdicts differ:\n{}",
        disagreements.join("\n")
    );
    assert!(
        missed.is_empty(),
        "REFERENCE `pass` lines the kernel target fails: {missed:?}"
    );
}
