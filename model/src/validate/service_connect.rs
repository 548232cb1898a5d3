//! Service Connect: each service's registration (discovery name, client alias, test traffic
//! header) and the names and aliases that must be unique across the namespace

use super::validator::Validator;
use crate::rules;
use crate::spec::*;

impl Validator {
    /// `services[i].serviceConnect` (`p` is the service's path), which needs a Service Connect
    /// namespace.
    pub(super) fn service_connect(&mut self, p: &str, svc: &ServiceSpec, stack: &StackSpec) {
        match (&svc.service_connect, &stack.cluster.discovery) {
            (Some(sc), DiscoverySpec::ServiceConnect { .. }) => {
                let sp = format!("{p}.serviceConnect");
                self.check(
                    format!("{sp}.discoveryName"),
                    rules::service_connect_name(&sc.discovery_name),
                );
                self.check(
                    format!("{sp}.clientAliasPort"),
                    rules::port(sc.client_alias_port),
                );
                if let Some(dns) = &sc.dns_name {
                    self.check(format!("{sp}.dnsName"), rules::dns_name(dns));
                }
                if let Some(t) = &sc.test_traffic {
                    let tp = format!("{sp}.testTraffic");
                    self.check(format!("{tp}.header"), rules::http_header_name(&t.header));
                    self.check(format!("{tp}.value"), rules::http_header_value(&t.value));
                }
            }
            (Some(_), DiscoverySpec::PrivateDns { .. }) => self.err(
                format!("{p}.serviceConnect"),
                "Service Connect needs cluster.discovery of kind serviceConnect",
            ),
            (None, _) => {}
        }
    }

    /// Discovery names and client aliases are the namespace's: two services cannot share one.
    pub(super) fn service_connect_names(&mut self, s: &StackSpec) {
        self.unique(
            "Service Connect discovery name",
            s.services.iter().enumerate().filter_map(|(i, x)| {
                x.service_connect.as_ref().map(|sc| {
                    (
                        format!("services[{i}].serviceConnect.discoveryName"),
                        sc.discovery_name.as_str(),
                    )
                })
            }),
        );
        let aliases: Vec<(String, String)> = s
            .services
            .iter()
            .enumerate()
            .filter_map(|(i, x)| {
                let sc = x.service_connect.as_ref()?;
                // A duplicate discovery name is reported once, at the discovery name.
                let repeats_discovery = s.services[..i].iter().any(|earlier| {
                    earlier.service_connect.as_ref().map(|e| &e.discovery_name)
                        == Some(&sc.discovery_name)
                });
                if sc.dns_name.is_none() && repeats_discovery {
                    return None;
                }
                let dns = sc.dns_name.clone().unwrap_or_else(|| {
                    format!("{}.{}", sc.discovery_name, s.cluster.discovery.namespace())
                });
                Some((
                    format!("services[{i}].serviceConnect"),
                    format!("{dns}:{}", sc.client_alias_port),
                ))
            })
            .collect();
        self.unique(
            "Service Connect client alias",
            aliases.iter().map(|(p, a)| (p.clone(), a.as_str())),
        );
    }
}
