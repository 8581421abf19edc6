//! synq's socket APIs on a synq stack driven on a real device ([`TunDriver`]).
//!
//! - [`net`]: blocking, shaped like `std::net`: after [`net::set_default`], a program written
//!   against `std::net` runs on synq by changing its imports.

pub mod net;

pub use synq_driver::{TunConfig, TunDriver};
