//! The Linux kernel as a peer for synq's differential tests and benchmarks: a fresh network
//! namespace owned by one thread, with `lo` up carrying the addresses the caller names (they
//! exist only inside it; `lo` needs no kernel module, where a dummy or veth interface might),
//! and thin wrappers over real socket calls.
//!
//! Namespaces, fsuid and capabilities are per thread on Linux, so everything runs on one
//! dedicated thread and nothing else of the calling process is touched. Nothing here sends a
//! packet anywhere but inside that namespace.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::Command;

/// Why the kernel side cannot run here, or `None` when it can.
pub fn unavailable() -> Option<String> {
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("iproute2's ip is missing".into());
    }
    None
}

/// Why a test on a TUN device cannot run here: [`unavailable`], or no `/dev/net/tun`.
pub fn tun_unavailable() -> Option<String> {
    unavailable().or_else(|| (!std::path::Path::new("/dev/net/tun").exists()).then(|| "no /dev/net/tun".to_string()))
}

/// For test `name`, which cannot run here (`why`): under `CI=true` it fails, as CI must run
/// every kernel test; elsewhere it says that it skipped.
pub fn skip_or_fail(name: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} cannot run under CI: {why}");
    }
    eprintln!("SKIPPED {name}: {why}");
}

/// Runs `f` on a new thread inside a fresh network namespace with `lo` up and each of
/// `addrs` added to it as a /24. `Err` when the namespace cannot be made; a panic in `f`
/// propagates.
pub fn in_fresh_netns<R: Send + 'static>(
    addrs: &[Ipv4Addr],
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, String> {
    let addrs: Vec<String> = addrs.iter().map(|a| format!("{a}/24")).collect();
    std::thread::spawn(move || {
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(format!("unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error()));
        }
        let mut commands = vec![vec!["link", "set", "lo", "up"]];
        for a in &addrs {
            commands.push(vec!["addr", "add", a, "dev", "lo"]);
        }
        for args in commands {
            let out = Command::new("ip")
                .args(&args)
                .output()
                .map_err(|e| format!("ip: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "ip {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        Ok(f())
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Writes a sysctl of this thread's namespace (/proc/sys/net follows the opener's
/// namespace).
pub fn sysctl(name: &str, value: &str) {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::write(&path, value).unwrap_or_else(|e| panic!("{path}: {e}"));
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// 0 or the errno of a libc call's -1 result.
fn check(rc: libc::c_int) -> i32 {
    if rc < 0 {
        errno()
    } else {
        0
    }
}

/// `struct sockaddr_in` for `addr`.
pub fn sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// A kernel socket, closed on drop.
pub struct Sock(pub libc::c_int);

impl Drop for Sock {
    fn drop(&mut self) {
        unsafe { libc::close(self.0) };
    }
}

impl Sock {
    /// socket(AF_INET, SOCK_STREAM, 0) created with fsuid `uid` (which becomes its `sk_uid`).
    pub fn tcp(uid: u32) -> Sock {
        unsafe {
            libc::setfsuid(uid);
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            libc::setfsuid(0);
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            Sock(fd)
        }
    }
    pub fn set_int(&self, level: i32, name: i32, v: i32) -> i32 {
        check(unsafe { libc::setsockopt(self.0, level, name, &v as *const i32 as *const libc::c_void, 4) })
    }
    pub fn bind(&self, addr: SocketAddrV4) -> i32 {
        let sa = sockaddr(addr);
        self.bind_raw(&sa as *const _ as *const u8, std::mem::size_of::<libc::sockaddr_in>())
    }
    /// bind() with `len` bytes of a sockaddr at `ptr`.
    pub fn bind_raw(&self, ptr: *const u8, len: usize) -> i32 {
        check(unsafe { libc::bind(self.0, ptr as *const libc::sockaddr, len as libc::socklen_t) })
    }
    pub fn bind_bytes(&self, bytes: &[u8]) -> i32 {
        self.bind_raw(bytes.as_ptr(), bytes.len())
    }
    pub fn listen(&self, backlog: i32) -> i32 {
        check(unsafe { libc::listen(self.0, backlog) })
    }
    pub fn connect(&self, addr: SocketAddrV4) -> i32 {
        let sa = sockaddr(addr);
        check(unsafe {
            libc::connect(
                self.0,
                &sa as *const _ as *const libc::sockaddr,
                std::mem::size_of_val(&sa) as u32,
            )
        })
    }
    /// O_NONBLOCK on or off.
    pub fn set_nonblocking(&self, on: bool) {
        let flags = unsafe { libc::fcntl(self.0, libc::F_GETFL) };
        let flags = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        check(unsafe { libc::fcntl(self.0, libc::F_SETFL, flags) });
    }
    /// The socket as a `std::net::TcpStream` (which closes it from then on).
    pub fn into_std(self) -> std::net::TcpStream {
        use std::os::fd::FromRawFd;
        let fd = self.0;
        std::mem::forget(self);
        // SAFETY: the descriptor is ours and no longer closed by `Sock`.
        unsafe { std::net::TcpStream::from_raw_fd(fd) }
    }
    pub fn accept(&self) -> Sock {
        let fd = unsafe { libc::accept(self.0, std::ptr::null_mut(), std::ptr::null_mut()) };
        assert!(fd >= 0, "accept: {}", std::io::Error::last_os_error());
        Sock(fd)
    }
    pub fn local(&self) -> SocketAddrV4 {
        let mut sa = sockaddr(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
        let mut len = std::mem::size_of_val(&sa) as libc::socklen_t;
        let rc = unsafe { libc::getsockname(self.0, &mut sa as *mut _ as *mut libc::sockaddr, &mut len) };
        assert_eq!(rc, 0);
        SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
            u16::from_be(sa.sin_port),
        )
    }
}

/// Runs `f` with CAP_NET_BIND_SERVICE dropped from this thread's effective set (restored
/// after), so that the kernel's privileged-port rule applies to the calls in `f`.
pub fn without_net_bind_service<R>(f: impl FnOnce() -> R) -> R {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    const CAP_NET_BIND_SERVICE: u32 = 10;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    unsafe {
        assert_eq!(libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()), 0);
        let saved = data;
        data[0].effective &= !(1 << CAP_NET_BIND_SERVICE);
        assert_eq!(libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()), 0);
        let r = f();
        assert_eq!(libc::syscall(libc::SYS_capset, &mut header, saved.as_ptr()), 0);
        r
    }
}

/// Leaves a TIME_WAIT at `a`'s port: `a` connects to a fresh listener at `listener`, closes
/// first, then the accepted side closes. Returns the TIME_WAIT's local address.
pub fn make_time_wait(a: Sock, listener: SocketAddrV4) -> SocketAddrV4 {
    let l = Sock::tcp(0);
    assert_eq!(l.bind(listener), 0);
    assert_eq!(l.listen(4), 0);
    assert_eq!(a.connect(listener), 0);
    let child = l.accept();
    let local = a.local();
    drop(a);
    std::thread::sleep(std::time::Duration::from_millis(5));
    drop(child);
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert!(
        tcp_state(local) == Some(6),
        "no TIME_WAIT at {local}: {:?}",
        tcp_state(local)
    );
    local
}

/// The TCP state (Linux's number) of the socket bound to `local` in this thread's namespace.
pub fn tcp_state(local: SocketAddrV4) -> Option<u8> {
    let table = std::fs::read_to_string("/proc/thread-self/net/tcp").ok()?;
    let want = format!("{:08X}:{:04X}", u32::from(*local.ip()).swap_bytes(), local.port());
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.get(1) == Some(&want.as_str()))
            .then(|| u8::from_str_radix(f[3], 16).ok())
            .flatten()
    })
}

/// Raises this process's open-file limit to `n` (root may), for benchmarks that hold many
/// sockets.
pub fn raise_nofile(n: u64) -> bool {
    let lim = libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    };
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 }
}

/// Runs `ip` with `args` in the calling thread's namespace.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A TUN device (`IFF_TUN | IFF_NO_PI`): what the kernel routes to it is read here as IPv4
/// datagrams, and datagrams written here arrive at the kernel as if from the wire.
pub struct Tun {
    fd: libc::c_int,
    /// The device's name.
    pub name: String,
}

impl Drop for Tun {
    fn drop(&mut self) {
        unsafe { libc::close(self.fd) };
    }
}

impl Tun {
    /// Creates the device `name` in the calling thread's namespace (down, no address).
    pub fn create(name: &str) -> Result<Tun, String> {
        Self::create_with(name, 0)
    }

    /// Like [`Tun::create`], with a 10-byte `virtio_net_hdr` before every datagram read or
    /// written (`IFF_VNET_HDR`), which carries GSO/TSO sizes and checksum offload.
    pub fn create_vnet(name: &str) -> Result<Tun, String> {
        Self::create_with(name, libc::IFF_VNET_HDR)
    }

    fn create_with(name: &str, extra_flags: libc::c_int) -> Result<Tun, String> {
        const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
        #[repr(C)]
        struct IfReq {
            name: [u8; 16],
            flags: libc::c_short,
            _pad: [u8; 22],
        }
        if name.len() >= 16 {
            return Err(format!("device name {name} too long"));
        }
        let fd = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(format!("/dev/net/tun: {}", std::io::Error::last_os_error()));
        }
        let flags = (libc::IFF_TUN | libc::IFF_NO_PI | extra_flags) as libc::c_short;
        let mut req = IfReq {
            name: [0; 16],
            flags,
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        if unsafe { libc::ioctl(fd, TUNSETIFF, &mut req) } < 0 {
            let e = std::io::Error::last_os_error();
            unsafe { libc::close(fd) };
            return Err(format!("TUNSETIFF {name}: {e}"));
        }
        Ok(Tun {
            fd,
            name: name.to_string(),
        })
    }

    /// Waits up to `timeout` for a datagram; its length in `buf`, or `None`.
    pub fn read_timeout(&self, buf: &mut [u8], timeout: std::time::Duration) -> Option<usize> {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
        if ready <= 0 {
            return None;
        }
        let n = unsafe { libc::read(self.fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        (n > 0).then_some(n as usize)
    }

    /// Hands a datagram to the kernel.
    pub fn write(&self, datagram: &[u8]) -> Result<(), String> {
        let n = unsafe { libc::write(self.fd, datagram.as_ptr() as *const libc::c_void, datagram.len()) };
        if n as usize == datagram.len() {
            Ok(())
        } else {
            Err(format!("tun write: {}", std::io::Error::last_os_error()))
        }
    }
}

impl Tun {
    /// `TUNSETOFFLOAD`: the offloads (`TUN_F_*`) the reader accepts.
    pub fn set_offload(&self, flags: libc::c_uint) -> Result<(), String> {
        const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
        if unsafe { libc::ioctl(self.fd, TUNSETOFFLOAD, flags as libc::c_ulong) } < 0 {
            return Err(format!("TUNSETOFFLOAD: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }
}
