//! The operator's side of the audit trail ([`hookline_shared::audit`]): [`Auditor`] records
//! what a command did, `hookline audit list` prints the trail.

use anyhow::Context as _;
use hookline_shared::Context;
use hookline_shared::audit::{self, Entry};
use hookline_shared::streams::Keys;
use serde_json::{Value, json};

use crate::CliError;

/// Records the actions of one command line, as one actor.
#[derive(Debug, Clone)]
pub struct Auditor {
    actor: String,
}

impl Auditor {
    /// Actions by `actor` (`--actor`), else by the OS user.
    pub fn new(actor: Option<String>) -> Self {
        Self {
            actor: actor.unwrap_or_else(audit::os_user),
        }
    }

    /// Records `action`, asked with `args`, and how `result` ended (with `counts` of what it
    /// touched); returns `result`. A result that cannot be recorded is an error: the action
    /// happened, and the error says so.
    pub async fn record<T, E: Into<CliError>>(
        &self,
        ctx: &Context,
        action: &str,
        args: Value,
        result: Result<T, E>,
        counts: impl FnOnce(&T) -> Value,
    ) -> Result<T, CliError> {
        let result = result.map_err(Into::into);
        let (counts, outcome) = match &result {
            Ok(done) => (counts(done), "ok".to_owned()),
            Err(e) => (json!({}), format!("failed: {e}")),
        };
        let entry = Entry {
            at_ms: ctx.clock.now_ms(),
            actor: self.actor.clone(),
            action: action.to_owned(),
            args,
            counts,
            outcome,
        };
        let keys = Keys::new(ctx.config.streams.prefix.clone());
        audit::append(&mut ctx.redis.shared(), &keys, &entry)
            .await
            .with_context(|| {
                format!(
                    "{action} ran ({}), but the audit trail could not record it",
                    entry.outcome
                )
            })?;
        result
    }
}

/// `hookline audit list`: the actions recorded since `since_ms`, oldest first.
pub async fn list(ctx: &Context, since_ms: u64, json: bool) -> Result<(), CliError> {
    let keys = Keys::new(ctx.config.streams.prefix.clone());
    let entries = audit::since(&mut ctx.redis.shared(), &keys, since_ms)
        .await
        .context("cannot read the audit trail")?;
    for entry in entries {
        if json {
            println!("{}", serde_json::to_string(&entry).unwrap_or_default());
        } else {
            let at = super::rfc3339_ms(entry.at_ms);
            println!(
                "{at}  {:<12}  {:<22}  {}  args {}  counts {}",
                entry.actor, entry.action, entry.outcome, entry.args, entry.counts
            );
        }
    }
    Ok(())
}
