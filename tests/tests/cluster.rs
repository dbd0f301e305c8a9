//! Cluster mode: partitions spread over a three-master Redis Cluster; de-duplication holds.

use hookline_tests::{HttpClient, RedisCluster, TestIngest, github_corpus, github_headers};
use redis::Commands;

const SECRET: &str = "cluster-secret";

#[tokio::test]
async fn ingest_appends_and_deduplicates_on_a_cluster() {
    let cluster = RedisCluster::start();
    let urls: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    let yaml = format!(
        "redis: {{mode: cluster, urls: [{}]}}\nstreams: {{partitions: 8}}\n\
         sources:\n  github: {{provider: github, secrets: [\"{SECRET}\"]}}\n",
        urls.join(", ")
    );
    let ingest = TestIngest::start(&yaml).await;
    let client = HttpClient::default();
    let url = ingest.url("/webhooks/github");
    let corpus: Vec<_> = github_corpus().into_iter().take(80).collect();
    let mut ids = Vec::new();
    for (i, (name, body)) in corpus.iter().enumerate() {
        let reply = client
            .post(
                &url,
                &github_headers(SECRET, name, &format!("c-{i}"), body),
                body.clone(),
            )
            .await;
        assert_eq!(reply.status, 202, "{name}: {:?}", reply.json);
        ids.push(reply.json["id"].as_str().unwrap().to_owned());
    }

    let (name, body) = &corpus[0];
    let headers = github_headers(SECRET, name, "c-0", body);
    let replies =
        futures_util::future::join_all((0..50).map(|_| client.post(&url, &headers, body.clone())))
            .await;
    assert!(
        replies
            .iter()
            .all(|r| r.status == 200 && r.json["id"] == ids[0].as_str())
    );

    let mut conn = cluster.connection();
    let mut stored = Vec::new();
    let mut used = 0;
    for p in 0..8 {
        let reply: redis::streams::StreamRangeReply =
            conn.xrange_all(format!("hookline:events:{{{p}}}")).unwrap();
        used += usize::from(!reply.ids.is_empty());
        stored.extend(reply.ids.iter().filter_map(|e| e.get::<String>("id")));
    }
    stored.sort();
    ids.sort();
    assert_eq!(stored, ids, "every event exactly once");
    assert!(used >= 2, "partitions spread over the cluster");
    let ready = client
        .send("GET", &ingest.url("/readyz"), &[], vec![])
        .await
        .unwrap();
    assert_eq!(ready.status, 200);
}
