//! The corpus scripts INDEX.md marks as passing under real packetdrill, on the kernel target:
//! each must pass (one retry for timing), except those listed in
//! `tests/drill/kernel-expectations.txt`. Needs root; under `CI=true` it must run.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use synq_drill::Verdict;

/// The `-D` values Linux's selftest runner passes (INDEX.md, "How the column was produced").
fn defines() -> std::collections::HashMap<String, String> {
    [
        ("TFO_COOKIE", "3021b9d889017eeb"),
        ("TFO_COOKIE_ZERO", "b7c12350a90dc8f5"),
        ("CMSG_LEVEL_IP", "SOL_IP"),
        ("CMSG_TYPE_RECVERR", "IP_RECVERR"),
        ("CODE", "host_unreachable"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Script names whose "linux 6.18 here" column in INDEX.md starts with PASS.
fn index_passing(corpus: &Path) -> Vec<String> {
    let index = std::fs::read_to_string(corpus.join("INDEX.md")).expect("INDEX.md");
    index
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let verdict = cells.get(cells.len().checked_sub(2)?)?;
            verdict
                .starts_with("PASS")
                .then(|| cells[1].trim_matches('`').to_string())
        })
        .collect()
}

#[test]
fn index_passing_scripts_pass_on_the_kernel() {
    let Some(corpus) = common::corpus_or_skip() else { return };
    if let Some(why) = synq_drill::target_kernel::unavailable() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("kernel target cannot run under CI: {why}");
        }
        eprintln!("SKIPPED kernel corpus: {why}");
        return;
    }
    let expectations: BTreeMap<String, String> =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/drill/kernel-expectations.txt"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| l.split_once(": ").map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
    let names = index_passing(&corpus);
    assert!(names.len() >= 30, "INDEX.md lists {} passing scripts", names.len());
    let all = common::scripts(&corpus);
    let mut failures = Vec::new();
    let mut passed = 0;
    for name in &names {
        let path = all
            .iter()
            .find(|p| p.file_name().is_some_and(|f| f == name.as_str()))
            .expect("script in corpus");
        let key = path.strip_prefix(&corpus).unwrap().display().to_string();
        let script = synq_drill::parse_file(path).unwrap();
        let mut verdict = synq_drill::target_kernel::run_on_kernel(path, script.clone(), defines());
        if verdict != Verdict::Pass {
            verdict = synq_drill::target_kernel::run_on_kernel(path, script, defines());
        }
        match (&verdict, expectations.get(&key)) {
            (Verdict::Pass, _) => passed += 1,
            (_, Some(_)) => {}
            (v, None) => failures.push(format!("{key}: {v:?}")),
        }
    }
    println!("kernel target: {passed} of {} INDEX-passing scripts pass", names.len());
    assert!(
        failures.is_empty(),
        "runner differences not in kernel-expectations.txt:\n{}",
        failures.join("\n")
    );
}
