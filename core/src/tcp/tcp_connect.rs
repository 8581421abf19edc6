//! The active open's first segment: Linux's `tcp_connect_init` and `tcp_connect`
//! (`tcp_output.c`) with `tcp_syn_options` — our MSS, the initial window and its scale from the
//! socket's buffer, the options the sysctls allow (rules C21–C24).

use crate::base::sysctl::Sysctl;
use crate::tcp::initial_window::{tcp_full_space, tcp_select_initial_window, InitialWindow, TCPOLEN_TSTAMP_ALIGNED};
use synq_wire::{TcpFlags, TcpOptions, TcpRepr, Timestamp};

/// IPv4 and TCP headers without options: the route's advertised MSS is the MTU less these.
const IP_TCP_HEADERS: u16 = 40;

/// Our MSS for a connection of a socket with TCP_MAXSEG `user_mss` (`tcp_mss_clamp` of
/// `dst_metric_advmss`: MTU less 40).
pub(crate) fn advmss(mtu: u16, user_mss: u16) -> u16 {
    let route = mtu.saturating_sub(IP_TCP_HEADERS);
    if user_mss != 0 {
        route.min(user_mss)
    } else {
        route
    }
}

/// What `tcp_connect_init` decides for a connecting socket, and so what its SYN carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectInit {
    /// Our MSS (`advmss`): the route's (MTU less 40), lowered by `TCP_MAXSEG`.
    pub advmss: u16,
    /// The window the SYN offers, its clamp and our shift.
    pub window: InitialWindow,
    /// SACK_PERM offered (`tcp_sack`).
    pub sack: bool,
    /// Timestamps offered (`tcp_timestamps` non-zero).
    pub tstamp: bool,
    /// Window scaling offered (`tcp_window_scaling`).
    pub wscale: bool,
    /// ECN asked for (`tcp_ecn` = 1): the SYN carries ECE and CWR.
    pub ecn: bool,
}

/// `tcp_connect_init` (rules C21, C24): `mtu` is the route's, `user_mss` the socket's
/// `TCP_MAXSEG` (0: unset), `rcvbuf` its receive buffer and whether SO_RCVBUF set it,
/// `inherited_ts_recent` whether a recycled TIME_WAIT handed down a peer timestamp (then the
/// window is rounded to whole segments of `advmss` less the timestamp option, as Linux's
/// `tcp_header_len` makes it).
pub fn tcp_connect_init(
    sysctl: &Sysctl,
    mtu: u16,
    user_mss: u16,
    (rcvbuf, rcvbuf_locked): (u32, bool),
    inherited_ts_recent: bool,
) -> ConnectInit {
    let tstamp = sysctl.tcp_timestamps != 0;
    let wscale = sysctl.tcp_window_scaling != 0;
    let advmss = advmss(mtu, user_mss);
    let space = tcp_full_space(rcvbuf);
    // With SO_RCVBUF set, the window never outgrows the buffer.
    let clamp = if rcvbuf_locked { space } else { 0 };
    let mut mss = u32::from(advmss);
    if inherited_ts_recent && tstamp {
        mss -= TCPOLEN_TSTAMP_ALIGNED;
    }
    ConnectInit {
        advmss,
        window: tcp_select_initial_window(sysctl, space, mss, clamp, wscale, 0),
        sack: sysctl.tcp_sack != 0,
        tstamp,
        wscale,
        ecn: sysctl.tcp_ecn == 1,
    }
}

