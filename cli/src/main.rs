//! `synq`: the command-line face of synq.

mod bench;
mod bench_connect;
mod bench_established;
mod bench_listen;
mod bench_tun;
mod control;
mod demo;
mod drill;
mod serve;
mod soak;

use clap::{Parser, Subcommand};

/// Counts allocations and live bytes (for `synq bench established`).
#[global_allocator]
static ALLOCATOR: bench_established::CountingAlloc = bench_established::CountingAlloc;
use std::process::ExitCode;
use synq_core::Sysctl;

#[derive(Parser)]
#[command(
    name = "synq",
    version,
    about = "A user-space TCP/IPv4 stack whose connection setup behaves like Linux's"
)]
struct Cli {
    /// More log output on stderr (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short = 'v', long = "log-verbosity", global = true, action = clap::ArgAction::Count)]
    log_verbosity: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the sysctl knobs with their values and Linux's defaults, or check assignments.
    Sysctl {
        /// Assign NAME=VALUE (repeatable), validated as Linux validates it.
        #[arg(short = 'w', long = "write", value_name = "NAME=VALUE")]
        write: Vec<String>,
        /// Show only these knobs.
        names: Vec<String>,
    },
    /// Run the demo: a scripted client and a synq host on a simulated link, in virtual time.
    Sim(demo::DemoArgs),
    /// The counters of a running `synq serve`/`connect`, as `nstat -a` shows them (with
    /// `--sim`: of the simulated demo's server after its run).
    Nstat {
        /// Show counters that are zero too (as `nstat -z`).
        #[arg(short = 'z', long)]
        zeros: bool,
        /// The device of the running synq to ask (else every one running).
        #[arg(long, value_name = "NAME", conflicts_with = "sim")]
        tun: Option<String>,
        /// Run the simulated demo (`synq sim`'s options) and show its server's counters.
        #[arg(long)]
        sim: bool,
        #[command(flatten)]
        sim_args: demo::DemoArgs,
    },
    /// The sockets of a running `synq serve`/`connect`, as `ss -tan` shows them.
    Ss(control::SsArgs),
    /// Measure synq next to the Linux kernel in the same run.
    Bench(bench::BenchArgs),
    /// Two synq stacks move a stream each way over lossy, reordering, duplicating simulated
    /// links for many seeds: every byte checked, every close and TIME_WAIT on schedule.
    Soak(soak::SoakArgs),
    /// Run packetdrill scripts against synq, or against this machine's kernel (`--target kernel`).
    Drill(drill::DrillArgs),
    /// Serve on a TUN device this command creates: echo, discard or files over HTTP, to the
    /// kernel on the device's other side, until SIGINT/SIGTERM (needs CAP_NET_ADMIN).
    Serve(serve::ServeArgs),
    /// Connect through a TUN device this command creates to a server of the kernel, send a
    /// file, receive the answer; exit status 1 with Linux's error text on failure.
    Connect(serve::ConnectArgs),
    /// Serve a file from synq on a TUN device in a private network namespace, fetch it with the
    /// kernel's own client, show what happened, tear it all down (needs root; `sim` does not).
    Demo(serve::DemoArgs),
}

fn main() -> ExitCode {
    // A closed pipe ends the program quietly, as for any Unix filter (`synq drill ... | head`):
    // Rust's runtime ignores SIGPIPE, which would turn the write error into a panic.
    // SAFETY: restoring a signal's default disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let level = match cli.log_verbosity {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Sysctl { write, names } => sysctl(&write, &names),
        Command::Sim(args) => demo::run(&args),
        Command::Nstat {
            zeros,
            sim: true,
            sim_args,
            ..
        } => demo::nstat(&sim_args, zeros),
        Command::Nstat { zeros, tun, .. } => control::nstat(tun.as_deref(), zeros),
        Command::Ss(args) => control::ss(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Soak(args) => soak::run(&args),
        Command::Serve(args) => serve::serve(&args),
        Command::Connect(args) => serve::connect(&args),
        Command::Demo(args) => serve::demo(&args),
        Command::Drill(args) => {
            return match drill::run_drill(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err((code, message)) => {
                    eprintln!("synq: {message}");
                    ExitCode::from(code)
                }
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("synq: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `synq sysctl`: applies `-w` assignments to a fresh stack's knobs, then prints the knobs
/// (all, or those named / assigned) as `name = value`, with Linux's default beside any value
/// that differs from it.
fn sysctl(writes: &[String], names: &[String]) -> Result<(), String> {
    let mut knobs = Sysctl::default();
    for w in writes {
        let name = w.split_once('=').map_or(w.as_str(), |(n, _)| n);
        knobs
            .apply(w)
            .map_err(|e| format!("sysctl: setting key \"{name}\": {}", e.message()))?;
    }
    let mut wanted: Vec<String> = names.iter().map(|n| n.replace('/', ".")).collect();
    wanted.extend(
        writes
            .iter()
            .filter_map(|w| w.split_once('='))
            .map(|(n, _)| n.replace('/', ".")),
    );
    for n in &wanted {
        knobs
            .get(n)
            .map_err(|e| format!("sysctl: cannot stat /proc/sys/{}: {}", n.replace('.', "/"), e.message()))?;
    }
    for (name, value, default) in knobs.entries() {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == name) {
            continue;
        }
        let value = value.replace('\t', " ");
        let default = default.replace('\t', " ");
        if value == default {
            println!("{name} = {value}");
        } else {
            println!("{name} = {value}    (default: {default})");
        }
    }
    Ok(())
}
