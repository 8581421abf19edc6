//! A connection's timers (`tcp_timer.c`): retransmission (`tcp_retransmit_timer`,
//! `tcp_write_timeout`, the zero-window probe), the delayed ACK
//! (`tcp_delack_timer_handler`) and an orphan's FIN_WAIT2 lifetime.

use crate::base::errno::Errno;
use crate::base::mib::Counter;
use crate::base::time::{Duration, Instant};
use crate::inet::socket::{SockId, Socket};
use crate::tcp::cong::CongestionOps;
use crate::tcp::ctx::Ctx;
use crate::tcp::tcb::{TcpTimer, TCP_ATO_MIN_MS};
use crate::tcp::tcp_output::{send_control, tcp_transmit, tcp_write_xmit, TCP_PINGPONG_THRESH};
use synq_wire::TcpFlags;

/// `TCP_RTO_MIN`: the base of the retransmission give-up model (not the sysctl).
const TCP_RTO_MIN: Duration = Duration::from_millis(200);

/// `tcp_model_timeout`: how long `boundary` retransmissions take when the RTO starts at
/// `rto_base` and doubles up to `rto_max` (924.6 s for `tcp_retries2` = 15 and 120 s).
pub fn tcp_model_timeout(boundary: u32, rto_base: Duration, rto_max: Duration) -> Duration {
    let thresh = (rto_max.as_micros() / rto_base.as_micros().max(1)).max(1).ilog2();
    if boundary <= thresh {
        rto_base * ((2u32 << boundary) - 1)
    } else {
        rto_base * ((2u32 << thresh) - 1) + rto_max * (boundary - thresh)
    }
}

/// The SYN_SENT side of `tcp_retransmit_timer` and `tcp_write_timeout` (rules C25–C27): a
/// value a test can step. It counts the SYN's retransmissions (`icsk_retransmits`,
/// `total_rto`) and holds the RTO; [`SynRetransmit::fire`] says, each time the timer fires,
/// whether to give up or to resend and when to fire next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynRetransmit {
    /// SYNs resent so far.
    pub retransmits: u32,
    /// The current RTO (`icsk_rto`), `TCP_TIMEOUT_INIT` at first.
    pub rto: Duration,
}

/// What bounds a connect attempt: the sysctls and the socket's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynLimits {
    /// `TCP_SYNCNT` if set, else `tcp_syn_retries` (`retry_until`).
    pub retry_until: u32,
    /// `tcp_syn_linear_timeouts`: resends at the initial RTO before it doubles.
    pub linear_timeouts: u32,
    /// `TCP_USER_TIMEOUT`; zero if unset.
    pub user_timeout: Duration,
    /// `tcp_rto_max_ms`.
    pub rto_max: Duration,
}

impl SynRetransmit {
    /// At the first SYN (`tcp_connect_init`): no resend yet, the RTO at `TCP_TIMEOUT_INIT`.
    pub fn new(rto: Duration) -> SynRetransmit {
        SynRetransmit { retransmits: 0, rto }
    }

    /// The timer fired `elapsed` after the first SYN: `None` to give up (`tcp_write_err`),
    /// else resend the SYN and fire again after the returned delay. The attempt ends when the
    /// resends reach `retry_until + linear_timeouts`, or after at least one resend, when
    /// `elapsed` reaches the user timeout or, without one, `tcp_model_timeout(retry_until)`
    /// from a 1 s base (`retransmits_timed_out`). The first `linear_timeouts` resends keep the
    /// RTO, the later ones double it up to `rto_max`; the next wait never runs past the user
    /// timeout (`tcp_clamp_rto_to_user_timeout`).
    pub fn fire(&mut self, elapsed: Duration, limits: &SynLimits, rto_base: Duration) -> Option<Duration> {
        if self.retransmits >= limits.retry_until + limits.linear_timeouts {
            return None;
        }
        let timeout = if limits.user_timeout.is_zero() {
            tcp_model_timeout(limits.retry_until, rto_base, limits.rto_max)
        } else {
            limits.user_timeout
        };
        if self.retransmits > 0 && elapsed >= timeout {
            return None;
        }
        self.retransmits += 1;
        if self.retransmits > limits.linear_timeouts {
            self.rto = (self.rto * 2).min(limits.rto_max);
        }
        if limits.user_timeout.is_zero() {
            return Some(self.rto);
        }
        // Past the user timeout the timer fires at once (one jiffy).
        let remaining = limits.user_timeout.saturating_sub(elapsed);
        Some(self.rto.min(remaining).max(Duration::from_millis(1)))
    }
}

