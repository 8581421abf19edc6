//! Point-to-point links and their impairments.

use synq_core::Duration;

/// Names a link of a [`crate::Sim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkId(pub(crate) usize);

/// How a link treats the datagrams it carries, the same in both directions.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `[0, jitter]` for each datagram (may reorder).
    pub jitter: Duration,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability that a datagram is held back by `reorder_delay`, letting later ones pass.
    pub reorder: f64,
    /// How long a reordered datagram is held back.
    pub reorder_delay: Duration,
    /// Bits per second; `None` for no limit. Datagrams queue behind each other in the sender's
    /// direction and take `len × 8 / rate` to serialise.
    pub bandwidth_bps: Option<u64>,
    /// Record every datagram sent on the link for its pcap.
    pub capture: bool,
}

impl Default for LinkConfig {
    /// A perfect link: no delay, no impairment, no bandwidth limit, captured.
    fn default() -> Self {
        LinkConfig {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(5),
            bandwidth_bps: None,
            capture: true,
        }
    }
}

impl LinkConfig {
    /// A perfect link with a one-way `delay`.
    pub fn with_delay(delay: Duration) -> LinkConfig {
        LinkConfig {
            delay,
            ..LinkConfig::default()
        }
    }
}

/// What a link did with the datagrams it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    /// Datagrams handed to the link.
    pub sent: u64,
    /// Datagrams dropped by `loss`.
    pub lost: u64,
    /// Extra copies made by `duplicate`.
    pub duplicated: u64,
    /// Datagrams held back by `reorder`.
    pub reordered: u64,
    /// Datagrams (copies included) handed to the receiving host.
    pub delivered: u64,
}
