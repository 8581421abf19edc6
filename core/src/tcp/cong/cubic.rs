//! CUBIC with HyStart (`tcp_cubic.c`, RFC 9438): Linux's default congestion control. The
//! window follows a cubic function of the time since the last reduction, centred on the
//! window where that loss happened (`bictcp_update`), never slower than Reno would grow
//! (`tcp_friendliness`); a loss keeps `beta` = 717/1024 of it (`cubictcp_recalc_ssthresh`,
//! with fast convergence). In slow start, HyStart leaves early when ACK trains stretch past
//! half the minimum delay or the round's delay grows by an eighth (`hystart_update`).
//!
//! Times are Linux's: `tcp_jiffies32` at HZ = 1000 (ms) for the epoch, µs for the delays.

use super::{AckSample, Cwnd};

/// `BICTCP_BETA_SCALE` and `beta`: the window kept after a loss, ×1024.
const BETA_SCALE: u32 = 1024;
const BETA: u32 = 717;
/// `bic_scale` and `cube_rtt_scale = bic_scale * 10`: the cubic's aggressiveness.
const CUBE_RTT_SCALE: u64 = 41 * 10;
/// `BICTCP_HZ`: time in the cubic is counted in 2^-10 s.
const BICTCP_HZ: u32 = 10;
/// `beta_scale = 8 * (1024 + beta) / 3 / (1024 - beta)`: Reno's growth in CUBIC's terms.
const BETA_SCALE_RENO: u32 = 8 * (BETA_SCALE + BETA) / 3 / (BETA_SCALE - BETA);
/// `cube_factor = 2^(10 + 3 * BICTCP_HZ) / cube_rtt_scale`: turns a window distance into K³.
const CUBE_FACTOR: u64 = (1u64 << (10 + 3 * BICTCP_HZ)) / CUBE_RTT_SCALE;
/// `hystart_low_window`: HyStart looks only at windows this large.
const HYSTART_LOW_WINDOW: u32 = 16;
/// `hystart_ack_delta_us`: ACKs this close form a train.
const HYSTART_ACK_DELTA_US: u32 = 2000;
/// `HYSTART_MIN_SAMPLES`, `HYSTART_DELAY_MIN`, `HYSTART_DELAY_MAX`.
const HYSTART_MIN_SAMPLES: u8 = 8;
const HYSTART_DELAY_MIN_US: u32 = 4000;
const HYSTART_DELAY_MAX_US: u32 = 16000;
/// `HZ`, for `tcp_jiffies32` differences.
const HZ: u32 = 1000;

/// `struct bictcp`: CUBIC's per-connection state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cubic {
    /// ACKs per one segment of window growth.
    cnt: u32,
    /// The window before the last reduction, and the window and time of the last update.
    last_max_cwnd: u32,
    last_cwnd: u32,
    last_time: u32,
    /// The cubic's centre (`bic_origin_point`) and the time to reach it (`bic_K`, 2^-10 s).
    origin_point: u32,
    k: u32,
    /// The smallest delay seen, µs.
    delay_min: u32,
    /// When the current epoch began (ms, 0 = none).
    epoch_start: u32,
    /// Segments acknowledged in the epoch, and the window Reno would have by now.
    ack_cnt: u32,
    tcp_cwnd: u32,
    /// HyStart: samples this round, the exit found, the round's start, end and last ACK,
    /// and its smallest delay.
    sample_cnt: u8,
    found: bool,
    round_start: u32,
    end_seq: u32,
    last_ack: u32,
    curr_rtt: u32,
}

/// Integer cube root, rounded down (`cubic_root` computes it by table and Newton's step and
/// may come out one unit higher in rare cases).
fn cube_root(a: u64) -> u32 {
    let mut x = (a as f64).cbrt() as u64;
    while x * x * x > a {
        x -= 1;
    }
    while (x + 1) * (x + 1) * (x + 1) <= a {
        x += 1;
    }
    x as u32
}

