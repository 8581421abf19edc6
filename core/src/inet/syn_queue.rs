//! The SYN queue's bookkeeping (`request_sock_queue`'s `qlen` and `young`). The request socks
//! themselves live in the established hash, as in Linux; a listener only counts them.

/// A listener's SYN-queue counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SynQueue {
    /// `qlen`: requests of this listener.
    pub qlen: u32,
    /// `young`: requests whose timer has not fired yet.
    pub young: u32,
}

impl SynQueue {
    /// `inet_csk_reqsk_queue_is_full`: more requests than the backlog, so backlog + 1 fit
    /// (L15, Linux 6.13 on).
    pub fn is_full(&self, backlog: u32) -> bool {
        self.qlen > backlog
    }

    /// `inet_csk_reqsk_queue_added`.
    pub fn added(&mut self) {
        self.qlen += 1;
        self.young += 1;
    }

    /// `reqsk_queue_removed` for a request that has had `num_timeout` expiries.
    pub fn removed(&mut self, num_timeout: u8) {
        self.qlen = self.qlen.saturating_sub(1);
        if num_timeout == 0 {
            self.aged();
        }
    }

    /// A request's timer fired for the first time: it is no longer young.
    pub fn aged(&mut self) {
        self.young = self.young.saturating_sub(1);
    }

    /// The `tcp_max_syn_backlog` rule (L18), used only without cookies: drop when fewer than a
    /// quarter of `max_syn_backlog` slots remain.
    pub fn over_max_syn_backlog(&self, max_syn_backlog: i32) -> bool {
        let max = i64::from(max_syn_backlog);
        max - i64::from(self.qlen) < max >> 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l15_capacity_is_backlog_plus_one() {
        let mut q = SynQueue::default();
        for _ in 0..3 {
            assert!(!q.is_full(2));
            q.added();
        }
        assert!(q.is_full(2));
    }

    #[test]
    fn l18_max_syn_backlog_admits_max_minus_quarter_plus_one() {
        for (max, admitted) in [(8, 7), (10, 9), (128, 97)] {
            let mut q = SynQueue::default();
            let mut n = 0;
            while !q.over_max_syn_backlog(max) {
                q.added();
                n += 1;
            }
            assert_eq!(n, admitted, "tcp_max_syn_backlog {max}");
        }
    }
}
