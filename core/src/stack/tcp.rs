//! The stack's side of the TCP handlers that are functions over borrowed parts: each finds
//! the socket and lends the handler the shared parts ([`Stack::ctx`]).

use crate::base::mib::Counter;
use crate::base::time::{Duration, Instant};
use crate::inet::ehash::EhashEntry;
use crate::inet::socket::SocketId;
use crate::inet::time_wait::{TimeWaitId, TimeWaitSock};
use crate::stack::Stack;
use crate::tcp::tcb::TcpTimer;
use crate::tcp::tcp_input::{self, Disposition};
use crate::tcp::tcp_output;
use crate::tcp::tcp_timer::{self, Fired};
use synq_wire::{Ipv4Repr, TcpFlags, TcpRepr};

impl Stack {
    /// `tcp_rto_min` from the sysctl.
    pub(crate) fn rto_min(&self) -> Duration {
        Duration::from_micros(self.sysctl.tcp_rto_min_us.max(1) as u64)
    }

    /// `tcp_rto_max` from the sysctl.
    pub(crate) fn rto_max(&self) -> Duration {
        Duration::from_millis(self.sysctl.tcp_rto_max_ms.max(1) as u64)
    }

    /// `tcp_send_active_reset`: RST|ACK at `snd_nxt` (L61).
    pub(crate) fn tcp_send_active_reset(&mut self, now: Instant, fd: SocketId) {
        self.send_control(now, fd, TcpFlags::RST | TcpFlags::ACK);
    }

    fn send_control(&mut self, now: Instant, fd: SocketId, flags: TcpFlags) {
        let (mut cx, sockets) = self.ctx();
        if let Ok(s) = sockets.get_mut(fd) {
            tcp_output::send_control(&mut cx, now, s, flags);
        }
    }

    /// Runs connection `fd`'s timer `kind` ([`tcp_timer::tcp_timer`]); `tcp_done` if it
    /// ended the connection.
    pub(crate) fn tcp_timer(&mut self, now: Instant, fd: SocketId, kind: TcpTimer) {
        let (mut cx, sockets) = self.ctx();
        let Ok(s) = sockets.get_mut(fd) else { return };
        if tcp_timer::tcp_timer(&mut cx, now, fd, s, kind) == Fired::Done {
            self.tcp_done(fd);
        }
    }

    /// `tw_timer_handler` → `inet_twsk_kill`: a TIME_WAIT entry's time is up; its 4-tuple
    /// and port are free.
    pub(crate) fn tw_timer_handler(&mut self, id: TimeWaitId) {
        let Some(tuple) = self.time_waits.get(id).map(TimeWaitSock::tuple) else {
            return;
        };
        self.ehash.remove(&tuple, EhashEntry::TimeWait(id));
        self.remove_time_wait(id);
        self.mib.inc(Counter::TcpExtTW);
    }

    /// Segment processing for connection `fd` ([`tcp_input::tcp_rcv_synchronized`]), then
    /// what it decided for the connection.
    pub(crate) fn tcp_rcv_synchronized(&mut self, now: Instant, fd: SocketId, ip: &Ipv4Repr, seg: &TcpRepr<'_>) {
        let (mut cx, sockets) = self.ctx();
        let Ok(s) = sockets.get_mut(fd) else { return };
        match tcp_input::tcp_rcv_synchronized(&mut cx, now, fd, s, ip, seg) {
            Disposition::Keep => {}
            Disposition::Done => self.tcp_done(fd),
            Disposition::TimeWait => self.tcp_time_wait(now, fd),
        }
    }
}
