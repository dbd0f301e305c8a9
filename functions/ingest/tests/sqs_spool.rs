//! The ingest Lambda binary with Redis unreachable and `spool.sqs_queue_url` set, invoked
//! through a local Runtime API, against moto_server's SQS: it answers 202 once the event is in
//! the FIFO queue, and the drain (the `drain-spool` job's code) moves it into Redis once,
//! deleting the message only after Redis has it.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{function_url_event, start_function};

use hookline_jobs::Budget;
use hookline_jobs::drain_spool::drain_spool;
use hookline_shared::config;
use hookline_shared::redis::RedisConn;
use hookline_shared::spool::SqsSpool;
use hookline_shared::sqs::Queue;
use hookline_tests::{LambdaRuntimeApi, MotoServer, RedisServer, github_headers};
use serde_json::Value;

const SECRET: &str = "lambda-secret";

fn now_ms() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.unwrap().as_millis() as u64
}

#[tokio::test]
async fn with_redis_unreachable_the_function_spools_to_sqs_and_the_drain_moves_it_once() {
    let mut redis = RedisServer::start();
    let moto = MotoServer::start();
    let queue = moto.create_queue("hookline-spool.fifo").await;
    let yaml = format!(
        "redis: {{url: \"{}\", connect_timeout: 300ms, response_timeout: 300ms}}\nspool: {{sqs_queue_url: \"{queue}\"}}\nsources:\n  github: {{provider: github, secrets: [\"{SECRET}\"]}}\n",
        redis.url()
    );
    redis.kill();
    let api = LambdaRuntimeApi::start().await;
    let mut function = start_function(&api, &yaml, &moto.aws_env(), Stdio::null());

    let body = br#"{"zen":"Keep it logically awesome.","repository":{"full_name":"octo/spool"}}"#;
    let headers = github_headers(SECRET, "ping", "spooled-1", body);
    let reply = api
        .invoke(function_url_event(
            "/webhooks/github",
            &headers,
            body,
            false,
        ))
        .await
        .expect("the function answered");
    assert_eq!(reply["statusCode"], 202, "{reply}");
    assert_eq!(reply["headers"]["hookline-spooled"], "true", "{reply}");
    let answer: Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
    let id = answer["id"].as_str().unwrap().to_owned();
    assert_eq!(
        moto.queue_depth(&queue).await,
        1,
        "the event is in the queue"
    );
    function.kill().await.unwrap();

    let config = config::parse(&yaml, |_| None).unwrap();
    let mut conn = RedisConn::open(&config.redis).unwrap();
    let spool = SqsSpool::new(Queue::new(moto.sqs(), &queue), None);
    let budget = || Budget::new(Duration::from_secs(30));

    // Redis still down: the drain fails and the message stays.
    drain_spool(&config, &mut conn, &spool, budget(), now_ms())
        .await
        .expect_err("Redis is down");
    assert_eq!(
        moto.queue_depth(&queue).await,
        1,
        "kept while Redis is down"
    );

    redis.restart();
    let report = drain_spool(&config, &mut conn, &spool, budget(), now_ms())
        .await
        .unwrap();
    assert_eq!((report.moved.new, report.moved.duplicates), (1, 0));
    assert_eq!(
        moto.queue_depth(&queue).await,
        0,
        "deleted once Redis has it"
    );
    let events = redis.events(1);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].text("id"), id, "the id the sender was answered");
    assert_eq!(events[0].payload(), body);

    let again = drain_spool(&config, &mut conn, &spool, budget(), now_ms())
        .await
        .unwrap();
    assert_eq!((again.moved.new, again.moved.duplicates), (0, 0));
    assert_eq!(redis.events(1).len(), 1, "once");
}
