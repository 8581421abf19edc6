//! TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018): a zero-copy iterator, a plain struct of
//! the options Linux uses, and Linux's exact emit layout.

use crate::{Error, Result};

/// Most option bytes a TCP header can carry (data offset 15 → 60 − 20).
pub const TCP_MAX_OPTIONS_LEN: usize = 40;

const KIND_EOL: u8 = 0;
const KIND_NOP: u8 = 1;
const KIND_MSS: u8 = 2;
const KIND_WSCALE: u8 = 3;
const KIND_SACK_PERM: u8 = 4;
const KIND_SACK: u8 = 5;
const KIND_TIMESTAMP: u8 = 8;

/// One option as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// EOL (kind 0): ends the list.
    EndOfList,
    /// NOP (kind 1): padding.
    NoOperation,
    /// MSS (kind 2, length 4).
    MaxSegmentSize(u16),
    /// Window scale (kind 3, length 3): the shift count as sent (not clamped).
    WindowScale(u8),
    /// SACK-permitted (kind 4, length 2).
    SackPermitted,
    /// SACK (kind 5, length 2 + 8n, 1 ≤ n ≤ 4): the raw blocks.
    Sack(&'a [u8]),
    /// Timestamps (kind 8, length 10).
    Timestamp(Timestamp),
    /// Any other option, or a known kind with a length Linux would not accept
    /// (`tcp_parse_options` skips both by their length).
    Unknown {
        /// Option kind.
        kind: u8,
        /// The bytes after kind and length.
        data: &'a [u8],
    },
}

/// Iterates over the options area of a TCP header, as Linux's `tcp_parse_options` walks it.
#[derive(Debug, Clone)]
pub struct TcpOptionsIter<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptionsIter<'a> {
    /// Iterates over `options` (the bytes between the fixed header and the payload).
    pub fn new(options: &'a [u8]) -> Self {
        TcpOptionsIter { rest: options }
    }
}

impl<'a> Iterator for TcpOptionsIter<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, after) = self.rest.split_first()?;
        match kind {
            KIND_EOL => {
                self.rest = &[];
                return Some(Ok(TcpOption::EndOfList));
            }
            KIND_NOP => {
                self.rest = after;
                return Some(Ok(TcpOption::NoOperation));
            }
            _ => {}
        }
        let len = match after.first() {
            Some(&len) if len >= 2 && usize::from(len) <= self.rest.len() => usize::from(len),
            _ => {
                self.rest = &[];
                return Some(Err(Error::BadOptionLength));
            }
        };
        let data = &self.rest[2..len];
        self.rest = &self.rest[len..];
        let option = match (kind, data.len()) {
            (KIND_MSS, 2) => TcpOption::MaxSegmentSize(u16::from_be_bytes([data[0], data[1]])),
            (KIND_WSCALE, 1) => TcpOption::WindowScale(data[0]),
            (KIND_SACK_PERM, 0) => TcpOption::SackPermitted,
            (KIND_SACK, n) if n >= 8 && n % 8 == 0 => TcpOption::Sack(data),
            (KIND_TIMESTAMP, 8) => TcpOption::Timestamp(Timestamp {
                tsval: u32::from_be_bytes([data[0], data[1], data[2], data[3]]),
                tsecr: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            }),
            _ => TcpOption::Unknown { kind, data },
        };
        Some(Ok(option))
    }
}

/// The timestamps option (RFC 7323 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Timestamp {
    /// TSval: the sender's clock.
    pub tsval: u32,
    /// TSecr: the echoed peer clock.
    pub tsecr: u32,
}

/// Up to four SACK blocks `(left, right)` (RFC 2018), stored inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SackBlocks {
    blocks: [(u32, u32); 4],
    len: u8,
}

impl SackBlocks {
    /// No blocks.
    pub const EMPTY: SackBlocks = SackBlocks {
        blocks: [(0, 0); 4],
        len: 0,
    };

