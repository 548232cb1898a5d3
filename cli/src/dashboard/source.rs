//! What the dashboard reads and asks of a backend: [`Source`], and its local runtime
//! implementation over the deploy library's status, rollback and continue plus the data plane's
//! answer counts

use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context as _, Result};
use deploy::Recorder;
use deploy::local::{self, LocalBackend};
use deploy::outcome::StatusReport;
use deploy::request::{RolloutRequest, StatusRequest};
use deploy::target::Named;
use local_runtime::control::ControlClient;
use local_runtime::state_dir::StateDir;

use super::board::{Observed, Reading};
use crate::wording::Worded;

/// A button on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Release the pause hook the deployment awaits at.
    Continue,
    /// Roll the deployment in progress back.
    Rollback,
}

/// A backend as the dashboard sees it. Both calls block (the local flows run their own
/// runtime), so the server calls them on threads of their own.
pub trait Source: Send + Sync + std::fmt::Debug {
    /// `local` or `aws`.
    fn backend(&self) -> &'static str;
    /// How often to read it.
    fn poll(&self) -> Duration;
    fn read(&self) -> Result<Reading>;
    /// Carries out `action` and says what it did (the library's lines).
    fn act(&self, action: Action) -> Result<String>;
}

/// How often the local runtime is read: each chart point covers this long.
pub const LOCAL_POLL: Duration = Duration::from_millis(500);

/// How long one read of the answer counts may take.
const TRAFFIC_TIMEOUT: Duration = Duration::from_secs(3);

/// The local runtime of one stack.
#[derive(Debug)]
pub struct LocalSource {
    backend: LocalBackend,
    target: Named,
    /// How the command line names the target in a message (`rollout --stack-name r1`).
    label: String,
    /// The control client of the supervisor last found, by its control URL and token.
    client: Mutex<Option<(String, String, ControlClient)>>,
}

impl LocalSource {
    pub fn new(backend: LocalBackend, target: Named, label: String) -> LocalSource {
        LocalSource {
            backend,
            target,
            label,
            client: Mutex::new(None),
        }
    }

    /// The answers counted so far, from the supervisor `runtime.json` names.
    fn traffic(&self) -> Result<Vec<local_runtime::control::VersionTraffic>> {
        let dir = StateDir::new(&self.backend.settings.folders.target_dir, &self.target.name);
        let record = dir
            .read_runtime()
            .context("cannot read the local runtime's record")?
            .context("the local runtime's record is gone")?;
        let mut cached = self.client.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = !matches!(&*cached, Some((url, token, _)) if *url == record.control_url && *token == record.token);
        if fresh {
            let client = ControlClient::new(&record.control_url, &record.token)?;
            *cached = Some((record.control_url.clone(), record.token.clone(), client));
        }
        let (_, _, client) = cached.as_ref().expect("set above");
        Ok(client.traffic(TRAFFIC_TIMEOUT)?.services)
    }
}

impl Source for LocalSource {
    fn backend(&self) -> &'static str {
        "local"
    }

    fn poll(&self) -> Duration {
        LOCAL_POLL
    }

    fn read(&self) -> Result<Reading> {
        let out = Recorder::new();
        let report = local::status(
            &self.backend,
            &StatusRequest::new(self.target.clone()),
            &Worded::new(&out, self.label.clone(), true),
        )
        .map_err(|err| anyhow::anyhow!(crate::wording::message(&err.into())))?;
        // Without the aws feature (xtask's build) the enum has one variant.
        #[cfg(feature = "aws")]
        let StatusReport::Local(report) = report else {
            anyhow::bail!("the local runtime answered with another backend's status")
        };
        #[cfg(not(feature = "aws"))]
        let StatusReport::Local(report) = report;
        let status = report.status;
        let rollouts = status
            .rollout
            .iter()
            .map(|r| Observed {
                progress: r.progress.clone(),
                steps: Some(r.steps.clone()),
            })
            .collect();
        Ok(Reading {
            spec: status.spec,
            rollouts,
            traffic: Some(self.traffic()?),
            alarm_series: Vec::new(),
        })
    }

    fn act(&self, action: Action) -> Result<String> {
        let out = Recorder::new();
        let worded = Worded::new(&out, self.label.clone(), true);
        let request = RolloutRequest::new(self.target.clone());
        let done = match action {
            Action::Continue => local::continue_paused(&self.backend, &request, &worded),
            Action::Rollback => local::rollback(&self.backend, &request, &worded),
        };
        done.map_err(|err| anyhow::anyhow!(crate::wording::message(&err.into())))?;
        Ok(out.lines().join("\n"))
    }
}
