//! pf-limit: set, show, reset and remove concurrency limits — tag limits (how many task runs
//! with a tag may run at once) and, with --global, global limits.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use pf_common::cli::{ConnectionArgs, OutputArgs};
use pf_common::listing::Joined;
use pf_common::output::Printer;
use pf_common::refs::encode_path;
use pf_common::{Client, Error, Result, kinds, tables};
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
  pf-limit set --pool default 10
  pf-limit set --queue default/high 3
  pf-limit set --deployment etl/nightly 1
  pf-limit rm --pool default
  pf-limit set --global api-calls 10 --slot-decay-per-second 0.5
  pf-limit set database 5
  pf-limit get database --jq .concurrency_limit
  pf-limit reset database
  pf-limit set --global nightly-exports 2
  pf-limit rm database";

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the limit, or change it if it exists; with --pool, --queue or --deployment, set
    /// that object's concurrency limit (`pf-limit set --pool default 5`)
    Set {
        #[command(flatten)]
        object: ObjectLimit,
        /// TAG (or --global NAME) and N; only N with --pool, --queue or --deployment
        #[arg(value_name = "TAG N", num_args = 1..=2, required = true)]
        args: Vec<String>,
        /// --global: slots taken now (as `prefect gcl update --active-slots`)
        #[arg(long, value_name = "N", requires = "global")]
        active_slots: Option<u64>,
        /// --global: slots freed per second (a rate limit, as `prefect gcl create`)
        #[arg(long, value_name = "X", requires = "global")]
        slot_decay_per_second: Option<f64>,
        /// A global concurrency limit rather than a tag limit
        #[arg(long)]
        global: bool,
        /// Accepted for `prefect global-concurrency-limit` scripts; pf always changes an
        /// existing limit (a re-run is success)
        #[arg(long)]
        overwrite: bool,
    },
    /// Show the limit (with --pool, --queue or --deployment: that object)
    Get(Target),
    /// Free every slot the limit holds (for slots left behind by crashed runs)
    Reset(Target),
    /// Remove the limit (with --pool, --queue or --deployment: no limit on that object)
    Rm(Target),
}

/// The object whose own concurrency limit is meant, instead of a tag or global limit.
#[derive(Debug, Args)]
#[group(multiple = false)]
struct ObjectLimit {
    /// A work pool's limit (name or id)
    #[arg(long, value_name = "POOL")]
    pool: Option<String>,
    /// A work queue's limit (POOL/QUEUE or id)
    #[arg(long, value_name = "POOL/QUEUE")]
    queue: Option<String>,
    /// A deployment's limit (FLOW/DEPLOYMENT or id)
    #[arg(long, value_name = "FLOW/DEPLOYMENT")]
    deployment: Option<String>,
}

impl ObjectLimit {
    /// The kind and REF named, if any.
    fn target(&self) -> Option<(&'static kinds::Kind, &str)> {
        [
            (&kinds::WORK_POOL, &self.pool),
            (&kinds::WORK_QUEUE, &self.queue),
            (&kinds::DEPLOYMENT, &self.deployment),
        ]
        .into_iter()
        .find_map(|(kind, reference)| reference.as_deref().map(|r| (kind, r)))
    }
}

