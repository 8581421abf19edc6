//! Runs a parsed script against a [`Target`]: event times (absolute, relative to the previous
//! event as it happened, windows, `*`), packetdrill's timing tolerance, inbound packets
//! injected, outbound packets awaited and checked, system calls made and their results
//! compared, shell lines applied as settings.

use crate::ast::*;
use crate::packet::Flows;
use crate::shell::{self, ShellAction};
use crate::symbols;
use std::collections::HashMap;
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
    /// Sets the link MTU so that the stack's MSS is `mss` (packetdrill's `--mss`), before
    /// any event.
    fn set_mss(&mut self, mss: u16) -> Result<(), String>;
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
    };
    for o in &script.options {
        match (o.name.as_str(), o.value.as_deref()) {
            ("tolerance_usecs", Some(v)) => match v.parse() {
                Ok(t) => r.tolerance = t,
                Err(_) => return Verdict::Fail(format!("{}:{}: bad --tolerance_usecs", r.path, o.loc.line)),
            },
            ("ip_version", Some("ipv4")) | ("tcp_ts_tick_usecs", _) => {}
            ("mss", Some(v)) => match v
                .parse()
                .map_err(|_| "not a number".to_string())
                .and_then(|m| target.set_mss(m))
            {
                Ok(()) => {}
                Err(m) => return Verdict::Unsupported(format!("{}:{}: --mss={v}: {m}", r.path, o.loc.line)),
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
        if let Err(v) = r.event(event, target) {
            return v;
        }
    }
    // Anything the stack sent after the last expected packet that has already left.
    let now = target.now();
    if let Some((t, bytes)) = target.run_until(now).into_iter().next() {
        return Verdict::Fail(format!(
            "{}: unexpected outbound packet at {}: {}",
            r.path,
            secs(t),
            synq_sim::describe(&bytes)
        ));
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

    /// Lets time run to `t`; any packet the stack sends meanwhile was not expected.
    fn wait(&mut self, e: &Event, t: Micros, target: &mut dyn Target) -> Result<(), Verdict> {
        if let Some((at, bytes)) = target.run_until(t).into_iter().next() {
            return self.fail(
                e,
                format!(
                    "unexpected outbound packet at {} (before this event): {}",
                    secs(at),
                    synq_sim::describe(&bytes)
                ),
            );
        }
        Ok(())
    }

    fn event(&mut self, e: &Event, target: &mut dyn Target) -> Result<(), Verdict> {
        let window = self.window(e);
        match &e.action {
            Action::Packet(p) if p.direction == Direction::Outbound => {
                let PacketKind::Tcp(spec) = &p.kind else {
                    return self.unsupported(e, "outbound ICMP lines");
                };
                let (start, end) = window.unwrap_or((self.prev, self.prev + 10_000_000));
                let deadline = end + self.tolerance;
                let Some((at, bytes)) = target.next_outbound(deadline) else {
                    return self.fail(e, format!("expected an outbound packet by {}, none came", secs(end)));
                };
                if window.is_some() && at < start - self.tolerance {
                    return self.fail(
                        e,
                        format!(
                            "timing error: expected outbound packet at {} but it left at {} (tolerance {}): {}",
                            secs(start),
                            secs(at),
                            secs(self.tolerance),
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
                self.wait(e, start, target)?;
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
                    self.wait(e, start, target)?;
                    self.prev = start;
                }
                match shell::interpret(command, &self.dir) {
                    Ok(ShellAction::Nothing) => {}
                    Ok(ShellAction::Sysctls(v)) => {
                        for (name, value) in v {
                            if let Err(m) = target.sysctl(&name, &value) {
                                return self.unsupported(e, format!("sysctl {name}={value}: {m}"));
                            }
                        }
                    }
                    Err(m) => return self.unsupported(e, m),
                }
            }
            Action::Python(_) => return self.unsupported(e, "%{ }% assertions (tcpi_*) are not supported yet"),
            Action::Syscall(call) => {
                let Some((start, end)) = window else {
                    return self.unsupported(e, "a system call at `*`");
                };
                if matches!(e.time, EventTime::Range { .. }) {
                    return self.unsupported(e, "blocking system calls (a `...` window)");
                }
                self.wait(e, start, target)?;
                let mut args = match call.args.iter().map(eval).collect::<Result<Vec<_>, _>>() {
                    Ok(a) => a,
                    Err(m) => return self.unsupported(e, m),
                };
                self.map_fds(&call.name, &mut args);
                let got = match target.syscall(&call.name, &args) {
                    Ok(r) => r,
                    Err(CallError::Unsupported(m)) => return self.unsupported(e, m),
                    Err(CallError::Mismatch(m)) => return self.fail(e, m),
                };
                self.check_result(e, call, got)?;
                if call.name == "connect" {
                    self.flows.connect();
                }
                let _ = end;
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
    }

    fn check_result(&mut self, e: &Event, call: &SyscallSpec, got: SysResult) -> Result<(), Verdict> {
        if let (true, Ok(Arg::Int(script_fd)), SysResult::Ok(live)) =
            (FD_RETURNING.contains(&call.name.as_str()), eval(&call.result), got)
        {
            if script_fd >= 0 && call.errno.is_none() {
                self.fds.insert(script_fd, live);
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
