//! Kernel differential test for bind(): the scenario table of `spec/bind.md` §9 and the
//! ephemeral-port and argument-check scenarios, played on this machine's Linux (inside a
//! fresh network namespace the test makes) and on synq, compared row by row.
//!
//! Needs root (for the namespace); prints that it skipped otherwise. Under `CI=true` it must
//! run.

mod common;

use common::kernel::{in_fresh_netns, KernelTarget};
use common::*;
use synq_peer::{skip_or_fail, unavailable};

#[test]
fn bind_matches_the_kernel_row_by_row() {
    if let Some(why) = unavailable() {
        return skip_or_fail("bind kernel differential test", &why);
    }
    let table = rows();
    let kernel_rows = table.clone();
    let kernel = in_fresh_netns(move || {
        let mut k = KernelTarget;
        let rows: Vec<_> = kernel_rows
            .iter()
            .enumerate()
            .map(|(i, r)| play_row(&mut k, r, 20000 + 2 * i as u16, 30000 + i as u16))
            .collect();
        (rows, scenarios(&mut k))
    });
    let (kernel_rows, kernel_scenarios) = match kernel {
        Ok(v) => v,
        Err(why) => return skip_or_fail("bind kernel differential test", &why),
    };
    let mut synq = SynqTarget(stack());
    let synq_scenarios = scenarios(&mut synq);

    let mut lines = Vec::new();
    let mut mismatches = 0;
    for (i, (r, k)) in table.iter().zip(&kernel_rows).enumerate() {
        let s = play_row(&mut SynqTarget(stack()), r, 20000 + 2 * i as u16, 30000 + i as u16);
        let spec = (r.bind, r.listen);
        let mark = if s == *k { "ok " } else { "DIFF" };
        mismatches += usize::from(s != *k);
        let note = if *k != spec {
            "  (kernel differs from the spec's table)"
        } else {
            ""
        };
        lines.push(format!("{mark} row {:<4} kernel {:?} synq {:?}{note}", r.id, k, s));
    }
    assert_eq!(kernel_scenarios.len(), synq_scenarios.len());
    for ((name, k), (_, s)) in kernel_scenarios.iter().zip(&synq_scenarios) {
        let mark = if s == k { "ok " } else { "DIFF" };
        mismatches += usize::from(s != k);
        lines.push(format!("{mark} {name:<28} kernel {k:?} synq {s:?}"));
    }
    let total = table.len() + kernel_scenarios.len();
    println!("{}\n{total} scenarios, {mismatches} mismatches", lines.join("\n"));
    assert!(total >= 40);
    assert_eq!(mismatches, 0, "\n{}", lines.join("\n"));
}
