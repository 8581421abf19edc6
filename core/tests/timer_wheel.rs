//! The timer wheel against a reference model, and at scale.

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use std::collections::BTreeMap;
use synq_core::rng::Rng;
use synq_core::{Duration, Instant, TimerId, TimerWheel};

#[test]
fn a_million_timers_fire_in_order() {
    let mut rng = Rng::seed_from_u64(42);
    let mut w = TimerWheel::new();
    let mut ids = Vec::with_capacity(1_000_000);
    for i in 0..1_000_000u32 {
        // Deadlines from now to about an hour out, many sharing a millisecond.
        let d = Instant::from_nanos(rng.below(3_600_000) * 1_000_000 + rng.below(4) * 250_000);
        ids.push((w.insert(d, i), d));
    }
    // Cancel every third one.
    let mut cancelled = 0;
    for (i, &(id, _)) in ids.iter().enumerate() {
        if i % 3 == 0 {
            assert!(w.cancel(id).is_some());
            cancelled += 1;
        }
    }
    assert_eq!(w.len(), 1_000_000 - cancelled);
    let mut now = Instant::ZERO;
    let mut last: Option<(Instant, u32)> = None;
    let mut fired = 0;
    while let Some(next) = w.next_deadline() {
        now = now.max(next);
        while let Some((d, v)) = w.poll_expired(now) {
            assert!(d <= now, "never early");
            assert_eq!(ids[v as usize].1, d);
            assert!(v % 3 != 0, "cancelled timer fired");
            if let Some((ld, lv)) = last {
                assert!((ld, lv) < (d, v), "order: deadline, then arm order");
            }
            last = Some((d, v));
            fired += 1;
        }
    }
    assert_eq!(fired, 1_000_000 - cancelled);
    assert!(w.is_empty());
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u64),
    Cancel(usize),
    Advance(u64),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![
            // Deadlines in ns spread over 0 .. ~2^40 ns (18 minutes), relative to now.
            (0u32..40, any::<u64>()).prop_map(|(bits, r)| Op::Insert(r % (1u64 << bits).max(1))),
            any::<usize>().prop_map(Op::Cancel),
            (0u32..36, any::<u64>()).prop_map(|(bits, r)| Op::Advance(r % (1u64 << bits).max(1))),
        ],
        1..200,
    )
}

proptest! {

    #![proptest_config(ProptestConfig { rng_seed: RngSeed::Fixed(0x5eed), ..ProptestConfig::default() })]
    /// The wheel fires exactly what a sorted map of `(deadline, arm order)` says, never early
    /// and never late, and `next_deadline` never passes the earliest timer.
    #[test]
    fn matches_reference_model(ops in ops()) {
        let mut w = TimerWheel::new();
        let mut model: BTreeMap<(Instant, u64), TimerId> = BTreeMap::new();
        let mut armed: Vec<(TimerId, Instant, u64)> = Vec::new();
        let mut now = Instant::ZERO;
        let mut seq = 0u64;
        for op in ops {
            match op {
                Op::Insert(delta) => {
                    let d = now + Duration::from_nanos(delta);
                    let id = w.insert(d, seq);
                    model.insert((d, seq), id);
                    armed.push((id, d, seq));
                    seq += 1;
                }
                Op::Cancel(i) if !armed.is_empty() => {
                    let (id, d, s) = armed.swap_remove(i % armed.len());
                    let expected = model.remove(&(d, s)).map(|_| s);
                    prop_assert_eq!(w.cancel(id), expected);
                }
                Op::Cancel(_) => {}
                Op::Advance(delta) => {
                    now += Duration::from_nanos(delta);
                    if let Some(&(first, _)) = model.keys().next() {
                        prop_assert!(w.next_deadline().unwrap() <= first);
                    }
                    while let Some((d, v)) = w.poll_expired(now) {
                        let (&(md, mv), _) = model.iter().next().unwrap();
                        prop_assert_eq!((d, v), (md, mv));
                        model.remove(&(md, mv));
                    }
                    if let Some(&(first, _)) = model.keys().next() {
                        prop_assert!(first > now, "a due timer did not fire");
                    }
                }
            }
            prop_assert_eq!(w.len(), model.len());
        }
    }
}
