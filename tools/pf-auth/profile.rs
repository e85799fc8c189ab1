//! Which profile a command edits, and the `profiles` / `use` commands.

use pf_common::cli::{OutputArgs, warn};
use pf_common::client::redact_url;
use pf_common::config::Secret;
use pf_common::output::Cell;
use pf_common::profiles::{ProfilesFile, profiles_path};
use pf_common::{Error, Result};
use serde_json::json;

/// The profile name used when the file names no active profile.
pub const DEFAULT_PROFILE: &str = "default";

/// The profile a command acts on: `--profile`, else PREFECT_PROFILE, else the file's `active`,
/// else `default`.
pub fn target_name(file: &ProfilesFile, flag: Option<&str>) -> String {
    flag.map(str::to_string)
        .or_else(|| env("PREFECT_PROFILE"))
        .or_else(|| file.active().map(str::to_string))
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string())
}

/// A non-empty environment variable.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Make `profile` the active one when the file has none yet; otherwise return a note on how to
/// use it when it is not the active one.
pub fn activate_if_first(file: &mut ProfilesFile, profile: &str) -> Option<String> {
    match file.active() {
        None => {
            file.set_active(profile);
            None
        }
        Some(active) if active != profile && env("PREFECT_PROFILE").as_deref() != Some(profile) => {
            Some(format!(
                "Profile '{profile}' is not the active one ('{active}'): use it with --profile {profile}, or make it active with: pf-auth use {profile}"
            ))
        }
        Some(_) => None,
    }
}

/// How a profile authenticates: `api-key`, `auth-string` or `none` (the auth string wins, as in
/// the client).
pub fn auth_kind(file: &ProfilesFile, profile: &str) -> &'static str {
    let has = |key: &str| file.get(profile, key).is_some_and(|v| !v.is_empty());
    if has("PREFECT_API_AUTH_STRING") {
        "auth-string"
    } else if has("PREFECT_API_KEY") {
        "api-key"
    } else {
        "none"
    }
}

/// A form of a basic-auth string safe to show: the user name only (`admin:…`).
pub fn redact_auth_string(secret: &Secret) -> String {
    match secret.expose().split_once(':') {
        Some((user, _)) if !user.is_empty() => format!("{user}:…"),
        _ => "…".into(),
    }
}

