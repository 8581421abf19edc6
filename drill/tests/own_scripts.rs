//! Our own scripts under `tests/drill/` on the synq target: those in `pass/` must pass and
//! those in `fail/` must fail for their stated reason (a runner that cannot fail is
//! worthless). That real packetdrill and the kernel target agree on them is
//! `differential.rs`'s to check.

mod common;

use std::path::Path;
use synq_drill::{SynqTarget, Verdict};

fn verdict(path: &Path) -> Verdict {
    synq_drill::run_path(path, &[], &mut SynqTarget::new())
}

#[test]
fn passing_scripts_pass_on_synq() {
    let all = common::own("pass");
    assert!(all.len() >= 3);
    for path in all {
        assert_eq!(verdict(&path), Verdict::Pass, "{}", path.display());
    }
}

/// Why each `fail/` script must fail, on either target.
pub const FAIL_CASES: [(&str, &str); 8] = [
    (
        "wrong_flag.pkt",
        "live packet field tcp_ack: expected: 0 (0x0) vs actual: 1 (0x1)",
    ),
    (
        "wrong_ack.pkt",
        "live packet field tcp_ack_seq: expected: 2 (0x2) vs actual: 1 (0x1)",
    ),
    (
        "wrong_option.pkt",
        "live packet field ipv4_total_length: expected: 44 (0x2c) vs actual: 40 (0x28)",
    ),
    ("wrong_time.pkt", "timing error"),
    (
        "wrong_errno.pkt",
        "Expected errno 22 (Invalid argument) but got 93 (Protocol not supported)",
    ),
    ("wrong_result.pkt", "Expected result -1 but got 0"),
    ("missing_packet.pkt", "Timed out waiting for packet"),
    (
        "unexpected_packet.pkt",
        "live packet field tcp_ack: expected: 1 (0x1) vs actual: 0 (0x0)",
    ),
];

#[test]
fn failing_scripts_fail_on_synq_for_the_stated_reason() {
    let all = common::own("fail");
    assert_eq!(all.len(), FAIL_CASES.len(), "every fail/ script has a case here");
    for (name, reason) in FAIL_CASES {
        let path = all.iter().find(|p| p.ends_with(name)).expect(name);
        match verdict(path) {
            Verdict::Fail(m) => assert!(m.contains(reason), "{name}: {m}"),
            other => panic!("{name} must fail, got {other:?}"),
        }
    }
}
