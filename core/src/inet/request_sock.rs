//! The request sock: what a listener keeps of a connection between its SYN and the third ACK
//! (spec §2 L17, §3 L22–L27). Linux's `struct tcp_request_sock` and its timer,
//! `reqsk_timer_handler` in `net/ipv4/inet_connection_sock.c`.
//!
//! It is small on purpose — a SYN flood fills the SYN queue with these — and holds only what
//! the SYN-ACK, its retransmissions and the child need.

use core::net::Ipv4Addr;
use core::time::Duration;

use synq_wire::{TcpFlags, TcpOptions, TcpRepr, Timestamp};

use crate::base::slab::{Slab, SlabKey};
use crate::base::timer_wheel::TimerId;
use crate::inet::socket::SockId;
use crate::inet::tuple::FourTuple;
use crate::tcp::syncookies::CookieOptions;
use crate::tcp::tcb::TCP_RTO_MAX;

/// `TCP_TIMEOUT_INIT`: the first SYN-ACK retransmission timeout (L22).
pub const TCP_TIMEOUT_INIT: Duration = Duration::from_secs(1);

/// A pending connection request, state `TCP_NEW_SYN_RECV` (L17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSock {
    /// The listener the SYN arrived on (`rsk_listener`) and its incarnation.
    pub listener: SockId,
    pub listener_incarnation: u32,
    /// `ir_loc_addr`, `ir_num`: our side of the 4-tuple.
    pub loc_addr: Ipv4Addr,
    pub loc_port: u16,
    /// `ir_rmt_addr`, `ir_rmt_port`: the peer's side.
    pub rmt_port: u16,
    pub rmt_addr: Ipv4Addr,
    /// `rcv_isn`: the peer's ISN (`rcv_nxt` is one more).
    pub rcv_isn: u32,
    /// `snt_isn`: our ISN.
    pub snt_isn: u32,
    /// `ts_recent`: the peer's latest TSval (valid if `tstamp_ok`).
    pub ts_recent: u32,
    /// `ts_off`: added to our clock to make our TSval.
    pub ts_off: u32,
    /// `snt_tsval_first`, `snt_tsval_last`: the TSvals of our first and latest SYN-ACK, the
    /// range a third ACK's TSecr must lie in (L41 step 1).
    pub snt_tsval_first: u32,
    pub snt_tsval_last: u32,
    /// `rsk_rcv_wnd`, `rsk_window_clamp`: our initial receive window and its clamp (L21).
    pub rcv_wnd: u32,
    pub window_clamp: u32,
    /// `mss`: the peer's MSS clamp (its option, 536 without one, ≤ the listener's TCP_MAXSEG).
    pub mss: u16,
    /// Our MSS, announced in the SYN-ACK (route MSS ≤ the listener's TCP_MAXSEG).
    pub advmss: u16,
    /// `snd_wscale`: the peer's shift (`wscale_ok`); `rcv_wscale`: ours.
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    /// `tstamp_ok`, `sack_ok`, `wscale_ok`, `ecn_ok`, `acked` (see [`RequestSock::ACKED`] ...).
    pub flags: u8,
    /// `num_timeout`: timer expiries so far; `num_retrans`: SYN-ACKs resent so far.
    pub num_timeout: u8,
    pub num_retrans: u8,
    /// `syn_tos`: the SYN's TOS byte (echoed without its ECN bits).
    pub syn_tos: u8,
    /// When we last answered an out-of-window segment or duplicate SYN, in ms of the stack
    /// clock (`last_oow_ack_time`, for `tcp_invalid_ratelimit`); 0 = never.
    pub last_oow_ack_ms: u32,
    /// The retransmission timer (`rsk_timer`).
    pub timer: Option<TimerId>,
}

