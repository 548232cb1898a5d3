//! The model a local diff or deploy runs: the resolved stack, and for a blue-green stack the
//! state to start from (the supervisor's when it runs, `state.json` otherwise or with `--force`)

use crate::error::{Error, LocalStep as _, Refusal, Result};
use local_runtime::control::Status;
use local_runtime::launcher::Found;
use local_runtime::state_dir::StateDir;
use model::{Stack, StackSpec};
use state_store::BlueGreenState;

use crate::report::Input;
use crate::target::{Edit, Resolved};

use super::rollout::add_env;
use super::{Folders, Local, Options, StartFrom};

/// `state.json` as read from the folder.
pub(super) enum StateFile {
    Missing,
    Valid(BlueGreenState),
    /// It exists but does not parse: why.
    Invalid(String),
}

pub(super) fn read_state_file(dir: &StateDir, folders: &Folders) -> Result<StateFile> {
    let text = dir
        .read_blue_green_state()
        .with_step(|| format!("cannot read {}", folders.shown(&dir.state_file())))?;
    Ok(match text.map(|t| BlueGreenState::from_json(&t)) {
        None => StateFile::Missing,
        Some(Ok(state)) => StateFile::Valid(state),
        Some(Err(err)) => StateFile::Invalid(err.to_string()),
    })
}

/// `blue:1 green:2`
fn versions(state: &BlueGreenState) -> String {
    let v = state.versions();
    format!("blue:{} green:{}", v.blue, v.green)
}

/// The blue-green state the supervisor runs, from its status.
pub(super) fn running_state(status: &Status) -> Option<BlueGreenState> {
    status.blue_green_state
}

/// What is wrong with `state.json` given what runs: not valid, or not what runs.
pub(super) fn state_file_problem(
    dir: &StateDir,
    folders: &Folders,
    file: &StateFile,
    running: Option<&BlueGreenState>,
) -> Option<String> {
    let path = folders.shown(&dir.state_file());
    match (file, running) {
        (StateFile::Invalid(why), _) => Some(format!("{path} is not valid: {why}")),
        (StateFile::Valid(file), Some(running)) if file != running => Some(format!(
            "{path} says {} but the local runtime runs {}",
            versions(file),
            versions(running)
        )),
        _ => None,
    }
}

impl Local<'_> {
    /// The blue-green state to start from: what the supervisor runs when it runs (`state.json`
    /// is its copy, reported when it disagrees), the file when nothing runs or with `force`.
    fn blue_green_state(
        &self,
        running: Option<&Status>,
        force: bool,
    ) -> Result<Option<BlueGreenState>> {
        let file = read_state_file(&self.dir, self.folders)?;
        let running = running.and_then(running_state);
        let problem = state_file_problem(&self.dir, self.folders, &file, running.as_ref());
        match (file, running) {
            (StateFile::Invalid(_), _) if force || running.is_none() => {
                let problem = problem.unwrap_or_default();
                Err(Error::Refused(Refusal::BadStateFile { problem }))
            }
            (StateFile::Valid(file), _) if force => {
                if let Some(problem) = &problem {
                    self.out.note(format!(
                        "warning: {problem}; using the file ({})",
                        self.out.input(Input::StateFile)
                    ));
                }
                Ok(Some(file))
            }
            (_, Some(running)) => {
                if let Some(problem) = &problem {
                    self.out.note(format!(
                        "warning: {problem}; using what runs ({} uses the file; the next deploy rewrites it)",
                        self.out.input(Input::StateFile)
                    ));
                }
                Ok(Some(running))
            }
            (StateFile::Valid(file), None) => Ok(Some(file)),
            (StateFile::Missing | StateFile::Invalid(_), None) => Ok(None),
        }
    }

    /// The model to run: the resolved stack; for a blue-green stack, with its colours from
    /// [`Local::blue_green_state`]; with `options.env` added to the services that roll out.
    /// Validated once, and only when the state, `--version` or `--env` change it.
    pub(super) fn desired_stack(
        &self,
        target: &Resolved,
        found: &Found,
        options: &Options,
    ) -> Result<Stack> {
        let state = if target.state_parameter().is_some() {
            let running = match found {
                Found::Running(running) => Some(&running.status),
                _ => None,
            };
            self.blue_green_state(running, options.start_from == StartFrom::StateFile)?
        } else {
            None
        };
        let add_env = |spec: &mut StackSpec| add_env(spec, target.app(), &options.env, self.out);
        let edit = Edit {
            input: Input::Env,
            apply: &add_env,
        };
        let edit = (!options.env.is_empty()).then_some(&edit);
        target.stack_with(state.as_ref(), edit)
    }
}
