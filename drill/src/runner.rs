//! Runs a parsed script against a [`Target`] as packetdrill's `run.c` does: event times
//! (absolute; relative to when the previous event ended, or to the previous inbound packet's
//! time for consecutive inbound packets; windows; `*`), its tolerance, inbound packets
//! injected, outbound packets sniffed and checked, system calls made (blocking ones on the
//! side, their return checked against the `...` end time) and their results compared, shell
//! commands run by the target.

use crate::ast::*;
use crate::config::{Config, OptionError};
use crate::packet::{IpInfo, Sockets};
use crate::symbols;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

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
    /// Sets the target up for a run (addresses, device, MTU, `--mss`), before the first event.
    fn configure(&mut self, _config: &Config) -> Result<(), CallError> {
        Ok(())
    }
    /// Starts the script's clock (after the init command, as packetdrill's
    /// `schedule_start_time_usecs`).
    fn start_clock(&mut self) {}
    /// Runs a backtick command from a script in `dir`, as `/bin/sh -c` would: `Mismatch` for a
    /// command that failed (a non-zero exit), `Unsupported` for one the target cannot run.
    fn command(&mut self, command: &str, dir: &Path) -> Result<(), CallError>;
    /// Makes a system call that completes at once.
    fn syscall(&mut self, name: &str, args: &[Arg]) -> Result<SysResult, CallError>;
    /// TCP_INFO (`tcpi_*`) and SO_MEMINFO (`SK_MEMINFO_*`) of a socket, for `%{ }%` blocks.
    fn tcp_info(&mut self, _fd: i64) -> Result<HashMap<String, i64>, String> {
        Err("TCP_INFO on this target".into())
    }
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
    /// When it must return (script time) and the tolerance for that.
    end: Micros,
    tolerance: Micros,
}

/// Calls that return a new file descriptor: packetdrill maps the script's number to the
/// real one.
const FD_RETURNING: &[&str] = &["socket", "accept", "accept4", "epoll_create", "epoll_create1"];

/// packetdrill waits this long for a blocking call to return before the next one starts,
/// or before it exits (`await_idle_thread`).
const IDLE_WAIT_US: Micros = 1_000_000;

/// How long a `*` line waits for its packet (packetdrill waits for ever).
const ANY_TIME_WAIT_US: Micros = 10_000_000;

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

/// The configuration of a run: packetdrill's defaults, then the script's option lines, then
/// the command line's (`args`, as packetdrill's own: `--name=value`, `-D NAME=VALUE`).
pub fn configure(path: &Path, script: &Script, args: &[String]) -> Result<Config, Verdict> {
    let mut config = Config::default();
    let at = |line: u32, e: OptionError| match e {
        OptionError::Invalid(m) => Verdict::Fail(format!("{}:{line}: {m}", path.display())),
        OptionError::Unsupported(m) => Verdict::Unsupported(format!("{}:{line}: {m}", path.display())),
    };
    for o in &script.options {
        config
            .apply(&o.name, o.value.as_deref())
            .map_err(|e| at(o.loc.line, e))?;
    }
    config.apply_args(args).map_err(|e| at(0, e))?;
    Ok(config)
}

/// Runs `script` (from `path`) against `target` with `config` (see [`configure`]).
pub fn run(path: &Path, script: &Script, target: &mut dyn Target, config: &Config) -> Verdict {
    let mut r = Runner {
        path: path.display().to_string(),
        // A bare file name's folder is the current one ("" is no folder to run a command in).
        dir: match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        },
        config: config.clone(),
        sockets: Sockets::new(config),
        last: None,
        fds: HashMap::new(),
        pending: None,
        queue: VecDeque::new(),
        under_test: None,
        info: None,
        wants_info: script.events.iter().any(|e| matches!(e.action, Action::Python(_))),
    };
    r.sockets.verify_checksums = target.checksums_complete();
    if let Err(CallError::Unsupported(m) | CallError::Mismatch(m)) = target.configure(config) {
        return Verdict::Unsupported(format!("{}: target setup: {m}", r.path));
    }
    let (init, cleanup) = (
        script.events.iter().find(|e| e.time == EventTime::Init),
        script.events.iter().find(|e| e.time == EventTime::Cleanup),
    );
    if let Some(e) = init {
        if let Err(v) = r.event(e, target) {
            return v;
        }
    }
    target.start_clock();
    let mut verdict = r.events(script, target);
    // The cleanup command runs whatever the outcome (`run_cleanup_command`).
    if let Some(e) = cleanup {
        if let (Err(v), Verdict::Pass) = (r.event(e, target), &verdict) {
            verdict = v;
        }
    }
    verdict
}

