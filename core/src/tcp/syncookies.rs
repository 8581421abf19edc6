//! SYN cookies (spec §4, L30–L38): a SYN-ACK whose ISN encodes what the request sock would
//! have held, so a listener under a SYN flood keeps no state. Linux's `net/ipv4/syncookies.c`.
//!
//! Layout of a cookie (L31): `H(0,k0) + client_isn + (count << 24) + ((H(count,k1) + i) mod 2^24)`
//! where `count` is the minute counter and `i` the index of the peer's MSS in [`MSSTAB`]. The
//! options a request would keep (window scale, SACK, ECN) travel in the low six bits of our
//! TSval (L34), so they survive only when the peer uses timestamps.

use core::net::Ipv4Addr;
use core::time::Duration;

use crate::base::rng::Rng;
use crate::base::sysctl::Sysctl;
use crate::base::time::Instant;
use crate::inet::tuple::FourTuple;
use crate::tcp::isn::SipKey;

/// `msstab`: the four MSS values a cookie can carry, smallest first.
pub const MSSTAB: [u16; 4] = [536, 1300, 1440, 1460];
/// `MAX_SYNCOOKIE_AGE`: a cookie is good for the minute it was issued in and the next.
pub const MAX_SYNCOOKIE_AGE: u32 = 2;
/// `TCP_SYNCOOKIE_PERIOD`: the length of one count.
pub const TCP_SYNCOOKIE_PERIOD: Duration = Duration::from_secs(60);
/// `TCP_SYNCOOKIE_VALID`: how long after the last cookie sent returning ACKs are checked.
pub const TCP_SYNCOOKIE_VALID: Duration = Duration::from_secs(2 * 60);

const COOKIEBITS: u32 = 24;
const COOKIEMASK: u32 = (1 << COOKIEBITS) - 1;

/// TSval bits 0–3: the peer's window-scale shift, all ones when the peer sent none.
const TS_OPT_WSCALE_MASK: u32 = 0xf;
/// TSval bit 4: SACK permitted.
const TS_OPT_SACK: u32 = 1 << 4;
/// TSval bit 5: ECN negotiated.
const TS_OPT_ECN: u32 = 1 << 5;
/// `TSBITS`: how many low TSval bits carry options.
const TSBITS: u32 = 6;

/// The connection a cookie is for, named from the client's side as Linux hashes it: the SYN's
/// source is `saddr`/`sport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieFlow {
    pub saddr: Ipv4Addr,
    pub daddr: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
}

impl From<&FourTuple> for CookieFlow {
    /// The flow of a segment that arrived on `t` (our side is the SYN's destination).
    fn from(t: &FourTuple) -> CookieFlow {
        CookieFlow {
            saddr: t.remote_addr,
            daddr: t.local_addr,
            sport: t.remote_port,
            dport: t.local_port,
        }
    }
}

/// The two cookie secrets (`syncookie_secret[2]`).
#[derive(Debug, Clone)]
pub struct SynCookies {
    keys: [SipKey; 2],
}

/// `tcp_cookie_time`: whole periods since the epoch, the cookie's minute counter.
pub fn tcp_cookie_time(now: Instant) -> u32 {
    (now.as_nanos() / TCP_SYNCOOKIE_PERIOD.as_nanos() as u64) as u32
}

impl SynCookies {
    /// Fresh secrets.
    pub fn random(rng: &mut Rng) -> SynCookies {
        SynCookies {
            keys: [SipKey::random(rng), SipKey::random(rng)],
        }
    }

    /// `cookie_hash`: the keyed hash of the flow and `count` under secret `c`.
    fn cookie_hash(&self, f: CookieFlow, count: u32, c: usize) -> u32 {
        self.keys[c].hash_words(&[
            f.saddr.to_bits(),
            f.daddr.to_bits(),
            (u32::from(f.sport) << 16) | u32::from(f.dport),
            count,
        ]) as u32
    }

