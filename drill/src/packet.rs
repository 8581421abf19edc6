//! Packet lines made real, as packetdrill does it (`run_packet.c`): one *socket under test*
//! at a time, whose live 4-tuple, ISNs and timestamps map script numbers to live ones.
//!
//! - An inbound TCP line while no socket is under test, or while it is a listener, makes a
//!   child flow from a fresh remote port (`handle_listen_for_script_packet`); any later
//!   inbound line goes to that child, a SYN included.
//! - `socket()` makes the new socket the one under test; `connect()` of a new socket makes it
//!   connecting; its outbound SYN (without ACK) teaches the live local port and ISN
//!   (`find_connect_for_live_packet`).
//! - Inbound sequence numbers after the SYN are relative to the remote ISN; acknowledgments
//!   and SACK blocks relative to the live local ISN (`map_inbound_packet`). Outbound numbers
//!   are mapped back the same way before they are compared (`tcp_convert_seq_number`).
//! - Outbound packets that are not the socket under test's are ignored.

use crate::ast::{IcmpSpec, TcpOptionSpec, TcpOptionsSpec, TcpSpec};
use crate::config::Config;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use synq_wire::{
    ip_proto, IcmpMessage, IcmpRepr, Ipv4Repr, TcpFlags, TcpOption, TcpOptionsIter, TcpPacket, IPV4_HEADER_LEN,
};

/// The first remote port of passive flows; each new flow takes the next.
const FIRST_REMOTE_PORT: u16 = 47000;

/// Where a socket is in packetdrill's model of it (`enum socket_state_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockState {
    /// After socket(), or connect(AF_UNSPEC).
    New,
    /// After listen().
    Listening,
    /// A child made by an inbound packet.
    PassivePacketReceived,
    /// The child's SYN-ACK was seen.
    PassiveSynackSent,
    /// The child's SYN-ACK was acknowledged.
    PassiveSynackAcked,
    /// After connect().
    ActiveConnecting,
    /// The script's outbound SYN line was reached.
    ActiveSynSent,
    /// The script's SYN-ACK went in.
    ActiveSynAcked,
}

/// One socket of packetdrill's model.
#[derive(Debug, Clone)]
pub struct Sock {
    /// Where it is.
    pub state: SockState,
    /// The script's descriptor, once it has one.
    pub script_fd: Option<i64>,
    /// close() was called on it.
    pub closed: bool,
    local_port: u16,
    remote_port: u16,
    local_isn: u32,
    remote_isn: u32,
    script_local_isn: u32,
    /// Script TSval to live TSval of the stack's packets (`ts_val_map`).
    ts_vals: HashMap<u32, u32>,
    /// The first (script, live) TSval pair seen.
    first_ts: Option<(u32, u32)>,
}

impl Sock {
    fn new(state: SockState) -> Sock {
        Sock {
            state,
            script_fd: None,
            closed: false,
            local_port: 0,
            remote_port: 0,
            local_isn: 0,
            remote_isn: 0,
            script_local_isn: 0,
            ts_vals: HashMap::new(),
            first_ts: None,
        }
    }

    /// What to add to a script sequence number of the stack's to make it live
    /// (`local_seq_script_to_live_offset`).
    fn local_offset(&self, syn: bool) -> u32 {
        if syn {
            self.local_isn.wrapping_sub(self.script_local_isn)
        } else {
            self.local_isn
        }
    }

    /// What to add to a script sequence number of the script's end to make it live.
    fn remote_offset(&self, syn: bool) -> u32 {
        if syn {
            0
        } else {
            self.remote_isn
        }
    }
}

/// IP fields of a packet line: `[ect0]`, `[noecn]`, `[ect01]`, `[ce]`, `[tos 0x10]`,
/// `[ttl 64]` (`ip_info` in packetdrill's grammar).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpInfo {
    /// The ECN bits to check or set.
    pub ecn: Option<u8>,
    /// ECT(0) or ECT(1), outbound only.
    pub ect01: bool,
    /// The whole TOS byte to check or set.
    pub tos: Option<u8>,
    /// The TTL to check or set.
    pub ttl: Option<u8>,
}

