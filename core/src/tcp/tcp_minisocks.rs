//! Segments for a pending request (spec §5): `tcp_check_req` in Linux's
//! `net/ipv4/tcp_minisocks.c`, the child it creates (`tcp_v4_syn_recv_sock`,
//! `tcp_create_openreq_child`), its move to the accept queue (`inet_csk_complete_hashdance`)
//! and its first segment (`tcp_child_process`).

use std::net::SocketAddrV4;

use synq_wire::{Ipv4Repr, TcpFlags, TcpOptions, TcpRepr, Timestamp};

use crate::base::mib::Counter;
use crate::base::seq::{after, before, between, tcp_in_window, SeqNum};
use crate::base::time::tcp_clock_ms;
use crate::base::time::{Duration, Instant};
use crate::inet::bind_table::Owner;
use crate::inet::bind_table::{insert_time_wait, remove_time_wait};
use crate::inet::ehash::EhashEntry;
use crate::inet::request_sock::{RequestId, RequestSock};
use crate::inet::socket::{SockId, SockKind, Socket, SocketTable, TcpState};
use crate::inet::time_wait::{TimeWaitId, TimeWaitSock, TwConn, TCP_TIMEWAIT_LEN};
use crate::inet::tuple::FourTuple;
use crate::tcp::calls::{tcp_done, tcp_set_state};
use crate::tcp::ctx::{Ctx, Tables, Timer};
use crate::tcp::tcb::Tcb;
use crate::tcp::tcp_input::rate_limited;
use crate::tcp::tcp_input::tcp_sndbuf_expand;
use crate::tcp::tcp_input::{tcp_rcv_synchronized, tcp_rcv_synsent_state_process, Disposition};
use crate::tcp::tcp_output::reply_reset;
use crate::tcp::tcp_timer::tcp_reset_keepalive_timer;

