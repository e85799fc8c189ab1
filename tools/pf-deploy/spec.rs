//! One deployment's config (a prefect.yaml entry, or the command line) turned into what
//! `prefect deploy` stores, step by step as `_run_single_deploy` does: defaults, command-line
//! options, blocks / variables / `$ENV` templating, the flow's name and schema, the work pool,
//! pull steps, build and push steps, step-output templating, schedules.

use pf_common::params::check_params;
use pf_common::{Error, Result};
use serde_json::{Map, Value, json};

use crate::flows::{FlowInfo, Flows};
use crate::template::{Resolver, Unset, apply_values};

/// Command-line options that override the config (Prefect's `_apply_cli_options_to_deploy_config`).
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// `ENTRYPOINT`.
    pub entrypoint: Option<String>,
    /// `-n NAME` in the entrypoint form.
    pub name: Option<String>,
    /// `--description`.
    pub description: Option<String>,
    /// `--version`.
    pub version: Option<String>,
    /// `--tag` (replace the config's tags when given).
    pub tags: Vec<String>,
    /// `--concurrency`.
    pub concurrency_limit: Option<u64>,
    /// `--collision-strategy`.
    pub collision_strategy: Option<String>,
    /// `--pool`.
    pub pool: Option<String>,
    /// `--queue`.
    pub queue: Option<String>,
    /// `--job-variable K=JSON`.
    pub job_variables: Map<String, Value>,
    /// `--cron`.
    pub cron: Vec<String>,
    /// `--interval`, in seconds.
    pub interval: Vec<f64>,
    /// `--rrule`.
    pub rrule: Vec<String>,
    /// `--anchor-date`.
    pub anchor_date: Option<String>,
    /// `--timezone`.
    pub timezone: Option<String>,
    /// `--param K=JSON` / `--params`.
    pub params: Map<String, Value>,
    /// `--no-enforce-parameter-schema`.
    pub no_enforce_schema: bool,
    /// `--paused`.
    pub paused: bool,
}

/// A deployment as pf-deploy will store it.
#[derive(Debug, Clone)]
pub struct Desired {
    /// The flow's name.
    pub flow_name: String,
    /// The deployment's name.
    pub name: String,
    /// The create body (without `flow_id`), fields as Prefect sends them.
    pub body: Map<String, Value>,
    /// `None`: leave the deployment's schedules as they are (none given).
    pub schedules: Option<Vec<Value>>,
}

impl Desired {
    /// `FLOW/NAME`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.flow_name, self.name)
    }
}

/// One config ready for the flow to be loaded: defaults merged, options applied, templates
/// of the API and environment resolved, steps taken as written.
#[derive(Debug)]
pub struct Prepared {
    /// Where it came from, for errors (`prefect.yaml:12 (etl)`).
    pub origin: String,
    config: Value,
    build: Vec<Value>,
    push: Vec<Value>,
    pull: Option<Vec<Value>>,
    variable_overrides: Map<String, Value>,
}

impl Prepared {
    /// The entrypoint (checked by [`prepare`]).
    pub fn entrypoint(&self) -> &str {
        self.config["entrypoint"].as_str().unwrap_or_default()
    }

    /// The work pool's name.
    pub fn pool(&self) -> &str {
        self.config["work_pool"]["name"]
            .as_str()
            .unwrap_or_default()
    }
}

fn merge_defaults(config: &mut Map<String, Value>) {
    for (key, value) in [
        ("name", Value::Null),
        ("version", Value::Null),
        ("tags", json!([])),
        ("concurrency_limit", Value::Null),
        ("description", Value::Null),
        ("flow_name", Value::Null),
        ("entrypoint", Value::Null),
        ("parameters", json!({})),
    ] {
        config.entry(key).or_insert(value);
    }
    let pool = config.entry("work_pool").or_insert_with(|| json!({}));
    if !pool.is_object() {
        *pool = json!({});
    }
    let pool = pool.as_object_mut().expect("object");
    pool.entry("name").or_insert(Value::Null);
    pool.entry("work_queue_name").or_insert(Value::Null);
    pool.entry("job_variables").or_insert_with(|| json!({}));
}

