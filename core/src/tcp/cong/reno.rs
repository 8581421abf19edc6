//! TCP Reno (`tcp_reno_cong_avoid`, `tcp_reno_ssthresh`; RFC 5681).

use super::{CongestionOps, Cwnd};

/// Reno: slow start below `ssthresh`, then one segment more per window acknowledged; half of
/// what was in flight after a loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reno;

impl CongestionOps for Reno {
    fn name(&self) -> &'static str {
        "reno"
    }

    /// RFC 5681 (4): `max(FlightSize / 2, 2 * SMSS)`.
    fn ssthresh(&self, _w: &Cwnd, in_flight: u32) -> u32 {
        (in_flight / 2).max(2)
    }

    /// `tcp_slow_start` (never past `ssthresh` in one ACK, but at least one segment more),
    /// then `tcp_cong_avoid_ai` with a step of `cwnd`.
    fn cong_avoid(&mut self, w: &mut Cwnd, acked: u32) {
        if w.in_slow_start() {
            w.cwnd = (w.cwnd + acked).min(w.ssthresh.max(w.cwnd + 1));
        } else {
            w.cnt += acked;
            if w.cnt >= w.cwnd {
                w.cnt = 0;
                w.cwnd += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_one_segment_per_window() {
        let mut w = Cwnd::initial(10);
        w.ssthresh = 14;
        Reno.cong_avoid(&mut w, 3);
        assert_eq!(w.cwnd, 13);
        Reno.cong_avoid(&mut w, 5);
        assert_eq!(w.cwnd, 14, "slow start stops at ssthresh");
        for _ in 0..13 {
            Reno.cong_avoid(&mut w, 1);
        }
        assert_eq!((w.cwnd, w.cnt), (14, 13));
        Reno.cong_avoid(&mut w, 1);
        assert_eq!((w.cwnd, w.cnt), (15, 0));
        assert_eq!(Reno.ssthresh(&w, 9), 4);
        assert_eq!(Reno.ssthresh(&w, 1), 2);
    }
}
