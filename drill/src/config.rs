//! packetdrill's configuration: its defaults, its command-line options (`--name=value`,
//! `-D NAME=VALUE`) and the same options as script option lines (`config.c`).

use std::collections::HashMap;
use std::net::Ipv4Addr;

/// How a run is set up, as packetdrill's `struct config` holds it (IPv4 only).
#[derive(Debug, Clone)]
pub struct Config {
    /// `--local_ip`: the address of the stack under test.
    pub local_ip: Ipv4Addr,
    /// `--remote_ip`: the script's end.
    pub remote_ip: Ipv4Addr,
    /// `--gateway_ip`: the next hop of the route to the remote end.
    pub gateway_ip: Ipv4Addr,
    /// `--netmask_ip`: the local address's prefix.
    pub netmask: Ipv4Addr,
    /// `--bind_port`: the port of `bind(fd, ..., ...)`.
    pub bind_port: u16,
    /// `--connect_port`: the port of `connect(fd, ..., ...)`.
    pub connect_port: u16,
    /// `--tolerance_usecs`.
    pub tolerance_usecs: i64,
    /// `--tolerance_percent`: the tolerance grows to this share of the time since the last
    /// event.
    pub tolerance_percent: f64,
    /// `--tcp_ts_tick_usecs`: when set, the stack's TSval is checked at this tick.
    pub tcp_ts_tick_usecs: i64,
    /// `--tcp_ts_ecr_scaled`: an inbound ecr with no outbound TSval of that script value is
    /// interpolated instead of an error.
    pub tcp_ts_ecr_scaled: bool,
    /// `--mss`: inbound segments longer than this go in as GSO packets of this size.
    pub mss: Option<u16>,
    /// `--mtu` of the test device.
    pub mtu: u32,
    /// `--is_anyip`: the local address is not assigned to the device.
    pub is_anyip: bool,
    /// `--strict_segments`: no joining of split outbound segments.
    pub strict_segments: bool,
    /// `-D NAME=VALUE` definitions.
    pub defines: HashMap<String, String>,
}

impl Default for Config {
    /// packetdrill's defaults for IPv4 with the addresses Linux's selftests and `run_all.py`
    /// pass (`--local_ip=192.168.0.1 --gateway_ip=192.168.0.1 --netmask_ip=255.255.0.0
    /// --remote_ip=192.0.2.1`).
    fn default() -> Config {
        Config {
            local_ip: Ipv4Addr::new(192, 168, 0, 1),
            remote_ip: Ipv4Addr::new(192, 0, 2, 1),
            gateway_ip: Ipv4Addr::new(192, 168, 0, 1),
            netmask: Ipv4Addr::new(255, 255, 0, 0),
            bind_port: 8080,
            connect_port: 8080,
            tolerance_usecs: 4_000,
            tolerance_percent: 12.5,
            tcp_ts_tick_usecs: 0,
            tcp_ts_ecr_scaled: false,
            mss: None,
            mtu: 1500,
            is_anyip: false,
            strict_segments: false,
            defines: HashMap::new(),
        }
    }
}

/// Why an option was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionError {
    /// packetdrill rejects it too (an unknown option, a bad value): the script fails.
    Invalid(String),
    /// packetdrill accepts it but this runner does not model it (IPv6, wire mode).
    Unsupported(String),
}

impl Config {
    /// The length of the netmask's prefix.
    pub fn prefix_len(&self) -> u32 {
        u32::from(self.netmask).leading_ones()
    }

