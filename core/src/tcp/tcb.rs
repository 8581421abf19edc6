//! The transmission control block of a synchronized connection: what a child socket holds
//! after the handshake (`tcp_create_openreq_child`, spec L44) and what data transfer and
//! close run on: sequence space, the byte queues, the RTT estimator, congestion window, the
//! delayed-ACK engine (`icsk_ack`) and the connection's timers.

use std::collections::VecDeque;

use crate::base::seq::SeqNum;
use crate::base::time::{tcp_clock_ms, Duration, Instant};
use crate::base::timer_wheel::TimerId;
use crate::tcp::cong::{CcAlgo, CongestionControl, CongestionOps, Cwnd};
use crate::tcp::initial_window::TCPOLEN_TSTAMP_ALIGNED;
use crate::tcp::ofo_queue::OfoQueue;
use crate::tcp::sack::SackState;
use crate::tcp::syn_sent::SynSent;
use crate::tcp::tcp_recovery::Recovery;
use crate::tcp::write_queue::SkbQueue;

/// `TCP_MSS_DEFAULT`: the peer's MSS when its SYN has no MSS option, and the MSS a socket
/// reports before it has a connection.
pub const TCP_MSS_DEFAULT: u16 = 536;

/// `TCP_MIN_MSS`: the smallest MSS (and TCP_MAXSEG) Linux uses.
pub const TCP_MIN_MSS: u16 = 88;

/// `TCP_RTO_MAX`: the longest retransmission timeout, of a SYN-ACK or of data.
pub const TCP_RTO_MAX: Duration = Duration::from_secs(120);

/// `TCP_INIT_CWND`: the initial congestion window, in segments (RFC 6928).
pub const TCP_INIT_CWND: u32 = 10;

/// `TCP_TIMEOUT_FALLBACK`: the RTO when the handshake gave no RTT sample (RFC 6298 5.7).
pub const TCP_TIMEOUT_FALLBACK: Duration = Duration::from_secs(3);

/// `TCP_ATO_MIN` and `TCP_DELACK_MAX`: the delayed-ACK timeout's floor (HZ/25) and ceiling
/// (HZ/5), in ms.
pub const TCP_ATO_MIN_MS: u32 = 40;
pub const TCP_DELACK_MAX_MS: u32 = 200;

/// `TCP_MAX_QUICKACKS`: ACKs sent at once after the first data or a gap.
pub const TCP_MAX_QUICKACKS: u8 = 16;

/// The connection's timers (`icsk_retransmit_timer`, `icsk_delack_timer`, `sk_timer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpTimer {
    /// Retransmission of the oldest unacknowledged segment (RTO).
    Retransmit,
    /// The delayed ACK.
    DelAck,
    /// An orphan's FIN_WAIT2 lifetime (`tcp_fin_timeout`, run by the keepalive timer).
    FinWait2,
    /// RACK's reordering timer (`ICSK_TIME_REO_TIMEOUT`): segments not yet lost become so.
    Reorder,
    /// Keepalive (`sk_timer`, `tcp_keepalive_timer`).
    Keepalive,
    /// The tail loss probe (`ICSK_TIME_LOSS_PROBE`); armed in place of the RTO timer.
    LossProbe,
}

impl TcpTimer {
    /// How many kinds there are.
    pub const COUNT: usize = 6;
}

/// A connection's armed timers, one slot per [`TcpTimer`] (the wheel entry, to cancel or
/// look up), indexed by the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimerTable([Option<TimerId>; TcpTimer::COUNT]);

impl TimerTable {
    /// Every armed timer's entry, leaving the table empty.
    pub fn take_all(&mut self) -> impl Iterator<Item = TimerId> + '_ {
        self.0.iter_mut().filter_map(Option::take)
    }

    /// Every armed timer's entry.
    pub fn armed(&self) -> impl Iterator<Item = TimerId> + '_ {
        self.0.iter().flatten().copied()
    }
}

