//! The kernel target: the script's system calls made for real on this machine's Linux, its
//! packets exchanged through a TUN device `tun0`, in real time, inside a fresh network
//! namespace of its own: `tun0` holds the local address (192.168.0.1/16 by default) and routes
//! the remote end's /24 (192.0.2.0/24), as packetdrill's `local_netdev_new` sets it up. Its
//! backtick commands run under `/bin/sh -c` from the script's folder, as packetdrill's
//! `system()` runs them. Nothing leaves the namespace.

use crate::ast::Micros;
use crate::config::Config;
use crate::runner::{Arg, CallError, SysResult, Target};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use synq_peer::{sockaddr, Tun};

pub use synq_peer::unavailable;

/// Runs the script at `path` (see [`crate::run_path`]) on this machine's kernel, in a fresh
/// network namespace of its own.
pub fn run_path(path: &std::path::Path, args: &[String]) -> crate::Verdict {
    let (path, args) = (path.to_path_buf(), args.to_vec());
    let outcome = synq_peer::in_fresh_netns(&[], move || match KernelTarget::new() {
        Ok(mut k) => crate::run_path(&path, &args, &mut k),
        Err(e) => crate::Verdict::Unsupported(format!("kernel target setup: {e}")),
    });
    outcome.unwrap_or_else(|e| crate::Verdict::Unsupported(format!("kernel target setup: {e}")))
}

/// Linux in the calling thread's namespace, behind `tun0`.
pub struct KernelTarget {
    tun: Tun,
    start: Instant,
    fds: Vec<i32>,
    /// A blocking call running on its own thread: its name and where its result comes.
    pending: Option<(String, mpsc::Receiver<(Micros, SysResult)>)>,
    buf: Vec<u8>,
    /// `--mss`: inbound segments longer than this go in as GSO packets of this size.
    mss: Option<u16>,
    /// Where `bind(fd, ..., ...)` and `connect(fd, ..., ...)` go.
    bind_addr: SocketAddrV4,
    connect_addr: SocketAddrV4,
    remote_ip: Ipv4Addr,
    /// nstat's history file for this run's commands (this namespace's counters only).
    nstat_history: std::path::PathBuf,
}

/// Length of `struct virtio_net_hdr`.
const VNET_HDR_LEN: usize = 10;