    /// Applies `--name[=value]` as packetdrill's `process_option` does.
    pub fn apply(&mut self, name: &str, value: Option<&str>) -> Result<(), OptionError> {
        let bad = |what: &str| OptionError::Invalid(format!("bad --{name}: {what}"));
        let need = || value.ok_or_else(|| OptionError::Invalid(format!("--{name} needs a value")));
        let ip = || -> Result<Ipv4Addr, OptionError> {
            need()?
                .parse()
                .map_err(|_| OptionError::Unsupported(format!("--{name}={}: only IPv4 addresses", value.unwrap_or(""))))
        };
        let int = || -> Result<i64, OptionError> { need()?.parse().map_err(|_| bad(value.unwrap_or(""))) };
        match name {
            "ip_version" => match need()? {
                "ipv4" => {}
                v @ ("ipv6" | "ipv4-mapped-ipv6") => return Err(OptionError::Unsupported(format!("--ip_version={v}"))),
                v => return Err(bad(v)),
            },
            "local_ip" => self.local_ip = ip()?,
            "remote_ip" => self.remote_ip = ip()?,
            "gateway_ip" => self.gateway_ip = ip()?,
            "netmask_ip" => self.netmask = ip()?,
            "bind_port" => self.bind_port = u16::try_from(int()?).map_err(|_| bad("port"))?,
            "connect_port" => self.connect_port = u16::try_from(int()?).map_err(|_| bad("port"))?,
            "tolerance_usecs" => match int()? {
                t if t > 0 => self.tolerance_usecs = t,
                _ => return Err(bad(value.unwrap_or(""))),
            },
            "tolerance_percent" => self.tolerance_percent = need()?.parse().map_err(|_| bad(value.unwrap_or("")))?,
            "tcp_ts_tick_usecs" => match int()? {
                t @ 0..=1_000_000 => self.tcp_ts_tick_usecs = t,
                _ => return Err(bad(value.unwrap_or(""))),
            },
            "tcp_ts_ecr_scaled" => self.tcp_ts_ecr_scaled = true,
            "mss" => self.mss = Some(u16::try_from(int()?).map_err(|_| bad("mss"))?),
            "mtu" => self.mtu = u32::try_from(int()?).map_err(|_| bad("mtu"))?,
            "is_anyip" => self.is_anyip = true,
            "strict_segments" => self.strict_segments = true,
            // Options with no effect on a local run of TCP scripts.
            "send_omit_free" | "verbose" | "debug" | "dry_run" | "speed" | "non_fatal" => {}
            "define" => {
                let (k, v) = need()?.split_once('=').ok_or_else(|| bad("expected NAME=VALUE"))?;
                self.defines.insert(k.to_string(), v.to_string());
            }
            "wire_client" | "wire_server" | "wire_server_ip" | "wire_server_at" | "wire_server_port"
            | "wire_client_dev" | "wire_server_dev" | "so_filename" | "so_flags" | "init_scripts" | "code_command"
            | "code_format" | "code_sockopt" | "psp_udp_port" => {
                return Err(OptionError::Unsupported(format!("--{name}")))
            }
            _ => return Err(OptionError::Invalid(format!("unrecognized option --{name}"))),
        }
        Ok(())
    }

    /// Applies command-line words: `--name=value`, `--name`, `-D NAME=VALUE`, `-DNAME=VALUE`.
    pub fn apply_args(&mut self, args: &[String]) -> Result<(), OptionError> {
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            if let Some(rest) = a.strip_prefix("--") {
                let (name, value) = rest.split_once('=').map_or((rest, None), |(n, v)| (n, Some(v)));
                self.apply(name, value)?;
            } else if let Some(rest) = a.strip_prefix("-D") {
                let def = if rest.is_empty() {
                    i += 1;
                    args.get(i).map(String::as_str).unwrap_or("")
                } else {
                    rest
                };
                self.apply("define", Some(def))?;
            } else {
                return Err(OptionError::Invalid(format!("unexpected argument `{a}`")));
            }
            i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_as_packetdrill_takes_them() {
        let mut c = Config::default();
        let args: Vec<String> = [
            "--tolerance_usecs=7000",
            "--mss=1000",
            "-D",
            "TFO_COOKIE=3021b9d889017eeb",
            "--tcp_ts_tick_usecs=1000",
            "--is_anyip",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        c.apply_args(&args).unwrap();
        assert_eq!(
            (c.tolerance_usecs, c.mss, c.tcp_ts_tick_usecs, c.is_anyip),
            (7000, Some(1000), 1000, true)
        );
        assert_eq!(c.defines["TFO_COOKIE"], "3021b9d889017eeb");
        assert_eq!(c.prefix_len(), 16);
        assert!(matches!(
            c.apply("tolerance_usecs", Some("0")),
            Err(OptionError::Invalid(_))
        ));
        assert!(matches!(c.apply("no_such", None), Err(OptionError::Invalid(_))));
        assert!(matches!(
            c.apply("ip_version", Some("ipv6")),
            Err(OptionError::Unsupported(_))
        ));
    }
}
