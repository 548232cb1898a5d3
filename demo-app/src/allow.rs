//! Downstream allow-list: which `GET /downstream/{target}` targets the service may fetch.
//!
//! The seed fetched any host at all (an SSRF hole). Here a target is parsed the way the HTTP
//! client will parse it (WHATWG URL rules, so `2130706433` and `0x7f.1` are IP literals, not
//! names), then matched against rules. IP literals, `localhost` and the cloud metadata names are
//! only reachable through a rule that names them exactly, never through a wildcard or the defaults.
//! Where an allowed name resolves to is checked separately, when connecting ([`crate::guard`]).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

pub use model::downstream::is_special_name;
use model::downstream::{default_allows, normalise_name, under_namespace};
use url::{Host, Url};

/// Longest target accepted: a DNS name (253) plus a port, with slack for brackets.
const MAX_TARGET_LEN: usize = 270;

/// A parsed, normalised downstream target (`blue`, `blue.serviceconnect:8080`, `127.0.0.1:3000`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    host: TargetHost,
    port: u16,
    url: Url,
}

/// The host part of a [`Target`] after URL normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetHost {
    /// A DNS name: lowercase, without a trailing dot.
    Name(String),
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
}

/// Why a string is not a usable downstream target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("downstream target is empty")]
    Empty,
    #[error("downstream target is too long")]
    TooLong,
    #[error("downstream target contains a character that is not allowed in host[:port]")]
    BadCharacter,
    #[error("downstream target is not a valid host[:port]")]
    Invalid,
}

/// Why an allow-list entry could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid allow-list entry {entry:?}: {reason}")]
pub struct AllowListError {
    /// The entry as written.
    pub entry: String,
    /// Short reason.
    pub reason: &'static str,
}

impl Target {
    /// Parse `host[:port]` as it appears in `/downstream/{target}`.
    ///
    /// Only host syntax is accepted: no scheme, user info, path, query or fragment, so the URL the
    /// client fetches is always `http://{host}[:port]/`.
    pub fn parse(raw: &str) -> Result<Self, TargetError> {
        if raw.is_empty() {
            return Err(TargetError::Empty);
        }
        if raw.len() > MAX_TARGET_LEN {
            return Err(TargetError::TooLong);
        }
        // Restricting the alphabet up front rules out `@` (user info), `/` `\` `?` `#` (path,
        // query, fragment) and percent-escapes before the URL parser can interpret them.
        if !raw.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        }) {
            return Err(TargetError::BadCharacter);
        }
        let url = Url::parse(&format!("http://{raw}/")).map_err(|_| TargetError::Invalid)?;
        if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
            return Err(TargetError::Invalid);
        }
        let host = match url.host() {
            Some(Host::Domain(name)) => {
                let name = name.strip_suffix('.').unwrap_or(name);
                if name.is_empty() || name.starts_with('.') || name.contains("..") {
                    return Err(TargetError::Invalid);
                }
                TargetHost::Name(name.to_owned())
            }
            Some(Host::Ipv4(ip)) => TargetHost::Ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => TargetHost::Ip(IpAddr::V6(ip)),
            None => return Err(TargetError::Invalid),
        };
        let port = url.port_or_known_default().ok_or(TargetError::Invalid)?;
        Ok(Self { host, port, url })
    }

    /// The normalised host.
    pub fn host(&self) -> &TargetHost {
        &self.host
    }

    /// The effective port (80 when none was given).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL to fetch: `http://{host}[:port]/`.
    pub fn url(&self) -> &Url {
        &self.url
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            TargetHost::Name(name) => write!(f, "{name}:{}", self.port),
            TargetHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            TargetHost::Ip(ip) => write!(f, "{ip}:{}", self.port),
        }
    }
}

/// One allow-list rule. A rule without a port matches every port.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// The default when `DOWNSTREAM_ALLOW` is unset ([`model::downstream::default_allows`]):
    /// single-label names (the seed's Service Connect discovery names) and names under the
    /// service's namespace, on any port.
    ServiceDefault { namespace: Option<String> },
    /// `*`: any ordinary name (never an IP literal or a special name).
    AnyName { port: Option<u16> },
    /// `*.suffix`: names ending in `.suffix` (stored with the leading dot).
    Suffix { suffix: String, port: Option<u16> },
    /// An exact name.
    Name { name: String, port: Option<u16> },
    /// An exact IP literal.
    Ip { ip: IpAddr, port: Option<u16> },
}

