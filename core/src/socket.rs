//! Sockets as the stack holds them: fd-like handles into a slab, Linux's TCP states, and the
//! per-socket options.

use crate::accept_queue::AcceptQueue;
use crate::errno::Errno;
use crate::syn_queue::SynQueue;
use crate::syncookies::SynqOverflow;
use crate::tcb::{Tcb, TCP_MSS_DEFAULT};
use core::fmt;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{Ipv4Addr, SocketAddrV4};

/// A socket handle, numbered like a file descriptor: the lowest free number from 3 up, as
/// Linux's `get_unused_fd_flags` picks after stdin, stdout and stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SocketId(u32);

impl SocketId {
    /// The first handle a stack gives out.
    pub const FIRST: u32 = 3;

    /// The handle's number.
    pub const fn raw(self) -> u32 {
        self.0
    }
    /// A handle from its number (it may name no socket: calls then fail with `EBADF`). The
    /// numbers of sockets no descriptor names ([`SocketTable::insert_hidden`]) are not
    /// reachable this way.
    pub const fn from_raw(n: u32) -> SocketId {
        if n >= HIDDEN_BASE {
            return SocketId(u32::MAX);
        }
        SocketId(n)
    }

    /// The handle behind a number the stack stored itself (ehash entries).
    pub(crate) const fn from_stored(n: u32) -> SocketId {
        SocketId(n)
    }

    /// True for a socket no descriptor names: an unaccepted child or an orphan.
    pub const fn is_hidden(self) -> bool {
        self.0 >= HIDDEN_BASE
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Sockets that no descriptor names (children waiting for accept(), orphans after close())
/// are numbered from here, out of the way of descriptors; below `1 << 30` so that an ehash
/// entry can tag them in its two top bits.
const HIDDEN_BASE: u32 = 1 << 29;

/// `sk_shutdown` bits: no more receiving, no more sending, both.
pub const RCV_SHUTDOWN: u8 = 1;
pub const SEND_SHUTDOWN: u8 = 2;
pub const SHUTDOWN_MASK: u8 = 3;

/// Linux's TCP states, with Linux's numbers (`include/net/tcp_states.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TcpState {
    /// `TCP_ESTABLISHED`
    Established = 1,
    /// `TCP_SYN_SENT`
    SynSent = 2,
    /// `TCP_SYN_RECV`
    SynRecv = 3,
    /// `TCP_FIN_WAIT1`
    FinWait1 = 4,
    /// `TCP_FIN_WAIT2`
    FinWait2 = 5,
    /// `TCP_TIME_WAIT`
    TimeWait = 6,
    /// `TCP_CLOSE`: a new or finished socket.
    Close = 7,
    /// `TCP_CLOSE_WAIT`
    CloseWait = 8,
    /// `TCP_LAST_ACK`
    LastAck = 9,
    /// `TCP_LISTEN`
    Listen = 10,
    /// `TCP_CLOSING`
    Closing = 11,
    /// `TCP_NEW_SYN_RECV`: a request sock.
    NewSynRecv = 12,
}

/// Socket options (a child inherits its listener's, `inet_csk_clone_lock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SocketOptions {
    /// `sk_rcvbuf`: receive buffer bytes (`tcp_rmem[1]` at creation; SO_RCVBUF doubles).
    pub rcvbuf: u32,
    /// `sk_sndbuf`: send buffer bytes (`tcp_wmem[1]` at creation).
    pub sndbuf: u32,
    /// SO_RCVBUF was set (`SOCK_RCVBUF_LOCK`): the window is clamped to the buffer.
    pub rcvbuf_locked: bool,
    /// SO_SNDBUF was set (`SOCK_SNDBUF_LOCK`).
    pub sndbuf_locked: bool,
    /// `TCP_MAXSEG` (`rx_opt.user_mss`), 0 when unset.
    pub user_mss: u16,
    /// `TCP_SYNCNT` (`icsk_syn_retries`), 0 when unset.
    pub syn_retries: u8,
    /// `SO_REUSEADDR`
    pub reuse_addr: bool,
    /// `SO_REUSEPORT`
    pub reuse_port: bool,
    /// `SO_KEEPALIVE`
    pub keepalive: bool,
    /// `SO_LINGER`: the linger time in seconds when on (`SOCK_LINGER`, `sk_lingertime`).
    pub linger: Option<u32>,
    /// `TCP_NODELAY`
    pub nodelay: bool,
    /// `IP_FREEBIND`: bind() to an address that is not local.
    pub freebind: bool,
    /// `IP_BIND_ADDRESS_NO_PORT`: bind() with port 0 records the address only (rule B17).
    pub bind_address_no_port: bool,
}

