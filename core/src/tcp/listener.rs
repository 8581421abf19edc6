//! A segment for a listening socket (spec §2, §3, §4): the LISTEN state's flag filter, the
//! connection request (`tcp_conn_request`), SYN cookies in and out, and the request timer
//! (`reqsk_timer_handler`).

use synq_wire::{Ipv4Repr, TcpFlags, TcpRepr};

use crate::base::mib::Counter;
use crate::base::time::{tcp_clock_ms, Instant};
use crate::inet::ehash::EhashEntry;
use crate::inet::request_sock::{
    reqsk_timer_decision, RequestId, RequestSock, SynAckTimer, SynQueueLoad, TCP_TIMEOUT_INIT,
};
use crate::inet::socket::{SockId, SocketOptions};
use crate::inet::tuple::FourTuple;
use crate::tcp::ctx::{Ctx, Tables, Timer};
use crate::tcp::initial_window::{tcp_full_space, tcp_select_initial_window, TCPOLEN_TSTAMP_ALIGNED, TCP_MAX_WSCALE};
use crate::tcp::syncookies::{cookie_init_timestamp, cookie_timestamp_decode, CookieOptions};
use crate::tcp::tcb::TCP_MSS_DEFAULT;
use crate::tcp::tcp_connect::advmss;
use crate::tcp::tcp_minisocks::{
    child_process, drop_request, request_listener_alive, rtx_synack, send_synack, syn_recv_sock,
};
use crate::tcp::tcp_output::reply_reset;

/// `tcp_v4_do_rcv` and `tcp_rcv_state_process` for a socket in `TCP_LISTEN` (L11, L12): a
/// non-SYN ACK may be a SYN-cookie ACK; otherwise an ACK (also SYN-ACK) gets a reset, a
/// RST or SYN+FIN is dropped, a SYN is a connection request, anything else is dropped.
pub(crate) fn listen_rcv(
    cx: &mut Ctx,
    tables: &mut Tables,
    now: Instant,
    listener: SockId,
    tuple: &FourTuple,
    ip: &Ipv4Repr,
    seg: &TcpRepr<'_>,
) {
    let f = seg.flags;
    if !f.syn() && cookie_v4_check(cx, tables, now, listener, tuple, ip, seg) {
        return;
    }
    if f.ack() {
        reply_reset(cx, ip, seg);
    } else if f.syn() && !f.rst() && !f.fin() {
        tcp_conn_request(cx, tables, now, listener, tuple, ip, seg);
    }
}