fn apply_options(config: &mut Map<String, Value>, options: &Options) -> Map<String, Value> {
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            config.insert(key.into(), v);
        }
    };
    set("name", options.name.clone().map(Value::from));
    set("entrypoint", options.entrypoint.clone().map(Value::from));
    set("description", options.description.clone().map(Value::from));
    set("version", options.version.clone().map(Value::from));
    set(
        "tags",
        (!options.tags.is_empty()).then(|| json!(options.tags)),
    );
    set(
        "concurrency_limit",
        options
            .concurrency_limit
            .map(|limit| match &options.collision_strategy {
                Some(strategy) => json!({"limit": limit, "collision_strategy": strategy}),
                None => json!(limit),
            }),
    );
    if options.no_enforce_schema {
        config.insert("enforce_parameter_schema".into(), json!(false));
    }
    if options.paused {
        config.insert("paused".into(), json!(true));
    }
    let pool = config["work_pool"].as_object_mut().expect("merged");
    if let Some(name) = &options.pool {
        pool.insert("name".into(), json!(name));
    }
    if let Some(queue) = &options.queue {
        pool.insert("work_queue_name".into(), json!(queue));
    }
    if !options.job_variables.is_empty() {
        if !pool["job_variables"].is_object() {
            pool.insert("job_variables".into(), json!({}));
        }
        let vars = pool["job_variables"].as_object_mut().expect("object");
        vars.extend(options.job_variables.clone());
    }
    let mut added = Vec::new();
    added.extend(options.cron.iter().map(|c| json!({"cron": c})));
    added.extend(options.interval.iter().map(|i| json!({"interval": i})));
    added.extend(options.rrule.iter().map(|r| json!({"rrule": r})));
    if !added.is_empty() {
        let schedules = config.entry("schedules").or_insert_with(|| json!([]));
        if !schedules.is_array() {
            *schedules = json!([]);
        }
        schedules.as_array_mut().expect("array").extend(added);
    }
    if let Some(Value::Array(schedules)) = config.get_mut("schedules") {
        for schedule in schedules.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(anchor) = &options.anchor_date
                && schedule.contains_key("interval")
            {
                schedule.insert("anchor_date".into(), json!(anchor));
            }
            if let Some(tz) = &options.timezone {
                schedule.insert("timezone".into(), json!(tz));
            }
        }
    }
    if !options.params.is_empty() {
        if !config["parameters"].is_object() {
            config.insert("parameters".into(), json!({}));
        }
        config["parameters"]
            .as_object_mut()
            .expect("object")
            .extend(options.params.clone());
    }
    options.job_variables.clone()
}

fn steps_of(value: Option<&Value>) -> Option<Vec<Value>> {
    match value {
        Some(Value::Array(steps)) => Some(steps.clone()),
        Some(Value::Null) => Some(Vec::new()),
        _ => None,
    }
}

