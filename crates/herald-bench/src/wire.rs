//! The load generator's HTTP/1.1: one keep-alive TCP connection, requests written from
//! bytes prepared before the run, answers read with `httparse`. A general client (reqwest)
//! spent about twice the CPU per request, and on 2 vCPUs the generator shares the cores
//! with the server it measures: wrk drove the baseline to nearly twice the rate.

use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Headers an answer may carry before we give up on it.
const MAX_HEADERS: usize = 32;

/// Where requests go: `host:port` to connect to and the request target.
#[derive(Debug, Clone)]
pub struct Target {
    pub authority: String,
    pub path: String,
}

impl Target {
    /// `http://host:port/path` only: the benchmark's servers are local and plain.
    pub fn parse(url: &str) -> anyhow::Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow::anyhow!("not an http:// URL: {url}"))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        Ok(Target {
            authority: authority.to_string(),
            path: format!("/{path}"),
        })
    }
}

/// One keep-alive connection, opened on first use and again after an error.
pub struct Connection {
    target: Target,
    stream: Option<TcpStream>,
    /// What was read past the previous answer's end (nothing, as we never pipeline).
    read: Vec<u8>,
    request: Vec<u8>,
}

impl Connection {
    pub fn new(target: Target) -> Connection {
        Connection {
            target,
            stream: None,
            read: Vec::with_capacity(4096),
            request: Vec::with_capacity(8192),
        }
    }

    /// POST `body` with `headers` (each `name: value`, no line end); the answer's status.
    /// An error drops the connection, so the next call opens a new one.
    pub async fn post<'h>(
        &mut self,
        headers: impl IntoIterator<Item = &'h str>,
        body: &[u8],
    ) -> io::Result<u16> {
        self.request.clear();
        write_head(&mut self.request, &self.target, headers, body.len());
        self.request.extend_from_slice(body);
        let answer = self.exchange().await;
        if answer.is_err() {
            self.stream = None;
        }
        answer
    }

    async fn exchange(&mut self) -> io::Result<u16> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.target.authority).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
            self.read.clear();
        }
        let stream = self.stream.as_mut().expect("connected above");
        stream.write_all(&self.request).await?;
        let (status, keep_alive) = read_answer(stream, &mut self.read).await?;
        if !keep_alive {
            self.stream = None;
        }
        Ok(status)
    }
}

fn write_head<'h>(
    out: &mut Vec<u8>,
    target: &Target,
    headers: impl IntoIterator<Item = &'h str>,
    length: usize,
) {
    use std::io::Write;
    let _ = write!(
        out,
        "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-length: {length}\r\n",
        target.path, target.authority
    );
    for header in headers {
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Read one answer whole (its body sized by `content-length`); its status, and whether the
/// connection stays open.
async fn read_answer(stream: &mut TcpStream, read: &mut Vec<u8>) -> io::Result<(u16, bool)> {
    loop {
        if let Some(head) = parse_head(read)? {
            while read.len() < head.length + head.body {
                fill(stream, read).await?;
            }
            read.drain(..head.length + head.body);
            return Ok((head.status, head.keep_alive));
        }
        fill(stream, read).await?;
    }
}

async fn fill(stream: &mut TcpStream, read: &mut Vec<u8>) -> io::Result<()> {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).await?;
    if n == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    read.extend_from_slice(&chunk[..n]);
    Ok(())
}

/// An answer's head, once all of it has arrived.
#[derive(Debug, PartialEq)]
struct Head {
    status: u16,
    /// Bytes of the head itself.
    length: usize,
    /// Bytes of the body that follows.
    body: usize,
    keep_alive: bool,
}

fn parse_head(bytes: &[u8]) -> io::Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(bytes).map_err(invalid)? {
        httparse::Status::Complete(length) => length,
        httparse::Status::Partial => return Ok(None),
    };
    let mut body = None;
    let mut keep_alive = true;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(header.value).map_err(invalid)?;
            body = Some(text.trim().parse::<usize>().map_err(invalid)?);
        } else if header.name.eq_ignore_ascii_case("connection") {
            keep_alive = !header.value.eq_ignore_ascii_case(b"close");
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(invalid(
                "chunked answers are not read by the load generator",
            ));
        }
    }
    Ok(Some(Head {
        status: response.code.unwrap_or(0),
        length,
        body: body.unwrap_or(0),
        keep_alive,
    }))
}

fn invalid(error: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_the_authority_and_the_path() {
        let target = Target::parse("http://127.0.0.1:8080/hooks/github").unwrap();
        assert_eq!(target.authority, "127.0.0.1:8080");
        assert_eq!(target.path, "/hooks/github");
        assert!(Target::parse("https://example.com/").is_err());
    }

    #[test]
    fn a_head_is_read_once_complete_with_its_body_length() {
        let answer = b"HTTP/1.1 202 Accepted\r\ncontent-length: 12\r\n\r\n{\"id\":\"abc\"}";
        assert_eq!(parse_head(&answer[..20]).unwrap(), None);
        let head = parse_head(answer).unwrap().unwrap();
        assert_eq!(
            head,
            Head {
                status: 202,
                length: answer.len() - 12,
                body: 12,
                keep_alive: true
            }
        );
        let closing = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n";
        let head = parse_head(closing).unwrap().unwrap();
        assert_eq!((head.status, head.body, head.keep_alive), (503, 0, false));
    }

    #[test]
    fn the_request_head_names_the_target_and_the_body_length() {
        let target = Target::parse("http://127.0.0.1:9/hooks/github").unwrap();
        let mut out = Vec::new();
        write_head(&mut out, &target, ["x-github-event: push"], 5);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /hooks/github HTTP/1.1\r\nhost: 127.0.0.1:9\r\ncontent-length: 5\r\n\
             x-github-event: push\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn posts_reuse_one_connection_against_a_real_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/github", listener.local_addr().unwrap());
        let router = axum::Router::new().route(
            "/hooks/{source}",
            axum::routing::post(|body: axum::body::Bytes| async move { body.len().to_string() }),
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        let mut connection = Connection::new(Target::parse(&url).unwrap());
        for _ in 0..3 {
            let status = connection.post(["x-a: b"], &[b'x'; 5000]).await.unwrap();
            assert_eq!(status, 200);
        }
        assert!(connection.stream.is_some(), "kept alive");
        assert!(connection.read.is_empty(), "each answer read whole");
    }
}
