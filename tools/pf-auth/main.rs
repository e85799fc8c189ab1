//! pf-auth: log in and out, profiles, Prefect Cloud workspaces (tenants) and API keys (tokens).

mod login;
mod profile;
mod secret;
mod status;
mod tenants;

use std::process::ExitCode;

use clap::{ArgGroup, Parser, Subcommand};
use pf_common::cli::{ConnectionArgs, OutputArgs};

/// Log in and out of Prefect servers and Prefect Cloud, and manage profiles, workspaces and API
/// keys.
///
/// pf shares Prefect's own profiles.toml with the Python CLI, so logging in with either logs in
/// both. The file is edited in place (other profiles, keys and comments are kept), atomically and
/// with mode 0600. Keys and auth strings are read from stdin (`-`) or a no-echo prompt, and are
/// never printed: status shows `pnu_…abcd`.
#[derive(Debug, Parser)]
#[command(name = "pf-auth", version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  pf-auth login                                   # Prefect Cloud: prompts for the API key
  pass show prefect | pf-auth login --key - --workspace acme/prod
  pass show prefect-server | pf-auth login --url http://prefect:4200/api --auth-string -
  pf-auth status
  pf-auth list-tenants
  pf-auth switch-tenants --slug acme/staging
  pf-auth profiles
  pf-auth use local
  pf-auth profile create staging --from default
  pf-auth profile inspect staging";

#[derive(Debug, Subcommand)]
enum Command {
    /// Log in: validate the credentials, then save them in the profile (default: the active one)
    ///
    /// Prefect Cloud: the API key (--key -: stdin, or a no-echo prompt) is checked with GET /me/
    /// and /me/workspaces, then PREFECT_API_KEY and the workspace's PREFECT_API_URL are saved.
    /// Self-hosted (--url): GET /admin/version with the auth string, then PREFECT_API_URL and
    /// PREFECT_API_AUTH_STRING are saved. Nothing is written when the check fails (exit 3).
    /// A profile that does not exist is created; the first profile becomes the active one.
    Login(login::LoginArgs),
    /// Remove the API key and auth string from the profile (and a Cloud workspace URL)
    Logout {
        /// Do not ask for confirmation on a terminal
        #[arg(short, long)]
        yes: bool,
    },
    /// Show the profile, API URL, server kind and version, auth, and whether it authenticates
    ///
    /// Exits 3 when the credentials are refused, 7 when the server cannot be reached.
    Status,
    /// List the Prefect Cloud workspaces the key can use (the active one marked *)
    #[command(alias = "list-workspaces")]
    ListTenants,
    /// Point the profile at another Prefect Cloud workspace
    #[command(alias = "switch-workspace", group(ArgGroup::new("which").required(true)))]
    SwitchTenants {
        /// Workspace id
        #[arg(short, long, group = "which")]
        id: Option<String>,
        /// Workspace handle ACCOUNT/WORKSPACE
        #[arg(short, long, group = "which", value_name = "ACCOUNT/WORKSPACE")]
        slug: Option<String>,
    },
    /// Create a Prefect Cloud API key for your user; the key is printed once, on stdout
    CreateToken {
        /// A name for the key
        #[arg(short, long)]
        name: String,
        /// When the key expires: a duration from now (30d, 12h) or an RFC 3339 time [default: never]
        #[arg(short, long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// Revoke (delete) one of your Prefect Cloud API keys
    RevokeToken {
        /// The API key's id
        #[arg(short, long)]
        id: String,
    },
    /// Not available: Prefect Cloud's API has no endpoint that lists API keys
    ListTokens,
    /// List the profiles of profiles.toml (the one in effect marked *)
    Profiles,
    /// Make a profile the active one, then check that its server answers (exit 1 when not)
    Use {
        /// Profile name
        name: String,
    },
    /// Profiles as `prefect profile`: ls, use, create, delete, rename, inspect
    #[command(subcommand)]
    Profile(profile::ProfileCommand),
}

fn main() -> ExitCode {
    pf_common::cli::run(|cli: Cli| -> anyhow::Result<i32> {
        let connection = &cli.connection;
        let code = match &cli.command {
            Command::Login(args) => login::login(args, connection)?,
            Command::Logout { yes } => login::logout(connection, *yes)?,
            Command::Status => status::run(connection, &cli.output)?,
            Command::ListTenants => tenants::list(connection, &cli.output)?,
            Command::SwitchTenants { id, slug } => tenants::switch(
                connection,
                id.as_deref().or(slug.as_deref()).unwrap_or_default(),
            )?,
            Command::CreateToken { name, expires } => {
                tenants::create_token(connection, name, expires.as_deref())?
            }
            Command::RevokeToken { id } => tenants::revoke_token(connection, id)?,
            Command::ListTokens => tenants::list_tokens(connection)?,
            Command::Profiles => profile::list(&cli.output, connection.profile.as_deref())?,
            Command::Use { name } => profile::use_profile(name, connection.verbose)?,
            Command::Profile(command) => profile::command(command, connection, &cli.output)?,
        };
        Ok(code)
    })
}
