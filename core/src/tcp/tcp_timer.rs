//! A connection's timers (`tcp_timer.c`): retransmission (`tcp_retransmit_timer`,
//! `tcp_write_timeout`, the zero-window probe), the delayed ACK
//! (`tcp_delack_timer_handler`) and an orphan's FIN_WAIT2 lifetime.

use crate::base::errno::Errno;
use crate::base::mib::Counter;
use crate::base::time::{ms_since, tcp_clock_ms};
use crate::base::time::{Duration, Instant};
use crate::inet::request_sock::TCP_TIMEOUT_INIT;
use crate::inet::socket::TcpState;
use crate::inet::socket::{SockId, Socket};
use crate::tcp::cong::CongestionOps;
use crate::tcp::ctx::Ctx;
use crate::tcp::syn_sent::{tcp_model_timeout, SynLimits};
use crate::tcp::tcb::{TcpTimer, TCP_ATO_MIN_MS};
use crate::tcp::tcp_input::{tcp_enter_recovery, TCP_TIMEOUT_MIN};
use crate::tcp::tcp_output::{
    send_control, tcp_send_loss_probe, tcp_write_wakeup, tcp_write_xmit, tcp_xmit_retransmit_queue, Wakeup,
};
use crate::tcp::tcp_recovery::CaState;
use synq_wire::TcpFlags;

/// `TCP_RESOURCE_PROBE_INTERVAL`: how soon a probe the device queue dropped goes again.
const TCP_RESOURCE_PROBE_INTERVAL: Duration = Duration::from_millis(500);

/// `TCP_RTO_MIN`: the base of the retransmission give-up model (not the sysctl).
const TCP_RTO_MIN: Duration = Duration::from_millis(200);

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
        // SYN_SENT, or SYN_RECV after a simultaneous open.
        TcpTimer::Retransmit if tcb.syn_sent.is_some() => tcp_syn_sent_timer(cx, now, sk, socket),
        TcpTimer::Retransmit => tcp_retransmit_timer(cx, now, sk, socket),
        TcpTimer::DelAck => {
            tcp_delack_timer(cx, now, socket);
            Fired::Nothing
        }
        // The orphan's FIN_WAIT2 ran out: it goes without a word.
        TcpTimer::FinWait2 => Fired::Done,
        TcpTimer::Reorder => {
            tcp_rack_reo_timeout(cx, now, sk, socket);
            Fired::Nothing
        }
        TcpTimer::LossProbe => {
            tcp_send_loss_probe(cx, now, sk, socket);
            Fired::Nothing
        }
        TcpTimer::Keepalive => tcp_keepalive_timer(cx, now, sk, socket),
    }
}

/// `tcp_rack_reo_timeout`: RACK's reordering window passed. What is lost now starts fast
/// recovery (PRR's first step) if it is not under way, and is resent; the RTO timer runs
/// again.
fn tcp_rack_reo_timeout(cx: &mut Ctx, now: Instant, sk: SockId, socket: &mut Socket) {
    let Some(tcb) = socket.tcb_mut() else { return };
    let prior_in_flight = tcb.rec.in_flight();
    let reo_wnd = tcb.rec.rack_reo_wnd_us(tcb.rtt.min_rtt_us, tcb.rtt.srtt_us);
    if let Some(wait) = tcb.rec.rack_detect_loss(now, reo_wnd) {
        cx.arm_timer(tcb, sk, TcpTimer::Reorder, now + wait + TCP_TIMEOUT_MIN);
    }
    if prior_in_flight != tcb.rec.in_flight() {
        if tcb.rec.ca_state != CaState::Recovery {
            tcp_enter_recovery(cx, tcb);
            if let Some(cwnd) = tcb.rec.cwnd_reduction(tcb.cwnd.ssthresh, 1, false, false) {
                tcb.cwnd.cwnd = cwnd;
            }
        }
        tcp_xmit_retransmit_queue(cx, now, sk, socket);
    }
    let Some(tcb) = socket.tcb_mut() else { return };
    if tcb.timers[TcpTimer::Retransmit].is_none() && tcb.snd.in_flight() > 0 {
        let rto = tcb.rtt.rto;
        cx.arm_timer(tcb, sk, TcpTimer::Retransmit, now + rto);
    }
}

