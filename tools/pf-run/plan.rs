//! Flags → one validated plan. Every usage error (flag combinations, bad JSON, bad times) is
//! found here, before any request is made.

use std::time::Duration;

use jiff::Timestamp;
use pf_common::Error;
use pf_common::logs::{level_name, parse_level};
use pf_common::params::{merge_params, parse_key_json_map, read_param_file, split_key_value};
use pf_common::refs::is_uuid;
use pf_common::runs::{new_idempotency_key, scheduled_state};
use pf_common::time::{parse_duration, parse_time_from_now};
use serde_json::{Map, Value, json};

use crate::Cli;
use crate::python::Python;
use crate::schedule::Schedule;

/// What to run.
#[derive(Debug)]
pub enum Target {
    /// A deployment REF: id, FLOW/DEPLOYMENT or a bare FLOW.
    Deployment(String),
    /// A flow in local Python code.
    Local(LocalSource),
}

/// Where a local flow lives.
#[derive(Debug)]
pub struct LocalSource {
    /// `path` or `module` (the helper's first argument).
    pub kind: &'static str,
    /// The file or module.
    pub source: String,
    /// The flow's function (or flow) name; None: the only flow there.
    pub function: Option<String>,
}

/// The validated run request.
#[derive(Debug)]
pub struct Plan {
    pub target: Target,
    pub params: Map<String, Value>,
    pub run_name: Option<String>,
    pub tags: Vec<String>,
    pub labels: Map<String, Value>,
    pub context: Map<String, Value>,
    pub job_variables: Map<String, Value>,
    pub log_level: Option<String>,
    pub work_queue: Option<String>,
    pub start_at: Option<Timestamp>,
    pub idempotency_key: Option<String>,
    /// Run it in a child process here (always true for local runs).
    pub execute: bool,
    pub schedule: Option<Schedule>,
    pub quiet: bool,
    /// Open the run's UI page once created.
    pub web: bool,
    pub watch: bool,
    pub logs: bool,
    pub timeout: Option<Duration>,
    pub python: Python,
}

impl Plan {
    pub fn from_cli(cli: &Cli) -> Result<Plan, Error> {
        if cli.project.is_some() {
            return Err(Error::usage_hint(
                "--project has no meaning in Prefect 2+: there are no projects, flows run through deployments",
                "name the deployment instead: pf-run -n FLOW/DEPLOYMENT (list them: pf-get deployments)",
            ));
        }
        let target = target(cli)?;
        let local = matches!(target, Target::Local(_));
        let schedule = match (cli.schedule, &cli.cron, &cli.interval) {
            (false, None, None) => None,
            (false, _, _) => {
                return Err(Error::usage(
                    "--cron and --interval go with --schedule (-s)",
                ));
            }
            (true, _, _) if !local => {
                return Err(Error::usage_hint(
                    "--schedule works only for local runs (-p FILE or -m MODULE)",
                    "a deployment runs on its own schedules; to run it once later use --start-in or --start-at",
                ));
            }
            (true, Some(cron), None) => Some(Schedule::cron(cron)?),
            (true, None, Some(every)) => Some(Schedule::interval(parse_duration(every)?)?),
            (true, _, _) => {
                return Err(Error::usage(
                    "--schedule needs --cron EXPR or --interval DURATION",
                ));
            }
        };
        if local && (!cli.job_variables.is_empty() || cli.work_queue.is_some()) {
            return Err(Error::usage(
                "--job-variable and --work-queue are for deployment runs (a local run has no worker)",
            ));
        }
        let start_at = match (&cli.start_in, &cli.start_at) {
            // As Prefect, a date given to --start-in is the same as --start-at.
            (Some(t), _) | (None, Some(t)) => Some(parse_time_from_now(t)?),
            (None, None) => None,
        };
        if start_at.is_some() && (schedule.is_some() || (cli.execute && !local)) {
            return Err(Error::usage(
                "--start-in/--start-at schedule a run for a worker; they do not go with --execute or --schedule",
            ));
        }
        if cli.timeout.is_some() && !(cli.watch || cli.execute || local) {
            return Err(Error::usage(
                "--timeout goes with --watch or --execute (pf-run otherwise does not wait)",
            ));
        }
        let mut tags = cli.tags.clone();
        let mut labels = Map::new();
        for label in &cli.labels {
            match label.split_once('=') {
                // A 0.x label had no value: it selected agents, as tags do now.
                None => tags.push(label.clone()),
                Some(_) => {
                    let (key, value) = split_key_value(label, "--label")?;
                    labels.insert(key.to_string(), Value::String(value.to_string()));
                }
            }
        }
        let mut layers = Vec::new();
        if let Some(file) = &cli.param_file {
            layers.push(read_param_file(file)?);
        }
        if cli.params_json.as_deref() == Some("-") {
            layers.push(read_param_file("-")?);
        } else if let Some(text) = &cli.params_json {
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => layers.push(map),
                _ => {
                    return Err(Error::usage(format!(
                        "--params '{text}' is not a JSON object"
                    )));
                }
            }
        }
        layers.push(parse_key_json_map(&cli.params, "--param")?);
        let log_level = match &cli.log_level {
            None => None,
            Some(text) => Some(log_level(text)?),
        };
        Ok(Plan {
            target,
            params: merge_params(layers),
            run_name: cli.run_name.clone(),
            tags,
            labels,
            context: parse_key_json_map(&cli.context, "--context")?,
            job_variables: parse_key_json_map(&cli.job_variables, "--job-variable")?,
            log_level,
            work_queue: cli.work_queue.clone(),
            start_at,
            idempotency_key: cli.idempotency_key.clone(),
            execute: cli.execute || local,
            schedule,
            quiet: cli.quiet,
            web: cli.web,
            watch: cli.watch,
            logs: !cli.no_logs,
            timeout: cli.timeout.as_deref().map(parse_duration).transpose()?,
            python: Python::new(cli.python.clone()),
        })
    }

    /// The create body shared by deployment and local runs: name (with `{param}` filled in from
    /// `all_params`), parameters, tags, labels, context, idempotency key, and the state (Pending
    /// when executed here, so no worker takes it; Scheduled at --start-at/--start-in).
    pub fn run_body(&self, all_params: &Map<String, Value>) -> Result<Value, Error> {
        let mut body = json!({
            "parameters": self.params,
            "tags": self.tags,
            "context": self.context,
            "idempotency_key": self.idempotency_key.clone().unwrap_or_else(new_idempotency_key),
        });
        if !self.labels.is_empty() {
            body["labels"] = Value::Object(self.labels.clone());
        }
        if let Some(name) = &self.run_name {
            body["name"] = json!(fill_template(name, all_params)?);
        }
        if let Some(at) = self.start_at {
            body["state"] = scheduled_state(at);
        } else if self.execute {
            body["state"] = json!({ "type": "PENDING" });
        }
        Ok(body)
    }

    /// The job variables of a deployment run: --job-variable, plus --log-level in `env`.
    pub fn job_variables(&self) -> Map<String, Value> {
        let mut vars = self.job_variables.clone();
        if let Some(level) = &self.log_level {
            let env = vars.entry("env").or_insert_with(|| json!({}));
            if !env.is_object() {
                *env = json!({});
            }
            env["PREFECT_LOGGING_LEVEL"] = json!(level);
        }
        vars
    }

    /// True when pf-run prints the run's events as they come.
    pub fn shows_events(&self) -> bool {
        self.watch && !self.quiet
    }
}

