//! The cursor poller itself: the request for a page, and reading one.

use super::KIND;
use super::path::Path;
use crate::action::Runbook;
use crate::ingress::poller::{Page, PageAt, PageRequest, PollSettings, PolledItem, Poller};
use crate::ingress::source::ParseError;
use chrono::{DateTime, SecondsFormat, Utc};
use http::HeaderMap;
use serde_json::Value;

/// A cursor API, as configured.
pub struct CursorPoller {
    pub(super) url: url::Url,
    /// The credential headers (marked sensitive), built once.
    pub(super) headers: HeaderMap,
    /// Names of the secrets in `headers`.
    pub(super) secrets: Vec<String>,
    /// Sent with every request, in order.
    pub(super) query: Vec<(String, String)>,
    pub(super) cursor_param: String,
    /// Where the answer gives the next page's cursor; without it, pages follow the last
    /// item's id until one is empty.
    pub(super) next_cursor: Option<Path>,
    /// Where the items are; None: the answer is the list.
    pub(super) items: Option<Path>,
    pub(super) id: Path,
    pub(super) event_type: Path,
    pub(super) time: Option<Path>,
    pub(super) range_start_param: Option<String>,
    pub(super) range_end_param: Option<String>,
    pub(super) settings: PollSettings,
}

/// Times in range parameters: RFC 3339 in UTC with milliseconds, as WorkOS writes them.
fn range_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An item's time: RFC 3339 text, or a Unix time in seconds or (from 10^11 on, which as
/// seconds would be the year 5138) milliseconds.
fn item_time(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(text) => DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|at| at.with_timezone(&Utc)),
        Value::Number(number) => {
            let number = number.as_i64()?;
            if number.abs() >= 100_000_000_000 {
                DateTime::from_timestamp_millis(number)
            } else {
                DateTime::from_timestamp(number, 0)
            }
        }
        _ => None,
    }
}

impl Poller for CursorPoller {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn settings(&self) -> &PollSettings {
        &self.settings
    }

    fn describe(&self) -> String {
        let mut url = self.url.clone();
        url.set_query(None);
        url.to_string()
    }

