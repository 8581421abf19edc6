//! TCP output for connections (`tcp_output.c`): building a segment from the connection's
//! state (`tcp_transmit_skb`), sending queued data within the windows (`tcp_write_xmit`),
//! ACKs (`tcp_send_ack`, `tcp_send_delayed_ack`), the FIN (`tcp_send_fin`) and an active
//! reset (`tcp_send_active_reset`).

use crate::base::mib::Counter;
use crate::base::seq::SeqNum;
use crate::base::sysctl::Sysctl;
use crate::base::time::tcp_clock_ms;
use crate::base::time::{Duration, Instant};
use crate::inet::socket::{SockId, Socket, TcpState};
use crate::tcp::cong::CongestionOps;
use crate::tcp::ctx::Ctx;
use crate::tcp::sk_mem::{tcp_adjust_rcv_ssthresh, under_memory_pressure};
use crate::tcp::tcb::{Tcb, TcpTimer, TCP_ATO_MIN_MS, TCP_DELACK_MAX_MS};
use crate::tcp::tcp_input::TCP_TIMEOUT_MIN;
use crate::tcp::tcp_recovery::{CaState, TxSeg};
use synq_wire::{Ipv4Repr, TcpFlags, TcpOptions, TcpRepr, Timestamp};

/// `tcp_transmit_skb`: one segment of connection `sk` with sequence number `seq`, `len`
/// bytes of the send queue from `seq` on, and `flags` with ACK. It carries our window
/// (`tcp_select_window`) and the timestamp option when in use. Sending an ACK settles the ACK
/// owed (`tcp_event_ack_sent`). False when the device queue dropped it (local congestion).
pub(crate) fn tcp_transmit(
    cx: &mut Ctx,
    now: Instant,
    socket: &mut Socket,
    seq: SeqNum,
    len: u32,
    flags: TcpFlags,
) -> bool {
    let (src_port, src, peer, rcvbuf) = (socket.sport, socket.rcv_saddr, socket.peer, socket.options.rcvbuf);
    let ident = socket.next_ip_id();
    let (Some(tcb), Some(peer)) = (socket.tcb_mut(), peer) else {
        return false;
    };
    let window = tcp_select_window(tcb, rcvbuf, under_memory_pressure(cx));
    let options = TcpOptions {
        timestamp: tcb.tstamp_ok.then(|| Timestamp {
            tsval: tcp_clock_ms(now).wrapping_add(tcb.ts_off),
            tsecr: tcb.ts_recent,
        }),
        // tcp_established_options: as many blocks as the option space leaves.
        sack_blocks: if tcb.sack_ok {
            tcb.rcv.sack.take_option(if tcb.tstamp_ok { 3 } else { 4 })
        } else {
            Default::default()
        },
        ..TcpOptions::default()
    };
    let ack = tcb.rcv.nxt.0;
    // tcp_event_ack_sent
    tcb.ack.quick = tcb.ack.quick.saturating_sub(1);
    tcb.ack.pending = false;
    tcb.ack.now = false;
    tcb.ack.pushed = false;
    tcb.ack.pushed2 = false;
    cx.cancel_timer(tcb, TcpTimer::DelAck);
    // The payload straight from the send queue; copied only where the ring wraps.
    let mut scratch = std::mem::take(&mut cx.scratch);
    let offset = (seq - tcb.snd.buf_seq()) as usize;
    let end = offset + len as usize;
    let (a, b) = tcb.snd.buf.as_slices();
    let payload: &[u8] = if len == 0 {
        &[]
    } else if end <= a.len() {
        &a[offset..end]
    } else if offset >= a.len() {
        &b[offset - a.len()..end - a.len()]
    } else {
        scratch.clear();
        scratch.extend_from_slice(&a[offset..]);
        scratch.extend_from_slice(&b[..end - a.len()]);
        &scratch
    };
    let seg = TcpRepr {
        src_port,
        dst_port: peer.port(),
        seq: seq.0,
        ack,
        flags: flags | TcpFlags::ACK,
        window,
        urgent: 0,
        options,
        payload,
    };
    let sent = cx.send_segment(src, *peer.ip(), (0, ident), &seg);
    if sent && flags.rst() {
        cx.mib.inc(Counter::TcpOutRsts);
    }
    cx.scratch = scratch;
    sent
}

/// A segment without data at `snd_nxt`: `tcp_send_ack` (`ACK`) or `tcp_send_active_reset`
/// (`RST|ACK`, our window and timestamps as on any segment, L61).
pub(crate) fn send_control(cx: &mut Ctx, now: Instant, socket: &mut Socket, flags: TcpFlags) {
    let Some(nxt) = socket.tcb().map(|t| t.snd.nxt) else {
        return;
    };
    tcp_transmit(cx, now, socket, nxt, 0, flags);
}

