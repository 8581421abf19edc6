//! The `synq` binary as a user runs it.

use std::process::Command;

fn synq(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_synq"))
        .args(args)
        .output()
        .expect("run synq");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn version() {
    let (ok, out, _) = synq(&["--version"]);
    assert!(ok);
    assert!(out.starts_with("synq "), "{out}");
}

#[test]
fn sysctl_lists_every_knob_with_linux_defaults() {
    let (ok, out, _) = synq(&["sysctl"]);
    assert!(ok);
    for line in [
        "net.core.somaxconn = 4096",
        "net.ipv4.ip_local_port_range = 32768 60999",
        "net.ipv4.tcp_syncookies = 1",
        "net.ipv4.tcp_synack_retries = 5",
        "net.ipv4.tcp_syn_retries = 6",
        "net.ipv4.tcp_tw_reuse = 2",
        "net.ipv4.tcp_fin_timeout = 60",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
    }
}

#[test]
fn sysctl_write_validates_like_linux() {
    let (ok, out, _) = synq(&["sysctl", "-w", "net.ipv4.tcp_syncookies=2"]);
    assert!(ok);
    assert_eq!(out.trim(), "net.ipv4.tcp_syncookies = 2    (default: 1)");
    let (ok, _, err) = synq(&["sysctl", "-w", "net.ipv4.tcp_tw_reuse=3"]);
    assert!(!ok);
    assert!(err.contains("Invalid argument"), "{err}");
    let (ok, _, err) = synq(&["sysctl", "-w", "net.ipv4.no_such_knob=1"]);
    assert!(!ok);
    assert!(err.contains("No such file or directory"), "{err}");
}

#[test]
fn sim_demo_prints_trace_and_writes_a_valid_deterministic_pcap() {
    let dir = std::env::temp_dir().join(format!("synq-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.pcap"), dir.join("b.pcap"));
    let (ok, out, err) = synq(&["sim", "--pcap", a.to_str().unwrap()]);
    assert!(ok, "{err}");
    // A synq client: its SYN from an even ephemeral port (connect()'s parity), the server's
    // SYN-ACK, the accept, the echo of its 12 bytes, both FINs, the strays' resets.
    let syn = out
        .lines()
        .find(|l| l.contains("client  10.0.0.1:") && l.contains("> 10.0.0.2:80: S "))
        .unwrap_or_else(|| panic!("{out}"));
    let port: u16 = syn
        .split("10.0.0.1:")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((32768..=60999).contains(&port) && port % 2 == 0, "{syn}");
    let to_client = format!("10.0.0.2:80 > 10.0.0.1:{port}: ");
    assert!(out.contains(&format!("{to_client}S. ")), "{out}");
    assert!(
        out.contains(&format!("server: accept() = 4, peer 10.0.0.1:{port}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{to_client}P. ")) && out.contains("(12) ack"),
        "{out}"
    );
    assert!(out.contains(&format!("{to_client}F. ")), "{out}");
    assert!(out.contains(&format!("10.0.0.1:{port} > 10.0.0.2:80: F. ")), "{out}");
    assert!(out.contains("10.0.0.2:81 > 10.0.0.1:40002: R. 0:0(0)"), "{out}");
    assert!(out.contains("TcpPassiveOpens"), "{out}");
    synq(&["sim", "--pcap", b.to_str().unwrap()]);
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(bytes, std::fs::read(&b).unwrap(), "same seed, same pcap");

    let mut reader = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
    assert_eq!(reader.header().datalink, pcap_file::DataLink::IPV4);
    let mut n = 0;
    while let Some(packet) = reader.next_packet() {
        let packet = packet.unwrap();
        let (ip, payload) = synq_wire::Ipv4Repr::parse_bytes(&packet.data).expect("valid IPv4");
        synq_wire::TcpRepr::parse(payload, ip.src_addr, ip.dst_addr).expect("valid TCP, checksum included");
        n += 1;
    }
    assert_eq!(n, 15);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nstat_prints_the_demo_servers_counters_in_nstat_layout() {
    let (ok, out, err) = synq(&["nstat", "--sim"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("#synq"), "{out}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(str::to_string)
    };
    assert_eq!(row("TcpPassiveOpens").unwrap().split_whitespace().nth(1), Some("1"));
    assert_eq!(row("TcpOutRsts").unwrap().split_whitespace().nth(1), Some("2"));
    assert!(row("TcpExtListenDrops").is_none(), "zeros only with -z");
    let (_, all, _) = synq(&["nstat", "--sim", "-z"]);
    assert!(all.lines().any(|l| l.starts_with("TcpExtListenDrops ")), "{all}");
}

#[test]
fn sim_rejects_a_bad_loss_probability() {
    let (ok, _, err) = synq(&["sim", "--loss", "1.5"]);
    assert!(!ok);
    assert!(err.contains("not a probability"), "{err}");
}

#[test]
fn bench_bind_prints_synq_and_kernel_side_by_side() {
    let (ok, out, err) = synq(&["bench", "bind", "--ports", "200", "--runs", "1"]);
    assert!(ok, "{err}");
    for label in ["0%", "90%", "99%", "odd"] {
        let rows: Vec<&str> = out.lines().filter(|l| l.trim_start().starts_with(label)).collect();
        assert_eq!(rows.len(), 2, "{label}: {out}");
        assert!(rows.iter().all(|r| r.contains("µs")), "{out}");
    }
    let (ok, _, err) = synq(&["bench", "bind", "--ports", "10"]);
    assert!(!ok && err.contains("--ports"), "{err}");
}

#[test]
fn bench_connect_prints_the_port_choice_and_whole_connections_with_ratios() {
    let (ok, out, err) = synq(&["bench", "connect", "--ports", "200", "--conns", "300", "--runs", "1"]);
    assert!(ok, "{err}");
    for label in [
        "empty",
        "90% established",
        "99% established",
        "90% TIME_WAIT",
        "99% TIME_WAIT",
    ] {
        let row = out
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("{label}: {out}"));
        assert!(row.contains(" ns"), "{row}");
    }
    assert!(out.contains("synq's slowest fill ÷ empty:"), "{out}");
    let row = out
        .lines()
        .find(|l| l.starts_with("socket+connect+accept+close"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.matches("/s").count() >= 2, "synq and smoltcp measured: {row}");
    let (ok, _, err) = synq(&["bench", "connect", "--ports", "10"]);
    assert!(!ok && err.contains("--ports"), "{err}");
}

#[test]
fn drill_reports_one_line_per_script_and_a_summary() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/drill");
    let (ok, out, _) = synq(&["drill", &format!("{root}/pass")]);
    assert!(ok, "{out}");
    assert!(out.lines().filter(|l| l.starts_with("pass ")).count() >= 3, "{out}");
    assert!(out.trim_end().ends_with("0 failed, 0 skipped"), "{out}");
    let (ok, out, err) = synq(&["drill", "--verbose", &format!("{root}/fail/wrong_flag.pkt")]);
    assert!(!ok);
    assert!(
        out.contains("FAIL")
            && out.contains("wrong_flag.pkt:3: error handling packet: live packet field tcp_ack: expected: 0 (0x0) vs actual: 1 (0x1)"),
        "{out}"
    );
    assert!(err.contains("1 script(s) failed"), "{err}");
    let (ok, _, err) = synq(&["drill", "no/such/script.pkt"]);
    assert!(!ok && err.contains("no such file"), "{err}");
}

/// A script that could not be run is not a pass: exit status 2, unless allowed.
#[test]
fn drill_exits_2_when_a_script_could_not_be_run() {
    let dir = std::env::temp_dir().join(format!("synq-cli-drill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("sched_yield.pkt");
    std::fs::write(&script, "0 sched_yield() = 0\n").unwrap();
    let path = script.to_str().unwrap();
    let status = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_synq"))
            .args(args)
            .output()
            .expect("run synq")
            .status
            .code()
    };
    assert_eq!(status(&["drill", path]), Some(2));
    assert_eq!(status(&["drill", "--allow-unsupported", path]), Some(0));
    std::fs::remove_dir_all(&dir).unwrap();
}