impl RequestSock {
    /// Both ends use timestamps.
    pub const TSTAMP_OK: u8 = 1 << 0;
    /// Both ends allow SACK.
    pub const SACK_OK: u8 = 1 << 1;
    /// Both ends scale their windows.
    pub const WSCALE_OK: u8 = 1 << 2;
    /// ECN negotiated.
    pub const ECN_OK: u8 = 1 << 3;
    /// A bare ACK arrived and was held back (TCP_DEFER_ACCEPT, or a full accept queue).
    pub const ACKED: u8 = 1 << 4;

    /// Whether `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The request's 4-tuple, our side first.
    pub fn tuple(&self) -> FourTuple {
        FourTuple {
            local_addr: self.loc_addr,
            local_port: self.loc_port,
            remote_port: self.rmt_port,
            remote_addr: self.rmt_addr,
        }
    }

    /// Records the options both ends agreed on: timestamps (with the peer's TSval), SACK, ECN
    /// and the peer's window-scale shift.
    pub fn set_options(&mut self, ts_recent: Option<u32>, opts: CookieOptions) {
        let mut flags = self.flags & Self::ACKED;
        if let Some(tsval) = ts_recent {
            flags |= Self::TSTAMP_OK;
            self.ts_recent = tsval;
        }
        if opts.sack_ok {
            flags |= Self::SACK_OK;
        }
        if opts.ecn_ok {
            flags |= Self::ECN_OK;
        }
        if let Some(w) = opts.snd_wscale {
            flags |= Self::WSCALE_OK;
            self.snd_wscale = w;
        }
        self.flags = flags;
    }

    /// `rcv_nxt`: the first sequence number after the SYN.
    pub fn rcv_nxt(&self) -> u32 {
        self.rcv_isn.wrapping_add(1)
    }

    /// `reqsk_timeout`: the interval before the next expiry, `TCP_TIMEOUT_INIT` doubled per
    /// expiry so far, at most `TCP_RTO_MAX` (L23 step 6, L26).
    pub fn timeout(&self) -> Duration {
        reqsk_timeout(self.num_timeout)
    }
}

impl RequestSock {
    /// `tcp_make_synack` with `tcp_synack_options` (L19, L20): the SYN-ACK for this request,
    /// with TSval `tsval` (our clock plus `ts_off`, or a cookie's timestamp). Options only
    /// where negotiated; the window is never scaled in a SYN-ACK.
    pub fn synack(&self, tsval: u32) -> TcpRepr<'static> {
        let mut flags = TcpFlags::SYN | TcpFlags::ACK;
        if self.has(Self::ECN_OK) {
            flags |= TcpFlags::ECE;
        }
        TcpRepr {
            src_port: self.loc_port,
            dst_port: self.rmt_port,
            seq: self.snt_isn,
            ack: self.rcv_nxt(),
            flags,
            window: self.rcv_wnd.min(u32::from(u16::MAX)) as u16,
            urgent: 0,
            options: TcpOptions {
                mss: Some(self.advmss),
                window_scale: self.has(Self::WSCALE_OK).then_some(self.rcv_wscale),
                sack_permitted: self.has(Self::SACK_OK),
                timestamp: self.has(Self::TSTAMP_OK).then_some(Timestamp {
                    tsval,
                    tsecr: self.ts_recent,
                }),
                ..TcpOptions::default()
            },
            payload: &[],
        }
    }
}

/// Names a request sock in its stack's [`RequestTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(u32);

impl SlabKey for RequestId {
    fn from_index(i: u32) -> Self {
        RequestId(i)
    }
    fn index(self) -> u32 {
        self.0
    }
}

/// The request socks of a stack (their 4-tuples are in the established hash).
pub type RequestTable = Slab<RequestId, RequestSock>;

/// `reqsk_timeout` for a request that has seen `num_timeout` expiries.
pub fn reqsk_timeout(num_timeout: u8) -> Duration {
    TCP_TIMEOUT_INIT
        .checked_mul(1u32 << num_timeout.min(31))
        .map_or(TCP_RTO_MAX, |t| t.min(TCP_RTO_MAX))
}

