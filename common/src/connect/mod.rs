//! Talking to the server: settings and profiles, the HTTP client, Prefect Cloud's account API,
//! what a server release can do, and the rules for riding out an outage.

pub mod answer;
pub mod client;
pub mod cloud;
pub mod config;
pub mod outage;
pub mod profiles;
pub mod request;
pub mod server;
