//! The user's calls on a connection (`net/ipv4/tcp.c`): `tcp_sendmsg`, `tcp_recvmsg` (with
//! `tcp_cleanup_rbuf`), `tcp_close`, `tcp_shutdown`, `tcp_poll`; and the life-cycle steps
//! they share with input and timers: `tcp_set_state`, `tcp_done`, `tcp_time_wait`, orphaning.

use std::net::SocketAddrV4;

use crate::base::consts::*;
use crate::base::errno::Errno;
use crate::base::mib::{Counter, Mib};
use crate::base::time::{Duration, Instant};
use crate::inet::bind_table::Owner;
use crate::inet::ehash::EhashEntry;
use crate::inet::socket::{Socket, SocketId, TcpState, RCV_SHUTDOWN, SEND_SHUTDOWN, SHUTDOWN_MASK};
use crate::inet::time_wait::{TimeWaitSock, TwConn, TCP_TIMEWAIT_LEN};
use crate::stack::Stack;
use crate::tcp::ctx::{Ctx, Timer};
use crate::tcp::tcb::{Tcb, TcpTimer};

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
    pub snd_cwnd: u32,
    pub snd_ssthresh: u32,
    /// `sk_rcvbuf`, `sk_sndbuf` (SO_MEMINFO).
    pub rcvbuf: u32,
    pub sndbuf: u32,
}

/// `tcp_set_state`, with the `TcpCurrEstab` gauge: up on entering ESTABLISHED (or CLOSE_WAIT
/// straight from SYN_RECV), down on leaving ESTABLISHED or CLOSE_WAIT for any other state.
pub(crate) fn tcp_set_state(mib: &mut Mib, socket: &mut Socket, state: TcpState) {
    let old = socket.state;
    socket.state = state;
    match state {
        TcpState::Established if old != TcpState::Established => mib.inc(Counter::TcpCurrEstab),
        TcpState::CloseWait if old == TcpState::SynRecv => mib.inc(Counter::TcpCurrEstab),
        TcpState::Established | TcpState::CloseWait => {}
        _ if matches!(old, TcpState::Established | TcpState::CloseWait) => mib.dec(Counter::TcpCurrEstab),
        _ => {}
    }
}

/// `tcp_fin_time`: an orphan in FIN_WAIT2 waits `tcp_fin_timeout` for the peer's FIN.
pub(crate) fn arm_fin_wait2(cx: &mut Ctx, now: Instant, fd: SocketId, tcb: &mut Tcb) {
    let tmo = Duration::from_secs(cx.sysctl.tcp_fin_timeout.max(1) as u64);
    cx.arm_timer(tcb, fd, TcpTimer::FinWait2, now + tmo);
}

impl Stack {
    /// `tcp_get_info`: the connection's state as TCP_INFO reports it.
    pub fn tcp_info(&self, fd: SocketId) -> Result<TcpInfo, Errno> {
        let socket = self.sockets.get(fd)?;
        let mut info = TcpInfo {
            state: socket.state as u8,
            snd_mss: u32::from(socket.mss_cache()),
            rcvbuf: socket.options.rcvbuf,
            sndbuf: socket.options.sndbuf,
            ..TcpInfo::default()
        };
        if let Some(t) = socket.tcb.as_deref() {
            info.retransmits = t.rtt.retransmits;
            info.backoff = t.rtt.backoff;
            info.rto = t.rtt.rto.as_micros() as u32;
            info.ato = t.ack.ato_ms * 1000;
            info.rcv_mss = t.ack.rcv_mss;
            info.advmss = u32::from(t.advmss);
            info.snd_cwnd = t.cwnd.cwnd;
            info.snd_ssthresh = t.cwnd.ssthresh;
        }
        Ok(info)
    }

    /// [`tcp_set_state`] for socket `fd`.
    pub(crate) fn tcp_set_state(&mut self, fd: SocketId, state: TcpState) {
        if let Ok(socket) = self.sockets.get_mut(fd) {
            tcp_set_state(&mut self.mib, socket, state);
        }
    }

    /// `tcp_done`: the connection is over. Its timers stop, it leaves the established hash,
    /// its port goes back unless the user chose it; an orphan is freed (its port with it).
    pub(crate) fn tcp_done(&mut self, fd: SocketId) {
        self.tcp_set_state(fd, TcpState::Close);
        let Ok(socket) = self.sockets.get_mut(fd) else { return };
        socket.shutdown = SHUTDOWN_MASK;
        if socket.is_orphan() {
            return self.inet_csk_destroy_sock(fd);
        }
        let tuple = socket.tuple();
        if let Some(tcb) = socket.tcb.as_deref_mut() {
            for t in tcb.timers.take_all() {
                self.timers.cancel(t);
            }
        }
        if let Some(t) = tuple {
            self.ehash.remove(&t, EhashEntry::Socket(fd));
        }
        if !socket.bind_port_lock && socket.num != 0 {
            self.bind_table.remove(socket.num, socket.rcv_saddr, Owner::Socket(fd));
            socket.num = 0;
        }
    }

