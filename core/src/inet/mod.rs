//! The inet layer shared by TCP sockets: the socket table, `bind()` and the bind table
//! (`inet_csk_get_port`), connect()'s port search (`__inet_hash_connect`), the hash tables (established `ehash`, listening hash), request
//! socks with the SYN and accept queues, and TIME_WAIT mini-sockets.

pub mod accept_queue;
pub mod bind_table;
pub mod ehash;
pub(crate) mod inet_bind;
pub mod inet_hashtables;
pub mod listening_hash;
pub mod port_bitmap;
pub mod request_sock;
pub mod sock_id;
pub mod socket;
pub mod syn_queue;
pub mod time_wait;
pub mod tuple;
