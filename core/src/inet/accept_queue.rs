//! The accept queue (`rskq_accept_head/tail`): children whose handshake is complete, in the
//! order it completed, until accept() takes them (spec L16, L46, L52).

use std::collections::VecDeque;

use crate::inet::sock_id::SockId;

/// A listener's accept queue.
#[derive(Debug, Clone, Default)]
pub struct AcceptQueue {
    children: VecDeque<SockId>,
}

impl AcceptQueue {
    /// `sk_ack_backlog`: children waiting.
    pub fn len(&self) -> u32 {
        self.children.len() as u32
    }

    /// True when no child waits.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// `sk_acceptq_is_full`: strictly more children than the backlog, so backlog + 1 fit
    /// (L16; backlog 0 still admits one).
    pub fn is_full(&self, backlog: u32) -> bool {
        self.len() > backlog
    }

    /// `inet_csk_reqsk_queue_add`: a child at the tail.
    pub fn push(&mut self, child: SockId) {
        self.children.push_back(child);
    }

    /// `reqsk_queue_remove`: the oldest child.
    pub fn pop(&mut self) -> Option<SockId> {
        self.children.pop_front()
    }

    /// Takes every child out (listener close, L61).
    pub fn drain(&mut self) -> impl Iterator<Item = SockId> + '_ {
        self.children.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l16_full_only_when_more_than_backlog() {
        let mut q = AcceptQueue::default();
        assert!(!q.is_full(0));
        q.push(SockId::from_index(5));
        assert!(q.is_full(0), "backlog 0 admits one child");
        assert!(!q.is_full(1));
        q.push(SockId::from_index(4));
        assert_eq!(q.pop(), Some(SockId::from_index(5)), "FIFO");
    }
}
