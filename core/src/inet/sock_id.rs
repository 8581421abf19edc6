//! The two numbers a socket goes by, as two types: the descriptor the user holds
//! ([`SocketId`], the lowest free number from 3 up, as Linux's `get_unused_fd_flags` picks after
//! stdin, stdout and stderr) and the socket's own number ([`SockId`]), which never changes
//! while it lives and is what the stack's tables hold (Linux's tables point at the
//! `struct sock`, not at a file). [`SocketTable::resolve`](crate::inet::socket::SocketTable::resolve)
//! turns the first into the second.

use core::fmt;

/// A descriptor: what `socket()` and `accept()` return and every call takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SocketId(pub(crate) u32);

impl SocketId {
    /// The first descriptor a stack gives out.
    pub const FIRST: u32 = 3;

    /// The number.
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// A descriptor from its number (it may name no socket: calls then fail with `EBADF`).
    pub const fn from_raw(n: u32) -> SocketId {
        SocketId(n)
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A socket's own number: what the established hash, the bind table, the timers, the accept
/// queue and a request's listener refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SockId(u32);

impl SockId {
    /// The socket with index `i` in its stack's table.
    pub const fn from_index(i: u32) -> SockId {
        SockId(i)
    }

    /// Its index in the stack's table, from 0.
    pub const fn index(self) -> u32 {
        self.0
    }
}

impl fmt::Display for SockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sk{}", self.0)
    }
}