impl Cubic {
    pub fn name(&self) -> &'static str {
        "cubic"
    }

    /// `bictcp_reset` (and a HyStart round from `snd_nxt`: `bictcp_hystart_reset`).
    fn reset(&mut self) {
        *self = Cubic::default();
    }

    fn hystart_reset(&mut self, now_us: u32, snd_nxt: u32) {
        self.round_start = now_us;
        self.last_ack = now_us;
        self.end_seq = snd_nxt;
        self.curr_rtt = u32::MAX;
        self.sample_cnt = 0;
    }

    /// `cubictcp_init`.
    pub fn init(&mut self, now_us: u32, snd_nxt: u32) {
        self.reset();
        self.hystart_reset(now_us, snd_nxt);
    }

    /// `cubictcp_recalc_ssthresh`: with fast convergence, a loss below the previous maximum
    /// remembers less of it.
    pub fn ssthresh(&mut self, w: &Cwnd) -> u32 {
        self.epoch_start = 0;
        self.last_max_cwnd = if w.cwnd < self.last_max_cwnd {
            (w.cwnd * (BETA_SCALE + BETA)) / (2 * BETA_SCALE)
        } else {
            w.cwnd
        };
        ((w.cwnd * BETA) >> 10).max(2)
    }

    /// `cubictcp_state`: a timeout (`TCP_CA_Loss`) starts over.
    pub fn on_loss(&mut self, now_us: u32, snd_nxt: u32) {
        self.reset();
        self.hystart_reset(now_us, snd_nxt);
    }

    /// `cubictcp_cwnd_event(CA_EVENT_TX_START)`: sending again after an idle period that
    /// began at `lsndtime_ms` moves the epoch on by the idle time, so the cubic does not leap.
    pub fn on_tx_start(&mut self, now_ms: u32, lsndtime_ms: u32) {
        let delta = now_ms.wrapping_sub(lsndtime_ms) as i32;
        if self.epoch_start != 0 && delta > 0 {
            self.epoch_start = self.epoch_start.wrapping_add(delta as u32);
            if synq_seq_after(self.epoch_start, now_ms) {
                self.epoch_start = now_ms;
            }
        }
    }

    /// `cubictcp_acked` + `hystart_update`: a delay sample; in slow start with a window of at
    /// least 16, HyStart may end slow start here (`ssthresh = cwnd`).
    pub fn pkts_acked(&mut self, w: &mut Cwnd, s: &AckSample) {
        let Some(rtt_us) = s.rtt_us else { return };
        // Discard delay samples right after fast recovery.
        if self.epoch_start != 0 && s.now_ms.wrapping_sub(self.epoch_start) < HZ {
            return;
        }
        let delay = rtt_us.max(1);
        if self.delay_min == 0 || self.delay_min > delay {
            self.delay_min = delay;
        }
        if self.found || !w.in_slow_start() || w.cwnd < HYSTART_LOW_WINDOW {
            return;
        }
        if synq_seq_after(s.snd_una, self.end_seq) {
            self.hystart_reset(s.now_us, s.snd_nxt);
        }
        // ACK train: ACKs within 2 ms of each other for longer than half the minimum delay.
        if s.now_us.wrapping_sub(self.last_ack) as i32 <= HYSTART_ACK_DELTA_US as i32 {
            self.last_ack = s.now_us;
            let threshold = (self.delay_min + s.ack_delay_us) >> 1;
            if s.now_us.wrapping_sub(self.round_start) as i32 > threshold as i32 {
                self.found = true;
                w.ssthresh = w.cwnd;
            }
        }
        // Delay: the round's smallest delay an eighth (4–16 ms) above the minimum.
        self.curr_rtt = self.curr_rtt.min(delay);
        if self.sample_cnt < HYSTART_MIN_SAMPLES {
            self.sample_cnt += 1;
        } else if self.curr_rtt
            > self.delay_min + (self.delay_min >> 3).clamp(HYSTART_DELAY_MIN_US, HYSTART_DELAY_MAX_US)
        {
            self.found = true;
            w.ssthresh = w.cwnd;
        }
    }

    /// `cubictcp_cong_avoid`: slow start, then the window moves toward the cubic's target.
    pub fn cong_avoid(&mut self, w: &mut Cwnd, acked: u32, now_ms: u32) {
        let mut acked = acked;
        if w.in_slow_start() {
            acked = w.slow_start(acked);
            if acked == 0 {
                return;
            }
        }
        self.update(w.cwnd, acked, now_ms);
        w.cong_avoid_ai(self.cnt, acked);
    }

    /// `bictcp_update`: `cnt`, the ACKs for one more segment, from the cubic's target one
    /// RTT (`delay_min`) ahead.
    fn update(&mut self, cwnd: u32, acked: u32, now_ms: u32) {
        self.ack_cnt = self.ack_cnt.wrapping_add(acked);
        if self.last_cwnd == cwnd && now_ms.wrapping_sub(self.last_time) as i32 <= (HZ / 32) as i32 {
            return;
        }
        // Once per jiffy at most, the target is recomputed.
        if !(self.epoch_start != 0 && now_ms == self.last_time) {
            self.last_cwnd = cwnd;
            self.last_time = now_ms;
            if self.epoch_start == 0 {
                self.epoch_start = now_ms.max(1);
                self.ack_cnt = acked;
                self.tcp_cwnd = cwnd;
                if self.last_max_cwnd <= cwnd {
                    self.k = 0;
                    self.origin_point = cwnd;
                } else {
                    self.k = cube_root(CUBE_FACTOR * u64::from(self.last_max_cwnd - cwnd));
                    self.origin_point = self.last_max_cwnd;
                }
            }
            let elapsed_ms =
                u64::from(now_ms.wrapping_sub(self.epoch_start)) + u64::from(self.delay_min.div_ceil(1000));
            let t = (elapsed_ms << BICTCP_HZ) / u64::from(HZ);
            let k = u64::from(self.k);
            let offs = t.abs_diff(k);
            let delta = ((CUBE_RTT_SCALE * offs * offs * offs) >> (10 + 3 * BICTCP_HZ)) as u32;
            let target = if t < k {
                self.origin_point.saturating_sub(delta)
            } else {
                self.origin_point.saturating_add(delta)
            };
            self.cnt = if target > cwnd {
                cwnd / (target - cwnd)
            } else {
                100 * cwnd
            };
            // The first slow start's end: grow at least as 1 segment per 20 ACKs.
            if self.last_max_cwnd == 0 && self.cnt > 20 {
                self.cnt = 20;
            }
        }
        // tcp_friendliness: never slower than Reno's estimated window.
        let delta = (cwnd * BETA_SCALE_RENO) >> 3;
        if delta > 0 {
            while self.ack_cnt > delta {
                self.ack_cnt -= delta;
                self.tcp_cwnd += 1;
            }
        }
        if self.tcp_cwnd > cwnd {
            let max_cnt = cwnd / (self.tcp_cwnd - cwnd);
            self.cnt = self.cnt.min(max_cnt);
        }
        self.cnt = self.cnt.max(2);
    }
}

