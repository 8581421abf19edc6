//! Runs a parsed script against a [`Target`]: event times (absolute, relative to the previous
//! event as it happened, windows, `*`), packetdrill's timing tolerance, inbound packets
//! injected, outbound packets awaited and checked, system calls made and their results
//! compared, shell lines applied as settings.

use crate::ast::*;
use crate::packet::Flows;
use crate::shell::{self, ShellAction};
use crate::symbols;
use std::collections::{HashMap, VecDeque};
use std::path::Path;

/// packetdrill's default `--tolerance_usecs`.
pub const DEFAULT_TOLERANCE_US: Micros = 4_000;

/// An evaluated system-call argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `...`
    Any,
    /// An integer (symbols resolved, `|` or-ed).
    Int(i64),
    /// `"text"`
    Str(String),
    /// `[...]`
    List(Vec<Arg>),
    /// `{...}`
    Struct(Vec<(Option<String>, Arg)>),
}

impl Arg {
    /// The integer, or the single integer inside `[n]`.
    pub fn int(&self) -> Option<i64> {
        match self {
            Arg::Int(v) => Some(*v),
            Arg::List(v) if v.len() == 1 => v[0].int(),
            _ => None,
        }
    }
}

/// What a system call returned: a value, or -1 with an errno number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysResult {
    /// Success with this return value.
    Ok(i64),
    /// Failure with this errno.
    Err(i32),
}

/// Why a call could not be made at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The target does not support this call or argument shape: the script is unsupported.
    Unsupported(String),
    /// An output argument did not hold what the script expects (e.g. getsockopt's value).
    Mismatch(String),
}

/// A stack a script runs against.
pub trait Target {
    /// Microseconds since the script started.
    fn now(&mut self) -> Micros;
    /// Waits until `t` (virtual targets run their timers up to it); returns the outbound
    /// datagrams that left the stack meanwhile, each with the time it left.
    fn run_until(&mut self, t: Micros) -> Vec<(Micros, Vec<u8>)>;
    /// Waits until an outbound datagram leaves or `deadline` passes.
    fn next_outbound(&mut self, deadline: Micros) -> Option<(Micros, Vec<u8>)>;
    /// Injects a datagram from the script's end.
    fn inject(&mut self, datagram: &[u8]);
    /// Sets a sysctl.
    fn sysctl(&mut self, name: &str, value: &str) -> Result<(), String>;
    /// Makes a system call that completes at once.
    fn syscall(&mut self, name: &str, args: &[Arg]) -> Result<SysResult, CallError>;
    /// packetdrill's `--mss`: the segment size of the script's own data.
    fn set_mss(&mut self, _mss: u16) {}
    /// Runs a device command a script asks for (`ethtool -K tun0 ...`, `tc qdisc ...`);
    /// targets without such a device accept it as done.
    fn device_command(&mut self, _argv: &[String]) -> Result<(), String> {
        Ok(())
    }
    /// TCP_INFO (`tcpi_*`) and SO_MEMINFO (`SK_MEMINFO_*`) of a socket, for `%{ }%` blocks.
    fn tcp_info(&mut self, _fd: i64) -> Result<HashMap<String, i64>, String> {
        Err("TCP_INFO on this target".into())
    }
    /// The stack's counters by nstat name, for `nstat` lines.
    fn counters(&mut self) -> Result<HashMap<String, u64>, String>;
    /// True when outbound TCP checksums are final (a kernel with checksum offload hands
    /// packets on with only the pseudo-header sum).
    fn checksums_complete(&self) -> bool {
        true
    }
    /// Starts a call that may block (a `...` window): it completes while later events run.
    fn start_call(&mut self, name: &str, _args: &[Arg]) -> Result<(), CallError> {
        Err(CallError::Unsupported(format!("blocking {name}() (a `...` window)")))
    }
    /// The started call's completion time and result, if it has completed (waiting for it
    /// until `wait_until` when given).
    fn finished_call(&mut self, _wait_until: Option<Micros>) -> Option<(Micros, SysResult)> {
        None
    }
}

/// A blocking call in progress.
struct Pending {
    event: Event,
    call: SyscallSpec,
    window: (Micros, Micros),
    tolerance: Micros,
}

/// Calls that return a new file descriptor: packetdrill maps the script's number to the
/// real one.
const FD_RETURNING: &[&str] = &["socket", "accept", "accept4", "epoll_create", "epoll_create1"];

/// How a script ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every event happened as written.
    Pass,
    /// The first event that did not, with `file:line: what`.
    Fail(String),
    /// The script needs something the runner or target does not have.
    Unsupported(String),
}