/// What a connection's timer leaves for the stack to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fired {
    /// Nothing more.
    Nothing,
    /// The connection is over (`tcp_done`): it gave up, or an orphan's FIN_WAIT2 ran out.
    Done,
}

/// Runs connection `sk`'s timer `kind`, which fired.
pub(crate) fn tcp_timer(cx: &mut Ctx, now: Instant, sk: SockId, socket: &mut Socket, kind: TcpTimer) -> Fired {
    let Some(tcb) = socket.tcb_mut() else {
        return Fired::Nothing;
    };
    tcb.timers[kind] = None;
    match kind {
        TcpTimer::Retransmit => tcp_retransmit_timer(cx, now, sk, socket),
        TcpTimer::DelAck => {
            tcp_delack_timer(cx, now, socket);
            Fired::Nothing
        }
        // The orphan's FIN_WAIT2 ran out: it goes without a word.
        TcpTimer::FinWait2 => Fired::Done,
    }
}

/// `tcp_retransmit_timer`: gives up after `tcp_retries2` (an orphan: `tcp_orphan_retries`, 0
/// meaning 8) as `retransmits_timed_out` models them — ETIMEDOUT, TCPAbortOnTimeout;
/// otherwise halves ssthresh, drops the window to one segment, doubles the RTO and sends
/// again from `snd_una` (go-back-N). With nothing in flight and a zero window it sends a
/// window probe (`tcp_xmit_probe_skb`: an ACK one below `snd_una`).
fn tcp_retransmit_timer(cx: &mut Ctx, now: Instant, sk: SockId, socket: &mut Socket) -> Fired {
    let rto_max = cx.rto_max();
    let (retries2, orphan_retries) = (cx.sysctl.tcp_retries2, cx.sysctl.tcp_orphan_retries);
    let orphan = socket.is_orphan();
    let mss = u32::from(socket.mss_cache()).max(1);
    let Some(tcb) = socket.tcb_mut() else {
        return Fired::Nothing;
    };
    let boundary = if orphan {
        if orphan_retries == 0 {
            8
        } else {
            orphan_retries
        }
    } else {
        retries2
    };
    if tcb.rtt.retransmits > 0
        && tcb.rtt.retrans_stamp.is_some_and(|t| {
            now.saturating_duration_since(t) >= tcp_model_timeout(boundary.into(), TCP_RTO_MIN, rto_max)
        })
    {
        socket.error = Some(Errno::ETIMEDOUT);
        cx.mib.inc(Counter::TcpExtTCPAbortOnTimeout);
        return Fired::Done;
    }
    if tcb.snd.in_flight() == 0 {
        if tcb.snd.unsent_from(tcb.snd.nxt) == 0 || tcb.snd.wnd != 0 {
            tcp_write_xmit(cx, now, sk, socket);
            return Fired::Nothing;
        }
        let seq = tcb.snd.una - 1;
        tcb.rtt.backoff = tcb.rtt.backoff.saturating_add(1);
        let wait = (tcb.rtt.rto * (1u32 << tcb.rtt.backoff.min(16))).min(rto_max);
        tcp_transmit(cx, now, socket, seq, 0, TcpFlags::ACK);
        if let Some(tcb) = socket.tcb_mut() {
            cx.arm_timer(tcb, sk, TcpTimer::Retransmit, now + wait);
        }
        return Fired::Nothing;
    }
    cx.mib.inc(Counter::TcpExtTCPTimeouts);
    if tcb.rtt.retransmits == 0 {
        tcb.cwnd.ssthresh = tcb.ca.ssthresh(&tcb.cwnd, tcb.snd.in_flight().div_ceil(mss));
        tcb.rtt.retrans_stamp = Some(tcb.rtt.timed.map_or(now - tcb.rtt.rto, |(_, sent)| sent));
    }
    // `tcp_enter_loss`: one segment, then slow start again.
    tcb.cwnd.cwnd = 1;
    tcb.cwnd.cnt = 0;
    tcb.rtt.timed = None;
    tcb.rtt.retransmits = tcb.rtt.retransmits.saturating_add(1);
    tcb.rtt.backoff = tcb.rtt.backoff.saturating_add(1);
    tcb.rtt.rto = (tcb.rtt.rto * 2).min(rto_max);
    tcb.snd.nxt = tcb.snd.una;
    tcp_write_xmit(cx, now, sk, socket);
    Fired::Nothing
}

