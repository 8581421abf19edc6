//! The transparent listener (`IP_TRANSPARENT`) over TUN: the kernel's clients connect to
//! addresses that are not synq's, routed into the device; synq's listener takes each
//! connection and reports its original destination as `local_addr`. In a network namespace
//! the test makes (documentation addresses only). Without root or `/dev/net/tun` the test
//! says it skipped; under `CI=true` it must run.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};

#[test]
fn a_transparent_listener_takes_connections_to_any_address_routed_to_the_device() {
    if let Some(why) = synq_peer::tun_unavailable() {
        return synq_peer::skip_or_fail("transparent", &why);
    }
    synq_peer::in_fresh_netns(&[], || {
        let driver = synq::on_tun(
            [192, 0, 2, 2].into(),
            &synq::TunConfig::new("synq0", [192, 0, 2, 1].into(), 24),
        )
        .expect("TUN");
        for net in ["203.0.113.0/24", "198.51.100.0/24"] {
            synq_peer::ip(&["route", "add", net, "dev", "synq0"]).unwrap();
        }
        let listener = synq::net::TcpListener::bind_transparent_on(&driver, 9999).unwrap();
        let destinations: Vec<SocketAddr> = ["203.0.113.7:80", "203.0.113.8:443", "198.51.100.9:22"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let clients: Vec<_> = destinations
            .iter()
            .map(|&to| {
                std::thread::spawn(move || {
                    let mut s = std::net::TcpStream::connect(to).unwrap();
                    s.write_all(to.to_string().as_bytes()).unwrap();
                    s.shutdown(Shutdown::Write).unwrap();
                    let mut back = String::new();
                    s.read_to_string(&mut back).unwrap();
                    back
                })
            })
            .collect();
        for _ in &destinations {
            let (s, peer) = listener.accept().unwrap();
            assert_eq!(peer.ip().to_string(), "192.0.2.1");
            let mut said = String::new();
            (&s).read_to_string(&mut said).unwrap();
            // The client wrote where it was going: synq's side of it is that address.
            assert_eq!(s.local_addr().unwrap().to_string(), said);
            (&s).write_all(format!("you reached {said}").as_bytes()).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
        }
        for (c, to) in clients.into_iter().zip(&destinations) {
            assert_eq!(c.join().unwrap(), format!("you reached {to}"));
        }
        // Nothing else of the namespace is diverted: synq's own address keeps Linux's
        // answer for a closed port.
        let e = std::net::TcpStream::connect("192.0.2.2:9").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    })
    .expect("a network namespace");
}