impl Drop for KernelTarget {
    fn drop(&mut self) {
        for &fd in &self.fds {
            unsafe { libc::close(fd) };
        }
        let _ = std::fs::remove_file(&self.nstat_history);
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn ret(rc: isize) -> SysResult {
    if rc < 0 {
        SysResult::Err(errno())
    } else {
        SysResult::Ok(rc as i64)
    }
}

fn int(args: &[Arg], i: usize) -> Result<i64, CallError> {
    args.get(i)
        .and_then(Arg::int)
        .ok_or_else(|| CallError::Unsupported(format!("argument {} is not an integer", i + 1)))
}

/// Where `bind(fd, ..., ...)` and `connect(fd, ..., ...)` go.
#[derive(Clone, Copy)]
struct Addrs {
    bind: SocketAddrV4,
    connect: SocketAddrV4,
}

/// Makes one system call; `Send` so that blocking calls can run on a thread of their own.
fn call(name: &str, args: &[Arg], addrs: Addrs) -> Result<SysResult, CallError> {
    let fd = || int(args, 0).map(|v| v as i32);
    unsafe {
        Ok(match name {
            "socket" => {
                let domain = match args.first() {
                    Some(Arg::Any) => libc::AF_INET as i64,
                    _ => int(args, 0)?,
                };
                ret(libc::socket(domain as i32, int(args, 1)? as i32, int(args, 2)? as i32) as isize)
            }
            "bind" => {
                if args.get(1) != Some(&Arg::Any) {
                    return Err(CallError::Unsupported("bind() to an address other than `...`".into()));
                }
                let sa = sockaddr(addrs.bind);
                let len = std::mem::size_of_val(&sa) as libc::socklen_t;
                ret(libc::bind(fd()?, &sa as *const _ as *const libc::sockaddr, len) as isize)
            }
            // `connect(fd, ..., ...)` goes to the connect address; `connect(fd, AF_UNSPEC, ...)`
            // (any family number) passes a zeroed sockaddr_storage of that family, as
            // packetdrill's `run_syscall_connect` does.
            "connect" => match args.get(1) {
                Some(Arg::Any) => {
                    let sa = sockaddr(addrs.connect);
                    let len = std::mem::size_of_val(&sa) as libc::socklen_t;
                    ret(libc::connect(fd()?, &sa as *const _ as *const libc::sockaddr, len) as isize)
                }
                Some(Arg::Int(family)) => {
                    let mut ss: libc::sockaddr_storage = std::mem::zeroed();
                    ss.ss_family = *family as libc::sa_family_t;
                    let len = std::mem::size_of_val(&ss) as libc::socklen_t;
                    ret(libc::connect(fd()?, &ss as *const _ as *const libc::sockaddr, len) as isize)
                }
                _ => return Err(CallError::Unsupported("connect() to this address".into())),
            },
            "listen" => ret(libc::listen(fd()?, int(args, 1)? as i32) as isize),
            "accept" | "accept4" => ret(libc::accept(fd()?, std::ptr::null_mut(), std::ptr::null_mut()) as isize),
            "close" => ret(libc::close(fd()?) as isize),
            "shutdown" => ret(libc::shutdown(fd()?, int(args, 1)? as i32) as isize),
            "setsockopt" => {
                let value = match args.get(3) {
                    Some(Arg::List(v)) if v.len() == 1 => v[0].int().map(|x| (x as i32).to_ne_bytes().to_vec()),
                    Some(Arg::Str(s)) => Some(s.as_bytes().to_vec()),
                    // A struct of ints (`{onoff=1, linger=0}`) laid out field after field.
                    Some(Arg::Struct(fields)) => fields
                        .iter()
                        .map(|(_, v)| v.int().map(|x| (x as i32).to_ne_bytes()))
                        .collect::<Option<Vec<_>>>()
                        .map(|words| words.concat()),
                    _ => None,
                }
                .ok_or_else(|| CallError::Unsupported("setsockopt() with this value".into()))?;
                let len = (int(args, 4)? as usize).min(value.len());
                ret(libc::setsockopt(
                    fd()?,
                    int(args, 1)? as i32,
                    int(args, 2)? as i32,
                    value.as_ptr() as *const libc::c_void,
                    len as libc::socklen_t,
                ) as isize)
            }
            // As packetdrill's `syscall_getsockopt`: the script's optlen is passed in and must
            // come back; a string value is compared over that length, a `[n]` as an int.
            "getsockopt" => {
                let want_len = int(args, 4)?;
                let mut buf = vec![0u8; want_len.clamp(0, 1024) as usize + 1];
                let mut len = want_len.clamp(0, 1024) as libc::socklen_t;
                let rc = libc::getsockopt(
                    fd()?,
                    int(args, 1)? as i32,
                    int(args, 2)? as i32,
                    buf.as_mut_ptr() as *mut libc::c_void,
                    &mut len,
                );
                if rc == 0 {
                    if i64::from(len) != want_len {
                        return Err(CallError::Mismatch(format!(
                            "Bad getsockopt optlen: expected: {want_len} actual: {len}"
                        )));
                    }
                    let got = &buf[..len as usize];
                    match args.get(3) {
                        Some(Arg::Str(s)) if s.as_bytes() != got => {
                            return Err(CallError::Mismatch(format!(
                                "Bad getsockopt optval: expected: '{s}' actual: '{}'",
                                String::from_utf8_lossy(got)
                            )))
                        }
                        Some(Arg::List(v)) => {
                            if let (Some(w), Ok(b)) = (v.first().and_then(Arg::int), <[u8; 4]>::try_from(got)) {
                                let v = i32::from_ne_bytes(b);
                                if w as i32 != v {
                                    return Err(CallError::Mismatch(format!(
                                        "Bad getsockopt optval: expected: {w} actual: {v}"
                                    )));
                                }
                            }
                        }
                        _ => {}
                    }
                }
                ret(rc as isize)
            }
            "fcntl" => match int(args, 1)? {
                cmd if cmd == i64::from(libc::F_GETFL) || cmd == i64::from(libc::F_SETFL) => {
                    let arg = args.get(2).and_then(Arg::int).unwrap_or(0);
                    ret(libc::fcntl(fd()?, cmd as i32, arg as libc::c_int) as isize)
                }
                other => return Err(CallError::Unsupported(format!("fcntl command {other}"))),
            },
            // SIOCINQ, SIOCOUTQ, SIOCOUTQNSD: an int out.
            "ioctl" => {
                let cmd = int(args, 1)?;
                if ![0x541B, 0x5411, 0x894B].contains(&cmd) {
                    return Err(CallError::Unsupported(
                        "ioctl other than SIOCINQ/SIOCOUTQ/SIOCOUTQNSD".into(),
                    ));
                }
                let mut v: libc::c_int = 0;
                let rc = libc::ioctl(fd()?, cmd as libc::c_ulong, &mut v);
                if rc == 0 {
                    if let Some(w) = args.get(2).and_then(Arg::int) {
                        if w != i64::from(v) {
                            return Err(CallError::Mismatch(format!("ioctl({cmd:#x}): expected {w}, got {v}")));
                        }
                    }
                }
                ret(rc as isize)
            }
            "read" | "recv" | "recvfrom" => {
                let len = int(args, 2)? as usize;
                let mut buf = vec![0u8; len];
                let ptr = if args.get(1) == Some(&Arg::Int(0)) {
                    std::ptr::null_mut()
                } else {
                    buf.as_mut_ptr()
                };
                let flags = if name == "read" {
                    0
                } else {
                    args.get(3).and_then(Arg::int).unwrap_or(0) as i32
                };
                ret(libc::recv(fd()?, ptr as *mut libc::c_void, len, flags))
            }
            "write" | "send" | "sendto" => {
                let len = int(args, 2)? as usize;
                let buf = vec![0u8; len];
                let ptr = if args.get(1) == Some(&Arg::Int(0)) {
                    std::ptr::null()
                } else {
                    buf.as_ptr()
                };
                let flags = if name == "write" {
                    0
                } else {
                    args.get(3).and_then(Arg::int).unwrap_or(0) as i32
                };
                ret(libc::send(
                    fd()?,
                    ptr as *const libc::c_void,
                    len,
                    flags | libc::MSG_NOSIGNAL,
                ))
            }
            "poll" => {
                let wanted = poll_fds(args.first())?;
                let mut fds: Vec<libc::pollfd> = wanted
                    .iter()
                    .map(|&(fd, events, _)| libc::pollfd { fd, events, revents: 0 })
                    .collect();
                let rc = libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, int(args, 2)? as i32);
                for (got, &(fd, _, want)) in fds.iter().zip(&wanted) {
                    if let Some(want) = want.filter(|&w| w != got.revents) {
                        return Err(CallError::Mismatch(format!(
                            "poll(): fd {fd} revents expected {want:#x}, got {:#x}",
                            got.revents
                        )));
                    }
                }
                ret(rc as isize)
            }
            "epoll_create" | "epoll_create1" => ret(libc::epoll_create1(0) as isize),
            "epoll_ctl" => {
                let (events, data) = epoll_event_arg(args.get(3))?;
                let mut ev = libc::epoll_event {
                    events: events as u32,
                    u64: data,
                };
                ret(libc::epoll_ctl(fd()?, int(args, 1)? as i32, int(args, 2)? as i32, &mut ev) as isize)
            }
            "epoll_wait" => {
                let (want_events, want_data) = epoll_event_arg(args.get(1))?;
                let mut ev = [libc::epoll_event { events: 0, u64: 0 }; 8];
                let max = (int(args, 2)? as usize).min(ev.len());
                let rc = libc::epoll_wait(fd()?, ev.as_mut_ptr(), max as i32, int(args, 3)? as i32);
                if rc > 0 {
                    let (got_events, got_data) = (ev[0].events, ev[0].u64);
                    if i64::from(got_events) != want_events || (want_data != 0 && got_data != want_data) {
                        return Err(CallError::Mismatch(format!(
                            "epoll_wait(): expected events {want_events:#x} for {want_data}, got {got_events:#x} for {got_data}"
                        )));
                    }
                }
                ret(rc as isize)
            }
            "recvmsg" | "sendmsg" => msg_call(name, fd()?, args)?,
            other => return Err(CallError::Unsupported(format!("{other}() on the kernel target"))),
        })
    }
}

/// A datagram behind its `virtio_net_hdr`. With `--mss`, every TCP segment goes in as packetdrill
/// writes it: a TCPv4 GSO packet of `mss`-sized segments (its checksum complete, no header
/// length hint), so that the kernel sees the segment sizes the script means.
fn vnet_frame(datagram: &[u8], mss: Option<u16>) -> Vec<u8> {
    let mut out = vec![0u8; VNET_HDR_LEN];
    out.extend_from_slice(datagram);
    let is_tcp = datagram.len() > 20 && datagram[9] == synq_wire::ip_proto::TCP;
    if let (Some(mss), true) = (mss, is_tcp) {
        const GSO_TCPV4: u8 = 1;
        out[1] = GSO_TCPV4;
        out[4..6].copy_from_slice(&mss.to_ne_bytes());
    }
    out
}

/// `[{fd=3, events=POLLIN, revents=POLLIN}, ...]`: each fd, the events asked for, and the
/// revents expected (if given).
pub(crate) fn poll_fds(arg: Option<&Arg>) -> Result<Vec<(i32, i16, Option<i16>)>, CallError> {
    let Some(Arg::List(items)) = arg else {
        return Err(CallError::Unsupported("poll() without a list of pollfd".into()));
    };
    items
        .iter()
        .map(|item| {
            let Arg::Struct(fields) = item else {
                return Err(CallError::Unsupported("a pollfd that is not a struct".into()));
            };
            let field = |n: &str| {
                fields
                    .iter()
                    .find(|(name, _)| name.as_deref() == Some(n))
                    .and_then(|(_, v)| v.int())
            };
            let fd = field("fd").ok_or_else(|| CallError::Unsupported("a pollfd without fd".into()))?;
            Ok((
                fd as i32,
                field("events").unwrap_or(0) as i16,
                field("revents").map(|r| r as i16),
            ))
        })
        .collect()
}

/// `{events=..., fd=...}` or `{events=..., ptr=...}`: the event mask and the data word
/// (the fd, already the target's).
pub(crate) fn epoll_event_arg(arg: Option<&Arg>) -> Result<(i64, u64), CallError> {
    let Some(Arg::Struct(fields)) = arg else {
        return Err(CallError::Unsupported("an epoll_event that is not a struct".into()));
    };
    let field = |n: &str| {
        fields
            .iter()
            .find(|(name, _)| name.as_deref() == Some(n))
            .and_then(|(_, v)| v.int())
    };
    Ok((
        field("events").unwrap_or(0),
        field("fd").or_else(|| field("ptr")).unwrap_or(0) as u64,
    ))
}

/// What a script's `struct msghdr` says: the iovec lengths, the `TCP_CM_INQ` value a
/// recvmsg() expects (`None`: no control message given), and the expected `msg_flags`.
pub(crate) struct MsgSpec {
    pub lens: Vec<usize>,
    pub cmsg_data: Option<Option<i64>>,
    pub flags: i64,
}

/// Reads `msg_iov(n)=[{..., len}, ...]`, `msg_control=[{..., cmsg_data=N}]` and `msg_flags`.
pub(crate) fn msg_spec(name: &str, args: &[Arg]) -> Result<MsgSpec, CallError> {
    let Some(Arg::Struct(fields)) = args.get(1) else {
        return Err(CallError::Unsupported(format!("{name}() without a msghdr struct")));
    };
    let field = |n: &str| {
        fields
            .iter()
            .find(|(name, _)| name.as_deref() == Some(n))
            .map(|(_, v)| v)
    };
    let lens = match field("msg_iov") {
        Some(Arg::List(iovs)) => iovs
            .iter()
            .map(|iov| match iov {
                Arg::Struct(f) => f.last().and_then(|(_, v)| v.int()).map(|l| l as usize),
                _ => None,
            })
            .collect::<Option<_>>()
            .ok_or_else(|| CallError::Unsupported(format!("{name}() iovec shape")))?,
        _ => return Err(CallError::Unsupported(format!("{name}() without msg_iov"))),
    };
    let cmsg_data = match field("msg_control") {
        Some(Arg::List(cmsgs)) => match cmsgs.first() {
            Some(Arg::Struct(c)) => Some(
                c.iter()
                    .find(|(n, _)| n.as_deref() == Some("cmsg_data"))
                    .and_then(|(_, v)| v.int()),
            ),
            _ => None,
        },
        _ => None,
    };
    let flags = field("msg_flags").and_then(Arg::int).unwrap_or(0);
    Ok(MsgSpec { lens, cmsg_data, flags })
}

/// The checks of a recvmsg() that returned: its control data and `msg_flags`.
pub(crate) fn check_recvmsg(spec: &MsgSpec, cmsg_data: Option<i64>, flags: i64) -> Result<(), CallError> {
    if let Some(want) = spec.cmsg_data {
        if want != cmsg_data {
            return Err(CallError::Mismatch(format!(
                "recvmsg() control data: expected {want:?}, got {cmsg_data:?}"
            )));
        }
    }
    if flags != spec.flags {
        return Err(CallError::Mismatch(format!(
            "recvmsg() msg_flags: expected {}, got {flags}",
            spec.flags
        )));
    }
    Ok(())
}

/// recvmsg()/sendmsg() as [`msg_spec`] reads them.
unsafe fn msg_call(name: &str, fd: i32, args: &[Arg]) -> Result<SysResult, CallError> {
    let spec = msg_spec(name, args)?;
    let mut bufs: Vec<Vec<u8>> = spec.lens.iter().map(|&l| vec![0u8; l]).collect();
    let mut iov: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        })
        .collect();
    let mut control = [0u8; 64];
    let mut msg: libc::msghdr = std::mem::zeroed();
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = iov.len();
    let flags = args.get(2).and_then(Arg::int).unwrap_or(0) as i32;
    let rc = if name == "sendmsg" {
        libc::sendmsg(fd, &msg, flags | libc::MSG_NOSIGNAL)
    } else {
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = control.len();
        libc::recvmsg(fd, &mut msg, flags)
    };
    if rc >= 0 && name == "recvmsg" {
        let cm = libc::CMSG_FIRSTHDR(&msg);
        let got = (!cm.is_null()).then(|| i64::from(*(libc::CMSG_DATA(cm) as *const i32)));
        check_recvmsg(&spec, got, i64::from(msg.msg_flags))?;
    }
    Ok(ret(rc))
}

