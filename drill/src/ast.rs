//! The syntax tree of a packetdrill script.

/// A position in a script, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Loc {
    /// Line.
    pub line: u32,
    /// Column (bytes).
    pub col: u32,
}

/// Time in microseconds, as packetdrill counts it.
pub type Micros = i64;

/// A whole script.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// Option lines at the top (`--tolerance_usecs=10000`, `--mss=1000`).
    pub options: Vec<ScriptOption>,
    /// Events in order (the untimed init command is an event with [`EventTime::Init`]).
    pub events: Vec<Event>,
}

/// `--name=value` or `--name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptOption {
    /// Where.
    pub loc: Loc,
    /// Name without the dashes.
    pub name: String,
    /// Value after `=`, if any.
    pub value: Option<String>,
}

/// When an event happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTime {
    /// The untimed init command (a backtick line before the first timed event).
    Init,
    /// The untimed cleanup command (a backtick line after the last event, run whatever the
    /// outcome).
    Cleanup,
    /// `0.100`: since the start of the script.
    Absolute(Micros),
    /// `+.1`: since the previous event.
    Relative(Micros),
    /// `*`: any time.
    Any,
    /// `+0...0.200`, `0.1...0.3`, `+.3~+.400`: a window.
    Range {
        /// Start of the window.
        start: Micros,
        /// Start counted from the previous event.
        start_relative: bool,
        /// End of the window.
        end: Micros,
        /// End counted from the previous event.
        end_relative: bool,
    },
}

/// One timed line.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Where it starts.
    pub loc: Loc,
    /// When.
    pub time: EventTime,
    /// What.
    pub action: Action,
}

/// What an event does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `< ...` or `> ...`.
    Packet(PacketSpec),
    /// `name(args) = result`.
    Syscall(SyscallSpec),
    /// `` `command` ``.
    Shell(String),
    /// `%{ python }%`.
    Python(String),
}

/// Direction of a packet line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `<`: injected into the stack under test.
    Inbound,
    /// `>`: expected from the stack under test.
    Outbound,
}

/// A packet line.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketSpec {
    /// `<` or `>`.
    pub direction: Direction,
    /// IP-level annotations in brackets before the packet (`[ect0]`), raw.
    pub ip_annotations: Vec<String>,
    /// TCP or ICMP.
    pub kind: PacketKind,
}

/// The transport of a packet line.
#[derive(Debug, Clone, PartialEq)]
pub enum PacketKind {
    /// A TCP segment.
    Tcp(TcpSpec),
    /// An ICMP message.
    Icmp(IcmpSpec),
}

/// `S. 0:0(0) ack 1 win 65535 <mss 1460,...>`.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpSpec {
    /// Flags as written: `S`, `S.`, `P.`, `F.`, `R`, `.`, `-` (none), ...
    pub flags: String,
    /// Relative start sequence.
    pub seq: u32,
    /// Relative end sequence.
    pub end: u32,
    /// Payload length.
    pub len: u32,
    /// `ack N`.
    pub ack: Option<u32>,
    /// `win N`.
    pub win: Option<u32>,
    /// `urg N`.
    pub urg: Option<u32>,
    /// The option list.
    pub options: TcpOptionsSpec,
    /// `src>dst` ports written before the flags (an inbound packet keeps them).
    pub ports: Option<(u16, u16)>,
}

/// The option list of a packet line.
#[derive(Debug, Clone, PartialEq)]
pub enum TcpOptionsSpec {
    /// No list: no options.
    Absent,
    /// `<...>`: any options.
    Any,
    /// An explicit list.
    List(Vec<TcpOptionSpec>),
}

/// One TCP option in a packet line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpOptionSpec {
    /// `nop`
    Nop,
    /// `eol`
    Eol,
    /// `mss N`
    Mss(u16),
    /// `wscale N`
    WindowScale(u8),
    /// `sackOK`
    SackOk,
    /// `sack L:R L:R ...`
    Sack(Vec<(u32, u32)>),
    /// `TS val N ecr N`
    Timestamp {
        /// TSval.
        val: u32,
        /// TSecr.
        ecr: u32,
    },
    /// `FO` with an optional cookie (a hex literal or a `-D` name).
    FastOpen(Option<String>),
}

/// `icmp unreachable frag_needed mtu 1200 [1:1461(1460)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpSpec {
    /// `unreachable`, `time_exceeded`, ...
    pub kind: String,
    /// `frag_needed`, `port_unreachable`, ... (or a `-D` name such as `CODE`).
    pub code: Option<String>,
    /// `mtu N`.
    pub mtu: Option<u32>,
    /// The quoted TCP segment: relative `(seq, end, len)`.
    pub quoted: Option<(u32, u32, u32)>,
}

/// `connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)`.
#[derive(Debug, Clone, PartialEq)]
pub struct SyscallSpec {
    /// Name.
    pub name: String,
    /// Arguments.
    pub args: Vec<Expr>,
    /// Expected return value.
    pub result: Expr,
    /// Expected errno name.
    pub errno: Option<String>,
    /// The parenthesised text after the result (strerror text, or `flags O_RDWR`).
    pub note: Option<String>,
}

/// An argument or result expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `...`: anything.
    Ellipsis,
    /// An integer (decimal, hex or negative).
    Int(i64),
    /// A symbol: `SOL_SOCKET`, `O_NONBLOCK`, `TFO_COOKIE`.
    Ident(String),
    /// `"text"`.
    Str(String),
    /// `A|B|C`.
    Or(Vec<Expr>),
    /// `[a, b]`.
    List(Vec<Expr>),
    /// `{name=value, ...}` (positional fields have no name).
    Struct(Vec<Field>),
    /// `htons(80)`.
    Call(String, Vec<Expr>),
}

/// A struct field: `events=EPOLLIN`, `msg_iov(1)=[...]`, or a positional `1000`.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Field name.
    pub name: Option<String>,
    /// The parenthesised count after the name (`msg_iov(1)`), if any.
    pub count: Option<Vec<Expr>>,
    /// Value.
    pub value: Expr,
}
