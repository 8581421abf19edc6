//! Linux's sysctl knobs that synq's scope touches, under their Linux names, with Linux 6.18's
//! defaults and Linux's validation of written values (`proc_dointvec`, `proc_dou8vec_minmax`,
//! `ipv4_local_port_range`, `ipv4_privileged_ports`, `proc_do_large_bitmap`, each with the
//! bounds `net/ipv4/sysctl_net_ipv4.c` gives it).
//!
//! The core reads the fields directly (`sysctl.tcp_syncookies`); drivers and the CLI set them
//! by dotted name and value text, as `sysctl -w` does, and get `EINVAL` for a value Linux
//! refuses. An unknown name gives `ENOENT`, as opening `/proc/sys/<name>` does on Linux.

use crate::base::errno::Errno;
use crate::inet::port_bitmap::PortBitmap;

/// Linux's `proc_do_large_bitmap` input for `ip_local_reserved_ports`: comma-separated
/// ports and `lo-hi` ranges, no spaces; the empty string clears the set.
fn parse_port_list(text: &str) -> Result<PortBitmap, Errno> {
    let mut set = PortBitmap::default();
    let text = text.trim_end_matches('\n');
    if text.is_empty() {
        return Ok(set);
    }
    for item in text.split(',') {
        let (lo, hi) = match item.split_once('-') {
            Some((lo, hi)) => (parse_port(lo)?, parse_port(hi)?),
            None => (parse_port(item)?, parse_port(item)?),
        };
        if hi < lo {
            return Err(Errno::EINVAL);
        }
        for p in lo..=hi {
            set.insert(p);
        }
    }
    Ok(set)
}

fn parse_port(s: &str) -> Result<u16, Errno> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Errno::EINVAL);
    }
    s.parse().map_err(|_| Errno::EINVAL)
}

