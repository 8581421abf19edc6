//! TCP input on a synchronized connection (`tcp_input.c`): `tcp_rcv_state_process` for
//! ESTABLISHED and the closing states — `tcp_validate_incoming` (PAWS, `tcp_sequence`, RST,
//! SYN, no ACK), `tcp_ack`, the state moves an ACK of our FIN makes, `tcp_data_queue`,
//! `tcp_fin`, and the ACK decision (`__tcp_ack_snd_check`, `tcp_event_data_recv`); on the
//! sending side, `tcp_fastretrans_alert` over the scoreboard of [`crate::tcp::tcp_recovery`].
//!
//! Not built (yet): urgent data.

use crate::base::errno::Errno;
use crate::base::mib::Counter;
use crate::base::seq::{before, SeqNum};
use crate::base::time::{ms_since, tcp_clock_ms};
use crate::base::time::{Duration, Instant};
use crate::inet::socket::{SockId, Socket, TcpState, RCV_SHUTDOWN, SEND_SHUTDOWN};
use crate::tcp::calls::{arm_fin_wait2, sk_stream_is_writeable, tcp_notsent_lowat, tcp_set_state};
use crate::tcp::cong::{AckSample, CongestionOps, Cwnd};
use crate::tcp::ctx::Ctx;
use crate::tcp::initial_window::{TCPOLEN_TSTAMP_ALIGNED, TCP_MAX_WSCALE};
use crate::tcp::sk_mem::{above_memory_low, over_memory_limit, tcp_adjust_rcv_ssthresh, under_memory_pressure};
use crate::tcp::syn_sent::{SynSent, SynSentInput};
use crate::tcp::tcb::{
    skb_truesize, Tcb, TcpTimer, TCP_ATO_MIN_MS, TCP_MAX_QUICKACKS, TCP_MIN_MSS, TCP_MSS_DEFAULT, TCP_PINGPONG_THRESH,
};
use crate::tcp::tcp_connect::ConnectInit;
use crate::tcp::tcp_output::{
    reply_reset, send_control, tcp_free_window, tcp_push, tcp_rearm_rto, tcp_schedule_loss_probe, tcp_send_delayed_ack,
    tcp_write_xmit, tcp_xmit_retransmit_queue, Nagle,
};
use crate::tcp::tcp_recovery::{dsack_in, AckFlags, CaState, Rexmit};
use crate::tcp::tcp_timer::tcp_reset_keepalive_timer;
use synq_wire::{Ipv4Repr, TcpFlags, TcpRepr, IPV4_HEADER_LEN, TCP_HEADER_LEN};

/// `TCP_TIMEOUT_MIN`: two jiffies, how soon the SYN goes again after a bad ACK (rule C34).
pub(crate) const TCP_TIMEOUT_MIN: Duration = Duration::from_millis(2);

/// What `tcp_ack` made of a segment's acknowledgment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AckResult {
    /// It acknowledges data we never sent: the segment is dropped.
    Unsent,
    /// Old or duplicate: the segment's data is still processed.
    Old,
    /// It acknowledged something new (or updated the window).
    Ok,
}

/// What segment processing leaves for the stack to do to the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) enum Disposition {
    /// It goes on.
    Keep,
    /// It is over (`tcp_done`; a reset already set the error the user sees).
    Done,
    /// It moves to TIME_WAIT (`tcp_time_wait`).
    TimeWait,
}

/// `tcp_rcv_synsent_state_process` (rules C34–C40): socket `sk` in SYN_SENT meets `seg`. A
/// bad ACK or a TSecr we never sent is answered by a reset (and a bad ACK before any resend
/// sends the SYN again at once); a reset acknowledging the SYN refuses the connection; the
/// SYN-ACK establishes it (`tcp_finish_connect`) and is acknowledged at once; a SYN alone is
/// a simultaneous open ([`tcp_simultaneous_open`]).
pub(crate) fn tcp_rcv_synsent_state_process(
    cx: &mut Ctx,
    now: Instant,
    sk: SockId,
    socket: &mut Socket,
    ip: &Ipv4Repr,
    seg: &TcpRepr<'_>,
) -> Disposition {
    let Some(ss) = socket.tcb().and_then(|t| t.syn_sent.as_deref().copied()) else {
        return Disposition::Keep;
    };
    match ss.on_segment(seg, tcp_clock_ms(now)) {
        SynSentInput::Reject {
            reset,
            resend_syn,
            paws,
        } => {
            if paws {
                cx.mib.inc(Counter::TcpExtPAWSActive);
            }
            if resend_syn {
                if let Some(tcb) = socket.tcb_mut() {
                    cx.arm_timer(tcb, sk, TcpTimer::Retransmit, now + TCP_TIMEOUT_MIN);
                }
            }
            if reset.is_some() {
                reply_reset(cx, ip, seg);
            }
            Disposition::Keep
        }
        SynSentInput::Refused => {
            socket.error = Some(Errno::ECONNREFUSED);
            Disposition::Done
        }
        SynSentInput::Established => {
            tcp_finish_connect(cx, now, socket, &ss, seg);
            tcp_sndbuf_expand(cx, socket);
            tcp_reset_keepalive_timer(cx, now, sk, socket);
            Disposition::Keep
        }
        SynSentInput::SimultaneousOpen => {
            tcp_simultaneous_open(cx, now, socket, &ss, seg);
            Disposition::Keep
        }
        SynSentInput::Drop => Disposition::Keep,
    }
}

/// `tcp_rcv_synsent_state_process`'s SYN-ACK half and `tcp_finish_connect` (rule C38): what
/// the SYN-ACK says (window unscaled, the options both sides offered, the peer's MSS), the
/// first RTT sample unless the SYN was resent, ESTABLISHED, and the ACK at once.
fn tcp_finish_connect(cx: &mut Ctx, now: Instant, socket: &mut Socket, ss: &SynSent, seg: &TcpRepr<'_>) {
    let rcvbuf = socket.options.rcvbuf;
    let (rto_min, rto_max) = (cx.rto_min(), cx.rto_max());
    let user_mss = socket.options.user_mss;
    let Some(tcb) = socket.tcb_mut() else { return };
    tcb.syn_sent = None;
    cx.cancel_timer(tcb, TcpTimer::Retransmit);
    tcb.snd.una = SeqNum(seg.ack);
    take_peer_syn(tcb, &ss.init, user_mss, seg);
    // No window scaling unless both offered it: ours is taken back.
    if seg.options.window_scale.filter(|_| ss.init.wscale).is_none() {
        tcb.rcv.wscale = 0;
        tcb.rcv.window_clamp = tcb.rcv.window_clamp.min(u32::from(u16::MAX));
    }
    if ss.retransmit.retransmits == 0 {
        tcb.rtt.sample(ms_since(now, ss.retrans_stamp_ms), rto_min, rto_max);
    }
    tcb.init_receive(now, tcb.advmss_less_options(), rcvbuf);
    tcp_set_state(&mut cx.mib, socket, TcpState::Established);
    send_control(cx, now, socket, TcpFlags::ACK);
}

/// What the peer's SYN or SYN-ACK says (`tcp_parse_options` and the window, unscaled, as
/// `tcp_rcv_synsent_state_process` stores them): its sequence, its window, timestamps,
/// window scale, SACK and MSS where our SYN offered them too.
fn take_peer_syn(tcb: &mut Tcb, init: &ConnectInit, user_mss: u16, seg: &TcpRepr<'_>) {
    tcb.snd.wl1 = SeqNum(seg.seq);
    tcb.snd.wnd = u32::from(seg.window);
    tcb.snd.max_window = tcb.snd.wnd;
    tcb.rcv.nxt = SeqNum(seg.seq.wrapping_add(1));
    tcb.rcv.wup = tcb.rcv.nxt;
    tcb.snd.wscale = seg
        .options
        .window_scale
        .filter(|_| init.wscale)
        .map_or(0, |ws| ws.min(TCP_MAX_WSCALE));
    match seg.options.timestamp.filter(|_| init.tstamp) {
        Some(ts) => {
            tcb.tstamp_ok = true;
            tcb.ts_recent = ts.tsval;
        }
        None => tcb.tstamp_ok = false,
    }
    tcb.sack_ok = init.sack && seg.options.sack_permitted;
    let peer_mss = seg.options.mss.unwrap_or(TCP_MSS_DEFAULT);
    tcb.mss_clamp = if user_mss != 0 {
        peer_mss.min(user_mss)
    } else {
        peer_mss
    };
}

