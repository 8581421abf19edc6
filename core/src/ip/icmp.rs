//! ICMP input (`icmp_rcv`): errors are validated, counted and, once TCP has sockets, handed
//! to `tcp_v4_err` for the socket their quoted header names.

use crate::base::mib::Counter;
use crate::base::time::Instant;
use crate::ip::input::malformed_counter;
use crate::stack::Stack;
use synq_wire::{Error, IcmpMessage, IcmpRepr};

impl Stack {
    /// `icmp_rcv`: counts the message by type; malformed ones are counted as `IcmpInErrors`
    /// and dropped. No socket exists yet for an error to concern, so nothing further happens.
    pub(crate) fn icmp_rcv(&mut self, _now: Instant, message: &[u8]) {
        self.mib.inc(Counter::IcmpInMsgs);
        match IcmpRepr::parse(message) {
            Ok(icmp) => {
                let counter = match icmp.message {
                    IcmpMessage::DstUnreachable { .. } => Counter::IcmpInDestUnreachs,
                    IcmpMessage::TimeExceeded { .. } => Counter::IcmpInTimeExcds,
                };
                self.mib.inc(counter);
            }
            Err(Error::UnsupportedIcmpType(t)) => {
                tracing::trace!(icmp_type = t, "ICMP type TCP does not act on");
                self.mib.inc(Counter::SynqInIcmpIgnored);
            }
            Err(e) => {
                if e == Error::BadChecksum {
                    self.mib.inc(Counter::IcmpInCsumErrors);
                }
                self.mib.inc(Counter::IcmpInErrors);
                self.mib.inc(malformed_counter(e));
            }
        }
    }
}