/// The set of downstream targets the service may fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    rules: Vec<Rule>,
}

impl AllowList {
    /// The default when `DOWNSTREAM_ALLOW` is unset: single-label names (`blue`) and names under
    /// the service's own namespace (`blue.serviceconnect` for namespace `serviceconnect`).
    pub fn service_default(namespace: Option<&str>) -> Self {
        let namespace = namespace.map(normalise_name).filter(|ns| !ns.is_empty());
        Self {
            rules: vec![Rule::ServiceDefault { namespace }],
        }
    }

    /// An allow-list that permits nothing.
    pub fn deny_all() -> Self {
        Self { rules: Vec::new() }
    }

    /// Parse a comma-separated list of entries: `name`, `*.suffix`, `*`, an IPv4 literal, an IPv6
    /// literal (bracketed when followed by a port), each optionally followed by `:port`.
    /// Blank entries are ignored.
    pub fn parse(list: &str) -> Result<Self, AllowListError> {
        let mut rules = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            rules.push(parse_rule(entry)?);
        }
        Ok(Self { rules })
    }

    /// Whether `target` may be fetched.
    pub fn permits(&self, target: &Target) -> bool {
        self.rules.iter().any(|rule| rule_matches(rule, target))
    }

    /// Whether a rule names `name` (on some port) explicitly: an exact entry or a `*.suffix`
    /// entry, the namespace default included. Neither `*` nor the single-label default does: those
    /// admit whatever an `/etc/hosts` alias or a DNS record says. Only explicitly named hosts may
    /// resolve into the Service Connect proxy's loopback range (see [`crate::guard`]).
    pub fn names_explicitly(&self, name: &str) -> bool {
        let name = normalise_name(name);
        self.rules.iter().any(|rule| match rule {
            Rule::Name { name: allowed, .. } => *allowed == name,
            Rule::Suffix { suffix, .. } => !is_special_name(&name) && suffix_matches(&name, suffix),
            Rule::ServiceDefault { namespace } => {
                !is_special_name(&name)
                    && namespace
                        .as_ref()
                        .is_some_and(|ns| under_namespace(&name, ns))
            }
            Rule::AnyName { .. } | Rule::Ip { .. } => false,
        })
    }
}

fn port_matches(rule_port: Option<u16>, port: u16) -> bool {
    rule_port.is_none_or(|p| p == port)
}

/// `name` ends with `suffix` (stored with its leading dot) and is longer than it.
fn suffix_matches(name: &str, suffix: &str) -> bool {
    name.len() > suffix.len() && name.ends_with(suffix)
}

fn rule_matches(rule: &Rule, target: &Target) -> bool {
    match (&target.host, rule) {
        (TargetHost::Ip(ip), Rule::Ip { ip: allowed, port }) => {
            ip == allowed && port_matches(*port, target.port)
        }
        (TargetHost::Ip(_), _) => false,
        (
            TargetHost::Name(name),
            Rule::Name {
                name: allowed,
                port,
            },
        ) => name == allowed && port_matches(*port, target.port),
        // Special names resolve to loopback or the metadata service: wildcards never reach them.
        (TargetHost::Name(name), _) if is_special_name(name) => false,
        (TargetHost::Name(name), Rule::ServiceDefault { namespace }) => {
            default_allows(name, namespace.as_deref())
        }
        (TargetHost::Name(_), Rule::AnyName { port }) => port_matches(*port, target.port),
        (TargetHost::Name(name), Rule::Suffix { suffix, port }) => {
            suffix_matches(name, suffix) && port_matches(*port, target.port)
        }
        (TargetHost::Name(_), Rule::Ip { .. }) => false,
    }
}