    fn request(&self, at: PageAt<'_>) -> PageRequest {
        let mut pairs = self.query.clone();
        match at {
            PageAt::After(cursor) => pairs.push((self.cursor_param.clone(), cursor.to_string())),
            PageAt::Range { start, end } => {
                let bounds = [
                    (&self.range_start_param, start),
                    (&self.range_end_param, end),
                ];
                for (param, at) in bounds {
                    if let (Some(param), Some(at)) = (param, at) {
                        pairs.push((param.clone(), range_time(at)));
                    }
                }
            }
        }
        let mut url = self.url.clone();
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(&pairs);
        }
        PageRequest {
            url,
            headers: self.headers.clone(),
            timeout: self.settings.timeout,
        }
    }

    fn read(&self, body: &[u8]) -> Result<Page, ParseError> {
        let answer: Value = serde_json::from_slice(body)
            .map_err(|error| ParseError::new(format!("the answer is not JSON: {error}")))?;
        let list = match &self.items {
            Some(path) => path.get(&answer),
            None => Some(&answer),
        };
        let Some(Value::Array(list)) = list else {
            let place = self
                .items
                .as_ref()
                .map_or("the answer".to_string(), |p| format!("`{}`", p.as_str()));
            return Err(ParseError::new(format!("{place} is not a list of items")));
        };
        let items = list
            .iter()
            .enumerate()
            .map(|(n, item)| {
                self.item(item.clone())
                    .map_err(|error| ParseError::new(format!("item {n} of the page: {error}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let next = match &self.next_cursor {
            Some(path) => path.text(&answer),
            // Without a next cursor, pages follow the last item until one is empty.
            None => items.last().map(|item: &PolledItem| item.id.clone()),
        };
        Ok(Page { items, next })
    }

    fn item(&self, item: Value) -> Result<PolledItem, ParseError> {
        let missing = |path: &Path| ParseError::new(format!("no `{}` (text)", path.as_str()));
        let id = self.id.text(&item).ok_or_else(|| missing(&self.id))?;
        let event_type = self
            .event_type
            .text(&item)
            .ok_or_else(|| missing(&self.event_type))?;
        let time = self
            .time
            .as_ref()
            .and_then(|path| path.get(&item))
            .and_then(item_time);
        Ok(PolledItem {
            id,
            event_type,
            time,
            payload: item,
        })
    }

    fn credential_secrets(&self) -> Vec<&str> {
        self.secrets.iter().map(String::as_str).collect()
    }

    fn credential_runbook(&self) -> Runbook {
        Runbook {
            before: &[
                "Issue a new API key (or token) at the provider, with permission to read what this poller reads.",
            ],
            after: &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingress::poller::Start;
    use serde_json::json;
    use std::time::Duration;

    fn poller() -> CursorPoller {
        let path = |text| Path::parse(text).unwrap();
        CursorPoller {
            url: url::Url::parse("https://api.workos.com/events").unwrap(),
            headers: HeaderMap::new(),
            secrets: vec!["workos_key".into()],
            query: vec![
                ("events".into(), "user.created,user.updated".into()),
                ("order".into(), "asc".into()),
                ("limit".into(), "100".into()),
            ],
            cursor_param: "after".into(),
            next_cursor: Some(path("list_metadata.after")),
            items: Some(path("data")),
            id: path("id"),
            event_type: path("event"),
            time: Some(path("created_at")),
            range_start_param: Some("range_start".into()),
            range_end_param: Some("range_end".into()),
            settings: PollSettings {
                interval: Duration::from_secs(60),
                cron: None,
                timeout: Duration::from_secs(30),
                start: Start::Now,
                max_page: 1 << 20,
            },
        }
    }

    fn query(request: &PageRequest) -> Vec<(String, String)> {
        request.url.query_pairs().into_owned().collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_cursor_page_sends_after_and_no_range() {
        let request = poller().request(PageAt::After("event_B"));
        assert_eq!(
            query(&request),
            pairs(&[
                ("events", "user.created,user.updated"),
                ("order", "asc"),
                ("limit", "100"),
                ("after", "event_B"),
            ])
        );
        assert!(
            request
                .url
                .as_str()
                .contains("events=user.created%2Cuser.updated")
        );
    }

    #[test]
    fn a_range_page_sends_its_bounds_in_milliseconds() {
        let start = DateTime::parse_from_rfc3339("2024-09-06T18:03:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let end = start + chrono::Duration::minutes(1);
        let request = poller().request(PageAt::Range {
            start: Some(start),
            end: Some(end),
        });
        let query = query(&request);
        assert_eq!(
            &query[3..],
            &pairs(&[
                ("range_start", "2024-09-06T18:03:00.000Z"),
                ("range_end", "2024-09-06T18:04:00.000Z"),
            ])
        );
        let open = poller().request(PageAt::Range {
            start: None,
            end: None,
        });
        assert_eq!(open.url.query_pairs().count(), 3);
    }

    #[test]
    fn pages_are_read_with_their_cursor() {
        let body = json!({
            "object": "list",
            "data": [
                {"object": "event", "id": "event_1", "event": "user.created", "created_at": "2024-09-06T18:03:05.123Z", "data": {}},
                {"object": "event", "id": "event_2", "event": "user.updated", "created_at": 1725645785123_i64, "data": {}}
            ],
            "list_metadata": {"after": "event_2"}
        });
        let page = poller().read(body.to_string().as_bytes()).unwrap();
        assert_eq!(page.next.as_deref(), Some("event_2"));
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.items[0].id, "event_1");
        assert_eq!(page.items[1].event_type, "user.updated");
        assert_eq!(page.items[0].time, page.items[1].time);
        assert_eq!(page.items[0].payload["object"], "event");
        let end = json!({"data": [], "list_metadata": {"after": null}});
        assert_eq!(
            poller().read(end.to_string().as_bytes()).unwrap().next,
            None
        );
        let sdk = json!({"data": [], "list_metadata": {}});
        assert_eq!(
            poller().read(sdk.to_string().as_bytes()).unwrap().next,
            None
        );
    }

    #[test]
    fn unreadable_pages_say_why() {
        let cases = [
            ("not json", "not JSON"),
            (r#"{"list": []}"#, "`data` is not a list"),
            (
                r#"{"data": [{"event": "user.created"}]}"#,
                "item 0 of the page: no `id`",
            ),
            (r#"{"data": [{"id": "e"}]}"#, "no `event`"),
        ];
        for (body, expected) in cases {
            let error = poller().read(body.as_bytes()).unwrap_err();
            assert!(error.0.contains(expected), "{body}: {error}");
        }
    }
}
