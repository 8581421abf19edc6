//! The out-of-order queue (`tp->out_of_order_queue`): bytes that arrived beyond `rcv_nxt`,
//! held as contiguous runs in sequence order (Linux coalesces adjacent skbs the same way),
//! until the hole before them is filled (`tcp_data_queue_ofo`, `tcp_ofo_queue`).

use crate::base::seq::{after, before};

/// Runs of bytes, each `(first sequence number, bytes)`, sorted, neither overlapping nor
/// touching; and the sequence number of a FIN seen beyond `rcv_nxt`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OfoQueue {
    runs: Vec<(u32, Vec<u8>)>,
    bytes: usize,
    /// A FIN that arrived out of order, at this sequence number.
    pub fin: Option<u32>,
}

/// What inserting a segment found already held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duplicate {
    pub seq: u32,
    pub end: u32,
}

impl OfoQueue {
    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The sequence number after the last byte held (`ooo_last_skb`'s end).
    pub fn end(&self) -> Option<u32> {
        self.runs.last().map(|(s, d)| s.wrapping_add(d.len() as u32))
    }

    /// Bytes held (they count against the receive buffer).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Holds `data` starting at `seq`; the parts already held are reported (the first one:
    /// `tcp_data_queue_ofo` D-SACKs it) and kept once. A segment that continues the run it
    /// touches (the usual case: the segments after a hole) is appended to it in place.
    pub fn insert(&mut self, seq: u32, data: &[u8]) -> Option<Duplicate> {
        let end = seq.wrapping_add(data.len() as u32);
        let run_end = |(s, d): &(u32, Vec<u8>)| s.wrapping_add(d.len() as u32);
        // The runs this one touches or overlaps, first..=last.
        let first = self.runs.iter().position(|r| !before(run_end(r), seq));
        let Some(first) = first.filter(|&i| !after(self.runs[i].0, end)) else {
            let at = self
                .runs
                .iter()
                .position(|(s, _)| after(*s, seq))
                .unwrap_or(self.runs.len());
            self.runs.insert(at, (seq, data.to_vec()));
            self.bytes += data.len();
            return None;
        };
        let last = (first..self.runs.len())
            .take_while(|&i| !after(self.runs[i].0, end))
            .last()
            .expect("first qualifies");
        let dup = self.runs[first..=last].iter().find_map(|r| {
            let (s, e) = (r.0, run_end(r));
            (before(s, end) && after(e, seq)).then(|| Duplicate {
                seq: if after(s, seq) { s } else { seq },
                end: if before(e, end) { e } else { end },
            })
        });
        let start = if before(seq, self.runs[first].0) {
            seq
        } else {
            self.runs[first].0
        };
        let last_end = run_end(&self.runs[last]);
        let stop = if after(end, last_end) { end } else { last_end };
        if first == last && start == self.runs[first].0 {
            // Only bytes past the run's end are new.
            let run = &mut self.runs[first].1;
            let new_from = (last_end.wrapping_sub(seq) as usize).min(data.len());
            run.extend_from_slice(&data[new_from..]);
            self.bytes += data.len() - new_from;
            return dup;
        }
        // The new bytes first, then the runs over them: what was held stays.
        let mut merged = vec![0u8; stop.wrapping_sub(start) as usize];
        let off = seq.wrapping_sub(start) as usize;
        merged[off..off + data.len()].copy_from_slice(data);
        for (s, d) in self.runs.drain(first..=last) {
            let off = s.wrapping_sub(start) as usize;
            merged[off..off + d.len()].copy_from_slice(&d);
            self.bytes -= d.len();
        }
        self.bytes += merged.len();
        self.runs.insert(first, (start, merged));
        dup
    }

    /// `tcp_ofo_queue`: the first run if it starts at or before `rcv_nxt`, taken out.
    pub fn pop_ready(&mut self, rcv_nxt: u32) -> Option<(u32, Vec<u8>)> {
        if self.runs.first().is_some_and(|(s, _)| !after(*s, rcv_nxt)) {
            let (s, d) = self.runs.remove(0);
            self.bytes -= d.len();
            return Some((s, d));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_and_duplicates_are_reported() {
        let mut q = OfoQueue::default();
        assert_eq!(q.insert(1000, &[1; 100]), None);
        assert_eq!(q.insert(1200, &[2; 100]), None);
        assert_eq!(q.insert(1100, &[3; 100]), None, "fills the gap: one run");
        assert_eq!(q.runs.len(), 1);
        assert_eq!(q.bytes(), 300);
        let dup = q.insert(1250, &[9; 100]).unwrap();
        assert_eq!((dup.seq, dup.end), (1250, 1300));
        assert_eq!(q.bytes(), 350);
        let (s, d) = q.pop_ready(1000).unwrap();
        assert_eq!((s, d.len()), (1000, 350));
        assert_eq!(
            (d[0], d[150], d[250], d[349]),
            (1, 3, 2, 9),
            "held bytes kept, new ones added"
        );
        assert!(q.is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed),
            ..Default::default()
        })]
        /// Against a model of one byte per sequence number: any inserts (overlapping,
        /// touching, wrapping) keep runs sorted, disjoint and non-touching, hold each byte
        /// the first time it came, and count bytes right.
        #[test]
        fn matches_a_byte_model(base in proptest::prelude::any::<u32>(),
                                segs in proptest::collection::vec((0u32..400, 1usize..60, proptest::prelude::any::<u8>()), 1..30)) {
            let mut q = OfoQueue::default();
            let mut model = std::collections::BTreeMap::new();
            for (off, len, byte) in segs {
                let seq = base.wrapping_add(off);
                let data = vec![byte; len];
                let had = (off..off + len as u32).any(|o| model.contains_key(&o));
                let dup = q.insert(seq, &data);
                proptest::prop_assert_eq!(dup.is_some(), had);
                for o in off..off + len as u32 {
                    model.entry(o).or_insert(byte);
                }
                proptest::prop_assert_eq!(q.bytes(), model.len());
                for w in q.runs.windows(2) {
                    let end = w[0].0.wrapping_add(w[0].1.len() as u32);
                    proptest::prop_assert!(before(end, w[1].0), "runs disjoint and not touching");
                }
            }
            let mut got = Vec::new();
            while let Some(first) = q.runs.first().map(|r| r.0) {
                let (s, d) = q.pop_ready(first).unwrap();
                got.extend(d.iter().enumerate().map(|(i, &b)| (s.wrapping_sub(base) + i as u32, b)));
            }
            proptest::prop_assert_eq!(got, model.into_iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn only_a_run_at_rcv_nxt_is_ready_and_sequence_numbers_wrap() {
        let mut q = OfoQueue::default();
        q.insert(u32::MAX - 9, &[1; 20]);
        assert!(q.pop_ready(u32::MAX - 20).is_none());
        assert_eq!(
            q.pop_ready(u32::MAX - 5).map(|(s, d)| (s, d.len())),
            Some((u32::MAX - 9, 20))
        );
    }
}