/// `tcp_rcv_synsent_state_process`'s crossed-SYN half (rule C39): a SYN without ACK while
/// we wait for a SYN-ACK (a simultaneous open, or a socket connected to itself). The socket
/// goes to SYN_RECV, takes what the SYN says and answers with our SYN again, now with ACK
/// (`tcp_send_synack`); the SYN's retransmission timer runs on and resends that SYN-ACK. As
/// in Linux, our window scale stays offered even if the peer's SYN carries none (only the
/// SYN-ACK path takes it back). The SYN's payload is discarded.
fn tcp_simultaneous_open(cx: &mut Ctx, now: Instant, socket: &mut Socket, ss: &SynSent, seg: &TcpRepr<'_>) {
    let rcvbuf = socket.options.rcvbuf;
    let (saddr, sport, user_mss) = (socket.rcv_saddr, socket.sport, socket.options.user_mss);
    let Some(peer) = socket.peer else { return };
    tcp_set_state(&mut cx.mib, socket, TcpState::SynRecv);
    let Some(tcb) = socket.tcb_mut() else { return };
    take_peer_syn(tcb, &ss.init, user_mss, seg);
    tcb.ecn_ok = ss.init.ecn && seg.flags.contains(TcpFlags::ECE | TcpFlags::CWR);
    // tcp_initialize_rcv_mss now; the receive space once established.
    tcb.init_receive(now, tcb.advmss_less_options(), rcvbuf);
    let synack = tcb.simultaneous_syn_ack(ss, sport, peer.port(), tcp_clock_ms(now));
    // The SYN-ACK is timed (tcp_clean_rtx_queue's sample when the ACK comes, unless resent).
    tcb.rtt.timed = Some((ss.iss + 1, now));
    let ident = socket.next_ip_id();
    cx.send_segment(saddr, *peer.ip(), (0, ident), &synack);
}

/// `tcp_rcv_state_process` in SYN_RECV after a simultaneous open (rule C39): the peer's ACK
/// (or its SYN-ACK) completes the connection. An RTT sample from the SYN-ACK unless it was
/// resent, else from the echoed timestamp; the window, now scaled; ESTABLISHED
/// (`tcp_init_transfer`), and connect() sees it.
fn tcp_simultaneous_open_done(cx: &mut Ctx, now: Instant, socket: &mut Socket, seg: &TcpRepr<'_>) {
    let rcvbuf = socket.options.rcvbuf;
    let (rto_min, rto_max) = (cx.rto_min(), cx.rto_max());
    let Some(tcb) = socket.tcb_mut() else { return };
    let Some(ss) = tcb.syn_sent.take() else { return };
    cx.cancel_timer(tcb, TcpTimer::Retransmit);
    let echoed = seg
        .options
        .timestamp
        .filter(|ts| tcb.tstamp_ok && ts.tsecr != 0)
        .map(|ts| tcb.rtt_from_tsecr(now, ts.tsecr));
    let timed = tcb
        .rtt
        .timed
        .take()
        .map(|(_, sent)| now.saturating_duration_since(sent));
    let sample = if ss.retransmit.retransmits == 0 { timed } else { echoed };
    if let Some(rtt) = sample {
        tcb.rtt.sample(rtt, rto_min, rto_max);
    }
    tcb.rtt.retransmits = 0;
    tcb.snd.wnd = u32::from(seg.window) << tcb.snd.wscale;
    tcb.snd.max_window = tcb.snd.max_window.max(tcb.snd.wnd);
    tcb.snd.wl1 = SeqNum(seg.seq);
    tcb.init_receive(now, tcb.advmss_less_options(), rcvbuf);
    tcp_set_state(&mut cx.mib, socket, TcpState::Established);
}

/// `tcp_rcv_established` / `tcp_rcv_state_process` for connection `sk`.
pub(crate) fn tcp_rcv_synchronized(
    cx: &mut Ctx,
    now: Instant,
    sk: SockId,
    socket: &mut Socket,
    ip: &Ipv4Repr,
    seg: &TcpRepr<'_>,
) -> Disposition {
    let state = socket.state;
    let Some(tcb) = socket.tcb_mut() else {
        return Disposition::Keep;
    };
    if state == TcpState::Close {
        reply_reset(cx, ip, seg);
        return Disposition::Keep;
    }
    let f = seg.flags;
    let seq = SeqNum(seg.seq);
    let end_seq = seq + seg.segment_len() as u32;
    // SYN_RECV after a simultaneous open: a segment with none of ACK, RST, SYN is dropped.
    let simopen = state == TcpState::SynRecv && tcb.syn_sent.is_some();
    if simopen && !f.ack() && !f.rst() && !f.syn() {
        return Disposition::Keep;
    }

    // tcp_validate_incoming, step 1: PAWS (tcp_paws_discard).
    if let Some(ts) = seg.options.timestamp.filter(|_| tcb.tstamp_ok) {
        if before(ts.tsval, tcb.ts_recent) && !f.rst() {
            cx.mib.inc(Counter::TcpExtPAWSEstab);
            tcp_send_dupack(cx, now, socket, seg);
            return Disposition::Keep;
        }
    }
    // Step 1: tcp_sequence.
    let limit = tcb.rcv.nxt + tcb.rcv.window();
    let acceptable = if end_seq.before(tcb.rcv.wup) {
        false
    } else if end_seq.after(limit) && (end_seq - u32::from(f.fin())).after(limit) {
        // Beyond the window: only a segment starting inside it, onto an empty queue.
        let ok = !seq.after(limit) && tcb.rcv.buf.is_empty();
        if !ok {
            cx.mib.inc(Counter::TcpExtBeyondWindow);
        }
        ok
    } else {
        true
    };
    // tcp_reset_check: a reset at the sequence of the peer's FIN, after it.
    let fin_reset = f.rst()
        && matches!(state, TcpState::CloseWait | TcpState::LastAck | TcpState::Closing)
        && seq == tcb.rcv.nxt - 1;
    if fin_reset {
        return tcp_reset(cx, socket);
    }
    if !acceptable {
        if !f.rst() {
            if f.syn() {
                syn_challenge(cx, now, socket);
            } else {
                tcp_send_dupack(cx, now, socket, seg);
            }
        }
        return Disposition::Keep;
    }
    // Step 2: RST (RFC 5961 3.2): exactly at rcv_nxt it resets, elsewhere in the window it
    // is challenged.
    if f.rst() {
        if seq == tcb.rcv.nxt {
            return tcp_reset(cx, socket);
        }
        tcp_send_challenge_ack(cx, now, socket);
        return Disposition::Keep;
    }
    // Step 4: a SYN on a synchronized connection is challenged (RFC 5961 4.2), but for the
    // peer's SYN-ACK of a simultaneous open: exactly its SYN, acknowledging ours.
    let crossed_syn_ack =
        simopen && f.ack() && end_seq == seq + 1 && end_seq == tcb.rcv.nxt && SeqNum(seg.ack) == tcb.snd.nxt;
    if f.syn() && !crossed_syn_ack {
        syn_challenge(cx, now, socket);
        return Disposition::Keep;
    }
    // Step 5: no ACK, no processing.
    if !f.ack() {
        return Disposition::Keep;
    }
    if simopen {
        // An ACK of anything but our SYN (or of the SYN's own sequence, which Linux's
        // tcp_ack lets pass) is answered by a reset.
        let (iss, ack) = (tcb.snd.una - 1, SeqNum(seg.ack));
        if ack.before(iss) || ack.after(tcb.snd.nxt) {
            reply_reset(cx, ip, seg);
            return Disposition::Keep;
        }
        tcp_simultaneous_open_done(cx, now, socket, seg);
        tcp_sndbuf_expand(cx, socket);
        tcp_reset_keepalive_timer(cx, now, sk, socket);
    }
    let mut space = false;
    match tcp_ack(cx, now, sk, socket, seg) {
        AckResult::Unsent if state == TcpState::Established => return Disposition::Keep,
        AckResult::Unsent => {
            tcp_send_challenge_ack(cx, now, socket);
            return Disposition::Keep;
        }
        AckResult::Ok => space = true,
        AckResult::Old => {}
    }
    tcp_rcv_rtt_measure_ts(now, socket, seg);
    // The state moves an ACK of our FIN makes.
    let orphan = socket.is_orphan();
    let Some(tcb) = socket.tcb() else {
        return Disposition::Keep;
    };
    let fin_acked = tcb.snd.fin_acked();
    match state {
        TcpState::FinWait1 if fin_acked => {
            tcp_set_state(&mut cx.mib, socket, TcpState::FinWait2);
            socket.shutdown |= SEND_SHUTDOWN;
            if orphan {
                // TCP_LINGER2 negative: no FIN_WAIT2 for an orphan.
                let linger2 = socket.options.linger2;
                if linger2 < 0 {
                    cx.mib.inc(Counter::TcpExtTCPAbortOnData);
                    return Disposition::Done;
                }
                if let Some(tcb) = socket.tcb_mut() {
                    arm_fin_wait2(cx, now, sk, tcb, linger2);
                }
            }
        }
        TcpState::Closing if fin_acked => return Disposition::TimeWait,
        TcpState::LastAck if fin_acked => return Disposition::Done,
        _ => {}
    }
    let state = socket.state;
    let rcv_shutdown = socket.shutdown & RCV_SHUTDOWN != 0;
    let Some(tcb) = socket.tcb() else {
        return Disposition::Keep;
    };
    match state {
        TcpState::CloseWait | TcpState::Closing | TcpState::LastAck if !seq.before(tcb.rcv.nxt) => {}
        _ => {
            // RFC 1122: data after the user closed resets the connection.
            let data_end = end_seq - u32::from(f.fin());
            if matches!(state, TcpState::FinWait1 | TcpState::FinWait2)
                && rcv_shutdown
                && !seg.payload.is_empty()
                && data_end.after(tcb.rcv.nxt)
            {
                cx.mib.inc(Counter::TcpExtTCPAbortOnData);
                let done = tcp_reset(cx, socket);
                reply_reset(cx, ip, seg);
                return done;
            }
            if tcp_data_queue(cx, now, socket, seg) == Disposition::TimeWait {
                return Disposition::TimeWait;
            }
        }
    }
    // tcp_data_snd_check: the push first, then the room it left for a waiting writer.
    tcp_write_xmit(cx, now, sk, socket);
    if space {
        tcp_check_space(cx, socket);
    }
    tcp_ack_snd_check(cx, now, sk, socket);
    Disposition::Keep
}

