//! The two kinds of run: a deployment's (left to a worker, or executed here with --execute),
//! and a local flow's (-p/-m, always executed here, optionally on a --schedule).

use std::time::Instant;

use jiff::Timestamp;
use pf_common::output::Printer;
use pf_common::params::check_params;
use pf_common::refs::str_field;
use pf_common::runs::{self, Created};
use pf_common::{Client, Error};
use serde_json::{Map, Value, json};

use crate::plan::{LocalSource, Plan};
use crate::python::{ChildOutput, Execution};
use crate::watch::{self, Display, Outcome};

/// Start a run of a deployment; wait for it with --watch or --execute.
pub fn deployment_run(
    client: &Client,
    plan: &Plan,
    reference: &str,
    printer: &mut Printer,
) -> Result<i32, Error> {
    if plan.execute {
        plan.python.check_prefect()?;
    }
    let deployment = runs::resolve_deployment(client, reference)?;
    let defaults = object_field(&deployment.object, "parameters");
    let schema = deployment
        .object
        .get("parameter_openapi_schema")
        .cloned()
        .unwrap_or(Value::Null);
    // As Prefect: a deployment without a parameter schema accepts no parameters, unless the
    // schema is open (`additionalProperties: true`, as pf-exec --serve declares).
    let properties = schema.get("properties").and_then(Value::as_object);
    let open = schema.get("additionalProperties") == Some(&Value::Bool(true));
    if !plan.params.is_empty() && !open && properties.is_none_or(|p| p.is_empty()) {
        let names: Vec<&str> = plan.params.keys().map(String::as_str).collect();
        return Err(Error::usage_hint(
            format!(
                "deployment '{}' does not accept parameters (its schema has none): {}",
                deployment.full_name(),
                names.join(", ")
            ),
            "redeploy the flow so the deployment records its parameters",
        ));
    }
    check_params(&schema, &plan.params, &defaults)
        .map_err(|e| for_deployment(e, &deployment.full_name()))?;
    let mut all_params = defaults;
    all_params.extend(plan.params.clone());
    let mut body = plan.run_body(&all_params)?;
    let job_variables = plan.job_variables();
    if !job_variables.is_empty() {
        body["job_variables"] = Value::Object(job_variables);
    }
    if let Some(queue) = &plan.work_queue {
        check_work_queue(client, &deployment.object, queue)?;
        body["work_queue_name"] = json!(queue);
    }
    if plan.execute || plan.watch {
        watch::catch_interrupts()?;
    }
    let created = own_key(
        plan,
        runs::create_from_deployment(client, deployment.id(), body)?,
    );
    refuse_other_deployment(plan, &created, deployment.id())?;
    if plan.execute {
        refuse_duplicate(plan, &created)?;
    }
    let mut display = Display::new(plan, printer, pf_common::weburl::ui_base(client.settings()));
    display.run(&created, Some(&deployment.full_name()))?;
    if !plan.execute && !plan.watch {
        display.close()?;
        return Ok(0);
    }
    let outcome = if plan.execute {
        // The deployment's environment, then the run's own job variables (--log-level too).
        let mut env = object_field(
            deployment
                .object
                .get("job_variables")
                .unwrap_or(&Value::Null),
            "env",
        );
        env.extend(object_field(
            created.run.get("job_variables").unwrap_or(&Value::Null),
            "env",
        ));
        let mut engine = crate::python::start_engine(
            &plan.python,
            client.settings(),
            str_field(&created.run, "id"),
            &env,
            child_output(plan),
        )?;
        watch::supervise(client, plan, &created.run, Some(&mut engine), &mut display)?
    } else {
        watch::supervise(client, plan, &created.run, None, &mut display)?
    };
    display.close()?;
    Ok(outcome.exit_code(&created.run))
}

/// Run a flow from local code: once, or at each time of --schedule.
pub fn local_run(
    client: &Client,
    plan: &Plan,
    source: &LocalSource,
    printer: &mut Printer,
) -> Result<i32, Error> {
    plan.python.check_prefect()?;
    let mut env = Map::new();
    if let Some(level) = &plan.log_level {
        env.insert("PREFECT_LOGGING_LEVEL".into(), json!(level));
    }
    let mut flow = crate::python::load_local_flow(
        &plan.python,
        client.settings(),
        source.kind,
        &source.source,
        source.function.as_deref(),
        &env,
        child_output(plan),
    )?;
    check_params(&flow.schema, &plan.params, &Map::new())?;
    let flow_object = client.post("flows/", json!({ "name": flow.flow_name }))?;
    let flow_id = str_field(&flow_object, "id").to_string();
    watch::catch_interrupts()?;
    let mut display = Display::new(plan, printer, pf_common::weburl::ui_base(client.settings()));
    let Some(schedule) = &plan.schedule else {
        let created = create_local(client, plan, &flow_id, None)?;
        refuse_duplicate(plan, &created)?;
        display.run(&created, None)?;
        let run_id = str_field(&created.run, "id").to_string();
        if let Some(at) = plan.start_at
            && !wait_for(at)
        {
            watch::force_state(client, &run_id, "CANCELLED", "pf-run was interrupted")?;
            display.close()?;
            return Ok(130);
        }
        flow.start(&run_id)?;
        let outcome = watch::supervise(client, plan, &created.run, Some(&mut flow), &mut display)?;
        display.close()?;
        return Ok(outcome.exit_code(&created.run));
    };
    let mut previous = None;
    loop {
        let at = schedule.next(previous, Timestamp::now());
        if !wait_for(at) {
            display.close()?;
            return Ok(130);
        }
        previous = Some(at);
        let created = create_local(client, plan, &flow_id, Some(at))?;
        display.run(&created, None)?;
        flow.start(str_field(&created.run, "id"))?;
        let outcome = watch::supervise(
            client,
            plan,
            &created.run,
            Some(&mut flow as &mut dyn Execution),
            &mut display,
        )?;
        // A failed run does not stop the schedule; an interrupt does.
        if let Outcome::Interrupted = outcome {
            display.close()?;
            return Ok(130);
        }
        outcome.exit_code(&created.run);
    }
}

