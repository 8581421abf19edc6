//! The receiver's SACK (RFC 2018) and D-SACK (RFC 2883) blocks as Linux keeps them
//! (`tp->selective_acks`, `tp->duplicate_sack`): a new out-of-order range joins the block it
//! touches, which moves to the front (`tcp_sack_new_ofo_skb`, `tcp_sack_maybe_coalesce`), or
//! becomes a new front block, the oldest falling off past four; blocks `rcv_nxt` has passed
//! go (`tcp_sack_remove`); a duplicate range is reported once, ahead of the SACK blocks
//! (`tcp_dsack_set`, `tcp_dsack_extend`, cleared by `tcp_options_write`).

use crate::base::seq::{after, before};
use synq_wire::SackBlocks;

/// `TCP_NUM_SACKS`: SACK blocks remembered.
pub const TCP_NUM_SACKS: usize = 4;

/// A receiver's SACK state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SackState {
    blocks: [(u32, u32); TCP_NUM_SACKS],
    num: u8,
    dsack: Option<(u32, u32)>,
}

/// `tcp_sack_extend`: widens `sp` by `[seq, end)` if the two touch or overlap.
fn extend(sp: &mut (u32, u32), seq: u32, end: u32) -> bool {
    if after(seq, sp.1) || after(sp.0, end) {
        return false;
    }
    if before(seq, sp.0) {
        sp.0 = seq;
    }
    if after(end, sp.1) {
        sp.1 = end;
    }
    true
}

impl SackState {
    /// The SACK blocks, most recent first.
    pub fn blocks(&self) -> &[(u32, u32)] {
        &self.blocks[..usize::from(self.num)]
    }

    /// `tcp_sack_new_ofo_skb`: `[seq, end)` was queued out of order.
    pub fn new_ofo(&mut self, seq: u32, end: u32) {
        let n = usize::from(self.num);
        if let Some(i) = (0..n).find(|&i| extend(&mut self.blocks[i], seq, end)) {
            self.blocks[..=i].rotate_right(1);
            self.coalesce();
            return;
        }
        let n = n.min(TCP_NUM_SACKS - 1);
        self.blocks[..=n].rotate_right(1);
        self.blocks[0] = (seq, end);
        self.num = n as u8 + 1;
    }

    /// `tcp_sack_maybe_coalesce`: the front block swallows any other it now touches.
    fn coalesce(&mut self) {
        let mut i = 1;
        while i < usize::from(self.num) {
            let other = self.blocks[i];
            if extend(&mut self.blocks[0], other.0, other.1) {
                self.blocks.copy_within(i + 1..usize::from(self.num), i);
                self.num -= 1;
            } else {
                i += 1;
            }
        }
    }

    /// `tcp_sack_remove`: blocks that `rcv_nxt` reached go; all of them once the
    /// out-of-order queue is empty.
    pub fn remove(&mut self, rcv_nxt: u32, ofo_empty: bool) {
        if ofo_empty {
            self.num = 0;
            return;
        }
        let mut i = 0;
        while i < usize::from(self.num) {
            if !before(rcv_nxt, self.blocks[i].0) {
                self.blocks.copy_within(i + 1..usize::from(self.num), i);
                self.num -= 1;
            } else {
                i += 1;
            }
        }
    }

    /// `tcp_dsack_set`: `[seq, end)` arrived again.
    pub fn dsack_set(&mut self, seq: u32, end: u32) {
        self.dsack = Some((seq, end));
    }

    /// `tcp_dsack_extend`: widens the pending D-SACK, or sets one.
    pub fn dsack_extend(&mut self, seq: u32, end: u32) {
        match &mut self.dsack {
            Some(d) => {
                extend(d, seq, end);
            }
            None => self.dsack = Some((seq, end)),
        }
    }

    /// The blocks a segment carries (`tcp_established_options`): the D-SACK first, then the
    /// SACK blocks, at most `room`; the D-SACK is reported once.
    pub fn take_option(&mut self, room: usize) -> SackBlocks {
        let mut out = SackBlocks::EMPTY;
        for &(l, r) in self.dsack.take().iter().chain(self.blocks()).take(room) {
            out.push(l, r);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block sequence of Linux's `tcp_dsack_mult.pkt` (relative numbers).
    #[test]
    fn blocks_as_linux_orders_them() {
        let mut s = SackState::default();
        s.new_ofo(1001, 2001);
        s.new_ofo(2001, 3001);
        assert_eq!(s.blocks(), &[(1001, 3001)]);
        s.new_ofo(4001, 5001);
        assert_eq!(s.blocks(), &[(4001, 5001), (1001, 3001)]);
        s.new_ofo(7001, 8001);
        assert_eq!(s.blocks(), &[(7001, 8001), (4001, 5001), (1001, 3001)]);
        // 1:6001 arrives in order: 1001:3001 and 4001:5001 were had already.
        s.dsack_extend(1001, 3001);
        s.dsack_extend(4001, 5001);
        s.remove(6001, false);
        assert_eq!(s.take_option(3).as_slice(), &[(1001, 3001), (7001, 8001)]);
        assert_eq!(s.take_option(3).as_slice(), &[(7001, 8001)], "the D-SACK goes once");
    }

    #[test]
    fn a_fifth_block_pushes_out_the_oldest_and_joining_blocks_coalesce() {
        let mut s = SackState::default();
        for i in 0..5u32 {
            s.new_ofo(i * 100, i * 100 + 10);
        }
        assert_eq!(s.blocks(), &[(400, 410), (300, 310), (200, 210), (100, 110)]);
        s.new_ofo(210, 300);
        assert_eq!(s.blocks(), &[(200, 310), (400, 410), (100, 110)]);
        assert_eq!(s.take_option(2).len(), 2, "room for two only");
    }
}
