//! The numbers of Linux's socket API that synq's calls take: address families, socket types
//! and flags, levels and option names (x86-64/arm64 values, as in `<linux/socket.h>`,
//! `<asm-generic/socket.h>`, `<linux/in.h>`, `<linux/tcp.h>`).

/// `AF_UNIX`
pub const AF_UNIX: i32 = 1;
/// `AF_INET`
pub const AF_INET: i32 = 2;
/// `AF_INET6`
pub const AF_INET6: i32 = 10;
/// `AF_MAX`: families at or above this do not exist (`__sock_create`: EAFNOSUPPORT).
pub const AF_MAX: i32 = 46;

/// `SOCK_STREAM`
pub const SOCK_STREAM: i32 = 1;
/// `SOCK_DGRAM`
pub const SOCK_DGRAM: i32 = 2;
/// `SOCK_RAW`
pub const SOCK_RAW: i32 = 3;
/// `SOCK_SEQPACKET`
pub const SOCK_SEQPACKET: i32 = 5;
/// `SOCK_NONBLOCK`, or-ed into the type.
pub const SOCK_NONBLOCK: i32 = 0o4000;
/// `SOCK_CLOEXEC`, or-ed into the type.
pub const SOCK_CLOEXEC: i32 = 0o2000000;
/// Mask of the type proper (`SOCK_TYPE_MASK`).
pub const SOCK_TYPE_MASK: i32 = 0xf;

/// `IPPROTO_IP`, also the "default protocol" 0.
pub const IPPROTO_IP: i32 = 0;
/// `IPPROTO_TCP`
pub const IPPROTO_TCP: i32 = 6;
/// `SOL_SOCKET`
pub const SOL_SOCKET: i32 = 1;
/// `SOL_IP` (= `IPPROTO_IP`)
pub const SOL_IP: i32 = 0;
/// `SOL_TCP` (= `IPPROTO_TCP`)
pub const SOL_TCP: i32 = 6;

/// `SO_REUSEADDR`
pub const SO_REUSEADDR: i32 = 2;
/// `SO_TYPE` (read-only)
pub const SO_TYPE: i32 = 3;
/// `SO_ERROR` (read-only, read clears it)
pub const SO_ERROR: i32 = 4;
/// `SO_KEEPALIVE`
pub const SO_KEEPALIVE: i32 = 9;
/// `SO_LINGER` (a `struct linger { int l_onoff; int l_linger; }`)
pub const SO_LINGER: i32 = 13;
/// `SO_REUSEPORT`
pub const SO_REUSEPORT: i32 = 15;
/// `SO_ACCEPTCONN` (read-only)
pub const SO_ACCEPTCONN: i32 = 30;
/// `SO_PROTOCOL` (read-only)
pub const SO_PROTOCOL: i32 = 38;
/// `SO_DOMAIN` (read-only)
pub const SO_DOMAIN: i32 = 39;
/// `IP_FREEBIND`
pub const IP_FREEBIND: i32 = 15;
/// `IP_TRANSPARENT`
pub const IP_TRANSPARENT: i32 = 19;
/// `IP_BIND_ADDRESS_NO_PORT`
pub const IP_BIND_ADDRESS_NO_PORT: i32 = 24;
/// `IP_LOCAL_PORT_RANGE`: a socket's own ephemeral range, `low | high << 16`.
pub const IP_LOCAL_PORT_RANGE: i32 = 51;
/// `AF_UNSPEC`
pub const AF_UNSPEC: i32 = 0;
/// `TCP_NODELAY`
pub const TCP_NODELAY: i32 = 1;
/// `TCP_MAXSEG`
pub const TCP_MAXSEG: i32 = 2;
/// `TCP_CORK`: hold partial segments until uncorked (or 200 ms).
pub const TCP_CORK: i32 = 3;
/// `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`: keepalive's idle time and probe gap (s)
/// and probe count, per socket.
pub const TCP_KEEPIDLE: i32 = 4;
pub const TCP_KEEPINTVL: i32 = 5;
pub const TCP_KEEPCNT: i32 = 6;
/// `TCP_SYNCNT`
pub const TCP_SYNCNT: i32 = 7;
/// `TCP_LINGER2`: an orphan's FIN_WAIT2 lifetime, s (negative: none, reset at once).
pub const TCP_LINGER2: i32 = 8;
/// `TCP_CONGESTION`: the connection's congestion control, by name.
pub const TCP_CONGESTION: i32 = 13;
/// `SIOCINQ` (`FIONREAD`): bytes to read; `SIOCOUTQ`: bytes not yet acknowledged;
/// `SIOCOUTQNSD`: bytes not yet sent.
pub const SIOCINQ: u32 = 0x541B;
pub const SIOCOUTQ: u32 = 0x5411;
pub const SIOCOUTQNSD: u32 = 0x894B;
/// `MSG_MORE`: more data follows this send (a partial segment waits).
pub const MSG_MORE: i32 = 0x8000;
/// `TCP_DEFER_ACCEPT`
pub const TCP_DEFER_ACCEPT: i32 = 9;
/// `TCP_USER_TIMEOUT`: ms a connection may go unacknowledged (rule C26).
pub const TCP_USER_TIMEOUT: i32 = 18;
/// `TCP_QUICKACK`: 0 lets ACKs wait for our reply (ping-pong), 1 sends them at once.
pub const TCP_QUICKACK: i32 = 12;
/// `TCP_NOTSENT_LOWAT`: unsent bytes above which the socket takes no more writes.
pub const TCP_NOTSENT_LOWAT: i32 = 25;
/// `TCP_INQ`: recvmsg() reports the bytes left to read (a `TCP_CM_INQ` control message).
pub const TCP_INQ: i32 = 36;
/// `TCP_CM_INQ`: the control message type of `TCP_INQ`.
pub const TCP_CM_INQ: i32 = TCP_INQ;
/// `SO_SNDBUF`
pub const SO_SNDBUF: i32 = 7;
/// `SO_RCVBUF`
pub const SO_RCVBUF: i32 = 8;

/// `SHUT_RD`
pub const SHUT_RD: i32 = 0;
/// `SHUT_WR`
pub const SHUT_WR: i32 = 1;
/// `SHUT_RDWR`
pub const SHUT_RDWR: i32 = 2;

/// `POLLIN`
pub const POLLIN: u16 = 0x001;
/// `POLLPRI`
pub const POLLPRI: u16 = 0x002;
/// `POLLOUT`
pub const POLLOUT: u16 = 0x004;
/// `POLLERR`
pub const POLLERR: u16 = 0x008;
/// `POLLHUP`
pub const POLLHUP: u16 = 0x010;
/// `POLLRDNORM`
pub const POLLRDNORM: u16 = 0x040;
/// `POLLWRNORM`
pub const POLLWRNORM: u16 = 0x100;
/// `POLLRDHUP`
pub const POLLRDHUP: u16 = 0x2000;