    /// `inet_csk_destroy_sock`: a closed socket (or one that never connected) is freed with
    /// its timers, its established hash entry and its port.
    pub(crate) fn inet_csk_destroy_sock(&mut self, fd: SocketId) {
        let Ok(socket) = self.sockets.remove(fd) else { return };
        if let Some(tcb) = socket.tcb.as_deref() {
            for t in tcb.timers.armed() {
                self.timers.cancel(t);
            }
        }
        if let Some(t) = socket.tuple() {
            self.ehash.remove(&t, EhashEntry::Socket(fd));
        }
        if socket.num != 0 {
            self.bind_table.remove(socket.num, socket.rcv_saddr, Owner::Socket(fd));
        }
        if let Some(tcb) = socket.tcb {
            self.tcb_pool.give(tcb);
        }
    }

    /// `tcp_time_wait`: a TIME_WAIT mini-socket takes the connection's place in the
    /// established hash and the bind table for `TCP_TIMEWAIT_LEN`; the socket is done.
    pub(crate) fn tcp_time_wait(&mut self, now: Instant, fd: SocketId) {
        let Ok(socket) = self.sockets.get(fd) else { return };
        let (Some(tcb), Some(peer), Some(tuple)) = (socket.tcb.as_deref(), socket.peer, socket.tuple()) else {
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
                timer: None,
            },
        };
        let id = self.insert_time_wait(tw);
        self.ehash.replace(tuple, EhashEntry::TimeWait(id));
        let timer = self.timers.insert(now + TCP_TIMEWAIT_LEN, Timer::TimeWait(id));
        if let Some(tw) = self.time_waits.get_mut(id) {
            tw.conn.timer = Some(timer);
        }
        self.tcp_done(fd);
    }

    /// `tcp_sendmsg`: queues what the send buffer has room for and pushes it out. `EPIPE`
    /// once sending is shut down or on a socket that is not connected, a pending error
    /// first; `EAGAIN` when the buffer is full.
    pub(crate) fn tcp_sendmsg(&mut self, now: Instant, fd: SocketId, data: &[u8]) -> Result<usize, Errno> {
        let socket = self.sockets.get_mut(fd)?;
        if let Some(e) = socket.error.take() {
            return Err(e);
        }
        if socket.shutdown & SEND_SHUTDOWN != 0 || !matches!(socket.state, TcpState::Established | TcpState::CloseWait)
        {
            return Err(Errno::EPIPE);
        }
        let sndbuf = socket.options.sndbuf as usize;
        let Some(tcb) = socket.tcb.as_deref_mut() else {
            return Err(Errno::EPIPE);
        };
        let room = sndbuf.saturating_sub(tcb.snd.buf.len());
        if room == 0 && !data.is_empty() {
            return Err(Errno::EAGAIN);
        }
        let n = data.len().min(room);
        tcb.snd.buf.extend(&data[..n]);
        tcb.snd.write_seq += n as u32;
        self.tcp_write_xmit(now, fd);
        Ok(n)
    }

    /// `tcp_recvmsg`: copies queued bytes. Then 0 at the end of the stream (the peer's FIN,
    /// or receiving shut down), a pending error (`ECONNRESET` after a reset) once,
    /// `ENOTCONN` on a listener or a socket never connected, `EAGAIN` while nothing is
    /// queued. Reading may open the window enough to announce it (`tcp_cleanup_rbuf`).
    pub(crate) fn tcp_recvmsg(&mut self, now: Instant, fd: SocketId, buf: &mut [u8]) -> Result<usize, Errno> {
        let socket = self.sockets.get_mut(fd)?;
        if socket.state == TcpState::Listen {
            return Err(Errno::ENOTCONN);
        }
        let queued = socket.tcb.as_deref().is_some_and(|t| !t.rcv.buf.is_empty());
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
        let tcb = socket.tcb.as_deref_mut().expect("queued data");
        let n = buf.len().min(tcb.rcv.buf.len());
        let (a, b) = tcb.rcv.buf.as_slices();
        let from_a = n.min(a.len());
        buf[..from_a].copy_from_slice(&a[..from_a]);
        buf[from_a..n].copy_from_slice(&b[..n - from_a]);
        tcb.rcv.buf.drain(..n);
        // tcp_cleanup_rbuf: announce a window that at least doubled.
        let rcv_window_now = tcb.rcv.window();
        if socket.shutdown & RCV_SHUTDOWN == 0 && 2 * rcv_window_now <= tcb.rcv.window_clamp {
            let new = tcb.rcv.free_window();
            if new != 0 && new >= 2 * rcv_window_now {
                self.tcp_send_ack(now, fd);
            }
        }
        Ok(n)
    }

    /// `tcp_close_state`: the state close() or shutdown(SHUT_WR) moves to, and whether a FIN
    /// goes out.
    fn tcp_close_state(&mut self, fd: SocketId) -> bool {
        let Ok(socket) = self.sockets.get(fd) else { return false };
        let (next, fin) = match socket.state {
            TcpState::Established | TcpState::SynRecv => (TcpState::FinWait1, true),
            TcpState::CloseWait => (TcpState::LastAck, true),
            TcpState::SynSent | TcpState::TimeWait | TcpState::Listen => (TcpState::Close, false),
            other => (other, false),
        };
        self.tcp_set_state(fd, next);
        fin
    }

    /// `tcp_send_fin`: the FIN is queued after the data and pushed.
    fn tcp_send_fin(&mut self, now: Instant, fd: SocketId) {
        if let Some(tcb) = self.sockets.get_mut(fd).ok().and_then(|s| s.tcb.as_deref_mut()) {
            tcb.snd.fin_queued = true;
        }
        self.tcp_write_xmit(now, fd);
    }

    /// `tcp_close` for a connection (spec E15): unread data aborts it with a reset
    /// (TCPAbortOnClose), so does SO_LINGER with a zero time (`tcp_disconnect`); otherwise
    /// it sends its FIN as `tcp_close_state` says and lives on as an orphan until
    /// the close completes; an orphan in FIN_WAIT2 waits `tcp_fin_timeout` for the peer's
    /// FIN. The descriptor is free at once: the stack never blocks, so a positive linger time
    /// does not hold close() back (a blocking driver may wait for the FIN's ACK itself).
    pub(crate) fn tcp_close(&mut self, now: Instant, fd: SocketId) -> Result<(), Errno> {
        let socket = self.sockets.get_mut(fd)?;
        socket.shutdown = SHUTDOWN_MASK;
        let unread = socket.tcb.as_deref().is_some_and(|t| !t.rcv.buf.is_empty());
        let abort = socket.options.linger == Some(0);
        if socket.state != TcpState::Close {
            if unread {
                self.mib.inc(Counter::TcpExtTCPAbortOnClose);
                self.tcp_set_state(fd, TcpState::Close);
                self.tcp_send_active_reset(now, fd);
            } else if abort {
                // SO_LINGER with a zero time: tcp_disconnect, a reset where one is owed.
                self.mib.inc(Counter::TcpExtTCPAbortOnData);
                if tcp_need_reset(socket.state) {
                    self.tcp_send_active_reset(now, fd);
                }
                self.tcp_set_state(fd, TcpState::Close);
            } else if self.tcp_close_state(fd) {
                self.tcp_send_fin(now, fd);
            }
        }
        if self.sockets.get(fd)?.state == TcpState::Close {
            self.inet_csk_destroy_sock(fd);
            return Ok(());
        }
        self.sockets.release_fd(fd);
        self.sockets.get_mut(fd)?.parent = None;
        if self.sockets.get(fd)?.state == TcpState::FinWait2 {
            self.arm_fin_wait2(now, fd);
        }
        Ok(())
    }

    /// [`arm_fin_wait2`] for socket `fd`.
    pub(crate) fn arm_fin_wait2(&mut self, now: Instant, fd: SocketId) {
        let (mut cx, sockets) = self.ctx();
        if let Some(tcb) = sockets.get_mut(fd).ok().and_then(|s| s.tcb.as_deref_mut()) {
            arm_fin_wait2(&mut cx, now, fd, tcb);
        }
    }

    /// `tcp_shutdown` for a connection: the `how + 1` bits join `sk_shutdown`; shutting
    /// sending down sends the FIN from ESTABLISHED, SYN_RECV or CLOSE_WAIT. `ENOTCONN`
    /// on a closed socket.
    pub(crate) fn tcp_shutdown(&mut self, now: Instant, fd: SocketId, how: i32) -> Result<(), Errno> {
        let socket = self.sockets.get_mut(fd)?;
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
            && self.tcp_close_state(fd)
        {
            self.tcp_send_fin(now, fd);
        }
        Ok(())
    }

    /// `tcp_poll` for a connection socket.
    pub(crate) fn tcp_poll(&self, fd: SocketId) -> Result<u16, Errno> {
        let socket = self.sockets.get(fd)?;
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
            return Ok(mask);
        }
        if let Some(tcb) = socket.tcb.as_deref() {
            if !tcb.rcv.buf.is_empty() {
                mask |= POLLIN | POLLRDNORM;
            }
            // sk_stream_is_writeable: free space at least half of what is queued.
            let queued = tcb.snd.buf.len() as u32;
            let free = socket.options.sndbuf.saturating_sub(queued);
            if socket.shutdown & SEND_SHUTDOWN != 0 || free >= queued / 2 {
                mask |= POLLOUT | POLLWRNORM;
            }
        } else if socket.state == TcpState::Close {
            mask |= POLLOUT | POLLWRNORM;
        }
        Ok(mask)
    }
}

/// `tcp_need_reset`: the states an abort answers with a reset.
pub(crate) fn tcp_need_reset(state: TcpState) -> bool {
    matches!(
        state,
        TcpState::Established | TcpState::CloseWait | TcpState::FinWait1 | TcpState::FinWait2 | TcpState::SynRecv
    )
}
