//! The user's calls on a connection (`net/ipv4/tcp.c`) as functions of the socket and the
//! context: `tcp_sendmsg`, `tcp_recvmsg` (with `tcp_cleanup_rbuf`), `tcp_close`,
//! `tcp_shutdown`, `tcp_poll`; `tcp_set_state`, which input and timers share; and a
//! connection's end on the tables (`tcp_done`, `inet_csk_destroy_sock`).

use crate::base::consts::*;
use crate::base::errno::Errno;
use crate::base::mib::{Counter, Mib};
use crate::base::time::{Duration, Instant};
use crate::inet::bind_table::Owner;
use crate::inet::ehash::EhashEntry;
use crate::inet::socket::{SockId, SockKind, Socket, TcpState, RCV_SHUTDOWN, SEND_SHUTDOWN, SHUTDOWN_MASK};
use crate::tcp::ctx::{Ctx, Tables};
use crate::tcp::sk_mem::{over_memory_limit, sk_mem_account, sk_mem_uncharge, under_memory_pressure};
use crate::tcp::tcb::{Tcb, TcpTimer, TCP_PINGPONG_THRESH};
use crate::tcp::tcp_input::tcp_rcvbuf_grow;
use crate::tcp::tcp_output::{send_control, tcp_free_window, tcp_push, tcp_write_xmit, Nagle};
use synq_wire::TcpFlags;

/// What `getsockopt(TCP_INFO)` and `SO_MEMINFO` report that synq keeps (`tcp_get_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpInfo {
    pub state: u8,
    pub retransmits: u8,
    pub backoff: u8,
    /// `rto`, `ato` in µs.
    pub rto: u32,
    pub ato: u32,
    pub snd_mss: u32,
    pub rcv_mss: u32,
    pub advmss: u32,
    /// `tcpi_rcv_ssthresh`: how far the receive window may open now; `tcpi_rcv_space`: what
    /// the reader took in the last measured round trip.
    pub rcv_ssthresh: u32,
    pub rcv_space: u32,
    pub snd_cwnd: u32,
    pub snd_ssthresh: u32,
    /// ms since data last arrived (or since the handshake ended).
    pub last_data_recv: u32,
    /// `sk_rcvbuf`, `sk_sndbuf` (SO_MEMINFO).
    pub rcvbuf: u32,
    pub sndbuf: u32,
    /// `icsk_ca_state` (`TCP_CA_*`).
    pub ca_state: u8,
    /// `packets_out`, `sacked_out`, `lost_out`, `retrans_out`, `total_retrans`,
    /// `reordering`, `delivered`.
    pub unacked: u32,
    pub sacked: u32,
    pub lost: u32,
    pub retrans: u32,
    pub total_retrans: u32,
    pub reordering: u32,
    pub delivered: u32,
    /// `bytes_acked`, `bytes_received`: sequence space acknowledged by the peer and received
    /// in order, SYN and FIN aside.
    pub bytes_acked: u64,
    pub bytes_received: u64,
    /// `icsk_probes_out`: zero-window or keepalive probes unanswered.
    pub probes: u8,
}

/// `tcp_set_state`, with the `TcpCurrEstab` gauge: up on entering ESTABLISHED (or CLOSE_WAIT
/// straight from SYN_RECV), down on leaving ESTABLISHED or CLOSE_WAIT for any other state.
pub(crate) fn tcp_set_state(mib: &mut Mib, socket: &mut Socket, state: TcpState) {
    let old = socket.state;
    socket.state = state;
    // The active open is over once the socket leaves the handshake's states (a close in
    // SYN_RECV after a simultaneous open goes on as FIN_WAIT1 does).
    if !matches!(state, TcpState::SynSent | TcpState::SynRecv) {
        if let Some(tcb) = socket.tcb_mut() {
            tcb.syn_sent = None;
        }
    }
    match state {
        TcpState::Established if old != TcpState::Established => mib.inc(Counter::TcpCurrEstab),
        TcpState::CloseWait if old == TcpState::SynRecv => mib.inc(Counter::TcpCurrEstab),
        TcpState::Established | TcpState::CloseWait => {}
        _ if matches!(old, TcpState::Established | TcpState::CloseWait) => mib.dec(Counter::TcpCurrEstab),
        _ => {}
    }
}