/// Defaults, options, the legacy `schedule:` key, blocks, variables and `$ENV`.
pub fn prepare(
    config: &Value,
    actions: &crate::config::Actions,
    options: &Options,
    origin: String,
    resolver: &mut Resolver,
    env: &Value,
) -> Result<Prepared> {
    let fail = |message: String| Error::usage(format!("{origin}: {message}"));
    let mut map = config.as_object().cloned().unwrap_or_default();
    merge_defaults(&mut map);
    if let Some(legacy) = map.get("schedule").cloned()
        && !legacy.is_null()
    {
        if map.contains_key("schedules") {
            return Err(fail(
                "both 'schedule' and 'schedules' are given: use 'schedules'".into(),
            ));
        }
        if legacy.is_object() {
            map.insert("schedules".into(), json!([legacy]));
        }
    }
    let variable_overrides = apply_options(&mut map, options);
    for step in map
        .get("build")
        .into_iter()
        .chain(map.get("push"))
        .chain(map.get("pull"))
    {
        for s in step.as_array().into_iter().flatten() {
            crate::config::check_step(s).map_err(|why| fail(format!("step {why}")))?;
        }
    }
    let build = steps_of(map.get("build")).unwrap_or_else(|| actions.build.clone());
    let push = steps_of(map.get("push")).unwrap_or_else(|| actions.push.clone());
    let pull = match map.get("pull") {
        Some(Value::Array(steps)) => Some(steps.clone()),
        _ => actions.pull.clone(),
    };
    let resolved = resolver.resolve(&Value::Object(map)).map_err(|e| match e {
        Error::Usage { message, hint } => Error::Usage {
            message: format!("{origin}: {message}"),
            hint,
        },
        other => other,
    })?;
    let config = apply_values(&resolved, env, Unset::Keep, &[]);
    let entrypoint = config["entrypoint"].as_str().unwrap_or_default();
    if entrypoint.is_empty() {
        return Err(Error::usage_hint(
            format!("{origin}: no entrypoint"),
            "give one as path/to/file.py:flow_function (in prefect.yaml or as the argument)",
        ));
    }
    if !entrypoint.contains(':') {
        return Err(fail(format!(
            "entrypoint '{entrypoint}' is not path/to/file.py:flow_function"
        )));
    }
    let path = entrypoint
        .rsplit_once(':')
        .map(|(p, _)| p)
        .unwrap_or_default();
    if !std::path::Path::new(path).is_file() {
        return Err(Error::usage_hint(
            format!("{origin}: entrypoint file '{path}' not found"),
            "entrypoints are relative to the folder pf-deploy runs in",
        ));
    }
    if config["name"].as_str().is_none_or(str::is_empty) {
        return Err(fail("the deployment has no name: give -n NAME".into()));
    }
    if config["work_pool"]["name"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        return Err(Error::usage_hint(
            format!("{origin}: no work pool"),
            "give --pool POOL, or work_pool.name in prefect.yaml",
        ));
    }
    Ok(Prepared {
        origin,
        config,
        build,
        push,
        pull,
        variable_overrides,
    })
}