impl IpInfo {
    /// Parses the bracketed annotations of a line.
    pub fn parse(annotations: &[String]) -> Result<IpInfo, String> {
        let mut info = IpInfo::default();
        for a in annotations {
            let words: Vec<&str> = a
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|w| !w.is_empty())
                .collect();
            let mut i = 0;
            while i < words.len() {
                let arg = |i: usize| words.get(i + 1).copied().ok_or(format!("`{}` needs a value", words[i]));
                let num = |s: &str| {
                    s.strip_prefix("0x")
                        .map_or_else(|| s.parse::<u32>(), |h| u32::from_str_radix(h, 16))
                        .map_err(|_| format!("bad number `{s}`"))
                };
                match words[i] {
                    "noecn" => info.ecn = Some(0),
                    "ect1" => info.ecn = Some(1),
                    "ect0" => info.ecn = Some(2),
                    "ce" => info.ecn = Some(3),
                    "ect01" => info.ect01 = true,
                    "tos" => {
                        info.tos = Some(u8::try_from(num(arg(i)?)?).map_err(|_| "tos out of range for 8 bits")?);
                        i += 1;
                    }
                    "ttl" => {
                        info.ttl = Some(u8::try_from(num(arg(i)?)?).map_err(|_| "ttl out of range")?);
                        i += 1;
                    }
                    "flowlabel" => return Err("flowlabel is IPv6 only".into()),
                    other => return Err(format!("unknown IP field `{other}`")),
                }
                i += 1;
            }
        }
        Ok(info)
    }

    /// The TOS byte of an inbound packet.
    fn tos_byte(&self) -> u8 {
        self.tos.or(self.ecn).unwrap_or(0)
    }

    fn check(&self, tos: u8, ttl: u8) -> Result<(), String> {
        let ecn = tos & 3;
        if self.ect01 && ecn != 1 && ecn != 2 {
            return Err(format!(
                "live packet field ip_ecn: expected: 0x1 or 0x2 vs actual: {ecn:#x}"
            ));
        }
        if let Some(want) = self.ecn.filter(|&w| w != ecn) {
            return Err(field("ip_ecn", want.into(), ecn.into()));
        }
        if let Some(want) = self.tos.filter(|&w| w != tos) {
            return Err(field("tos", want.into(), tos.into()));
        }
        if let Some(want) = self.ttl.filter(|&w| w != ttl) {
            return Err(field("ttl", want.into(), ttl.into()));
        }
        Ok(())
    }
}

/// packetdrill's message for a header field that differs (`check_field`).
fn field(name: &str, expected: u32, actual: u32) -> String {
    format!("live packet field {name}: expected: {expected} ({expected:#x}) vs actual: {actual} ({actual:#x})")
}

/// The sockets of a run, the one under test, and what packet lines need from the
/// configuration.
#[derive(Debug)]
pub struct Sockets {
    socks: Vec<Sock>,
    under_test: Option<usize>,
    next_remote_port: u16,
    local_ip: Ipv4Addr,
    remote_ip: Ipv4Addr,
    bind_port: u16,
    connect_port: u16,
    ts_tick_usecs: i64,
    ts_ecr_scaled: bool,
    defines: HashMap<String, String>,
    /// Check outbound TCP checksums (off for a kernel that offloads them; packetdrill itself
    /// checks only the IP header's).
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

/// The bytes of a script's option list, as packetdrill lays them out (no padding).
fn script_options(list: &[TcpOptionSpec], defines: &HashMap<String, String>) -> Result<Vec<u8>, String> {
    let mut options = Vec::new();
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
                    options.extend_from_slice(&l.to_be_bytes());
                    options.extend_from_slice(&r.to_be_bytes());
                }
            }
            TcpOptionSpec::Timestamp { val, ecr } => {
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
    if options.len() > 40 {
        return Err("TCP option list too long".into());
    }
    Ok(options)
}

