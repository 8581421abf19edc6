//! SYN_SENT as a value a test can step: what a connecting socket knows before the peer
//! answers, what a segment does to it (`tcp_rcv_synsent_state_process`, rules C34–C40) and
//! its retransmission schedule ([`SynRetransmit`], rules C25–C27).

use crate::base::seq::{between, SeqNum};
use crate::base::time::Duration;
use crate::tcp::tcp_connect::ConnectInit;
use synq_wire::{TcpFlags, TcpRepr};

/// `tcp_model_timeout`: how long `boundary` retransmissions take when the RTO starts at
/// `rto_base` and doubles up to `rto_max` (924.6 s for `tcp_retries2` = 15 and 120 s).
pub fn tcp_model_timeout(boundary: u32, rto_base: Duration, rto_max: Duration) -> Duration {
    let thresh = (rto_max.as_micros() / rto_base.as_micros().max(1)).max(1).ilog2();
    if boundary <= thresh {
        rto_base * ((2u32 << boundary) - 1)
    } else {
        rto_base * ((2u32 << thresh) - 1) + rto_max * (boundary - thresh)
    }
}

/// The SYN_SENT side of `tcp_retransmit_timer` and `tcp_write_timeout` (rules C25–C27): a
/// value a test can step. It counts the SYN's retransmissions (`icsk_retransmits`,
/// `total_rto`) and holds the RTO; [`SynRetransmit::fire`] says, each time the timer fires,
/// whether to give up or to resend and when to fire next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynRetransmit {
    /// SYNs resent so far.
    pub retransmits: u32,
    /// The current RTO (`icsk_rto`), `TCP_TIMEOUT_INIT` at first.
    pub rto: Duration,
}

/// What bounds a connect attempt: the sysctls and the socket's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynLimits {
    /// `TCP_SYNCNT` if set, else `tcp_syn_retries` (`retry_until`).
    pub retry_until: u32,
    /// `tcp_syn_linear_timeouts`: resends at the initial RTO before it doubles.
    pub linear_timeouts: u32,
    /// `TCP_USER_TIMEOUT`; zero if unset.
    pub user_timeout: Duration,
    /// `tcp_rto_max_ms`.
    pub rto_max: Duration,
}

impl SynRetransmit {
    /// At the first SYN (`tcp_connect_init`): no resend yet, the RTO at `TCP_TIMEOUT_INIT`.
    pub fn new(rto: Duration) -> SynRetransmit {
        SynRetransmit { retransmits: 0, rto }
    }

