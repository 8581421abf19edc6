//! `synq drill`: runs packetdrill scripts against a target and prints one line per script.

use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use synq_drill::{SynqTarget, Verdict};

/// Where scripts run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetName {
    /// synq's stack in virtual time.
    Synq,
    /// This machine's Linux kernel, in a fresh network namespace behind a TUN device.
    Kernel,
}

/// Options of `synq drill`.
#[derive(Args, Debug)]
pub struct DrillArgs {
    /// The stack under test.
    #[arg(long, value_enum, default_value_t = TargetName::Synq)]
    target: TargetName,
    /// Print the reason for every script that does not pass, in full.
    #[arg(long)]
    verbose: bool,
    /// Exit 0 even when some scripts could not be run on the target (otherwise: exit 2).
    #[arg(long)]
    allow_unsupported: bool,
    /// `-D NAME=VALUE` definitions scripts may use (TFO cookies, ICMP codes).
    #[arg(short = 'D', value_name = "NAME=VALUE")]
    define: Vec<String>,
    /// A packetdrill option for every script, without its dashes (`-O tolerance_usecs=10000`,
    /// `-O mss=1000`, `-O tcp_ts_tick_usecs=1000`); script option lines come first, these
    /// after, as on packetdrill's command line.
    #[arg(short = 'O', long = "option", value_name = "NAME[=VALUE]")]
    options: Vec<String>,
    /// Script files or folders of scripts.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

/// How `synq drill` ended: `Err` with the exit status and message.
pub type Outcome = Result<(), (u8, String)>;

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() || p.extension().is_some_and(|e| e == "pkt") {
                collect(&p, out)?;
            }
        }
        Ok(())
    } else if path.exists() {
        out.push(path.to_path_buf());
        Ok(())
    } else {
        Err(format!("{}: no such file or directory", path.display()))
    }
}

/// Runs the scripts: exit status 1 when any failed, 2 when any could not be run (unless
/// `--allow-unsupported`); a script that could not be run is never a pass.
pub fn run_drill(args: &DrillArgs) -> Outcome {
    if args.target == TargetName::Kernel {
        if let Some(why) = synq_drill::target_kernel::unavailable() {
            return Err((1, format!("drill: the kernel target needs root and iproute2: {why}")));
        }
    }
    let mut pd_args: Vec<String> = args.options.iter().map(|o| format!("--{o}")).collect();
    for d in &args.define {
        pd_args.push(format!("-D{d}"));
    }
    let mut scripts = Vec::new();
    for p in &args.paths {
        collect(p, &mut scripts).map_err(|e| (1, e))?;
    }
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for path in &scripts {
        let verdict = match args.target {
            TargetName::Synq => synq_drill::run_path(path, &pd_args, &mut SynqTarget::new()),
            TargetName::Kernel => synq_drill::target_kernel::run_path(path, &pd_args),
        };
        let (word, detail) = match &verdict {
            Verdict::Pass => {
                passed += 1;
                ("pass", None)
            }
            Verdict::Fail(m) => {
                failed += 1;
                ("FAIL", Some(m))
            }
            Verdict::Unsupported(m) => {
                skipped += 1;
                ("unsupported", Some(m))
            }
        };
        match detail {
            None => println!("{word:<12} {}", path.display()),
            Some(m) if args.verbose => println!("{word:<12} {}\n             {m}", path.display()),
            Some(m) => {
                let first = m.lines().next().unwrap_or_default();
                let short: String = first.chars().take(160).collect();
                println!(
                    "{word:<12} {}  {}",
                    path.display(),
                    short.rsplit_once(".pkt:").map_or(short.as_str(), |(_, r)| r)
                )
            }
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 {
        return Err((1, format!("drill: {failed} script(s) failed")));
    }
    if skipped > 0 && !args.allow_unsupported {
        return Err((2, format!("drill: {skipped} script(s) could not be run on this target")));
    }
    Ok(())
}
