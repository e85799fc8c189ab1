//! `pf-auth login` and `pf-auth logout`: credentials are validated before anything is saved,
//! and the profile is edited in place.

use clap::Args;
use pf_common::cli::{ConnectionArgs, warn};
use pf_common::cloud::{self, CloudApi, Workspace};
use pf_common::config::{Overrides, Secret, Settings};
use pf_common::output::stdin_is_terminal;
use pf_common::profiles::{ProfilesFile, profiles_path};
use pf_common::{Client, Error, Result};

use crate::profile::{activate_if_first, env, target_name};
use crate::secret;

/// `pf-auth login` flags.
#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// Prefect Cloud API key: `-` reads it from stdin, or prompts without echo on a terminal
    /// (the default when --url is not given)
    #[arg(short, long, value_name = "KEY|-")]
    key: Option<String>,
    /// Prefect Cloud workspace ACCOUNT/WORKSPACE (required when not interactive and the key
    /// sees more than one workspace)
    #[arg(
        short,
        long,
        value_name = "ACCOUNT/WORKSPACE",
        conflicts_with = "auth_string"
    )]
    workspace: Option<String>,
    /// API URL of a self-hosted server, e.g. http://127.0.0.1:4200/api
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The server's basic-auth string (user:pass): `-` reads it from stdin, or prompts without
    /// echo on a terminal
    #[arg(long, value_name = "STRING|-", conflicts_with = "key")]
    auth_string: Option<String>,
}

/// Log in and save the credentials in the profile; returns the exit code.
pub fn login(args: &LoginArgs, connection: &ConnectionArgs) -> Result<i32> {
    // The file is read first: a corrupt one stops everything before a secret is asked for.
    let mut file = ProfilesFile::load(&profiles_path())?;
    let profile = target_name(&file, connection.profile.as_deref());
    let url = args.url.clone().or_else(|| connection.api_url.clone());
    let cloud_base = cloud::cloud_api_url(Some(&file), Some(&profile));
    let to_cloud = match &url {
        None => true,
        Some(url) => cloud::workspace_ids(url).is_some() && args.auth_string.is_none(),
    };
    refuse_overriding_env(to_cloud)?;
    let base = Settings::load_allowing_new_profile(&Overrides {
        // The profile's own URL is about to be replaced: it need not even be valid.
        api_url: Some(url.clone().unwrap_or_else(|| cloud_base.clone())),
        profile: Some(profile.clone()),
    })?;
    let done = if to_cloud {
        // Without --workspace, the workspace of --url or the profile's current one is kept.
        let current = url
            .clone()
            .or_else(|| file.get(&profile, "PREFECT_API_URL"));
        login_cloud(
            args,
            &base,
            &cloud_base,
            connection.verbose,
            current.as_deref(),
        )?
    } else {
        login_server(args, base, connection.verbose)?
    };
    for (key, value) in &done.set {
        file.set(&profile, key, value.expose());
    }
    for key in &done.remove {
        file.remove(&profile, key);
    }
    let note = activate_if_first(&mut file, &profile);
    file.save()?;
    eprintln!(
        "{} Saved in profile '{profile}' ({}).",
        done.message,
        file.path().display()
    );
    if let Some(note) = note {
        eprintln!("{note}");
    }
    if env("PREFECT_API_URL").is_some() {
        warn(
            "pf-auth",
            "PREFECT_API_URL is set in the environment and overrides the profile's URL",
        );
    }
    Ok(0)
}