impl std::ops::Index<TcpTimer> for TimerTable {
    type Output = Option<TimerId>;
    fn index(&self, kind: TcpTimer) -> &Option<TimerId> {
        &self.0[kind as usize]
    }
}

impl std::ops::IndexMut<TcpTimer> for TimerTable {
    fn index_mut(&mut self, kind: TcpTimer) -> &mut Option<TimerId> {
        &mut self.0[kind as usize]
    }
}

/// `icsk_ack`: the delayed-ACK engine's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckState {
    /// An ACK is owed (`ICSK_ACK_SCHED`).
    pub pending: bool,
    /// An ACK must go out now (`ICSK_ACK_NOW`).
    pub now: bool,
    /// ACKs still to send at once (`quick`).
    pub quick: u8,
    /// Interactive ("ping-pong") exchanges seen (`pingpong`); at `tcp_pingpong_thresh` the
    /// ACK rides on our reply instead of going at once.
    pub pingpong: u8,
    /// The delayed-ACK timeout, ms (`ato`); 0 until the first data.
    pub ato_ms: u32,
    /// When data last arrived, ms (`lrcvtime`).
    pub lrcvtime_ms: u32,
    /// The peer's segment size as we see it (`rcv_mss`); the last short segment's size
    /// (`last_seg_size`), which two in a row make the new `rcv_mss`.
    pub rcv_mss: u32,
    pub last_seg_size: u16,
    /// `ICSK_ACK_PUSHED`, `ICSK_ACK_PUSHED2`: a pushed or short segment is owed its ACK (one
    /// more: two), so a read that empties the queue sends it.
    pub pushed: bool,
    pub pushed2: bool,
}

impl AckState {
    /// `inet_csk_in_pingpong_mode`: ACKs wait for our reply.
    pub fn in_pingpong_mode(&self) -> bool {
        self.pingpong >= TCP_PINGPONG_THRESH
    }
}

/// `tcp_pingpong_thresh`: interactive exchanges before ACKs wait for our reply.
pub const TCP_PINGPONG_THRESH: u8 = 1;

/// The sending half (`tp->snd_*`, the write queue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendState {
    /// `snd_una`, `snd_nxt`: oldest unacknowledged and next sequence number to send.
    pub una: SeqNum,
    pub nxt: SeqNum,
    /// `snd_wnd`: the peer's window, scaled; `max_window` the largest it has offered.
    pub wnd: u32,
    pub max_window: u32,
    /// `snd_wl1`: the sequence number of the segment that last updated `wnd`.
    pub wl1: SeqNum,
    /// `snd_wscale`: the peer's window scale shift, 0 unless negotiated.
    pub wscale: u8,
    /// Bytes the user wrote that are not yet acknowledged: sent ones, then unsent ones,
    /// ending at `write_seq`.
    pub buf: VecDeque<u8>,
    /// `write_seq`: the sequence number after the last byte the user wrote (our FIN's).
    pub write_seq: SeqNum,
    /// The skbs Linux would hold for those bytes (and the FIN): what they cost the send
    /// buffer, and the unsent tail a write fills up to the size goal before it asks the
    /// buffer for a new one.
    pub skbs: SkbQueue,
    /// Our FIN is queued after the data (`write_seq` is its sequence number).
    pub fin_queued: bool,
    /// `snd_sml`: the end of the last segment shorter than the MSS that we sent (Minshall's
    /// Nagle: another short one waits only while that one is unacknowledged).
    pub sml: SeqNum,
    /// `lsndtime`: when data last left, ms.
    pub lsndtime_ms: u32,
    /// `bytes_acked`: sequence space the peer acknowledged (`tcp_snd_una_update`).
    pub bytes_acked: u64,
    /// `rcv_tstamp`: when an acceptable ACK last arrived, ms.
    pub rcv_tstamp_ms: u32,
    /// The queue's tail carries a push mark (`tcp_mark_push`): the last send did not say
    /// MSG_MORE.
    pub push_mark: bool,
    /// A writer found the send buffer full (`SOCK_NOSPACE`).
    pub nospace: bool,
}

