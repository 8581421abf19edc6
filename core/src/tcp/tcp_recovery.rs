//! Loss recovery as Linux 6.18 runs it by default: the scoreboard of segments in flight
//! (the retransmit queue's `TCP_SKB_CB(skb)->sacked` bits), SACK tagging
//! (`tcp_sacktag_write_queue`, D-SACK detection), duplicate-ACK counting without SACK
//! (`tcp_add_reno_sack`, NewReno's `tcp_newreno_mark_lost`), RACK (`tcp_recovery.c`:
//! `tcp_rack_advance`, `tcp_rack_detect_loss`, `tcp_rack_reo_wnd`), the congestion state
//! machine (`tcp_fastretrans_alert`: Open, Disorder, Recovery, Loss) and proportional rate
//! reduction (`tcp_cwnd_reduction`, RFC 6937). Limited transmit (RFC 3042) falls out of
//! `tcp_packets_in_flight`, as in Linux: a duplicate ACK takes a segment out of flight.
//!
//! Everything here is sans-IO on the control block's [`Recovery`]: the caller
//! (`tcp_input::tcp_ack`) feeds it the ACK and sends what it says.

use std::collections::VecDeque;

use crate::base::seq::SeqNum;
use crate::base::time::{Duration, Instant};

/// `TCPCB_SACKED_ACKED`, `TCPCB_SACKED_RETRANS`, `TCPCB_LOST`, `TCPCB_EVER_RETRANS`: a
/// segment's scoreboard bits.
pub const SACKED: u8 = 0x01;
pub const RETRANS: u8 = 0x02;
pub const LOST: u8 = 0x04;
pub const EVER_RETRANS: u8 = 0x80;

/// One segment sent and not yet cumulatively acknowledged (a retransmit-queue skb of one
/// segment): its sequence range (a FIN counts one), when it last left, its bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxSeg {
    pub seq: SeqNum,
    pub end: SeqNum,
    pub sent: Instant,
    pub sacked: u8,
}

/// `icsk_ca_state`, with Linux's numbers (`TCP_CA_*`, as `tcpi_ca_state` shows them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum CaState {
    /// Nothing suspicious.
    #[default]
    Open = 0,
    /// Duplicate ACKs or SACKs seen, no loss yet.
    Disorder = 1,
    /// The window is being reduced for ECN or a local congestion signal.
    Cwr = 2,
    /// Fast recovery.
    Recovery = 3,
    /// After a retransmission timeout.
    Loss = 4,
}

/// `tp->rack`: the most recently sent segment known delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rack {
    /// Its send time and end (`mstamp`, `end_seq`); none before the first.
    pub mstamp: Option<Instant>,
    pub end_seq: SeqNum,
    /// The round trip it measured, µs (`rtt_us`).
    pub rtt_us: u32,
    /// Something newer was delivered since the last scan (`advanced`).
    pub advanced: bool,
}

/// What an ACK did to the scoreboard (the `FLAG_*` bits `tcp_ack` gathers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckFlags {
    /// `FLAG_SND_UNA_ADVANCED`, `FLAG_DATA_ACKED`.
    pub una_advanced: bool,
    pub data_acked: bool,
    /// `FLAG_DATA`: the segment carried data; `FLAG_WIN_UPDATE`: it moved the window.
    pub data: bool,
    pub win_update: bool,
    /// `FLAG_DATA_SACKED`: it SACKed something new; `FLAG_DSACKING_ACK`: it carried a D-SACK.
    pub data_sacked: bool,
    pub dsack: bool,
    /// `FLAG_RETRANS_DATA_ACKED`: a retransmitted segment was acknowledged.
    pub retrans_data_acked: bool,
    /// `FLAG_ORIG_SACK_ACKED`: a segment sent only once was (S)ACKed.
    pub orig_sack_acked: bool,
    /// The TSecr the ACK echoed, if any and not 0 (`rx_opt.rcv_tsecr` with `saw_tstamp`),
    /// less our offset: the clock of ours it read.
    pub tsecr_ms: Option<u32>,
}

