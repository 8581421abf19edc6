//! The kernel (in this thread's namespace, made by `synq_peer`) as a [`super::Target`].

use super::{S1, S2};
use std::net::SocketAddrV4;
use synq_peer::{make_time_wait, sysctl, without_net_bind_service, Sock};

/// A fresh namespace with S1 and S2 on `lo`, running `f`.
pub fn in_fresh_netns<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Result<R, String> {
    synq_peer::in_fresh_netns(&[S1, S2], f)
}

/// The kernel (in this thread's namespace) as a [`super::Target`].
pub struct KernelTarget;

/// A kernel socket and whether binds on it run without CAP_NET_BIND_SERVICE.
pub struct KSock(Sock, bool);

impl super::Target for KernelTarget {
    type Sock = KSock;
    fn socket(&mut self, o: super::Opts) -> KSock {
        let s = KSock(Sock::tcp(o.uid), false);
        self.set_opts(&s, o);
        s
    }
    fn socket_unprivileged(&mut self) -> KSock {
        KSock(Sock::tcp(0), true)
    }
    fn set_opts(&mut self, s: &KSock, o: super::Opts) {
        assert_eq!(s.0.set_int(libc::SOL_SOCKET, libc::SO_REUSEADDR, o.ra.into()), 0);
        assert_eq!(s.0.set_int(libc::SOL_SOCKET, libc::SO_REUSEPORT, o.rp.into()), 0);
    }
    fn set_ip(&mut self, s: &KSock, name: i32, v: i32) {
        assert_eq!(s.0.set_int(libc::SOL_IP, name, v), 0);
    }
    fn bind(&mut self, s: &KSock, addr: SocketAddrV4) -> Option<synq_core::Errno> {
        let rc = if s.1 {
            without_net_bind_service(|| s.0.bind(addr))
        } else {
            s.0.bind(addr)
        };
        errno_of(rc)
    }
    fn bind_bytes(&mut self, s: &KSock, bytes: &[u8]) -> Option<synq_core::Errno> {
        errno_of(s.0.bind_bytes(bytes))
    }
    fn listen(&mut self, s: &KSock) -> Option<synq_core::Errno> {
        errno_of(s.0.listen(16))
    }
    fn local(&mut self, s: &KSock) -> SocketAddrV4 {
        s.0.local()
    }
    fn time_wait(&mut self, s: KSock, _o: super::Opts, listen_port: u16) -> SocketAddrV4 {
        make_time_wait(s.0, SocketAddrV4::new(S2, listen_port))
    }
    fn sysctl(&mut self, name: &str, value: &str) {
        sysctl(name, value)
    }
}

fn errno_of(rc: i32) -> Option<synq_core::Errno> {
    (rc != 0).then(|| synq_core::Errno::from_raw(rc).unwrap_or_else(|| panic!("errno {rc} unknown to synq")))
}
