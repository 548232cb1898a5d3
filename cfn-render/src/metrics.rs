//! The catalog of CloudWatch metrics AWS publishes that a rendered template may read: for each
//! metric its namespace, name, every documented dimension set, who publishes it, its unit and
//! useful statistics, and the page that documents it
//!
//! A metric query names one exact dimension set: CloudWatch matches a series only when the query's
//! dimensions are exactly the ones the series was published with, so a query on a set AWS does not
//! publish the metric on matches nothing, and `FILL()` cannot rescue it. `find` is how the renderer's
//! tests (and `deploy`'s verification) tell a published series from one that can never exist.
//!
//! The rows are transcribed from two pages (SPEC §11 records the date they were read):
//! - "Amazon ECS CloudWatch metrics", <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/available-metrics.html>
//!   (archived as `doc_source/cloudwatch-metrics.md` in `awsdocs/amazon-ecs-developer-guide`);
//! - "CloudWatch metrics for your Application Load Balancer",
//!   <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html>.

use std::collections::BTreeSet;
use std::fmt;

/// The namespace of ECS's service metrics and of every Service Connect metric.
pub const ECS_NAMESPACE: &str = "AWS/ECS";
/// The namespace of Application Load Balancer metrics.
pub const APPLICATION_ELB_NAMESPACE: &str = "AWS/ApplicationELB";

/// Who publishes a metric, which also says what its `ServiceName` dimension names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Publisher {
    /// The Service Connect proxy of the tasks that *receive* the traffic (the server):
    /// `DiscoveryName` is the server's discovery name, `ServiceName` the server.
    ServiceConnectInbound,
    /// The Service Connect proxy of the tasks that *send* the traffic (the caller):
    /// `TargetDiscoveryName` is the server's discovery name, `ServiceName` the caller.
    ServiceConnectOutbound,
    /// Amazon ECS itself, for a cluster or a service with running tasks.
    Ecs,
    /// The Application Load Balancer, for itself and its target groups.
    ApplicationElb,
}

impl Publisher {
    /// Who publishes the series, as a phrase (`the caller's Service Connect proxy`).
    pub fn description(self) -> &'static str {
        match self {
            Publisher::ServiceConnectInbound => "the server's Service Connect proxy",
            Publisher::ServiceConnectOutbound => "the caller's Service Connect proxy",
            Publisher::Ecs => "Amazon ECS for a cluster or service with running tasks",
            Publisher::ApplicationElb => "the Application Load Balancer",
        }
    }

    /// What the `ServiceName` dimension names in this publisher's series, if it has one.
    pub fn service_name_is(self) -> Option<&'static str> {
        match self {
            Publisher::ServiceConnectInbound => Some("the server"),
            Publisher::ServiceConnectOutbound => Some("the caller"),
            Publisher::Ecs => Some("the service"),
            Publisher::ApplicationElb => None,
        }
    }
}

/// The unit CloudWatch reports a metric in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    Count,
    Bytes,
    Percent,
    Seconds,
    Milliseconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Bytes => "Bytes",
            Unit::Percent => "Percent",
            Unit::Seconds => "Seconds",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// A statistic as a metric query's `Stat` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Statistic {
    Sum,
    Average,
    Minimum,
    Maximum,
    SampleCount,
    /// Any `pNN.NN` percentile.
    Percentile,
}

impl Statistic {
    pub fn as_str(self) -> &'static str {
        match self {
            Statistic::Sum => "Sum",
            Statistic::Average => "Average",
            Statistic::Minimum => "Minimum",
            Statistic::Maximum => "Maximum",
            Statistic::SampleCount => "SampleCount",
            Statistic::Percentile => "pNN",
        }
    }
}

/// The documentation page a catalog entry is transcribed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source {
    pub title: &'static str,
    pub url: &'static str,
}

/// "Amazon ECS CloudWatch metrics" (AmazonECS developer guide, available-metrics).
pub const ECS_METRICS_PAGE: Source = Source {
    title: "Amazon ECS CloudWatch metrics",
    url: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/available-metrics.html",
};

/// "CloudWatch metrics for your Application Load Balancer" (ELB user guide).
pub const ALB_METRICS_PAGE: Source = Source {
    title: "CloudWatch metrics for your Application Load Balancer",
    url: "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html",
};

