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
use crate::inet::ehash::EhashEntry;
use crate::inet::request_sock::{RequestId, RequestSock};
use crate::inet::socket::{Socket, SocketId, TcpState};
use crate::inet::time_wait::{TimeWaitId, TCP_TIMEWAIT_LEN};
use crate::inet::tuple::FourTuple;
use crate::stack::Stack;
use crate::tcp::ctx::Timer;
use crate::tcp::tcb::{Tcb, TCP_INIT_CWND, TCP_MIN_MSS, TCP_MSS_DEFAULT};
use crate::tcp::tcp_input::rate_limited;

impl Stack {
    /// `tcp_check_req` (L26, L27, L41–L45) for a segment whose 4-tuple names request `id`.
    /// Returns false when the request's listener is gone (L40): the request was dropped and
    /// the caller looks the segment up again.
    pub(crate) fn tcp_check_req(&mut self, now: Instant, id: RequestId, ip: &Ipv4Repr, seg: &TcpRepr<'_>) -> bool {
        let Some(req) = self.requests.get(id).cloned() else {
            return true;
        };
        if !self.request_listener_alive(&req) {
            self.drop_request(id);
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
            if !self.oow_rate_limited(now, id, seg) {
                self.rtx_synack(now, id);
                let req = self.requests.get_mut(id).expect("request");
                if let Some(t) = req.timer.take() {
                    self.timers.cancel(t);
                    let deadline = now + req.timeout();
                    req.timer = Some(self.timers.insert(deadline, Timer::SynAck(id)));
                }
            }
            return true;
        }
        // Step 3: an ACK of something we did not send: the listener answers with a reset.
        if f.ack() && seg.ack != req.snt_isn.wrapping_add(1) {
            self.reply_reset(ip, seg);
            return true;
        }
        // Step 4: outside the window (or PAWS/TSecr rejected): an ACK for the request.
        let window = req.rcv_wnd.min(u32::from(u16::MAX));
        let end_seq = seg.seq.wrapping_add(seg.segment_len() as u32);
        if paws_reject
            || tsecr_reject
            || !tcp_in_window(seg.seq, end_seq, req.rcv_nxt(), req.rcv_nxt().wrapping_add(window))
        {
            if !f.rst() && !self.oow_rate_limited(now, id, seg) {
                self.reqsk_send_ack(now, &req);
            }
            if paws_reject {
                self.mib.inc(Counter::TcpExtPAWSEstab);
            } else if tsecr_reject {
                self.mib.inc(Counter::TcpExtTSEcrRejected);
            }
            return true;
        }
        // Step 5: ts_recent.
        if let Some(t) = ts {
            if !after(seg.seq, req.rcv_nxt()) {
                self.requests.get_mut(id).expect("request").ts_recent = t.tsval;
            }
        }
        // Step 6: a SYN at the window's left edge is the old SYN.
        let syn = f.syn() && seg.seq != req.rcv_isn;
        // Step 7: RST or a new SYN kill the request (a SYN also gets a reset).
        if f.rst() || syn {
            self.mib.inc(Counter::TcpAttemptFails);
            return self.embryonic_reset(id, ip, seg);
        }
        // Step 8.
        if !f.ack() {
            return true;
        }
        // Step 9: TCP_DEFER_ACCEPT holds a bare ACK back (L27).
        let l = self.sockets.get(req.listener).expect("alive listener");
        if req.num_timeout < l.defer_accept && end_seq == req.rcv_isn.wrapping_add(1) {
            self.requests.get_mut(id).expect("request").flags |= RequestSock::ACKED;
            self.mib.inc(Counter::TcpExtTCPDeferAcceptDrop);
            return true;
        }
        // Step 10: the child, or the overflow path (L45).
        let req = self.requests.get(id).cloned().expect("request");
        let rtt = (req.num_retrans == 0).then(|| {
            let sent_ms = req.snt_tsval_first.wrapping_sub(req.ts_off);
            Duration::from_millis(u64::from(tcp_clock_ms(now).wrapping_sub(sent_ms)))
        });
        let Some(child) = self.syn_recv_sock(&req, rtt) else {
            if self.sysctl.tcp_abort_on_overflow == 0 {
                self.requests.get_mut(id).expect("request").flags |= RequestSock::ACKED;
                return true;
            }
            return self.embryonic_reset(id, ip, seg);
        };
        // Step 11: the request leaves the SYN queue, the child took its place in the
        // established hash (inet_csk_complete_hashdance).
        self.drop_request(id);
        self.child_process(now, child, ip, seg);
        true
    }

