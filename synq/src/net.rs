//! `std::net`'s TCP types on a synq stack. Calls block as std's do (a blocking call waits
//! for the driver thread to change the stack), fail with `io::Error`s that carry Linux's
//! errno (`raw_os_error`), and close the socket on drop. The stack is the one given to
//! [`set_default`], or an explicit [`TunDriver`] with the `*_on` forms.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
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

fn default_driver() -> io::Result<Arc<TunDriver>> {
    DEFAULT.get().cloned().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotConnected,
            "no synq stack: call synq::net::set_default first",
        )
    })
}

/// The IPv4 addresses `addr` names (synq runs IPv4 only: `EAFNOSUPPORT` for the rest).
fn v4_addrs<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddrV4>> {
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
struct Sock {
    d: Arc<TunDriver>,
    fd: SocketId,
}

impl Sock {
    fn new(d: Arc<TunDriver>) -> io::Result<Sock> {
        let fd = d.call(|s, _| s.socket(AF_INET, SOCK_STREAM, 0))?;
        Ok(Sock { d, fd })
    }

    fn set_int(&self, level: i32, name: i32, v: i32) -> io::Result<()> {
        Ok(self
            .d
            .call(|s, _| s.setsockopt(self.fd, level, name, &v.to_ne_bytes()))?)
    }

    fn get_int(&self, level: i32, name: i32) -> io::Result<i32> {
        let mut b = [0u8; 4];
        self.d.call(|s, _| s.getsockopt(self.fd, level, name, &mut b))?;
        Ok(i32::from_ne_bytes(b))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::V4(self.d.call(|s, _| s.getsockname(self.fd))?))
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        Ok(self.d.call(|s, _| s.set_nonblocking(self.fd, nonblocking))?)
    }

    /// SO_ERROR.
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        let e = self.get_int(SOL_SOCKET, SO_ERROR)?;
        Ok((e != 0).then(|| io::Error::from_raw_os_error(e)))
    }

    fn nonblocking(&self) -> bool {
        self.d.call(|s, _| s.is_nonblocking(self.fd)).unwrap_or(false)
    }

    /// Runs `call` until it stops saying `EAGAIN` (at once when non-blocking), at most
    /// `timeout` (then `EAGAIN`, as a timed-out blocking socket call says on Linux).
    fn blocking<R>(
        &self,
        timeout: Option<Duration>,
        mut call: impl FnMut(&mut synq_core::Stack, synq_core::Instant) -> Result<R, Errno>,
    ) -> io::Result<R> {
        if self.nonblocking() {
            return Ok(self.d.call(call)?);
        }
        let r = self.d.wait(timeout, |s, now| match call(s, now) {
            Err(Errno::EAGAIN) => None,
            r => Some(r),
        });
        Ok(r.unwrap_or(Err(Errno::EAGAIN))?)
    }
}

impl Drop for Sock {
    fn drop(&mut self) {
        let _ = self.d.call(|s, now| s.close(now, self.fd));
    }
}

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
        let mut last = None;
        for a in v4_addrs(addr)? {
            let sock = Sock::new(driver.clone())?;
            sock.set_int(SOL_SOCKET, SO_REUSEADDR, 1)?;
            let r = sock
                .d
                .call(|s, _| s.bind(sock.fd, a).and_then(|()| s.listen(sock.fd, 128)));
            match r {
                Ok(()) => return Ok(TcpListener { sock }),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or_else(|| Errno::EINVAL.into(), Into::into))
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
        let (child, peer) = self.sock.blocking(timeout, |s, _| s.accept(fd))?;
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

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.sock.set_nonblocking(nonblocking)
    }

    /// SO_ERROR.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.take_error()
    }
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
        let sock = Sock::new(d.clone())?;
        let fd = sock.fd;
        match d.call(|s, now| s.connect(now, fd, a)) {
            Err(Errno::EINPROGRESS) => {}
            other => {
                other?;
                return Ok(TcpStream::from_sock(sock));
            }
        }
        let done = d.wait(timeout, |s, now| match s.connect(now, fd, a) {
            Err(Errno::EALREADY) => None,
            r => Some(r),
        });
        match done {
            Some(r) => {
                r?;
                Ok(TcpStream::from_sock(sock))
            }
            None => Err(io::Error::new(io::ErrorKind::TimedOut, "connection timed out")),
        }
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::V4(self.sock.d.call(|s, _| s.getpeername(self.sock.fd))?))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// shutdown(2): `Write` sends the FIN after what is queued; reads go on.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let how = match how {
            Shutdown::Read => SHUT_RD,
            Shutdown::Write => SHUT_WR,
            Shutdown::Both => SHUT_RDWR,
        };
        Ok(self.sock.d.call(|s, now| s.shutdown(now, self.sock.fd, how))?)
    }

    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock.set_int(SOL_TCP, TCP_NODELAY, i32::from(nodelay))
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self.sock.get_int(SOL_TCP, TCP_NODELAY)? != 0)
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

    /// SO_ERROR.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.take_error()
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let fd = self.sock.fd;
        let timeout = ns_timeout(self.read_timeout.load(Ordering::Relaxed));
        self.sock.blocking(timeout, |s, now| s.recv(now, fd, buf))
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let fd = self.sock.fd;
        let timeout = ns_timeout(self.write_timeout.load(Ordering::Relaxed));
        self.sock.blocking(timeout, |s, now| s.send(now, fd, buf))
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
