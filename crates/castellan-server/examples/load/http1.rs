//! A minimal HTTP/1.1 keep-alive client for the load generators (people_load, soak_load):
//! one connection per loop on a single-threaded runtime, reading `Content-Length` and chunked
//! answers, plus the form, URL and JSON helpers the loops need. Written by hand so that the
//! generator costs as little as possible beside the server it measures.

use std::fmt::Write as _;
use std::io::ErrorKind;
use tokio::net::TcpStream;

/// Any failure of a load run.
pub type Error = Box<dyn std::error::Error>;

/// One answer: status, the headers it needs, and the body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub cookies: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive HTTP/1.1 connection; reconnects when the server closed it.
pub struct Conn {
    addr: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Conn {
    pub fn new(addr: &str) -> Self {
        Conn {
            addr: addr.to_owned(),
            stream: None,
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    async fn stream(&mut self) -> Result<&TcpStream, Error> {
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
            self.buf.clear();
        }
        Ok(self.stream.as_ref().ok_or("no stream")?)
    }

    async fn write_all(&mut self, mut data: &[u8]) -> Result<(), Error> {
        let s = self.stream().await?;
        while !data.is_empty() {
            s.writable().await?;
            match s.try_write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Reads more bytes into the buffer; false at end of stream.
    async fn fill(&mut self) -> Result<bool, Error> {
        let s = self.stream.as_ref().ok_or("no stream")?;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            s.readable().await?;
            match s.try_read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Sends one request and reads its answer (Content-Length or chunked bodies).
    pub async fn send(&mut self, request: &[u8]) -> Result<Answer, Error> {
        match self.send_once(request).await {
            Ok(a) => Ok(a),
            Err(e) => {
                // A broken connection is not reused; the next request opens a new one.
                self.stream = None;
                Err(e)
            }
        }
    }

    async fn send_once(&mut self, request: &[u8]) -> Result<Answer, Error> {
        self.write_all(request).await?;
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if !self.fill().await? {
                return Err("connection closed before the answer".into());
            }
        };
        let head = std::str::from_utf8(&self.buf[..head_end])?.to_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().ok_or("empty answer")?;
        let status: u16 = status_line.get(9..12).ok_or("bad status line")?.parse()?;
        let mut length = None;
        let mut chunked = false;
        let mut close = false;
        let mut location = None;
        let mut cookies = Vec::new();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = Some(value.parse::<usize>()?),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                "location" => location = Some(value.to_owned()),
                "set-cookie" => {
                    let pair = value.split(';').next().unwrap_or("");
                    if let Some((k, v)) = pair.split_once('=') {
                        cookies.push((k.trim().to_owned(), v.trim().to_owned()));
                    }
                }
                _ => {}
            }
        }
        self.buf.drain(..head_end + 4);
        let body = if chunked {
            self.chunked_body().await?
        } else {
            let n = length.unwrap_or(0);
            while self.buf.len() < n {
                if !self.fill().await? {
                    return Err("connection closed inside the body".into());
                }
            }
            self.buf.drain(..n).collect()
        };
        if close {
            self.stream = None;
        }
        Ok(Answer {
            status,
            location,
            cookies,
            body,
        })
    }

    async fn chunked_body(&mut self) -> Result<Vec<u8>, Error> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                if !self.fill().await? {
                    return Err("connection closed inside a chunk".into());
                }
            };
            let size_text = std::str::from_utf8(&self.buf[..line_end])?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
            self.buf.drain(..line_end + 2);
            while self.buf.len() < size + 2 {
                if !self.fill().await? {
                    return Err("connection closed inside a chunk".into());
                }
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
            if size == 0 {
                return Ok(body);
            }
        }
    }
}

pub fn get(path: &str, cookie: &str) -> Vec<u8> {
    let mut r = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    if !cookie.is_empty() {
        let _ = write!(r, "Cookie: {cookie}\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

pub fn post(path: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra_headers}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The value of `name` in a query string or `Location` URL.
pub fn query_value(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The value of a hidden form field (`name="x" value="…"`).
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

/// A JSON string member, found without parsing the document (keeps the generator cheap).
pub fn json_string(body: &[u8], name: &str) -> Option<String> {
    let marker = format!("\"{name}\":\"");
    let start = find(body, marker.as_bytes())? + marker.len();
    let end = body[start..].iter().position(|b| *b == b'"')?;
    Some(String::from_utf8_lossy(&body[start..start + end]).into_owned())
}

pub fn describe(a: &Answer) -> String {
    let text = a.text();
    format!(
        "{} {}",
        a.status,
        text.chars().take(300).collect::<String>()
    )
}

#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a percentile's index: between 0 and the number of samples"
)]
pub fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}