/// `tcp_send_delayed_ack`: the ACK owed waits `ato`, bounded by the RTT and 200 ms (500 ms
/// outside ping-pong), unless the timer already runs sooner. Before any data arrived `ato`
/// is 0 and the timer fires at once (a FIN alone is ACKed in the same jiffy).
pub(crate) fn tcp_send_delayed_ack(cx: &mut Ctx, now: Instant, sk: SockId, socket: &mut Socket) {
    let Some(tcb) = socket.tcb_mut() else {
        return;
    };
    let mut ato = tcb.ack.ato_ms;
    if ato > TCP_ATO_MIN_MS {
        let mut max_ato = if tcb.ack.in_pingpong_mode() || tcb.ack.pushed {
            TCP_DELACK_MAX_MS
        } else {
            500
        };
        if tcb.rtt.srtt_us != 0 {
            max_ato = max_ato.min((tcb.rtt.srtt_us >> 3).div_ceil(1000).max(TCP_ATO_MIN_MS));
        }
        ato = ato.min(max_ato);
    }
    let mut deadline = now + Duration::from_millis(u64::from(ato.min(TCP_DELACK_MAX_MS)));
    if let Some(armed) = tcb.timers[TcpTimer::DelAck].and_then(|t| cx.timers.deadline(t)) {
        if armed <= now + Duration::from_millis(u64::from(ato >> 2)) {
            return send_control(cx, now, socket, TcpFlags::ACK);
        }
        deadline = deadline.min(armed);
    }
    cx.arm_timer(tcb, sk, TcpTimer::DelAck, deadline);
}

/// `GSO_LEGACY_MAX_SIZE`: the most one GSO packet holds (`sk_gso_max_size`).
pub(crate) const GSO_MAX_SIZE: u64 = 65536;

/// `tcp_update_pacing_rate` + `tcp_tso_autosize`: how many segments Linux puts in one TSO/GSO
/// packet — about a millisecond at the pacing rate (`tcp_pacing_ss_ratio` % of cwnd × mss per
/// srtt in slow start, `tcp_pacing_ca_ratio` % after; unbounded before an RTT sample), more
/// for a close peer (a `GSO_MAX_SIZE` allowance halved every 2^`tcp_tso_rtt_log` µs of
/// minimum RTT), at most `GSO_MAX_SIZE` bytes, at least `tcp_min_tso_segs`.
fn tcp_tso_segs(sysctl: &Sysctl, tcb: &Tcb, mss: u32) -> u32 {
    let mss64 = u64::from(mss);
    let packets_out = u64::from(tcb.rec.packets_out());
    let ratio = if tcb.cwnd.cwnd < tcb.cwnd.ssthresh / 2 {
        sysctl.tcp_pacing_ss_ratio
    } else {
        sysctl.tcp_pacing_ca_ratio
    };
    // Bytes a second: mss × (10^6 / 100 × 8) × ratio × cwnd / srtt_us (srtt kept ×8).
    let rate = match tcb.rtt.srtt_us {
        0 => u64::MAX,
        srtt => (mss64 * 80_000 * u64::from(ratio) * u64::from(tcb.cwnd.cwnd).max(packets_out)) / u64::from(srtt),
    };
    let mut bytes = rate >> 10;
    let r = tcb.rtt.min_rtt_us >> sysctl.tcp_tso_rtt_log.min(31);
    if r < 32 {
        bytes = bytes.saturating_add(GSO_MAX_SIZE >> r);
    }
    ((bytes.min(GSO_MAX_SIZE) / mss64) as u32).max(u32::from(sysctl.tcp_min_tso_segs))
}

/// `__tcp_select_window`: the window the free buffer allows now (`tcp_space`, counted in
/// truesize), at most `rcv_ssthresh`. With less than half the buffer's window free, quick-ACK
/// mode ends (`icsk_ack.quick = 0`: the reason a segment filling half the buffer is ACKed
/// late) and a window under a sixteenth of the buffer or a segment is offered as 0. Scaled,
/// it is rounded up to the scale; unscaled, the window offered last stays while within a
/// segment of the free space (no silly window updates).
pub(crate) fn tcp_free_window(tcb: &mut Tcb, rcvbuf: u32, pressure: bool) -> u32 {
    let r = &tcb.rcv;
    let mut mss = i64::from(tcb.ack.rcv_mss);
    let mut free = r.space(rcvbuf);
    let allowed = r.full_space(rcvbuf);
    let full = i64::from(r.window_clamp).min(allowed);
    if mss > full {
        mss = full;
        if mss <= 0 {
            return 0;
        }
    }
    let scale = 1i64 << r.wscale;
    if free < full >> 1 {
        tcb.ack.quick = 0;
        if pressure {
            tcp_adjust_rcv_ssthresh(tcb);
        }
        free = free.div_euclid(scale) * scale;
        if free < allowed >> 4 || free < mss {
            return 0;
        }
    }
    let r = &tcb.rcv;
    free = free.min(i64::from(r.ssthresh));
    if r.wscale != 0 {
        return ((free + scale - 1) / scale * scale) as u32;
    }
    let window = i64::from(r.wnd);
    let window = if window <= free - mss || window > free {
        free / mss * mss
    } else if mss == full && free > window + (full >> 1) {
        free
    } else {
        window
    };
    window.max(0) as u32
}

