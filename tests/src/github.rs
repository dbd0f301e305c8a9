//! A local fake of GitHub's webhook deliveries API for one repository hook
//! (`/repos/octo/hooks-repo/hooks/1`): it lists the deliveries it is given in the documented
//! JSON shape, newest first, paginated by a `Link` cursor, with rate-limit headers; it
//! records every redelivery request (`POST …/deliveries/{id}/attempts`, answered 202) and,
//! when told where, performs it by posting the event's signed payload to hookline as GitHub
//! would. Answers can be scripted to hit the primary or the secondary rate limit.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::{HttpClient, github_headers};

/// The hook the fake serves.
pub const FAKE_HOOK: &str = "repos/octo/hooks-repo/hooks/1";

/// One delivery attempt to list.
#[derive(Debug, Clone)]
pub struct FakeDelivery {
    /// GitHub's id of the attempt (newer attempts have larger ids).
    pub id: u64,
    /// The event's guid (`X-GitHub-Delivery`).
    pub guid: String,
    /// When it was attempted.
    pub at: SystemTime,
    /// What the receiver answered; 0 for no answer.
    pub status_code: u16,
}

/// An answer given instead of the normal one, to the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scripted {
    /// 403 with `X-RateLimit-Remaining: 0`: the hour's allowance is spent.
    Exhausted,
    /// 403 with `Retry-After: 1`: a secondary rate limit.
    Secondary,
}

/// Where a performed redelivery goes.
#[derive(Debug, Clone)]
struct Forward {
    url: String,
    secret: String,
    payloads: HashMap<String, Vec<u8>>,
}

#[derive(Default)]
struct Fake {
    deliveries: Vec<FakeDelivery>,
    token: String,
    redeliveries: Vec<u64>,
    scripted: VecDeque<Scripted>,
    remaining: u64,
    forward: Option<Forward>,
    authorizations: Vec<String>,
    /// Where it listens, for the `Link` cursor.
    root: String,
}

type Shared = Arc<Mutex<Fake>>;

/// The running fake; stops when dropped.
pub struct FakeGitHub {
    /// Its API root, for `recover.github[].api_url`.
    pub url: String,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl FakeGitHub {
    /// A fake listing `deliveries` (any order) to requests bearing `token`.
    pub async fn start(mut deliveries: Vec<FakeDelivery>, token: &str) -> Self {
        deliveries.sort_by_key(|d| std::cmp::Reverse(d.id));
        let state: Shared = Arc::new(Mutex::new(Fake {
            deliveries,
            token: token.to_owned(),
            remaining: 5000,
            ..Fake::default()
        }));
        let hook = "/repos/{owner}/{repo}/hooks/{id}";
        let app = Router::new()
            .route(&format!("{hook}/deliveries"), get(list))
            .route(
                &format!("{hook}/deliveries/{{delivery}}/attempts"),
                post(redeliver),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        state.lock().unwrap().root = url.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, state, task }
    }

    /// Answers the next requests as scripted, in order, then normally again.
    pub fn script(&self, answers: &[Scripted]) {
        self.state.lock().unwrap().scripted.extend(answers);
    }

    /// Performs every redelivery asked for: posts `payloads[guid]` to `url`, signed with
    /// `secret`, with the guid as `X-GitHub-Delivery`.
    pub fn forward_to(&self, url: &str, secret: &str, payloads: HashMap<String, Vec<u8>>) {
        self.state.lock().unwrap().forward = Some(Forward {
            url: url.to_owned(),
            secret: secret.to_owned(),
            payloads,
        });
    }

    /// The delivery ids redeliveries were asked for, in order.
    pub fn redeliveries(&self) -> Vec<u64> {
        self.state.lock().unwrap().redeliveries.clone()
    }

    /// Every `Authorization` header received.
    pub fn authorizations(&self) -> Vec<String> {
        self.state.lock().unwrap().authorizations.clone()
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The checks every request passes first: the token, then a scripted answer.
fn gate(state: &Shared, headers: &HeaderMap) -> Result<u64, Box<Response>> {
    let mut fake = state.lock().unwrap();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    fake.authorizations.push(auth.clone());
    let agent = headers.get("user-agent").and_then(|v| v.to_str().ok());
    if !agent.is_some_and(|a| a.starts_with("hookline/")) {
        let body = json!({"message": "Request forbidden by administrative rules. Please make sure your request has a User-Agent header"});
        return Err(Box::new(
            (StatusCode::FORBIDDEN, axum::Json(body)).into_response(),
        ));
    }
    if auth != format!("Bearer {}", fake.token) {
        let body = json!({"message": "Bad credentials"});
        return Err(Box::new(
            (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response(),
        ));
    }
    match fake.scripted.pop_front() {
        Some(Scripted::Exhausted) => Err(Box::new(
            (
                StatusCode::FORBIDDEN,
                [("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1")],
                axum::Json(json!({"message": "API rate limit exceeded"})),
            )
                .into_response(),
        )),
        Some(Scripted::Secondary) => Err(Box::new(
            (
                StatusCode::FORBIDDEN,
                [("retry-after", "1")],
                axum::Json(json!({"message": "You have exceeded a secondary rate limit"})),
            )
                .into_response(),
        )),
        None => {
            fake.remaining -= 1;
            Ok(fake.remaining)
        }
    }
}

async fn list(
    State(state): State<Shared>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let remaining = match gate(&state, &headers) {
        Ok(remaining) => remaining,
        Err(answer) => return *answer,
    };
    let fake = state.lock().unwrap();
    let per_page: usize = query
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30);
    let from: usize = query
        .get("cursor")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = fake
        .deliveries
        .iter()
        .skip(from)
        .take(per_page)
        .map(|d| {
            json!({
                "id": d.id, "guid": d.guid,
                "delivered_at": humantime::format_rfc3339_seconds(d.at).to_string(),
                "redelivery": false, "duration": 0.27,
                "status": if d.status_code == 200 { "OK".to_owned() } else { format!("Invalid HTTP Response: {}", d.status_code) },
                "status_code": d.status_code, "event": "push", "action": null,
                "installation_id": null, "repository_id": 7
            })
        })
        .collect();
    let mut answer = axum::Json(page).into_response();
    let headers = answer.headers_mut();
    headers.insert("x-ratelimit-remaining", remaining.into());
    if from + per_page < fake.deliveries.len() {
        let next = format!(
            "<{}/repos/{owner}/{repo}/hooks/{id}/deliveries?per_page={per_page}&cursor={}>; rel=\"next\"",
            fake.root,
            from + per_page
        );
        headers.insert("link", next.parse().unwrap());
    }
    answer
}

async fn redeliver(
    State(state): State<Shared>,
    Path((_, _, _, delivery)): Path<(String, String, String, u64)>,
    headers: HeaderMap,
) -> Response {
    if let Err(answer) = gate(&state, &headers) {
        return *answer;
    }
    let forward = {
        let mut fake = state.lock().unwrap();
        fake.redeliveries.push(delivery);
        let guid = fake
            .deliveries
            .iter()
            .find(|d| d.id == delivery)
            .map(|d| d.guid.clone());
        fake.forward.clone().zip(guid)
    };
    if let Some((forward, guid)) = forward
        && let Some(body) = forward.payloads.get(&guid).cloned()
    {
        let headers = github_headers(&forward.secret, "push", &guid, &body);
        // After the 202, as GitHub does.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            HttpClient::default()
                .post(&forward.url, &headers, body)
                .await;
        });
    }
    (StatusCode::ACCEPTED, axum::Json(json!({}))).into_response()
}