/// Run the build and push steps (unless skipped) and finish the deployment as
/// `_run_single_deploy` does from there on.
pub fn finish(
    prepared: &Prepared,
    flow: &FlowInfo,
    flows: &mut Flows,
    skip_build: bool,
    skip_push: bool,
) -> Result<Desired> {
    let origin = &prepared.origin;
    let mut config = prepared.config.clone();
    // An explicit `pull: []` means no pull steps; none given means Prefect's default.
    let pull = match &prepared.pull {
        Some(steps) => steps.clone(),
        None => default_pull_steps(&config)?,
    };
    let mut outputs = Value::Object(Map::new());
    if !prepared.build.is_empty() && !skip_build {
        outputs = flows.run_steps(&prepared.build, &outputs, origin)?;
    }
    if !prepared.push.is_empty() && !skip_push {
        outputs = flows.run_steps(&prepared.push, &outputs, origin)?;
    }
    if let Value::Object(out) = &mut outputs {
        out.extend(prepared.variable_overrides.clone());
    }
    if config["description"].is_null() {
        config["description"] = flow.description.clone();
    }
    let schedules = match config.get("schedules") {
        None | Some(Value::Null) => None,
        Some(list) => {
            let list = apply_values(list, &outputs, Unset::Remove, &[]);
            let items = list.as_array().cloned().unwrap_or_default();
            Some(
                items
                    .iter()
                    .map(schedule_body)
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|why| Error::usage(format!("{origin}: {why}")))?,
            )
        }
    };
    if let Some(map) = config.as_object_mut() {
        map.remove("schedules");
        map.remove("triggers");
    }
    let config = apply_values(&config, &outputs, Unset::Remove, &["ctx."]);
    let pull = apply_values(&Value::Array(pull), &outputs, Unset::Keep, &[]);

    let (concurrency_limit, concurrency_options) = match &config["concurrency_limit"] {
        Value::Object(limit) => {
            let mut options = json!({"collision_strategy": limit.get("collision_strategy").cloned().unwrap_or(Value::Null)});
            if let Some(grace) = limit.get("grace_period_seconds").filter(|g| !g.is_null()) {
                options["grace_period_seconds"] = grace.clone();
            }
            (limit.get("limit").cloned().unwrap_or(Value::Null), options)
        }
        other => (other.clone(), Value::Null),
    };
    let parameters = match &config["parameters"] {
        Value::Object(p) => p.clone(),
        Value::Null => Map::new(),
        other => {
            return Err(Error::usage(format!(
                "{origin}: parameters must be a mapping, not {other}"
            )));
        }
    };
    let mut satisfied = Map::new();
    for name in flow.schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        satisfied.insert(name.to_string(), Value::Null);
    }
    check_params(&flow.schema, &parameters, &satisfied).map_err(|e| match e {
        Error::Usage { message, hint } => Error::Usage {
            message: format!("{origin}: {message}"),
            hint,
        },
        other => other,
    })?;
    let mut name = config["name"].as_str().unwrap_or_default().to_string();
    if let Some(stem) = name.strip_suffix(".py") {
        name = std::path::Path::new(stem)
            .file_name()
            .map_or(stem.to_string(), |s| s.to_string_lossy().into_owned());
    }
    let (version, version_info) = match &config["version"] {
        Value::Null => match crate::version::inferred() {
            Some((version, info)) => (json!(version), info),
            None => (flow.version.clone(), Value::Null),
        },
        Value::String(_) => (config["version"].clone(), Value::Null),
        other => (Value::String(other.to_string()), Value::Null),
    };
    let version_info = if version_info.is_null() {
        json!({"type": "prefect:simple", "version": version.as_str().unwrap_or_default()})
    } else {
        version_info
    };
    let tags = match &config["tags"] {
        Value::Null => json!([]),
        Value::String(t) => json!([t]),
        other => other.clone(),
    };
    let pool = &config["work_pool"];
    let mut body = Map::new();
    body.insert("name".into(), json!(name));
    body.insert("version".into(), version.clone());
    body.insert("version_info".into(), version_info);
    body.insert(
        "paused".into(),
        json!(config["paused"].as_bool().unwrap_or(false)),
    );
    body.insert("concurrency_limit".into(), concurrency_limit);
    if !concurrency_options.is_null() {
        body.insert("concurrency_options".into(), concurrency_options);
    }
    body.insert("parameters".into(), Value::Object(parameters));
    body.insert("description".into(), config["description"].clone());
    body.insert("tags".into(), tags);
    body.insert("path".into(), Value::Null);
    body.insert("entrypoint".into(), config["entrypoint"].clone());
    body.insert("storage_document_id".into(), Value::Null);
    body.insert("infrastructure_document_id".into(), Value::Null);
    body.insert("parameter_openapi_schema".into(), flow.schema.clone());
    body.insert(
        "enforce_parameter_schema".into(),
        json!(config["enforce_parameter_schema"].as_bool().unwrap_or(true)),
    );
    body.insert("work_pool_name".into(), pool["name"].clone());
    body.insert("work_queue_name".into(), pool["work_queue_name"].clone());
    body.insert(
        "job_variables".into(),
        match &pool["job_variables"] {
            Value::Object(v) => Value::Object(v.clone()),
            _ => json!({}),
        },
    );
    body.insert("pull_steps".into(), pull);
    Ok(Desired {
        flow_name: flow.flow_name.clone(),
        name,
        body,
        schedules: schedules.filter(|s| !s.is_empty()),
    })
}

