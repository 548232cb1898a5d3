//! The metric series a rendered template reads (every CloudWatch alarm's metric queries and any
//! dashboard's), as typed data, and their check against the catalog of what AWS publishes
//!
//! `deploy` reuses [`metric_series`] to know which series to look up with `ListMetrics` after a
//! deploy; the renderer's tests use [`unpublished`] to refuse a query no series can ever answer.

use std::collections::BTreeMap;
use std::fmt;

use crate::metrics::{self, DimensionNames, MetricEntry};
use crate::template::{Expr, Template};

/// One metric series a template reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricSeries {
    /// The alarm or dashboard that reads it.
    pub logical_id: String,
    /// The query's `Id` in a metric-math alarm; `None` for a single-metric alarm or a dashboard.
    pub query_id: Option<String>,
    pub namespace: String,
    pub metric: String,
    /// Dimension names and values, in the order the template lists them.
    pub dimensions: Vec<(String, String)>,
}

impl MetricSeries {
    pub fn dimension_names(&self) -> Vec<&str> {
        self.dimensions.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The catalog entry of this exact series, or `None` when AWS does not publish it.
    pub fn catalog_entry(&self) -> Option<&'static MetricEntry> {
        metrics::find(&self.namespace, &self.metric, &self.dimension_names())
    }
}

/// `AWS/ECS HTTPCode_Target_5XX_Count {ClusterName=rollout, ServiceName=front, ...}`, dimensions
/// sorted by name.
impl fmt::Display for MetricSeries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut dims: Vec<String> = self
            .dimensions
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        dims.sort_unstable();
        write!(
            f,
            "{} {} {{{}}}",
            self.namespace,
            self.metric,
            dims.join(", ")
        )
    }
}

/// A metric query the walker cannot read as a literal series.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesError {
    #[error(
        "{logical_id} names its metric series with something other than literal text at {path}: write the namespace, metric and dimensions literally"
    )]
    NotLiteral { logical_id: String, path: String },
    #[error("the body of dashboard {logical_id} is not dashboard JSON ({reason}): fix the body")]
    DashboardBody { logical_id: String, reason: String },
}