/// `tcp_retransmit_timer` while the active open is under way (rules C25–C27, C39): gives up
/// as [`SynRetransmit::fire`] decides (ETIMEDOUT, TCPAbortOnTimeout; `TCP_USER_TIMEOUT`
/// bounds it), else sends the same SYN with a fresh TSval — in SYN_RECV after a simultaneous
/// open, the same SYN-ACK, backing off from the first resend.
fn tcp_syn_sent_timer(cx: &mut Ctx, now: Instant, sk: SockId, socket: &mut Socket) -> Fired {
    let limits = SynLimits {
        retry_until: u32::from(if socket.options.syn_retries != 0 {
            socket.options.syn_retries
        } else {
            cx.sysctl.tcp_syn_retries
        }),
        // Linear timeouts are for the SYN alone: a SYN-ACK backs off at once.
        linear_timeouts: if socket.state == TcpState::SynSent {
            u32::from(cx.sysctl.tcp_syn_linear_timeouts)
        } else {
            0
        },
        user_timeout: Duration::from_millis(u64::from(socket.options.user_timeout_ms)),
        rto_max: cx.rto_max(),
    };
    let (saddr, sport, peer, state) = (socket.rcv_saddr, socket.sport, socket.peer, socket.state);
    let now_ms = tcp_clock_ms(now);
    let ident = socket.next_ip_id();
    let Some(tcb) = socket.tcb_mut() else {
        return Fired::Nothing;
    };
    let (Some(ss), Some(peer)) = (tcb.syn_sent.as_mut(), peer) else {
        return Fired::Nothing;
    };
    let elapsed = ms_since(now, ss.retrans_stamp_ms);
    let Some(next) = ss.retransmit.fire(elapsed, &limits, TCP_TIMEOUT_INIT) else {
        socket.error = Some(Errno::ETIMEDOUT);
        cx.mib.inc(Counter::TcpExtTCPAbortOnTimeout);
        return Fired::Done;
    };
    tcb.rtt.rto = ss.retransmit.rto;
    tcb.rtt.retransmits = ss.retransmit.retransmits as u8;
    let ss = **ss;
    let syn = if state == TcpState::SynRecv {
        tcb.simultaneous_syn_ack(&ss, sport, peer.port(), now_ms)
    } else {
        ss.syn(sport, peer.port(), now_ms)
    };
    cx.send_segment(saddr, *peer.ip(), (0, ident), &syn);
    cx.mib.inc(Counter::TcpRetransSegs);
    cx.arm_timer(tcb, sk, TcpTimer::Retransmit, now + next);
    Fired::Nothing
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
    let user_timeout = Duration::from_millis(u64::from(socket.options.user_timeout_ms));
    let frto = cx.sysctl.tcp_frto != 0;
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
    // retransmits_timed_out: TCP_USER_TIMEOUT if set, else retries2's time model, counted
    // from the first retransmission.
    let limit = if user_timeout.is_zero() {
        tcp_model_timeout(boundary.into(), TCP_RTO_MIN, rto_max)
    } else {
        user_timeout
    };
    if tcb.rtt.retransmits > 0 && tcb.rtt.retrans_stamp.is_some_and(|t| ms_since(now, t) >= limit) {
        socket.error = Some(Errno::ETIMEDOUT);
        cx.mib.inc(Counter::TcpExtTCPAbortOnTimeout);
        return Fired::Done;
    }
    if tcb.snd.in_flight() == 0 {
        if tcb.snd.unsent_from(tcb.snd.nxt) == 0 {
            tcp_write_xmit(cx, now, sk, socket);
            return Fired::Nothing;
        }
        return tcp_probe_timer(
            cx,
            now,
            sk,
            socket,
            if orphan { boundary } else { retries2 },
            user_timeout,
        );
    }
    cx.mib.inc(Counter::TcpExtTCPTimeouts);
    // tcp_enter_loss: a new ssthresh unless this is a timeout again in the same loss; what
    // it was is kept for an undo (prior_ssthresh: tcp_current_ssthresh).
    let new_recovery = tcb.rec.ca_state < CaState::Recovery;
    let reduce = tcb.rec.ca_state <= CaState::Disorder
        || !tcb.rec.high_seq.after(tcb.snd.una)
        || (tcb.rec.ca_state == CaState::Loss && tcb.rtt.retransmits == 0);
    if reduce {
        tcb.rec.prior_ssthresh = tcb.current_ssthresh();
        tcb.rec.prior_cwnd = tcb.cwnd.cwnd;
        tcb.cwnd.ssthresh = tcb.ca.ssthresh(&tcb.cwnd);
    }
    tcb.ca.on_loss(now.as_micros() as u32, tcb.snd.nxt.0);
    tcb.rec.enter_loss(tcb.snd.nxt);
    if reduce {
        tcb.rec.init_undo(tcb.snd.una);
    }
    // F-RTO (RFC 5682 3.1 step 1): unless recovery was under way, bar a repeated timeout.
    tcb.rec.frto = frto && (new_recovery || tcb.rtt.retransmits > 0);
    cx.cancel_timer(tcb, TcpTimer::Reorder);
    // One segment, then slow start again.
    tcb.cwnd.cwnd = tcb.rec.in_flight() + 1;
    tcb.cwnd.cnt = 0;
    tcb.rtt.timed = None;
    tcb.rtt.retransmits = tcb.rtt.retransmits.saturating_add(1);
    tcb.rtt.backoff = tcb.rtt.backoff.saturating_add(1);
    tcb.rtt.rto = (tcb.rtt.rto * 2).min(rto_max);
    // tcp_clamp_rto_to_user_timeout: never past what TCP_USER_TIMEOUT leaves.
    let mut rto = tcb.rtt.rto;
    if let (false, Some(t)) = (user_timeout.is_zero(), tcb.rtt.retrans_stamp) {
        let left = user_timeout.saturating_sub(ms_since(now, t));
        rto = rto.min(left.max(Duration::from_millis(1)));
    }
    cx.cancel_timer(tcb, TcpTimer::LossProbe);
    cx.arm_timer(tcb, sk, TcpTimer::Retransmit, now + rto);
    tcp_xmit_retransmit_queue(cx, now, sk, socket);
    Fired::Nothing
}