struct Runner {
    path: String,
    dir: std::path::PathBuf,
    config: Config,
    sockets: Sockets,
    /// The previous event: its script time (adjusted to the run) and whether it was an
    /// inbound packet.
    last: Option<(Micros, bool)>,
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
}

fn secs(us: Micros) -> String {
    format!("{:.6}", us as f64 / 1e6)
}

impl Runner {
    fn fail<T>(&self, e: &Event, msg: impl std::fmt::Display) -> Result<T, Verdict> {
        Err(Verdict::Fail(format!("{}:{}: {msg}", self.path, e.loc.line)))
    }
    fn unsupported<T>(&self, e: &Event, msg: impl std::fmt::Display) -> Result<T, Verdict> {
        Err(Verdict::Unsupported(format!("{}:{}: {msg}", self.path, e.loc.line)))
    }

    fn events(&mut self, script: &Script, target: &mut dyn Target) -> Verdict {
        for event in script
            .events
            .iter()
            .filter(|e| !matches!(e.time, EventTime::Init | EventTime::Cleanup))
        {
            if let Err(v) = self
                .check_pending(target, None)
                .and_then(|()| self.event(event, target))
            {
                return v;
            }
            if let (true, Some(fd)) = (self.wants_info, self.under_test) {
                if let Ok(info) = target.tcp_info(fd) {
                    self.info = Some(info);
                }
            }
        }
        // packetdrill gives a blocking call a second to return before it exits.
        if self.pending.is_some() {
            let deadline = target.now() + IDLE_WAIT_US;
            if let Err(v) = self.check_pending(target, Some(deadline)) {
                return v;
            }
            if let Some(p) = &self.pending {
                return Verdict::Fail(format!(
                    "{}:{}: runtime error: exiting while a blocking system call is in progress",
                    self.path, p.event.loc.line
                ));
            }
        }
        Verdict::Pass
    }

    /// The event's script time adjusted to the run, and its range end if it has one
    /// (`adjust_relative_event_times`): relative times count from now, or from the previous
    /// event's time for consecutive inbound packets.
    fn times(&self, e: &Event, now: Micros) -> (Micros, Option<Micros>) {
        let inbound = matches!(&e.action, Action::Packet(p) if p.direction == Direction::Inbound);
        let offset = match self.last {
            Some((t, true)) if inbound => t,
            _ => now,
        };
        match e.time {
            EventTime::Init | EventTime::Cleanup => (now, None),
            EventTime::Absolute(t) => (t, None),
            EventTime::Relative(d) => (offset + d, None),
            EventTime::Any => (offset, None),
            EventTime::Range {
                start,
                start_relative,
                end,
                end_relative,
            } => (
                if start_relative { offset + start } else { start },
                Some(if end_relative { offset + end } else { end }),
            ),
        }
    }

    /// packetdrill's tolerance for something expected at `at` after an event at `since`:
    /// `--tolerance_usecs`, or `--tolerance_percent` of the time between if that is more.
    fn tolerance(&self, at: Micros, since: Option<Micros>) -> Micros {
        let dynamic = since.map_or(0, |s| {
            ((at - s) as f64 * self.config.tolerance_percent / 100.0) as Micros
        });
        self.config.tolerance_usecs.max(dynamic)
    }

