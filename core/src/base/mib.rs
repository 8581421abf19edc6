//! SNMP/MIB counters under their `nstat` names (`/proc/net/snmp` and `/proc/net/netstat`
//! rows joined with their field: `TcpPassiveOpens`, `TcpExtListenOverflows`, ...), plus
//! synq's own counters of malformed input, prefixed `Synq`.

macro_rules! counters {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal,)*) => {
        /// One counter.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(usize)]
        pub enum Counter {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Counter {
            /// Every counter, in `nstat` order.
            pub const ALL: &'static [Counter] = &[$(Counter::$variant),*];

            /// The `nstat` name.
            pub const fn name(self) -> &'static str {
                match self { $(Counter::$variant => $name,)* }
            }

            /// The counter with this `nstat` name.
            pub fn from_name(name: &str) -> Option<Counter> {
                match name { $($name => Some(Counter::$variant),)* _ => None }
            }
        }
    };
}

counters! {
    /// Datagrams received (`ip_rcv`).
    IpInReceives = "IpInReceives",
    /// Datagrams with a bad IPv4 header: version, length or checksum (`ip_rcv_core`).
    IpInHdrErrors = "IpInHdrErrors",
    /// Datagrams shorter than their header says (`ip_rcv_core`).
    IpInTruncatedPkts = "IpInTruncatedPkts",
    /// Datagrams for an address not on this stack.
    IpInAddrErrors = "IpInAddrErrors",
    /// Datagrams for a protocol the stack does not run.
    IpInUnknownProtos = "IpInUnknownProtos",
    /// Datagrams handed to TCP or ICMP.
    IpInDelivers = "IpInDelivers",
    /// Fragments received (`ip_defrag` would reassemble them; synq drops them).
    IpReasmReqds = "IpReasmReqds",
    /// Datagrams sent.
    IpOutRequests = "IpOutRequests",
    /// Datagrams the driver could not take (its buffer was shorter than the datagram).
    IpOutDiscards = "IpOutDiscards",
    /// ICMP messages received.
    IcmpInMsgs = "IcmpInMsgs",
    /// ICMP messages dropped as malformed.
    IcmpInErrors = "IcmpInErrors",
    /// ICMP messages with a bad checksum.
    IcmpInCsumErrors = "IcmpInCsumErrors",
    /// ICMP destination-unreachable received.
    IcmpInDestUnreachs = "IcmpInDestUnreachs",
    /// ICMP time-exceeded received.
    IcmpInTimeExcds = "IcmpInTimeExcds",
    /// connect() moved a socket to SYN_SENT.
    TcpActiveOpens = "TcpActiveOpens",
    /// A listener created a child for a completed handshake.
    TcpPassiveOpens = "TcpPassiveOpens",
    /// Connection attempts that failed.
    TcpAttemptFails = "TcpAttemptFails",
    /// Resets of established connections.
    TcpEstabResets = "TcpEstabResets",
    /// Connections now established (a gauge in Linux's table).
    TcpCurrEstab = "TcpCurrEstab",
    /// Segments received, errors included (`tcp_v4_rcv`).
    TcpInSegs = "TcpInSegs",
    /// Segments sent.
    TcpOutSegs = "TcpOutSegs",
    /// Segments retransmitted.
    TcpRetransSegs = "TcpRetransSegs",
    /// Segments dropped as malformed (`tcp_v4_rcv`'s `csum_error`/`bad_packet`).
    TcpInErrs = "TcpInErrs",
    /// Resets sent.
    TcpOutRsts = "TcpOutRsts",
    /// Segments with a bad checksum.
    TcpInCsumErrors = "TcpInCsumErrors",
    /// Cookie SYN-ACKs sent.
    TcpExtSyncookiesSent = "TcpExtSyncookiesSent",
    /// Valid cookies received.
    TcpExtSyncookiesRecv = "TcpExtSyncookiesRecv",
    /// Invalid cookies received.
    TcpExtSyncookiesFailed = "TcpExtSyncookiesFailed",
    /// Resets sent to requests in SYN_RECV (`tcp_check_req`).
    TcpExtEmbryonicRsts = "TcpExtEmbryonicRsts",
    /// Sockets that entered TIME_WAIT.
    TcpExtTW = "TcpExtTW",
    /// TIME_WAIT sockets reused by connect().
    TcpExtTWRecycled = "TcpExtTWRecycled",
    /// TIME_WAIT refused for lack of buckets.
    TcpExtTCPTimeWaitOverflow = "TcpExtTCPTimeWaitOverflow",
    /// Segments a full accept queue made the listener drop.
    TcpExtListenOverflows = "TcpExtListenOverflows",
    /// Segments a listener dropped, overflows included.
    TcpExtListenDrops = "TcpExtListenDrops",
    /// SYNs dropped because the SYN queue was full and cookies were off.
    TcpExtTCPReqQFullDrop = "TcpExtTCPReqQFullDrop",
    /// SYNs answered with a cookie because the SYN queue was full.
    TcpExtTCPReqQFullDoCookies = "TcpExtTCPReqQFullDoCookies",
    /// Resets sent because data arrived after close().
    TcpExtTCPAbortOnData = "TcpExtTCPAbortOnData",
    /// Resets sent because close() found unread data.
    TcpExtTCPAbortOnClose = "TcpExtTCPAbortOnClose",
    /// Connections aborted for lack of memory.
    TcpExtTCPAbortOnMemory = "TcpExtTCPAbortOnMemory",
    /// Connections aborted by a retransmission timeout.
    TcpExtTCPAbortOnTimeout = "TcpExtTCPAbortOnTimeout",
    /// Orphans in FIN_WAIT_2 reset because their linger time (`TCP_LINGER2`) ran out.
    TcpExtTCPAbortOnLinger = "TcpExtTCPAbortOnLinger",
    /// SYN retransmissions.
    TcpExtTCPSynRetrans = "TcpExtTCPSynRetrans",
    /// Challenge ACKs sent (RFC 5961).
    TcpExtTCPChallengeACK = "TcpExtTCPChallengeACK",
    /// Segments dropped by TCP_DEFER_ACCEPT.
    TcpExtTCPDeferAcceptDrop = "TcpExtTCPDeferAcceptDrop",
    /// Segments rejected by PAWS on established sockets.
    TcpExtPAWSEstab = "TcpExtPAWSEstab",
    /// SYN-ACKs rejected by PAWS in SYN_SENT (`PAWSActiveRejected`).
    TcpExtPAWSActive = "TcpExtPAWSActive",
    /// Request-sock timer expiries (`tcp_syn_ack_timeout`) and other retransmission timeouts.
    TcpExtTCPTimeouts = "TcpExtTCPTimeouts",
    /// Out-of-window segments or duplicate SYNs on a request not answered (rate limit).
    TcpExtTCPACKSkippedSynRecv = "TcpExtTCPACKSkippedSynRecv",
    /// Out-of-window segments on a connection not answered (rate limit).
    TcpExtTCPACKSkippedSeq = "TcpExtTCPACKSkippedSeq",
    /// Challenge ACKs not sent (the same per-socket limit).
    TcpExtTCPACKSkippedChallenge = "TcpExtTCPACKSkippedChallenge",
    /// ACKs from TIME_WAIT not sent (the same limit).
    TcpExtTCPACKSkippedTimeWait = "TcpExtTCPACKSkippedTimeWait",
    /// Segments dropped for lying beyond the window we offered (`tcp_sequence`).
    TcpExtBeyondWindow = "TcpExtBeyondWindow",
    /// Data dropped because our window was zero.
    TcpExtTCPZeroWindowDrop = "TcpExtTCPZeroWindowDrop",
    /// SYNs on a synchronized connection, answered with a challenge ACK.
    TcpExtTCPSYNChallenge = "TcpExtTCPSYNChallenge",
    /// Segments held in the out-of-order queue.
    TcpExtTCPOFOQueue = "TcpExtTCPOFOQueue",
    /// D-SACKs sent for data below `rcv_nxt` / within the out-of-order queue.
    TcpExtTCPDSACKOldSent = "TcpExtTCPDSACKOldSent",
    TcpExtTCPDSACKOfoSent = "TcpExtTCPDSACKOfoSent",
    /// Delayed ACKs sent by their timer.
    TcpExtDelayedACKs = "TcpExtDelayedACKs",
    /// Segments received again after we had them (our ACK was likely lost).
    TcpExtDelayedACKLost = "TcpExtDelayedACKLost",
    /// Third ACKs whose TSecr echoes no TSval we sent.
    TcpExtTSEcrRejected = "TcpExtTSEcrRejected",
    /// ICMP errors for sequence numbers outside the window.
    TcpExtOutOfWindowIcmps = "TcpExtOutOfWindowIcmps",
    /// Fast recoveries entered without SACK (`TCPRenoRecovery`) and with it.
    TcpExtTCPRenoRecovery = "TcpExtTCPRenoRecovery",
    TcpExtTCPSackRecovery = "TcpExtTCPSackRecovery",
    /// Retransmissions in fast recovery, and after a timeout (slow start).
    TcpExtTCPFastRetrans = "TcpExtTCPFastRetrans",
    TcpExtTCPSlowStartRetrans = "TcpExtTCPSlowStartRetrans",
    /// Retransmissions that were themselves lost (RACK).
    TcpExtTCPLostRetransmit = "TcpExtTCPLostRetransmit",
    /// D-SACKs received for data below `snd_una` / above it.
    TcpExtTCPDSACKRecv = "TcpExtTCPDSACKRecv",
    TcpExtTCPDSACKOfoRecv = "TcpExtTCPDSACKOfoRecv",
    /// Keepalive probes sent (`TCPKeepAlive`).
    TcpExtTCPKeepAlive = "TcpExtTCPKeepAlive",
    /// D-SACKs ignored as dubious (`tcp_dsack_seen`: wider than any window we saw, or more
    /// duplicates than we ever resent), and the segments the others reported.
    TcpExtTCPDSACKIgnoredDubious = "TcpExtTCPDSACKIgnoredDubious",
    TcpExtTCPDSACKRecvSegs = "TcpExtTCPDSACKRecvSegs",
    /// Fast recoveries undone: at their end (`TCPFullUndo`), midway by a delayed segment
    /// (`TCPPartialUndo`), by D-SACKs of every retransmission (`TCPDSACKUndo`).
    TcpExtTCPFullUndo = "TcpExtTCPFullUndo",
    TcpExtTCPPartialUndo = "TcpExtTCPPartialUndo",
    TcpExtTCPDSACKUndo = "TcpExtTCPDSACKUndo",
    /// Reductions after a timeout undone, and timeouts found spurious (F-RTO).
    TcpExtTCPLossUndo = "TcpExtTCPLossUndo",
    TcpExtTCPSpuriousRTOs = "TcpExtTCPSpuriousRTOs",
    /// Tail loss probes sent, and losses they repaired.
    TcpExtTCPLossProbes = "TcpExtTCPLossProbes",
    TcpExtTCPLossProbeRecovery = "TcpExtTCPLossProbeRecovery",
    /// Data dropped because the receive queue was over the buffer (`TCPRcvQDrop`).
    TcpExtTCPRcvQDrop = "TcpExtTCPRcvQDrop",
    /// Out-of-order data dropped for want of memory (`TCPOFODrop`).
    TcpExtTCPOFODrop = "TcpExtTCPOFODrop",
    /// Times the stack's connections went over `tcp_mem[1]` (`TCPMemoryPressures`).
    TcpExtTCPMemoryPressures = "TcpExtTCPMemoryPressures",
    /// SACK blocks that were invalid and ignored.
    TcpExtTCPSACKDiscard = "TcpExtTCPSACKDiscard",
    /// Datagrams the device queue dropped at its limit (local congestion; a qdisc's drops).
    SynqOutQdiscDrops = "SynqOutQdiscDrops",
    /// Truncated datagrams or segments (buffer shorter than a header or a declared length).
    SynqInTruncated = "SynqInTruncated",
    /// IPv4 datagrams whose version is not 4.
    SynqInBadVersion = "SynqInBadVersion",
    /// Header length fields out of bounds (IPv4 IHL, TCP data offset).
    SynqInBadHeaderLen = "SynqInBadHeaderLen",
    /// IPv4 total length below the header length.
    SynqInBadTotalLen = "SynqInBadTotalLen",
    /// Bad checksums (IPv4 header, TCP, ICMP).
    SynqInBadChecksum = "SynqInBadChecksum",
    /// TCP option lengths below 2 or past the header.
    SynqInBadOptionLen = "SynqInBadOptionLen",
    /// IPv4 fragments, dropped: synq does not reassemble.
    SynqInFragments = "SynqInFragments",
    /// Datagrams from a source no host may use (0.0.0.0/8, 127.0.0.0/8, multicast,
    /// broadcast), dropped as `ip_route_input_slow` drops martians.
    SynqInMartianSource = "SynqInMartianSource",
    /// ICMP messages of a type TCP does not act on.
    SynqInIcmpIgnored = "SynqInIcmpIgnored",
}