/// `tcp_ack`: checks the acknowledgment against what we sent, updates the peer's window
/// (`tcp_ack_update_window`), tags SACKed segments (`tcp_sacktag_write_queue`), frees what
/// is acknowledged (`tcp_clean_rtx_queue`: bytes, scoreboard, an RTT sample under Karn's
/// rule, the algorithm's `pkts_acked`), runs the congestion state machine on a dubious ACK
/// ([`tcp_fastretrans_alert`]), then moves the window (`tcp_cong_control`: PRR during a
/// reduction, else the algorithm's growth while the window is the limit), resends what is
/// lost (`tcp_xmit_recovery`) and restarts or stops the RTO timer. Also
/// `tcp_replace_ts_recent`.
fn tcp_ack(cx: &mut Ctx, now: Instant, sk: SockId, socket: &mut Socket, seg: &TcpRepr<'_>) -> AckResult {
    let (rto_min, rto_max) = (cx.rto_min(), cx.rto_max());
    let mss = u32::from(socket.mss_cache());
    let Some(tcb) = socket.tcb_mut() else {
        return AckResult::Old;
    };
    let (seq, ack) = (SeqNum(seg.seq), SeqNum(seg.ack));
    if ack.after(tcb.snd.nxt) {
        return AckResult::Unsent;
    }
    if ack.before(tcb.snd.una) {
        return AckResult::Old;
    }
    // tcp_replace_ts_recent
    if let Some(ts) = seg.options.timestamp.filter(|_| tcb.tstamp_ok) {
        if !seq.after(tcb.rcv.wup) && !before(ts.tsval, tcb.ts_recent) {
            tcb.ts_recent = ts.tsval;
        }
    }
    let mut flag = AckFlags {
        data: !seg.payload.is_empty(),
        tsecr_ms: seg
            .options
            .timestamp
            .filter(|ts| tcb.tstamp_ok && ts.tsecr != 0)
            .map(|ts| ts.tsecr.wrapping_sub(tcb.ts_off)),
        ..AckFlags::default()
    };
    // tcp_ack_update_window (tcp_may_update_window: a newer segment, or the same one with a
    // larger window or a zero one)
    let nwin = u32::from(seg.window) << tcb.snd.wscale;
    if ack.after(tcb.snd.una) || seq.after(tcb.snd.wl1) || (seq == tcb.snd.wl1 && (nwin > tcb.snd.wnd || nwin == 0)) {
        flag.win_update = true;
        tcb.snd.wnd = nwin;
        tcb.snd.wl1 = seq;
        tcb.snd.max_window = tcb.snd.max_window.max(nwin);
    }
    let prior_delivered = tcb.rec.delivered;
    let prior_lost = tcb.rec.lost;
    if tcb.sack_ok && !seg.options.sack_blocks.is_empty() {
        let blocks = seg.options.sack_blocks.as_slice();
        // tcp_check_dsack
        if let Some(old) = dsack_in(blocks, ack) {
            cx.mib.inc(if old {
                Counter::TcpExtTCPDSACKRecv
            } else {
                Counter::TcpExtTCPDSACKOfoRecv
            });
            let (start, end) = (SeqNum(blocks[0].0), SeqNum(blocks[0].1));
            match tcb.rec.dsack_seen(start, end, tcb.snd.una, mss, tcb.snd.max_window) {
                0 => cx.mib.inc(Counter::TcpExtTCPDSACKIgnoredDubious),
                dup_segs => {
                    cx.mib.add(Counter::TcpExtTCPDSACKRecvSegs, u64::from(dup_segs));
                    flag.dsack = true;
                }
            }
        }
        let (newly, discarded) = tcb.rec.sacktag(
            blocks,
            flag.dsack,
            tcb.snd.una,
            tcb.snd.nxt,
            now,
            tcb.rtt.min_rtt_us,
            &mut flag.orig_sack_acked,
        );
        flag.data_sacked = newly > 0;
        cx.mib.add(Counter::TcpExtTCPSACKDiscard, u64::from(discarded));
    }
    let advanced = ack.after(tcb.snd.una);
    if advanced {
        flag.una_advanced = true;
        let acked = ack - tcb.snd.una;
        tcb.snd.bytes_acked += u64::from(acked);
        let data_acked = (acked as usize).min(tcb.snd.buf.len());
        tcb.snd.buf.drain(..data_acked);
        tcb.snd.una = ack;
        tcb.snd.skbs.acked(ack, mss);
        let (pkts, were_sacked, retrans) =
            tcb.rec
                .clean_rtx_queue(ack, now, tcb.rtt.min_rtt_us, &mut flag.orig_sack_acked);
        flag.data_acked = pkts > 0;
        flag.retrans_data_acked = retrans;
        if tcb.sack_ok {
            tcb.rec.delivered += pkts - were_sacked;
        } else {
            tcb.rec.remove_reno_sacks(pkts);
        }
        // RTT: a timed sequence number now acknowledged, or the echoed timestamp.
        let sample = match (tcb.rtt.timed, flag.tsecr_ms) {
            (_, Some(echoed_ms)) if tcb.rtt.retransmits == 0 => Some(ms_since(now, echoed_ms)),
            (Some((timed, sent)), _) if !ack.before(timed) => Some(now.saturating_duration_since(sent)),
            _ => None,
        };
        if tcb.rtt.timed.is_some_and(|(timed, _)| !ack.before(timed)) {
            tcb.rtt.timed = None;
        }
        if let Some(rtt) = sample {
            tcb.rtt.sample(rtt, rto_min, rto_max);
        }
        let ack_sample = AckSample {
            now_us: now.as_micros() as u32,
            now_ms: tcp_clock_ms(now),
            rtt_us: sample.map(|d| d.as_micros() as u32),
            snd_una: tcb.snd.una.0,
            snd_nxt: tcb.snd.nxt.0,
            ack_delay_us: 0,
        };
        tcb.ca.pkts_acked(&mut tcb.cwnd, &ack_sample);
        tcb.rtt.retransmits = 0;
        tcb.rtt.backoff = 0;
        if tcb.rtt.srtt_us != 0 {
            tcb.rtt.rto =
                crate::Duration::from_micros(u64::from((tcb.rtt.srtt_us >> 3) + tcb.rtt.rttvar_us)).min(rto_max);
        }
    }
    tcb.rtt.probes_out = 0;
    tcb.snd.rcv_tstamp_ms = tcp_clock_ms(now);
    if tcb.rec.tlp_high_seq.is_some() {
        tcp_process_tlp_ack(cx, tcb, ack, &flag);
    }
    let is_dupack = !advanced && !flag.not_dup() && !flag.dsack;
    let mut rexmit = Rexmit::None;
    if flag.is_dubious(tcb.rec.ca_state) {
        rexmit = tcp_fastretrans_alert(cx, now, sk, tcb, is_dupack, &flag);
    }
    // tcp_set_xmit_timer: after new data was acknowledged, a loss probe or the RTO (not
    // while RACK's reordering timer runs).
    if advanced {
        if tcb.rec.packets_out() == 0 {
            cx.cancel_timer(tcb, TcpTimer::Reorder);
            tcp_rearm_rto(cx, now, sk, tcb);
        } else if tcb.timers[TcpTimer::Reorder].is_none() && !tcp_schedule_loss_probe(cx, now, sk, tcb, true) {
            tcp_rearm_rto(cx, now, sk, tcb);
        }
    }
    if tcb.rec.ca_state == CaState::Open {
        tcb.rtt.retrans_stamp = None;
    }
    // tcp_cong_control
    let delivered = tcb.rec.delivered - prior_delivered;
    if tcb.rec.in_cwnd_reduction() {
        let newly_lost = tcb.rec.lost != prior_lost;
        if let Some(cwnd) = tcb
            .rec
            .cwnd_reduction(tcb.cwnd.ssthresh, delivered, newly_lost, advanced)
        {
            tcb.cwnd.cwnd = cwnd;
        }
    } else if flag.data_acked && tcb.rec.is_cwnd_limited(tcb.cwnd.cwnd, tcb.cwnd.in_slow_start()) {
        tcb.ca.cong_avoid(&mut tcb.cwnd, delivered, tcp_clock_ms(now));
    }
    // tcp_xmit_recovery: F-RTO's new data first (Nagle off); the lost segments unless it went.
    if rexmit == Rexmit::New {
        let nagle = Nagle {
            off: true,
            ..Nagle::of(socket)
        };
        tcp_push(cx, now, sk, socket, nagle);
        if let Some(tcb) = socket.tcb_mut() {
            if !tcb.snd.nxt.after(tcb.rec.high_seq) {
                tcb.rec.frto = false;
                tcp_xmit_retransmit_queue(cx, now, sk, socket);
            }
        }
    } else if rexmit == Rexmit::Lost {
        tcp_xmit_retransmit_queue(cx, now, sk, socket);
    }
    if advanced || flag.win_update {
        AckResult::Ok
    } else {
        AckResult::Old
    }
}