/// `tcp_delack_timer_handler`: the owed ACK goes out. Outside ping-pong the timeout was too
/// short and doubles (up to the RTO); in ping-pong the reply did not come, so ping-pong ends
/// and `ato` is reset.
fn tcp_delack_timer(cx: &mut Ctx, now: Instant, socket: &mut Socket) {
    let Some(tcb) = socket.tcb_mut() else { return };
    if !tcb.ack.pending {
        return;
    }
    if tcb.ack.pingpong < TCP_PINGPONG_THRESH {
        tcb.ack.ato_ms = (tcb.ack.ato_ms << 1).min(tcb.rtt.rto.as_millis() as u32);
    } else {
        tcb.ack.pingpong = 0;
        tcb.ack.ato_ms = TCP_ATO_MIN_MS;
    }
    cx.mib.inc(Counter::TcpExtDelayedACKs);
    send_control(cx, now, socket, TcpFlags::ACK);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::tcb::TCP_RTO_MAX;

    #[test]
    fn retries2_gives_up_after_924_6_seconds() {
        assert_eq!(
            tcp_model_timeout(15, TCP_RTO_MIN, TCP_RTO_MAX),
            Duration::from_millis(924_600)
        );
        assert_eq!(
            tcp_model_timeout(8, TCP_RTO_MIN, TCP_RTO_MAX),
            Duration::from_millis(102_200)
        );
        assert_eq!(
            tcp_model_timeout(3, TCP_RTO_MIN, TCP_RTO_MAX),
            Duration::from_millis(3_000)
        );
    }

    const S: Duration = Duration::from_secs(1);

    fn limits(retry_until: u32) -> SynLimits {
        SynLimits {
            retry_until,
            linear_timeouts: 4,
            user_timeout: Duration::ZERO,
            rto_max: TCP_RTO_MAX,
        }
    }

    /// When each SYN goes out and when the attempt fails, in ms after the first SYN.
    fn schedule(limits: SynLimits) -> (Vec<u64>, u64) {
        let mut st = SynRetransmit::new(S);
        let mut sent = vec![0];
        let mut at = st.rto;
        while let Some(next) = st.fire(at, &limits, S) {
            sent.push(at.as_millis() as u64);
            at += next;
        }
        (sent, at.as_millis() as u64)
    }

    fn secs(v: &[u64]) -> Vec<u64> {
        v.iter().map(|ms| ms / 1000).collect()
    }

    #[test]
    fn c25_c27_defaults_11_syns_then_etimedout_at_131_s() {
        let (sent, fail) = schedule(limits(6));
        assert_eq!(secs(&sent), [0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67]);
        assert_eq!(fail, 131_000);
    }

    #[test]
    fn c26_tcp_syncnt_n_fails_at_the_model_time() {
        for (n, at) in [(1, 3), (2, 7), (3, 19), (4, 35), (5, 67), (6, 131), (7, 251)] {
            assert_eq!(schedule(limits(n)).1, at * 1000, "TCP_SYNCNT {n}");
        }
        assert_eq!(secs(&schedule(limits(3)).0), [0, 1, 2, 3, 4, 5, 7, 11]);
    }

    #[test]
    fn c25_without_linear_timeouts_the_rto_doubles_from_the_first_resend() {
        let l = SynLimits {
            linear_timeouts: 0,
            ..limits(3)
        };
        assert_eq!(schedule(l), (vec![0, 1000, 3000, 7000], 15_000));
        let (sent, fail) = schedule(SynLimits {
            linear_timeouts: 0,
            ..limits(6)
        });
        assert_eq!(secs(&sent), [0, 1, 3, 7, 15, 31, 63]);
        assert_eq!(fail, 127_000);
    }

    #[test]
    fn c25_tcp_rto_max_caps_the_back_off_and_the_model() {
        let l = SynLimits {
            rto_max: Duration::from_secs(2),
            ..limits(3)
        };
        let (sent, fail) = schedule(l);
        assert_eq!(secs(&sent), [0, 1, 2, 3, 4, 5]);
        assert_eq!(fail, 7_000);
    }

    #[test]
    fn c26_tcp_user_timeout_replaces_the_model_but_not_the_count() {
        let uto = |ms: u64, n: u32| SynLimits {
            user_timeout: Duration::from_millis(ms),
            ..limits(n)
        };
        assert_eq!(schedule(uto(2500, 6)), (vec![0, 1000, 2000], 2500));
        let (sent, fail) = schedule(uto(10_000, 6));
        assert_eq!(secs(&sent), [0, 1, 2, 3, 4, 5, 7]);
        assert_eq!(fail, 10_000);
        let (sent, fail) = schedule(uto(10_000, 1));
        assert_eq!(sent.len(), 6, "the count limit, 1 + 4 resends");
        assert_eq!(fail, 7_000);
        // Below the initial RTO: the first timer is not clamped; one resend, then at once.
        assert_eq!(schedule(uto(500, 6)), (vec![0, 1000], 1001));
    }
}
