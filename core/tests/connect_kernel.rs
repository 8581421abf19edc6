//! Kernel differential test for connect()'s port choice (rules C10–C12, C15): in a fresh
//! network namespace the test makes, this machine's Linux connects repeatedly to one
//! destination from a narrowed range; synq does the same. The secrets differ, so the ports
//! do, but their structure must not: the parity of the range's low end first, each port a
//! small even step (2–16) after the last, every port distinct, and EADDRNOTAVAIL once the
//! range is full.
//!
//! Needs root (for the namespace); prints that it skipped otherwise. Under `CI=true` it must
//! run.

use std::net::{Ipv4Addr, SocketAddrV4};
use synq_core::consts::*;
use synq_core::{Errno, Instant, Stack, StackConfig};
use synq_peer::{in_fresh_netns, skip_or_fail, sysctl, unavailable, Sock};

const LOW: u16 = 40000;
const PORTS: usize = 200;
const RANGE: &str = "40000 40199";

/// The ports of the first `PORTS` connects to one destination, and the errno of one more.
fn kernel_ports() -> Result<(Vec<u16>, i32), String> {
    in_fresh_netns(&[], || {
        sysctl("net.ipv4.ip_local_port_range", RANGE);
        let server = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5000);
        let l = Sock::tcp(0);
        assert_eq!(l.bind(server), 0);
        assert_eq!(l.listen(4096), 0);
        let mut held = Vec::new();
        let mut ports = Vec::new();
        for _ in 0..PORTS {
            let s = Sock::tcp(0);
            assert_eq!(s.connect(server), 0, "kernel connect");
            ports.push(s.local().port());
            held.push(s);
        }
        let extra = Sock::tcp(0).connect(server);
        (ports, extra)
    })
}

fn synq_ports() -> (Vec<u16>, i32) {
    let mut s = Stack::new(StackConfig::new(Ipv4Addr::new(192, 0, 2, 1)));
    s.sysctl.set("net.ipv4.ip_local_port_range", RANGE).unwrap();
    let server = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 5000);
    let mut connect = || {
        let fd = s.socket(AF_INET, SOCK_STREAM, 0).unwrap();
        match s.connect(Instant::ZERO, fd, server) {
            Err(Errno::EINPROGRESS) => Ok(s.getsockname(fd).unwrap().port()),
            Err(e) => Err(e.raw()),
            Ok(()) => unreachable!("a SYN needs an answer"),
        }
    };
    let ports = (0..PORTS).map(|_| connect().expect("synq connect")).collect();
    (ports, connect().unwrap_err())
}

/// What must hold of either stack's ports. The first pass gives the even ports. After each
/// find the search's start moves on by 2–16 (`i = max(i, rand(0..8) * 2)`, plus 2) and then
/// skips the ports already held, so the gap from one port to the next, less the held ports
/// it passes over, is 2–16. The hash behind the start changes every 10 s of the kernel's
/// clock: a run that crosses such a boundary may jump once.
fn check_structure(who: &str, ports: &[u16], extra: i32) {
    let range = PORTS as u16;
    let even = &ports[..PORTS / 2];
    assert!(
        even.iter().all(|p| (p - LOW) % 2 == 0),
        "{who}: low's parity first: {even:?}"
    );
    let mut held = std::collections::HashSet::from([even[0]]);
    let mut jumps = Vec::new();
    for w in even.windows(2) {
        let (from, to) = (w[0] - LOW, w[1] - LOW);
        let raw = (to + range - from) % range;
        let passed = (1..raw / 2)
            .filter(|k| held.contains(&(LOW + (from + 2 * k) % range)))
            .count() as u16;
        let gap = raw - 2 * passed;
        if !(2..=16).contains(&gap) {
            jumps.push((w[0], w[1], gap));
        }
        held.insert(w[1]);
    }
    assert!(jumps.len() <= 1, "{who}: gaps outside 2-16: {jumps:?} in {even:?}");
    let mut all = ports.to_vec();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), PORTS, "{who}: every port of the range once");
    assert_eq!(extra, Errno::EADDRNOTAVAIL.raw(), "{who}: a full range");
}

#[test]
fn connect_ports_have_the_kernels_parity_and_step_structure() {
    if let Some(why) = unavailable() {
        return skip_or_fail("connect kernel differential test", &why);
    }
    let (kernel, kernel_extra) = match kernel_ports() {
        Ok(v) => v,
        Err(why) => return skip_or_fail("connect kernel differential test", &why),
    };
    check_structure("kernel", &kernel, kernel_extra);
    let (synq, synq_extra) = synq_ports();
    check_structure("synq", &synq, synq_extra);
}
