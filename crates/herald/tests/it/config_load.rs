//! Loading configuration files with every integration herald is built with.

use herald::config::{Loaded, StorageConfig, from_text};
use herald::integrations::slack::settings::SlackConfig;
use herald::kit::diagnostic;
use herald::kit::interpolate::EnvLookup;
use std::path::Path;
use std::sync::Arc;

fn env() -> EnvLookup {
    Arc::new(|name| match name {
        "GITHUB_WEBHOOK_SECRET" => Some("It's a Secret to Everybody".into()),
        "HERALD_SINK_URL" => Some("http://127.0.0.1:9999/sink".into()),
        "SINK_TOKEN" => Some("tok-123".into()),
        _ => None,
    })
}

fn load(text: &str) -> Result<Loaded, diagnostic::Report> {
    from_text(
        Path::new("/etc/herald/herald.toml"),
        text,
        env(),
        &herald::integrations::catalog(),
    )
}

const VALID: &str = r#"
[server]
listen = "127.0.0.1:9000"
admin_secret = "admin"

[secrets]
github = "${env:GITHUB_WEBHOOK_SECRET}"
sink_token = "${env:SINK_TOKEN}"
admin = "${env:SINK_TOKEN}"

[sources.github]
kind = "github"
secrets = ["github"]

[sources.pact]
kind = "token"
secrets = ["sink_token"]
event_type = "event.eventType"

[rules.forward]
sources = ["github"]
events = ["pull_request.*", "push"]
filter = "event.repository.private == false"
actions = ["sink", "audit"]

[rules.pact]
sources = ["pact"]
actions = ["audit"]

[actions.sink]
kind = "http"
url = "${env:HERALD_SINK_URL}"
headers = { Authorization = "Bearer {{ secret('sink_token') }}" }
retry = { schedule = ["1s", "5s"] }
timeout = "10s"

[actions.audit]
kind = "log"
message = "{{ meta.type }}"
"#;

#[test]
fn a_valid_file_loads_with_defaults() {
    let loaded = load(VALID).unwrap_or_else(|report| panic!("{report}"));
    let config = &loaded.config;
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:9000");
    assert_eq!(config.server.admin_token.as_ref().unwrap().name(), "admin");
    assert!(
        matches!(&config.storage, StorageConfig::Sqlite { path, fsync_every_commit: true }
        if path == Path::new("/etc/herald/herald.db"))
    );
    assert_eq!(config.sources["github"].max_body, 25 << 20);
    assert_eq!(config.sources["pact"].kind, "token");
    assert!(config.sources["pact"].event_type.is_some());
    assert_eq!(config.rules.len(), 2);
    assert_eq!(config.actions["sink"].retry.max_attempts(), 3);
    assert_eq!(
        config.actions["sink"].timeout,
        std::time::Duration::from_secs(10)
    );
    assert_eq!(config.actions["audit"].kind, "log");
    // 32 deliveries at once kept pace with peak ingest where 16 fell behind.
    assert_eq!(config.delivery.concurrency, 32);
    assert_eq!(loaded.warnings.diagnostics, vec![]);
}

