//! SYN_SENT as a value a test can step: what a connecting socket knows before the peer
//! answers, what a segment does to it (`tcp_rcv_synsent_state_process`, rules C34–C40) and
//! its retransmission schedule ([`SynRetransmit`], rules C25–C27).

use crate::base::seq::{between, SeqNum};
use crate::tcp::tcp_timer::SynRetransmit;
use synq_wire::TcpRepr;

/// A socket in SYN_SENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynSent {
    /// Our initial sequence number (`snd_una`; the SYN's).
    pub iss: SeqNum,
    /// When the first SYN went out, `tcp_clock_ms` (`retrans_stamp`).
    pub retrans_stamp_ms: u32,
    /// Our timestamp offset (`tsoffset`), taken off the peer's TSecr.
    pub ts_off: u32,
    /// The peer TSval a recycled TIME_WAIT handed down (`ts_recent`), if any.
    pub ts_recent: Option<u32>,
    /// The SYN's resends and RTO.
    pub retransmit: SynRetransmit,
}

/// What a segment does to a socket in SYN_SENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynSentInput {
    /// Unacceptable: it acknowledges something other than our SYN (C34), or its TSecr
    /// is not one of ours (C35, `paws`). A reset with sequence `reset` answers it unless it is
    /// itself a reset; after a bad ACK that came before any resend, the SYN goes again at once
    /// (`resend_syn`: the timer re-armed to `TCP_TIMEOUT_MIN`). The socket stays in SYN_SENT.
    Reject {
        reset: Option<u32>,
        resend_syn: bool,
        paws: bool,
    },
    /// A reset that acknowledges our SYN: the connection is refused, `ECONNREFUSED` (C36).
    Refused,
    /// The SYN-ACK: the connection is established (C38).
    Established,
    /// A SYN without ACK: simultaneous open, to SYN_RECV with a SYN-ACK (C39).
    SimultaneousOpen,
    /// Dropped without a word: a reset without ACK (C36), an ACK without SYN (C37), a SYN
    /// older than an inherited timestamp (C39), neither SYN nor RST nor ACK (C40).
    Drop,
}