/// The receiving half (`tp->rcv_*`, the receive and out-of-order queues).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvState {
    /// `rcv_nxt`: next sequence number expected.
    pub nxt: SeqNum,
    /// `rcv_wnd`: the window we offered last, at `wup` (`nxt` then); `window_clamp` its
    /// ceiling; `ssthresh` (`rcv_ssthresh`) how far it may open now.
    pub wnd: u32,
    pub wup: SeqNum,
    pub window_clamp: u32,
    pub ssthresh: u32,
    /// `rcv_wscale`: our window scale shift, 0 unless negotiated.
    pub wscale: u8,
    /// In-order bytes received and not yet read (from `copied_seq` to `nxt`).
    pub buf: VecDeque<u8>,
    /// Bytes received beyond `nxt`.
    pub ofo: OfoQueue,
    /// The SACK and D-SACK blocks our ACKs carry.
    pub sack: SackState,
    /// `rcvq_space`: what the reader consumed in the last measured round trip (`space`, the
    /// base of buffer growth), counted from `copied_seq` = `space_seq` at `space_time`.
    pub space: u32,
    pub space_seq: SeqNum,
    pub space_time: Instant,
    /// `rcv_rtt_est`: the receiver's round-trip estimate, µs × 8 (0: none yet), the sequence
    /// number whose arrival ends the running measurement and when it began (`ZERO`: none
    /// began, as Linux's 0); the peer's last TSecr used (`rcv_rtt_last_tsecr`).
    pub rtt_est_us: u32,
    pub rtt_est_seq: SeqNum,
    pub rtt_est_time: Instant,
    pub rtt_last_tsecr: u32,
    /// `bytes_received`: payload received in order (`tcp_rcv_nxt_update`).
    pub bytes_received: u64,
    /// `sk_rmem_alloc`, in two parts: the truesize of each skb of the receive queue, by its
    /// end (`skbs`, freed as the reader passes it; `queue_rmem` their sum), and of the
    /// out-of-order queue (`ofo_rmem`). See [`skb_truesize`].
    pub skbs: VecDeque<(SeqNum, u32)>,
    pub queue_rmem: u32,
    pub ofo_rmem: u32,
    /// `scaling_ratio`: the share of truesize that was payload, in 256ths
    /// (`tcp_measure_rcv_mss`): what turns buffer space into window.
    pub scaling_ratio: u8,
}

/// The truesize Linux charges for a received segment of `ip_len` bytes (the IP datagram) as
/// the TUN driver builds it (`tun_alloc_skb`, measured on 6.18 with `ss`: see
/// `docs/linux-6.18-receive-window.md`): a small datagram gets a kmalloc'ed head (the
/// `NET_SKB_PAD` headroom and `skb_shared_info` in a power-of-two object, 576 bytes at
/// least) and the `sk_buff`; a larger one 3712 bytes of head and the rest in pages.
pub fn skb_truesize(ip_len: u32) -> u32 {
    const SK_BUFF: u32 = 256;
    const SHINFO: u32 = 320;
    const PAD: u32 = 64;
    if PAD + ip_len < 4096 {
        let head = (PAD + ip_len).next_multiple_of(64) + SHINFO;
        let obj = if head <= 576 { 576 } else { head.next_power_of_two() };
        obj + SK_BUFF
    } else {
        4096 + SK_BUFF + (ip_len - (4096 - PAD - SHINFO)).next_multiple_of(4096)
    }
}

