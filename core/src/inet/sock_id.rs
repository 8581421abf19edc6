//! The numbers sockets go by: descriptors and sockets' own numbers.

use core::fmt;

/// Names a socket. Two kinds of number are handed around: the descriptor the user holds
/// (the lowest free number from 3 up, as Linux's `get_unused_fd_flags` picks after stdin,
/// stdout and stderr) and the socket's own number, which never changes while it lives and is
/// what the stack's tables hold (Linux's tables point at the `struct sock`, not at a file).
/// Every call takes either; [`SocketTable::resolve`] turns a descriptor into the socket's own.
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
    /// Sockets' own numbers are not reachable this way.
    pub const fn from_raw(n: u32) -> SocketId {
        if n >= SOCK_BASE {
            return SocketId(u32::MAX);
        }
        SocketId(n)
    }

    /// A socket's own number as the stack stored it (ehash entries).
    pub(crate) const fn from_stored(n: u32) -> SocketId {
        SocketId(n)
    }

    /// True for a socket's own number, false for a descriptor.
    pub const fn is_sock(self) -> bool {
        self.0 >= SOCK_BASE
    }

    /// A socket's own number as an index from 0.
    pub(crate) const fn sock_index(self) -> u32 {
        self.0 - SOCK_BASE
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.is_sock() {
            true => write!(f, "sk{}", self.sock_index()),
            false => write!(f, "{}", self.0),
        }
    }
}

/// Sockets' own numbers start here, out of the way of descriptors; below `1 << 30` so that an
/// ehash entry can tag them in its two top bits.
pub(crate) const SOCK_BASE: u32 = 1 << 29;
