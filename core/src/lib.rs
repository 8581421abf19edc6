//! synq's sans-IO TCP/IPv4 stack: packets and a time in; packets, events and timers out. No
//! socket, thread or clock lives here; a driver (the simulator, the TUN driver) owns those.
//!
//! Folders are layers, dependencies point down: `base` (time, timers, sequence numbers,
//! errno, sysctls, counters), `ip`, `inet` (sockets, tables, request socks, TIME_WAIT), `tcp`
//! (the protocol, as functions over the socket they act on and a borrowed context), and
//! `stack`, the façade that owns everything and is the only `impl Stack`. Files follow
//! Linux's split of concepts, and each rule's doc comment names the Linux function it comes
//! from, so that `grep tcp_v4_send_reset` finds our twin of it.

pub mod base;
pub mod inet;
mod ip;
mod stack;
pub mod tcp;

pub use base::errno::Errno;
pub use base::mib::{Counter, Mib};
pub use base::sysctl::Sysctl;
pub use base::time::{Duration, Instant};
pub use base::timer_wheel::{TimerId, TimerWheel};
pub use base::{consts, rng};
pub use inet::inet_bind::{sockaddr_in, SOCKADDR_IN_LEN};
pub use inet::socket::{Credentials, SockId, SocketId, TcpState};
pub use inet::time_wait::{TimeWaitId, TimeWaitSock};
pub use inet::{bind_table, port_bitmap, request_sock};
pub use stack::inet_diag::{ss_state_name, SockDiag};
pub use stack::{Stack, StackConfig};
pub use tcp::calls::TcpInfo;
pub use tcp::ctx::Timer;
pub use tcp::tcp_output::tcp_v4_send_reset;
