//! The destination guard: which addresses a downstream name may connect to once resolved, and
//! the resolver seam the guard resolves through (the system's, or one a test controls).
//!
//! The allow-list decides by name; a name can still resolve anywhere (an `/etc/hosts` alias such
//! as `vm -> 127.0.0.1`, a hostile DNS record). So a direct connection is made only after every
//! resolved address passes [`destination_allowed`]: the task's own loopback, unspecified,
//! link-local and cloud metadata addresses are refused, in every IPv6 spelling of an IPv4
//! address, except the loopback range the ECS Service Connect proxy listens on, and only for names
//! the allow-list names explicitly.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::allow::AllowList;

/// The loopback range ECS Service Connect gives client aliases. The ECS agent writes each alias
/// into the task's `/etc/hosts` (Docker `ExtraHosts`) with an address from the egress "VIP" range
/// the control plane sends with the task, and the task's Service Connect proxy listens there.
/// The ECS guide does not publish the range; the agent's own tests and tasks observed in use
/// show 127.255.0.0/16 (IPv6-enabled tasks also get 2600:f0f0::/96 addresses, which are not in
/// any refused range).
pub const PLATFORM_PROXY_RANGE: (Ipv4Addr, u8) = (Ipv4Addr::new(127, 255, 0, 0), 16);

/// Future returned by [`Resolver::lookup`].
pub type Lookup = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// Turns a host name into addresses. The service uses [`SystemResolver`]; tests inject their own
/// so that no test depends on the machine's `/etc/hosts` or DNS.
pub trait Resolver: Send + Sync + fmt::Debug {
    /// Every address `host` resolves to (a lowercase name without a trailing dot).
    fn lookup(&self, host: String) -> Lookup;
}

/// The operating system's resolver (`getaddrinfo`: `/etc/hosts`, then DNS).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup(&self, host: String) -> Lookup {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// Whether a connection to `ip` may be made for a name; `name_explicit` says the allow-list names
/// it explicitly (an exact entry or a `*.suffix`, the namespace default included).
pub fn destination_allowed(ip: IpAddr, name_explicit: bool) -> bool {
    !is_refused_address(ip) || (name_explicit && in_platform_proxy_range(ip))
}

/// Addresses no downstream name may reach by default: loopback (127.0.0.0/8, ::1), unspecified
/// and "this network" (0.0.0.0/8, ::), link-local (169.254.0.0/16 with the EC2 metadata service
/// 169.254.169.254 and the ECS credentials endpoint 169.254.170.2, fe80::/10) and the EC2 IPv6
/// endpoints (fd00:ec2::/32, metadata at fd00:ec2::254); IPv4 addresses also in their
/// IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) forms.
pub fn is_refused_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_refused_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_refused_v4(v4),
            None => {
                let s = v6.segments();
                v6.is_loopback()
                    || v6.is_unspecified()
                    || (s[0] & 0xffc0) == 0xfe80
                    || (s[0] == 0xfd00 && s[1] == 0x0ec2)
            }
        },
    }
}

/// Whether `ip` is in [`PLATFORM_PROXY_RANGE`] (IPv6 spellings of it included).
pub fn in_platform_proxy_range(ip: IpAddr) -> bool {
    let v4 = match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => v4,
            None => return false,
        },
    };
    let (net, bits) = PLATFORM_PROXY_RANGE;
    let mask = u32::MAX << (32 - u32::from(bits));
    u32::from(v4) & mask == u32::from(net) & mask
}

fn is_refused_v4(ip: Ipv4Addr) -> bool {
    ip.is_loopback() || ip.octets()[0] == 0 || ip.is_link_local()
}

/// The IPv4 address an IPv6 address carries: `::ffff:a.b.c.d`, `::a.b.c.d` (other than `::` and
/// `::1`, which are IPv6's own) and `64:ff9b::a.b.c.d`.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let low = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    let compatible = s[..6].iter().all(|x| *x == 0) && !ip.is_loopback() && !ip.is_unspecified();
    let nat64 = s[0] == 0x0064 && s[1] == 0xff9b && s[2..6].iter().all(|x| *x == 0);
    (compatible || nat64).then_some(low)
}

/// A resolved address the guard refused; surfaces as the same 403 as a name the allow-list
/// refuses, so a refusal tells the caller nothing about the address or port.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {ip}, which downstream calls may not reach")]
pub(crate) struct DestinationRefused {
    host: String,
    ip: IpAddr,
}

/// reqwest's resolver for direct connections: resolves through the injected [`Resolver`] and
/// fails before any socket is opened when an address is refused. Refusing the whole name (rather
/// than dropping the address) keeps a name that mixes a good and a refused address from working
/// by luck of ordering.
#[derive(Debug, Clone)]
pub(crate) struct GuardedResolver {
    pub(crate) inner: Arc<dyn Resolver>,
    pub(crate) allow: AllowList,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        let explicit = self.allow.names_explicitly(&host);
        let lookup = self.inner.lookup(host.clone());
        Box::pin(async move {
            let ips = lookup.await?;
            if let Some(ip) = ips.iter().find(|ip| !destination_allowed(**ip, explicit)) {
                let refused = DestinationRefused { host, ip: *ip };
                return Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: Vec<SocketAddr> = ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `ip` may be reached for a name that is (or is not) explicitly allowed.
    fn check(ip: &str, name_explicit: bool) -> bool {
        destination_allowed(ip.parse().expect("test address parses"), name_explicit)
    }

    #[test]
    fn loopback_unspecified_link_local_and_metadata_are_refused_in_every_spelling() {
        for ip in [
            "127.0.0.1",
            "127.0.1.1",
            "127.255.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "169.254.169.254",
            "169.254.170.2",
            "169.254.1.1",
            "::1",
            "::",
            "fe80::1",
            "febf::1",
            "fd00:ec2::254",
            "fd00:ec2::23",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
        ] {
            assert!(!check(ip, false), "{ip} must be refused");
        }
    }

    #[test]
    fn ordinary_addresses_are_allowed() {
        for ip in [
            "10.0.0.5",
            "172.31.21.40",
            "192.168.1.1",
            "8.8.8.8",
            "2600:f0f0::1",
            "fd00:1::1",
            "fec0::1",
            "::ffff:10.0.0.5",
        ] {
            assert!(check(ip, false), "{ip} must be allowed");
        }
    }

    #[test]
    fn the_service_connect_range_needs_an_explicit_name() {
        for ip in ["127.255.0.1", "127.255.255.254", "::ffff:127.255.0.9"] {
            assert!(check(ip, true), "{ip}");
            assert!(!check(ip, false), "{ip}");
        }
        // Only that range: the rest of loopback and the metadata addresses stay refused.
        for ip in [
            "127.254.255.255",
            "127.0.0.1",
            "::1",
            "169.254.169.254",
            "fd00:ec2::254",
        ] {
            assert!(!check(ip, true), "{ip}");
        }
    }
}
