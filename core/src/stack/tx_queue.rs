//! Outbound datagrams waiting for the driver's `poll_transmit`. Buffers are recycled, so
//! that a steady stream of packets allocates nothing once the queue has warmed up.

use std::collections::VecDeque;

/// A FIFO of datagrams with a pool of spare buffers.
#[derive(Debug, Default)]
pub struct TxQueue {
    queue: VecDeque<Vec<u8>>,
    spare: Vec<Vec<u8>>,
}

impl TxQueue {
    /// Queues one datagram of `len` bytes written by `fill` into a zeroed buffer. If `fill`
    /// fails, nothing is queued and its error is returned.
    pub fn push_with<E>(&mut self, len: usize, fill: impl FnOnce(&mut [u8]) -> Result<(), E>) -> Result<(), E> {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.resize(len, 0);
        match fill(&mut buf) {
            Ok(()) => {
                self.queue.push_back(buf);
                Ok(())
            }
            Err(e) => {
                self.spare.push(buf);
                Err(e)
            }
        }
    }

    /// Copies the oldest datagram into `out` and returns its length. `Err(len)` when `out` is
    /// too short for it (the datagram is dropped). `None` when the queue is empty.
    pub fn pop_into(&mut self, out: &mut [u8]) -> Option<Result<usize, usize>> {
        let buf = self.queue.pop_front()?;
        let len = buf.len();
        let result = match out.get_mut(..len) {
            Some(dst) => {
                dst.copy_from_slice(&buf);
                Ok(len)
            }
            None => Err(len),
        };
        self.spare.push(buf);
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_with_recycled_buffers() {
        let mut q = TxQueue::default();
        q.push_with(3, |b| {
            b.copy_from_slice(b"abc");
            Ok::<_, ()>(())
        })
        .unwrap();
        q.push_with(2, |b| {
            b.copy_from_slice(b"de");
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!(q.push_with(9, |_| Err("no")), Err("no"));
        assert_eq!(q.queue.len(), 2);
        let mut out = [0u8; 8];
        assert_eq!(q.pop_into(&mut out), Some(Ok(3)));
        assert_eq!(&out[..3], b"abc");
        assert_eq!(q.pop_into(&mut out[..1]), Some(Err(2)));
        assert_eq!(q.pop_into(&mut out), None);
        assert!(q.spare.len() >= 2, "buffers return to the pool");
    }
}