/// What [`crate::tcp::tcp_input`] resends after an ACK (`REXMIT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rexmit {
    None,
    /// The segments marked lost.
    Lost,
    /// New data first (F-RTO's step 2b), the lost ones if none could go.
    New,
}

impl AckFlags {
    /// `FLAG_NOT_DUP`: data, a window update or new data acknowledged.
    pub fn not_dup(&self) -> bool {
        self.data || self.win_update || self.data_acked
    }

    /// `tcp_ack_is_dubious`: worth the congestion state machine's look.
    pub fn is_dubious(&self, state: CaState) -> bool {
        !self.not_dup() || self.data_sacked || self.dsack || state != CaState::Open
    }
}

/// A connection's loss-recovery state (the parts of `tcp_sock` and `inet_connection_sock`
/// that `tcp_fastretrans_alert` and RACK run on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// `icsk_ca_state`.
    pub ca_state: CaState,
    /// The segments in flight, in sequence order (`packets_out` is their number).
    pub rtx: VecDeque<TxSeg>,
    /// `sacked_out` (SACKed segments, or duplicate ACKs without SACK), `lost_out`,
    /// `retrans_out`.
    pub sacked_out: u32,
    pub lost_out: u32,
    pub retrans_out: u32,
    /// `high_seq`: `snd_nxt` when recovery or loss began; reaching it ends them.
    pub high_seq: SeqNum,
    /// `reordering`: the duplicate-ACK threshold (`tcp_reordering`), raised when reordering
    /// is seen; `reord_seen` how often it was.
    pub reordering: u32,
    pub reord_seen: u32,
    /// PRR: `prior_cwnd`, `prr_delivered`, `prr_out`.
    pub prior_cwnd: u32,
    pub prr_delivered: u32,
    pub prr_out: u32,
    /// `undo_marker`: `snd_una` when the reduction began (none: no undo possible);
    /// `undo_retrans`: the retransmissions since then that no D-SACK has yet shown needless
    /// (0: all were, the reduction may be undone; -1: none was sent yet); `dsack_dups`:
    /// segments D-SACKed, ever.
    pub undo_marker: Option<SeqNum>,
    pub undo_retrans: i32,
    pub dsack_dups: u32,
    /// RACK.
    pub rack: Rack,
    /// `delivered`: segments delivered (ACKed or SACKed); `lost`: marked lost, ever;
    /// `total_retrans`: retransmitted, ever.
    pub delivered: u32,
    pub lost: u32,
    pub total_retrans: u32,
    /// `tcp_cwnd_validate`'s memory: the window was the limit in the last round
    /// (`is_cwnd_limited`), the most in flight (`max_packets_out`), until `cwnd_usage_seq`.
    pub is_cwnd_limited: bool,
    pub max_packets_out: u32,
    pub cwnd_usage_seq: SeqNum,
    /// F-RTO (RFC 5682) runs in this Loss (`frto`); `prior_ssthresh`, what an undo restores
    /// (0: nothing to restore).
    pub frto: bool,
    pub prior_ssthresh: u32,
    /// TLP: `snd_nxt` when the outstanding loss probe went (`tlp_high_seq`), and whether it
    /// was a retransmission (`tlp_retrans`).
    pub tlp_high_seq: Option<SeqNum>,
    pub tlp_retrans: bool,
}

impl Recovery {
    /// The state of a new connection; `reordering` is `tcp_reordering`.
    pub fn new(reordering: u32) -> Recovery {
        Recovery {
            ca_state: CaState::Open,
            rtx: VecDeque::new(),
            sacked_out: 0,
            lost_out: 0,
            retrans_out: 0,
            high_seq: SeqNum(0),
            reordering,
            reord_seen: 0,
            prior_cwnd: 0,
            prr_delivered: 0,
            prr_out: 0,
            undo_marker: None,
            undo_retrans: 0,
            dsack_dups: 0,
            rack: Rack::default(),
            delivered: 0,
            lost: 0,
            total_retrans: 0,
            is_cwnd_limited: false,
            max_packets_out: 0,
            cwnd_usage_seq: SeqNum(0),
            tlp_high_seq: None,
            tlp_retrans: false,
            frto: false,
            prior_ssthresh: 0,
        }
    }