/// Adds `offset` to every SACK block edge in an option area.
fn offset_sack_blocks(options: &mut [u8], offset: u32) {
    let mut i = 0;
    while i < options.len() {
        match options[i] {
            0 => break,
            1 => i += 1,
            kind => {
                let Some(&len) = options.get(i + 1) else { break };
                let len = usize::from(len).max(2);
                if kind == 5 && i + len <= options.len() {
                    for edge in options[i + 2..i + len].chunks_exact_mut(4) {
                        let v = u32::from_be_bytes([edge[0], edge[1], edge[2], edge[3]]).wrapping_add(offset);
                        edge.copy_from_slice(&v.to_be_bytes());
                    }
                }
                i += len;
            }
        }
    }
}

/// The (val, ecr) of a timestamp option in an option area, with the offset of val.
fn find_timestamp(options: &[u8]) -> Option<(usize, u32, u32)> {
    let mut i = 0;
    while i < options.len() {
        match options[i] {
            0 => return None,
            1 => i += 1,
            kind => {
                let len = usize::from(*options.get(i + 1)?).max(2);
                if kind == 8 && len == 10 && i + 10 <= options.len() {
                    let w = |o: usize| u32::from_be_bytes([options[o], options[o + 1], options[o + 2], options[o + 3]]);
                    return Some((i + 2, w(i + 2), w(i + 6)));
                }
                i += len;
            }
        }
    }
    None
}

impl Sockets {
    /// No sockets yet, with `config`'s addresses, ports and timestamp settings.
    pub fn new(config: &Config) -> Sockets {
        Sockets {
            socks: Vec::new(),
            under_test: None,
            next_remote_port: FIRST_REMOTE_PORT,
            local_ip: config.local_ip,
            remote_ip: config.remote_ip,
            bind_port: config.bind_port,
            connect_port: config.connect_port,
            ts_tick_usecs: config.tcp_ts_tick_usecs,
            ts_ecr_scaled: config.tcp_ts_ecr_scaled,
            defines: config.defines.clone(),
            verify_checksums: true,
        }
    }

    /// The socket under test, if any.
    pub fn under_test(&self) -> Option<&Sock> {
        self.under_test.map(|i| &self.socks[i])
    }

    /// The open socket the script calls `fd` (`find_by_script_fd`).
    fn by_fd(&mut self, fd: i64) -> Option<&mut Sock> {
        self.socks
            .iter_mut()
            .rev()
            .find(|s| !s.closed && s.script_fd == Some(fd))
    }

    /// socket() returned `fd`: the new socket is the one under test (`run_syscall_socket`).
    pub fn socket_created(&mut self, fd: i64) {
        let mut s = Sock::new(SockState::New);
        s.script_fd = Some(fd);
        self.socks.push(s);
        self.under_test = Some(self.socks.len() - 1);
    }

    /// listen() on `fd` returned as the script said (`run_syscall_listen`).
    pub fn listened(&mut self, fd: i64) {
        if let Some(s) = self.by_fd(fd) {
            s.state = SockState::Listening;
        }
    }

    /// close() of `fd` returned as the script said.
    pub fn closed(&mut self, fd: i64) {
        if let Some(s) = self.by_fd(fd) {
            s.closed = true;
        }
    }

    /// accept() returned `fd`: the newest child past its SYN-ACK takes it
    /// (`run_syscall_accept`).
    pub fn accepted(&mut self, fd: i64) -> Result<(), String> {
        let child = self
            .socks
            .iter_mut()
            .rev()
            .find(|s| matches!(s.state, SockState::PassiveSynackSent | SockState::PassiveSynackAcked))
            .ok_or("unable to find socket matching accept() call")?;
        child.script_fd = Some(fd);
        Ok(())
    }

    /// connect() of `fd` is about to be made with `family` (`None` for `...`): a new socket
    /// starts connecting; AF_UNSPEC makes it new again (`run_syscall_connect`).
    pub fn connecting(&mut self, fd: i64, family: Option<i64>) {
        let connect_port = self.connect_port;
        let Some(s) = self.by_fd(fd) else { return };
        if family == Some(0) {
            s.state = SockState::New;
            return;
        }
        if s.state == SockState::New {
            s.state = SockState::ActiveConnecting;
            s.remote_port = connect_port;
        }
    }