#[test]
fn every_problem_is_reported_with_line_and_column() {
    let text = r#"[server]
listen = "nowhere"

[secrets]
gh = "${env:MISSING_SECRET}"

[sources.github]
kind = "github"
secrets = ["gh", "nope"]
colour = "blue"

[sources.other]
kind = "carrier-pigeon"
secrets = ["gh"]

[rules.r1]
sources = ["github", "gitlab"]
events = ["pull_request.[*"]
filter = "event.action =="
actions = ["sink", "missing"]

[actions.sink]
kind = "http"
url = "http://example.com/{{ event.path }}"
body = "{{ event.title"
timeout = "ten seconds"

[actions.audit]
kind = "log"
message = "{{ evnt.x }}"
retry = { schedule = ["1s"], max_attempts = 3 }
"#;
    let report = load(text).err().expect("must fail");
    let short = report.short();
    let expected = [
        "herald.toml:2:10: error: `listen` must be an address",
        "herald.toml:5:6: error: environment variable MISSING_SECRET is not set",
        "herald.toml:9:18: error: undefined secret `nope`",
        "herald.toml:10:1: error: unknown key `colour`",
        "herald.toml:13:8: error: unknown source kind `carrier-pigeon`",
        "herald.toml:17:22: error: undefined source `gitlab`",
        "herald.toml:18:11: error: bad event pattern",
        "herald.toml:19:10: error: bad expression for `filter`",
        "herald.toml:20:20: error: undefined action `missing`",
        "herald.toml:24:7: error: the URL is a template: list the hosts",
        "herald.toml:25:8: error: bad template for `body`",
        "herald.toml:26:11: error: bad duration \"ten seconds\"",
        "herald.toml:30:11: error: bad template for `message`: unknown variable evnt",
        "herald.toml:31:9: error: give either `schedule` or",
    ];
    for line in expected {
        assert!(short.contains(line), "missing {line:?} in:\n{short}");
    }
    assert!(
        report.render(false).contains("here"),
        "snippets label the place"
    );
}

#[test]
fn syntax_errors_and_unknown_sections_are_located() {
    let report = load("[server\nlisten = 1\n").err().unwrap();
    assert!(
        report.short().starts_with("/etc/herald/herald.toml:1:"),
        "{}",
        report.short()
    );
    let report = load("[servers]\nlisten = \"x\"\n").err().unwrap();
    assert!(
        report
            .short()
            .contains("1:2: error: unknown section `servers`"),
        "{}",
        report.short()
    );
}

#[test]
fn secrets_never_appear_in_messages() {
    let text = VALID.replace(
        "listen = \"127.0.0.1:9000\"",
        "listen = \"${env:SINK_TOKEN}\"",
    );
    let report = load(&text).err().expect("a token is not an address");
    assert!(!report.render(false).contains("tok-123"));
    assert!(!report.short().contains("tok-123"));
}

#[test]
fn warns_about_inline_and_unused_things() {
    let text = VALID
        .replace(
            "admin = \"${env:SINK_TOKEN}\"",
            "admin = \"hunter2\"\nspare = \"${env:SINK_TOKEN}\"",
        )
        .replace("actions = [\"audit\"]\n", "actions = [\"sink\"]\n");
    let loaded = load(&text).unwrap_or_else(|report| panic!("{report}"));
    let warnings = loaded.warnings.short();
    assert!(
        warnings.contains("warning: secret `admin` is written in the file"),
        "{warnings}"
    );
    assert!(
        warnings.contains("warning: secret `spare` is not used"),
        "{warnings}"
    );
    assert!(!warnings.contains("hunter2"));
}

#[test]
fn a_lease_shorter_than_a_timeout_is_an_error() {
    let text = format!("{VALID}\n[delivery]\nlease = \"12s\"\n");
    let report = load(&text).err().expect("lease too short");
    assert!(
        report
            .short()
            .contains("must exceed action `sink`'s timeout"),
        "{}",
        report.short()
    );
}

#[test]
fn postgres_storage_keeps_its_url_secret() {
    let text = format!(
        "{VALID}\n[storage]\nbackend = \"postgres\"\nurl = \"postgres://u:${{env:SINK_TOKEN}}@db/herald\"\n"
    );
    let loaded = load(&text).unwrap_or_else(|report| panic!("{report}"));
    let StorageConfig::Postgres { url, .. } = &loaded.config.storage else {
        panic!("postgres")
    };
    assert_eq!(url.expose(), "postgres://u:tok-123@db/herald");
    assert!(!format!("{:?}", loaded.config.storage).contains("tok-123"));
}

const SLACK_BASE: &str = r#"
[secrets]
github = "${env:GITHUB_WEBHOOK_SECRET}"
bot = "${env:SINK_TOKEN}"

[sources.github]
kind = "github"
secrets = ["github"]

[rules.r]
sources = ["github"]
actions = ["a"]
"#;