/// The script's time 0, as packetdrill picks it: just after the kernel's clock tick (seen
/// through `times(2)`) so that events at whole milliseconds do not straddle jiffy edges and
/// the kernel's RTT and delayed-ACK measurements come out as the script assumes. The thread
/// also takes the lowest real-time priority when it may, as packetdrill's does.
fn jiffy_aligned_start() -> Instant {
    unsafe {
        let param = libc::sched_param {
            sched_priority: libc::sched_get_priority_min(libc::SCHED_RR),
        };
        libc::sched_setscheduler(0, libc::SCHED_RR, &param);
    }
    let mut last = unsafe { libc::times(std::ptr::null_mut()) };
    let mut start = Instant::now();
    let mut ticks = 0;
    while ticks < 10 {
        let now = unsafe { libc::times(std::ptr::null_mut()) };
        if now != last {
            start = Instant::now();
            ticks += 1;
        }
        last = now;
    }
    start + Duration::from_micros(250)
}

impl KernelTarget {
    /// Makes `tun0` in the calling thread's (fresh) namespace; [`Target::configure`] gives it
    /// its addresses.
    pub fn new() -> Result<KernelTarget, String> {
        // No IPv6 chatter (router solicitations, MLD) on the device.
        let _ = std::fs::write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
        synq_peer::ip(&["link", "set", "lo", "up"])?;
        let tun = Tun::create_vnet("tun0")?;
        // As packetdrill's tun0: checksum and TSO offload on, so that the kernel hands on
        // each segment it built, whole, with the flags it set.
        tun.set_offload(0x01 | 0x02 | 0x04)?;
        let config = Config::default();
        Ok(KernelTarget {
            tun,
            start: Instant::now(),
            fds: Vec::new(),
            pending: None,
            buf: vec![0; 65536 + VNET_HDR_LEN],
            mss: None,
            bind_addr: SocketAddrV4::new(config.local_ip, config.bind_port),
            connect_addr: SocketAddrV4::new(config.remote_ip, config.connect_port),
            remote_ip: config.remote_ip,
            nstat_history: std::env::temp_dir().join(format!(
                "synq-drill-nstat-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            )),
        })
    }

    fn addrs(&self) -> Addrs {
        Addrs {
            bind: self.bind_addr,
            connect: self.connect_addr,
        }
    }

    fn elapsed(&self) -> Micros {
        self.start.elapsed().as_micros() as Micros
    }

    /// Reads datagrams for the script's end until `deadline`; stops at the first if `first`.
    fn read_until(&mut self, deadline: Micros, first: bool) -> Vec<(Micros, Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            let left = deadline - self.elapsed();
            if left <= 0 && !out.is_empty() {
                return out;
            }
            let wait = Duration::from_micros(left.max(0) as u64);
            match self.tun.read_timeout(&mut self.buf, wait) {
                Some(n) if n > VNET_HDR_LEN => {
                    let at = self.elapsed();
                    let d = &self.buf[VNET_HDR_LEN..n];
                    // Only IPv4 for the script's end; anything else (IPv6, IGMP) is noise.
                    if n >= 20 && d[0] >> 4 == 4 && d[16..20] == self.remote_ip.octets() {
                        out.push((at, d.to_vec()));
                        if first {
                            return out;
                        }
                    }
                }
                Some(_) => {}
                None if left <= 0 || self.elapsed() >= deadline => return out,
                None => {}
            }
        }
    }
}

impl Target for KernelTarget {
    fn now(&mut self) -> Micros {
        self.elapsed()
    }