    /// `packets_out`.
    pub fn packets_out(&self) -> u32 {
        self.rtx.len() as u32
    }

    /// `tcp_left_out`: SACKed and lost.
    pub fn left_out(&self) -> u32 {
        self.sacked_out + self.lost_out
    }

    /// `tcp_packets_in_flight`: sent, less what left the network (SACKed or lost), plus
    /// what was sent again.
    pub fn in_flight(&self) -> u32 {
        (self.packets_out() + self.retrans_out).saturating_sub(self.left_out())
    }

    /// `tcp_in_cwnd_reduction`: in CWR or Recovery.
    pub fn in_cwnd_reduction(&self) -> bool {
        matches!(self.ca_state, CaState::Cwr | CaState::Recovery)
    }

    /// Records segment `[seq, end)`, new data sent at `now` (`packets_out` grows).
    pub fn on_transmit(&mut self, seq: SeqNum, end: SeqNum, now: Instant) {
        debug_assert!(self.rtx.back().is_none_or(|b| !seq.before(b.end)), "new data only");
        self.rtx.push_back(TxSeg {
            seq,
            end,
            sent: now,
            sacked: 0,
        });
    }

    /// Segment `i` left again at `now` (`tcp_retransmit_skb`'s bookkeeping: one more
    /// retransmission a D-SACK would have to show needless before an undo).
    pub fn mark_retransmitted(&mut self, i: usize, now: Instant) {
        let s = &mut self.rtx[i];
        if s.sacked & RETRANS == 0 {
            self.retrans_out += 1;
        }
        s.sacked |= RETRANS | EVER_RETRANS;
        s.sent = now;
        self.total_retrans += 1;
        self.undo_retrans = self.undo_retrans.max(0) + 1;
    }

    /// `tcp_any_retrans_done`: a retransmission is in flight, or the head was ever resent.
    pub fn any_retrans_done(&self) -> bool {
        self.retrans_out > 0 || self.rtx.front().is_some_and(|s| s.sacked & EVER_RETRANS != 0)
    }

    /// `tcp_init_undo`: a reduction begins at `una`; the retransmissions still in flight (an
    /// outstanding loss probe's among them) may yet come back D-SACKed.
    pub fn init_undo(&mut self, una: SeqNum) {
        self.undo_marker = Some(una);
        let tlp = self.tlp_high_seq.is_some() && self.tlp_retrans;
        self.undo_retrans = self.retrans_out as i32 + i32::from(tlp);
        if self.undo_retrans == 0 {
            self.undo_retrans = -1;
        }
    }

    /// `tcp_dsack_seen` + the count in `tcp_check_dsack`: the D-SACK `[start, end)` reports
    /// segments received twice. It is dubious (0 returned) if wider than the largest window
    /// the peer offered or if more duplicates were reported than we ever resent; otherwise
    /// its segments count as delivered, and one for data acknowledged before this ACK
    /// (`prior_una`) and after `undo_marker` counts needless retransmissions down.
    pub fn dsack_seen(&mut self, start: SeqNum, end: SeqNum, prior_una: SeqNum, mss: u32, max_window: u32) -> u32 {
        if !start.before(end) {
            return 0;
        }
        let len = end - start;
        if len > max_window {
            return 0;
        }
        let dup_segs = if len > mss { len.div_ceil(mss.max(1)) } else { 1 };
        self.dsack_dups += dup_segs;
        if self.dsack_dups > self.total_retrans {
            return 0;
        }
        self.delivered += dup_segs;
        if self.undo_retrans > 0 && !end.after(prior_una) && self.undo_marker.is_some_and(|m| end.after(m)) {
            self.undo_retrans = (self.undo_retrans - dup_segs as i32).max(0);
        }
        dup_segs
    }