/// What a request's timer does at one expiry (L23).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynAckTimer {
    /// Free the request silently.
    Expire,
    /// Re-arm; `resend` says whether a SYN-ACK goes out first.
    Rearm { resend: bool },
}

/// The SYN queue's state at the moment of an expiry, for the pressure rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynQueueLoad {
    /// `qlen`: requests in the queue.
    pub qlen: u32,
    /// `young`: requests whose timer has not fired yet.
    pub young: u32,
    /// The listener's backlog (`sk_max_ack_backlog`).
    pub backlog: u32,
}

/// The decision `reqsk_timer_handler` makes for one expiry of a request that has had
/// `num_timeout` expiries: the pressure rule (L24) lowers the retry cap toward 2 when more than
/// half of a more-than-half-full queue is old, then `syn_ack_recalc` applies
/// TCP_DEFER_ACCEPT (L27). `max_retries` is the listener's TCP_SYNCNT or
/// `tcp_synack_retries`; `defer_accept` the listener's TCP_DEFER_ACCEPT in retransmissions.
pub fn reqsk_timer_decision(
    num_timeout: u8,
    acked: bool,
    max_retries: u8,
    defer_accept: u8,
    load: SynQueueLoad,
) -> SynAckTimer {
    let mut max_retries = u32::from(max_retries);
    if load.qlen << 1 > load.backlog.max(8) {
        let mut young = load.young << 1;
        while max_retries > 2 {
            if load.qlen < young {
                break;
            }
            max_retries -= 1;
            young <<= 1;
        }
    }
    let (num_timeout, defer) = (u32::from(num_timeout), u32::from(defer_accept));
    // syn_ack_recalc
    let (expire, resend) = if defer == 0 {
        (num_timeout >= max_retries, true)
    } else {
        (
            num_timeout >= max_retries && (!acked || num_timeout >= defer),
            !acked || num_timeout + 1 >= defer,
        )
    };
    if expire {
        SynAckTimer::Expire
    } else {
        SynAckTimer::Rearm { resend }
    }
}

/// `secs_to_retrans` (L27): TCP_DEFER_ACCEPT seconds → SYN-ACK retransmissions, the smallest
/// count whose summed timeouts (1 s doubling, capped at 120 s) reach the seconds.
pub fn secs_to_retrans(seconds: i32) -> u8 {
    if seconds <= 0 {
        return 0;
    }
    let (mut res, mut timeout, mut period) = (1u8, 1i32, 1i32);
    while seconds > period && res < u8::MAX {
        res += 1;
        timeout = (timeout << 1).min(TCP_RTO_MAX.as_secs() as i32);
        period += timeout;
    }
    res
}