/// Runs `script` (from `path`) against `target`. `defines` are packetdrill's `-D` values.
pub fn run(path: &Path, script: &Script, target: &mut dyn Target, defines: HashMap<String, String>) -> Verdict {
    let mut r = Runner {
        path: path.display().to_string(),
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        tolerance: DEFAULT_TOLERANCE_US,
        flows: Flows::new(defines),
        prev: 0,
        fds: HashMap::new(),
        pending: None,
        queue: VecDeque::new(),
        under_test: None,
        info: None,
        wants_info: script.events.iter().any(|e| matches!(e.action, Action::Python(_))),
        nstat_base: HashMap::new(),
    };
    r.flows.verify_checksums = target.checksums_complete();
    for o in &script.options {
        match (o.name.as_str(), o.value.as_deref()) {
            ("tolerance_usecs", Some(v)) => match v.parse() {
                Ok(t) => r.tolerance = t,
                Err(_) => return Verdict::Fail(format!("{}:{}: bad --tolerance_usecs", r.path, o.loc.line)),
            },
            ("ip_version", Some("ipv4")) | ("tcp_ts_tick_usecs", _) => {}
            // packetdrill's segment size for its own data: larger inbound segments reach the
            // stack as GSO packets of that segment size.
            ("mss", Some(v)) => match v.parse() {
                Ok(mss) => target.set_mss(mss),
                Err(_) => return Verdict::Fail(format!("{}:{}: bad --mss", r.path, o.loc.line)),
            },
            (name, _) => return Verdict::Unsupported(format!("{}:{}: option --{name}", r.path, o.loc.line)),
        }
    }
    let mut cleanup = None;
    for event in &script.events {
        if event.time == EventTime::Cleanup {
            cleanup = Some(event);
            continue;
        }
        if let Err(v) = r.check_pending(target, None).and_then(|()| r.event(event, target)) {
            return v;
        }
        if let (true, Some(fd)) = (r.wants_info, r.under_test) {
            if let Ok(info) = target.tcp_info(fd) {
                r.info = Some(info);
            }
        }
    }
    if let Some(p) = &r.pending {
        let deadline = p.window.1 + p.tolerance;
        if let Err(v) = r.check_pending(target, Some(deadline)) {
            return v;
        }
        if let Some(p) = &r.pending {
            return Verdict::Fail(format!(
                "{}:{}: {}() did not return by {}",
                r.path,
                p.event.loc.line,
                p.call.name,
                secs(deadline)
            ));
        }
    }
    if let Some(e) = cleanup {
        if let Err(v) = r.event(e, target) {
            return v;
        }
    }
    Verdict::Pass
}

struct Runner {
    path: String,
    dir: std::path::PathBuf,
    tolerance: Micros,
    flows: Flows,
    /// When the previous event happened.
    prev: Micros,
    /// Script file descriptors to the target's.
    fds: HashMap<i64, i64>,
    /// A blocking call started and not yet returned.
    pending: Option<Pending>,
    /// Outbound packets that left while other events ran, for the next `>` line.
    queue: VecDeque<(Micros, Vec<u8>)>,
    /// The socket `%{ }%` blocks look at: the last one made (target's fd).
    under_test: Option<i64>,
    /// Its TCP_INFO after the latest event it could be read at.
    info: Option<HashMap<String, i64>>,
    /// The script has `%{ }%` blocks.
    wants_info: bool,
    /// Counters at the last `nstat -n` (or plain `nstat`).
    nstat_base: HashMap<String, u64>,
}

fn secs(us: Micros) -> String {
    format!("{:.4}", us as f64 / 1e6)
}

impl Runner {
    fn fail<T>(&self, e: &Event, msg: impl std::fmt::Display) -> Result<T, Verdict> {
        Err(Verdict::Fail(format!("{}:{}: {msg}", self.path, e.loc.line)))
    }
    fn unsupported<T>(&self, e: &Event, msg: impl std::fmt::Display) -> Result<T, Verdict> {
        Err(Verdict::Unsupported(format!("{}:{}: {msg}", self.path, e.loc.line)))
    }

    /// The window `[start, end]` the event must happen in, before tolerance; `None` for `*`.
    fn window(&self, e: &Event) -> Option<(Micros, Micros)> {
        match e.time {
            EventTime::Init | EventTime::Cleanup => Some((self.prev, self.prev)),
            EventTime::Absolute(t) => Some((t, t)),
            EventTime::Relative(d) => Some((self.prev + d, self.prev + d)),
            EventTime::Any => None,
            EventTime::Range {
                start,
                start_relative,
                end,
                end_relative,
            } => {
                let s = if start_relative { self.prev + start } else { start };
                let en = if end_relative { self.prev + end } else { end };
                Some((s, en))
            }
        }
    }