/// Set (`Some`) or remove (`None`) the concurrency limit of a pool, queue or deployment, and
/// print the object as its kind's row. Setting what is set is success: the PATCH is the same.
fn object_limit(
    client: &Client,
    printer: &mut Printer,
    (kind, reference): (&'static kinds::Kind, &str),
    limit: Option<Option<u64>>,
) -> Result<()> {
    let object = kind.resolve(client, reference)?;
    let object = match limit {
        Some(limit) => {
            let path = match kind.name {
                "work-pool" => kinds::fill("work_pools/{name}", &object),
                _ => kinds::fill(&format!("{}/{{id}}", kind.refs.path), &object),
            };
            client.patch(&path, json!({ "concurrency_limit": limit }))?;
            kind.resolve(client, &kinds::fill(kind.id_ref, &object))?
        }
        None => object,
    };
    printer.columns(kind.rows.columns);
    let joined = pf_common::listing::join(client, kind.rows.join, std::slice::from_ref(&object))?;
    printer.object(&object, |o| (kind.rows.row)(o, &joined))?;
    printer.finish()
}

#[derive(Debug, Args)]
struct Target {
    /// The tag (with --global: the limit's name)
    #[arg(value_name = "TAG", value_parser = pf_common::cli::non_blank, required_unless_present_any = ["pool", "queue", "deployment"])]
    name: Option<String>,
    /// A global concurrency limit rather than a tag limit
    #[arg(long)]
    global: bool,
    #[command(flatten)]
    object: ObjectLimit,
}

/// A tag or global limit's name and kind.
#[derive(Debug)]
struct Named {
    name: String,
    global: bool,
}

impl Named {
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

    fn set(&self, client: &Client, limit: u64, global: &GlobalOptions) -> Result<Value> {
        if !self.global {
            // The server creates the tag's limit or updates the one it has.
            return client.post(
                "concurrency_limits/",
                json!({ "tag": self.name, "concurrency_limit": limit }),
            );
        }
        let mut body = json!({ "limit": limit });
        if let Some(active) = global.active_slots {
            body["active_slots"] = json!(active);
        }
        if let Some(decay) = global.slot_decay_per_second {
            body["slot_decay_per_second"] = json!(decay);
        }
        match self.get(client) {
            Ok(_) => {
                client.patch(&self.path(), body)?;
                self.get(client)
            }
            Err(Error::Client { status: 404, .. }) => {
                body["name"] = json!(self.name);
                client.post("v2/concurrency_limits/", body)
            }
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

/// `--active-slots` and `--slot-decay-per-second` of a global limit.
#[derive(Debug, Default)]
struct GlobalOptions {
    active_slots: Option<u64>,
    slot_decay_per_second: Option<f64>,
}

/// A count from the command line (`N`): a non-negative integer.
fn parse_count(text: &str) -> Result<u64> {
    text.trim().parse().map_err(|_| {
        Error::usage(format!(
            "'{text}' is not a limit (a whole number of slots is needed)"
        ))
    })
}

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let mut printer = cli.output.printer()?;
        let named = |target: &Target| -> Result<Named> {
            match &target.name {
                Some(name) if name.trim().is_empty() => {
                    Err(Error::usage("the limit's name is empty"))
                }
                Some(name) => Ok(Named {
                    name: name.clone(),
                    global: target.global,
                }),
                None => Err(Error::usage("name a TAG, or --pool/--queue/--deployment")),
            }
        };
        let limit = match &cli.command {
            Command::Set {
                object,
                args,
                active_slots,
                slot_decay_per_second,
                global,
                overwrite: _,
            } => {
                if let Some(decay) = slot_decay_per_second
                    && !(decay.is_finite() && *decay >= 0.0)
                {
                    return Err(Error::usage("--slot-decay-per-second must be 0 or more").into());
                }
                match (object.target(), args.as_slice()) {
                    (Some(target), [n]) => {
                        let client = cli.connection.client()?;
                        object_limit(&client, &mut printer, target, Some(Some(parse_count(n)?)))?;
                        return Ok(0);
                    }
                    (None, [name, n]) => {
                        let target = Named {
                            name: name.clone(),
                            global: *global,
                        };
                        if name.trim().is_empty() {
                            return Err(Error::usage("the limit's name is empty").into());
                        }
                        let limit = parse_count(n)?;
                        let options = GlobalOptions {
                            active_slots: *active_slots,
                            slot_decay_per_second: *slot_decay_per_second,
                        };
                        target.set(&cli.connection.client()?, limit, &options)?
                    }
                    (Some(_), _) => {
                        return Err(Error::usage(
                            "with --pool, --queue or --deployment give only N",
                        )
                        .into());
                    }
                    (None, _) => return Err(Error::usage("give TAG and N").into()),
                }
            }
            Command::Get(target) | Command::Rm(target) | Command::Reset(target)
                if target.object.target().is_some() =>
            {
                let object = target.object.target().expect("checked");
                let client = cli.connection.client()?;
                let limit = match &cli.command {
                    Command::Get(_) => None,
                    Command::Rm(_) => Some(None),
                    _ => return Err(Error::usage("reset goes with tag and global limits").into()),
                };
                object_limit(&client, &mut printer, object, limit)?;
                return Ok(0);
            }
            Command::Get(target) => named(target)?.get(&cli.connection.client()?)?,
            Command::Reset(target) => named(target)?.reset(&cli.connection.client()?)?,
            Command::Rm(target) => {
                named(target)?.remove(&cli.connection.client()?)?;
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