    /// `verify_time`: whether `actual` is `expected` (or within `[expected, end]`) give or
    /// take the tolerance.
    fn on_time(
        &self,
        e: &Event,
        what: &str,
        expected: Micros,
        end: Option<Micros>,
        actual: Micros,
    ) -> Result<(), Verdict> {
        if e.time == EventTime::Any {
            return Ok(());
        }
        let tolerance = self.tolerance(expected, self.last.map(|(t, _)| t));
        let late_end = end.unwrap_or(expected);
        if actual < expected - tolerance || actual > late_end + tolerance {
            let when = match end {
                Some(end) => format!("in time range {}~{} sec", secs(expected), secs(end)),
                None => format!("at {} sec", secs(expected)),
            };
            return self.fail(
                e,
                format!(
                    "timing error: expected {what} {when} but happened at {} sec; tolerance {} sec",
                    secs(actual),
                    secs(tolerance)
                ),
            );
        }
        Ok(())
    }

    /// Checks whether the blocking call in progress has returned (waiting until `wait_until`
    /// if given), and if so whether it returned at its end time with the expected result.
    fn check_pending(&mut self, target: &mut dyn Target, wait_until: Option<Micros>) -> Result<(), Verdict> {
        if self.pending.is_none() {
            return Ok(());
        }
        let Some((at, got)) = target.finished_call(wait_until) else {
            return Ok(());
        };
        let p = self.pending.take().expect("checked");
        if (at - p.end).abs() > p.tolerance {
            return self.fail(
                &p.event,
                format!(
                    "timing error: expected system call return at {} sec but happened at {} sec; tolerance {} sec",
                    secs(p.end),
                    secs(at),
                    secs(p.tolerance)
                ),
            );
        }
        self.check_result(&p.event, &p.call, got)
    }

    /// Waits for the start of a non-outbound event (`wait_for_event`), keeping what the stack
    /// sends meanwhile for the next `>` line (as packetdrill leaves it in the device), and
    /// fails if the run is already past it.
    fn wait_for(&mut self, e: &Event, t: Micros, target: &mut dyn Target) -> Result<(), Verdict> {
        let packets = target.run_until(t);
        self.queue.extend(packets);
        self.check_pending(target, None)?;
        if self.last.is_some() {
            let what = match &e.action {
                Action::Packet(_) => "inbound packet",
                Action::Syscall(_) => "system call start",
                Action::Shell(_) => "command",
                Action::Python(_) => "data collection for code",
            };
            self.on_time(e, what, t, None, target.now())?;
        }
        Ok(())
    }

    /// The next outbound packet of the socket under test (queued, or waited for until
    /// `deadline`), with its time; others are dropped as packetdrill's sniffer drops them.
    fn next_packet(&mut self, target: &mut dyn Target, deadline: Micros) -> Option<(Micros, Vec<u8>)> {
        loop {
            let (at, bytes) = self.queue.pop_front().or_else(|| target.next_outbound(deadline))?;
            if self.sockets.is_under_test(&bytes) {
                return Some((at, bytes));
            }
        }
    }