/// `tcp_fin_time`: an orphan in FIN_WAIT2 waits `TCP_LINGER2` (`linger2` seconds, if set)
/// or `tcp_fin_timeout` for the peer's FIN, at least 3.5 RTOs.
pub(crate) fn arm_fin_wait2(cx: &mut Ctx, now: Instant, sk: SockId, tcb: &mut Tcb, linger2: i32) {
    let secs = if linger2 > 0 {
        linger2
    } else {
        cx.sysctl.tcp_fin_timeout
    };
    let rto = tcb.rtt.rto;
    let tmo = Duration::from_secs(secs.max(0) as u64).max(rto * 4 - rto / 2);
    cx.arm_timer(tcb, sk, TcpTimer::FinWait2, now + tmo);
}

/// `tcp_done`: the connection is over. Its timers stop, it leaves the established hash, its
/// port goes back unless the user chose it; an orphan is freed (its port with it).
pub(crate) fn tcp_done(cx: &mut Ctx, tables: &mut Tables, sk: SockId) {
    let Ok(socket) = tables.sockets.get_mut(sk) else { return };
    if matches!(socket.state, TcpState::SynSent | TcpState::SynRecv) {
        cx.mib.inc(Counter::TcpAttemptFails);
    }
    tcp_set_state(&mut cx.mib, socket, TcpState::Close);
    socket.shutdown = SHUTDOWN_MASK;
    if socket.is_orphan() {
        return inet_csk_destroy_sock(cx, tables, sk);
    }
    let tuple = socket.tuple();
    if let Some(tcb) = socket.tcb_mut() {
        for t in tcb.timers.take_all() {
            cx.timers.cancel(t);
        }
    }
    if let Some(t) = tuple {
        tables.ehash.remove(&t, EhashEntry::Socket(sk));
    }
    if !socket.bind_port_lock && socket.num != 0 {
        tables
            .bind_table
            .remove(socket.num, socket.rcv_saddr, Owner::Socket(sk));
        socket.num = 0;
    }
}

/// `inet_csk_destroy_sock`: a closed socket (or one that never connected) is freed with its
/// timers, its established hash entry and its port.
pub(crate) fn inet_csk_destroy_sock(cx: &mut Ctx, tables: &mut Tables, sk: SockId) {
    let Ok(mut socket) = tables.sockets.remove(sk) else {
        return;
    };
    if let Some(tcb) = socket.tcb_mut() {
        for t in tcb.timers.armed() {
            cx.timers.cancel(t);
        }
        sk_mem_uncharge(cx, tcb);
    }
    if let Some(t) = socket.tuple() {
        tables.ehash.remove(&t, EhashEntry::Socket(sk));
    }
    if socket.num != 0 {
        tables
            .bind_table
            .remove(socket.num, socket.rcv_saddr, Owner::Socket(sk));
    }
    if let SockKind::Conn(tcb) = socket.kind {
        tables.tcb_pool.give(tcb);
    }
}

