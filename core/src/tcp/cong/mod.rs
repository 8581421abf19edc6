//! Congestion control behind one seam, named after Linux's `struct tcp_congestion_ops`: the
//! connection keeps its window ([`Cwnd`]) and calls the algorithm at the points Linux does
//! (`pkts_acked` with each ACK's delay sample, `cong_avoid` when the window may grow,
//! `ssthresh` when a loss is detected, `set_state(TCP_CA_Loss)` on a timeout). CUBIC
//! (`tcp_cubic.c`) is the default, as in Linux; Reno (`tcp_cong.c`) is selectable with
//! `net.ipv4.tcp_congestion_control` or `TCP_CONGESTION`. Each algorithm is a file of its own.

mod cubic;
mod reno;

pub use cubic::Cubic;
pub use reno::Reno;

/// The sender's window as congestion control sees it (`snd_cwnd`, `snd_ssthresh`,
/// `snd_cwnd_cnt`), in segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cwnd {
    /// `snd_cwnd`.
    pub cwnd: u32,
    /// `snd_ssthresh`.
    pub ssthresh: u32,
    /// `snd_cwnd_cnt`: segments acknowledged toward the next increase in congestion avoidance.
    pub cnt: u32,
}

impl Cwnd {
    /// `TCP_INFINITE_SSTHRESH`: no threshold until the first loss.
    pub const INFINITE_SSTHRESH: u32 = 0x7fff_ffff;

    /// A connection's window before anything was sent: `init` segments, slow start.
    pub const fn initial(init: u32) -> Cwnd {
        Cwnd {
            cwnd: init,
            ssthresh: Self::INFINITE_SSTHRESH,
            cnt: 0,
        }
    }

    /// `tcp_in_slow_start`.
    pub const fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// `tcp_slow_start`: one segment more per segment acknowledged, never past `ssthresh`;
    /// returns what is left of `acked` for congestion avoidance.
    pub fn slow_start(&mut self, acked: u32) -> u32 {
        let cwnd = (self.cwnd + acked).min(self.ssthresh);
        let left = acked - (cwnd - self.cwnd);
        self.cwnd = cwnd;
        left
    }

    /// `tcp_cong_avoid_ai`: one segment more per `w` segments acknowledged.
    pub fn cong_avoid_ai(&mut self, w: u32, acked: u32) {
        let w = w.max(1);
        if self.cnt >= w {
            self.cnt = 0;
            self.cwnd += 1;
        }
        self.cnt += acked;
        if self.cnt >= w {
            let delta = self.cnt / w;
            self.cnt -= delta * w;
            self.cwnd += delta;
        }
    }
}

/// What an ACK tells the algorithm (`struct ack_sample` and the clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckSample {
    /// `tcp_clock_us` and `tcp_jiffies32` (ms) now.
    pub now_us: u32,
    pub now_ms: u32,
    /// The round trip this ACK measured, µs (`rtt_us`; none under Karn's rule).
    pub rtt_us: Option<u32>,
    /// `snd_una` after the ACK and `snd_nxt`.
    pub snd_una: u32,
    pub snd_nxt: u32,
    /// `hystart_ack_delay`: how long GSO batching at the pacing rate may hold an ACK, µs.
    pub ack_delay_us: u32,
}

/// The hooks of `struct tcp_congestion_ops` an algorithm provides.
pub trait CongestionOps {
    /// The algorithm's name, as `TCP_CONGESTION` and `tcp_congestion_control` spell it.
    fn name(&self) -> &'static str;
    /// `init`: the connection starts sending (`snd_nxt` now).
    fn init(&mut self, _now_us: u32, _snd_nxt: u32) {}
    /// `ssthresh`: the slow-start threshold after a loss.
    fn ssthresh(&mut self, w: &Cwnd) -> u32;
    /// `cong_avoid`: grows the window for `acked` newly delivered segments.
    fn cong_avoid(&mut self, w: &mut Cwnd, acked: u32, now_ms: u32);
    /// `pkts_acked`: an ACK's delay sample.
    fn pkts_acked(&mut self, _w: &mut Cwnd, _sample: &AckSample) {}
    /// `set_state(TCP_CA_Loss)`: a retransmission timeout.
    fn on_loss(&mut self, _now_us: u32, _snd_nxt: u32) {}
    /// `cwnd_event(CA_EVENT_TX_START)`: data leaves after the connection was idle since
    /// `lsndtime_ms`.
    fn on_tx_start(&mut self, _now_ms: u32, _lsndtime_ms: u32) {}
}

/// The algorithm a connection runs (an enum, so that a control block stays plain data: no
/// allocation, `Clone` and `Eq` as before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CongestionControl {
    /// `reno`.
    Reno,
    /// `cubic`, Linux's default.
    Cubic(Cubic),
}

impl Default for CongestionControl {
    fn default() -> Self {
        CongestionControl::Cubic(Cubic::default())
    }
}

/// Which algorithm, without its state (what a socket option or the sysctl names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CcAlgo {
    Reno,
    #[default]
    Cubic,
}

impl CcAlgo {
    /// The algorithm called `name` (`tcp_ca_find`), or `ENOENT` as Linux answers for one it
    /// does not have.
    pub fn by_name(name: &str) -> Result<CcAlgo, crate::base::errno::Errno> {
        match name.trim_end_matches(['\0', '\n']) {
            "reno" => Ok(CcAlgo::Reno),
            "cubic" => Ok(CcAlgo::Cubic),
            _ => Err(crate::base::errno::Errno::ENOENT),
        }
    }
}

impl CongestionControl {
    /// A fresh instance of `algo`.
    pub fn new(algo: CcAlgo) -> CongestionControl {
        match algo {
            CcAlgo::Reno => CongestionControl::Reno,
            CcAlgo::Cubic => CongestionControl::Cubic(Cubic::default()),
        }
    }
}

impl CongestionOps for CongestionControl {
    fn name(&self) -> &'static str {
        match self {
            CongestionControl::Reno => Reno.name(),
            CongestionControl::Cubic(c) => c.name(),
        }
    }
    fn init(&mut self, now_us: u32, snd_nxt: u32) {
        if let CongestionControl::Cubic(c) = self {
            c.init(now_us, snd_nxt);
        }
    }
    fn ssthresh(&mut self, w: &Cwnd) -> u32 {
        match self {
            CongestionControl::Reno => Reno.ssthresh(w),
            CongestionControl::Cubic(c) => c.ssthresh(w),
        }
    }
    fn cong_avoid(&mut self, w: &mut Cwnd, acked: u32, now_ms: u32) {
        match self {
            CongestionControl::Reno => Reno.cong_avoid(w, acked, now_ms),
            CongestionControl::Cubic(c) => c.cong_avoid(w, acked, now_ms),
        }
    }
    fn pkts_acked(&mut self, w: &mut Cwnd, sample: &AckSample) {
        if let CongestionControl::Cubic(c) = self {
            c.pkts_acked(w, sample);
        }
    }
    fn on_loss(&mut self, now_us: u32, snd_nxt: u32) {
        if let CongestionControl::Cubic(c) = self {
            c.on_loss(now_us, snd_nxt);
        }
    }
    fn on_tx_start(&mut self, now_ms: u32, lsndtime_ms: u32) {
        if let CongestionControl::Cubic(c) = self {
            c.on_tx_start(now_ms, lsndtime_ms);
        }
    }
}
