//! The stack's socket memory against `net.ipv4.tcp_mem` (`net/core/sock.c`'s
//! `__sk_mem_raise_allocated` / `__sk_mem_reduce_allocated`, `tcp.c`'s
//! `tcp_enter_memory_pressure`): every connection holds whole pages of
//! `tcp_memory_allocated` for what its queues hold — the truesize of received data and the
//! bytes waiting to be sent. Above `tcp_mem[1]` the stack is under pressure (TCPMemoryPressures)
//! until it falls below `tcp_mem[0]`: receive windows stop growing and shrink toward four
//! segments, send buffers stop growing. Above `tcp_mem[2]` no more is taken: data that would
//! queue behind other data is dropped, a write waits.
//!
//! Linux charges pages ahead (`sk_forward_alloc`) and caches them per CPU; synq charges each
//! connection what its queues hold now, rounded up to pages.

use crate::base::mib::Counter;
use crate::tcp::ctx::Ctx;
use crate::tcp::tcb::Tcb;

/// `tcp_memory_allocated` (pages) and `tcp_memory_pressure`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TcpMemory {
    pub allocated: i64,
    pub pressure: bool,
}

/// Charges `tcb` what its queues hold now, in pages, and enters or leaves memory pressure.
pub(crate) fn sk_mem_account(cx: &mut Ctx, tcb: &mut Tcb) {
    let bytes = u64::from(tcb.rcv.rmem()) + tcb.snd.wmem_queued() as u64;
    set_pages(cx, tcb, bytes.div_ceil(4096).min(u64::from(u16::MAX)) as u16);
}

/// A connection freed or purged gives all its pages back.
pub(crate) fn sk_mem_uncharge(cx: &mut Ctx, tcb: &mut Tcb) {
    set_pages(cx, tcb, 0);
}

fn set_pages(cx: &mut Ctx, tcb: &mut Tcb, pages: u16) {
    let delta = i64::from(pages) - i64::from(tcb.mem_pages);
    if delta == 0 {
        return;
    }
    tcb.mem_pages = pages;
    cx.mem.allocated += delta;
    let [low, pressure, _] = cx.sysctl.tcp_mem.map(i64::from);
    if !cx.mem.pressure && cx.mem.allocated > pressure {
        cx.mem.pressure = true;
        cx.mib.inc(Counter::TcpExtTCPMemoryPressures);
    } else if cx.mem.pressure && cx.mem.allocated <= low {
        cx.mem.pressure = false;
    }
}

/// `sk_under_memory_pressure`.
pub(crate) fn under_memory_pressure(cx: &Ctx) -> bool {
    cx.mem.pressure
}

/// `__sk_mem_raise_allocated` refusing: the stack holds more than `tcp_mem[2]`.
pub(crate) fn over_memory_limit(cx: &Ctx) -> bool {
    cx.mem.allocated > i64::from(cx.sysctl.tcp_mem[2])
}

/// `sk_memory_allocated(sk) >= sk_prot_mem_limits(sk, 0)`: too much held to grow a send
/// buffer (`tcp_should_expand_sndbuf`).
pub(crate) fn above_memory_low(cx: &Ctx) -> bool {
    cx.mem.allocated >= i64::from(cx.sysctl.tcp_mem[0])
}

/// `tcp_adjust_rcv_ssthresh`: under pressure the window opens to four segments at most.
pub(crate) fn tcp_adjust_rcv_ssthresh(tcb: &mut Tcb) {
    tcb.rcv.ssthresh = tcb.rcv.ssthresh.min(4 * tcb.advmss_less_options());
}