/// Who owns a socket: the uid SO_REUSEPORT compares (rule B21) and whether the owner may
/// bind ports below `ip_unprivileged_port_start` (CAP_NET_BIND_SERVICE, rule B7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    /// The fsuid of the creating task (`sk_uid`).
    pub uid: u32,
    /// CAP_NET_BIND_SERVICE in the stack's user namespace.
    pub cap_net_bind_service: bool,
}

impl Credentials {
    /// root: uid 0 with every capability.
    pub const ROOT: Credentials = Credentials {
        uid: 0,
        cap_net_bind_service: true,
    };
    /// nobody (uid 65534), unprivileged: the default owner of a stack's sockets.
    pub const NOBODY: Credentials = Credentials {
        uid: 65534,
        cap_net_bind_service: false,
    };

    /// An unprivileged user.
    pub const fn user(uid: u32) -> Credentials {
        Credentials {
            uid,
            cap_net_bind_service: false,
        }
    }
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials::NOBODY
    }
}

/// One TCP socket.
#[derive(Debug, Clone)]
pub struct Socket {
    /// TCP state.
    pub state: TcpState,
    /// `O_NONBLOCK`.
    pub nonblocking: bool,
    /// Flag options.
    pub options: SocketOptions,
    /// Owner.
    pub creds: Credentials,
    /// Local address (`inet_rcv_saddr`): 0.0.0.0 until bound to a specific one.
    pub rcv_saddr: Ipv4Addr,
    /// The port held in the bind table (`inet_num`), 0 when none.
    pub num: u16,
    /// The port getsockname() reports (`inet_sport`); may outlive `num` (rule B20).
    pub sport: u16,
    /// The address was chosen by the user (`SOCK_BINDADDR_LOCK`).
    pub bind_addr_lock: bool,
    /// The port was chosen by the user (`SOCK_BINDPORT_LOCK`).
    pub bind_port_lock: bool,
    /// listen() backlog after the `somaxconn` clamp (`sk_max_ack_backlog`).
    pub backlog: u32,
    /// Peer address once connected.
    pub peer: Option<SocketAddrV4>,
    /// Pending error (`SO_ERROR`).
    pub error: Option<Errno>,
    /// A listener's SYN-queue counters.
    pub syn_queue: SynQueue,
    /// A listener's completed children, oldest first.
    pub accept_queue: AcceptQueue,
    /// A listener's last SYN-cookie time (L38).
    pub synq_overflow: SynqOverflow,
    /// The "Possible SYN flooding" message was logged (`synflood_warned`, never cleared).
    pub synflood_warned: bool,
    /// TCP_DEFER_ACCEPT, in SYN-ACK retransmissions (`rskq_defer_accept`, L27).
    pub defer_accept: u8,
    /// The listener an unaccepted child waits on.
    pub parent: Option<SocketId>,
    /// A synchronized connection's state.
    pub tcb: Option<Box<Tcb>>,
    /// `sk_shutdown`: [`RCV_SHUTDOWN`] and [`SEND_SHUTDOWN`] bits.
    pub shutdown: u8,
    /// `SOCK_DONE`: the peer's FIN arrived (reads end).
    pub done: bool,
    /// Tells this socket from a later one under the same handle (a request sock remembers
    /// its listener's, as Linux's holds a reference to the listener itself).
    pub incarnation: u32,
}

