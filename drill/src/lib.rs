//! packetdrill scripts for synq: the language as Linux's selftests, google/packetdrill's and
//! gVisor's scripts use it, parsed into an [`ast::Script`]. The runner and its two targets
//! (the Linux kernel, synq) build on this.

pub mod ast;
pub mod packet;
mod parser;
mod python;
pub mod runner;
pub mod shell;
mod symbols;
pub mod target_kernel;
pub mod target_synq;

pub use parser::{parse, parse_file, ParseError};
pub use runner::{run, Target, Verdict};
pub use target_kernel::KernelTarget;
pub use target_synq::SynqTarget;
