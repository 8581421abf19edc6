//! A connection's timers (`tcp_timer.c`): retransmission (`tcp_retransmit_timer`,
//! `tcp_write_timeout`, the zero-window probe), the delayed ACK
//! (`tcp_delack_timer_handler`), an orphan's FIN_WAIT2 lifetime, and the end of TIME_WAIT
//! (`tw_timer_handler`).

use crate::base::errno::Errno;
use crate::base::mib::Counter;
use crate::base::time::{Duration, Instant};
use crate::inet::ehash::EhashEntry;
use crate::inet::socket::SocketId;
use crate::inet::time_wait::{TimeWaitId, TimeWaitSock};
use crate::stack::Stack;
use crate::tcp::cong::CongestionOps;
use crate::tcp::tcb::{TcpTimer, TCP_ATO_MIN_MS};
use crate::tcp::tcp_output::TCP_PINGPONG_THRESH;

/// `TCP_RTO_MIN`: the base of the retransmission give-up model (not the sysctl).
const TCP_RTO_MIN: Duration = Duration::from_millis(200);
/// `TCP_RTO_MAX`.
const TCP_RTO_MAX: Duration = Duration::from_secs(120);

/// `tcp_model_timeout`: how long `boundary` retransmissions take when the RTO starts at
/// `rto_base` and doubles up to `TCP_RTO_MAX` (924.6 s for `tcp_retries2` = 15).
pub fn tcp_model_timeout(boundary: u32, rto_base: Duration) -> Duration {
    let thresh = (TCP_RTO_MAX.as_micros() / rto_base.as_micros().max(1)).ilog2();
    if boundary <= thresh {
        rto_base * ((2u32 << boundary) - 1)
    } else {
        rto_base * ((2u32 << thresh) - 1) + TCP_RTO_MAX * (boundary - thresh)
    }
}

impl Stack {
    /// Runs a connection timer that fired.
    pub(crate) fn tcp_timer(&mut self, now: Instant, fd: SocketId, kind: TcpTimer) {
        let Some(tcb) = self.sockets.get_mut(fd).ok().and_then(|s| s.tcb.as_deref_mut()) else {
            return;
        };
        tcb.timers[kind] = None;
        match kind {
            TcpTimer::Retransmit => self.tcp_retransmit_timer(now, fd),
            TcpTimer::DelAck => self.tcp_delack_timer(now, fd),
            // The orphan's FIN_WAIT2 ran out: it goes without a word.
            TcpTimer::FinWait2 => self.tcp_done(fd),
        }
    }

    /// `tcp_retransmit_timer`: gives up after `tcp_retries2` (an orphan: `tcp_orphan_retries`,
    /// 0 meaning 8) as `retransmits_timed_out` models them — ETIMEDOUT, TCPAbortOnTimeout;
    /// otherwise halves ssthresh, drops the window to one segment, doubles the RTO and sends
    /// again from `snd_una` (go-back-N). With nothing in flight and a zero window it sends a
    /// window probe (`tcp_xmit_probe_skb`: an ACK one below `snd_una`).
    fn tcp_retransmit_timer(&mut self, now: Instant, fd: SocketId) {
        let rto_max = self.rto_max();
        let (retries2, orphan_retries) = (self.sysctl.tcp_retries2, self.sysctl.tcp_orphan_retries);
        let Ok(socket) = self.sockets.get_mut(fd) else { return };
        let orphan = socket.is_orphan();
        let mss = u32::from(socket.mss_cache()).max(1);
        let Some(tcb) = socket.tcb.as_deref_mut() else { return };
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
            && tcb
                .rtt
                .retrans_stamp
                .is_some_and(|t| now.saturating_duration_since(t) >= tcp_model_timeout(boundary.into(), TCP_RTO_MIN))
        {
            socket.error = Some(Errno::ETIMEDOUT);
            self.mib.inc(Counter::TcpExtTCPAbortOnTimeout);
            return self.tcp_done(fd);
        }
        if tcb.snd.in_flight() == 0 {
            if tcb.snd.unsent_from(tcb.snd.nxt) == 0 || tcb.snd.wnd != 0 {
                return self.tcp_write_xmit(now, fd);
            }
            let seq = tcb.snd.una - 1;
            tcb.rtt.backoff = tcb.rtt.backoff.saturating_add(1);
            let wait = (tcb.rtt.rto * (1u32 << tcb.rtt.backoff.min(16))).min(rto_max);
            self.tcp_transmit(now, fd, seq, 0, synq_wire::TcpFlags::ACK);
            return self.arm_timer(fd, TcpTimer::Retransmit, now + wait);
        }
        self.mib.inc(Counter::TcpExtTCPTimeouts);
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
        self.tcp_write_xmit(now, fd);
    }

    /// `tcp_delack_timer_handler`: the owed ACK goes out. Outside ping-pong the timeout was
    /// too short and doubles (up to the RTO); in ping-pong the reply did not come, so
    /// ping-pong ends and `ato` is reset.
    fn tcp_delack_timer(&mut self, now: Instant, fd: SocketId) {
        let Some(tcb) = self.sockets.get_mut(fd).ok().and_then(|s| s.tcb.as_deref_mut()) else {
            return;
        };
        if !tcb.ack.pending {
            return;
        }
        if tcb.ack.pingpong < TCP_PINGPONG_THRESH {
            tcb.ack.ato_ms = (tcb.ack.ato_ms << 1).min(tcb.rtt.rto.as_millis() as u32);
        } else {
            tcb.ack.pingpong = 0;
            tcb.ack.ato_ms = TCP_ATO_MIN_MS;
        }
        self.mib.inc(Counter::TcpExtDelayedACKs);
        self.tcp_send_ack(now, fd);
    }

    /// `tw_timer_handler` → `inet_twsk_kill`: a TIME_WAIT entry's time is up; its 4-tuple
    /// and port are free.
    pub(crate) fn tw_timer_handler(&mut self, id: TimeWaitId) {
        let Some(tuple) = self.time_waits.get(id).map(TimeWaitSock::tuple) else {
            return;
        };
        self.ehash.remove(&tuple, EhashEntry::TimeWait(id));
        self.remove_time_wait(id);
        self.mib.inc(Counter::TcpExtTW);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries2_gives_up_after_924_6_seconds() {
        assert_eq!(tcp_model_timeout(15, TCP_RTO_MIN), Duration::from_millis(924_600));
        assert_eq!(tcp_model_timeout(8, TCP_RTO_MIN), Duration::from_millis(102_200));
        assert_eq!(tcp_model_timeout(3, TCP_RTO_MIN), Duration::from_millis(3_000));
    }
}
