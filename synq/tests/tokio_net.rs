//! `synq::tokio` runs `tokio::net` code unchanged but for its imports: the same source
//! (`common/tokio_echo.rs`) is built once on `tokio::net` (the kernel) and once on
//! `synq::tokio`, and the two talk over a TUN device in a network namespace the test makes
//! (192.0.2.1 the kernel, 192.0.2.2 synq; nothing leaves it): 20 connections at once, 100 kB
//! each way on each, split into halves, the writer half-closing while its reader goes on.
//! Without root or `/dev/net/tun` the test says it skipped; under `CI=true` it must run.

mod on_tokio {
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    include!("common/tokio_echo.rs");
}

mod on_synq {
    use std::net::SocketAddr;
    use synq::tokio::{TcpListener, TcpStream};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    include!("common/tokio_echo.rs");
}

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use synq_core::Errno;

const KERNEL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SYNQ: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const CONNECTIONS: usize = 20;

#[test]
fn tokio_code_runs_on_synq_by_its_imports() {
    if let Some(why) = synq_peer::tun_unavailable() {
        return synq_peer::skip_or_fail("tokio_net", &why);
    }
    synq_peer::in_fresh_netns(&[], || {
        let driver = synq::on_tun(SYNQ, &synq::TunConfig::new("synq0", KERNEL, 24)).expect("TUN");
        assert!(synq::tokio::set_default(driver).is_ok());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let message: Arc<Vec<u8>> = Arc::new((0..100_000u32).map(|i| (i * 7 % 251) as u8).collect());
            let asks = |on_synq: bool, to: SocketAddr| {
                let message = message.clone();
                (0..CONNECTIONS).map(move |_| {
                    let m = message.clone();
                    tokio::spawn(async move {
                        let back = if on_synq {
                            on_synq::ask(to, &m).await
                        } else {
                            on_tokio::ask(to, &m).await
                        };
                        assert!(back.expect("ask") == *m, "{} bytes back", m.len());
                    })
                })
            };

            // synq serves, the kernel asks.
            let listener = synq::tokio::TcpListener::bind((SYNQ, 7000)).await.unwrap();
            assert_eq!(
                listener.local_addr().unwrap(),
                SocketAddr::V4(SocketAddrV4::new(SYNQ, 7000))
            );
            let server = tokio::spawn(on_synq::echo(listener, CONNECTIONS));
            for ask in asks(false, SocketAddr::V4(SocketAddrV4::new(SYNQ, 7000))).collect::<Vec<_>>() {
                ask.await.unwrap();
            }
            server.await.unwrap().unwrap();

            // The kernel serves, synq asks.
            let listener = tokio::net::TcpListener::bind((KERNEL, 7001)).await.unwrap();
            let server = tokio::spawn(on_tokio::echo(listener, CONNECTIONS));
            for ask in asks(true, SocketAddr::V4(SocketAddrV4::new(KERNEL, 7001))).collect::<Vec<_>>() {
                ask.await.unwrap();
            }
            server.await.unwrap().unwrap();

            // Linux's errors, as io::Error with their errno.
            let e = synq::tokio::TcpStream::connect((KERNEL, 7002))
                .await
                .err()
                .expect("refused");
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
            assert_eq!(e.raw_os_error(), Some(Errno::ECONNREFUSED.raw()));
        });
    })
    .expect("a network namespace");
}