impl Socket {
    /// A fresh socket: `TCP_CLOSE`, unbound, no options (rule B3).
    pub fn new(creds: Credentials, nonblocking: bool) -> Socket {
        Socket {
            state: TcpState::Close,
            nonblocking,
            options: SocketOptions::default(),
            creds,
            rcv_saddr: Ipv4Addr::UNSPECIFIED,
            num: 0,
            sport: 0,
            bind_addr_lock: false,
            bind_port_lock: false,
            backlog: 0,
            peer: None,
            error: None,
            syn_queue: SynQueue::default(),
            accept_queue: AcceptQueue::default(),
            synq_overflow: SynqOverflow::default(),
            synflood_warned: false,
            defer_accept: 0,
            parent: None,
            tcb: None,
            shutdown: 0,
            done: false,
            incarnation: 0,
        }
    }

    /// getsockopt(TCP_MAXSEG): `mss_cache`, or TCP_MAXSEG while closed or listening. A
    /// connection's is the smaller of our MSS and the peer's clamp, less the timestamp option,
    /// at most half the largest window the peer offered (`tcp_sync_mss`,
    /// `tcp_bound_to_half_wnd`); before one, `TCP_MSS_DEFAULT`.
    pub fn mss_cache(&self) -> u16 {
        if self.options.user_mss != 0 && matches!(self.state, TcpState::Close | TcpState::Listen) {
            return self.options.user_mss;
        }
        let Some(t) = &self.tcb else { return TCP_MSS_DEFAULT };
        let options = if t.tstamp_ok { 12 } else { 0 };
        let mss = u32::from(t.advmss.min(t.mss_clamp) - options);
        let cutoff = if t.max_window > u32::from(TCP_MSS_DEFAULT) {
            t.max_window >> 1
        } else {
            t.max_window
        };
        if cutoff != 0 && mss > cutoff {
            return cutoff.max(u32::from(68 - 20 - options)) as u16;
        }
        mss as u16
    }

    /// An orphan (`SOCK_DEAD`): closed by the user while the connection still closes, so no
    /// descriptor and no listener holds it.
    pub fn is_orphan(&self, id: SocketId) -> bool {
        id.is_hidden() && self.parent.is_none()
    }

    /// getsockname(): the local address and the reported port.
    pub fn local(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.rcv_saddr, self.sport)
    }
}

/// The sockets: those a descriptor names, indexed by it, and the hidden ones (children not
/// yet accepted, orphans still closing), which a descriptor is given to or taken from as
/// accept() and close() do (`fd_install`, `sock_orphan`).
#[derive(Debug, Default)]
pub struct SocketTable {
    slots: Vec<Option<Socket>>,
    free: BinaryHeap<Reverse<u32>>,
    hidden: Vec<Option<Socket>>,
    hidden_free: Vec<u32>,
    len: usize,
    incarnations: u32,
}

impl SocketTable {
    /// Stores `socket` under the lowest free descriptor.
    pub fn insert(&mut self, mut socket: Socket) -> SocketId {
        self.len += 1;
        self.incarnations = self.incarnations.wrapping_add(1);
        socket.incarnation = self.incarnations;
        self.install(socket)
    }

    fn install(&mut self, socket: Socket) -> SocketId {
        if let Some(Reverse(i)) = self.free.pop() {
            self.slots[i as usize] = Some(socket);
            return SocketId(i + SocketId::FIRST);
        }
        self.slots.push(Some(socket));
        SocketId(self.slots.len() as u32 - 1 + SocketId::FIRST)
    }

    /// Stores `socket` where no descriptor names it.
    pub fn insert_hidden(&mut self, mut socket: Socket) -> SocketId {
        self.len += 1;
        self.incarnations = self.incarnations.wrapping_add(1);
        socket.incarnation = self.incarnations;
        self.hide(socket)
    }

    fn hide(&mut self, socket: Socket) -> SocketId {
        if let Some(i) = self.hidden_free.pop() {
            self.hidden[i as usize] = Some(socket);
            return SocketId(HIDDEN_BASE + i);
        }
        self.hidden.push(Some(socket));
        SocketId(HIDDEN_BASE + self.hidden.len() as u32 - 1)
    }

