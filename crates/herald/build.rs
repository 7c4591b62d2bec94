//! What `herald --version` says besides the version: the commit (`git rev-parse --short
//! HEAD`, "unknown" outside a git checkout or without git) and the build date (UTC), from
//! `SOURCE_DATE_EPOCH` when it is set so that a reproducible build says the same each time.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // Run again when HEAD moves: a checkout changes HEAD, a commit the ref it names.
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        // Relative to this directory, where build scripts run; only files that exist, or
        // cargo would run this again on every build.
        if let Some(path) = git(&["rev-parse", "--git-path", &name])
            && let Ok(path) = Path::new(&path).canonicalize()
        {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|epoch| epoch.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_secs() as i64)
        });
    println!("cargo:rustc-env=HERALD_COMMIT={commit}");
    println!("cargo:rustc-env=HERALD_BUILD_DATE={}", date(seconds));
}

/// What git prints, trimmed; `None` if git is missing or fails (not a checkout).
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (output.status.success() && !text.is_empty()).then(|| text.to_string())
}

/// `YYYY-MM-DD` of a Unix time, in UTC (Howard Hinnant's `civil_from_days`).
fn date(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
