//! synq on a real device, in real time: [`TunDriver`] runs a [`Stack`] on a Linux TUN
//! device. One thread moves datagrams between the device and the stack and fires its timers
//! on the real clock; callers run socket calls on the stack through [`TunDriver::call`] (what
//! a call sends leaves at once) and wait for a change with [`TunDriver::wait`], or from a
//! future with [`TunDriver::poll_call`]. The socket APIs (`synq::net`, `synq::tokio`) sit on
//! top of this.

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

use synq_core::consts::{POLLERR, POLLHUP};
use synq_core::{Errno, Instant, SocketId, Stack};

/// Where the device goes: its name, the kernel's address on it (`kernel_addr/prefix`, the
/// peer side), its MTU and whether to use its offloads. synq's own address is the stack's.
#[derive(Debug, Clone)]
pub struct TunConfig {
    pub name: String,
    pub kernel_addr: Ipv4Addr,
    pub prefix: u8,
    pub mtu: u16,
    /// The device's offloads (`IFF_VNET_HDR`, `TUNSETOFFLOAD`): the kernel hands over TCP in
    /// GSO super-packets of up to 64 KiB, which the stack takes whole, as Linux's TCP takes
    /// a GRO-merged packet (one segment, one ACK decision); synq's datagrams of one flow
    /// leave coalesced into super-packets that the kernel takes as one (GSO), a batch per
    /// write round.
    pub offload: bool,
}

impl TunConfig {
    /// Device `name` with the kernel at `kernel_addr/prefix`, MTU 1500, offloads on.
    pub fn new(name: &str, kernel_addr: Ipv4Addr, prefix: u8) -> TunConfig {
        TunConfig {
            name: name.to_string(),
            kernel_addr,
            prefix,
            mtu: 1500,
            offload: true,
        }
    }
}

/// Room for the virtio-net header in front of every datagram (used with offloads).
const HDR: usize = tun_rs::VIRTIO_NET_HDR_LEN;
/// Datagrams per batch, each way.
const BATCH: usize = tun_rs::IDEAL_BATCH_SIZE;
/// How often the driver thread looks at every waiter, not only at the sockets the stack
/// says it touched.
const SWEEP: Duration = Duration::from_millis(100);

/// A stack on a TUN device, driven by a thread of its own until dropped.
pub struct TunDriver {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// What sees every datagram that crosses the device, either way, with the time since the
/// driver started (a pcap writer, say).
pub type Capture = Box<dyn FnMut(Duration, &[u8]) + Send>;

/// The stack and the buffers its datagrams leave through, behind one lock.
struct Locked {
    stack: Stack,
    /// A batch of outbound datagrams, each after `HDR` bytes of room; kept between rounds
    /// so that sending allocates nothing.
    out: Vec<Vec<u8>>,
    /// Coalesces a batch's TCP segments by flow (with offloads).
    gro: tun_rs::GROTable,
    capture: Option<Capture>,
    /// Tasks and threads waiting for a socket's readiness, by socket.
    waiters: HashMap<SocketId, Vec<Waiter>>,
    /// The sockets a datagram or call touched (kept so that taking them allocates nothing).
    touched: Vec<SocketId>,
}

/// Wakes a thread parked in [`TunDriver::call_blocking`].
struct ThreadWaker(std::thread::Thread);

impl std::task::Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// A task waiting until `poll(2)` on its socket shows one of `events` (or an error or a
/// hang-up).
struct Waiter {
    events: u16,
    waker: Waker,
}

/// Wakes `fd`'s waiters whose readiness came (or whose socket went away); true when none
/// is left.
fn wake_fd(stack: &Stack, fd: SocketId, waiters: &mut Vec<Waiter>) -> bool {
    let mask = stack.poll(fd).ok();
    waiters.retain(|w| {
        let ready = mask.is_none_or(|m| m & (w.events | POLLERR | POLLHUP) != 0);
        if ready {
            w.waker.wake_by_ref();
        }
        !ready
    });
    waiters.is_empty()
}

impl Locked {
    /// Wakes every waiter whose socket became ready (after timers and calls that may have
    /// changed any socket).
    fn wake_ready(&mut self) {
        let stack = &self.stack;
        self.waiters.retain(|&fd, w| !wake_fd(stack, fd, w));
    }