/// `tcp_select_window`: the window to offer, never less than what is left of the last
/// offer (`tcp_shrink_window` = 0), recorded (`rcv_wnd` at `rcv_wup`); the header field.
pub(crate) fn tcp_select_window(tcb: &mut Tcb, rcvbuf: u32, pressure: bool) -> u16 {
    let cur = tcb.rcv.window();
    let scale = 1u32 << tcb.rcv.wscale;
    let mut window = tcp_free_window(tcb, rcvbuf, pressure);
    if window < cur {
        window = cur.div_ceil(scale) * scale;
    }
    tcb.rcv.wnd = window;
    tcb.rcv.wup = tcb.rcv.nxt;
    (window >> tcb.rcv.wscale).min(u32::from(u16::MAX)) as u16
}

/// `tcp_write_xmit`: sends new data, then a queued FIN, while the peer's window and the
/// congestion window (`tcp_packets_in_flight` against `cwnd`) allow (see [`next_segment`]),
/// in packets of [`tcp_tso_segs`] segments as Linux builds them. PSH as Linux 6.18's packets
/// carry it (checked with real packetdrill on this kernel): on the last segment of a packet
/// of two segments or more, and on a lone segment only when it ends what was written. The
/// FIN rides on the last data. With data waiting on a zero window, the RTO timer probes it.
/// Each segment joins the scoreboard ([`Recovery::on_transmit`]); sent during a window
/// reduction, it counts toward PRR's `prr_out`. Ends with `tcp_cwnd_validate`.
///
/// [`Recovery::on_transmit`]: crate::tcp::tcp_recovery::Recovery::on_transmit
pub(crate) fn tcp_write_xmit(cx: &mut Ctx, now: Instant, sk: SockId, socket: &mut Socket) {
    tcp_push(cx, now, sk, socket, Nagle::of(socket));
}

/// `tp->nonagle` as a push passes it to `tcp_write_xmit`: `TCP_NAGLE_OFF` (TCP_NODELAY),
/// `TCP_NAGLE_CORK` (TCP_CORK, or MSG_MORE for the send that asked), `TCP_NAGLE_PUSH` (the
/// push of setting TCP_NODELAY or clearing TCP_CORK, which lets a partial segment go).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Nagle {
    pub off: bool,
    pub cork: bool,
    pub push: bool,
    /// `tcp_push_one`: a write's full skb goes without TSO deferral.
    pub one: bool,
}

impl Nagle {
    /// The socket's own setting (`tp->nonagle`).
    pub fn of(socket: &Socket) -> Nagle {
        Nagle {
            off: socket.options.nodelay,
            cork: socket.options.cork,
            push: false,
            one: false,
        }
    }
}

/// `__tcp_push_pending_frames` with `nonagle`: [`tcp_write_xmit`]'s sending; when data is
/// left with nothing in flight (corked, or a window too small), the probe timer is armed
/// (`tcp_check_probe_timer`: the RTO slot, `tcp_probe0_base`).
pub(crate) fn tcp_push(cx: &mut Ctx, now: Instant, sk: SockId, socket: &mut Socket, nagle: Nagle) {
    if !matches!(
        socket.state,
        TcpState::Established | TcpState::CloseWait | TcpState::FinWait1 | TcpState::LastAck | TcpState::Closing
    ) {
        return;
    }
    let mss = u32::from(socket.mss_cache()).max(1);
    let Some(tcb) = socket.tcb_mut() else { return };
    let mut next = next_segment(tcb, tcb.snd.nxt, mss, nagle);
    let per_packet = match next {
        Next::Send { .. } => tcp_tso_segs(cx.sysctl, tcb, mss),
        _ => 1,
    };
    let mut in_packet = 0;
    let mut sent = 0;
    if next == Next::ZeroWindow && tcb.timers[TcpTimer::Retransmit].is_none() {
        let rto = tcb.rtt.rto;
        return cx.arm_timer(tcb, sk, TcpTimer::Retransmit, now + rto);
    }
    let (mut packet_cap, mut packet_start) = (0, tcb.snd.nxt);
    let mut deferred_cwnd_limited = false;
    while let Next::Send { len, fin } = next {
        let Some(tcb) = socket.tcb() else { return };
        if in_packet == 0 {
            packet_start = tcb.snd.nxt;
            // tcp_cwnd_test: a packet takes at most half the window (two packets in
            // flight), and what is left of it.
            let (cwnd, in_flight) = (tcb.cwnd.cwnd, tcb.rec.in_flight());
            packet_cap = per_packet.min((cwnd >> 1).max(1).min(cwnd.saturating_sub(in_flight)).max(1));
            if !nagle.one {
                if let Some(cwnd_limited) = tcp_tso_should_defer(cx.sysctl, now, tcb, mss, packet_cap, per_packet) {
                    deferred_cwnd_limited = cwnd_limited;
                    break;
                }
            }
        }
        let seq = tcb.snd.nxt;
        let end = seq + len + u32::from(fin);
        next = next_segment(tcb, end, mss, nagle);
        in_packet += 1;
        let packet_ends = in_packet == packet_cap || !matches!(next, Next::Send { .. });
        let mut flags = TcpFlags::ACK;
        if len > 0 && packet_ends && tcb.snd.push_mark && (in_packet >= 2 || seq + len == tcb.snd.write_seq) {
            flags |= TcpFlags::PSH;
        }
        if packet_ends {
            in_packet = 0;
        }
        if fin {
            flags |= TcpFlags::FIN;
        }
        // A segment the device queue drops is not sent: it waits (tcp_transmit_skb's error);
        // the packet it cut short is an skb as far as it went.
        if !tcp_transmit(cx, now, socket, seq, len, flags) {
            if let (true, Some(tcb)) = (seq.after(packet_start), socket.tcb_mut()) {
                tcb.snd.skbs.sent(packet_start, seq);
            }
            break;
        }
        let Some(tcb) = socket.tcb_mut() else { return };
        if len < mss {
            tcb.snd.sml = end;
        }
        tcp_event_new_data_sent(cx, now, sk, tcb, seq, end);
        if packet_ends {
            tcb.snd.skbs.sent(packet_start, end);
        }
        sent += 1;
    }
    if let Some(tcb) = socket.tcb_mut() {
        let cwnd_limited = deferred_cwnd_limited || tcb.rec.in_flight() >= tcb.cwnd.cwnd;
        if sent > 0 || cwnd_limited {
            tcb.rec.cwnd_validate(tcb.snd.una, tcb.snd.nxt, cwnd_limited);
        }
        if sent > 0 {
            tcp_schedule_loss_probe(cx, now, sk, tcb, false);
        }
        if tcb.rec.packets_out() == 0
            && tcb.snd.unsent_from(tcb.snd.nxt) > 0
            && tcb.timers[TcpTimer::Retransmit].is_none()
        {
            let rto = tcb.rtt.rto;
            cx.arm_timer(tcb, sk, TcpTimer::Retransmit, now + rto);
        }
    }
}

