//! The scenario table of `spec/bind.md` §9 as data, shared by the synq tests and the kernel
//! differential test, and a runner that plays a row on a synq stack.

#![allow(dead_code)]

pub mod kernel;

use std::net::{Ipv4Addr, SocketAddrV4};
use synq_core::consts::*;
use synq_core::{Credentials, Errno, SocketId, Stack, StackConfig, TimeWaitSock};

/// W, S1, S2 of the spec's table. The kernel test puts S1 and S2 on a dummy interface in a
/// fresh namespace; synq's stack has them as its addresses.
pub const W: Ipv4Addr = Ipv4Addr::UNSPECIFIED;
pub const S1: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
pub const S2: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);
/// The "other" uid of the uid rows; the default is root (uid 0).
pub const NOBODY: u32 = 65534;

/// Socket options of one side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Opts {
    pub ra: bool,
    pub rp: bool,
    pub uid: u32,
}

pub const NONE: Opts = Opts {
    ra: false,
    rp: false,
    uid: 0,
};
pub const RA: Opts = Opts {
    ra: true,
    rp: false,
    uid: 0,
};
pub const RP: Opts = Opts {
    ra: false,
    rp: true,
    uid: 0,
};
pub const RA_RP: Opts = Opts {
    ra: true,
    rp: true,
    uid: 0,
};
pub const RP_NOBODY: Opts = Opts {
    ra: false,
    rp: true,
    uid: NOBODY,
};

/// What A is when B binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AState {
    /// Bound to addr:P.
    Bound,
    /// Bound, then listening.
    Listening,
    /// Bound (to `addr`), connected to a listener at S2, actively closed: only its
    /// TIME_WAIT remains, at the address the connection used.
    TimeWait,
}

/// One row: A's state, address and options (and the options A has after its bind, for the
/// "set/cleared after bind" rows), B's address and options, and what B's bind() (and, for
/// the listen rows, B's listen()) returns on Linux 6.18.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub id: &'static str,
    pub a: AState,
    pub a_addr: Ipv4Addr,
    pub a_opts: Opts,
    pub a_opts_after: Option<Opts>,
    pub b_addr: Ipv4Addr,
    pub b_opts: Opts,
    pub bind: Option<Errno>,
    /// `Some(result)` for the listen rows: B then calls listen().
    pub listen: Option<Option<Errno>>,
}

const fn row(
    id: &'static str,
    a: AState,
    a_addr: Ipv4Addr,
    a_opts: Opts,
    b_addr: Ipv4Addr,
    b_opts: Opts,
    bind: Option<Errno>,
) -> Row {
    Row {
        id,
        a,
        a_addr,
        a_opts,
        a_opts_after: None,
        b_addr,
        b_opts,
        bind,
        listen: None,
    }
}

const INUSE: Option<Errno> = Some(Errno::EADDRINUSE);
const OK: Option<Errno> = None;
use AState::*;