fn synq_seq_after(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) < 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loss_keeps_717_of_1024_and_remembers_the_maximum() {
        let mut c = Cubic::default();
        let w = Cwnd {
            cwnd: 10,
            ..Cwnd::initial(10)
        };
        assert_eq!(c.ssthresh(&w), 7, "the corpus's prr-ss scripts assert 7 after 10");
        assert_eq!(c.last_max_cwnd, 10);
        // A second loss below the maximum: fast convergence remembers (1024+717)/2048 of it.
        let w = Cwnd { cwnd: 8, ..w };
        assert_eq!(c.ssthresh(&w), 5);
        assert_eq!(c.last_max_cwnd, 8 * 1741 / 2048);
        assert_eq!(c.ssthresh(&Cwnd { cwnd: 2, ..w }), 2);
    }

    #[test]
    fn constants_are_linuxs() {
        assert_eq!(BETA_SCALE_RENO, 15);
        assert_eq!(CUBE_FACTOR, (1u64 << 40) / 410);
        assert_eq!(cube_root(27), 3);
        assert_eq!(cube_root(26), 2);
        assert_eq!(cube_root(1 << 30), 1024);
    }

    #[test]
    fn after_a_loss_the_window_climbs_back_to_the_old_maximum_in_k_seconds() {
        let mut c = Cubic::default();
        let mut w = Cwnd {
            cwnd: 100,
            ..Cwnd::initial(100)
        };
        w.ssthresh = c.ssthresh(&w);
        w.cwnd = w.ssthresh;
        // K = cbrt(W_max (1 - beta) / C) = cbrt(100 × 0.3 / 0.4) ≈ 4.2 s; a window's worth
        // of ACKs per 100 ms round trip, the target one round trip ahead. In Linux's integer
        // arithmetic the cubic's offset rounds to 0 once 410 × offs³ < 2^40, offs < 1.36 s:
        // the window is back at W_max after about 2.76 s, and stays near it until K.
        c.delay_min = 100_000;
        let mut reached = None;
        for round in 0..100u32 {
            let n = w.cwnd;
            for i in 0..n {
                c.cong_avoid(&mut w, 1, 1000 + round * 100 + i * 100 / n);
            }
            if w.cwnd >= 100 && reached.is_none() {
                reached = Some(round * 100);
            }
        }
        let at = reached.expect("back at W_max");
        assert!((2_600..2_900).contains(&at), "W_max reached after {at} ms");
        assert!(w.cwnd > 100, "and it keeps probing beyond");
    }

    #[test]
    fn hystart_delay_ends_slow_start() {
        let mut c = Cubic::default();
        c.init(0, 0);
        let mut w = Cwnd::initial(20);
        let sample = |now_us: u32, rtt: u32| AckSample {
            now_us,
            now_ms: now_us / 1000,
            rtt_us: Some(rtt),
            snd_una: 1,
            snd_nxt: 100,
            ack_delay_us: 0,
        };
        // A first round at 10 ms, 3 ms apart: no train, no growth of the delay.
        c.pkts_acked(&mut w, &sample(0, 10_000));
        for i in 1..=9 {
            c.pkts_acked(&mut w, &sample(3_000 * i, 10_000));
        }
        assert!(!c.found);
        // The next round's delays are 5 ms more than the minimum (over the 4 ms floor).
        c.end_seq = 0;
        for i in 0..9 {
            c.pkts_acked(&mut w, &sample(100_000 + 3_000 * i, 15_000));
        }
        assert!(c.found);
        assert_eq!(w.ssthresh, 20);
    }
}
