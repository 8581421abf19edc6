//! Sockets as the stack holds them: fd-like handles into a slab, Linux's TCP states, and the
//! per-socket options.

use crate::base::errno::Errno;
use crate::inet::accept_queue::AcceptQueue;
pub use crate::inet::sock_id::{SockId, SocketId};
use crate::inet::syn_queue::SynQueue;
use crate::inet::tuple::FourTuple;
use crate::tcp::syncookies::SynqOverflow;
use crate::tcp::tcb::{Tcb, TCP_MSS_DEFAULT};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{Ipv4Addr, SocketAddrV4};

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

/// `sock->state` (`socket_state`): what connect() and accept() made of the socket, apart from
/// the TCP state. A connection reported to the user stays `Connected` whatever happens to
/// it, so that connect() then says `EISCONN`; only a disconnect makes it `Unconnected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SockState {
    /// `SS_UNCONNECTED`
    #[default]
    Unconnected,
    /// `SS_CONNECTING`: connect() started an attempt whose outcome it has not reported yet.
    Connecting,
    /// `SS_CONNECTED`: connect() reported success, or accept() gave the socket.
    Connected,
    /// `SS_DISCONNECTING`: shutdown() settled a connect() whose handshake had not finished.
    Disconnecting,
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
    /// `TCP_SYNCNT` (`icsk_syn_retries`), 0 when unset (rule C26).
    pub syn_retries: u8,
    /// `TCP_USER_TIMEOUT` in ms (`icsk_user_timeout`), 0 when unset.
    pub user_timeout_ms: u32,
    /// `TCP_INQ` (`recvmsg_inq`).
    pub recvmsg_inq: bool,
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
    /// `IP_TRANSPARENT`: bind() to an address that is not local, and, listening on the
    /// wildcard, take connections to addresses that are not (TPROXY's listener).
    pub transparent: bool,
    /// `IP_BIND_ADDRESS_NO_PORT`: bind() with port 0 records the address only (rule B17).
    pub bind_address_no_port: bool,
    /// `IP_LOCAL_PORT_RANGE` (`inet->local_port_range`): `low | high << 16`, 0 when unset.
    pub local_port_range: u32,
    /// `TCP_KEEPIDLE`, `TCP_KEEPINTVL` (s) and `TCP_KEEPCNT`; 0 when unset (the sysctls').
    pub keepidle: u32,
    pub keepintvl: u32,
    pub keepcnt: u8,
    /// `TCP_LINGER2` (`tp->linger2`): 0 unset (`tcp_fin_timeout`), -1 negative, else seconds.
    pub linger2: i32,
    /// `TCP_CORK` (`TCP_NAGLE_CORK`): partial segments wait until uncorked.
    pub cork: bool,
    /// `TCP_NOTSENT_LOWAT` (`tp->notsent_lowat`): 0 when unset (the sysctl's).
    pub notsent_lowat: u32,
    /// `TCP_CONGESTION` when set (`icsk_ca_setsockopt`); otherwise the sysctl's algorithm.
    pub congestion: Option<crate::tcp::cong::CcAlgo>,
}

/// Who owns a socket: the uid SO_REUSEPORT compares (rule B21) and whether the owner may
/// bind ports below `ip_unprivileged_port_start` (CAP_NET_BIND_SERVICE, rule B7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    /// The fsuid of the creating task (`sk_uid`).
    pub uid: u32,
    /// CAP_NET_BIND_SERVICE in the stack's user namespace.
    pub cap_net_bind_service: bool,
    /// CAP_NET_ADMIN (or CAP_NET_RAW): may set `IP_TRANSPARENT`.
    pub cap_net_admin: bool,
}

impl Credentials {
    /// root: uid 0 with every capability.
    pub const ROOT: Credentials = Credentials {
        uid: 0,
        cap_net_bind_service: true,
        cap_net_admin: true,
    };
    /// nobody (uid 65534), unprivileged: the default owner of a stack's sockets.
    pub const NOBODY: Credentials = Credentials {
        uid: 65534,
        cap_net_bind_service: false,
        cap_net_admin: false,
    };

