//! The synq target: a [`Stack`] at the script's local address in virtual time (exact timing,
//! no root). System calls map to the stack's socket calls; backtick commands are read as the
//! settings they make ([`crate::shell`]).

use crate::ast::Micros;
use crate::config::Config;
use crate::runner::{Arg, CallError, SysResult, Target};
use crate::shell::{self, ShellAction};
use std::collections::HashMap;
use std::net::SocketAddrV4;
use synq_core::consts::*;
use synq_core::{Credentials, Errno, Instant, SocketId, Stack, StackConfig};

/// A synq stack driven by a script.
pub struct SynqTarget {
    stack: Stack,
    now: Micros,
    buf: Vec<u8>,
    /// Datagrams the stack sent that the runner has not taken yet.
    sent: std::collections::VecDeque<(Micros, Vec<u8>)>,
    /// A blocking call (a `...` window) still waiting, and the result of one that ended.
    blocked: Option<Blocked>,
    ended: Option<(Micros, SysResult)>,
    /// Where `bind(fd, ..., ...)` and `connect(fd, ..., ...)` go.
    bind_addr: SocketAddrV4,
    connect_addr: SocketAddrV4,
    /// Counters at the last `nstat` that moved nstat's history.
    nstat_base: HashMap<String, u64>,
    /// epoll instances, by their fd (numbered after [`EPOLL_FD_BASE`]).
    epolls: Vec<Epoll>,
    /// `--mss`: inbound segments go in as GSO packets of this size (0: none).
    gso_size: u16,
}

/// Where the fds of epoll instances start (the stack's sockets stay far below).
const EPOLL_FD_BASE: i64 = 1 << 20;

/// An epoll instance: its watched sockets, each with the events asked for, the data word,
/// and, for an edge-triggered one, whether a wakeup came since it was last reported.
#[derive(Default)]
struct Epoll {
    watched: Vec<Watched>,
}

struct Watched {
    fd: SocketId,
    events: u32,
    data: u64,
    woken: bool,
    /// What the last wakeup check saw: the poll mask and the bytes to read.
    seen: (u16, i32),
}

const EPOLLET: u32 = 1 << 31;
const EPOLL_CTL_ADD: i64 = 1;
const EPOLL_CTL_DEL: i64 = 2;
const EPOLL_CTL_MOD: i64 = 3;

/// Linux 6.18 knobs that synq accepts without modelling what they change (congestion
/// control, loss recovery, pacing, ECN, Fast Open): a script may set them, as on Linux.
const UNMODELLED_KNOBS: &[&str] = &[
    "net.ipv4.tcp_dsack",
    "net.ipv4.tcp_ecn_option",
    "net.ipv4.tcp_fack",
    "net.ipv4.tcp_fastopen",
    "net.ipv4.tcp_fastopen_key",
    "net.ipv4.tcp_recovery",
    "net.ipv4.tcp_shrink_window",
];

/// A blocking call in progress: retried whenever the stack's state may have changed (a
/// datagram in, a timer), as the kernel wakes a sleeping caller. `written` counts what a
/// blocking write has queued so far (it returns once all is).
struct Blocked {
    name: String,
    args: Vec<Arg>,
    written: i64,
    /// What the socket showed when the writer last looked: its poll mask and the bytes to
    /// read. A change is a wakeup of the socket's wait queue (`sk_data_ready`,
    /// `sk_state_change`).
    seen: (u16, i32),
}

impl Default for SynqTarget {
    fn default() -> Self {
        Self::new()
    }
}

impl SynqTarget {
    /// A fresh stack at packetdrill's default local address, its sockets owned by root (as
    /// packetdrill runs); [`Target::configure`] sets it up for a run.
    pub fn new() -> SynqTarget {
        let config = Config::default();
        SynqTarget {
            stack: Stack::new(Self::stack_config(&config)),
            now: 0,
            buf: vec![0; 65535],
            sent: Default::default(),
            blocked: None,
            ended: None,
            bind_addr: SocketAddrV4::new(config.local_ip, config.bind_port),
            connect_addr: SocketAddrV4::new(config.remote_ip, config.connect_port),
            nstat_base: HashMap::new(),
            epolls: Vec::new(),
            gso_size: 0,
        }
    }

