//! ICMP input (`icmp_rcv`): errors are validated and counted, then handed to `tcp_v4_err`
//! for the socket their quoted header names.

use crate::base::mib::{Counter, Mib};
use crate::ip::input::drop_malformed;
use synq_wire::{Error, IcmpMessage, IcmpRepr};

/// `icmp_rcv`: counts the message by type and returns it for the transport; malformed ones
/// are counted as `IcmpInErrors` and dropped.
pub(crate) fn icmp_rcv<'a>(mib: &mut Mib, message: &'a [u8]) -> Option<IcmpRepr<'a>> {
    mib.inc(Counter::IcmpInMsgs);
    match IcmpRepr::parse(message) {
        Ok(icmp) => {
            let counter = match icmp.message {
                IcmpMessage::DstUnreachable { .. } => Counter::IcmpInDestUnreachs,
                IcmpMessage::TimeExceeded { .. } => Counter::IcmpInTimeExcds,
            };
            mib.inc(counter);
            return Some(icmp);
        }
        Err(Error::UnsupportedIcmpType(t)) => {
            tracing::trace!(icmp_type = t, "ICMP type TCP does not act on");
            mib.inc(Counter::SynqInIcmpIgnored);
        }
        Err(e) => {
            if e == Error::BadChecksum {
                mib.inc(Counter::IcmpInCsumErrors);
            }
            drop_malformed(mib, Counter::IcmpInErrors, e);
        }
    }
    None
}