fn create_local(
    client: &Client,
    plan: &Plan,
    flow_id: &str,
    slot: Option<Timestamp>,
) -> Result<Created, Error> {
    let mut body = plan.run_body(&plan.params)?;
    body["flow_id"] = json!(flow_id);
    if let (Some(key), Some(slot)) = (&plan.idempotency_key, slot) {
        // One key per scheduled time, so each slot runs once.
        body["idempotency_key"] = json!(format!("{key}-{}", slot.as_second()));
    }
    Ok(own_key(plan, runs::create_flow_run(client, body)?))
}

/// With a key pf-run made, an "existing" answer can only be a retry of this very request (the
/// first attempt's answer was lost): the run is still new.
fn own_key(plan: &Plan, mut created: Created) -> Created {
    if plan.idempotency_key.is_none() {
        created.created = true;
    }
    created
}

/// The server scopes idempotency keys by flow: a key reused for another deployment of the same
/// flow finds that deployment's run. That is not the run asked for; say so.
fn refuse_other_deployment(
    plan: &Plan,
    created: &Created,
    deployment_id: &str,
) -> Result<(), Error> {
    let owner = str_field(&created.run, "deployment_id");
    if created.created || owner == deployment_id {
        return Ok(());
    }
    Err(Error::Client {
        status: 409,
        message: format!(
            "idempotency key '{}' already names flow run '{}' ({}) of another deployment ({owner})",
            plan.idempotency_key.as_deref().unwrap_or_default(),
            str_field(&created.run, "name"),
            str_field(&created.run, "id"),
        ),
        hint: Some("keys are shared by the deployments of a flow: use another key".into()),
    })
}

/// --execute with an idempotency key that names an existing run does not run it again.
fn refuse_duplicate(plan: &Plan, created: &Created) -> Result<(), Error> {
    if created.created {
        return Ok(());
    }
    Err(Error::Client {
        status: 409,
        message: format!(
            "flow run '{}' ({}) already exists for idempotency key '{}'; not executing it again",
            str_field(&created.run, "name"),
            str_field(&created.run, "id"),
            plan.idempotency_key.as_deref().unwrap_or_default()
        ),
        hint: Some(
            "use a new --idempotency-key, or follow the existing run: pf-logs --follow ID".into(),
        ),
    })
}

fn child_output(plan: &Plan) -> ChildOutput {
    if plan.watch || !plan.logs {
        ChildOutput::Discard
    } else {
        ChildOutput::Stderr
    }
}

/// Wait until `at` (a scheduled start); false when interrupted.
fn wait_for(at: Timestamp) -> bool {
    let wait = at.duration_since(Timestamp::now());
    let wait = std::time::Duration::try_from(wait).unwrap_or_default();
    watch::sleep_until(Instant::now() + wait)
}

fn object_field(value: &Value, key: &str) -> Map<String, Value> {
    value
        .get(key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn for_deployment(error: Error, deployment: &str) -> Error {
    match error {
        Error::Usage { message, hint } => Error::Usage {
            message: format!("{message} (deployment {deployment})"),
            hint,
        },
        other => other,
    }
}

/// A run sent to a queue that does not exist would make the server create it, and no worker
/// would poll it: refuse the name instead, pointing at the pool's queues.
fn check_work_queue(client: &Client, deployment: &Value, queue: &str) -> Result<(), Error> {
    let Some(pool) = deployment.get("work_pool_name").and_then(Value::as_str) else {
        return Ok(());
    };
    let path = format!(
        "work_pools/{}/queues/{}",
        pf_common::refs::encode_path(pool),
        pf_common::refs::encode_path(queue)
    );
    match client.get(&path) {
        Ok(_) => Ok(()),
        Err(Error::Client { status: 404, .. }) => Err(Error::not_found(
            format!("work queue '{queue}' not found in work pool '{pool}'"),
            Some(format!("list them with: pf-get work-queues --pool {pool}")),
        )),
        Err(e) => Err(e),
    }
}