    fn stack_config(config: &Config) -> StackConfig {
        let mut c = StackConfig::new(config.local_ip);
        c.credentials = Credentials::ROOT;
        c.seed = 1;
        c.mtu = config.mtu.min(u32::from(u16::MAX)) as u16;
        c
    }

    /// One line of a backtick command: `Ok(true)` when it succeeded as its shell command
    /// would have.
    fn apply(&mut self, action: ShellAction) -> Result<bool, CallError> {
        Ok(match action {
            ShellAction::Nothing => true,
            ShellAction::False => false,
            ShellAction::Exit(status) => status == 0,
            // A script's status is its last line's.
            ShellAction::Script(lines) => {
                let mut ok = true;
                for line in lines {
                    ok = self.apply(line)?;
                }
                ok
            }
            // `sysctl` fails on a name Linux does not have or a value it refuses, after
            // setting the others.
            ShellAction::Sysctls(v) => {
                let mut ok = true;
                for (name, value) in v {
                    ok &= match self.stack.sysctl.set(&name, &value) {
                        Ok(()) => true,
                        Err(Errno::ENOENT) => UNMODELLED_KNOBS.contains(&name.as_str()),
                        Err(_) => false,
                    };
                }
                ok
            }
            ShellAction::DeviceQueue(limit) => {
                self.stack.set_tx_queue_limit(limit);
                true
            }
            ShellAction::NstatReset => {
                self.nstat_base = self.counters();
                true
            }
            ShellAction::NstatCheck {
                name,
                delta,
                update,
                absolute,
            } => {
                let now = self.counters();
                let base = if absolute {
                    0
                } else {
                    self.nstat_base.get(&name).copied().unwrap_or(0)
                };
                let moved = now.get(&name).copied().unwrap_or(0).saturating_sub(base);
                if update {
                    self.nstat_base = now;
                }
                moved == delta
            }
        })
    }

    fn counters(&self) -> HashMap<String, u64> {
        let mib = self.stack.mib();
        synq_core::Counter::ALL
            .iter()
            .map(|&c| (c.name().to_string(), mib.get(c)))
            .collect()
    }

    fn instant(t: Micros) -> Instant {
        Instant::from_micros(t.max(0) as u64)
    }

    /// The first whole microsecond at or after `t` (a timer deadline may fall between two).
    fn micros_at_or_after(t: Instant) -> Micros {
        t.as_nanos().div_ceil(1_000) as Micros
    }

    /// Runs the stack's timers due by `t` one deadline at a time ([`Stack::step_timers`]),
    /// keeping what it sends and retrying a blocked call after each; true if one ran.
    fn step(&mut self, t: Micros) -> bool {
        let Some(at) = self.stack.step_timers(Self::instant(self.now), Self::instant(t)) else {
            return false;
        };
        self.now = Self::micros_at_or_after(at).max(self.now);
        self.wake_epolls();
        self.collect();
        self.retry();
        true
    }

    /// The wakeups the kernel's callbacks would give epoll (`sk_data_ready`,
    /// `sk_state_change`, `sk_write_space`): a watched socket that has more to read, or an
    /// event it did not have, since the last look is woken.
    fn wake_epolls(&mut self) {
        let stack = &self.stack;
        for w in self.epolls.iter_mut().flat_map(|e| e.watched.iter_mut()) {
            let now = (stack.poll(w.fd).unwrap_or(0), stack.ioctl(w.fd, SIOCINQ).unwrap_or(0));
            if now.1 > w.seen.1 || now.0 & !w.seen.0 != 0 {
                w.woken = true;
            }
            w.seen = now;
        }
    }