/// `tcp_process_tlp_ack`: the ACK of an outstanding loss probe. A probe of new data, a
/// D-SACKed one, or a pure duplicate ACK (original and probe both arrived) means no loss; an
/// ACK beyond the probed retransmission means the tail was lost and repaired: the window
/// comes down once (CWR, `TCPLossProbeRecovery`).
fn tcp_process_tlp_ack(cx: &mut Ctx, tcb: &mut Tcb, ack: SeqNum, flag: &AckFlags) {
    let Some(high) = tcb.rec.tlp_high_seq else { return };
    if ack.before(high) {
        return;
    }
    if !tcb.rec.tlp_retrans || flag.dsack {
        tcb.rec.tlp_high_seq = None;
    } else if ack.after(high) {
        tcp_init_cwnd_reduction(tcb);
        tcb.rec.ca_state = CaState::Cwr;
        tcp_end_cwnd_reduction(tcb);
        tcp_try_keep_open(tcb);
        cx.mib.inc(Counter::TcpExtTCPLossProbeRecovery);
    } else if !flag.una_advanced && !flag.not_dup() && !flag.data_sacked {
        tcb.rec.tlp_high_seq = None;
    }
}

/// `tcp_fastretrans_alert`: the congestion state machine on a dubious ACK (duplicate, SACK,
/// D-SACK, or any ACK outside Open). Recovery ends once `high_seq` is acknowledged — undone
/// if it proved needless ([`tcp_try_undo_recovery`]), else with the window down to
/// `ssthresh` (`tcp_end_cwnd_reduction`); in Loss, the timeout's recovery ends the same way
/// ([`tcp_process_loss`]). Within Recovery a partial ACK of a segment only delayed
/// ([`tcp_try_undo_partial`]) or D-SACKs of every retransmission ([`tcp_try_undo_dsack`])
/// undo it. Otherwise duplicate ACKs count as SACKs without SACK (`tcp_add_reno_sack`), loss
/// is identified (NewReno's three duplicate ACKs, or RACK), and a loss starts fast recovery
/// ([`tcp_enter_recovery`]); with none, the state is Disorder while anything is SACKed or
/// resent, else Open ([`tcp_try_to_open`]). Returns what is to be resent now: the lost
/// segments (`REXMIT_LOST`), or new data first (F-RTO, `REXMIT_NEW`).
fn tcp_fastretrans_alert(
    cx: &mut Ctx,
    now: Instant,
    sk: SockId,
    tcb: &mut Tcb,
    is_dupack: bool,
    flag: &AckFlags,
) -> Rexmit {
    let reno = !tcb.sack_ok;
    let una = tcb.snd.una;
    if tcb.rec.packets_out() == 0 && tcb.rec.sacked_out != 0 {
        tcb.rec.sacked_out = 0;
    }
    // D. The end of a reduction.
    if tcb.rec.ca_state == CaState::Open {
        tcb.rtt.retrans_stamp = None;
    } else if !una.before(tcb.rec.high_seq) {
        match tcb.rec.ca_state {
            CaState::Cwr if una != tcb.rec.high_seq => {
                tcp_end_cwnd_reduction(tcb);
                tcb.rec.ca_state = CaState::Open;
            }
            CaState::Recovery => {
                if reno {
                    tcb.rec.sacked_out = 0;
                }
                if tcp_try_undo_recovery(cx, tcb, flag) {
                    return Rexmit::None;
                }
                tcp_end_cwnd_reduction(tcb);
            }
            _ => {}
        }
    }
    // E. By state.
    match tcb.rec.ca_state {
        CaState::Recovery => {
            if !flag.una_advanced {
                if reno && is_dupack {
                    tcb.rec.add_reno_sack();
                }
            } else if tcp_try_undo_partial(cx, tcb, flag) {
                return Rexmit::None;
            }
            if tcp_try_undo_dsack(cx, tcb) {
                tcp_try_to_open(tcb);
            }
            tcp_identify_packet_loss(cx, now, sk, tcb, flag.una_advanced);
            if tcb.rec.ca_state != CaState::Recovery {
                // Undone: a new recovery only if loss is evident.
                if tcb.rec.lost_out == 0 {
                    return Rexmit::None;
                }
                tcp_enter_recovery(cx, tcb);
            }
            return Rexmit::Lost;
        }
        CaState::Loss => match tcp_process_loss(cx, tcb, is_dupack, flag) {
            // Recovered (or undone): on as in Open.
            Rexmit::None if tcb.rec.ca_state == CaState::Open => {}
            r => return r,
        },
        _ => {}
    }
    if reno {
        if flag.una_advanced {
            tcb.rec.sacked_out = 0;
        }
        if is_dupack {
            tcb.rec.add_reno_sack();
        }
    }
    if tcb.rec.ca_state <= CaState::Disorder {
        tcp_try_undo_dsack(cx, tcb);
    }
    tcp_identify_packet_loss(cx, now, sk, tcb, flag.una_advanced);
    if tcb.rec.lost_out == 0 {
        tcp_try_to_open(tcb);
        return Rexmit::None;
    }
    tcp_enter_recovery(cx, tcb);
    Rexmit::Lost
}

/// `tcp_process_loss` (after a timeout), with F-RTO (RFC 5682, SACK-enhanced): an ACK that
/// shows the timeout needless undoes it ([`tcp_try_undo_loss`]: the timestamps or D-SACKs
/// say so, or, with F-RTO, data sent only once was acknowledged); the first ACK that
/// advances `snd_una` without reaching `high_seq` lets new data go first (`REXMIT_NEW`,
/// step 2b) while there is some and room for it; a SACK or a duplicate ACK after that shows
/// the loss was real. Reaching `high_seq` ends Loss; otherwise the lost segments go again.
fn tcp_process_loss(cx: &mut Ctx, tcb: &mut Tcb, is_dupack: bool, flag: &AckFlags) -> Rexmit {
    let una = tcb.snd.una;
    let recovered = !una.before(tcb.rec.high_seq);
    if flag.una_advanced && tcp_try_undo_loss(cx, tcb, flag, false) {
        return Rexmit::None;
    }
    if tcb.rec.frto {
        if flag.orig_sack_acked && tcp_try_undo_loss(cx, tcb, flag, true) {
            return Rexmit::None;
        }
        if tcb.snd.nxt.after(tcb.rec.high_seq) {
            if flag.data_sacked || is_dupack {
                tcb.rec.frto = false; // step 3a: the loss was real
            }
        } else if flag.una_advanced && !recovered {
            tcb.rec.high_seq = tcb.snd.nxt;
            let room = (tcb.snd.una + tcb.snd.wnd).after(tcb.snd.nxt);
            if tcb.snd.unsent_from(tcb.snd.nxt) > 0 && room {
                return Rexmit::New;
            }
            tcb.rec.frto = false;
        }
    }
    if recovered {
        tcp_try_undo_recovery(cx, tcb, flag);
        return Rexmit::None;
    }
    if !tcb.sack_ok {
        if tcb.snd.nxt.after(tcb.rec.high_seq) && is_dupack {
            tcb.rec.add_reno_sack();
        } else if flag.una_advanced {
            tcb.rec.sacked_out = 0;
        }
    }
    Rexmit::Lost
}

/// `tcp_packet_delayed`: the segment retransmitted had only been delayed — the ACK echoes a
/// timestamp from before the first retransmission (`tcp_tsopt_ecr_before`), or nothing was
/// resent yet (except without SACK once `high_seq` is reached).
fn tcp_packet_delayed(tcb: &Tcb, flag: &AckFlags) -> bool {
    if let Some(stamp) = tcb.rtt.retrans_stamp {
        return flag.tsecr_ms.is_some_and(|ecr| before(ecr, stamp));
    }
    tcb.sack_ok || tcb.snd.una.before(tcb.rec.high_seq)
}

/// `tcp_may_undo`: a reduction is pending undo and proved needless — every retransmission
/// was D-SACKed, or the segment was only delayed.
fn tcp_may_undo(tcb: &Tcb, flag: &AckFlags) -> bool {
    tcb.rec.undo_marker.is_some() && (tcb.rec.undo_retrans == 0 || tcp_packet_delayed(tcb, flag))
}

/// `tcp_undo_cwnd_reduction`: the reduction was needless — the window back (`undo_cwnd`, in
/// CUBIC and Reno alike `tcp_reno_undo_cwnd`: the larger of now and before) and `ssthresh`
/// if it was higher; with `unmark_loss` nothing is lost any more.
fn tcp_undo_cwnd_reduction(tcb: &mut Tcb, unmark_loss: bool) {
    tcb.rec.undo(unmark_loss);
    if tcb.rec.prior_ssthresh != 0 {
        tcb.cwnd.cwnd = tcb.cwnd.cwnd.max(tcb.rec.prior_cwnd);
        tcb.cwnd.ssthresh = tcb.cwnd.ssthresh.max(tcb.rec.prior_ssthresh);
    }
}