    /// The first lost segment not yet retransmitted (`tcp_xmit_retransmit_queue`'s walk).
    pub fn next_to_retransmit(&self) -> Option<usize> {
        if self.lost_out == 0 {
            return None;
        }
        self.rtx
            .iter()
            .position(|s| s.sacked & (LOST | RETRANS | SACKED) == LOST)
    }

    /// `tcp_mark_skb_lost`: segment `i` is lost (a lost retransmission is to go again).
    fn mark_lost(&mut self, i: usize) {
        let s = &mut self.rtx[i];
        if s.sacked & SACKED != 0 {
            return;
        }
        if s.sacked & RETRANS != 0 {
            s.sacked &= !RETRANS;
            self.retrans_out -= 1;
        }
        if s.sacked & LOST == 0 {
            s.sacked |= LOST;
            self.lost_out += 1;
            self.lost += 1;
        }
    }

    /// `tcp_sacktag_write_queue`: tags what the SACK blocks cover; with `dsack` the first
    /// block is a D-SACK ([`dsack_in`], accepted by [`Recovery::dsack_seen`]): a part of it
    /// below `una` is skipped, and each resent segment it covers after `undo_marker` was a
    /// needless retransmission. Blocks above `snd_nxt` or below the window are ignored
    /// (`tcp_is_sackblock_valid`). Only whole segments are tagged. Returns (segments newly
    /// SACKed, blocks discarded); `orig` is set when a segment never sent again, up to
    /// `high_seq`, is among them (`FLAG_ORIG_SACK_ACKED`).
    #[allow(clippy::too_many_arguments)]
    pub fn sacktag(
        &mut self,
        blocks: &[(u32, u32)],
        dsack: bool,
        una: SeqNum,
        snd_nxt: SeqNum,
        now: Instant,
        min_rtt_us: u32,
        orig: &mut bool,
    ) -> (u32, u32) {
        let mut newly = 0;
        let mut discarded = 0;
        for (n, &(start, end)) in blocks.iter().enumerate() {
            let (start, end) = (SeqNum(start), SeqNum(end));
            let dup = n == 0 && dsack;
            if dup && !end.after(una) {
                continue;
            }
            if !start.before(end) || end.after(snd_nxt) || !end.after(una) {
                discarded += 1;
                continue;
            }
            let from = self.rtx.partition_point(|s| !s.end.after(start));
            for i in from..self.rtx.len() {
                let s = self.rtx[i];
                if s.end.after(end) {
                    break;
                }
                if s.seq.before(start) {
                    continue;
                }
                if dup
                    && s.sacked & EVER_RETRANS != 0
                    && self.undo_retrans > 0
                    && self.undo_marker.is_some_and(|m| s.end.after(m))
                {
                    self.undo_retrans -= 1;
                }
                if s.sacked & SACKED != 0 {
                    continue;
                }
                if s.sacked & RETRANS != 0 {
                    self.retrans_out -= 1;
                }
                if s.sacked & LOST != 0 {
                    self.lost_out -= 1;
                }
                *orig |= s.sacked & EVER_RETRANS == 0 && !s.end.after(self.high_seq);
                self.rtx[i].sacked = (s.sacked & !(RETRANS | LOST)) | SACKED;
                self.sacked_out += 1;
                self.delivered += 1;
                newly += 1;
                self.rack_advance(s.sacked, s.end, s.sent, now, min_rtt_us);
            }
        }
        (newly, discarded)
    }