/// The RTT estimator and the retransmission timeout it sets (`tp->srtt_us`, `icsk_rto`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RttState {
    /// `srtt_us` (×8) and `mdev_us` (×4) of the RTT estimator; `rttvar_us` as Linux keeps it.
    pub srtt_us: u32,
    pub mdev_us: u32,
    pub rttvar_us: u32,
    /// `icsk_rto`, the current retransmission timeout; `icsk_backoff` its doublings.
    pub rto: Duration,
    pub backoff: u8,
    /// `icsk_retransmits`: RTO expiries since data was last acknowledged.
    pub retransmits: u8,
    /// `retrans_stamp`: when the first retransmission of this episode went, fast or by
    /// timeout (`tcp_retransmit_skb`: the head's timestamp once resent), `tcp_clock_ms`. The
    /// give-up time counts from it; an ACK echoing an older TSval proves it needless.
    pub retrans_stamp: Option<u32>,
    /// A sequence number being timed and when it was sent (Karn: none across a retransmit).
    pub timed: Option<(SeqNum, Instant)>,
    /// The smallest RTT sample, µs (`tcp_min_rtt`; `u32::MAX` before the first).
    pub min_rtt_us: u32,
    /// `icsk_probes_out`: window probes sent without an answer; `icsk_probes_tstamp`: when
    /// the first of them fired (`tcp_clock_ms`).
    pub probes_out: u8,
    pub probes_tstamp: Option<u32>,
}

/// A connection's control block: the two halves, the RTT estimator, congestion control,
/// the delayed-ACK engine, the timers, and what the handshake negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tcb {
    /// The sending half.
    pub snd: SendState,
    /// The receiving half.
    pub rcv: RecvState,
    /// RTT and RTO.
    pub rtt: RttState,
    /// The congestion window and the algorithm that moves it.
    pub cwnd: Cwnd,
    pub ca: CongestionControl,
    /// The segments in flight and the loss-recovery state.
    pub rec: Recovery,
    /// The delayed-ACK engine.
    pub ack: AckState,
    /// Armed timers, by [`TcpTimer`].
    pub timers: TimerTable,
    /// `mss_cache` source: the peer's MSS clamp (`rx_opt.mss_clamp`).
    pub mss_clamp: u16,
    /// The pages this connection holds of the stack's `tcp_memory_allocated`
    /// ([`crate::tcp::sk_mem::sk_mem_account`]).
    pub mem_pages: u16,
    /// Our advertised MSS (`advmss`).
    pub advmss: u16,
    /// Timestamps in use; `ts_recent` the peer's latest TSval, `ts_off` our offset.
    pub tstamp_ok: bool,
    pub ts_recent: u32,
    pub ts_off: u32,
    /// SACK permitted both ways; ECN negotiated.
    pub sack_ok: bool,
    pub ecn_ok: bool,
    /// When we last answered an out-of-window segment, ms (`last_oow_ack_time`).
    pub last_oow_ack_ms: u32,
    /// While the active open is under way (SYN_SENT, and SYN_RECV after a simultaneous
    /// open): what it knows before the handshake ends.
    pub syn_sent: Option<Box<SynSent>>,
}

/// Freed control blocks kept for the next connections, so that a steady stream of
/// connections does not go through the allocator for each one.
#[derive(Debug, Default)]
pub struct TcbPool {
    // The boxes themselves are what is recycled (a socket holds its block in one).
    #[allow(clippy::vec_box)]
    free: Vec<Box<Tcb>>,
}

impl TcbPool {
    /// How many freed blocks are kept at most.
    const KEEP: usize = 1024;

    /// `tcb` in a box, a recycled one if there is one.
    pub fn take(&mut self, tcb: Tcb) -> Box<Tcb> {
        match self.free.pop() {
            Some(mut b) => {
                *b = tcb;
                b
            }
            None => Box::new(tcb),
        }
    }

    /// Keeps a freed block (its queues' buffers go).
    pub fn give(&mut self, b: Box<Tcb>) {
        if self.free.len() < Self::KEEP {
            self.free.push(b);
        }
    }
}

