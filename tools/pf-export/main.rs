//! pf-export: every object of a server as NDJSON for pf-apply, in dependency order.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use pf_common::Error;
use pf_common::apply::export::export;
use pf_common::apply::spec::ApplySpec;
use pf_common::cli::{ConnectionArgs, OutputArgs};

/// Print every object of a server (or of the chosen kinds) as NDJSON that pf-apply takes.
///
/// Objects come in dependency order — blocks, variables, concurrency limits, work pools, work
/// queues, flows, deployments, automations — each with its `kind` first, without the fields
/// the server owns (ids, timestamps, status), and with references by name (a deployment's
/// flow_name; an automation's actions and triggers name deployments, pools, queues and
/// automations), so the output applies to another server:
///
///     pf-export --profile old | pf-apply --profile new
///
/// Secret values of blocks stay as the server shows them ("********") unless
/// --include-secrets; pf-apply keeps the target's value for those. Global limits that the
/// server made for a deployment's concurrency_limit or a tag limit are not exported (their
/// owners are). -o json prints one array; --jq filters each object.
#[derive(Debug, Parser)]
#[command(name = "pf-export", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Export secret values of blocks in the clear
    #[arg(long)]
    include_secrets: bool,
    /// Kinds to export (default: all)
    #[arg(value_name = "KIND")]
    kinds: Vec<String>,
}

const EXAMPLES: &str = "Examples:
  pf-export > server.ndjson
  pf-export --profile old | pf-apply --profile new
  pf-export deployments automations > flows.ndjson
  pf-export --include-secrets blocks > blocks.ndjson
  pf-export work-pools --jq .name";

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let kinds = cli
            .kinds
            .iter()
            .map(|k| ApplySpec::find_or_usage(k))
            .collect::<pf_common::Result<Vec<_>>>()?;
        let mut output = cli.output.clone();
        // A table of whole objects says little: an export is NDJSON unless -o says otherwise.
        output
            .output
            .get_or_insert(pf_common::output::Format::Ndjson);
        let mut printer = output.printer()?;
        let client = cli.connection.client()?;
        export(&client, &kinds, cli.include_secrets, |object| {
            printer.object(&object, |_| Vec::new())
        })?;
        printer.finish()?;
        std::io::stdout()
            .flush()
            .map_err(|e| Error::io("cannot write to stdout", e))?;
        Ok(0)
    })
}
