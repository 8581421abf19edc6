//! The skbs of the retransmit and write queues as Linux 6.18 cuts them, for what it charges
//! the send buffer (`sk_wmem_queued`): each skb costs its payload and a fixed overhead, so
//! where the boundaries fall decides when a writer waits and when it is woken. The model was
//! measured on this kernel: `docs/linux-6.18-send-buffer.md`.
//!
//! Boundaries move in four places: a write fills the tail skb up to the size goal and then
//! takes a new one (`tcp_skb_entail`); a packet sent becomes one skb, taking bytes from the
//! skbs behind it (`tcp_grow_skb`) or leaving the rest of a longer one as a new skb
//! (`tso_fragment`); a retransmission of part of an skb splits it (`tcp_fragment`); an ACK
//! frees whole skbs and trims a partly acknowledged one of several segments
//! (`tcp_clean_rtx_queue`, `tcp_trim_head`). SACK's splits and shifts are not modelled.

use std::collections::VecDeque;

use crate::base::seq::SeqNum;

/// `SKB_TRUESIZE(MAX_TCP_HEADER)` on x86-64: what an skb of the write queue costs besides its
/// payload (its `sk_buff`, a 256-byte head and `skb_shared_info`; the payload is in pages).
pub const SKB_OVERHEAD: u32 = 832;

/// The skbs from `snd_una` to the end of what was written, by their ends. Boxed on the first
/// write, so that a connection that never sends keeps a pointer only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkbQueue(Option<Box<Skbs>>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Skbs {
    /// Where the first skb begins: `snd_una`, or before it while a one-segment skb is partly
    /// acknowledged (Linux trims only an skb of several segments).
    head: SeqNum,
    /// Each skb's end, oldest first (a FIN counts one).
    ends: VecDeque<SeqNum>,
}

impl Skbs {
    /// Where skb `i` begins.
    fn start(&self, i: usize) -> SeqNum {
        if i == 0 {
            self.head
        } else {
            self.ends[i - 1]
        }
    }

    /// The first skb that ends after `seq`.
    fn after(&self, seq: SeqNum) -> usize {
        self.ends.partition_point(|e| !e.after(seq))
    }
}

impl SkbQueue {
    fn skbs(&self) -> Option<&Skbs> {
        self.0.as_deref()
    }

    /// `sk_wmem_queued`: `bytes` of payload queued from `una` on, what a one-segment skb
    /// still holds below `una`, and each skb's overhead.
    pub fn wmem_queued(&self, bytes: usize, una: SeqNum) -> usize {
        match self.skbs() {
            None => bytes,
            Some(s) if s.ends.is_empty() => bytes,
            Some(s) => bytes + ((una - s.head) as i32).max(0) as usize + s.ends.len() * SKB_OVERHEAD as usize,
        }
    }

    /// The length of the tail skb while none of it was sent (`tcp_write_queue_tail`: a sent
    /// skb is in the retransmit queue); 0 when there is none.
    pub fn unsent_tail(&self, snd_nxt: SeqNum) -> u32 {
        match self.skbs() {
            Some(s) if !s.ends.is_empty() => {
                let i = s.ends.len() - 1;
                let start = s.start(i);
                if start.before(snd_nxt) {
                    0
                } else {
                    s.ends[i] - start
                }
            }
            _ => 0,
        }
    }

    /// `tcp_skb_entail`: a new skb `[start, end)` at the tail.
    pub fn entail(&mut self, start: SeqNum, end: SeqNum) {
        let s = self.0.get_or_insert_with(|| {
            Box::new(Skbs {
                head: start,
                ends: VecDeque::new(),
            })
        });
        // A queue emptied by ACKs starts again where the new skb does.
        if s.ends.is_empty() {
            s.head = start;
        }
        s.ends.push_back(end);
    }

    /// Bytes appended to the tail skb (`skb_copy_to_page_nocache`), or the FIN set on it.
    pub fn grow_tail(&mut self, n: u32) {
        if let Some(end) = self.0.as_mut().and_then(|s| s.ends.back_mut()) {
            *end += n;
        }
    }

    /// A packet `[seq, end)` left for the first time: it is one skb from now on, made of
    /// the head of the unsent skbs it covers (`tcp_grow_skb` empties and frees the ones
    /// wholly inside; `tso_fragment` leaves the rest of the last as its own skb).
    pub fn sent(&mut self, seq: SeqNum, end: SeqNum) {
        let Some(s) = self.0.as_mut() else { return };
        let (i, j) = (s.after(seq), s.after(end));
        if i == j {
            s.ends.insert(i, end);
        } else {
            s.ends.drain(i + 1..j);
            s.ends[i] = end;
        }
    }

