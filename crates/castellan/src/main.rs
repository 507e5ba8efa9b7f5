//! The `castellan` binary: parses the command line, loads the configuration and runs one
//! command (`serve`, `init`, `migrate`, `clients create`, `keys rotate`, `users create`,
//! `orgs create`, `orgs add-member`, `api-keys …`).

mod api_keys;
mod cli;
mod commands;
mod doctor;
mod people;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
