//! The kernel target: the script's system calls made for real on this machine's Linux, its
//! packets exchanged through a TUN device `tun0`, in real time, inside a fresh network
//! namespace (create it with [`in_fresh_netns`]): `tun0` holds 192.168.0.1/16 and routes
//! 192.0.2.0/24, the script's remote end. Nothing leaves the namespace.

use crate::ast::Micros;
use crate::packet::{BIND_PORT, CONNECT_PORT, LOCAL_IP, REMOTE_IP};
use crate::runner::{Arg, CallError, SysResult, Target};
use std::net::SocketAddrV4;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use synq_peer::Tun;

pub use synq_peer::unavailable;

/// Runs a script on this machine's kernel, in a fresh network namespace of its own.
pub fn run_on_kernel(
    path: &std::path::Path,
    script: crate::ast::Script,
    defines: std::collections::HashMap<String, String>,
) -> crate::Verdict {
    let path = path.to_path_buf();
    let outcome = synq_peer::in_fresh_netns(&[], move || match KernelTarget::new() {
        Ok(mut k) => crate::run(&path, &script, &mut k, defines),
        Err(e) => crate::Verdict::Unsupported(format!("kernel target setup: {e}")),
    });
    outcome.unwrap_or_else(|e| crate::Verdict::Unsupported(format!("kernel target setup: {e}")))
}

/// Linux in the calling thread's namespace, behind `tun0`.
pub struct KernelTarget {
    tun: Tun,
    start: Instant,
    /// Set per socket after socket(): a namespace may refuse the global setting.
    congestion: Option<String>,
    fds: Vec<i32>,
    /// A blocking call running on its own thread: its name and where its result comes.
    pending: Option<(String, mpsc::Receiver<(Micros, SysResult)>)>,
    buf: Vec<u8>,
}

