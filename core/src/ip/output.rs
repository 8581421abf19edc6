//! IPv4 output: datagrams built (`ip_build_and_send_pkt`) into the queue that waits for the
//! driver's `poll_transmit`. Buffers are recycled, so that a steady stream of packets
//! allocates nothing once the queue has warmed up.

use crate::base::mib::{Counter, Mib};
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use synq_wire::{ip_proto, Ipv4Repr, TcpRepr, IPV4_HEADER_LEN};

/// A FIFO of datagrams with a pool of spare buffers. Datagrams to one of the host's own
/// addresses (`local`) wait apart, for the stack to take them back (the loopback).
#[derive(Debug, Default)]
pub struct TxQueue {
    queue: VecDeque<Vec<u8>>,
    looped: VecDeque<Vec<u8>>,
    spare: Vec<Vec<u8>>,
    local: Vec<Ipv4Addr>,
    limit: Option<usize>,
}

impl TxQueue {
    /// The device queue's length limit (a qdisc's `pfifo limit N`): beyond it a datagram is
    /// dropped at once (`NET_XMIT_DROP`) and its sender told. `None`: unbounded.
    pub fn set_limit(&mut self, limit: Option<usize>) {
        self.limit = limit;
    }

    /// The queue is at its limit.
    pub fn is_full(&self) -> bool {
        self.limit.is_some_and(|l| self.queue.len() >= l)
    }

    /// Queues one datagram of `len` bytes written by `fill` into a buffer whose headers (the
    /// first 80 bytes: IPv4 and TCP at their longest) are zeroed; `fill` writes the rest
    /// (a recycled buffer's payload bytes are not zeroed first, as `fill` copies over them).
    /// If `fill` fails, nothing is queued and its error is returned.
    pub fn push_with<E>(&mut self, len: usize, fill: impl FnOnce(&mut [u8]) -> Result<(), E>) -> Result<(), E> {
        const HEADERS: usize = 80;
        let mut buf = self.spare.pop().unwrap_or_default();
        if buf.len() < len {
            buf.resize(len, 0);
        }
        buf.truncate(len);
        match buf.get_mut(..HEADERS) {
            Some(headers) => headers.fill(0),
            None => buf.fill(0),
        }
        match fill(&mut buf) {
            Ok(()) => {
                let to_self = buf
                    .get(16..20)
                    .is_some_and(|d| self.local.contains(&Ipv4Addr::new(d[0], d[1], d[2], d[3])));
                if to_self {
                    self.looped.push_back(buf);
                } else {
                    self.queue.push_back(buf);
                }
                Ok(())
            }
            Err(e) => {
                self.spare.push(buf);
                Err(e)
            }
        }
    }

    /// The host's addresses: datagrams to them are looped back.
    pub fn set_local(&mut self, addrs: &[Ipv4Addr]) {
        self.local = addrs.to_vec();
    }

    /// The oldest datagram sent to one of the host's own addresses.
    pub fn pop_looped(&mut self) -> Option<Vec<u8>> {
        self.looped.pop_front()
    }

    /// Drops what waits to be looped back.
    pub fn drop_looped(&mut self) {
        while let Some(buf) = self.looped.pop_front() {
            self.spare.push(buf);
        }
    }

    /// A buffer taken with [`TxQueue::pop_looped`], for reuse.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.spare.push(buf);
    }

    /// Lends the oldest datagram to `f`, then keeps its buffer for reuse.
    pub fn pop_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let buf = self.queue.pop_front()?;
        let r = f(&buf);
        self.spare.push(buf);
        Some(r)
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

/// `ip_build_and_send_pkt` for a TCP segment: queues `seg` from `src` to `dst` with TTL
/// `ttl`, DF set, TOS `tos` and IP ID `ident` (a socket's `inet_id`; 0 for what no socket
/// sends: SYN-ACKs of request socks, resets to strays, TIME_WAIT's ACKs), and counts it.
/// False if it could not be built or the device queue dropped it (local congestion).
pub(crate) fn ip_send_tcp(
    tx: &mut TxQueue,
    mib: &mut Mib,
    ttl: u8,
    (src, dst): (Ipv4Addr, Ipv4Addr),
    (tos, ident): (u8, u16),
    seg: &TcpRepr<'_>,
) -> bool {
    let mut ip = Ipv4Repr::new(src, dst, ip_proto::TCP, seg.buffer_len());
    ip.ttl = ttl;
    ip.tos = tos;
    ip.ident = ident;
    let len = IPV4_HEADER_LEN + seg.buffer_len();
    if tx.is_full() && !tx.local.contains(&dst) {
        mib.inc(Counter::SynqOutQdiscDrops);
        return false;
    }
    let queued = tx.push_with(len, |buf| {
        ip.emit(buf)?;
        seg.emit(&mut buf[IPV4_HEADER_LEN..], ip.src_addr, ip.dst_addr)
            .map(drop)
    });
    match queued {
        Ok(()) => {
            mib.inc(Counter::TcpOutSegs);
            mib.inc(Counter::IpOutRequests);
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "could not build a segment");
            false
        }
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