    /// The socket an inbound line goes to, made if the one under test listens or there is
    /// none (`find_or_create_socket_for_script_packet`).
    fn inbound_socket(&mut self, spec: Option<&TcpSpec>) -> Result<&mut Sock, String> {
        let listening = self
            .under_test
            .is_none_or(|i| self.socks[i].state == SockState::Listening);
        if let (Some(spec), true) = (spec, listening) {
            let mut child = Sock::new(SockState::PassivePacketReceived);
            child.remote_port = self.next_remote_port;
            self.next_remote_port = self.next_remote_port.wrapping_add(1);
            child.local_port = self.bind_port;
            child.remote_isn = spec.seq;
            self.socks.push(child);
            self.under_test = Some(self.socks.len() - 1);
        }
        let i = self.under_test.ok_or("no matching socket for script packet")?;
        Ok(&mut self.socks[i])
    }

    /// The datagram an inbound TCP line stands for (`do_inbound_script_packet`).
    pub fn inbound_tcp(&mut self, spec: &TcpSpec, ip: &IpInfo) -> Result<Vec<u8>, String> {
        let f = flags(&spec.flags)?;
        let options = match &spec.options {
            TcpOptionsSpec::List(list) => script_options(list, &self.defines)?,
            TcpOptionsSpec::Absent => Vec::new(),
            TcpOptionsSpec::Any => return Err("<...> for TCP options can only be used with outbound packets".into()),
        };
        let (local_ip, remote_ip, ecr_scaled) = (self.local_ip, self.remote_ip, self.ts_ecr_scaled);
        let sock = self.inbound_socket(Some(spec))?;
        if sock.state == SockState::PassiveSynackSent && f.ack() {
            sock.state = SockState::PassiveSynackAcked;
        } else if sock.state == SockState::ActiveSynSent && f.syn() && f.ack() {
            sock.state = SockState::ActiveSynAcked;
            sock.remote_isn = spec.seq;
        }
        let mut options = options;
        if options.len() % 4 != 0 {
            options.resize(options.len().next_multiple_of(4), 0);
        }
        let ack_offset = sock.local_offset(f.syn());
        offset_sack_blocks(&mut options, ack_offset);
        if let (true, Some((at, _, ecr))) = (f.ack(), find_timestamp(&options)) {
            let live = match (sock.ts_vals.get(&ecr), sock.first_ts) {
                (Some(&live), _) => live,
                (None, Some((script, actual))) if ecr_scaled => ecr.wrapping_sub(script).wrapping_add(actual),
                _ => {
                    return Err(format!(
                        "unable to infer live TS ecr for script TS ecr {ecr};  no matching or preceding outbound TS val"
                    ))
                }
            };
            options[at + 4..at + 8].copy_from_slice(&live.to_be_bytes());
        }
        let header = 20 + options.len();
        let mut seg = vec![0u8; header + spec.len as usize];
        let (src_port, dst_port) = spec.ports.unwrap_or((sock.remote_port, sock.local_port));
        seg[0..2].copy_from_slice(&src_port.to_be_bytes());
        seg[2..4].copy_from_slice(&dst_port.to_be_bytes());
        seg[4..8].copy_from_slice(&spec.seq.wrapping_add(sock.remote_offset(f.syn())).to_be_bytes());
        let ack = spec.ack.unwrap_or(0);
        let ack = if f.ack() { ack.wrapping_add(ack_offset) } else { ack };
        seg[8..12].copy_from_slice(&ack.to_be_bytes());
        seg[12..14].copy_from_slice(&((((header / 4) as u16) << 12) | f.0).to_be_bytes());
        seg[14..16].copy_from_slice(&(spec.win.unwrap_or(0) as u16).to_be_bytes());
        seg[18..20].copy_from_slice(&(spec.urg.unwrap_or(0) as u16).to_be_bytes());
        seg[20..header].copy_from_slice(&options);
        TcpPacket::new_unchecked(&mut seg[..]).fill_checksum(remote_ip, local_ip);
        Ok(datagram(remote_ip, local_ip, ip_proto::TCP, ip, &seg))
    }