/// `tcp_tso_should_defer` (John Heffner's "TSO Nagle"): a packet of several segments that
/// cannot go at full size (`max_segs`) waits for the next ACK instead of going short — if
/// data left within the last millisecond, that ACK is due within min(1 ms, srtt/2), and
/// neither a third of the window (`tcp_tso_win_divisor`) nor, before the tail, the whole skb
/// can go. Not in recovery, nor for a FIN unless a window holds it. `Some(cwnd_limited)`
/// when it waits.
fn tcp_tso_should_defer(sysctl: &Sysctl, now: Instant, tcb: &Tcb, mss: u32, quota: u32, max_segs: u32) -> Option<bool> {
    const NSEC_PER_MSEC: i64 = 1_000_000;
    let nxt = tcb.snd.nxt;
    let (end, is_tail) = tcb.snd.skbs.send_head(nxt, quota * mss)?;
    let fin = tcb.snd.fin_queued && end == tcb.snd.write_seq + 1;
    let len = (end - nxt) - u32::from(fin);
    if len <= mss || tcb.rec.ca_state >= CaState::Recovery {
        return None;
    }
    // The last write was recent: tcp_wstamp_ns, here when the newest segment left. Linux
    // sends once more than 1 ms passed; at exactly 1 ms (a tie only virtual time makes) it
    // sends too, as the kernel does under packetdrill, which is always a few µs late.
    let last = tcb.rec.rtx.back()?.sent;
    if now.as_nanos() as i64 - last.as_nanos() as i64 - NSEC_PER_MSEC >= 0 {
        return None;
    }
    let cwnd = tcb.cwnd.cwnd;
    let send_win = tcb.snd.wnd_room(nxt);
    let cong_win = cwnd.saturating_sub(tcb.rec.in_flight()) * mss;
    let limit = send_win.min(cong_win);
    if limit >= max_segs * mss || (!is_tail && limit >= len) {
        return None;
    }
    let chunk_sends = match u32::from(sysctl.tcp_tso_win_divisor) {
        0 => limit > 3 * mss,
        d => limit >= tcb.snd.wnd.min(cwnd * mss) / d,
    };
    if chunk_sends {
        return None;
    }
    let head = tcb.rec.rtx.front()?.sent;
    let srtt_ns = 125 * i64::from(tcb.rtt.srtt_us);
    let how_far_is_the_ack = head.as_nanos() as i64 + srtt_ns - now.as_nanos() as i64;
    if how_far_is_the_ack - (srtt_ns >> 1).min(NSEC_PER_MSEC) > 0 {
        return None;
    }
    if cong_win < send_win {
        if cong_win <= len {
            return Some(true);
        }
    } else if send_win <= len {
        return Some(false);
    }
    (!fin).then_some(false)
}

