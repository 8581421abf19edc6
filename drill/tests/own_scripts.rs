//! Our own scripts under `tests/drill/`: those in `pass/` must pass and those in `fail/` must
//! fail (a runner that cannot fail is worthless), on the synq target.

use std::path::{Path, PathBuf};
use synq_drill::{run, SynqTarget, Verdict};

/// Under `CI=true` the kernel target must run; elsewhere it may be skipped without root.
fn kernel_available() -> bool {
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

/// A script on the kernel, once more if the first run fails (real time can be late).
fn kernel_verdict(path: &Path) -> Verdict {
    let script = synq_drill::parse_file(path).unwrap_or_else(|e| panic!("{e}"));
    let first = synq_drill::target_kernel::run_on_kernel(path, script.clone(), Default::default());
    if first == Verdict::Pass {
        return first;
    }
    synq_drill::target_kernel::run_on_kernel(path, script, Default::default())
}

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/drill").join(name)
}

fn scripts(name: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pkt"))
        .collect();
    v.sort();
    v
}

fn verdict(path: &Path) -> Verdict {
    let script = synq_drill::parse_file(path).unwrap_or_else(|e| panic!("{e}"));
    run(path, &script, &mut SynqTarget::new(), Default::default())
}

#[test]
fn passing_scripts_pass_on_synq() {
    let all = scripts("pass");
    assert!(all.len() >= 3);
    for path in all {
        assert_eq!(verdict(&path), Verdict::Pass, "{}", path.display());
    }
}

/// Why each `fail/` script must fail, on either target.
const FAIL_CASES: [(&str, &str); 8] = [
    ("wrong_flag.pkt", "flags: expected R actual R."),
    ("wrong_ack.pkt", "ack: expected 2 actual 1"),
    ("wrong_option.pkt", "options: expected <nop,nop,sackOK> actual <>"),
    ("wrong_time.pkt", "timing error"),
    ("wrong_errno.pkt", "socket() returned -1 EPROTONOSUPPORT"),
    ("wrong_result.pkt", "listen() returned 0, expected -1 EINVAL"),
    ("missing_packet.pkt", "none came"),
    ("unexpected_packet.pkt", "unexpected outbound packet"),
];

#[test]
fn failing_scripts_fail_on_synq_for_the_stated_reason() {
    assert_eq!(
        scripts("fail").len(),
        FAIL_CASES.len(),
        "every fail/ script has a case here"
    );
    for (name, reason) in FAIL_CASES {
        let path = dir("fail").join(name);
        match verdict(&path) {
            Verdict::Fail(m) => assert!(m.contains(reason), "{name}: {m}"),
            other => panic!("{name} must fail, got {other:?}"),
        }
    }
}

#[test]
fn own_scripts_behave_the_same_on_the_kernel() {
    if !kernel_available() {
        return;
    }
    for path in scripts("pass") {
        assert_eq!(kernel_verdict(&path), Verdict::Pass, "{}", path.display());
    }
    for (name, reason) in FAIL_CASES {
        let path = dir("fail").join(name);
        let script = synq_drill::parse_file(&path).unwrap();
        match synq_drill::target_kernel::run_on_kernel(&path, script, Default::default()) {
            Verdict::Fail(m) => assert!(m.contains(reason), "{name} on the kernel: {m}"),
            other => panic!("{name} must fail on the kernel, got {other:?}"),
        }
    }
}
