//! The sans-IO stack: one value that holds every socket, table and timer of one host (one
//! network namespace, in Linux's terms), stepped by its driver.
//!
//! The IO shape is quinn-proto's: the driver feeds datagrams with [`Stack::receive`], drains
//! what the stack sends with [`Stack::poll_transmit`], asks [`Stack::poll_timeout`] when to
//! call [`Stack::handle_timeout`] next, and makes socket calls. The stack reads no clock:
//! every call that can start or advance a timer takes `now`.

mod bind;
mod inet_connection_sock;
pub(crate) mod inet_diag;
mod tcp;

use crate::base::consts::*;
use crate::base::errno::Errno;
use crate::base::mib::{Counter, Mib};
use crate::base::rng::Rng;
use crate::base::sysctl::Sysctl;
use crate::base::time::Instant;
use crate::base::timer_wheel::TimerWheel;
use crate::inet::bind_table::{BindTable, Owner};
use crate::inet::ehash::Ehash;
use crate::inet::inet_bind::SOCKADDR_IN_LEN;
use crate::inet::listening_hash::ListeningHash;
use crate::inet::request_sock::{retrans_to_secs, secs_to_retrans, RequestTable};
use crate::inet::socket::{Credentials, SockId, SockKind, SockState, Socket, SocketId, SocketTable, TcpState};
use crate::inet::time_wait::TimeWaitTable;
use crate::inet::tuple::TupleHashBuilder;
use crate::ip::icmp::icmp_rcv;
use crate::ip::input::ip_rcv;
use crate::ip::output::TxQueue;
use crate::tcp::calls::tcp_quickack_now;
use crate::tcp::cong::{CcAlgo, CongestionControl};
use crate::tcp::ctx::{Ctx, Shared, Tables, Timer};
use crate::tcp::isn::IsnSecrets;
use crate::tcp::listener::reqsk_timer_handler;
use crate::tcp::syncookies::SynCookies;
use crate::tcp::tcb::{TCP_MIN_MSS, TCP_PINGPONG_THRESH};
use crate::tcp::tcp_ipv4::{tcp_v4_connect, tcp_v4_err, tcp_v4_rcv};
use crate::tcp::tcp_timer::{tcp_reset_keepalive_timer, tcp_set_keepalive};
use std::net::{Ipv4Addr, SocketAddrV4};
use synq_wire::ip_proto;

/// How a stack is set up.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// The host's IPv4 addresses (one or more).
    pub addrs: Vec<Ipv4Addr>,
    /// Sysctl knobs (Linux's defaults unless changed).
    pub sysctl: Sysctl,
    /// Link MTU in bytes.
    pub mtu: u16,
    /// Seed of the stack's random choices (ephemeral ports; later ISNs and cookie keys).
    /// The simulator draws it from its run seed; real drivers from the OS.
    pub seed: u64,
    /// Owner of the sockets [`Stack::socket`] creates.
    pub credentials: Credentials,
}

impl StackConfig {
    /// One address, default sysctls, MTU 1500, seed 0, sockets owned by nobody.
    pub fn new(addr: Ipv4Addr) -> StackConfig {
        StackConfig {
            addrs: vec![addr],
            sysctl: Sysctl::default(),
            mtu: 1500,
            seed: 0,
            credentials: Credentials::NOBODY,
        }
    }
}

/// One host's TCP/IPv4 stack.
#[derive(Debug)]
pub struct Stack {
    addrs: Vec<Ipv4Addr>,
    /// Sysctl knobs, read by the stack on every decision they govern.
    pub sysctl: Sysctl,
    /// Counters, timers, the transmit queue, keys: what every handler may touch.
    pub(crate) shared: Shared,
    /// Sockets, requests, TIME_WAIT entries and the tables that find them.
    pub(crate) tables: Tables,
    pub(crate) rng: Rng,
    credentials: Credentials,
}

/// How many datagrams a stack delivers to itself after one call before it gives up.
const LOOPBACK_BUDGET: u32 = 100_000;

impl Stack {
    /// A stack with `config`'s addresses and knobs and no socket.
    pub fn new(config: StackConfig) -> Stack {
        // The secrets come from a generator of their own, so that drawing them leaves the
        // sequence of port choices as it was.
        let mut secrets = Rng::seed_from_u64(config.seed ^ 0x5345_4352_4554_5321);
        let ehash = Ehash::with_hasher(TupleHashBuilder::with_key(secrets.next_u64(), secrets.next_u64()));
        let isn = IsnSecrets::random(&mut secrets);
        let syncookies = SynCookies::random(&mut secrets);
        let listening = ListeningHash::new(TupleHashBuilder::with_key(secrets.next_u64(), secrets.next_u64()));
        let mut tx = TxQueue::default();
        tx.set_local(&config.addrs);
        Stack {
            addrs: config.addrs,
            sysctl: config.sysctl,
            shared: Shared {
                mib: Mib::default(),
                timers: TimerWheel::new(),
                tx,
                scratch: Vec::new(),
                isn,
                syncookies,
                mtu: config.mtu,
                port_perturb: Default::default(),
                touched: Vec::new(),
                tw_row: Default::default(),
                rx_gso_size: 0,
                mem: Default::default(),
            },
            tables: Tables {
                sockets: SocketTable::default(),
                requests: RequestTable::default(),
                ehash,
                listening,
                time_waits: TimeWaitTable::default(),
                bind_table: BindTable::default(),
                tcb_pool: Default::default(),
            },
            rng: Rng::seed_from_u64(config.seed),
            credentials: config.credentials,
        }
    }

    /// The shared parts a TCP handler borrows, and the tables beside them.
    #[inline]
    pub(crate) fn parts(&mut self) -> (Ctx<'_>, &mut Tables) {
        (
            Ctx {
                sysctl: &self.sysctl,
                s: &mut self.shared,
            },
            &mut self.tables,
        )
    }

    /// The shared parts a TCP handler borrows, and the socket table beside them.
    #[inline]
    pub(crate) fn ctx(&mut self) -> (Ctx<'_>, &mut SocketTable) {
        let (cx, t) = self.parts();
        (cx, &mut t.sockets)
    }

    /// The host's addresses.
    pub fn addrs(&self) -> &[Ipv4Addr] {
        &self.addrs
    }

    /// True when `addr` is one of the host's addresses.
    pub fn is_local(&self, addr: Ipv4Addr) -> bool {
        self.addrs.contains(&addr)
    }