/// `tcp_schedule_loss_probe`: with SACK, in Open or CWR, and no probe outstanding, the
/// tail loss probe replaces the RTO timer: two smoothed RTTs (plus `rto_min` with a single
/// segment out, for the peer's delayed ACK; 1 s without an RTT sample), but never later than
/// the RTO would fire (`advancing_rto`: a whole RTO from now). Returns whether it was armed.
pub(crate) fn tcp_schedule_loss_probe(
    cx: &mut Ctx,
    now: Instant,
    sk: SockId,
    tcb: &mut Tcb,
    advancing_rto: bool,
) -> bool {
    let rec = &tcb.rec;
    if !matches!(cx.sysctl.tcp_early_retrans, 3 | 4)
        || rec.tlp_high_seq.is_some()
        || rec.packets_out() == 0
        || !tcb.sack_ok
        || !matches!(rec.ca_state, CaState::Open | CaState::Cwr)
    {
        return false;
    }
    let mut timeout = if tcb.rtt.srtt_us != 0 {
        let two_srtt = Duration::from_millis(u64::from(tcb.rtt.srtt_us >> 2).div_ceil(1000));
        two_srtt
            + if rec.packets_out() == 1 {
                cx.rto_min()
            } else {
                TCP_TIMEOUT_MIN
            }
    } else {
        Duration::from_secs(1)
    };
    let rto_delta = if advancing_rto {
        Some(tcb.rtt.rto)
    } else {
        rec.rtx
            .front()
            .map(|h| (h.sent + tcb.rtt.rto).saturating_duration_since(now))
    };
    if let Some(d) = rto_delta.filter(|d| !d.is_zero()) {
        timeout = timeout.min(d);
    }
    cx.cancel_timer(tcb, TcpTimer::Retransmit);
    cx.arm_timer(tcb, sk, TcpTimer::LossProbe, now + timeout);
    true
}

/// `tcp_rearm_rto`: the RTO timer runs a whole RTO from now while anything is in flight
/// (in place of a loss probe), and stops when nothing is.
pub(crate) fn tcp_rearm_rto(cx: &mut Ctx, now: Instant, sk: SockId, tcb: &mut Tcb) {
    cx.cancel_timer(tcb, TcpTimer::LossProbe);
    if tcb.rec.packets_out() == 0 {
        cx.cancel_timer(tcb, TcpTimer::Retransmit);
    } else {
        let rto = tcb.rtt.rto;
        cx.arm_timer(tcb, sk, TcpTimer::Retransmit, now + rto);
    }
}

/// `tcp_send_loss_probe`: the probe timer fired. New data goes if the window has room for
/// it (one segment, whatever the congestion window says); otherwise the last segment in
/// flight is sent again (not counted as a retransmission in flight). Either way the probe is
/// outstanding until `snd_nxt` is acknowledged (`tlp_high_seq`), and the RTO timer runs.
pub(crate) fn tcp_send_loss_probe(cx: &mut Ctx, now: Instant, sk: SockId, socket: &mut Socket) {
    let mss = u32::from(socket.mss_cache()).max(1);
    let Some(tcb) = socket.tcb_mut() else { return };
    if tcb.rec.tlp_high_seq.is_none() {
        tcb.rec.tlp_retrans = false;
        let seq = tcb.snd.nxt;
        let unsent = tcb.snd.unsent_from(seq);
        let room = tcb.snd.wnd_room(seq);
        let sent = if unsent > 0 && room >= unsent.min(mss) {
            let len = unsent.min(mss);
            let last = seq + len == tcb.snd.write_seq;
            let fin = last && tcb.snd.fin_queued;
            let mut flags = TcpFlags::ACK;
            if last && tcb.snd.push_mark {
                flags |= TcpFlags::PSH;
            }
            if fin {
                flags |= TcpFlags::FIN;
            }
            let sent = tcp_transmit(cx, now, socket, seq, len, flags);
            if let (true, Some(tcb)) = (sent, socket.tcb_mut()) {
                tcp_event_new_data_sent(cx, now, sk, tcb, seq, seq + len + u32::from(fin));
                tcb.snd.skbs.sent(seq, tcb.snd.nxt);
            }
            sent
        } else if let Some(&last) = tcb.rec.rtx.back() {
            let (seq, len, flags) = resend_shape(tcb, last, tcb.snd.push_mark);
            let sent = tcp_transmit(cx, now, socket, seq, len, flags);
            if let (true, Some(tcb)) = (sent, socket.tcb_mut()) {
                cx.mib.inc(Counter::TcpRetransSegs);
                let i = tcb.rec.rtx.len() - 1;
                tcb.rec.rtx[i].sacked |= crate::tcp::tcp_recovery::EVER_RETRANS;
                tcb.rec.rtx[i].sent = now;
                tcb.rec.total_retrans += 1;
                tcb.rec.tlp_retrans = true;
            }
            sent
        } else {
            false
        };
        if sent {
            let Some(tcb) = socket.tcb_mut() else { return };
            tcb.rec.tlp_high_seq = Some(tcb.snd.nxt);
            cx.mib.inc(Counter::TcpExtTCPLossProbes);
        }
    }
    if let Some(tcb) = socket.tcb_mut() {
        tcp_rearm_rto(cx, now, sk, tcb);
    }
}

/// What a probe (`tcp_write_wakeup`) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wakeup {
    /// A segment of the waiting data went.
    Sent,
    /// The window had no room: the zero-window probe went (an ACK one below `snd_una`).
    Probed,
    /// The device queue dropped it (local congestion, `NET_XMIT_DROP`).
    Dropped,
}

