//! `pf-auth status`: where pf connects, how it authenticates, and whether that works.

use pf_common::cli::{ConnectionArgs, OutputArgs};
use pf_common::client::redact_url;
use pf_common::cloud::{self, CloudApi};
use pf_common::config::Settings;
use pf_common::output::{Cell, Format, Style};
use pf_common::{Client, Error, Result};
use serde_json::{Map, Value, json};

use crate::profile::{env, redact_auth_string};

/// The order and labels of the fields in table form.
const FIELDS: &[(&str, &str)] = &[
    ("profile", "Profile"),
    ("profiles_path", "Profiles file"),
    ("api_url", "API URL"),
    ("api_url_source", "API URL from"),
    ("server", "Server"),
    ("server_version", "Server version"),
    ("workspace", "Workspace"),
    ("user", "User"),
    ("auth", "Auth"),
    ("auth_source", "Auth from"),
    ("credential", "Credential"),
    ("authenticated", "Authenticated"),
    ("pf_version", "pf version"),
];

/// Print the status; exit 3 when the credentials are refused, 7 when the server is unreachable.
pub fn run(connection: &ConnectionArgs, output: &OutputArgs) -> Result<i32> {
    let settings = connection.settings()?;
    let cloud_base = cloud::cloud_api_url_for(&settings);
    let is_cloud = cloud::is_cloud_url(&settings.api_url, &cloud_base);
    let (auth, credential, auth_env) = match (&settings.auth_string, &settings.api_key) {
        (Some(a), _) => (
            "auth-string",
            Some(redact_auth_string(a)),
            "PREFECT_API_AUTH_STRING",
        ),
        (None, Some(k)) => ("api-key", Some(k.redacted()), "PREFECT_API_KEY"),
        (None, None) => ("none", None, ""),
    };
    let auth_source = match (auth, &settings.profile) {
        ("none", _) => None,
        _ if env(auth_env).is_some() => Some("env".to_string()),
        (_, Some(p)) => Some(format!("profile {p}")),
        _ => None,
    };
    let mut status = Map::new();
    status.insert("profile".into(), json!(settings.profile));
    status.insert(
        "profiles_path".into(),
        json!(settings.profiles_path.display().to_string()),
    );
    status.insert("api_url".into(), json!(redact_url(&settings.api_url)));
    status.insert(
        "api_url_source".into(),
        json!(settings.api_url_source.to_string()),
    );
    status.insert(
        "server".into(),
        json!(if is_cloud { "cloud" } else { "self-hosted" }),
    );
    status.insert("auth".into(), json!(auth));
    status.insert("auth_source".into(), json!(auth_source));
    status.insert("credential".into(), json!(credential));

    let check = if is_cloud {
        check_cloud(&settings, &cloud_base, connection.verbose, &mut status)
    } else {
        check_server(&settings, connection.verbose, &mut status)
    };
    let authenticated = match &check {
        Ok(()) => json!(true),
        Err(Error::Auth { .. }) => json!(false),
        Err(_) => Value::Null,
    };
    status.insert("authenticated".into(), authenticated);
    status.insert("pf_version".into(), json!(env!("CARGO_PKG_VERSION")));
    for (key, _) in FIELDS {
        status.entry(key.to_string()).or_insert(Value::Null);
    }
    let ordered: Map<String, Value> = FIELDS
        .iter()
        .map(|(key, _)| (key.to_string(), status[*key].clone()))
        .collect();
    print(output, &Value::Object(ordered))?;
    check.map(|()| 0)
}

fn check_server(settings: &Settings, verbose: bool, status: &mut Map<String, Value>) -> Result<()> {
    let client = Client::new(settings.clone(), verbose)?;
    let version = client.get("admin/version")?;
    status.insert("server_version".into(), version);
    Ok(())
}

fn check_cloud(
    settings: &Settings,
    cloud_base: &str,
    verbose: bool,
    status: &mut Map<String, Value>,
) -> Result<()> {
    let Some(key) = settings.api_key.clone() else {
        return Err(Error::Auth {
            status: 0,
            message: "not logged in to Prefect Cloud: no API key is configured".into(),
            hint: Some("log in with: pf-auth login --key -".into()),
        });
    };
    let api = CloudApi::new(settings, cloud_base, key, verbose)?;
    let me = api.me()?;
    let user = me
        .get("handle")
        .or_else(|| me.get("email"))
        .cloned()
        .unwrap_or(Value::Null);
    status.insert("user".into(), user);
    let workspaces = api.workspaces()?;
    match workspaces.iter().find(|w| w.is_at(&settings.api_url)) {
        Some(w) => {
            status.insert("workspace".into(), json!(w.handle()));
            Ok(())
        }
        None => Err(Error::Auth {
            status: 0,
            message: format!(
                "the API key cannot use the workspace of {}",
                redact_url(&settings.api_url)
            ),
            hint: Some(format!(
                "{}; switch with: pf-auth switch-tenants --slug ACCOUNT/WORKSPACE",
                cloud::available_hint(&workspaces)
            )),
        }),
    }
}

fn print(output: &OutputArgs, status: &Value) -> Result<()> {
    let mut printer = output.printer()?;
    if printer.format() == Format::Table && output.jq.is_none() {
        let color = printer.color();
        let width = FIELDS
            .iter()
            .map(|(_, label)| label.len())
            .max()
            .unwrap_or(0)
            + 1;
        for (key, label) in FIELDS {
            let text = match &status[*key] {
                Value::Null => "-".to_string(),
                Value::Bool(true) => Style::Green.paint("yes", color),
                Value::Bool(false) => Style::Red.paint("no", color),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            printer.line(&format!("{:<width$} {text}", format!("{label}:")))?;
        }
        return Ok(());
    }
    let headers: Vec<&str> = FIELDS.iter().map(|(key, _)| *key).collect();
    printer.columns(&headers);
    printer.object(status, |s| {
        FIELDS
            .iter()
            .map(|(key, _)| Cell::from_json(s.get(*key)))
            .collect()
    })?;
    printer.finish()
}
