//! A recursive-descent parser over the script's characters, tracking line and column so that
//! every error points at `file:line:column`.

use crate::ast::*;
use std::fmt;
use std::path::Path;

/// A syntax error at a place in a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The script's path, as given.
    pub path: String,
    /// Where.
    pub loc: Loc,
    /// What was expected or found.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.path, self.loc.line, self.loc.col, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Reads and parses a script file.
pub fn parse_file(path: &Path) -> Result<Script, ParseError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ParseError {
        path: name.clone(),
        loc: Loc::default(),
        message: e.to_string(),
    })?;
    parse(&name, &text)
}

/// Parses a script's text; `path` names it in errors.
pub fn parse(path: &str, text: &str) -> Result<Script, ParseError> {
    let mut p = Parser {
        path,
        src: text.as_bytes(),
        pos: 0,
        line: 1,
        col: 1,
    };
    p.script()
}

struct Parser<'a> {
    path: &'a str,
    src: &'a [u8],
    pos: usize,
    line: u32,
    col: u32,
}

type R<T> = Result<T, ParseError>;

const FLAG_CHARS: &[u8] = b"SFRPUEWA.-";

impl Parser<'_> {
    fn loc(&self) -> Loc {
        Loc {
            line: self.line,
            col: self.col,
        }
    }
    fn err<T>(&self, message: impl Into<String>) -> R<T> {
        Err(ParseError {
            path: self.path.to_string(),
            loc: self.loc(),
            message: message.into(),
        })
    }
    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }
    fn peek_at(&self, n: usize) -> Option<u8> {
        self.src.get(self.pos + n).copied()
    }
    fn starts_with(&self, s: &str) -> bool {
        self.src[self.pos..].starts_with(s.as_bytes())
    }
    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }
    fn bump_n(&mut self, n: usize) {
        for _ in 0..n {
            self.bump();
        }
    }
    fn eat(&mut self, s: &str) -> bool {
        if self.starts_with(s) {
            self.bump_n(s.len());
            true
        } else {
            false
        }
    }
    fn expect(&mut self, s: &str) -> R<()> {
        if self.eat(s) {
            Ok(())
        } else {
            self.err(format!("expected `{s}`, found {}", self.found()))
        }
    }
    fn found(&self) -> String {
        match self.peek() {
            None => "end of file".into(),
            Some(b'\n') => "end of line".into(),
            Some(_) => {
                let rest = &self.src[self.pos..];
                let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len()).min(20);
                format!("`{}`", String::from_utf8_lossy(&rest[..end]))
            }
        }
    }

    /// Spaces and tabs only (within a line).
    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r')) {
            self.bump();
        }
    }
    /// Whitespace, newlines and comments.
    fn skip_ws(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r' | b'\n') => {
                    self.bump();
                }
                Some(b'/') if self.peek_at(1) == Some(b'/') => {
                    while !matches!(self.peek(), None | Some(b'\n')) {
                        self.bump();
                    }
                }
                Some(b'/') if self.peek_at(1) == Some(b'*') => {
                    self.bump_n(2);
                    while self.peek().is_some() && !self.starts_with("*/") {
                        self.bump();
                    }
                    self.bump_n(2);
                }
                _ => return,
            }
        }
    }
    /// After an event: spaces, an optional comment, then a newline or the end.
    fn end_of_line(&mut self) -> R<()> {
        self.skip_space();
        if self.starts_with("//") || self.starts_with("/*") {
            self.skip_ws();
            return Ok(());
        }
        match self.peek() {
            None | Some(b'\n') | Some(b';') => Ok(()),
            _ => self.err(format!("unexpected {} after the event", self.found())),
        }
    }

    fn word(&mut self) -> String {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_') {
            self.bump();
        }
        String::from_utf8_lossy(&self.src[start..self.pos]).into_owned()
    }
    fn ident(&mut self) -> R<String> {
        match self.peek() {
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => Ok(self.word()),
            _ => self.err(format!("expected a name, found {}", self.found())),
        }
    }
    fn uint(&mut self) -> R<u64> {
        let start = self.pos;
        let hex = self.starts_with("0x") || self.starts_with("0X");
        if hex {
            self.bump_n(2);
        }
        while matches!(self.peek(), Some(c) if c.is_ascii_hexdigit() && (hex || c.is_ascii_digit())) {
            self.bump();
        }
        let text = std::str::from_utf8(&self.src[start..self.pos]).unwrap_or("");
        let parsed = if hex {
            u64::from_str_radix(&text[2..], 16)
        } else {
            text.parse()
        };
        match parsed {
            Ok(v) => Ok(v),
            Err(_) => {
                self.pos = start;
                self.err(format!("expected a number, found {}", self.found()))
            }
        }
    }
    fn u32_(&mut self) -> R<u32> {
        let loc = self.loc();
        let v = self.uint()?;
        u32::try_from(v).map_err(|_| ParseError {
            path: self.path.into(),
            loc,
            message: format!("{v} does not fit 32 bits"),
        })
    }
    /// Seconds with an optional fraction (`0`, `.1`, `2.35`) in microseconds.
    fn seconds(&mut self) -> R<Micros> {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
            self.bump();
        }
        let whole = std::str::from_utf8(&self.src[start..self.pos]).unwrap_or("");
        let mut micros: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse::<i64>().unwrap_or(i64::MAX / 2_000_000) * 1_000_000
        };
        // A `.` followed by a digit is a fraction; `...` is a range.
        if self.peek() == Some(b'.') && matches!(self.peek_at(1), Some(c) if c.is_ascii_digit()) {
            self.bump();
            let mut scale = 100_000;
            while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
                self.bump();
                micros += i64::from(c - b'0') * scale;
                scale /= 10;
            }
        } else if whole.is_empty() {
            return self.err(format!("expected a time, found {}", self.found()));
        }
        Ok(micros)
    }

    fn script(&mut self) -> R<Script> {
        let mut script = Script {
            options: Vec::new(),
            events: Vec::new(),
        };
        loop {
            self.skip_ws();
            if self.peek().is_none() {
                return Ok(script);
            }
            let loc = self.loc();
            if self.starts_with("--") {
                if !script.events.is_empty() {
                    return self.err("option lines must come before the first event");
                }
                self.bump_n(2);
                let name = self.ident()?;
                let value = if self.eat("=") {
                    let start = self.pos;
                    while !matches!(self.peek(), None | Some(b' ' | b'\t' | b'\r' | b'\n')) {
                        self.bump();
                    }
                    Some(String::from_utf8_lossy(&self.src[start..self.pos]).into_owned())
                } else {
                    None
                };
                script.options.push(ScriptOption { loc, name, value });
                // Options are tokens: several may share a line, as packetdrill's lexer reads them.
                self.skip_space();
                if !self.starts_with("--") {
                    self.end_of_line()?;
                }
                continue;
            }
            if self.peek() == Some(b'`') {
                let command = self.backtick()?;
                let time = if script.events.is_empty() {
                    EventTime::Init
                } else {
                    EventTime::Cleanup
                };
                script.events.push(Event {
                    loc,
                    time,
                    action: Action::Shell(command),
                });
                self.end_of_line()?;
                if time == EventTime::Cleanup {
                    self.skip_ws();
                    if self.peek().is_some() {
                        return self.err("nothing may follow the cleanup command");
                    }
                }
                continue;
            }
            let (time, separator) = self.time()?;
            self.skip_ws();
            let action = self.action()?;
            // packetdrill's grammar: `*` and `a~b` only time outbound packets, `a...b` only
            // blocking system calls.
            let outbound = matches!(&action, Action::Packet(p) if p.direction == Direction::Outbound);
            let misplaced = match separator {
                Some("...") => (!matches!(action, Action::Syscall(_))).then_some("a `...` end time"),
                Some(_) if !outbound => Some("an event time range"),
                None if time == EventTime::Any && !outbound => Some("event time <star>"),
                _ => None,
            };
            if let Some(what) = misplaced {
                return Err(ParseError {
                    path: self.path.to_string(),
                    loc,
                    message: format!(
                        "{what} can only be used with {}",
                        if separator == Some("...") {
                            "blocking system calls"
                        } else {
                            "outbound packets"
                        }
                    ),
                });
            }
            script.events.push(Event { loc, time, action });
            self.end_of_line()?;
        }
    }

    /// An event time, and the separator of a range (`...` or `~`) if it is one.
    fn time(&mut self) -> R<(EventTime, Option<&'static str>)> {
        if self.eat("*") {
            return Ok((EventTime::Any, None));
        }
        let start_relative = self.eat("+");
        let start = self.seconds()?;
        // `a...b`: b is relative when a is (packetdrill's RELATIVE_RANGE_TIME);
        // `a~b`: b says so itself with its own `+`.
        let range = if self.eat("...") {
            Some((start_relative, "..."))
        } else if self.eat("~") {
            Some((self.eat("+"), "~"))
        } else {
            None
        };
        if let Some((end_relative, separator)) = range {
            let end = self.seconds()?;
            let time = EventTime::Range {
                start,
                start_relative,
                end,
                end_relative,
            };
            return Ok((time, Some(separator)));
        }
        let time = if start_relative {
            EventTime::Relative(start)
        } else {
            EventTime::Absolute(start)
        };
        Ok((time, None))
    }

    fn action(&mut self) -> R<Action> {
        match self.peek() {
            Some(b'<') => {
                self.bump();
                self.packet(Direction::Inbound).map(Action::Packet)
            }
            Some(b'>') => {
                self.bump();
                self.packet(Direction::Outbound).map(Action::Packet)
            }
            Some(b'`') => self.backtick().map(Action::Shell),
            Some(b'%') if self.peek_at(1) == Some(b'{') => {
                self.bump_n(2);
                let start = self.pos;
                while self.peek().is_some() && !self.starts_with("}%") {
                    self.bump();
                }
                let code = String::from_utf8_lossy(&self.src[start..self.pos]).trim().to_string();
                self.expect("}%")?;
                Ok(Action::Python(code))
            }
            Some(c) if c.is_ascii_alphabetic() => self.syscall().map(Action::Syscall),
            _ => self.err(format!(
                "expected a packet, a system call, a command or a %{{ }}% block, found {}",
                self.found()
            )),
        }
    }

    fn backtick(&mut self) -> R<String> {
        self.expect("`")?;
        let start = self.pos;
        while !matches!(self.peek(), None | Some(b'`')) {
            self.bump();
        }
        let text = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
        self.expect("`")?;
        Ok(text)
    }

    fn packet(&mut self, direction: Direction) -> R<PacketSpec> {
        self.skip_space();
        let mut ip_annotations = Vec::new();
        // IP fields in brackets or parentheses: `[ect0]`, `(tos 0x10)`.
        while let Some(open @ (b'[' | b'(')) = self.peek() {
            let close = if open == b'[' { b']' } else { b')' };
            self.bump();
            let start = self.pos;
            while !matches!(self.peek(), None | Some(b'\n')) && self.peek() != Some(close) {
                self.bump();
            }
            ip_annotations.push(String::from_utf8_lossy(&self.src[start..self.pos]).into_owned());
            self.expect(if open == b'[' { "]" } else { ")" })?;
            self.skip_space();
        }
        let kind = if self.starts_with("icmp") {
            self.bump_n(4);
            PacketKind::Icmp(self.icmp()?)
        } else {
            PacketKind::Tcp(self.tcp(direction)?)
        };
        Ok(PacketSpec {
            direction,
            ip_annotations,
            kind,
        })
    }

    /// `seq:end(len)`.
    fn seq_range(&mut self) -> R<(u32, u32, u32)> {
        let seq = self.u32_()?;
        self.expect(":")?;
        let end = self.u32_()?;
        self.expect("(")?;
        let len = self.u32_()?;
        self.expect(")")?;
        Ok((seq, end, len))
    }

    fn tcp(&mut self, direction: Direction) -> R<TcpSpec> {
        // `src>dst` ports before the flags.
        let ports = if self.peek().is_some_and(|c| c.is_ascii_digit()) {
            let src = self.bounded(u64::from(u16::MAX))? as u16;
            self.skip_space();
            self.expect(">")?;
            self.skip_space();
            let dst = self.bounded(u64::from(u16::MAX))? as u16;
            self.skip_space();
            Some((src, dst))
        } else {
            None
        };
        let start = self.pos;
        while matches!(self.peek(), Some(c) if FLAG_CHARS.contains(&c)) {
            self.bump();
        }
        if start == self.pos {
            return self.err(format!("expected TCP flags, found {}", self.found()));
        }
        let flags = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
        self.skip_space();
        let (seq, end, len) = self.seq_range()?;
        let mut spec = TcpSpec {
            flags,
            seq,
            end,
            len,
            ack: None,
            win: None,
            urg: None,
            options: TcpOptionsSpec::Absent,
            ports,
        };
        loop {
            self.skip_space();
            if self.eat("ack") {
                self.skip_space();
                spec.ack = Some(self.u32_()?);
            } else if self.eat("win") {
                self.skip_space();
                spec.win = Some(self.u32_()?);
            } else if self.eat("urg") {
                self.skip_space();
                spec.urg = Some(self.u32_()?);
            } else if self.peek() == Some(b'<') {
                self.bump();
                spec.options = self.tcp_options()?;
                if direction == Direction::Inbound && spec.options == TcpOptionsSpec::Any {
                    return self.err("<...> for TCP options can only be used with outbound packets");
                }
            } else {
                if direction == Direction::Inbound && spec.win.is_none() {
                    return self.err("window must be specified for inbound packets");
                }
                return Ok(spec);
            }
        }
    }

    fn tcp_options(&mut self) -> R<TcpOptionsSpec> {
        self.skip_space();
        if self.eat("...") {
            self.skip_space();
            self.expect(">")?;
            return Ok(TcpOptionsSpec::Any);
        }
        let mut list = Vec::new();
        loop {
            self.skip_space();
            let name_loc = self.loc();
            let name = self.ident()?;
            self.skip_space();
            let option = match name.as_str() {
                "nop" => TcpOptionSpec::Nop,
                "eol" => TcpOptionSpec::Eol,
                "mss" => TcpOptionSpec::Mss(self.bounded(u64::from(u16::MAX))? as u16),
                "wscale" => TcpOptionSpec::WindowScale(self.bounded(u64::from(u8::MAX))? as u8),
                "sackOK" => TcpOptionSpec::SackOk,
                "sack" => {
                    let mut blocks = Vec::new();
                    while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                        let l = self.u32_()?;
                        self.expect(":")?;
                        let r = self.u32_()?;
                        blocks.push((l, r));
                        self.skip_space();
                    }
                    TcpOptionSpec::Sack(blocks)
                }
                "TS" => {
                    self.expect("val")?;
                    self.skip_space();
                    let val = self.u32_()?;
                    self.skip_space();
                    self.expect("ecr")?;
                    self.skip_space();
                    let ecr = self.u32_()?;
                    TcpOptionSpec::Timestamp { val, ecr }
                }
                "FO" => {
                    let cookie = match self.peek() {
                        Some(c) if c.is_ascii_alphanumeric() || c == b'_' => Some(self.word()),
                        _ => None,
                    };
                    TcpOptionSpec::FastOpen(cookie)
                }
                other => {
                    return Err(ParseError {
                        path: self.path.into(),
                        loc: name_loc,
                        message: format!("unknown TCP option `{other}`"),
                    })
                }
            };
            list.push(option);
            self.skip_space();
            if self.eat(">") {
                return Ok(TcpOptionsSpec::List(list));
            }
            self.expect(",")?;
        }
    }

    fn bounded(&mut self, max: u64) -> R<u64> {
        let v = self.uint()?;
        if v > max {
            return self.err(format!("{v} is more than {max}"));
        }
        Ok(v)
    }

    fn icmp(&mut self) -> R<IcmpSpec> {
        self.skip_space();
        let kind = self.ident()?;
        let mut spec = IcmpSpec {
            kind,
            code: None,
            mtu: None,
            quoted: None,
        };
        loop {
            self.skip_space();
            if self.peek() == Some(b'[') {
                self.bump();
                spec.quoted = Some(self.seq_range()?);
                self.expect("]")?;
            } else if self.eat("mtu") {
                self.skip_space();
                spec.mtu = Some(self.u32_()?);
            } else if matches!(self.peek(), Some(c) if c.is_ascii_alphabetic()) && spec.code.is_none() {
                spec.code = Some(self.word());
            } else {
                return Ok(spec);
            }
        }
    }

    fn syscall(&mut self) -> R<SyscallSpec> {
        let name = self.ident()?;
        self.skip_ws();
        self.expect("(")?;
        let args = self.exprs(")")?;
        self.skip_ws();
        self.expect("=")?;
        self.skip_space();
        let result = self.expr()?;
        self.skip_space();
        let errno = match self.peek() {
            Some(c) if c.is_ascii_uppercase() => Some(self.word()),
            _ => None,
        };
        self.skip_space();
        let note = if self.eat("(") {
            let start = self.pos;
            let mut depth = 1;
            while let Some(c) = self.peek() {
                match c {
                    b'(' => depth += 1,
                    b')' if depth == 1 => break,
                    b')' => depth -= 1,
                    b'\n' => return self.err("unterminated `(` note"),
                    _ => {}
                }
                self.bump();
            }
            let text = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
            // packetdrill's `note`: words of letters, digits and `_`, not numbers.
            let word = |w: &str| {
                w.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') && !w.bytes().all(|c| c.is_ascii_digit())
            };
            if text.split_whitespace().next().is_none() || !text.split_whitespace().all(word) {
                return self.err(format!("a note holds words only, found `({text})`"));
            }
            self.expect(")")?;
            Some(text)
        } else {
            None
        };
        if errno.is_some() && note.is_none() {
            return self.err("an errno name must be followed by its text in parentheses");
        }
        Ok(SyscallSpec {
            name,
            args,
            result,
            errno,
            note,
        })
    }

    /// Comma-separated expressions up to `close` (consumed).
    fn exprs(&mut self, close: &str) -> R<Vec<Expr>> {
        let mut out = Vec::new();
        self.skip_ws();
        if self.eat(close) {
            return Ok(out);
        }
        loop {
            out.push(self.expr()?);
            self.skip_ws();
            if self.eat(close) {
                return Ok(out);
            }
            self.expect(",")?;
        }
    }

    fn expr(&mut self) -> R<Expr> {
        self.skip_ws();
        let first = self.primary()?;
        let mut alts = vec![first];
        loop {
            self.skip_space();
            if self.peek() == Some(b'|') {
                self.bump();
                self.skip_ws();
                alts.push(self.primary()?);
            } else {
                break;
            }
        }
        Ok(if alts.len() == 1 {
            alts.pop().expect("one")
        } else {
            Expr::Or(alts)
        })
    }

    fn primary(&mut self) -> R<Expr> {
        match self.peek() {
            Some(b'.') if self.starts_with("...") => {
                self.bump_n(3);
                Ok(Expr::Ellipsis)
            }
            Some(b'-') => {
                self.bump();
                let v = self.uint()?;
                Ok(Expr::Int(-(v as i64)))
            }
            Some(c) if c.is_ascii_digit() => {
                let v = self.uint()?;
                i64::try_from(v)
                    .map(Expr::Int)
                    .or_else(|_| self.err(format!("{v} is too large")))
            }
            Some(b'"') => {
                self.bump();
                let start = self.pos;
                while !matches!(self.peek(), None | Some(b'"' | b'\n')) {
                    self.bump();
                }
                let s = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
                self.expect("\"")?;
                Ok(Expr::Str(s))
            }
            Some(b'[') => {
                self.bump();
                self.exprs("]").map(Expr::List)
            }
            Some(b'{') => {
                self.bump();
                self.fields().map(Expr::Struct)
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let name = self.word();
                if self.peek() == Some(b'(') {
                    self.bump();
                    let args = self.exprs(")")?;
                    return Ok(Expr::Call(name, args));
                }
                Ok(Expr::Ident(name))
            }
            _ => self.err(format!("expected an expression, found {}", self.found())),
        }
    }

    /// Struct fields up to `}`: `name=expr`, `name(count)=expr`, or a positional `expr`.
    fn fields(&mut self) -> R<Vec<Field>> {
        let mut out = Vec::new();
        self.skip_ws();
        if self.eat("}") {
            return Ok(out);
        }
        loop {
            self.skip_ws();
            let save = (self.pos, self.line, self.col);
            let mut named = None;
            if matches!(self.peek(), Some(c) if c.is_ascii_alphabetic() || c == b'_') {
                let name = self.word();
                let count = if self.peek() == Some(b'(') {
                    self.bump();
                    Some(self.exprs(")")?)
                } else {
                    None
                };
                self.skip_space();
                if self.eat("=") {
                    named = Some((name, count));
                } else {
                    (self.pos, self.line, self.col) = save;
                }
            }
            let value = self.expr()?;
            let (name, count) = match named {
                Some((n, c)) => (Some(n), c),
                None => (None, None),
            };
            out.push(Field { name, count, value });
            self.skip_ws();
            if self.eat("}") {
                return Ok(out);
            }
            self.expect(",")?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Event {
        let s = parse("t.pkt", line).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.events.len(), 1, "{line}");
        s.events.into_iter().next().unwrap()
    }

    fn syscall(line: &str) -> SyscallSpec {
        match one(line).action {
            Action::Syscall(s) => s,
            other => panic!("{other:?}"),
        }
    }

    fn tcp(line: &str) -> (Direction, TcpSpec) {
        match one(line).action {
            Action::Packet(PacketSpec {
                direction,
                kind: PacketKind::Tcp(t),
                ..
            }) => (direction, t),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn times() {
        assert_eq!(one("0 close(3) = 0").time, EventTime::Absolute(0));
        assert_eq!(one("+.1 close(3) = 0").time, EventTime::Relative(100_000));
        assert_eq!(one("0.100 close(3) = 0").time, EventTime::Absolute(100_000));
        assert_eq!(one("+0.000 close(3) = 0").time, EventTime::Relative(0));
        assert_eq!(one("* > F. 1:1(0) ack 1").time, EventTime::Any);
        assert_eq!(
            one("+.1...0.200 connect(3, ..., ...) = 0").time,
            EventTime::Range {
                start: 100_000,
                start_relative: true,
                end: 200_000,
                end_relative: true
            }
        );
        assert_eq!(
            one("0.1...0.3 connect(3, ..., ...) = 0").time,
            EventTime::Range {
                start: 100_000,
                start_relative: false,
                end: 300_000,
                end_relative: false
            }
        );
        assert_eq!(
            one(" +.21~+.215 > P. 1:41(40) ack 1").time,
            EventTime::Range {
                start: 210_000,
                start_relative: true,
                end: 215_000,
                end_relative: true
            }
        );
        assert_eq!(
            one("+.35~+2.35 > S. 0:0(0) ack 1 <...>").time,
            EventTime::Range {
                start: 350_000,
                start_relative: true,
                end: 2_350_000,
                end_relative: true
            }
        );
    }

    #[test]
    fn packets() {
        let (d, t) = tcp("+0 < S 0:0(0) win 65535 <mss 1000,sackOK,nop,nop,nop,wscale 8>");
        assert_eq!(d, Direction::Inbound);
        assert_eq!(
            (t.flags.as_str(), t.seq, t.end, t.len, t.win, t.ack),
            ("S", 0, 0, 0, Some(65535), None)
        );
        assert_eq!(
            t.options,
            TcpOptionsSpec::List(vec![
                TcpOptionSpec::Mss(1000),
                TcpOptionSpec::SackOk,
                TcpOptionSpec::Nop,
                TcpOptionSpec::Nop,
                TcpOptionSpec::Nop,
                TcpOptionSpec::WindowScale(8)
            ])
        );
        let (d, t) = tcp("+0 > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 8>");
        assert_eq!(d, Direction::Outbound);
        assert_eq!(t.ack, Some(1));
        assert!(matches!(&t.options, TcpOptionsSpec::List(l) if l[2] == TcpOptionSpec::Timestamp { val: 100, ecr: 0 }));
        let (_, t) = tcp("+0 > P. 1:1001(1000) ack 1");
        assert_eq!((t.len, t.options), (1000, TcpOptionsSpec::Absent));
        let (_, t) = tcp("+0 < - 1:1001(1000) win 257");
        assert_eq!(t.flags, "-");
        let (_, t) = tcp(" +0 > . 1:1(0) ack 1001 <nop,nop,sack 2001:3001 4001:5001>");
        assert_eq!(
            t.options,
            TcpOptionsSpec::List(vec![
                TcpOptionSpec::Nop,
                TcpOptionSpec::Nop,
                TcpOptionSpec::Sack(vec![(2001, 3001), (4001, 5001)])
            ])
        );
        let (_, t) = tcp("+0 < S 0:10(10) win 1000 <mss 1460,sackOK,nop,nop,FO TFO_COOKIE,nop,nop>");
        assert!(
            matches!(&t.options, TcpOptionsSpec::List(l) if l[4] == TcpOptionSpec::FastOpen(Some("TFO_COOKIE".into())))
        );
        let (_, t) = tcp("+0 > FP. 1:1001(1000) ack 1 <...>");
        assert_eq!((t.flags.as_str(), t.options), ("FP.", TcpOptionsSpec::Any));
        match one("+0 < icmp unreachable frag_needed mtu 1200 [1:1461(1460)]").action {
            Action::Packet(PacketSpec {
                kind: PacketKind::Icmp(i),
                ..
            }) => {
                assert_eq!(
                    i,
                    IcmpSpec {
                        kind: "unreachable".into(),
                        code: Some("frag_needed".into()),
                        mtu: Some(1200),
                        quoted: Some((1, 1461, 1460))
                    }
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn syscalls() {
        let s = syscall("0 socket(..., SOCK_STREAM|SOCK_NONBLOCK, IPPROTO_TCP) = 3");
        assert_eq!(
            s.args[1],
            Expr::Or(vec![
                Expr::Ident("SOCK_STREAM".into()),
                Expr::Ident("SOCK_NONBLOCK".into())
            ])
        );
        assert_eq!(s.result, Expr::Int(3));
        let s = syscall("+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)");
        assert_eq!(
            (s.result, s.errno.as_deref(), s.note.as_deref()),
            (Expr::Int(-1), Some("EINPROGRESS"), Some("Operation now in progress"))
        );
        let s = syscall("+0 fcntl(3, F_GETFL) = 0x2 (flags O_RDWR)");
        assert_eq!(
            (s.result, s.errno, s.note.as_deref()),
            (Expr::Int(2), None, Some("flags O_RDWR"))
        );
        let s = syscall("+0 setsockopt(4, SOL_TCP, TCP_NOTSENT_LOWAT, [0xffffffff], 4) = 0");
        assert_eq!(s.args[3], Expr::List(vec![Expr::Int(0xffff_ffff)]));
        let s = syscall("+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLOUT|EPOLLIN|EPOLLET, fd=4}) = 0");
        assert!(matches!(&s.args[3], Expr::Struct(f) if f[1].name.as_deref() == Some("fd")));
        let s = syscall("+0 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0");
        assert!(matches!(&s.args[3], Expr::Struct(f) if f.len() == 2));
        let s = syscall("+0 setsockopt(3, SOL_TCP, TCP_CONGESTION, \"cubic\", 5) = 0");
        assert_eq!(s.args[3], Expr::Str("cubic".into()));
        let s = syscall(
            "+0 sendmsg(4, {msg_name(...)=...,\n       msg_iov(3)=[{..., 100}, {..., 200}], msg_flags=0}, MSG_MORE) = 300",
        );
        match &s.args[1] {
            Expr::Struct(f) => {
                assert_eq!(f[0].name.as_deref(), Some("msg_name"));
                assert_eq!(f[0].count, Some(vec![Expr::Ellipsis]));
                assert_eq!(f[1].count, Some(vec![Expr::Int(3)]));
                assert!(matches!(&f[1].value, Expr::List(v) if v.len() == 2));
            }
            other => panic!("{other:?}"),
        }
        let s =
            syscall("+0 bind(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"192.0.2.1\")}, 16) = 0");
        assert!(
            matches!(&s.args[1], Expr::Struct(f) if f[1].value == Expr::Call("htons".into(), vec![Expr::Int(8080)]))
        );
    }

    #[test]
    fn options_init_shell_and_python() {
        let s = parse(
            "t.pkt",
            "--mss=1000\n--is_anyip\n`./defaults.sh\n ./set_sysctls.py /proc/sys/net/ipv4/tcp_rto_max_ms=1000`\n\
             0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 `sysctl -q net.ipv4.tcp_sack=0`\n\
             +.01 %{\nassert tcpi_snd_cwnd == 7, tcpi_snd_cwnd\n}%\n/* block\ncomment */ +0 close(3) = 0 // trailing\n",
        )
        .unwrap();
        assert_eq!(
            s.options[0],
            ScriptOption {
                loc: Loc { line: 1, col: 1 },
                name: "mss".into(),
                value: Some("1000".into())
            }
        );
        assert_eq!(s.options[1].value, None);
        assert_eq!(s.events[0].time, EventTime::Init);
        assert!(matches!(&s.events[0].action, Action::Shell(c) if c.contains("tcp_rto_max_ms=1000")));
        assert!(matches!(&s.events[2].action, Action::Shell(c) if c == "sysctl -q net.ipv4.tcp_sack=0"));
        assert!(matches!(&s.events[3].action, Action::Python(c) if c.starts_with("assert tcpi_snd_cwnd")));
        assert_eq!(s.events[4].loc.line, 11);
        // Several options on one line.
        let s = parse("t.pkt", "--tolerance_usecs=10000 --tcp_ts_ecr_scaled\n0 close(3) = 0\n").unwrap();
        let names: Vec<&str> = s.options.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["tolerance_usecs", "tcp_ts_ecr_scaled"]);
        assert_eq!(s.options[1].loc.col, 25);
    }

    #[test]
    fn errors_point_at_line_and_column() {
        let e = parse("x.pkt", "0 socket(..., SOCK_STREAM, 6) = 3\n+0 > S. 0:0 ack 1\n").unwrap_err();
        assert_eq!(e.to_string(), "x.pkt:2:12: expected `(`, found ` ack 1`");
        let e = parse("x.pkt", "+0 < S 0:0(0) win 1 <mss 1460,bogus 3>").unwrap_err();
        assert_eq!(
            (e.loc.line, e.loc.col, e.message.as_str()),
            (1, 31, "unknown TCP option `bogus`")
        );
        let e = parse("x.pkt", "+0 close(3) = 0 garbage").unwrap_err();
        assert_eq!(e.loc.col, 17);
        let e = parse("x.pkt", "0 close(3) = 0\n`cleanup`\n+0 close(4) = 0").unwrap_err();
        assert!(e.message.contains("cleanup"), "{e}");
        let s = parse("x.pkt", "0 close(3) = 0\n`cleanup`\n").unwrap();
        assert_eq!(s.events[1].time, EventTime::Cleanup);
        let e = parse("x.pkt", "0 close(3) = 0\n--mss=1").unwrap_err();
        assert!(e.message.contains("before the first event"));
        assert!(parse("x.pkt", "+0 < S 0:0(0) win 1 <wscale 300>").is_err());
    }
}
