//! pf-deploy's flow: flags into a request, then check everything (prefect.yaml, templates,
//! work pools, flows, parameters, steps), then write each deployment's difference.

use std::path::PathBuf;

use pf_common::cli::Batch;
use pf_common::output::Printer;
use pf_common::params::{merge_params, parse_key_json_map};
use pf_common::python::Python;
use pf_common::refs::encode_path;
use pf_common::{Client, Error, Result};
use serde_json::{Map, Value, json};

use crate::Cli;
use crate::config::{Actions, ProjectFile, pick};
use crate::flows::Flows;
use crate::report::{Outcome, Report};
use crate::spec::{Desired, Options, finish, prepare};
use crate::template::Resolver;
use crate::upsert;

/// Where the deployments come from.
#[derive(Debug)]
enum Source {
    /// `pf-deploy FILE.py:FUNCTION -n NAME`.
    Entrypoint,
    /// prefect.yaml, with `-n` selectors or `--all`.
    File {
        path: PathBuf,
        names: Vec<String>,
        all: bool,
    },
}

/// The validated command line.
#[derive(Debug)]
pub struct Request {
    source: Source,
    options: Options,
    python: Python,
    create_pool: Option<String>,
    skip_build: bool,
    skip_push: bool,
    dry_run: bool,
    quiet: bool,
}

impl Request {
    /// Check flag combinations and values before anything is read or requested.
    pub fn from_cli(cli: &Cli) -> Result<Request> {
        let mut options = Options {
            description: cli.description.clone(),
            version: cli.version_label.clone(),
            tags: cli.tags.clone(),
            concurrency_limit: cli.concurrency,
            collision_strategy: cli.collision_strategy.clone().map(|s| s.to_uppercase()),
            pool: cli.pool.clone(),
            queue: cli.queue.clone(),
            job_variables: parse_key_json_map(&cli.job_variables, "--job-variable")?,
            cron: cli.cron.clone(),
            rrule: cli.rrule.clone(),
            anchor_date: cli.anchor_date.clone(),
            timezone: cli.timezone.clone(),
            no_enforce_schema: cli.no_enforce_parameter_schema,
            paused: cli.paused,
            ..Options::default()
        };
        if let Some(strategy) = &options.collision_strategy
            && !matches!(strategy.as_str(), "ENQUEUE" | "CANCEL_NEW")
        {
            return Err(Error::usage(format!(
                "--collision-strategy '{strategy}' is not ENQUEUE or CANCEL_NEW"
            )));
        }
        for every in &cli.interval {
            let seconds = pf_common::time::parse_duration(every)?.as_secs_f64();
            if seconds <= 0.0 {
                return Err(Error::usage(format!(
                    "--interval '{every}' must be more than 0"
                )));
            }
            options.interval.push(seconds);
        }
        if let Some(anchor) = &cli.anchor_date
            && anchor.parse::<jiff::Timestamp>().is_err()
        {
            return Err(Error::usage_hint(
                format!("--anchor-date '{anchor}' is not an RFC 3339 time"),
                "e.g. --anchor-date 2026-01-01T03:00:00Z",
            ));
        }
        let json_params = match &cli.params_json {
            None => Map::new(),
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => map,
                _ => {
                    return Err(Error::usage(format!(
                        "--params '{text}' is not a JSON object"
                    )));
                }
            },
        };
        options.params = merge_params([json_params, parse_key_json_map(&cli.params, "--param")?]);
        let source = match &cli.entrypoint {
            Some(entrypoint) => {
                let name = match cli.names.as_slice() {
                    [name] => name.clone(),
                    [] => {
                        return Err(Error::usage_hint(
                            "an entrypoint needs a deployment name",
                            format!("pf-deploy {entrypoint} -n NAME --pool POOL"),
                        ));
                    }
                    _ => return Err(Error::usage("an entrypoint takes one -n NAME")),
                };
                if name.contains('/') || name.is_empty() {
                    return Err(Error::usage(format!(
                        "deployment name '{name}' must not be empty or contain '/'"
                    )));
                }
                if cli.pool.is_none() {
                    return Err(Error::usage_hint(
                        "an entrypoint needs a work pool",
                        format!("pf-deploy {entrypoint} -n {name} --pool POOL"),
                    ));
                }
                options.entrypoint = Some(entrypoint.clone());
                options.name = Some(name);
                Source::Entrypoint
            }
            None => Source::File {
                path: PathBuf::from(cli.prefect_file.as_deref().unwrap_or("prefect.yaml")),
                names: cli.names.clone(),
                all: cli.all,
            },
        };
        Ok(Request {
            source,
            options,
            python: Python::new(cli.python.clone()),
            create_pool: cli.create_pool.clone(),
            skip_build: cli.skip_build,
            skip_push: cli.skip_push,
            dry_run: cli.dry_run,
            quiet: cli.quiet,
        })
    }
}