    /// `epoll_create`, `epoll_ctl`, `epoll_wait` (with a zero timeout) over the stack's
    /// sockets: level-triggered, a socket is reported while it has an event asked for;
    /// edge-triggered, once per wakeup (and once when added, if ready then).
    fn epoll(&mut self, name: &str, args: &[Arg]) -> Result<SysResult, CallError> {
        if name != "epoll_create" && name != "epoll_create1" {
            let ep = int(args, 0)? - EPOLL_FD_BASE;
            if ep < 0 || ep as usize >= self.epolls.len() {
                return Ok(SysResult::Err(Errno::EBADF.raw()));
            }
        }
        Ok(match name {
            "epoll_create" | "epoll_create1" => {
                self.epolls.push(Epoll::default());
                SysResult::Ok(EPOLL_FD_BASE + self.epolls.len() as i64 - 1)
            }
            "epoll_ctl" => {
                let ep = &mut self.epolls[(int(args, 0)? - EPOLL_FD_BASE) as usize];
                let fd = fd(args, 2)?;
                let (events, data) = crate::target_kernel::epoll_event_arg(args.get(3))?;
                let mask = match self.stack.poll(fd) {
                    Ok(m) => m,
                    Err(e) => return Ok(SysResult::Err(e.raw())),
                };
                let at = ep.watched.iter().position(|w| w.fd == fd);
                let seen = (mask, self.stack.ioctl(fd, SIOCINQ).unwrap_or(0));
                let watched = Watched {
                    fd,
                    events: events as u32,
                    data,
                    woken: u32::from(mask) & (events as u32 | 0x18) != 0,
                    seen,
                };
                match (int(args, 1)?, at) {
                    (EPOLL_CTL_ADD, Some(_)) => SysResult::Err(Errno::EEXIST.raw()),
                    (EPOLL_CTL_ADD, None) => {
                        ep.watched.push(watched);
                        SysResult::Ok(0)
                    }
                    (EPOLL_CTL_MOD, Some(i)) => {
                        ep.watched[i] = watched;
                        SysResult::Ok(0)
                    }
                    (EPOLL_CTL_DEL, Some(i)) => {
                        ep.watched.remove(i);
                        SysResult::Ok(0)
                    }
                    (EPOLL_CTL_MOD | EPOLL_CTL_DEL, None) => SysResult::Err(Errno::ENOENT.raw()),
                    _ => SysResult::Err(Errno::EINVAL.raw()),
                }
            }
            "epoll_wait" | "epoll_pwait" => {
                if int(args, 3)? != 0 {
                    return Err(CallError::Unsupported("a blocking epoll_wait() on synq".into()));
                }
                let (want_events, want_data) = crate::target_kernel::epoll_event_arg(args.get(1))?;
                let ep = &mut self.epolls[(int(args, 0)? - EPOLL_FD_BASE) as usize];
                let mut ready = None;
                for w in ep.watched.iter_mut() {
                    let mask = u32::from(self.stack.poll(w.fd).unwrap_or(0)) & (w.events | 0x18);
                    let edge = w.events & EPOLLET != 0;
                    if mask != 0 && (!edge || w.woken) {
                        w.woken = false;
                        ready = Some((mask, w.data));
                        break;
                    }
                }
                match ready {
                    None => SysResult::Ok(0),
                    Some((events, data)) => {
                        if i64::from(events) != want_events || (want_data != 0 && data != want_data) {
                            return Err(CallError::Mismatch(format!(
                                "epoll_wait(): expected events {want_events:#x} for {want_data}, got {events:#x} for {data}"
                            )));
                        }
                        SysResult::Ok(1)
                    }
                }
            }
            other => return Err(CallError::Unsupported(format!("{other}() on synq"))),
        })
    }