    /// The unsent skb at `snd_nxt` as `tcp_write_xmit` takes it, grown toward `want` bytes
    /// from the next skb (`tcp_grow_skb`): where it then ends, and whether it is the tail.
    pub fn send_head(&self, snd_nxt: SeqNum, want: u32) -> Option<(SeqNum, bool)> {
        let s = self.skbs()?;
        let i = s.after(snd_nxt);
        let mut end = *s.ends.get(i)?;
        let mut tail = i + 1 == s.ends.len();
        if let (true, Some(&next)) = ((end - snd_nxt) < want, s.ends.get(i + 1)) {
            let take = (want - (end - snd_nxt)).min(next - end);
            end += take;
            tail = end == next && i + 2 == s.ends.len();
        }
        Some((end, tail))
    }

    /// `tcp_fragment`: an skb is cut at `seq` (a retransmission of part of it).
    pub fn split_at(&mut self, seq: SeqNum) {
        let Some(s) = self.0.as_mut() else { return };
        let i = s.after(seq);
        if i < s.ends.len() && s.start(i).before(seq) {
            s.ends.insert(i, seq);
        }
    }

    /// `tcp_clean_rtx_queue` for an ACK of everything before `una`: whole skbs are freed; a
    /// partly acknowledged one of more than one `mss` segment is trimmed to what is left
    /// (`tcp_tso_acked`, `tcp_trim_head`), one of a single segment is kept whole.
    pub fn acked(&mut self, una: SeqNum, mss: u32) {
        let Some(s) = self.0.as_mut() else { return };
        while let Some(&end) = s.ends.front().filter(|e| !e.after(una)) {
            s.ends.pop_front();
            s.head = end;
        }
        match s.ends.front() {
            Some(&end) if end - s.head > mss => s.head = una,
            Some(_) => {}
            None => s.head = una,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: usize = SKB_OVERHEAD as usize;

    /// The walk of `tcp_blocking_blocking-write.pkt` measured on Linux 6.18 (size goal 25000,
    /// MSS 1000, packets of five and then ten segments): the queue after each step.
    #[test]
    fn blocking_write_walk_matches_linux_6_18() {
        let s = |n: u32| SeqNum(1) + n;
        let mut q = SkbQueue::default();
        q.entail(s(0), s(25000));
        q.sent(s(0), s(5000));
        assert_eq!(q.unsent_tail(s(5000)), 20000);
        q.sent(s(5000), s(10000));
        q.grow_tail(10000);
        q.entail(s(35000), s(60000));
        assert_eq!(q.wmem_queued(60000, s(0)), 63328, "write(61000) waits here");
        q.acked(s(10000), 1000);
        q.sent(s(10000), s(20000));
        q.sent(s(20000), s(30000));
        assert_eq!(q.wmem_queued(50000, s(10000)), 53328);
        q.acked(s(30000), 1000);
        q.sent(s(30000), s(40000));
        q.sent(s(40000), s(50000));
        q.sent(s(50000), s(60000));
        assert_eq!(q.wmem_queued(30000, s(30000)), 32496);
        q.acked(s(34496), 1000);
        assert_eq!(q.wmem_queued(25504, s(34496)), 28000, "ACK 34497 trims 4496");
        assert_eq!(q.unsent_tail(s(60000)), 0, "all sent: a write takes a new skb");
        q.entail(s(60000), s(61000));
        q.sent(s(60000), s(61000));
        assert_eq!(q.wmem_queued(26504, s(34496)), 26504 + 4 * H);
    }

    #[test]
    fn a_partly_acked_single_segment_skb_keeps_its_bytes_until_freed() {
        let mut q = SkbQueue::default();
        q.entail(SeqNum(100), SeqNum(600));
        q.sent(SeqNum(100), SeqNum(600));
        q.acked(SeqNum(300), 1000);
        assert_eq!(q.wmem_queued(300, SeqNum(300)), 500 + H);
        q.acked(SeqNum(600), 1000);
        assert_eq!(q.wmem_queued(0, SeqNum(600)), 0, "freed");
    }

    #[test]
    fn the_send_head_grows_from_the_next_skb_only() {
        let mut q = SkbQueue::default();
        q.entail(SeqNum(0), SeqNum(3000));
        q.entail(SeqNum(3000), SeqNum(5000));
        q.entail(SeqNum(5000), SeqNum(9000));
        assert_eq!(q.send_head(SeqNum(0), 2000), Some((SeqNum(3000), false)));
        assert_eq!(q.send_head(SeqNum(0), 10000), Some((SeqNum(5000), false)));
        assert_eq!(q.send_head(SeqNum(3000), 10000), Some((SeqNum(9000), true)));
        assert_eq!(q.send_head(SeqNum(9000), 10000), None);
    }

    #[test]
    fn a_retransmission_of_part_of_an_skb_splits_it() {
        let mut q = SkbQueue::default();
        q.entail(SeqNum(0), SeqNum(10000));
        q.sent(SeqNum(0), SeqNum(10000));
        q.split_at(SeqNum(1000));
        q.split_at(SeqNum(1000));
        q.split_at(SeqNum(10000));
        assert_eq!(q.wmem_queued(10000, SeqNum(0)), 10000 + 2 * H, "two skbs");
    }
}
