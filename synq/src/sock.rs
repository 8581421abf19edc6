//! What `synq::net` and `synq::tokio` share: the default stack and a socket of a stack.

use std::io;
use std::net::{SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use synq_core::consts::*;
use synq_core::{Errno, SocketId};
use synq_driver::TunDriver;

static DEFAULT: OnceLock<Arc<TunDriver>> = OnceLock::new();

/// Makes `driver` the stack that [`TcpListener::bind`] and [`TcpStream::connect`] use; the
/// first call wins (`Err` gives back a later one).
pub fn set_default(driver: Arc<TunDriver>) -> Result<(), Arc<TunDriver>> {
    DEFAULT.set(driver)
}

pub(crate) fn default_driver() -> io::Result<Arc<TunDriver>> {
    DEFAULT.get().cloned().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotConnected,
            "no synq stack: call synq::net::set_default first",
        )
    })
}

/// The IPv4 addresses `addr` names (synq runs IPv4 only: `EAFNOSUPPORT` for the rest).
pub(crate) fn v4_addrs<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddrV4>> {
    let mut out = Vec::new();
    let mut any = false;
    for a in addr.to_socket_addrs()? {
        any = true;
        if let SocketAddr::V4(v4) = a {
            out.push(v4);
        }
    }
    if out.is_empty() {
        return Err(if any {
            Errno::EAFNOSUPPORT.into()
        } else {
            io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any addresses")
        });
    }
    Ok(out)
}

/// A socket of a stack: closed on drop.
pub(crate) struct Sock {
    pub(crate) d: Arc<TunDriver>,
    pub(crate) fd: SocketId,
}

impl Sock {
    pub(crate) fn new(d: Arc<TunDriver>) -> io::Result<Sock> {
        let fd = d.call(|s, _| s.socket(AF_INET, SOCK_STREAM, 0))?;
        Ok(Sock { d, fd })
    }

    /// socket(), SO_REUSEADDR, bind() and listen(128), as std's and tokio's `bind` do, on
    /// each of `addr`'s addresses until one works; with `IP_TRANSPARENT` first if
    /// `transparent`.
    pub(crate) fn listener<A: ToSocketAddrs>(d: &Arc<TunDriver>, addr: A, transparent: bool) -> io::Result<Sock> {
        let mut last = None;
        for a in v4_addrs(addr)? {
            let sock = Sock::new(d.clone())?;
            sock.set_int(SOL_SOCKET, SO_REUSEADDR, 1)?;
            if transparent {
                sock.set_int(SOL_IP, IP_TRANSPARENT, 1)?;
            }
            match d.call(|s, _| s.bind(sock.fd, a).and_then(|()| s.listen(sock.fd, 128))) {
                Ok(()) => return Ok(sock),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or_else(|| Errno::EINVAL.into(), Into::into))
    }

    /// socket() and connect(): the socket, and whether the attempt is still running
    /// (`EINPROGRESS`).
    pub(crate) fn connecting(d: &Arc<TunDriver>, a: SocketAddrV4) -> io::Result<(Sock, bool)> {
        let sock = Sock::new(d.clone())?;
        match d.call(|s, now| s.connect(now, sock.fd, a)) {
            Err(Errno::EINPROGRESS) => Ok((sock, true)),
            Ok(()) => Ok((sock, false)),
            Err(e) => Err(e.into()),
        }
    }

    /// connect() again while the attempt runs: its outcome once it is known, `EAGAIN` before.
    pub(crate) fn connect_outcome(
        s: &mut synq_core::Stack,
        now: synq_core::Instant,
        fd: SocketId,
        a: SocketAddrV4,
    ) -> Result<(), Errno> {
        match s.connect(now, fd, a) {
            Err(Errno::EALREADY) => Err(Errno::EAGAIN),
            r => r,
        }
    }

    /// listen(2) again: the listener's new backlog (clamped to `somaxconn`), as Linux allows.
    pub(crate) fn listen(&self, backlog: i32) -> io::Result<()> {
        Ok(self.d.call(|s, _| s.listen(self.fd, backlog))?)
    }

    pub(crate) fn set_int(&self, level: i32, name: i32, v: i32) -> io::Result<()> {
        Ok(self
            .d
            .call(|s, now| s.setsockopt_at(now, self.fd, level, name, &v.to_ne_bytes()))?)
    }

    pub(crate) fn get_int(&self, level: i32, name: i32) -> io::Result<i32> {
        let mut b = [0u8; 4];
        self.d.call(|s, _| s.getsockopt(self.fd, level, name, &mut b))?;
        Ok(i32::from_ne_bytes(b))
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::V4(self.d.call(|s, _| s.getsockname(self.fd))?))
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::V4(self.d.call(|s, _| s.getpeername(self.fd))?))
    }

    /// shutdown(2): `Write` sends the FIN after what is queued; reads go on.
    pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        let how = match how {
            std::net::Shutdown::Read => SHUT_RD,
            std::net::Shutdown::Write => SHUT_WR,
            std::net::Shutdown::Both => SHUT_RDWR,
        };
        Ok(self.d.call(|s, now| s.shutdown(now, self.fd, how))?)
    }

    pub(crate) fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        Ok(self.d.call(|s, _| s.set_nonblocking(self.fd, nonblocking))?)
    }

    /// SO_ERROR.
    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        let e = self.get_int(SOL_SOCKET, SO_ERROR)?;
        Ok((e != 0).then(|| io::Error::from_raw_os_error(e)))
    }

    pub(crate) fn nonblocking(&self) -> bool {
        self.d.call(|s, _| s.is_nonblocking(self.fd)).unwrap_or(false)
    }

    /// Runs `call` until it stops saying `EAGAIN` (at once when non-blocking), waiting for
    /// `events` on the socket in between, at most `timeout` (then `EAGAIN`, as a timed-out
    /// blocking socket call says on Linux).
    pub(crate) fn blocking<R>(
        &self,
        events: u16,
        timeout: Option<Duration>,
        mut call: impl FnMut(&mut synq_core::Stack, synq_core::Instant) -> Result<R, Errno>,
    ) -> io::Result<R> {
        if self.nonblocking() {
            return Ok(self.d.call(call)?);
        }
        let r = self.d.call_blocking(self.fd, events, timeout, &mut call);
        Ok(r.unwrap_or(Err(Errno::EAGAIN))?)
    }
}