/// `tcp_sendmsg`: queues what the send buffer has room for and pushes it out. `EPIPE` once
/// sending is shut down or on a socket that is not connected, a pending error first;
/// `EAGAIN` when the buffer is full or the connection is still being set up.
pub(crate) fn tcp_sendmsg(
    cx: &mut Ctx,
    now: Instant,
    sk: SockId,
    socket: &mut Socket,
    data: &[u8],
    more: bool,
) -> Result<usize, Errno> {
    if let Some(e) = socket.error.take() {
        return Err(e);
    }
    if socket.shutdown & SEND_SHUTDOWN != 0 {
        return Err(Errno::EPIPE);
    }
    match socket.state {
        TcpState::Established | TcpState::CloseWait => {}
        // sk_stream_wait_connect: a connect still under way makes the writer wait.
        TcpState::SynSent | TcpState::SynRecv => return Err(Errno::EAGAIN),
        _ => return Err(Errno::EPIPE),
    }
    let (sndbuf, lowat) = (socket.options.sndbuf as usize, tcp_notsent_lowat(cx.sysctl, socket));
    let goal = tcp_xmit_size_goal(socket) as usize;
    let mut copied = 0;
    while copied < data.len() {
        let Some(tcb) = socket.tcb_mut() else {
            return Err(Errno::EPIPE);
        };
        let notsent = tcb.snd.unsent_from(tcb.snd.nxt) as usize;
        let tail = tcb.snd.skbs.unsent_tail(tcb.snd.nxt) as usize;
        let (tail, room) = if tail > 0 && tail < goal {
            (tail, goal - tail)
        } else {
            // new_segment: sk_stream_memory_free, the one check of the send buffer.
            let queued = tcb.snd.wmem_queued();
            if queued >= sndbuf || notsent >= lowat || (over_memory_limit(cx) && queued > 0) {
                tcb.snd.nospace = true;
                break;
            }
            tcb.snd.skbs.entail(tcb.snd.write_seq, tcb.snd.write_seq);
            (0, goal)
        };
        if copied == 0 && tcb.rec.packets_out() == 0 && cx.sysctl.tcp_slow_start_after_idle != 0 {
            tcp_cwnd_restart(now, tcb);
        }
        let n = room.min(data.len() - copied);
        tcb.snd.skbs.grow_tail(n as u32);
        tcb.snd.buf.extend(&data[copied..copied + n]);
        tcb.snd.write_seq += n as u32;
        copied += n;
        // A full skb at the head of what is unsent goes now (tcp_push_one).
        if tail + n >= goal && copied < data.len() && (tail + n) as u32 == tcb.snd.unsent_from(tcb.snd.nxt) {
            let nagle = Nagle {
                one: true,
                ..Nagle::of(socket)
            };
            tcp_push(cx, now, sk, socket, nagle);
        }
    }
    if let Some(tcb) = socket.tcb_mut() {
        sk_mem_account(cx, tcb);
    }
    if copied == 0 && !data.is_empty() {
        return Err(Errno::EAGAIN);
    }
    // tcp_push: the tail is marked for PSH unless MSG_MORE; MSG_MORE corks this push.
    if let (true, Some(tcb)) = (copied > 0, socket.tcb_mut()) {
        tcb.snd.push_mark = !more;
    }
    let mut nagle = Nagle::of(socket);
    nagle.cork |= more;
    tcp_push(cx, now, sk, socket, nagle);
    Ok(copied)
}

/// `tcp_xmit_size_goal`: how much a write queues in one skb — the largest GSO packet
/// (`sk_gso_max_size`: 65536 less `MAX_TCP_HEADER` + 1) bounded by half the largest window
/// the peer offered (`tcp_bound_to_half_wnd`), in whole segments, at least one.
pub(crate) fn tcp_xmit_size_goal(socket: &Socket) -> u32 {
    const SK_GSO_MAX_SIZE: u32 = crate::tcp::tcp_output::GSO_MAX_SIZE as u32 - (256 + 1);
    let mss = u32::from(socket.mss_cache()).max(1);
    let Some(tcb) = socket.tcb() else { return mss };
    let size = tcb.snd.bound_to_half_wnd(SK_GSO_MAX_SIZE, 68 - 20);
    (size / mss * mss).max(mss)
}

/// `tcp_notsent_lowat`: the socket's `TCP_NOTSENT_LOWAT`, else the sysctl's.
pub(crate) fn tcp_notsent_lowat(sysctl: &crate::base::sysctl::Sysctl, socket: &Socket) -> usize {
    match socket.options.notsent_lowat {
        0 => sysctl.tcp_notsent_lowat as usize,
        v => v as usize,
    }
}