/// One metric AWS publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricEntry {
    pub namespace: &'static str,
    pub name: &'static str,
    /// Every documented dimension set, each an unordered set of dimension names.
    pub dimension_sets: &'static [&'static [&'static str]],
    pub publisher: Publisher,
    pub unit: Unit,
    /// The statistics the documentation calls useful.
    pub statistics: &'static [Statistic],
    pub source: Source,
}

impl MetricEntry {
    /// Whether the metric is published on exactly these dimension names (in any order; a name
    /// given twice matches no set).
    pub fn is_published_on(&self, dimension_names: &[&str]) -> bool {
        let Some(wanted) = name_set(dimension_names) else {
            return false;
        };
        self.dimension_sets
            .iter()
            .any(|set| name_set(set).is_some_and(|s| s == wanted))
    }

    /// Who publishes this metric, as `verify` prints it: `published by the caller's Service
    /// Connect proxy (ServiceName is the caller)`.
    pub fn published_by(&self) -> String {
        match self.publisher.service_name_is() {
            Some(who)
                if self
                    .dimension_sets
                    .iter()
                    .any(|s| s.contains(&"ServiceName")) =>
            {
                format!(
                    "published by {} (ServiceName is {who})",
                    self.publisher.description()
                )
            }
            _ => format!("published by {}", self.publisher.description()),
        }
    }

    /// The documented dimension sets as text: `{TargetDiscoveryName} or {ClusterName,
    /// ServiceName, TargetDiscoveryName}` (names sorted within a set).
    pub fn dimension_sets_text(&self) -> String {
        self.dimension_sets
            .iter()
            .map(|s| DimensionNames(s).to_string())
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// A dimension name list shown as a set, `{ClusterName, ServiceName}` (sorted, so the order a
/// query lists them in does not matter).
#[derive(Debug, Clone, Copy)]
pub struct DimensionNames<'a>(pub &'a [&'a str]);

impl fmt::Display for DimensionNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = self.0.to_vec();
        names.sort_unstable();
        write!(f, "{{{}}}", names.join(", "))
    }
}

/// The names as a set; `None` when one repeats (CloudWatch has no series with a repeated name).
fn name_set<'a>(names: &[&'a str]) -> Option<BTreeSet<&'a str>> {
    let set: BTreeSet<&str> = names.iter().copied().collect();
    (set.len() == names.len()).then_some(set)
}

/// The catalog entry for `metric` in `namespace` published on exactly `dimension_names` (any
/// order), or `None` when AWS does not publish that series.
pub fn find(
    namespace: &str,
    metric: &str,
    dimension_names: &[&str],
) -> Option<&'static MetricEntry> {
    lookup(namespace, metric).filter(|e| e.is_published_on(dimension_names))
}

/// The catalog entry for `metric` in `namespace`, whatever the dimensions (for messages that
/// name the sets it is published on).
pub fn lookup(namespace: &str, metric: &str) -> Option<&'static MetricEntry> {
    CATALOG
        .iter()
        .find(|e| e.namespace == namespace && e.name == metric)
}

// Service Connect's two families (ECS page, the Service Connect rows of the table): the server's
// proxy publishes on `DiscoveryName` or `DiscoveryName, ServiceName, ClusterName` with ServiceName
// the server; the caller's proxy on `TargetDiscoveryName` or `TargetDiscoveryName, ServiceName,
// ClusterName` with ServiceName the caller.
const SC_INBOUND: &[&[&str]] = &[
    &["DiscoveryName"],
    &["DiscoveryName", "ServiceName", "ClusterName"],
];
const SC_OUTBOUND: &[&[&str]] = &[
    &["TargetDiscoveryName"],
    &["TargetDiscoveryName", "ServiceName", "ClusterName"],
];
// ECS service-level utilization: a cluster's (EC2 capacity only) or one service's.
const ECS_SERVICE: &[&[&str]] = &[&["ClusterName"], &["ClusterName", "ServiceName"]];
const ECS_CLUSTER: &[&[&str]] = &[&["ClusterName"]];
// ALB load balancer metrics, per load balancer or per load balancer and zone.
const ALB_LB: &[&[&str]] = &[&["LoadBalancer"], &["AvailabilityZone", "LoadBalancer"]];
// ALB metrics also published per target group.
const ALB_LB_AND_TG: &[&[&str]] = &[
    &["LoadBalancer"],
    &["AvailabilityZone", "LoadBalancer"],
    &["TargetGroup", "LoadBalancer"],
    &["TargetGroup", "AvailabilityZone", "LoadBalancer"],
];
// ALB target health, only per target group.
const ALB_TG: &[&[&str]] = &[
    &["TargetGroup", "LoadBalancer"],
    &["TargetGroup", "AvailabilityZone", "LoadBalancer"],
];