    /// Tries the blocked call again; records its result once it no longer blocks.
    fn retry(&mut self) {
        let Some(b) = self.blocked.as_mut() else { return };
        let Ok(fd) = fd(&b.args, 0) else { return };
        let blocking = !self.stack.is_nonblocking(fd).unwrap_or(true);
        let now = Self::instant(self.now);
        let result = if matches!(b.name.as_str(), "write" | "send" | "sendto") {
            // A writer asleep in sk_stream_wait_memory wakes when the socket turns writeable
            // (sk_stream_write_space: POLLOUT) or on any other wakeup of the socket (data
            // or a FIN arriving), then writes on while there is room.
            let mask = self.stack.poll(fd).unwrap_or(0);
            let seen = (mask, self.stack.ioctl(fd, synq_core::consts::SIOCINQ).unwrap_or(0));
            let woken = mask & synq_core::consts::POLLOUT != 0 || seen != b.seen;
            b.seen = seen;
            if b.written > 0 && blocking && !woken {
                return;
            }
            let total = int(&b.args, 2).unwrap_or(0);
            let rest = vec![0u8; (total - b.written).max(0) as usize];
            match self.stack.send(now, fd, &rest) {
                Ok(n) => {
                    b.written += n as i64;
                    if b.written < total && blocking {
                        SysResult::Err(Errno::EAGAIN.raw()) // not all queued: still blocked
                    } else {
                        SysResult::Ok(b.written)
                    }
                }
                Err(e) if b.written > 0 && e != Errno::EAGAIN => SysResult::Ok(b.written),
                Err(e) => SysResult::Err(e.raw()),
            }
        } else {
            let (name, args) = (b.name.clone(), b.args.clone());
            match self.syscall(&name, &args) {
                Ok(r) => r,
                Err(_) => SysResult::Err(Errno::ENOSYS.raw()),
            }
        };
        // A blocking connect() waits while the attempt runs (it started with EINPROGRESS;
        // asked again, the stack says EALREADY until the outcome).
        let connecting = self.blocked.as_ref().is_some_and(|b| b.name == "connect");
        let waiting: &[Errno] = if connecting {
            &[Errno::EINPROGRESS, Errno::EALREADY]
        } else {
            &[Errno::EAGAIN]
        };
        if blocking && waiting.iter().any(|e| result == SysResult::Err(e.raw())) {
            return;
        }
        self.blocked = None;
        self.ended = Some((self.now, result));
    }

    /// Moves what the stack sent into `sent`, stamped with the current time.
    fn collect(&mut self) {
        let (now, sent) = (self.now, &mut self.sent);
        self.stack
            .drain_transmit(&mut self.buf, |d| sent.push_back((now, d.to_vec())));
    }

    fn drain(&mut self) -> Vec<(Micros, Vec<u8>)> {
        self.collect();
        self.sent.drain(..).collect()
    }
}

fn fd(args: &[Arg], i: usize) -> Result<SocketId, CallError> {
    args.get(i)
        .and_then(Arg::int)
        .map(|n| SocketId::from_raw(n as u32))
        .ok_or_else(|| CallError::Unsupported(format!("argument {} is not a file descriptor", i + 1)))
}

fn int(args: &[Arg], i: usize) -> Result<i64, CallError> {
    args.get(i)
        .and_then(Arg::int)
        .ok_or_else(|| CallError::Unsupported(format!("argument {} is not an integer", i + 1)))
}

fn result<T>(r: Result<T, Errno>, ok: impl FnOnce(T) -> i64) -> SysResult {
    match r {
        Ok(v) => SysResult::Ok(ok(v)),
        Err(e) => SysResult::Err(e.raw()),
    }
}

impl Target for SynqTarget {
    fn now(&mut self) -> Micros {
        self.now
    }

    fn run_until(&mut self, t: Micros) -> Vec<(Micros, Vec<u8>)> {
        self.collect();
        while self.step(t) {}
        self.now = self.now.max(t);
        self.drain()
    }

    fn next_outbound(&mut self, deadline: Micros) -> Option<(Micros, Vec<u8>)> {
        self.collect();
        while self.sent.is_empty() && self.step(deadline) {}
        let first = self.sent.pop_front();
        if first.is_none() {
            self.now = self.now.max(deadline);
        }
        first
    }

    fn inject(&mut self, datagram: &[u8]) {
        self.stack.receive_gso(Self::instant(self.now), datagram, self.gso_size);
        self.wake_epolls();
        self.collect();
        self.retry();
    }

