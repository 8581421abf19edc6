//! bind(), port allocation and listen()'s port check: one test per rule of `spec/bind.md`
//! (B1–B22 where synq has the machinery) and per row of its scenario table (§9).

mod common;

use common::*;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use synq_core::bind_table::{BindTable, Binder, Owner, OwnerState, OwnerView};
use synq_core::consts::*;
use synq_core::{sockaddr_in, Credentials, Errno, SockId, SocketId, Stack, TimeWaitSock};

const P: u16 = 5000;

fn sa(addr: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(addr, port)
}

fn int(s: &mut Stack, fd: SocketId, level: i32, name: i32) -> i32 {
    let mut b = [0u8; 4];
    assert_eq!(s.getsockopt(fd, level, name, &mut b), Ok(4));
    i32::from_ne_bytes(b)
}

#[test]
fn b1_protocol_zero_and_tcp_make_tcp_sockets() {
    let mut s = stack();
    for proto in [0, IPPROTO_TCP] {
        let fd = s.socket(AF_INET, SOCK_STREAM, proto).unwrap();
        assert_eq!(int(&mut s, fd, SOL_SOCKET, SO_PROTOCOL), IPPROTO_TCP);
    }
}

#[test]
fn b2_socket_errors_in_order() {
    let mut s = stack();
    assert_eq!(s.socket(AF_INET, 100, 0), Err(Errno::EINVAL));
    assert_eq!(s.socket(AF_INET, SOCK_STREAM, -1), Err(Errno::EINVAL));
    assert_eq!(s.socket(AF_INET, SOCK_STREAM, 263), Err(Errno::EINVAL));
    assert_eq!(s.socket(AF_INET, 4 /* SOCK_RDM */, 0), Err(Errno::ESOCKTNOSUPPORT));
    assert_eq!(s.socket(AF_INET, SOCK_STREAM, 17), Err(Errno::EPROTONOSUPPORT));
    assert_eq!(s.socket(AF_INET, SOCK_STREAM, 256), Err(Errno::EPROTONOSUPPORT));
}

#[test]
fn b3_new_socket_is_closed_unbound_without_options() {
    let mut s = stack();
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(s.getsockname(fd), Ok(sa(W, 0)));
    for (level, name) in [
        (SOL_SOCKET, SO_REUSEADDR),
        (SOL_SOCKET, SO_REUSEPORT),
        (SOL_IP, IP_FREEBIND),
        (SOL_IP, IP_BIND_ADDRESS_NO_PORT),
    ] {
        assert_eq!(int(&mut s, fd, level, name), 0);
    }
    assert_eq!(int(&mut s, fd, SOL_SOCKET, SO_ACCEPTCONN), 0);
}

#[test]
fn b4_address_length_below_sockaddr_in_is_einval() {
    let mut s = stack();
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let raw = sockaddr_in(sa(S1, P));
    assert_eq!(s.bind_raw(fd, &raw[..15]), Err(Errno::EINVAL));
    // Length is checked before family.
    let mut v6 = raw;
    v6[0..2].copy_from_slice(&(AF_INET6 as u16).to_ne_bytes());
    assert_eq!(s.bind_raw(fd, &v6[..15]), Err(Errno::EINVAL));
    assert_eq!(s.bind_raw(fd, &raw), Ok(()));
}

#[test]
fn b5_family_must_be_inet_or_unspec_with_wildcard() {
    let mut s = stack();
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let mut raw = sockaddr_in(sa(S1, P));
    raw[0..2].copy_from_slice(&(AF_INET6 as u16).to_ne_bytes());
    assert_eq!(s.bind_raw(fd, &raw), Err(Errno::EAFNOSUPPORT));
    raw[0..2].copy_from_slice(&(AF_UNSPEC as u16).to_ne_bytes());
    assert_eq!(
        s.bind_raw(fd, &raw),
        Err(Errno::EAFNOSUPPORT),
        "AF_UNSPEC with a specific address"
    );
    let mut any = sockaddr_in(sa(W, P));
    any[0..2].copy_from_slice(&(AF_UNSPEC as u16).to_ne_bytes());
    assert_eq!(s.bind_raw(fd, &any), Ok(()), "AF_UNSPEC with 0.0.0.0 is AF_INET");
}