/// `retrans_to_secs` (L27): what getsockopt(TCP_DEFER_ACCEPT) reports for a count.
pub fn retrans_to_secs(retrans: u8) -> i32 {
    if retrans == 0 {
        return 0;
    }
    let (mut timeout, mut period) = (1i32, 1i32);
    for _ in 1..retrans {
        timeout = (timeout << 1).min(TCP_RTO_MAX.as_secs() as i32);
        period += timeout;
    }
    period
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(flags: u8) -> RequestSock {
        RequestSock {
            listener: SockId::from_index(0),
            listener_incarnation: 1,
            loc_addr: Ipv4Addr::new(192, 168, 0, 1),
            loc_port: 8080,
            rmt_port: 40000,
            rmt_addr: Ipv4Addr::new(192, 0, 2, 1),
            rcv_isn: 1000,
            snt_isn: 0xdead_beef,
            ts_recent: 700,
            ts_off: 0,
            snt_tsval_first: 0,
            snt_tsval_last: 0,
            rcv_wnd: 64240,
            window_clamp: 65535 << 10,
            mss: 1460,
            advmss: 1460,
            snd_wscale: 7,
            rcv_wscale: 10,
            flags,
            num_timeout: 0,
            num_retrans: 0,
            syn_tos: 0,
            last_oow_ack_ms: 0,
            timer: None,
        }
    }

    /// The SYN-ACK's bytes after the fixed header.
    fn synack_options(r: &RequestSock) -> Vec<u8> {
        let seg = r.synack(5000);
        let mut buf = vec![0; seg.buffer_len()];
        seg.emit(&mut buf, r.loc_addr, r.rmt_addr).unwrap();
        buf[20..].to_vec()
    }

    #[test]
    fn l20_synack_header_and_linux_option_order() {
        use RequestSock as R;
        let r = request(R::SACK_OK | R::WSCALE_OK);
        let seg = r.synack(5000);
        assert_eq!((seg.seq, seg.ack, seg.window), (0xdead_beef, 1001, 64240));
        assert_eq!(seg.flags, TcpFlags::SYN | TcpFlags::ACK);
        // Observed on Linux 6.18: <mss 1460, nop, nop, sackOK, nop, wscale 10>.
        assert_eq!(synack_options(&r), [2, 4, 5, 180, 1, 1, 4, 2, 1, 3, 3, 10]);
        // With timestamps: <mss, sackOK, TS val ecr, nop, wscale>; TSecr is the SYN's TSval.
        let r = request(R::SACK_OK | R::WSCALE_OK | R::TSTAMP_OK);
        let mut want = vec![2, 4, 5, 180, 4, 2, 8, 10];
        want.extend(5000u32.to_be_bytes());
        want.extend(700u32.to_be_bytes());
        want.extend([1, 3, 3, 10]);
        assert_eq!(synack_options(&r), want);
        // Timestamps without SACK: nop, nop, TS.
        assert_eq!(synack_options(&request(R::TSTAMP_OK))[4..8], [1, 1, 8, 10]);
    }

    #[test]
    fn l19_only_negotiated_options_and_ece_when_ecn_ok() {
        use RequestSock as R;
        let bare = request(0);
        assert_eq!(synack_options(&bare), [2, 4, 5, 180], "MSS is always sent");
        let seg = request(R::ECN_OK).synack(0);
        assert_eq!(seg.flags, TcpFlags::SYN | TcpFlags::ACK | TcpFlags::ECE);
        let mut big = request(0);
        big.rcv_wnd = 1 << 20;
        assert_eq!(big.synack(0).window, 65535, "never scaled, at most 65535");
    }

    #[test]
    fn request_sock_is_small() {
        assert!(
            core::mem::size_of::<RequestSock>() <= 96,
            "{}",
            core::mem::size_of::<RequestSock>()
        );
    }

    /// One listener's SYN queue of requests that are never acked, all sent at t = 0, played
    /// expiry by expiry with the queue's load at each moment. Returns the number of requests left
    /// and SYN-ACKs sent after each timer round.
    fn play_rounds(requests: u32, backlog: u32, rounds: usize) -> Vec<(u32, u32)> {
        let mut num_timeouts = vec![0u8; requests as usize];
        let mut young = requests;
        let mut out = Vec::new();
        for _ in 0..rounds {
            let mut sent = 0;
            let mut kept = Vec::new();
            let mut qlen = num_timeouts.len() as u32;
            for &nt in &num_timeouts {
                let load = SynQueueLoad { qlen, young, backlog };
                match reqsk_timer_decision(nt, false, 5, 0, load) {
                    SynAckTimer::Expire => qlen -= 1,
                    SynAckTimer::Rearm { resend } => {
                        sent += u32::from(resend);
                        if nt == 0 {
                            young -= 1;
                        }
                        kept.push(nt + 1);
                    }
                }
            }
            num_timeouts = kept;
            out.push((num_timeouts.len() as u32, sent));
        }
        out
    }

    #[test]
    fn l23_default_schedule_five_retransmissions_then_expiry() {
        let intervals: Vec<u64> = (0..6).map(|n| reqsk_timeout(n).as_secs()).collect();
        assert_eq!(intervals, [1, 2, 4, 8, 16, 32]);
        assert_eq!(reqsk_timeout(7), TCP_RTO_MAX);
        assert_eq!(reqsk_timeout(200), TCP_RTO_MAX);
        let rounds = play_rounds(1, 128, 6);
        assert_eq!(rounds, [(1, 1), (1, 1), (1, 1), (1, 1), (1, 1), (0, 0)]);
    }

    #[test]
    fn l24_pressure_expires_only_enough_old_requests_at_7s() {
        // Observed on Linux 6.18 (listen(fd, 8), syncookies 0): rounds at 1 s, 3 s, 7 s, 15 s.
        assert_eq!(play_rounds(4, 8, 4), [(4, 4), (4, 4), (4, 4), (4, 4)]);
        assert_eq!(play_rounds(5, 8, 4), [(5, 5), (5, 5), (4, 4), (4, 4)]);
        assert_eq!(play_rounds(9, 8, 4), [(9, 9), (9, 9), (4, 4), (4, 4)]);
    }

    #[test]
    fn l24_pressure_cap_never_below_two() {
        let load = SynQueueLoad {
            qlen: 1000,
            young: 0,
            backlog: 8,
        };
        assert_eq!(
            reqsk_timer_decision(1, false, 5, 0, load),
            SynAckTimer::Rearm { resend: true }
        );
        assert_eq!(reqsk_timer_decision(2, false, 5, 0, load), SynAckTimer::Expire);
        // A cap already at or below 2 is not lowered further.
        assert_eq!(
            reqsk_timer_decision(0, false, 1, 0, load),
            SynAckTimer::Rearm { resend: true }
        );
        assert_eq!(reqsk_timer_decision(1, false, 1, 0, load), SynAckTimer::Expire);
    }

    #[test]
    fn l27_defer_accept_seconds_to_retransmissions_and_back() {
        for (s, n) in [
            (0, 0),
            (-5, 0),
            (1, 1),
            (2, 2),
            (3, 2),
            (4, 3),
            (7, 3),
            (8, 4),
            (15, 4),
            (16, 5),
            (32, 6),
            (63, 6),
        ] {
            assert_eq!(secs_to_retrans(s), n, "{s} s");
        }
        // getsockopt after setsockopt, as measured on Linux 6.18.
        for (set, got) in [
            (0, 0),
            (-5, 0),
            (1, 1),
            (2, 3),
            (3, 3),
            (4, 7),
            (8, 15),
            (16, 31),
            (32, 63),
            (64, 127),
            (100, 127),
            (200, 247),
            (1000, 1087),
        ] {
            assert_eq!(retrans_to_secs(secs_to_retrans(set)), got, "{set} s");
        }
    }

    #[test]
    fn l27_defer_accept_after_bare_ack_synacks_resume_at_n_minus_1() {
        let load = SynQueueLoad {
            qlen: 1,
            young: 1,
            backlog: 128,
        };
        // S = 2 s → N = 2, default retries, bare ACK before the first expiry: no SYN-ACK at 1 s,
        // SYN-ACKs at 3, 7, 15 and 31 s, expiry at 63 s.
        let n = secs_to_retrans(2);
        let decisions: Vec<_> = (0..6).map(|nt| reqsk_timer_decision(nt, true, 5, n, load)).collect();
        use SynAckTimer::*;
        assert_eq!(
            decisions,
            [
                Rearm { resend: false },
                Rearm { resend: true },
                Rearm { resend: true },
                Rearm { resend: true },
                Rearm { resend: true },
                Expire
            ]
        );
        // tcp_synack_retries = 1: SYN-ACK at 3 s, freed at 7 s (not 3 s as without the option).
        let decisions: Vec<_> = (0..3).map(|nt| reqsk_timer_decision(nt, true, 1, n, load)).collect();
        assert_eq!(decisions, [Rearm { resend: false }, Rearm { resend: true }, Expire]);
        // Not acked: defer-accept changes nothing.
        assert_eq!(reqsk_timer_decision(1, false, 1, n, load), Expire);
    }
}