/// `tcp_probe_timer` + `tcp_send_probe0`: data waits with nothing in flight — corked, held
/// by a zero window, or dropped by the device queue. Gives up (ETIMEDOUT) after
/// `max_probes` unanswered probes or, with TCP_USER_TIMEOUT, that long after the first;
/// otherwise probes ([`tcp_write_wakeup`]): sent data ends probing; a window probe backs off
/// (`tcp_probe0_when`); a probe the device dropped tries again after
/// `TCP_RESOURCE_PROBE_INTERVAL` (500 ms) without backing off. The wait is clamped to what
/// the user timeout leaves.
fn tcp_probe_timer(
    cx: &mut Ctx,
    now: Instant,
    sk: SockId,
    socket: &mut Socket,
    max_probes: u8,
    user_timeout: Duration,
) -> Fired {
    let (retries2, rto_max) = (cx.sysctl.tcp_retries2, cx.rto_max());
    let Some(tcb) = socket.tcb_mut() else {
        return Fired::Nothing;
    };
    let now_ms = tcp_clock_ms(now);
    let first = *tcb.rtt.probes_tstamp.get_or_insert(now_ms);
    let timed_out = !user_timeout.is_zero() && first != now_ms && ms_since(now, first) >= user_timeout;
    if timed_out || tcb.rtt.probes_out >= max_probes {
        socket.error = Some(Errno::ETIMEDOUT);
        cx.mib.inc(Counter::TcpExtTCPAbortOnTimeout);
        return Fired::Done;
    }
    let result = tcp_write_wakeup(cx, now, sk, socket);
    let Some(tcb) = socket.tcb_mut() else {
        return Fired::Nothing;
    };
    if result == Wakeup::Sent {
        tcb.rtt.probes_out = 0;
        tcb.rtt.backoff = 0;
        tcb.rtt.probes_tstamp = None;
        return Fired::Nothing;
    }
    tcb.rtt.probes_out = tcb.rtt.probes_out.saturating_add(1);
    let mut wait = if result == Wakeup::Dropped {
        TCP_RESOURCE_PROBE_INTERVAL
    } else {
        if tcb.rtt.backoff < retries2 {
            tcb.rtt.backoff += 1;
        }
        (tcb.rtt.rto.max(TCP_RTO_MIN) * (1u32 << tcb.rtt.backoff.min(16))).min(rto_max)
    };
    if !user_timeout.is_zero() {
        let left = user_timeout.saturating_sub(ms_since(now, first));
        wait = wait.min(left.max(Duration::from_millis(2)));
    }
    cx.arm_timer(tcb, sk, TcpTimer::Retransmit, now + wait);
    Fired::Nothing
}

/// `keepalive_time_when`, `keepalive_intvl_when`, `keepalive_probes`: the socket's
/// TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT, else the sysctls'.
fn keepalive_settings(cx: &Ctx, socket: &Socket) -> (Duration, Duration, u8) {
    let o = &socket.options;
    let secs =
        |own: u32, sysctl: i32| Duration::from_secs(u64::from(if own != 0 { own } else { sysctl.max(0) as u32 }));
    (
        secs(o.keepidle, cx.sysctl.tcp_keepalive_time),
        secs(o.keepintvl, cx.sysctl.tcp_keepalive_intvl),
        if o.keepcnt != 0 {
            o.keepcnt
        } else {
            cx.sysctl.tcp_keepalive_probes
        },
    )
}

