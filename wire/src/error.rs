use core::fmt;

/// What was wrong with a packet (or with a buffer handed to `emit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than a header or than a length the packet declares.
    Truncated,
    /// The IPv4 version field is not 4.
    BadVersion,
    /// A header length field is below its minimum or points past the packet.
    BadHeaderLength,
    /// The IPv4 total length is below the header length or beyond the buffer.
    BadTotalLength,
    /// The checksum does not verify.
    BadChecksum,
    /// A TCP option's length byte is below 2 or runs past the options area, or the options to
    /// emit do not fit in 40 bytes.
    BadOptionLength,
    /// An ICMP type other than destination-unreachable (3) and time-exceeded (11).
    UnsupportedIcmpType(u8),
}

/// `Result` with the wire [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("truncated packet"),
            Error::BadVersion => f.write_str("IP version is not 4"),
            Error::BadHeaderLength => f.write_str("bad header length"),
            Error::BadTotalLength => f.write_str("bad IPv4 total length"),
            Error::BadChecksum => f.write_str("bad checksum"),
            Error::BadOptionLength => f.write_str("bad TCP option length"),
            Error::UnsupportedIcmpType(t) => write!(f, "unsupported ICMP type {t}"),
        }
    }
}

impl std::error::Error for Error {}