    /// Checks whether the blocking call in progress has returned (waiting until `wait_until`
    /// if given), and if so whether it returned in its window with the expected result.
    fn check_pending(&mut self, target: &mut dyn Target, wait_until: Option<Micros>) -> Result<(), Verdict> {
        if self.pending.is_none() {
            return Ok(());
        }
        let Some((at, got)) = target.finished_call(wait_until) else {
            return Ok(());
        };
        let p = self.pending.take().expect("checked");
        let (start, end) = p.window;
        if at < start - p.tolerance || at > end + p.tolerance {
            return self.fail(
                &p.event,
                format!(
                    "timing error: {}() returned at {}, expected between {} and {}",
                    p.call.name,
                    secs(at),
                    secs(start),
                    secs(end)
                ),
            );
        }
        self.check_result(&p.event, &p.call, got)
    }

    /// The next outbound packet of the script's flows (queued or waited for until
    /// `deadline`), with its time and whether it was queued.
    fn next_packet(&mut self, target: &mut dyn Target, deadline: Micros) -> Option<(Micros, Vec<u8>, bool)> {
        loop {
            let queued = self.queue.pop_front();
            let was_queued = queued.is_some();
            let (at, bytes) = queued.or_else(|| target.next_outbound(deadline))?;
            if !self.flows.belongs_to_earlier_flow(&bytes) {
                return Some((at, bytes, was_queued));
            }
        }
    }

    /// packetdrill's tolerance for an event expected at `at`: `--tolerance_usecs`, or 12.5 %
    /// of the time since the previous event if that is more (jiffy-based timers are that
    /// coarse; `verify_time`'s `tolerance_percent`).
    fn tolerance_for(&self, at: Micros) -> Micros {
        self.tolerance.max((at - self.prev) / 8)
    }

    /// Lets time run to `t`, keeping what the stack sends meanwhile for the next `>` line
    /// (as packetdrill leaves it in the device), then looks at the blocking call.
    fn wait(&mut self, t: Micros, target: &mut dyn Target) -> Result<(), Verdict> {
        let packets = target.run_until(t);
        self.queue.extend(packets);
        self.check_pending(target, None)
    }