impl Tcb {
    /// A block for a connection whose handshake just completed; the queues empty, the RTO
    /// and windows at their initial values.
    pub fn new(snd_isn: SeqNum, rcv_nxt: SeqNum) -> Tcb {
        Tcb {
            snd: SendState {
                una: snd_isn + 1,
                nxt: snd_isn + 1,
                wnd: 0,
                max_window: 0,
                wl1: rcv_nxt,
                wscale: 0,
                buf: VecDeque::new(),
                write_seq: snd_isn + 1,
                skbs: SkbQueue::default(),
                fin_queued: false,
                sml: snd_isn + 1,
                lsndtime_ms: 0,
                bytes_acked: 0,
                rcv_tstamp_ms: 0,
                push_mark: true,
                nospace: false,
            },
            rcv: RecvState {
                nxt: rcv_nxt,
                wnd: 0,
                wup: rcv_nxt,
                window_clamp: 0,
                ssthresh: 0,
                wscale: 0,
                buf: VecDeque::new(),
                ofo: OfoQueue::default(),
                sack: SackState::default(),
                space: 0,
                space_seq: rcv_nxt,
                space_time: Instant::ZERO,
                rtt_est_us: 0,
                rtt_est_seq: rcv_nxt,
                rtt_est_time: Instant::ZERO,
                rtt_last_tsecr: 0,
                bytes_received: 0,
                skbs: VecDeque::new(),
                queue_rmem: 0,
                ofo_rmem: 0,
                scaling_ratio: crate::tcp::initial_window::TCP_DEFAULT_SCALING_RATIO as u8,
            },
            rtt: RttState {
                srtt_us: 0,
                mdev_us: 0,
                rttvar_us: 0,
                rto: TCP_TIMEOUT_FALLBACK,
                backoff: 0,
                retransmits: 0,
                retrans_stamp: None,
                timed: None,
                min_rtt_us: u32::MAX,
                probes_out: 0,
                probes_tstamp: None,
            },
            cwnd: Cwnd::initial(TCP_INIT_CWND),
            ca: CongestionControl::default(),
            rec: Recovery::new(3),
            ack: AckState::default(),
            timers: TimerTable::default(),
            mss_clamp: TCP_MSS_DEFAULT,
            mem_pages: 0,
            advmss: TCP_MSS_DEFAULT,
            tstamp_ok: false,
            ts_recent: 0,
            ts_off: 0,
            sack_ok: false,
            ecn_ok: false,
            last_oow_ack_ms: 0,
            syn_sent: None,
        }
    }
}

impl Tcb {
    /// `tcp_current_ssthresh`: during a window reduction `ssthresh`, otherwise at least
    /// three quarters of the window (what an undo or an idle restart keeps).
    pub fn current_ssthresh(&self) -> u32 {
        let w = self.cwnd;
        if self.rec.in_cwnd_reduction() {
            w.ssthresh
        } else {
            w.ssthresh.max((w.cwnd >> 1) + (w.cwnd >> 2))
        }
    }

