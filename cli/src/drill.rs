//! `synq drill`: runs packetdrill scripts against a target and prints one line per script.

use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use synq_drill::{run, SynqTarget, Verdict};

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
    /// `-D NAME=VALUE` definitions scripts may use (TFO cookies, ICMP codes).
    #[arg(short = 'D', value_name = "NAME=VALUE")]
    define: Vec<String>,
    /// Script files or folders of scripts.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

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

/// Runs one parsed script on a fresh target: a new synq stack, or a new network namespace
/// with a TUN device for the kernel.
pub fn run_one(
    target: TargetName,
    path: &Path,
    script: synq_drill::ast::Script,
    defines: std::collections::HashMap<String, String>,
) -> Verdict {
    match target {
        TargetName::Synq => run(path, &script, &mut SynqTarget::new(), defines),
        TargetName::Kernel => synq_drill::target_kernel::run_on_kernel(path, script, defines),
    }
}

/// Runs the scripts; fails when any script fails.
pub fn run_drill(args: &DrillArgs) -> Result<(), String> {
    if args.target == TargetName::Kernel {
        if let Some(why) = synq_drill::target_kernel::unavailable() {
            return Err(format!("drill: the kernel target needs root and iproute2: {why}"));
        }
    }
    let mut defines = std::collections::HashMap::new();
    for d in &args.define {
        let (k, v) = d.split_once('=').ok_or(format!("drill: -D {d}: expected NAME=VALUE"))?;
        defines.insert(k.to_string(), v.to_string());
    }
    let mut scripts = Vec::new();
    for p in &args.paths {
        collect(p, &mut scripts)?;
    }
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for path in &scripts {
        let verdict = match synq_drill::parse_file(path) {
            Ok(script) => run_one(args.target, path, script, defines.clone()),
            Err(e) => Verdict::Fail(e.to_string()),
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
                let short: String = m.chars().take(160).collect();
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
        return Err(format!("drill: {failed} script(s) failed"));
    }
    Ok(())
}