/// Rows of §9 that synq can play today: A bound, listening or in TIME_WAIT. Rows with a
/// connected A or an accepted child (20–24, 46, 47, 57–61) need connect() and accept() and
/// are checked on the bind table alone (`tests/bind.rs`); rows 51–53 need SO_BINDTODEVICE
/// and 64–66 IPv6, which synq does not have.
pub fn rows() -> Vec<Row> {
    let mut v = vec![
        row("1", Bound, W, NONE, W, NONE, INUSE),
        row("2", Bound, W, RA, W, NONE, INUSE),
        row("3", Bound, W, NONE, W, RA, INUSE),
        row("4", Bound, W, RA, W, RA, OK),
        row("5", Bound, W, NONE, S1, NONE, INUSE),
        row("6", Bound, W, RA, S1, RA, OK),
        row("7", Bound, S1, NONE, W, NONE, INUSE),
        row("8", Bound, S1, RA, W, NONE, INUSE),
        row("9", Bound, S1, RA, W, RA, OK),
        row("10", Bound, S1, NONE, S1, NONE, INUSE),
        row("11", Bound, S1, NONE, S1, RA, INUSE),
        row("12", Bound, S1, RA, S1, RA, OK),
        row("13", Bound, S1, NONE, S2, NONE, OK),
        row("14", Bound, S1, RA, S2, RA, OK),
        row("15", Listening, W, RA, W, RA, INUSE),
        row("16", Listening, W, RA, S1, RA, INUSE),
        row("17", Listening, S1, RA, W, RA, INUSE),
        row("18", Listening, S1, RA, S1, RA, INUSE),
        row("19", Listening, S1, NONE, S2, NONE, OK),
        row("25", TimeWait, W, NONE, W, RA, INUSE),
        row("26", TimeWait, W, RA, W, NONE, INUSE),
        row("27", TimeWait, W, RA, W, RA, OK),
        row("28", TimeWait, S1, RA, W, RA, OK),
        row("29", TimeWait, W, RA, S1, RA, OK),
        row("30", TimeWait, S1, RA, S1, RA, OK),
        row("31", TimeWait, S1, NONE, S2, NONE, OK),
        row("32", Bound, W, RP, W, NONE, INUSE),
        row("33", Bound, W, NONE, W, RP, INUSE),
        row("34", Bound, W, RP, W, RP, OK),
        row("35", Bound, W, RP, W, RP_NOBODY, INUSE),
        row("36", Bound, S1, RP_NOBODY, S1, RP, INUSE),
        row("37", Bound, W, RP, S1, RP, OK),
        row("38", Bound, S1, RP, W, RP, OK),
        row("39", Listening, W, RP, W, RP, OK),
        row("40", Listening, S1, RP, S1, RP, OK),
        row("41", Listening, W, RP, W, RP_NOBODY, INUSE),
        row("42", Listening, W, RP, S1, RP_NOBODY, INUSE),
        row("43", Listening, S1, RP, S1, NONE, INUSE),
        row("44", Listening, S1, RA_RP, S1, RA, INUSE),
        row("45", Listening, S1, RA_RP, S1, RA_RP, OK),
        row("48", TimeWait, W, RP, W, RP_NOBODY, OK),
        row("49", TimeWait, S1, RP_NOBODY, S1, RP, OK),
        row("50", TimeWait, S1, RP, S1, NONE, INUSE),
    ];
    let after = |r: Row, o: Opts| Row {
        a_opts_after: Some(o),
        ..r
    };
    v.push(after(row("54", Bound, S1, NONE, S1, RA, OK), RA));
    v.push(after(row("55", Bound, S1, RA, S1, RA, INUSE), NONE));
    v.push(after(row("56", Bound, S1, RP, S1, RP, OK), NONE));
    v.push(after(row("62", Bound, W, RP, S1, RP, OK), NONE));
    v.push(after(row("63", Bound, S1, RP, W, RP, INUSE), NONE));
    let listen = |r: Row, l: Option<Errno>| Row { listen: Some(l), ..r };
    v.push(listen(row("L1", Bound, S1, RA, S1, RA, OK), OK));
    v.push(listen(row("L2", Listening, S1, RA, S1, RA, OK), INUSE));
    v.push(listen(row("L3", Bound, W, RA, S1, RA, OK), OK));
    v.push(listen(row("L4", Bound, S1, RP, S1, RP, OK), OK));
    v
}

/// L2 differs from row 18 in that B binds *before* A listens; the runners handle it by
/// binding B first when `id == "L2"`.
pub fn b_binds_before_a_listens(r: &Row) -> bool {
    r.id == "L2"
}

/// What a scenario does with a TCP/IP stack: synq's, or the kernel's. Results are `None`
/// for success or the errno.
pub trait Target {
    type Sock;
    /// A socket owned by `o.uid`, with `o`'s SO_REUSEADDR/SO_REUSEPORT.
    fn socket(&mut self, o: Opts) -> Self::Sock;
    /// A socket whose owner lacks CAP_NET_BIND_SERVICE.
    fn socket_unprivileged(&mut self) -> Self::Sock;
    fn set_opts(&mut self, s: &Self::Sock, o: Opts);
    fn set_ip(&mut self, s: &Self::Sock, name: i32, v: i32);
    fn bind(&mut self, s: &Self::Sock, addr: SocketAddrV4) -> Option<Errno>;
    fn bind_bytes(&mut self, s: &Self::Sock, bytes: &[u8]) -> Option<Errno>;
    fn listen(&mut self, s: &Self::Sock) -> Option<Errno>;
    fn local(&mut self, s: &Self::Sock) -> SocketAddrV4;
    /// Turns a socket bound at port P into a TIME_WAIT at that port (connect to a listener at
    /// `S2:listen_port`, close first); returns the TIME_WAIT's local address.
    fn time_wait(&mut self, s: Self::Sock, o: Opts, listen_port: u16) -> SocketAddrV4;
    fn sysctl(&mut self, name: &str, value: &str);
}

