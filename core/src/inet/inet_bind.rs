//! What bind() and listen() rest on: `struct sockaddr_in`, and `inet_csk_get_port` tying a
//! socket to the [`BindTable`] (spec rules B10, B13–B16, B18). The calls themselves
//! (`inet_bind_sk`, `__inet_listen_sk`) are the stack's, in `stack/bind.rs`.

use crate::base::consts::AF_INET;
use crate::base::errno::Errno;
use crate::base::rng::Rng;
use crate::base::sysctl::Sysctl;
use crate::inet::bind_table::{BindTable, Binder, Owner, OwnerState, OwnerView};
use crate::inet::inet_hashtables::inet_sk_get_local_port_range;
use crate::inet::socket::{SockId, SocketTable, TcpState};
use crate::inet::time_wait::TimeWaitTable;
use std::net::SocketAddrV4;

/// Length of `struct sockaddr_in`.
pub const SOCKADDR_IN_LEN: usize = 16;

/// Encodes `struct sockaddr_in` as Linux lays it out: family (native-endian), port and
/// address (network order), eight bytes of zero.
pub fn sockaddr_in(addr: SocketAddrV4) -> [u8; SOCKADDR_IN_LEN] {
    let mut b = [0u8; SOCKADDR_IN_LEN];
    b[0..2].copy_from_slice(&(AF_INET as u16).to_ne_bytes());
    b[2..4].copy_from_slice(&addr.port().to_be_bytes());
    b[4..8].copy_from_slice(&addr.ip().octets());
    b
}

/// The live view of an owner the conflict rules read.
fn owner_view(sockets: &SocketTable, time_waits: &TimeWaitTable, owner: Owner) -> OwnerView {
    match owner {
        Owner::Socket(fd) => {
            let s = sockets.get(fd).expect("the bind table only holds live sockets");
            OwnerView {
                reuse_addr: s.options.reuse_addr,
                reuse_port: s.options.reuse_port,
                uid: s.creds.uid,
                state: if s.state == TcpState::Listen {
                    OwnerState::Listen
                } else {
                    OwnerState::Other
                },
            }
        }
        Owner::TimeWait(id) => {
            let tw = time_waits
                .get(id)
                .expect("the bind table only holds live TIME_WAIT entries");
            OwnerView {
                reuse_addr: tw.reuse_addr,
                reuse_port: tw.reuse_port,
                uid: tw.uid,
                state: OwnerState::TimeWait,
            }
        }
    }
}

/// `inet_csk_get_port`: takes `port` (or, for 0, the port `inet_csk_find_open_port` picks)
/// in `bind_table` for socket `fd` at its current address, and returns it (the caller
/// records it as `inet_num`). The conflict rules read the other owners from `sockets` and
/// `time_waits`.
pub(crate) fn inet_csk_get_port(
    bind_table: &mut BindTable,
    sockets: &SocketTable,
    time_waits: &TimeWaitTable,
    sysctl: &Sysctl,
    rng: &mut Rng,
    fd: SockId,
    port: u16,
) -> Result<u16, Errno> {
    let view = |o: Owner| owner_view(sockets, time_waits, o);
    let socket = sockets.get(fd)?;
    let binder = Binder {
        owner: Owner::Socket(fd),
        addr: socket.rcv_saddr,
        view: view(Owner::Socket(fd)),
    };
    if port != 0 {
        bind_table.get_port(port, &binder, &view)?;
        return Ok(port);
    }
    let range = inet_sk_get_local_port_range(sysctl.ip_local_port_range, socket.options.local_port_range);
    let found = bind_table.find_open_port(
        &binder,
        (range.low, range.high),
        &sysctl.ip_local_reserved_ports,
        sysctl.ip_autobind_reuse != 0,
        rng,
        &view,
    );
    let port = found.ok_or(Errno::EADDRINUSE)?;
    bind_table.take_found(port, &binder);
    Ok(port)
}
