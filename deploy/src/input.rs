//! The inputs a message names, as data ([`Input`]): which value would change the outcome. The
//! reporter names them in lines, whoever shows an error in its message; the library's names
//! are the default, the command line's flags its own

/// An input of a request, its target or its backend's options that a message names, as data:
/// a message says which input would change the outcome, and whoever shows it names the input
/// ([`crate::Reporter::input`]; an error's `said`): a program by the library's name (`Confirm::Yes`),
/// the command line (meshtest-cli) by its flag (`--yes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Input {
    /// Where AWS answers ([`crate::request::Connection::endpoint_url`]).
    EndpointUrl,
    /// The AWS region ([`crate::request::Connection::region`]).
    Region,
    /// The template's `AllowedCidr` parameter ([`crate::request::Parameters::allowed_cidr`]).
    AllowedCidr,
    /// The template's `Image` parameter ([`crate::request::Parameters::image`]).
    Image,
    /// Going ahead without a question ([`crate::Confirm::Yes`]).
    Yes,
    /// The bucket templates are uploaded to (`aws::Options::template_bucket`).
    TemplateBucket,
    /// Environment variables added to the services that roll out (`local::Options::env`).
    Env,
    /// Starting a local blue-green stack from its state file (`local::StartFrom::StateFile`).
    StateFile,
    /// The version deployed ([`crate::target::Choice::version`]).
    Version,
    /// The stack's name apart from its app ([`crate::target::Choice::stack_name`]).
    StackName,
    /// The rollout's strategy ([`crate::target::Choice::strategy`]).
    Strategy,
}

impl Input {
    /// What a message writes after the input for its value (`URI`), empty for an input that
    /// takes none.
    pub fn placeholder(self) -> &'static str {
        match self {
            Input::EndpointUrl => "URL",
            Input::Region => "REGION",
            Input::AllowedCidr => "CIDR",
            Input::Image => "URI",
            Input::TemplateBucket | Input::StackName => "NAME",
            Input::Env => "KEY=VALUE",
            Input::Version => "N",
            Input::Strategy => "STRATEGY",
            Input::Yes | Input::StateFile => "",
        }
    }
}

/// How a message built without a reporter (an error) names an [`Input`]: the command line passes
/// its flags; [`library_names`] is how errors display.
pub type Say<'a> = &'a dyn Fn(Input) -> String;

/// Each input by the library's name ([`Input`]'s `Display`).
pub fn library_names(input: Input) -> String {
    input.to_string()
}

impl std::fmt::Display for Input {
    /// The library's name of the input.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Input::EndpointUrl => "Connection::endpoint_url",
            Input::Region => "Connection::region",
            Input::AllowedCidr => "Parameters::allowed_cidr",
            Input::Image => "Parameters::image",
            Input::Yes => "Confirm::Yes",
            Input::TemplateBucket => "Options::template_bucket",
            Input::Env => "Options::env",
            Input::StateFile => "StartFrom::StateFile",
            Input::Version => "Choice::version",
            Input::StackName => "Choice::stack_name",
            Input::Strategy => "Choice::strategy",
        })
    }
}