/// `tcp_try_undo_recovery`: at the end of Recovery (or of Loss), undo it if it proved
/// needless (TCPFullUndo, TCPLossUndo). Without SACK the state holds until something above
/// `high_seq` is acknowledged (RFC 2582: no false fast retransmits) — true then; otherwise
/// the state is Open.
fn tcp_try_undo_recovery(cx: &mut Ctx, tcb: &mut Tcb, flag: &AckFlags) -> bool {
    if tcp_may_undo(tcb, flag) {
        tcp_undo_cwnd_reduction(tcb, false);
        cx.mib.inc(if tcb.rec.ca_state == CaState::Loss {
            Counter::TcpExtTCPLossUndo
        } else {
            Counter::TcpExtTCPFullUndo
        });
    }
    if tcp_is_non_sack_preventing_reopen(tcb) {
        return true;
    }
    tcb.rec.ca_state = CaState::Open;
    false
}

/// `tcp_is_non_sack_preventing_reopen`: without SACK the state holds at `high_seq` until
/// something above it is acknowledged (RFC 2582: no false fast retransmits).
fn tcp_is_non_sack_preventing_reopen(tcb: &mut Tcb) -> bool {
    if tcb.sack_ok || tcb.snd.una != tcb.rec.high_seq {
        return false;
    }
    tcb.retrans_stamp_cleanup();
    true
}

/// `tcp_try_undo_dsack`: D-SACKs showed every retransmission of the reduction needless
/// (TCPDSACKUndo).
fn tcp_try_undo_dsack(cx: &mut Ctx, tcb: &mut Tcb) -> bool {
    if tcb.rec.undo_marker.is_some() && tcb.rec.undo_retrans == 0 {
        tcp_undo_cwnd_reduction(tcb, false);
        cx.mib.inc(Counter::TcpExtTCPDSACKUndo);
        return true;
    }
    false
}

/// `tcp_try_undo_partial`: a partial ACK in Recovery for a segment only delayed — reordering,
/// not loss. With retransmissions still out, nothing more is resent or marked (true);
/// without, the reduction is undone and nothing is lost (TCPPartialUndo).
fn tcp_try_undo_partial(cx: &mut Ctx, tcb: &mut Tcb, flag: &AckFlags) -> bool {
    if tcb.rec.undo_marker.is_none() || !tcp_packet_delayed(tcb, flag) {
        return false;
    }
    tcb.rec.reord_seen += 1;
    if tcb.rec.retrans_out > 0 {
        return true;
    }
    tcb.retrans_stamp_cleanup();
    tcp_undo_cwnd_reduction(tcb, true);
    cx.mib.inc(Counter::TcpExtTCPPartialUndo);
    tcp_try_keep_open(tcb);
    false
}

/// `tcp_try_undo_loss`: the timeout proved needless (`frto_undo`: F-RTO says so; else
/// [`tcp_may_undo`]) — nothing is lost, the window comes back, TCPLossUndo
/// (TCPSpuriousRTOs for F-RTO). The state is Open, but without SACK and without F-RTO it
/// stays Loss until recovery ends; without SACK it holds at `high_seq` (RFC 2582).
fn tcp_try_undo_loss(cx: &mut Ctx, tcb: &mut Tcb, flag: &AckFlags, frto_undo: bool) -> bool {
    if !frto_undo && !tcp_may_undo(tcb, flag) {
        return false;
    }
    tcp_undo_cwnd_reduction(tcb, true);
    cx.mib.inc(Counter::TcpExtTCPLossUndo);
    if frto_undo {
        cx.mib.inc(Counter::TcpExtTCPSpuriousRTOs);
    }
    tcb.rtt.retransmits = 0;
    if tcp_is_non_sack_preventing_reopen(tcb) {
        return true;
    }
    if frto_undo || tcb.sack_ok {
        tcb.rec.ca_state = CaState::Open;
    }
    true
}

/// `tcp_try_keep_open`: Disorder while anything is SACKed, lost or was resent, else Open;
/// a change of state starts a new round at `snd_nxt`.
fn tcp_try_keep_open(tcb: &mut Tcb) {
    let state = if tcb.rec.left_out() > 0 || tcb.rec.any_retrans_done() {
        CaState::Disorder
    } else {
        CaState::Open
    };
    if tcb.rec.ca_state != state {
        tcb.rec.ca_state = state;
        tcb.rec.high_seq = tcb.snd.nxt;
    }
}

/// `tcp_try_to_open`: no loss seen — [`tcp_try_keep_open`] unless in CWR.
fn tcp_try_to_open(tcb: &mut Tcb) {
    tcb.retrans_stamp_cleanup();
    if tcb.rec.ca_state != CaState::Cwr {
        tcp_try_keep_open(tcb);
    }
}

/// `tcp_identify_packet_loss`: NewReno's head after `tcp_reordering` duplicate ACKs without
/// SACK; with SACK, RACK — a segment is lost once one sent after it was delivered and its
/// reordering window passed; one still within it arms the reordering timer
/// (`tcp_rack_mark_lost`, + `TCP_TIMEOUT_MIN`).
pub(crate) fn tcp_identify_packet_loss(cx: &mut Ctx, now: Instant, sk: SockId, tcb: &mut Tcb, una_advanced: bool) {
    if tcb.rec.rtx.is_empty() {
        return;
    }
    if !tcb.sack_ok {
        tcb.rec.newreno_mark_lost(una_advanced);
        return;
    }
    if !tcb.rec.rack.advanced {
        return;
    }
    tcb.rec.rack.advanced = false;
    let reo_wnd = tcb.rec.rack_reo_wnd_us(tcb.rtt.min_rtt_us, tcb.rtt.srtt_us);
    if let Some(wait) = tcb.rec.rack_detect_loss(now, reo_wnd) {
        cx.arm_timer(tcb, sk, TcpTimer::Reorder, now + wait + TCP_TIMEOUT_MIN);
    }
}

/// `tcp_enter_recovery` + [`tcp_init_cwnd_reduction`]: fast recovery begins — counted, the
/// undo point noted ([`Recovery::init_undo`]) with what an undo restores (`prior_ssthresh`:
/// `tcp_current_ssthresh`), `high_seq`, `ssthresh` from the algorithm, PRR from the window
/// now.
pub(crate) fn tcp_enter_recovery(cx: &mut Ctx, tcb: &mut Tcb) {
    cx.mib.inc(if tcb.sack_ok {
        Counter::TcpExtTCPSackRecovery
    } else {
        Counter::TcpExtTCPRenoRecovery
    });
    tcb.rec.prior_ssthresh = 0;
    tcb.rec.init_undo(tcb.snd.una);
    if !tcb.rec.in_cwnd_reduction() {
        tcb.rec.prior_ssthresh = tcb.current_ssthresh();
        tcp_init_cwnd_reduction(tcb);
    }
    tcb.rec.ca_state = CaState::Recovery;
}

/// `tcp_init_cwnd_reduction`: a reduction starts — PRR from the window now, `ssthresh` from
/// the algorithm.
fn tcp_init_cwnd_reduction(tcb: &mut Tcb) {
    tcb.rec.init_cwnd_reduction(tcb.snd.nxt, tcb.cwnd.cwnd);
    tcb.cwnd.cnt = 0;
    tcb.cwnd.ssthresh = tcb.ca.ssthresh(&tcb.cwnd);
}

/// `tcp_end_cwnd_reduction`: the window comes down to `ssthresh` when the reduction ends
/// (not if it was undone).
fn tcp_end_cwnd_reduction(tcb: &mut Tcb) {
    if tcb.cwnd.ssthresh < Cwnd::INFINITE_SSTHRESH
        && (tcb.rec.ca_state == CaState::Cwr || tcb.rec.undo_marker.is_some())
    {
        tcb.cwnd.cwnd = tcb.cwnd.ssthresh;
    }
}

/// `tcp_rcv_rtt_measure_ts`: a segment of at least the peer's segment size echoing a TSval
/// not seen before measures the receiver's round trip (to the millisecond of TSval).
fn tcp_rcv_rtt_measure_ts(now: Instant, socket: &mut Socket, seg: &TcpRepr<'_>) {
    let Some(tcb) = socket.tcb_mut() else { return };
    let Some(ts) = seg.options.timestamp.filter(|_| tcb.tstamp_ok) else {
        return;
    };
    if ts.tsecr == tcb.rcv.rtt_last_tsecr {
        return;
    }
    tcb.rcv.rtt_last_tsecr = ts.tsecr;
    if seg.payload.len() as u32 >= tcb.ack.rcv_mss {
        let delta_ms = tcp_clock_ms(now).wrapping_sub(ts.tsecr.wrapping_sub(tcb.ts_off)) as i32;
        if delta_ms > 0 {
            tcb.rcv.rcv_rtt_update(delta_ms as u32 * 1000, false);
        }
    }
}