fn parse_rule(entry: &str) -> Result<Rule, AllowListError> {
    let err = |reason| AllowListError {
        entry: entry.to_owned(),
        reason,
    };
    // A bare IPv6 literal has colons of its own, so try it before splitting off a port.
    if let Ok(ip) = entry.parse::<Ipv6Addr>() {
        return Ok(Rule::Ip {
            ip: IpAddr::V6(ip),
            port: None,
        });
    }
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or_else(|| err("unclosed '['"))?;
        let port = match after {
            "" => None,
            p => Some(
                parse_port(
                    p.strip_prefix(':')
                        .ok_or_else(|| err("expected ':port' after ']'"))?,
                )
                .ok_or_else(|| err("invalid port"))?,
            ),
        };
        let ip: Ipv6Addr = inside.parse().map_err(|_| err("invalid IPv6 address"))?;
        return Ok(Rule::Ip {
            ip: IpAddr::V6(ip),
            port,
        });
    } else {
        match entry.rsplit_once(':') {
            Some((host, port)) => (
                host,
                Some(parse_port(port).ok_or_else(|| err("invalid port"))?),
            ),
            None => (entry, None),
        }
    };
    if host == "*" {
        return Ok(Rule::AnyName { port });
    }
    if let Some(suffix) = host.strip_prefix("*.") {
        let suffix = normalise_name(suffix);
        if suffix.is_empty() || !suffix.bytes().all(is_name_byte) {
            return Err(err("invalid wildcard suffix"));
        }
        return Ok(Rule::Suffix {
            suffix: format!(".{suffix}"),
            port,
        });
    }
    if host.contains('*') {
        return Err(err("'*' is only allowed as '*' or a leading '*.'"));
    }
    // Normalise the way targets are normalised, so `127.1` in the list means 127.0.0.1 too.
    let target = Target::parse(host).map_err(|_| err("not a host name or IP address"))?;
    Ok(match target.host {
        TargetHost::Ip(ip) => Rule::Ip { ip, port },
        TargetHost::Name(name) => Rule::Name { name, port },
    })
}

fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|p| *p != 0)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    /// Whether `list` (None: the defaults for `namespace`) permits `target`.
    fn check(list: Option<&str>, namespace: Option<&str>, target: &str) -> bool {
        let allow = match list {
            Some(l) => AllowList::parse(l).expect("allow-list parses"),
            None => AllowList::service_default(namespace),
        };
        let target = Target::parse(target).expect("target parses");
        allow.permits(&target)
    }

    #[test]
    fn default_allows_single_label_names_on_any_port() {
        assert!(check(None, None, "blue"));
        assert!(check(None, None, "blue:8080"));
        assert!(check(None, None, "BLUE"));
        assert!(check(None, None, "blue."));
        assert!(!check(None, None, "blue.serviceconnect"));
        assert!(!check(None, None, "example.com"));
    }

    #[test]
    fn default_allows_own_namespace_only() {
        assert!(check(None, Some("serviceconnect"), "blue.serviceconnect"));
        assert!(check(
            None,
            Some("ServiceConnect"),
            "blue.serviceconnect:80"
        ));
        assert!(check(None, Some("serviceconnect"), "a.b.serviceconnect"));
        assert!(!check(None, Some("serviceconnect"), "blue.appmesh"));
        assert!(!check(
            None,
            Some("serviceconnect"),
            "blue.evilserviceconnect"
        ));
        assert!(!check(
            None,
            Some("serviceconnect"),
            "blue.serviceconnect.evil.com"
        ));
    }

    #[test]
    fn default_refuses_ip_literals_in_every_spelling() {
        for t in [
            "127.0.0.1",
            "127.0.0.1:3000",
            "10.0.0.5",
            "2130706433",
            "0x7f.1",
            "127.1",
            "0177.0.0.1",
            "[::1]",
            "[::ffff:127.0.0.1]",
            "169.254.169.254",
            "169.254.170.2",
            "[fd00:ec2::254]",
        ] {
            assert!(
                !check(None, Some("serviceconnect"), t),
                "{t} must be refused"
            );
        }
    }

    #[test]
    fn special_names_need_an_exact_entry() {
        assert!(!check(None, None, "localhost"));
        assert!(!check(None, None, "localhost:3000"));
        assert!(!check(None, None, "instance-data"));
        assert!(!check(Some("*"), None, "localhost"));
        assert!(!check(Some("*.localhost"), None, "foo.localhost"));
        assert!(!check(
            Some("*.ec2.internal"),
            None,
            "instance-data.ec2.internal"
        ));
        assert!(check(Some("localhost"), None, "localhost:3000"));
        assert!(check(Some("localhost:3000"), None, "localhost:3000"));
        assert!(!check(Some("localhost:3000"), None, "localhost:3001"));
    }

    #[test]
    fn explicit_list_replaces_the_defaults() {
        assert!(!check(Some("green"), None, "blue"));
        assert!(check(Some("green, blue"), None, "blue"));
        assert!(check(Some("*"), None, "anything.example"));
        assert!(!check(Some("*"), None, "10.0.0.1"));
    }

    #[test]
    fn suffix_patterns_match_subdomains_not_the_bare_suffix() {
        assert!(check(Some("*.appmesh"), None, "blue.appmesh"));
        assert!(check(Some("*.AppMesh."), None, "x.y.appmesh"));
        assert!(!check(Some("*.appmesh"), None, "appmesh"));
        assert!(!check(Some("*.appmesh"), None, "blueappmesh"));
    }

    #[test]
    fn ports_restrict_when_given() {
        assert!(check(Some("*.appmesh:80"), None, "blue.appmesh"));
        assert!(check(Some("*.appmesh:80"), None, "blue.appmesh:80"));
        assert!(!check(Some("*.appmesh:80"), None, "blue.appmesh:8080"));
        assert!(check(Some("blue:8080"), None, "blue:8080"));
        assert!(!check(Some("blue:8080"), None, "blue"));
        assert!(check(Some("*:9000"), None, "green:9000"));
        assert!(!check(Some("*:9000"), None, "green:9001"));
    }

    #[test]
    fn explicit_ip_entries() {
        assert!(check(Some("127.0.0.1"), None, "127.0.0.1:4321"));
        assert!(check(Some("127.0.0.1:4321"), None, "127.0.0.1:4321"));
        assert!(!check(Some("127.0.0.1:4321"), None, "127.0.0.1:4322"));
        // Numeric spellings normalise to the same address as the entry.
        assert!(check(Some("127.0.0.1"), None, "2130706433"));
        assert!(check(Some("169.254.169.254"), None, "169.254.169.254"));
        assert!(check(Some("::1"), None, "[::1]:80"));
        assert!(check(Some("[::1]:8080"), None, "[::1]:8080"));
        assert!(!check(Some("[::1]:8080"), None, "[::1]"));
        assert!(check(Some("fd00:ec2::254"), None, "[fd00:ec2::254]"));
        // A name entry never admits an address and vice versa.
        assert!(!check(Some("127.0.0.1"), None, "localhost"));
    }

    #[test]
    fn malformed_targets_are_rejected() {
        for t in [
            "",
            "a/b",
            "a@b",
            "user:pw@blue",
            "blue?x",
            "blue#x",
            "blue\\x",
            "%62lue",
            "blue:99999",
            "blue:port",
            "[::1",
            "a b",
            "..",
            ".blue",
        ] {
            assert!(Target::parse(t).is_err(), "{t:?} must be rejected");
        }
    }

    #[test]
    fn target_url_is_root_of_host() {
        let t = Target::parse("Blue.ServiceConnect").unwrap();
        assert_eq!(t.url().as_str(), "http://blue.serviceconnect/");
        assert_eq!(t.port(), 80);
        let t = Target::parse("127.0.0.1:3000").unwrap();
        assert_eq!(t.url().as_str(), "http://127.0.0.1:3000/");
        assert_eq!(t.host(), &TargetHost::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }

    #[test]
    fn malformed_entries_are_errors() {
        for e in [
            "*.",
            "a*b",
            "blue:",
            "blue:0",
            "blue:70000",
            "[::1",
            "[::1]x",
            "b/c",
        ] {
            assert!(AllowList::parse(e).is_err(), "{e:?} must be rejected");
        }
        assert_eq!(AllowList::parse(" , ,").unwrap(), AllowList::deny_all());
    }

    #[test]
    fn explicit_names_are_exact_entries_and_suffixes_never_wildcards() {
        let defaults = AllowList::service_default(Some("serviceconnect"));
        assert!(defaults.names_explicitly("blue.serviceconnect"));
        assert!(defaults.names_explicitly("Blue.ServiceConnect."));
        // Allowed by the single-label default, but not named by it.
        assert!(!defaults.names_explicitly("blue"));
        assert!(!defaults.names_explicitly("vm"));
        let list = AllowList::parse("*, *.appmesh:80, router:9000, localhost").unwrap();
        assert!(list.names_explicitly("blue.appmesh"));
        assert!(list.names_explicitly("router"));
        assert!(list.names_explicitly("localhost"));
        assert!(!list.names_explicitly("anything.example"));
        assert!(!list.names_explicitly("appmesh"));
        assert!(
            !AllowList::parse("*.localhost")
                .unwrap()
                .names_explicitly("a.localhost")
        );
    }
}
