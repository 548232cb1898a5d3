//! The target of a command: an app name or a JSON stack description, built into a validated
//! [`Stack`] and its CloudFormation template

use std::path::Path;

use cfn_render::{RenderOptions, Template};
use model::examples::{AppBuild, RolloutInputs};
use model::{BlueGreenVersions, Stack, StackSpec, StrategyKind};
use state_store::BlueGreenState;

use crate::error::{Error, NameFrom, Result, TargetError};
use crate::report::Input;

/// The app registry is the model's (`model::examples`), re-exported for the command line.
pub use model::examples::{APPS, App};

/// What names and shapes a target: an app name or a JSON file, and the command-line choices.
#[derive(Debug, Clone, Copy, Default)]
pub struct Choice<'a> {
    /// An app name or a path to a JSON stack description.
    pub app: &'a str,
    /// `--stack-name`: overrides the name inside a JSON description or the app name.
    pub stack_name: Option<&'a str>,
    /// `--version`: every service's version (in a description whose local programs list
    /// versions, theirs only); for a blue-green stack, the version the state sends to its next
    /// colour.
    pub version: Option<u32>,
    /// rollout only: the strategy of its traffic-shifting service.
    pub strategy: Option<StrategyKind>,
}

/// A stack as a command line names it: enough to find what runs under that name, without
/// building its model (so `destroy x.json --stack-name x` works once the file is gone). How a
/// command line names the target again in a hint is its own business
/// ([`crate::Reporter::command`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The CloudFormation stack name (and local state folder), checked against CloudFormation's
    /// rule.
    pub name: String,
}

/// A target resolved once, before any AWS call or local work: its checked stack name and the
/// validated stack. Every command that builds the stack
/// starts from one.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Its checked stack name.
    pub named: Named,
    /// The stack as it deploys without a blue-green state (for a blue-green stack: as written,
    /// which for the bluegreen app is the bootstrap state).
    pub stack: Stack,
    /// For a blue-green stack: `--version`, applied through the state by [`Resolved::build`].
    next_version: Option<u32>,
    /// The app name or description path it was resolved from (the stack name for a stack
    /// built by a program), which an error about the description names.
    source: String,
    /// The app it was built from, if any (not a JSON description, not a program's stack).
    app: Option<&'static App>,
}

/// What a command on a stack that may already exist acts on: the resolved target, or its name
/// alone when its description is gone (`destroy x.json --stack-name x` once the file is gone).
#[derive(Debug, Clone)]
pub enum Subject {
    Resolved(Box<Resolved>),
    Named(Named),
}

impl Subject {
    /// Its checked stack name.
    pub fn named(&self) -> &Named {
        match self {
            Subject::Resolved(resolved) => &resolved.named,
            Subject::Named(named) => named,
        }
    }

    /// The resolved target, when the description could be read.
    pub fn resolved(&self) -> Option<&Resolved> {
        match self {
            Subject::Resolved(resolved) => Some(resolved),
            Subject::Named(_) => None,
        }
    }
}

impl From<Resolved> for Subject {
    fn from(resolved: Resolved) -> Subject {
        Subject::Resolved(Box::new(resolved))
    }
}

impl From<Named> for Subject {
    fn from(named: Named) -> Subject {
        Subject::Named(named)
    }
}