/// `tcp_sndbuf_expand` (unless SO_SNDBUF fixed the buffer): room for two congestion
/// windows (at least `TCP_INIT_CWND` and `reordering` + 1 segments) of worst-case segments —
/// each a power-of-two allocation of the MSS plus `MAX_TCP_HEADER` (256 on x86-64) and the
/// shared info (320), plus the `sk_buff` (256) — at most `tcp_wmem[2]`. A fresh connection's
/// buffer is thus 46080 bytes at an MSS of 1460, as `getsockopt(SO_SNDBUF)` shows on Linux.
pub(crate) fn tcp_sndbuf_expand(cx: &Ctx, socket: &mut Socket) {
    if socket.options.sndbuf_locked {
        return;
    }
    let mss = u32::from(socket.mss_cache());
    let Some(tcb) = socket.tcb() else { return };
    let per_mss = (u32::from(tcb.mss_clamp).max(mss) + 256 + 320).next_power_of_two() + 256;
    let segs = crate::tcp::tcb::TCP_INIT_CWND
        .max(tcb.cwnd.cwnd)
        .max(tcb.rec.reordering + 1);
    let sndmem = 2u64 * u64::from(segs) * u64::from(per_mss);
    let limit = cx.sysctl.tcp_wmem[2].max(0) as u64;
    if u64::from(socket.options.sndbuf) < sndmem {
        socket.options.sndbuf = sndmem.min(limit) as u32;
    }
}

/// `tcp_check_space` + `tcp_new_space`: after an ACK freed queued data, a writer that
/// found the buffer full gets a bigger one while the congestion window is not filled
/// (`tcp_should_expand_sndbuf`), and is woken once the buffer is writable again.
fn tcp_check_space(cx: &Ctx, socket: &mut Socket) {
    let Some(tcb) = socket.tcb() else { return };
    if !tcb.snd.nospace {
        return;
    }
    // tcp_should_expand_sndbuf
    if tcb.rec.in_flight() < tcb.cwnd.cwnd && !under_memory_pressure(cx) && !above_memory_low(cx) {
        tcp_sndbuf_expand(cx, socket);
    }
    if sk_stream_is_writeable(socket, tcp_notsent_lowat(cx.sysctl, socket)) {
        if let Some(tcb) = socket.tcb_mut() {
            tcb.snd.nospace = false;
        }
    }
}

/// `tcp_data_queue`: in-order data joins the receive queue, then whatever the out-of-order
/// queue now continues (`tcp_ofo_queue`; bytes had twice are D-SACKed, an ACK goes at once
/// when the hole is filled); a segment beyond `rcv_nxt` waits in the out-of-order queue and
/// is SACKed and ACKed at once; an old one (all or partly below `rcv_nxt`) is D-SACKed with
/// quick ACKs; data past a zero window is dropped. A FIN in order is `tcp_fin`, one beyond
/// waits with its data.
fn tcp_data_queue(cx: &mut Ctx, now: Instant, socket: &mut Socket, seg: &TcpRepr<'_>) -> Disposition {
    let rcvbuf = socket.options.rcvbuf;
    let Some(tcb) = socket.tcb_mut() else {
        return Disposition::Keep;
    };
    let seq = SeqNum(seg.seq);
    let data_end = seq + seg.payload.len() as u32;
    let end_seq = data_end + u32::from(seg.flags.fin());
    let fin = seg.flags.fin();
    // A SYN gets here only as the peer's SYN-ACK of a simultaneous open, already received.
    let syn = seg.flags.syn();
    if seg.payload.is_empty() && !fin && !syn {
        return Disposition::Keep;
    }
    let news = data_end.after(tcb.rcv.nxt) || (fin && data_end == tcb.rcv.nxt);
    if !news {
        // Everything already received: a retransmission.
        cx.mib.inc(Counter::TcpExtDelayedACKLost);
        if tcb.sack_ok {
            tcb.rcv.sack.dsack_set(seg.seq, (end_seq + u32::from(syn)).0);
            cx.mib.inc(Counter::TcpExtTCPDSACKOldSent);
        }
        tcp_enter_quickack_mode(tcb, true);
        return Disposition::Keep;
    }
    if seq.after(tcb.rcv.nxt) {
        tcp_data_queue_ofo(cx, tcb, rcvbuf, seg);
        if !seg.payload.is_empty() {
            tcp_rcvbuf_grow_ofo(cx, socket);
        }
        return Disposition::Keep;
    }
    tcp_data_queue_in_order(cx, now, socket, seg)
}

/// `tcp_data_queue_ofo`: the segment waits beyond `rcv_nxt`, is SACKed (what was held
/// already is D-SACKed) and ACKed at once. It measures the peer's segment size (since 6.17)
/// and, with SACK, may open the window before it is charged to the buffer.
fn tcp_data_queue_ofo(cx: &mut Ctx, tcb: &mut Tcb, rcvbuf: u32, seg: &TcpRepr<'_>) {
    let data_end = seg.seq.wrapping_add(seg.payload.len() as u32);
    if !seg.payload.is_empty() {
        // tcp_try_rmem_schedule failing: no memory for it.
        if over_memory_limit(cx) {
            cx.mib.inc(Counter::TcpExtTCPOFODrop);
            return;
        }
        cx.mib.inc(Counter::TcpExtTCPOFOQueue);
        let skb = RxSkb::of(cx, seg);
        tcp_measure_rcv_mss(tcb, rcvbuf, &skb);
        let held = tcb.rcv.ofo.bytes();
        if let Some(d) = tcb.rcv.ofo.insert(seg.seq, seg.payload) {
            if tcb.sack_ok {
                tcb.rcv.sack.dsack_set(d.seq, d.end);
                cx.mib.inc(Counter::TcpExtTCPDSACKOfoSent);
            }
        }
        if tcb.rcv.ofo.bytes() > held {
            if tcb.sack_ok {
                tcp_grow_window(cx, tcb, rcvbuf, &skb);
            }
            tcb.rcv.ofo_rmem += skb.truesize;
        }
        if tcb.sack_ok {
            tcb.rcv.sack.new_ofo(seg.seq, data_end);
        }
    }
    if seg.flags.fin() {
        tcb.rcv.ofo.fin = Some(data_end);
    }
    tcb.ack.pending = true;
    tcb.ack.now = true;
}

/// `tcp_rcvbuf_grow` after out-of-order data: the buffer grows to hold two rounds of
/// `rcvq_space` plus the span the out-of-order queue reaches, as space for that window
/// (twice it), up to `tcp_rmem[2]` — not while the socket waits in the accept queue or is an
/// orphan (no `sk_socket`), nor when SO_RCVBUF fixed it.
fn tcp_rcvbuf_grow_ofo(cx: &Ctx, socket: &mut Socket) {
    if socket.fd.is_none() {
        return;
    }
    let space = socket.tcb().map_or(0, |t| t.rcv.space);
    tcp_rcvbuf_grow(cx, socket, space);
}

/// `tcp_rcvbuf_grow`: the reader consumed `newval` bytes in a round trip (`rcvq_space`);
/// unless SO_RCVBUF fixed it, the buffer grows to hold twice that (DRS is a round trip late),
/// more while the rate climbs (a sender in slow start may double it), plus the span the
/// out-of-order queue reaches, as the buffer that window needs at the scaling ratio, up to
/// `tcp_rmem[2]`; the window clamp follows.
pub(crate) fn tcp_rcvbuf_grow(cx: &Ctx, socket: &mut Socket, newval: u32) {
    let rmem_max = cx.sysctl.tcp_rmem[2].max(0) as u64;
    let (current, locked) = (socket.options.rcvbuf, socket.options.rcvbuf_locked);
    let Some(tcb) = socket.tcb_mut() else { return };
    let oldval = tcb.rcv.space.max(1);
    tcb.rcv.space = newval;
    if locked {
        return;
    }
    let mut rcvwin = u64::from(newval) << 1;
    let grow = rcvwin * u64::from(newval.saturating_sub(oldval)) / u64::from(oldval);
    rcvwin += grow << 1;
    rcvwin += u64::from(tcb.rcv.ofo.end().map_or(0, |e| SeqNum(e) - tcb.rcv.nxt));
    let rcvbuf = tcb.rcv.space_from_win(rcvwin).min(rmem_max) as u32;
    if rcvbuf > current {
        tcb.rcv.window_clamp = tcb.rcv.full_space(rcvbuf) as u32;
        socket.options.rcvbuf = rcvbuf;
    }
}