/// Check everything, then write; returns the exit code.
pub fn deploy(client: &Client, request: &Request, printer: &mut Printer) -> Result<i32> {
    let env = Value::Object(std::env::vars().map(|(k, v)| (k, json!(v))).collect());
    let mut resolver = Resolver::new(client);
    let mut prepared = Vec::new();
    match &request.source {
        Source::Entrypoint => {
            let origin = request.options.entrypoint.clone().unwrap_or_default();
            prepared.push(prepare(
                &json!({}),
                &Actions::default(),
                &request.options,
                origin,
                &mut resolver,
                &env,
            )?);
        }
        Source::File { path, names, all } => {
            let file = ProjectFile::read(path)?;
            for index in pick(&file, names, *all)? {
                let config = &file.deployments[index];
                let label = config
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("unnamed");
                let origin = format!("{} ({label})", file.at(file.line_of_deployment(index)));
                prepared.push(prepare(
                    config,
                    &file.actions,
                    &request.options,
                    origin,
                    &mut resolver,
                    &env,
                )?);
            }
        }
    }
    let missing_pools = check_pools(client, &prepared, request.create_pool.as_deref())?;
    let mut flows = Flows::new(request.python.clone(), client.settings().clone());
    let mut desired: Vec<Desired> = Vec::new();
    for item in &prepared {
        let flow = flows.load(item.entrypoint(), &item.origin)?;
        let wanted = finish(
            item,
            &flow,
            &mut flows,
            request.skip_build,
            request.skip_push,
        )?;
        if let Some(other) = desired.iter().find(|d| d.full_name() == wanted.full_name()) {
            return Err(Error::usage(format!(
                "{}: deployment {} is given twice",
                item.origin,
                other.full_name()
            )));
        }
        desired.push(wanted);
    }
    drop(flows);
    if !request.dry_run {
        for (pool, kind) in &missing_pools {
            // A resend after a lost answer finds the pool made: that is success.
            match client.post("work_pools/", json!({"name": pool, "type": kind})) {
                Ok(_) | Err(Error::Client { status: 409, .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    let mut report = Report::new(request.quiet, request.dry_run);
    let mut batch = Batch::default();
    for wanted in &desired {
        let outcome = upsert::diff(client, wanted).and_then(|diff| {
            let object = if request.dry_run {
                dry_object(wanted, &diff)
            } else {
                upsert::write(client, wanted, &diff)?
            };
            Ok(Outcome {
                full_name: wanted.full_name(),
                result: diff.result(request.dry_run),
                object,
                changes: diff.changes,
            })
        });
        if let Some(outcome) = batch.record("pf-deploy", outcome) {
            report.add(outcome);
        }
    }
    report.print(printer)?;
    Ok(batch.exit_code())
}

/// What a dry run shows: the deployment as it would be.
fn dry_object(wanted: &Desired, diff: &upsert::Diff) -> Value {
    let mut object = diff.existing.clone().unwrap_or_else(|| json!({}));
    for (key, value) in &wanted.body {
        object[key] = value.clone();
    }
    if let Some(schedules) = &wanted.schedules {
        object["schedules"] = json!(schedules);
    }
    object
}

/// Every work pool named must exist; with `--create-pool TYPE` a missing one is returned to be
/// created once the rest has been checked.
fn check_pools(
    client: &Client,
    prepared: &[crate::spec::Prepared],
    create: Option<&str>,
) -> Result<Vec<(String, String)>> {
    let mut seen: Vec<&str> = Vec::new();
    let mut missing = Vec::new();
    for item in prepared {
        let pool = item.pool();
        if seen.contains(&pool) {
            continue;
        }
        seen.push(pool);
        match client.get(&format!("work_pools/{}", encode_path(pool))) {
            Ok(_) => {}
            Err(Error::Client { status: 404, .. }) => match create {
                Some(kind) => missing.push((pool.to_string(), kind.to_string())),
                None => {
                    return Err(Error::not_found(
                        format!("{}: work pool '{pool}' does not exist", item.origin),
                        Some(format!(
                            "create it: pf-deploy … --create-pool process (or prefect work-pool create {pool} --type process); list pools: pf-get work-pools"
                        )),
                    ));
                }
            },
            Err(e) => return Err(e),
        }
    }
    Ok(missing)
}