/// Plays a row at port `p` (`q`: a spare port for the TIME_WAIT rows' listener):
/// `(B's bind(), B's listen() for the listen rows)`.
pub fn play_row<T: Target>(t: &mut T, r: &Row, p: u16, q: u16) -> (Option<Errno>, Option<Option<Errno>>) {
    let b = t.socket(r.b_opts);
    let a = t.socket(r.a_opts);
    assert_eq!(
        t.bind(&a, SocketAddrV4::new(r.a_addr, p)),
        None,
        "row {}: A's bind",
        r.id
    );
    let mut keep = None;
    let mut early = None;
    match r.a {
        AState::TimeWait => {
            let local = t.time_wait(a, r.a_opts, q);
            assert_eq!(*local.ip(), time_wait_addr(r.a_addr), "row {}: TIME_WAIT address", r.id);
        }
        AState::Bound | AState::Listening => {
            if b_binds_before_a_listens(r) {
                early = Some(t.bind(&b, SocketAddrV4::new(r.b_addr, p)));
            }
            if r.a == AState::Listening {
                assert_eq!(t.listen(&a), None, "row {}: A's listen", r.id);
            }
            if let Some(o) = r.a_opts_after {
                t.set_opts(&a, o);
            }
            keep = Some(a);
        }
    }
    let bind = early.unwrap_or_else(|| t.bind(&b, SocketAddrV4::new(r.b_addr, p)));
    let listen = r.listen.map(|_| if bind.is_none() { t.listen(&b) } else { bind });
    drop(keep);
    (bind, listen)
}

