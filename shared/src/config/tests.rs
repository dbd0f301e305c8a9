//! Loading and validation: every refusal names its key path.

use super::*;

const EXAMPLE: &str = include_str!("../../../docs/hookline.example.yaml");

fn env_with(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// The error `yaml` produces, as `path: reason`.
fn error_of(yaml: &str) -> String {
    parse(yaml, no_env)
        .expect_err("config should be refused")
        .to_string()
}

#[test]
fn the_annotated_example_loads() {
    let env = env_with(&[
        ("GITHUB_SECRET", "gh"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_c3RyaXBl"),
        ("INTERNAL_SECRET", "internal"),
        (
            "APP_WEBHOOK_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ),
    ]);
    let config = parse(EXAMPLE, env).unwrap_or_else(|e| panic!("example config: {e}"));
    assert_eq!(config.sources.len(), 4);
    assert_eq!(config.sources["github"].tenant, "acme");
    assert_eq!(config.consumer.groups.len(), 3);
    let limits = config.effective(&config.sources["billing"]);
    assert_eq!(limits.max_payload, 10 * 1024 * 1024);
    assert_eq!(limits.dedup_window, std::time::Duration::from_secs(300));
}

#[test]
fn an_empty_file_takes_every_default() {
    let config = parse("", no_env).unwrap();
    assert_eq!(config.streams.prefix, "hookline");
    assert_eq!(config.streams.partitions, 1);
    assert_eq!(config.redis.nodes(), vec![DEFAULT_URL.to_owned()]);
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
}

#[test]
fn summary_counting_and_the_bloom_filter_are_on_unless_turned_off() {
    let defaults = parse("", no_env).unwrap();
    assert!(defaults.consumer.summaries);
    assert!(defaults.dedup.bloom.shape().is_some());
    let off = parse(
        "consumer: {summaries: false}\ndedup: {bloom: {enabled: false}}\n",
        no_env,
    )
    .unwrap();
    assert!(!off.consumer.summaries);
    assert!(off.dedup.bloom.shape().is_none());
}

#[test]
fn a_missing_variable_names_the_key_and_the_variable() {
    let yaml = "sources:\n  github:\n    provider: github\n    secrets: [\"${GITHUB_SECRET}\"]\n";
    assert_eq!(
        error_of(yaml),
        "sources.github.secrets[0]: environment variable GITHUB_SECRET is not set"
    );
}

#[test]
fn variables_are_substituted_and_dollar_dollar_escapes() {
    let yaml = "streams:\n  prefix: \"${P}x\"\nredis:\n  password: \"a$${b}\"\n";
    let config = parse(yaml, env_with(&[("P", "hl")])).unwrap();
    assert_eq!(config.streams.prefix, "hlx");
    assert_eq!(
        config.redis.password.as_ref().map(|p| p.expose()),
        Some("a${b}")
    );
}

#[test]
fn redis_url_comes_from_the_environment_when_set() {
    let config = parse(
        "redis:\n  url: redis://a:1\n",
        env_with(&[("HOOKLINE_REDIS_URL", "redis://b:2")]),
    )
    .unwrap();
    assert_eq!(config.redis.nodes(), vec!["redis://b:2".to_owned()]);
}

#[test]
fn config_source_prefers_the_flag_then_the_file_variable_then_inline_yaml() {
    let file =
        ConfigSource::resolve(None, env_with(&[("HOOKLINE_CONFIG", "/etc/h.yaml")])).unwrap();
    assert!(matches!(file, ConfigSource::File(p) if p.to_str() == Some("/etc/h.yaml")));
    let inline =
        ConfigSource::resolve(None, env_with(&[("HOOKLINE_CONFIG_YAML", "streams: {}")])).unwrap();
    assert!(matches!(inline, ConfigSource::Inline(_)));
    let flag = ConfigSource::resolve(Some("x.yaml".into()), env_with(&[("HOOKLINE_CONFIG", "y")]))
        .unwrap();
    assert!(matches!(flag, ConfigSource::File(p) if p.to_str() == Some("x.yaml")));
    assert!(ConfigSource::resolve(None, no_env).is_err());
}

/// Each case: YAML, then the exact `path: reason` prefix expected.
#[test]
fn refusals_name_the_key_path() {
    let cases: &[(&str, &str)] = &[
        ("redsi: {}\n", "redsi: unknown key"),
        (
            "sources:\n  gh:\n    provider: github\n    secret: x\n",
            "sources.gh.secret: unknown key",
        ),
        (
            "sources:\n  gh:\n    secrets: [x]\n",
            "sources.gh.provider: is required",
        ),
        (
            "sources:\n  gh:\n    provider: gitlub\n",
            "sources.gh.provider: unknown variant `gitlub`",
        ),
        (
            "sources:\n  gh:\n    provider: github\n    secrets: [x]\n    retention: 10m\n",
            "sources.gh.retention: must be at least 1h",
        ),
        (
            "streams:\n  partitions: many\n",
            "streams.partitions: invalid type",
        ),
        (
            "streams:\n  partitions: 0\n",
            "streams.partitions: must be between 1 and 1024",
        ),
        (
            "dedup:\n  default_window: soon\n",
            "dedup.default_window: not a duration",
        ),
        (
            "security:\n  max_payload: big\n",
            "security.max_payload: not a size",
        ),
        (
            "sources:\n  gh:\n    provider: github\n    secrets: [x]\n    rate_limit: fast\n",
            "sources.gh.rate_limit: not a rate",
        ),
        (
            "sources:\n  gh:\n    provider: github\n",
            "sources.gh.secrets: provider github needs at least one secret",
        ),
        (
            "sources:\n  open:\n    provider: none\n    secrets: [x]\n",
            "sources.open.secrets: must be empty for provider none",
        ),
        (
            "sources:\n  h:\n    provider: hmac\n    secrets: [x]\n",
            "sources.h.header: is required for provider hmac",
        ),
        (
            "sources:\n  gh:\n    provider: github\n    secrets: [x]\n    header: X-Sig\n",
            "sources.gh.header: is only for provider hmac",
        ),
        (
            "sources:\n  sw:\n    provider: standard\n    secrets: [\"whsec_!!!\"]\n",
            "sources.sw.secrets[0]:",
        ),
        (
            "sources:\n  \"a b\":\n    provider: none\n",
            "sources.a b: must be 1-64 characters",
        ),
        (
            "redis:\n  url: http://x\n",
            "redis.url: must start with redis://",
        ),
        (
            "redis:\n  mode: sentinel\n",
            "redis.sentinel_master: is required with mode: sentinel",
        ),
        (
            "redis:\n  mode: sentinel\n  sentinel_master: m\n  url: \"redis://127.0.0.1:6379\"\n  tls: {cert_file: /c.pem}\n",
            "redis.tls: cert_file and key_file go together",
        ),
        (
            "redis:\n  tls: maybe\n",
            "redis.tls: must be true, false or {ca_file, cert_file, key_file}",
        ),
        (
            "redis:\n  wait: {replicas: 1, timeout: 5s}\n",
            "redis.wait.timeout: must be greater than 0 and less than redis.response_timeout",
        ),
        (
            "redis:\n  urls: [\"redis://a:1\", \"rediss://b:2\"]\n  mode: cluster\n",
            "redis.urls: mixes redis:// and rediss:// URLs",
        ),
        (
            "lifecycle:\n  hot: 2d\n  warm: 1d\n",
            "lifecycle.warm: must be longer than lifecycle.hot",
        ),
        (
            "lifecycle:\n  archive: ftp://x\n",
            "lifecycle.archive: must be s3://bucket/prefix or file:///path",
        ),
        (
            "lifecycle:\n  schedule:\n    compact: \"* * *\"\n",
            "lifecycle.schedule.compact: needs 6 cron fields",
        ),
        (
            "lifecycle:\n  schedule:\n    archive: \"0 99 * * * *\"\n",
            "lifecycle.schedule.archive: is not a valid cron expression",
        ),
        (
            "dedup:\n  bloom:\n    false_positive_rate: 1.5\n",
            "dedup.bloom.false_positive_rate: must be between 0 and 1",
        ),
        (
            "dedup:\n  bloom:\n    capacity: 100000000000\n",
            "dedup.bloom.capacity: needs",
        ),
        (
            "consumer:\n  groups:\n    app:\n      sink: {type: http, url: \"http://x\", secret: \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\", timeout: 10s}\n      claim_idle: 12s\n",
            "consumer.groups.app.claim_idle: must exceed the sink timeout plus 5s",
        ),
        (
            "consumer:\n  groups:\n    app:\n      sink: {type: log}\n      filter: {sources: [nope]}\n",
            "consumer.groups.app.filter.sources[0]: no source named \"nope\"",
        ),
        (
            "consumer:\n  groups:\n    app:\n      sink: {type: carrier-pigeon}\n",
            "consumer.groups.app.sink.type: unknown variant",
        ),
        ("sources: [1, 2]\n", "sources: invalid type"),
        ("redis: {url: [}\n", "config: not valid YAML"),
        (
            "sources: {gh: {provider: github, secrets: [s]}}\nrecover: {github: [{hook: repos/o/hooks/1, token: t, source: gh}]}\n",
            "recover.github[0].hook: must be repos/OWNER/REPO/hooks/ID",
        ),
        (
            "sources: {gh: {provider: github, secrets: [s]}}\nrecover: {github: [{hook: app, token: t, source: gh}]}\n",
            "recover.github[0].app_id: hook: app needs app_id and private_key",
        ),
        (
            "sources: {gh: {provider: github, secrets: [s]}}\nrecover: {github: [{hook: orgs/o/hooks/1, source: gh}]}\n",
            "recover.github[0].token: a repository or organization hook needs token",
        ),
        (
            "sources: {st: {provider: stripe, secrets: [s]}}\nrecover: {github: [{hook: orgs/o/hooks/1, token: t, source: st}]}\n",
            "recover.github[0].source: source \"st\" is not a github source",
        ),
    ];
    for (yaml, expected) in cases {
        let error = error_of(yaml);
        assert!(
            error.starts_with(expected),
            "for\n{yaml}\nexpected `{expected}...`, got `{error}`"
        );
        assert!(!error.contains('\n'), "errors are one line: {error}");
    }
}

#[test]
fn errors_never_quote_secret_values() {
    let yaml =
        "sources:\n  sw:\n    provider: standard\n    secrets: [\"whsec_top-secret-value\"]\n";
    let error = error_of(yaml);
    assert!(!error.contains("top-secret-value"), "{error}");
}

#[test]
fn the_redis_description_names_mode_tls_and_user_but_never_the_password() {
    let yaml = "redis:\n  url: \"redis://app:hunter2@cache.internal:6380/0\"\n";
    let config = parse(yaml, |_| None).unwrap();
    let line = config.redis.describe();
    assert_eq!(
        line,
        "single redis://app:***@cache.internal:6380/0, TLS off, user app"
    );
    assert!(!line.contains("hunter2"));
    let yaml = "redis:\n  password: \"${P}\"\n";
    let config = parse(yaml, env_with(&[("P", "s3cret")])).unwrap();
    assert_eq!(
        config.redis.describe(),
        "single redis://127.0.0.1:6379, TLS off, user default"
    );
}

#[test]
fn a_secret_interpolated_into_a_type_error_is_never_printed() {
    let secret = "hunter2-\"quoted\"-s3cr3t";
    let env = |name: &str| (name == "GITHUB_SECRET").then(|| secret.to_owned());
    for yaml in [
        "sources:\n  github:\n    provider: github\n    secrets: \"${GITHUB_SECRET}\"\n",
        "redis:\n  mode: \"${GITHUB_SECRET}\"\n",
        "server:\n  max_connections: \"${GITHUB_SECRET}\"\n",
        "dedup:\n  default_window: \"${GITHUB_SECRET}\"\n",
    ] {
        let error = parse(yaml, env).unwrap_err().to_string();
        for part in ["hunter2", "s3cr3t", "quoted"] {
            assert!(!error.contains(part), "{error}");
        }
        assert!(error.contains(": "), "names the key path: {error}");
    }
    let error = parse(
        "sources:\n  github:\n    provider: github\n    secrets: \"${GITHUB_SECRET}\"\n",
        env,
    )
    .unwrap_err();
    assert_eq!(error.path, "sources.github.secrets");
    assert!(
        error.reason.contains("(the value of ${GITHUB_SECRET})"),
        "{error}"
    );
}

#[test]
fn the_console_needs_a_login_a_long_token_and_its_own_listener() {
    assert_eq!(
        error_of("console: {enabled: true}\nobservability: {listen: 127.0.0.1:9090}"),
        "console.enabled: needs console.token or console.trusted_user_header: the console \
         never runs without authentication"
    );
    assert_eq!(
        error_of("console: {enabled: true, token: 0123456789abcdef}"),
        "console.enabled: needs observability.listen: the console is never served on the \
         public webhook port"
    );
    assert_eq!(
        error_of("console: {token: short-secret}"),
        "console.token: must be at least 16 characters"
    );
    assert_eq!(
        error_of("console: {trusted_user_header: X-User}"),
        "console.trusted_proxies: must list the proxies that set console.trusted_user_header"
    );
    assert_eq!(
        error_of("console: {scrape: [ingest:9090]}"),
        "console.scrape[0]: must be an http(s) URL, e.g. http://ingest:9090/metrics"
    );
    let config = parse(
        "console: {enabled: true, token: 0123456789abcdef}\nobservability: {listen: 127.0.0.1:9090}",
        no_env,
    )
    .unwrap();
    assert!(config.console.has_login());
}

#[test]
fn the_trace_sample_ratio_is_a_share_between_0_and_1() {
    for (ratio, kept) in [("0", 0.0), ("0.25", 0.25), ("1", 1.0)] {
        let yaml = format!(
            "observability:\n  otlp_endpoint: http://127.0.0.1:4318\n  trace_sample_ratio: {ratio}\n"
        );
        let config = parse(&yaml, no_env).unwrap_or_else(|e| panic!("{ratio}: {e}"));
        assert_eq!(config.observability.sample_ratio(), kept);
    }
    let config = parse(
        "observability:\n  otlp_endpoint: http://127.0.0.1:4318\n",
        no_env,
    )
    .unwrap();
    assert_eq!(
        config.observability.sample_ratio(),
        1.0,
        "all traces by default"
    );
    for ratio in ["1.5", "-0.1", ".nan"] {
        let error = error_of(&format!("observability:\n  trace_sample_ratio: {ratio}\n"));
        assert!(
            error.starts_with("observability.trace_sample_ratio: must be between 0 and 1"),
            "{ratio}: {error}"
        );
    }
    assert!(
        error_of("observability:\n  trace_sample_ratio: half\n")
            .starts_with("observability.trace_sample_ratio: "),
        "a wrong type names the key too"
    );
}

#[test]
fn the_otlp_endpoint_is_an_http_url() {
    for endpoint in ["collector:4318", "ftp://collector", "not a url"] {
        let error = error_of(&format!(
            "observability:\n  otlp_endpoint: \"{endpoint}\"\n"
        ));
        assert!(
            error.starts_with("observability.otlp_endpoint: "),
            "{endpoint}: {error}"
        );
    }
}

#[test]
fn privacy_rules_must_name_a_field() {
    assert_eq!(
        error_of("privacy: {mask: [email, \"\"]}"),
        "privacy.mask[1]: must be a JSON pointer such as /sender/login or a field name such as \
         email"
    );
    let config = parse("privacy: {mask: [/a/b]}", no_env).unwrap();
    assert!(config.privacy.provider_defaults, "on unless turned off");
}
