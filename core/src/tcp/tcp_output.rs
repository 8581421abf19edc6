//! TCP output for connections (`tcp_output.c`): building a segment from the connection's
//! state (`tcp_transmit_skb`), sending queued data within the windows (`tcp_write_xmit`),
//! ACKs (`tcp_send_ack`, `tcp_send_delayed_ack`), the FIN (`tcp_send_fin`) and an active
//! reset (`tcp_send_active_reset`).

use crate::base::mib::Counter;
use crate::base::seq::SeqNum;
use crate::base::time::tcp_clock_ms;
use crate::base::time::{Duration, Instant};
use crate::inet::socket::{SocketId, TcpState};
use crate::stack::{Stack, Timer};
use crate::tcp::tcb::{TcpTimer, TCP_ATO_MIN_MS, TCP_DELACK_MAX_MS};
use synq_wire::{TcpFlags, TcpOptions, TcpRepr, Timestamp};

/// `tcp_pingpong_thresh`: interactive exchanges before ACKs wait for our reply.
pub(crate) const TCP_PINGPONG_THRESH: u8 = 1;

impl Stack {
    /// `tcp_rto_min` and `tcp_rto_max` from the sysctls.
    pub(crate) fn rto_min(&self) -> Duration {
        Duration::from_micros(self.sysctl.tcp_rto_min_us.max(1) as u64)
    }
    pub(crate) fn rto_max(&self) -> Duration {
        Duration::from_millis(self.sysctl.tcp_rto_max_ms.max(1) as u64)
    }

    /// Arms (or re-arms) one of a connection's timers.
    pub(crate) fn arm_timer(&mut self, fd: SocketId, kind: TcpTimer, deadline: Instant) {
        let Some(tcb) = self.sockets.get_mut(fd).ok().and_then(|s| s.tcb.as_deref_mut()) else {
            return;
        };
        if let Some(old) = tcb.timers[kind].take() {
            self.timers.cancel(old);
        }
        tcb.timers[kind] = Some(self.timers.insert(deadline, Timer::Tcp(fd, kind)));
    }

    /// Stops one of a connection's timers.
    pub(crate) fn cancel_timer(&mut self, fd: SocketId, kind: TcpTimer) {
        let Some(tcb) = self.sockets.get_mut(fd).ok().and_then(|s| s.tcb.as_deref_mut()) else {
            return;
        };
        if let Some(old) = tcb.timers[kind].take() {
            self.timers.cancel(old);
        }
    }

    /// `tcp_transmit_skb`: one segment of connection `fd` with sequence number `seq`, `len`
    /// bytes of the send queue from `seq` on, and `flags` with ACK. It carries our window (`tcp_select_window`) and the timestamp option
    /// when in use. Sending an ACK settles the ACK owed (`tcp_event_ack_sent`).
    pub(crate) fn tcp_transmit(&mut self, now: Instant, fd: SocketId, seq: SeqNum, len: u32, flags: TcpFlags) {
        let mut payload = std::mem::take(&mut self.scratch);
        payload.clear();
        let Ok(socket) = self.sockets.get_mut(fd) else { return };
        let (Some(tcb), Some(peer)) = (socket.tcb.as_deref_mut(), socket.peer) else {
            return;
        };
        let offset = (seq - tcb.snd.buf_seq()) as usize;
        if len > 0 {
            let (a, b) = tcb.snd.buf.as_slices();
            let end = offset + len as usize;
            if offset < a.len() {
                payload.extend_from_slice(&a[offset..end.min(a.len())]);
            }
            if end > a.len() {
                payload.extend_from_slice(&b[offset.saturating_sub(a.len())..end - a.len()]);
            }
        }
        let window = tcb.rcv.select_window();
        let seg = TcpRepr {
            src_port: socket.sport,
            dst_port: peer.port(),
            seq: seq.0,
            ack: tcb.rcv.nxt.0,
            flags: flags | TcpFlags::ACK,
            window,
            urgent: 0,
            options: TcpOptions {
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
            },
            payload: &payload,
        };
        // tcp_event_ack_sent
        tcb.ack.quick = tcb.ack.quick.saturating_sub(1);
        tcb.ack.pending = false;
        tcb.ack.now = false;
        let delack = tcb.timers[TcpTimer::DelAck].take();
        let src = socket.rcv_saddr;
        if let Some(t) = delack {
            self.timers.cancel(t);
        }
        if self.send_segment(src, *peer.ip(), 0, &seg) && flags.rst() {
            self.mib.inc(Counter::TcpOutRsts);
        }
        self.scratch = payload;
    }