/// `tcp_data_queue` for a segment at or before `rcv_nxt`.
fn tcp_data_queue_in_order(cx: &mut Ctx, now: Instant, socket: &mut Socket, seg: &TcpRepr<'_>) -> Disposition {
    let rcvbuf = socket.options.rcvbuf as usize;
    let Some(tcb) = socket.tcb_mut() else {
        return Disposition::Keep;
    };
    let fin = seg.flags.fin();
    if tcb.rcv.window() == 0 && !seg.payload.is_empty() {
        cx.mib.inc(Counter::TcpExtTCPZeroWindowDrop);
        tcp_enter_quickack_mode(tcb, true);
        return Disposition::Keep;
    }
    // tcp_try_rmem_schedule (the queued bytes, as tcp_collapse would leave them, standing for
    // sk_rmem_alloc): over the buffer, or the stack over tcp_mem[2], the ACK goes at once
    // (ICSK_ACK_NOW | ICSK_ACK_NOMEM); data joins only an empty queue (else TCPRcvQDrop), a
    // FIN alone is taken.
    if tcb.rcv.buf.len() + tcb.rcv.ofo.bytes() > rcvbuf || over_memory_limit(cx) {
        tcb.ack.pending = true;
        tcb.ack.now = true;
        if !tcb.rcv.buf.is_empty() && !seg.payload.is_empty() {
            cx.mib.inc(Counter::TcpExtTCPRcvQDrop);
            return Disposition::Keep;
        }
    }
    let seq = SeqNum(seg.seq);
    if seq.before(tcb.rcv.nxt) && tcb.sack_ok {
        tcb.rcv.sack.dsack_set(seg.seq, tcb.rcv.nxt.0);
        cx.mib.inc(Counter::TcpExtTCPDSACKOldSent);
    }
    let skip = (tcb.rcv.nxt - seq) as usize;
    let data = &seg.payload[skip.min(seg.payload.len())..];
    let mut fin_now = fin;
    if !data.is_empty() {
        tcb.rcv.buf.extend(data);
        tcb.rcv.nxt += data.len() as u32;
        tcb.rcv.bytes_received += data.len() as u64;
        // tcp_queue_rcv: the whole skb is charged (synq never coalesces it into the last).
        let skb = RxSkb::of(cx, seg);
        let rcv_nxt = tcb.rcv.nxt;
        tcb.rcv.charge(rcv_nxt, skb.truesize);
        tcp_event_data_recv(cx, tcb, now, rcvbuf as u32, &skb);
        if !tcb.rcv.ofo.is_empty() {
            tcp_ofo_queue(tcb);
            if tcb.rcv.ofo.is_empty() {
                tcb.ack.now = true; // RFC 5681 4.2: the hole is filled
            }
            fin_now |= tcb.rcv.ofo.fin == Some(tcb.rcv.nxt.0) && tcb.rcv.ofo.is_empty();
        }
        let (rcv_nxt, empty) = (tcb.rcv.nxt.0, tcb.rcv.ofo.is_empty());
        tcb.rcv.sack.remove(rcv_nxt, empty);
    }
    if fin_now {
        return tcp_fin(cx, now, socket);
    }
    Disposition::Keep
}

/// `tcp_fin`: the peer's FIN in order. The out-of-order queue and SACK state are reset;
/// reads end; ESTABLISHED becomes CLOSE_WAIT (and ACKs go ping-pong), FIN_WAIT1 CLOSING and
/// FIN_WAIT2 TIME_WAIT, both ACKed at once.
fn tcp_fin(cx: &mut Ctx, now: Instant, socket: &mut Socket) -> Disposition {
    let state = socket.state;
    socket.shutdown |= RCV_SHUTDOWN;
    socket.done = true;
    let Some(tcb) = socket.tcb_mut() else {
        return Disposition::Keep;
    };
    tcb.rcv.nxt += 1;
    tcb.ack.pending = true;
    // Nothing can follow a FIN: the out-of-order queue and every SACK block go, a pending
    // D-SACK with them (tcp_sack_reset).
    tcb.rcv.ofo = Default::default();
    tcb.rcv.ofo_rmem = 0;
    tcb.rcv.sack = Default::default();
    match state {
        TcpState::Established | TcpState::SynRecv => {
            tcb.ack.pingpong = tcb.ack.pingpong.max(TCP_PINGPONG_THRESH);
            tcp_set_state(&mut cx.mib, socket, TcpState::CloseWait);
        }
        TcpState::FinWait1 => {
            send_control(cx, now, socket, TcpFlags::ACK);
            tcp_set_state(&mut cx.mib, socket, TcpState::Closing);
        }
        TcpState::FinWait2 => {
            send_control(cx, now, socket, TcpFlags::ACK);
            return Disposition::TimeWait;
        }
        _ => {}
    }
    Disposition::Keep
}

/// `tcp_enter_quickack_mode` (+ `inet_csk_schedule_ack`): ACK the next segments at once;
/// with `ack_now`, this one too.
fn tcp_enter_quickack_mode(tcb: &mut Tcb, ack_now: bool) {
    tcp_incr_quickack(tcb);
    tcb.ack.pingpong = 0;
    tcb.ack.ato_ms = TCP_ATO_MIN_MS;
    tcb.ack.pending = true;
    tcb.ack.now |= ack_now;
}

/// `__tcp_ack_snd_check`: an owed ACK goes now when more than a full segment arrived since
/// the last window update and the user keeps up (or the window would open), in quick-ACK
/// mode, or when one was demanded; otherwise it is delayed.
pub(crate) fn tcp_ack_snd_check(cx: &mut Ctx, now: Instant, sk: SockId, socket: &mut Socket) {
    let rcvbuf = socket.options.rcvbuf;
    let Some(tcb) = socket.tcb_mut() else { return };
    if !tcb.ack.pending {
        return;
    }
    // In this order: choosing the window may end quick-ACK mode.
    let full_frame = tcb.rcv.nxt - tcb.rcv.wup > tcb.ack.rcv_mss
        && (tcb.rcv.buf.is_empty() || tcp_free_window(tcb, rcvbuf, under_memory_pressure(cx)) >= tcb.rcv.wnd);
    let quick = tcb.ack.quick > 0 && !tcb.ack.in_pingpong_mode();
    // Out-of-order data waiting: every ACK goes at once (the compact form of Linux's
    // first-three-then-compressed rule, spec E7).
    if full_frame || quick || tcb.ack.now || !tcb.rcv.ofo.is_empty() {
        send_control(cx, now, socket, TcpFlags::ACK);
    } else {
        tcp_send_delayed_ack(cx, now, sk, socket);
    }
}

/// `tcp_send_dupack`: an immediate ACK for an unacceptable segment (rate-limited by
/// `tcp_invalid_ratelimit` unless it carries data); a segment starting before `rcv_nxt` also
/// puts the receiver in quick-ACK mode and is D-SACKed.
fn tcp_send_dupack(cx: &mut Ctx, now: Instant, socket: &mut Socket, seg: &TcpRepr<'_>) {
    let Some(tcb) = socket.tcb_mut() else { return };
    let seq = SeqNum(seg.seq);
    let end_seq = seq + seg.segment_len() as u32;
    if seg.segment_len() != 0 && seq.before(tcb.rcv.nxt) {
        cx.mib.inc(Counter::TcpExtDelayedACKLost);
        let rcv_nxt = tcb.rcv.nxt;
        tcp_enter_quickack_mode(tcb, false);
        if tcb.sack_ok {
            tcb.rcv.sack.dsack_set(seg.seq, end_seq.min(rcv_nxt).0);
            cx.mib.inc(Counter::TcpExtTCPDSACKOldSent);
        }
    }
    // tcp_oow_rate_limited: one answer per `tcp_invalid_ratelimit` ms to out-of-window
    // segments; one carrying data or a FIN (and no SYN) always passes.
    let data = seg.segment_len() != 0 && !seg.flags.syn();
    if data || !sock_oow_rate_limited(cx, now, socket, Counter::TcpExtTCPACKSkippedSeq) {
        send_control(cx, now, socket, TcpFlags::ACK);
    }
}

/// `syn_challenge` in `tcp_validate_incoming`: a SYN on a synchronized connection, in or
/// out of the window, is counted and challenged.
fn syn_challenge(cx: &mut Ctx, now: Instant, socket: &mut Socket) {
    cx.mib.inc(Counter::TcpExtTCPSYNChallenge);
    tcp_send_challenge_ack(cx, now, socket);
}

/// `tcp_send_challenge_ack` (RFC 5961): an ACK at `rcv_nxt`, within the per-socket
/// out-of-window rate limit.
fn tcp_send_challenge_ack(cx: &mut Ctx, now: Instant, socket: &mut Socket) {
    if sock_oow_rate_limited(cx, now, socket, Counter::TcpExtTCPACKSkippedChallenge) {
        return;
    }
    cx.mib.inc(Counter::TcpExtTCPChallengeACK);
    send_control(cx, now, socket, TcpFlags::ACK);
}

/// `__tcp_oow_rate_limited`: the per-socket budget that out-of-window ACKs and challenge
/// ACKs share; `skipped` counts an answer it holds back.
fn sock_oow_rate_limited(cx: &mut Ctx, now: Instant, socket: &mut Socket, skipped: Counter) -> bool {
    let limit = cx.sysctl.tcp_invalid_ratelimit.max(0) as u32;
    let Some(tcb) = socket.tcb_mut() else {
        return true;
    };
    if rate_limited(&mut tcb.last_oow_ack_ms, now, limit) {
        cx.mib.inc(skipped);
        return true;
    }
    false
}

/// `tcp_reset`: the peer reset the connection. The user sees ECONNRESET (EPIPE in
/// CLOSE_WAIT); the connection is done.
fn tcp_reset(cx: &mut Ctx, socket: &mut Socket) -> Disposition {
    socket.error = Some(match socket.state {
        TcpState::CloseWait => Errno::EPIPE,
        TcpState::SynSent => Errno::ECONNREFUSED,
        _ => Errno::ECONNRESET,
    });
    if matches!(socket.state, TcpState::Established | TcpState::CloseWait) {
        cx.mib.inc(Counter::TcpEstabResets);
    }
    Disposition::Done
}