    /// The datagram an inbound ICMP line stands for: an error about the stack's segment
    /// `[seq:end(len)]` of the socket under test (`map_inbound_icmp_tcp_packet`).
    pub fn inbound_icmp(&mut self, spec: &IcmpSpec, ip: &IpInfo) -> Result<Vec<u8>, String> {
        let code_name = spec
            .code
            .as_deref()
            .map(|c| self.defines.get(c).map_or(c, String::as_str).to_string());
        let (local_ip, remote_ip) = (self.local_ip, self.remote_ip);
        let sock = self.inbound_socket(None)?;
        let message = match spec.kind.as_str() {
            "unreachable" => {
                let code = match code_name.as_deref().unwrap_or("net_unreachable") {
                    "net_unreachable" => 0,
                    "host_unreachable" => 1,
                    "protocol_unreachable" => 2,
                    "port_unreachable" => 3,
                    "frag_needed" => 4,
                    "source_route_failed" => 5,
                    "net_unknown" => 6,
                    "host_unknown" => 7,
                    "source_host_isolated" => 8,
                    "net_prohibited" => 9,
                    "host_prohibited" => 10,
                    "net_unreachable_for_tos" => 11,
                    "host_unreachable_for_tos" => 12,
                    "packet_filtered" => 13,
                    "precedence_violation" => 14,
                    "precedence_cutoff" => 15,
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
        quoted[0..2].copy_from_slice(&sock.local_port.to_be_bytes());
        quoted[2..4].copy_from_slice(&sock.remote_port.to_be_bytes());
        quoted[4..8].copy_from_slice(&seq.wrapping_add(sock.local_offset(false)).to_be_bytes());
        let icmp = IcmpRepr {
            message,
            quoted_header: Ipv4Repr::new(local_ip, remote_ip, ip_proto::TCP, 20 + len as usize),
            quoted_payload: &quoted,
        };
        let mut buf = vec![0u8; icmp.buffer_len()];
        icmp.emit(&mut buf).map_err(|e| e.to_string())?;
        Ok(datagram(remote_ip, local_ip, ip_proto::ICMP, ip, &buf))
    }

    /// An outbound line is reached: the socket it belongs to is found, or a connecting
    /// socket takes its SYN (`handle_connect_for_script_packet`), and a child expecting its
    /// SYN-ACK learns the script's ISN.
    pub fn expect_outbound(&mut self, spec: &TcpSpec) -> Result<(), String> {
        let f = flags(&spec.flags)?;
        let i = self.under_test.ok_or("no matching socket for script packet")?;
        let sock = &mut self.socks[i];
        if f.syn() && !f.ack() && sock.state == SockState::ActiveConnecting {
            sock.state = SockState::ActiveSynSent;
            sock.script_local_isn = spec.seq;
        }
        if sock.state == SockState::PassivePacketReceived && f.syn() && f.ack() {
            sock.script_local_isn = spec.seq;
        }
        Ok(())
    }

    /// Whether a live outbound datagram is the socket under test's
    /// (`find_socket_for_live_packet`, `find_connect_for_live_packet`, which learns the
    /// local port and ISN from a connecting socket's SYN). Others are ignored.
    pub fn is_under_test(&mut self, bytes: &[u8]) -> bool {
        let Some(i) = self.under_test else { return false };
        let Ok((ip, payload)) = Ipv4Repr::parse_bytes(bytes) else {
            return false;
        };
        if ip.protocol != ip_proto::TCP || ip.dst_addr != self.remote_ip {
            return false;
        }
        let Ok(tcp) = TcpPacket::new_checked(payload) else {
            return false;
        };
        let sock = &mut self.socks[i];
        let ours =
            ip.src_addr == self.local_ip && (tcp.src_port(), tcp.dst_port()) == (sock.local_port, sock.remote_port);
        if ours {
            return true;
        }
        let f = tcp.flags();
        if sock.state == SockState::ActiveSynSent && f.syn() && !f.ack() && tcp.dst_port() == sock.remote_port {
            sock.local_port = tcp.src_port();
            sock.local_isn = tcp.seq_number();
            return true;
        }
        false
    }

    /// Checks an outbound datagram of the socket under test against its line
    /// (`verify_outbound_live_packet`): the error names the first field that differs and
    /// shows the script's packet and the actual one in the script's numbers.
    /// `ts_tolerance` is the tolerance in microseconds for a checked TSval. On success, the
    /// packet as the script's numbers show it (for a later timing report).
    pub fn check_outbound(
        &mut self,
        spec: &TcpSpec,
        ip_info: &IpInfo,
        bytes: &[u8],
        ts_tolerance: i64,
    ) -> Result<String, String> {
        let (ip, payload) = Ipv4Repr::parse_bytes(bytes).map_err(|e| format!("outbound datagram: {e}"))?;
        let header = synq_wire::Ipv4Packet::new_checked(bytes).map_err(|e| e.to_string())?;
        if !header.verify_checksum() {
            return Err("bad outbound IP checksum".into());
        }
        if ip.protocol != ip_proto::TCP {
            return Err(field("ipv4_protocol", ip_proto::TCP.into(), ip.protocol.into()));
        }
        let packet = TcpPacket::new_checked(payload).map_err(|e| format!("outbound TCP: {e}"))?;
        if self.verify_checksums && !packet.verify_checksum(ip.src_addr, ip.dst_addr) {
            return Err("outbound TCP checksum is wrong".into());
        }
        let want = flags(&spec.flags)?;
        let script_opts = match &spec.options {
            TcpOptionsSpec::List(list) => Some(script_options(list, &self.defines)?),
            TcpOptionsSpec::Absent => Some(Vec::new()),
            TcpOptionsSpec::Any => None,
        };
        let (tick, i) = (self.ts_tick_usecs, self.under_test.ok_or("no socket under test")?);
        let sock = &mut self.socks[i];
        let got = packet.flags();
        if sock.state == SockState::PassivePacketReceived && want.syn() && want.ack() {
            sock.state = SockState::PassiveSynackSent;
            sock.local_isn = packet.seq_number();
        }
        // Live to script numbers.
        let seq = packet.seq_number().wrapping_sub(sock.local_offset(got.syn()));
        let remote_offset = sock.remote_offset(got.syn());
        let ack = if got.ack() {
            packet.ack_number().wrapping_sub(remote_offset)
        } else {
            packet.ack_number()
        };
        let mut options = packet.options().to_vec();
        offset_sack_blocks(&mut options, remote_offset.wrapping_neg());
        let script_ts = script_opts.as_deref().and_then(find_timestamp);
        if let (Some((_, script_val, _)), Some((at, actual_val, _))) = (script_ts, find_timestamp(&options)) {
            sock.ts_vals.insert(script_val, actual_val);
            let (first_script, first_actual) = *sock.first_ts.get_or_insert((script_val, actual_val));
            let mapped = first_script.wrapping_add(actual_val.wrapping_sub(first_actual));
            options[at..at + 4].copy_from_slice(&mapped.to_be_bytes());
        }
        let actual = Actual {
            flags: got,
            seq,
            len: packet.payload().len() as u32,
            ack,
            win: packet.window_len(),
            options: &options,
        };
        let mismatch = |m: String| format!("{m}\n   script packet: {}\n   actual packet: {actual}", show_spec(spec));
        let script_opt_len = script_opts.as_ref().map_or(options.len(), Vec::len);
        let checks = || -> Result<(), String> {
            let total = 20 + 20 + script_opt_len + spec.len as usize;
            if header.header_len() != 20 {
                return Err(field("ipv4_header_length", 5, (header.header_len() / 4) as u32));
            }
            if usize::from(header.total_len()) != total {
                return Err(field("ipv4_total_length", total as u32, header.total_len().into()));
            }
            ip_info.check(bytes[1], bytes[8])?;
            let doff = (20 + script_opt_len).div_ceil(4) as u32;
            if packet.header_len() as u32 / 4 != doff {
                return Err(field("tcp_data_offset", doff, packet.header_len() as u32 / 4));
            }
            for (name, bit) in [
                ("tcp_fin", TcpFlags::FIN),
                ("tcp_syn", TcpFlags::SYN),
                ("tcp_rst", TcpFlags::RST),
                ("tcp_psh", TcpFlags::PSH),
                ("tcp_ack", TcpFlags::ACK),
                ("tcp_urg", TcpFlags::URG),
                ("tcp_ece", TcpFlags::ECE),
                ("tcp_cwr", TcpFlags::CWR),
            ] {
                let (w, g) = (want.0 & bit.0 != 0, got.0 & bit.0 != 0);
                if w != g {
                    return Err(field(name, w.into(), g.into()));
                }
            }
            let reserved = u32::from(payload[12] & 0x0f);
            if reserved != 0 {
                return Err(field("tcp_reserved_bits", 0, reserved));
            }
            if seq != spec.seq {
                return Err(field("tcp_seq", spec.seq, seq));
            }
            let want_ack = spec.ack.unwrap_or(0);
            if ack != want_ack {
                return Err(field("tcp_ack_seq", want_ack, ack));
            }
            if let Some(win) = spec.win.filter(|&w| w != u32::from(packet.window_len())) {
                return Err(field("tcp_window", win, packet.window_len().into()));
            }
            let urg = u32::from(u16::from_be_bytes([payload[18], payload[19]]));
            if urg != spec.urg.unwrap_or(0) {
                return Err(field("tcp_urg_ptr", spec.urg.unwrap_or(0), urg));
            }
            if let Some(script) = &script_opts {
                compare_options(script, &options, tick, ts_tolerance)?;
            }
            if packet.payload().iter().any(|&b| b != 0) {
                return Err("incorrect outbound data payload".into());
            }
            Ok(())
        };
        checks().map(|()| actual.to_string()).map_err(mismatch)
    }
}

/// Compares option areas kind by kind as `verify_outbound_live_tcp_options` does: TSval only
/// under `--tcp_ts_tick_usecs`, ecr never, every other option byte for byte.
fn compare_options(script: &[u8], actual: &[u8], tick: i64, tolerance: i64) -> Result<(), String> {
    let (s, a) = (split_options(script), split_options(actual));
    for i in 0..s.len().max(a.len()) {
        let (Some(so), Some(ao)) = (s.get(i), a.get(i)) else {
            return Err("bad outbound TCP options".into());
        };
        if so[0] != ao[0] {
            return Err("bad outbound TCP options".into());
        }
        match so[0] {
            0 | 1 => {}
            8 if so.len() == 10 && ao.len() == 10 => {
                let sv = u32::from_be_bytes([so[2], so[3], so[4], so[5]]);
                let av = u32::from_be_bytes([ao[2], ao[3], ao[4], ao[5]]);
                if tick != 0 && i64::from((av.wrapping_sub(sv) as i32).unsigned_abs()) * tick > tolerance {
                    return Err(format!("bad outbound TCP timestamp value, tolerance {tolerance}"));
                }
            }
            kind => {
                let what = if so.len() != ao.len() {
                    "bad length"
                } else if so[2..] != ao[2..] {
                    "bad value"
                } else {
                    continue;
                };
                return Err(format!(
                    "{what} in outbound TCP option (kind={kind}): expected: {} actual: {}",
                    show_options(so),
                    show_options(ao)
                ));
            }
        }
    }
    Ok(())
}

/// An option area cut into its options (a truncated last one as it is).
fn split_options(area: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < area.len() {
        let len = match area[i] {
            0 | 1 => 1,
            _ => usize::from(*area.get(i + 1).unwrap_or(&2)).max(2),
        };
        let end = (i + len).min(area.len());
        out.push(&area[i..end]);
        if area[i] == 0 {
            break;
        }
        i = end;
    }
    out
}

/// An outbound packet in the script's numbers, for reports.
struct Actual<'a> {
    flags: TcpFlags,
    seq: u32,
    len: u32,
    ack: u32,
    win: u16,
    options: &'a [u8],
}

impl std::fmt::Display for Actual<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}:{}({})",
            flag_text(self.flags),
            self.seq,
            self.seq.wrapping_add(self.len),
            self.len
        )?;
        if self.flags.ack() {
            write!(f, " ack {}", self.ack)?;
        }
        write!(f, " win {}", self.win)?;
        if !self.options.is_empty() {
            write!(f, " {}", show_options(self.options))?;
        }
        Ok(())
    }
}