    /// Wakes the waiters of the sockets the last datagram or call reached, and of `also`.
    fn wake_touched(&mut self, also: Option<SocketId>) {
        self.touched.clear();
        self.touched.extend(also);
        let touched = &mut self.touched;
        self.stack.take_touched(|fd| touched.push(fd));
        for fd in &self.touched {
            if let Some(w) = self.waiters.get_mut(fd) {
                if wake_fd(&self.stack, *fd, w) {
                    self.waiters.remove(fd);
                }
            }
        }
    }

    /// Remembers that `waker`'s task waits for `events` on `fd` (once per task and interest;
    /// several tasks or threads may wait on one socket).
    fn register(&mut self, fd: SocketId, events: u16, waker: &Waker) {
        let w = self.waiters.entry(fd).or_default();
        if !w.iter().any(|w| w.events == events && w.waker.will_wake(waker)) {
            w.push(Waiter {
                events,
                waker: waker.clone(),
            });
        }
    }

    /// Hands every datagram the stack queued to the device.
    /// Without offloads each is one write; with them a batch's segments of one flow leave
    /// as one GSO super-packet.
    fn transmit(&mut self, device: &tun_rs::SyncDevice, since: std::time::Instant) {
        let mtu = usize::from(self.stack.mtu());
        loop {
            let mut n = 0;
            while n < BATCH {
                if self.out.len() == n {
                    self.out.push(Vec::with_capacity(HDR + mtu));
                }
                let b = &mut self.out[n];
                b.clear();
                b.resize(HDR + mtu, 0);
                let Some(len) = self.stack.poll_transmit(&mut b[HDR..]) else {
                    break;
                };
                b.truncate(HDR + len);
                if let Some(c) = self.capture.as_mut() {
                    c(since.elapsed(), &b[HDR..]);
                }
                n += 1;
            }
            if n == 0 {
                return;
            }
            if let Err(e) = device.send_multiple(&mut self.gro, &mut self.out[..n], HDR) {
                tracing::debug!(error = %e, "TUN write failed; datagrams dropped");
            }
            if n < BATCH {
                return;
            }
        }
    }
}

struct Shared {
    locked: Mutex<Locked>,
    /// Notified after each round of the driver thread (datagrams in, timers fired).
    changed: Condvar,
    device: tun_rs::SyncDevice,
    /// The device has a virtio-net header in front of every datagram.
    offload: bool,
    /// An eventfd that wakes the driver thread: a call armed a timer or the driver stops.
    wake: RawFd,
    stop: AtomicBool,
    epoch: std::time::Instant,
}

impl Shared {
    /// The stack's clock: time since the driver started.
    fn now(&self) -> Instant {
        Instant::from_nanos(self.epoch.elapsed().as_nanos() as u64)
    }

    fn lock(&self) -> MutexGuard<'_, Locked> {
        self.locked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// After a caller's call: what it sent leaves, and the driver thread looks at the timers
    /// again.
    /// After a call on `fd` the waiters of that socket and of those its loopback reached
    /// wake, after another call (`None`) every waiter that is ready.
    fn after_call(&self, mut locked: MutexGuard<'_, Locked>, fd: Option<SocketId>) {
        locked.transmit(&self.device, self.epoch);
        match fd {
            Some(fd) => locked.wake_touched(Some(fd)),
            None => locked.wake_ready(),
        }
        drop(locked);
        self.wake();
    }

    fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes from a valid u64 to our own eventfd.
        unsafe { libc::write(self.wake, &one as *const u64 as *const libc::c_void, 8) };
    }
}

