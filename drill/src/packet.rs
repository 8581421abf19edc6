//! Packet lines made real: inbound lines become datagrams from the script's remote end,
//! outbound datagrams are checked against their lines. Sequence numbers are packetdrill's:
//! the remote end's are the script's own, the stack's are relative to the ISN of its first
//! SYN or SYN-ACK in the flow; the stack's timestamps are relative to the first it sends.

use crate::ast::{IcmpSpec, TcpOptionSpec, TcpOptionsSpec, TcpSpec};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use synq_wire::{
    ip_proto, IcmpMessage, IcmpRepr, Ipv4Repr, TcpFlags, TcpOption, TcpOptionsIter, TcpPacket, IPV4_HEADER_LEN,
};

/// The address of the stack under test (packetdrill's `--local_ip` in Linux's selftests).
pub const LOCAL_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
/// The script's end (`--remote_ip`).
pub const REMOTE_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// Port of `bind(fd, ..., ...)` (`--bind_port`).
pub const BIND_PORT: u16 = 8080;
/// Port of `connect(fd, ..., ...)` (`--connect_port`).
pub const CONNECT_PORT: u16 = 8080;
/// The first remote port of passive flows; each new flow takes the next.
const FIRST_REMOTE_PORT: u16 = 47000;

/// One connection the script plays.
#[derive(Debug, Clone, Default)]
pub struct Flow {
    /// The stack's port.
    pub local_port: u16,
    /// The script's port.
    pub remote_port: u16,
    /// The stack's ISN, once its SYN or SYN-ACK was seen.
    pub local_isn: Option<u32>,
    /// Actual minus script TSval of the stack, once seen.
    pub ts_offset: Option<u32>,
    /// The script's SYN of this flow has been sent.
    pub remote_syn_sent: bool,
}

/// The flows of a run and the `-D` definitions packets may name.
#[derive(Debug, Default)]
pub struct Flows {
    flows: Vec<Flow>,
    next_remote_port: u16,
    /// `-D NAME=value` definitions (TFO cookies, ICMP codes).
    pub defines: HashMap<String, String>,
    /// Check outbound TCP checksums (off for a kernel that offloads them).
    pub verify_checksums: bool,
}