impl Drop for KernelTarget {
    fn drop(&mut self) {
        for &fd in &self.fds {
            unsafe { libc::close(fd) };
        }
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

fn sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn int(args: &[Arg], i: usize) -> Result<i64, CallError> {
    args.get(i)
        .and_then(Arg::int)
        .ok_or_else(|| CallError::Unsupported(format!("argument {} is not an integer", i + 1)))
}

/// Makes one system call; `Send` so that blocking calls can run on a thread of their own.
fn call(name: &str, args: &[Arg]) -> Result<SysResult, CallError> {
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
            "bind" | "connect" => {
                if args.get(1) != Some(&Arg::Any) {
                    return Err(CallError::Unsupported(format!(
                        "{name}() to an address other than `...`"
                    )));
                }
                let addr = if name == "bind" {
                    SocketAddrV4::new(LOCAL_IP, BIND_PORT)
                } else {
                    SocketAddrV4::new(REMOTE_IP, CONNECT_PORT)
                };
                let sa = sockaddr(addr);
                let p = &sa as *const _ as *const libc::sockaddr;
                let len = std::mem::size_of_val(&sa) as libc::socklen_t;
                ret(if name == "bind" {
                    libc::bind(fd()?, p, len)
                } else {
                    libc::connect(fd()?, p, len)
                } as isize)
            }
            "listen" => ret(libc::listen(fd()?, int(args, 1)? as i32) as isize),
            "accept" | "accept4" => ret(libc::accept(fd()?, std::ptr::null_mut(), std::ptr::null_mut()) as isize),
            "close" => ret(libc::close(fd()?) as isize),
            "shutdown" => ret(libc::shutdown(fd()?, int(args, 1)? as i32) as isize),
            "setsockopt" => {
                let value = match args.get(3) {
                    Some(Arg::List(v)) if v.len() == 1 => v[0].int().map(|x| (x as i32).to_ne_bytes().to_vec()),
                    Some(Arg::Str(s)) => Some(s.as_bytes().to_vec()),
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
            "getsockopt" => {
                let mut v: i32 = 0;
                let mut len: libc::socklen_t = 4;
                let rc = libc::getsockopt(
                    fd()?,
                    int(args, 1)? as i32,
                    int(args, 2)? as i32,
                    &mut v as *mut i32 as *mut libc::c_void,
                    &mut len,
                );
                if rc == 0 {
                    if let Some(w) = args.get(3).and_then(Arg::int) {
                        if (w as i32) != v {
                            return Err(CallError::Mismatch(format!(
                                "getsockopt() value: expected {w}, got {v}"
                            )));
                        }
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
            "ioctl" => {
                if int(args, 1)? != 0x541B {
                    return Err(CallError::Unsupported("ioctl other than SIOCINQ".into()));
                }
                let mut v: libc::c_int = 0;
                let rc = libc::ioctl(fd()?, 0x541B, &mut v);
                if rc == 0 {
                    if let Some(w) = args.get(2).and_then(Arg::int) {
                        if w != i64::from(v) {
                            return Err(CallError::Mismatch(format!("ioctl(SIOCINQ): expected {w}, got {v}")));
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
            other => return Err(CallError::Unsupported(format!("{other}() on the kernel target"))),
        })
    }
}

impl KernelTarget {
    /// Sets up `tun0` in the calling thread's (fresh) namespace.
    pub fn new() -> Result<KernelTarget, String> {
        // No IPv6 chatter (router solicitations, MLD) on the device.
        let _ = std::fs::write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
        synq_peer::ip(&["link", "set", "lo", "up"])?;
        let tun = Tun::create("tun0")?;
        // As packetdrill's tun0: checksum and TSO offload on, so that the kernel hands on
        // each segment it built, whole, with the flags it set.
        tun.set_offload(0x01 | 0x02 | 0x04)?;
        synq_peer::ip(&["addr", "add", &format!("{LOCAL_IP}/16"), "dev", "tun0"])?;
        synq_peer::ip(&["link", "set", "tun0", "mtu", "1500", "up"])?;
        synq_peer::ip(&["route", "add", "192.0.2.0/24", "dev", "tun0"])?;
        Ok(KernelTarget {
            tun,
            start: Instant::now(),
            congestion: None,
            fds: Vec::new(),
            pending: None,
            buf: vec![0; 65536],
        })
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
                Some(n) => {
                    let at = self.elapsed();
                    let d = &self.buf[..n];
                    // Only IPv4 for the script's end; anything else (IPv6, IGMP) is noise.
                    if n >= 20 && d[0] >> 4 == 4 && d[16..20] == REMOTE_IP.octets() {
                        out.push((at, d.to_vec()));
                        if first {
                            return out;
                        }
                    }
                }
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
        if let Err(e) = self.tun.write(datagram) {
            tracing::warn!("{e}");
        }
    }

    fn sysctl(&mut self, name: &str, value: &str) -> Result<(), String> {
        let path = format!("/proc/sys/{}", name.replace('.', "/"));
        match std::fs::write(&path, value) {
            Ok(()) => Ok(()),
            // A knob this kernel does not have changes nothing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            // A namespace may only pick some congestion controls: set it on each socket.
            Err(_) if name == "net.ipv4.tcp_congestion_control" => {
                self.congestion = Some(value.to_string());
                Ok(())
            }
            Err(e) => Err(format!("{path}: {e}")),
        }
    }

    fn device_command(&mut self, argv: &[String]) -> Result<(), String> {
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .map_err(|e| format!("`{}`: {e} (install it to run this script)", argv.join(" ")))?;
        if out.status.success() || argv.iter().any(|a| a == "delete") {
            Ok(())
        } else {
            Err(format!(
                "`{}`: {}",
                argv.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    fn checksums_complete(&self) -> bool {
        false
    }

    fn syscall(&mut self, name: &str, args: &[Arg]) -> Result<SysResult, CallError> {
        let r = call(name, args)?;
        if let (SysResult::Ok(fd), "socket" | "accept" | "accept4") = (r, name) {
            self.fds.push(fd as i32);
            if let (Some(cc), "socket") = (&self.congestion, name) {
                unsafe {
                    libc::setsockopt(
                        fd as i32,
                        libc::SOL_TCP,
                        libc::TCP_CONGESTION,
                        cc.as_ptr() as *const libc::c_void,
                        cc.len() as libc::socklen_t,
                    );
                }
            }
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
        let (owned, args, start) = (name.to_string(), args.to_vec(), self.start);
        std::thread::spawn(move || {
            let r = call(&owned, &args);
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
