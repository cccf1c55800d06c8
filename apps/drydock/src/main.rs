//! drydock: watches the containers on your Docker hosts for image updates.
//!
//! `drydock` (or `drydock serve`) runs the server: the watchers and the HTTP API on
//! `DD_SERVER_PORT` (3000). `drydock check` runs one watch cycle and prints what it found;
//! `drydock explain <container>` shows why each registry tag was or was not offered;
//! `drydock hash-password` makes a password hash for `DD_AUTH_BASIC_{NAME}_HASH`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use drydock::cli;

#[derive(Debug, Parser)]
#[command(
    name = "drydock",
    version,
    about = "Watches your containers' images for updates"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: watchers, schedule, engine events and the HTTP API (the default).
    Serve,
    /// Run one watch cycle and print each container's update; exit 0 when all are up to date,
    /// 1 when updates are available, 2 when a container could not be checked.
    Check {
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Only these containers (names or ids; the exit code is theirs): all when none given.
        containers: Vec<String>,
    },
    /// Show, for one container, every registry tag with the reason it was or was not offered.
    Explain {
        /// The container's name or id.
        container: String,
    },
    /// Read a password on standard input and print its argon2id hash for DD_AUTH_BASIC_{NAME}_HASH.
    HashPassword,
}

#[allow(clippy::print_stderr)] // start-up failures go to the terminal, before logging exists
fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // The blocking pool runs store flushes and password checks. Left at tokio's 512, a burst
        // of flushes grew it to a hundred threads, and each thread's malloc arena kept its memory
        // after the thread ended.
        .max_blocking_threads(8)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("drydock: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match args.command.unwrap_or(Command::Serve) {
            Command::Serve => cli::serve().await.map(|()| ExitCode::SUCCESS),
            Command::Check { json, containers } => cli::check(json, &containers).await,
            Command::Explain { container } => {
                cli::explain(&container).await.map(|()| ExitCode::SUCCESS)
            }
            Command::HashPassword => cli::hash_password().map(|()| ExitCode::SUCCESS),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("drydock: {e:#}");
            ExitCode::from(2)
        }
    }
}