/// The sysctl knobs of one stack (one network namespace, in Linux's terms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    /// `net.core.somaxconn`: listen() backlog ceiling.
    pub somaxconn: i32,
    /// `net.core.rmem_max`: SO_RCVBUF ceiling and a window-scale input.
    pub rmem_max: i32,
    /// `net.core.wmem_max`: SO_SNDBUF ceiling.
    pub wmem_max: i32,
    /// `net.ipv4.ip_local_port_range`: ephemeral ports, inclusive.
    pub ip_local_port_range: (u16, u16),
    /// `net.ipv4.ip_local_reserved_ports`: never chosen automatically.
    pub ip_local_reserved_ports: PortBitmap,
    /// `net.ipv4.ip_unprivileged_port_start`: ports below need CAP_NET_BIND_SERVICE.
    pub ip_unprivileged_port_start: u16,
    /// `net.ipv4.ip_nonlocal_bind`: bind() to addresses that are not local.
    pub ip_nonlocal_bind: u8,
    /// `net.ipv4.ip_autobind_reuse`: let autobind share a port with SO_REUSEADDR owners.
    pub ip_autobind_reuse: u8,
    /// `net.ipv4.ip_default_ttl`: TTL of outgoing datagrams.
    pub ip_default_ttl: u8,
    /// `net.ipv4.tcp_syncookies`: 0 never, 1 when the SYN queue overflows, 2 always.
    pub tcp_syncookies: u8,
    /// `net.ipv4.tcp_max_syn_backlog`: SYN-queue bound (memory-dependent in Linux; 2048 on
    /// our machines).
    pub tcp_max_syn_backlog: i32,
    /// `net.ipv4.tcp_synack_retries`: SYN-ACK retransmissions before a request is dropped.
    pub tcp_synack_retries: u8,
    /// `net.ipv4.tcp_syn_retries`: SYN retransmissions before connect() fails.
    pub tcp_syn_retries: u8,
    /// `net.ipv4.tcp_syn_linear_timeouts`: SYN retransmissions at the initial RTO before the
    /// exponential back-off starts.
    pub tcp_syn_linear_timeouts: u8,
    /// `net.ipv4.tcp_abort_on_overflow`: RST instead of drop when the accept queue is full.
    pub tcp_abort_on_overflow: u8,
    /// `net.ipv4.tcp_tw_reuse`: 0 off, 1 on, 2 loopback only.
    pub tcp_tw_reuse: u8,
    /// `net.ipv4.tcp_tw_reuse_delay`: milliseconds a TIME_WAIT must age before reuse.
    pub tcp_tw_reuse_delay: u32,
    /// `net.ipv4.tcp_min_tso_segs`: the fewest segments a TSO/GSO packet is sized to.
    pub tcp_min_tso_segs: u8,
    /// `net.ipv4.tcp_tso_win_divisor`: a packet shorter than the TSO size is not deferred
    /// once this fraction of the window can go (`tcp_tso_should_defer`; 0: three segments).
    pub tcp_tso_win_divisor: u8,
    /// `net.ipv4.tcp_notsent_lowat`: unsent bytes above which a socket takes no more writes
    /// (`TCP_NOTSENT_LOWAT` when the socket sets none).
    pub tcp_notsent_lowat: u32,
    /// `net.ipv4.tcp_pacing_ss_ratio`, `tcp_pacing_ca_ratio`: the pacing rate, in percent of
    /// cwnd × mss per srtt, in slow start and after.
    pub tcp_pacing_ss_ratio: u32,
    pub tcp_pacing_ca_ratio: u32,
    /// `net.ipv4.tcp_tso_rtt_log`: how fast a close peer's allowance for bigger TSO packets
    /// fades with the minimum RTT (halved every 2^log µs).
    pub tcp_tso_rtt_log: u8,
    /// `net.ipv4.tcp_timestamps`: RFC 7323 timestamps (1: with random offsets).
    pub tcp_timestamps: u8,
    /// `net.ipv4.tcp_sack`: RFC 2018 selective acknowledgments.
    pub tcp_sack: u8,
    /// `net.ipv4.tcp_window_scaling`: RFC 7323 window scaling.
    pub tcp_window_scaling: u8,
    /// `net.ipv4.tcp_ecn`: 0 off, 1 request and accept, 2 accept only.
    pub tcp_ecn: u8,
    /// `net.ipv4.tcp_fin_timeout`: FIN_WAIT_2 lifetime of orphans, seconds.
    pub tcp_fin_timeout: i32,
    /// `net.ipv4.tcp_max_tw_buckets`: TIME_WAIT sockets the stack keeps at most.
    pub tcp_max_tw_buckets: i32,
    /// `net.ipv4.tcp_rmem`: receive buffer min, default, max.
    pub tcp_rmem: [i32; 3],
    /// `net.ipv4.tcp_wmem`: send buffer min, default, max.
    pub tcp_wmem: [i32; 3],
    /// `net.ipv4.tcp_mem`: pages all connections may hold — below the first no pressure any
    /// more, above the second under pressure, never above the third (what this kernel picks
    /// on our machines).
    pub tcp_mem: [i32; 3],
    /// `net.ipv4.tcp_rfc1337`: TIME_WAIT ignores RST (RFC 1337) when 1.
    pub tcp_rfc1337: u8,
    /// `net.ipv4.tcp_challenge_ack_limit`: challenge ACKs per second.
    pub tcp_challenge_ack_limit: i32,
    /// `net.ipv4.tcp_orphan_retries`: retransmissions of orphaned sockets (0 means 8).
    pub tcp_orphan_retries: u8,
    /// `net.ipv4.tcp_retries1`: retransmissions before reporting to the network layer.
    pub tcp_retries1: u8,
    /// `net.ipv4.tcp_retries2`: retransmissions before an established connection dies.
    pub tcp_retries2: u8,
    /// `net.ipv4.tcp_rto_min_us`: RTO floor, microseconds.
    pub tcp_rto_min_us: i32,
    /// `net.ipv4.tcp_rto_max_ms`: RTO ceiling, milliseconds.
    pub tcp_rto_max_ms: i32,
    /// `net.ipv4.tcp_invalid_ratelimit`: minimum gap between duplicate ACKs sent in answer to
    /// invalid segments, milliseconds.
    pub tcp_invalid_ratelimit: i32,
    /// `net.ipv4.tcp_congestion_control`: the algorithm new connections run (`cubic` or
    /// `reno`; another name is `ENOENT`, as Linux answers for one not built in).
    pub tcp_congestion_control: &'static str,
    /// `net.ipv4.tcp_reordering`: the initial duplicate-ACK threshold.
    pub tcp_reordering: i32,
    /// `net.ipv4.tcp_keepalive_time`, `_intvl` (s) and `_probes`: keepalive's idle time
    /// before the first probe, the gap between probes, and unanswered probes before giving up.
    pub tcp_keepalive_time: i32,
    pub tcp_keepalive_intvl: i32,
    pub tcp_keepalive_probes: u8,
    /// `net.ipv4.tcp_slow_start_after_idle`: a send after more than an RTO of silence starts
    /// from the initial window again (RFC 2861).
    pub tcp_slow_start_after_idle: u8,
    /// `net.ipv4.tcp_frto`: F-RTO (RFC 5682) after a timeout; 0 off.
    pub tcp_frto: u8,
    /// `net.ipv4.tcp_early_retrans`: 3 or 4 enable the tail loss probe (TLP), 0 disables it.
    pub tcp_early_retrans: u8,
}

