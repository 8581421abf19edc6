//! `std::net`'s TCP types on a synq stack. Calls block as std's do (a blocking call waits
//! for the driver thread to change the stack), fail with `io::Error`s that carry Linux's
//! errno (`raw_os_error`), and close the socket on drop. The stack is the one given to
//! [`set_default`], or an explicit [`TunDriver`] with the `*_on` forms.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use synq_core::consts::*;
use synq_core::Errno;
use synq_driver::TunDriver;

pub use crate::sock::set_default;
use crate::sock::{default_driver, v4_addrs, Sock};

/// `std::net::TcpListener` on synq.
pub struct TcpListener {
    sock: Sock,
}

impl TcpListener {
    /// Binds and listens (backlog 128, SO_REUSEADDR, as std does) on the default stack.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        TcpListener::bind_on(&default_driver()?, addr)
    }

    /// The same on `driver`'s stack.
    pub fn bind_on<A: ToSocketAddrs>(driver: &Arc<TunDriver>, addr: A) -> io::Result<TcpListener> {
        Ok(TcpListener {
            sock: Sock::listener(driver, addr, false)?,
        })
    }

    /// A transparent listener (`IP_TRANSPARENT`, as TPROXY's): bound to the wildcard at
    /// `port`, it also takes every connection to an address that is not the stack's, at any
    /// port, that reaches the device; each accepted stream's `local_addr` is the original
    /// destination. Linux's SYN queue, backlog and cookies stand in front of it as of any.
    pub fn bind_transparent(port: u16) -> io::Result<TcpListener> {
        TcpListener::bind_transparent_on(&default_driver()?, port)
    }

    /// The same on `driver`'s stack.
    pub fn bind_transparent_on(driver: &Arc<TunDriver>, port: u16) -> io::Result<TcpListener> {
        Ok(TcpListener {
            sock: Sock::listener(driver, (std::net::Ipv4Addr::UNSPECIFIED, port), true)?,
        })
    }

    /// Waits for a connection (unless non-blocking) and returns it with its peer's address.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.accept_within(None)
    }

    /// [`TcpListener::accept`] waiting at most `timeout`: `None` if no connection came (an
    /// addition to std's shape, for servers that also watch something else).
    pub fn accept_timeout(&self, timeout: Duration) -> io::Result<Option<(TcpStream, SocketAddr)>> {
        match self.accept_within(Some(timeout)) {
            Ok(accepted) => Ok(Some(accepted)),
            Err(e) if e.raw_os_error() == Some(Errno::EAGAIN.raw()) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn accept_within(&self, timeout: Option<Duration>) -> io::Result<(TcpStream, SocketAddr)> {
        let fd = self.sock.fd;
        let (child, peer) = self.sock.blocking(POLLIN, timeout, |s, _| s.accept(fd))?;
        let stream = TcpStream::from_sock(Sock {
            d: self.sock.d.clone(),
            fd: child,
        });
        Ok((stream, SocketAddr::V4(peer)))
    }

    /// The connections as they come.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.sock.set_nonblocking(nonblocking)
    }

    crate::sock::socket_methods!(listener);
}

/// [`TcpListener::incoming`]'s iterator: never ends.
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// `std::net::TcpStream` on synq.
pub struct TcpStream {
    sock: Sock,
    /// Read and write timeouts in ns, 0 for none.
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
}

fn timeout_ns(t: Option<Duration>) -> io::Result<u64> {
    match t {
        Some(d) if d.is_zero() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        )),
        Some(d) => Ok(d.as_nanos().min(u128::from(u64::MAX)) as u64),
        None => Ok(0),
    }
}

fn ns_timeout(ns: u64) -> Option<Duration> {
    (ns != 0).then(|| Duration::from_nanos(ns))
}

impl TcpStream {
    fn from_sock(sock: Sock) -> TcpStream {
        TcpStream {
            sock,
            read_timeout: AtomicU64::new(0),
            write_timeout: AtomicU64::new(0),
        }
    }

    /// Connects on the default stack: each address in turn until one answers.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        TcpStream::connect_on(&default_driver()?, addr)
    }

    /// The same on `driver`'s stack.
    pub fn connect_on<A: ToSocketAddrs>(driver: &Arc<TunDriver>, addr: A) -> io::Result<TcpStream> {
        let mut last = None;
        for a in v4_addrs(addr)? {
            match TcpStream::connect_v4(driver, a, None) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Errno::EINVAL.into()))
    }

    /// Connects, giving up after `timeout` (`ErrorKind::TimedOut`), on the default stack.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        let SocketAddr::V4(a) = *addr else {
            return Err(Errno::EAFNOSUPPORT.into());
        };
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        TcpStream::connect_v4(&default_driver()?, a, Some(timeout))
    }

    /// connect() then, as a blocking connect() does, wait while the attempt runs.
    fn connect_v4(d: &Arc<TunDriver>, a: SocketAddrV4, timeout: Option<Duration>) -> io::Result<TcpStream> {
        let (sock, in_progress) = Sock::connecting(d, a)?;
        if in_progress {
            let fd = sock.fd;
            match d.call_blocking(fd, POLLOUT, timeout, |s, now| Sock::connect_outcome(s, now, fd, a)) {
                Some(r) => r?,
                None => return Err(io::Error::new(io::ErrorKind::TimedOut, "connection timed out")),
            }
        }
        Ok(TcpStream::from_sock(sock))
    }

    /// shutdown(2): `Write` sends the FIN after what is queued; reads go on.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.shutdown(how)
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.read_timeout.store(timeout_ns(t)?, Ordering::Relaxed);
        Ok(())
    }

    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(ns_timeout(self.read_timeout.load(Ordering::Relaxed)))
    }

    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.write_timeout.store(timeout_ns(t)?, Ordering::Relaxed);
        Ok(())
    }

    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(ns_timeout(self.write_timeout.load(Ordering::Relaxed)))
    }

    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.sock.set_nonblocking(nonblocking)
    }

    crate::sock::socket_methods!(stream);
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let fd = self.sock.fd;
        let timeout = ns_timeout(self.read_timeout.load(Ordering::Relaxed));
        self.sock
            .blocking(POLLIN | POLLRDHUP, timeout, |s, now| s.recv(now, fd, buf))
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let fd = self.sock.fd;
        let timeout = ns_timeout(self.write_timeout.load(Ordering::Relaxed));
        self.sock.blocking(POLLOUT, timeout, |s, now| s.send(now, fd, buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