/// The app `choice` names, `None` for a JSON description; an unknown name is an error.
fn app_of(choice: &Choice<'_>) -> Result<Option<&'static App>> {
    let found = App::find(choice.app);
    if found.is_none() && !choice.app.ends_with(".json") {
        return Err(unknown_app(choice.app));
    }
    Ok(found)
}

/// `choice`'s stack name (`--stack-name`, else `json_name`, the `name` inside a JSON
/// description, else the app name), checked before any AWS call, with an error naming where a
/// bad name came from.
fn named(
    choice: &Choice<'_>,
    found: Option<&App>,
    json_name: impl FnOnce() -> Result<String>,
) -> Result<Named> {
    let app = choice.app;
    let (name, source) = match (choice.stack_name, found) {
        (Some(name), _) => (name.to_owned(), NameFrom::Given),
        (None, Some(_)) => (
            app.to_owned(),
            NameFrom::App {
                app: app.to_owned(),
            },
        ),
        (None, None) => (
            json_name()?,
            NameFrom::Field {
                file: app.to_owned(),
            },
        ),
    };
    // The name also becomes a folder name locally: only what CloudFormation accepts, never `..`.
    model::rules::stack_name(&name).map_err(|problem| {
        Error::Target(TargetError::StackName {
            from: source,
            problem,
        })
    })?;
    Ok(Named { name })
}

/// Only the stack name of `choice`: a JSON description is read only when `--stack-name` is
/// not given.
pub fn name(choice: &Choice<'_>) -> Result<Named> {
    named(choice, app_of(choice)?, || Ok(read_spec(choice.app)?.name))
}

/// Resolves `choice`: its [`Named`] stack name and the model built, shaped by the choices, and
/// validated.
pub fn resolve(choice: &Choice<'_>) -> Result<Resolved> {
    let app = choice.app;
    let found = app_of(choice)?;
    if choice.strategy.is_some() && !takes_strategy(found) {
        return Err(Error::Target(TargetError::StrategyNotApplicable));
    }
    let (named, mut spec) = match found {
        Some(known) => {
            let named = named(choice, found, || Ok(known.name.to_owned()))?;
            let spec = app_spec(known, &named.name, choice);
            (named, spec)
        }
        None => {
            let mut spec = read_spec(app)?;
            let named = named(choice, None, || Ok(spec.name.clone()))?;
            spec.name.clone_from(&named.name);
            (named, spec)
        }
    };
    let blue_green = spec.blue_green.is_some();
    if let (Some(v), false, false) = (choice.version, blue_green, is_rollout(found)) {
        // A description whose local programs list versions: the version picks theirs, and the
        // others keep their own (a caller is not redeployed with its callee).
        let listed =
            |svc: &model::ServiceSpec| svc.local.as_ref().is_some_and(|l| !l.versions.is_empty());
        let any_listed = spec.services.iter().any(listed);
        let takes = |svc: &model::ServiceSpec| {
            found.is_none_or(|app| app.takes_version(choice.strategy, &svc.name))
                && (!any_listed || listed(svc))
        };
        for svc in spec.services.iter_mut().filter(|svc| takes(svc)) {
            svc.version = v.to_string();
        }
    }
    let stack = Stack::new(spec).map_err(|source| Error::Invalid {
        what: format!("app `{app}`"),
        with: None,
        source,
    })?;
    Ok(Resolved {
        named,
        stack,
        next_version: choice.version.filter(|_| blue_green),
        source: app.to_owned(),
        app: found,
    })
}

fn is_rollout(app: Option<&App>) -> bool {
    app.is_some_and(|app| matches!(app.build, AppBuild::Rollout(_)))
}

fn takes_strategy(app: Option<&App>) -> bool {
    app.is_some_and(|app| matches!(app.build, AppBuild::Rollout(_) | AppBuild::Strategy(_)))
}

impl Resolved {
    /// A stack built by a program rather than named on a command line: deployed under its own
    /// name, which is checked here.
    pub fn from_stack(stack: Stack) -> Result<Resolved> {
        let name = stack.name().to_owned();
        model::rules::stack_name(&name).map_err(|problem| {
            Error::Target(TargetError::StackName {
                from: NameFrom::Built,
                problem,
            })
        })?;
        Ok(Resolved {
            source: name.clone(),
            named: Named { name },
            stack,
            next_version: None,
            app: None,
        })
    }

    /// The app it was built from; `None` for a JSON description or a program's stack.
    pub fn app(&self) -> Option<&'static App> {
        self.app
    }

    /// The SSM parameter of the blue-green state when the stack keeps one.
    pub fn state_parameter(&self) -> Option<&str> {
        self.stack
            .blue_green()
            .map(|bg| bg.state_parameter.as_str())
    }

    /// The stack and its template, with a blue-green stack's colours taken from `state` (and
    /// `--version` applied through it).
    pub fn build(&self, state: Option<&BlueGreenState>) -> Result<Synthesized> {
        let stack = self.stack_for(state)?;
        let template = cfn_render::render(&stack, &RenderOptions::default()).map_err(|source| {
            Error::Render {
                app: self.source.clone(),
                source,
            }
        })?;
        Ok(Synthesized { stack, template })
    }

    /// The stack [`Resolved::build`] renders, without rendering it: validated again only when
    /// a blue-green state or `--version` changes it.
    pub fn stack_for(&self, state: Option<&BlueGreenState>) -> Result<Stack> {
        self.stack_with(state, None)
    }

    /// [`Resolved::stack_for`], with `edit` made to the description as well (the local
    /// runtime's `--env`): the colours and the edit go into one description, validated once,
    /// and only when something changed it.
    pub fn stack_with(
        &self,
        state: Option<&BlueGreenState>,
        edit: Option<&Edit<'_>>,
    ) -> Result<Stack> {
        let recoloured = match (state, self.next_version) {
            (None, None) => None,
            _ => self.stack.blue_green_spec(&self.versions(state)?),
        };
        if recoloured.is_none() && edit.is_none() {
            return Ok(self.stack.clone());
        }
        let mut spec = recoloured.unwrap_or_else(|| self.stack.spec().clone());
        if let Some(edit) = edit {
            (edit.apply)(&mut spec)?;
        }
        Stack::new(spec).map_err(|source| Error::Invalid {
            what: format!("stack {}", self.named.name),
            with: edit.map(|edit| edit.input),
            source,
        })
    }

    /// The colours' versions from `state` (the bootstrap state when `None`), with `--version`
    /// applied through it.
    fn versions(&self, state: Option<&BlueGreenState>) -> Result<BlueGreenVersions> {
        let current = state.cloned().unwrap_or_else(BlueGreenState::bootstrap);
        let next = match self.next_version {
            Some(v) => current
                .deploy(v)
                .map_err(|source| Error::VersionState { source })?,
            None => current,
        };
        let versions = next.versions();
        Ok(BlueGreenVersions {
            blue: versions.blue,
            green: versions.green,
            state_json: next.to_json(),
        })
    }
}

