//! Every published vector, and per provider: a fresh valid request, a tampered body, a
//! wrong secret, a rotated secret, a missing and a garbled signature header, and (where a
//! timestamp is signed) a stale and a future timestamp.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::sig::mac;
use super::*;

const VECTORS: &str = include_str!("../../tests/vectors/vectors.json");
const TOLERANCE: Duration = Duration::from_secs(300);

fn body_file(name: &str) -> &'static [u8] {
    match name {
        "stripe-event.json" => include_bytes!("../../tests/vectors/stripe-event.json"),
        "pagerduty-event.json" => include_bytes!("../../tests/vectors/pagerduty-event.json"),
        other => panic!("vector names an unknown body file {other}"),
    }
}

fn headers(pairs: &[(String, String)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                HeaderName::try_from(k.as_str()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn every_published_vector_verifies_as_published() {
    let vectors: Vec<serde_json::Value> = serde_json::from_str(VECTORS).unwrap();
    let mut checked = 0;
    for v in &vectors {
        let kind: ProviderKind = serde_json::from_value(v["provider"].clone()).unwrap();
        let provider = build(kind, None);
        let key = provider.signing_key(v["secret"].as_str().unwrap()).unwrap();
        let body: Vec<u8> = match v["body_file"].as_str() {
            Some(file) => body_file(file).to_vec(),
            None => v["body"].as_str().unwrap().as_bytes().to_vec(),
        };
        let pairs: Vec<(String, String)> = v["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.as_str().unwrap().to_owned()))
            .collect();
        let headers = headers(&pairs);
        let at = v["now"].as_i64().unwrap_or_else(now);
        let result = provider.verify(
            &Inbound {
                headers: &headers,
                body: &body,
            },
            &[key],
            at,
            TOLERANCE,
        );
        assert_eq!(
            result.is_ok(),
            v["valid"].as_bool().unwrap(),
            "vector {}: {result:?}",
            v["origin"]
        );
        checked += 1;
    }
    assert_eq!(checked, vectors.len());
    assert_eq!(checked, 9, "vectors.json holds nine cases");
}

/// Signs `body` with `key` at time `ts`, returning the headers a sender would send.
type Signer = fn(key: &[u8], ts: i64, body: &[u8]) -> Vec<(String, String)>;

/// A provider under test: how to sign a request for it, and which header carries the proof.
struct Case {
    kind: ProviderKind,
    secret: &'static str,
    /// The header whose removal or corruption must fail verification.
    proof: &'static str,
    timestamped: bool,
    sign: Signer,
}

fn hex_mac(key: &[u8], parts: &[&[u8]]) -> String {
    hex::encode(mac(HmacAlgorithm::Sha256, key, parts))
}

fn hmac_options() -> HmacOptions {
    HmacOptions {
        header: HeaderName::from_static("x-signature"),
        algorithm: HmacAlgorithm::Sha512,
        encoding: SignatureEncoding::Base64,
        prefix: Some("sha512=".into()),
    }
}

fn h(name: &str, value: String) -> (String, String) {
    (name.to_owned(), value)
}

const CASES: &[Case] = &[
    Case {
        kind: ProviderKind::Github,
        secret: "gh",
        proof: "x-hub-signature-256",
        timestamped: false,
        sign: |k, _, b| {
            vec![
                h(
                    "x-hub-signature-256",
                    format!("sha256={}", hex_mac(k, &[b])),
                ),
                h("x-github-event", "push".into()),
            ]
        },
    },
    Case {
        kind: ProviderKind::Gitlab,
        secret: "gl-token",
        proof: "x-gitlab-token",
        timestamped: false,
        sign: |k, _, _| vec![h("x-gitlab-token", String::from_utf8(k.to_vec()).unwrap())],
    },
    Case {
        kind: ProviderKind::Stripe,
        secret: "whsec_stripe",
        proof: "stripe-signature",
        timestamped: true,
        sign: |k, ts, b| {
            vec![h(
                "stripe-signature",
                format!(
                    "t={ts},v1=00,v1={}",
                    hex_mac(k, &[ts.to_string().as_bytes(), b".", b])
                ),
            )]
        },
    },
    Case {
        kind: ProviderKind::Slack,
        secret: "slack",
        proof: "x-slack-signature",
        timestamped: true,
        sign: |k, ts, b| {
            vec![
                h("x-slack-request-timestamp", ts.to_string()),
                h(
                    "x-slack-signature",
                    format!(
                        "v0={}",
                        hex_mac(k, &[b"v0:", ts.to_string().as_bytes(), b":", b])
                    ),
                ),
            ]
        },
    },
    Case {
        kind: ProviderKind::Shopify,
        secret: "shop",
        proof: "x-shopify-hmac-sha256",
        timestamped: false,
        sign: |k, _, b| {
            vec![h(
                "x-shopify-hmac-sha256",
                B64.encode(mac(HmacAlgorithm::Sha256, k, &[b])),
            )]
        },
    },
    Case {
        kind: ProviderKind::Jira,
        secret: "jira",
        proof: "x-hub-signature",
        timestamped: false,
        sign: |k, _, b| {
            vec![h(
                "x-hub-signature",
                format!("sha256={}", hex_mac(k, &[b]).to_uppercase()),
            )]
        },
    },
    Case {
        kind: ProviderKind::Linear,
        secret: "linear",
        proof: "linear-signature",
        timestamped: false,
        sign: |k, _, b| vec![h("linear-signature", hex_mac(k, &[b]))],
    },
    Case {
        kind: ProviderKind::Pagerduty,
        secret: "pd",
        proof: "x-pagerduty-signature",
        timestamped: false,
        sign: |k, _, b| {
            vec![h(
                "x-pagerduty-signature",
                format!("v1=deadbeef, v1={}", hex_mac(k, &[b])),
            )]
        },
    },
    Case {
        kind: ProviderKind::Standard,
        secret: "whsec_c3RhbmRhcmQta2V5",
        proof: "webhook-signature",
        timestamped: true,
        sign: |k, ts, b| {
            vec![
                h("webhook-id", "msg_1".into()),
                h("webhook-timestamp", ts.to_string()),
                h(
                    "webhook-signature",
                    format!(
                        "v1,AAAA v1,{}",
                        B64.encode(mac(
                            HmacAlgorithm::Sha256,
                            k,
                            &[b"msg_1.", ts.to_string().as_bytes(), b".", b]
                        ))
                    ),
                ),
            ]
        },
    },
    Case {
        kind: ProviderKind::Hmac,
        secret: "custom",
        proof: "x-signature",
        timestamped: false,
        sign: |k, _, b| {
            vec![h(
                "x-signature",
                format!("sha512={}", B64.encode(mac(HmacAlgorithm::Sha512, k, &[b]))),
            )]
        },
    },
];

impl Case {
    fn provider(&self) -> Arc<dyn Provider> {
        build(
            self.kind,
            (self.kind == ProviderKind::Hmac).then(hmac_options),
        )
    }

    fn key(&self) -> Secret {
        self.provider().signing_key(self.secret).unwrap()
    }

    fn verify(
        &self,
        keys: &[Secret],
        pairs: &[(String, String)],
        body: &[u8],
    ) -> Result<(), ProviderError> {
        let headers = headers(pairs);
        self.provider().verify(
            &Inbound {
                headers: &headers,
                body,
            },
            keys,
            now(),
            TOLERANCE,
        )
    }
}

#[test]
fn each_provider_accepts_a_fresh_signature_and_refuses_every_tampering() {
    let body = br#"{"type":"t","id":"evt_1","event":{"id":"e","event_type":"x"}}"#;
    for case in CASES {
        let name = case.kind.as_str();
        let key = case.key();
        let wrong = case.provider().signing_key("whsec_d3Jvbmcta2V5").unwrap();
        let signed = (case.sign)(key.expose(), now(), body);
        assert_eq!(
            case.verify(std::slice::from_ref(&key), &signed, body),
            Ok(()),
            "{name}: valid"
        );
        assert_eq!(
            case.verify(&[wrong.clone(), key.clone()], &signed, body),
            Ok(()),
            "{name}: rotated secret"
        );
        assert_eq!(
            case.verify(std::slice::from_ref(&wrong), &signed, body),
            Err(ProviderError::InvalidSignature),
            "{name}: wrong secret"
        );
        if case.kind != ProviderKind::Gitlab {
            let tampered = br#"{"type":"t","id":"evt_2","event":{"id":"e","event_type":"x"}}"#;
            assert_eq!(
                case.verify(std::slice::from_ref(&key), &signed, tampered),
                Err(ProviderError::InvalidSignature),
                "{name}: tampered body"
            );
        }
        let missing: Vec<_> = signed
            .iter()
            .filter(|(n, _)| n != case.proof)
            .cloned()
            .collect();
        assert_eq!(
            case.verify(std::slice::from_ref(&key), &missing, body),
            Err(ProviderError::InvalidSignature),
            "{name}: missing header"
        );
        let garbled: Vec<_> = signed
            .iter()
            .map(|(n, v)| {
                if n == case.proof {
                    (n.clone(), "v1=zz,sha256=not-hex-or-base64!".into())
                } else {
                    (n.clone(), v.clone())
                }
            })
            .collect();
        assert_eq!(
            case.verify(std::slice::from_ref(&key), &garbled, body),
            Err(ProviderError::InvalidSignature),
            "{name}: garbled header"
        );
        assert_eq!(
            case.verify(&[], &signed, body),
            Err(ProviderError::InvalidSignature),
            "{name}: no keys"
        );
    }
}

#[test]
fn signed_timestamps_are_checked_in_both_directions() {
    let body = br#"{"type":"t","id":"evt_1"}"#;
    for case in CASES.iter().filter(|c| c.timestamped) {
        let key = case.key();
        for offset in [-301, 301, -3600, 86_400] {
            let signed = (case.sign)(key.expose(), now() + offset, body);
            assert_eq!(
                case.verify(std::slice::from_ref(&key), &signed, body),
                Err(ProviderError::StaleTimestamp),
                "{}: timestamp {offset}s away",
                case.kind.as_str()
            );
        }
        let edge = (case.sign)(key.expose(), now() - 290, body);
        assert_eq!(
            case.verify(std::slice::from_ref(&key), &edge, body),
            Ok(()),
            "{}: inside tolerance",
            case.kind.as_str()
        );
        // A bad signature is reported as such whatever the timestamp.
        let wrong = case.provider().signing_key("whsec_d3Jvbmcta2V5").unwrap();
        let stale = (case.sign)(wrong.expose(), now() - 3600, body);
        assert_eq!(
            case.verify(&[key], &stale, body),
            Err(ProviderError::InvalidSignature)
        );
    }
}

#[test]
fn hmac_without_options_fails_closed() {
    let provider = build(ProviderKind::Hmac, None);
    let headers = HeaderMap::new();
    let key = Secret::new(b"k".to_vec());
    let result = provider.verify(
        &Inbound {
            headers: &headers,
            body: b"x",
        },
        &[key],
        now(),
        TOLERANCE,
    );
    assert_eq!(result, Err(ProviderError::InvalidSignature));
}

#[test]
fn unsigned_sources_verify_anything() {
    let headers = HeaderMap::new();
    let result = build(ProviderKind::None, None).verify(
        &Inbound {
            headers: &headers,
            body: b"x",
        },
        &[],
        now(),
        TOLERANCE,
    );
    assert_eq!(result, Ok(()));
}

#[test]
fn standard_keys_must_be_whsec_base64() {
    let standard = build(ProviderKind::Standard, None);
    assert_eq!(
        standard.signing_key("whsec_c3RhbmRhcmQ=").unwrap().expose(),
        b"standard"
    );
    let error = standard.signing_key("whsec_!!secret!!").unwrap_err();
    assert!(!error.to_string().contains("secret!!"), "{error}");
}

fn inspect(
    kind: ProviderKind,
    pairs: &[(&str, &str)],
    body: &[u8],
) -> Result<Inspection, ProviderError> {
    let owned: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let headers = headers(&owned);
    build(kind, (kind == ProviderKind::Hmac).then(hmac_options)).inspect(&Inbound {
        headers: &headers,
        body,
    })
}

fn expect(event_type: &str, delivery: Option<&str>, entity: Option<&str>) -> Inspection {
    Inspection {
        event_type: event_type.into(),
        delivery_id: delivery.map(Into::into),
        entity: entity.map(Into::into),
        challenge: None,
        signed: SignedIdentity::default(),
    }
}

/// `inspection` whose signed bytes name `event_type` and, where given, the event `id`.
fn signed(inspection: Inspection, event_type: &str, id: Option<&str>) -> Inspection {
    Inspection {
        signed: SignedIdentity {
            event_type: Some(event_type.into()),
            id: id.map(Into::into),
        },
        ..inspection
    }
}

/// Provider, request headers, body, and what inspection must read from them.
type InspectCase = (
    ProviderKind,
    Vec<(&'static str, &'static str)>,
    &'static [u8],
    Inspection,
);

#[test]
fn each_provider_reads_type_delivery_and_entity() {
    use ProviderKind::{
        Github, Gitlab, Hmac, Jira, Linear, Pagerduty, Shopify, Slack, Standard, Stripe,
    };
    let push = include_bytes!("../../tests/fixtures/github-push.json");
    let cases: Vec<InspectCase> = vec![
        (
            Github,
            vec![("x-github-event", "push"), ("x-github-delivery", "d1")],
            push,
            expect("push", Some("d1"), Some("Codertocat/Hello-World")),
        ),
        (
            Github,
            vec![("x-github-event", "ping")],
            b"payload=%7B%7D",
            expect("ping", None, None),
        ),
        (
            Gitlab,
            vec![
                ("x-gitlab-event", "Push Hook"),
                ("x-gitlab-webhook-uuid", "w"),
                ("idempotency-key", "i"),
            ],
            b"{}",
            expect("Push Hook", Some("i"), None),
        ),
        (
            Gitlab,
            vec![("x-gitlab-event-uuid", "e")],
            b"{}",
            expect("unknown", Some("e"), None),
        ),
        (
            Stripe,
            vec![],
            br#"{"id":"evt_9","type":"charge.succeeded","account":"acct_1"}"#,
            signed(
                expect("charge.succeeded", Some("evt_9"), Some("acct_1")),
                "charge.succeeded",
                Some("evt_9"),
            ),
        ),
        (
            Slack,
            vec![],
            br#"{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}"#,
            signed(
                expect("app_mention", Some("Ev1"), None),
                "app_mention",
                Some("Ev1"),
            ),
        ),
        (
            Slack,
            vec![],
            b"token=t&command=%2Fdeploy&text=x",
            signed(expect("/deploy", None, None), "/deploy", None),
        ),
        (
            Slack,
            vec![],
            b"payload=%7B%22type%22%3A%22block_actions%22%7D",
            signed(expect("block_actions", None, None), "block_actions", None),
        ),
        (
            Shopify,
            vec![
                ("x-shopify-topic", "orders/create"),
                ("x-shopify-webhook-id", "w1"),
            ],
            b"{}",
            expect("orders/create", Some("w1"), None),
        ),
        (
            Jira,
            vec![("x-atlassian-webhook-identifier", "j1")],
            br#"{"webhookEvent":"jira:issue_updated"}"#,
            signed(
                expect("jira:issue_updated", Some("j1"), None),
                "jira:issue_updated",
                None,
            ),
        ),
        (
            Linear,
            vec![("linear-event", "Issue"), ("linear-delivery", "l1")],
            b"{}",
            expect("Issue", Some("l1"), None),
        ),
        (
            Pagerduty,
            vec![],
            include_bytes!("../../tests/vectors/pagerduty-event.json"),
            signed(
                expect(
                    "incident.priority_updated",
                    Some("01BWDWL3NYY7LUFPZCC28QUCMK"),
                    None,
                ),
                "incident.priority_updated",
                Some("01BWDWL3NYY7LUFPZCC28QUCMK"),
            ),
        ),
        (
            Standard,
            vec![("webhook-id", "msg_1")],
            br#"{"type":"invoice.paid"}"#,
            signed(
                expect("invoice.paid", Some("msg_1"), None),
                "invoice.paid",
                Some("msg_1"),
            ),
        ),
        (
            Hmac,
            vec![("x-event-type", "thing"), ("x-delivery-id", "h1")],
            b"x",
            expect("thing", Some("h1"), None),
        ),
        (
            ProviderKind::None,
            vec![],
            b"x",
            expect("unknown", None, None),
        ),
    ];
    for (kind, pairs, body, expected) in cases {
        assert_eq!(
            inspect(kind, &pairs, body),
            Ok(expected),
            "{}",
            kind.as_str()
        );
    }
}

#[test]
fn slack_url_verification_yields_the_challenge() {
    let body = br#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let inspection = inspect(ProviderKind::Slack, &[], body).unwrap();
    assert_eq!(inspection.event_type, "url_verification");
    assert_eq!(
        inspection.challenge.as_deref(),
        Some("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
    );
}

#[test]
fn unreadable_bodies_are_malformed_without_quoting_them() {
    for kind in [
        ProviderKind::Stripe,
        ProviderKind::Jira,
        ProviderKind::Pagerduty,
        ProviderKind::Standard,
    ] {
        let error = inspect(kind, &[], b"not json: secret-ish content").unwrap_err();
        assert!(
            matches!(&error, ProviderError::Malformed(d) if !d.contains("secret-ish")),
            "{}: {error:?}",
            kind.as_str()
        );
    }
    let missing = inspect(ProviderKind::Github, &[], b"{}").unwrap_err();
    assert_eq!(
        missing,
        ProviderError::Malformed("missing X-GitHub-Event header".into())
    );
    let stripe = inspect(ProviderKind::Stripe, &[], br#"{"id":"evt_1"}"#).unwrap_err();
    assert!(matches!(stripe, ProviderError::Malformed(_)));
}

#[test]
fn retained_headers_never_include_proofs() {
    for case in CASES {
        let retained = case.provider().retained_headers();
        assert!(
            !retained.contains(&case.proof),
            "{} retains its proof header",
            case.kind.as_str()
        );
        assert!(
            retained
                .iter()
                .all(|h| !h.contains("signature") && !h.contains("token") && !h.contains("hmac"))
        );
    }
}

/// Property tests of the signature-header parsers: whatever a header holds, verification
/// returns (never panics), and a list-style header verifies exactly when one of its entries
/// is the genuine signature — garbage, duplicates, spacing and case around it change nothing.
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Printable ASCII, the characters a header value may hold, weighted towards the
    /// separators the parsers split on.
    fn header_text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("([ -~]|[,= ]|v1|v0|t=){0,80}").unwrap()
    }

    /// One junk entry of a signature list: wrong versions, wrong lengths, odd case and
    /// spacing, non-hex and non-base64 text.
    fn junk() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9a-f]{0,70}".prop_map(|s| format!("v1={s}")),
            "[A-Za-z0-9+/=]{0,50}".prop_map(|s| format!("v1,{s}")),
            "[ -~&&[^,=]]{0,30}",
            "[0-9a-f]{64}".prop_map(|s| format!("V1={s}")),
            "[0-9a-f]{64}".prop_map(|s| format!("v0={s}")),
            Just(String::new()),
        ]
    }

    /// Junk for a Stripe list, which is split on commas: an entry that becomes a second `t=`
    /// (e.g. `v1,t=`) is not junk but another timestamp, which makes the header invalid, as
    /// in Stripe's own libraries.
    fn stripe_junk() -> impl Strategy<Value = String> {
        junk().prop_filter("a second timestamp", |j| {
            !j.split(',').any(|part| part.trim_start().starts_with("t="))
        })
    }

    #[test]
    fn a_second_timestamp_makes_a_stripe_header_invalid() {
        let stripe = case(ProviderKind::Stripe);
        let body = br#"{"id":"evt_1","type":"t"}"#;
        let good = genuine(stripe, body, ',');
        let header = format!("t={},{good},t=", now());
        assert!(verify_with(stripe, body, &header).is_err(), "{header}");
    }

    fn case(kind: ProviderKind) -> &'static Case {
        CASES.iter().find(|c| c.kind == kind).unwrap()
    }

    /// Verifies `body` with `case`'s key, its signed headers but `proof` set to `value`.
    fn verify_with(case: &Case, body: &[u8], value: &str) -> Result<(), ProviderError> {
        let key = case.key();
        let mut signed = (case.sign)(key.expose(), now(), body);
        signed.retain(|(name, _)| name != case.proof);
        signed.push((case.proof.to_owned(), value.to_owned()));
        case.verify(&[key], &signed, body)
    }

    /// The genuine signature entry `case` sends for `body` (the last entry of its list).
    fn genuine(case: &Case, body: &[u8], separator: char) -> String {
        let key = case.key();
        let signed = (case.sign)(key.expose(), now(), body);
        let value = &signed.iter().find(|(n, _)| n == case.proof).unwrap().1;
        value.rsplit(separator).next().unwrap().trim().to_owned()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_signature_header_and_body_are_answered_without_a_panic(
            value in header_text(),
            body in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            for case in CASES {
                let _ = verify_with(case, &body, &value);
            }
        }

        #[test]
        fn a_stripe_list_verifies_exactly_when_it_holds_the_genuine_v1(
            before in proptest::collection::vec(stripe_junk(), 0..4),
            after in proptest::collection::vec(stripe_junk(), 0..4),
            include in any::<bool>(),
            spaced in any::<bool>(),
        ) {
            let stripe = case(ProviderKind::Stripe);
            let body = br#"{"id":"evt_1","type":"t"}"#;
            let mut entries = vec![format!("t={}", now())];
            entries.extend(before);
            if include {
                entries.push(genuine(stripe, body, ','));
            }
            entries.extend(after);
            let joined = entries.join(if spaced { ", " } else { "," });
            let verified = verify_with(stripe, body, &joined).is_ok();
            prop_assert_eq!(verified, include, "{}", joined);
        }

        #[test]
        fn a_standard_webhooks_list_verifies_exactly_when_it_holds_the_genuine_v1(
            before in proptest::collection::vec(junk(), 0..4),
            after in proptest::collection::vec(junk(), 0..4),
            include in any::<bool>(),
        ) {
            let standard = case(ProviderKind::Standard);
            let body = br#"{"type":"invoice.paid"}"#;
            let mut entries: Vec<String> =
                before.into_iter().map(|j| j.replace(' ', "")).collect();
            if include {
                entries.push(genuine(standard, body, ' '));
            }
            entries.extend(after.into_iter().map(|j| j.replace(' ', "")));
            let joined = entries.join(" ");
            let verified = verify_with(standard, body, &joined).is_ok();
            prop_assert_eq!(verified, include, "{}", joined);
        }

        #[test]
        fn a_pagerduty_list_verifies_exactly_when_it_holds_the_genuine_v1(
            before in proptest::collection::vec(junk(), 0..4),
            after in proptest::collection::vec(junk(), 0..4),
            include in any::<bool>(),
        ) {
            let pagerduty = case(ProviderKind::Pagerduty);
            let body = br#"{"event":{"id":"e","event_type":"x"}}"#;
            let mut entries = before;
            if include {
                entries.push(genuine(pagerduty, body, ','));
            }
            entries.extend(after);
            let joined = entries.join(",");
            let verified = verify_with(pagerduty, body, &joined).is_ok();
            prop_assert_eq!(verified, include, "{}", joined);
        }

        #[test]
        fn a_slack_signature_verifies_only_as_sent(prefix in "[ -~]{0,5}", suffix in "[ -~]{0,5}") {
            let slack = case(ProviderKind::Slack);
            let body = b"token=t&command=%2Fdeploy";
            let real = genuine(slack, body, ',');
            let altered = format!("{prefix}{real}{suffix}");
            let verified = verify_with(slack, body, &altered).is_ok();
            prop_assert_eq!(verified, altered.trim() == real, "{}", altered);
        }
    }
}
