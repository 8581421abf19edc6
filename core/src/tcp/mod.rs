//! TCP: the control block, input by state (`tcp_input`, `tcp_minisocks`), output, timers,
//! the passive open (`tcp_conn_request`, SYN cookies), the active open's SYN
//! (`tcp_connect_init`), the user calls (`tcp.c`: send, receive, close, shutdown, poll), SACK
//! and the out-of-order queue.

pub mod calls;
pub mod cong;
pub(crate) mod ctx;
pub mod initial_window;
pub mod isn;
pub(crate) mod listener;
pub mod ofo_queue;
pub mod sack;
pub(crate) mod sk_mem;
pub mod syn_sent;
pub mod syncookies;
pub mod tcb;
pub mod tcp_connect;
pub(crate) mod tcp_input;
pub mod tcp_ipv4;
pub(crate) mod tcp_minisocks;
pub(crate) mod tcp_output;
pub mod tcp_recovery;
pub mod tcp_timer;
pub mod write_queue;