/// `__sk_stream_is_writeable(sk, 1)`: a waiting writer is woken (and poll says POLLOUT)
/// once the free space is at least half what is queued, and twice the unsent bytes are
/// below `TCP_NOTSENT_LOWAT` (`tcp_stream_memory_free` with `wake`).
pub(crate) fn sk_stream_is_writeable(socket: &Socket, lowat: usize) -> bool {
    let Some(tcb) = socket.tcb() else { return true };
    let queued = tcb.snd.wmem_queued();
    let free = (socket.options.sndbuf as usize).saturating_sub(queued);
    free >= queued / 2 && 2 * (tcb.snd.unsent_from(tcb.snd.nxt) as usize) < lowat
}

/// `tcp_slow_start_after_idle_check` + `tcp_cwnd_restart` (RFC 2861): data written after
/// more than an RTO without sending starts from the initial window again — the window halved
/// for each RTO of silence, no lower than 10 — and ssthresh keeps what the window allowed.
fn tcp_cwnd_restart(now: Instant, tcb: &mut crate::tcp::tcb::Tcb) {
    let rto_ms = tcb.rtt.rto.as_millis() as i64;
    let mut delta = i64::from(crate::base::time::tcp_clock_ms(now).wrapping_sub(tcb.snd.lsndtime_ms) as i32);
    if delta <= rto_ms || tcb.snd.lsndtime_ms == 0 {
        return;
    }
    let w = tcb.cwnd;
    tcb.cwnd.ssthresh = tcb.current_ssthresh();
    let restart = crate::tcp::tcb::TCP_INIT_CWND.min(w.cwnd);
    let mut cwnd = w.cwnd;
    loop {
        delta -= rto_ms;
        if delta <= 0 || cwnd <= restart {
            break;
        }
        cwnd >>= 1;
    }
    tcb.cwnd.cwnd = cwnd.max(restart);
}

/// `tcp_recvmsg`: copies queued bytes. Then 0 at the end of the stream (the peer's FIN, or
/// receiving shut down), a pending error (`ECONNRESET` after a reset) once, `ENOTCONN` on a
/// listener or a socket never connected, `EAGAIN` while nothing is queued. Reading may open
/// the window enough to announce it (`tcp_cleanup_rbuf`).
pub(crate) fn tcp_recvmsg(cx: &mut Ctx, now: Instant, socket: &mut Socket, buf: &mut [u8]) -> Result<usize, Errno> {
    if socket.state == TcpState::Listen {
        return Err(Errno::ENOTCONN);
    }
    let queued = socket.tcb().is_some_and(|t| !t.rcv.buf.is_empty());
    if !queued || buf.is_empty() {
        if socket.done {
            return Ok(0);
        }
        if let Some(e) = socket.error.take() {
            return Err(e);
        }
        if socket.shutdown & RCV_SHUTDOWN != 0 {
            return Ok(0);
        }
        if socket.state == TcpState::Close {
            return Err(Errno::ENOTCONN);
        }
        return if buf.is_empty() { Ok(0) } else { Err(Errno::EAGAIN) };
    }
    let rcv_open = socket.shutdown & RCV_SHUTDOWN == 0;
    let tcb = socket.tcb_mut().expect("queued data");
    let n = buf.len().min(tcb.rcv.buf.len());
    let (a, b) = tcb.rcv.buf.as_slices();
    let from_a = n.min(a.len());
    buf[..from_a].copy_from_slice(&a[..from_a]);
    buf[from_a..n].copy_from_slice(&b[..n - from_a]);
    tcb.rcv.buf.drain(..n);
    tcb.rcv.free_read();
    sk_mem_account(cx, tcb);
    tcp_rcv_space_adjust(cx, now, socket);
    tcp_cleanup_rbuf(cx, now, socket, rcv_open);
    Ok(n)
}