/// `tcp_incr_quickack`: as many immediate ACKs as half the window holds segments, at least
/// 2, at most [`TCP_MAX_QUICKACKS`].
fn tcp_incr_quickack(tcb: &mut Tcb) {
    let quickacks = (tcb.rcv.wnd / (2 * tcb.ack.rcv_mss.max(1))).max(2);
    tcb.ack.quick = tcb.ack.quick.max(quickacks.min(u32::from(TCP_MAX_QUICKACKS)) as u8);
}

/// `tcp_event_data_recv`: an ACK is owed; the peer's segment size is measured; the first
/// data starts the delayed-ACK engine in quick-ACK mode, later data adapts `ato` to the
/// gaps between arrivals (a gap over the RTO means quick ACKs again); a segment of 128
/// bytes or more may open the window.
fn tcp_event_data_recv(cx: &Ctx, tcb: &mut Tcb, now: Instant, rcvbuf: u32, skb: &RxSkb) {
    tcb.ack.pending = true;
    tcp_measure_rcv_mss(tcb, rcvbuf, skb);
    let now_ms = tcp_clock_ms(now);
    if tcb.ack.ato_ms == 0 {
        tcp_incr_quickack(tcb);
        tcb.ack.ato_ms = TCP_ATO_MIN_MS;
    } else {
        let m = now_ms.wrapping_sub(tcb.ack.lrcvtime_ms);
        let rto_ms = tcb.rtt.rto.as_millis() as u32;
        if m <= TCP_ATO_MIN_MS / 2 {
            tcb.ack.ato_ms = (tcb.ack.ato_ms >> 1) + TCP_ATO_MIN_MS / 2;
        } else if m < tcb.ack.ato_ms {
            tcb.ack.ato_ms = ((tcb.ack.ato_ms >> 1) + m).min(rto_ms);
        } else if m > rto_ms {
            tcp_incr_quickack(tcb);
        }
    }
    tcb.ack.lrcvtime_ms = now_ms;
    tcb.rcv.rcv_rtt_measure(now);
    if skb.len >= 128 {
        tcp_grow_window(cx, tcb, rcvbuf, skb);
    }
}

/// A received segment as the buffer counts it: its payload (`skb->len`), the segment size
/// it stands for (`gso_size` when the driver handed a GSO packet, else its length) and its
/// [`skb_truesize`].
pub(crate) struct RxSkb {
    pub len: u32,
    pub seg_len: u32,
    pub truesize: u32,
    /// The TCP header's length, options included, and whether it carried FIN, URG, SYN or
    /// PSH (`TCP_REMNANT`), or PSH.
    pub header: u32,
    pub remnant: bool,
    pub psh: bool,
}

impl RxSkb {
    fn of(cx: &Ctx, seg: &TcpRepr<'_>) -> RxSkb {
        let len = seg.payload.len() as u32;
        let header = seg.header_len() as u32;
        let gso = u32::from(cx.rx_gso_size);
        // virtio_net_hdr_to_skb: a packet no longer than one segment is not GSO.
        let seg_len = if gso != 0 && len + header - TCP_HEADER_LEN as u32 > gso {
            gso
        } else {
            len
        };
        let f = seg.flags;
        RxSkb {
            len,
            seg_len,
            truesize: skb_truesize(IPV4_HEADER_LEN as u32 + header + len),
            header,
            remnant: f.intersects(TcpFlags::FIN | TcpFlags::URG | TcpFlags::SYN | TcpFlags::PSH),
            psh: f.contains(TcpFlags::PSH),
        }
    }
}

/// `tcp_measure_rcv_mss`: the peer's segment size (`rcv_mss`, at most our `advmss`). When it
/// changes, the scaling ratio is measured again — the share of the skb's truesize that is
/// payload — and the window clamp follows what the buffer now stands for. A full segment with
/// PSH, or a short one, is owed a prompt ACK (`ICSK_ACK_PUSHED`, twice `PUSHED2`), unless two
/// short ones of one size in a row show the peer's segment size is that.
fn tcp_measure_rcv_mss(tcb: &mut Tcb, rcvbuf: u32, skb: &RxSkb) {
    let lss = u32::from(std::mem::take(&mut tcb.ack.last_seg_size));
    let len = skb.seg_len;
    if len < tcb.ack.rcv_mss {
        let len = len + skb.header;
        let tcp_header = TCP_HEADER_LEN as u32;
        let min_full = u32::from(TCP_MSS_DEFAULT) + tcp_header;
        if len >= min_full || (len >= u32::from(TCP_MIN_MSS) + tcp_header && !skb.remnant) {
            let len = len - tcp_header - if tcb.tstamp_ok { TCPOLEN_TSTAMP_ALIGNED } else { 0 };
            tcb.ack.last_seg_size = len as u16;
            if len == lss {
                tcb.ack.rcv_mss = len;
                return;
            }
        }
        tcb.ack.pushed2 |= tcb.ack.pushed;
        tcb.ack.pushed = true;
        return;
    }
    if len != tcb.ack.rcv_mss {
        let ratio = ((u64::from(skb.len) << 8) / u64::from(skb.truesize.max(1))).clamp(1, 255) as u8;
        if ratio != tcb.rcv.scaling_ratio {
            tcb.rcv.scaling_ratio = ratio;
            let clamp = tcb.rcv.full_space(rcvbuf).max(0) as u32;
            tcb.rcv.set_window_clamp(clamp);
            tcb.rcv.space = tcb.rcv.space.min(tcb.rcv.window_clamp);
        }
    }
    tcb.ack.rcv_mss = len.min(u32::from(tcb.advmss));
    tcb.ack.pushed |= skb.psh;
}

/// `__tcp_grow_window`: 2 (segments of `rcv_mss`) if the window of a buffer of `tcp_rmem[2]`, halved as
/// often as the skb's own window is, stays at least `rcv_ssthresh` until that skb window
/// fits its payload; else 0.
fn __tcp_grow_window(r: &crate::tcp::tcb::RecvState, skb_win: i64, len: i64, rmem_max: i32) -> u32 {
    let (mut t, mut w) = (skb_win >> 1, r.win_from_space(i64::from(rmem_max.max(0))) >> 1);
    while i64::from(r.ssthresh) <= w {
        if t <= len {
            return 2;
        }
        t >>= 1;
        w >>= 1;
    }
    0
}

/// `tcp_grow_window`: data lets `rcv_ssthresh` open toward the clamp and the free space —
/// by two of our segments, or twice the segment if more (`__tcp_grow_window` when the skb's
/// overhead is large: only while the window is small against the largest buffer) — and an
/// ACK go at once; under memory pressure it closes toward four segments instead.
fn tcp_grow_window(cx: &Ctx, tcb: &mut Tcb, rcvbuf: u32, skb: &RxSkb) {
    let r = &tcb.rcv;
    let room = r.space(rcvbuf).min(i64::from(r.window_clamp)) - i64::from(r.ssthresh);
    if room <= 0 {
        return;
    }
    if under_memory_pressure(cx) {
        return tcp_adjust_rcv_ssthresh(tcb);
    }
    let advmss = tcb.advmss_less_options();
    let len = i64::from(skb.len);
    let skb_win = r.win_from_space(i64::from(skb.truesize));
    let incr = if skb_win <= len {
        2 * advmss
    } else {
        __tcp_grow_window(r, skb_win, len, cx.sysctl.tcp_rmem[2]) * tcb.ack.rcv_mss
    };
    if incr != 0 {
        let incr = i64::from(incr).max(2 * len);
        tcb.rcv.ssthresh += incr.min(room) as u32;
        tcb.ack.quick |= 1;
    }
}

/// The test behind `__tcp_oow_rate_limited`: true when an answer went out less than
/// `limit_ms` ago (`last_ms`, 0 = never); otherwise `last_ms` becomes now.
pub(crate) fn rate_limited(last_ms: &mut u32, now: Instant, limit_ms: u32) -> bool {
    let now_ms = tcp_clock_ms(now).max(1);
    if *last_ms != 0 && now_ms.wrapping_sub(*last_ms) < limit_ms {
        return true;
    }
    *last_ms = now_ms;
    false
}

/// `tcp_ofo_queue`: moves what the out-of-order queue continues onto the receive queue;
/// bytes that were had already (below `rcv_nxt` as it stood) are D-SACKed.
fn tcp_ofo_queue(tcb: &mut Tcb) {
    let dsack_high = tcb.rcv.nxt;
    while let Some((seq, data)) = tcb.rcv.ofo.pop_ready(tcb.rcv.nxt.0) {
        let seq = SeqNum(seq);
        let end = seq + data.len() as u32;
        let held = tcb.rcv.ofo.bytes() + data.len();
        tcb.rcv.ofo_to_queue(end, data.len(), held);
        if seq.before(dsack_high) && tcb.sack_ok {
            tcb.rcv.sack.dsack_extend(seq.0, end.min(dsack_high).0);
        }
        if !end.after(tcb.rcv.nxt) {
            continue;
        }
        let skip = (tcb.rcv.nxt - seq) as usize;
        tcb.rcv.buf.extend(&data[skip..]);
        tcb.rcv.bytes_received += (end - tcb.rcv.nxt) as u64;
        tcb.rcv.nxt = end;
    }
}
