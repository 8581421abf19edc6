//! Our own scripts under `tests/drill/`: those in `pass/` must pass and those in `fail/` must
//! fail (a runner that cannot fail is worthless), on the synq target.

use std::path::{Path, PathBuf};
use synq_drill::{run, SynqTarget, Verdict};

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

#[test]
fn failing_scripts_fail_on_synq_for_the_stated_reason() {
    let cases = [
        ("wrong_flag.pkt", "flags: expected R actual R."),
        ("wrong_ack.pkt", "ack: expected 2 actual 1"),
        ("wrong_option.pkt", "options: expected <nop,nop,sackOK> actual <>"),
        ("wrong_time.pkt", "timing error"),
        ("wrong_errno.pkt", "socket() returned -1 EPROTONOSUPPORT"),
        ("wrong_result.pkt", "listen() returned 0, expected -1 EINVAL"),
        ("missing_packet.pkt", "none came"),
        ("unexpected_packet.pkt", "unexpected outbound packet"),
    ];
    assert_eq!(scripts("fail").len(), cases.len(), "every fail/ script has a case here");
    for (name, reason) in cases {
        let path = dir("fail").join(name);
        match verdict(&path) {
            Verdict::Fail(m) => assert!(m.contains(reason), "{name}: {m}"),
            other => panic!("{name} must fail, got {other:?}"),
        }
    }
}