/// The counters of one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mib {
    values: [u64; Counter::ALL.len()],
}

impl Default for Mib {
    fn default() -> Self {
        Mib {
            values: [0; Counter::ALL.len()],
        }
    }
}

impl Mib {
    /// Adds one.
    #[inline]
    pub fn inc(&mut self, c: Counter) {
        self.values[c as usize] += 1;
    }
    /// Adds `n`.
    #[inline]
    pub fn add(&mut self, c: Counter, n: u64) {
        self.values[c as usize] += n;
    }
    /// Subtracts one (for gauges such as `TcpCurrEstab`), never below zero.
    #[inline]
    pub fn dec(&mut self, c: Counter) {
        self.values[c as usize] = self.values[c as usize].saturating_sub(1);
    }
    /// The value of a counter.
    #[inline]
    pub fn get(&self, c: Counter) -> u64 {
        self.values[c as usize]
    }
    /// `(name, value)` of the counters that are not zero, as `nstat` prints them.
    pub fn nonzero(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Counter::ALL
            .iter()
            .map(|&c| (c.name(), self.get(c)))
            .filter(|&(_, v)| v != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &c in Counter::ALL {
            assert!(seen.insert(c.name()), "duplicate {}", c.name());
            assert_eq!(Counter::from_name(c.name()), Some(c));
            assert!(["Ip", "Icmp", "Tcp", "TcpExt", "Synq"]
                .iter()
                .any(|p| c.name().starts_with(p)));
        }
    }

    #[test]
    fn counts() {
        let mut m = Mib::default();
        m.inc(Counter::TcpExtListenOverflows);
        m.add(Counter::TcpExtListenDrops, 2);
        m.dec(Counter::TcpCurrEstab);
        assert_eq!(m.get(Counter::TcpExtListenOverflows), 1);
        assert_eq!(
            m.nonzero().collect::<Vec<_>>(),
            vec![("TcpExtListenOverflows", 1), ("TcpExtListenDrops", 2)]
        );
    }
}