impl TunDriver {
    /// Creates the TUN device (`config.name`, the kernel side at `config.kernel_addr`, up)
    /// and starts driving `stack` on it. Needs CAP_NET_ADMIN and `/dev/net/tun`.
    pub fn start(stack: Stack, config: &TunConfig) -> io::Result<TunDriver> {
        let device = tun_rs::DeviceBuilder::new()
            .name(config.name.clone())
            .ipv4(config.kernel_addr, config.prefix, None)
            .mtu(config.mtu)
            .offload(config.offload)
            .build_sync()?;
        device.set_nonblocking(true)?;
        // synq speaks IPv4 only: keep the kernel from sending IPv6 (router solicitations,
        // MLD) onto the device. Best effort: a kernel without IPv6 has no such knob.
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", config.name), "1");
        // SAFETY: eventfd(2) with valid flags; the fd is owned by `Shared` and closed on drop.
        let wake = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if wake < 0 {
            return Err(io::Error::last_os_error());
        }
        let shared = Arc::new(Shared {
            locked: Mutex::new(Locked {
                stack,
                out: Vec::new(),
                gro: tun_rs::GROTable::default(),
                capture: None,
                waiters: HashMap::new(),
                touched: Vec::new(),
            }),
            changed: Condvar::new(),
            device,
            offload: config.offload,
            wake,
            stop: AtomicBool::new(false),
            epoch: std::time::Instant::now(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("synq {}", config.name))
            .spawn(move || drive(&s))?;
        Ok(TunDriver {
            shared,
            thread: Some(thread),
        })
    }

    /// Shows every datagram that crosses the device from now on to `capture` (`None` stops).
    pub fn set_capture(&self, capture: Option<Capture>) {
        self.shared.lock().capture = capture;
    }

    /// Runs `call` on the stack at the current time; what it sends leaves at once and the
    /// driver thread takes note of the timers it armed.
    pub fn call<R>(&self, call: impl FnOnce(&mut Stack, Instant) -> R) -> R {
        let mut locked = self.shared.lock();
        let r = call(&mut locked.stack, self.shared.now());
        self.shared.after_call(locked, None);
        r
    }

    /// A socket call from a future: runs `call` now; if it says `EAGAIN`, the task is woken
    /// once `poll(2)` on `fd` shows one of `events` (`POLLIN`, `POLLOUT`; an error or a
    /// hang-up always wakes it) and `Pending` is returned.
    pub fn poll_call<R>(
        &self,
        cx: &mut Context<'_>,
        fd: SocketId,
        events: u16,
        call: impl FnOnce(&mut Stack, Instant) -> Result<R, Errno>,
    ) -> Poll<Result<R, Errno>> {
        let mut locked = self.shared.lock();
        match call(&mut locked.stack, self.shared.now()) {
            Err(Errno::EAGAIN) => {
                locked.register(fd, events, cx.waker());
                // The call itself may have sent (a window update) or readied another socket.
                self.shared.after_call(locked, Some(fd));
                Poll::Pending
            }
            r => {
                self.shared.after_call(locked, Some(fd));
                Poll::Ready(r)
            }
        }
    }

    /// A blocking socket call: runs `call` until it says something other than `EAGAIN`,
    /// sleeping in between until `poll(2)` on `fd` shows one of `events` (or an error or a
    /// hang-up); `None` once `timeout` passes. Only this thread is woken, not every waiter.
    pub fn call_blocking<R>(
        &self,
        fd: SocketId,
        events: u16,
        timeout: Option<Duration>,
        mut call: impl FnMut(&mut Stack, Instant) -> Result<R, Errno>,
    ) -> Option<Result<R, Errno>> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(r) = self.poll_call(&mut cx, fd, events, &mut call) {
                return Some(r);
            }
            match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    std::thread::park_timeout(left);
                }
            }
        }
    }

    /// Runs `poll` on the stack now and after each round of the driver thread until it
    /// returns `Some`, or `timeout` passes (`None`; no timeout waits as long as it takes).
    pub fn wait<R>(
        &self,
        timeout: Option<Duration>,
        mut poll: impl FnMut(&mut Stack, Instant) -> Option<R>,
    ) -> Option<R> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let mut locked = self.shared.lock();
        loop {
            let now = self.shared.now();
            if let Some(r) = poll(&mut locked.stack, now) {
                self.shared.after_call(locked, None);
                return Some(r);
            }
            locked = match deadline {
                None => self.shared.changed.wait(locked).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    self.shared
                        .changed
                        .wait_timeout(locked, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}

impl Drop for TunDriver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // SAFETY: the eventfd is ours and no thread uses it any more.
        unsafe { libc::close(self.shared.wake) };
    }
}

