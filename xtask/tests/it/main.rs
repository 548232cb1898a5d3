//! xtask's end-to-end tests, one binary: the CLI as a user runs it (synth), against moto (aws),
//! and on the local runtime (local)

mod aws;
mod aws_dashboard;
mod errors;
mod local;
mod local_path;
mod migrate;
mod s3;
mod synth;
