//! `synq serve` and `synq connect` against the kernel, each on a TUN device it creates in a
//! network namespace the test makes (documentation addresses that exist only inside it).
//! Without root or `/dev/net/tun` the test says it skipped; under `CI=true` it must run.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

mod common;
use common::{serve, synq_connect, SYNQ};

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 253) as u8).collect()
}

#[test]
fn serve_and_connect_talk_to_the_kernel_over_tun() {
    if let Some(why) = synq_peer::tun_unavailable() {
        return synq_peer::skip_or_fail("tun_cli", &why);
    }
    let dir = std::env::temp_dir().join(format!("synq-tun-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let inside = dir.clone();
    synq_peer::in_fresh_netns(&[], move || {
        let dir = inside;
        let data = payload(300_000);

        // serve --echo (on a device without offloads): a kernel client gets its bytes back.
        let pcap = dir.join("echo.pcap");
        let echo = serve(
            &dir,
            "synq0",
            "192.0.2",
            &[
                "--port",
                "7",
                "--echo",
                "--no-offload",
                "--pcap",
                pcap.to_str().unwrap(),
            ],
        );
        let mut s = TcpStream::connect("192.0.2.2:7").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let writer = {
            let (mut s, data) = (s.try_clone().unwrap(), data.clone());
            std::thread::spawn(move || {
                s.write_all(&data).unwrap();
                s.shutdown(Shutdown::Write).unwrap();
            })
        };
        let mut back = Vec::new();
        s.read_to_end(&mut back).unwrap();
        writer.join().unwrap();
        assert!(back == data, "echoed {} of {} bytes", back.len(), data.len());

        // serve --http DIR: GET /file answers with the file.
        std::fs::write(dir.join("file"), &data).unwrap();
        let http = serve(
            &dir,
            "synq1",
            "198.51.100",
            &["--port", "80", "--http", dir.to_str().unwrap()],
        );
        let mut s = TcpStream::connect("198.51.100.2:80").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /file HTTP/1.1\r\nHost: synq\r\n\r\n").unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a header") + 4;
        let head = String::from_utf8_lossy(&answer[..split]);
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(head.contains(&format!("Content-Length: {}", data.len())), "{head}");
        assert!(answer[split..] == data[..], "the file's bytes");

        for served in [echo, http] {
            let out = served.stop();
            assert!(out.contains("stopped"), "{out}");
        }
        // --pcap: the echo's datagrams both ways, the kernel's SYN first among its TCP ones.
        let mut reader = pcap_file::pcap::PcapReader::new(std::fs::File::open(&pcap).unwrap()).unwrap();
        let mut tcp = Vec::new();
        while let Some(p) = reader.next_packet() {
            let d = p.unwrap().data.into_owned();
            if d.len() >= 40 && d[9] == 6 {
                tcp.push(d);
            }
        }
        assert!(tcp.len() > 100, "{} TCP datagrams", tcp.len());
        assert_eq!(
            (&tcp[0][12..16], tcp[0][33] & 0x12),
            (&[192, 0, 2, 1][..], 0x02),
            "the SYN"
        );
        assert_eq!(
            (&tcp[1][12..16], tcp[1][33] & 0x12),
            (&[192, 0, 2, 2][..], 0x12),
            "the SYN-ACK"
        );

        // connect: to a kernel echo server (listening on every address: the device comes
        // with synq connect), a file there and back.
        let input = dir.join("in");
        let output = dir.join("out");
        std::fs::write(&input, &data).unwrap();
        let l = TcpListener::bind("0.0.0.0:9000").unwrap();
        let kernel = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            s.write_all(&got).unwrap();
        });
        let out = synq_connect(
            &dir,
            &[
                "203.0.113.1:9000".as_ref(),
                "--send".as_ref(),
                input.as_os_str(),
                "--recv".as_ref(),
                output.as_os_str(),
            ],
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        kernel.join().unwrap();
        assert!(std::fs::read(&output).unwrap() == data, "the file came back");

        // A closed port: exit status 1 and Linux's words.
        let out = synq_connect(&dir, &["203.0.113.1:9001".as_ref()]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Connection refused"), "{err}");
    })
    .expect("a network namespace");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_serves_a_file_to_the_kernels_client_and_tears_down() {
    if let Some(why) = synq_peer::tun_unavailable() {
        return synq_peer::skip_or_fail("demo", &why);
    }
    let out = Command::new(SYNQ).args(["demo", "--size", "200000"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("200000 bytes in") && text.contains("identical to the file"),
        "{text}"
    );
    assert!(text.contains("TcpPassiveOpens 1"), "{text}");
    assert!(text.ends_with("device and namespace gone\n"), "{text}");
}

#[test]
fn bench_tun_prints_throughput_and_connection_rates_with_ratios() {
    if let Some(why) = synq_peer::tun_unavailable() {
        return synq_peer::skip_or_fail("bench_tun", &why);
    }
    let out = Command::new(SYNQ)
        .args(["bench", "tun", "--mb", "4", "--conns", "50", "--runs", "1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for row in ["kernel → stack", "stack → kernel", "kernel client, one by one"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("{row}: {text}"));
        assert!(line.trim_end().ends_with('x'), "{line}");
    }
}