/// Prefect's `_generate_default_pull_action` without a Docker build: work in the folder the
/// deployment was made from (or `/opt/prefect/FOLDER` when the job runs a custom image).
fn default_pull_steps(config: &Value) -> Result<Vec<Value>> {
    let cwd =
        std::env::current_dir().map_err(|e| Error::io("cannot read the current folder", e))?;
    let directory = if config["work_pool"]["job_variables"]["image"].is_string() {
        format!(
            "/opt/prefect/{}",
            cwd.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        )
    } else {
        cwd.display().to_string()
    };
    Ok(vec![json!({
        "prefect.deployments.steps.set_working_directory": { "directory": directory }
    })])
}

/// A prefect.yaml schedule (`cron`, `interval`, `rrule` + `timezone`, `anchor_date`, `day_or`,
/// `active`, `parameters`, `slug`) as the API's schedule create body.
fn schedule_body(config: &Value) -> std::result::Result<Value, String> {
    let get = |k: &str| config.get(k).filter(|v| !v.is_null());
    let timezone = get("timezone").cloned();
    let schedule = if let Some(cron) = get("cron") {
        let mut s = json!({"cron": cron});
        if let Some(tz) = &timezone {
            s["timezone"] = tz.clone();
        }
        if let Some(day_or) = get("day_or") {
            s["day_or"] = day_or.clone();
        }
        s
    } else if let Some(interval) = get("interval") {
        let seconds = match interval {
            Value::Number(n) => n.as_f64().unwrap_or(0.0),
            Value::String(text) => parse_iso_duration(text).ok_or_else(|| {
                format!("interval '{text}' is not seconds or an ISO 8601 duration")
            })?,
            other => return Err(format!("interval {other} is not a number of seconds")),
        };
        if seconds <= 0.0 {
            return Err(format!("interval {interval} must be positive"));
        }
        let mut s = json!({"interval": seconds});
        if let Some(anchor) = get("anchor_date") {
            s["anchor_date"] = anchor.clone();
        }
        s["timezone"] = timezone.clone().unwrap_or(json!("UTC"));
        s
    } else if let Some(rrule) = get("rrule") {
        match rrule
            .as_str()
            .and_then(|r| serde_json::from_str::<Value>(r).ok())
        {
            Some(mut object @ Value::Object(_)) => {
                if let Some(tz) = &timezone {
                    object["timezone"] = tz.clone();
                }
                object
            }
            _ => {
                let mut s = json!({"rrule": rrule});
                if let Some(tz) = &timezone {
                    s["timezone"] = tz.clone();
                }
                s
            }
        }
    } else {
        return Err(format!(
            "unknown schedule type (want cron, interval or rrule): {config}"
        ));
    };
    let mut body = json!({"schedule": schedule});
    if let Some(active) = get("active") {
        body["active"] = active.clone();
    }
    if let Some(Value::Object(p)) = get("parameters")
        && !p.is_empty()
    {
        body["parameters"] = json!(p);
    }
    for key in ["slug", "replaces"] {
        if let Some(v) = get(key) {
            body[key] = v.clone();
        }
    }
    Ok(body)
}

/// `PT10M`, `P1D`, `PT1H30M` (jiff's ISO 8601 durations) in seconds.
fn parse_iso_duration(text: &str) -> Option<f64> {
    let span: jiff::Span = text.parse().ok()?;
    let duration = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .ok()?;
    Some(duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        assert_eq!(
            schedule_body(&json!({"cron": "0 3 * * *", "timezone": "Europe/Paris"})).unwrap(),
            json!({"schedule": {"cron": "0 3 * * *", "timezone": "Europe/Paris"}})
        );
        assert_eq!(
            schedule_body(&json!({"interval": "PT10M", "active": false})).unwrap(),
            json!({"schedule": {"interval": 600.0, "timezone": "UTC"}, "active": false})
        );
        assert!(schedule_body(&json!({"every": 5})).is_err());
    }
}