    /// The SYN-ACK of a simultaneous open ([`SynSent::syn_ack`]): it echoes the peer's
    /// TSval, or what a recycled TIME_WAIT handed down when the peer's SYN had none.
    pub fn simultaneous_syn_ack(
        &self,
        ss: &SynSent,
        sport: u16,
        dport: u16,
        now_ms: u32,
    ) -> synq_wire::TcpRepr<'static> {
        let tsecr = if self.tstamp_ok {
            self.ts_recent
        } else {
            ss.ts_recent.unwrap_or(0)
        };
        ss.syn_ack(sport, dport, now_ms, self.rcv.nxt, tsecr, self.ecn_ok)
    }

    /// `tcp_retrans_stamp_cleanup`: with no retransmission left in the queue, the episode's
    /// first retransmission is forgotten.
    pub fn retrans_stamp_cleanup(&mut self) {
        if !self.rec.any_retrans_done() {
            self.rtt.retrans_stamp = None;
        }
    }

    /// The round trip a segment echoing our TSval `tsecr` measures at `now`.
    pub fn rtt_from_tsecr(&self, now: Instant, tsecr: u32) -> Duration {
        crate::base::time::ms_since(now, tsecr.wrapping_sub(self.ts_off))
    }

    /// `advmss` less the timestamp option when every segment carries it (Linux takes it off
    /// `advmss` itself once the handshake is done; synq keeps `advmss` whole and takes it
    /// off where the segment size is derived).
    pub fn advmss_less_options(&self) -> u32 {
        u32::from(self.advmss) - if self.tstamp_ok { TCPOLEN_TSTAMP_ALIGNED } else { 0 }
    }

    /// `tcp_assign_congestion_control`: the socket's `TCP_CONGESTION`, else the sysctl's
    /// algorithm, and the duplicate-ACK threshold `tcp_reordering`.
    pub fn set_congestion(&mut self, sysctl: &crate::base::sysctl::Sysctl, chosen: Option<CcAlgo>) {
        self.ca = CongestionControl::new(
            chosen.unwrap_or_else(|| CcAlgo::by_name(sysctl.tcp_congestion_control).unwrap_or_default()),
        );
        self.rec = Recovery::new(sysctl.tcp_reordering.max(1) as u32);
    }

    /// `tcp_init_buffer_space` and `tcp_initialize_rcv_mss` once the handshake is done: the
    /// window clamp within the buffer of `rcvbuf`, the receive space at the window or ten
    /// segments of `advmss` (our MSS less the options every segment carries), and the first
    /// guess at the peer's segment size; the
    /// last receive time starts here (`icsk_ack.lrcvtime` in `tcp_finish_connect` and
    /// `tcp_create_openreq_child`).
    pub fn init_receive(&mut self, now: Instant, advmss: u32, rcvbuf: u32) {
        self.snd.rcv_tstamp_ms = tcp_clock_ms(now);
        // tcp_init_transfer's tcp_init_congestion_control.
        self.ca.init(now.as_micros() as u32, self.snd.nxt.0);
        self.ack.lrcvtime_ms = tcp_clock_ms(now);
        // tcp_init_buffer_space: the clamp at most the buffer's window (tcp_app_win 31
        // reserves nothing), and one segment of it reserved.
        let r = &mut self.rcv;
        let maxwin = r.full_space(rcvbuf).max(0) as u32;
        r.window_clamp = r.window_clamp.min(maxwin);
        if r.window_clamp > 2 * advmss && r.window_clamp + advmss > maxwin {
            r.window_clamp = (2 * advmss).max(maxwin.saturating_sub(advmss));
        }
        r.ssthresh = r.ssthresh.min(r.window_clamp);
        r.space = r.ssthresh.min(r.wnd).min(TCP_INIT_CWND * advmss);
        self.rcv.space_seq = self.rcv.nxt;
        self.rcv.space_time = now;
        self.ack.rcv_mss = advmss
            .min(u32::from(self.mss_clamp))
            .min(self.rcv.wnd / 2)
            .min(u32::from(TCP_MSS_DEFAULT))
            .max(u32::from(TCP_MIN_MSS));
    }
}

impl SendState {
    /// The sequence number of the first byte in `buf`.
    pub fn buf_seq(&self) -> SeqNum {
        self.write_seq - self.buf.len() as u32
    }

    /// Our FIN has been acknowledged.
    pub fn fin_acked(&self) -> bool {
        self.fin_queued && self.una == self.write_seq + 1
    }

    /// What the peer's window leaves from `seq` on (`tcp_wnd_end` − `seq`, none past it).
    pub fn wnd_room(&self, seq: SeqNum) -> u32 {
        (((self.una + self.wnd) - seq) as i32).max(0) as u32
    }

