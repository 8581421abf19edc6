//! synq's socket APIs on a synq stack driven on a real device ([`TunDriver`]).
//!
//! - [`net`]: blocking, shaped like `std::net`: after [`net::set_default`], a program written
//!   against `std::net` runs on synq by changing its imports.
//! - [`tokio`]: async, shaped like `tokio::net` (any tokio runtime drives it): a program
//!   written against `tokio::net` runs on synq by changing its imports.

pub mod net;
mod sock;
pub mod tokio;

pub use synq_driver::{TunConfig, TunDriver};