/// `tcp_cleanup_rbuf` after the reader took bytes: an ACK owed goes now if more
/// than a full segment arrived since the last window update (the once-per-two-segments ACK
/// `__tcp_ack_snd_check` held back while the reader was behind), or if the read emptied the
/// buffer after a pushed segment (not in ping-pong, unless twice pushed); else one announcing
/// a window that at least doubled (`rcv_open`: receiving is not shut down).
pub(crate) fn tcp_cleanup_rbuf(cx: &mut Ctx, now: Instant, socket: &mut Socket, rcv_open: bool) {
    let rcvbuf = socket.options.rcvbuf;
    let Some(tcb) = socket.tcb_mut() else { return };
    let a = tcb.ack;
    let owed = a.pending
        && (tcb.rcv.nxt - tcb.rcv.wup > a.rcv_mss
            || ((a.pushed2 || (a.pushed && !a.in_pingpong_mode())) && tcb.rcv.rmem() == 0));
    let rcv_window_now = tcb.rcv.window();
    let opened = !owed && rcv_open && 2 * rcv_window_now <= tcb.rcv.window_clamp && {
        let new = tcp_free_window(tcb, rcvbuf, under_memory_pressure(cx));
        new != 0 && new >= 2 * rcv_window_now
    };
    if owed || opened {
        send_control(cx, now, socket, TcpFlags::ACK);
    }
}

/// `__tcp_sock_set_quickack`'s ACK (`TCP_QUICKACK` nonzero, ping-pong mode already left by
/// `Stack::setsockopt`): an ACK owed goes now as a read would send it; an even value goes
/// back to ping-pong mode after.
pub(crate) fn tcp_quickack_now(cx: &mut Ctx, now: Instant, socket: &mut Socket, val: i32) {
    let open = matches!(socket.state, TcpState::Established | TcpState::CloseWait);
    let rcv_open = socket.shutdown & RCV_SHUTDOWN == 0;
    let Some(tcb) = socket.tcb_mut() else { return };
    if !open || !tcb.ack.pending {
        return;
    }
    tcb.ack.pushed = true;
    tcp_cleanup_rbuf(cx, now, socket, rcv_open);
    if let (0, Some(tcb)) = (val & 1, socket.tcb_mut()) {
        tcb.ack.pingpong = TCP_PINGPONG_THRESH;
    }
}

/// `tcp_rcv_space_adjust` (dynamic right-sizing): once a receiver round trip has passed
/// since the last measure, what the reader consumed in it, if more than before, grows the
/// buffer ([`tcp_rcvbuf_grow`]); a new measure starts.
fn tcp_rcv_space_adjust(cx: &Ctx, now: Instant, socket: &mut Socket) {
    let Some(tcb) = socket.tcb_mut() else { return };
    let elapsed = now.saturating_duration_since(tcb.rcv.space_time).as_micros() as u64;
    if tcb.rcv.rtt_est_us == 0 || elapsed < u64::from(tcb.rcv.rtt_est_us >> 3) {
        return;
    }
    let copied_seq = tcb.rcv.copied_seq();
    let copied = copied_seq - tcb.rcv.space_seq;
    tcb.rcv.space_seq = copied_seq;
    tcb.rcv.space_time = now;
    if copied > tcb.rcv.space {
        tcp_rcvbuf_grow(cx, socket, copied);
    }
}

/// `tcp_close_state`: the state close() or shutdown(SHUT_WR) moves to, and whether a FIN
/// goes out.
fn tcp_close_state(mib: &mut Mib, socket: &mut Socket) -> bool {
    let (next, fin) = match socket.state {
        TcpState::Established | TcpState::SynRecv => (TcpState::FinWait1, true),
        TcpState::CloseWait => (TcpState::LastAck, true),
        TcpState::SynSent | TcpState::TimeWait | TcpState::Listen => (TcpState::Close, false),
        other => (other, false),
    };
    tcp_set_state(mib, socket, next);
    fin
}

/// `tcp_send_fin`: the FIN is queued after the data and pushed.
fn tcp_send_fin(cx: &mut Ctx, now: Instant, sk: SockId, socket: &mut Socket) {
    if let Some(tcb) = socket.tcb_mut() {
        // A FIN rides on an unsent tail skb, or takes one of its own.
        match tcb.snd.skbs.unsent_tail(tcb.snd.nxt) {
            0 => tcb.snd.skbs.entail(tcb.snd.write_seq, tcb.snd.write_seq + 1),
            _ => tcb.snd.skbs.grow_tail(1),
        }
        tcb.snd.fin_queued = true;
    }
    tcp_write_xmit(cx, now, sk, socket);
}