    /// `tcp_send_ack`: a bare ACK at `snd_nxt`.
    pub(crate) fn tcp_send_ack(&mut self, now: Instant, fd: SocketId) {
        self.send_control(now, fd, TcpFlags::ACK);
    }

    /// `tcp_send_active_reset`: RST|ACK at `snd_nxt`, our window and timestamps as on any
    /// segment (L61).
    pub(crate) fn tcp_send_active_reset(&mut self, now: Instant, fd: SocketId) {
        self.send_control(now, fd, TcpFlags::RST | TcpFlags::ACK);
    }

    /// A segment without data at `snd_nxt`.
    fn send_control(&mut self, now: Instant, fd: SocketId, flags: TcpFlags) {
        let Some(tcb) = self.sockets.get(fd).ok().and_then(|s| s.tcb.as_deref()) else {
            return;
        };
        self.tcp_transmit(now, fd, tcb.snd.nxt, 0, flags);
    }

    /// `tcp_send_delayed_ack`: the ACK owed waits `ato`, bounded by the RTT and 200 ms
    /// (500 ms outside ping-pong), unless the timer already runs sooner.
    pub(crate) fn tcp_send_delayed_ack(&mut self, now: Instant, fd: SocketId) {
        let Some(tcb) = self.sockets.get(fd).ok().and_then(|s| s.tcb.as_deref()) else {
            return;
        };
        let mut ato = tcb.ack.ato_ms.max(TCP_ATO_MIN_MS);
        if ato > TCP_ATO_MIN_MS {
            let mut max_ato = if tcb.ack.pingpong >= TCP_PINGPONG_THRESH {
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
        if let Some(armed) = tcb.timers[TcpTimer::DelAck].and_then(|t| self.timers.deadline(t)) {
            if armed <= now + Duration::from_millis(u64::from(ato >> 2)) {
                return self.tcp_send_ack(now, fd);
            }
            deadline = deadline.min(armed);
        }
        self.arm_timer(fd, TcpTimer::DelAck, deadline);
    }

    /// `tcp_write_xmit`: sends queued data, then a queued FIN, while the peer's window and
    /// the congestion window allow (see [`next_segment`]). The last segment of each burst
    /// carries PSH (packetdrill sees Linux's TSO bursts end that way); the FIN rides on the
    /// last data. With data waiting on a zero window, the RTO timer probes it.
    pub(crate) fn tcp_write_xmit(&mut self, now: Instant, fd: SocketId) {
        let Ok(socket) = self.sockets.get(fd) else { return };
        if !matches!(
            socket.state,
            TcpState::Established | TcpState::CloseWait | TcpState::FinWait1 | TcpState::LastAck | TcpState::Closing
        ) {
            return;
        }
        let mss = u32::from(socket.mss_cache()).max(1);
        let nodelay = socket.options.nodelay;
        let Some(tcb) = socket.tcb.as_deref() else { return };
        let mut next = next_segment(tcb, tcb.snd.nxt, mss, nodelay);
        if next == Next::ZeroWindow && tcb.timers[TcpTimer::Retransmit].is_none() {
            let rto = tcb.rtt.rto;
            return self.arm_timer(fd, TcpTimer::Retransmit, now + rto);
        }
        while let Next::Send { len, fin } = next {
            let Some(tcb) = self.sockets.get(fd).ok().and_then(|s| s.tcb.as_deref()) else {
                return;
            };
            let seq = tcb.snd.nxt;
            let end = seq + len + u32::from(fin);
            next = next_segment(tcb, end, mss, nodelay);
            let mut flags = TcpFlags::ACK;
            if len > 0 && !matches!(next, Next::Send { .. }) {
                flags |= TcpFlags::PSH;
            }
            if fin {
                flags |= TcpFlags::FIN;
            }
            if seq.before(tcb.snd.max) {
                self.mib.inc(Counter::TcpRetransSegs);
            }
            self.tcp_transmit(now, fd, seq, len, flags);
            if len < mss {
                if let Some(tcb) = self.sockets.get_mut(fd).ok().and_then(|s| s.tcb.as_deref_mut()) {
                    tcb.snd.sml = end;
                }
            }
            self.tcp_event_new_data_sent(now, fd, len + u32::from(fin));
        }
    }

    /// `tcp_event_new_data_sent` + `tcp_event_data_sent`: `len` sequence numbers left from
    /// `snd_nxt`; the RTO timer runs while anything is in flight, one sequence number is
    /// timed at a time, and a reply soon after the peer's data counts as ping-pong.
    pub(crate) fn tcp_event_new_data_sent(&mut self, now: Instant, fd: SocketId, len: u32) {
        let Some(tcb) = self.sockets.get_mut(fd).ok().and_then(|s| s.tcb.as_deref_mut()) else {
            return;
        };
        tcb.snd.nxt += len;
        tcb.snd.max = tcb.snd.max.max(tcb.snd.nxt);
        if tcb.rtt.timed.is_none() && tcb.rtt.retransmits == 0 {
            tcb.rtt.timed = Some((tcb.snd.nxt, now));
        }
        let now_ms = tcp_clock_ms(now);
        if tcb.ack.ato_ms != 0 && now_ms.wrapping_sub(tcb.ack.lrcvtime_ms) < tcb.ack.ato_ms {
            tcb.ack.pingpong = tcb.ack.pingpong.saturating_add(1);
        }
        if tcb.timers[TcpTimer::Retransmit].is_none() {
            let rto = tcb.rtt.rto;
            self.arm_timer(fd, TcpTimer::Retransmit, now + rto);
        }
    }
}

/// What [`Stack::tcp_write_xmit`] can send next from `snd_nxt`.
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
fn next_segment(tcb: &crate::tcp::tcb::Tcb, snd_nxt: SeqNum, mss: u32, nodelay: bool) -> Next {
    let unsent = tcb.snd.unsent_from(snd_nxt);
    let fin_due = tcb.snd.fin_queued && snd_nxt == tcb.snd.write_seq;
    if unsent == 0 {
        return if fin_due {
            Next::Send { len: 0, fin: true }
        } else {
            Next::Wait
        };
    }
    let in_flight = snd_nxt - tcb.snd.una;
    if in_flight.div_ceil(mss) >= tcb.cwnd.cwnd {
        return Next::Wait;
    }
    let room = (((tcb.snd.una + tcb.snd.wnd) - snd_nxt) as i32).max(0) as u32;
    let len = unsent.min(mss).min(room);
    if len == 0 {
        return if in_flight == 0 { Next::ZeroWindow } else { Next::Wait };
    }
    let last = len == unsent;
    let fin = last && tcb.snd.fin_queued;
    // tcp_nagle_check with tcp_minshall_check: a short segment waits while an earlier short
    // one is unacknowledged.
    let small_in_flight = tcb.snd.sml.after(tcb.snd.una) && !tcb.snd.sml.after(snd_nxt);
    if len < mss && in_flight > 0 && (!last || (!fin && !nodelay && small_in_flight)) {
        return Next::Wait;
    }
    Next::Send { len, fin }
}
