//! The transmission control block of a synchronized connection: what a child socket holds
//! after the handshake (`tcp_create_openreq_child`, spec L44). Data transfer and close grow
//! it in their issues.

/// `TCP_MSS_DEFAULT`: the peer's MSS when its SYN has no MSS option, and the MSS a socket
/// reports before it has a connection.
pub const TCP_MSS_DEFAULT: u16 = 536;

/// A connection's sequence and option state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tcb {
    /// `snd_una`, `snd_nxt`: oldest unacknowledged and next sequence number to send.
    pub snd_una: u32,
    pub snd_nxt: u32,
    /// `snd_wnd`: the peer's window, scaled; `max_window` the largest it has offered.
    pub snd_wnd: u32,
    pub max_window: u32,
    /// `rcv_nxt`: next sequence number expected.
    pub rcv_nxt: u32,
    /// `rcv_wnd`: the window we offered last, `window_clamp` its ceiling.
    pub rcv_wnd: u32,
    pub window_clamp: u32,
    /// `mss_cache` source: the peer's MSS clamp (`rx_opt.mss_clamp`).
    pub mss_clamp: u16,
    /// Our advertised MSS (`advmss`).
    pub advmss: u16,
    /// Window scale shifts: the peer's (`snd_wscale`) and ours (`rcv_wscale`), 0 unless
    /// negotiated.
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    /// Timestamps in use; `ts_recent` the peer's latest TSval, `ts_off` our offset.
    pub tstamp_ok: bool,
    pub ts_recent: u32,
    pub ts_off: u32,
    /// SACK permitted both ways; ECN negotiated.
    pub sack_ok: bool,
    pub ecn_ok: bool,
}