/// `tcp_close` for a connection (spec E15): unread data aborts it with a reset
/// (TCPAbortOnClose), so does SO_LINGER with a zero time (`tcp_disconnect`); otherwise it
/// sends its FIN as `tcp_close_state` says. True when the socket is now closed (the caller
/// destroys it); otherwise it lives on as an orphan until the close completes. The stack
/// never blocks, so a positive linger time does not hold close() back (a blocking driver may
/// wait for the FIN's ACK itself).
pub(crate) fn tcp_close(cx: &mut Ctx, now: Instant, sk: SockId, socket: &mut Socket) -> bool {
    socket.shutdown = SHUTDOWN_MASK;
    let unread = socket.tcb().is_some_and(|t| !t.rcv.buf.is_empty());
    let abort = socket.options.linger == Some(0);
    if socket.state != TcpState::Close {
        if unread {
            cx.mib.inc(Counter::TcpExtTCPAbortOnClose);
            tcp_set_state(&mut cx.mib, socket, TcpState::Close);
            send_control(cx, now, socket, TcpFlags::RST | TcpFlags::ACK);
        } else if abort {
            // SO_LINGER with a zero time: tcp_disconnect, a reset where one is owed.
            cx.mib.inc(Counter::TcpExtTCPAbortOnData);
            if tcp_need_reset(socket.state) {
                send_control(cx, now, socket, TcpFlags::RST | TcpFlags::ACK);
            }
            tcp_set_state(&mut cx.mib, socket, TcpState::Close);
        } else if tcp_close_state(&mut cx.mib, socket) {
            tcp_send_fin(cx, now, sk, socket);
        }
    }
    socket.state == TcpState::Close
}

/// `tcp_shutdown` for a connection: the `how + 1` bits join `sk_shutdown`; shutting sending
/// down sends the FIN from ESTABLISHED, SYN_RECV or CLOSE_WAIT. `ENOTCONN` on a closed
/// socket.
pub(crate) fn tcp_shutdown(cx: &mut Ctx, now: Instant, sk: SockId, socket: &mut Socket, how: i32) -> Result<(), Errno> {
    let bits = (how + 1) as u8;
    socket.shutdown |= bits;
    if socket.state == TcpState::Close {
        return Err(Errno::ENOTCONN);
    }
    if bits & SEND_SHUTDOWN != 0
        && matches!(
            socket.state,
            TcpState::Established | TcpState::SynRecv | TcpState::CloseWait
        )
        && tcp_close_state(&mut cx.mib, socket)
    {
        tcp_send_fin(cx, now, sk, socket);
    }
    Ok(())
}

/// `tcp_poll` for a connection socket.
pub(crate) fn tcp_poll(socket: &Socket, lowat: usize) -> u16 {
    let mut mask = 0;
    if socket.error.is_some() {
        mask |= POLLERR;
    }
    if socket.shutdown == SHUTDOWN_MASK || socket.state == TcpState::Close {
        mask |= POLLHUP;
    }
    if socket.shutdown & RCV_SHUTDOWN != 0 {
        mask |= POLLIN | POLLRDNORM | POLLRDHUP;
    }
    if matches!(socket.state, TcpState::SynSent | TcpState::SynRecv) {
        return mask;
    }
    if let Some(tcb) = socket.tcb() {
        if !tcb.rcv.buf.is_empty() {
            mask |= POLLIN | POLLRDNORM;
        }
        if socket.shutdown & SEND_SHUTDOWN != 0 || sk_stream_is_writeable(socket, lowat) {
            mask |= POLLOUT | POLLWRNORM;
        }
    } else if socket.state == TcpState::Close {
        mask |= POLLOUT | POLLWRNORM;
    }
    mask
}

/// `tcp_need_reset`: the states an abort answers with a reset.
pub(crate) fn tcp_need_reset(state: TcpState) -> bool {
    matches!(
        state,
        TcpState::Established | TcpState::CloseWait | TcpState::FinWait1 | TcpState::FinWait2 | TcpState::SynRecv
    )
}
