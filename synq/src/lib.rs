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

/// A stack at `addr` with Linux's defaults (its sockets owned by root, as a TUN proxy's
/// are) driven on a new TUN device as `config` says; give it to [`net::set_default`] or use
/// it with the `*_on` forms. Needs CAP_NET_ADMIN and `/dev/net/tun`.
pub fn on_tun(addr: std::net::Ipv4Addr, config: &TunConfig) -> std::io::Result<std::sync::Arc<TunDriver>> {
    let mut stack = synq_core::StackConfig::new(addr);
    stack.credentials = synq_core::Credentials::ROOT;
    Ok(std::sync::Arc::new(TunDriver::start(
        synq_core::Stack::new(stack),
        config,
    )?))
}
