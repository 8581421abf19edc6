//! The `%{ }%` blocks scripts use: `assert EXPR, MESSAGE` statements over `tcpi_*` fields of
//! TCP_INFO, `SK_MEMINFO_*` and a few constants, with Python's integer operators and chained
//! comparisons. Anything else is reported as unsupported, never passed silently.

use std::collections::HashMap;

/// Symbolic constants blocks may name.
fn constant(name: &str) -> Option<i64> {
    Some(match name {
        "TCP_CA_Open" => 0,
        "TCP_CA_Disorder" => 1,
        "TCP_CA_CWR" => 2,
        "TCP_CA_Recovery" => 3,
        "TCP_CA_Loss" => 4,
        "TCPI_OPT_TIMESTAMPS" => 1,
        "TCPI_OPT_SACK" => 2,
        "TCPI_OPT_WSCALE" => 4,
        "TCPI_OPT_ECN" => 8,
        "TCPI_OPT_ECN_SEEN" => 16,
        "TCPI_OPT_SYN_DATA" => 32,
        _ => return None,
    })
}

/// Runs a block against `vars` (`tcpi_*`, `SK_MEMINFO_*`). `Ok(None)` when every assertion
/// holds, `Ok(Some(message))` for the first that does not, `Err` for what cannot be run.
pub fn run_block(code: &str, vars: &HashMap<String, i64>) -> Result<Option<String>, String> {
    let joined = code.replace("\\\n", " ");
    for stmt in joined.split(['\n', ';']).map(str::trim).filter(|s| !s.is_empty()) {
        let Some(rest) = stmt.strip_prefix("assert ") else {
            return Err(format!("unsupported Python statement `{stmt}`"));
        };
        let expr = rest.split_once(',').map_or(rest, |(e, _)| e).trim();
        let tokens = tokenize(expr)?;
        let mut p = Expr {
            tokens: &tokens,
            pos: 0,
            vars,
        };
        let v = p.comparison()?;
        if p.pos != tokens.len() {
            return Err(format!("cannot parse `{expr}`"));
        }
        if v == 0 {
            let shown: Vec<String> = tokens
                .iter()
                .filter_map(|t| match t {
                    Tok::Name(n) => vars.get(n).map(|v| format!("{n}={v}")),
                    _ => None,
                })
                .collect();
            return Ok(Some(format!("assertion failed: {expr} ({})", shown.join(", "))));
        }
    }
    Ok(None)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(i64),
    Name(String),
    Op(&'static str),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    const OPS: [&str; 12] = ["==", "!=", "<=", ">=", "<", ">", "&", "|", "+", "-", "(", ")"];
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let t = &s[start..i];
            let v = if let Some(h) = t.strip_prefix("0x") {
                i64::from_str_radix(h, 16)
            } else {
                t.parse()
            };
            out.push(Tok::Num(v.map_err(|_| format!("bad number `{t}`"))?));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &s[start..i];
            out.push(match word {
                "and" => Tok::Op("and"),
                "or" => Tok::Op("or"),
                _ => Tok::Name(word.to_string()),
            });
        } else if let Some(op) = OPS.iter().find(|op| s[i..].starts_with(**op)) {
            out.push(Tok::Op(op));
            i += op.len();
        } else {
            return Err(format!("unsupported character `{}` in `{s}`", c as char));
        }
    }
    Ok(out)
}

struct Expr<'a> {
    tokens: &'a [Tok],
    pos: usize,
    vars: &'a HashMap<String, i64>,
}

