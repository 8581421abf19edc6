//! Sockets as the stack holds them: fd-like handles into a slab, Linux's TCP states, and the
//! per-socket options.

use crate::errno::Errno;
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
    /// A handle from its number (it may name no socket: calls then fail with `EBADF`).
    pub const fn from_raw(n: u32) -> SocketId {
        SocketId(n)
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

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

/// Socket options that are plain flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SocketOptions {
    /// `SO_REUSEADDR`
    pub reuse_addr: bool,
    /// `SO_REUSEPORT`
    pub reuse_port: bool,
    /// `SO_KEEPALIVE`
    pub keepalive: bool,
    /// `TCP_NODELAY`
    pub nodelay: bool,
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
    /// Local address and port (`0.0.0.0:0` until bound).
    pub local: SocketAddrV4,
    /// Peer address once connected.
    pub peer: Option<SocketAddrV4>,
    /// Pending error (`SO_ERROR`).
    pub error: Option<Errno>,
}

impl Socket {
    /// A fresh socket: `TCP_CLOSE`, unbound, no options.
    pub fn new(nonblocking: bool) -> Socket {
        Socket {
            state: TcpState::Close,
            nonblocking,
            options: SocketOptions::default(),
            local: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            peer: None,
            error: None,
        }
    }
}

/// The slab of sockets, indexed by handle.
#[derive(Debug, Default)]
pub struct SocketTable {
    slots: Vec<Option<Socket>>,
    free: BinaryHeap<Reverse<u32>>,
    len: usize,
}

impl SocketTable {
    /// Stores `socket` under the lowest free handle.
    pub fn insert(&mut self, socket: Socket) -> SocketId {
        self.len += 1;
        if let Some(Reverse(i)) = self.free.pop() {
            self.slots[i as usize] = Some(socket);
            return SocketId(i + SocketId::FIRST);
        }
        self.slots.push(Some(socket));
        SocketId(self.slots.len() as u32 - 1 + SocketId::FIRST)
    }

    fn index(id: SocketId) -> Option<usize> {
        id.0.checked_sub(SocketId::FIRST).map(|i| i as usize)
    }

    /// The socket behind `id`, or `EBADF`.
    pub fn get(&self, id: SocketId) -> Result<&Socket, Errno> {
        Self::index(id)
            .and_then(|i| self.slots.get(i))
            .and_then(Option::as_ref)
            .ok_or(Errno::EBADF)
    }

    /// The socket behind `id`, mutable, or `EBADF`.
    pub fn get_mut(&mut self, id: SocketId) -> Result<&mut Socket, Errno> {
        Self::index(id)
            .and_then(|i| self.slots.get_mut(i))
            .and_then(Option::as_mut)
            .ok_or(Errno::EBADF)
    }

    /// Takes the socket out, freeing its handle for reuse, or `EBADF`.
    pub fn remove(&mut self, id: SocketId) -> Result<Socket, Errno> {
        let i = Self::index(id).ok_or(Errno::EBADF)?;
        let socket = self.slots.get_mut(i).and_then(Option::take).ok_or(Errno::EBADF)?;
        self.free.push(Reverse(i as u32));
        self.len -= 1;
        Ok(socket)
    }

    /// Number of open sockets.
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
        let a = t.insert(Socket::new(false));
        let b = t.insert(Socket::new(false));
        let c = t.insert(Socket::new(false));
        assert_eq!((a.raw(), b.raw(), c.raw()), (3, 4, 5));
        t.remove(b).unwrap();
        t.remove(a).unwrap();
        assert_eq!(t.insert(Socket::new(false)).raw(), 3);
        assert_eq!(t.insert(Socket::new(false)).raw(), 4);
        assert_eq!(t.insert(Socket::new(false)).raw(), 6);
        assert_eq!(t.len(), 4);
        assert_eq!(t.get(SocketId::from_raw(2)).unwrap_err(), Errno::EBADF);
        assert_eq!(t.remove(SocketId::from_raw(99)).unwrap_err(), Errno::EBADF);
    }
}
