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

mod config;
mod h1;
mod run;
mod tally;

pub use config::{Config, DEFAULT_INTERVAL, DEFAULT_TIMEOUT, Engine, Mode, Target, TargetError};
pub use run::{RunError, run};
pub use tally::{ErrorKind, Latency, Outcome, Summary, Tally, body_key};
