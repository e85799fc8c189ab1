//! pf-var: set, read and remove Prefect variables.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pf_common::cli::{ConnectionArgs, OutputArgs};
use pf_common::listing::Joined;
use pf_common::refs::{self, encode_path};
use pf_common::{Client, Error, Result, tables};
use serde_json::{Value, json};

/// Set, read and remove Prefect variables (`Variable.get("NAME")` in a flow).
///
/// `set` takes the value as JSON when it parses (`42`, `true`, `{"a": 1}`) and as a string
/// otherwise, as `prefect variable set` does; `--string` always stores a string. A variable
/// that exists is updated. `get` prints the value alone: a string raw, anything else as compact
/// JSON. List variables with `pf-get variables`; see one in full with `pf-describe variable`.
#[derive(Debug, Parser)]
#[command(name = "pf-var", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  pf-var set batch_size 500
  pf-var set region eu-west-1 --tag infra
  pf-var set settings '{\"retries\": 3}'
  pf-var get region
  pf-var rm region";

#[derive(Debug, Subcommand)]
enum Command {
    /// Create or update a variable; prints it (a row on a terminal, NDJSON in a pipe)
    Set {
        /// The variable's name
        #[arg(value_name = "NAME", value_parser = pf_common::cli::non_blank)]
        name: String,
        /// Its value: JSON when it parses, else a string
        #[arg(value_name = "VALUE", allow_hyphen_values = true)]
        value: String,
        /// Store the value as a string even when it parses as JSON
        #[arg(long)]
        string: bool,
        /// Tags (repeatable; replace the variable's tags)
        #[arg(long, value_name = "TAG")]
        tag: Vec<String>,
        /// Accepted for `prefect variable set --overwrite`; pf always updates an existing
        /// variable (a re-run is success)
        #[arg(long)]
        overwrite: bool,
    },
    /// Print a variable's value
    Get {
        /// The variable's name (or id)
        #[arg(value_name = "NAME", value_parser = pf_common::cli::non_blank)]
        name: String,
    },
    /// Remove a variable
    Rm {
        /// The variable's name (or id)
        #[arg(value_name = "NAME", value_parser = pf_common::cli::non_blank)]
        name: String,
    },
}

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let mut printer = cli.output.printer()?;
        let client = cli.connection.client()?;
        match &cli.command {
            Command::Set {
                name,
                value,
                string,
                tag,
                ..
            } => {
                let value = if *string {
                    json!(value)
                } else {
                    serde_json::from_str(value).unwrap_or_else(|_| json!(value))
                };
                let variable = set(&client, name, value, tag)?;
                printer.columns(tables::VARIABLE_COLUMNS);
                printer.object(&variable, |v| tables::variable_row(v, &Joined::default()))?;
                printer.finish()?;
            }
            Command::Get { name } => {
                let variable = refs::resolve(&client, &refs::VARIABLE, name)?;
                let text = match variable.get("value") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                writeln!(std::io::stdout(), "{text}")
                    .map_err(|e| Error::io("cannot write to stdout", e))?;
            }
            Command::Rm { name } => {
                let variable = refs::resolve(&client, &refs::VARIABLE, name)?;
                client.delete(&format!("variables/{}", refs::str_field(&variable, "id")))?;
            }
        }
        Ok(0)
    })
}

/// Create the variable, or update it when the name is taken.
fn set(client: &Client, name: &str, value: Value, tags: &[String]) -> Result<Value> {
    let server = pf_common::server::info(client);
    if !value.is_string() && !server.has(pf_common::server::JSON_VARIABLES) {
        return Err(Error::usage_hint(
            format!(
                "{} variables are strings; {value} is JSON",
                server.describe()
            ),
            "pass --string to store it as text (Prefect 3 servers keep any JSON value)",
        ));
    }
    let mut body = json!({ "name": name, "value": value });
    if !tags.is_empty() {
        body["tags"] = json!(tags);
    }
    match client.post("variables/", body.clone()) {
        Err(Error::Client { status: 409, .. }) => {
            let path = format!("variables/name/{}", encode_path(name));
            client.patch(&path, body)?;
            client.get(&path)
        }
        other => other,
    }
}
