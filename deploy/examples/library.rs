//! The README's library example: deploys the gateway app from Rust to the AWS endpoint given as
//! the first argument (a moto server in `tests/it/library.rs`), with no xtask involved

use anyhow::Context;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let endpoint = std::env::args()
        .nth(1)
        .context("usage: library ENDPOINT_URL")?;
    // README: begin
    use deploy::{Confirm, Connection, DeployRequest, Resolved, Terminal, aws};
    let mut backend = aws::AwsBackend::connect(&Connection::endpoint(endpoint)).await?;
    backend.options.parameters.image = Some("public.ecr.aws/nginx/nginx:1.27".into());
    backend.options.parameters.allowed_cidr = Some("203.0.113.7/32".parse()?);
    backend.options.confirm = Confirm::Yes; // like --yes: no question asked
    let stack = model::Stack::new(model::examples::gateway("demo"))?;
    let request = DeployRequest::new(Resolved::from_stack(stack)?);
    let deployed = aws::deploy(&backend, &request, &Terminal::new()).await?;
    anyhow::ensure!(deployed.succeeded(), "deploy did not succeed: {deployed:?}");
    // README: end
    Ok(())
}