/// The datagram of one read after its `hdr` bytes of virtio-net header (none without
/// offloads), its checksum finished if the kernel left it partial (`NEEDS_CSUM`, as
/// `skb_checksum_help` would); a GSO super-packet stays whole, with its segment size (0 for
/// none). `None` for a header that does not decode.
fn offloaded(read: &mut [u8], hdr: usize) -> Option<(&[u8], u16)> {
    if hdr == 0 {
        return Some((read, 0));
    }
    let h = tun_rs::VirtioNetHdr::decode(&read[..hdr]).ok()?;
    let d = &mut read[hdr..];
    if h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 {
        let (start, at) = (
            usize::from(h.csum_start),
            usize::from(h.csum_start) + usize::from(h.csum_offset),
        );
        if at + 2 > d.len() || start > d.len() {
            return None;
        }
        // The field holds the pseudo-header's sum: add the rest to it.
        let partial = u64::from(u16::from_be_bytes([d[at], d[at + 1]]));
        d[at..at + 2].fill(0);
        let sum = synq_wire::fold(synq_wire::sum(&d[start..]) + partial);
        d[at..at + 2].copy_from_slice(&(!sum).to_be_bytes());
    }
    let gso_size = if h.gso_type == 0 { 0 } else { h.gso_size };
    Some((d, gso_size))
}

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the transport checksum is left to the reader.
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;