    /// Link MTU: the buffer `poll_transmit` needs at least.
    pub fn mtu(&self) -> u16 {
        self.shared.mtu
    }

    /// The counters.
    pub fn mib(&self) -> &Mib {
        &self.shared.mib
    }

    /// Pages the connections hold against `net.ipv4.tcp_mem` (`tcp_memory_allocated`), and
    /// whether the stack is under memory pressure.
    pub fn tcp_memory(&self) -> (i64, bool) {
        (self.shared.mem.allocated, self.shared.mem.pressure)
    }

    /// How the bind table names the socket behind descriptor `fd`.
    pub fn owner(&self, fd: SocketId) -> Result<Owner, Errno> {
        Ok(Owner::Socket(self.tables.sockets.resolve(fd)?))
    }

    /// The bind table (read-only: for inspection and tests).
    pub fn bind_table(&self) -> &BindTable {
        &self.tables.bind_table
    }

    // ---------------------------------------------------------------- IO

    /// Takes one inbound IPv4 datagram (`ip_rcv`): checked and counted by the IP layer, then
    /// handed to TCP or ICMP. Never panics, whatever the bytes.
    pub fn receive(&mut self, now: Instant, datagram: &[u8]) {
        self.receive_gso(now, datagram, 0);
    }

    /// [`Stack::receive`] for a GSO packet: one TCP datagram standing for segments of
    /// `gso_size` bytes (a TUN device's `virtio_net_hdr`), which is what the receiver takes
    /// as the peer's segment size (`tcp_measure_rcv_mss`).
    pub fn receive_gso(&mut self, now: Instant, datagram: &[u8], gso_size: u16) {
        self.with_loopback(now, |s| {
            s.shared.rx_gso_size = gso_size;
            s.ip_rcv(now, datagram);
            s.shared.rx_gso_size = 0;
        });
    }

    /// The descriptors whose `poll(2)` readiness the last [`Stack::receive`],
    /// [`Stack::handle_timeout`] or call's loopback may have changed: the socket a segment or
    /// a timer reached, or the listener whose queue a segment may have filled (an unaccepted
    /// child counts as its listener). A driver that wakes waiters per socket wakes these and,
    /// after a call, the called socket's.
    pub fn take_touched(&mut self, mut f: impl FnMut(SocketId)) {
        let sockets = &self.tables.sockets;
        for sk in self.shared.touched.drain(..) {
            let Ok(s) = sockets.get(sk) else { continue };
            let fd = s.fd.or_else(|| s.parent.and_then(|p| sockets.get(p).ok()?.fd));
            if let Some(fd) = fd {
                f(fd);
            }
        }
    }

    fn ip_rcv(&mut self, now: Instant, datagram: &[u8]) {
        let addrs = &self.addrs;
        let tables = &self.tables;
        // TPROXY: TCP to another address is ours while a transparent listener waits for it,
        // or when it belongs to a connection one accepted (`nf_tproxy_get_sock_v4`).
        let divert = |ip: &synq_wire::Ipv4Repr, tcp: &[u8]| {
            tables.listening.has_transparent()
                || tcp.len() >= 4 && {
                    let tuple = crate::inet::tuple::FourTuple {
                        local_addr: ip.dst_addr,
                        local_port: u16::from_be_bytes([tcp[2], tcp[3]]),
                        remote_port: u16::from_be_bytes([tcp[0], tcp[1]]),
                        remote_addr: ip.src_addr,
                    };
                    tables.ehash.lookup(&tuple).is_some()
                }
        };
        let Some((ip, payload, local)) = ip_rcv(&mut self.shared.mib, |a| addrs.contains(&a), divert, datagram) else {
            return;
        };
        match ip.protocol {
            ip_proto::TCP => {
                self.shared.mib.inc(Counter::IpInDelivers);
                let (mut cx, t) = self.parts();
                tcp_v4_rcv(&mut cx, t, now, &ip, payload, local);
            }
            ip_proto::ICMP => {
                self.shared.mib.inc(Counter::IpInDelivers);
                if let Some(icmp) = icmp_rcv(&mut self.shared.mib, payload) {
                    let (mut cx, t) = self.parts();
                    tcp_v4_err(&mut cx, t, &icmp);
                }
            }
            _ => self.shared.mib.inc(Counter::IpInUnknownProtos),
        }
    }

    /// Runs a call that may send, then delivers to this stack what it sent to its own
    /// addresses (Linux's loopback: the packets are processed before the call returns, C32;
    /// a socket connected to itself, C39),
    /// and what those made it send to itself in turn.
    fn with_loopback<R>(&mut self, now: Instant, call: impl FnOnce(&mut Self) -> R) -> R {
        self.shared.touched.clear();
        let r = call(self);
        let mut budget = LOOPBACK_BUDGET;
        while let Some(d) = self.shared.tx.pop_looped() {
            self.ip_rcv(now, &d);
            self.shared.tx.recycle(d);
            budget -= 1;
            if budget == 0 {
                tracing::warn!("a stack talking to itself without end; the rest is dropped");
                self.shared.tx.drop_looped();
                break;
            }
        }
        r
    }