    fn event(&mut self, e: &Event, target: &mut dyn Target) -> Result<(), Verdict> {
        let (at, end) = self.times(e, target.now());
        match &e.action {
            Action::Packet(p) if p.direction == Direction::Outbound => self.outbound(e, p, at, end, target)?,
            Action::Packet(p) => {
                self.wait_for(e, at, target)?;
                let ip = IpInfo::parse(&p.ip_annotations).or_else(|m| self.fail(e, m))?;
                let datagram = match &p.kind {
                    PacketKind::Tcp(spec) => self.sockets.inbound_tcp(spec, &ip),
                    PacketKind::Icmp(spec) => self.sockets.inbound_icmp(spec, &ip),
                };
                match datagram {
                    Ok(d) => target.inject(&d),
                    Err(m) => return self.fail(e, format!("error handling packet: {m}")),
                }
            }
            Action::Shell(command) => {
                if !matches!(e.time, EventTime::Init | EventTime::Cleanup) {
                    self.wait_for(e, at, target)?;
                }
                match target.command(command, &self.dir) {
                    Ok(()) => {}
                    Err(CallError::Mismatch(m)) => {
                        let what = match e.time {
                            EventTime::Init => "init command".to_string(),
                            EventTime::Cleanup => "cleanup command".to_string(),
                            _ => format!("`{}` command", command.trim()),
                        };
                        return self.fail(e, format!("error executing {what}: {m}"));
                    }
                    Err(CallError::Unsupported(m)) => return self.unsupported(e, m),
                }
            }
            Action::Python(code) => {
                self.wait_for(e, at, target)?;
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
            Action::Syscall(call) => self.syscall(e, call, at, end, target)?,
        }
        if !matches!(e.time, EventTime::Init | EventTime::Cleanup) {
            let inbound = matches!(&e.action, Action::Packet(p) if p.direction == Direction::Inbound);
            self.last = Some((at, inbound));
        }
        Ok(())
    }

    /// An outbound line (`do_outbound_script_packet`): sniff at once, join split segments,
    /// check the packet, then its time.
    fn outbound(
        &mut self,
        e: &Event,
        p: &PacketSpec,
        at: Micros,
        end: Option<Micros>,
        target: &mut dyn Target,
    ) -> Result<(), Verdict> {
        let PacketKind::Tcp(spec) = &p.kind else {
            return self.unsupported(e, "outbound ICMP lines");
        };
        let ip = IpInfo::parse(&p.ip_annotations).or_else(|m| self.fail(e, m))?;
        if let Err(m) = self.sockets.expect_outbound(spec) {
            return self.fail(e, format!("error handling packet: {m}"));
        }
        // packetdrill's sniffer gives up 2 s after the latest time the line allows.
        let now = target.now();
        let deadline = if e.time == EventTime::Any {
            now + ANY_TIME_WAIT_US
        } else {
            let since_last = end.unwrap_or(at) - self.last.map_or(0, |(t, _)| t);
            now + (since_last.max(0) / 1_000_000 + 2) * 1_000_000
        };
        let Some((live_at, mut bytes)) = self.next_packet(target, deadline) else {
            return self.fail(e, "error handling packet: Timed out waiting for packet");
        };
        // Without --strict_segments, consecutive segments the stack split the line's data
        // into are joined before the line is checked.
        while !self.config.strict_segments
            && crate::packet::tcp_payload_len(&bytes).is_some_and(|n| n < spec.len as usize)
        {
            let Some((_, next)) = self.next_packet(target, deadline) else {
                break;
            };
            match crate::packet::join_segments(&bytes, &next, spec.len as usize) {
                Ok(joined) => bytes = joined,
                Err(m) => return self.fail(e, format!("error handling packet: {m}")),
            }
        }
        if crate::packet::tcp_payload_len(&bytes).is_some_and(|n| n != spec.len as usize) {
            return self.fail(
                e,
                format!(
                    "error handling packet: live packet payload: expected {} bytes vs actual {} bytes",
                    spec.len,
                    crate::packet::tcp_payload_len(&bytes).unwrap_or(0)
                ),
            );
        }
        // TSval tolerance counts from the start of the script (`verify_outbound_tcp_option`).
        let ts_tolerance = self.tolerance(at, Some(0));
        let actual = match self.sockets.check_outbound(spec, &ip, &bytes, ts_tolerance) {
            Ok(actual) => actual,
            Err(m) => return self.fail(e, format!("error handling packet: {m}")),
        };
        self.on_time(e, "outbound packet", at, end, live_at)
            .map_err(|v| match v {
                Verdict::Fail(m) => Verdict::Fail(format!("{m}\n   actual packet: {} {actual}", secs(live_at))),
                other => other,
            })
    }

    /// A system call line: non-blocking ones are made at their time and checked at once;
    /// a blocking one (`a...b`) starts at a and must return at b ± tolerance.
    fn syscall(
        &mut self,
        e: &Event,
        call: &SyscallSpec,
        at: Micros,
        end: Option<Micros>,
        target: &mut dyn Target,
    ) -> Result<(), Verdict> {
        // A call waits (up to a second) for a blocking one to return.
        if self.pending.is_some() {
            let deadline = target.now() + IDLE_WAIT_US;
            self.check_pending(target, Some(deadline))?;
            if self.pending.is_some() && end.is_some() {
                return self.fail(
                    e,
                    format!(
                        "runtime error in {} call: blocking system call while another blocking system call is already in progress",
                        call.name
                    ),
                );
            }
        }
        self.wait_for(e, at, target)?;
        let mut args = match call
            .args
            .iter()
            .map(|a| eval(a, &self.config.defines))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(a) => a,
            // packetdrill fails on a name it does not know.
            Err(m) if m.starts_with("unknown symbol") => {
                return self.fail(e, format!("runtime error in {} call: {m}", call.name))
            }
            Err(m) => return self.unsupported(e, m),
        };
        if let Err(m) = self.map_fds(&call.name, &mut args) {
            return self.fail(e, format!("runtime error in {} call: {m}", call.name));
        }
        if call.name == "connect" {
            if let Some(fd) = call
                .args
                .first()
                .and_then(|a| eval(a, &self.config.defines).ok())
                .and_then(|a| a.int())
            {
                self.sockets.connecting(fd, args.get(1).and_then(Arg::int));
            }
        }
        if let Some(end) = end {
            if let Err(CallError::Unsupported(m) | CallError::Mismatch(m)) = target.start_call(&call.name, &args) {
                return self.unsupported(e, m);
            }
            let tolerance = self.tolerance(end, Some(at));
            self.pending = Some(Pending {
                event: e.clone(),
                call: call.clone(),
                end,
                tolerance,
            });
            return self.check_pending(target, None);
        }
        let got = match target.syscall(&call.name, &args) {
            Ok(r) => r,
            Err(CallError::Unsupported(m)) => return self.unsupported(e, m),
            Err(CallError::Mismatch(m)) => return self.fail(e, format!("runtime error in {} call: {m}", call.name)),
        };
        self.check_result(e, call, got)
    }