    /// Moves a socket between the hidden and the descriptor-named sides; returns its new
    /// handle (the same one if it is already on the side asked for).
    pub fn rehome(&mut self, id: SocketId, visible: bool) -> Result<SocketId, Errno> {
        if id.is_hidden() != visible {
            self.get(id)?;
            return Ok(id);
        }
        let socket = self.take(id)?;
        Ok(if visible {
            self.install(socket)
        } else {
            self.hide(socket)
        })
    }

    fn slot(&self, id: SocketId) -> Option<&Option<Socket>> {
        match id.0.checked_sub(HIDDEN_BASE) {
            Some(i) => self.hidden.get(i as usize),
            None => {
                id.0.checked_sub(SocketId::FIRST)
                    .and_then(|i| self.slots.get(i as usize))
            }
        }
    }

    fn slot_mut(&mut self, id: SocketId) -> Option<&mut Option<Socket>> {
        match id.0.checked_sub(HIDDEN_BASE) {
            Some(i) => self.hidden.get_mut(i as usize),
            None => {
                id.0.checked_sub(SocketId::FIRST)
                    .and_then(|i| self.slots.get_mut(i as usize))
            }
        }
    }

    /// The socket behind `id`, or `EBADF`.
    pub fn get(&self, id: SocketId) -> Result<&Socket, Errno> {
        self.slot(id).and_then(Option::as_ref).ok_or(Errno::EBADF)
    }

    /// The socket behind `id`, mutable, or `EBADF`.
    pub fn get_mut(&mut self, id: SocketId) -> Result<&mut Socket, Errno> {
        self.slot_mut(id).and_then(Option::as_mut).ok_or(Errno::EBADF)
    }

    fn take(&mut self, id: SocketId) -> Result<Socket, Errno> {
        let socket = self.slot_mut(id).and_then(Option::take).ok_or(Errno::EBADF)?;
        match id.0.checked_sub(HIDDEN_BASE) {
            Some(i) => self.hidden_free.push(i),
            None => self.free.push(Reverse(id.0 - SocketId::FIRST)),
        }
        Ok(socket)
    }

    /// Takes the socket out, freeing its handle for reuse, or `EBADF`.
    pub fn remove(&mut self, id: SocketId) -> Result<Socket, Errno> {
        let socket = self.take(id)?;
        self.len -= 1;
        Ok(socket)
    }

    /// Number of sockets, hidden ones included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no socket is open.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_lowest_free_from_three() {
        let mut t = SocketTable::default();
        let a = t.insert(Socket::new(Credentials::NOBODY, false));
        let b = t.insert(Socket::new(Credentials::NOBODY, false));
        let c = t.insert(Socket::new(Credentials::NOBODY, false));
        assert_eq!((a.raw(), b.raw(), c.raw()), (3, 4, 5));
        t.remove(b).unwrap();
        t.remove(a).unwrap();
        assert_eq!(t.insert(Socket::new(Credentials::NOBODY, false)).raw(), 3);
        assert_eq!(t.insert(Socket::new(Credentials::NOBODY, false)).raw(), 4);
        assert_eq!(t.insert(Socket::new(Credentials::NOBODY, false)).raw(), 6);
        assert_eq!(t.len(), 4);
        assert_eq!(t.get(SocketId::from_raw(2)).unwrap_err(), Errno::EBADF);
        assert_eq!(t.remove(SocketId::from_raw(99)).unwrap_err(), Errno::EBADF);
    }

    #[test]
    fn hidden_sockets_take_no_descriptor_until_rehomed() {
        let mut t = SocketTable::default();
        let child = t.insert_hidden(Socket::new(Credentials::NOBODY, false));
        assert!(child.is_hidden());
        assert_eq!(
            SocketId::from_raw(child.raw()).raw(),
            u32::MAX,
            "not reachable by number"
        );
        let a = t.insert(Socket::new(Credentials::NOBODY, false));
        assert_eq!(a.raw(), 3);
        let fd = t.rehome(child, true).unwrap();
        assert_eq!(fd.raw(), 4);
        assert!(t.get(child).is_err());
        let orphan = t.rehome(a, false).unwrap();
        assert!(orphan.is_hidden());
        assert_eq!(t.len(), 2);
        assert_eq!(t.insert(Socket::new(Credentials::NOBODY, false)).raw(), 3);
    }
}