/// Flags as packetdrill prints them (`S.`, `F.`, `R`, `.`).
fn flag_text(f: TcpFlags) -> String {
    let mut s = String::new();
    for (c, bit) in [
        ('F', TcpFlags::FIN),
        ('S', TcpFlags::SYN),
        ('R', TcpFlags::RST),
        ('P', TcpFlags::PSH),
        ('U', TcpFlags::URG),
        ('E', TcpFlags::ECE),
        ('W', TcpFlags::CWR),
    ] {
        if f.0 & bit.0 != 0 {
            s.push(c);
        }
    }
    if f.ack() {
        s.push('.');
    }
    s
}

/// An option area in script syntax.
fn show_options(area: &[u8]) -> String {
    let parts: Vec<String> = TcpOptionsIter::new(area)
        .map(|o| match o {
            Ok(TcpOption::EndOfList) => "eol".into(),
            Ok(TcpOption::NoOperation) => "nop".into(),
            Ok(TcpOption::MaxSegmentSize(m)) => format!("mss {m}"),
            Ok(TcpOption::WindowScale(w)) => format!("wscale {w}"),
            Ok(TcpOption::SackPermitted) => "sackOK".into(),
            Ok(TcpOption::Sack(raw)) => {
                let mut s = "sack".to_string();
                for b in raw.chunks_exact(8) {
                    let _ = write!(
                        s,
                        " {}:{}",
                        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                        u32::from_be_bytes([b[4], b[5], b[6], b[7]])
                    );
                }
                s
            }
            Ok(TcpOption::Timestamp(ts)) => format!("TS val {} ecr {}", ts.tsval, ts.tsecr),
            Ok(TcpOption::Unknown { kind: 34, data }) => {
                format!("FO {}", data.iter().map(|b| format!("{b:02x}")).collect::<String>())
            }
            Ok(TcpOption::Unknown { kind, .. }) => format!("kind {kind}"),
            Err(e) => format!("<malformed: {e}>"),
        })
        .collect();
    format!("<{}>", parts.join(","))
}