/// `pf-auth profiles`: every profile of profiles.toml, the one in effect marked `*`.
pub fn list(output: &OutputArgs, flag: Option<&str>) -> Result<i32> {
    let file = ProfilesFile::load(&profiles_path())?;
    let in_effect = flag
        .map(str::to_string)
        .or_else(|| env("PREFECT_PROFILE"))
        .or(file.active().map(str::to_string));
    let mut printer = output.printer()?;
    printer.columns(&["NAME", "API URL", "AUTH", ""]);
    let rows: Vec<_> = file
        .names()
        .into_iter()
        .map(|name| {
            json!({
                "name": name,
                "active": in_effect.as_deref() == Some(name.as_str()),
                "api_url": file.get(&name, "PREFECT_API_URL").map(|u| redact_url(&u)),
                "auth": auth_kind(&file, &name),
            })
        })
        .collect();
    printer.page(&rows, |row| {
        vec![
            Cell::from_json(row.get("name")),
            Cell::from_json(row.get("api_url")),
            Cell::from_json(row.get("auth")),
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

/// `pf-auth use NAME`: make a profile the active one, then check that its server answers (as
/// `prefect profile use`): when it does not, the switch stands, a warning says why, exit 1.
pub fn use_profile(name: &str, verbose: bool) -> Result<i32> {
    let mut file = ProfilesFile::load(&profiles_path())?;
    if !file.has(name) {
        let known = file.names();
        return Err(Error::usage_hint(
            format!("profile '{name}' not found in {}", file.path().display()),
            if known.is_empty() {
                "create it with: pf-auth login --profile NAME".into()
            } else {
                format!("known profiles: {}", known.join(", "))
            },
        ));
    }
    if file.active() != Some(name) {
        file.set_active(name);
        file.save()?;
    }
    eprintln!("Switched to profile '{name}'.");
    if let Some(other) = env("PREFECT_PROFILE").filter(|p| p != name) {
        warn(
            "pf-auth",
            format!(
                "PREFECT_PROFILE={other} in the environment still overrides the active profile"
            ),
        );
    }
    let connection = pf_common::cli::ConnectionArgs {
        api_url: None,
        profile: Some(name.to_string()),
        verbose,
    };
    let reached = connection.client().and_then(|client| {
        client
            .get("health")
            .map(|_| client.settings().api_url.clone())
    });
    match reached {
        Ok(url) => {
            eprintln!("Connected to {}.", redact_userinfo(&url));
            Ok(0)
        }
        Err(e) => {
            warn(
                "pf-auth",
                format!("profile '{name}' is active, but its server does not answer: {e}"),
            );
            Ok(pf_common::error::EXIT_FAILED)
        }
    }
}

/// The profile commands of `prefect profile`: create, delete, rename, inspect.
#[derive(Debug, clap::Subcommand)]
pub enum ProfileCommand {
    /// List the profiles (as `pf-auth profiles`)
    Ls,
    /// Make a profile the active one (as `pf-auth use`)
    Use {
        /// Profile name
        name: String,
    },
    /// Create an empty profile, or a copy of another (--from); an existing one is left as is
    Create {
        /// Profile name
        name: String,
        /// Copy the settings of this profile
        #[arg(long, value_name = "PROFILE")]
        from: Option<String>,
    },
    /// Remove a profile (not the active one)
    Delete {
        /// Profile name
        name: String,
        /// Do not ask for confirmation on a terminal
        #[arg(short, long)]
        yes: bool,
    },
    /// Rename a profile (the active one stays active under its new name)
    Rename {
        /// Current name
        from: String,
        /// New name
        to: String,
    },
    /// Show a profile's settings (default: the one in effect); keys and passwords redacted
    Inspect {
        /// Profile name
        name: Option<String>,
    },
}

/// Run one `pf-auth profile …` command.
pub fn command(
    command: &ProfileCommand,
    connection: &pf_common::cli::ConnectionArgs,
    output: &OutputArgs,
) -> Result<i32> {
    match command {
        ProfileCommand::Ls => list(output, connection.profile.as_deref()),
        ProfileCommand::Use { name } => use_profile(name, connection.verbose),
        ProfileCommand::Create { name, from } => create(name, from.as_deref()),
        ProfileCommand::Delete { name, yes } => delete(name, *yes),
        ProfileCommand::Rename { from, to } => rename(from, to),
        ProfileCommand::Inspect { name } => inspect(name.as_deref(), connection, output),
    }
}

fn not_found(file: &ProfilesFile, name: &str) -> Error {
    let known = file.names();
    Error::not_found(
        format!("profile '{name}' not found in {}", file.path().display()),
        Some(if known.is_empty() {
            "create it with: pf-auth profile create NAME".into()
        } else {
            format!("known profiles: {}", known.join(", "))
        }),
    )
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::usage("a profile name cannot be empty"));
    }
    Ok(())
}

/// `pf-auth profile create NAME [--from OTHER]`.
pub fn create(name: &str, from: Option<&str>) -> Result<i32> {
    check_name(name)?;
    let mut file = ProfilesFile::load(&profiles_path())?;
    if let Some(from) = from
        && !file.has(from)
    {
        return Err(not_found(&file, from));
    }
    if file.has(name) {
        eprintln!("Profile '{name}' already exists; unchanged.");
        return Ok(0);
    }
    file.ensure_profile(name);
    if let Some(from) = from {
        for (key, value) in file.settings(from) {
            file.set(name, &key, &value);
        }
    }
    file.save()?;
    eprintln!("Created profile '{name}'.");
    eprintln!("Use it with: pf-auth use {name}   (or once: --profile {name})");
    Ok(0)
}

/// `pf-auth profile delete NAME`.
pub fn delete(name: &str, yes: bool) -> Result<i32> {
    let mut file = ProfilesFile::load(&profiles_path())?;
    if !file.has(name) {
        eprintln!("Profile '{name}' does not exist; nothing removed.");
        return Ok(0);
    }
    let in_effect = env("PREFECT_PROFILE").or(file.active().map(str::to_string));
    if in_effect.as_deref() == Some(name) {
        return Err(Error::Failed(format!(
            "profile '{name}' is the active profile; switch profiles (pf-auth use OTHER) before deleting it"
        )));
    }
    if !yes
        && pf_common::output::stdin_is_terminal()
        && !crate::secret::confirm(&format!("Remove profile '{name}'?"))?
    {
        return Err(Error::Failed("nothing removed".into()));
    }
    file.remove_profile(name);
    file.save()?;
    eprintln!("Removed profile '{name}'.");
    Ok(0)
}

/// `pf-auth profile rename FROM TO`.
pub fn rename(from: &str, to: &str) -> Result<i32> {
    check_name(to)?;
    let mut file = ProfilesFile::load(&profiles_path())?;
    if !file.has(from) {
        return Err(not_found(&file, from));
    }
    if from == to {
        eprintln!("Profile '{from}' already has that name; unchanged.");
        return Ok(0);
    }
    if file.has(to) {
        return Err(Error::Client {
            status: 0,
            message: format!("profile '{to}' already exists"),
            hint: Some(format!("remove it first: pf-auth profile delete {to}")),
        });
    }
    file.rename_profile(from, to);
    file.save()?;
    eprintln!("Renamed profile '{from}' to '{to}'.");
    if env("PREFECT_PROFILE").as_deref() == Some(from) {
        warn(
            "pf-auth",
            format!(
                "PREFECT_PROFILE={from} in the environment: set it to '{to}' to keep using the profile"
            ),
        );
    }
    Ok(0)
}

/// A setting's value safe to print: API keys and auth strings redacted, and a URL's password.
fn shown_value(key: &str, value: &str) -> String {
    match key {
        "PREFECT_API_KEY" => Secret::new(value).redacted(),
        "PREFECT_API_AUTH_STRING" => redact_auth_string(&Secret::new(value)),
        _ => redact_userinfo(value),
    }
}

/// A URL with its password hidden (`http://admin:***@host/api`); other text as it is.
pub fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{}", &rest[end..])
        }
        None => url.to_string(),
    }
}