    /// `__cookie_v4_init_sequence` (L31): our ISN for a cookie SYN-ACK answering a SYN with
    /// sequence `client_isn` and MSS option `peer_mss`, and the MSS the connection will get
    /// (the largest [`MSSTAB`] entry not above the peer's, 536 at least).
    pub fn cookie_v4_init_sequence(&self, f: CookieFlow, client_isn: u32, peer_mss: u16, now: Instant) -> (u32, u16) {
        let index = MSSTAB.iter().rposition(|&m| peer_mss >= m).unwrap_or(0);
        let count = tcp_cookie_time(now);
        let data = index as u32;
        let cookie = self
            .cookie_hash(f, 0, 0)
            .wrapping_add(client_isn)
            .wrapping_add(count << COOKIEBITS)
            .wrapping_add(self.cookie_hash(f, count, 1).wrapping_add(data) & COOKIEMASK);
        (cookie, MSSTAB[index])
    }

    /// `__cookie_v4_check` (L32, L37 step 3): the MSS a returning ACK's cookie encodes, or
    /// `None` when it is forged, damaged or older than [`MAX_SYNCOOKIE_AGE`] periods. `seq` and
    /// `ack` are the ACK's own numbers (the cookie is `ack − 1`, the client ISN `seq − 1`).
    pub fn cookie_v4_check_mss(&self, f: CookieFlow, seq: u32, ack: u32, now: Instant) -> Option<u16> {
        let cookie = ack.wrapping_sub(1);
        let client_isn = seq.wrapping_sub(1);
        let count = tcp_cookie_time(now);
        let c = cookie.wrapping_sub(self.cookie_hash(f, 0, 0).wrapping_add(client_isn));
        let diff = count.wrapping_sub(c >> COOKIEBITS) & (u32::MAX >> COOKIEBITS);
        if diff >= MAX_SYNCOOKIE_AGE {
            return None;
        }
        let index = c.wrapping_sub(self.cookie_hash(f, count.wrapping_sub(diff), 1)) & COOKIEMASK;
        MSSTAB.get(index as usize).copied()
    }
}

/// What a cookie SYN-ACK's TSval carries of the request (L34).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CookieOptions {
    /// The peer's window-scale shift, if it sent the option.
    pub snd_wscale: Option<u8>,
    pub sack_ok: bool,
    pub ecn_ok: bool,
}

/// `cookie_init_timestamp` (L34): the TSval (before the connection's `ts_off` is added) of a
/// cookie SYN-ACK at `now_ms`: the clock with its low six bits replaced by the options, one
/// step of 64 ms back if that would run ahead of the clock.
pub fn cookie_init_timestamp(opts: CookieOptions, now_ms: u32) -> u32 {
    let mut bits = opts.snd_wscale.map_or(TS_OPT_WSCALE_MASK, u32::from);
    if opts.sack_ok {
        bits |= TS_OPT_SACK;
    }
    if opts.ecn_ok {
        bits |= TS_OPT_ECN;
    }
    let ts = (now_ms >> TSBITS) << TSBITS | bits;
    if (ts.wrapping_sub(now_ms) as i32) > 0 {
        ((now_ms >> TSBITS).wrapping_sub(1) << TSBITS) | bits
    } else {
        ts
    }
}

/// `cookie_timestamp_decode` and `cookie_ecn_ok` (L37 step 4): the options a returning ACK's
/// TSecr (our TSval, `ts_off` already taken off) carries; `None` for an ACK without timestamps.
/// `None` when the ACK claims an option this host's sysctls now refuse (the ACK is then no
/// cookie).
pub fn cookie_timestamp_decode(tsecr: Option<u32>, sysctl: &Sysctl) -> Option<CookieOptions> {
    let Some(bits) = tsecr else {
        return Some(CookieOptions::default());
    };
    if sysctl.tcp_timestamps == 0 {
        return None;
    }
    let sack_ok = bits & TS_OPT_SACK != 0;
    if sack_ok && sysctl.tcp_sack == 0 {
        return None;
    }
    let ecn_ok = bits & TS_OPT_ECN != 0 && sysctl.tcp_ecn != 0;
    let wscale = bits & TS_OPT_WSCALE_MASK;
    if wscale == TS_OPT_WSCALE_MASK {
        return Some(CookieOptions {
            snd_wscale: None,
            sack_ok,
            ecn_ok,
        });
    }
    if sysctl.tcp_window_scaling == 0 {
        return None;
    }
    Some(CookieOptions {
        snd_wscale: Some(wscale as u8),
        sack_ok,
        ecn_ok,
    })
}

/// The listener's "last overflow" stamp (L38): `tcp_synq_overflow` records it when a cookie
/// is sent, `tcp_synq_no_recent_overflow` asks whether returning ACKs may be cookies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SynqOverflow {
    last: Option<Instant>,
}