/// `tcp_check_req` (L26, L27, L41–L45) for a segment whose 4-tuple names request `id`.
/// Returns false when the request's listener is gone (L40): the request was dropped and
/// the caller looks the segment up again.
pub(crate) fn tcp_check_req(
    cx: &mut Ctx,
    tables: &mut Tables,
    now: Instant,
    id: RequestId,
    ip: &Ipv4Repr,
    seg: &TcpRepr<'_>,
) -> bool {
    let Some(req) = tables.requests.get(id).cloned() else {
        return true;
    };
    if !request_listener_alive(&tables.sockets, &req) {
        drop_request(cx, tables, id);
        return false;
    }
    let f = seg.flags;
    let ts = seg.options.timestamp.filter(|_| req.has(RequestSock::TSTAMP_OK));
    // Step 1: PAWS against ts_recent (a RST is exempt), and the TSecr check.
    let mut paws_reject = false;
    let mut tsecr_reject = false;
    if let Some(t) = ts {
        paws_reject = !f.rst() && (req.ts_recent.wrapping_sub(t.tsval) as i32) > 0;
        if t.tsecr != 0 {
            tsecr_reject = !between(t.tsecr, req.snt_tsval_first, req.snt_tsval_last);
        }
    }
    // Step 2: a pure retransmission of the SYN (L26).
    if seg.seq == req.rcv_isn && !f.ack() && !f.rst() && f.syn() && !paws_reject {
        if !oow_rate_limited(cx, tables, now, id, seg) {
            rtx_synack(cx, tables, now, id);
            let req = tables.requests.get_mut(id).expect("request");
            if let Some(t) = req.timer.take() {
                cx.timers.cancel(t);
                let deadline = now + req.timeout();
                req.timer = Some(cx.timers.insert(deadline, Timer::SynAck(id)));
            }
        }
        return true;
    }
    // Step 3: an ACK of something we did not send: the listener answers with a reset.
    if f.ack() && seg.ack != req.snt_isn.wrapping_add(1) {
        reply_reset(cx, ip, seg);
        return true;
    }
    // Step 4: outside the window (or PAWS/TSecr rejected): an ACK for the request.
    let window = req.rcv_wnd.min(u32::from(u16::MAX));
    let end_seq = seg.seq.wrapping_add(seg.segment_len() as u32);
    if paws_reject
        || tsecr_reject
        || !tcp_in_window(seg.seq, end_seq, req.rcv_nxt(), req.rcv_nxt().wrapping_add(window))
    {
        if !f.rst() && !oow_rate_limited(cx, tables, now, id, seg) {
            reqsk_send_ack(cx, tables, now, &req);
        }
        if paws_reject {
            cx.mib.inc(Counter::TcpExtPAWSEstab);
        } else if tsecr_reject {
            cx.mib.inc(Counter::TcpExtTSEcrRejected);
        }
        return true;
    }
    // Step 5: ts_recent.
    if let Some(t) = ts {
        if !after(seg.seq, req.rcv_nxt()) {
            tables.requests.get_mut(id).expect("request").ts_recent = t.tsval;
        }
    }
    // Step 6: a SYN at the window's left edge is the old SYN.
    let syn = f.syn() && seg.seq != req.rcv_isn;
    // Step 7: RST or a new SYN kill the request (a SYN also gets a reset).
    if f.rst() || syn {
        cx.mib.inc(Counter::TcpAttemptFails);
        return embryonic_reset(cx, tables, id, ip, seg);
    }
    // Step 8.
    if !f.ack() {
        return true;
    }
    // Step 9: TCP_DEFER_ACCEPT holds a bare ACK back (L27).
    let l = tables.sockets.get(req.listener).expect("alive listener");
    if req.num_timeout < l.defer_accept && end_seq == req.rcv_isn.wrapping_add(1) {
        tables.requests.get_mut(id).expect("request").flags |= RequestSock::ACKED;
        cx.mib.inc(Counter::TcpExtTCPDeferAcceptDrop);
        return true;
    }
    // Step 10: the child, or the overflow path (L45).
    let req = tables.requests.get(id).cloned().expect("request");
    let rtt =
        (req.num_retrans == 0).then(|| crate::base::time::ms_since(now, req.snt_tsval_first.wrapping_sub(req.ts_off)));
    let Some(child) = syn_recv_sock(cx, tables, now, &req, rtt) else {
        if cx.sysctl.tcp_abort_on_overflow == 0 {
            tables.requests.get_mut(id).expect("request").flags |= RequestSock::ACKED;
            return true;
        }
        return embryonic_reset(cx, tables, id, ip, seg);
    };
    // Step 11: the request leaves the SYN queue, the child took its place in the
    // established hash (inet_csk_complete_hashdance).
    drop_request(cx, tables, id);
    child_process(cx, tables, now, child, ip, seg);
    true
}

/// `embryonic_reset`: a reset unless the segment is one, and the request removed.
fn embryonic_reset(cx: &mut Ctx, tables: &mut Tables, id: RequestId, ip: &Ipv4Repr, seg: &TcpRepr<'_>) -> bool {
    if !seg.flags.rst() {
        reply_reset(cx, ip, seg);
    }
    if drop_request(cx, tables, id).is_some() {
        cx.mib.inc(Counter::TcpExtEmbryonicRsts);
    }
    true
}

/// `tcp_oow_rate_limited` with the request's `last_oow_ack_time`: at most one answer per
/// `tcp_invalid_ratelimit` ms to out-of-window segments (data without SYN always passes).
fn oow_rate_limited(cx: &mut Ctx, tables: &mut Tables, now: Instant, id: RequestId, seg: &TcpRepr<'_>) -> bool {
    if !seg.payload.is_empty() && !seg.flags.syn() {
        return false;
    }
    let limit = cx.sysctl.tcp_invalid_ratelimit.max(0) as u32;
    let req = tables.requests.get_mut(id).expect("request");
    if rate_limited(&mut req.last_oow_ack_ms, now, limit) {
        cx.mib.inc(Counter::TcpExtTCPACKSkippedSynRecv);
        return true;
    }
    false
}

/// `tcp_v4_reqsk_send_ack`: seq = snt_isn + 1, ack = rcv_nxt, our window scaled by our
/// shift, timestamps if in use.
fn reqsk_send_ack(cx: &mut Ctx, _tables: &mut Tables, now: Instant, req: &RequestSock) {
    send_mini_ack(
        cx,
        now,
        (req.tuple(), req.snt_isn.wrapping_add(1), req.rcv_nxt()),
        req.rcv_wnd >> req.rcv_wscale,
        req.has(RequestSock::TSTAMP_OK).then_some((req.ts_off, req.ts_recent)),
    );
}

