//! Shell lines of scripts, read as settings of a target without a shell of its own (synq):
//! `sysctl -q name=value ...`, `set_sysctls.py /proc/sys/path=value ...`, shell scripts the
//! line runs (the corpus's `defaults.sh`, found at the path as written, relative to the
//! script's folder, as `/bin/sh` would find it), `nstat`, and the restore script those write.
//! As in a shell, a command's status is its last line's. Anything else is reported as
//! unsupported.

use std::path::Path;

/// What a shell line means for a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellAction {
    /// Set these sysctls, in order (dotted names).
    Sysctls(Vec<(String, String)>),
    /// Nothing to do on a fresh target without a device (a restore script, flushing
    /// tcp_metrics, `tc qdisc ... dev tun0`, segmentation offloads off, `true`).
    Nothing,
    /// A shell script the line runs: its lines, its status the last one's.
    Script(Vec<ShellAction>),
    /// `false`: a command that fails.
    False,
    /// `exit N`: the end of the command, with status N.
    Exit(u8),
    /// `tc qdisc add dev tun0 root pfifo [limit N]` (or `tc qdisc delete dev tun0 root`: the
    /// default queue): the device queue's length limit.
    DeviceQueue(Option<usize>),
    /// `nstat -n`: remember the counters now.
    NstatReset,
    /// `nstat [-a] [-s] | grep NAME | grep -q " N "`: the counter moved by N since the last
    /// reset (`-a`: since the start); without `-s` the reset point moves to now.
    NstatCheck {
        /// nstat name.
        name: String,
        /// Expected change.
        delta: u64,
        /// Whether to move the reset point (no `-s`).
        update: bool,
        /// Absolute values (`-a`).
        absolute: bool,
    },
}

/// Interprets a backtick command (possibly several lines) from a script in `script_dir`.
pub fn interpret(command: &str, script_dir: &Path) -> Result<Vec<ShellAction>, String> {
    let mut actions = Vec::new();
    for line in command
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        for part in line.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            actions.push(interpret_line(part, script_dir)?);
        }
    }
    Ok(actions)
}

/// `ethtool -K tun0 tso off gso off ...`: synq never hands the device a segment larger than
/// the MSS, so turning segmentation offloads off changes nothing (turning one on is not
/// modelled).
fn offloads_off(words: &[String]) -> bool {
    match words {
        [program, k, dev, features @ ..] if program == "ethtool" && k == "-K" && dev == "tun0" => {
            !features.is_empty() && features.len() % 2 == 0 && features.chunks(2).all(|f| f[1] == "off")
        }
        _ => false,
    }
}

fn interpret_line(line: &str, script_dir: &Path) -> Result<ShellAction, String> {
    // Redirections of output change nothing here.
    let line = line
        .split(" >")
        .next()
        .unwrap_or(line)
        .split(" 2>")
        .next()
        .unwrap_or(line)
        .trim();
    let words = split_words(line);
    let Some(first) = words.first() else {
        return Ok(ShellAction::Nothing);
    };
    let program = first.rsplit('/').next().unwrap_or(first);
    if program == "sysctl" {
        let assignments: Vec<(String, String)> = words[1..]
            .iter()
            .filter(|w| !w.starts_with('-'))
            .map(|w| {
                w.split_once('=')
                    .map(|(n, v)| (n.to_string(), expand(v)))
                    .ok_or(format!("sysctl without `=`: {line}"))
            })
            .collect::<Result<_, _>>()?;
        return Ok(ShellAction::Sysctls(assignments));
    }
    if program == "set_sysctls.py" {
        let assignments = words[1..]
            .iter()
            .map(|w| {
                let (path, v) = w.split_once('=').ok_or(format!("set_sysctls.py without `=`: {line}"))?;
                let name = path.trim_start_matches("/proc/sys/").replace('/', ".");
                Ok((name, expand(v)))
            })
            .collect::<Result<_, String>>()?;
        return Ok(ShellAction::Sysctls(assignments));
    }
    if program == "nstat" {
        return nstat(line);
    }
    match (program, &words[1..]) {
        ("false", []) => return Ok(ShellAction::False),
        ("exit", []) => return Ok(ShellAction::Exit(0)),
        ("exit", [n]) => {
            return n
                .parse::<i64>()
                .map(|n| ShellAction::Exit(n as u8))
                .map_err(|_| format!("unsupported shell command `{line}`"))
        }
        _ => {}
    }
    if program == "tc" && words.iter().any(|w| w == "tun0") {
        return Ok(tc_qdisc(&words));
    }
    if program.starts_with("sysctl_restore_")
        || line.starts_with("ip tcp_metrics flush")
        || program == "true"
        || offloads_off(&words)
    {
        return Ok(ShellAction::Nothing);
    }
    if program.ends_with(".sh") && first.contains('/') {
        let path = script_dir.join(first);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("`{first}`: {e}"))?;
        let dir = path.parent().unwrap_or(script_dir);
        return interpret(&text, dir).map(ShellAction::Script);
    }
    Err(format!("unsupported shell command `{line}`"))
}