    fn event(&mut self, e: &Event, target: &mut dyn Target) -> Result<(), Verdict> {
        let window = self.window(e);
        match &e.action {
            Action::Packet(p) if p.direction == Direction::Outbound => {
                let PacketKind::Tcp(spec) = &p.kind else {
                    return self.unsupported(e, "outbound ICMP lines");
                };
                let (start, end) = window.unwrap_or((self.prev, self.prev + 10_000_000));
                let tolerance = self.tolerance_for(start);
                let deadline = end + tolerance;
                let Some((at, mut bytes, was_queued)) = self.next_packet(target, deadline) else {
                    return self.fail(e, format!("expected an outbound packet by {}, none came", secs(end)));
                };
                // Like packetdrill (without --strict_segments): consecutive segments the stack
                // split a line's data into are joined before the line is checked.
                while crate::packet::tcp_payload_len(&bytes).is_some_and(|n| n > 0 && n < spec.len as usize) {
                    let Some((_, next, _)) = self.next_packet(target, deadline) else {
                        break;
                    };
                    match crate::packet::join_segments(&bytes, &next, spec.len as usize) {
                        Ok(joined) => bytes = joined,
                        Err(m) => {
                            return self.fail(
                                e,
                                format!(
                                    "{m}; the packets were {} and {}",
                                    synq_sim::describe(&bytes),
                                    synq_sim::describe(&next)
                                ),
                            )
                        }
                    }
                }
                if window.is_some() && at < start - tolerance {
                    let what = if was_queued {
                        "unexpected outbound packet"
                    } else {
                        "timing error: outbound packet"
                    };
                    return self.fail(
                        e,
                        format!(
                            "{what} at {} (this line expects one at {}, tolerance {}): {}",
                            secs(at),
                            secs(start),
                            secs(tolerance),
                            synq_sim::describe(&bytes)
                        ),
                    );
                }
                if let Err(m) = self.flows.check_outbound(spec, &bytes) {
                    return self.fail(e, format!("{m}; the packet was {}", synq_sim::describe(&bytes)));
                }
                self.prev = at;
            }
            Action::Packet(p) => {
                let (start, _) = window.unwrap_or((self.prev, self.prev));
                self.wait(start, target)?;
                if !p.ip_annotations.is_empty() {
                    return self.unsupported(e, "IP annotations on inbound packets");
                }
                let datagram = match &p.kind {
                    PacketKind::Tcp(spec) => self.flows.inbound_tcp(spec),
                    PacketKind::Icmp(spec) => self.flows.inbound_icmp(spec),
                };
                match datagram {
                    Ok(d) => target.inject(&d),
                    Err(m) => return self.unsupported(e, m),
                }
                self.prev = start;
            }
            Action::Shell(command) => {
                if let Some((start, _)) = window {
                    self.wait(start, target)?;
                    self.prev = start;
                }
                let actions = match shell::interpret(command, &self.dir) {
                    Ok(a) => a,
                    Err(m) => return self.unsupported(e, m),
                };
                for action in actions {
                    match action {
                        ShellAction::Nothing => {}
                        ShellAction::Sysctls(v) => {
                            for (name, value) in v {
                                if let Err(m) = target.sysctl(&name, &value) {
                                    return self.unsupported(e, format!("sysctl {name}={value}: {m}"));
                                }
                            }
                        }
                        ShellAction::Device(argv) => {
                            if let Err(m) = target.device_command(&argv) {
                                return self.unsupported(e, m);
                            }
                        }
                        ShellAction::NstatReset => match target.counters() {
                            Ok(c) => self.nstat_base = c,
                            Err(m) => return self.unsupported(e, m),
                        },
                        ShellAction::NstatCheck { name, delta, update } => {
                            let now = match target.counters() {
                                Ok(c) => c,
                                Err(m) => return self.unsupported(e, m),
                            };
                            let moved = now.get(&name).copied().unwrap_or(0)
                                - self
                                    .nstat_base
                                    .get(&name)
                                    .copied()
                                    .unwrap_or(0)
                                    .min(now.get(&name).copied().unwrap_or(0));
                            if update {
                                self.nstat_base = now;
                            }
                            if moved != delta {
                                return self.fail(e, format!("nstat: {name} moved by {moved}, expected {delta}"));
                            }
                        }
                    }
                }
            }
            Action::Python(code) => {
                if let Some((start, _)) = window {
                    self.wait(start, target)?;
                    self.prev = start;
                }
                if let Some(fd) = self.under_test {
                    if let Ok(info) = target.tcp_info(fd) {
                        self.info = Some(info);
                    }
                }
                let Some(vars) = &self.info else {
                    return self.unsupported(e, "%{ }% block without TCP_INFO from this target");
                };
                match crate::python::run_block(code, vars) {
                    Ok(None) => {}
                    Ok(Some(m)) => return self.fail(e, m),
                    Err(m) => return self.unsupported(e, m),
                }
            }
            Action::Syscall(call) => {
                let Some((start, end)) = window else {
                    return self.unsupported(e, "a system call at `*`");
                };
                self.wait(start, target)?;
                let mut args = match call.args.iter().map(eval).collect::<Result<Vec<_>, _>>() {
                    Ok(a) => a,
                    Err(m) => return self.unsupported(e, m),
                };
                self.map_fds(&call.name, &mut args);
                if matches!(e.time, EventTime::Range { .. }) {
                    if let Some(p) = &self.pending {
                        let deadline = p.window.1 + p.tolerance;
                        self.check_pending(target, Some(deadline))?;
                    }
                    if self.pending.is_some() {
                        return self.unsupported(e, "two blocking calls at once");
                    }
                    if let Err(CallError::Unsupported(m) | CallError::Mismatch(m)) =
                        target.start_call(&call.name, &args)
                    {
                        return self.unsupported(e, m);
                    }
                    if call.name == "connect" {
                        self.flows.connect();
                    }
                    let tolerance = self.tolerance_for(end);
                    self.pending = Some(Pending {
                        event: e.clone(),
                        call: call.clone(),
                        window: (start, end),
                        tolerance,
                    });
                    self.prev = start;
                    return Ok(());
                }
                let got = match target.syscall(&call.name, &args) {
                    Ok(r) => r,
                    Err(CallError::Unsupported(m)) => return self.unsupported(e, m),
                    Err(CallError::Mismatch(m)) => return self.fail(e, m),
                };
                self.check_result(e, call, got)?;
                if call.name == "connect" {
                    self.flows.connect();
                }
                self.prev = start;
            }
        }
        Ok(())
    }

