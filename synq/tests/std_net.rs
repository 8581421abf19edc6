//! `synq::net` runs `std::net` code unchanged but for its imports: the same source
//! (`common/echo.rs`) is built once on `std::net` (the kernel) and once on `synq::net`, and
//! the two talk over a TUN device in a network namespace the test makes (192.0.2.1 the
//! kernel, 192.0.2.2 synq; nothing leaves it). Without root or `/dev/net/tun` the test says
//! it skipped; under `CI=true` it must run.

mod on_std {
    use std::io::{Read, Write};
    use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
    include!("common/echo.rs");
}

mod on_synq {
    use std::io::{Read, Write};
    use std::net::{Shutdown, SocketAddr};
    use synq::net::{TcpListener, TcpStream};
    include!("common/echo.rs");
}

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

const KERNEL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SYNQ: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

#[test]
fn std_net_code_runs_on_synq_by_its_imports() {
    if let Some(why) = synq_peer::tun_unavailable() {
        return synq_peer::skip_or_fail("std_net", &why);
    }
    synq_peer::in_fresh_netns(&[], || {
        let driver = synq::on_tun(SYNQ, &synq::TunConfig::new("synq0", KERNEL, 24)).expect("TUN");
        assert!(synq::net::set_default(driver).is_ok());
        let message: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();

        // synq serves, the kernel asks.
        let listener = synq::net::TcpListener::bind((SYNQ, 7000)).unwrap();
        assert_eq!(
            listener.local_addr().unwrap(),
            SocketAddr::V4(SocketAddrV4::new(SYNQ, 7000))
        );
        let server = std::thread::spawn(move || on_synq::echo_one(listener));
        let back = on_std::ask(SocketAddr::V4(SocketAddrV4::new(SYNQ, 7000)), &message).unwrap();
        assert!(back == message, "the kernel got its {} bytes back", message.len());
        server.join().unwrap().unwrap();

        // The kernel serves, synq asks.
        let listener = std::net::TcpListener::bind((KERNEL, 7001)).unwrap();
        let server = std::thread::spawn(move || on_std::echo_one(listener));
        let back = on_synq::ask(SocketAddr::V4(SocketAddrV4::new(KERNEL, 7001)), &message).unwrap();
        assert!(back == message, "synq got its {} bytes back", message.len());
        server.join().unwrap().unwrap();

        // Linux's errors, as io::Error with their errno.
        let e = synq::net::TcpStream::connect((KERNEL, 7002)).err().expect("refused");
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        assert_eq!(e.raw_os_error(), Some(libc_econnrefused()));
    })
    .expect("a network namespace");
}

fn libc_econnrefused() -> i32 {
    synq_core::Errno::ECONNREFUSED.raw()
}