    /// `tcp_bound_to_half_wnd`: `size` at most half the largest window the peer offered (all
    /// of a window under `TCP_MSS_DEFAULT`), no less than `floor`; unbounded before one.
    pub fn bound_to_half_wnd(&self, size: u32, floor: u32) -> u32 {
        let cutoff = if self.max_window > u32::from(TCP_MSS_DEFAULT) {
            self.max_window >> 1
        } else {
            self.max_window
        };
        if cutoff != 0 && size > cutoff {
            cutoff.max(floor)
        } else {
            size
        }
    }

    /// `sk_wmem_queued`: what the queued data costs the send buffer (see [`SkbQueue`]).
    pub fn wmem_queued(&self) -> usize {
        self.skbs.wmem_queued(self.buf.len(), self.una)
    }

    /// Bytes written and not yet sent, were `nxt` the next to send.
    pub fn unsent_from(&self, nxt: SeqNum) -> u32 {
        ((self.write_seq - nxt) as i32).max(0) as u32
    }

    /// Sequence space sent and not acknowledged (`tcp_packets_in_flight` in bytes).
    pub fn in_flight(&self) -> u32 {
        self.nxt - self.una
    }
}

impl RecvState {
    /// `tcp_receive_window`: what is left of the window we offered last.
    pub fn window(&self) -> u32 {
        let left = ((self.wup + self.wnd) - self.nxt) as i32;
        left.max(0) as u32
    }

    /// `sk_rmem_alloc`: the truesize of what both queues hold.
    pub fn rmem(&self) -> u32 {
        self.queue_rmem + self.ofo_rmem
    }

    /// `tcp_win_from_space`: the window `space` bytes of buffer stand for.
    pub fn win_from_space(&self, space: i64) -> i64 {
        (space * i64::from(self.scaling_ratio)) >> 8
    }

    /// `tcp_space_from_win`: the buffer a window of `win` bytes needs.
    pub fn space_from_win(&self, win: u64) -> u64 {
        (win << 8) / u64::from(self.scaling_ratio.max(1))
    }

    /// `tcp_space`: the window the free part of a buffer of `rcvbuf` stands for (negative
    /// once the queues hold more).
    pub fn space(&self, rcvbuf: u32) -> i64 {
        self.win_from_space(i64::from(rcvbuf) - i64::from(self.rmem()))
    }

    /// `tcp_full_space`: the window the whole buffer stands for.
    pub fn full_space(&self, rcvbuf: u32) -> i64 {
        self.win_from_space(i64::from(rcvbuf))
    }

    /// `tcp_set_window_clamp` (at least `SOCK_MIN_RCVBUF / 2`): `ssthresh` comes down with a
    /// lower clamp, or up to the window offered with a higher one.
    pub fn set_window_clamp(&mut self, val: u32) {
        let new = val.max(2304);
        if new < self.window_clamp {
            self.ssthresh = self.ssthresh.min(new);
        } else if new > self.window_clamp {
            self.ssthresh = self.ssthresh.max(self.wnd.min(new));
        }
        self.window_clamp = new;
    }

    /// An in-order skb ending at `end` joins the receive queue, charged `truesize`
    /// (`skb_set_owner_r` in `tcp_queue_rcv`).
    pub fn charge(&mut self, end: SeqNum, truesize: u32) {
        self.skbs.push_back((end, truesize));
        self.queue_rmem += truesize;
    }

    /// The reader has passed `copied_seq`: the skbs it read through are freed.
    pub fn free_read(&mut self) {
        let copied = self.copied_seq();
        while let Some(&(end, truesize)) = self.skbs.front() {
            if end.after(copied) {
                break;
            }
            self.skbs.pop_front();
            self.queue_rmem -= truesize;
        }
    }