/// `tcp_write_wakeup`: the probe timer found data waiting with nothing in flight. Room in
/// the peer's window: one segment of it (at most the MSS and the window) goes now, with
/// PSH, whatever Nagle or a cork says; none: the zero-window probe (`tcp_xmit_probe_skb`).
pub(crate) fn tcp_write_wakeup(cx: &mut Ctx, now: Instant, sk: SockId, socket: &mut Socket) -> Wakeup {
    let mss = u32::from(socket.mss_cache()).max(1);
    let Some(tcb) = socket.tcb() else { return Wakeup::Probed };
    let seq = tcb.snd.nxt;
    let room = tcb.snd.wnd_room(seq);
    let len = tcb.snd.unsent_from(seq).min(mss).min(room);
    if len == 0 {
        let probe = tcb.snd.una - 1;
        return match tcp_transmit(cx, now, socket, probe, 0, TcpFlags::ACK) {
            true => Wakeup::Probed,
            false => Wakeup::Dropped,
        };
    }
    let fin = tcb.snd.fin_queued && seq + len == tcb.snd.write_seq;
    let flags = TcpFlags::ACK | TcpFlags::PSH | if fin { TcpFlags::FIN } else { TcpFlags::NONE };
    if !tcp_transmit(cx, now, socket, seq, len, flags) {
        return Wakeup::Dropped;
    }
    if let Some(tcb) = socket.tcb_mut() {
        tcp_event_new_data_sent(cx, now, sk, tcb, seq, seq + len + u32::from(fin));
        tcb.snd.skbs.sent(seq, tcb.snd.nxt);
    }
    Wakeup::Sent
}

/// A segment of the scoreboard sent again: from `snd_una` if it was partly acknowledged,
/// its data, PSH (if `push`) when that data ends what was written, FIN if it held it.
fn resend_shape(tcb: &Tcb, s: TxSeg, push: bool) -> (SeqNum, u32, TcpFlags) {
    let seq = s.seq.max(tcb.snd.una);
    let data_end = if s.end.after(tcb.snd.write_seq) {
        tcb.snd.write_seq
    } else {
        s.end
    };
    let len = data_end - seq;
    let mut flags = TcpFlags::ACK;
    if push && len > 0 && data_end == tcb.snd.write_seq {
        flags |= TcpFlags::PSH;
    }
    if tcb.snd.fin_queued && s.end == tcb.snd.write_seq + 1 {
        flags |= TcpFlags::FIN;
    }
    (seq, len, flags)
}

/// `tcp_xmit_retransmit_queue`: sends again, oldest first, the segments marked lost and
/// not yet resent, while the congestion window allows (`tcp_retransmit_skb`). A resent
/// segment carries PSH only if it ends what was written, FIN if it held it; Karn's rule
/// stops the RTT timing; the head's resend restarts the RTO timer.
pub(crate) fn tcp_xmit_retransmit_queue(cx: &mut Ctx, now: Instant, sk: SockId, socket: &mut Socket) {
    loop {
        let Some(tcb) = socket.tcb() else { return };
        let Some(i) = tcb.rec.next_to_retransmit() else { return };
        if tcb.rec.in_flight() >= tcb.cwnd.cwnd {
            return;
        }
        let s = tcb.rec.rtx[i];
        let (seq, len, flags) = resend_shape(tcb, s, true);
        let slow_start = tcb.rec.ca_state == CaState::Loss;
        if !tcp_transmit(cx, now, socket, seq, len, flags) {
            return;
        }
        cx.mib.inc(Counter::TcpRetransSegs);
        cx.mib.inc(if slow_start {
            Counter::TcpExtTCPSlowStartRetrans
        } else {
            Counter::TcpExtTCPFastRetrans
        });
        let Some(tcb) = socket.tcb_mut() else { return };
        tcb.snd.skbs.split_at(seq);
        tcb.snd.skbs.split_at(s.end);
        tcb.rec.mark_retransmitted(i, now);
        if tcb.rec.in_cwnd_reduction() {
            tcb.rec.prr_out += 1;
        }
        tcb.rtt.timed = None;
        if tcb.rtt.retrans_stamp.is_none() {
            tcb.rtt.retrans_stamp = Some(tcp_clock_ms(now));
        }
        if i == 0 && tcb.timers[TcpTimer::Reorder].is_none() {
            let rto = tcb.rtt.rto;
            cx.arm_timer(tcb, sk, TcpTimer::Retransmit, now + rto);
        }
    }
}

