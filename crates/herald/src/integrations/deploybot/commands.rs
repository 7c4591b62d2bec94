//! The slash command's words, and the texts of its replies. Pure: the answers that need
//! the store are in `respond.rs`.

use super::routing::{DeployRefusal, Routing};

/// What a slash command asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    Help,
    Setup(Option<&'a str>),
    Hello,
    Goodbye,
    Reset,
    Set(Vec<&'a str>),
    Unset(Vec<&'a str>),
    Config,
    Deploy(Vec<&'a str>),
    List,
    Unknown(&'a str),
}

/// The command in `text` of slash command `name`, for a bot answering `configured`:
/// `/deploy X` is `deploy X`, an empty text is `help`. None when the command is not this
/// bot's.
pub fn parse<'a>(name: &str, configured: &str, text: &'a str) -> Option<Command<'a>> {
    let mut words: Vec<&'a str> = text.split_whitespace().collect();
    if name == "/deploy" && name != configured {
        words.insert(0, "deploy");
    } else if name != configured {
        return None;
    }
    let Some((&first, rest)) = words.split_first() else {
        return Some(Command::Help);
    };
    let rest = rest.to_vec();
    Some(match first {
        "help" => Command::Help,
        "setup" => Command::Setup(rest.first().copied()),
        "hello" | "hi" => Command::Hello,
        "goodbye" | "bye" => Command::Goodbye,
        "reset" => Command::Reset,
        "set" => Command::Set(rest),
        "unset" => Command::Unset(rest),
        "config" | "get" => Command::Config,
        "deploy" => Command::Deploy(rest),
        "list" => Command::List,
        other => Command::Unknown(other),
    })
}

/// The help text, naming the configured command.
pub fn help(command: &str, routing: &Routing) -> String {
    format!(
        "There are a few things you can ask me to do:\n\
         • `{command} setup owner/repo`: link this channel to a repository (one each way)\n\
         • `{command} config` (or `get`): what this channel is set up for\n\
         • `{command} hello`: connect your GitHub and Slack accounts, so I can @ you; `{command} bye` undoes it\n\
         • `{command} set basedomain example.com`, `set urlpattern …`, `set urlseparator …`, `set url <environment> <domain>`; `{command} unset <setting>`\n\
         • `{command} deploy <branch-or-tag> to <environment>`, or `deploy <environment>` for its default ref (environments: {})\n\
         • `{command} list`: the recent deployments of this channel's repository\n\
         • `{command} reset`: start over on this channel's configuration",
        routing.environment_names().join(", ")
    )
}

pub fn not_understood(command: &str, word: &str) -> String {
    format!("I didn't understand `{word}`, try `{command} help`.")
}

pub fn not_set_up(command: &str) -> String {
    format!("This channel is not set up for a repository yet: try `{command} setup owner/repo`.")
}

pub fn setup_usage(command: &str) -> String {
    format!("You need to tell me which repo. Try `{command} setup username/reponame`")
}

pub fn setup_two_parts(command: &str) -> String {
    format!(
        "The repo name should be two parts: the owner and the name, as in `{command} setup username/reponame`"
    )
}

pub const ALREADY_HERE: &str = "It looks as though that repo is already setup in this channel";
pub const OTHER_CHANNEL: &str =
    "That repo is already setup in a different channel. Only one channel per repo.";
pub const OTHER_REPOSITORY: &str =
    "This channel is already setup for a different repo. Only one repo per channel.";

pub fn set_up(command: &str, repository: &str) -> String {
    format!(
        "Setting up `{repository}` in this channel. Note that you won't be able to use this channel for another project, or use that repo in another channel. You should run `{command} set` to get your environment URLs configured."
    )
}

pub const HELLO: &str = "Hi! Who are you when you're not here?";
pub const HELLO_NOBODY_LEFT: &str = "Hi! Either we already know each other or you don't have access to the repo this channel is set up for.";
pub const PICK_LOGIN: &str = "Select your GitHub username so we can connect it to your Slack username. If you don't see your name you don't have access to the repository";
pub const PICK_FALLBACK: &str = "You are unable to introduce yourself for some reason. Sorry.";

pub fn collaborators_unreadable(command: &str, error: &str) -> String {
    format!(
        "I couldn't read the repository's collaborators from GitHub ({error}); try `{command} hello` in a moment."
    )
}

pub const LINKED: &str = "Thanks, now I can @ you properly. If there were any other buttons available you should encourage the other channel members to say `hello` to me as well.";
pub const LOGIN_TAKEN: &str = "Hm. I have that GitHub username registered to someone else. No action taken, but you can say `goodbye` if you like.";
pub const ALREADY_LINKED: &str = "I have you registered against another GitHub username. No action taken, you can say `goodbye` if you like.";
pub const FORGOTTEN: &str = "Who did you say you were again? (Command successful)";
pub const NOTHING_TO_FORGET: &str = "Nothing to forget; I couldn't find you in the DB.";
pub const NO_CONFIG: &str = "No config found for this channel";

pub fn reset(repository: &str) -> String {
    format!("Removed this channel's configuration for `{repository}`")
}

/// The settings `set` and `unset` know, with the values each takes.
pub const SETTINGS: &[(&str, usize)] = &[
    ("basedomain", 1),
    ("urlpattern", 1),
    ("urlseparator", 1),
    ("url", 2),
];

pub fn set_help(command: &str) -> String {
    format!(
        "Settings: `{command} set basedomain example.com`; `{command} set urlpattern https://{{environment}}{{urlseparator}}{{basedomain}}/` (placeholders `{{environment}}`, `{{urlseparator}}`, `{{basedomain}}`); `{command} set urlseparator -`; `{command} set url <environment> <domain>`. `{command} unset <setting>` (or `unset url <environment>`) removes one."
    )
}

pub fn unknown_setting(command: &str, key: &str) -> String {
    format!("I don't know the setting `{key}`. {}", set_help(command))
}

pub fn wrong_arity(command: &str, key: &str, values: usize) -> String {
    let needs = if values == 1 {
        "a single value"
    } else {
        "two values"
    };
    format!("The setting `{key}` needs {needs}. {}", set_help(command))
}

pub const PATTERN_NEEDS_ENVIRONMENT: &str =
    "A URL pattern needs the `{environment}` placeholder, so each environment gets its own URL.";

pub fn was_set(key: &str, args: &[&str]) -> String {
    format!("Great, I've set {key} to {}.", args.join(" "))
}

pub fn was_unset(what: &str) -> String {
    format!("Done, {what} is no longer set.")
}

pub fn deploy_refused(command: &str, refusal: &DeployRefusal, routing: &Routing) -> String {
    match refusal {
        DeployRefusal::Usage => format!(
            "You must specify what and where to deploy, as `{command} deploy <branch-or-tag> to <environment>` (or `{command} deploy <environment>`)"
        ),
        DeployRefusal::UnknownEnvironment(environment) => format!(
            "I don't recognise that environment name: `{environment}` (environments: {})",
            routing.environment_names().join(", ")
        ),
        DeployRefusal::NoDefaultRef(environment) => format!(
            "`{environment}` has no default ref: say which, as `{command} deploy <branch-or-tag> to {environment}`"
        ),
        DeployRefusal::RefNotAllowed { environment } => format!(
            "That environment doesn't get built from that ref according to the supported workflow: `{environment}` takes only refs matching `{}`.",
            routing
                .environments
                .get(environment)
                .and_then(|e| e.refs.as_ref())
                .map(|p| p.as_str())
                .unwrap_or("*")
        ),
    }
}

pub fn deploy_started(git_ref: &str, environment: &str) -> String {
    format!("Deployment of `{git_ref}` to `{environment}` has started!")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_as_deploybot_did() {
        let parse = |name: &str, text: &'static str| parse(name, "/cimon", text);
        assert_eq!(parse("/cimon", ""), Some(Command::Help));
        assert_eq!(parse("/cimon", "  help "), Some(Command::Help));
        assert_eq!(
            parse("/cimon", "setup acme/web"),
            Some(Command::Setup(Some("acme/web")))
        );
        assert_eq!(parse("/cimon", "setup"), Some(Command::Setup(None)));
        assert_eq!(parse("/cimon", "bye"), Some(Command::Goodbye));
        assert_eq!(parse("/cimon", "get"), Some(Command::Config));
        assert_eq!(
            parse("/cimon", "deploy main to staging"),
            Some(Command::Deploy(vec!["main", "to", "staging"]))
        );
        assert_eq!(
            parse("/deploy", "v1.2.0 to production"),
            Some(Command::Deploy(vec!["v1.2.0", "to", "production"]))
        );
        assert_eq!(parse("/cimon", "Setup"), Some(Command::Unknown("Setup")));
        assert_eq!(parse("/other", "help"), None);
    }

    #[test]
    fn a_bot_named_deploy_reads_its_own_words() {
        assert_eq!(parse("/deploy", "/deploy", "list"), Some(Command::List));
    }
}
