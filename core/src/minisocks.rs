//! Segments for a pending request (spec §5): `tcp_check_req` in Linux's
//! `net/ipv4/tcp_minisocks.c`, the child it creates (`tcp_v4_syn_recv_sock`,
//! `tcp_create_openreq_child`), its move to the accept queue (`inet_csk_complete_hashdance`)
//! and its first segment (`tcp_child_process`).

use std::net::SocketAddrV4;

use synq_wire::{Ipv4Repr, TcpFlags, TcpOptions, TcpRepr, Timestamp};

use crate::bind_table::Owner;
use crate::ehash::EhashEntry;
use crate::listener::tcp_clock_ms;
use crate::mib::Counter;
use crate::request_sock::{RequestId, RequestSock};
use crate::socket::{Socket, SocketId, TcpState};
use crate::stack::{Stack, Timer};
use crate::tcb::Tcb;
use crate::time::Instant;

/// `before(a, b)` in sequence space.
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `after(a, b)` in sequence space.
fn after(a: u32, b: u32) -> bool {
    before(b, a)
}

/// `tcp_in_window`: whether [seq, end_seq) touches the window [s_win, e_win).
fn tcp_in_window(seq: u32, end_seq: u32, s_win: u32, e_win: u32) -> bool {
    seq == s_win || (after(end_seq, s_win) && before(seq, e_win)) || (seq == e_win && seq == end_seq)
}

/// `between(x, lo, hi)`: lo ≤ x ≤ hi in sequence space.
fn between(x: u32, lo: u32, hi: u32) -> bool {
    hi.wrapping_sub(lo) >= x.wrapping_sub(lo)
}

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
        let Some(child) = self.syn_recv_sock(&req) else {
            if self.sysctl.tcp_abort_on_overflow == 0 {
                self.requests.get_mut(id).expect("request").flags |= RequestSock::ACKED;
                return true;
            }
            return self.embryonic_reset(id, ip, seg);
        };
        // Step 11: the request leaves the SYN queue, the child took its place in the
        // established hash (inet_csk_complete_hashdance).
        self.drop_request(id);
        self.child_process(child, seg);
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
        let now_ms = tcp_clock_ms(now).max(1);
        let req = self.requests.get_mut(id).expect("request");
        if req.last_oow_ack_ms != 0 && now_ms.wrapping_sub(req.last_oow_ack_ms) < limit {
            self.mib.inc(Counter::TcpExtTCPACKSkippedSynRecv);
            return true;
        }
        req.last_oow_ack_ms = now_ms;
        false
    }

    /// `tcp_v4_reqsk_send_ack`: seq = snt_isn + 1, ack = rcv_nxt, our window scaled by our
    /// shift, timestamps if in use.
    fn reqsk_send_ack(&mut self, now: Instant, req: &RequestSock) {
        let ack = TcpRepr {
            src_port: req.loc_port,
            dst_port: req.rmt_port,
            seq: req.snt_isn.wrapping_add(1),
            ack: req.rcv_nxt(),
            flags: TcpFlags::ACK,
            window: (req.rcv_wnd >> req.rcv_wscale).min(u32::from(u16::MAX)) as u16,
            urgent: 0,
            options: TcpOptions {
                timestamp: req.has(RequestSock::TSTAMP_OK).then(|| Timestamp {
                    tsval: tcp_clock_ms(now).wrapping_add(req.ts_off),
                    tsecr: req.ts_recent,
                }),
                ..TcpOptions::default()
            },
            payload: &[],
        };
        self.send_segment(req.loc_addr, req.rmt_addr, 0, &ack);
    }

    /// `tcp_v4_syn_recv_sock` + `tcp_create_openreq_child` + `inet_csk_reqsk_queue_add`
    /// (L44, L46): the child socket for `req`, cloned from the listener, on the listener's
    /// accept queue; `None` (ListenOverflows, ListenDrops) when the queue is full.
    pub(crate) fn syn_recv_sock(&mut self, req: &RequestSock) -> Option<SocketId> {
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
        child.tcb = Some(Box::new(Tcb {
            snd_una: req.snt_isn.wrapping_add(1),
            snd_nxt: req.snt_isn.wrapping_add(1),
            snd_wnd: 0,
            max_window: 0,
            rcv_nxt: req.rcv_nxt(),
            rcv_wnd: req.rcv_wnd,
            window_clamp: req.window_clamp,
            mss_clamp: req.mss,
            advmss: req.advmss,
            snd_wscale: if req.has(RequestSock::WSCALE_OK) {
                req.snd_wscale
            } else {
                0
            },
            rcv_wscale: req.rcv_wscale,
            tstamp_ok: req.has(RequestSock::TSTAMP_OK),
            ts_recent: req.ts_recent,
            ts_off: req.ts_off,
            sack_ok: req.has(RequestSock::SACK_OK),
            ecn_ok: req.has(RequestSock::ECN_OK),
        }));
        let fd = self.sockets.insert(child);
        // __inet_inherit_port: the child holds the listener's port at its own address.
        self.bind_table.insert(req.loc_port, req.loc_addr, Owner::Socket(fd));
        self.ehash.replace(req.tuple(), EhashEntry::Socket(fd));
        self.mib.inc(Counter::TcpPassiveOpens);
        self.sockets.get_mut(listener).expect("listener").accept_queue.push(fd);
        Some(fd)
    }

    /// `tcp_child_process` → `tcp_rcv_state_process` in SYN_RECV (L47): the acceptable ACK
    /// synchronizes the child. Its payload and FIN wait for the data-transfer issue.
    pub(crate) fn child_process(&mut self, child: SocketId, seg: &TcpRepr<'_>) {
        let Ok(socket) = self.sockets.get_mut(child) else {
            return;
        };
        let Some(tcb) = socket.tcb.as_mut() else { return };
        tcb.snd_una = seg.ack;
        tcb.snd_wnd = u32::from(seg.window) << tcb.snd_wscale;
        tcb.max_window = tcb.max_window.max(tcb.snd_wnd);
        if let Some(t) = seg.options.timestamp.filter(|_| tcb.tstamp_ok) {
            tcb.ts_recent = t.tsval;
        }
        socket.state = TcpState::Established;
        if !seg.payload.is_empty() || seg.flags.fin() {
            tracing::debug!(%child, len = seg.payload.len(), "data on the third ACK: data transfer is not built yet");
        }
    }
}
