//! `tokio::net`'s TCP types on a synq stack: the same names and methods, futures that wait
//! for the driver thread instead of epoll, `AsyncRead`/`AsyncWrite`, `poll_shutdown` as a real
//! half-close (the FIN leaves after what is queued, reads go on), `into_split`. Errors are
//! `io::Error`s with Linux's errno. The stack is the one given to [`set_default`], or an
//! explicit [`TunDriver`] with the `*_on` forms. Any tokio runtime drives the futures.

use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use synq_core::consts::*;
use synq_core::Errno;
use synq_driver::TunDriver;

pub use crate::sock::set_default;
use crate::sock::{default_driver, v4_addrs, Sock};

/// `tokio::net::TcpListener` on synq.
pub struct TcpListener {
    sock: Sock,
}

impl TcpListener {
    /// Binds and listens (backlog 128, SO_REUSEADDR, as tokio does) on the default stack.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
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
    pub async fn bind_transparent(port: u16) -> io::Result<TcpListener> {
        TcpListener::bind_transparent_on(&default_driver()?, port)
    }

    /// The same on `driver`'s stack.
    pub fn bind_transparent_on(driver: &Arc<TunDriver>, port: u16) -> io::Result<TcpListener> {
        Ok(TcpListener {
            sock: Sock::listener(driver, (std::net::Ipv4Addr::UNSPECIFIED, port), true)?,
        })
    }

    /// The next connection of the accept queue and its peer's address.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let fd = self.sock.fd;
        self.sock.d.poll_call(cx, fd, POLLIN, |s, _| s.accept(fd)).map(|r| {
            let (child, peer) = r?;
            let sock = Sock {
                d: self.sock.d.clone(),
                fd: child,
            };
            Ok((TcpStream::from_sock(sock), SocketAddr::V4(peer)))
        })
    }

    crate::sock::socket_methods!(listener);
}

/// `tokio::net::TcpStream` on synq.
pub struct TcpStream {
    sock: Arc<Sock>,
}

impl TcpStream {
    fn from_sock(sock: Sock) -> TcpStream {
        TcpStream { sock: Arc::new(sock) }
    }

    /// Connects on the default stack: each address in turn until one answers.
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        TcpStream::connect_on(&default_driver()?, addr).await
    }

    /// The same on `driver`'s stack.
    pub async fn connect_on<A: ToSocketAddrs>(driver: &Arc<TunDriver>, addr: A) -> io::Result<TcpStream> {
        let mut last = None;
        for a in v4_addrs(addr)? {
            match TcpStream::connect_v4(driver, a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Errno::EINVAL.into()))
    }

    async fn connect_v4(d: &Arc<TunDriver>, a: SocketAddrV4) -> io::Result<TcpStream> {
        let (sock, in_progress) = Sock::connecting(d, a)?;
        if in_progress {
            let fd = sock.fd;
            poll_fn(|cx| d.poll_call(cx, fd, POLLOUT, |s, now| Sock::connect_outcome(s, now, fd, a))).await?;
        }
        Ok(TcpStream::from_sock(sock))
    }

    /// Splits the stream into a reading and a writing half that can move to different tasks.
    /// Dropping the writing half shuts the stream down for writing, as tokio's does.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf {
                sock: self.sock.clone(),
            },
            OwnedWriteHalf {
                sock: self.sock,
                shut_on_drop: true,
            },
        )
    }

    /// Borrowed halves, for one task.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf { sock: &self.sock }, WriteHalf { sock: &self.sock })
    }

    crate::sock::socket_methods!(stream);
}

/// The socket calls behind the tokio traits, for the stream and its halves.
fn poll_read(sock: &Sock, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
    let fd = sock.fd;
    let unfilled = buf.initialize_unfilled();
    match sock
        .d
        .poll_call(cx, fd, POLLIN | POLLRDHUP, |s, now| s.recv(now, fd, unfilled))
    {
        Poll::Ready(Ok(n)) => {
            buf.advance(n);
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e.into())),
        Poll::Pending => Poll::Pending,
    }
}

fn poll_write(sock: &Sock, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
    let fd = sock.fd;
    sock.d
        .poll_call(cx, fd, POLLOUT, |s, now| s.send(now, fd, data))
        .map_err(Into::into)
}

fn poll_shutdown(sock: &Sock) -> Poll<io::Result<()>> {
    Poll::Ready(sock.shutdown(Shutdown::Write))
}

/// Implements tokio's traits for a type whose `sock` field derefs to a [`Sock`].
macro_rules! async_io {
    (read $ty:ty) => {
        impl AsyncRead for $ty {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
                poll_read(&self.sock, cx, buf)
            }
        }
    };
    (write $ty:ty) => {
        impl AsyncWrite for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
                poll_write(&self.sock, cx, data)
            }

            /// Nothing to flush: what write() took is the stack's.
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            /// shutdown(SHUT_WR): the FIN follows what is queued; reading goes on.
            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                poll_shutdown(&self.sock)
            }
        }
    };
}

async_io!(read TcpStream);
async_io!(write TcpStream);
async_io!(read OwnedReadHalf);
async_io!(write OwnedWriteHalf);
async_io!(read ReadHalf<'_>);
async_io!(write WriteHalf<'_>);

/// The reading half of [`TcpStream::into_split`].
pub struct OwnedReadHalf {
    sock: Arc<Sock>,
}

/// The writing half of [`TcpStream::into_split`]; dropping it shuts the stream down for
/// writing (unless [`OwnedWriteHalf::forget`]).
pub struct OwnedWriteHalf {
    sock: Arc<Sock>,
    shut_on_drop: bool,
}

impl OwnedWriteHalf {
    /// Drops the half without shutting the stream down.
    pub fn forget(mut self) {
        self.shut_on_drop = false;
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shut_on_drop {
            let _ = self.sock.shutdown(Shutdown::Write);
        }
    }
}

/// The reading half of [`TcpStream::split`].
pub struct ReadHalf<'a> {
    sock: &'a Sock,
}

/// The writing half of [`TcpStream::split`].
pub struct WriteHalf<'a> {
    sock: &'a Sock,
}

impl OwnedReadHalf {
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.peer_addr()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }
}

impl OwnedWriteHalf {
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.peer_addr()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }
}
