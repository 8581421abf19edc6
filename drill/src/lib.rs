//! packetdrill scripts for synq: the language as Linux's selftests, google/packetdrill's and
//! gVisor's scripts use it, parsed into an [`ast::Script`]. The runner and its two targets
//! (the Linux kernel, synq) build on this.

pub mod ast;
pub mod config;
pub mod packet;
mod parser;
mod python;
pub mod runner;
pub mod shell;
mod symbols;
pub mod target_kernel;
pub mod target_synq;

pub use config::Config;
pub use parser::{parse, parse_file, ParseError};
pub use runner::{configure, run, Target, Verdict};
pub use target_kernel::KernelTarget;
pub use target_synq::SynqTarget;

/// Parses the script at `path`, configures the run as packetdrill would (its defaults, the
/// script's option lines, then `args`: `--name=value`, `-D NAME=VALUE`) and runs it on
/// `target`. A script packetdrill cannot parse fails, as it does there.
pub fn run_path(path: &std::path::Path, args: &[String], target: &mut dyn Target) -> Verdict {
    let script = match parse_file(path) {
        Ok(s) => s,
        Err(e) => return Verdict::Fail(e.to_string()),
    };
    match configure(path, &script, args) {
        Ok(config) => run(path, &script, target, &config),
        Err(v) => v,
    }
}