impl Expr<'_> {
    fn peek_op(&self) -> Option<&'static str> {
        match self.tokens.get(self.pos) {
            Some(Tok::Op(o)) => Some(o),
            _ => None,
        }
    }

    /// `a and b`, `a or b` over chained comparisons.
    fn comparison(&mut self) -> Result<i64, String> {
        let mut v = self.chain()?;
        while let Some(op @ ("and" | "or")) = self.peek_op() {
            self.pos += 1;
            let rhs = self.chain()?;
            v = i64::from(if op == "and" {
                v != 0 && rhs != 0
            } else {
                v != 0 || rhs != 0
            });
        }
        Ok(v)
    }

    /// Python's chained comparisons: `a <= b <= c` is `a <= b and b <= c`.
    fn chain(&mut self) -> Result<i64, String> {
        let mut left = self.bitor()?;
        let mut result = None;
        while let Some(op @ ("==" | "!=" | "<" | "<=" | ">" | ">=")) = self.peek_op() {
            self.pos += 1;
            let right = self.bitor()?;
            let holds = match op {
                "==" => left == right,
                "!=" => left != right,
                "<" => left < right,
                "<=" => left <= right,
                ">" => left > right,
                _ => left >= right,
            };
            result = Some(result.unwrap_or(true) && holds);
            left = right;
        }
        Ok(result.map_or(left, i64::from))
    }

    fn bitor(&mut self) -> Result<i64, String> {
        let mut v = self.bitand()?;
        while self.peek_op() == Some("|") {
            self.pos += 1;
            v |= self.bitand()?;
        }
        Ok(v)
    }

    fn bitand(&mut self) -> Result<i64, String> {
        let mut v = self.sum()?;
        while self.peek_op() == Some("&") {
            self.pos += 1;
            v &= self.sum()?;
        }
        Ok(v)
    }

    fn sum(&mut self) -> Result<i64, String> {
        let mut v = self.atom()?;
        while let Some(op @ ("+" | "-")) = self.peek_op() {
            self.pos += 1;
            let rhs = self.atom()?;
            v = if op == "+" { v + rhs } else { v - rhs };
        }
        Ok(v)
    }

    fn atom(&mut self) -> Result<i64, String> {
        let t = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or("unexpected end of expression")?;
        self.pos += 1;
        match t {
            Tok::Num(v) => Ok(v),
            Tok::Name(n) => self
                .vars
                .get(&n)
                .copied()
                .or_else(|| constant(&n))
                .ok_or(format!("unknown name `{n}`")),
            Tok::Op("(") => {
                let v = self.comparison()?;
                match self.tokens.get(self.pos) {
                    Some(Tok::Op(")")) => {
                        self.pos += 1;
                        Ok(v)
                    }
                    _ => Err("missing `)`".into()),
                }
            }
            Tok::Op("-") => Ok(-self.atom()?),
            Tok::Op(o) => Err(format!("unexpected `{o}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> HashMap<String, i64> {
        [
            ("tcpi_snd_cwnd", 10),
            ("tcpi_options", 7),
            ("tcpi_last_data_recv", 1000),
            ("tcpi_ca_state", 3),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    #[test]
    fn assertions_as_the_corpus_writes_them() {
        let v = vars();
        assert_eq!(run_block("assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd", &v), Ok(None));
        assert_eq!(
            run_block("assert (tcpi_options & TCPI_OPT_SYN_DATA) == 0, tcpi_options", &v),
            Ok(None)
        );
        assert_eq!(run_block("assert 990 <= tcpi_last_data_recv <= 1010, x", &v), Ok(None));
        assert_eq!(
            run_block(
                "\nassert tcpi_ca_state == TCP_CA_Recovery, tcpi_ca_state\nassert tcpi_snd_cwnd == 10, y\n",
                &v
            ),
            Ok(None)
        );
        assert_eq!(
            run_block("assert tcpi_snd_cwnd == 10, a; \\\n assert tcpi_options != 0, b", &v),
            Ok(None)
        );
        let failed = run_block("assert tcpi_snd_cwnd == 20, tcpi_snd_cwnd", &v)
            .unwrap()
            .unwrap();
        assert!(failed.contains("tcpi_snd_cwnd=10"), "{failed}");
        assert!(run_block("assert 2 <= tcpi_snd_cwnd <= 5, x", &v).unwrap().is_some());
        assert!(run_block("print(tcpi_snd_cwnd)", &v).is_err());
        assert!(run_block("assert tcpi_nonexistent == 1, x", &v).is_err());
    }
}