    fn run_until(&mut self, t: Micros) -> Vec<(Micros, Vec<u8>)> {
        self.read_until(t, false)
    }

    fn next_outbound(&mut self, deadline: Micros) -> Option<(Micros, Vec<u8>)> {
        self.read_until(deadline, true).into_iter().next()
    }

    fn inject(&mut self, datagram: &[u8]) {
        let framed = vnet_frame(datagram, self.mss);
        if let Err(e) = self.tun.write(&framed) {
            tracing::warn!("{e}");
        }
    }

    fn checksums_complete(&self) -> bool {
        false
    }

    fn configure(&mut self, config: &Config) -> Result<(), CallError> {
        let setup = |args: &[&str]| synq_peer::ip(args).map_err(CallError::Unsupported);
        if !config.is_anyip {
            setup(&[
                "addr",
                "add",
                &format!("{}/{}", config.local_ip, config.prefix_len()),
                "dev",
                "tun0",
            ])?;
        }
        setup(&["link", "set", "tun0", "up"])?;
        setup(&["route", "add", &format!("{}/32", config.remote_ip), "dev", "tun0"])?;
        self.mss = config.mss;
        self.bind_addr = SocketAddrV4::new(config.local_ip, config.bind_port);
        self.connect_addr = SocketAddrV4::new(config.remote_ip, config.connect_port);
        self.remote_ip = config.remote_ip;
        // As packetdrill: `ifconfig tun0 mtu N`, whose failure (no ifconfig) goes unnoticed.
        if config.mtu != 1500 {
            let _ = self.command(&format!("ifconfig tun0 mtu {}", config.mtu), std::path::Path::new("/"));
        }
        Ok(())
    }

