//! synq's simulated network: hosts joined by point-to-point links with delay, jitter, loss,
//! duplication, reordering and a bandwidth limit, driven by a discrete-event loop in virtual
//! time. One seeded RNG per run makes every run repeatable byte for byte, pcap included.
//!
//! A host is either a [`synq_core::Stack`] or a scripted endpoint: a test's hand, which sends
//! hand-built segments ([`Sim::send_tcp`]) and reads what arrives ([`Sim::recv`]). That is
//! how core tests talk to a stack.

mod describe;
mod host;
mod link;
mod pcap;
mod sim;
mod soak;

pub use describe::describe;
pub use host::{HostId, Received};
pub use link::{LinkConfig, LinkId, LinkStats};
pub use sim::{Sim, TraceEntry, TraceFate};
pub use soak::{soak, SoakReport};
