//! The stack's side of the TCP handlers, which are functions over borrowed parts: each finds
//! the socket and lends the handler the shared parts ([`Stack::parts`], [`Stack::ctx`]).

use crate::base::time::Instant;
use crate::inet::socket::SockId;
use crate::stack::Stack;
use crate::tcp::tcb::TcpTimer;
use crate::tcp::tcp_minisocks;
use crate::tcp::tcp_output;
use crate::tcp::tcp_timer::{self, Fired};
use synq_wire::TcpFlags;

impl Stack {
    /// `tcp_send_active_reset`: RST|ACK at `snd_nxt` (L61).
    pub(crate) fn tcp_send_active_reset(&mut self, now: Instant, fd: SockId) {
        let (mut cx, sockets) = self.ctx();
        if let Ok(s) = sockets.get_mut(fd) {
            tcp_output::send_control(&mut cx, now, s, TcpFlags::RST | TcpFlags::ACK);
        }
    }

    /// Runs connection `fd`'s timer `kind` ([`tcp_timer::tcp_timer`]); `tcp_done` if it
    /// ended the connection.
    pub(crate) fn tcp_timer(&mut self, now: Instant, fd: SockId, kind: TcpTimer) {
        let (mut cx, sockets) = self.ctx();
        let Ok(s) = sockets.get_mut(fd) else { return };
        if tcp_timer::tcp_timer(&mut cx, now, fd, s, kind) == Fired::Done {
            self.tcp_done(fd);
        }
    }

    /// A TIME_WAIT entry's time is up ([`tcp_minisocks::inet_twsk_kill`]).
    pub(crate) fn tw_timer_handler(&mut self, now: Instant) {
        let (mut cx, t) = self.parts();
        while let Some(id) = cx.tw_next_due(now, |id| t.time_waits.get(id).map(|tw| tw.conn.expires_ms)) {
            tcp_minisocks::inet_twsk_kill(&mut cx, t, id);
        }
    }
}
