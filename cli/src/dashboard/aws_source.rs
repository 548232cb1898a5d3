//! The dashboard's AWS backend: the deploy library's status (each traffic-shifting service's
//! newest ECS deployment: status, stage, the production share ECS set, a pause awaiting action,
//! the alarms that rolled it back) and the state of each service's alarms from CloudWatch
//! (`DescribeAlarms`), read every [`POLL`]; the buttons call the library's rollback and
//! continue (`StopServiceDeployment`, `ContinueServiceDeployment`)
//!
//! ECS reports no answer counts, so the chart shows the production share ECS set for each
//! revision (`ServiceDeployment.targetServiceRevision.requestedProductionTrafficWeight`,
//! <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceRevisionSummary.html>),
//! not the share of answers; the README's local-vs-AWS table says so.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context as _, Result};
use deploy::Recorder;
use deploy::aws::{self as engine, AwsBackend, Options, VerifyRequest};
use deploy::outcome::StatusReport;
use deploy::request::{Connection, RolloutRequest, StatusRequest};
use deploy::target::Resolved;
use model::AlarmReading;

use super::board::{Observed, Reading};
use super::source::{Action, Source};
use crate::wording::Worded;

/// AWS's APIs are throttled per account: a poll every few seconds, as `status --watch` grows to.
pub const POLL: Duration = Duration::from_secs(5);

/// One stack on AWS.
#[derive(Debug)]
pub struct AwsSource {
    runtime: tokio::runtime::Runtime,
    backend: AwsBackend,
    target: Resolved,
    label: String,
    /// The alarms the stack itself defines (their threshold and value are percentages).
    own: BTreeSet<String>,
}

impl AwsSource {
    /// Connects to AWS (credentials checked first) for `target`.
    pub fn connect(connection: &Connection, target: Resolved, label: String) -> Result<AwsSource> {
        // A worker of its own: the poller and a button's thread each block on it in turn.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let mut backend = runtime.block_on(AwsBackend::connect(connection))?;
        backend.options = Options {
            status_rollouts: true,
            ..Options::default()
        };
        let own = VerifyRequest::new(&target)?
            .alarms
            .into_iter()
            .map(|a| a.name)
            .collect();
        Ok(AwsSource {
            runtime,
            backend,
            target,
            label,
            own,
        })
    }

    /// The alarms a deployment of `service` watches: those the model names, and the stack's
    /// own error-rate alarm (named as cfn-render names it) when the template has it.
    fn alarm_names(&self, service: &str) -> Vec<String> {
        let spec = self.target.stack.spec();
        let Some(svc) = spec.services.iter().find(|s| s.name == service) else {
            return Vec::new();
        };
        let mut names = Vec::new();
        if let Some(alarms) = &svc.deployment.alarms {
            names.extend(alarms.names.iter().cloned());
        }
        let own = format!("{}-{service}-error-rate", self.target.named.name);
        if self.own.contains(&own) {
            names.push(own);
        }
        names
    }

    async fn readings(&self, service: &str) -> Vec<AlarmReading> {
        let names = self.alarm_names(service);
        if names.is_empty() {
            return Vec::new();
        }
        match engine::describe_alarms(&self.backend.aws, &names).await {
            Ok(found) => names
                .iter()
                .map(|n| engine::reading_of(n, found.get(n), self.own.contains(n)))
                .collect(),
            // The rollout is still shown without them; the page says the read failed.
            Err(_) => Vec::new(),
        }
    }
}

impl Source for AwsSource {
    fn backend(&self) -> &'static str {
        "aws"
    }

    fn poll(&self) -> Duration {
        POLL
    }

    fn read(&self) -> Result<Reading> {
        let out = Recorder::new();
        let worded = Worded::new(&out, self.label.clone(), false);
        self.runtime.block_on(async {
            let request = StatusRequest::new(self.target.clone());
            let StatusReport::Stack(report) =
                engine::status(&self.backend, &request, &worded).await?
            else {
                anyhow::bail!("AWS answered with another backend's status")
            };
            if report.found.is_none() {
                anyhow::bail!(
                    "stack {} does not exist: deploy it first",
                    report.stack_name
                );
            }
            let mut rollouts = Vec::new();
            for rollout in report.rollouts {
                let Some(mut progress) = rollout.deployment else {
                    continue;
                };
                progress.alarms = self.readings(&progress.service).await;
                rollouts.push(Observed {
                    progress,
                    steps: None,
                });
            }
            Ok(Reading {
                spec: Some(self.target.stack.spec().clone()),
                rollouts,
                traffic: None,
            })
        })
    }

    fn act(&self, action: Action) -> Result<String> {
        let out = Recorder::new();
        let worded = Worded::new(&out, self.label.clone(), false);
        let request = RolloutRequest::new(self.target.clone());
        self.runtime.block_on(async {
            match action {
                Action::Continue => engine::continue_paused(&self.backend, &request, &worded).await,
                Action::Rollback => engine::rollback(&self.backend, &request, &worded).await,
            }
        })?;
        Ok(out.lines().join("\n"))
    }
}