/// `tcp_event_new_data_sent` + `tcp_event_data_sent`: segment `[seq, end)` left for the
/// first time: `snd_nxt` moves on, the scoreboard records it (`packets_out`), the RTO timer
/// runs while anything is in flight, one sequence number is timed at a time, a send after
/// an idle connection tells congestion control (`CA_EVENT_TX_START`), and a reply soon after
/// the peer's data counts as ping-pong.
pub(crate) fn tcp_event_new_data_sent(cx: &mut Ctx, now: Instant, sk: SockId, tcb: &mut Tcb, seq: SeqNum, end: SeqNum) {
    let now_ms = tcp_clock_ms(now);
    let prior_packets = tcb.rec.packets_out();
    if prior_packets == 0 {
        tcb.ca.on_tx_start(now_ms, tcb.snd.lsndtime_ms);
    }
    tcb.snd.lsndtime_ms = now_ms;
    tcb.snd.nxt = end;
    tcb.rec.on_transmit(seq, end, now);
    if tcb.rec.in_cwnd_reduction() {
        tcb.rec.prr_out += 1;
    }
    if tcb.rtt.timed.is_none() && tcb.rtt.retransmits == 0 {
        tcb.rtt.timed = Some((tcb.snd.nxt, now));
    }
    if tcb.ack.ato_ms != 0 && now_ms.wrapping_sub(tcb.ack.lrcvtime_ms) < tcb.ack.ato_ms {
        tcb.ack.pingpong = tcb.ack.pingpong.saturating_add(1);
    }
    if prior_packets == 0 || tcb.timers[TcpTimer::LossProbe].is_some() || tcb.timers[TcpTimer::Retransmit].is_none() {
        tcp_rearm_rto(cx, now, sk, tcb);
    }
}

/// The reset Linux's `tcp_v4_send_reset` answers `seg` with, or `None` for a reset (never a
/// RST in answer to a RST). With ACK set, the reset takes its sequence number from the
/// segment's acknowledgment and carries no ACK; otherwise it has sequence 0 and acknowledges
/// everything the segment occupied (payload, SYN and FIN). Window 0, no options.
pub fn tcp_v4_send_reset<'a>(seg: &TcpRepr<'_>) -> Option<TcpRepr<'a>> {
    if seg.flags.rst() {
        return None;
    }
    let (seq, ack, flags) = if seg.flags.ack() {
        (seg.ack, 0, TcpFlags::RST)
    } else {
        (
            0,
            seg.seq.wrapping_add(seg.segment_len() as u32),
            TcpFlags::RST | TcpFlags::ACK,
        )
    };
    Some(TcpRepr {
        src_port: seg.dst_port,
        dst_port: seg.src_port,
        seq,
        ack,
        flags,
        window: 0,
        urgent: 0,
        options: TcpOptions::default(),
        payload: &[],
    })
}

/// Answers `seg` (carried by `ip`) with `tcp_v4_send_reset`'s reset, if any: from the
/// address it was sent to, with the incoming TOS without its ECN bits (Linux's control
/// socket).
pub(crate) fn reply_reset(cx: &mut Ctx, ip: &Ipv4Repr, seg: &TcpRepr<'_>) {
    if let Some(rst) = tcp_v4_send_reset(seg) {
        if cx.send_segment(ip.dst_addr, ip.src_addr, (ip.tos & !0b11, 0), &rst) {
            cx.mib.inc(Counter::TcpOutRsts);
        }
    }
}

/// What [`tcp_write_xmit`] can send next from `snd_nxt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// A segment of `len` bytes, with the FIN if `fin`.
    Send { len: u32, fin: bool },
    /// Data waits on a window of zero.
    ZeroWindow,
    /// Nothing to send, or it waits (congestion window, Nagle, a window too small).
    Wait,
}