    fn start_clock(&mut self) {
        self.start = jiffy_aligned_start();
    }

    fn command(&mut self, command: &str, dir: &std::path::Path) -> Result<(), CallError> {
        let status = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .current_dir(dir)
            .env("PACKETDRILL_PID", std::process::id().to_string())
            .env("NSTAT_HISTORY", &self.nstat_history)
            .stdin(std::process::Stdio::null())
            .status()
            .map_err(|e| CallError::Unsupported(format!("/bin/sh: {e}")))?;
        // `safe_system`: a non-zero exit fails; of deaths by signal only SIGINT and SIGQUIT do.
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(0), _) => Ok(()),
            (Some(n), _) => Err(CallError::Mismatch(format!("non-zero status {n}"))),
            (None, Some(sig @ (libc::SIGINT | libc::SIGQUIT))) => Err(CallError::Mismatch(format!("got signal {sig}"))),
            (None, _) => Ok(()),
        }
    }

    fn tcp_info(&mut self, fd: i64) -> Result<std::collections::HashMap<String, i64>, String> {
        let mut info = [0u8; 256];
        let mut len = info.len() as libc::socklen_t;
        let rc = unsafe {
            libc::getsockopt(
                fd as i32,
                libc::SOL_TCP,
                libc::TCP_INFO,
                info.as_mut_ptr() as *mut libc::c_void,
                &mut len,
            )
        };
        if rc != 0 {
            return Err(format!("TCP_INFO: {}", std::io::Error::last_os_error()));
        }
        let u8_at = |o: usize| i64::from(info[o]);
        let u32_at = |o: usize| i64::from(u32::from_ne_bytes([info[o], info[o + 1], info[o + 2], info[o + 3]]));
        let u64_at = |o: usize| u64::from_ne_bytes(info[o..o + 8].try_into().expect("8 bytes")) as i64;
        let mut vars: std::collections::HashMap<String, i64> = [
            ("tcpi_state", u8_at(0)),
            ("tcpi_ca_state", u8_at(1)),
            ("tcpi_retransmits", u8_at(2)),
            ("tcpi_probes", u8_at(3)),
            ("tcpi_backoff", u8_at(4)),
            ("tcpi_options", u8_at(5)),
            ("tcpi_snd_wscale", u8_at(6) & 0xf),
            ("tcpi_rcv_wscale", u8_at(6) >> 4),
            ("tcpi_rto", u32_at(8)),
            ("tcpi_ato", u32_at(12)),
            ("tcpi_snd_mss", u32_at(16)),
            ("tcpi_rcv_mss", u32_at(20)),
            ("tcpi_unacked", u32_at(24)),
            ("tcpi_sacked", u32_at(28)),
            ("tcpi_lost", u32_at(32)),
            ("tcpi_retrans", u32_at(36)),
            ("tcpi_last_data_sent", u32_at(44)),
            ("tcpi_last_ack_sent", u32_at(48)),
            ("tcpi_last_data_recv", u32_at(52)),
            ("tcpi_last_ack_recv", u32_at(56)),
            ("tcpi_pmtu", u32_at(60)),
            ("tcpi_rcv_ssthresh", u32_at(64)),
            ("tcpi_rtt", u32_at(68)),
            ("tcpi_rttvar", u32_at(72)),
            ("tcpi_snd_ssthresh", u32_at(76)),
            ("tcpi_snd_cwnd", u32_at(80)),
            ("tcpi_advmss", u32_at(84)),
            ("tcpi_reordering", u32_at(88)),
            ("tcpi_rcv_rtt", u32_at(92)),
            ("tcpi_rcv_space", u32_at(96)),
            ("tcpi_total_retrans", u32_at(100)),
            ("tcpi_bytes_acked", u64_at(120)),
            ("tcpi_bytes_received", u64_at(128)),
            ("tcpi_segs_out", u32_at(136)),
            ("tcpi_segs_in", u32_at(140)),
            ("tcpi_notsent_bytes", u32_at(144)),
            ("tcpi_min_rtt", u32_at(148)),
            ("tcpi_data_segs_in", u32_at(152)),
            ("tcpi_data_segs_out", u32_at(156)),
            ("tcpi_delivered", u32_at(192)),
            ("tcpi_bytes_sent", u64_at(200)),
            ("tcpi_bytes_retrans", u64_at(208)),
            ("tcpi_snd_wnd", u32_at(228)),
            ("tcpi_rcv_wnd", u32_at(232)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let mut mem = [0u32; 9];
        let mut len = std::mem::size_of_val(&mem) as libc::socklen_t;
        const SO_MEMINFO: i32 = 55;
        let rc = unsafe {
            libc::getsockopt(
                fd as i32,
                libc::SOL_SOCKET,
                SO_MEMINFO,
                mem.as_mut_ptr() as *mut libc::c_void,
                &mut len,
            )
        };
        if rc == 0 {
            for (i, name) in [
                "RMEM_ALLOC",
                "RCVBUF",
                "WMEM_ALLOC",
                "SNDBUF",
                "FWD_ALLOC",
                "WMEM_QUEUED",
                "OPTMEM",
                "BACKLOG",
                "DROPS",
            ]
            .iter()
            .enumerate()
            {
                vars.insert(format!("SK_MEMINFO_{name}"), i64::from(mem[i]));
            }
        }
        Ok(vars)
    }

    fn syscall(&mut self, name: &str, args: &[Arg]) -> Result<SysResult, CallError> {
        let r = call(name, args, self.addrs())?;
        if let (SysResult::Ok(fd), "socket" | "accept" | "accept4") = (r, name) {
            self.fds.push(fd as i32);
        }
        if let ("close", SysResult::Ok(_)) = (name, r) {
            if let Some(fd) = args.first().and_then(Arg::int) {
                self.fds.retain(|&f| i64::from(f) != fd);
            }
        }
        Ok(r)
    }

    fn start_call(&mut self, name: &str, args: &[Arg]) -> Result<(), CallError> {
        let (tx, rx) = mpsc::channel();
        let (owned, args, start, addrs) = (name.to_string(), args.to_vec(), self.start, self.addrs());
        std::thread::spawn(move || {
            let r = call(&owned, &args, addrs);
            let at = start.elapsed().as_micros() as Micros;
            let _ = tx.send((at, r.unwrap_or(SysResult::Err(libc::ENOSYS))));
        });
        self.pending = Some((name.to_string(), rx));
        Ok(())
    }

    fn finished_call(&mut self, wait_until: Option<Micros>) -> Option<(Micros, SysResult)> {
        let (name, rx) = self.pending.as_ref()?;
        let r = match wait_until {
            None => rx.try_recv().ok(),
            Some(t) => rx
                .recv_timeout(Duration::from_micros((t - self.elapsed()).max(0) as u64))
                .ok(),
        };
        if let (Some((_, SysResult::Ok(fd))), "accept" | "accept4") = (r, name.as_str()) {
            self.fds.push(fd as i32);
        }
        if r.is_some() {
            self.pending = None;
        }
        r
    }
}