    /// `tcp_clean_rtx_queue`: drops what `ack` covers (a segment half covered is trimmed,
    /// `tcp_trim_head`). Returns (segments acknowledged, of which SACKed before, whether a
    /// retransmitted one was among them); `orig` as in [`Recovery::sacktag`].
    pub fn clean_rtx_queue(&mut self, ack: SeqNum, now: Instant, min_rtt_us: u32, orig: &mut bool) -> (u32, u32, bool) {
        let (mut acked, mut were_sacked, mut retrans) = (0, 0, false);
        while let Some(&s) = self.rtx.front() {
            if s.end.after(ack) {
                if s.seq.before(ack) {
                    self.rtx[0].seq = ack;
                }
                break;
            }
            self.rtx.pop_front();
            acked += 1;
            if s.sacked & SACKED != 0 {
                self.sacked_out -= 1;
                were_sacked += 1;
            } else {
                self.rack_advance(s.sacked, s.end, s.sent, now, min_rtt_us);
            }
            if s.sacked & RETRANS != 0 {
                self.retrans_out -= 1;
            }
            if s.sacked & LOST != 0 {
                self.lost_out -= 1;
            }
            retrans |= s.sacked & EVER_RETRANS != 0;
            *orig |= s.sacked & (SACKED | EVER_RETRANS) == 0 && !s.end.after(self.high_seq);
        }
        if self.rtx.is_empty() {
            // Without SACK, `sacked_out` counts duplicate ACKs: `tcp_remove_reno_sacks` takes
            // them off next.
            self.lost_out = 0;
            self.retrans_out = 0;
        }
        (acked, were_sacked, retrans)
    }

    /// `tcp_rack_advance`: segment `end` (sent at `sent`) was delivered. A retransmission
    /// delivered sooner than the minimum RTT may be the original's, and does not count.
    fn rack_advance(&mut self, sacked: u8, end: SeqNum, sent: Instant, now: Instant, min_rtt_us: u32) {
        let rtt_us = now.saturating_duration_since(sent).as_micros() as u32;
        if sacked & RETRANS != 0 && rtt_us < min_rtt_us {
            return;
        }
        self.rack.advanced = true;
        self.rack.rtt_us = rtt_us;
        if self
            .rack
            .mstamp
            .is_none_or(|m| sent_after(sent, m, end, self.rack.end_seq))
        {
            self.rack.mstamp = Some(sent);
            self.rack.end_seq = end;
        }
    }

    /// `tcp_rack_detect_loss`: every segment sent before the latest delivered one, and
    /// longer ago than RACK's RTT plus the reordering window, is lost. Returns the longest
    /// wait until another would be (the reordering timer), if any.
    pub fn rack_detect_loss(&mut self, now: Instant, reo_wnd_us: u32) -> Option<Duration> {
        let mstamp = self.rack.mstamp?;
        let mut wait: Option<u32> = None;
        for i in 0..self.rtx.len() {
            let s = self.rtx[i];
            if s.sacked & SACKED != 0 || s.sacked & (LOST | RETRANS) == LOST {
                continue;
            }
            if !sent_after(mstamp, s.sent, self.rack.end_seq, s.end) {
                continue;
            }
            let elapsed = now.saturating_duration_since(s.sent).as_micros() as i64;
            let remaining = i64::from(self.rack.rtt_us) + i64::from(reo_wnd_us) - elapsed;
            if remaining <= 0 {
                self.mark_lost(i);
            } else {
                wait = Some(wait.unwrap_or(0).max(remaining as u32));
            }
        }
        wait.map(|us| Duration::from_micros(u64::from(us)))
    }

    /// `tcp_newreno_mark_lost`: without SACK, the head is lost once `reordering` duplicate
    /// ACKs came (or, in recovery, on each partial ACK).
    pub fn newreno_mark_lost(&mut self, una_advanced: bool) {
        let due = (self.ca_state < CaState::Recovery && self.sacked_out >= self.reordering)
            || (self.ca_state == CaState::Recovery && una_advanced);
        if due && self.rtx.front().is_some_and(|s| s.sacked & LOST == 0) {
            self.mark_lost(0);
        }
    }

    /// `tcp_add_reno_sack`: a duplicate ACK without SACK counts as one segment delivered,
    /// never more than `tcp_limit_reno_sacked` allows.
    pub fn add_reno_sack(&mut self) {
        let prior = self.sacked_out;
        self.sacked_out += 1;
        self.limit_reno_sacked();
        self.delivered += self.sacked_out.saturating_sub(prior);
    }