/// A bare ACK from a mini-socket (request or TIME_WAIT; Linux's control socket): for
/// `(tuple, seq, ack)`, with the (unscaled) window and, when timestamps are in use, our
/// clock plus `ts_off` echoing `ts_recent`.
fn send_mini_ack(
    cx: &mut Ctx,
    now: Instant,
    (t, seq, ack): (FourTuple, u32, u32),
    window: u32,
    ts: Option<(u32, u32)>,
) {
    let seg = TcpRepr {
        src_port: t.local_port,
        dst_port: t.remote_port,
        seq,
        ack,
        flags: TcpFlags::ACK,
        window: window.min(u32::from(u16::MAX)) as u16,
        urgent: 0,
        options: TcpOptions {
            timestamp: ts.map(|(ts_off, ts_recent)| Timestamp {
                tsval: tcp_clock_ms(now).wrapping_add(ts_off),
                tsecr: ts_recent,
            }),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    cx.send_segment(t.local_addr, t.remote_addr, (0, 0), &seg);
}

/// `tcp_v4_syn_recv_sock` + `tcp_create_openreq_child` + `inet_csk_reqsk_queue_add`
/// (L44, L46): the child socket for `req`, cloned from the listener, on the listener's
/// accept queue; `None` (ListenOverflows, ListenDrops) when the queue is full.
pub(crate) fn syn_recv_sock(
    cx: &mut Ctx,
    tables: &mut Tables,
    now: Instant,
    req: &RequestSock,
    rtt: Option<Duration>,
) -> Option<SockId> {
    let listener = req.listener;
    let l = tables.sockets.get(listener).ok()?;
    if l.listen_queue().is_none_or(|q| q.accept_queue.is_full(q.backlog)) {
        cx.mib.inc(Counter::TcpExtListenOverflows);
        cx.mib.inc(Counter::TcpExtListenDrops);
        return None;
    }
    let mut child = Socket::new(l.creds, false);
    child.options = l.options;
    child.state = TcpState::SynRecv;
    child.rcv_saddr = req.loc_addr;
    child.num = req.loc_port;
    child.sport = req.loc_port;
    child.bind_addr_lock = l.bind_addr_lock;
    child.bind_port_lock = l.bind_port_lock;
    child.peer = Some(SocketAddrV4::new(req.rmt_addr, req.rmt_port));
    child.parent = Some(listener);
    // inet_id: Linux draws it at random (get_random_u16); the child's secret ISN serves.
    child.inet_id = (req.snt_isn ^ (req.snt_isn >> 16)) as u16;
    let mut tcb = tables
        .tcb_pool
        .take(Tcb::new(SeqNum(req.snt_isn), SeqNum(req.rcv_nxt())));
    // tcp_ca_openreq_child: the listener's TCP_CONGESTION, else the sysctl's.
    tcb.set_congestion(cx.sysctl, l.options.congestion);
    tcb.rcv.wnd = req.rcv_wnd;
    tcb.rcv.ssthresh = req.rcv_wnd;
    tcb.rcv.window_clamp = req.window_clamp;
    tcb.mss_clamp = req.mss;
    tcb.advmss = req.advmss;
    tcb.snd.wscale = if req.has(RequestSock::WSCALE_OK) {
        req.snd_wscale
    } else {
        0
    };
    tcb.rcv.wscale = req.rcv_wscale;
    tcb.tstamp_ok = req.has(RequestSock::TSTAMP_OK);
    tcb.ts_recent = req.ts_recent;
    tcb.ts_off = req.ts_off;
    tcb.sack_ok = req.has(RequestSock::SACK_OK);
    tcb.ecn_ok = req.has(RequestSock::ECN_OK);
    // tcp_synack_rtt_meas: the SYN-ACK's round trip is the first RTT sample, unless it
    // was retransmitted (Karn) or never timed (a cookie); without one the RTO falls back
    // to 3 s (tcp_init_metrics).
    if let Some(rtt) = rtt {
        tcb.rtt.sample(rtt, cx.rto_min(), cx.rto_max());
    }
    tcb.init_receive(now, u32::from(req.advmss), child.options.rcvbuf);
    child.kind = SockKind::Conn(tcb);
    let sk = tables.sockets.insert_hidden(child);
    // __inet_inherit_port: the child holds the listener's port at its own address.
    tables.bind_table.insert(req.loc_port, req.loc_addr, Owner::Socket(sk));
    tables.ehash.replace(req.tuple(), EhashEntry::Socket(sk));
    cx.mib.inc(Counter::TcpPassiveOpens);
    // tcp_init_buffer_space (tcp_sndbuf_expand); an inherited SO_KEEPALIVE starts the
    // keepalive timer (tcp_create_openreq_child).
    if let Ok(child) = tables.sockets.get_mut(sk) {
        tcp_sndbuf_expand(cx, child);
        tcp_reset_keepalive_timer(cx, now, sk, child);
    }
    if let Some(q) = tables.sockets.get_mut(listener).ok().and_then(Socket::listen_queue_mut) {
        q.accept_queue.push(sk);
    }
    Some(sk)
}

/// `tcp_child_process` → `tcp_rcv_state_process` in SYN_RECV (L47): the acceptable ACK
/// synchronizes the child (`tcp_init_transfer`); then the segment is processed as on any
/// connection, so that data or a FIN it carries is queued and acknowledged.
pub(crate) fn child_process(
    cx: &mut Ctx,
    tables: &mut Tables,
    now: Instant,
    child: SockId,
    ip: &Ipv4Repr,
    seg: &TcpRepr<'_>,
) {
    let Ok(socket) = tables.sockets.get_mut(child) else {
        return;
    };
    let Some(tcb) = socket.tcb_mut() else { return };
    tcb.snd.una = SeqNum(seg.ack);
    tcb.snd.wnd = u32::from(seg.window) << tcb.snd.wscale;
    tcb.snd.wl1 = SeqNum(seg.seq);
    tcb.snd.max_window = tcb.snd.max_window.max(tcb.snd.wnd);
    tcp_set_state(&mut cx.mib, socket, TcpState::Established);
    // A bare ACK has nothing more to give (tcp_check_req took its timestamp).
    if !seg.payload.is_empty() || seg.flags.fin() {
        tcp_v4_do_rcv(cx, tables, now, child, ip, seg);
    }
}

/// `tcp_timewait_state_process` for an entry in TIME_WAIT: a bare ACK at `rcv_nxt` is
/// accepted quietly; a RST at `rcv_nxt` kills the entry (unless `tcp_rfc1337`); a SYN
/// with a higher sequence number (or newer timestamp) may open a new connection — false
/// is returned and the segment goes on to the listeners; any other segment without RST
/// (a retransmitted FIN, old data) restarts the 60 s and is answered with an ACK
/// (`tcp_v4_timewait_ack`), at most one per `tcp_invalid_ratelimit` for non-data.
pub(crate) fn tcp_timewait_state_process(
    cx: &mut Ctx,
    tables: &mut Tables,
    now: Instant,
    id: TimeWaitId,
    seg: &TcpRepr<'_>,
) -> bool {
    let Some(tw) = tables.time_waits.get(id).copied() else {
        return true;
    };
    let c = tw.conn;
    let f = seg.flags;
    let end_seq = seg.seq.wrapping_add(seg.segment_len() as u32);
    let ts = seg.options.timestamp.filter(|_| c.tstamp_ok);
    let paws_reject = ts.is_some_and(|t| before(t.tsval, c.ts_recent)) && !f.rst();
    if !paws_reject && seg.seq == c.rcv_nxt && (seg.seq == end_seq || f.rst()) {
        if f.rst() {
            if cx.sysctl.tcp_rfc1337 == 0 {
                tw_kill(cx, tables, id);
            }
        } else {
            tw_reschedule(cx, tables, now, id);
        }
        return true;
    }
    if f.syn() && !f.rst() && !f.ack() && !paws_reject && (after(seg.seq, c.rcv_nxt) || ts.is_some()) {
        // TCP_TW_SYN: the entry makes way for a new connection.
        tw_kill(cx, tables, id);
        return false;
    }
    if !f.rst() {
        if paws_reject {
            cx.mib.inc(Counter::TcpExtPAWSEstab);
        }
        if paws_reject || f.ack() {
            tw_reschedule(cx, tables, now, id);
        }
        // tcp_timewait_check_oow_rate_limit: data and FINs always get their ACK.
        let limit = cx.sysctl.tcp_invalid_ratelimit.max(0) as u32;
        let last = &mut tables.time_waits.get_mut(id).expect("live entry").conn.last_oow_ack_ms;
        if (seg.segment_len() == 0 || f.syn()) && rate_limited(last, now, limit) {
            cx.mib.inc(Counter::TcpExtTCPACKSkippedTimeWait);
            return true;
        }
        // tcp_v4_timewait_ack
        send_mini_ack(
            cx,
            now,
            (tw.tuple(), c.snd_nxt, c.rcv_nxt),
            c.rcv_wnd >> c.rcv_wscale,
            c.tstamp_ok.then_some((c.ts_off, c.ts_recent)),
        );
    }
    true
}

/// `inet_twsk_reschedule`: another `TCP_TIMEWAIT_LEN` from now.
fn tw_reschedule(cx: &mut Ctx, tables: &mut Tables, now: Instant, id: TimeWaitId) {
    let Some(tw) = tables.time_waits.get_mut(id) else {
        return;
    };
    tw.conn.expires_ms = tcp_clock_ms(now + TCP_TIMEWAIT_LEN);
    cx.tw_schedule(id, now + TCP_TIMEWAIT_LEN);
}

/// `inet_twsk_deschedule_put`: the entry dies before its time.
fn tw_kill(cx: &mut Ctx, tables: &mut Tables, id: TimeWaitId) {
    inet_twsk_kill(cx, tables, id);
}

/// `tcp_time_wait`: a TIME_WAIT mini-socket takes the connection's place in the established
/// hash and the bind table for `TCP_TIMEWAIT_LEN`; the socket is done.
pub(crate) fn tcp_time_wait(cx: &mut Ctx, tables: &mut Tables, now: Instant, sk: SockId) {
    let Ok(socket) = tables.sockets.get(sk) else { return };
    let (Some(tcb), Some(peer), Some(tuple)) = (socket.tcb(), socket.peer, socket.tuple()) else {
        return;
    };
    let tw = TimeWaitSock {
        local: SocketAddrV4::new(socket.rcv_saddr, socket.sport),
        remote: peer,
        reuse_addr: socket.options.reuse_addr,
        reuse_port: socket.options.reuse_port,
        uid: socket.creds.uid,
        conn: TwConn {
            rcv_nxt: tcb.rcv.nxt.0,
            snd_nxt: tcb.snd.nxt.0,
            rcv_wnd: tcb.rcv.wnd,
            rcv_wscale: tcb.rcv.wscale,
            tstamp_ok: tcb.tstamp_ok,
            ts_recent: tcb.ts_recent,
            ts_off: tcb.ts_off,
            last_oow_ack_ms: 0,
            entry_ms: tcp_clock_ms(now),
            expires_ms: tcp_clock_ms(now + TCP_TIMEWAIT_LEN),
        },
    };
    let id = insert_time_wait(&mut tables.time_waits, &mut tables.bind_table, tw);
    tables.ehash.replace(tuple, EhashEntry::TimeWait(id));
    cx.tw_schedule(id, now + TCP_TIMEWAIT_LEN);
    tcp_done(cx, tables, sk);
}

/// `tw_timer_handler` → `inet_twsk_kill`: a TIME_WAIT entry's time is up (or it makes way);
/// its 4-tuple and port are free.
pub(crate) fn inet_twsk_kill(cx: &mut Ctx, tables: &mut Tables, id: TimeWaitId) {
    let Some(tuple) = tables.time_waits.get(id).map(TimeWaitSock::tuple) else {
        return;
    };
    tables.ehash.remove(&tuple, EhashEntry::TimeWait(id));
    remove_time_wait(&mut tables.time_waits, &mut tables.bind_table, id);
    cx.mib.inc(Counter::TcpExtTW);
}

/// `inet_twsk_deschedule_put`: connect() recycles TIME_WAIT entry `id` (rule C14): its timer
/// stops and it is gone (TWRecycled, not counted as a TIME_WAIT that ran out).
pub(crate) fn inet_twsk_recycle(cx: &mut Ctx, tables: &mut Tables, id: TimeWaitId) {
    let Some(tw) = tables.time_waits.get(id) else { return };
    let tuple = tw.tuple();
    tables.ehash.remove(&tuple, EhashEntry::TimeWait(id));
    remove_time_wait(&mut tables.time_waits, &mut tables.bind_table, id);
    cx.mib.inc(Counter::TcpExtTWRecycled);
}

/// `tcp_v4_send_synack`: the request's SYN-ACK with TSval `tsval`, TOS 0.
pub(crate) fn send_synack(cx: &mut Ctx, req: &RequestSock, tsval: u32) -> bool {
    let synack = req.synack(tsval);
    cx.send_segment(req.loc_addr, req.rmt_addr, (0, 0), &synack)
}

/// `inet_rtx_syn_ack` / `tcp_rtx_synack`: the SYN-ACK again, with a fresh TSval.
pub(crate) fn rtx_synack(cx: &mut Ctx, tables: &mut Tables, now: Instant, id: RequestId) {
    let Some(req) = tables.requests.get_mut(id) else { return };
    let tsval = tcp_clock_ms(now).wrapping_add(req.ts_off);
    req.snt_tsval_last = tsval;
    req.num_retrans = req.num_retrans.saturating_add(1);
    let req = req.clone();
    if send_synack(cx, &req, tsval) {
        cx.mib.inc(Counter::TcpRetransSegs);
        cx.mib.inc(Counter::TcpExtTCPSynRetrans);
    }
}

/// True while the request's listener is the socket it arrived on and still listens.
pub(crate) fn request_listener_alive(sockets: &SocketTable, req: &RequestSock) -> bool {
    sockets
        .get(req.listener)
        .is_ok_and(|l| l.incarnation == req.listener_incarnation && l.state == TcpState::Listen)
}

/// Unlinks a request from the established hash and its listener's SYN queue
/// (`inet_csk_reqsk_queue_drop`), cancelling its timer.
pub(crate) fn drop_request(cx: &mut Ctx, tables: &mut Tables, id: RequestId) -> Option<RequestSock> {
    let req = tables.requests.remove(id)?;
    if let Some(t) = req.timer {
        cx.timers.cancel(t);
    }
    tables.ehash.remove(&req.tuple(), EhashEntry::Request(id));
    // The listener counts its requests for as long as it lives, listening or not.
    if let Ok(l) = tables.sockets.get_mut(req.listener) {
        if l.incarnation == req.listener_incarnation {
            l.syn_queue.removed(req.num_timeout);
        }
    }
    Some(req)
}

/// `tcp_v4_do_rcv` for connection `sk`: [`tcp_rcv_synchronized`], then what it decided for
/// the connection (`tcp_done`, `tcp_time_wait`).
pub(crate) fn tcp_v4_do_rcv(
    cx: &mut Ctx,
    tables: &mut Tables,
    now: Instant,
    sk: SockId,
    ip: &Ipv4Repr,
    seg: &TcpRepr<'_>,
) {
    let Ok(socket) = tables.sockets.get_mut(sk) else { return };
    let disposition = if socket.state == TcpState::SynSent {
        tcp_rcv_synsent_state_process(cx, now, sk, socket, ip, seg)
    } else {
        tcp_rcv_synchronized(cx, now, sk, socket, ip, seg)
    };
    if let Some(tcb) = socket.tcb_mut() {
        crate::tcp::sk_mem::sk_mem_account(cx, tcb);
    }
    match disposition {
        Disposition::Keep => {}
        Disposition::Done => tcp_done(cx, tables, sk),
        Disposition::TimeWait => tcp_time_wait(cx, tables, now, sk),
    }
}
