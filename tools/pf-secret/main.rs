//! pf-secret: store, read and remove Secret blocks; values only ever come from stdin.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pf_common::cli::{ConnectionArgs, OutputArgs};
use pf_common::input::read_stdin_text;
use pf_common::listing::Joined;
use pf_common::output::TableMode;
use pf_common::refs::{encode_path, str_field};
use pf_common::{Client, Error, Result, tables};
use serde_json::{Value, json};

/// Store, read and remove Secret blocks (`Secret.load("NAME")` in a flow).
///
/// A secret's value is read from stdin only — never from the command line, where it would
/// land in shell history and `ps`. One trailing newline is dropped, so `echo "$V" | pf-secret
/// set NAME` stores `$V`. `get` shows the block with its value hidden as the server hides it;
/// only `--show-secret` prints the value itself. List secrets with `pf-get blocks --type secret`.
#[derive(Debug, Parser)]
#[command(name = "pf-secret", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  pf-secret set db-password < password.txt
  vault read -field=key secret/etl | pf-secret set etl-key
  pf-secret get db-password
  PGPASSWORD=$(pf-secret get db-password --show-secret) psql …
  pf-secret rm db-password";

#[derive(Debug, Subcommand)]
enum Command {
    /// Create or replace a secret with the value on stdin; prints the block (value hidden)
    Set {
        /// The secret's name
        #[arg(value_name = "NAME", value_parser = pf_common::cli::non_blank)]
        name: String,
    },
    /// Show a secret's block with the value hidden, or with --show-secret the value alone
    Get {
        /// The secret's name
        #[arg(value_name = "NAME", value_parser = pf_common::cli::non_blank)]
        name: String,
        /// Print the secret's value (a string raw, anything else as JSON)
        #[arg(long)]
        show_secret: bool,
    },
    /// Remove a secret
    Rm {
        /// The secret's name
        #[arg(value_name = "NAME", value_parser = pf_common::cli::non_blank)]
        name: String,
    },
}

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let value = match &cli.command {
            Command::Set { .. } => Some(secret_from_stdin()?),
            _ => None,
        };
        let client = cli.connection.client()?;
        match &cli.command {
            Command::Set { name } => {
                set(&client, name, value.unwrap_or_default())?;
                let block = get(&client, name, false)?;
                let mut printer = cli.output.printer()?;
                printer.columns(tables::BLOCK_COLUMNS);
                printer.object(&block, |b| tables::block_row(b, &Joined::default()))?;
                printer.finish()?;
            }
            Command::Get {
                name,
                show_secret: false,
            } => {
                let block = get(&client, name, false)?;
                let mut printer = cli.output.printer()?.with_table_mode(TableMode::PrettyJson);
                printer.object(&block, |_| Vec::new())?;
                printer.finish()?;
            }
            Command::Get {
                name,
                show_secret: true,
            } => {
                let block = get(&client, name, true)?;
                let text = match block.pointer("/data/value") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                writeln!(std::io::stdout(), "{text}")
                    .map_err(|e| Error::io("cannot write to stdout", e))?;
            }
            Command::Rm { name } => {
                let block = get(&client, name, false)?;
                client.delete(&format!("block_documents/{}", str_field(&block, "id")))?;
            }
        }
        Ok(0)
    })
}

fn secret_from_stdin() -> Result<String> {
    let mut value = read_stdin_text("the secret's value")?;
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    if value.is_empty() {
        return Err(Error::usage("the secret's value on stdin is empty"));
    }
    Ok(value)
}

fn block_path(name: &str) -> String {
    format!(
        "block_types/slug/secret/block_documents/name/{}",
        encode_path(name)
    )
}

/// The Secret block `name` (its value only when `include_secrets`).
fn get(client: &Client, name: &str, include_secrets: bool) -> Result<Value> {
    match client.get(&format!(
        "{}?include_secrets={include_secrets}",
        block_path(name)
    )) {
        Err(Error::Client { status: 404, .. }) => Err(Error::not_found(
            format!("secret '{name}' not found"),
            Some("list them with: pf-get blocks --type secret".into()),
        )),
        other => other,
    }
}

/// Create the Secret block, or replace the value of the one that exists.
fn set(client: &Client, name: &str, value: String) -> Result<()> {
    let data = json!({ "value": value });
    match get(client, name, false) {
        Ok(block) => {
            let body = json!({ "data": data, "merge_existing_data": false });
            client
                .patch(
                    &format!("block_documents/{}", str_field(&block, "id")),
                    body,
                )
                .map(drop)
        }
        Err(Error::Client { status: 404, .. }) => {
            let block_type = client.get("block_types/slug/secret")?;
            let type_id = str_field(&block_type, "id");
            let body =
                json!({ "block_schemas": { "block_type_id": { "any_": [type_id] } }, "limit": 1 });
            let schema = match client.post("block_schemas/filter", body)? {
                Value::Array(schemas) if !schemas.is_empty() => schemas[0].clone(),
                _ => {
                    return Err(Error::Failed(
                        "the server has no schema for Secret blocks".into(),
                    ));
                }
            };
            let body = json!({
                "name": name,
                "data": data,
                "block_schema_id": str_field(&schema, "id"),
                "block_type_id": type_id,
            });
            client.post("block_documents/", body).map(drop)
        }
        Err(e) => Err(e),
    }
}