    /// `tcp_limit_reno_sacked`: duplicate ACKs beyond what is in flight are reordering.
    fn limit_reno_sacked(&mut self) -> bool {
        let holes = self.lost_out.max(1).min(self.packets_out());
        if self.sacked_out + holes > self.packets_out() {
            self.sacked_out = self.packets_out() - holes;
            return true;
        }
        false
    }

    /// `tcp_remove_reno_sacks`: `acked` segments cumulatively acknowledged; the hole counts
    /// as one delivered, the rest had counted as duplicate ACKs.
    pub fn remove_reno_sacks(&mut self, acked: u32) {
        if acked > 0 {
            self.delivered += acked.saturating_sub(self.sacked_out).max(1);
            self.sacked_out = self.sacked_out.saturating_sub(acked - 1);
        }
    }

    /// `tcp_init_cwnd_reduction` (the parts outside the algorithm): PRR starts from `cwnd`.
    pub fn init_cwnd_reduction(&mut self, snd_nxt: SeqNum, cwnd: u32) {
        self.high_seq = snd_nxt;
        self.tlp_high_seq = None;
        self.prior_cwnd = cwnd;
        self.prr_delivered = 0;
        self.prr_out = 0;
    }

    /// `tcp_cwnd_reduction` (RFC 6937): the window that lets out what PRR allows for
    /// `newly_acked_sacked` delivered segments: proportionally while more than `ssthresh` is
    /// in flight, slow start back up to it otherwise; a fast retransmit always goes.
    pub fn cwnd_reduction(
        &mut self,
        ssthresh: u32,
        newly_acked_sacked: u32,
        newly_lost: bool,
        una_advanced: bool,
    ) -> Option<u32> {
        if newly_acked_sacked == 0 || self.prior_cwnd == 0 {
            return None;
        }
        self.prr_delivered += newly_acked_sacked;
        let in_flight = self.in_flight() as i64;
        let delta = i64::from(ssthresh) - in_flight;
        let mut sndcnt = if delta < 0 {
            let dividend = u64::from(ssthresh) * u64::from(self.prr_delivered) + u64::from(self.prior_cwnd) - 1;
            (dividend / u64::from(self.prior_cwnd)) as i64 - i64::from(self.prr_out)
        } else {
            let mut n = (i64::from(self.prr_delivered) - i64::from(self.prr_out)).max(i64::from(newly_acked_sacked));
            if una_advanced && !newly_lost {
                n += 1;
            }
            n.min(delta)
        };
        sndcnt = sndcnt.max(if self.prr_out != 0 { 0 } else { 1 });
        Some((in_flight + sndcnt).max(0) as u32)
    }

    /// `tcp_enter_loss`'s scoreboard: after a timeout every segment not SACKed is lost and
    /// nothing counts as retransmitted any more.
    pub fn enter_loss(&mut self, snd_nxt: SeqNum) {
        self.retrans_out = 0;
        for i in 0..self.rtx.len() {
            self.rtx[i].sacked &= !RETRANS;
            self.mark_lost(i);
        }
        self.high_seq = snd_nxt;
        self.tlp_high_seq = None;
        self.ca_state = CaState::Loss;
    }

    /// `tcp_undo_cwnd_reduction`, the scoreboard's half: with `unmark_loss` nothing is lost
    /// after all; no undo is pending any more, and RACK looks again.
    pub fn undo(&mut self, unmark_loss: bool) {
        if unmark_loss {
            for s in self.rtx.iter_mut() {
                s.sacked &= !LOST;
            }
            self.lost_out = 0;
        }
        self.undo_marker = None;
        self.rack.advanced = true;
    }