/// `keepalive_time_elapsed`: how long the connection has heard nothing (no data, no ACK).
fn keepalive_time_elapsed(now: Instant, tcb: &crate::tcp::tcb::Tcb) -> Duration {
    let now_ms = tcp_clock_ms(now);
    let idle = now_ms
        .wrapping_sub(tcb.ack.lrcvtime_ms)
        .min(now_ms.wrapping_sub(tcb.snd.rcv_tstamp_ms));
    Duration::from_millis(u64::from(idle))
}

/// The keepalive timer, as a connection starts (`tcp_create_openreq_child`,
/// `tcp_finish_connect`) or TCP_KEEPIDLE changes: with SO_KEEPALIVE on, it runs to the idle
/// time since the connection last heard from the peer (at once if that passed); off, it
/// stops. Not in LISTEN, SYN_SENT or CLOSE.
pub(crate) fn tcp_reset_keepalive_timer(cx: &mut Ctx, now: Instant, sk: SockId, socket: &mut Socket) {
    let (idle, _, _) = keepalive_settings(cx, socket);
    let (on, state) = (socket.options.keepalive, socket.state);
    let Some(tcb) = socket.tcb_mut() else { return };
    if !on || matches!(state, TcpState::Listen | TcpState::SynSent | TcpState::Close) {
        return cx.cancel_timer(tcb, TcpTimer::Keepalive);
    }
    let wait = idle.saturating_sub(keepalive_time_elapsed(now, tcb));
    cx.arm_timer(tcb, sk, TcpTimer::Keepalive, now + wait);
}

/// `tcp_set_keepalive`: SO_KEEPALIVE turned on starts the timer for the whole idle time
/// from now; turned off, stops it.
pub(crate) fn tcp_set_keepalive(cx: &mut Ctx, now: Instant, sk: SockId, socket: &mut Socket, on: bool) {
    let (idle, _, _) = keepalive_settings(cx, socket);
    let state = socket.state;
    let Some(tcb) = socket.tcb_mut() else { return };
    if matches!(state, TcpState::Listen | TcpState::Close) {
        return;
    }
    if on {
        cx.arm_timer(tcb, sk, TcpTimer::Keepalive, now + idle);
    } else {
        cx.cancel_timer(tcb, TcpTimer::Keepalive);
    }
}

/// `tcp_keepalive_timer`: with data in flight or queued the connection is alive; after the
/// idle time a probe goes (an ACK one below `snd_una`, `tcp_write_wakeup`), then one every
/// interval; when TCP_KEEPCNT probes went unanswered (with TCP_USER_TIMEOUT: once that long
/// idle, after a probe) the connection is reset and the user sees ETIMEDOUT.
fn tcp_keepalive_timer(cx: &mut Ctx, now: Instant, sk: SockId, socket: &mut Socket) -> Fired {
    let (idle, intvl, probes) = keepalive_settings(cx, socket);
    let user_timeout = Duration::from_millis(u64::from(socket.options.user_timeout_ms));
    if !socket.options.keepalive || matches!(socket.state, TcpState::Close | TcpState::SynSent | TcpState::Listen) {
        return Fired::Nothing;
    }
    let Some(tcb) = socket.tcb_mut() else {
        return Fired::Nothing;
    };
    let wait = if tcb.rec.packets_out() > 0 || tcb.snd.unsent_from(tcb.snd.nxt) > 0 {
        idle
    } else {
        let elapsed = keepalive_time_elapsed(now, tcb);
        if elapsed >= idle {
            let out = tcb.rtt.probes_out;
            let dead = if user_timeout.is_zero() {
                out >= probes
            } else {
                elapsed >= user_timeout && out > 0
            };
            if dead {
                socket.error = Some(Errno::ETIMEDOUT);
                send_control(cx, now, socket, TcpFlags::RST | TcpFlags::ACK);
                cx.mib.inc(Counter::TcpExtTCPAbortOnTimeout);
                return Fired::Done;
            }
            match tcp_write_wakeup(cx, now, sk, socket) {
                Wakeup::Dropped => TCP_RESOURCE_PROBE_INTERVAL,
                _ => {
                    cx.mib.inc(Counter::TcpExtTCPKeepAlive);
                    if let Some(tcb) = socket.tcb_mut() {
                        tcb.rtt.probes_out = tcb.rtt.probes_out.saturating_add(1);
                    }
                    intvl
                }
            }
        } else {
            idle - elapsed
        }
    };
    if let Some(tcb) = socket.tcb_mut() {
        cx.arm_timer(tcb, sk, TcpTimer::Keepalive, now + wait);
    }
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
    if !tcb.ack.in_pingpong_mode() {
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
}