/// The segment that would leave at `snd_nxt`: at most the send MSS, the room left in the
/// peer's window and within the congestion window (in segments). A segment shorter than
/// the MSS waits while an earlier short one is in flight unless TCP_NODELAY is set or it
/// ends with the FIN (`tcp_nagle_test`, Minshall's rule); one the window cut short waits for
/// it to open (`tcp_snd_wnd_test`).
fn next_segment(tcb: &crate::tcp::tcb::Tcb, snd_nxt: SeqNum, mss: u32, nagle: Nagle) -> Next {
    let unsent = tcb.snd.unsent_from(snd_nxt);
    let fin_due = tcb.snd.fin_queued && snd_nxt == tcb.snd.write_seq;
    if unsent == 0 {
        return if fin_due {
            Next::Send { len: 0, fin: true }
        } else {
            Next::Wait
        };
    }
    // tcp_cwnd_test: packets in flight, with the one being built when looking ahead.
    let in_flight = snd_nxt - tcb.snd.una;
    if tcb.rec.in_flight() + u32::from(snd_nxt != tcb.snd.nxt) >= tcb.cwnd.cwnd {
        return Next::Wait;
    }
    let room = tcb.snd.wnd_room(snd_nxt);
    let len = unsent.min(mss).min(room);
    if len == 0 {
        return if in_flight == 0 { Next::ZeroWindow } else { Next::Wait };
    }
    let last = len == unsent;
    let fin = last && tcb.snd.fin_queued;
    // tcp_nagle_test: a short segment the window cut waits while data is in flight; a short
    // last one waits while corked, or (tcp_minshall_check) while an earlier short one is
    // unacknowledged — unless pushed or carrying the FIN.
    let small_in_flight = tcb.snd.sml.after(tcb.snd.una) && !tcb.snd.sml.after(snd_nxt);
    if len < mss && in_flight > 0 && !last {
        return Next::Wait;
    }
    if len < mss && last && !fin && !nagle.push && (nagle.cork || (!nagle.off && in_flight > 0 && small_in_flight)) {
        return Next::Wait;
    }
    Next::Send { len, fin }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_never_shrinks_rounds_up_to_the_scale_and_past_half_the_buffer_ends_quick_acks() {
        use crate::tcp::tcb::skb_truesize;
        // A buffer of 131072 bytes: a window of 65536 at the default ratio (half).
        let mut t = Tcb::new(SeqNum(0), SeqNum(1000));
        t.rcv.window_clamp = 64240;
        t.rcv.ssthresh = 64240;
        t.rcv.wscale = 10;
        t.ack.rcv_mss = 1000;
        assert_eq!(tcp_select_window(&mut t, 131072, false), 63);
        assert_eq!(t.rcv.wnd, 63 * 1024);
        // 4000 bytes in one skb of truesize 8448: (131072 - 8448) / 2 = 61312 free, rounded
        // up; the right edge offered before stays.
        t.rcv.buf.extend(std::iter::repeat_n(0, 4000));
        t.rcv.nxt += 4000;
        let nxt = t.rcv.nxt;
        t.rcv.charge(nxt, skb_truesize(4040));
        assert_eq!(tcp_select_window(&mut t, 131072, false), 60);
        assert!((t.rcv.wup + t.rcv.wnd).0 >= 1000 + 63 * 1024);
        // Less than half the buffer's window free (31312): quick-ACK mode ends, the space is
        // rounded down to the scale.
        t.ack.quick = 5;
        t.rcv.charge(nxt, 60_000);
        assert_eq!(tcp_free_window(&mut t, 131072, false), 30 * 1024);
        assert_eq!(t.ack.quick, 0);
        // Under memory pressure rcv_ssthresh also closes to four segments
        // (tcp_adjust_rcv_ssthresh), and the window with it.
        assert_eq!(tcp_free_window(&mut t, 131072, true), 3 * 1024);
        assert_eq!(t.rcv.ssthresh, 4 * 536);
        // Read, the buffer is free again.
        t.rcv.buf.clear();
        t.rcv.free_read();
        assert_eq!(t.rcv.rmem(), 0);
    }

    #[test]
    fn tcp_tso_autosize_packs_about_a_millisecond_at_the_pacing_rate() {
        let mut sysctl = Sysctl::default();
        let mut t = Tcb::new(SeqNum(1000), SeqNum(0));
        let ms = |n| Duration::from_millis(n);
        // No RTT sample yet: an unbounded pacing rate, a packet as big as GSO allows.
        assert_eq!(tcp_tso_segs(&sysctl, &t, 1000), 65);
        // 100 ms: 200 % of 10 × 1000 B per 0.1 s is 195 B a millisecond: the floor of 2.
        t.rtt.sample(ms(100), ms(200), ms(120_000));
        assert_eq!(tcp_tso_segs(&sysctl, &t, 1000), 2);
        sysctl.tcp_min_tso_segs = 4;
        assert_eq!(tcp_tso_segs(&sysctl, &t, 1000), 4);
        // A close peer (1 ms minimum RTT) gets half of GSO_MAX_SIZE on top.
        let mut near = Tcb::new(SeqNum(1000), SeqNum(0));
        near.rtt.sample(ms(1), ms(200), ms(120_000));
        assert_eq!(tcp_tso_segs(&sysctl, &near, 1000), 52, "(19 531 + 32 768) B");
    }

    fn seg(flags: TcpFlags, payload: &'static [u8]) -> TcpRepr<'static> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: 1000,
            ack: 5000,
            flags,
            window: 100,
            payload,
            ..Default::default()
        }
    }

    #[test]
    fn reset_to_syn_acknowledges_the_syn() {
        let rst = tcp_v4_send_reset(&seg(TcpFlags::SYN, b"")).unwrap();
        assert_eq!((rst.src_port, rst.dst_port), (80, 40000));
        assert_eq!((rst.seq, rst.ack, rst.flags), (0, 1001, TcpFlags::RST | TcpFlags::ACK));
        assert_eq!(rst.window, 0);
    }

    #[test]
    fn reset_to_ack_takes_its_sequence_from_the_ack() {
        let rst = tcp_v4_send_reset(&seg(TcpFlags::ACK | TcpFlags::PSH, b"data")).unwrap();
        assert_eq!((rst.seq, rst.ack, rst.flags), (5000, 0, TcpFlags::RST));
    }

    #[test]
    fn reset_to_data_and_fin_without_ack_covers_both() {
        let rst = tcp_v4_send_reset(&seg(TcpFlags::FIN, b"abc")).unwrap();
        assert_eq!(rst.ack, 1004);
        let wrap = TcpRepr {
            seq: u32::MAX,
            ..seg(TcpFlags::SYN, b"")
        };
        assert_eq!(tcp_v4_send_reset(&wrap).unwrap().ack, 0);
    }

    #[test]
    fn never_a_reset_for_a_reset() {
        assert_eq!(tcp_v4_send_reset(&seg(TcpFlags::RST, b"")), None);
        assert_eq!(tcp_v4_send_reset(&seg(TcpFlags::RST | TcpFlags::ACK, b"")), None);
    }
}
