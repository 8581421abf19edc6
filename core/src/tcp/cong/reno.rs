//! TCP Reno (`tcp_reno_cong_avoid`, `tcp_reno_ssthresh`; RFC 5681).

use super::{CongestionOps, Cwnd};

/// Reno: slow start below `ssthresh`, then one segment more per window acknowledged; half
/// the window after a loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reno;

impl CongestionOps for Reno {
    fn name(&self) -> &'static str {
        "reno"
    }

    /// `tcp_reno_ssthresh`: `max(cwnd / 2, 2)`.
    fn ssthresh(&mut self, w: &Cwnd) -> u32 {
        (w.cwnd >> 1).max(2)
    }

    /// `tcp_reno_cong_avoid`: `tcp_slow_start`, then `tcp_cong_avoid_ai` with a step of
    /// `cwnd`.
    fn cong_avoid(&mut self, w: &mut Cwnd, acked: u32, _now_ms: u32) {
        let mut acked = acked;
        if w.in_slow_start() {
            acked = w.slow_start(acked);
            if acked == 0 {
                return;
            }
        }
        w.cong_avoid_ai(w.cwnd, acked);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_one_segment_per_window() {
        let mut w = Cwnd::initial(10);
        w.ssthresh = 14;
        Reno.cong_avoid(&mut w, 3, 0);
        assert_eq!(w.cwnd, 13);
        Reno.cong_avoid(&mut w, 5, 0);
        assert_eq!(
            (w.cwnd, w.cnt),
            (14, 4),
            "slow start stops at ssthresh, the rest counts"
        );
        for _ in 0..9 {
            Reno.cong_avoid(&mut w, 1, 0);
        }
        assert_eq!((w.cwnd, w.cnt), (14, 13));
        Reno.cong_avoid(&mut w, 1, 0);
        assert_eq!((w.cwnd, w.cnt), (15, 0));
        assert_eq!(Reno.ssthresh(&w), 7);
        assert_eq!(Reno.ssthresh(&Cwnd { cwnd: 3, ..w }), 2);
    }
}