const ONE_SECOND: Duration = Duration::from_secs(1);

impl SynqOverflow {
    /// `tcp_synq_overflow`: a cookie was sent now (the stamp moves at most once a second).
    pub fn note(&mut self, now: Instant) {
        match self.last {
            Some(last) if now >= last && now <= last + ONE_SECOND => {}
            _ => self.last = Some(now),
        }
    }

    /// `!tcp_synq_no_recent_overflow`: a cookie was sent within [last − 1 s, last + 120 s].
    pub fn recent(&self, now: Instant) -> bool {
        self.last.is_some_and(|last| {
            now.saturating_duration_since(last) <= TCP_SYNCOOKIE_VALID
                && last.saturating_duration_since(now) <= ONE_SECOND
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> CookieFlow {
        CookieFlow {
            saddr: Ipv4Addr::new(192, 0, 2, 1),
            daddr: Ipv4Addr::new(192, 168, 0, 1),
            sport: 40000,
            dport: 8080,
        }
    }

    fn cookies() -> SynCookies {
        SynCookies::random(&mut Rng::seed_from_u64(7))
    }

    #[test]
    fn l31_peer_mss_is_quantised_down_to_msstab() {
        let c = cookies();
        let at = Instant::from_secs(5);
        for (peer, got) in [
            (1460, 1460),
            (9000, 1460),
            (1459, 1440),
            (1400, 1300),
            (1300, 1300),
            (600, 536),
            (100, 536),
        ] {
            let (cookie, mss) = c.cookie_v4_init_sequence(flow(), 1000, peer, at);
            assert_eq!(mss, got, "peer MSS {peer}");
            assert_eq!(
                c.cookie_v4_check_mss(flow(), 1001, cookie.wrapping_add(1), at),
                Some(got)
            );
        }
    }

    #[test]
    fn l31_cookie_layout_minute_counter_in_the_top_byte() {
        let c = cookies();
        let f = flow();
        // Same client ISN and MSS a period apart: the cookies differ by 1 << 24 in their top
        // byte plus a change of the low 24 keyed bits only.
        let (a, _) = c.cookie_v4_init_sequence(f, 77, 1460, Instant::from_secs(10));
        let (b, _) = c.cookie_v4_init_sequence(f, 77, 1460, Instant::from_secs(70));
        let base = c.cookie_hash(f, 0, 0).wrapping_add(77);
        assert_eq!(a.wrapping_sub(base) >> 24, 0);
        assert_eq!(b.wrapping_sub(base) >> 24, 1);
        // The offset follows the client's ISN one for one.
        let (a2, _) = c.cookie_v4_init_sequence(f, 78, 1460, Instant::from_secs(10));
        assert_eq!(a2.wrapping_sub(a), 1);
    }

    #[test]
    fn l32_cookie_valid_for_its_minute_and_the_next() {
        let c = cookies();
        let issued = Instant::from_millis(59_900);
        let (cookie, _) = c.cookie_v4_init_sequence(flow(), 5, 1460, issued);
        let check = |s: u64| c.cookie_v4_check_mss(flow(), 6, cookie.wrapping_add(1), Instant::from_millis(s));
        assert_eq!(check(59_999), Some(1460));
        assert_eq!(check(119_999), Some(1460), "next minute still good");
        assert_eq!(check(120_000), None, "two minutes on: too old");
        // Issued at the start of a minute: good for just under two minutes.
        let (cookie, _) = c.cookie_v4_init_sequence(flow(), 5, 1460, Instant::from_secs(60));
        assert_eq!(
            c.cookie_v4_check_mss(flow(), 6, cookie.wrapping_add(1), Instant::from_millis(179_999)),
            Some(1460)
        );
        assert_eq!(
            c.cookie_v4_check_mss(flow(), 6, cookie.wrapping_add(1), Instant::from_secs(180)),
            None
        );
    }

    #[test]
    fn l37_forged_cookies_fail() {
        let c = cookies();
        let now = Instant::from_secs(1);
        let (cookie, _) = c.cookie_v4_init_sequence(flow(), 5, 1460, now);
        let ack = cookie.wrapping_add(1);
        assert_eq!(c.cookie_v4_check_mss(flow(), 6, ack, now), Some(1460));
        // The client ISN is an additive offset, as in Linux: a few off shifts the MSS index
        // (caught only when it leaves 0..4), more is refused.
        assert_eq!(c.cookie_v4_check_mss(flow(), 5, ack, now), None, "index 4");
        assert_eq!(c.cookie_v4_check_mss(flow(), 7, ack, now), Some(1440), "index 2");
        assert_eq!(c.cookie_v4_check_mss(flow(), 1006, ack, now), None, "other client ISN");
        assert_eq!(
            c.cookie_v4_check_mss(flow(), 6, ack.wrapping_add(1), now),
            None,
            "other ack"
        );
        let other = CookieFlow { sport: 40001, ..flow() };
        assert_eq!(c.cookie_v4_check_mss(other, 6, ack, now), None, "other 4-tuple");
        assert_eq!(
            cookies_other().cookie_v4_check_mss(flow(), 6, ack, now),
            None,
            "other secrets"
        );
        // Random acks: only about 4 in 2^24 · 256 / 2 pass; none of these.
        let mut rng = Rng::seed_from_u64(9);
        assert!((0..10_000).all(|_| c.cookie_v4_check_mss(flow(), 6, rng.next_u32(), now).is_none()));
    }

    fn cookies_other() -> SynCookies {
        SynCookies::random(&mut Rng::seed_from_u64(8))
    }

    #[test]
    fn l34_tsval_low_bits_carry_the_options_and_never_run_ahead() {
        let opts = CookieOptions {
            snd_wscale: Some(7),
            sack_ok: true,
            ecn_ok: false,
        };
        // Clock 1000 ms = 15·64 + 40: bits 0b010111 = 23 < 40 → same 64 ms step.
        assert_eq!(cookie_init_timestamp(opts, 1000), 15 * 64 + 23);
        // Clock 970 = 15·64 + 10: 23 > 10 would run ahead → one step back.
        assert_eq!(cookie_init_timestamp(opts, 970), 14 * 64 + 23);
        // No window scale: 0xf; ECN: bit 5.
        let none = CookieOptions {
            snd_wscale: None,
            sack_ok: false,
            ecn_ok: true,
        };
        assert_eq!(cookie_init_timestamp(none, 6400) & 63, 0x2f);
        for now in [0u32, 63, 64, 1000, 123_456_789, u32::MAX] {
            let ts = cookie_init_timestamp(opts, now);
            assert!(now.wrapping_sub(ts) < 128, "{now} → {ts}");
            assert_eq!(cookie_timestamp_decode(Some(ts), &Sysctl::default()), Some(opts));
        }
    }

    #[test]
    fn l37_timestamp_decode_refuses_what_the_sysctls_now_refuse() {
        let opts = CookieOptions {
            snd_wscale: Some(10),
            sack_ok: true,
            ecn_ok: true,
        };
        let ts = cookie_init_timestamp(opts, 5000);
        let mut s = Sysctl::default();
        assert_eq!(
            cookie_timestamp_decode(None, &s),
            Some(CookieOptions::default()),
            "no TS: no options"
        );
        assert_eq!(cookie_timestamp_decode(Some(ts), &s), Some(opts));
        s.tcp_ecn = 0;
        assert_eq!(cookie_timestamp_decode(Some(ts), &s).map(|o| o.ecn_ok), Some(false));
        s.tcp_window_scaling = 0;
        assert_eq!(cookie_timestamp_decode(Some(ts), &s), None);
        s.tcp_window_scaling = 1;
        s.tcp_sack = 0;
        assert_eq!(cookie_timestamp_decode(Some(ts), &s), None);
        s.tcp_sack = 1;
        s.tcp_timestamps = 0;
        assert_eq!(cookie_timestamp_decode(Some(ts), &s), None);
    }

    #[test]
    fn l38_cookie_acks_are_checked_only_near_the_last_overflow() {
        let mut o = SynqOverflow::default();
        assert!(!o.recent(Instant::from_secs(1)), "never overflowed");
        o.note(Instant::from_secs(10));
        o.note(Instant::from_millis(10_500)); // within a second: the stamp stays
        assert!(o.recent(Instant::from_secs(130)));
        assert!(!o.recent(Instant::from_millis(130_001)));
        assert!(o.recent(Instant::from_secs(9)), "a second before is still near");
        assert!(!o.recent(Instant::from_millis(8_999)));
        o.note(Instant::from_secs(12)); // more than a second later: it moves
        assert!(o.recent(Instant::from_millis(131_500)));
    }
}