    /// Script fds in arguments to the target's: the first argument of every call but those
    /// that make one, and the fd of `epoll_ctl`. An fd the script never got is an error, as
    /// packetdrill's `to_live_fd` says.
    fn map_fds(&self, name: &str, args: &mut [Arg]) -> Result<(), String> {
        let positions: &[usize] = match name {
            n if FD_RETURNING.contains(&n) && n != "accept" && n != "accept4" => &[],
            "poll" | "pipe" => &[],
            "epoll_ctl" => &[0, 2],
            _ => &[0],
        };
        for &i in positions {
            if let Some(Arg::Int(v)) = args.get_mut(i) {
                match self.fds.get(v) {
                    Some(&live) => *v = live,
                    None => return Err(format!("unable to find fd with script fd {v}")),
                }
            }
        }
        // The fd inside an epoll_event or a pollfd names a socket too.
        let structs: Vec<&mut Arg> = match (name, args) {
            ("epoll_ctl", [_, _, _, ev, ..]) => vec![ev],
            ("epoll_wait", [_, ev, ..]) => vec![ev],
            ("poll", [Arg::List(items), ..]) => items.iter_mut().collect(),
            _ => return Ok(()),
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
        Ok(())
    }

    /// `end_syscall`: the result (any fd for calls that make one) and errno, then the
    /// bookkeeping packetdrill does after a call (`run_syscall_*`).
    fn check_result(&mut self, e: &Event, call: &SyscallSpec, got: SysResult) -> Result<(), Verdict> {
        let want = match eval(&call.result, &self.config.defines) {
            Ok(Arg::Int(v)) => v,
            Ok(Arg::Any) => return Ok(()),
            _ => return self.unsupported(e, "a non-integer result"),
        };
        let want_errno = match &call.errno {
            None => None,
            Some(name) => match errno_number(name) {
                Some(n) => Some(n),
                None => return self.fail(e, format!("runtime error in {} call: unknown errno {name}", call.name)),
            },
        };
        let makes_fd = FD_RETURNING.contains(&call.name.as_str()) && want >= 0;
        let (value, errno) = match got {
            SysResult::Ok(v) => (v, 0),
            SysResult::Err(n) => (-1, n),
        };
        let describe = |n: i32| format!("{n} ({})", strerror(n));
        if makes_fd && value < 0 {
            return self.fail(
                e,
                format!(
                    "runtime error in {} call: Expected non-negative result but got -1 with errno {}",
                    call.name,
                    describe(errno)
                ),
            );
        }
        if !makes_fd && value != want {
            return self.fail(
                e,
                format!(
                    "runtime error in {} call: Expected result {want} but got {value} with errno {}",
                    call.name,
                    describe(errno)
                ),
            );
        }
        if let Some(w) = want_errno.filter(|&w| w != errno) {
            return self.fail(
                e,
                format!(
                    "runtime error in {} call: Expected errno {} but got {}",
                    call.name,
                    describe(w),
                    describe(errno)
                ),
            );
        }
        let script_fd = call
            .args
            .first()
            .and_then(|a| eval(a, &self.config.defines).ok())
            .and_then(|a| a.int());
        match (call.name.as_str(), value >= 0) {
            ("socket", true) => {
                self.fds.insert(want, value);
                self.sockets.socket_created(want);
                self.under_test = Some(value);
            }
            ("accept" | "accept4", true) => {
                self.fds.insert(want, value);
                self.under_test = Some(value);
                if let Err(m) = self.sockets.accepted(want) {
                    return self.fail(e, format!("runtime error in {} call: {m}", call.name));
                }
            }
            ("epoll_create" | "epoll_create1", true) => {
                self.fds.insert(want, value);
            }
            ("listen", _) => self.sockets.listened(script_fd.unwrap_or(-1)),
            ("close", _) => {
                let fd = script_fd.unwrap_or(-1);
                self.sockets.closed(fd);
                self.fds.remove(&fd);
            }
            _ => {}
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

/// Linux's text for an errno (`strerror`).
fn strerror(n: i32) -> String {
    if n == 0 {
        return "Success".into();
    }
    synq_core::Errno::from_raw(n).map_or_else(
        || std::io::Error::from_raw_os_error(n).to_string(),
        |e| e.message().to_string(),
    )
}

/// Evaluates an argument expression: `-D` definitions substituted (as packetdrill's lexer
/// does), symbols and errno names to numbers, `|` to their or.
pub fn eval(e: &Expr, defines: &HashMap<String, String>) -> Result<Arg, String> {
    let ev = |x: &Expr| eval(x, defines);
    Ok(match e {
        Expr::Ellipsis => Arg::Any,
        Expr::Int(v) => Arg::Int(*v),
        Expr::Str(s) => Arg::Str(s.clone()),
        Expr::Ident(name) => {
            let name = defines.get(name).unwrap_or(name);
            if let Some(v) = parse_int(name) {
                return Ok(Arg::Int(v));
            }
            let v = symbols::lookup(name)
                .or_else(|| errno_number(name).map(i64::from))
                .ok_or(format!("unknown symbol: '{name}'"))?;
            Arg::Int(v)
        }
        Expr::Or(parts) => {
            let mut v = 0;
            for p in parts {
                match ev(p)? {
                    Arg::Int(x) => v |= x,
                    _ => return Err("`|` of non-integers".into()),
                }
            }
            Arg::Int(v)
        }
        Expr::List(items) => Arg::List(items.iter().map(ev).collect::<Result<_, _>>()?),
        Expr::Struct(fields) => Arg::Struct(
            fields
                .iter()
                .map(|f| Ok((f.name.clone(), ev(&f.value)?)))
                .collect::<Result<_, String>>()?,
        ),
        Expr::Call(name, args) => match (name.as_str(), &args[..]) {
            ("htons", [x]) => match ev(x)? {
                Arg::Int(v) => Arg::Int(i64::from((v as u16).to_be())),
                _ => return Err("htons() of a non-integer".into()),
            },
            ("htonl", [x]) => match ev(x)? {
                Arg::Int(v) => Arg::Int(i64::from((v as u32).to_be())),
                _ => return Err("htonl() of a non-integer".into()),
            },
            _ => return Err(format!("function {name}() in arguments")),
        },
    })
}

/// A number as C's `strtol(s, &end, 0)` reads a whole word.
fn parse_int(s: &str) -> Option<i64> {
    let (neg, digits) = s.strip_prefix('-').map_or((false, s), |d| (true, d));
    let v = if let Some(h) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8).ok()?
    } else {
        digits.parse().ok()?
    };
    Some(if neg { -v } else { v })
}
