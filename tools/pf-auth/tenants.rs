//! Prefect Cloud workspaces (the seed's tenants) and API keys (its tokens).

use pf_common::cli::{ConnectionArgs, OutputArgs, warn};
use pf_common::cloud::{self, CloudApi, Workspace};
use pf_common::config::Settings;
use pf_common::output::Cell;
use pf_common::profiles::ProfilesFile;
use pf_common::time::{parse_time_from_now, to_api_time};
use pf_common::{Error, Result};
use serde_json::{Value, json};

use crate::profile::env;

/// Settings and the Cloud API base URL; a self-hosted server is "not available" (exit 2).
fn cloud_settings(connection: &ConnectionArgs, command: &str) -> Result<(Settings, String)> {
    let settings = connection.settings()?;
    let cloud_base = cloud::cloud_api_url_for(&settings);
    if !cloud::is_cloud_url(&settings.api_url, &cloud_base) {
        return Err(Error::usage_hint(
            format!(
                "{command} is not available: {} is a self-hosted Prefect server, and workspaces and API keys are Prefect Cloud features",
                pf_common::client::redact_url(&settings.api_url)
            ),
            "log in to Prefect Cloud with: pf-auth login --key -",
        ));
    }
    Ok((settings, cloud_base))
}

/// A Cloud API client with the configured key.
fn cloud_api(connection: &ConnectionArgs, command: &str) -> Result<(Settings, CloudApi)> {
    let (settings, cloud_base) = cloud_settings(connection, command)?;
    let key = settings.api_key.clone().ok_or_else(|| Error::Auth {
        status: 0,
        message: "not logged in to Prefect Cloud: no API key is configured".into(),
        hint: Some("log in with: pf-auth login --key -".into()),
    })?;
    let api = CloudApi::new(&settings, &cloud_base, key, connection.verbose)?;
    Ok((settings, api))
}

/// `pf-auth list-tenants`: the workspaces the key sees (NAME, SLUG, ID), the active one `*`.
pub fn list(connection: &ConnectionArgs, output: &OutputArgs) -> Result<i32> {
    let mut printer = output.printer()?;
    let (settings, api) = cloud_api(connection, "list-tenants")?;
    let mut workspaces = api.workspaces()?;
    workspaces.sort_by_key(Workspace::handle);
    let rows: Vec<Value> = workspaces
        .iter()
        .map(|w| {
            let mut row = w.raw.clone();
            if let Value::Object(map) = &mut row {
                map.insert("active".into(), json!(w.is_at(&settings.api_url)));
            }
            row
        })
        .collect();
    printer.columns(&["NAME", "SLUG", "ID", ""]);
    printer.page(&rows, |row| {
        let field = |key: &str| {
            row.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let name = field("workspace_name");
        vec![
            Cell::Text(if name.is_empty() {
                field("workspace_handle")
            } else {
                name
            }),
            Cell::Text(format!(
                "{}/{}",
                field("account_handle"),
                field("workspace_handle")
            )),
            Cell::Text(field("workspace_id")),
            Cell::Text(if row["active"] == true {
                "*".into()
            } else {
                String::new()
            }),
        ]
    })?;
    printer.finish()?;
    Ok(0)
}

/// `pf-auth switch-tenants`: point the profile's PREFECT_API_URL at another workspace.
pub fn switch(connection: &ConnectionArgs, wanted: &str) -> Result<i32> {
    let (settings, api) = cloud_api(connection, "switch-tenants")?;
    let workspaces = api.workspaces()?;
    let workspace = cloud::find_workspace(&workspaces, wanted)?;
    let Some(profile) = settings.profile.clone() else {
        return Err(Error::usage_hint(
            "no profile to switch: the API key comes from the environment",
            "log in to a profile with: pf-auth login --key -",
        ));
    };
    let mut file = ProfilesFile::load(&settings.profiles_path)?;
    file.set(
        &profile,
        "PREFECT_API_URL",
        &workspace.api_url(api.base_url()),
    );
    file.save()?;
    eprintln!(
        "Tenant switched: profile '{profile}' now uses workspace '{}'.",
        workspace.handle()
    );
    if env("PREFECT_API_URL").is_some() {
        warn(
            "pf-auth",
            "PREFECT_API_URL is set in the environment and overrides the profile's URL",
        );
    }
    Ok(0)
}

/// `pf-auth create-token`: a new API key of the key's user, printed once on stdout.
pub fn create_token(connection: &ConnectionArgs, name: &str, expires: Option<&str>) -> Result<i32> {
    let expiration = match expires {
        Some(text) => {
            let when = parse_time_from_now(text)?;
            if when <= jiff::Timestamp::now() {
                return Err(Error::usage(format!("--expires {text} is in the past")));
            }
            Some(to_api_time(when))
        }
        None => None,
    };
    let (_, api) = cloud_api(connection, "create-token")?;
    let user_id = api.user_id()?;
    let created = api
        .create_api_key(&user_id, name, expiration.as_deref())
        .map_err(|e| match e {
            Error::OutcomeUnknown { message, code, .. } => Error::OutcomeUnknown {
                message,
                hint: Some(format!(
                    "look for an API key named '{name}' in the Prefect Cloud UI (profile → API keys) before creating another; revoke an unwanted one with: pf-auth revoke-token --id ID"
                )),
                code,
            },
            other => other,
        })?;
    let key = created
        .get("key")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Server {
            status: 201,
            message: "Prefect Cloud's answer has no key".into(),
        })?;
    println!("{key}");
    let id = created.get("id").and_then(Value::as_str).unwrap_or("?");
    let until = match created.get("expiration").and_then(Value::as_str) {
        Some(when) => format!("expires {when}"),
        None => "never expires".into(),
    };
    eprintln!("Created API key '{name}' (id {id}, {until}). It is shown only this once.");
    Ok(0)
}

/// `pf-auth revoke-token`: delete one of the user's API keys.
pub fn revoke_token(connection: &ConnectionArgs, id: &str) -> Result<i32> {
    let (_, api) = cloud_api(connection, "revoke-token")?;
    let user_id = api.user_id()?;
    api.delete_api_key(&user_id, id).map_err(|e| match e {
        Error::Client {
            status: 404, hint, ..
        } => Error::not_found(
            format!("API key {id} not found"),
            hint.or(Some(
                "check the id in the Prefect Cloud UI: API keys".into(),
            )),
        ),
        other => other,
    })?;
    eprintln!("Token successfully revoked: API key {id}.");
    Ok(0)
}

/// `pf-auth list-tokens`: Prefect Cloud documents no endpoint that lists API keys, so this says
/// so instead of guessing one.
pub fn list_tokens(connection: &ConnectionArgs) -> Result<i32> {
    cloud_settings(connection, "list-tokens")?;
    Err(Error::usage_hint(
        "list-tokens is not available: Prefect Cloud's API has no documented endpoint that lists API keys (only create, read by id and delete)",
        "see your API keys in the Prefect Cloud UI (your profile → API keys); revoke one with: pf-auth revoke-token --id ID",
    ))
}