    /// `tcp_rack_reo_wnd`: without reordering seen, none during recovery or once the
    /// duplicate-ACK threshold is met; else a quarter of the minimum RTT, at most the
    /// smoothed RTT.
    pub fn rack_reo_wnd_us(&self, min_rtt_us: u32, srtt_us: u32) -> u32 {
        if self.reord_seen == 0 && (self.ca_state >= CaState::Recovery || self.sacked_out >= self.reordering) {
            return 0;
        }
        if min_rtt_us == u32::MAX {
            return 0;
        }
        (min_rtt_us >> 2).min(srtt_us >> 3)
    }

    /// `tcp_cwnd_validate`: remembers, a round at a time, whether the window limited what
    /// was sent, or how much was in flight at most.
    pub fn cwnd_validate(&mut self, una: SeqNum, snd_nxt: SeqNum, cwnd_limited: bool) {
        if !una.before(self.cwnd_usage_seq)
            || cwnd_limited
            || (!self.is_cwnd_limited && self.packets_out() > self.max_packets_out)
        {
            self.is_cwnd_limited = cwnd_limited;
            self.max_packets_out = self.packets_out();
            self.cwnd_usage_seq = snd_nxt;
        }
    }

    /// `tcp_is_cwnd_limited`: the window is worth growing — it limited the last round, or in
    /// slow start it is less than twice the most that was in flight.
    pub fn is_cwnd_limited(&self, cwnd: u32, in_slow_start: bool) -> bool {
        self.is_cwnd_limited || (in_slow_start && cwnd < 2 * self.max_packets_out)
    }
}

/// `tcp_check_dsack`'s test: the first SACK block reports data received twice if it lies
/// below the ACK's own number (`Some(true)`, TCPDSACKRecv) or within the second block
/// (`Some(false)`, TCPDSACKOfoRecv).
pub fn dsack_in(blocks: &[(u32, u32)], ack: SeqNum) -> Option<bool> {
    let &(s0, e0) = blocks.first()?;
    let (s0, e0) = (SeqNum(s0), SeqNum(e0));
    if s0.before(ack) {
        return Some(true);
    }
    let &(s1, e1) = blocks.get(1)?;
    (!e0.after(SeqNum(e1)) && !s0.before(SeqNum(s1))).then_some(false)
}