    /// Appends a block; returns false (and changes nothing) when four are held already.
    pub fn push(&mut self, left: u32, right: u32) -> bool {
        let i = usize::from(self.len);
        if i == self.blocks.len() {
            return false;
        }
        self.blocks[i] = (left, right);
        self.len += 1;
        true
    }
    /// The blocks, in order.
    pub fn as_slice(&self) -> &[(u32, u32)] {
        &self.blocks[..usize::from(self.len)]
    }
    /// Number of blocks.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }
    /// True when there is no block.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The options of one segment that TCP acts on, as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpOptions {
    /// MSS option.
    pub mss: Option<u16>,
    /// Window-scale shift as sent (Linux clamps values above 14 when it uses them).
    pub window_scale: Option<u8>,
    /// SACK-permitted option.
    pub sack_permitted: bool,
    /// Timestamps option.
    pub timestamp: Option<Timestamp>,
    /// SACK blocks.
    pub sack_blocks: SackBlocks,
}

impl TcpOptions {
    /// Parses an options area. Unknown options and known kinds with an unexpected length are
    /// skipped by their length, as `tcp_parse_options` does; an option whose length byte is
    /// below 2 or runs past the area is an error (`BadOptionLength`).
    pub fn parse(options: &[u8]) -> Result<TcpOptions> {
        let mut out = TcpOptions::default();
        for option in TcpOptionsIter::new(options) {
            match option? {
                TcpOption::MaxSegmentSize(mss) => out.mss = Some(mss),
                TcpOption::WindowScale(ws) => out.window_scale = Some(ws),
                TcpOption::SackPermitted => out.sack_permitted = true,
                TcpOption::Timestamp(ts) => out.timestamp = Some(ts),
                TcpOption::Sack(raw) => {
                    out.sack_blocks = SackBlocks::EMPTY;
                    for b in raw.chunks_exact(8) {
                        out.sack_blocks.push(
                            u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                            u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                        );
                    }
                }
                TcpOption::EndOfList | TcpOption::NoOperation | TcpOption::Unknown { .. } => {}
            }
        }
        Ok(out)
    }

    /// True when no option is set.
    pub fn is_empty(&self) -> bool {
        *self == TcpOptions::default()
    }

