//! An early answer to an oversized body (refused before it is all read) reaches the client:
//! a raw TCP client sends a 2 MB body in chunks, as curl would, and only then reads. Without
//! draining, the server closed the connection with unread bytes and the kernel's reset often
//! destroyed the answer ("connection reset by peer"), or broke the client's sending so that it
//! reported the reset instead of reading the answer. Now the body can be sent whole, the whole
//! answer arrives, and the connection either takes a second request or is closed cleanly.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails on an unwrap or expect, with its location"
)]

use castellan_testkit::TestApp;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BODY_LEN: usize = 2_000_000;
const CHUNK: usize = 64 * 1024;

/// One HTTP/1.1 answer read off the connection: status, body.
struct Answer {
    status: u16,
    body: String,
}

/// Reads one answer (with a `Content-Length`) from `s`; `Err` on reset or early end.
async fn read_answer(s: &mut TcpStream) -> std::io::Result<Answer> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .expect("a content-length");
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&body[..len]).to_string(),
    })
}

/// Sends `head` and a 2 MB body in chunks (stopping at the first write error, as a client
/// whose peer is gone does), then reads the answer. Answers it and whether the whole body
/// was written.
async fn send_big(app: &TestApp, head: &str) -> (TcpStream, std::io::Result<Answer>, bool) {
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let head = format!("{head}Content-Length: {BODY_LEN}\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'a'; CHUNK];
    let mut sent = 0;
    let mut whole = true;
    while sent < BODY_LEN {
        let n = CHUNK.min(BODY_LEN - sent);
        if s.write_all(&chunk[..n]).await.is_err() {
            whole = false;
            break;
        }
        sent += n;
    }
    let answer = tokio::time::timeout(Duration::from_secs(10), read_answer(&mut s))
        .await
        .expect("the answer comes within 10 s");
    (s, answer, whole)
}

/// After the answer, the connection takes another request or was closed cleanly (no reset).
async fn then_usable_or_closed_cleanly(mut s: TcpStream, whole: bool) {
    assert!(
        whole,
        "the body could be sent whole: the server did not reset the connection"
    );
    let req = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    if s.write_all(req.as_bytes()).await.is_err() {
        return; // closed by the server after its answer
    }
    match tokio::time::timeout(Duration::from_secs(5), read_answer(&mut s))
        .await
        .expect("an answer or a close within 5 s")
    {
        Ok(a) => assert_eq!(a.status, 200, "{}", a.body),
        Err(e) => assert_eq!(
            e.kind(),
            std::io::ErrorKind::UnexpectedEof,
            "closed cleanly, not reset: {e}"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_token_request_gets_its_whole_answer() {
    let app = TestApp::spawn().await;
    for round in 0..8 {
        let (s, answer, whole) = send_big(
            &app,
            "POST /oauth/token HTTP/1.1\r\nHost: localhost\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n",
        )
        .await;
        let a = answer.unwrap_or_else(|e| panic!("round {round}: the answer was lost: {e}"));
        assert_eq!(a.status, 400, "{}", a.body);
        assert!(a.body.contains("invalid_request"), "{}", a.body);
        assert!(a.body.contains("larger than"), "{}", a.body);
        assert!(whole, "round {round}: the body could be sent whole");
        then_usable_or_closed_cleanly(s, whole).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_request_of_the_wrong_kind_gets_its_whole_answer() {
    let app = TestApp::spawn().await;
    for round in 0..4 {
        let (s, answer, whole) = send_big(
            &app,
            "POST /oauth/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n",
        )
        .await;
        let a = answer.unwrap_or_else(|e| panic!("round {round}: the answer was lost: {e}"));
        assert_eq!(a.status, 400, "{}", a.body);
        assert!(a.body.contains("Content-Type"), "{}", a.body);
        assert!(whole, "round {round}: the body could be sent whole");
        then_usable_or_closed_cleanly(s, whole).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_management_request_gets_its_whole_413() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for round in 0..4 {
        let (s, answer, whole) = send_big(
            &app,
            &format!(
                "POST /api-clients HTTP/1.1\r\nHost: localhost\r\n\
                 Authorization: Bearer {admin}\r\nContent-Type: application/json\r\n"
            ),
        )
        .await;
        let a = answer.unwrap_or_else(|e| panic!("round {round}: the answer was lost: {e}"));
        assert_eq!(a.status, 413, "{}", a.body);
        assert!(whole, "round {round}: the body could be sent whole");
        then_usable_or_closed_cleanly(s, whole).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordinary_http_client_sees_the_answer_not_a_reset() {
    let app = TestApp::spawn().await;
    let body = vec![b'a'; BODY_LEN];
    for round in 0..8 {
        let res = app
            .http
            .post(app.url("/oauth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        assert_eq!(res.status(), 400);
        let v: serde_json::Value = res.json().await.unwrap();
        assert_eq!(v["error"], "invalid_request");
    }
}
