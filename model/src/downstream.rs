//! demo-app's default downstream allow-list, as a rule on names: demo-app enforces it when
//! `DOWNSTREAM_ALLOW` is unset, and the local runtime asks it whether a mesh name needs listing.

/// Whether demo-app's default allow-list (no `DOWNSTREAM_ALLOW`) permits `name` on any port: a
/// single label (`blue`, the seed's Service Connect names) or a name under `namespace`
/// (`blue.serviceconnect`), never a special name. Names compare lowercase, without a trailing dot.
pub fn default_allows(name: &str, namespace: Option<&str>) -> bool {
    let name = normalise_name(name);
    !is_special_name(&name)
        && (!name.contains('.') || namespace.is_some_and(|ns| under_namespace(&name, ns)))
}

/// Whether `name` is strictly below `namespace` (`blue.serviceconnect` is below
/// `serviceconnect`, `serviceconnect` itself is not); an empty namespace has nothing below it.
pub fn under_namespace(name: &str, namespace: &str) -> bool {
    let (name, namespace) = (normalise_name(name), normalise_name(namespace));
    !namespace.is_empty()
        && name.len() > namespace.len() + 1
        && name.ends_with(&namespace)
        && name[..name.len() - namespace.len()].ends_with('.')
}

/// Names that point at this machine or at the instance metadata service.
///
/// `instance-data` resolves to 169.254.169.254 inside an EC2 VPC (through the DHCP search domain),
/// so as a single-label name it would otherwise slip through the default rules.
pub fn is_special_name(name: &str) -> bool {
    name == "localhost"
        || name.ends_with(".localhost")
        || name == "instance-data"
        || name.starts_with("instance-data.")
}

/// Lowercase, trimmed, without the trailing dot of a fully qualified name.
pub fn normalise_name(name: &str) -> String {
    let name = name.trim().to_ascii_lowercase();
    name.strip_suffix('.').map(str::to_owned).unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rule() {
        fn check(name: &str, namespace: Option<&str>, expected: bool) {
            assert_eq!(
                default_allows(name, namespace),
                expected,
                "{name} in {namespace:?}"
            );
        }
        check("blue", None, true);
        check("Blue.", None, true);
        check("blue.serviceconnect", None, false);
        check("blue.serviceconnect", Some("serviceconnect"), true);
        check("Blue.ServiceConnect.", Some("serviceconnect."), true);
        check("blue.serviceconnect", Some(""), false);
        check("serviceconnect", Some("serviceconnect"), true); // a single label
        check("x.bserviceconnect", Some("serviceconnect"), false);
        check("blue.other", Some("serviceconnect"), false);
        check("localhost", None, false);
        check("instance-data", Some("serviceconnect"), false);
        check("a.localhost", Some("localhost"), false);
    }
}