    /// `tcp_ofo_queue`: a run of `bytes` of the out-of-order queue's `held` is in order now,
    /// up to `end`; its share of the queue's truesize comes along (all of it with the last).
    pub fn ofo_to_queue(&mut self, end: SeqNum, bytes: usize, held: usize) {
        let share = if bytes >= held {
            self.ofo_rmem
        } else {
            (u64::from(self.ofo_rmem) * bytes as u64 / held.max(1) as u64) as u32
        };
        self.ofo_rmem -= share;
        self.charge(end, share);
    }

    /// `copied_seq`: the next sequence number the reader gets.
    pub fn copied_seq(&self) -> SeqNum {
        self.nxt - self.buf.len() as u32
    }

    /// `tcp_rcv_rtt_update`: a receiver RTT sample, µs. Without timestamps (`win_dep`) only a
    /// smaller one counts; with them, a larger one is smoothed in (while the reader keeps up).
    pub fn rcv_rtt_update(&mut self, sample_us: u32, win_dep: bool) {
        let m = sample_us.saturating_mul(8);
        let old = self.rtt_est_us;
        if old == 0 || m < old {
            self.rtt_est_us = m;
        } else if !win_dep && self.buf.is_empty() {
            self.rtt_est_us = old - (old >> 3) + sample_us;
        }
    }

    /// `tcp_rcv_rtt_measure`: without timestamps, a window's worth of data arriving measures
    /// a round trip (from when it was offered).
    pub fn rcv_rtt_measure(&mut self, now: Instant) {
        if self.rtt_est_time != Instant::ZERO {
            if self.nxt.before(self.rtt_est_seq) {
                return;
            }
            let us = now.saturating_duration_since(self.rtt_est_time).as_micros().max(1) as u32;
            self.rcv_rtt_update(us, true);
        }
        self.rtt_est_seq = self.nxt + self.wnd;
        self.rtt_est_time = now;
    }
}

impl RttState {
    /// `tcp_rtt_estimator` + `tcp_set_rto` (RFC 6298 with Linux's variance rules): folds an
    /// RTT sample into `srtt`/`mdev` and sets the RTO to `srtt + rttvar`, `rttvar` at least
    /// `rto_min`, the result at most `rto_max`.
    pub fn sample(&mut self, rtt: Duration, rto_min: Duration, rto_max: Duration) {
        let m = rtt.as_micros().min(u128::from(u32::MAX >> 4)) as u32;
        self.min_rtt_us = self.min_rtt_us.min(m.max(1));
        let rto_min_us = rto_min.as_micros() as u32;
        if self.srtt_us == 0 {
            self.srtt_us = (m << 3).max(1);
            self.mdev_us = m << 1;
            self.rttvar_us = self.mdev_us.max(rto_min_us);
        } else {
            let mut m = m as i64 - (self.srtt_us >> 3) as i64;
            self.srtt_us = (self.srtt_us as i64 + m) as u32;
            if m < 0 {
                m = -m - (self.mdev_us >> 2) as i64;
                if m > 0 {
                    m >>= 3;
                }
            } else {
                m -= (self.mdev_us >> 2) as i64;
            }
            self.mdev_us = (self.mdev_us as i64 + m).max(0) as u32;
            self.rttvar_us = self.rttvar_us.max(self.mdev_us).max(rto_min_us);
        }
        let rto = Duration::from_micros(u64::from((self.srtt_us >> 3) + self.rttvar_us));
        self.rto = rto.min(rto_max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_rtt_sample_gives_rto_min_plus_srtt() {
        let mut t = Tcb::new(SeqNum(0), SeqNum(0));
        t.rtt.sample(
            Duration::from_millis(10),
            Duration::from_millis(200),
            Duration::from_secs(120),
        );
        assert_eq!(t.rtt.rto, Duration::from_millis(210));
        t.rtt.sample(
            Duration::from_millis(10),
            Duration::from_millis(200),
            Duration::from_secs(120),
        );
        assert_eq!(
            t.rtt.rto,
            Duration::from_millis(210),
            "a steady RTT keeps rttvar at rto_min"
        );
    }
}