const COUNT_STATS: &[Statistic] = &[
    Statistic::Average,
    Statistic::Minimum,
    Statistic::Maximum,
    Statistic::Sum,
];
const UTILIZATION_STATS: &[Statistic] =
    &[Statistic::Average, Statistic::Minimum, Statistic::Maximum];
const SUM: &[Statistic] = &[Statistic::Sum];

const fn ecs(
    name: &'static str,
    dimension_sets: &'static [&'static [&'static str]],
    publisher: Publisher,
    unit: Unit,
    statistics: &'static [Statistic],
) -> MetricEntry {
    MetricEntry {
        namespace: ECS_NAMESPACE,
        name,
        dimension_sets,
        publisher,
        unit,
        statistics,
        source: ECS_METRICS_PAGE,
    }
}

const fn alb(
    name: &'static str,
    dimension_sets: &'static [&'static [&'static str]],
    unit: Unit,
    statistics: &'static [Statistic],
) -> MetricEntry {
    MetricEntry {
        namespace: APPLICATION_ELB_NAMESPACE,
        name,
        dimension_sets,
        publisher: Publisher::ApplicationElb,
        unit,
        statistics,
        source: ALB_METRICS_PAGE,
    }
}

use Publisher::{Ecs, ServiceConnectInbound as Inbound, ServiceConnectOutbound as Outbound};

/// Every metric in the catalog.
pub static CATALOG: &[MetricEntry] = &[
    // --- "Amazon ECS CloudWatch metrics" (ECS_METRICS_PAGE): service and cluster metrics.
    ecs(
        "CPUUtilization",
        ECS_SERVICE,
        Ecs,
        Unit::Percent,
        UTILIZATION_STATS,
    ),
    ecs(
        "MemoryUtilization",
        ECS_SERVICE,
        Ecs,
        Unit::Percent,
        UTILIZATION_STATS,
    ),
    ecs(
        "CPUReservation",
        ECS_CLUSTER,
        Ecs,
        Unit::Percent,
        UTILIZATION_STATS,
    ),
    ecs(
        "MemoryReservation",
        ECS_CLUSTER,
        Ecs,
        Unit::Percent,
        UTILIZATION_STATS,
    ),
    ecs(
        "GPUReservation",
        ECS_CLUSTER,
        Ecs,
        Unit::Percent,
        UTILIZATION_STATS,
    ),
    // --- "Amazon ECS CloudWatch metrics" (ECS_METRICS_PAGE): Service Connect, inbound (the
    // server's proxy, traffic the server receives).
    ecs(
        "ActiveConnectionCount",
        SC_INBOUND,
        Inbound,
        Unit::Count,
        COUNT_STATS,
    ),
    ecs(
        "NewConnectionCount",
        SC_INBOUND,
        Inbound,
        Unit::Count,
        COUNT_STATS,
    ),
    ecs(
        "ProcessedBytes",
        SC_INBOUND,
        Inbound,
        Unit::Bytes,
        COUNT_STATS,
    ),
    // Only for ports with an HTTP `appProtocol` (http, http2, grpc).
    ecs(
        "RequestCount",
        SC_INBOUND,
        Inbound,
        Unit::Count,
        COUNT_STATS,
    ),
    ecs(
        "GrpcRequestCount",
        SC_INBOUND,
        Inbound,
        Unit::Count,
        COUNT_STATS,
    ),
    // TLS between proxies: the server's proxy counts handshakes its clients failed.
    ecs(
        "ClientTLSNegotiationErrorCount",
        SC_INBOUND,
        Inbound,
        Unit::Count,
        COUNT_STATS,
    ),
    // --- "Amazon ECS CloudWatch metrics" (ECS_METRICS_PAGE): Service Connect, outbound (the
    // caller's proxy, answers the target's tasks gave it). The response codes count only what
    // passed through the proxies, and only for HTTP-aware ports.
    ecs(
        "HTTPCode_Target_2XX_Count",
        SC_OUTBOUND,
        Outbound,
        Unit::Count,
        COUNT_STATS,
    ),
    ecs(
        "HTTPCode_Target_3XX_Count",
        SC_OUTBOUND,
        Outbound,
        Unit::Count,
        COUNT_STATS,
    ),
    ecs(
        "HTTPCode_Target_4XX_Count",
        SC_OUTBOUND,
        Outbound,
        Unit::Count,
        COUNT_STATS,
    ),
    ecs(
        "HTTPCode_Target_5XX_Count",
        SC_OUTBOUND,
        Outbound,
        Unit::Count,
        COUNT_STATS,
    ),
    ecs(
        "RequestCountPerTarget",
        SC_OUTBOUND,
        Outbound,
        Unit::Count,
        &[Statistic::Average],
    ),
    ecs(
        "TargetProcessedBytes",
        SC_OUTBOUND,
        Outbound,
        Unit::Bytes,
        COUNT_STATS,
    ),
    ecs(
        "TargetResponseTime",
        SC_OUTBOUND,
        Outbound,
        Unit::Milliseconds,
        UTILIZATION_STATS,
    ),
    // TLS between proxies: the caller's proxy counts handshakes it failed with the target.
    ecs(
        "TargetTLSNegotiationErrorCount",
        SC_OUTBOUND,
        Outbound,
        Unit::Count,
        COUNT_STATS,
    ),
    // --- "CloudWatch metrics for your Application Load Balancer" (ALB_METRICS_PAGE): the load
    // balancer.
    alb("ActiveConnectionCount", ALB_LB, Unit::Count, SUM),
    alb("NewConnectionCount", ALB_LB, Unit::Count, SUM),
    alb("RejectedConnectionCount", ALB_LB, Unit::Count, SUM),
    alb("ProcessedBytes", ALB_LB, Unit::Bytes, SUM),
    alb("RequestCount", ALB_LB_AND_TG, Unit::Count, SUM),
    alb("HTTPCode_ELB_3XX_Count", ALB_LB, Unit::Count, SUM),
    alb("HTTPCode_ELB_4XX_Count", ALB_LB, Unit::Count, SUM),
    alb("HTTPCode_ELB_5XX_Count", ALB_LB, Unit::Count, SUM),
    alb("HTTPCode_ELB_500_Count", ALB_LB, Unit::Count, SUM),
    alb("HTTPCode_ELB_502_Count", ALB_LB, Unit::Count, SUM),
    alb("HTTPCode_ELB_503_Count", ALB_LB, Unit::Count, SUM),
    alb("HTTPCode_ELB_504_Count", ALB_LB, Unit::Count, SUM),
    // The gateway's listener answers unmatched paths with a fixed 404.
    alb("HTTP_Fixed_Response_Count", ALB_LB, Unit::Count, SUM),
    // --- "CloudWatch metrics for your Application Load Balancer" (ALB_METRICS_PAGE): targets.
    alb("HTTPCode_Target_2XX_Count", ALB_LB_AND_TG, Unit::Count, SUM),
    alb("HTTPCode_Target_3XX_Count", ALB_LB_AND_TG, Unit::Count, SUM),
    alb("HTTPCode_Target_4XX_Count", ALB_LB_AND_TG, Unit::Count, SUM),
    alb("HTTPCode_Target_5XX_Count", ALB_LB_AND_TG, Unit::Count, SUM),
    alb(
        "TargetConnectionErrorCount",
        ALB_LB_AND_TG,
        Unit::Count,
        SUM,
    ),
    alb(
        "TargetResponseTime",
        ALB_LB_AND_TG,
        Unit::Seconds,
        &[Statistic::Average, Statistic::Percentile],
    ),
    // Only `Sum` is valid, and it is the per-target average.
    alb(
        "RequestCountPerTarget",
        &[
            &["TargetGroup"],
            &["TargetGroup", "AvailabilityZone", "LoadBalancer"],
        ],
        Unit::Count,
        SUM,
    ),
    alb("HealthyHostCount", ALB_TG, Unit::Count, UTILIZATION_STATS),
    alb("UnHealthyHostCount", ALB_TG, Unit::Count, UTILIZATION_STATS),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_connect_families_are_told_apart_by_their_dimension_names() {
        let inbound = ["ClusterName", "ServiceName", "DiscoveryName"];
        let outbound = ["ServiceName", "TargetDiscoveryName", "ClusterName"];
        assert!(find(ECS_NAMESPACE, "RequestCount", &inbound).is_some());
        assert!(find(ECS_NAMESPACE, "RequestCount", &["DiscoveryName"]).is_some());
        assert!(find(ECS_NAMESPACE, "RequestCount", &outbound).is_none());
        assert!(find(ECS_NAMESPACE, "RequestCount", &["TargetDiscoveryName"]).is_none());
        for code in ["2XX", "3XX", "4XX", "5XX"] {
            let name = format!("HTTPCode_Target_{code}_Count");
            let e = find(ECS_NAMESPACE, &name, &outbound).expect(&name);
            assert_eq!(e.publisher, Publisher::ServiceConnectOutbound);
            assert!(find(ECS_NAMESPACE, &name, &["TargetDiscoveryName"]).is_some());
            assert!(find(ECS_NAMESPACE, &name, &inbound).is_none());
            // A subset of a documented set is not a documented set.
            assert!(
                find(
                    ECS_NAMESPACE,
                    &name,
                    &["ClusterName", "TargetDiscoveryName"]
                )
                .is_none()
            );
        }
        // A repeated name matches nothing; another namespace's metric of the same name differs.
        assert!(
            find(
                ECS_NAMESPACE,
                "RequestCount",
                &["DiscoveryName", "DiscoveryName"]
            )
            .is_none()
        );
        assert!(find(APPLICATION_ELB_NAMESPACE, "RequestCount", &["LoadBalancer"]).is_some());
        assert!(find(ECS_NAMESPACE, "RequestCount", &["LoadBalancer"]).is_none());
        assert!(find("AWS/Nope", "RequestCount", &["DiscoveryName"]).is_none());
    }

    #[test]
    fn publishers_are_described_for_people() {
        let out = lookup(ECS_NAMESPACE, "HTTPCode_Target_5XX_Count").unwrap();
        assert_eq!(
            out.published_by(),
            "published by the caller's Service Connect proxy (ServiceName is the caller)"
        );
        assert_eq!(
            out.dimension_sets_text(),
            "{TargetDiscoveryName} or {ClusterName, ServiceName, TargetDiscoveryName}"
        );
        let inbound = lookup(ECS_NAMESPACE, "RequestCount").unwrap();
        assert_eq!(
            inbound.published_by(),
            "published by the server's Service Connect proxy (ServiceName is the server)"
        );
        let alb = lookup(APPLICATION_ELB_NAMESPACE, "HTTPCode_ELB_5XX_Count").unwrap();
        assert_eq!(
            alb.published_by(),
            "published by the Application Load Balancer"
        );
        let cluster = lookup(ECS_NAMESPACE, "CPUReservation").unwrap();
        assert_eq!(
            cluster.published_by(),
            "published by Amazon ECS for a cluster or service with running tasks"
        );
    }

    #[test]
    fn catalog_is_well_formed() {
        let mut seen = BTreeSet::new();
        for e in CATALOG {
            assert!(
                seen.insert((e.namespace, e.name)),
                "{} {} listed twice",
                e.namespace,
                e.name
            );
            assert!(!e.dimension_sets.is_empty(), "{}", e.name);
            assert!(!e.statistics.is_empty(), "{}", e.name);
            for set in e.dimension_sets {
                assert!(name_set(set).is_some(), "{} repeats a dimension", e.name);
            }
            let expected = match e.namespace {
                ECS_NAMESPACE => ECS_METRICS_PAGE,
                APPLICATION_ELB_NAMESPACE => ALB_METRICS_PAGE,
                other => panic!("{other} has no source page"),
            };
            assert_eq!(e.source, expected, "{}", e.name);
        }
        // Every Service Connect metric of the ECS table is here.
        for name in [
            "ActiveConnectionCount",
            "NewConnectionCount",
            "ProcessedBytes",
            "RequestCount",
            "GrpcRequestCount",
            "HTTPCode_Target_2XX_Count",
            "HTTPCode_Target_3XX_Count",
            "HTTPCode_Target_4XX_Count",
            "HTTPCode_Target_5XX_Count",
            "RequestCountPerTarget",
            "TargetProcessedBytes",
            "TargetResponseTime",
            "ClientTLSNegotiationErrorCount",
            "TargetTLSNegotiationErrorCount",
        ] {
            assert!(lookup(ECS_NAMESPACE, name).is_some(), "{name}");
        }
    }
}