    /// Copies the next outbound IPv4 datagram into `buf` and returns its length; `None` when
    /// nothing waits. `buf` should hold [`Stack::mtu`] bytes: a datagram that does not fit is
    /// dropped and counted as `IpOutDiscards`.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<usize> {
        loop {
            match self.shared.tx.pop_into(buf)? {
                Ok(len) => return Some(len),
                Err(len) => {
                    tracing::warn!(len, buf = buf.len(), "poll_transmit buffer too short; datagram dropped");
                    self.shared.mib.inc(Counter::IpOutDiscards);
                }
            }
        }
    }

    /// When [`Stack::handle_timeout`] should next run; `None` while no timer is armed.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.shared.timers.next_deadline()
    }

    /// Runs every timer due at `now`, in deadline order.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.with_loopback(now, |s| {
            while let Some((_, timer)) = s.shared.timers.poll_expired(now) {
                match timer {
                    Timer::SynAck(id) => {
                        let (mut cx, t) = s.parts();
                        reqsk_timer_handler(&mut cx, t, now, id);
                    }
                    Timer::Tcp(sk, kind) => {
                        s.shared.touched.push(sk);
                        s.tcp_timer(now, sk, kind)
                    }
                    Timer::TimeWait => s.tw_timer_handler(now),
                }
            }
        })
    }

    // ---------------------------------------------------------------- driving in virtual time

    /// Fires the earliest timer deadline due by `until` (at `now` if it is already past) and
    /// returns the time it fired at; `None` when nothing is due by then.
    pub fn step_timers(&mut self, now: Instant, until: Instant) -> Option<Instant> {
        let at = self.poll_timeout().filter(|&d| d <= until)?.max(now);
        self.handle_timeout(at);
        Some(at)
    }

    /// Bounds the outbound queue at `limit` datagrams (`None`: unbounded), as a device queue
    /// with a qdisc `pfifo limit N` is: a datagram beyond it is dropped (`SynqOutQdiscDrops`)
    /// and TCP treats it as local congestion — the segment waits (`tcp_transmit_skb`'s error)
    /// and the probe timer retries every 500 ms (`TCP_RESOURCE_PROBE_INTERVAL`). A driver may
    /// use it as backpressure.
    pub fn set_tx_queue_limit(&mut self, limit: Option<usize>) {
        self.shared.tx.set_limit(limit);
    }

    /// Lends the next outbound IPv4 datagram to `f` without copying it; `None` when nothing
    /// waits.
    pub fn transmit_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        self.shared.tx.pop_with(f)
    }

    /// Hands every queued datagram to `sent`, in order, through `buf`.
    pub fn drain_transmit(&mut self, buf: &mut [u8], mut sent: impl FnMut(&[u8])) {
        while let Some(n) = self.poll_transmit(buf) {
            sent(&buf[..n]);
        }
    }

    /// The drive loop of a driver in virtual time: from `now` to `until`, each timer deadline
    /// due fires at its own time ([`Stack::step_timers`]) and every datagram it makes the
    /// stack send goes to `sent` with that time.
    pub fn run_until(&mut self, now: Instant, until: Instant, buf: &mut [u8], mut sent: impl FnMut(Instant, &[u8])) {
        let mut t = now;
        while let Some(at) = self.step_timers(t, until) {
            t = at;
            self.drain_transmit(buf, |d| sent(at, d));
        }
    }

    // ---------------------------------------------------------------- socket calls

    /// `socket(2)` owned by the stack's default credentials; see [`Stack::socket_as`].
    pub fn socket(&mut self, domain: i32, ty: i32, protocol: i32) -> Result<SocketId, Errno> {
        self.socket_as(self.credentials, domain, ty, protocol)
    }

    /// `socket(2)` for an owner: a new TCP socket (rules B1–B3). Checks in Linux's order:
    /// unknown flags in `ty` (`EINVAL`), family (`EAFNOSUPPORT`; synq runs IPv4 only), type
    /// out of range (`EINVAL`), then `inet_create`: protocol out of range (`EINVAL`); a
    /// stream socket takes protocol 0 or `IPPROTO_TCP` (`EPROTONOSUPPORT`). Other types give
    /// `ESOCKTNOSUPPORT` (Linux would make a UDP or raw socket; synq has none).
    pub fn socket_as(&mut self, creds: Credentials, domain: i32, ty: i32, protocol: i32) -> Result<SocketId, Errno> {
        const SOCK_MAX: i32 = 11;
        const IPPROTO_MAX: i32 = 263;
        if ty & !SOCK_TYPE_MASK & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
            return Err(Errno::EINVAL);
        }
        if domain != AF_INET {
            return Err(Errno::EAFNOSUPPORT);
        }
        let kind = ty & SOCK_TYPE_MASK;
        if !(0..SOCK_MAX).contains(&kind) {
            return Err(Errno::EINVAL);
        }
        if !(0..IPPROTO_MAX).contains(&protocol) {
            return Err(Errno::EINVAL);
        }
        if kind != SOCK_STREAM {
            return Err(Errno::ESOCKTNOSUPPORT);
        }
        if protocol != IPPROTO_IP && protocol != IPPROTO_TCP {
            return Err(Errno::EPROTONOSUPPORT);
        }
        let mut socket = Socket::new(creds, ty & SOCK_NONBLOCK != 0);
        // tcp_init_sock
        socket.options.rcvbuf = self.sysctl.tcp_rmem[1].max(0) as u32;
        socket.options.sndbuf = self.sysctl.tcp_wmem[1].max(0) as u32;
        Ok(self.tables.sockets.insert(socket))
    }

    /// `close(2)`: a listener resets its unaccepted children (`inet_csk_listen_stop`, L60,
    /// L61; its requests die on their own, L62) and gives its port back (`inet_put_port`,
    /// rule B20); a connection closes as `tcp_close` does (FIN, or a reset when data was
    /// left unread) and lives on without a descriptor until the close completes.
    pub fn close(&mut self, now: Instant, fd: SocketId) -> Result<(), Errno> {
        self.with_loopback(now, |s| {
            let fd = s.tables.sockets.resolve(fd)?;
            let socket = s.tables.sockets.get(fd)?;
            if socket.tcb().is_some() {
                return s.tcp_close(now, fd);
            }
            if socket.state == TcpState::Listen {
                s.inet_csk_listen_stop(now, fd);
            }
            s.inet_csk_destroy_sock(fd);
            Ok(())
        })
    }

    /// `fcntl(F_SETFL, O_NONBLOCK)`.
    pub fn set_nonblocking(&mut self, fd: SocketId, nonblocking: bool) -> Result<(), Errno> {
        let fd = self.tables.sockets.resolve(fd)?;
        self.tables.sockets.get_mut(fd)?.nonblocking = nonblocking;
        Ok(())
    }

    /// `fcntl(F_GETFL) & O_NONBLOCK`.
    pub fn is_nonblocking(&self, fd: SocketId) -> Result<bool, Errno> {
        let fd = self.tables.sockets.resolve(fd)?;
        Ok(self.tables.sockets.get(fd)?.nonblocking)
    }

    /// `setsockopt(2)` with the option value as bytes (a native-endian `int`). `SOL_SOCKET`
    /// and `SOL_TCP` options need a whole `int` (`EINVAL` otherwise); `SOL_IP` flags also
    /// take a single byte, and an empty value means 0, as `do_ip_setsockopt` reads them.
    /// `ENOPROTOOPT` for an option synq does not have or that cannot be set.
    pub fn setsockopt(&mut self, fd: SocketId, level: i32, name: i32, value: &[u8]) -> Result<(), Errno> {
        let fd = self.tables.sockets.resolve(fd)?;
        let (rmem_max, wmem_max) = (self.sysctl.rmem_max, self.sysctl.wmem_max);
        let socket = self.tables.sockets.get_mut(fd)?;
        if (level, name) == (SOL_SOCKET, SO_LINGER) {
            // sock_setsockopt: a whole struct linger; l_onoff 0 turns lingering off.
            let field = |i: usize| {
                value
                    .get(i..i + 4)
                    .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            };
            let (Some(onoff), Some(secs)) = (field(0), field(4)) else {
                return Err(Errno::EINVAL);
            };
            socket.options.linger = (onoff != 0).then_some(secs.max(0) as u32);
            return Ok(());
        }
        if (level, name) == (SOL_IP, IP_LOCAL_PORT_RANGE) {
            // do_ip_setsockopt: exactly a u32; a bound of 0 leaves the sysctl's.
            let [a, b, c, d] = *value else {
                return Err(Errno::EINVAL);
            };
            let range = u32::from_ne_bytes([a, b, c, d]);
            let (low, high) = (range & 0xffff, range >> 16);
            if low != 0 && high != 0 && low > high {
                return Err(Errno::EINVAL);
            }
            socket.options.local_port_range = range;
            return Ok(());
        }
        if (level, name) == (SOL_TCP, TCP_CONGESTION) {
            // do_tcp_setsockopt: a name up to TCP_CA_NAME_MAX; ENOENT for one not built in.
            // On a connection the algorithm starts afresh (tcp_reinit_congestion_control).
            let text = value.split(|&b| b == 0).next().unwrap_or_default();
            let chosen = std::str::from_utf8(text)
                .ok()
                .filter(|t| !t.is_empty() && t.len() < 16)
                .ok_or(Errno::EINVAL)
                .and_then(CcAlgo::by_name)?;
            socket.options.congestion = Some(chosen);
            if let Some(tcb) = socket.tcb_mut() {
                // Fresh state; HyStart starts its first round at the next ACK.
                tcb.ca = CongestionControl::new(chosen);
            }
            return Ok(());
        }
        if (level, name) == (SOL_IP, IP_TRANSPARENT) {
            // do_ip_setsockopt: at least a byte; turning it on needs CAP_NET_RAW or
            // CAP_NET_ADMIN. A listener on the wildcard takes non-local connections from now.
            let on = match *value {
                [] => return Err(Errno::EINVAL),
                [b] => b != 0,
                [a, b, c, d, ..] => i32::from_ne_bytes([a, b, c, d]) != 0,
                [b, ..] => b != 0,
            };
            if on && !socket.creds.cap_net_admin {
                return Err(Errno::EPERM);
            }
            socket.options.transparent = on;
            if socket.state == TcpState::Listen && socket.rcv_saddr.is_unspecified() {
                self.tables.listening.set_transparent(fd, on);
            }
            return Ok(());
        }
        let ip_level = level == SOL_IP;
        let val = match (value.len(), ip_level) {
            (4.., _) => i32::from_ne_bytes([value[0], value[1], value[2], value[3]]),
            (1.., true) => i32::from(value[0]),
            (0, true) => 0,
            _ => return Err(Errno::EINVAL),
        };
        let o = &mut socket.options;
        let flag = match (level, name) {
            (SOL_SOCKET, SO_REUSEADDR) => &mut o.reuse_addr,
            (SOL_SOCKET, SO_REUSEPORT) => &mut o.reuse_port,
            (SOL_SOCKET, SO_KEEPALIVE) => &mut o.keepalive,
            (SOL_TCP, TCP_NODELAY) => &mut o.nodelay,
            (SOL_TCP, TCP_CORK) => &mut o.cork,
            (SOL_TCP, TCP_INQ) if !(0..=1).contains(&val) => return Err(Errno::EINVAL),
            (SOL_TCP, TCP_INQ) => &mut o.recvmsg_inq,
            (SOL_IP, IP_FREEBIND) => &mut o.freebind,
            (SOL_IP, IP_BIND_ADDRESS_NO_PORT) => &mut o.bind_address_no_port,
            // sock_setsockopt: the value (as unsigned) capped by rmem_max/wmem_max, doubled
            // for overhead, at least SOCK_MIN_RCVBUF/SOCK_MIN_SNDBUF.
            (SOL_SOCKET, SO_RCVBUF) => {
                o.rcvbuf = socket_buffer(val, rmem_max);
                o.rcvbuf_locked = true;
                return Ok(());
            }
            (SOL_SOCKET, SO_SNDBUF) => {
                o.sndbuf = socket_buffer(val, wmem_max);
                o.sndbuf_locked = true;
                return Ok(());
            }
            // do_tcp_setsockopt
            (SOL_TCP, TCP_MAXSEG) => {
                if val != 0 && !(i32::from(TCP_MIN_MSS)..=MAX_TCP_WINDOW).contains(&val) {
                    return Err(Errno::EINVAL);
                }
                o.user_mss = val as u16;
                return Ok(());
            }
            (SOL_TCP, TCP_SYNCNT) => {
                if !(1..=MAX_TCP_SYNCNT).contains(&val) {
                    return Err(Errno::EINVAL);
                }
                o.syn_retries = val as u8;
                return Ok(());
            }
            (SOL_TCP, TCP_DEFER_ACCEPT) => {
                socket.defer_accept = secs_to_retrans(val);
                return Ok(());
            }
            (SOL_TCP, TCP_USER_TIMEOUT) => {
                if val < 0 {
                    return Err(Errno::EINVAL);
                }
                o.user_timeout_ms = val as u32;
                return Ok(());
            }
            // MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL (32767 s), MAX_TCP_KEEPCNT (127).
            (SOL_TCP, TCP_KEEPIDLE | TCP_KEEPINTVL) if !(1..=32767).contains(&val) => return Err(Errno::EINVAL),
            (SOL_TCP, TCP_KEEPIDLE) => {
                o.keepidle = val as u32;
                return Ok(());
            }
            (SOL_TCP, TCP_KEEPINTVL) => {
                o.keepintvl = val as u32;
                return Ok(());
            }
            (SOL_TCP, TCP_KEEPCNT) => {
                if !(1..=127).contains(&val) {
                    return Err(Errno::EINVAL);
                }
                o.keepcnt = val as u8;
                return Ok(());
            }
            (SOL_TCP, TCP_NOTSENT_LOWAT) => {
                o.notsent_lowat = val as u32;
                return Ok(());
            }
            // __tcp_sock_set_quickack: 0 enters ping-pong mode (ACKs wait for our reply),
            // anything else leaves it; the ACK that may then go is Stack::setsockopt_at's.
            (SOL_TCP, TCP_QUICKACK) => {
                if let Some(tcb) = socket.tcb_mut() {
                    tcb.ack.pingpong = if val == 0 { TCP_PINGPONG_THRESH } else { 0 };
                }
                return Ok(());
            }
            // do_tcp_setsockopt: negative means none; at most TCP_FIN_TIMEOUT_MAX (120 s).
            (SOL_TCP, TCP_LINGER2) => {
                o.linger2 = if val < 0 { -1 } else { val.min(120) };
                return Ok(());
            }
            _ => return Err(Errno::ENOPROTOOPT),
        };
        *flag = val != 0;
        Ok(())
    }

    /// `getsockopt(2)`: writes the value as a native-endian `int`, truncated to `out`'s
    /// length as Linux does (a `SOL_IP` value that fits a byte is written as one byte when
    /// `out` is shorter than an `int`), and returns the bytes written. `SO_ERROR` clears the
    /// error.
    pub fn getsockopt(&mut self, fd: SocketId, level: i32, name: i32, out: &mut [u8]) -> Result<usize, Errno> {
        let fd = self.tables.sockets.resolve(fd)?;
        let syn_retries = self.sysctl.tcp_syn_retries;
        let socket = self.tables.sockets.get_mut(fd)?;
        let o = &socket.options;
        if (level, name) == (SOL_SOCKET, SO_LINGER) {
            let mut linger = [0u8; 8];
            linger[..4].copy_from_slice(&i32::from(o.linger.is_some()).to_ne_bytes());
            linger[4..].copy_from_slice(&(o.linger.unwrap_or(0) as i32).to_ne_bytes());
            let n = out.len().min(8);
            out[..n].copy_from_slice(&linger[..n]);
            return Ok(n);
        }
        let value: i32 = match (level, name) {
            (SOL_SOCKET, SO_REUSEADDR) => o.reuse_addr.into(),
            (SOL_SOCKET, SO_REUSEPORT) => o.reuse_port.into(),
            (SOL_SOCKET, SO_KEEPALIVE) => o.keepalive.into(),
            (SOL_SOCKET, SO_TYPE) => SOCK_STREAM,
            (SOL_SOCKET, SO_DOMAIN) => AF_INET,
            (SOL_SOCKET, SO_PROTOCOL) => IPPROTO_TCP,
            (SOL_SOCKET, SO_ACCEPTCONN) => (socket.state == TcpState::Listen).into(),
            (SOL_SOCKET, SO_ERROR) => socket.error.take().map_or(0, Errno::raw),
            (SOL_SOCKET, SO_RCVBUF) => o.rcvbuf as i32,
            (SOL_SOCKET, SO_SNDBUF) => o.sndbuf as i32,
            (SOL_TCP, TCP_NODELAY) => o.nodelay.into(),
            (SOL_TCP, TCP_MAXSEG) => socket.mss_cache().into(),
            (SOL_TCP, TCP_SYNCNT) => i32::from(if o.syn_retries != 0 { o.syn_retries } else { syn_retries }),
            (SOL_TCP, TCP_DEFER_ACCEPT) => retrans_to_secs(socket.defer_accept),
            (SOL_TCP, TCP_USER_TIMEOUT) => o.user_timeout_ms as i32,
            (SOL_TCP, TCP_INQ) => o.recvmsg_inq.into(),
            (SOL_TCP, TCP_KEEPIDLE) if o.keepidle == 0 => self.sysctl.tcp_keepalive_time,
            (SOL_TCP, TCP_KEEPIDLE) => o.keepidle as i32,
            (SOL_TCP, TCP_KEEPINTVL) if o.keepintvl == 0 => self.sysctl.tcp_keepalive_intvl,
            (SOL_TCP, TCP_KEEPINTVL) => o.keepintvl as i32,
            (SOL_TCP, TCP_KEEPCNT) if o.keepcnt == 0 => i32::from(self.sysctl.tcp_keepalive_probes),
            (SOL_TCP, TCP_KEEPCNT) => i32::from(o.keepcnt),
            (SOL_TCP, TCP_LINGER2) if o.linger2 == 0 => self.sysctl.tcp_fin_timeout,
            (SOL_TCP, TCP_LINGER2) => o.linger2,
            (SOL_TCP, TCP_CORK) => o.cork.into(),
            (SOL_TCP, TCP_NOTSENT_LOWAT) => o.notsent_lowat as i32,
            (SOL_TCP, TCP_QUICKACK) => socket.tcb().is_none_or(|t| !t.ack.in_pingpong_mode()).into(),
            (SOL_IP, IP_FREEBIND) => o.freebind.into(),
            (SOL_IP, IP_TRANSPARENT) => o.transparent.into(),
            (SOL_IP, IP_BIND_ADDRESS_NO_PORT) => o.bind_address_no_port.into(),
            (SOL_IP, IP_LOCAL_PORT_RANGE) => o.local_port_range as i32,
            _ => return Err(Errno::ENOPROTOOPT),
        };
        if level == SOL_IP && !out.is_empty() && out.len() < 4 && (0..=255).contains(&value) {
            out[0] = value as u8;
            return Ok(1);
        }
        let n = out.len().min(4);
        out[..n].copy_from_slice(&value.to_ne_bytes()[..n]);
        Ok(n)
    }

    /// `getsockname(2)`: `0.0.0.0:0` until bound.
    pub fn getsockname(&self, fd: SocketId) -> Result<SocketAddrV4, Errno> {
        let fd = self.tables.sockets.resolve(fd)?;
        Ok(self.tables.sockets.get(fd)?.local())
    }

    /// `getpeername(2)`: `ENOTCONN` until connected.
    pub fn getpeername(&self, fd: SocketId) -> Result<SocketAddrV4, Errno> {
        let fd = self.tables.sockets.resolve(fd)?;
        let socket = self.tables.sockets.get(fd)?;
        // inet_getname: no peer yet while connecting, none left once closed (rule C32).
        if matches!(socket.state, TcpState::SynSent | TcpState::Close) {
            return Err(Errno::ENOTCONN);
        }
        socket.peer.ok_or(Errno::ENOTCONN)
    }

    /// `poll(2)` readiness of one socket, as `tcp_poll` computes it (`POLLIN`, `POLLOUT`,
    /// `POLLHUP`, ... from [`crate::base::consts`]).
    pub fn poll(&self, fd: SocketId) -> Result<u16, Errno> {
        let fd = self.tables.sockets.resolve(fd)?;
        let socket = self.tables.sockets.get(fd)?;
        if socket.tcb().is_some() {
            return self.tcp_poll(fd);
        }
        let mut mask = 0;
        if socket.error.is_some() {
            mask |= POLLERR;
        }
        match socket.state {
            // inet_csk_listen_poll (L55)
            TcpState::Listen if socket.listen_queue().is_some_and(|q| !q.accept_queue.is_empty()) => {
                mask |= POLLIN | POLLRDNORM
            }
            TcpState::Listen => {}
            TcpState::Close => mask |= POLLHUP | POLLOUT | POLLWRNORM,
            _ => {}
        }
        Ok(mask)
    }

    /// `accept(2)`; see [`Stack::accept4`].
    pub fn accept(&mut self, fd: SocketId) -> Result<(SocketId, SocketAddrV4), Errno> {
        self.accept4(fd, 0)
    }

    /// `accept4(2)` (`inet_csk_accept`, L50–L54): the oldest child of the accept queue and its
    /// peer. `EINVAL` for flags other than `SOCK_NONBLOCK | SOCK_CLOEXEC` or a socket not
    /// listening; `EAGAIN` while the queue is empty (the stack never blocks: a blocking caller
    /// waits for [`POLLIN`] and calls again). The child is non-blocking only with
    /// `SOCK_NONBLOCK`.
    pub fn accept4(&mut self, fd: SocketId, flags: i32) -> Result<(SocketId, SocketAddrV4), Errno> {
        let fd = self.tables.sockets.resolve(fd)?;
        if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
            return Err(Errno::EINVAL);
        }
        let listener = self.tables.sockets.get_mut(fd)?;
        if listener.state != TcpState::Listen {
            return Err(Errno::EINVAL);
        }
        let child = listener
            .listen_queue_mut()
            .and_then(|q| q.accept_queue.pop())
            .ok_or(Errno::EAGAIN)?;
        // The child gets its descriptor now (`fd_install`).
        let child_fd = self.tables.sockets.install_fd(child)?;
        let child = self.tables.sockets.get_mut(child)?;
        child.parent = None;
        child.nonblocking = flags & SOCK_NONBLOCK != 0;
        child.sock_state = SockState::Connected;
        let peer = child.peer.expect("a queued child has its peer");
        Ok((child_fd, peer))
    }

    /// `connect(2)` (`__inet_stream_connect`, `tcp_v4_connect`; rules C3–C7, C28): starts the
    /// active open and returns `EINPROGRESS` (the stack never blocks: a blocking caller waits
    /// for [`POLLOUT`] and calls again). A call while the attempt runs gives `EALREADY`; the
    /// first call after it ended gives its outcome (0, or its error, `ECONNABORTED` if
    /// SO_ERROR already took it); a connected or listening socket gives `EISCONN`. A
    /// broadcast or multicast destination is `ENETUNREACH`; 0.0.0.0 means this host; port
    /// exhaustion is `EADDRNOTAVAIL`.
    pub fn connect(&mut self, now: Instant, fd: SocketId, addr: SocketAddrV4) -> Result<(), Errno> {
        self.with_loopback(now, |s| {
            let fd = s.tables.sockets.resolve(fd)?;
            s.inet_stream_connect(now, fd, Ok(addr))
        })
    }

    /// `connect(2)` with a raw `struct sockaddr` of `sockaddr.len()` bytes, checked in
    /// `__inet_stream_connect`'s order: shorter than its family field, `EINVAL` (C1);
    /// `AF_UNSPEC` disconnects (`tcp_disconnect`, C2: a connection is reset, an attempt
    /// dropped without a word, a listener stops; `ECONNRESET` for SO_ERROR; the automatic
    /// address and port go back; 0); then the socket's state (C3) and only then the address:
    /// shorter than `sockaddr_in`, `EINVAL`; not `AF_INET`, `EAFNOSUPPORT` (C4).
    pub fn connect_raw(&mut self, now: Instant, fd: SocketId, sockaddr: &[u8]) -> Result<(), Errno> {
        self.with_loopback(now, |s| {
            let fd = s.tables.sockets.resolve(fd)?;
            let [f0, f1, ..] = *sockaddr else {
                return Err(Errno::EINVAL);
            };
            let family = i32::from(u16::from_ne_bytes([f0, f1]));
            if family == AF_UNSPEC {
                s.tcp_disconnect(now, fd)?;
                return Ok(());
            }
            let addr = match sockaddr {
                _ if sockaddr.len() < SOCKADDR_IN_LEN => Err(Errno::EINVAL),
                _ if family != AF_INET => Err(Errno::EAFNOSUPPORT),
                s => Ok(SocketAddrV4::new(
                    Ipv4Addr::new(s[4], s[5], s[6], s[7]),
                    u16::from_be_bytes([s[2], s[3]]),
                )),
            };
            s.inet_stream_connect(now, fd, addr)
        })
    }

    /// `__inet_stream_connect` after the `AF_UNSPEC` case: the socket's state decides (C3),
    /// then the address's own error, if any (C4), then `tcp_v4_connect`.
    fn inet_stream_connect(
        &mut self,
        now: Instant,
        fd: SockId,
        addr: Result<SocketAddrV4, Errno>,
    ) -> Result<(), Errno> {
        let socket = self.tables.sockets.get_mut(fd)?;
        match socket.sock_state {
            SockState::Disconnecting => return Err(Errno::EINVAL),
            SockState::Connected => return Err(Errno::EISCONN),
            SockState::Connecting => match socket.state {
                TcpState::SynSent | TcpState::SynRecv => return Err(Errno::EALREADY),
                TcpState::Close => {
                    // The failure path runs `tcp_disconnect`.
                    let err = socket.error.take().unwrap_or(Errno::ECONNABORTED);
                    self.tcp_disconnect(now, fd)?;
                    return Err(err);
                }
                _ => {
                    socket.sock_state = SockState::Connected;
                    return Ok(());
                }
            },
            SockState::Unconnected if socket.state != TcpState::Close => return Err(Errno::EISCONN),
            SockState::Unconnected => {}
        }
        let addr = addr?;
        let mut daddr = *addr.ip();
        if daddr.is_broadcast() || daddr.is_multicast() {
            return Err(Errno::ENETUNREACH);
        }
        // The route's source: our own address for ourselves, else the first one.
        let bound = socket.rcv_saddr;
        let saddr = if !bound.is_unspecified() {
            bound
        } else if self.is_local(daddr) {
            daddr
        } else {
            *self.addrs.first().ok_or(Errno::ENETUNREACH)?
        };
        if daddr.is_unspecified() {
            daddr = saddr;
        }
        let (mut cx, tables) = (
            Ctx {
                sysctl: &self.sysctl,
                s: &mut self.shared,
            },
            &mut self.tables,
        );
        tcp_v4_connect(
            &mut cx,
            tables,
            &mut self.rng,
            now,
            fd,
            saddr,
            SocketAddrV4::new(daddr, addr.port()),
        )?;
        tables.sockets.get_mut(fd)?.sock_state = SockState::Connecting;
        Err(Errno::EINPROGRESS)
    }

    /// `tcp_disconnect` (rules C2, C8): a synchronized connection is reset (`ECONNRESET` for
    /// SO_ERROR), an attempt in SYN_SENT dropped silently (`ECONNRESET` too), a listener stops
    /// listening; the socket is closed and reusable, its automatic address and port given
    /// back, and its next ISN follows this connection's sequence space (`write_seq +
    /// max_window + 2`).
    fn tcp_disconnect(&mut self, now: Instant, fd: SockId) -> Result<(), Errno> {
        let socket = self.tables.sockets.get(fd)?;
        let state = socket.state;
        match state {
            TcpState::Listen => self.inet_csk_listen_stop(now, fd),
            TcpState::Close => {}
            _ => {
                if !matches!(state, TcpState::SynSent) {
                    self.tcp_send_active_reset(now, fd);
                }
                self.tables.sockets.get_mut(fd)?.error = Some(Errno::ECONNRESET);
                self.tcp_done(fd);
            }
        }
        let socket = self.tables.sockets.get_mut(fd)?;
        socket.state = TcpState::Close;
        socket.sock_state = SockState::Unconnected;
        socket.shutdown = 0;
        socket.done = false;
        socket.peer = None;
        if let Some(t) = socket.tcb() {
            let seq = t.snd.write_seq.0.wrapping_add(t.snd.max_window).wrapping_add(2);
            socket.write_seq = seq.max(1);
        }
        if !socket.bind_addr_lock {
            socket.rcv_saddr = Ipv4Addr::UNSPECIFIED;
        }
        Ok(())
    }

    /// `send(2)` (`tcp_sendmsg`): queues what fits in the send buffer and returns how much;
    /// `EAGAIN` when nothing fits (the stack never blocks: a blocking caller waits for
    /// [`POLLOUT`]), `EPIPE` when not connected or after SHUT_WR, a pending error first.
    pub fn send(&mut self, now: Instant, fd: SocketId, data: &[u8]) -> Result<usize, Errno> {
        self.send_flags(now, fd, data, 0)
    }

    /// `send(2)` with `flags`: `MSG_MORE` says more follows — a partial segment waits (as
    /// under TCP_CORK, until the next send without it, an ACK's push, or the probe timer)
    /// and the data carries no PSH mark. Other flags are ignored.
    pub fn send_flags(&mut self, now: Instant, fd: SocketId, data: &[u8], flags: i32) -> Result<usize, Errno> {
        self.with_loopback(now, |s| {
            let fd = s.tables.sockets.resolve(fd)?;
            s.tcp_sendmsg(now, fd, data, flags & MSG_MORE != 0)
        })
    }

    /// [`Stack::setsockopt`] at time `now`: turning TCP_NODELAY on or TCP_CORK off also
    /// pushes what waits (`tcp_push_pending_frames` with `TCP_NAGLE_PUSH`), and TCP_QUICKACK
    /// on sends an ACK owed, as Linux's setsockopt does. Plain `setsockopt` leaves those to
    /// the next event.
    pub fn setsockopt_at(
        &mut self,
        now: Instant,
        fd: SocketId,
        level: i32,
        name: i32,
        value: &[u8],
    ) -> Result<(), Errno> {
        let sk = self.tables.sockets.resolve(fd)?;
        let was_on = self.tables.sockets.get(sk)?.options.keepalive;
        self.setsockopt(fd, level, name, value)?;
        let val = match *value {
            [a, b, c, d, ..] => i32::from_ne_bytes([a, b, c, d]),
            _ => 0,
        };
        let on = val != 0;
        {
            let (mut cx, sockets) = self.ctx();
            let socket = sockets.get_mut(sk)?;
            match (level, name) {
                (SOL_SOCKET, SO_KEEPALIVE) if on != was_on => tcp_set_keepalive(&mut cx, now, sk, socket, on),
                (SOL_TCP, TCP_KEEPIDLE) if socket.options.keepalive => {
                    tcp_reset_keepalive_timer(&mut cx, now, sk, socket)
                }
                (SOL_TCP, TCP_QUICKACK) if on => tcp_quickack_now(&mut cx, now, socket, val),
                _ => {}
            }
        }
        let push = match (level, name) {
            (SOL_TCP, TCP_NODELAY) => on,
            (SOL_TCP, TCP_CORK) => !on,
            _ => false,
        };
        if push {
            self.with_loopback(now, |s| {
                let fd = s.tables.sockets.resolve(fd)?;
                s.tcp_push_pending(now, fd);
                Ok(())
            })?;
        }
        Ok(())
    }

    /// `recv(2)` (`tcp_recvmsg`): the bytes queued in order; 0 at the end of the stream;
    /// `EAGAIN` while nothing is queued (a blocking caller waits for [`POLLIN`]); a pending
    /// error (`ECONNRESET`) once; `ENOTCONN` on a listener or an unconnected socket.
    pub fn recv(&mut self, now: Instant, fd: SocketId, buf: &mut [u8]) -> Result<usize, Errno> {
        self.with_loopback(now, |s| {
            let fd = s.tables.sockets.resolve(fd)?;
            s.tcp_recvmsg(now, fd, buf)
        })
    }

    /// `ioctl(2)` on a socket (`tcp_ioctl`): `SIOCINQ` the bytes to read (a received FIN
    /// not counted), `SIOCOUTQ` the bytes sent or queued and not acknowledged, `SIOCOUTQNSD`
    /// those not yet sent — 0 during the handshake, `EINVAL` on a listener, `ENOIOCTLCMD`'s
    /// `ENOTTY` for another command.
    pub fn ioctl(&self, fd: SocketId, cmd: u32) -> Result<i32, Errno> {
        let socket = self.tables.sockets.get(self.tables.sockets.resolve(fd)?)?;
        if !matches!(cmd, SIOCINQ | SIOCOUTQ | SIOCOUTQNSD) {
            return Err(Errno::ENOTTY);
        }
        if socket.state == TcpState::Listen {
            return Err(Errno::EINVAL);
        }
        let Some(t) = socket
            .tcb()
            .filter(|_| !matches!(socket.state, TcpState::SynSent | TcpState::SynRecv))
        else {
            return Ok(0);
        };
        // Linux's write_seq counts the FIN; ours stops before it.
        let write_seq = t.snd.write_seq + u32::from(t.snd.fin_queued);
        Ok(match cmd {
            SIOCINQ => t.rcv.buf.len() as i32,
            SIOCOUTQ => (write_seq - t.snd.una) as i32,
            _ => (write_seq - t.snd.nxt) as i32,
        })
    }

    /// `recvmsg(2)`: [`Stack::recv`], and with `TCP_INQ` on, the `TCP_CM_INQ` control
    /// message: what is left to read, counting a received FIN as one (`tcp_inq_hint`), so
    /// that a reader keeps reading until it sees the end of the stream.
    pub fn recvmsg(&mut self, now: Instant, fd: SocketId, buf: &mut [u8]) -> Result<(usize, Option<u32>), Errno> {
        self.with_loopback(now, |s| {
            let fd = s.tables.sockets.resolve(fd)?;
            let n = s.tcp_recvmsg(now, fd, buf)?;
            let socket = s.tables.sockets.get(fd)?;
            let inq = socket.options.recvmsg_inq.then(|| {
                let queued = socket.tcb().map_or(0, |t| t.rcv.buf.len() as u32);
                queued + u32::from(socket.done)
            });
            Ok((n, inq))
        })
    }

    /// `shutdown(2)` (`inet_shutdown`): `EINVAL` for a bad `how`, `ENOTCONN` on a closed
    /// socket; on a listener SHUT_RD or SHUT_RDWR stops listening (`tcp_disconnect`, L9: the
    /// queued children are reset, the port kept if the user chose it) and SHUT_WR does
    /// nothing; in SYN_SENT the attempt is dropped (`tcp_disconnect`). A connection shuts down
    /// as `tcp_shutdown` does (SHUT_WR sends the FIN).
    pub fn shutdown(&mut self, now: Instant, fd: SocketId, how: i32) -> Result<(), Errno> {
        self.with_loopback(now, |s| {
            let fd = s.tables.sockets.resolve(fd)?;
            let socket = s.tables.sockets.get_mut(fd)?;
            if !(SHUT_RD..=SHUT_RDWR).contains(&how) {
                return Err(Errno::EINVAL);
            }
            // A connect() not reported yet is settled: connected if the handshake is done,
            // else disconnecting (connect() then says EINVAL).
            if socket.sock_state == SockState::Connecting {
                socket.sock_state = match socket.state {
                    TcpState::SynSent | TcpState::SynRecv | TcpState::Close => SockState::Disconnecting,
                    _ => SockState::Connected,
                };
            }
            // An attempt in SYN_SENT is dropped whatever `how` says (rule C32).
            if socket.state == TcpState::SynSent {
                return s.tcp_disconnect(now, fd);
            }
            if socket.tcb().is_some() {
                return s.tcp_shutdown(now, fd, how);
            }
            match socket.state {
                TcpState::Close => Err(Errno::ENOTCONN),
                TcpState::Listen if how == SHUT_WR => Ok(()),
                TcpState::Listen => {
                    s.inet_csk_listen_stop(now, fd);
                    let socket = s.tables.sockets.get_mut(fd)?;
                    socket.state = TcpState::Close;
                    // tcp_set_state(TCP_CLOSE): a port the user did not choose is given back.
                    if !socket.bind_port_lock && socket.num != 0 {
                        let (port, addr) = (socket.num, socket.rcv_saddr);
                        socket.num = 0;
                        socket.sport = 0;
                        s.tables.bind_table.remove(port, addr, Owner::Socket(fd));
                    }
                    Ok(())
                }
                _ => Err(Errno::ENOTCONN),
            }
        })
    }

    /// `inet_csk_listen_stop` (L61): every child on the accept queue is forgotten
    /// (`inet_child_forget` → `tcp_disconnect`: a synchronized child is reset) and freed.
    /// The requests are left to their timers (L62).
    fn inet_csk_listen_stop(&mut self, now: Instant, fd: SockId) {
        let Ok(listener) = self.tables.sockets.get_mut(fd) else {
            return;
        };
        self.tables.listening.remove(listener.num, listener.rcv_saddr, fd);
        self.tables.listening.set_transparent(fd, false);
        // The listener is a listener no more: its queue goes with what waits in it.
        let queue = std::mem::take(&mut listener.kind);
        let children: Vec<SockId> = match queue {
            SockKind::Listener(mut q) => q.accept_queue.drain().collect(),
            _ => Vec::new(),
        };
        for id in children {
            let Ok(child) = self.tables.sockets.get_mut(id) else {
                continue;
            };
            child.parent = None;
            if matches!(
                child.state,
                TcpState::Established
                    | TcpState::CloseWait
                    | TcpState::FinWait1
                    | TcpState::FinWait2
                    | TcpState::SynRecv
            ) {
                self.tcp_send_active_reset(now, id);
            }
            self.tcp_done(id);
        }
    }
}

/// `MAX_TCP_WINDOW`: the largest TCP_MAXSEG.
const MAX_TCP_WINDOW: i32 = 32767;
/// `MAX_TCP_SYNCNT`: the largest TCP_SYNCNT.
const MAX_TCP_SYNCNT: i32 = 127;
/// `SOCK_MIN_RCVBUF` = `SOCK_MIN_SNDBUF` = 2 · `TCP_SKB_MIN_TRUESIZE` (2048 + a cache-aligned
/// `struct sk_buff` on x86-64).
const SOCK_MIN_BUF: u32 = 2 * (2048 + 256);

/// `__sock_set_rcvbuf` / `__sock_set_sndbuf`: the value as unsigned, capped by the sysctl
/// maximum and `INT_MAX / 2`, doubled, at least [`SOCK_MIN_BUF`].
fn socket_buffer(val: i32, max: i32) -> u32 {
    let val = (val as u32).min(max.max(0) as u32).min(i32::MAX as u32 / 2);
    (val * 2).max(SOCK_MIN_BUF)
}