/// `tcp_conn_request` (L13–L21, L30): the checks in Linux's order, then a request sock and
/// its SYN-ACK, or a cookie SYN-ACK and no state.
fn tcp_conn_request(
    cx: &mut Ctx,
    tables: &mut Tables,
    now: Instant,
    listener: SockId,
    tuple: &FourTuple,
    ip: &Ipv4Repr,
    seg: &TcpRepr<'_>,
) {
    if ip.dst_addr.is_broadcast() || ip.dst_addr.is_multicast() {
        cx.mib.inc(Counter::TcpExtListenDrops);
        return;
    }
    let syncookies = cx.sysctl.tcp_syncookies;
    let Ok(l) = tables.sockets.get_mut(listener) else {
        return;
    };
    let backlog = l.listen_queue().map_or(0, |q| q.backlog);
    let mut want_cookie = false;
    if syncookies == 2 || l.syn_queue.is_full(backlog) {
        // tcp_syn_flood_action
        let warn = syncookies != 2 && !std::mem::replace(&mut l.synflood_warned, true);
        if syncookies != 0 {
            want_cookie = true;
            cx.mib.inc(Counter::TcpExtTCPReqQFullDoCookies);
        }
        if warn {
            let what = if want_cookie {
                "Sending cookies"
            } else {
                "Dropping request"
            };
            tracing::warn!(
                "TCP: request_sock_TCP: Possible SYN flooding on port {}:{}. {what}.",
                tuple.local_addr,
                tuple.local_port
            );
        }
        if !want_cookie {
            cx.mib.inc(Counter::TcpExtTCPReqQFullDrop);
            cx.mib.inc(Counter::TcpExtListenDrops);
            return;
        }
    }
    let l = tables.sockets.get(listener).expect("listener looked up above");
    if l.listen_queue().is_some_and(|q| q.accept_queue.is_full(backlog)) {
        cx.mib.inc(Counter::TcpExtListenOverflows);
        cx.mib.inc(Counter::TcpExtListenDrops);
        return;
    }
    if !want_cookie && syncookies == 0 && l.syn_queue.over_max_syn_backlog(cx.sysctl.tcp_max_syn_backlog) {
        tracing::debug!(peer = %tuple.remote_addr, port = tuple.remote_port, "drop open request");
        cx.mib.inc(Counter::TcpExtListenDrops);
        return;
    }
    let (incarnation, lopts) = (l.incarnation, l.options);

    // tcp_parse_options on the SYN, as the sysctls allow; TCP_MAXSEG clamps the peer's MSS.
    let s = &cx.sysctl;
    let o = &seg.options;
    let mut mss = o.mss.filter(|&m| m != 0).unwrap_or(TCP_MSS_DEFAULT);
    if lopts.user_mss != 0 && o.mss.is_some_and(|m| m > lopts.user_mss) {
        mss = lopts.user_mss;
    }
    let tstamp = o.timestamp.filter(|_| s.tcp_timestamps != 0);
    let mut opts = CookieOptions {
        snd_wscale: o
            .window_scale
            .filter(|_| s.tcp_window_scaling != 0)
            .map(|w| w.min(TCP_MAX_WSCALE)),
        sack_ok: o.sack_permitted && s.tcp_sack != 0,
        // tcp_ecn_create_request: ECE+CWR on a not-ECT SYN, with tcp_ecn on.
        ecn_ok: seg.flags.contains(TcpFlags::ECE | TcpFlags::CWR) && ip.tos & 0b11 == 0 && s.tcp_ecn != 0,
    };
    if want_cookie && tstamp.is_none() {
        // tcp_clear_options: without timestamps a cookie carries the MSS only, no ECN.
        opts = CookieOptions::default();
    }
    let ts_off = match tstamp {
        Some(_) => cx
            .isn
            .secure_tcp_ts_off(s.tcp_timestamps, tuple.local_addr, tuple.remote_addr),
        None => 0,
    };
    let now_ms = tcp_clock_ms(now);
    let (snt_isn, tsval) = if want_cookie {
        let (cookie, cookie_mss) = cx.syncookies.cookie_v4_init_sequence(tuple.into(), seg.seq, mss, now);
        mss = cookie_mss;
        cx.mib.inc(Counter::TcpExtSyncookiesSent);
        tables
            .sockets
            .get_mut(listener)
            .expect("listener")
            .synq_overflow
            .note(now);
        (cookie, cookie_init_timestamp(opts, now_ms).wrapping_add(ts_off))
    } else {
        let isn = cx.isn.secure_tcp_seq(
            tuple.local_addr,
            tuple.remote_addr,
            tuple.local_port,
            tuple.remote_port,
            now,
        );
        (isn, now_ms.wrapping_add(ts_off))
    };
    let mut req = new_request(listener, incarnation, tuple, seg.seq, snt_isn);
    req.mss = mss;
    req.ts_off = ts_off;
    req.snt_tsval_first = tsval;
    req.snt_tsval_last = tsval;
    req.syn_tos = ip.tos;
    req.set_options(tstamp.map(|t| t.tsval), opts);
    tcp_openreq_init_rwin(cx, &mut req, &lopts);
    send_synack(cx, &req, tsval);
    if want_cookie {
        return; // no state kept (L14 step 14)
    }
    let id = tables.requests.insert(req);
    if !tables.ehash.insert(*tuple, EhashEntry::Request(id)) {
        tables.requests.remove(id);
        return;
    }
    let timer = cx.timers.insert(now + TCP_TIMEOUT_INIT, Timer::SynAck(id));
    tables.requests.get_mut(id).expect("just inserted").timer = Some(timer);
    tables.sockets.get_mut(listener).expect("listener").syn_queue.added();
}

/// A request for `tuple` with the peer's ISN and ours, everything else still to decide.
pub(crate) fn new_request(
    listener: SockId,
    listener_incarnation: u32,
    tuple: &FourTuple,
    rcv_isn: u32,
    snt_isn: u32,
) -> RequestSock {
    RequestSock {
        listener,
        listener_incarnation,
        loc_addr: tuple.local_addr,
        loc_port: tuple.local_port,
        rmt_port: tuple.remote_port,
        rmt_addr: tuple.remote_addr,
        rcv_isn,
        snt_isn,
        ts_recent: 0,
        ts_off: 0,
        snt_tsval_first: 0,
        snt_tsval_last: 0,
        rcv_wnd: 0,
        window_clamp: 0,
        mss: TCP_MSS_DEFAULT,
        advmss: 0,
        snd_wscale: 0,
        rcv_wscale: 0,
        flags: 0,
        num_timeout: 0,
        num_retrans: 0,
        syn_tos: 0,
        last_oow_ack_ms: 0,
        timer: None,
    }
}