impl ConnectInit {
    /// `tcp_connect`'s SYN (rules C22, C23): sequence `isn`, no ACK, the window unscaled,
    /// options in `tcp_options_write`'s order (MSS, SACK_PERM, TS, NOP, WS; the NOPs that
    /// pad a missing neighbour are the emitter's). `tsecr` is 0 unless a recycled TIME_WAIT
    /// handed down the peer's last TSval.
    pub fn syn(&self, src_port: u16, dst_port: u16, isn: u32, tsval: u32, tsecr: u32) -> TcpRepr<'static> {
        let mut flags = TcpFlags::SYN;
        if self.ecn {
            flags |= TcpFlags::ECE | TcpFlags::CWR;
        }
        TcpRepr {
            src_port,
            dst_port,
            seq: isn,
            ack: 0,
            flags,
            window: self.window.rcv_wnd.min(u32::from(u16::MAX)) as u16,
            urgent: 0,
            options: TcpOptions {
                mss: Some(self.advmss),
                sack_permitted: self.sack,
                timestamp: self.tstamp.then_some(Timestamp { tsval, tsecr }),
                window_scale: self.wscale.then_some(self.window.rcv_wscale),
                ..TcpOptions::default()
            },
            payload: &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    /// A fresh socket's user_mss, buffer and buffer lock.
    #[derive(Clone, Copy)]
    struct Opts {
        user_mss: u16,
        rcvbuf: u32,
        rcvbuf_locked: bool,
    }

    impl Opts {
        fn init(&self, s: &Sysctl, mtu: u16, inherited: bool) -> ConnectInit {
            tcp_connect_init(s, mtu, self.user_mss, (self.rcvbuf, self.rcvbuf_locked), inherited)
        }
    }

    fn fresh(s: &Sysctl) -> Opts {
        Opts {
            user_mss: 0,
            rcvbuf: s.tcp_rmem[1] as u32,
            rcvbuf_locked: false,
        }
    }

    /// The SYN's window, shift and option bytes (after the 20-byte header).
    fn syn_bytes(s: &Sysctl, mtu: u16, o: &Opts) -> (u16, u8, Vec<u8>) {
        let init = o.init(s, mtu, false);
        let syn = init.syn(40000, 80, 7, 0x0102_0304, 0);
        let d = syn.to_ipv4_datagram(A, B).unwrap();
        let tcp = &d[20..];
        let doff = usize::from(tcp[12] >> 4) * 4;
        assert_eq!(tcp[13], 0x02, "SYN only");
        (syn.window, init.window.rcv_wscale, tcp[20..doff].to_vec())
    }

    #[test]
    fn c23_c24_the_syn_of_a_fresh_socket_on_ethernet() {
        let s = Sysctl::default();
        let (window, wscale, opts) = syn_bytes(&s, 1500, &fresh(&s));
        assert_eq!((window, wscale), (64240, 10));
        assert_eq!(
            opts,
            [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 10],
            "mss 1460, sackOK, TS val ecr 0, nop, wscale 10"
        );
    }

    #[test]
    fn c23_option_variants_without_ts_sack_or_wscale() {
        let s = Sysctl {
            tcp_timestamps: 0,
            ..Sysctl::default()
        };
        let (_, _, opts) = syn_bytes(&s, 1500, &fresh(&s));
        assert_eq!(opts, [2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 10]);
        let s = Sysctl {
            tcp_sack: 0,
            ..Sysctl::default()
        };
        let (_, _, opts) = syn_bytes(&s, 1500, &fresh(&s));
        assert_eq!(
            opts,
            [2, 4, 0x05, 0xb4, 1, 1, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 10]
        );
        let s = Sysctl {
            tcp_window_scaling: 0,
            ..Sysctl::default()
        };
        let (window, wscale, opts) = syn_bytes(&s, 1500, &fresh(&s));
        assert_eq!((window, wscale), (64240, 0));
        assert_eq!(opts, [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0]);
    }

    #[test]
    fn c24_window_examples() {
        let s = Sysctl::default();
        // MTU 9000: MSS 8960, seven whole segments.
        assert_eq!(syn_bytes(&s, 9000, &fresh(&s)).0, 62720);
        // Loopback: MSS 65495, the window one segment.
        let lo = fresh(&s).init(&s, u16::MAX, false);
        assert_eq!((lo.advmss, lo.window.rcv_wnd), (65495, 65495));
        // A recycled TIME_WAIT's ts_recent rounds to mss − 12.
        assert_eq!(fresh(&s).init(&s, u16::MAX, true).window.rcv_wnd, 65483);
        // SO_RCVBUF 65536 (doubled to 131072): the clamp is the full space, shift 1.
        let locked = Opts {
            user_mss: 0,
            rcvbuf: 131072,
            rcvbuf_locked: true,
        };
        assert_eq!(syn_bytes(&s, 1500, &locked).0, 64240);
        assert_eq!(syn_bytes(&s, 1500, &locked).1, 1);
        // TCP_MAXSEG lowers the MSS option.
        let small = Opts {
            user_mss: 1000,
            ..fresh(&s)
        };
        assert_eq!(small.init(&s, 1500, false).advmss, 1000);
    }

    #[test]
    fn c22_tcp_ecn_1_asks_for_ecn_on_the_syn() {
        let s = Sysctl {
            tcp_ecn: 1,
            ..Sysctl::default()
        };
        let syn = fresh(&s).init(&s, 1500, false).syn(1, 2, 3, 4, 0);
        assert_eq!(syn.flags, TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR);
        assert_eq!(Sysctl::default().tcp_ecn, 2, "the default asks nothing");
    }
}