/// `tcp_skb_sent_after`: `t1`/`seq1` left after `t2`/`seq2` (ties broken by sequence).
fn sent_after(t1: Instant, t2: Instant, seq1: SeqNum, seq2: SeqNum) -> bool {
    t1 > t2 || (t1 == t2 && seq1.after(seq2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    /// SACK blocks (the first a D-SACK with `dsack`) on [`ten`] (snd_una 1, snd_nxt 10001)
    /// at `ms`.
    fn sack(r: &mut Recovery, blocks: &[(u32, u32)], dsack: bool, ms: u64) -> (u32, u32) {
        r.sacktag(blocks, dsack, SeqNum(1), SeqNum(10001), at(ms), 100_000, &mut false)
    }

    /// Ten 1000-byte segments from sequence 1, sent at 100 ms.
    fn ten() -> Recovery {
        let mut r = Recovery::new(3);
        for i in 0..10u32 {
            r.on_transmit(SeqNum(1 + i * 1000), SeqNum(1001 + i * 1000), at(100));
        }
        r
    }

    #[test]
    fn sack_blocks_tag_whole_segments_and_a_dsack_counts_needless_retransmissions() {
        let mut r = ten();
        let (n, bad) = sack(&mut r, &[(1001, 3001)], false, 210);
        assert_eq!((n, bad), (2, 0));
        assert_eq!((r.sacked_out, r.in_flight()), (2, 8));
        // Again: nothing new.
        let again = sack(&mut r, &[(1001, 3001)], false, 211);
        assert_eq!(again, (0, 0));
        // A D-SACK lies below the ACK or inside the second block; a block beyond snd_nxt is
        // discarded.
        assert_eq!(dsack_in(&[(0, 1), (9001, 12001)], SeqNum(1)), Some(true));
        assert_eq!(dsack_in(&[(1001, 2001), (1001, 3001)], SeqNum(1)), Some(false));
        assert_eq!(dsack_in(&[(4001, 5001), (1001, 3001)], SeqNum(1)), None);
        assert_eq!(sack(&mut r, &[(0, 1), (9001, 12001)], true, 212), (0, 1));
        // Recovery from snd_una 1 resends the head; the ACK that covers it D-SACKs it: the
        // one retransmission was needless, an undo may go.
        r.init_undo(SeqNum(1));
        assert_eq!(r.undo_retrans, -1);
        r.mark_retransmitted(0, at(300));
        assert_eq!(r.undo_retrans, 1);
        assert_eq!(r.dsack_seen(SeqNum(1), SeqNum(1001), SeqNum(1), 1000, 65535), 1);
        sack(&mut r, &[(1, 1001)], true, 400);
        assert_eq!(r.undo_retrans, 0);
        // Another D-SACK of it: more duplicates than retransmissions, dubious.
        assert_eq!(r.dsack_seen(SeqNum(1), SeqNum(1001), SeqNum(1), 1000, 65535), 0);
    }

    #[test]
    fn rack_marks_lost_after_the_reordering_window_or_at_three_sacks() {
        let mut r = ten();
        sack(&mut r, &[(1001, 2001)], false, 210);
        // One SACK: a quarter of the 100 ms minimum RTT to wait.
        let reo = r.rack_reo_wnd_us(100_000, 800_000);
        assert_eq!(reo, 25_000);
        assert_eq!(r.rack_detect_loss(at(210), reo), Some(Duration::from_millis(25)));
        assert_eq!(r.lost_out, 0);
        // Three SACKed: the duplicate-ACK threshold, no window: the head is lost now.
        sack(&mut r, &[(1001, 4001)], false, 230);
        let reo = r.rack_reo_wnd_us(100_000, 800_000);
        assert_eq!(reo, 0);
        assert_eq!(r.rack_detect_loss(at(230), reo), None);
        assert_eq!((r.lost_out, r.next_to_retransmit()), (1, Some(0)));
        assert_eq!(r.in_flight(), 6);
    }

    #[test]
    fn prr_lets_out_one_segment_per_delivery_toward_ssthresh() {
        // prr-ss-10pkt-lost-1: 10 out, 3 SACKed, the head lost, ssthresh 7.
        let mut r = ten();
        sack(&mut r, &[(1001, 4001)], false, 230);
        r.rack_detect_loss(at(230), 0);
        r.init_cwnd_reduction(SeqNum(10001), 10);
        assert_eq!(r.cwnd_reduction(7, 1, true, false), Some(7), "in flight 6, one to go");
        r.mark_retransmitted(0, at(230));
        r.prr_out += 1;
        sack(&mut r, &[(1001, 5001)], false, 240);
        assert_eq!(r.cwnd_reduction(7, 1, false, false), Some(7));
    }

    #[test]
    fn reno_dupacks_count_as_sacks_and_three_lose_the_head() {
        let mut r = ten();
        for _ in 0..3 {
            r.add_reno_sack();
        }
        r.newreno_mark_lost(false);
        assert_eq!((r.sacked_out, r.lost_out, r.in_flight()), (3, 1, 6));
        // A cumulative ACK of two segments: one hole delivered, a duplicate ACK eaten.
        let (acked, _, _) = r.clean_rtx_queue(SeqNum(2001), at(300), 100_000, &mut false);
        r.remove_reno_sacks(acked);
        assert_eq!((acked, r.sacked_out), (2, 2));
    }

    #[test]
    fn a_timeout_loses_everything_not_sacked() {
        let mut r = ten();
        sack(&mut r, &[(5001, 6001)], false, 210);
        r.enter_loss(SeqNum(10001));
        assert_eq!((r.lost_out, r.in_flight(), r.ca_state), (9, 0, CaState::Loss));
        r.mark_retransmitted(r.next_to_retransmit().unwrap(), at(400));
        assert_eq!((r.in_flight(), r.next_to_retransmit()), (1, Some(1)));
    }
}
