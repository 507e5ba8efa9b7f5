//! Reading a request body under `http.max_body_bytes`, and refusing one without resetting the
//! connection.
//!
//! An answer sent before the body is read (too large, or of the wrong kind) must still reach
//! the client. If the server closes a connection while unread request bytes sit in its receive
//! buffer, the kernel sends a TCP reset, and a client that is still sending often loses the
//! answer it was about to read. So before such an answer the rest of the body is read and
//! dropped, up to [`DRAIN_MAX_BYTES`] within [`DRAIN_MAX_TIME`]: an ordinary oversized body is
//! then fully read and the connection stays usable; a larger or slower one is cut off there
//! (a bound an attacker cannot stretch).

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use std::time::Duration;

/// Most bytes read and dropped before refusing a body.
pub const DRAIN_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Longest time spent reading a refused body.
pub const DRAIN_MAX_TIME: Duration = Duration::from_secs(2);

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than the limit (what was sent has been drained, within the bounds).
    TooLarge,
    /// The connection failed or the body was cut short.
    Broken,
}

/// The whole body if it is at most `limit` bytes; a longer one is drained before the error.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut stream = body.into_data_stream();
    // One chunk (the usual small form) is kept as it came, without a copy.
    let mut first: Option<Bytes> = None;
    let mut more: Option<BytesMut> = None;
    let mut len = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        len = len.saturating_add(chunk.len());
        if len > limit {
            drain_stream(stream, len).await;
            return Err(BodyError::TooLarge);
        }
        match (&mut first, &mut more) {
            (None, None) => first = Some(chunk),
            (Some(f), None) => {
                let mut buf = BytesMut::with_capacity(f.len() + chunk.len());
                buf.extend_from_slice(f);
                buf.extend_from_slice(&chunk);
                more = Some(buf);
                first = None;
            }
            (_, Some(buf)) => buf.extend_from_slice(&chunk),
        }
    }
    Ok(match (first, more) {
        (_, Some(buf)) => buf.freeze(),
        (Some(f), None) => f,
        (None, None) => Bytes::new(),
    })
}

/// Reads and drops what remains of a body that is refused unread, within the bounds.
pub async fn drain(body: Body) {
    drain_stream(body.into_data_stream(), 0).await;
}

async fn drain_stream<S, E>(mut stream: S, already: usize)
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let read_rest = async {
        let mut seen = already;
        while seen < DRAIN_MAX_BYTES {
            match stream.next().await {
                Some(Ok(chunk)) => seen = seen.saturating_add(chunk.len()),
                Some(Err(_)) | None => break,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_MAX_TIME, read_rest).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(parts: Vec<&'static [u8]>) -> Body {
        let s = futures::stream::iter(
            parts
                .into_iter()
                .map(|p| Ok::<_, std::io::Error>(Bytes::from_static(p))),
        );
        Body::from_stream(s)
    }

    #[tokio::test]
    async fn bodies_within_the_limit_are_read_whole() {
        let b = read_limited(chunked(vec![b"ab", b"cd", b"e"]), 5).await;
        assert_eq!(b.unwrap(), Bytes::from_static(b"abcde"));
        let b = read_limited(Body::from("single"), 6).await;
        assert_eq!(b.unwrap(), Bytes::from_static(b"single"));
        assert_eq!(read_limited(Body::empty(), 0).await.unwrap(), Bytes::new());
    }

    #[tokio::test]
    async fn a_longer_body_is_too_large() {
        let b = read_limited(chunked(vec![b"ab", b"cd", b"ef"]), 5).await;
        assert_eq!(b, Err(BodyError::TooLarge));
    }
}
