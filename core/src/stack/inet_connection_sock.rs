//! The connection-level work on the stack's tables (Linux's `inet_connection_sock.c` and the
//! table side of `tcp.c`): a connection's end (`tcp_done`), its place taken by a TIME_WAIT
//! mini-socket (`tcp_time_wait`), a closed socket freed (`inet_csk_destroy_sock`), and the
//! user calls on a connection, lending the socket-level functions the context.

use crate::base::errno::Errno;
use crate::base::time::Instant;
use crate::inet::bind_table::Owner;
use crate::inet::ehash::EhashEntry;
use crate::inet::socket::{SocketId, TcpState, SHUTDOWN_MASK};
use crate::inet::time_wait::{TimeWaitSock, TwConn, TCP_TIMEWAIT_LEN};
use crate::stack::Stack;
use crate::tcp::calls::{self, arm_fin_wait2, tcp_set_state, TcpInfo};
use crate::tcp::ctx::Timer;
use std::net::SocketAddrV4;

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

    /// [`arm_fin_wait2`] for socket `fd`.
    pub(crate) fn arm_fin_wait2(&mut self, now: Instant, fd: SocketId) {
        let (mut cx, sockets) = self.ctx();
        if let Some(tcb) = sockets.get_mut(fd).ok().and_then(|s| s.tcb.as_deref_mut()) {
            arm_fin_wait2(&mut cx, now, fd, tcb);
        }
    }

    /// `send(2)` on a connection ([`calls::tcp_sendmsg`]).
    pub(crate) fn tcp_sendmsg(&mut self, now: Instant, fd: SocketId, data: &[u8]) -> Result<usize, Errno> {
        let (mut cx, sockets) = self.ctx();
        calls::tcp_sendmsg(&mut cx, now, fd, sockets.get_mut(fd)?, data)
    }

    /// `recv(2)` on a connection ([`calls::tcp_recvmsg`]).
    pub(crate) fn tcp_recvmsg(&mut self, now: Instant, fd: SocketId, buf: &mut [u8]) -> Result<usize, Errno> {
        let (mut cx, sockets) = self.ctx();
        calls::tcp_recvmsg(&mut cx, now, sockets.get_mut(fd)?, buf)
    }

    /// `close(2)` on a connection ([`calls::tcp_close`]): a closed socket is freed; one still
    /// closing loses its descriptor and lives on as an orphan (in FIN_WAIT2 for
    /// `tcp_fin_timeout` at most).
    pub(crate) fn tcp_close(&mut self, now: Instant, fd: SocketId) -> Result<(), Errno> {
        let (mut cx, sockets) = self.ctx();
        if calls::tcp_close(&mut cx, now, fd, sockets.get_mut(fd)?) {
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

    /// `shutdown(2)` on a connection ([`calls::tcp_shutdown`]).
    pub(crate) fn tcp_shutdown(&mut self, now: Instant, fd: SocketId, how: i32) -> Result<(), Errno> {
        let (mut cx, sockets) = self.ctx();
        calls::tcp_shutdown(&mut cx, now, fd, sockets.get_mut(fd)?, how)
    }

    /// `poll(2)` on a connection ([`calls::tcp_poll`]).
    pub(crate) fn tcp_poll(&self, fd: SocketId) -> Result<u16, Errno> {
        Ok(calls::tcp_poll(self.sockets.get(fd)?))
    }
}