/// A change to a target's description before it is validated ([`Resolved::stack_with`]):
/// `input` names what changed the stack in a validation error.
pub struct Edit<'a> {
    pub input: Input,
    pub apply: &'a dyn Fn(&mut StackSpec) -> Result<()>,
}

impl std::fmt::Debug for Edit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edit").field("input", &self.input).finish()
    }
}

fn bootstrap_versions() -> BlueGreenVersions {
    let bootstrap = BlueGreenState::bootstrap();
    let versions = bootstrap.versions();
    BlueGreenVersions {
        blue: versions.blue,
        green: versions.green,
        state_json: bootstrap.to_json(),
    }
}

fn unknown_app(app: &str) -> Error {
    Error::Target(TargetError::UnknownApp {
        app: app.to_owned(),
        known: APPS.iter().map(|app| app.name).collect(),
    })
}

/// A JSON stack description, with the field path of what does not parse.
fn read_spec(path: &str) -> Result<StackSpec> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadDescription {
        path: path.to_owned(),
        source,
    })?;
    let mut spec = StackSpec::from_json(&text).map_err(|source| Error::Description {
        path: path.to_owned(),
        source,
    })?;
    local_folders_from(&mut spec, Path::new(path));
    Ok(spec)
}

/// Makes each `local.workingDirectory` absolute, relative to the folder of the description
/// at `path` (that folder when absent): the model stays pure, so the file's reader does it.
fn local_folders_from(spec: &mut StackSpec, path: &Path) {
    let file = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let folder = file.parent().unwrap_or(Path::new("/"));
    for local in spec.services.iter_mut().filter_map(|s| s.local.as_mut()) {
        let dir = folder.join(local.working_directory.as_deref().unwrap_or("."));
        // `a/./b` and `a/.` read the same to the program; without them status reads cleaner.
        let dir: std::path::PathBuf = dir
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        local.working_directory = Some(dir.to_string_lossy().into_owned());
    }
}

