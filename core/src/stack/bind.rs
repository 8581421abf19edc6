//! bind() and listen() as the stack answers them: Linux's `inet_bind_sk`/`__inet_bind`,
//! `__sys_listen`/`__inet_listen_sk`/`inet_csk_listen_start` (spec rules B4–B10, B16–B18,
//! B20), and the TIME_WAIT owners of the bind table.

use crate::base::consts::{AF_INET, AF_UNSPEC};
use crate::base::errno::Errno;
use crate::inet::bind_table;
use crate::inet::inet_bind::{inet_csk_get_port, sockaddr_in, SOCKADDR_IN_LEN};
use crate::inet::socket::{ListenQueue, SockId, SockKind, SocketId, TcpState};
use crate::inet::time_wait::{TimeWaitId, TimeWaitSock};
use crate::stack::Stack;
use std::net::{Ipv4Addr, SocketAddrV4};

impl Stack {
    /// `bind(2)` to an IPv4 address; see [`Stack::bind_raw`].
    pub fn bind(&mut self, fd: SocketId, addr: SocketAddrV4) -> Result<(), Errno> {
        self.bind_raw(fd, &sockaddr_in(addr))
    }

    /// `bind(2)` with a raw `struct sockaddr` of `sockaddr.len()` bytes, checked in
    /// `inet_bind_sk`/`__inet_bind`'s order: length below 16 (`EINVAL`, B4), family not
    /// `AF_INET` (`EAFNOSUPPORT`; `AF_UNSPEC` with 0.0.0.0 passes, B5), address neither local,
    /// wildcard, multicast nor broadcast without `IP_FREEBIND` or `ip_nonlocal_bind`
    /// (`EADDRNOTAVAIL`, B6), port below `ip_unprivileged_port_start` without
    /// CAP_NET_BIND_SERVICE (`EACCES`, B7), already bound or not closed (`EINVAL`, B8), then
    /// the port (`EADDRINUSE`, B10, B13–B16), unless port 0 with `IP_BIND_ADDRESS_NO_PORT`
    /// (B17).
    pub fn bind_raw(&mut self, fd: SocketId, sockaddr: &[u8]) -> Result<(), Errno> {
        let fd = self.tables.sockets.resolve(fd)?;
        let socket = self.tables.sockets.get(fd)?;
        if sockaddr.len() < SOCKADDR_IN_LEN {
            return Err(Errno::EINVAL);
        }
        let family = i32::from(u16::from_ne_bytes([sockaddr[0], sockaddr[1]]));
        let port = u16::from_be_bytes([sockaddr[2], sockaddr[3]]);
        let addr = Ipv4Addr::new(sockaddr[4], sockaddr[5], sockaddr[6], sockaddr[7]);
        if family != AF_INET && !(family == AF_UNSPEC && addr.is_unspecified()) {
            return Err(Errno::EAFNOSUPPORT);
        }
        // inet_can_nonlocal
        let nonlocal_ok = self.sysctl.ip_nonlocal_bind != 0 || socket.options.freebind || socket.options.transparent;
        if !(addr.is_unspecified() || self.is_local(addr) || addr.is_multicast() || addr.is_broadcast() || nonlocal_ok)
        {
            return Err(Errno::EADDRNOTAVAIL);
        }
        if port != 0 && port < self.sysctl.ip_unprivileged_port_start && !socket.creds.cap_net_bind_service {
            return Err(Errno::EACCES);
        }
        if socket.state != TcpState::Close || socket.num != 0 {
            return Err(Errno::EINVAL);
        }
        let no_port = port == 0 && socket.options.bind_address_no_port;
        self.tables.sockets.get_mut(fd)?.rcv_saddr = addr;
        if !no_port {
            if let Err(e) = self.inet_csk_get_port(fd, port) {
                self.tables.sockets.get_mut(fd)?.rcv_saddr = Ipv4Addr::UNSPECIFIED;
                return Err(e);
            }
        }
        let socket = self.tables.sockets.get_mut(fd)?;
        socket.bind_addr_lock = !addr.is_unspecified();
        socket.bind_port_lock = port != 0;
        socket.sport = socket.num;
        Ok(())
    }

    /// `listen(2)`: `EINVAL` unless the socket is closed or listening (`__inet_listen_sk`);
    /// the backlog is clamped to `net.core.somaxconn` (compared unsigned, so a negative
    /// backlog becomes `somaxconn`, as `__sys_listen` does). A socket not yet listening moves
    /// to `TCP_LISTEN` and re-validates its port, or picks one if unbound
    /// (`inet_csk_listen_start`, rule B18); on failure it is closed again and keeps its bind
    /// (`EADDRINUSE`). A listener only changes its backlog.
    pub fn listen(&mut self, fd: SocketId, backlog: i32) -> Result<(), Errno> {
        let fd = self.tables.sockets.resolve(fd)?;
        let somaxconn = self.sysctl.somaxconn.max(0) as u32;
        let backlog = (backlog as u32).min(somaxconn);
        let socket = self.tables.sockets.get_mut(fd)?;
        match socket.state {
            TcpState::Listen => {
                if let Some(q) = socket.listen_queue_mut() {
                    q.backlog = backlog;
                }
                return Ok(());
            }
            TcpState::Close => {}
            _ => return Err(Errno::EINVAL),
        }
        socket.kind = SockKind::Listener(ListenQueue {
            backlog,
            ..ListenQueue::default()
        });
        socket.state = TcpState::Listen;
        let port = socket.num;
        match self.inet_csk_get_port(fd, port) {
            Ok(()) => {
                let socket = self.tables.sockets.get_mut(fd)?;
                socket.sport = socket.num;
                self.tables.listening.add(socket.num, socket.rcv_saddr, fd);
                if socket.options.transparent && socket.rcv_saddr.is_unspecified() {
                    self.tables.listening.set_transparent(fd, true);
                }
                Ok(())
            }
            Err(e) => {
                let socket = self.tables.sockets.get_mut(fd)?;
                socket.state = TcpState::Close;
                socket.kind = SockKind::Idle;
                Err(e)
            }
        }
    }

    /// `inet_csk_get_port` for socket `fd`, recording the port as its `inet_num`.
    fn inet_csk_get_port(&mut self, fd: SockId, port: u16) -> Result<(), Errno> {
        let port = inet_csk_get_port(
            &mut self.tables.bind_table,
            &self.tables.sockets,
            &self.tables.time_waits,
            &self.sysctl,
            &mut self.rng,
            fd,
            port,
        )?;
        self.tables.sockets.get_mut(fd)?.num = port;
        Ok(())
    }

    /// Puts a TIME_WAIT entry into the bind table, holding `tw.local`'s port with the flags
    /// it carries (rule B15). `tcp_time_wait` goes through here; tests use it to make TIME_WAIT
    /// owners directly.
    pub fn insert_time_wait(&mut self, tw: TimeWaitSock) -> TimeWaitId {
        bind_table::insert_time_wait(&mut self.tables.time_waits, &mut self.tables.bind_table, tw)
    }

    /// Removes a TIME_WAIT entry and frees its port (`inet_twsk_kill`). False if unknown.
    pub fn remove_time_wait(&mut self, id: TimeWaitId) -> bool {
        bind_table::remove_time_wait(&mut self.tables.time_waits, &mut self.tables.bind_table, id)
    }
}