fn flags(text: &str) -> Result<TcpFlags, String> {
    let mut f = TcpFlags::NONE;
    for c in text.chars() {
        f |= match c {
            'S' => TcpFlags::SYN,
            'F' => TcpFlags::FIN,
            'R' => TcpFlags::RST,
            'P' => TcpFlags::PSH,
            '.' => TcpFlags::ACK,
            'U' => TcpFlags::URG,
            'E' => TcpFlags::ECE,
            'W' => TcpFlags::CWR,
            '-' => TcpFlags::NONE,
            other => return Err(format!("unknown TCP flag `{other}`")),
        };
    }
    Ok(f)
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

impl Flows {
    /// Flows for a run with these definitions.
    pub fn new(defines: HashMap<String, String>) -> Flows {
        Flows {
            flows: Vec::new(),
            next_remote_port: FIRST_REMOTE_PORT,
            defines,
            verify_checksums: true,
        }
    }

    /// The current flow.
    pub fn current(&mut self) -> &mut Flow {
        if self.flows.is_empty() {
            self.new_flow(BIND_PORT);
        }
        self.flows.last_mut().expect("one flow at least")
    }

    fn new_flow(&mut self, local_port: u16) -> &mut Flow {
        let remote_port = self.next_remote_port;
        self.next_remote_port += 1;
        self.flows.push(Flow {
            local_port,
            remote_port,
            ..Flow::default()
        });
        self.flows.last_mut().expect("pushed")
    }

    /// True when `bytes` is a TCP datagram of an earlier flow than the current one (a reset
    /// from a socket the script closed, say): packetdrill does not hold those against the
    /// script.
    pub fn belongs_to_earlier_flow(&self, bytes: &[u8]) -> bool {
        let Ok((ip, payload)) = Ipv4Repr::parse_bytes(bytes) else {
            return false;
        };
        let Ok(tcp) = TcpPacket::new_checked(payload) else {
            return false;
        };
        if ip.protocol != ip_proto::TCP || self.flows.len() < 2 {
            return false;
        }
        let key = (tcp.src_port(), tcp.dst_port());
        let (current, earlier) = self.flows.split_last().expect("two flows at least");
        (current.local_port, current.remote_port) != key && earlier.iter().any(|f| (f.local_port, f.remote_port) == key)
    }

    /// An active open: the stack connects to the script's connect port from a port it
    /// picks (learnt from its SYN).
    pub fn connect(&mut self) {
        self.flows.push(Flow {
            local_port: 0,
            remote_port: CONNECT_PORT,
            ..Flow::default()
        });
    }

    /// The datagram an inbound TCP line stands for. A SYN without ACK after the current
    /// flow's SYN opens a new flow from a fresh remote port, as packetdrill does.
    pub fn inbound_tcp(&mut self, spec: &TcpSpec) -> Result<Vec<u8>, String> {
        let f = flags(&spec.flags)?;
        if f.syn() && !f.ack() && self.flows.last().is_some_and(|fl| fl.remote_syn_sent) {
            let port = self.flows.last().map_or(BIND_PORT, |fl| fl.local_port);
            self.new_flow(port);
        }
        let defines = self.defines.clone();
        let flow = self.current();
        if f.syn() {
            flow.remote_syn_sent = true;
        }
        let mut options = Vec::new();
        if let TcpOptionsSpec::List(list) = &spec.options {
            for o in list {
                match o {
                    TcpOptionSpec::Nop => options.push(1),
                    TcpOptionSpec::Eol => options.push(0),
                    TcpOptionSpec::Mss(m) => options.extend_from_slice(&[2, 4, (m >> 8) as u8, *m as u8]),
                    TcpOptionSpec::WindowScale(w) => options.extend_from_slice(&[3, 3, *w]),
                    TcpOptionSpec::SackOk => options.extend_from_slice(&[4, 2]),
                    TcpOptionSpec::Sack(blocks) => {
                        options.extend_from_slice(&[5, (2 + 8 * blocks.len()) as u8]);
                        for (l, r) in blocks {
                            let isn = flow.local_isn.unwrap_or(0);
                            options.extend_from_slice(&isn.wrapping_add(*l).to_be_bytes());
                            options.extend_from_slice(&isn.wrapping_add(*r).to_be_bytes());
                        }
                    }
                    TcpOptionSpec::Timestamp { val, ecr } => {
                        let ecr = if *ecr == 0 {
                            0
                        } else {
                            ecr.wrapping_add(flow.ts_offset.unwrap_or(0))
                        };
                        options.extend_from_slice(&[8, 10]);
                        options.extend_from_slice(&val.to_be_bytes());
                        options.extend_from_slice(&ecr.to_be_bytes());
                    }
                    TcpOptionSpec::FastOpen(cookie) => {
                        let bytes = match cookie {
                            None => Vec::new(),
                            Some(c) => {
                                let text = defines.get(c).map_or(c.as_str(), String::as_str);
                                hex_bytes(text).ok_or(format!("FO cookie `{c}` is not hex (define it with -D)"))?
                            }
                        };
                        options.extend_from_slice(&[34, (2 + bytes.len()) as u8]);
                        options.extend_from_slice(&bytes);
                    }
                }
            }
        }
        if options.len() % 4 != 0 || options.len() > 40 {
            return Err(format!(
                "the options take {} bytes: not a multiple of 4 up to 40",
                options.len()
            ));
        }
        let header = 20 + options.len();
        let total = header + spec.len as usize;
        let mut seg = vec![0u8; total];
        seg[0..2].copy_from_slice(&flow.remote_port.to_be_bytes());
        seg[2..4].copy_from_slice(&flow.local_port.to_be_bytes());
        seg[4..8].copy_from_slice(&spec.seq.to_be_bytes());
        let ack = spec.ack.map_or(0, |a| a.wrapping_add(flow.local_isn.unwrap_or(0)));
        seg[8..12].copy_from_slice(&ack.to_be_bytes());
        seg[12..14].copy_from_slice(&((((header / 4) as u16) << 12) | f.0).to_be_bytes());
        seg[14..16].copy_from_slice(&(spec.win.unwrap_or(0) as u16).to_be_bytes());
        seg[18..20].copy_from_slice(&(spec.urg.unwrap_or(0) as u16).to_be_bytes());
        seg[20..header].copy_from_slice(&options);
        TcpPacket::new_unchecked(&mut seg[..]).fill_checksum(REMOTE_IP, LOCAL_IP);
        Ok(datagram(REMOTE_IP, LOCAL_IP, ip_proto::TCP, &seg))
    }

    /// The datagram an inbound ICMP line stands for: an error about the stack's segment
    /// `[seq:end(len)]` of the current flow.
    pub fn inbound_icmp(&mut self, spec: &IcmpSpec) -> Result<Vec<u8>, String> {
        let defines = self.defines.clone();
        let flow = self.current();
        let code_name = spec.code.as_deref().map(|c| defines.get(c).map_or(c, String::as_str));
        let message = match spec.kind.as_str() {
            "unreachable" => {
                let code = match code_name.unwrap_or("net_unreachable") {
                    "net_unreachable" => 0,
                    "host_unreachable" => 1,
                    "protocol_unreachable" => 2,
                    "port_unreachable" => 3,
                    "frag_needed" => 4,
                    "source_route_failed" => 5,
                    "net_unknown" => 6,
                    "host_unknown" => 7,
                    "net_prohibited" => 9,
                    "host_prohibited" => 10,
                    other => return Err(format!("unknown ICMP unreachable code `{other}`")),
                };
                IcmpMessage::DstUnreachable {
                    code,
                    next_hop_mtu: spec.mtu.unwrap_or(0) as u16,
                }
            }
            "time_exceeded" => IcmpMessage::TimeExceeded { code: 0 },
            other => return Err(format!("unsupported ICMP type `{other}`")),
        };
        let (seq, _, len) = spec.quoted.unwrap_or((0, 0, 0));
        let mut quoted = [0u8; 8];
        quoted[0..2].copy_from_slice(&flow.local_port.to_be_bytes());
        quoted[2..4].copy_from_slice(&flow.remote_port.to_be_bytes());
        quoted[4..8].copy_from_slice(&flow.local_isn.unwrap_or(0).wrapping_add(seq).to_be_bytes());
        let icmp = IcmpRepr {
            message,
            quoted_header: Ipv4Repr::new(LOCAL_IP, REMOTE_IP, ip_proto::TCP, 20 + len as usize),
            quoted_payload: &quoted,
        };
        let mut buf = vec![0u8; icmp.buffer_len()];
        icmp.emit(&mut buf).map_err(|e| e.to_string())?;
        Ok(datagram(REMOTE_IP, LOCAL_IP, ip_proto::ICMP, &buf))
    }

    /// Checks an outbound datagram against its line, learning the flow's ISN, port and
    /// timestamp offset as packetdrill does. The error says what differs.
    pub fn check_outbound(&mut self, spec: &TcpSpec, bytes: &[u8]) -> Result<(), String> {
        let (ip, payload) = Ipv4Repr::parse_bytes(bytes).map_err(|e| format!("outbound datagram: {e}"))?;
        if ip.protocol != ip_proto::TCP {
            return Err(format!("expected TCP, got IP protocol {}", ip.protocol));
        }
        let packet = TcpPacket::new_checked(payload).map_err(|e| format!("outbound TCP: {e}"))?;
        if self.verify_checksums && !packet.verify_checksum(ip.src_addr, ip.dst_addr) {
            return Err("outbound TCP checksum is wrong".into());
        }
        if (ip.src_addr, ip.dst_addr) != (LOCAL_IP, REMOTE_IP) {
            return Err(format!("outbound datagram from {} to {}", ip.src_addr, ip.dst_addr));
        }
        let want_flags = flags(&spec.flags)?;
        let flow = self.current();
        if flow.local_port == 0 {
            flow.local_port = packet.src_port();
        }
        if (packet.src_port(), packet.dst_port()) != (flow.local_port, flow.remote_port) {
            return Err(format!(
                "ports: expected {}>{} actual {}>{}",
                flow.local_port,
                flow.remote_port,
                packet.src_port(),
                packet.dst_port()
            ));
        }
        if packet.flags() != want_flags {
            return Err(format!("flags: expected {want_flags} actual {}", packet.flags()));
        }
        if want_flags.syn() && flow.local_isn.is_none() {
            flow.local_isn = Some(packet.seq_number().wrapping_sub(spec.seq));
        }
        let isn = flow.local_isn.unwrap_or(0);
        let seq = packet.seq_number().wrapping_sub(isn);
        if seq != spec.seq {
            return Err(format!("sequence number: expected {} actual {seq}", spec.seq));
        }
        if packet.payload().len() != spec.len as usize {
            return Err(format!(
                "payload: expected {} bytes actual {}",
                spec.len,
                packet.payload().len()
            ));
        }
        if let Some(ack) = spec.ack {
            if packet.ack_number() != ack {
                return Err(format!("ack: expected {ack} actual {}", packet.ack_number()));
            }
        }
        if let Some(win) = spec.win {
            if u32::from(packet.window_len()) != win {
                return Err(format!("window: expected {win} actual {}", packet.window_len()));
            }
        }
        let actual: Vec<TcpOption<'_>> = TcpOptionsIter::new(packet.options())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("outbound options: {e}"))?;
        match &spec.options {
            TcpOptionsSpec::Any => Ok(()),
            TcpOptionsSpec::Absent if actual.is_empty() => Ok(()),
            TcpOptionsSpec::Absent => Err(format!("options: expected none actual {}", show(&actual))),
            TcpOptionsSpec::List(want) => {
                let same_len = want.len() == actual.len();
                let mismatch = || format!("options: expected {} actual {}", show_spec(want), show(&actual));
                if !same_len {
                    return Err(mismatch());
                }
                for (w, a) in want.iter().zip(&actual) {
                    let ok = match (w, a) {
                        (TcpOptionSpec::Nop, TcpOption::NoOperation) | (TcpOptionSpec::Eol, TcpOption::EndOfList) => {
                            true
                        }
                        (TcpOptionSpec::Mss(m), TcpOption::MaxSegmentSize(x)) => m == x,
                        (TcpOptionSpec::WindowScale(w), TcpOption::WindowScale(x)) => w == x,
                        (TcpOptionSpec::SackOk, TcpOption::SackPermitted) => true,
                        (TcpOptionSpec::Sack(blocks), TcpOption::Sack(raw)) => {
                            let got: Vec<(u32, u32)> = raw
                                .chunks_exact(8)
                                .map(|b| {
                                    (
                                        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                                        u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                                    )
                                })
                                .collect();
                            *blocks == got
                        }
                        (TcpOptionSpec::Timestamp { val, ecr }, TcpOption::Timestamp(ts)) => {
                            // TSval follows the stack's clock: only its offset from the script's
                            // is learnt (for the ecr of later inbound packets), not checked.
                            flow.ts_offset.get_or_insert(ts.tsval.wrapping_sub(*val));
                            *ecr == ts.tsecr
                        }
                        (TcpOptionSpec::FastOpen(_), TcpOption::Unknown { kind: 34, .. }) => true,
                        _ => false,
                    };
                    if !ok {
                        return Err(mismatch());
                    }
                }
                Ok(())
            }
        }
    }
}

/// The TCP payload length of a datagram, if it is IPv4 + TCP.
pub fn tcp_payload_len(datagram: &[u8]) -> Option<usize> {
    let ip = synq_wire::Ipv4Packet::new_checked(datagram).ok()?;
    if ip.protocol() != ip_proto::TCP {
        return None;
    }
    TcpPacket::new_checked(ip.payload()).ok().map(|t| t.payload().len())
}

/// Joins `next` onto `first` as packetdrill aggregates a split segment: the same ports,
/// acknowledgment, window, header length and flags but PSH, FIN and CWR, a sequence number
/// that continues `first`'s, and (unless `next` completes `expected` bytes) the same size
/// as the segment before. The result has `first`'s header with `next`'s PSH and FIN.
pub fn join_segments(first: &[u8], next: &[u8], expected: usize) -> Result<Vec<u8>, String> {
    let parse = |d: &[u8]| -> Result<(usize, usize), String> {
        let ip = synq_wire::Ipv4Packet::new_checked(d).map_err(|e| e.to_string())?;
        let hl = ip.header_len();
        let tcp = TcpPacket::new_checked(ip.payload()).map_err(|e| e.to_string())?;
        Ok((hl, tcp.header_len()))
    };
    let (ihl_a, thl_a) = parse(first)?;
    let (ihl_b, thl_b) = parse(next)?;
    let a = TcpPacket::new_unchecked(&first[ihl_a..]);
    let b = TcpPacket::new_unchecked(&next[ihl_b..]);
    let loose = TcpFlags(!(TcpFlags::PSH.0 | TcpFlags::FIN.0 | TcpFlags::CWR.0));
    let so_far = a.payload().len();
    let same = (
        a.src_port(),
        a.dst_port(),
        a.ack_number(),
        a.window_len(),
        thl_a,
        a.flags().0 & loose.0,
    ) == (
        b.src_port(),
        b.dst_port(),
        b.ack_number(),
        b.window_len(),
        thl_b,
        b.flags().0 & loose.0,
    );
    if !same || b.seq_number() != a.seq_number().wrapping_add(so_far as u32) {
        return Err("a segment that does not continue the previous one".into());
    }
    let total = so_far + b.payload().len();
    if total > expected {
        return Err(format!(
            "segments add up to {total} bytes, more than the {expected} expected"
        ));
    }
    let mut out = first.to_vec();
    out.extend_from_slice(b.payload());
    let keep = a.flags().0 & !(TcpFlags::PSH.0 | TcpFlags::FIN.0);
    let late = b.flags().0 & (TcpFlags::PSH.0 | TcpFlags::FIN.0);
    let offset_flags = u16::from_be_bytes([out[ihl_a + 12], out[ihl_a + 13]]) & 0xfe00 | keep | late;
    out[ihl_a + 12..ihl_a + 14].copy_from_slice(&offset_flags.to_be_bytes());
    let total_len = out.len() as u16;
    out[2..4].copy_from_slice(&total_len.to_be_bytes());
    synq_wire::Ipv4Packet::new_unchecked(&mut out[..]).fill_checksum();
    let (src, dst) = (
        Ipv4Addr::new(out[12], out[13], out[14], out[15]),
        Ipv4Addr::new(out[16], out[17], out[18], out[19]),
    );
    TcpPacket::new_unchecked(&mut out[ihl_a..]).fill_checksum(src, dst);
    Ok(out)
}

fn datagram(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; IPV4_HEADER_LEN + payload.len()];
    Ipv4Repr::new(src, dst, protocol, payload.len())
        .emit(&mut out)
        .expect("sized");
    out[IPV4_HEADER_LEN..].copy_from_slice(payload);
    out
}