    fn start_call(&mut self, name: &str, args: &[Arg]) -> Result<(), CallError> {
        if !matches!(
            name,
            "accept" | "accept4" | "connect" | "read" | "recv" | "recvfrom" | "recvmsg" | "write" | "send" | "sendto"
        ) {
            return Err(CallError::Unsupported(format!("blocking {name}() on synq")));
        }
        self.blocked = Some(Blocked {
            name: name.to_string(),
            args: args.to_vec(),
            written: 0,
            seen: (0, 0),
        });
        self.retry();
        Ok(())
    }

    fn finished_call(&mut self, wait_until: Option<Micros>) -> Option<(Micros, SysResult)> {
        if let Some(t) = wait_until {
            while self.ended.is_none() && self.step(t) {}
            if self.ended.is_none() {
                self.now = self.now.max(t);
            }
        }
        self.ended.take()
    }

    fn tcp_info(&mut self, fd: i64) -> Result<std::collections::HashMap<String, i64>, String> {
        let i = self
            .stack
            .tcp_info(Self::instant(self.now), SocketId::from_raw(fd as u32))
            .map_err(|e| format!("TCP_INFO: {e}"))?;
        // Only what synq keeps: a block that asks for more is reported as unsupported.
        Ok([
            ("tcpi_state", i64::from(i.state)),
            ("tcpi_retransmits", i64::from(i.retransmits)),
            ("tcpi_backoff", i64::from(i.backoff)),
            ("tcpi_rto", i64::from(i.rto)),
            ("tcpi_ato", i64::from(i.ato)),
            ("tcpi_snd_mss", i64::from(i.snd_mss)),
            ("tcpi_rcv_mss", i64::from(i.rcv_mss)),
            ("tcpi_advmss", i64::from(i.advmss)),
            ("tcpi_rcv_ssthresh", i64::from(i.rcv_ssthresh)),
            ("tcpi_rcv_space", i64::from(i.rcv_space)),
            ("tcpi_snd_cwnd", i64::from(i.snd_cwnd)),
            ("tcpi_snd_ssthresh", i64::from(i.snd_ssthresh)),
            ("tcpi_last_data_recv", i64::from(i.last_data_recv)),
            ("tcpi_ca_state", i64::from(i.ca_state)),
            ("tcpi_unacked", i64::from(i.unacked)),
            ("tcpi_sacked", i64::from(i.sacked)),
            ("tcpi_lost", i64::from(i.lost)),
            ("tcpi_retrans", i64::from(i.retrans)),
            ("tcpi_total_retrans", i64::from(i.total_retrans)),
            ("tcpi_reordering", i64::from(i.reordering)),
            ("tcpi_delivered", i64::from(i.delivered)),
            ("tcpi_bytes_acked", i.bytes_acked as i64),
            ("tcpi_bytes_received", i.bytes_received as i64),
            ("tcpi_probes", i64::from(i.probes)),
            ("SK_MEMINFO_RCVBUF", i64::from(i.rcvbuf)),
            ("SK_MEMINFO_SNDBUF", i64::from(i.sndbuf)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect())
    }

    fn configure(&mut self, config: &Config) -> Result<(), CallError> {
        if config.is_anyip {
            return Err(CallError::Unsupported(
                "--is_anyip (a transparent listener) on synq".into(),
            ));
        }
        self.stack = Stack::new(Self::stack_config(config));
        self.bind_addr = SocketAddrV4::new(config.local_ip, config.bind_port);
        self.connect_addr = SocketAddrV4::new(config.remote_ip, config.connect_port);
        self.gso_size = config.mss.unwrap_or(0);
        Ok(())
    }

    fn command(&mut self, command: &str, dir: &std::path::Path) -> Result<(), CallError> {
        let mut ok = true;
        for action in shell::interpret(command, dir).map_err(CallError::Unsupported)? {
            let exit = matches!(action, ShellAction::Exit(_));
            ok = self.apply(action)?;
            if exit {
                break;
            }
        }
        if ok {
            Ok(())
        } else {
            Err(CallError::Mismatch("non-zero status".into()))
        }
    }

    fn syscall(&mut self, name: &str, args: &[Arg]) -> Result<SysResult, CallError> {
        let now = Self::instant(self.now);
        let s = &mut self.stack;
        Ok(match name {
            "socket" => {
                let domain = match args.first() {
                    Some(Arg::Any) => AF_INET as i64,
                    _ => int(args, 0)?,
                };
                result(
                    s.socket(domain as i32, int(args, 1)? as i32, int(args, 2)? as i32),
                    |fd| fd.raw().into(),
                )
            }
            "bind" => {
                let addr = match args.get(1) {
                    Some(Arg::Any) => self.bind_addr,
                    _ => return Err(CallError::Unsupported("bind() to an address other than `...`".into())),
                };
                result(s.bind(fd(args, 0)?, addr), |()| 0)
            }
            "listen" => result(s.listen(fd(args, 0)?, int(args, 1)? as i32), |()| 0),
            "accept" | "accept4" => result(s.accept(fd(args, 0)?), |(child, _)| child.raw().into()),
            "connect" => {
                let addr = match args.get(1) {
                    Some(Arg::Any) => self.connect_addr,
                    _ => {
                        return Err(CallError::Unsupported(
                            "connect() to an address other than `...`".into(),
                        ))
                    }
                };
                result(s.connect(now, fd(args, 0)?, addr), |()| 0)
            }
            "close" => result(s.close(now, fd(args, 0)?), |()| 0),
            "shutdown" => result(s.shutdown(now, fd(args, 0)?, int(args, 1)? as i32), |()| 0),
            "setsockopt" => {
                let value = match args.get(3) {
                    Some(Arg::List(v)) if v.len() == 1 => v[0].int().map(|x| (x as i32).to_ne_bytes().to_vec()),
                    // A struct of ints (`{onoff=1, linger=0}`): its fields in order.
                    Some(Arg::Struct(fields)) => fields
                        .iter()
                        .map(|(_, v)| v.int().map(|x| (x as i32).to_ne_bytes()))
                        .collect::<Option<Vec<_>>>()
                        .map(|v| v.concat()),
                    // A string (`"reno"`): its bytes.
                    Some(Arg::Str(text)) => Some(text.as_bytes().to_vec()),
                    _ => None,
                }
                .ok_or_else(|| CallError::Unsupported("setsockopt() with a non-integer value".into()))?;
                let len = int(args, 4)? as usize;
                let value = &value[..len.min(value.len())];
                result(
                    s.setsockopt_at(now, fd(args, 0)?, int(args, 1)? as i32, int(args, 2)? as i32, value),
                    |()| 0,
                )
            }
            "getsockopt" => {
                let mut out = [0u8; 4];
                let r = s.getsockopt(fd(args, 0)?, int(args, 1)? as i32, int(args, 2)? as i32, &mut out);
                if let (Ok(n), Some(Arg::List(want))) = (&r, args.get(3)) {
                    let got = i32::from_ne_bytes(out);
                    if let Some(w) = want.first().and_then(Arg::int) {
                        // An int compared as packetdrill does: the script's value in 32 bits.
                        if w as i32 != got || *n != 4 {
                            return Err(CallError::Mismatch(format!(
                                "getsockopt() value: expected {w}, got {got}"
                            )));
                        }
                    }
                }
                result(r, |_| 0)
            }
            "fcntl" => {
                const F_GETFL: i64 = 3;
                const F_SETFL: i64 = 4;
                const O_RDWR: i64 = 2;
                const O_NONBLOCK: i64 = 0o4000;
                let fd = fd(args, 0)?;
                match int(args, 1)? {
                    F_SETFL => result(s.set_nonblocking(fd, int(args, 2)? & O_NONBLOCK != 0), |()| 0),
                    F_GETFL => result(s.is_nonblocking(fd), |nb| O_RDWR | if nb { O_NONBLOCK } else { 0 }),
                    other => return Err(CallError::Unsupported(format!("fcntl command {other}"))),
                }
            }
            // A NULL buffer (copy_to_user fails): EFAULT once there is something to copy,
            // else what the call would say with nothing to read.
            "read" | "recv" | "recvfrom" if args.get(1) == Some(&Arg::Int(0)) => {
                let fd = fd(args, 0)?;
                match s.ioctl(fd, SIOCINQ) {
                    Ok(n) if n > 0 && int(args, 2)? > 0 => SysResult::Err(Errno::EFAULT.raw()),
                    _ => result(s.recv(now, fd, &mut []), |n| n as i64),
                }
            }
            "read" | "recv" | "recvfrom" => {
                let len = int(args, 2)? as usize;
                let mut buf = vec![0u8; len];
                result(s.recv(now, fd(args, 0)?, &mut buf), |n| n as i64)
            }
            "ioctl" => {
                let r = s.ioctl(fd(args, 0)?, int(args, 1)? as u32);
                if let (Ok(v), Some(w)) = (&r, args.get(2).and_then(Arg::int)) {
                    if w != i64::from(*v) {
                        return Err(CallError::Mismatch(format!("ioctl(): expected {w}, got {v}")));
                    }
                }
                result(r, |_| 0)
            }
            name if name.starts_with("epoll_") => return self.epoll(name, args),
            "recvmsg" => {
                let spec = crate::target_kernel::msg_spec(name, args)?;
                let mut buf = vec![0u8; spec.lens.iter().sum()];
                match s.recvmsg(now, fd(args, 0)?, &mut buf) {
                    Ok((n, inq)) => {
                        // synq never truncates or marks a message: msg_flags stays 0.
                        crate::target_kernel::check_recvmsg(&spec, inq.map(i64::from), 0)?;
                        SysResult::Ok(n as i64)
                    }
                    Err(e) => SysResult::Err(e.raw()),
                }
            }
            // A NULL buffer: the call's own errors first (an empty send checks them), then
            // EFAULT from the copy.
            "write" | "send" | "sendto" if args.get(1) == Some(&Arg::Int(0)) && int(args, 2)? > 0 => {
                match s.send(now, fd(args, 0)?, &[]) {
                    Ok(_) => SysResult::Err(Errno::EFAULT.raw()),
                    Err(e) => SysResult::Err(e.raw()),
                }
            }
            "write" | "send" | "sendto" => {
                let len = int(args, 2)? as usize;
                let flags = if name == "write" {
                    0
                } else {
                    args.get(3).and_then(Arg::int).unwrap_or(0)
                };
                result(s.send_flags(now, fd(args, 0)?, &vec![0u8; len], flags as i32), |n| {
                    n as i64
                })
            }
            "sendmsg" => {
                let spec = crate::target_kernel::msg_spec(name, args)?;
                let len = spec.lens.iter().sum();
                let flags = args.get(2).and_then(Arg::int).unwrap_or(0);
                result(s.send_flags(now, fd(args, 0)?, &vec![0u8; len], flags as i32), |n| {
                    n as i64
                })
            }
            "poll" => {
                let wanted = crate::target_kernel::poll_fds(args.first())?;
                let mut ready = 0;
                for (fd, events, want) in wanted {
                    let revents = match s.poll(SocketId::from_raw(fd as u32)) {
                        // poll() reports POLLERR|POLLHUP whatever was asked, the rest as asked.
                        Ok(mask) => (mask as i16) & (events | 0x18),
                        Err(_) => 0x20, // POLLNVAL
                    };
                    if let Some(want) = want.filter(|&w| w != revents) {
                        return Err(CallError::Mismatch(format!(
                            "poll(): fd {fd} revents expected {want:#x}, got {revents:#x}"
                        )));
                    }
                    ready += i64::from(revents != 0);
                }
                SysResult::Ok(ready)
            }
            other => return Err(CallError::Unsupported(format!("{other}() on synq"))),
        })
    }
}
