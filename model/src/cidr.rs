//! IPv4 CIDR blocks: parsing, and splitting a VPC block into equal subnets

use core::fmt;
use core::net::Ipv4Addr;

/// A parsed IPv4 CIDR block whose host bits are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Cidr {
    /// Parses `a.b.c.d/n`; the error says what is wrong in words a user can act on.
    pub fn parse(text: &str) -> Result<Self, String> {
        let shown = crate::rules::quote(text);
        let (addr, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("{shown} is not a CIDR block: expected a.b.c.d/n"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| {
            format!(
                "{shown} is not a CIDR block: {} is not an IPv4 address",
                crate::rules::quote(addr)
            )
        })?;
        let prefix: u8 =
            prefix.parse().ok().filter(|p| *p <= 32).ok_or_else(|| {
                format!("{shown} is not a CIDR block: prefix length must be 0 to 32")
            })?;
        let cidr = Ipv4Cidr { addr, prefix };
        if cidr.network() != addr {
            return Err(format!(
                "{shown} has host bits set: did you mean `{}/{prefix}`?",
                cidr.network()
            ));
        }
        Ok(cidr)
    }

    pub fn prefix(self) -> u8 {
        self.prefix
    }

    pub fn addr(self) -> Ipv4Addr {
        self.addr
    }

    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// Splits the block into `count` equal subnets (rounded up to a power of two), in order.
    /// Returns `None` when the subnets would be smaller than `/max_prefix`.
    pub fn split(self, count: u32, max_prefix: u8) -> Option<Vec<Ipv4Cidr>> {
        let bits = u8::try_from(count.max(1).next_power_of_two().trailing_zeros()).ok()?;
        let prefix = self.prefix.checked_add(bits).filter(|p| *p <= max_prefix)?;
        let size = 1u64 << (32 - u32::from(prefix));
        let base = u64::from(u32::from(self.addr));
        (0..u64::from(count))
            .map(|i| {
                u32::try_from(base + i * size).ok().map(|a| Ipv4Cidr {
                    addr: Ipv4Addr::from(a),
                    prefix,
                })
            })
            .collect()
    }
}

/// Why a text is not an IPv4 CIDR block, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CidrError(String);

impl core::str::FromStr for Ipv4Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Ipv4Cidr, CidrError> {
        Ipv4Cidr::parse(text).map_err(CidrError)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<&str, &str>) {
        let got = Ipv4Cidr::parse(input).map(|c| c.to_string());
        assert_eq!(got.as_deref().map_err(String::as_str), expected, "{input}");
    }

    #[test]
    fn from_str_is_parse() {
        assert_eq!(
            "10.0.0.0/8".parse::<Ipv4Cidr>().ok(),
            Ipv4Cidr::parse("10.0.0.0/8").ok()
        );
        let err = "10.0.0.1/8".parse::<Ipv4Cidr>().unwrap_err();
        assert_eq!(err.to_string(), Ipv4Cidr::parse("10.0.0.1/8").unwrap_err());
    }

    #[test]
    fn parses_and_rejects() {
        check("10.0.0.0/16", Ok("10.0.0.0/16"));
        check(
            "10.0.0.0",
            Err("`10.0.0.0` is not a CIDR block: expected a.b.c.d/n"),
        );
        check(
            "10.0.0.300/16",
            Err("`10.0.0.300/16` is not a CIDR block: `10.0.0.300` is not an IPv4 address"),
        );
        check(
            "10.0.0.0/33",
            Err("`10.0.0.0/33` is not a CIDR block: prefix length must be 0 to 32"),
        );
        check(
            "10.0.1.0/16",
            Err("`10.0.1.0/16` has host bits set: did you mean `10.0.0.0/16`?"),
        );
    }

    #[test]
    fn splits_evenly() {
        let vpc = Ipv4Cidr::parse("10.0.0.0/16").unwrap();
        let subnets: Vec<String> = vpc
            .split(3, 28)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(subnets, ["10.0.0.0/18", "10.0.64.0/18", "10.0.128.0/18"]);
        assert!(
            Ipv4Cidr::parse("10.0.0.0/27")
                .unwrap()
                .split(4, 28)
                .is_none()
        );
    }
}
