//! `hookline serve` under hostile traffic, as a process on real sockets: idle and slowloris
//! connections are closed on time while real webhooks get through; concurrent large bodies
//! stay within the memory budget; junk cannot spend a source's rate limit; the operational
//! routes leave the public port.

use std::io::Write;
use std::time::{Duration, Instant};

use hookline_tests::{
    HttpClient, Process, RedisServer, github_headers, hmac_sha256_hex, peak_rss_mib, terminate,
    wait_until,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "front-door-secret";

fn config(redis: &RedisServer, server: &str, source: &str, extra: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(
        file,
        "redis: {{url: \"{}\"}}\nserver: {{{server}}}\nsources:\n  gh: {{provider: github, secrets: [\"{SECRET}\"]{source}}}\ndedup: {{bloom: {{enabled: false}}}}\n{extra}observability: {{log_format: json}}\n",
        redis.url()
    )
    .unwrap();
    file
}

async fn serve(config: &tempfile::NamedTempFile) -> (Process, std::net::SocketAddr) {
    Process::serve(env!("CARGO_BIN_EXE_hookline"), config.path(), &[]).await
}

/// A webhook that should be accepted, with a body of its own.
async fn signed_post(client: &HttpClient, addr: std::net::SocketAddr, n: usize) -> u16 {
    let body = format!(r#"{{"n":{n},"repository":{{"full_name":"o/r"}}}}"#).into_bytes();
    let headers = github_headers(SECRET, "push", &format!("good-{n}"), &body);
    let url = format!("http://{addr}/webhooks/gh");
    client.post(&url, &headers, body).await.status.as_u16()
}

/// Waits until the server closes `stream` (EOF or reset); the time it took.
async fn closed(mut stream: TcpStream, opened: Instant) -> Duration {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return opened.elapsed(),
            Ok(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slowloris_connections_are_closed_while_real_webhooks_get_through() {
    let redis = RedisServer::start();
    let config = config(
        &redis,
        "header_timeout: 2s, idle_timeout: 3s, max_connections: 5000",
        "",
        "",
    );
    let (mut serve, addr) = serve(&config).await;
    let opened = Instant::now();
    let mut watchers = tokio::task::JoinSet::new();
    for _ in 0..1500 {
        let stream = TcpStream::connect(addr).await.unwrap();
        watchers.spawn(async move { ("idle", closed(stream, opened).await) });
    }
    for i in 0..100 {
        let stream = TcpStream::connect(addr).await.unwrap();
        watchers.spawn(async move {
            let (mut reader, mut writer) = stream.into_split();
            let request = format!(
                "POST /webhooks/gh HTTP/1.1\r\nHost: x\r\nX-Slow: {i}\r\nContent-Length: 2\r\n\r\n{{}}"
            );
            let trickle = async {
                for byte in request.bytes() {
                    if writer.write_all(&[byte]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            };
            let mut buf = [0u8; 64];
            tokio::select! {
                () = trickle => {}
                _ = reader.read(&mut buf) => {}
            }
            ("slowloris", opened.elapsed())
        });
    }

    // A well-behaved sender throughout.
    let client = HttpClient::default();
    let mut statuses = Vec::new();
    let mut n = 0;
    while opened.elapsed() < Duration::from_secs(5) {
        statuses.push(signed_post(&client, addr, n).await);
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut slowest = std::collections::BTreeMap::<&str, Duration>::new();
    let all = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(done) = watchers.join_next().await {
            let (kind, took) = done.unwrap();
            let worst = slowest.entry(kind).or_default();
            *worst = (*worst).max(took);
        }
    })
    .await;
    assert!(
        all.is_ok(),
        "connections still open after 20 s: {slowest:?}"
    );
    eprintln!(
        "front door: 1500 idle and 100 slowloris connections closed after at most {slowest:?}; {} webhooks meanwhile: {:?}",
        statuses.len(),
        statuses.iter().collect::<std::collections::BTreeSet<_>>()
    );
    // Closed by the timeouts (3 s idle, 2 s for headers), not by anything later: within the
    // timeout plus a margin for the watchdog's tick and a machine busy with the other tests
    // (CI measured 6.8 s for both once, with 1,600 connections opened at the same time).
    assert!(slowest["idle"] < Duration::from_secs(3 + 7), "{slowest:?}");
    assert!(
        slowest["slowloris"] < Duration::from_secs(2 + 7),
        "{slowest:?}"
    );
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    let status = terminate(&mut serve.child, Duration::from_secs(35)).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_concurrent_8_mib_bodies_stay_within_the_memory_budget() {
    let redis = RedisServer::start();
    let config = config(&redis, "", ", max_payload: 10MiB", "");
    let (mut serve, addr) = serve(&config).await;
    let pid = serve.child.id().unwrap();
    let before = peak_rss_mib(pid);
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..60u8 {
        let mut body = vec![b' '; 8 << 20];
        body[0] = b'[';
        body[1] = b'0' + i % 10;
        body[2] = b'0' + i / 10;
        body[(8 << 20) - 1] = b']';
        let headers = github_headers(SECRET, "push", &format!("big-{i}"), &body);
        let url = format!("http://{addr}/webhooks/gh");
        sends.spawn(async move {
            let reply = HttpClient::default()
                .send("POST", &url, &headers, body)
                .await;
            reply.map(|r| {
                let id = r.json["id"].as_str().map(str::to_owned);
                let error = r.json["error"].as_str().map(str::to_owned);
                (r.status.as_u16(), id.or(error))
            })
        });
    }
    let mut answers = Vec::new();
    while let Some(sent) = sends.join_next().await {
        answers.push(sent.unwrap());
    }
    let peak = peak_rss_mib(pid);
    let statuses: Vec<u16> = answers
        .iter()
        .map(|a| a.as_ref().map_or(0, |(status, _)| *status))
        .collect();
    let answered = answers
        .iter()
        .fold(std::collections::BTreeMap::new(), |mut m, a| {
            let key = match a {
                Ok((202, _)) => "202".to_owned(),
                Ok((status, error)) => format!("{status} {}", error.as_deref().unwrap_or("")),
                Err(e) => format!("transport error {e}"),
            };
            *m.entry(key).or_insert(0) += 1;
            m
        });
    eprintln!(
        "memory: 60 × 8 MiB bodies: peak RSS {peak} MiB (at start {before} MiB); answers {answered:?}"
    );
    assert!(
        statuses.iter().all(|s| [202, 413, 503].contains(s)),
        "every request answered 202, 413 or 503: {answers:?}"
    );
    assert!(peak < 300, "peak RSS {peak} MiB");
    let accepted: Vec<String> = answers
        .into_iter()
        .filter_map(|a| a.ok())
        .filter(|(status, _)| *status == 202)
        .filter_map(|(_, id)| id)
        .collect();
    assert!(!accepted.is_empty(), "some bodies were accepted");
    // Each 202 is stored once. A 503 after Redis's timeout may still have been stored (SPEC
    // §3: its retry is then a duplicate), so the stream may hold more than the 202s.
    let mut conn = redis.connection();
    let mut stored = Vec::new();
    let mut from = "-".to_owned();
    loop {
        let page: redis::Value = redis::cmd("XRANGE")
            .arg("hookline:events:{0}")
            .arg(&from)
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query(&mut conn)
            .unwrap();
        let Some(entry) = hookline_shared::redis::streams::from_entry_list(page).pop() else {
            break;
        };
        from = format!("({}", entry.entry_id);
        stored.push(entry.text("id").to_owned());
    }
    let distinct: std::collections::HashSet<&String> = stored.iter().collect();
    assert_eq!(distinct.len(), stored.len(), "nothing stored twice");
    for id in &accepted {
        assert!(distinct.contains(id), "202 {id} not stored");
    }
    let status = terminate(&mut serve.child, Duration::from_secs(35)).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_cannot_spend_a_sources_rate_limit_and_ops_routes_leave_the_public_port() {
    let redis = RedisServer::start();
    let config = config(&redis, "", ", rate_limit: 20/s", "");
    let ops_config = {
        let text = std::fs::read_to_string(config.path()).unwrap().replace(
            "observability: {log_format: json}",
            "observability: {log_format: json, listen: \"127.0.0.1:0\"}",
        );
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    };
    let (mut serve, addr) = serve(&ops_config).await;
    let ops = serve.listening("health and metrics listening").await;
    let client = HttpClient::default();

    // 2,000 unsigned requests within a second…
    let started = Instant::now();
    let mut junk = tokio::task::JoinSet::new();
    for worker in 0..50 {
        let (client, url) = (client.clone(), format!("http://{addr}/webhooks/gh"));
        junk.spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..40 {
                let headers = vec![
                    ("x-github-event".to_owned(), "push".to_owned()),
                    (
                        "x-hub-signature-256".to_owned(),
                        format!("sha256={}", hmac_sha256_hex(b"wrong", b"x")),
                    ),
                    ("x-github-delivery".to_owned(), format!("junk-{worker}-{i}")),
                ];
                statuses.push(
                    client
                        .post(&url, &headers, &b"{}"[..])
                        .await
                        .status
                        .as_u16(),
                );
            }
            statuses
        });
    }
    let mut refused = std::collections::BTreeMap::<u16, usize>::new();
    while let Some(statuses) = junk.join_next().await {
        for status in statuses.unwrap() {
            *refused.entry(status).or_default() += 1;
        }
    }
    let junk_took = started.elapsed();
    // …then ten signed ones: the junk spent its own bucket, not theirs.
    let mut statuses = Vec::new();
    for n in 0..10 {
        statuses.push(signed_post(&client, addr, n).await);
    }
    eprintln!(
        "rate limits: 2000 unsigned in {junk_took:?} answered {refused:?}; then 10 signed: {statuses:?}"
    );
    assert_eq!(refused.values().sum::<usize>(), 2000);
    assert!(
        refused.keys().all(|s| *s == 401 || *s == 429),
        "{refused:?}"
    );
    assert_eq!(statuses, vec![202; 10]);

    // The operational routes are on the ops port only (`/healthz` stays on both).
    let get = |url: String| {
        let client = client.clone();
        async move {
            client
                .send("GET", &url, &[], vec![])
                .await
                .unwrap()
                .status
                .as_u16()
        }
    };
    assert_eq!(get(format!("http://{addr}/metrics")).await, 404);
    assert_eq!(get(format!("http://{addr}/readyz")).await, 404);
    assert_eq!(get(format!("http://{addr}/healthz")).await, 200);
    assert_eq!(get(format!("http://{ops}/metrics")).await, 200);
    let ready = wait_until("ready on the ops port", Duration::from_secs(10), || {
        let ready = get(format!("http://{ops}/readyz"));
        async move { (ready.await == 200).then_some(()) }
    });
    ready.await;
    let status = terminate(&mut serve.child, Duration::from_secs(35)).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_is_served_and_bounded_like_http_1() {
    let redis = RedisServer::start();
    let config = config(&redis, "header_timeout: 2s, idle_timeout: 3s", "", "");
    let (mut serve, addr) = serve(&config).await;

    // A webhook over HTTP/2 with prior knowledge.
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let body = br#"{"zen":"two","repository":{"full_name":"o/r"}}"#.to_vec();
    let mut request = hyper::Request::post(format!("http://{addr}/webhooks/gh"));
    for (name, value) in github_headers(SECRET, "push", "h2-1", &body) {
        request = request.header(name, value);
    }
    let response = client
        .request(
            request
                .body(http_body_util::Full::new(body.into()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    assert_eq!(response.status(), 202);

    // A connection that sends the HTTP/2 preface and then nothing is closed on time.
    let opened = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let took = tokio::time::timeout(Duration::from_secs(20), closed(stream, opened))
        .await
        .expect("closed");
    assert!(took < Duration::from_secs(3 + 3), "{took:?}");
    let status = terminate(&mut serve.child, Duration::from_secs(35)).await;
    assert_eq!(status.code(), Some(0));
}
