//! Congestion control behind one seam, named after Linux's `struct tcp_congestion_ops`: the
//! connection keeps its window ([`Cwnd`]) and calls the algorithm at the points Linux does
//! (`cong_avoid` on an ACK that advances `snd_una`, `ssthresh` when a loss is detected).
//! Reno (`tcp_cong.c`) is the one algorithm; others come as further variants of
//! [`CongestionControl`], each in a file of its own.

mod reno;

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
}

/// The hooks of `struct tcp_congestion_ops` an algorithm provides.
pub trait CongestionOps {
    /// The algorithm's name, as `TCP_CONGESTION` and `tcp_congestion_control` spell it.
    fn name(&self) -> &'static str;
    /// `ssthresh`: the slow-start threshold after a loss, with `in_flight` segments out.
    fn ssthresh(&self, w: &Cwnd, in_flight: u32) -> u32;
    /// `cong_avoid`: grows the window for `acked` newly acknowledged segments.
    fn cong_avoid(&mut self, w: &mut Cwnd, acked: u32);
}

/// The algorithm a connection runs (an enum, so that a control block stays plain data: no
/// allocation, `Clone` and `Eq` as before).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CongestionControl {
    /// `reno`.
    #[default]
    Reno,
}

impl CongestionOps for CongestionControl {
    fn name(&self) -> &'static str {
        match self {
            CongestionControl::Reno => Reno.name(),
        }
    }
    fn ssthresh(&self, w: &Cwnd, in_flight: u32) -> u32 {
        match self {
            CongestionControl::Reno => Reno.ssthresh(w, in_flight),
        }
    }
    fn cong_avoid(&mut self, w: &mut Cwnd, acked: u32) {
        match self {
            CongestionControl::Reno => Reno.cong_avoid(w, acked),
        }
    }
}