    /// `embryonic_reset`: a reset unless the segment is one, and the request removed.
    fn embryonic_reset(&mut self, id: RequestId, ip: &Ipv4Repr, seg: &TcpRepr<'_>) -> bool {
        if !seg.flags.rst() {
            self.reply_reset(ip, seg);
        }
        if self.drop_request(id).is_some() {
            self.mib.inc(Counter::TcpExtEmbryonicRsts);
        }
        true
    }

    /// `tcp_oow_rate_limited` with the request's `last_oow_ack_time`: at most one answer per
    /// `tcp_invalid_ratelimit` ms to out-of-window segments (data without SYN always passes).
    fn oow_rate_limited(&mut self, now: Instant, id: RequestId, seg: &TcpRepr<'_>) -> bool {
        if !seg.payload.is_empty() && !seg.flags.syn() {
            return false;
        }
        let limit = self.sysctl.tcp_invalid_ratelimit.max(0) as u32;
        let req = self.requests.get_mut(id).expect("request");
        if rate_limited(&mut req.last_oow_ack_ms, now, limit) {
            self.mib.inc(Counter::TcpExtTCPACKSkippedSynRecv);
            return true;
        }
        false
    }

    /// `tcp_v4_reqsk_send_ack`: seq = snt_isn + 1, ack = rcv_nxt, our window scaled by our
    /// shift, timestamps if in use.
    fn reqsk_send_ack(&mut self, now: Instant, req: &RequestSock) {
        self.send_mini_ack(
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
        &mut self,
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
        self.send_segment(t.local_addr, t.remote_addr, 0, &seg);
    }

    /// `tcp_v4_syn_recv_sock` + `tcp_create_openreq_child` + `inet_csk_reqsk_queue_add`
    /// (L44, L46): the child socket for `req`, cloned from the listener, on the listener's
    /// accept queue; `None` (ListenOverflows, ListenDrops) when the queue is full.
    pub(crate) fn syn_recv_sock(&mut self, req: &RequestSock, rtt: Option<Duration>) -> Option<SocketId> {
        let listener = req.listener;
        let l = self.sockets.get(listener).ok()?;
        if l.accept_queue.is_full(l.backlog) {
            self.mib.inc(Counter::TcpExtListenOverflows);
            self.mib.inc(Counter::TcpExtListenDrops);
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
        let mut tcb = self.tcb_pool.take(Tcb::new(SeqNum(req.snt_isn), SeqNum(req.rcv_nxt())));
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
            tcb.rtt.sample(rtt, self.rto_min(), self.rto_max());
        }
        // tcp_init_buffer_space
        tcb.rcv.space = req.rcv_wnd.min(TCP_INIT_CWND * u32::from(req.advmss));
        // tcp_initialize_rcv_mss: our first guess at the peer's segment size.
        tcb.ack.rcv_mss = u32::from(tcb.advmss.min(tcb.mss_clamp))
            .min(req.rcv_wnd / 2)
            .min(u32::from(TCP_MSS_DEFAULT))
            .max(u32::from(TCP_MIN_MSS));
        child.tcb = Some(tcb);
        let fd = self.sockets.insert_hidden(child);
        // __inet_inherit_port: the child holds the listener's port at its own address.
        self.bind_table.insert(req.loc_port, req.loc_addr, Owner::Socket(fd));
        self.ehash.replace(req.tuple(), EhashEntry::Socket(fd));
        self.mib.inc(Counter::TcpPassiveOpens);
        self.sockets.get_mut(listener).expect("listener").accept_queue.push(fd);
        Some(fd)
    }

    /// `tcp_child_process` → `tcp_rcv_state_process` in SYN_RECV (L47): the acceptable ACK
    /// synchronizes the child (`tcp_init_transfer`); then the segment is processed as on any
    /// connection, so that data or a FIN it carries is queued and acknowledged.
    pub(crate) fn child_process(&mut self, now: Instant, child: SocketId, ip: &Ipv4Repr, seg: &TcpRepr<'_>) {
        let Ok(socket) = self.sockets.get_mut(child) else {
            return;
        };
        let Some(tcb) = socket.tcb.as_mut() else { return };
        tcb.snd.una = SeqNum(seg.ack);
        tcb.snd.wnd = u32::from(seg.window) << tcb.snd.wscale;
        tcb.snd.wl1 = SeqNum(seg.seq);
        tcb.snd.max_window = tcb.snd.max_window.max(tcb.snd.wnd);
        self.tcp_set_state(child, TcpState::Established);
        // A bare ACK has nothing more to give (tcp_check_req took its timestamp).
        if !seg.payload.is_empty() || seg.flags.fin() {
            self.tcp_rcv_synchronized(now, child, ip, seg);
        }
    }
}

impl Stack {
    /// `tcp_timewait_state_process` for an entry in TIME_WAIT: a bare ACK at `rcv_nxt` is
    /// accepted quietly; a RST at `rcv_nxt` kills the entry (unless `tcp_rfc1337`); a SYN
    /// with a higher sequence number (or newer timestamp) may open a new connection — false
    /// is returned and the segment goes on to the listeners; any other segment without RST
    /// (a retransmitted FIN, old data) restarts the 60 s and is answered with an ACK
    /// (`tcp_v4_timewait_ack`), at most one per `tcp_invalid_ratelimit` for non-data.
    pub(crate) fn tcp_timewait_state_process(&mut self, now: Instant, id: TimeWaitId, seg: &TcpRepr<'_>) -> bool {
        let Some(tw) = self.time_waits.get(id).copied() else {
            return true;
        };
        let c = tw.conn;
        let f = seg.flags;
        let end_seq = seg.seq.wrapping_add(seg.segment_len() as u32);
        let ts = seg.options.timestamp.filter(|_| c.tstamp_ok);
        let paws_reject = ts.is_some_and(|t| before(t.tsval, c.ts_recent)) && !f.rst();
        if !paws_reject && seg.seq == c.rcv_nxt && (seg.seq == end_seq || f.rst()) {
            if f.rst() {
                if self.sysctl.tcp_rfc1337 == 0 {
                    self.tw_kill(id);
                }
            } else {
                self.tw_reschedule(now, id);
            }
            return true;
        }
        if f.syn() && !f.rst() && !f.ack() && !paws_reject && (after(seg.seq, c.rcv_nxt) || ts.is_some()) {
            // TCP_TW_SYN: the entry makes way for a new connection.
            self.tw_kill(id);
            return false;
        }
        if !f.rst() {
            if paws_reject {
                self.mib.inc(Counter::TcpExtPAWSEstab);
            }
            if paws_reject || f.ack() {
                self.tw_reschedule(now, id);
            }
            // tcp_timewait_check_oow_rate_limit: data and FINs always get their ACK.
            let limit = self.sysctl.tcp_invalid_ratelimit.max(0) as u32;
            let last = &mut self.time_waits.get_mut(id).expect("live entry").conn.last_oow_ack_ms;
            if (seg.segment_len() == 0 || f.syn()) && rate_limited(last, now, limit) {
                self.mib.inc(Counter::TcpExtTCPACKSkippedTimeWait);
                return true;
            }
            // tcp_v4_timewait_ack
            self.send_mini_ack(
                now,
                (tw.tuple(), c.snd_nxt, c.rcv_nxt),
                c.rcv_wnd >> c.rcv_wscale,
                c.tstamp_ok.then_some((c.ts_off, c.ts_recent)),
            );
        }
        true
    }

    /// `inet_twsk_reschedule`: another `TCP_TIMEWAIT_LEN` from now.
    fn tw_reschedule(&mut self, now: Instant, id: TimeWaitId) {
        let Some(tw) = self.time_waits.get_mut(id) else { return };
        if let Some(t) = tw.conn.timer.take() {
            self.timers.cancel(t);
        }
        tw.conn.timer = Some(self.timers.insert(now + TCP_TIMEWAIT_LEN, Timer::TimeWait(id)));
    }

    /// `inet_twsk_deschedule_put`: the entry dies before its time.
    fn tw_kill(&mut self, id: TimeWaitId) {
        if let Some(t) = self.time_waits.get_mut(id).and_then(|tw| tw.conn.timer.take()) {
            self.timers.cancel(t);
        }
        self.tw_timer_handler(id);
    }
}
