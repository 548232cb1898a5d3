//! Load client for the demo service: the seed's once-a-second `service:version` tally, plus a
//! concurrent load mode with error keys, status counts and latency percentiles.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use load_client::{Config, Target};
//! let mut config = Config::load(Target::parse("127.0.0.1:3000")?, 8);
//! config.requests = Some(1000);
//! let summary = load_client::run(&config, &mut std::io::stdout(), std::future::pending()).await?;
//! println!("{summary}");
//! # Ok(()) }
//! ```

pub mod cli;
mod config;
mod h1;
pub mod limits;
mod plan;
mod record;
mod run;
mod tally;
mod timeline;

pub use config::{
    Config, ConfigError, DEFAULT_INTERVAL, DEFAULT_TIMEOUT, Engine, Header, HeaderError, Mode,
    Target, TargetError, TimelineFormat,
};
pub use run::{RunError, run};
pub use tally::{ErrorKind, Latency, Outcome, Summary, Tally, body_key, is_version_answer};
pub use timeline::{Second, human_line, utc_clock};