fn load_action(action: &str) -> Result<Loaded, diagnostic::Report> {
    load(&format!("{SLACK_BASE}\n[actions.a]\n{action}"))
}

#[test]
fn slack_actions_that_cannot_work_are_load_errors() {
    let cases = [
        (
            "kind = \"slack\"\ntoken = \"bot\"\ntext = \"hi\"",
            "a Slack action needs `channel` and `text` or `blocks`",
        ),
        (
            "kind = \"slack\"\ntoken = \"bot\"\nchannel = \"#c\"\ntext = \"hi\"\nupdate = true",
            "need a `key`",
        ),
        (
            "kind = \"slack\"\ntoken = \"bot\"\nkey = \"k\"\nif_missing = \"skip\"",
            "would never do anything",
        ),
        (
            "kind = \"slack\"\ntoken = \"nobody\"\nchannel = \"#c\"\ntext = \"hi\"",
            "undefined secret `nobody`",
        ),
        (
            "kind = \"slack\"\ntoken = \"bot\"\nchannel = \"#c\"\ntext = \"{{ event.x\"",
            "text",
        ),
        (
            "kind = \"slack\"\ntoken = \"bot\"\nchannel = \"#c\"\ntext = \"hi\"\ncolour = \"red\"",
            "colour",
        ),
    ];
    for (action, expected) in cases {
        let report = load_action(action).err().expect(action).to_string();
        assert!(report.contains(expected), "{action}\n{report}");
        assert!(report.contains("herald.toml:"), "located: {report}");
    }
}

#[test]
fn a_keyed_slack_reply_from_another_rule_loads() {
    let loaded = load_action(
        "kind = \"slack\"\ntoken = \"bot\"\nkey = \"pr:{{ event.number }}\"\nreply_text = \"{{ event.action }}\"\nif_missing = \"skip\"",
    )
    .unwrap();
    assert_eq!(loaded.config.actions["a"].kind, "slack");
    assert_eq!(
        SlackConfig::of(&loaded.config.sections),
        SlackConfig::default()
    );
}

#[test]
fn slack_pacing_is_configurable_and_checked() {
    let text = format!(
        "{SLACK_BASE}\n[slack]\npace = \"250ms\"\nburst = 5\n\n[actions.a]\nkind = \"log\""
    );
    let loaded = load(&text).unwrap();
    let slack = SlackConfig::of(&loaded.config.sections);
    assert_eq!(slack.pace, std::time::Duration::from_millis(250));
    assert_eq!(slack.burst, 5);
    let bad = format!("{SLACK_BASE}\n[slack]\nburst = 0\n\n[actions.a]\nkind = \"log\"");
    let report = load(&bad).err().unwrap().to_string();
    assert!(report.contains("`burst` must be at least 1"), "{report}");
}

#[test]
fn github_actions_check_their_options() {
    let dispatch = "kind = \"github-dispatch\"\ntoken = \"bot\"\nrepository = \"acme/app\"\nevent_type = \"go\"\nclient_payload = '{\"sha\": {{ event.after }}}'";
    assert_eq!(
        load_action(dispatch).unwrap().config.actions["a"].kind,
        "github-dispatch"
    );
    let cases = [
        (
            "kind = \"github-dispatch\"\ntoken = \"bot\"\nrepository = \"acme/app\"",
            "event_type",
        ),
        (
            "kind = \"github-status\"\ntoken = \"bot\"\nrepository = \"acme/app\"\nstate = \"success\"",
            "sha",
        ),
        (
            "kind = \"github-deployment-status\"\ntoken = \"bot\"\nrepository = \"acme/app\"\nstate = \"success\"",
            "key",
        ),
        (
            "kind = \"github-deployment\"\ntoken = \"bot\"\nrepository = \"acme/app\"\nref = \"main\"\nauto_merge = \"no\"",
            "herald.toml:19:14: error: invalid type: string \"no\", expected a boolean",
        ),
    ];
    for (action, expected) in cases {
        let report = load_action(action).err().expect(action).to_string();
        assert!(report.contains(expected), "{action}\n{report}");
    }
}

