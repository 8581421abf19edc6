//! The discrete-event loop: virtual time jumps from one event (a delivery, a stack timer) to
//! the next; ties run in the order they were scheduled.

use crate::describe::describe;
use crate::host::{Endpoint, Host, HostId, Received};
use crate::link::{LinkConfig, LinkId, LinkStats};
use crate::pcap::{pcap_bytes, Captured};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::net::Ipv4Addr;
use synq_core::rng::Rng;
use synq_core::{Duration, Instant, Stack, StackConfig};
use synq_wire::{TcpRepr, IPV4_HEADER_LEN};

struct Link {
    ends: [HostId; 2],
    config: LinkConfig,
    /// Per direction (0: from `ends[0]`), when the sender's side of the link is free again.
    busy_until: [Instant; 2],
    stats: LinkStats,
    captured: Vec<Captured>,
}

enum Event {
    Deliver { to: HostId, link: LinkId, bytes: Vec<u8> },
    Timer { host: HostId },
}

struct Scheduled {
    at: Instant,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed, so that `BinaryHeap` pops the earliest (and among equals the first scheduled).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// What happened to a datagram a host put on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFate {
    /// It will be delivered (once, or twice if duplicated).
    Sent,
    /// The link lost it.
    Lost,
    /// No link leads to its destination.
    NoRoute,
}

/// One line of the readable trace: who sent what, when, and its fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEntry {
    /// When it was sent.
    pub at: Instant,
    /// The sending host's name.
    pub from: String,
    /// tcpdump-style description.
    pub summary: String,
    /// Its fate.
    pub fate: TraceFate,
}

/// A simulated network.
pub struct Sim {
    now: Instant,
    rng: Rng,
    hosts: Vec<Host>,
    links: Vec<Link>,
    events: BinaryHeap<Scheduled>,
    next_seq: u64,
    trace: Option<Vec<TraceEntry>>,
    tx_buf: Vec<u8>,
    /// Datagrams a stack just sent, on their way to the links (kept for its capacity).
    tx_out: Vec<Vec<u8>>,
}

impl Sim {
    /// An empty network whose every random choice follows from `seed`.
    pub fn new(seed: u64) -> Sim {
        Sim {
            now: Instant::ZERO,
            rng: Rng::seed_from_u64(seed),
            hosts: Vec::new(),
            links: Vec::new(),
            events: BinaryHeap::new(),
            next_seq: 0,
            trace: None,
            tx_buf: vec![0; 65535],
            tx_out: Vec::new(),
        }
    }

    /// Starts keeping a readable trace of every datagram sent (see [`Sim::trace`]).
    pub fn enable_trace(&mut self) {
        self.trace.get_or_insert_with(Vec::new);
    }

    /// The trace kept since [`Sim::enable_trace`].
    pub fn trace(&self) -> &[TraceEntry] {
        self.trace.as_deref().unwrap_or_default()
    }

    /// Virtual now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Adds a host running a synq stack with `config` (its addresses are the host's). The
    /// stack's seed is drawn from the run's RNG, so that one seed fixes the whole run.
    pub fn add_stack(&mut self, name: &str, mut config: StackConfig) -> HostId {
        config.seed = self.rng.next_u64();
        let addrs = config.addrs.clone();
        let stack = Box::new(Stack::new(config));
        self.add_host(name, addrs, Endpoint::Stack { stack, armed: None })
    }

    /// Adds a scripted endpoint with address `addr`.
    pub fn add_scripted(&mut self, name: &str, addr: Ipv4Addr) -> HostId {
        self.add_host(name, vec![addr], Endpoint::Scripted { inbox: VecDeque::new() })
    }

    fn add_host(&mut self, name: &str, addrs: Vec<Ipv4Addr>, endpoint: Endpoint) -> HostId {
        self.hosts.push(Host {
            name: name.to_owned(),
            addrs,
            endpoint,
        });
        HostId(self.hosts.len() - 1)
    }

    /// Joins two hosts with a link; each then reaches the other's addresses through it.
    pub fn connect(&mut self, a: HostId, b: HostId, config: LinkConfig) -> LinkId {
        self.links.push(Link {
            ends: [a, b],
            config,
            busy_until: [Instant::ZERO; 2],
            stats: LinkStats::default(),
            captured: Vec::new(),
        });
        LinkId(self.links.len() - 1)
    }

