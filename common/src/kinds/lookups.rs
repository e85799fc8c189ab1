//! The kind-specific REF lookups ([`crate::refs::Lookup::Custom`]) and REF expansions
//! ([`super::Delete::expand`]).

use serde_json::{Value, json};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::paging::Pages;
use crate::refs::{self, encode_path, is_uuid, str_field};

/// A schedule: `DEPLOYMENT/SCHEDULE`, the deployment as an id or `FLOW/NAME`, the schedule as
/// its id or slug. The object gets `deployment_id` (the API's schedules have it) filled in.
pub fn schedule(client: &Client, reference: &str) -> Result<Value> {
    let kind = &super::SCHEDULE.refs;
    let Some((deployment, schedule)) = reference.rsplit_once('/') else {
        return Err(Error::usage_hint(
            format!("'{reference}' is not a schedule REF"),
            "name a schedule as DEPLOYMENT/SCHEDULE: the deployment's id or FLOW/NAME, then the \
             schedule's id or slug (pf-describe deployment D --jq '.schedules[]')",
        ));
    };
    let deployment = refs::resolve(client, &refs::DEPLOYMENT, deployment)?;
    let deployment_id = str_field(&deployment, "id").to_string();
    let schedules = client.get(&format!("deployments/{deployment_id}/schedules"))?;
    let found = schedules.as_array().and_then(|list| {
        list.iter()
            .find(|s| str_field(s, "id") == schedule || str_field(s, "slug") == schedule)
    });
    match found {
        Some(found) => {
            let mut found = found.clone();
            if str_field(&found, "deployment_id").is_empty() {
                found["deployment_id"] = json!(deployment_id);
            }
            Ok(found)
        }
        None => Err(Error::not_found(
            format!("{} '{reference}' not found", kind.label),
            Some(format!(
                "list them with: pf-describe deployment {deployment_id} --jq '.schedules[]'"
            )),
        )),
    }
}

/// A worker: `POOL/WORKER`, or a worker name or id that is unique across pools. The object
/// gets `work_pool_name` filled in (the API's workers carry only the pool's id).
pub fn worker(client: &Client, reference: &str) -> Result<Value> {
    let kind = &super::WORKER.refs;
    let (pools, wanted) = match reference.split_once('/') {
        Some((pool, worker)) => {
            let pool = refs::resolve(client, &refs::WORK_POOL, pool)?;
            (vec![str_field(&pool, "name").to_string()], worker)
        }
        None => {
            let mut names = Vec::new();
            for page in Pages::new(client, "work_pools/filter", json!({}), None) {
                names.extend(page?.iter().map(|p| str_field(p, "name").to_string()));
            }
            (names, reference)
        }
    };
    let mut matches = Vec::new();
    for pool in pools {
        let path = format!("work_pools/{}/workers/filter", encode_path(&pool));
        for page in Pages::new(client, &path, json!({}), None) {
            for mut worker in page? {
                if str_field(&worker, "name") == wanted || str_field(&worker, "id") == wanted {
                    worker["work_pool_name"] = json!(pool);
                    matches.push(worker);
                }
            }
        }
    }
    match matches.len() {
        0 => Err(refs::not_found(kind, reference)),
        1 => Ok(matches.remove(0)),
        n => Err(Error::Client {
            status: 0,
            message: format!(
                "worker '{reference}' is in {n} pools: {}",
                matches
                    .iter()
                    .map(|w| str_field(w, "work_pool_name"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            hint: Some("use POOL/WORKER".into()),
        }),
    }
}

/// A concurrency limit: an id or a global limit's name (`GET v2/concurrency_limits/{ref}`),
/// else a tag (the global limit `tag:TAG` Prefect 3 keeps a tag limit as).
pub fn concurrency_limit(client: &Client, reference: &str) -> Result<Value> {
    let kind = &super::CONCURRENCY_LIMIT.refs;
    let get = |name: &str| client.get(&format!("v2/concurrency_limits/{}", encode_path(name)));
    match get(reference) {
        Err(Error::Client { status: 404, .. }) if !is_uuid(reference) => {
            match get(&format!("tag:{reference}")) {
                Err(Error::Client { status: 404, .. }) => Err(refs::not_found(kind, reference)),
                other => other,
            }
        }
        Err(Error::Client { status: 404, .. }) => Err(refs::not_found(kind, reference)),
        other => other,
    }
}

/// An artifact: an id, a key (its latest version), or the id of an artifact collection (what
/// `pf-get artifacts` lists by default), which names the collection's latest version.
pub fn artifact(client: &Client, reference: &str) -> Result<Value> {
    let kind = &super::ARTIFACT.refs;
    if !is_uuid(reference) {
        // `artifacts/{key}/latest` answers the key's collection dressed as an artifact (its
        // `id` is the collection's, which no other endpoint takes): find the collection's
        // `latest_id` and describe that artifact.
        let body = json!({ "artifacts": { "key": { "any_": [reference] } }, "limit": 1 });
        let collections = client.post("artifacts/latest/filter", body)?;
        let latest = collections
            .as_array()
            .and_then(|c| c.first())
            .map(|c| str_field(c, "latest_id").to_string())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| refs::not_found(kind, reference))?;
        return client.get(&format!("artifacts/{latest}"));
    }
    match client.get(&format!("artifacts/{reference}")) {
        Err(Error::Client { status: 404, .. }) => {
            let body = json!({ "sort": "UPDATED_DESC" });
            for page in Pages::new(client, "artifacts/latest/filter", body, None) {
                if let Some(collection) = page?.iter().find(|c| str_field(c, "id") == reference) {
                    return client
                        .get(&format!("artifacts/{}", str_field(collection, "latest_id")));
                }
            }
            Err(refs::not_found(kind, reference))
        }
        other => other,
    }
}

/// The artifacts an artifact REF deletes: the one version an id names, or every version of
/// a key (not found when the key has none).
pub fn artifact_versions(client: &Client, reference: &str) -> Result<Vec<Value>> {
    let kind = &super::ARTIFACT.refs;
    if is_uuid(reference) {
        return artifact(client, reference).map(|a| vec![a]);
    }
    let body = json!({ "artifacts": { "key": { "any_": [reference] } }, "sort": "CREATED_DESC" });
    let mut versions = Vec::new();
    for page in Pages::new(client, "artifacts/filter", body, None) {
        versions.extend(page?);
    }
    if versions.is_empty() {
        return Err(refs::not_found(kind, reference));
    }
    Ok(versions)
}