/// The driver thread: sleeps in poll(2) on the device and the wake fd until the stack's
/// next timer; then takes every datagram the device has, fires the timers due, sends what
/// the stack queued and tells the waiting callers.
fn drive(s: &Shared) {
    // What one read takes: with offloads a virtio-net header and up to 64 KiB.
    let mut raw = vec![0u8; HDR + 65536];
    let hdr = if s.offload { HDR } else { 0 };
    let mut last_sweep = std::time::Instant::now();
    while !s.stop.load(Ordering::SeqCst) {
        let timeout_ms = {
            let mut locked = s.lock();
            match locked.stack.poll_timeout() {
                None => -1,
                Some(at) => {
                    let now = s.now();
                    // Round up to whole ms: firing early would find nothing due.
                    let wait = at.saturating_duration_since(now).as_nanos().div_ceil(1_000_000);
                    wait.min(i32::MAX as u128) as i32
                }
            }
        };
        let mut fds = [
            libc::pollfd {
                fd: s.device.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: s.wake,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll(2) on two valid pollfds.
        unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
        if fds[1].revents != 0 {
            let mut v = 0u64;
            // SAFETY: reading the 8-byte counter of our own eventfd.
            unsafe { libc::read(s.wake, &mut v as *mut u64 as *mut libc::c_void, 8) };
        }
        // Each datagram is taken under the lock and answered at once (its ACK leaves, the
        // tasks it readied wake); between two the lock is free, so that readers drain the
        // socket while a burst comes in, as the kernel's readers run beside its softirq.
        loop {
            match s.device.recv(&mut raw) {
                Ok(n) if n > hdr => {
                    let Some((d, gso_size)) = offloaded(&mut raw[..n], hdr) else {
                        continue;
                    };
                    let mut locked = s.lock();
                    if let Some(c) = locked.capture.as_mut() {
                        c(s.epoch.elapsed(), d);
                    }
                    // The device's protocol demux: synq is IPv4's handler only (an IPv6
                    // datagram would go to another handler, never to IPv4's counters).
                    if d[0] >> 4 == 4 {
                        locked.stack.receive_gso(s.now(), d, gso_size);
                        locked.transmit(&s.device, s.epoch);
                        locked.wake_touched(None);
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(error = %e, "TUN read failed");
                    break;
                }
            }
        }
        let mut locked = s.lock();
        locked.stack.handle_timeout(s.now());
        locked.transmit(&s.device, s.epoch);
        // The sockets the timers reached; and, now and then, every waiter (what a change
        // outside the stack's notes, if any, made ready waits at most this long).
        if last_sweep.elapsed() >= SWEEP {
            locked.wake_ready();
            last_sweep = std::time::Instant::now();
        } else {
            locked.wake_touched(None);
        }
        drop(locked);
        s.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synq_wire::{ip_proto, Ipv4Repr, TcpFlags, TcpRepr, IPV4_HEADER_LEN};

    /// A TCP/IPv4 datagram with its checksums, after `HDR` zero bytes of virtio-net header.
    fn datagram(payload: &[u8]) -> (Vec<u8>, Ipv4Addr, Ipv4Addr) {
        let (src, dst) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        let seg = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: 1,
            ack: 1,
            flags: TcpFlags::ACK,
            window: 512,
            urgent: 0,
            options: Default::default(),
            payload,
        };
        let mut buf = vec![0u8; HDR + IPV4_HEADER_LEN + seg.buffer_len()];
        Ipv4Repr::new(src, dst, ip_proto::TCP, seg.buffer_len())
            .emit(&mut buf[HDR..])
            .unwrap();
        seg.emit(&mut buf[HDR + IPV4_HEADER_LEN..], src, dst).unwrap();
        (buf, src, dst)
    }

    #[test]
    fn a_partial_checksum_from_the_kernel_is_finished_as_skb_checksum_help_would() {
        let payload: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
        let (mut buf, src, dst) = datagram(&payload);
        let at = HDR + IPV4_HEADER_LEN + 16;
        let full = [buf[at], buf[at + 1]];
        // CHECKSUM_PARTIAL: the field holds the pseudo-header's folded sum only.
        let tcp_len = (buf.len() - HDR - IPV4_HEADER_LEN) as u32;
        let pseudo = synq_wire::fold(synq_wire::pseudo_header_sum(src, dst, ip_proto::TCP, tcp_len));
        buf[at..at + 2].copy_from_slice(&pseudo.to_be_bytes());
        tun_rs::VirtioNetHdr {
            flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
            gso_type: 1, // VIRTIO_NET_HDR_GSO_TCPV4: a super-packet stays whole
            hdr_len: 40,
            gso_size: 1448,
            csum_start: IPV4_HEADER_LEN as u16,
            csum_offset: 16,
        }
        .encode(&mut buf[..HDR])
        .unwrap();
        let (d, gso_size) = offloaded(&mut buf, HDR).unwrap();
        assert_eq!(gso_size, 1448, "the segment size the receiver measures");
        assert_eq!(d.len(), IPV4_HEADER_LEN + 20 + payload.len());
        assert_eq!([d[IPV4_HEADER_LEN + 16], d[IPV4_HEADER_LEN + 17]], full);
    }

    #[test]
    fn a_header_that_points_outside_the_datagram_drops_it() {
        let (mut buf, _, _) = datagram(b"x");
        tun_rs::VirtioNetHdr {
            flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
            gso_type: 0,
            hdr_len: 0,
            gso_size: 0,
            csum_start: 60000,
            csum_offset: 16,
        }
        .encode(&mut buf[..HDR])
        .unwrap();
        assert!(offloaded(&mut buf, HDR).is_none());
        // Without offloads the datagram is the read itself.
        let mut plain = [0x45u8, 0, 0, 20];
        assert_eq!(offloaded(&mut plain, 0).map(|(d, gso)| (d.len(), gso)), Some((4, 0)));
    }
}
