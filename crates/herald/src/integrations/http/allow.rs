//! Which hosts an `http` action may reach, so a template cannot send a request anywhere
//! an event says.

use url::Url;

/// `example.com`, `example.com:8443`, or `*.example.com` (any subdomain, not the apex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: String,
    port: Option<u16>,
}

impl HostPattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim().to_ascii_lowercase();
        let (host, port) = split_port(&text)?;
        let bare = host.strip_prefix("*.").unwrap_or(host);
        if bare.is_empty() || bare.contains(['/', '*', '@', '?', '#']) {
            return Err(format!("{text:?} is not a host name"));
        }
        Ok(HostPattern {
            host: host.to_string(),
            port,
        })
    }

    /// The pattern allowing exactly this URL's host and port.
    pub fn of_url(url: &Url) -> Option<Self> {
        Some(HostPattern {
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port(),
        })
    }

    pub fn allows(&self, url: &Url) -> bool {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return false;
        };
        let host_ok = match self.host.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => host == self.host,
        };
        host_ok
            && self
                .port
                .is_none_or(|port| url.port_or_known_default() == Some(port))
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`. URLs show IPv6 hosts in brackets, so the
/// brackets stay part of the host.
fn split_port(text: &str) -> Result<(&str, Option<u16>), String> {
    let colon = if text.starts_with('[') {
        text.find(']')
            .map(|end| end + 1)
            .filter(|&at| at < text.len())
    } else {
        text.find(':')
    };
    match colon {
        Some(at) if text[at..].starts_with(':') => {
            let port = text[at + 1..]
                .parse()
                .map_err(|_| format!("bad port in {text:?}"))?;
            Ok((&text[..at], Some(port)))
        }
        Some(_) => Err(format!("{text:?} is not a host name")),
        None => Ok((text, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn exact_wildcard_and_port_patterns() {
        let exact = HostPattern::parse("Hooks.Example.com").unwrap();
        assert!(exact.allows(&url("https://hooks.example.com/a")));
        assert!(!exact.allows(&url("https://evil.com/?hooks.example.com")));
        assert!(!exact.allows(&url("https://hooks.example.com.evil.com/")));
        let wildcard = HostPattern::parse("*.example.com").unwrap();
        assert!(wildcard.allows(&url("https://a.b.example.com/")));
        assert!(!wildcard.allows(&url("https://example.com/")));
        assert!(!wildcard.allows(&url("https://badexample.com/")));
        let port = HostPattern::parse("127.0.0.1:9000").unwrap();
        assert!(port.allows(&url("http://127.0.0.1:9000/x")));
        assert!(!port.allows(&url("http://127.0.0.1:9001/x")));
        let ipv6 = HostPattern::parse("[::1]:8080").unwrap();
        assert!(ipv6.allows(&url("http://[::1]:8080/")));
    }

    #[test]
    fn rejects_things_that_are_not_hosts() {
        for bad in [
            "",
            "https://x.com/path",
            "a*b.com",
            "x.com:port",
            "user@x.com",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
