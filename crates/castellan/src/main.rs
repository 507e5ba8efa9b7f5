//! The `castellan` binary: parses the command line, loads the configuration and runs one
//! command (`serve`, `init`, `migrate`, `clients create`, `keys rotate`, `users create`,
//! `orgs create`, `orgs add-member`, `api-keys …`).

mod api_keys;
mod audit;
mod cli;
mod client_secret;
mod clients;
mod commands;
mod doctor;
mod people;
mod people_read;

/// `mimalloc` instead of the system allocator: a token request allocates a few dozen small
/// values, and glibc's allocator is a visible share of the token endpoint's time
/// (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[expect(
    clippy::print_stderr,
    reason = "a failed command tells the person who ran it, on standard error"
)]
fn main() -> std::process::ExitCode {
    let cli = cli::parse();
    let result = runtime().and_then(|rt| rt.block_on(commands::run(cli)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The async runtime: one worker per core the process may use. With a single core (a one-CPU
/// container, or `taskset -c 0`) a current-thread runtime does the same work without the
/// multi-thread scheduler's cross-thread wake-ups; blocking work (Argon2id, SQLite) still runs
/// on the blocking pool either way.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut builder = if cores == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    Ok(builder.enable_all().build()?)
}