    /// The host's name.
    pub fn name(&self, host: HostId) -> &str {
        &self.hosts[host.0].name
    }

    /// The stack of a stack host, to inspect. Panics for a scripted host.
    pub fn stack(&self, host: HostId) -> &Stack {
        match &self.hosts[host.0].endpoint {
            Endpoint::Stack { stack, .. } => stack,
            Endpoint::Scripted { .. } => panic!("host {} is scripted, not a stack", self.hosts[host.0].name),
        }
    }

    /// Runs `call` on a stack host's stack at virtual now (a socket call, a sysctl change),
    /// then sends what it queued and re-arms its timer. Panics for a scripted host.
    pub fn with_stack<R>(&mut self, host: HostId, call: impl FnOnce(&mut Stack, Instant) -> R) -> R {
        let now = self.now;
        let result = match &mut self.hosts[host.0].endpoint {
            Endpoint::Stack { stack, .. } => call(stack, now),
            Endpoint::Scripted { .. } => panic!("host {} is scripted, not a stack", self.hosts[host.0].name),
        };
        self.service(host);
        result
    }

    /// A scripted host sends a datagram now.
    pub fn send(&mut self, from: HostId, datagram: Vec<u8>) {
        self.transmit(from, datagram);
    }

    /// A scripted host sends `seg` to `dst` now, in an IPv4 datagram from its first address
    /// with Linux's defaults (TTL 64, DF).
    pub fn send_tcp(&mut self, from: HostId, dst: Ipv4Addr, seg: &TcpRepr<'_>) {
        let src = self.hosts[from.0].addrs[0];
        let datagram = seg.to_ipv4_datagram(src, dst).expect("a segment with options that fit");
        self.transmit(from, datagram);
    }

    /// The oldest datagram waiting at a scripted host.
    pub fn recv(&mut self, host: HostId) -> Option<Received> {
        match &mut self.hosts[host.0].endpoint {
            Endpoint::Scripted { inbox } => inbox.pop_front(),
            Endpoint::Stack { .. } => None,
        }
    }

    /// Processes the next event, if any, moving now to its time. Returns false when idle.
    pub fn step(&mut self) -> bool {
        let Some(Scheduled { at, event, .. }) = self.events.pop() else {
            return false;
        };
        self.now = self.now.max(at);
        match event {
            Event::Deliver { to, link, bytes } => self.deliver(to, link, bytes),
            Event::Timer { host } => {
                let now = self.now;
                if let Endpoint::Stack { stack, armed } = &mut self.hosts[host.0].endpoint {
                    if *armed == Some(at) {
                        *armed = None;
                        stack.handle_timeout(now);
                        self.service(host);
                    }
                }
            }
        }
        true
    }

    /// Runs every event up to and including `until`, then sets now to `until`.
    pub fn run_until(&mut self, until: Instant) {
        while self.events.peek().is_some_and(|e| e.at <= until) {
            self.step();
        }
        self.now = self.now.max(until);
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// What a link has done so far.
    pub fn link_stats(&self, link: LinkId) -> LinkStats {
        self.links[link.0].stats
    }

    /// A pcap file of every datagram sent on `link`, both directions, at the time it was sent.
    pub fn pcap(&self, link: LinkId) -> Vec<u8> {
        pcap_bytes(&self.links[link.0].captured)
    }

    /// A pcap file of every link's datagrams, merged in time order.
    pub fn pcap_all(&self) -> Vec<u8> {
        let mut all: Vec<&Captured> = self.links.iter().flat_map(|l| &l.captured).collect();
        all.sort_by_key(|c| c.at);
        pcap_bytes(all)
    }

    fn schedule(&mut self, at: Instant, event: Event) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.events.push(Scheduled { at, seq, event });
    }

    fn deliver(&mut self, to: HostId, link: LinkId, bytes: Vec<u8>) {
        self.links[link.0].stats.delivered += 1;
        let now = self.now;
        match &mut self.hosts[to.0].endpoint {
            Endpoint::Stack { stack, .. } => {
                stack.receive(now, &bytes);
                self.service(to);
            }
            Endpoint::Scripted { inbox } => inbox.push_back(Received { at: now, bytes }),
        }
    }

