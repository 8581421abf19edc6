//! synq's sans-IO TCP/IPv4 stack: packets and a time in; packets, events and timers out. No
//! socket, thread or clock lives here; a driver (the simulator, the TUN driver) owns those.
//!
//! Files follow Linux's split of concepts, and each rule's doc comment names the Linux
//! function it comes from, so that `grep tcp_v4_send_reset` finds our twin of it.

pub mod accept_queue;
pub mod bind_table;
pub mod consts;
pub mod ehash;
pub mod errno;
mod icmp;
mod inet_bind;
pub mod initial_window;
mod ip_input;
pub mod isn;
mod listener;
pub mod listening_hash;
pub mod mib;
mod minisocks;
pub mod ofo_queue;
pub mod port_bitmap;
pub mod request_sock;
pub mod rng;
pub mod sack;
pub mod slab;
pub mod socket;
mod stack;
pub mod syn_queue;
pub mod syncookies;
pub mod sysctl;
pub mod tcb;
pub mod tcp;
mod tcp_input;
mod tcp_ipv4;
mod tcp_output;
pub mod tcp_timer;
pub mod time;
pub mod time_wait;
pub mod timer_wheel;
mod tx_queue;

pub use errno::Errno;
pub use inet_bind::{sockaddr_in, SOCKADDR_IN_LEN};
pub use mib::{Counter, Mib};
pub use socket::{Credentials, SocketId, TcpState};
pub use stack::{Stack, StackConfig, Timer};
pub use sysctl::Sysctl;
pub use tcp::TcpInfo;
pub use tcp_ipv4::tcp_v4_send_reset;
pub use time::{Duration, Instant};
pub use time_wait::{TimeWaitId, TimeWaitSock};
pub use timer_wheel::{TimerId, TimerWheel};
