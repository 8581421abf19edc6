//! The scenario table of `spec/bind.md` §9 as data, shared by the synq tests and the kernel
//! differential test, and a runner that plays a row on a synq stack.

#![allow(dead_code)]

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

/// The TIME_WAIT address of a connection from `a_addr` to S2: the bound address, or the
/// source address Linux picks for S2 on the same host (S2 itself) when A was bound to W.
pub fn time_wait_addr(a_addr: Ipv4Addr) -> Ipv4Addr {
    if a_addr.is_unspecified() {
        S2
    } else {
        a_addr
    }
}

/// Plays a row on synq at port `p`: `(bind result, listen result if any)`.
pub fn play_synq(r: &Row, p: u16) -> (Option<Errno>, Option<Option<Errno>>) {
    let mut s = stack();
    let res = |x: Result<(), Errno>| x.err();
    let b = new_socket(&mut s, r.b_opts);
    if r.a == AState::TimeWait {
        s.insert_time_wait(TimeWaitSock {
            local: SocketAddrV4::new(time_wait_addr(r.a_addr), p),
            remote: SocketAddrV4::new(S2, 9),
            reuse_addr: r.a_opts.ra,
            reuse_port: r.a_opts.rp,
            uid: r.a_opts.uid,
        });
    } else {
        let a = new_socket(&mut s, r.a_opts);
        s.bind(a, SocketAddrV4::new(r.a_addr, p)).unwrap();
        let mut early = None;
        if b_binds_before_a_listens(r) {
            early = Some(res(s.bind(b, SocketAddrV4::new(r.b_addr, p))));
        }
        if r.a == AState::Listening {
            s.listen(a, 16).unwrap();
        }
        if let Some(o) = r.a_opts_after {
            set_opts(&mut s, a, o);
        }
        if let Some(bind) = early {
            return (bind, r.listen.map(|_| res(s.listen(b, 16))));
        }
    }
    let bind = res(s.bind(b, SocketAddrV4::new(r.b_addr, p)));
    let listen = r
        .listen
        .map(|_| if bind.is_none() { res(s.listen(b, 16)) } else { bind });
    (bind, listen)
}