fn show(options: &[TcpOption<'_>]) -> String {
    let parts: Vec<String> = options
        .iter()
        .map(|o| match o {
            TcpOption::EndOfList => "eol".into(),
            TcpOption::NoOperation => "nop".into(),
            TcpOption::MaxSegmentSize(m) => format!("mss {m}"),
            TcpOption::WindowScale(w) => format!("wscale {w}"),
            TcpOption::SackPermitted => "sackOK".into(),
            TcpOption::Sack(raw) => format!("sack ({} blocks)", raw.len() / 8),
            TcpOption::Timestamp(ts) => format!("TS val {} ecr {}", ts.tsval, ts.tsecr),
            TcpOption::Unknown { kind, .. } => format!("kind {kind}"),
        })
        .collect();
    format!("<{}>", parts.join(","))
}

fn show_spec(options: &[TcpOptionSpec]) -> String {
    let parts: Vec<String> = options
        .iter()
        .map(|o| match o {
            TcpOptionSpec::Nop => "nop".into(),
            TcpOptionSpec::Eol => "eol".into(),
            TcpOptionSpec::Mss(m) => format!("mss {m}"),
            TcpOptionSpec::WindowScale(w) => format!("wscale {w}"),
            TcpOptionSpec::SackOk => "sackOK".into(),
            TcpOptionSpec::Sack(b) => format!("sack ({} blocks)", b.len()),
            TcpOptionSpec::Timestamp { val, ecr } => format!("TS val {val} ecr {ecr}"),
            TcpOptionSpec::FastOpen(_) => "FO".into(),
        })
        .collect();
    format!("<{}>", parts.join(","))
}