/// Every metric series `t` reads: each `AWS::CloudWatch::Alarm`'s `Metrics[].MetricStat.Metric`
/// (or its single `Namespace`/`MetricName`/`Dimensions`) and each metric of an
/// `AWS::CloudWatch::Dashboard` body, in logical id order.
pub fn metric_series(t: &Template) -> Result<Vec<MetricSeries>, SeriesError> {
    let mut out = Vec::new();
    for (id, r) in &t.resources {
        match r.kind.as_str() {
            "AWS::CloudWatch::Alarm" => alarm_series(id, &r.properties, &mut out)?,
            "AWS::CloudWatch::Dashboard" => {
                let path = "Properties.DashboardBody";
                match r.properties.get("DashboardBody") {
                    Some(Expr::Str(body)) => dashboard_series(id, body, &mut out)?,
                    _ => return Err(not_literal(id, path)),
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn not_literal(logical_id: &str, path: &str) -> SeriesError {
    SeriesError::NotLiteral {
        logical_id: logical_id.to_owned(),
        path: path.to_owned(),
    }
}

fn alarm_series(
    id: &str,
    props: &BTreeMap<String, Expr>,
    out: &mut Vec<MetricSeries>,
) -> Result<(), SeriesError> {
    if let Some(name) = props.get("MetricName") {
        out.push(series_of(id, None, "Properties", props, name)?);
    }
    let Some(metrics) = props.get("Metrics") else {
        return Ok(());
    };
    let Expr::List(queries) = metrics else {
        return Err(not_literal(id, "Properties.Metrics"));
    };
    for (i, q) in queries.iter().enumerate() {
        let at = format!("Properties.Metrics[{i}]");
        let Expr::Map(q) = q else {
            return Err(not_literal(id, &at));
        };
        // An expression query reads no series of its own.
        let Some(stat) = q.get("MetricStat") else {
            continue;
        };
        let query_id = match q.get("Id") {
            Some(Expr::Str(s)) => Some(s.clone()),
            _ => return Err(not_literal(id, &format!("{at}.Id"))),
        };
        let at = format!("{at}.MetricStat.Metric");
        let metric = match stat {
            Expr::Map(stat) => match stat.get("Metric") {
                Some(Expr::Map(m)) => m,
                _ => return Err(not_literal(id, &at)),
            },
            _ => return Err(not_literal(id, &at)),
        };
        let name = metric
            .get("MetricName")
            .ok_or_else(|| not_literal(id, &format!("{at}.MetricName")))?;
        out.push(series_of(id, query_id, &at, metric, name)?);
    }
    Ok(())
}

/// The resource attributes whose value is a metric dimension's value: `AWS/ApplicationELB`'s
/// `TargetGroup` and `LoadBalancer` ("CloudWatch metrics for your Application Load Balancer",
/// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html>;
/// `AWS::ElasticLoadBalancingV2::TargetGroup` and `::LoadBalancer` return values).
const DIMENSION_ATTRIBUTES: [&str; 2] = ["TargetGroupFullName", "LoadBalancerFullName"];

/// The series of a `{Namespace, MetricName, Dimensions}` map at `at`.
fn series_of(
    id: &str,
    query_id: Option<String>,
    at: &str,
    m: &BTreeMap<String, Expr>,
    name: &Expr,
) -> Result<MetricSeries, SeriesError> {
    let text = |e: Option<&Expr>, field: &str| match e {
        Some(Expr::Str(s)) => Ok(s.clone()),
        _ => Err(not_literal(id, &format!("{at}.{field}"))),
    };
    // A dimension value may be the attribute that *is* the value the ALB's metrics carry (a
    // target group's `TargetGroupFullName`, a load balancer's `LoadBalancerFullName`): known
    // only once deployed, written `${Resource.Attribute}`. Any other attribute is refused.
    let value = |e: Option<&Expr>, field: &str| match e {
        Some(Expr::GetAtt(resource, attribute))
            if DIMENSION_ATTRIBUTES.contains(&attribute.as_str()) =>
        {
            Ok(format!("${{{resource}.{attribute}}}"))
        }
        other => text(other, field),
    };
    let mut dimensions = Vec::new();
    match m.get("Dimensions") {
        None => {}
        Some(Expr::List(dims)) => {
            for (i, d) in dims.iter().enumerate() {
                let field = format!("Dimensions[{i}]");
                let Expr::Map(d) = d else {
                    return Err(not_literal(id, &format!("{at}.{field}")));
                };
                dimensions.push((
                    text(d.get("Name"), &format!("{field}.Name"))?,
                    value(d.get("Value"), &format!("{field}.Value"))?,
                ));
            }
        }
        Some(_) => return Err(not_literal(id, &format!("{at}.Dimensions"))),
    }
    Ok(MetricSeries {
        logical_id: id.to_owned(),
        query_id,
        namespace: text(m.get("Namespace"), "Namespace")?,
        metric: text(Some(name), "MetricName")?,
        dimensions,
    })
}

/// The metrics of a dashboard body: each `widgets[].properties.metrics[]` row is `[namespace,
/// metric, name, value, ..., {options}?]`, where `"."` repeats the previous row's entry at that
/// position and a row holding only an `{"expression": ...}` object reads no series.
fn dashboard_series(id: &str, body: &str, out: &mut Vec<MetricSeries>) -> Result<(), SeriesError> {
    let bad = |reason: String| SeriesError::DashboardBody {
        logical_id: id.to_owned(),
        reason,
    };
    let body: serde_json::Value =
        serde_json::from_str(body).map_err(|e| bad(format!("not JSON: {e}")))?;
    let widgets = body["widgets"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    for (w, widget) in widgets.iter().enumerate() {
        let Some(rows) = widget["properties"]["metrics"].as_array() else {
            continue;
        };
        let mut previous: Vec<String> = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            let at = format!("widgets[{w}].properties.metrics[{r}]");
            let row = row
                .as_array()
                .ok_or_else(|| bad(format!("{at} is not a list")))?;
            let mut fields = Vec::new();
            for (i, v) in row.iter().enumerate() {
                match v {
                    serde_json::Value::String(s) if s == "." => fields.push(
                        previous
                            .get(i)
                            .cloned()
                            .ok_or_else(|| bad(format!("{at}[{i}] repeats nothing")))?,
                    ),
                    serde_json::Value::String(s) => fields.push(s.clone()),
                    serde_json::Value::Object(_) if i + 1 == row.len() => {}
                    _ => return Err(bad(format!("{at}[{i}] is not text"))),
                }
            }
            if fields.is_empty() {
                continue;
            }
            if fields.len() < 2 || fields.len() % 2 != 0 {
                return Err(bad(format!(
                    "{at} is not [namespace, metric, name, value, ...]"
                )));
            }
            out.push(MetricSeries {
                logical_id: id.to_owned(),
                query_id: None,
                namespace: fields[0].clone(),
                metric: fields[1].clone(),
                dimensions: fields[2..]
                    .chunks(2)
                    .map(|p| (p[0].clone(), p[1].clone()))
                    .collect(),
            });
            previous = fields;
        }
    }
    Ok(())
}

/// A series a template reads that AWS does not publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpublished<'a> {
    pub series: &'a MetricSeries,
    /// The metric's entry when AWS publishes it on other dimension sets.
    pub entry: Option<&'static MetricEntry>,
}

/// `WebErrorRateAlarm (query requests1) reads AWS/ECS RequestCount on {ClusterName, ServiceName,
/// TargetDiscoveryName}, a set AWS does not publish it on: ...`.
impl fmt::Display for Unpublished<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.series;
        write!(f, "{}", s.logical_id)?;
        if let Some(q) = &s.query_id {
            write!(f, " (query {q})")?;
        }
        let names = s.dimension_names();
        write!(
            f,
            " reads {} {} on {}, ",
            s.namespace,
            s.metric,
            DimensionNames(&names)
        )?;
        match self.entry {
            Some(e) => write!(
                f,
                "a dimension set AWS does not publish it on: it is {} on {}; query one of those sets",
                e.published_by(),
                e.dimension_sets_text()
            ),
            None => write!(
                f,
                "a metric not in the catalog of what AWS publishes: check the name, or add it to cfn_render::metrics with its documentation"
            ),
        }
    }
}

/// The series among `series` that AWS does not publish, each with what it does publish.
pub fn unpublished(series: &[MetricSeries]) -> Vec<Unpublished<'_>> {
    series
        .iter()
        .filter(|s| s.catalog_entry().is_none())
        .map(|s| Unpublished {
            series: s,
            entry: metrics::lookup(&s.namespace, &s.metric),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Resource, obj, props};

    fn dims(pairs: &[(&str, &str)]) -> Expr {
        Expr::List(
            pairs
                .iter()
                .map(|(n, v)| obj([("Name", (*n).into()), ("Value", (*v).into())]))
                .collect(),
        )
    }

    #[test]
    fn reads_single_metric_and_math_alarms_and_dashboards() {
        let mut t = Template::new(None);
        t.add(
            "Single",
            Resource::new(
                "AWS::CloudWatch::Alarm",
                props([
                    ("Namespace", "AWS/ECS".into()),
                    ("MetricName", "CPUUtilization".into()),
                    (
                        "Dimensions",
                        dims(&[("ClusterName", "c"), ("ServiceName", "web")]),
                    ),
                ]),
            ),
        )
        .unwrap();
        let stat = |name: &str| {
            obj([(
                "Metric",
                obj([
                    ("Namespace", "AWS/ECS".into()),
                    ("MetricName", name.into()),
                    ("Dimensions", dims(&[("TargetDiscoveryName", "web")])),
                ]),
            )])
        };
        t.add(
            "Math",
            Resource::new(
                "AWS::CloudWatch::Alarm",
                props([(
                    "Metrics",
                    Expr::List(vec![
                        obj([
                            ("Id", "a".into()),
                            ("MetricStat", stat("HTTPCode_Target_5XX_Count")),
                        ]),
                        obj([("Id", "e".into()), ("Expression", "a * 2".into())]),
                    ]),
                )]),
            ),
        )
        .unwrap();
        let body = r#"{"widgets": [{"type": "metric", "properties": {"metrics": [
            ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", "app/gw/1"],
            [".", "HTTPCode_ELB_5XX_Count", ".", ".", {"stat": "Sum"}],
            [{"expression": "m1 + m2"}]
        ]}}, {"type": "text", "properties": {"markdown": "x"}}]}"#;
        t.add(
            "Board",
            Resource::new(
                "AWS::CloudWatch::Dashboard",
                props([("DashboardBody", body.into())]),
            ),
        )
        .unwrap();
        let series = metric_series(&t).unwrap();
        let text: Vec<String> = series
            .iter()
            .map(|s| format!("{} {:?} {s}", s.logical_id, s.query_id))
            .collect();
        assert_eq!(
            text,
            [
                "Board None AWS/ApplicationELB RequestCount {LoadBalancer=app/gw/1}",
                "Board None AWS/ApplicationELB HTTPCode_ELB_5XX_Count {LoadBalancer=app/gw/1}",
                "Math Some(\"a\") AWS/ECS HTTPCode_Target_5XX_Count {TargetDiscoveryName=web}",
                "Single None AWS/ECS CPUUtilization {ClusterName=c, ServiceName=web}",
            ]
        );
        assert!(unpublished(&series).is_empty());
    }

    #[test]
    fn refuses_what_it_cannot_read_literally() {
        let mut t = Template::new(None);
        t.add(
            "Alarm",
            Resource::new(
                "AWS::CloudWatch::Alarm",
                props([
                    ("Namespace", "AWS/ECS".into()),
                    ("MetricName", "CPUUtilization".into()),
                    (
                        "Dimensions",
                        Expr::List(vec![obj([
                            ("Name", "ServiceName".into()),
                            ("Value", Expr::get_att("Web", "Name")),
                        ])]),
                    ),
                ]),
            ),
        )
        .unwrap();
        assert_eq!(
            metric_series(&t).unwrap_err().to_string(),
            "Alarm names its metric series with something other than literal text at Properties.Dimensions[0].Value: write the namespace, metric and dimensions literally"
        );
        // The attribute that is the ALB metrics' own dimension value is read as a placeholder.
        let mut t = Template::new(None);
        t.add(
            "Alarm",
            Resource::new(
                "AWS::CloudWatch::Alarm",
                props([
                    ("Namespace", "AWS/ApplicationELB".into()),
                    ("MetricName", "RequestCount".into()),
                    (
                        "Dimensions",
                        Expr::List(vec![obj([
                            ("Name", "TargetGroup".into()),
                            (
                                "Value",
                                Expr::get_att("BlueTargetGroup", "TargetGroupFullName"),
                            ),
                        ])]),
                    ),
                ]),
            ),
        )
        .unwrap();
        assert_eq!(
            metric_series(&t).unwrap()[0].dimensions,
            [(
                "TargetGroup".to_owned(),
                "${BlueTargetGroup.TargetGroupFullName}".to_owned()
            )]
        );
        let mut t = Template::new(None);
        t.add(
            "Board",
            Resource::new(
                "AWS::CloudWatch::Dashboard",
                props([(
                    "DashboardBody",
                    r#"{"widgets": [{"properties": {"metrics": [[".", "X"]]}}]}"#.into(),
                )]),
            ),
        )
        .unwrap();
        assert_eq!(
            metric_series(&t).unwrap_err().to_string(),
            "the body of dashboard Board is not dashboard JSON (widgets[0].properties.metrics[0][0] repeats nothing): fix the body"
        );
    }

    #[test]
    fn unpublished_series_name_the_metric_and_the_set() {
        let series = |metric: &str, names: &[&str]| MetricSeries {
            logical_id: "WebErrorRateAlarm".into(),
            query_id: Some("q".into()),
            namespace: "AWS/ECS".into(),
            metric: metric.into(),
            dimensions: names.iter().map(|n| ((*n).into(), "v".into())).collect(),
        };
        let all = [
            series(
                "RequestCount",
                &["ClusterName", "ServiceName", "TargetDiscoveryName"],
            ),
            series("RequestCount", &["DiscoveryName"]),
            series("RequestCounts", &["DiscoveryName"]),
        ];
        let bad: Vec<String> = unpublished(&all).iter().map(|u| u.to_string()).collect();
        assert_eq!(
            bad,
            [
                "WebErrorRateAlarm (query q) reads AWS/ECS RequestCount on {ClusterName, ServiceName, TargetDiscoveryName}, \
                 a dimension set AWS does not publish it on: it is published by the server's Service Connect proxy \
                 (ServiceName is the server) on {DiscoveryName} or {ClusterName, DiscoveryName, ServiceName}; query one of those sets",
                "WebErrorRateAlarm (query q) reads AWS/ECS RequestCounts on {DiscoveryName}, a metric not in the catalog \
                 of what AWS publishes: check the name, or add it to cfn_render::metrics with its documentation",
            ]
        );
    }
}
