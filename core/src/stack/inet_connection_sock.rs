//! The connection-level work on the stack's tables (Linux's `inet_connection_sock.c` and the
//! table side of `tcp.c`): a connection's end (`tcp_done`), its place taken by a TIME_WAIT
//! mini-socket (`tcp_time_wait`), a closed socket freed (`inet_csk_destroy_sock`), and the
//! user calls on a connection, lending the socket-level functions the context.

use crate::base::errno::Errno;
use crate::base::time::{tcp_clock_ms, Instant};
use crate::inet::socket::{SockId, SocketId, TcpState};
use crate::stack::Stack;
use crate::tcp::calls::{self, arm_fin_wait2, TcpInfo};
use crate::tcp::tcp_output::{tcp_push, Nagle};

impl Stack {
    /// `tcp_get_info`: the connection's state as TCP_INFO reports it.
    pub fn tcp_info(&self, now: Instant, fd: SocketId) -> Result<TcpInfo, Errno> {
        let socket = self.tables.sockets.get(self.tables.sockets.resolve(fd)?)?;
        let mut info = TcpInfo {
            state: socket.state as u8,
            snd_mss: u32::from(socket.mss_cache()),
            rcvbuf: socket.options.rcvbuf,
            sndbuf: socket.options.sndbuf,
            ..TcpInfo::default()
        };
        if let Some(t) = socket.tcb() {
            info.retransmits = t.rtt.retransmits;
            info.backoff = t.rtt.backoff;
            info.rto = t.rtt.rto.as_micros() as u32;
            info.ato = t.ack.ato_ms * 1000;
            info.rcv_mss = t.ack.rcv_mss;
            info.advmss = u32::from(t.advmss);
            info.rcv_ssthresh = t.rcv.ssthresh;
            info.rcv_space = t.rcv.space;
            info.snd_cwnd = t.cwnd.cwnd;
            info.snd_ssthresh = t.cwnd.ssthresh;
            info.last_data_recv = tcp_clock_ms(now).wrapping_sub(t.ack.lrcvtime_ms);
            info.ca_state = t.rec.ca_state as u8;
            info.unacked = t.rec.packets_out();
            info.sacked = t.rec.sacked_out;
            info.lost = t.rec.lost_out;
            info.retrans = t.rec.retrans_out;
            info.total_retrans = t.rec.total_retrans;
            info.reordering = t.rec.reordering;
            info.delivered = t.rec.delivered;
            info.bytes_acked = t.snd.bytes_acked;
            info.bytes_received = t.rcv.bytes_received;
            info.probes = t.rtt.probes_out;
        }
        Ok(info)
    }

    /// [`calls::tcp_done`] for socket `fd`.
    pub(crate) fn tcp_done(&mut self, fd: SockId) {
        let (mut cx, t) = self.parts();
        calls::tcp_done(&mut cx, t, fd);
    }

    /// [`calls::inet_csk_destroy_sock`] for socket `fd`.
    pub(crate) fn inet_csk_destroy_sock(&mut self, fd: SockId) {
        let (mut cx, t) = self.parts();
        calls::inet_csk_destroy_sock(&mut cx, t, fd);
    }

    /// [`arm_fin_wait2`] for socket `fd`.
    pub(crate) fn arm_fin_wait2(&mut self, now: Instant, fd: SockId) {
        let (mut cx, sockets) = self.ctx();
        let Ok(socket) = sockets.get_mut(fd) else { return };
        let linger2 = socket.options.linger2;
        if let Some(tcb) = socket.tcb_mut() {
            arm_fin_wait2(&mut cx, now, fd, tcb, linger2);
        }
    }

    /// `send(2)` on a connection ([`calls::tcp_sendmsg`]).
    pub(crate) fn tcp_sendmsg(&mut self, now: Instant, fd: SockId, data: &[u8], more: bool) -> Result<usize, Errno> {
        let (mut cx, sockets) = self.ctx();
        calls::tcp_sendmsg(&mut cx, now, fd, sockets.get_mut(fd)?, data, more)
    }

    /// `tcp_push_pending_frames` with `TCP_NAGLE_PUSH` on a connection.
    pub(crate) fn tcp_push_pending(&mut self, now: Instant, fd: SockId) {
        let (mut cx, sockets) = self.ctx();
        if let Ok(socket) = sockets.get_mut(fd) {
            let mut nagle = Nagle::of(socket);
            nagle.push = true;
            tcp_push(&mut cx, now, fd, socket, nagle);
        }
    }

    /// `recv(2)` on a connection ([`calls::tcp_recvmsg`]).
    pub(crate) fn tcp_recvmsg(&mut self, now: Instant, fd: SockId, buf: &mut [u8]) -> Result<usize, Errno> {
        let (mut cx, sockets) = self.ctx();
        calls::tcp_recvmsg(&mut cx, now, sockets.get_mut(fd)?, buf)
    }

    /// `close(2)` on a connection ([`calls::tcp_close`]): a closed socket is freed; one still
    /// closing loses its descriptor and lives on as an orphan (in FIN_WAIT2 for
    /// `tcp_fin_timeout` at most).
    pub(crate) fn tcp_close(&mut self, now: Instant, fd: SockId) -> Result<(), Errno> {
        let (mut cx, sockets) = self.ctx();
        if calls::tcp_close(&mut cx, now, fd, sockets.get_mut(fd)?) {
            self.inet_csk_destroy_sock(fd);
            return Ok(());
        }
        self.tables.sockets.release_fd(fd);
        self.tables.sockets.get_mut(fd)?.parent = None;
        if self.tables.sockets.get(fd)?.state == TcpState::FinWait2 {
            self.arm_fin_wait2(now, fd);
        }
        Ok(())
    }

    /// `shutdown(2)` on a connection ([`calls::tcp_shutdown`]).
    pub(crate) fn tcp_shutdown(&mut self, now: Instant, fd: SockId, how: i32) -> Result<(), Errno> {
        let (mut cx, sockets) = self.ctx();
        calls::tcp_shutdown(&mut cx, now, fd, sockets.get_mut(fd)?, how)
    }

    /// `poll(2)` on a connection ([`calls::tcp_poll`]).
    pub(crate) fn tcp_poll(&self, fd: SockId) -> Result<u16, Errno> {
        let socket = self.tables.sockets.get(fd)?;
        Ok(calls::tcp_poll(socket, calls::tcp_notsent_lowat(&self.sysctl, socket)))
    }
}