/// The ephemeral-port and argument-check scenarios, each reduced to an outcome string that
/// does not depend on the random draw (parity, half, errno), for comparison with the kernel.
pub fn scenarios<T: Target>(t: &mut T) -> Vec<(&'static str, String)> {
    let e = |r: Option<Errno>| r.map_or("0".to_string(), |e| e.name().to_string());
    let mut out = Vec::new();
    let parity = |port: u16| if port % 2 == 1 { "odd" } else { "even" };
    // B16: wildcard bind(0) without and with SO_REUSEADDR (which prefers the lower half of
    // the default range), and listen() autobind.
    for (name, o) in [("b16_bind0_plain", NONE), ("b16_bind0_reuseaddr", RA)] {
        let mut classes: Vec<String> = (0..40)
            .map(|_| {
                let s = t.socket(o);
                if let Some(err) = t.bind(&s, SocketAddrV4::new(W, 0)) {
                    return err.name().to_string();
                }
                let port = t.local(&s).port();
                let half = if (32768..46884).contains(&port) {
                    "/low"
                } else {
                    "/not-low"
                };
                format!("{}{}", parity(port), if o.ra { half } else { "" })
            })
            .collect();
        classes.sort();
        classes.dedup();
        out.push((name, classes.join(",")));
    }
    let s = t.socket(NONE);
    let r = t.listen(&s);
    out.push((
        "b16_listen_autobind",
        if r.is_none() {
            parity(t.local(&s).port()).to_string()
        } else {
            e(r)
        },
    ));
    // B16: a four-port range: two odd ports, then two even, then EADDRINUSE, for bind and listen.
    t.sysctl("net.ipv4.ip_local_port_range", "40000 40003");
    let socks: Vec<_> = (0..5).map(|_| t.socket(NONE)).collect();
    let mut seq = Vec::new();
    for s in &socks {
        let r = t.bind(s, SocketAddrV4::new(W, 0));
        seq.push(if r.is_none() {
            (if t.local(s).port() % 2 == 1 { "odd" } else { "even" }).to_string()
        } else {
            e(r)
        });
    }
    let extra = t.socket(NONE);
    seq.push(format!("listen:{}", e(t.listen(&extra))));
    out.push(("b16_parity_then_exhaustion", seq.join(",")));
    drop(socks);
    // B16: reserved ports are skipped, yet bindable explicitly.
    t.sysctl("net.ipv4.ip_local_port_range", "40010 40019");
    t.sysctl("net.ipv4.ip_local_reserved_ports", "40010-40018");
    let a = t.socket(NONE);
    let b = t.socket(NONE);
    let c = t.socket(NONE);
    let ra = t.bind(&a, SocketAddrV4::new(W, 0));
    let pa = t.local(&a).port();
    out.push((
        "b16_reserved",
        format!(
            "{} {} {} explicit:{}",
            e(ra),
            pa,
            e(t.bind(&b, SocketAddrV4::new(W, 0))),
            e(t.bind(&c, SocketAddrV4::new(W, 40011)))
        ),
    ));
    t.sysctl("net.ipv4.ip_local_reserved_ports", "");
    // B16 step 7: a specific address takes a port held only by another address.
    t.sysctl("net.ipv4.ip_local_port_range", "40021 40021");
    let a = t.socket(NONE);
    let b = t.socket(NONE);
    let c = t.socket(RA_RP);
    let d = t.socket(RA);
    t.bind(&a, SocketAddrV4::new(S1, 40021));
    let rb = t.bind(&b, SocketAddrV4::new(S2, 0));
    let pb = t.local(&b).port();
    let rc = t.bind(&c, SocketAddrV4::new(S1, 0));
    let rd = t.bind(&d, SocketAddrV4::new(W, 0));
    out.push(("b16_specific_shares", format!("{} {pb} {} {}", e(rb), e(rc), e(rd))));
    t.sysctl("net.ipv4.ip_local_port_range", "32768 60999");
    // B17: IP_BIND_ADDRESS_NO_PORT.
    let s = t.socket(NONE);
    t.set_ip(&s, IP_BIND_ADDRESS_NO_PORT, 1);
    let r1 = t.bind(&s, SocketAddrV4::new(S1, 0));
    let p1 = t.local(&s).port();
    let r2 = t.bind(&s, SocketAddrV4::new(S2, 0));
    let a2 = *t.local(&s).ip();
    let r3 = t.listen(&s);
    let odd = t.local(&s).port() % 2 == 1;
    out.push((
        "b17_no_port",
        format!("{} {p1} {} {a2} {} odd:{odd}", e(r1), e(r2), e(r3)),
    ));
    // B4–B8: argument checks.
    let raw = synq_core::sockaddr_in(SocketAddrV4::new(S1, 7001));
    let s = t.socket(NONE);
    out.push(("b4_len15", e(t.bind_bytes(&s, &raw[..15]))));
    let mut v = raw;
    v[0..2].copy_from_slice(&(AF_INET6 as u16).to_ne_bytes());
    out.push(("b5_inet6", e(t.bind_bytes(&s, &v))));
    v[0..2].copy_from_slice(&(AF_UNSPEC as u16).to_ne_bytes());
    out.push(("b5_unspec_specific", e(t.bind_bytes(&s, &v))));
    let mut any = synq_core::sockaddr_in(SocketAddrV4::new(W, 7002));
    any[0..2].copy_from_slice(&(AF_UNSPEC as u16).to_ne_bytes());
    out.push(("b5_unspec_wildcard", e(t.bind_bytes(&s, &any))));
    out.push(("b8_double_bind", e(t.bind(&s, SocketAddrV4::new(S1, 7003)))));
    let s = t.socket(NONE);
    let foreign = Ipv4Addr::new(192, 0, 2, 1);
    out.push(("b6_nonlocal", e(t.bind(&s, SocketAddrV4::new(foreign, 7004)))));
    t.set_ip(&s, IP_FREEBIND, 1);
    out.push(("b6_freebind", e(t.bind(&s, SocketAddrV4::new(foreign, 7004)))));
    for (name, addr) in [
        ("b6_broadcast", Ipv4Addr::BROADCAST),
        ("b6_multicast", Ipv4Addr::new(224, 0, 0, 1)),
    ] {
        let s = t.socket(NONE);
        let r = t.bind(&s, SocketAddrV4::new(addr, 7005));
        out.push((name, format!("{} {}", e(r), t.local(&s))));
    }
    for (name, port) in [
        ("b7_port_80", 80),
        ("b7_port_1023", 1023),
        ("b7_port_1024", 1024),
        ("b7_port_0", 0),
    ] {
        let s = t.socket_unprivileged();
        out.push((name, e(t.bind(&s, SocketAddrV4::new(S1, port)))));
    }
    let s = t.socket(NONE);
    t.listen(&s);
    out.push(("b8_bind_after_listen", e(t.bind(&s, SocketAddrV4::new(S1, 7006)))));
    out.push(("b18_relisten", e(t.listen(&s))));
    out
}