/// `pf-auth profile inspect [NAME]`: `KEY='value'` lines on a terminal (as `prefect profile
/// inspect`), one JSON object of the settings in a pipe.
pub fn inspect(
    name: Option<&str>,
    connection: &pf_common::cli::ConnectionArgs,
    output: &OutputArgs,
) -> Result<i32> {
    let file = ProfilesFile::load(&profiles_path())?;
    let name = name
        .map(str::to_string)
        .unwrap_or_else(|| target_name(&file, connection.profile.as_deref()));
    if !file.has(&name) {
        return Err(not_found(&file, &name));
    }
    let settings = file.settings(&name);
    let mut printer = output.printer()?.with_single_json_object(true);
    if printer.format() == pf_common::output::Format::Table && output.jq.is_none() {
        if settings.is_empty() {
            eprintln!("Profile '{name}' is empty.");
        }
        for (key, value) in &settings {
            printer.line(&format!("{key}='{}'", shown_value(key, value)))?;
        }
        return Ok(0);
    }
    let object: serde_json::Map<String, serde_json::Value> = settings
        .iter()
        .map(|(k, v)| (k.clone(), json!(shown_value(k, v))))
        .collect();
    printer.object(&serde_json::Value::Object(object), |_| Vec::new())?;
    printer.finish()?;
    Ok(0)
}
