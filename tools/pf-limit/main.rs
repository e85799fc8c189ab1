//! pf-limit: set, show, reset and remove concurrency limits — tag limits (how many task runs
//! with a tag may run at once) and, with --global, global limits.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use pf_common::cli::{ConnectionArgs, OutputArgs};
use pf_common::listing::Joined;
use pf_common::output::Printer;
use pf_common::refs::encode_path;
use pf_common::{Client, Error, Result, tables};
use serde_json::{Value, json};

/// Set, show, reset and remove concurrency limits.
///
/// A tag limit caps how many task runs carrying TAG run at once (the Python client's
/// *_task_tag_limit). With --global, NAME is a global concurrency limit (/v2/concurrency_limits),
/// the kind `concurrency("NAME")` in a flow takes slots of. List them all with
/// `pf-get concurrency-limits`.
///
/// set, get and reset print the limit: a row on a terminal, the API object (NDJSON) in a pipe.
#[derive(Debug, Parser)]
#[command(name = "pf-limit", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  pf-limit set database 5
  pf-limit get database --jq .concurrency_limit
  pf-limit reset database
  pf-limit set --global nightly-exports 2
  pf-limit rm database";

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the limit, or change it if it exists
    Set {
        #[command(flatten)]
        target: Target,
        /// How many slots at once
        #[arg(value_name = "N")]
        limit: u64,
    },
    /// Show the limit
    Get(Target),
    /// Free every slot the limit holds (for slots left behind by crashed runs)
    Reset(Target),
    /// Remove the limit
    Rm(Target),
}

#[derive(Debug, Args)]
struct Target {
    /// The tag (with --global: the limit's name)
    #[arg(value_name = "TAG")]
    name: String,
    /// A global concurrency limit rather than a tag limit
    #[arg(long)]
    global: bool,
}

impl Target {
    fn path(&self) -> String {
        if self.global {
            format!("v2/concurrency_limits/{}", encode_path(&self.name))
        } else {
            format!("concurrency_limits/tag/{}", encode_path(&self.name))
        }
    }

    fn label(&self) -> String {
        if self.global {
            format!("global concurrency limit '{}'", self.name)
        } else {
            format!("tag concurrency limit '{}'", self.name)
        }
    }

    fn get(&self, client: &Client) -> Result<Value> {
        match client.get(&self.path()) {
            Err(Error::Client { status: 404, .. }) => Err(Error::not_found(
                format!("{} not found", self.label()),
                Some("list them with: pf-get concurrency-limits".into()),
            )),
            other => other,
        }
    }

    fn set(&self, client: &Client, limit: u64) -> Result<Value> {
        if !self.global {
            // The server creates the tag's limit or updates the one it has.
            return client.post(
                "concurrency_limits/",
                json!({ "tag": self.name, "concurrency_limit": limit }),
            );
        }
        match self.get(client) {
            Ok(_) => {
                client.patch(&self.path(), json!({ "limit": limit }))?;
                self.get(client)
            }
            Err(Error::Client { status: 404, .. }) => client.post(
                "v2/concurrency_limits/",
                json!({ "name": self.name, "limit": limit }),
            ),
            Err(e) => Err(e),
        }
    }

    fn reset(&self, client: &Client) -> Result<Value> {
        self.get(client)?;
        if self.global {
            client.patch(
                &self.path(),
                json!({ "active_slots": 0, "denied_slots": 0 }),
            )?;
        } else {
            client.post(&format!("{}/reset", self.path()), json!({}))?;
            // Prefect 3 keeps a tag's slots on the global limit `tag:NAME` (leased by the
            // engine); free those too, or the tag stays blocked.
            let mirror = format!(
                "v2/concurrency_limits/{}",
                encode_path(&format!("tag:{}", self.name))
            );
            match client.patch(&mirror, json!({ "active_slots": 0, "denied_slots": 0 })) {
                Ok(_) | Err(Error::Client { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        self.get(client)
    }

    fn remove(&self, client: &Client) -> Result<()> {
        self.get(client)?;
        client.delete(&self.path()).map(drop)
    }
}

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let mut printer = cli.output.printer()?;
        let client = cli.connection.client()?;
        let limit = match &cli.command {
            Command::Set { target, limit } => target.set(&client, *limit)?,
            Command::Get(target) => target.get(&client)?,
            Command::Reset(target) => target.reset(&client)?,
            Command::Rm(target) => {
                target.remove(&client)?;
                return Ok(0);
            }
        };
        print_limit(&mut printer, &limit)?;
        Ok(0)
    })
}

fn print_limit(printer: &mut Printer, limit: &Value) -> Result<()> {
    printer.columns(tables::CONCURRENCY_LIMIT_COLUMNS);
    printer.object(limit, |l| {
        tables::concurrency_limit_row(l, &Joined::default())
    })?;
    printer.finish()
}