impl Drop for Sock {
    fn drop(&mut self) {
        let _ = self.d.call(|s, now| s.close(now, self.fd));
    }
}

/// The methods every socket type of `net` and `tokio` has, over its `sock` field (a [`Sock`]
/// or what derefs to one). `listener` adds `listen`; `stream` adds `peer_addr` and Nagle.
macro_rules! socket_methods {
    (common) => {
        pub fn local_addr(&self) -> io::Result<SocketAddr> {
            self.sock.local_addr()
        }

        /// SO_ERROR.
        pub fn take_error(&self) -> io::Result<Option<io::Error>> {
            self.sock.take_error()
        }

        /// SO_RCVBUF, as socket2's: Linux doubles the value (capped by `rmem_max`); a
        /// listener's is its connections'.
        pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
            self.sock
                .set_int(SOL_SOCKET, SO_RCVBUF, size.min(i32::MAX as usize) as i32)
        }

        /// SO_SNDBUF, as socket2's: Linux doubles the value (capped by `wmem_max`).
        pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
            self.sock
                .set_int(SOL_SOCKET, SO_SNDBUF, size.min(i32::MAX as usize) as i32)
        }
    };
    (listener) => {
        $crate::sock::socket_methods!(common);

        /// listen(2) again with another backlog (`bind` uses 128; clamped to `somaxconn`), as
        /// socket2's `listen` on a listener: Linux changes the backlog in place.
        pub fn listen(&self, backlog: i32) -> io::Result<()> {
            self.sock.listen(backlog)
        }
    };
    (stream) => {
        $crate::sock::socket_methods!(common);

        pub fn peer_addr(&self) -> io::Result<SocketAddr> {
            self.sock.peer_addr()
        }

        pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
            self.sock.set_int(SOL_TCP, TCP_NODELAY, i32::from(nodelay))
        }

        pub fn nodelay(&self) -> io::Result<bool> {
            Ok(self.sock.get_int(SOL_TCP, TCP_NODELAY)? != 0)
        }
    };
}
pub(crate) use socket_methods;