    /// Bytes `emit` writes: always a multiple of 4.
    pub fn len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.timestamp.is_some() {
            n += 12; // SACK-permitted, if set, rides in the timestamp's two padding bytes
        } else if self.sack_permitted {
            n += 4;
        }
        if self.window_scale.is_some() {
            n += 4;
        }
        if !self.sack_blocks.is_empty() {
            n += 4 + 8 * self.sack_blocks.len();
        }
        n
    }

    /// Writes the options in exactly the layout of Linux's `tcp_options_write`:
    /// `MSS`, then `SACK_PERM+TS` or `NOP,NOP,TS` or `NOP,NOP,SACK_PERM`, then `NOP,WS`,
    /// then `NOP,NOP,SACK`. Returns the bytes written. Fails with `BadOptionLength` when the
    /// options need more than 40 bytes and with `Truncated` when `buf` is too short.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.len();
        if len > TCP_MAX_OPTIONS_LEN {
            return Err(Error::BadOptionLength);
        }
        if buf.len() < len {
            return Err(Error::Truncated);
        }
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            buf[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        if let Some(mss) = self.mss {
            let m = mss.to_be_bytes();
            put(&[KIND_MSS, 4, m[0], m[1]]);
        }
        if let Some(ts) = self.timestamp {
            if self.sack_permitted {
                put(&[KIND_SACK_PERM, 2, KIND_TIMESTAMP, 10]);
            } else {
                put(&[KIND_NOP, KIND_NOP, KIND_TIMESTAMP, 10]);
            }
            put(&ts.tsval.to_be_bytes());
            put(&ts.tsecr.to_be_bytes());
        } else if self.sack_permitted {
            put(&[KIND_NOP, KIND_NOP, KIND_SACK_PERM, 2]);
        }
        if let Some(ws) = self.window_scale {
            put(&[KIND_NOP, KIND_WSCALE, 3, ws]);
        }
        if !self.sack_blocks.is_empty() {
            put(&[KIND_NOP, KIND_NOP, KIND_SACK, (2 + 8 * self.sack_blocks.len()) as u8]);
            for &(left, right) in self.sack_blocks.as_slice() {
                put(&left.to_be_bytes());
                put(&right.to_be_bytes());
            }
        }
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux 6.x SYN options with defaults: `mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 10`.
    const LINUX_SYN: [u8; 20] = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 10];

    #[test]
    fn linux_syn_layout_is_emitted_byte_for_byte() {
        let opts = TcpOptions {
            mss: Some(1460),
            window_scale: Some(10),
            sack_permitted: true,
            timestamp: Some(Timestamp { tsval: 1, tsecr: 0 }),
            sack_blocks: SackBlocks::EMPTY,
        };
        let mut buf = [0u8; 40];
        let n = opts.emit(&mut buf).unwrap();
        assert_eq!(&buf[..n], &LINUX_SYN);
        assert_eq!(TcpOptions::parse(&LINUX_SYN).unwrap(), opts);
    }

    #[test]
    fn sack_perm_without_timestamps_is_padded_with_two_nops() {
        let opts = TcpOptions {
            sack_permitted: true,
            ..Default::default()
        };
        let mut buf = [0u8; 4];
        assert_eq!(opts.emit(&mut buf).unwrap(), 4);
        assert_eq!(buf, [1, 1, 4, 2]);
    }

    #[test]
    fn sack_blocks_follow_two_nops() {
        let mut opts = TcpOptions {
            timestamp: Some(Timestamp { tsval: 7, tsecr: 9 }),
            ..Default::default()
        };
        opts.sack_blocks.push(100, 200);
        let mut buf = [0u8; 40];
        let n = opts.emit(&mut buf).unwrap();
        assert_eq!(n, 24);
        assert_eq!(&buf[12..16], &[1, 1, 5, 10]);
        assert_eq!(TcpOptions::parse(&buf[..n]).unwrap(), opts);
    }

    #[test]
    fn eol_stops_parsing() {
        let bytes = [0, 2, 4, 5, 0xb4];
        assert_eq!(TcpOptions::parse(&bytes).unwrap(), TcpOptions::default());
    }

    #[test]
    fn unknown_and_odd_sized_known_options_are_skipped_by_length() {
        // kind 30 (MPTCP) length 4, MSS with length 5 (Linux ignores it), then a real WS.
        let bytes = [30, 4, 0xaa, 0xbb, 2, 5, 1, 2, 3, 1, 3, 3, 7];
        let opts = TcpOptions::parse(&bytes).unwrap();
        assert_eq!(opts.mss, None);
        assert_eq!(opts.window_scale, Some(7));
    }

    #[test]
    fn bad_option_lengths_are_errors() {
        assert_eq!(TcpOptions::parse(&[2]).unwrap_err(), Error::BadOptionLength);
        assert_eq!(TcpOptions::parse(&[2, 1, 0, 0]).unwrap_err(), Error::BadOptionLength);
        assert_eq!(TcpOptions::parse(&[2, 0]).unwrap_err(), Error::BadOptionLength);
        assert_eq!(TcpOptions::parse(&[8, 10, 0, 0]).unwrap_err(), Error::BadOptionLength);
    }

    #[test]
    fn parsed_options_may_not_fit_linux_layout() {
        // MSS, SACK-permitted and four SACK blocks fill 40 bytes as sent here, but Linux's
        // layout pads SACK-permitted to 4 bytes: 44. Parse keeps them; emit refuses.
        let mut raw = vec![2, 4, 0, 0, 4, 2, 5, 34];
        raw.extend_from_slice(&[0u8; 32]);
        let opts = TcpOptions::parse(&raw).unwrap();
        assert_eq!((opts.sack_blocks.len(), opts.len()), (4, 44));
        assert_eq!(opts.emit(&mut [0u8; 64]).unwrap_err(), Error::BadOptionLength);
    }

    #[test]
    fn options_over_forty_bytes_are_refused_on_emit() {
        let mut opts = TcpOptions {
            mss: Some(1),
            timestamp: Some(Timestamp::default()),
            window_scale: Some(1),
            ..Default::default()
        };
        for i in 0..4 {
            opts.sack_blocks.push(i, i + 1);
        }
        assert!(!opts.sack_blocks.push(9, 10));
        assert_eq!(opts.emit(&mut [0u8; 64]).unwrap_err(), Error::BadOptionLength);
    }
}
