//! The web operator console: server-rendered pages (maud) over the same data the operator
//! commands read, with their actions (DLQ retry and purge, replay, circuit reset) recorded in
//! the audit trail. It needs no JavaScript: pages are links and forms, a running replay
//! refreshes itself.
//!
//! `hookline console --listen ADDR` serves it alone; with `console.enabled` every role also
//! serves it at `/console` on `observability.listen` ([`crate::ops`]). Every page but the
//! login form needs a session ([`auth`]), and every POST its CSRF token.
//!
//! # Layout
//! - [`auth`]: login (token or trusted proxy header), sessions in Redis, CSRF.
//! - [`page`]: the page shell and the small pieces every page uses.
//! - [`overview`], [`history`] and [`chart`]: the overview, the samples behind its charts and
//!   the SVG they are drawn as.
//! - [`events`], [`dlq`], [`replay`], [`summaries`], [`breakers`]: one module per section.

pub mod auth;
mod breakers;
mod chart;
mod dlq;
mod events;
mod history;
mod overview;
mod page;
mod replay;
mod summaries;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};
use hookline_shared::Context;
use hookline_shared::streams::Keys;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use hookline_shared::config::ConfigError;

use crate::AppError;
use crate::commands::audit::Auditor;

/// Where the console's pages live on any listener.
pub const BASE: &str = "/console";

/// What every console handler shares.
#[derive(Clone)]
pub struct Console(Arc<Inner>);

struct Inner {
    ctx: Context,
    keys: Keys,
    auth: auth::Auth,
    history: history::History,
    replays: Mutex<HashMap<String, Arc<replay::Run>>>,
    http: reqwest::Client,
}

impl Console {
    /// The console over `ctx`; starts the sampler behind the overview's charts, which runs
    /// until `shutdown`. Fails when no way to log in is configured.
    pub fn new(ctx: Context, shutdown: &CancellationToken) -> Result<Self, ConfigError> {
        let config = &ctx.config.console;
        if !config.has_login() {
            return Err(ConfigError::at(
                "console.token",
                "set console.token (or console.trusted_user_header): the console never runs \
                 without authentication",
            ));
        }
        let keys = Keys::new(ctx.config.streams.prefix.clone());
        let auth = auth::Auth::new(config, keys.clone());
        let history = history::History::spawn(&ctx, shutdown.clone());
        // Building fails only when no TLS back end loads, which `new` would then report too.
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(2))
            .build()
            .unwrap_or_default();
        Ok(Self(Arc::new(Inner {
            ctx,
            keys,
            auth,
            history,
            replays: Mutex::default(),
            http,
        })))
    }

    fn ctx(&self) -> &Context {
        &self.0.ctx
    }

    fn keys(&self) -> &Keys {
        &self.0.keys
    }

    /// The audit trail's recorder for `session`'s user.
    fn auditor(&self, session: &auth::Session) -> Auditor {
        Auditor::new(Some(session.user.clone()))
    }

    /// The console's routes, all under [`BASE`].
    pub fn router(&self) -> Router {
        let at = |path: &str| format!("{BASE}{path}");
        let pages = Router::new()
            .route(BASE, get(overview::page))
            .route(&at("/events"), get(events::list))
            .route(&at("/events/{id}"), get(events::detail))
            .route(&at("/dlq"), get(dlq::page))
            .route(&at("/dlq/retry"), post(dlq::retry))
            .route(&at("/dlq/purge"), post(dlq::purge))
            .route(&at("/replay"), get(replay::form).post(replay::start))
            .route(&at("/replay/{run}"), get(replay::progress))
            .route(&at("/summaries"), get(summaries::page))
            .route(&at("/breakers"), get(breakers::page))
            .route(&at("/breakers/reset"), post(breakers::reset))
            .route(&at("/logout"), post(auth::logout))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                auth::require,
            ));
        pages
            .route(&at("/login"), get(auth::login_form).post(auth::login))
            .route(&at("/"), get(|| async { Redirect::to(BASE) }))
            .with_state(self.clone())
    }
}

/// `hookline console`: serves the console on `listener` until `shutdown` (`/` leads to it).
/// Logs `console listening` with the bound address.
pub async fn run(
    ctx: Context,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    let console = Console::new(ctx, &shutdown)?;
    let app = console
        .router()
        .route("/", get(|| async { Redirect::to(BASE) }));
    let address = listener.local_addr().map_err(AppError::Serve)?;
    tracing::info!(%address, "console listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
    .map_err(AppError::Serve)
}