#[test]
fn monitors_are_checked_at_load() {
    let base = format!("{SLACK_BASE}\n[actions.a]\nkind = \"log\"\n");
    let good = format!(
        "{base}\n[monitoring]\ninterval = \"30s\"\n\n[monitors.token]\nkind = \"credential\"\nactions = [\"a\"]\n\n[monitors.quiet]\nkind = \"staleness\"\nsource = \"github\"\nevents = [\"push\"]\ngroup = \"{{{{ event.repository.name }}}}\"\nevery = \"2h\"\n"
    );
    let loaded = load(&good).unwrap();
    assert_eq!(loaded.config.monitors.len(), 2);
    assert_eq!(
        loaded.config.monitoring_interval,
        std::time::Duration::from_secs(30)
    );
    let cases = [
        ("kind = \"psychic\"", "unknown monitor kind `psychic`"),
        (
            "kind = \"credential\"\nactions = [\"nope\"]",
            "undefined action `nope`",
        ),
        (
            "kind = \"failure-streak\"\nthreshold = 0",
            "must be at least 1",
        ),
        (
            "kind = \"staleness\"\nsource = \"nowhere\"\nevery = \"1h\"",
            "undefined source `nowhere`",
        ),
        (
            "kind = \"staleness\"\nsource = \"github\"\nevery = \"often\"",
            "often",
        ),
        (
            "kind = \"signature-failures\"\nwindow = \"5m\"\ncolour = 1",
            "colour",
        ),
        (
            "kind = \"credential\"\nthreshold = 3",
            "`threshold` is for `failure-streak`",
        ),
    ];
    for (monitor, expected) in cases {
        let text = format!("{base}\n[monitors.m]\n{monitor}\n");
        let report = load(&text).err().expect(monitor).to_string();
        assert!(report.contains(expected), "{monitor}\n{report}");
    }
    let herald_source =
        format!("{base}\n[sources.herald]\nkind = \"github\"\nsecrets = [\"github\"]\n");
    let report = load(&herald_source).err().unwrap().to_string();
    assert!(
        report.contains("`herald` is the source of herald's own alerts"),
        "{report}"
    );
}

#[test]
fn schedules_are_checked_at_load() {
    let base = format!("{SLACK_BASE}\n[actions.a]\nkind = \"log\"\n");
    let good = format!(
        "{base}\n[schedules.nightly]\ncron = \"0 3 * * *\"\ntimezone = \"Europe/Athens\"\n"
    );
    let loaded = load(&good).unwrap();
    assert_eq!(loaded.config.schedules.len(), 1);
    assert_eq!(loaded.config.schedules[0].event_type(), "schedule.nightly");
    for (schedule, expected) in [
        ("cron = \"every day\"", "bad cron pattern"),
        (
            "cron = \"0 3 * * *\"\ntimezone = \"Mars/Olympus\"",
            "unknown time zone",
        ),
        ("cron = \"0 3 * * *\"\nwhen = 1", "when"),
    ] {
        let text = format!("{base}\n[schedules.s]\n{schedule}\n");
        let report = load(&text).err().expect(schedule).to_string();
        assert!(report.contains(expected), "{schedule}\n{report}");
    }
}

#[test]
fn unknown_filters_are_errors_at_their_place_with_the_nearest_name() {
    let text = VALID
        .replace(
            "filter = \"event.repository.private == false\"",
            "filter = \"event.repository.name | lowr == 'app'\"",
        )
        .replace(
            "message = \"{{ meta.type }}\"",
            "message = \"{{ meta.type }}: {{ event.after | short_sah }}\"",
        );
    let report = load(&text).err().expect("unknown filters");
    let short = report.short();
    // Line and column of the name itself, in the rule's filter and in the action's template.
    assert!(
        short.contains(
            "herald.toml:23:35: error: bad expression for `filter`: unknown filter `lowr`"
        ),
        "{short}"
    );
    assert!(
        short.contains(
            "herald.toml:39:46: error: bad template for `message`: unknown filter `short_sah`"
        ),
        "{short}"
    );
    let helps: Vec<_> = report
        .errors()
        .filter(|d| d.message.contains("unknown filter"))
        .map(|d| d.help.as_deref())
        .collect();
    assert_eq!(
        helps,
        [
            Some("did you mean `lower`?"),
            Some("did you mean `short_sha`?")
        ],
        "{short}"
    );
    // The rule and the action that failed are not reported again where they are named.
    assert_eq!(report.diagnostics.len(), 2, "{short}");
}