/// synq as a [`Target`].
pub struct SynqTarget(pub Stack);

impl Target for SynqTarget {
    type Sock = SocketId;
    fn socket(&mut self, o: Opts) -> SocketId {
        new_socket(&mut self.0, o)
    }
    fn socket_unprivileged(&mut self) -> SocketId {
        let creds = Credentials {
            uid: 0,
            cap_net_bind_service: false,
            cap_net_admin: false,
        };
        self.0.socket_as(creds, AF_INET, SOCK_STREAM, 0).unwrap()
    }
    fn set_opts(&mut self, s: &SocketId, o: Opts) {
        set_opts(&mut self.0, *s, o)
    }
    fn set_ip(&mut self, s: &SocketId, name: i32, v: i32) {
        self.0.setsockopt(*s, SOL_IP, name, &v.to_ne_bytes()).unwrap();
    }
    fn bind(&mut self, s: &SocketId, addr: SocketAddrV4) -> Option<Errno> {
        self.0.bind(*s, addr).err()
    }
    fn bind_bytes(&mut self, s: &SocketId, bytes: &[u8]) -> Option<Errno> {
        self.0.bind_raw(*s, bytes).err()
    }
    fn listen(&mut self, s: &SocketId) -> Option<Errno> {
        self.0.listen(*s, 16).err()
    }
    fn local(&mut self, s: &SocketId) -> SocketAddrV4 {
        self.0.getsockname(*s).unwrap()
    }
    fn time_wait(&mut self, s: SocketId, o: Opts, _listen_port: u16) -> SocketAddrV4 {
        let bound = self.0.getsockname(s).unwrap();
        self.0.close(synq_core::Instant::ZERO, s).unwrap();
        let local = SocketAddrV4::new(time_wait_addr(*bound.ip()), bound.port());
        let remote = SocketAddrV4::new(S2, 9);
        self.0.insert_time_wait(TimeWaitSock {
            local,
            remote,
            reuse_addr: o.ra,
            reuse_port: o.rp,
            uid: o.uid,
            conn: Default::default(),
        });
        local
    }
    fn sysctl(&mut self, name: &str, value: &str) {
        self.0.sysctl.set(name, value).unwrap();
    }
}

/// A synq stack with S1 and S2, root as the default owner.
pub fn stack() -> Stack {
    let mut config = StackConfig::new(S1);
    config.addrs.push(S2);
    config.credentials = Credentials::ROOT;
    Stack::new(config)
}

pub fn set_opts(s: &mut Stack, fd: SocketId, o: Opts) {
    s.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &i32::from(o.ra).to_ne_bytes())
        .unwrap();
    s.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &i32::from(o.rp).to_ne_bytes())
        .unwrap();
}

pub fn new_socket(s: &mut Stack, o: Opts) -> SocketId {
    let creds = if o.uid == 0 {
        Credentials::ROOT
    } else {
        Credentials::user(o.uid)
    };
    let fd = s.socket_as(creds, AF_INET, SOCK_STREAM, 0).unwrap();
    set_opts(s, fd, o);
    fd
}

/// The TIME_WAIT address of a connection from `a_addr` to S2: the bound address, or, when A
/// was bound to W, the source address Linux picks for S2 on this host (rule B22): S1, the
/// primary address of the subnet both sit in on `lo`.
pub fn time_wait_addr(a_addr: Ipv4Addr) -> Ipv4Addr {
    if a_addr.is_unspecified() {
        S1
    } else {
        a_addr
    }
}