    /// An unprivileged user.
    pub const fn user(uid: u32) -> Credentials {
        Credentials {
            uid,
            cap_net_bind_service: false,
            cap_net_admin: false,
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
    /// Peer address once connected.
    pub peer: Option<SocketAddrV4>,
    /// Pending error (`SO_ERROR`).
    pub error: Option<Errno>,
    /// A listener's SYN-queue counters.
    pub syn_queue: SynQueue,
    /// A listener's last SYN-cookie time (L38).
    pub synq_overflow: SynqOverflow,
    /// The "Possible SYN flooding" message was logged (`synflood_warned`, never cleared).
    pub synflood_warned: bool,
    /// `sock->state`: where connect() stands (rule C3).
    pub sock_state: SockState,
    /// The ISN the next connect() uses (`write_seq` after `tcp_disconnect`), 0 for a fresh
    /// one from `secure_tcp_seq` (rule C8).
    pub write_seq: u32,
    /// TCP_DEFER_ACCEPT, in SYN-ACK retransmissions (`rskq_defer_accept`, L27).
    pub defer_accept: u8,
    /// The listener an unaccepted child waits on.
    pub parent: Option<SockId>,
    /// `inet_id`: the IP ID of the next datagram this socket sends (rule C20).
    pub inet_id: u16,
    /// What the socket is beyond these common fields: nothing yet, a listener with its
    /// queue, or a connection with its control block.
    pub kind: SockKind,
    /// `sk_shutdown`: [`RCV_SHUTDOWN`] and [`SEND_SHUTDOWN`] bits.
    pub shutdown: u8,
    /// `SOCK_DONE`: the peer's FIN arrived (reads end).
    pub done: bool,
    /// The descriptor that names it, if any (none for a child before accept() and an orphan).
    pub fd: Option<SocketId>,
    /// Tells this socket from a later one under the same handle (a request sock remembers
    /// its listener's, as Linux's holds a reference to the listener itself).
    pub incarnation: u32,
}

/// What a socket is, beyond what every socket has.
#[derive(Debug, Clone, Default)]
pub enum SockKind {
    /// Neither listening nor synchronized: new, bound, or closed.
    #[default]
    Idle,
    /// A listener: its backlog and its completed children.
    Listener(ListenQueue),
    /// A connection, from SYN_RECV on: its control block.
    Conn(Box<Tcb>),
}

/// A listener's accept side (`sk_max_ack_backlog`, `icsk_accept_queue`'s children). The
/// request counters, the SYN-cookie clock and the flood warning belong to the socket for
/// its life, as Linux keeps them when it listens again.
#[derive(Debug, Clone, Default)]
pub struct ListenQueue {
    /// listen() backlog after the `somaxconn` clamp.
    pub backlog: u32,
    /// Completed children, oldest first.
    pub accept_queue: AcceptQueue,
}

impl Socket {
    /// The IP ID for the next datagram this socket sends, and the one after it counted on:
    /// every DF segment of a connection takes the next value (`ip_select_ident_segs`).
    pub fn next_ip_id(&mut self) -> u16 {
        let id = self.inet_id;
        self.inet_id = id.wrapping_add(1);
        id
    }

    /// The connection's control block, if it is one.
    pub fn tcb(&self) -> Option<&Tcb> {
        match &self.kind {
            SockKind::Conn(t) => Some(t),
            _ => None,
        }
    }

    /// The connection's control block, mutable, if it is one.
    pub fn tcb_mut(&mut self) -> Option<&mut Tcb> {
        match &mut self.kind {
            SockKind::Conn(t) => Some(t),
            _ => None,
        }
    }

    /// The listener's accept side, if it listens.
    pub fn listen_queue(&self) -> Option<&ListenQueue> {
        match &self.kind {
            SockKind::Listener(q) => Some(q),
            _ => None,
        }
    }

    /// The listener's accept side, mutable, if it listens.
    pub fn listen_queue_mut(&mut self) -> Option<&mut ListenQueue> {
        match &mut self.kind {
            SockKind::Listener(q) => Some(q),
            _ => None,
        }
    }

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
            peer: None,
            error: None,
            syn_queue: SynQueue::default(),
            synq_overflow: SynqOverflow::default(),
            synflood_warned: false,
            sock_state: SockState::Unconnected,
            write_seq: 0,
            defer_accept: 0,
            parent: None,
            inet_id: 0,
            kind: SockKind::Idle,
            shutdown: 0,
            done: false,
            fd: None,
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
        let Some(t) = self.tcb() else { return TCP_MSS_DEFAULT };
        let options = if t.tstamp_ok { 12 } else { 0 };
        let mss = u32::from(t.advmss.min(t.mss_clamp) - options);
        t.snd.bound_to_half_wnd(mss, u32::from(68 - 20 - options)) as u16
    }

    /// An orphan (`SOCK_DEAD`): closed by the user while the connection still closes, so no
    /// descriptor and no listener holds it.
    pub fn is_orphan(&self) -> bool {
        self.fd.is_none() && self.parent.is_none()
    }

    /// The connection's 4-tuple from our side (`None` before it has a peer).
    pub fn tuple(&self) -> Option<FourTuple> {
        let peer = self.peer?;
        Some(FourTuple {
            local_addr: self.rcv_saddr,
            local_port: self.sport,
            remote_port: peer.port(),
            remote_addr: *peer.ip(),
        })
    }

    /// getsockname(): the local address and the reported port.
    pub fn local(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.rcv_saddr, self.sport)
    }
}

/// The sockets, by their own numbers, and the descriptor table that names some of them
/// (children wait for accept() without one, orphans lose theirs at close(): `fd_install`,
/// `sock_orphan`).
#[derive(Debug, Default)]
pub struct SocketTable {
    socks: Vec<Option<Socket>>,
    free_socks: Vec<u32>,
    /// Descriptor `3 + i` names `fds[i]`.
    fds: Vec<Option<SockId>>,
    free_fds: BinaryHeap<Reverse<u32>>,
    len: usize,
    incarnations: u32,
}