#[test]
fn the_pact_slack_preset_without_its_variables_says_only_that() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/presets/pact-slack.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let report = from_text(
        &path,
        &text,
        Arc::new(|_| None),
        &herald::integrations::catalog(),
    )
    .err()
    .expect("the variables are unset");
    let messages: Vec<&str> = report
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "environment variable PACT_WEBHOOK_TOKEN is not set",
            "environment variable SLACK_BOT_TOKEN is not set",
            "environment variable HERALD_ADMIN_TOKEN is not set",
        ],
        "one error per variable, nothing that follows from them:\n{}",
        report.short()
    );
}

#[test]
fn what_refers_to_a_broken_entry_stays_silent() {
    let text = VALID
        .replace("kind = \"github\"", "kind = \"githb\"")
        .replace("kind = \"log\"", "kind = \"lg\"");
    let report = load(&text).err().expect("unknown kinds");
    let short = report.short();
    assert!(
        short.contains("unknown source kind `githb`") && short.contains("unknown action kind `lg`"),
        "{short}"
    );
    // Not "undefined source `github`", "undefined action `audit`", nor an unused secret,
    // source or action.
    assert_eq!(report.diagnostics.len(), 2, "{short}");

    // A name that is not there at all is still an error.
    let text = VALID.replace("actions = [\"audit\"]\n", "actions = [\"audti\"]\n");
    let short = load(&text).err().expect("undefined").short();
    assert!(short.contains("undefined action `audti`"), "{short}");
}

#[test]
fn an_unknown_key_points_at_itself_and_names_the_nearest_valid_one() {
    let text = VALID.replace("timeout = \"10s\"", "tiemout = \"10s\"");
    let report = load(&text).err().expect("unknown key");
    let short = report.short();
    assert!(
        short.contains("herald.toml:35:1: error: unknown key `tiemout`"),
        "{short}"
    );
    let error = report.errors().next().unwrap();
    // `timeout` is not the http kind's own option but one every action takes.
    assert_eq!(error.help.as_deref(), Some("did you mean `timeout`?"));
    assert!(!report.render(false).contains("there are no fields"));

    // A kind's own option, and a section's.
    let text = VALID.replace("message = ", "mesage = ");
    let report = load(&text).err().expect("unknown key");
    let error = report.errors().next().unwrap();
    assert_eq!(error.message, "unknown key `mesage`");
    assert_eq!(error.help.as_deref(), Some("did you mean `message`?"));
    let report = load(&VALID.replace("[server]", "[sever]")).err().unwrap();
    let error = report.errors().next().unwrap();
    assert_eq!(error.help.as_deref(), Some("did you mean `server`?"));
}

#[test]
fn a_missing_key_names_the_key_that_looks_meant_for_it_once() {
    let text = VALID.replace("secrets = [\"github\"]", "secret = [\"github\"]");
    let report = load(&text).err().expect("no secrets");
    let short = report.short();
    // At the source's table, once: not also "unknown key `secret`", nor what refers to the
    // source.
    assert_eq!(
        short,
        "/etc/herald/herald.toml:11:1: error: missing `secrets`; `secret` looks like it was meant\n"
    );
    assert_eq!(
        report.diagnostics[0].help.as_deref(),
        Some("rename `secret` to `secrets`: the names of the secrets requests are verified with")
    );

    let text = VALID.replace("kind = \"log\"", "knd = \"log\"");
    let short = load(&text).err().expect("no kind").short();
    assert!(
        short.contains("error: action has no `kind`; `knd` looks like it was meant"),
        "{short}"
    );
}