fn target(cli: &Cli) -> Result<Target, Error> {
    if let Some(path) = &cli.path {
        if !std::path::Path::new(path).is_file() {
            return Err(Error::usage(format!("--path '{path}': no such file")));
        }
        let absolute = std::path::absolute(path)
            .map_err(|e| Error::io(format!("cannot resolve '{path}'"), e))?;
        return Ok(Target::Local(LocalSource {
            kind: "path",
            source: absolute.display().to_string(),
            function: cli.name.clone(),
        }));
    }
    if let Some(module) = &cli.module {
        return Ok(Target::Local(LocalSource {
            kind: "module",
            source: module.clone(),
            function: cli.name.clone(),
        }));
    }
    match (&cli.id, &cli.name) {
        (Some(_), Some(_)) => Err(Error::usage(
            "give either -i ID or -n FLOW/DEPLOYMENT, not both",
        )),
        (Some(id), None) if !is_uuid(id) => Err(Error::usage_hint(
            format!("-i '{id}' is not a deployment id (a UUID)"),
            "to run by name use -n FLOW/DEPLOYMENT",
        )),
        (Some(id), None) => Ok(Target::Deployment(id.clone())),
        (None, Some(name)) => Ok(Target::Deployment(name.clone())),
        (None, None) => Err(Error::usage_hint(
            "nothing to run",
            "pf-run -n FLOW/DEPLOYMENT, -i DEPLOYMENT_ID, or -p FILE -n FUNCTION (list deployments: pf-get deployments)",
        )),
    }
}

fn log_level(text: &str) -> Result<String, Error> {
    let name = level_name(parse_level(text)?);
    if name.parse::<u64>().is_ok() {
        return Err(Error::usage_hint(
            format!("--log-level '{text}' is not a level name"),
            "use debug, info, warning, error or critical",
        ));
    }
    Ok(name)
}

/// Replace `{name}` by the parameter's value (strings unquoted; `{{` and `}}` are braces), as
/// Prefect's `--flow-run-name`: a name that is no parameter is a usage error.
fn fill_template(template: &str, params: &Map<String, Value>) -> Result<String, Error> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        let close = tail
            .find('}')
            .filter(|_| tail.starts_with('{'))
            .ok_or_else(|| {
                Error::usage(format!("--flow-run-name '{template}': unmatched brace"))
            })?;
        let key = &tail[1..close];
        let value = params.get(key).ok_or_else(|| {
            Error::usage_hint(
                format!("--flow-run-name '{template}': '{key}' is not a parameter of the run"),
                "use {NAME} of a parameter given with --param or set on the deployment ({{ and }} for braces)",
            )
        })?;
        match value {
            Value::String(s) => out.push_str(s),
            other => out.push_str(&other.to_string()),
        }
        rest = &tail[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_known_parameters() {
        let params = json!({"customer": "acme", "day": 3})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            fill_template("run-{customer}-{day}-{{x}}", &params).unwrap(),
            "run-acme-3-{x}"
        );
        assert_eq!(
            fill_template("hello-{missing}", &params)
                .unwrap_err()
                .exit_code(),
            2
        );
        assert!(fill_template("a{b", &params).is_err());
    }
}