/// Linux 6.18's defaults, as read on our machines.
impl Default for Sysctl {
    fn default() -> Self {
        Sysctl {
            somaxconn: 4096,
            rmem_max: 4_194_304,
            wmem_max: 4_194_304,
            ip_local_port_range: (32768, 60999),
            ip_local_reserved_ports: PortBitmap::default(),
            ip_unprivileged_port_start: 1024,
            ip_nonlocal_bind: 0,
            ip_autobind_reuse: 0,
            ip_default_ttl: 64,
            tcp_syncookies: 1,
            tcp_max_syn_backlog: 2048,
            tcp_synack_retries: 5,
            tcp_syn_retries: 6,
            tcp_syn_linear_timeouts: 4,
            tcp_abort_on_overflow: 0,
            tcp_tw_reuse: 2,
            tcp_tw_reuse_delay: 1000,
            tcp_min_tso_segs: 2,
            tcp_tso_win_divisor: 3,
            tcp_notsent_lowat: u32::MAX,
            tcp_pacing_ss_ratio: 200,
            tcp_pacing_ca_ratio: 120,
            tcp_tso_rtt_log: 9,
            tcp_timestamps: 1,
            tcp_sack: 1,
            tcp_window_scaling: 1,
            tcp_ecn: 2,
            tcp_fin_timeout: 60,
            tcp_max_tw_buckets: 131_072,
            tcp_rmem: [4096, 131_072, 33_554_432],
            tcp_wmem: [4096, 16384, 4_194_304],
            tcp_mem: [287_907, 383_877, 575_814],
            tcp_rfc1337: 0,
            tcp_challenge_ack_limit: i32::MAX,
            tcp_orphan_retries: 0,
            tcp_retries1: 3,
            tcp_retries2: 15,
            tcp_rto_min_us: 200_000,
            tcp_rto_max_ms: 120_000,
            tcp_invalid_ratelimit: 500,
            tcp_congestion_control: "cubic",
            tcp_reordering: 3,
            tcp_early_retrans: 3,
            tcp_frto: 2,
            tcp_slow_start_after_idle: 1,
            tcp_keepalive_time: 7200,
            tcp_keepalive_intvl: 75,
            tcp_keepalive_probes: 9,
        }
    }
}

/// Splits a written value into integers the way `proc_dointvec` reads them: whitespace
/// separated, an optional `-`, no `+`, nothing else. At most `max` are taken (Linux ignores
/// the rest).
fn ints(text: &str, max: usize) -> Result<Vec<i64>, Errno> {
    text.split_ascii_whitespace()
        .take(max)
        .map(|t| {
            let digits = t.strip_prefix('-').unwrap_or(t);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Errno::EINVAL);
            }
            t.parse::<i64>().map_err(|_| Errno::EINVAL)
        })
        .collect()
}