/// What a successful login writes.
struct Done {
    set: Vec<(&'static str, Secret)>,
    remove: Vec<&'static str>,
    message: String,
}

/// Credentials in the environment override the profile: writing would be pointless, and
/// validating one key while another is used would mislead.
fn refuse_overriding_env(to_cloud: bool) -> Result<()> {
    let refuse = |name: &str| {
        Err(Error::usage_hint(
            format!(
                "Cannot log in while {name} is set in the environment: it would override what pf-auth writes to the profile"
            ),
            format!("unset {name} first, or keep using it without logging in"),
        ))
    };
    if env("PREFECT_API_KEY").is_some() {
        return refuse("PREFECT_API_KEY");
    }
    if env("PREFECT_API_AUTH_STRING").is_some() {
        return refuse("PREFECT_API_AUTH_STRING");
    }
    if to_cloud && env("PREFECT_API_URL").is_some() {
        return refuse("PREFECT_API_URL");
    }
    Ok(())
}

fn login_cloud(
    args: &LoginArgs,
    base: &Settings,
    cloud_base: &str,
    verbose: bool,
    url: Option<&str>,
) -> Result<Done> {
    let key = secret::read(
        args.key.as_deref(),
        "API key",
        "--key",
        "Paste your Prefect Cloud API key: ",
    )?;
    let api = CloudApi::new(base, cloud_base, key.clone(), verbose)?;
    let workspaces = api
        .me()
        .and_then(|_| api.workspaces())
        .map_err(|e| key_error(&key, e))?;
    let wanted = args.workspace.clone().or_else(|| {
        let (account, workspace) = cloud::workspace_ids(url?)?;
        workspaces
            .iter()
            .find(|w| w.account_id == account && w.workspace_id == workspace)
            .map(Workspace::handle)
    });
    let chosen = match (wanted, workspaces.as_slice()) {
        (Some(wanted), _) => cloud::find_workspace(&workspaces, &wanted)?.clone(),
        (None, []) => {
            return Err(Error::Failed(
                "this key sees no workspace: create one in the Prefect Cloud UI and log in again"
                    .into(),
            ));
        }
        (None, [one]) => one.clone(),
        (None, several) if stdin_is_terminal() => {
            let handles: Vec<String> = several.iter().map(Workspace::handle).collect();
            several[secret::choose("Which workspace?", &handles)?].clone()
        }
        (None, several) => {
            return Err(Error::usage_hint(
                format!(
                    "this key sees {} workspaces: choose one with --workspace ACCOUNT/WORKSPACE",
                    several.len()
                ),
                cloud::available_hint(several),
            ));
        }
    };
    Ok(Done {
        set: vec![
            ("PREFECT_API_KEY", key),
            (
                "PREFECT_API_URL",
                Secret::new(chosen.api_url(api.base_url())),
            ),
        ],
        // A basic-auth string would win over the key and break the login.
        remove: vec!["PREFECT_API_AUTH_STRING"],
        message: format!(
            "Authenticated with Prefect Cloud! Using workspace '{}'.",
            chosen.handle()
        ),
    })
}

fn login_server(args: &LoginArgs, mut settings: Settings, verbose: bool) -> Result<Done> {
    let auth = match &args.auth_string {
        Some(value) => Some(secret::read(
            Some(value),
            "auth string",
            "--auth-string",
            "Auth string (user:pass): ",
        )?),
        None => None,
    };
    let key = match &args.key {
        Some(value) => Some(secret::read(Some(value), "API key", "--key", "API key: ")?),
        None => None,
    };
    settings.auth_string = auth.clone();
    settings.api_key = key.clone();
    let url = settings.api_url.clone();
    let shown_url = pf_common::client::redact_url(&url);
    let client = Client::new(settings, verbose)?;
    let version = client
        .get("admin/version")
        .map_err(|e| match (&auth, &key) {
            (Some(_), _) => credential_error("auth string", None, e),
            (None, Some(key)) => credential_error("API key", Some(key), e),
            (None, None) => match e {
                Error::Auth { status, .. } => Error::Auth {
                    status,
                    message: format!(
                        "{shown_url} requires credentials: the server answered {status}"
                    ),
                    hint: Some(format!(
                        "give its auth string: pf-auth login --url {shown_url} --auth-string -"
                    )),
                },
                other => other,
            },
        })?;
    let mut set = vec![("PREFECT_API_URL", Secret::new(url.clone()))];
    let mut remove = Vec::new();
    // Exactly the credentials that were validated: a stale Cloud key must not be sent elsewhere.
    match auth {
        Some(auth) => set.push(("PREFECT_API_AUTH_STRING", auth)),
        None => remove.push("PREFECT_API_AUTH_STRING"),
    }
    match key {
        Some(key) => set.push(("PREFECT_API_KEY", key)),
        None => remove.push("PREFECT_API_KEY"),
    }
    let version = version
        .as_str()
        .map(|v| format!(" (Prefect {v})"))
        .unwrap_or_default();
    Ok(Done {
        set,
        remove,
        message: format!("Logged in to {shown_url}{version}."),
    })
}

fn key_error(key: &Secret, error: Error) -> Error {
    credential_error("API key", Some(key), error)
}

/// The seed's "Error attempting to use API key …" for a refused credential, without the secret.
fn credential_error(what: &str, key: Option<&Secret>, error: Error) -> Error {
    let Error::Auth {
        status, message, ..
    } = error
    else {
        return error;
    };
    let shown = key
        .map(|k| format!(" {}", k.redacted()))
        .unwrap_or_default();
    let hint = match key.map(Secret::expose) {
        Some(k) if !(k.starts_with("pnu_") || k.starts_with("pnb_")) => {
            "the key is not in the expected format: Prefect Cloud keys start with 'pnu_' or 'pnb_'"
        }
        Some(_) => "check that the key is correct and not expired (Prefect Cloud UI: API keys)",
        None => {
            "check the auth string: it is the server's PREFECT_SERVER_API_AUTH_STRING (user:pass)"
        }
    };
    Error::Auth {
        status,
        message: format!("Error attempting to use {what}{shown}: {message}"),
        hint: Some(hint.into()),
    }
}

/// `pf-auth logout`: remove the key and auth string from the profile (and a Cloud workspace URL,
/// as `prefect cloud logout` does).
pub fn logout(connection: &ConnectionArgs, yes: bool) -> Result<i32> {
    let mut file = ProfilesFile::load(&profiles_path())?;
    let profile = target_name(&file, connection.profile.as_deref());
    let present: Vec<&str> = ["PREFECT_API_KEY", "PREFECT_API_AUTH_STRING"]
        .into_iter()
        .filter(|key| file.get(&profile, key).is_some())
        .collect();
    if present.is_empty() {
        eprintln!(
            "No credentials currently active: profile '{profile}' has no API key or auth string."
        );
        return Ok(0);
    }
    if !yes
        && stdin_is_terminal()
        && !secret::confirm(&format!(
            "Log out of profile '{profile}'? This removes its {} from this machine.",
            present.join(" and ")
        ))?
    {
        eprintln!("Aborted.");
        return Ok(1);
    }
    let mut removed = present.clone();
    for key in &present {
        file.remove(&profile, key);
    }
    if file
        .get(&profile, "PREFECT_API_URL")
        .is_some_and(|url| cloud::workspace_ids(&url).is_some())
    {
        file.remove(&profile, "PREFECT_API_URL");
        removed.push("PREFECT_API_URL");
    }
    file.save()?;
    eprintln!(
        "Logged out of profile '{profile}' (removed {}).",
        removed.join(", ")
    );
    for name in ["PREFECT_API_KEY", "PREFECT_API_AUTH_STRING"] {
        if env(name).is_some() {
            warn(
                "pf-auth",
                format!("{name} is still set in the environment and is still used"),
            );
        }
    }
    Ok(0)
}