impl SynSent {
    /// `tcp_rcv_synsent_state_process`'s verdict on `seg` at `now_ms` (`tcp_clock_ms`).
    pub fn on_segment(&self, seg: &TcpRepr, now_ms: u32) -> SynSentInput {
        let snd_nxt = self.iss + 1;
        if seg.flags.ack() {
            let ack = SeqNum(seg.ack);
            if !ack.after(self.iss) || ack.after(snd_nxt) {
                return SynSentInput::Reject {
                    reset: (!seg.flags.rst()).then_some(seg.ack),
                    resend_syn: self.retransmit.retransmits == 0,
                    paws: false,
                };
            }
            if let Some(ts) = seg.options.timestamp {
                let tsecr = ts.tsecr.wrapping_sub(self.ts_off);
                if ts.tsecr != 0 && tsecr != 0 && !between(tsecr, self.retrans_stamp_ms, now_ms) {
                    return SynSentInput::Reject {
                        reset: (!seg.flags.rst()).then_some(seg.ack),
                        resend_syn: false,
                        paws: true,
                    };
                }
            }
            return match (seg.flags.rst(), seg.flags.syn()) {
                (true, _) => SynSentInput::Refused,
                (false, true) => SynSentInput::Established,
                (false, false) => SynSentInput::Drop,
            };
        }
        if seg.flags.rst() {
            return SynSentInput::Drop;
        }
        // `tcp_paws_reject`: a SYN older than the timestamp a TIME_WAIT handed down.
        if let (Some(recent), Some(ts)) = (self.ts_recent, seg.options.timestamp) {
            if recent != 0 && (recent.wrapping_sub(ts.tsval) as i32) > 0 {
                return SynSentInput::Drop;
            }
        }
        if seg.flags.syn() {
            SynSentInput::SimultaneousOpen
        } else {
            SynSentInput::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::time::Duration;
    use synq_wire::{TcpFlags, TcpOptions, Timestamp};

    const ISS: u32 = 1_000_000;

    fn conn() -> SynSent {
        SynSent {
            iss: SeqNum(ISS),
            retrans_stamp_ms: 5_000,
            ts_off: 700,
            ts_recent: None,
            retransmit: SynRetransmit::new(Duration::from_secs(1)),
        }
    }

    fn seg(flags: TcpFlags, ack: u32) -> TcpRepr<'static> {
        TcpRepr {
            src_port: 80,
            dst_port: 40000,
            seq: 42,
            ack,
            flags,
            window: 65535,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[],
        }
    }

    fn with_ts(mut s: TcpRepr<'static>, tsval: u32, tsecr: u32) -> TcpRepr<'static> {
        s.options.timestamp = Some(Timestamp { tsval, tsecr });
        s
    }

    const SYN_ACK: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::ACK.0);
    const RST_ACK: TcpFlags = TcpFlags(TcpFlags::RST.0 | TcpFlags::ACK.0);

    #[test]
    fn c34_an_ack_of_anything_but_our_syn_is_reset_and_the_syn_resent_at_once() {
        let c = conn();
        for bad in [ISS, ISS + 5, ISS.wrapping_sub(10)] {
            assert_eq!(
                c.on_segment(&seg(SYN_ACK, bad), 5_010),
                SynSentInput::Reject {
                    reset: Some(bad),
                    resend_syn: true,
                    paws: false
                }
            );
        }
        // A reset with a bad ACK gets no reset back; the SYN still goes again.
        assert_eq!(
            c.on_segment(&seg(RST_ACK, ISS + 5), 5_010),
            SynSentInput::Reject {
                reset: None,
                resend_syn: true,
                paws: false
            }
        );
        // After a resend the timer keeps its time.
        let mut later = c;
        later.retransmit.retransmits = 1;
        assert!(matches!(
            later.on_segment(&seg(SYN_ACK, ISS + 5), 6_010),
            SynSentInput::Reject { resend_syn: false, .. }
        ));
    }

    #[test]
    fn c35_a_syn_ack_echoing_a_timestamp_we_never_sent_is_reset() {
        let c = conn();
        // Our TSvals since the first SYN: 5_000..=now, plus the offset.
        let ok = with_ts(seg(SYN_ACK, ISS + 1), 9, 5_000 + 700);
        assert_eq!(c.on_segment(&ok, 5_020), SynSentInput::Established);
        let future = with_ts(seg(SYN_ACK, ISS + 1), 9, 5_030 + 700);
        assert_eq!(
            c.on_segment(&future, 5_020),
            SynSentInput::Reject {
                reset: Some(ISS + 1),
                resend_syn: false,
                paws: true
            }
        );
        let before = with_ts(seg(SYN_ACK, ISS + 1), 9, 4_999 + 700);
        assert!(matches!(
            c.on_segment(&before, 5_020),
            SynSentInput::Reject { paws: true, .. }
        ));
        // TSecr 0 is not checked.
        assert_eq!(
            c.on_segment(&with_ts(seg(SYN_ACK, ISS + 1), 9, 0), 5_020),
            SynSentInput::Established
        );
    }

    #[test]
    fn c36_a_reset_refuses_only_with_an_acceptable_ack() {
        let c = conn();
        assert_eq!(c.on_segment(&seg(RST_ACK, ISS + 1), 5_010), SynSentInput::Refused);
        assert_eq!(c.on_segment(&seg(TcpFlags::RST, 0), 5_010), SynSentInput::Drop);
    }

    #[test]
    fn c37_c40_an_ack_without_syn_and_a_bare_segment_are_dropped() {
        let c = conn();
        assert_eq!(c.on_segment(&seg(TcpFlags::ACK, ISS + 1), 5_010), SynSentInput::Drop);
        assert_eq!(c.on_segment(&seg(TcpFlags::PSH, 0), 5_010), SynSentInput::Drop);
    }

    #[test]
    fn c38_the_syn_ack_establishes() {
        assert_eq!(
            conn().on_segment(&seg(SYN_ACK, ISS + 1), 5_010),
            SynSentInput::Established
        );
    }

    #[test]
    fn c39_a_bare_syn_is_a_simultaneous_open_unless_older_than_an_inherited_timestamp() {
        let mut c = conn();
        assert_eq!(
            c.on_segment(&seg(TcpFlags::SYN, 0), 5_010),
            SynSentInput::SimultaneousOpen
        );
        c.ts_recent = Some(500);
        assert_eq!(
            c.on_segment(&with_ts(seg(TcpFlags::SYN, 0), 499, 0), 5_010),
            SynSentInput::Drop
        );
        assert_eq!(
            c.on_segment(&with_ts(seg(TcpFlags::SYN, 0), 500, 0), 5_010),
            SynSentInput::SimultaneousOpen
        );
    }
}