    /// Script fds in arguments to the target's: the first argument of every call but those
    /// that make one, and the fd of `epoll_ctl`.
    fn map_fds(&self, name: &str, args: &mut [Arg]) {
        let positions: &[usize] = match name {
            n if FD_RETURNING.contains(&n) && n != "accept" && n != "accept4" => &[],
            "poll" => &[],
            "epoll_ctl" => &[0, 2],
            _ => &[0],
        };
        for &i in positions {
            if let Some(Arg::Int(v)) = args.get_mut(i) {
                if let Some(&live) = self.fds.get(v) {
                    *v = live;
                }
            }
        }
        // The fd inside an epoll_event or a pollfd names a socket too.
        let structs: Vec<&mut Arg> = match (name, args) {
            ("epoll_ctl", [_, _, _, ev, ..]) => vec![ev],
            ("epoll_wait", [_, ev, ..]) => vec![ev],
            ("poll", [Arg::List(items), ..]) => items.iter_mut().collect(),
            _ => return,
        };
        for s in structs {
            if let Arg::Struct(fields) = s {
                for (field, value) in fields.iter_mut() {
                    if let (Some("fd"), Arg::Int(v)) = (field.as_deref(), value) {
                        if let Some(&live) = self.fds.get(v) {
                            *v = live;
                        }
                    }
                }
            }
        }
    }

    fn check_result(&mut self, e: &Event, call: &SyscallSpec, got: SysResult) -> Result<(), Verdict> {
        if let (true, Ok(Arg::Int(script_fd)), SysResult::Ok(live)) =
            (FD_RETURNING.contains(&call.name.as_str()), eval(&call.result), got)
        {
            if script_fd >= 0 && call.errno.is_none() {
                self.fds.insert(script_fd, live);
                if call.name != "epoll_create" && call.name != "epoll_create1" {
                    self.under_test = Some(live);
                }
                return Ok(());
            }
        }
        let want = match eval(&call.result) {
            Ok(Arg::Int(v)) => v,
            Ok(Arg::Any) => return Ok(()),
            _ => return self.unsupported(e, "a non-integer result"),
        };
        let want_errno = match &call.errno {
            None => None,
            Some(name) => match errno_number(name) {
                Some(n) => Some(n),
                None => return self.unsupported(e, format!("errno {name}")),
            },
        };
        let show = |r: SysResult| match r {
            SysResult::Ok(v) => v.to_string(),
            SysResult::Err(n) => format!("-1 {}", errno_name(n)),
        };
        let ok = match got {
            SysResult::Ok(v) => want_errno.is_none() && v == want,
            SysResult::Err(n) => want == -1 && want_errno.is_none_or(|w| w == n),
        };
        if !ok {
            let expected = match want_errno {
                Some(n) => format!("-1 {}", errno_name(n)),
                None => want.to_string(),
            };
            return self.fail(
                e,
                format!("{}() returned {}, expected {expected}", call.name, show(got)),
            );
        }
        Ok(())
    }
}

/// Errno names scripts use, with Linux's numbers.
pub fn errno_number(name: &str) -> Option<i32> {
    match name {
        "EWOULDBLOCK" => Some(11),
        _ => synq_core::Errno::from_name(name).map(synq_core::Errno::raw),
    }
}

fn errno_name(n: i32) -> String {
    synq_core::Errno::from_raw(n).map_or(format!("errno {n}"), |e| e.to_string())
}

/// Evaluates an argument expression: symbols to numbers, `|` to their or.
pub fn eval(e: &Expr) -> Result<Arg, String> {
    Ok(match e {
        Expr::Ellipsis => Arg::Any,
        Expr::Int(v) => Arg::Int(*v),
        Expr::Str(s) => Arg::Str(s.clone()),
        Expr::Ident(name) => Arg::Int(symbols::lookup(name).ok_or(format!("unknown symbol {name}"))?),
        Expr::Or(parts) => {
            let mut v = 0;
            for p in parts {
                match eval(p)? {
                    Arg::Int(x) => v |= x,
                    _ => return Err("`|` of non-integers".into()),
                }
            }
            Arg::Int(v)
        }
        Expr::List(items) => Arg::List(items.iter().map(eval).collect::<Result<_, _>>()?),
        Expr::Struct(fields) => Arg::Struct(
            fields
                .iter()
                .map(|f| Ok((f.name.clone(), eval(&f.value)?)))
                .collect::<Result<_, String>>()?,
        ),
        Expr::Call(name, _) => return Err(format!("function {name}() in arguments")),
    })
}
