//! packetdrill scripts for synq: the language as Linux's selftests, google/packetdrill's and
//! gVisor's scripts use it, parsed into an [`ast::Script`]. The runner and its two targets
//! (the Linux kernel, synq) build on this.

pub mod ast;
mod parser;

pub use parser::{parse, parse_file, ParseError};