/// One integer within `[min, max]`.
fn int_in(text: &str, min: i64, max: i64) -> Result<i64, Errno> {
    match ints(text, 1)?.first() {
        Some(&v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(Errno::EINVAL),
    }
}

/// Up to `N` integers, each within `[min, max]`, written over the first values of `current`.
fn vec_in<const N: usize>(text: &str, min: i64, max: i64, current: [i64; N]) -> Result<[i64; N], Errno> {
    let mut out = current;
    let values = ints(text, N)?;
    if values.is_empty() {
        return Err(Errno::EINVAL);
    }
    for (slot, v) in out.iter_mut().zip(values) {
        if !(min..=max).contains(&v) {
            return Err(Errno::EINVAL);
        }
        *slot = v;
    }
    Ok(out)
}

type Getter = fn(&Sysctl) -> String;
type Setter = fn(&mut Sysctl, &str) -> Result<(), Errno>;

/// One knob: its dotted name, how to print it and how to write it.
struct Knob {
    name: &'static str,
    get: Getter,
    set: Setter,
}

const I32_MAX: i64 = i32::MAX as i64;
const I32_MIN: i64 = i32::MIN as i64;

/// A scalar knob: `field` of integer type, written within `[min, max]`.
macro_rules! scalar {
    ($name:literal, $field:ident, $min:expr, $max:expr) => {
        Knob {
            name: $name,
            get: |s| s.$field.to_string(),
            set: |s, v| {
                s.$field = int_in(v, $min, $max)?.try_into().map_err(|_| Errno::EINVAL)?;
                Ok(())
            },
        }
    };
}

/// A three-integer knob (`tcp_rmem`, `tcp_wmem`): each at least 1.
macro_rules! triple {
    ($name:literal, $field:ident) => {
        Knob {
            name: $name,
            get: |s| format!("{}\t{}\t{}", s.$field[0], s.$field[1], s.$field[2]),
            set: |s, v| {
                let cur = s.$field.map(i64::from);
                s.$field = vec_in(v, 1, I32_MAX, cur)?.map(|x| x as i32);
                Ok(())
            },
        }
    };
}

const KNOBS: &[Knob] = &[
    scalar!("net.core.somaxconn", somaxconn, 0, I32_MAX),
    scalar!("net.core.rmem_max", rmem_max, 0, I32_MAX),
    scalar!("net.core.wmem_max", wmem_max, 0, I32_MAX),
    Knob {
        name: "net.ipv4.ip_local_port_range",
        get: |s| format!("{}\t{}", s.ip_local_port_range.0, s.ip_local_port_range.1),
        // `ipv4_local_port_range`: each within 1..=65535, low ≤ high, and low not below
        // ip_unprivileged_port_start.
        set: |s, v| {
            let (lo, hi) = s.ip_local_port_range;
            let [lo, hi] = vec_in(v, 1, 65535, [i64::from(lo), i64::from(hi)])?;
            if hi < lo || lo < i64::from(s.ip_unprivileged_port_start) {
                return Err(Errno::EINVAL);
            }
            s.ip_local_port_range = (lo as u16, hi as u16);
            Ok(())
        },
    },
    Knob {
        name: "net.ipv4.ip_local_reserved_ports",
        get: |s| s.ip_local_reserved_ports.to_string(),
        set: |s, v| {
            s.ip_local_reserved_ports = parse_port_list(v)?;
            Ok(())
        },
    },
    Knob {
        name: "net.ipv4.ip_unprivileged_port_start",
        get: |s| s.ip_unprivileged_port_start.to_string(),
        // `ipv4_privileged_ports`: 0..=65535 and not above the local range's low end.
        set: |s, v| {
            let v = int_in(v, 0, 65535)?;
            if v > i64::from(s.ip_local_port_range.0) {
                return Err(Errno::EINVAL);
            }
            s.ip_unprivileged_port_start = v as u16;
            Ok(())
        },
    },
    scalar!("net.ipv4.ip_nonlocal_bind", ip_nonlocal_bind, 0, 255),
    scalar!("net.ipv4.ip_autobind_reuse", ip_autobind_reuse, 0, 1),
    scalar!("net.ipv4.ip_default_ttl", ip_default_ttl, 1, 255),
    scalar!("net.ipv4.tcp_syncookies", tcp_syncookies, 0, 255),
    scalar!("net.ipv4.tcp_max_syn_backlog", tcp_max_syn_backlog, I32_MIN, I32_MAX),
    scalar!("net.ipv4.tcp_synack_retries", tcp_synack_retries, 0, 255),
    scalar!("net.ipv4.tcp_syn_retries", tcp_syn_retries, 1, 127),
    scalar!("net.ipv4.tcp_syn_linear_timeouts", tcp_syn_linear_timeouts, 0, 127),
    scalar!("net.ipv4.tcp_abort_on_overflow", tcp_abort_on_overflow, 0, 255),
    scalar!("net.ipv4.tcp_tw_reuse", tcp_tw_reuse, 0, 2),
    scalar!("net.ipv4.tcp_tw_reuse_delay", tcp_tw_reuse_delay, 1, 60_000),
    scalar!("net.ipv4.tcp_min_tso_segs", tcp_min_tso_segs, 1, 255),
    scalar!("net.ipv4.tcp_tso_win_divisor", tcp_tso_win_divisor, 0, 255),
    scalar!("net.ipv4.tcp_notsent_lowat", tcp_notsent_lowat, 0, 4_294_967_295),
    scalar!("net.ipv4.tcp_pacing_ss_ratio", tcp_pacing_ss_ratio, 0, 1000),
    scalar!("net.ipv4.tcp_pacing_ca_ratio", tcp_pacing_ca_ratio, 0, 1000),
    scalar!("net.ipv4.tcp_tso_rtt_log", tcp_tso_rtt_log, 0, 255),
    scalar!("net.ipv4.tcp_timestamps", tcp_timestamps, 0, 255),
    scalar!("net.ipv4.tcp_sack", tcp_sack, 0, 255),
    scalar!("net.ipv4.tcp_window_scaling", tcp_window_scaling, 0, 255),
    scalar!("net.ipv4.tcp_ecn", tcp_ecn, 0, 2),
    scalar!("net.ipv4.tcp_fin_timeout", tcp_fin_timeout, I32_MIN, I32_MAX),
    scalar!("net.ipv4.tcp_max_tw_buckets", tcp_max_tw_buckets, I32_MIN, I32_MAX),
    triple!("net.ipv4.tcp_rmem", tcp_rmem),
    triple!("net.ipv4.tcp_wmem", tcp_wmem),
    triple!("net.ipv4.tcp_mem", tcp_mem),
    scalar!("net.ipv4.tcp_rfc1337", tcp_rfc1337, 0, 255),
    scalar!(
        "net.ipv4.tcp_challenge_ack_limit",
        tcp_challenge_ack_limit,
        I32_MIN,
        I32_MAX
    ),
    scalar!("net.ipv4.tcp_orphan_retries", tcp_orphan_retries, 0, 255),
    scalar!("net.ipv4.tcp_retries1", tcp_retries1, 0, 255),
    scalar!("net.ipv4.tcp_retries2", tcp_retries2, 0, 255),
    scalar!("net.ipv4.tcp_rto_min_us", tcp_rto_min_us, 1, I32_MAX),
    scalar!("net.ipv4.tcp_rto_max_ms", tcp_rto_max_ms, 1000, 120_000),
    scalar!("net.ipv4.tcp_invalid_ratelimit", tcp_invalid_ratelimit, 0, I32_MAX),
    Knob {
        name: "net.ipv4.tcp_congestion_control",
        get: |s| s.tcp_congestion_control.to_string(),
        set: |s, v| {
            s.tcp_congestion_control = match v.trim() {
                "cubic" => "cubic",
                "reno" => "reno",
                _ => return Err(Errno::ENOENT),
            };
            Ok(())
        },
    },
    scalar!("net.ipv4.tcp_reordering", tcp_reordering, I32_MIN, I32_MAX),
    scalar!("net.ipv4.tcp_early_retrans", tcp_early_retrans, 0, 4),
    scalar!("net.ipv4.tcp_frto", tcp_frto, 0, 255),
    scalar!("net.ipv4.tcp_slow_start_after_idle", tcp_slow_start_after_idle, 0, 255),
    scalar!("net.ipv4.tcp_keepalive_time", tcp_keepalive_time, 1, I32_MAX),
    scalar!("net.ipv4.tcp_keepalive_intvl", tcp_keepalive_intvl, 1, I32_MAX),
    scalar!("net.ipv4.tcp_keepalive_probes", tcp_keepalive_probes, 0, 255),
];

fn knob(name: &str) -> Result<&'static Knob, Errno> {
    let name = name.trim().replace('/', ".");
    KNOBS.iter().find(|k| k.name == name).ok_or(Errno::ENOENT)
}