    /// The timer fired `elapsed` after the first SYN: `None` to give up (`tcp_write_err`),
    /// else resend the SYN and fire again after the returned delay. The attempt ends when the
    /// resends reach `retry_until + linear_timeouts`, or after at least one resend, when
    /// `elapsed` reaches the user timeout or, without one, `tcp_model_timeout(retry_until)`
    /// from a 1 s base (`retransmits_timed_out`). The first `linear_timeouts` resends keep the
    /// RTO, the later ones double it up to `rto_max`; the next wait never runs past the user
    /// timeout (`tcp_clamp_rto_to_user_timeout`).
    pub fn fire(&mut self, elapsed: Duration, limits: &SynLimits, rto_base: Duration) -> Option<Duration> {
        if self.retransmits >= limits.retry_until + limits.linear_timeouts {
            return None;
        }
        let timeout = if limits.user_timeout.is_zero() {
            tcp_model_timeout(limits.retry_until, rto_base, limits.rto_max)
        } else {
            limits.user_timeout
        };
        if self.retransmits > 0 && elapsed >= timeout {
            return None;
        }
        self.retransmits += 1;
        if self.retransmits > limits.linear_timeouts {
            self.rto = (self.rto * 2).min(limits.rto_max);
        }
        if limits.user_timeout.is_zero() {
            return Some(self.rto);
        }
        // Past the user timeout the timer fires at once (one jiffy).
        let remaining = limits.user_timeout.saturating_sub(elapsed);
        Some(self.rto.min(remaining).max(Duration::from_millis(1)))
    }
}

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
    /// What the SYN offers (each resend is the same SYN).
    pub init: ConnectInit,
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
    /// The SYN (first or resent: the same but for a fresh TSval) from `sport` to `dport`.
    pub fn syn(&self, sport: u16, dport: u16, now_ms: u32) -> TcpRepr<'static> {
        let tsval = now_ms.wrapping_add(self.ts_off);
        self.init
            .syn(sport, dport, self.iss.0, tsval, self.ts_recent.unwrap_or(0))
    }

    /// The SYN-ACK of a simultaneous open (`tcp_send_synack`, rule C39): the same SYN with
    /// ACK set, acknowledging `rcv_nxt` and echoing `tsecr`; CWR goes, ECE stays only when
    /// ECN was agreed (`tcp_ecn_send_synack`).
    pub fn syn_ack(
        &self,
        sport: u16,
        dport: u16,
        now_ms: u32,
        rcv_nxt: SeqNum,
        tsecr: u32,
        ecn_ok: bool,
    ) -> TcpRepr<'static> {
        let mut seg = self.syn(sport, dport, now_ms);
        seg.flags = TcpFlags(seg.flags.0 & !(TcpFlags::CWR.0 | TcpFlags::ECE.0)) | TcpFlags::ACK;
        if ecn_ok {
            seg.flags |= TcpFlags::ECE;
        }
        seg.ack = rcv_nxt.0;
        if let Some(ts) = seg.options.timestamp.as_mut() {
            ts.tsecr = tsecr;
        }
        seg
    }

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
    use crate::base::sysctl::Sysctl;
    use crate::tcp::tcb::TCP_RTO_MAX;
    use crate::tcp::tcp_connect::tcp_connect_init;
    use synq_wire::{TcpOptions, Timestamp};

    const ISS: u32 = 1_000_000;

    fn conn() -> SynSent {
        SynSent {
            iss: SeqNum(ISS),
            retrans_stamp_ms: 5_000,
            ts_off: 700,
            ts_recent: None,
            retransmit: SynRetransmit::new(Duration::from_secs(1)),
            init: tcp_connect_init(&Sysctl::default(), 1500, 0, (131072, false), false),
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

    const S: Duration = Duration::from_secs(1);

    fn limits(retry_until: u32) -> SynLimits {
        SynLimits {
            retry_until,
            linear_timeouts: 4,
            user_timeout: Duration::ZERO,
            rto_max: TCP_RTO_MAX,
        }
    }

    /// When each SYN goes out and when the attempt fails, in ms after the first SYN.
    fn schedule(limits: SynLimits) -> (Vec<u64>, u64) {
        let mut st = SynRetransmit::new(S);
        let mut sent = vec![0];
        let mut at = st.rto;
        while let Some(next) = st.fire(at, &limits, S) {
            sent.push(at.as_millis() as u64);
            at += next;
        }
        (sent, at.as_millis() as u64)
    }

    fn secs(v: &[u64]) -> Vec<u64> {
        v.iter().map(|ms| ms / 1000).collect()
    }

    #[test]
    fn c25_c27_defaults_11_syns_then_etimedout_at_131_s() {
        let (sent, fail) = schedule(limits(6));
        assert_eq!(secs(&sent), [0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67]);
        assert_eq!(fail, 131_000);
    }

    #[test]
    fn c26_tcp_syncnt_n_fails_at_the_model_time() {
        for (n, at) in [(1, 3), (2, 7), (3, 19), (4, 35), (5, 67), (6, 131), (7, 251)] {
            assert_eq!(schedule(limits(n)).1, at * 1000, "TCP_SYNCNT {n}");
        }
        assert_eq!(secs(&schedule(limits(3)).0), [0, 1, 2, 3, 4, 5, 7, 11]);
    }

    #[test]
    fn c25_without_linear_timeouts_the_rto_doubles_from_the_first_resend() {
        let l = SynLimits {
            linear_timeouts: 0,
            ..limits(3)
        };
        assert_eq!(schedule(l), (vec![0, 1000, 3000, 7000], 15_000));
        let (sent, fail) = schedule(SynLimits {
            linear_timeouts: 0,
            ..limits(6)
        });
        assert_eq!(secs(&sent), [0, 1, 3, 7, 15, 31, 63]);
        assert_eq!(fail, 127_000);
    }

    #[test]
    fn c25_tcp_rto_max_caps_the_back_off_and_the_model() {
        let l = SynLimits {
            rto_max: Duration::from_secs(2),
            ..limits(3)
        };
        let (sent, fail) = schedule(l);
        assert_eq!(secs(&sent), [0, 1, 2, 3, 4, 5]);
        assert_eq!(fail, 7_000);
    }

    #[test]
    fn c26_tcp_user_timeout_replaces_the_model_but_not_the_count() {
        let uto = |ms: u64, n: u32| SynLimits {
            user_timeout: Duration::from_millis(ms),
            ..limits(n)
        };
        assert_eq!(schedule(uto(2500, 6)), (vec![0, 1000, 2000], 2500));
        let (sent, fail) = schedule(uto(10_000, 6));
        assert_eq!(secs(&sent), [0, 1, 2, 3, 4, 5, 7]);
        assert_eq!(fail, 10_000);
        let (sent, fail) = schedule(uto(10_000, 1));
        assert_eq!(sent.len(), 6, "the count limit, 1 + 4 resends");
        assert_eq!(fail, 7_000);
        // Below the initial RTO: the first timer is not clamped; one resend, then at once.
        assert_eq!(schedule(uto(500, 6)), (vec![0, 1000], 1001));
    }
}