impl SocketTable {
    /// Every socket, with or without a descriptor, in slot order.
    pub fn values(&self) -> impl Iterator<Item = &Socket> {
        self.socks.iter().flatten()
    }

    /// Stores `socket` with the lowest free descriptor; returns the descriptor.
    pub fn insert(&mut self, socket: Socket) -> SocketId {
        let id = self.insert_hidden(socket);
        self.install_fd(id).expect("just stored")
    }

    /// Stores `socket` without a descriptor; returns its own number.
    pub fn insert_hidden(&mut self, mut socket: Socket) -> SockId {
        self.len += 1;
        self.incarnations = self.incarnations.wrapping_add(1);
        socket.incarnation = self.incarnations;
        socket.fd = None;
        if let Some(i) = self.free_socks.pop() {
            self.socks[i as usize] = Some(socket);
            return SockId::from_index(i);
        }
        self.socks.push(Some(socket));
        SockId::from_index(self.socks.len() as u32 - 1)
    }

    /// Gives socket `id` the lowest free descriptor (`fd_install`) and returns it.
    pub fn install_fd(&mut self, id: SockId) -> Result<SocketId, Errno> {
        self.get(id)?;
        let fd = match self.free_fds.pop() {
            Some(Reverse(i)) => {
                self.fds[i as usize] = Some(id);
                SocketId(i + SocketId::FIRST)
            }
            None => {
                self.fds.push(Some(id));
                SocketId(self.fds.len() as u32 - 1 + SocketId::FIRST)
            }
        };
        self.get_mut(id)?.fd = Some(fd);
        Ok(fd)
    }

    /// Takes the socket's descriptor away (`sock_orphan`); the socket stays.
    pub fn release_fd(&mut self, id: SockId) {
        if let Some(fd) = self.get_mut(id).ok().and_then(|s| s.fd.take()) {
            let i = fd.0 - SocketId::FIRST;
            self.fds[i as usize] = None;
            self.free_fds.push(Reverse(i));
        }
    }

    /// The socket descriptor `fd` names; `EBADF` if none.
    pub fn resolve(&self, fd: SocketId) -> Result<SockId, Errno> {
        fd.0.checked_sub(SocketId::FIRST)
            .and_then(|i| self.fds.get(i as usize).copied().flatten())
            .ok_or(Errno::EBADF)
    }

    /// Socket `id`, or `EBADF`.
    pub fn get(&self, id: SockId) -> Result<&Socket, Errno> {
        self.socks
            .get(id.index() as usize)
            .and_then(Option::as_ref)
            .ok_or(Errno::EBADF)
    }

    /// Socket `id`, mutable, or `EBADF`.
    pub fn get_mut(&mut self, id: SockId) -> Result<&mut Socket, Errno> {
        self.socks
            .get_mut(id.index() as usize)
            .and_then(Option::as_mut)
            .ok_or(Errno::EBADF)
    }

    /// Takes socket `id` out, freeing its number and its descriptor, or `EBADF`.
    pub fn remove(&mut self, id: SockId) -> Result<Socket, Errno> {
        self.get(id)?;
        self.release_fd(id);
        let i = id.index();
        let socket = self.socks[i as usize].take().expect("checked");
        self.free_socks.push(i);
        self.len -= 1;
        Ok(socket)
    }

    /// Number of sockets, those without a descriptor included.
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
        t.remove(t.resolve(b).unwrap()).unwrap();
        t.remove(t.resolve(a).unwrap()).unwrap();
        assert_eq!(t.insert(Socket::new(Credentials::NOBODY, false)).raw(), 3);
        assert_eq!(t.insert(Socket::new(Credentials::NOBODY, false)).raw(), 4);
        assert_eq!(t.insert(Socket::new(Credentials::NOBODY, false)).raw(), 6);
        assert_eq!(t.len(), 4);
        assert_eq!(t.resolve(SocketId::from_raw(2)).unwrap_err(), Errno::EBADF);
        assert_eq!(t.remove(SockId::from_index(99)).unwrap_err(), Errno::EBADF);
    }

    #[test]
    fn descriptors_come_and_go_the_socket_keeps_its_number() {
        let mut t = SocketTable::default();
        let child = t.insert_hidden(Socket::new(Credentials::NOBODY, false));
        let a = t.insert(Socket::new(Credentials::NOBODY, false));
        assert_eq!(a.raw(), 3);
        let fd = t.install_fd(child).unwrap();
        assert_eq!(fd.raw(), 4);
        assert_eq!(t.resolve(fd), Ok(child));
        let own = t.resolve(a).unwrap();
        t.release_fd(own);
        assert_eq!(t.resolve(a).unwrap_err(), Errno::EBADF);
        assert!(t.get(own).unwrap().is_orphan());
        assert_eq!(t.len(), 2);
        assert_eq!(t.insert(Socket::new(Credentials::NOBODY, false)).raw(), 3);
    }
}
