//! The receive window and window scale a SYN-ACK (or SYN) offers (spec L21): Linux's
//! `tcp_select_initial_window` in `net/ipv4/tcp_output.c`, fed by `tcp_openreq_init_rwin`.

use crate::base::sysctl::Sysctl;

/// `TCP_MAX_WSCALE` (RFC 7323 §2.3).
pub const TCP_MAX_WSCALE: u8 = 14;
/// `TCP_DEFAULT_SCALING_RATIO`: a fresh socket counts half its buffer as window.
pub const TCP_DEFAULT_SCALING_RATIO: u32 = 1 << 7;
/// `TCPOLEN_TSTAMP_ALIGNED`: what the timestamp option takes from each segment.
pub const TCPOLEN_TSTAMP_ALIGNED: u32 = 12;

/// What `tcp_select_initial_window` decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitialWindow {
    /// `rcv_wnd`: the window offered in the SYN-ACK (never scaled there).
    pub rcv_wnd: u32,
    /// `window_clamp`: the largest window this connection will ever offer.
    pub window_clamp: u32,
    /// `rcv_wscale`: our window-scale shift (0 unless `wscale_ok`).
    pub rcv_wscale: u8,
}

/// `tcp_full_space` of a socket with receive buffer `rcvbuf` and the default scaling ratio
/// (`tcp_win_from_space`): the part of the buffer that may be offered as window.
pub fn tcp_full_space(rcvbuf: u32) -> u32 {
    ((u64::from(rcvbuf) * u64::from(TCP_DEFAULT_SCALING_RATIO)) >> 8) as u32
}

/// `tcp_select_initial_window`: `space` is the listener's full space, `mss` the segment size
/// the window is quantised to (our advertised MSS less 12 with timestamps), `window_clamp` the
/// socket's clamp (0: none), `init_rcv_wnd` the route's `initrwnd` in segments (0: none).
pub fn tcp_select_initial_window(
    sysctl: &Sysctl,
    space: u32,
    mss: u32,
    window_clamp: u32,
    wscale_ok: bool,
    init_rcv_wnd: u32,
) -> InitialWindow {
    let window_clamp = if window_clamp == 0 {
        u32::from(u16::MAX) << TCP_MAX_WSCALE
    } else {
        window_clamp
    };
    let mut space = space.min(window_clamp);
    if space > mss {
        space -= space % mss;
    }
    let mut rcv_wnd = space.min(u32::from(u16::MAX));
    if init_rcv_wnd != 0 {
        rcv_wnd = rcv_wnd.min(init_rcv_wnd.saturating_mul(mss));
    }
    let rcv_wscale = if wscale_ok {
        let space = space
            .max(sysctl.tcp_rmem[2].max(0) as u32)
            .max(sysctl.rmem_max.max(0) as u32)
            .min(window_clamp);
        (space.max(1).ilog2().saturating_sub(15) as u8).min(TCP_MAX_WSCALE)
    } else {
        0
    };
    InitialWindow {
        rcv_wnd,
        window_clamp: window_clamp.min(u32::from(u16::MAX) << rcv_wscale),
        rcv_wscale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked examples of L21 with this kernel's namespace defaults (tcp_rmem
    /// "4096 131072 33554432", rmem_max 4 MiB).
    #[test]
    fn l21_initial_window_worked_examples() {
        let s = Sysctl::default();
        let full = tcp_full_space(s.tcp_rmem[1] as u32);
        assert_eq!(full, 65536);
        let w = |mss, ws| tcp_select_initial_window(&s, full, mss, 0, ws, 0);
        // Ethernet MSS 1460: with timestamps 1448 → 65160, without → 64240; wscale 10.
        assert_eq!(
            w(1460 - TCPOLEN_TSTAMP_ALIGNED, true),
            InitialWindow {
                rcv_wnd: 65160,
                window_clamp: 65535 << 10,
                rcv_wscale: 10
            }
        );
        assert_eq!(w(1460, true).rcv_wnd, 64240);
        // Loopback advmss 65495 with timestamps.
        assert_eq!(w(65495 - TCPOLEN_TSTAMP_ALIGNED, true).rcv_wnd, 65483);
        // No window scaling: shift 0, the clamp is what 16 bits hold.
        assert_eq!(w(1460, false).rcv_wscale, 0);
        assert_eq!(w(1460, false).window_clamp, 65535);
        // With the older 6 MiB tcp_rmem[2] the shift was 7.
        let mut old = Sysctl::default();
        old.tcp_rmem[2] = 6 << 20;
        assert_eq!(tcp_select_initial_window(&old, full, 1448, 0, true, 0).rcv_wscale, 7);
    }

    #[test]
    fn l21_clamp_and_initrwnd_bound_the_window() {
        let s = Sysctl::default();
        let w = tcp_select_initial_window(&s, 65536, 1000, 20_000, true, 0);
        assert_eq!(w.rcv_wnd, 20_000);
        assert_eq!(w.rcv_wscale, 0, "a clamp below 64 KiB needs no scaling");
        assert_eq!(w.window_clamp, 20_000);
        assert_eq!(tcp_select_initial_window(&s, 65536, 1000, 0, true, 10).rcv_wnd, 10_000);
    }
}