/// `tc qdisc add|replace dev tun0 root pfifo limit N` bounds the device queue; deleting the
/// root qdisc or adding one without a limit leaves it unbounded (as the default queue, long
/// enough for a script, is); other `tc` lines change nothing synq has.
fn tc_qdisc(words: &[String]) -> ShellAction {
    let w: Vec<&str> = words.iter().map(String::as_str).filter(|w| !w.contains('>')).collect();
    match w.as_slice() {
        ["tc", "qdisc", "add" | "replace", .., "root", "pfifo", "limit", n] => n
            .parse()
            .map_or(ShellAction::Nothing, |n| ShellAction::DeviceQueue(Some(n))),
        ["tc", "qdisc", "add" | "replace", .., "root", _] | ["tc", "qdisc", "delete" | "del", .., "root"] => {
            ShellAction::DeviceQueue(None)
        }
        _ => ShellAction::Nothing,
    }
}

/// The two shapes of `nstat` lines the corpus uses.
fn nstat(line: &str) -> Result<ShellAction, String> {
    let stages: Vec<Vec<String>> = line.split('|').map(|s| split_words(s.trim())).collect();
    let first = &stages[0];
    if stages.len() == 1 && first.len() == 2 && first[1] == "-n" {
        return Ok(ShellAction::NstatReset);
    }
    let flags: Vec<&str> = first[1..].iter().map(String::as_str).collect();
    if flags.iter().any(|f| !matches!(*f, "-s" | "-a" | "-z")) {
        return Err(format!("unsupported nstat command `{line}`"));
    }
    let update = !flags.contains(&"-s");
    let absolute = flags.contains(&"-a");
    if let [_, grep_name, grep_value] = &stages[..] {
        if let ([g1, name], [g2, q, value]) = (&grep_name[..], &grep_value[..]) {
            if g1 == "grep" && g2 == "grep" && q == "-q" {
                if let Ok(delta) = value.trim().parse() {
                    return Ok(ShellAction::NstatCheck {
                        name: name.clone(),
                        delta,
                        update,
                        absolute,
                    });
                }
            }
        }
    }
    Err(format!("unsupported nstat command `{line}`"))
}

/// Words split on spaces, with double quotes grouping.
fn split_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Expands the shell arithmetic the corpus uses in values: `$((15*1024*1024))`.
fn expand(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find("$((") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 3..];
        let Some(j) = after.find("))") else { break };
        let product = after[..j]
            .split('*')
            .map(|t| t.trim().parse::<u64>().unwrap_or(0))
            .product::<u64>();
        out.push_str(&product.to_string());
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_lines() {
        let here = Path::new(".");
        let a = interpret("sysctl -q net.ipv4.tcp_rmem=\"4096 32768 $((32*1024*1024))\"", here).unwrap();
        assert_eq!(
            a,
            vec![ShellAction::Sysctls(vec![(
                "net.ipv4.tcp_rmem".into(),
                "4096 32768 33554432".into()
            )])]
        );
        let a = interpret("sysctl -q net.ipv4.tcp_early_retrans=4 net.ipv4.tcp_recovery=1", here).unwrap();
        assert!(matches!(&a[..], [ShellAction::Sysctls(v)] if v.len() == 2));
        let a = interpret("./set_sysctls.py /proc/sys/net/ipv4/tcp_rto_max_ms=1000", here).unwrap();
        assert_eq!(
            a,
            vec![ShellAction::Sysctls(vec![(
                "net.ipv4.tcp_rto_max_ms".into(),
                "1000".into()
            )])]
        );
        assert_eq!(
            interpret("/tmp/sysctl_restore_${PPID}.sh", here).unwrap(),
            vec![ShellAction::Nothing]
        );
        let a = interpret(
            "tc qdisc delete dev tun0 root 2>/dev/null ; tc qdisc add dev tun0 root pfifo limit 0",
            here,
        );
        assert_eq!(
            a.unwrap(),
            vec![ShellAction::DeviceQueue(None), ShellAction::DeviceQueue(Some(0))]
        );
        let a = interpret("ethtool -K tun0 tso off gso off", here);
        assert_eq!(a.unwrap(), vec![ShellAction::Nothing]);
        assert!(interpret("ethtool -K tun0 tso on", here).is_err());
        assert_eq!(interpret("nstat -n", here).unwrap(), vec![ShellAction::NstatReset]);
        let a = interpret("nstat -s | grep TcpExtTCPRcvQDrop| grep -q \" 1 \"", here).unwrap();
        assert_eq!(
            a,
            vec![ShellAction::NstatCheck {
                name: "TcpExtTCPRcvQDrop".into(),
                delta: 1,
                update: false,
                absolute: false
            }]
        );
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/packetdrill/gtests/net/tcp/mss");
        if corpus.is_dir() {
            // `../common/defaults.sh` is that file, whose status is its last line's.
            let a = interpret("../common/defaults.sh", &corpus).unwrap();
            let [ShellAction::Script(lines)] = &a[..] else {
                panic!("{a:?}")
            };
            assert!(lines.contains(&ShellAction::Sysctls(vec![("net.ipv4.tcp_sack".into(), "1".into())])));
        }
        assert!(interpret("./no_such_defaults.sh", here).is_err());
        assert_eq!(
            interpret("false; exit 3", here).unwrap(),
            vec![ShellAction::False, ShellAction::Exit(3)]
        );
        assert!(interpret("ip link show", here).unwrap_err().contains("unsupported"));
    }
}