impl Sysctl {
    /// Every knob's dotted name, in display order.
    pub fn names() -> impl Iterator<Item = &'static str> {
        KNOBS.iter().map(|k| k.name)
    }

    /// The value of `name` as `sysctl` prints it (vectors tab-separated). `ENOENT` for a name
    /// synq does not have.
    pub fn get(&self, name: &str) -> Result<String, Errno> {
        Ok((knob(name)?.get)(self))
    }

    /// Writes `value` to `name` as `sysctl -w name=value` would: `ENOENT` for an unknown name,
    /// `EINVAL` for a value Linux refuses, in which case nothing changes. Names may use dots
    /// or slashes (`net/ipv4/tcp_syncookies`).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), Errno> {
        let k = knob(name)?;
        let mut next = self.clone();
        (k.set)(&mut next, value)?;
        *self = next;
        Ok(())
    }

    /// Applies `name=value`, the argument form of `sysctl -w`.
    pub fn apply(&mut self, assignment: &str) -> Result<(), Errno> {
        let (name, value) = assignment.split_once('=').ok_or(Errno::EINVAL)?;
        self.set(name, value)
    }

    /// `(name, value, default)` for every knob.
    pub fn entries(&self) -> Vec<(&'static str, String, String)> {
        let defaults = Sysctl::default();
        KNOBS
            .iter()
            .map(|k| (k.name, (k.get)(self), (k.get)(&defaults)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_linux_6_18s() {
        let s = Sysctl::default();
        assert_eq!(s.get("net.core.somaxconn").unwrap(), "4096");
        assert_eq!(s.get("net.ipv4.ip_local_port_range").unwrap(), "32768\t60999");
        assert_eq!(s.get("net.ipv4.ip_local_reserved_ports").unwrap(), "");
        assert_eq!(s.get("net.ipv4.ip_unprivileged_port_start").unwrap(), "1024");
        assert_eq!(s.get("net.ipv4.tcp_rmem").unwrap(), "4096\t131072\t33554432");
        assert_eq!(s.get("net.ipv4.tcp_challenge_ack_limit").unwrap(), "2147483647");
        assert_eq!(s.get("net/ipv4/tcp_syncookies").unwrap(), "1");
        for (name, value, default) in s.entries() {
            assert_eq!(value, default, "{name}");
        }
    }

    /// Each row was checked by writing the value to /proc/sys in a fresh namespace of
    /// Linux 6.18.44 (true: accepted).
    #[test]
    fn writes_are_validated_like_linux() {
        let rows: &[(&str, &str, bool)] = &[
            ("net.ipv4.ip_local_port_range", "1024 2000", true),
            ("net.ipv4.ip_local_port_range", "1023 2000", false),
            ("net.ipv4.ip_local_port_range", "2000 2000", true),
            ("net.ipv4.ip_local_port_range", "2001 2000", false),
            ("net.ipv4.ip_local_port_range", "32768 65536", false),
            ("net.ipv4.ip_local_port_range", "32768", true),
            ("net.ipv4.ip_unprivileged_port_start", "32768", true),
            ("net.ipv4.ip_unprivileged_port_start", "32769", false),
            ("net.ipv4.ip_unprivileged_port_start", "-1", false),
            ("net.ipv4.tcp_syncookies", "255", true),
            ("net.ipv4.tcp_syncookies", "256", false),
            ("net.ipv4.tcp_syncookies", "abc", false),
            ("net.ipv4.tcp_syncookies", " 1", true),
            ("net.ipv4.tcp_syncookies", "+1", false),
            ("net.ipv4.tcp_tw_reuse", "3", false),
            ("net.ipv4.tcp_tw_reuse", "2", true),
            ("net.ipv4.tcp_syn_retries", "0", false),
            ("net.ipv4.tcp_syn_retries", "127", true),
            ("net.ipv4.tcp_syn_retries", "128", false),
            ("net.ipv4.tcp_synack_retries", "256", false),
            ("net.ipv4.tcp_fin_timeout", "-5", true),
            ("net.ipv4.tcp_max_syn_backlog", "-1", true),
            ("net.ipv4.tcp_max_syn_backlog", "2147483648", false),
            ("net.core.somaxconn", "-1", false),
            ("net.core.somaxconn", "2147483647", true),
            ("net.ipv4.tcp_rmem", "1 2", true),
            ("net.ipv4.tcp_rmem", "0 0 0", false),
            ("net.ipv4.tcp_rmem", "1 2 3 4", true),
            ("net.ipv4.tcp_wmem", "0 1 1", false),
            ("net.ipv4.ip_local_reserved_ports", "8080,9000-9002", true),
            ("net.ipv4.ip_local_reserved_ports", "9002-9000", false),
            ("net.ipv4.ip_local_reserved_ports", "70000", false),
            ("net.ipv4.ip_local_reserved_ports", " 8080 , 9000 ", false),
            ("net.ipv4.ip_local_reserved_ports", "", true),
            ("net.ipv4.tcp_syn_linear_timeouts", "128", false),
            ("net.ipv4.tcp_ecn", "3", false),
            ("net.ipv4.tcp_ecn", "2", true),
            ("net.ipv4.tcp_syncookies", "", false),
            ("net.ipv4.tcp_syncookies", "1x", false),
            ("net.ipv4.tcp_tw_reuse_delay", "60000", true),
            ("net.ipv4.tcp_tw_reuse_delay", "60001", false),
            ("net.ipv4.tcp_invalid_ratelimit", "-1", false),
            ("net.ipv4.tcp_tw_reuse_delay", "0", false),
            ("net.ipv4.ip_default_ttl", "0", false),
            ("net.ipv4.ip_default_ttl", "256", false),
            ("net.ipv4.ip_autobind_reuse", "2", false),
            ("net.ipv4.tcp_orphan_retries", "-1", false),
            ("net.ipv4.tcp_retries1", "256", false),
            ("net.ipv4.tcp_rto_max_ms", "999", false),
            ("net.ipv4.tcp_rto_max_ms", "120001", false),
            ("net.ipv4.tcp_rto_min_us", "0", false),
        ];
        for &(name, value, ok) in rows {
            let mut s = Sysctl::default();
            let before = s.clone();
            let got = s.set(name, value);
            assert_eq!(got.is_ok(), ok, "{name}={value:?}: {got:?}");
            if !ok {
                assert_eq!(got, Err(Errno::EINVAL));
                assert_eq!(s, before, "a refused write changes nothing");
            }
        }
    }

    #[test]
    fn partial_vector_writes_keep_the_rest() {
        let mut s = Sysctl::default();
        s.set("net.ipv4.tcp_rmem", "1 2").unwrap();
        assert_eq!(s.tcp_rmem, [1, 2, 33_554_432]);
        s.apply("net.ipv4.ip_local_port_range=40000 49999").unwrap();
        assert_eq!(s.ip_local_port_range, (40000, 49999));
    }

    #[test]
    fn reserved_ports_print_merged() {
        let mut s = Sysctl::default();
        s.set("net.ipv4.ip_local_reserved_ports", "9001,8080,9000-9002,1")
            .unwrap();
        assert_eq!(s.get("net.ipv4.ip_local_reserved_ports").unwrap(), "1,8080,9000-9002");
        assert!(s.ip_local_reserved_ports.contains(9002));
        assert!(!s.ip_local_reserved_ports.contains(9003));
        s.set("net.ipv4.ip_local_reserved_ports", "0-65535").unwrap();
        assert_eq!(s.get("net.ipv4.ip_local_reserved_ports").unwrap(), "0-65535");
    }

    #[test]
    fn unknown_names_are_enoent() {
        let mut s = Sysctl::default();
        assert_eq!(s.set("net.ipv4.tcp_nonexistent", "1"), Err(Errno::ENOENT));
        assert_eq!(s.get("tcp_syncookies"), Err(Errno::ENOENT));
        assert_eq!(s.apply("net.ipv4.tcp_sack"), Err(Errno::EINVAL));
    }
}
