//! `oa`: the command of oa-jobs, the composition root of the workspace.
//!
//! Today it answers questions about the event vocabulary (`oa events`); the integrated demo,
//! the server, workers and job commands arrive with the `oa` command issue (see README.md).

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use oa_events::EventType;

/// oa-jobs: a job-execution engine with first-class observability.
#[derive(Debug, Parser)]
#[command(name = "oa", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the 17 event types: wire name, category and the seed's constant name.
    Events {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Events { json } => print_event_types(json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A closed pipe (`oa events | head`) is not worth a message.
            if !is_broken_pipe(&err) {
                let _ = writeln!(std::io::stderr(), "oa: {err:#}");
            }
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

fn print_event_types(json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let types: Vec<serde_json::Value> = EventType::ALL
            .into_iter()
            .map(|t| {
                serde_json::json!({
                    "wire_name": t.as_str(),
                    "category": t.category().as_str(),
                    "seed_name": t.seed_name(),
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &types)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{:<22} {:<8} SEED NAME", "WIRE NAME", "CATEGORY")?;
        for t in EventType::ALL {
            writeln!(
                out,
                "{:<22} {:<8} {}",
                t.as_str(),
                t.category(),
                t.seed_name()
            )?;
        }
    }
    out.flush()?;
    Ok(())
}