/// What a synth produced: the validated stack and its template.
#[derive(Debug)]
pub struct Synthesized {
    pub stack: Stack,
    pub template: Template,
}

/// The app's model for stack `name`, shaped by `choice` (a blue-green pair starts from the
/// bootstrap state).
fn app_spec(app: &App, name: &str, choice: &Choice<'_>) -> StackSpec {
    match app.build {
        AppBuild::Plain(build) => build(name),
        AppBuild::Rollout(build) => build(name, &rollout_inputs(choice)),
        AppBuild::Strategy(build) => build(name, choice.strategy.unwrap_or_default()),
        AppBuild::BlueGreen(build) => build(name, &bootstrap_versions()),
    }
}

fn rollout_inputs(choice: &Choice<'_>) -> RolloutInputs {
    let defaults = RolloutInputs::default();
    RolloutInputs {
        version: choice.version.unwrap_or(defaults.version),
        strategy: choice.strategy.unwrap_or(defaults.strategy),
    }
}

pub fn read_state(path: &Path) -> Result<BlueGreenState> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadState {
        path: path.to_owned(),
        source,
    })?;
    BlueGreenState::from_json(&text).map_err(|source| Error::State {
        what: format!("state file {}", path.display()),
        source,
    })
}

/// What a template opens to the `AllowedCidr` parameter: one `tcp 80 (description)` per
/// ingress rule, read from the rendered template so every listener and public port counts.
pub fn allowed_cidr_ingress(template: &Template) -> Vec<String> {
    let json = template.to_json_value();
    let cidr_ref = serde_json::json!({ "Ref": cfn_render::ALLOWED_CIDR_PARAMETER });
    let mut found = Vec::new();
    for resource in json["Resources"]
        .as_object()
        .into_iter()
        .flat_map(|r| r.values())
    {
        let props = &resource["Properties"];
        let rules: Vec<&serde_json::Value> = match resource["Type"].as_str() {
            Some("AWS::EC2::SecurityGroupIngress") => vec![props],
            Some("AWS::EC2::SecurityGroup") => props["SecurityGroupIngress"]
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        for rule in rules.into_iter().filter(|r| r["CidrIp"] == cidr_ref) {
            let (from, to) = (&rule["FromPort"], &rule["ToPort"]);
            let ports = if from == to {
                from.to_string()
            } else {
                format!("{from}-{to}")
            };
            let protocol = rule["IpProtocol"].as_str().unwrap_or("tcp");
            found.push(match rule["Description"].as_str() {
                Some(d) => format!("{protocol} {ports} ({d})"),
                None => format!("{protocol} {ports}"),
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a description whose local programs list versions, the version picks theirs and the
    /// other services keep their own; a version none lists is refused naming the field.
    #[test]
    fn a_version_picks_the_listed_programs_only() {
        let dir =
            std::env::temp_dir().join(format!("meshtest-local-versions-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut spec = model::examples::serviceconnect("sc");
        spec.services[1].version = "1".into();
        spec.services[1].local = Some(model::LocalSpec {
            command: vec!["python3".into(), "app.py".into()],
            working_directory: None,
            environment: Default::default(),
            health_check_path: None,
            stop_timeout_seconds: None,
            versions: [
                ("1".to_owned(), model::LocalVersionSpec::default()),
                ("2".to_owned(), model::LocalVersionSpec::default()),
            ]
            .into(),
        });
        let file = dir.join("stack.json");
        std::fs::write(&file, serde_json::to_string(&spec).unwrap()).unwrap();
        let app = file.to_str().unwrap();
        let two = resolve(&Choice {
            app,
            version: Some(2),
            ..Choice::default()
        })
        .unwrap();
        let versions: Vec<&str> = two
            .stack
            .spec()
            .services
            .iter()
            .map(|s| s.version.as_str())
            .collect();
        assert_eq!(versions, ["unknown", "2"]);
        let err = resolve(&Choice {
            app,
            version: Some(4),
            ..Choice::default()
        })
        .unwrap_err();
        let Error::Invalid { source, .. } = err else {
            panic!("{err:?}");
        };
        let err = source.to_string();
        assert!(err.contains("services[1].local.versions: version `4` of service `green` has no entry here (it lists `1`, `2`)"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A relative `workingDirectory` is the JSON file's folder joined with it; none is the
    /// folder itself, whichever directory the command runs from.
    #[test]
    fn a_local_folder_is_relative_to_the_description() {
        let dir =
            std::env::temp_dir().join(format!("meshtest-local-folder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut spec = model::examples::serviceconnect("sc");
        spec.services[0].local = Some(model::LocalSpec {
            command: vec!["python3".into(), "app.py".into()],
            working_directory: Some("./svc".into()),
            environment: Default::default(),
            health_check_path: None,
            stop_timeout_seconds: None,
            versions: Default::default(),
        });
        spec.services[1].local = spec.services[0].local.clone().map(|l| model::LocalSpec {
            working_directory: None,
            ..l
        });
        let file = dir.join("stack.json");
        std::fs::write(&file, serde_json::to_string(&spec).unwrap()).unwrap();
        let read = read_spec(file.to_str().unwrap()).unwrap();
        let folder = |i: usize| {
            read.services[i]
                .local
                .as_ref()
                .unwrap()
                .working_directory
                .clone()
        };
        assert_eq!(
            folder(0),
            Some(dir.join("svc").to_string_lossy().into_owned())
        );
        assert_eq!(folder(1), Some(dir.to_string_lossy().into_owned()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn check(choice: Choice<'_>, expected: &str) {
        let err = resolve(&choice).unwrap_err();
        assert!(matches!(err, Error::Target(_)), "{err:?}");
        assert_eq!(err.to_string(), expected);
    }

    #[test]
    fn a_wrong_target_is_a_target_error_naming_what_to_change() {
        check(
            Choice {
                app: "nope",
                ..Choice::default()
            },
            "unknown app `nope`: known apps are serviceconnect, appmesh, bluegreen, gateway, rollout (or pass a .json stack description)",
        );
        check(
            Choice {
                app: "gateway",
                stack_name: Some("my_stack"),
                ..Choice::default()
            },
            "Choice::stack_name: `my_stack` is not a valid stack name: start with a letter, then up to 127 letters, digits and hyphens",
        );
        check(
            Choice {
                app: "serviceconnect",
                strategy: Some(StrategyKind::Canary),
                ..Choice::default()
            },
            "Choice::strategy only applies to the rollout and gateway apps",
        );
    }

    #[test]
    fn a_name_alone_needs_no_description_when_the_flag_gives_it() {
        let gone = Choice {
            app: "/nonexistent/stack.json",
            stack_name: Some("mystack"),
            ..Choice::default()
        };
        assert_eq!(
            name(&gone).unwrap(),
            Named {
                name: "mystack".into(),
            }
        );
        // Without the flag, the name is inside the file.
        let err = name(&Choice {
            stack_name: None,
            ..gone
        })
        .unwrap_err();
        assert!(matches!(err, Error::ReadDescription { .. }), "{err:?}");
    }

    #[test]
    fn a_missing_description_names_the_file() {
        let choice = Choice {
            app: "/nonexistent/stack.json",
            ..Choice::default()
        };
        let err = resolve(&choice).unwrap_err();
        assert!(matches!(err, Error::ReadDescription { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "cannot read stack description /nonexistent/stack.json"
        );
    }

    #[test]
    fn only_bluegreen_keeps_a_blue_green_state() {
        let keeping: Vec<&str> = APPS
            .iter()
            .filter(|app| {
                let choice = Choice {
                    app: app.name,
                    ..Choice::default()
                };
                resolve(&choice).unwrap().state_parameter().is_some()
            })
            .map(|app| app.name)
            .collect();
        assert_eq!(keeping, ["bluegreen"]);
    }
}