#[test]
fn b6_address_must_be_local_unless_freebind_or_nonlocal_bind() {
    let mut s = stack();
    let other = Ipv4Addr::new(192, 0, 2, 77);
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(s.bind(fd, sa(other, P)), Err(Errno::EADDRNOTAVAIL));
    for ok in [Ipv4Addr::BROADCAST, Ipv4Addr::new(224, 0, 0, 1)] {
        let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
        assert_eq!(s.bind(fd, sa(ok, P)), Ok(()), "{ok}");
        assert_eq!(s.getsockname(fd), Ok(sa(ok, P)), "B9: reported back");
    }
    s.setsockopt(fd, SOL_IP, IP_FREEBIND, &[1]).unwrap();
    assert_eq!(s.bind(fd, sa(other, P)), Ok(()));
    let mut s = stack();
    s.sysctl.set("net.ipv4.ip_nonlocal_bind", "1").unwrap();
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(s.bind(fd, sa(other, P)), Ok(()));
}

#[test]
fn b7_privileged_ports_need_cap_net_bind_service() {
    let mut s = stack();
    let user = Credentials::NOBODY;
    for (port, want) in [
        (80, Err(Errno::EACCES)),
        (1023, Err(Errno::EACCES)),
        (1024, Ok(())),
        (0, Ok(())),
    ] {
        let fd = s.socket_as(user, AF_INET, SOCK_STREAM, 0).unwrap();
        assert_eq!(s.bind(fd, sa(S1, port)), want, "port {port}");
    }
    let root = s.socket_as(Credentials::ROOT, AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(s.bind(root, sa(S1, 80)), Ok(()));
    s.sysctl.set("net.ipv4.ip_unprivileged_port_start", "80").unwrap();
    let fd = s.socket_as(user, AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(s.bind(fd, sa(S2, 80)), Ok(()));
    // Reserved ports are not privileged.
    s.sysctl.set("net.ipv4.ip_local_reserved_ports", "5555").unwrap();
    let fd = s.socket_as(user, AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(s.bind(fd, sa(S1, 5555)), Ok(()));
}

#[test]
fn b8_second_bind_and_bind_after_listen_are_einval() {
    let mut s = stack();
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    s.bind(fd, sa(S1, P)).unwrap();
    assert_eq!(s.bind(fd, sa(S1, P + 1)), Err(Errno::EINVAL));
    // Checks run in order: a non-local address fails before the double bind is seen,
    // a privileged port too.
    assert_eq!(
        s.bind(fd, sa(Ipv4Addr::new(192, 0, 2, 1), P)),
        Err(Errno::EADDRNOTAVAIL)
    );
    let user = s.socket_as(Credentials::NOBODY, AF_INET, SOCK_STREAM, 0).unwrap();
    s.bind(user, sa(S1, P + 2)).unwrap();
    assert_eq!(s.bind(user, sa(S1, 80)), Err(Errno::EACCES));
    let l = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    s.listen(l, 1).unwrap();
    assert_eq!(s.bind(l, sa(S1, P + 3)), Err(Errno::EINVAL));
}

#[test]
fn b9_failed_bind_resets_the_address() {
    let mut s = stack();
    let a = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    s.bind(a, sa(S1, P)).unwrap();
    let b = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(s.bind(b, sa(S1, P)), Err(Errno::EADDRINUSE));
    assert_eq!(s.getsockname(b), Ok(sa(W, 0)));
    assert_eq!(s.bind(b, sa(S2, P)), Ok(()), "and it may bind again");
}

#[test]
fn b10_b12_bind_takes_the_port_and_close_frees_empty_buckets() {
    let mut s = stack();
    let a = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    s.bind(a, sa(S1, P)).unwrap();
    assert_eq!(s.getsockname(a), Ok(sa(S1, P)));
    assert!(s.bind_table().port_in_use(P));
    assert_eq!(s.bind_table().owners_at(P, S1), &[s.owner(a).unwrap()]);
    s.close(synq_core::Instant::ZERO, a).unwrap();
    assert!(!s.bind_table().port_in_use(P));
    assert_eq!(s.bind_table().ports_in_use(), 0);
    s.bind_table().check_consistency().unwrap();
}

#[test]
fn b13_b14_b15_scenario_table_rows() {
    let mut failures = Vec::new();
    for r in rows() {
        let got = play_row(&mut SynqTarget(stack()), &r, P, P + 1);
        let want = (r.bind, r.listen);
        if got != want {
            failures.push(format!("row {}: want {want:?}, got {got:?}", r.id));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Rows whose A is connected or an accepted child, on the bind table alone: the owner is
/// given the state and flags connect()/accept() would leave it with.
#[test]
fn b13_b14_b15_rows_with_connected_owners_on_the_bind_table() {
    let conn = |reuse_addr, reuse_port, uid| OwnerView {
        reuse_addr,
        reuse_port,
        uid,
        state: OwnerState::Other,
    };
    let a = Owner::Socket(SockId::from_index(3));
    let b = Owner::Socket(SockId::from_index(4));
    // (row, A's address after connect (B22 re-homes a wildcard bind), A's view, B's addr, B's flags, B's uid, want)
    type Case = (&'static str, Ipv4Addr, OwnerView, Ipv4Addr, bool, bool, u32, bool);
    let cases: &[Case] = &[
        ("20", W, conn(false, false, 0), W, true, false, 0, false),
        ("21", W, conn(true, false, 0), W, true, false, 0, true),
        ("22", S1, conn(true, false, 0), S1, false, false, 0, false),
        ("23", S1, conn(true, false, 0), S1, true, false, 0, true),
        ("24", S1, conn(true, false, 0), W, true, false, 0, true),
        ("46", S1, conn(false, true, 0), S1, false, true, 0, true),
        ("47", W, conn(false, true, 0), W, false, true, NOBODY, false),
        ("57", S1, conn(false, false, 0), S1, true, false, 0, false),
        ("58", S1, conn(true, false, 0), S1, true, false, 0, true),
        ("59", S1, conn(false, false, 0), S2, false, false, 0, true),
    ];
    for &(id, a_addr, a_view, b_addr, ra, rp, uid, ok) in cases {
        let mut t = BindTable::default();
        let views: HashMap<Owner, OwnerView> = [(a, a_view)].into();
        let view = |o: Owner| views[&o];
        // A's port was taken by a plain bind (so the reuseport cache follows A's flags).
        let a_binder = Binder {
            owner: a,
            addr: a_addr,
            view: a_view,
        };
        t.get_port(P, &a_binder, &view).unwrap();
        let binder = Binder {
            owner: b,
            addr: b_addr,
            view: conn(ra, rp, uid),
        };
        let got = t.get_port(P, &binder, &view);
        assert_eq!(got.is_ok(), ok, "row {id}: {got:?}");
    }
}

#[test]
fn b13_flags_are_read_live() {
    // Rows 54 and 55 are in the table; here a listener that stops listening no longer blocks.
    let mut s = stack();
    let a = new_socket(&mut s, RA);
    s.bind(a, sa(S1, P)).unwrap();
    s.listen(a, 1).unwrap();
    let b = new_socket(&mut s, RA);
    assert_eq!(s.bind(b, sa(S1, P)), Err(Errno::EADDRINUSE));
}

#[test]
fn b16_bind_zero_picks_odd_ports_spread_over_the_range() {
    let mut s = stack();
    let mut seen = Vec::new();
    for _ in 0..400 {
        let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
        s.bind(fd, sa(W, 0)).unwrap();
        let port = s.getsockname(fd).unwrap().port();
        assert!((32768..=60999).contains(&port) && port % 2 == 1, "{port}");
        seen.push(port);
    }
    assert!(seen.iter().any(|&p| p > 46883), "without RA the whole range is used");
    let mut unique = seen.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "a wildcard bind(0) never shares a port");
}

#[test]
fn b16_reuseaddr_prefers_the_lower_half() {
    let mut s = stack();
    for _ in 0..400 {
        let fd = new_socket(&mut s, RA);
        s.bind(fd, sa(W, 0)).unwrap();
        let port = s.getsockname(fd).unwrap().port();
        assert!((32768..46884).contains(&port), "{port}");
    }
}

/// Binds `n` sockets to port 0 with IP_LOCAL_PORT_RANGE `range` (0: unset); their ports.
fn bind_zero_with_range(s: &mut Stack, range: u32, n: usize) -> Result<Vec<u16>, Errno> {
    (0..n)
        .map(|_| {
            let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
            s.setsockopt(fd, SOL_IP, IP_LOCAL_PORT_RANGE, &range.to_ne_bytes())?;
            s.bind(fd, sa(W, 0))?;
            Ok(s.getsockname(fd).unwrap().port())
        })
        .collect()
}

#[test]
fn b16_ip_local_port_range_narrows_bind_zero_within_the_sysctl_range() {
    // As measured on Linux 6.18 (sysctl range 40000-40199): a socket bound inside takes each
    // of its ten ports, then EADDRINUSE; a bound outside the sysctl range is ignored.
    let mut s = stack();
    s.sysctl.set("net.ipv4.ip_local_port_range", "40000 40199").unwrap();
    let mut ports = bind_zero_with_range(&mut s, 30000 | 40009 << 16, 10).unwrap();
    ports.sort_unstable();
    assert_eq!(ports, (40000..=40009).collect::<Vec<_>>());
    assert_eq!(
        bind_zero_with_range(&mut s, 40000 | 40009 << 16, 1),
        Err(Errno::EADDRINUSE)
    );
    let mut s = stack();
    s.sysctl.set("net.ipv4.ip_local_port_range", "40000 40199").unwrap();
    let ports = bind_zero_with_range(&mut s, 30000 | 30010 << 16, 200).unwrap();
    assert_eq!(ports.iter().min(), Some(&40000));
    assert_eq!(ports.iter().max(), Some(&40199), "both bounds outside: the whole range");
}

#[test]
fn b16_ip_local_port_range_is_a_u32_with_low_not_above_high() {
    let mut s = stack();
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(int(&mut s, fd, SOL_IP, IP_LOCAL_PORT_RANGE), 0, "unset");
    let set = |s: &mut Stack, v: &[u8]| s.setsockopt(fd, SOL_IP, IP_LOCAL_PORT_RANGE, v);
    assert_eq!(set(&mut s, &(40009u32 | 40000 << 16).to_ne_bytes()), Err(Errno::EINVAL));
    assert_eq!(set(&mut s, &[5, 0]), Err(Errno::EINVAL), "two bytes");
    assert_eq!(set(&mut s, &[5]), Err(Errno::EINVAL), "one byte");
    assert_eq!(set(&mut s, &[0; 8]), Err(Errno::EINVAL), "eight bytes");
    // A bound of 0 is no bound: any other value goes.
    assert_eq!(set(&mut s, &(40000u32 << 16).to_ne_bytes()), Ok(()));
    assert_eq!(set(&mut s, &(40000u32 | 40009 << 16).to_ne_bytes()), Ok(()));
    assert_eq!(
        int(&mut s, fd, SOL_IP, IP_LOCAL_PORT_RANGE),
        (40000u32 | 40009 << 16) as i32
    );
    // One byte out: the value's low byte, as Linux copies it.
    let mut b = [0u8; 1];
    assert_eq!(s.getsockopt(fd, SOL_IP, IP_LOCAL_PORT_RANGE, &mut b), Ok(1));
    assert_eq!(b, [0x40]);
}

#[test]
fn b16_other_parity_then_exhaustion() {
    let mut s = stack();
    s.sysctl.set("net.ipv4.ip_local_port_range", "40000 40003").unwrap();
    let mut ports = Vec::new();
    for _ in 0..4 {
        let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
        s.bind(fd, sa(W, 0)).unwrap();
        ports.push(s.getsockname(fd).unwrap().port());
    }
    assert!(ports[..2].iter().all(|p| p % 2 == 1), "odd first: {ports:?}");
    assert!(ports[2..].iter().all(|p| p % 2 == 0), "then even: {ports:?}");
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(s.bind(fd, sa(W, 0)), Err(Errno::EADDRINUSE));
    assert_eq!(
        s.listen(fd, 1),
        Err(Errno::EADDRINUSE),
        "listen() autobind exhausts too"
    );
    assert_eq!(s.poll(fd), Ok(0x114), "and the socket is closed again");
}

#[test]
fn b16_reserved_ports_are_skipped_but_bindable_explicitly() {
    let mut s = stack();
    s.sysctl.set("net.ipv4.ip_local_port_range", "40000 40009").unwrap();
    s.sysctl.set("net.ipv4.ip_local_reserved_ports", "40000-40008").unwrap();
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    s.bind(fd, sa(W, 0)).unwrap();
    assert_eq!(s.getsockname(fd).unwrap().port(), 40009);
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(s.bind(fd, sa(W, 0)), Err(Errno::EADDRINUSE));
    assert_eq!(s.bind(fd, sa(W, 40001)), Ok(()));
}

#[test]
fn b16_specific_address_may_share_a_port_with_another_address_only() {
    let mut s = stack();
    s.sysctl.set("net.ipv4.ip_local_port_range", "40000 40001").unwrap();
    let a = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    s.bind(a, sa(S1, 40001)).unwrap();
    let b = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    s.bind(b, sa(S2, 0)).unwrap();
    assert_eq!(
        s.getsockname(b).unwrap().port(),
        40001,
        "odd port 40001 held only by S1"
    );
    let c = new_socket(&mut s, RA_RP);
    s.bind(c, sa(S1, 0)).unwrap();
    assert_eq!(
        s.getsockname(c).unwrap().port(),
        40000,
        "never next to a same-address owner, RA/RP or not"
    );
    let d = new_socket(&mut s, RA);
    assert_eq!(
        s.bind(d, sa(W, 0)),
        Err(Errno::EADDRINUSE),
        "a wildcard overlaps every owner"
    );
}

#[test]
fn b16_autobind_reuse_relaxes_for_reuseaddr_owners_but_never_joins_reuseport() {
    for (autobind_reuse, b_opts, want) in [(0, RA, None), (1, RA, Some(40001)), (1, RA_RP, None)] {
        let mut s = stack();
        s.sysctl.set("net.ipv4.ip_local_port_range", "40001 40001").unwrap();
        s.sysctl
            .set("net.ipv4.ip_autobind_reuse", &autobind_reuse.to_string())
            .unwrap();
        let a = new_socket(&mut s, RA_RP);
        s.bind(a, sa(W, 40001)).unwrap();
        let b = new_socket(&mut s, b_opts);
        let got = s.bind(b, sa(W, 0)).map(|()| s.getsockname(b).unwrap().port());
        assert_eq!(got.ok(), want, "ip_autobind_reuse={autobind_reuse} {b_opts:?}");
    }
}

#[test]
fn b17_bind_address_no_port_defers_the_port() {
    let mut s = stack();
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    s.setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &1i32.to_ne_bytes())
        .unwrap();
    s.bind(fd, sa(S1, 0)).unwrap();
    assert_eq!(s.getsockname(fd), Ok(sa(S1, 0)));
    assert_eq!(s.bind_table().ports_in_use(), 0);
    // inet_num is still 0: bind() may run again and replace the address.
    s.bind(fd, sa(S2, 0)).unwrap();
    assert_eq!(s.getsockname(fd), Ok(sa(S2, 0)));
    // listen() picks the port.
    s.listen(fd, 1).unwrap();
    let port = s.getsockname(fd).unwrap().port();
    assert!(port % 2 == 1 && port >= 32768, "{port}");
    // Ignored when a port is given.
    let g = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    s.setsockopt(g, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &[1]).unwrap();
    s.bind(g, sa(S1, P)).unwrap();
    assert!(s.bind_table().port_in_use(P));
}

#[test]
fn b18_listen_revalidates_and_closes_again_on_failure() {
    let mut s = stack();
    let a = new_socket(&mut s, RA);
    let b = new_socket(&mut s, RA);
    s.bind(a, sa(S1, P)).unwrap();
    s.bind(b, sa(S1, P)).unwrap();
    s.listen(a, 5).unwrap();
    assert_eq!(s.listen(b, 5), Err(Errno::EADDRINUSE));
    assert_eq!(int(&mut s, b, SOL_SOCKET, SO_ACCEPTCONN), 0, "back to TCP_CLOSE");
    assert_eq!(s.getsockname(b), Ok(sa(S1, P)), "keeps its bind");
    assert_eq!(int(&mut s, a, SOL_SOCKET, SO_ACCEPTCONN), 1);
}

#[test]
fn b18_listen_state_checks_and_backlog_clamp() {
    let mut s = stack();
    let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    s.listen(fd, 10).unwrap();
    let port = s.getsockname(fd).unwrap().port();
    s.listen(fd, 20).unwrap();
    assert_eq!(
        s.getsockname(fd).unwrap().port(),
        port,
        "re-listen changes the backlog only"
    );
    s.sysctl.set("net.core.somaxconn", "128").unwrap();
    s.listen(fd, -1).unwrap();
    s.listen(fd, 1_000_000).unwrap();
}

#[test]
fn b20_l60_closing_a_listener_frees_its_port_at_once() {
    let mut s = stack();
    let a = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    s.bind(a, sa(W, P)).unwrap();
    s.listen(a, 1).unwrap();
    s.close(synq_core::Instant::ZERO, a).unwrap();
    let b = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(s.bind(b, sa(W, P)), Ok(()));
}

#[test]
fn b20_time_wait_holds_the_port_until_removed() {
    let mut s = stack();
    let tw = s.insert_time_wait(TimeWaitSock {
        local: sa(S1, P),
        remote: sa(S2, 80),
        reuse_addr: false,
        reuse_port: false,
        uid: 0,
        conn: Default::default(),
    });
    let b = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(s.bind(b, sa(W, P)), Err(Errno::EADDRINUSE));
    assert!(s.remove_time_wait(tw));
    assert!(!s.remove_time_wait(tw));
    assert_eq!(s.bind(b, sa(W, P)), Ok(()));
}

#[test]
fn b21_reuseport_compares_the_creating_owner_uid() {
    let mut s = stack();
    let a = s.socket_as(Credentials::user(1000), AF_INET, SOCK_STREAM, 0).unwrap();
    let b = s.socket_as(Credentials::user(1000), AF_INET, SOCK_STREAM, 0).unwrap();
    let c = s.socket_as(Credentials::user(1001), AF_INET, SOCK_STREAM, 0).unwrap();
    for fd in [a, b, c] {
        s.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &1i32.to_ne_bytes()).unwrap();
    }
    s.bind(a, sa(W, P)).unwrap();
    assert_eq!(s.bind(b, sa(W, P)), Ok(()));
    assert_eq!(s.bind(c, sa(W, P)), Err(Errno::EADDRINUSE));
}

mod table_consistency {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::RngSeed;

    #[derive(Debug, Clone)]
    enum Op {
        Socket(bool, bool, u8),
        Bind(usize, u8, u16),
        Listen(usize),
        Close(usize),
        SetFlags(usize, bool, bool),
        TimeWait(u8, u16, bool),
        KillTimeWait(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<bool>(), any::<bool>(), 0u8..2).prop_map(|(a, b, u)| Op::Socket(a, b, u)),
            (any::<usize>(), 0u8..3, 0u16..6).prop_map(|(i, a, p)| Op::Bind(i, a, p)),
            any::<usize>().prop_map(Op::Listen),
            any::<usize>().prop_map(Op::Close),
            (any::<usize>(), any::<bool>(), any::<bool>()).prop_map(|(i, a, b)| Op::SetFlags(i, a, b)),
            (0u8..3, 0u16..6, any::<bool>()).prop_map(|(a, p, r)| Op::TimeWait(a, p, r)),
            any::<usize>().prop_map(Op::KillTimeWait),
        ]
    }

    proptest! {

        #![proptest_config(ProptestConfig { rng_seed: RngSeed::Fixed(0x5eed), ..ProptestConfig::default() })]
        /// Random socket/bind/listen/close/setsockopt sequences (over a range of four ports so
        /// that they collide) never leave the table inconsistent: a socket is an owner iff it
        /// holds a port, and buckets go when their last owner does.
        #[test]
        fn random_sequences_keep_the_table_consistent(ops in proptest::collection::vec(op(), 1..80)) {
            let mut s = stack();
            s.sysctl.set("net.ipv4.ip_local_port_range", "40000 40003").unwrap();
            let addrs = [W, S1, S2];
            let mut fds: Vec<SocketId> = Vec::new();
            let mut tws = Vec::new();
            for op in ops {
                match op {
                    Op::Socket(ra, rp, uid) => fds.push(new_socket(&mut s, Opts { ra, rp, uid: u32::from(uid) * NOBODY })),
                    Op::Bind(i, a, p) if !fds.is_empty() => {
                        let port = if p == 0 { 0 } else { 39999 + p };
                        let _ = s.bind(fds[i % fds.len()], sa(addrs[usize::from(a)], port));
                    }
                    Op::Listen(i) if !fds.is_empty() => { let _ = s.listen(fds[i % fds.len()], 4); }
                    Op::Close(i) if !fds.is_empty() => {
                        let fd = fds.swap_remove(i % fds.len());
                        s.close(synq_core::Instant::ZERO, fd).unwrap();
                    }
                    Op::SetFlags(i, ra, rp) if !fds.is_empty() => set_opts(&mut s, fds[i % fds.len()], Opts { ra, rp, uid: 0 }),
                    Op::TimeWait(a, p, ra) => tws.push(s.insert_time_wait(TimeWaitSock {
                        local: sa(addrs[usize::from(a)], 39999 + p.max(1)), remote: sa(S2, 80), reuse_addr: ra, reuse_port: false, uid: 0, conn: Default::default(),
                    })),
                    Op::KillTimeWait(i) if !tws.is_empty() => { prop_assert!(s.remove_time_wait(tws.swap_remove(i % tws.len()))); }
                    _ => {}
                }
                s.bind_table().check_consistency().map_err(TestCaseError::fail)?;
                for &fd in &fds {
                    let local = s.getsockname(fd).unwrap();
                    let owners = s.bind_table().owners_at(local.port(), *local.ip());
                    let is_owner = owners.contains(&s.owner(fd).unwrap());
                    let listening = int(&mut s, fd, SOL_SOCKET, SO_ACCEPTCONN) == 1;
                    // Every socket that reports a port holds it (synq has no connect() yet, so no
                    // port is released while the socket lives).
                    prop_assert_eq!(is_owner, local.port() != 0, "fd {} at {}", fd, local);
                    prop_assert!(!listening || is_owner);
                }
            }
            for fd in fds {
                s.close(synq_core::Instant::ZERO, fd).unwrap();
            }
            for tw in tws {
                prop_assert!(s.remove_time_wait(tw));
            }
            prop_assert_eq!(s.bind_table().ports_in_use(), 0);
            s.bind_table().check_consistency().map_err(TestCaseError::fail)?;
        }
    }
}

mod same_port_as_linux {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::RngSeed;
    use synq_core::port_bitmap::PortBitmap;
    use synq_core::rng::Rng;

    /// `inet_csk_find_open_port` transcribed literally: port by port, with the conflict
    /// predicate, as the kernel walks it.
    fn linux_loop(
        t: &BindTable,
        binder: &Binder,
        (low, high): (u16, u16),
        reserved: &PortBitmap,
        autobind_reuse: bool,
        rng: &mut Rng,
        view: &impl Fn(Owner) -> OwnerView,
    ) -> Option<u16> {
        let mut relax = false;
        loop {
            let mut attempt_half = u8::from(binder.view.reuse_addr);
            loop {
                let (mut lo, mut hi) = (u32::from(low), u32::from(high) + 1);
                if hi - lo < 4 {
                    attempt_half = 0;
                }
                if attempt_half != 0 {
                    let half = lo + (((hi - lo) >> 2) << 1);
                    if attempt_half == 1 {
                        hi = half
                    } else {
                        lo = half
                    }
                }
                let mut remaining = hi - lo;
                if remaining > 1 {
                    remaining &= !1;
                }
                let mut offset = (rng.below(u64::from(remaining)) as u32) | 1;
                loop {
                    let mut port = lo + offset;
                    let mut i = 0;
                    while i < remaining {
                        if port >= hi {
                            port -= remaining;
                        }
                        let p = port as u16;
                        if !reserved.contains(p) && (!t.port_in_use(p) || !t.conflict(p, binder, relax, false, view)) {
                            return Some(p);
                        }
                        i += 2;
                        port += 2;
                    }
                    offset = offset.wrapping_sub(1);
                    if offset & 1 == 1 {
                        break;
                    }
                }
                if attempt_half == 1 {
                    attempt_half = 2;
                    continue;
                }
                break;
            }
            if autobind_reuse && !relax {
                relax = true;
                continue;
            }
            return None;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, rng_seed: RngSeed::Fixed(0x5eed), ..ProptestConfig::default() })]

        /// Given the same random draws, the word-at-a-time search returns exactly the port
        /// Linux's loop returns, whatever the table holds.
        #[test]
        fn b16_word_search_picks_the_port_the_linux_loop_picks(
            seed in any::<u64>(),
            low in 30000u16..30100, len in 0u16..300,
            fill in 0u64..101, reserve in 0u64..30,
            binder_addr in 0usize..3, ra in any::<bool>(), rp in any::<bool>(), autobind_reuse in any::<bool>(),
        ) {
            let addrs = [W, S1, S2];
            let high = low + len;
            let mut rng = Rng::seed_from_u64(seed);
            let mut t = BindTable::default();
            let mut views = HashMap::new();
            let mut reserved = PortBitmap::default();
            let mut next = 100u32;
            for port in low..=high {
                if rng.below(100) < reserve {
                    reserved.insert(port);
                }
                while rng.below(100) < fill {
                    let owner = Owner::Socket(SockId::from_index(next));
                    next += 1;
                    let v = OwnerView {
                        reuse_addr: rng.below(2) == 0,
                        reuse_port: rng.below(2) == 0,
                        uid: rng.below(2) as u32,
                        state: [OwnerState::Listen, OwnerState::TimeWait, OwnerState::Other][rng.below(3) as usize],
                    };
                    views.insert(owner, v);
                    t.insert(port, addrs[rng.below(3) as usize], owner);
                    if next % 3 == 0 { break; }
                }
            }
            let view = |o: Owner| views[&o];
            let binder = Binder {
                owner: Owner::Socket(SockId::from_index(3)),
                addr: addrs[binder_addr],
                view: OwnerView { reuse_addr: ra, reuse_port: rp, uid: 0, state: OwnerState::Other },
            };
            let mut r1 = Rng::seed_from_u64(seed ^ 0x5eed);
            let mut r2 = r1.clone();
            let fast = t.find_open_port(&binder, (low, high), &reserved, autobind_reuse, &mut r1, &view);
            let slow = linux_loop(&t, &binder, (low, high), &reserved, autobind_reuse, &mut r2, &view);
            prop_assert_eq!(fast, slow);
        }
    }
}
