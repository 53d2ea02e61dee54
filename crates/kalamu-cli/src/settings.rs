//! The hub's settings file (`/etc/kalamu/hub.toml` in the package), and the
//! operator's log. A flag on the command line overrides the file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::cli::ReportsWhen;

/// What `hub.toml` may say; every key is optional and unknown keys are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSettings {
    /// Address to listen on.
    pub listen: Option<String>,
    /// The database URL (`sqlite:PATH` or `postgres://…`).
    pub db: Option<String>,
    /// When the staff reports fold in new progress.
    pub reports: Option<ReportsWhen>,
    /// Serve plain HTTP (behind a TLS proxy, or on loopback).
    pub plain_http: Option<bool>,
    /// The TLS proxy's certificate (PEM), with `plain_http`.
    pub proxy_cert: Option<PathBuf>,
    /// The least severe log lines written: error, warn, info or debug.
    pub log: Option<LogLevel>,
}

/// How much the hub logs.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Failures only.
    Error,
    /// Failures and refused enrolments.
    Warn,
    /// Also start-up, enrolments, revocations and every refused request.
    #[default]
    Info,
    /// Also what helps a developer.
    Debug,
}

impl HubSettings {
    /// Reads `path`; a missing file, a typo in a key or a bad value is an error naming the file.
    pub fn read(path: &Path) -> Result<HubSettings> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the hub's settings {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is not a valid hub settings file", path.display()))
    }
}

/// Sends the hub's log lines to stderr, one line each: the journal under
/// systemd (which stamps the time itself), the terminal otherwise.
pub fn start_log(level: LogLevel) {
    let level = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_in_a_key_is_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.toml");
        std::fs::write(&path, "listen = \"0.0.0.0:7878\"\nlisten_on = \"x\"\n").unwrap();
        let err = format!("{:#}", HubSettings::read(&path).unwrap_err());
        assert!(err.contains("hub.toml") && err.contains("listen_on"), "{err}");
    }

    #[test]
    fn the_packaged_settings_file_reads() {
        let text = include_str!("../../../packaging/hub/hub.toml");
        let settings: HubSettings = toml::from_str(text).unwrap();
        assert_eq!(settings.listen.as_deref(), Some("0.0.0.0:7878"));
        assert_eq!(settings.db.as_deref(), Some("sqlite:/var/lib/kalamu/hub.db"));
        assert_eq!(settings.log, Some(LogLevel::Info));
    }
}