/// A packet line as the script wrote it.
fn show_spec(spec: &TcpSpec) -> String {
    let mut s = format!("{} {}:{}({})", spec.flags, spec.seq, spec.end, spec.len);
    if let Some(a) = spec.ack {
        let _ = write!(s, " ack {a}");
    }
    if let Some(w) = spec.win {
        let _ = write!(s, " win {w}");
    }
    match &spec.options {
        TcpOptionsSpec::Absent => {}
        TcpOptionsSpec::Any => s.push_str(" <...>"),
        TcpOptionsSpec::List(list) => {
            let parts: Vec<String> = list
                .iter()
                .map(|o| match o {
                    TcpOptionSpec::Nop => "nop".into(),
                    TcpOptionSpec::Eol => "eol".into(),
                    TcpOptionSpec::Mss(m) => format!("mss {m}"),
                    TcpOptionSpec::WindowScale(w) => format!("wscale {w}"),
                    TcpOptionSpec::SackOk => "sackOK".into(),
                    TcpOptionSpec::Sack(b) => {
                        let blocks: Vec<String> = b.iter().map(|(l, r)| format!("{l}:{r}")).collect();
                        format!("sack {}", blocks.join(" "))
                    }
                    TcpOptionSpec::Timestamp { val, ecr } => format!("TS val {val} ecr {ecr}"),
                    TcpOptionSpec::FastOpen(c) => format!("FO {}", c.as_deref().unwrap_or("")),
                })
                .collect();
            let _ = write!(s, " <{}>", parts.join(","));
        }
    }
    s
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

fn datagram(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, info: &IpInfo, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; IPV4_HEADER_LEN + payload.len()];
    Ipv4Repr::new(src, dst, protocol, payload.len())
        .emit(&mut out)
        .expect("sized");
    out[1] = info.tos_byte();
    if let Some(ttl) = info.ttl {
        out[8] = ttl;
    }
    synq_wire::Ipv4Packet::new_unchecked(&mut out[..]).fill_checksum();
    out[IPV4_HEADER_LEN..].copy_from_slice(payload);
    out
}