    /// Sends what a stack queued and keeps one timer event armed at its next deadline.
    fn service(&mut self, host: HostId) {
        let (mut buf, mut out) = (std::mem::take(&mut self.tx_buf), std::mem::take(&mut self.tx_out));
        if let Endpoint::Stack { stack, .. } = &mut self.hosts[host.0].endpoint {
            stack.drain_transmit(&mut buf, |d| out.push(d.to_vec()));
        }
        for datagram in out.drain(..) {
            self.transmit(host, datagram);
        }
        (self.tx_buf, self.tx_out) = (buf, out);
        let Endpoint::Stack { stack, armed } = &mut self.hosts[host.0].endpoint else {
            return;
        };
        // A deadline already past runs now; the event is matched by its (clamped) time.
        let next = stack.poll_timeout().map(|t| t.max(self.now));
        if let Some(at) = next.filter(|_| next != *armed) {
            *armed = next;
            self.schedule(at, Event::Timer { host });
        }
    }

    /// Puts a datagram on the link towards its destination, applying the link's impairments.
    fn transmit(&mut self, from: HostId, datagram: Vec<u8>) {
        let dst = (datagram.len() >= IPV4_HEADER_LEN)
            .then(|| Ipv4Addr::new(datagram[16], datagram[17], datagram[18], datagram[19]));
        let route = dst.and_then(|dst| {
            self.links.iter().enumerate().find_map(|(i, l)| {
                let dir = usize::from(l.ends[1] == from);
                let to = l.ends[1 - dir];
                (l.ends[dir] == from && self.hosts[to.0].addrs.contains(&dst)).then_some((LinkId(i), dir, to))
            })
        });
        let Some((link_id, dir, to)) = route else {
            tracing::debug!(from = %self.hosts[from.0].name, "no route for {}", describe(&datagram));
            self.record(from, &datagram, TraceFate::NoRoute);
            return;
        };
        let now = self.now;
        let link = &mut self.links[link_id.0];
        let cfg = &link.config;
        link.stats.sent += 1;
        if cfg.capture {
            link.captured.push(Captured {
                at: now,
                bytes: datagram.clone(),
            });
        }
        if self.rng.chance(cfg.loss) {
            link.stats.lost += 1;
            self.record(from, &datagram, TraceFate::Lost);
            return;
        }
        let depart = match cfg.bandwidth_bps {
            Some(bps) if bps > 0 => {
                let bits = datagram.len() as u128 * 8;
                let serialise = Duration::from_nanos((bits * 1_000_000_000 / u128::from(bps)) as u64);
                let start = link.busy_until[dir].max(now);
                link.busy_until[dir] = start + serialise;
                link.busy_until[dir]
            }
            _ => now,
        };
        let duplicate = cfg.duplicate;
        let copies = if self.rng.chance(duplicate) {
            self.links[link_id.0].stats.duplicated += 1;
            2
        } else {
            1
        };
        self.record(from, &datagram, TraceFate::Sent);
        let first = self.arrival(link_id, depart);
        if copies == 2 {
            let second = self.arrival(link_id, depart);
            self.schedule(
                first,
                Event::Deliver {
                    to,
                    link: link_id,
                    bytes: datagram.clone(),
                },
            );
            self.schedule(
                second,
                Event::Deliver {
                    to,
                    link: link_id,
                    bytes: datagram,
                },
            );
        } else {
            self.schedule(
                first,
                Event::Deliver {
                    to,
                    link: link_id,
                    bytes: datagram,
                },
            );
        }
    }

    /// When a copy that leaves the sender at `depart` arrives: delay, jitter, reordering.
    fn arrival(&mut self, link: LinkId, depart: Instant) -> Instant {
        let link = &mut self.links[link.0];
        let cfg = &link.config;
        let mut at = depart + cfg.delay;
        if !cfg.jitter.is_zero() {
            at += Duration::from_nanos(self.rng.below(cfg.jitter.as_nanos() as u64 + 1));
        }
        if self.rng.chance(cfg.reorder) {
            link.stats.reordered += 1;
            at += cfg.reorder_delay;
        }
        at
    }

    fn record(&mut self, from: HostId, datagram: &[u8], fate: TraceFate) {
        if let Some(trace) = &mut self.trace {
            trace.push(TraceEntry {
                at: self.now,
                from: self.hosts[from.0].name.clone(),
                summary: describe(datagram),
                fate,
            });
        }
    }
}