/// `tcp_openreq_init_rwin` (L21): our MSS, window and shift from the listener's buffer;
/// a listener with SO_RCVBUF set clamps the window to its full space.
pub(crate) fn tcp_openreq_init_rwin(cx: &Ctx, req: &mut RequestSock, listener: &SocketOptions) {
    let full_space = tcp_full_space(listener.rcvbuf);
    req.advmss = advmss(cx.mtu, listener.user_mss);
    let mut mss = u32::from(req.advmss);
    if req.has(RequestSock::TSTAMP_OK) {
        mss -= TCPOLEN_TSTAMP_ALIGNED;
    }
    let clamp = if listener.rcvbuf_locked { full_space } else { 0 };
    let wscale_ok = req.has(RequestSock::WSCALE_OK);
    let w = tcp_select_initial_window(cx.sysctl, full_space, mss, clamp, wscale_ok, 0);
    req.rcv_wnd = w.rcv_wnd;
    req.window_clamp = w.window_clamp;
    req.rcv_wscale = w.rcv_wscale;
}

/// `reqsk_timer_handler` (L22–L24, L27): one expiry of a request's timer.
pub(crate) fn reqsk_timer_handler(cx: &mut Ctx, tables: &mut Tables, now: Instant, id: RequestId) {
    let Some(req) = tables.requests.get_mut(id) else { return };
    req.timer = None;
    let req = req.clone();
    if !request_listener_alive(&tables.sockets, &req) {
        drop_request(cx, tables, id); // L23 step 1: silently
        return;
    }
    let l = tables.sockets.get(req.listener).expect("alive listener");
    let load = SynQueueLoad {
        qlen: l.syn_queue.qlen,
        young: l.syn_queue.young,
        backlog: l.listen_queue().map_or(0, |q| q.backlog),
    };
    let defer_accept = l.defer_accept;
    let max_retries = match l.options.syn_retries {
        0 => cx.sysctl.tcp_synack_retries,
        n => n,
    };
    cx.mib.inc(Counter::TcpExtTCPTimeouts);
    let decision = reqsk_timer_decision(
        req.num_timeout,
        req.has(RequestSock::ACKED),
        max_retries,
        defer_accept,
        load,
    );
    match decision {
        SynAckTimer::Expire => {
            drop_request(cx, tables, id);
        }
        SynAckTimer::Rearm { resend } => {
            if resend {
                rtx_synack(cx, tables, now, id);
            }
            if req.num_timeout == 0 {
                let l = tables.sockets.get_mut(req.listener).expect("alive listener");
                l.syn_queue.aged();
            }
            let req = tables.requests.get_mut(id).expect("request still there");
            req.num_timeout = req.num_timeout.saturating_add(1);
            let deadline = now + req.timeout();
            req.timer = Some(cx.timers.insert(deadline, Timer::SynAck(id)));
        }
    }
}

/// `cookie_v4_check` (L37) for a non-SYN segment that reached a listener: true when it was
/// a valid cookie ACK (a child was made, or the segment dropped on a full accept queue);
/// false sends it on to LISTEN processing (→ RST).
fn cookie_v4_check(
    cx: &mut Ctx,
    tables: &mut Tables,
    now: Instant,
    listener: SockId,
    tuple: &FourTuple,
    ip: &Ipv4Repr,
    seg: &TcpRepr<'_>,
) -> bool {
    if cx.sysctl.tcp_syncookies == 0 || !seg.flags.ack() || seg.flags.rst() {
        return false;
    }
    let Ok(l) = tables.sockets.get(listener) else {
        return false;
    };
    if !l.synq_overflow.recent(now) {
        return false;
    }
    let (incarnation, lopts) = (l.incarnation, l.options);
    let Some(mss) = cx.syncookies.cookie_v4_check_mss(tuple.into(), seg.seq, seg.ack, now) else {
        cx.mib.inc(Counter::TcpExtSyncookiesFailed);
        return false;
    };
    cx.mib.inc(Counter::TcpExtSyncookiesRecv);
    let ts = seg.options.timestamp;
    let ts_off = match ts {
        Some(t) if t.tsecr != 0 => {
            cx.isn
                .secure_tcp_ts_off(cx.sysctl.tcp_timestamps, tuple.local_addr, tuple.remote_addr)
        }
        _ => 0,
    };
    let Some(opts) = cookie_timestamp_decode(ts.map(|t| t.tsecr.wrapping_sub(ts_off)), cx.sysctl) else {
        return false;
    };
    // cookie_tcp_reqsk_alloc: the request the SYN would have made.
    let mut req = new_request(
        listener,
        incarnation,
        tuple,
        seg.seq.wrapping_sub(1),
        seg.ack.wrapping_sub(1),
    );
    req.mss = mss;
    req.ts_off = ts_off;
    req.set_options(ts.map(|t| t.tsval), opts);
    tcp_openreq_init_rwin(cx, &mut req, &lopts);
    // tcp_get_cookie_sock: the child, or a silent drop when the accept queue is full.
    if let Some(child) = syn_recv_sock(cx, tables, now, &req, None) {
        child_process(cx, tables, now, child, ip, seg);
    }
    true
}
