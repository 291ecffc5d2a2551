//! Event streams end with the token that opened them: [`Expiring`], the response body of
//! [`AuthzService`](crate::AuthzService).
//!
//! A token is checked when a request arrives, but a Server-Sent Events stream (MCP Streamable
//! HTTP's `GET`, or a `POST` answered with `text/event-stream`) can run for hours after that. A
//! stream allowed with a token ends when the token expires (`exp`): the client sees the end of
//! the stream and opens a new one, with a token that is valid then. A stream opened with an
//! introspected token (RFC 7662) also asks again whenever the introspection cache's answer
//! lapses, and ends when the token is no longer active (revoked) or the answer cannot be had.
//! Other responses pass through unchanged.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body::{Body, Frame, SizeHint};
use mcp_authz_core::UnixTime;
use pin_project_lite::pin_project;
use tokio::time::Sleep;

pin_project! {
    /// A response body that ends at a deadline, when it has one (see the module docs).
    pub struct Expiring<B> {
        #[pin]
        body: B,
        // Set for an event stream allowed with a token: it ends when this passes.
        #[pin]
        deadline: Option<Sleep>,
        // Set for an event stream allowed with an introspected token.
        recheck: Option<Recheck>,
        // The last event of a `subscriptions/listen` stream ended early (its result).
        closing: Option<Bytes>,
        // Ended early: nothing more is sent.
        ended: bool,
    }
}

/// Asks, every `every`, whether the token that opened a stream is still active.
pub(crate) struct Recheck {
    every: Duration,
    next: Pin<Box<Sleep>>,
    ask: Box<dyn Fn() -> BoxFuture<'static, bool> + Send>,
    asking: Option<BoxFuture<'static, bool>>,
}

impl Recheck {
    /// A check by `ask` every `every`, the first one `every` from now.
    pub(crate) fn every(
        every: Duration,
        ask: impl Fn() -> BoxFuture<'static, bool> + Send + 'static,
    ) -> Self {
        Self {
            every,
            next: Box::pin(tokio::time::sleep(every)),
            ask: Box::new(ask),
            asking: None,
        }
    }

    /// `Ready(false)` once an answer says the token is no longer active; `Pending` otherwise
    /// (with a wake-up registered for the next check or answer).
    fn poll_active(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        loop {
            if let Some(asking) = self.asking.as_mut() {
                match asking.as_mut().poll(cx) {
                    Poll::Ready(true) => {
                        self.asking = None;
                        let at = tokio::time::Instant::now() + self.every;
                        self.next.as_mut().reset(at);
                    }
                    Poll::Ready(false) => return Poll::Ready(false),
                    Poll::Pending => return Poll::Pending,
                }
            }
            match self.next.as_mut().poll(cx) {
                Poll::Ready(()) => self.asking = Some((self.ask)()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<B> Expiring<B> {
    /// `body` as it is.
    pub(crate) fn open(body: B) -> Self {
        Self {
            body,
            deadline: None,
            recheck: None,
            closing: None,
            ended: false,
        }
    }

    /// `body`, ended when `expires_at` comes (`now` being the time now).
    pub(crate) fn until(body: B, expires_at: UnixTime, now: UnixTime) -> Self {
        let left = Duration::from_secs(expires_at.as_secs().saturating_sub(now.as_secs()));
        Self {
            body,
            deadline: Some(tokio::time::sleep(left)),
            recheck: None,
            closing: None,
            ended: false,
        }
    }

    /// The body, whose early end (the token expired or is no longer active) sends `message`
    /// first, as one event (MCP 2026-07-28: a `subscriptions/listen` stream the server closes
    /// ends with the listen's result).
    pub(crate) fn closing_with(mut self, message: Option<Vec<u8>>) -> Self {
        self.closing = message.map(|m| {
            let mut event = b"data: ".to_vec();
            event.extend_from_slice(&m);
            event.extend_from_slice(b"\n\n");
            Bytes::from(event)
        });
        self
    }

    /// The body, also ended when `recheck` finds the token no longer active.
    pub(crate) fn rechecked(mut self, recheck: Recheck) -> Self {
        self.recheck = Some(recheck);
        self
    }
}

/// Whether a response is an event stream (`text/event-stream`, any parameters or case).
pub(crate) fn is_event_stream(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
}

impl<B: Body> Body for Expiring<B>
where
    B::Data: From<Bytes>,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        // The token expired, or the authorization server no longer vouches for it.
        let expired = this
            .deadline
            .as_pin_mut()
            .is_some_and(|d| d.poll(cx).is_ready());
        let revoked = !expired
            && this
                .recheck
                .as_mut()
                .is_some_and(|r| r.poll_active(cx) == Poll::Ready(false));
        if expired || revoked {
            *this.ended = true;
            return Poll::Ready(
                this.closing
                    .take()
                    .map(|event| Ok(Frame::data(event.into()))),
            );
        }
        this.body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match self.deadline {
            None => self.body.size_hint(),
            // It may end early: anything from nothing to the body's upper bound.
            Some(_) => {
                let mut hint = SizeHint::new();
                if let Some(upper) = self.body.size_hint().upper() {
                    hint.set_upper(upper);
                }
                hint
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::pin::pin;

    use http_body_util::BodyExt;

    use super::*;

    /// An event stream that never sends or ends on its own.
    struct Silent;

    impl Body for Silent {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Pending
        }
    }

    /// In virtual time: a stream allowed with a token that expires in 60 s is open at 59 s and
    /// ended at 61 s; without a deadline it stays open a day.
    #[tokio::test(start_paused = true)]
    async fn an_event_stream_ends_when_its_token_expires() {
        let now = UnixTime::from_secs(1_000);
        let mut body = pin!(Expiring::until(Silent, UnixTime::from_secs(1_060), now));
        let early = tokio::time::timeout(Duration::from_secs(59), body.frame()).await;
        assert!(early.is_err(), "ended before the token expired");
        let late = tokio::time::timeout(Duration::from_secs(2), body.frame()).await;
        assert!(
            matches!(late, Ok(None)),
            "still open after the token expired"
        );
        // An expired token's stream (a clock ahead of exp) ends at once.
        let mut gone = pin!(Expiring::until(Silent, now, UnixTime::from_secs(2_000)));
        assert!(gone.frame().await.is_none());
        let mut open = pin!(Expiring::open(Silent));
        let day = tokio::time::timeout(Duration::from_secs(86_400), open.frame()).await;
        assert!(day.is_err());
    }

    /// A `subscriptions/listen` stream ended early sends the listen's result as its last event,
    /// once; a stream without one just ends.
    #[tokio::test(start_paused = true)]
    async fn a_listen_stream_ends_with_its_result() {
        let now = UnixTime::from_secs(1_000);
        let result = br#"{"jsonrpc":"2.0","id":3,"result":{}}"#.to_vec();
        let body =
            Expiring::until(Silent, UnixTime::from_secs(1_010), now).closing_with(Some(result));
        let mut body = pin!(body);
        let last = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(
            &last[..],
            b"data: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\n\n"
        );
        assert!(body.frame().await.is_none());
        assert!(body.is_end_stream());
    }

    /// In virtual time: a stream rechecked every 60 s stays open while the answers say active,
    /// and ends at the first check after the token was revoked (not before it).
    #[tokio::test(start_paused = true)]
    async fn an_introspected_stream_ends_at_the_first_check_after_revocation() {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::Arc;
        let (active, asked) = (
            Arc::new(AtomicBool::new(true)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (a, n) = (active.clone(), asked.clone());
        let recheck = Recheck::every(Duration::from_secs(60), move || {
            n.fetch_add(1, Ordering::SeqCst);
            let still = a.load(Ordering::SeqCst);
            Box::pin(async move { still })
        });
        let now = UnixTime::from_secs(1_000);
        let body = Expiring::until(Silent, UnixTime::from_secs(100_000), now).rechecked(recheck);
        let mut body = pin!(body);
        let hour = tokio::time::timeout(Duration::from_secs(3_600), body.frame()).await;
        assert!(hour.is_err(), "ended while the token was active");
        assert_eq!(asked.load(Ordering::SeqCst), 60, "asked once a minute");
        active.store(false, Ordering::SeqCst);
        let next = tokio::time::timeout(Duration::from_secs(61), body.frame()).await;
        assert!(
            matches!(next, Ok(None)),
            "still open after the revocation was seen"
        );
    }

    #[test]
    fn event_streams_are_recognised_by_their_media_type() {
        let with = |ct: &str| {
            let mut h = http::HeaderMap::new();
            h.insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
            is_event_stream(&h)
        };
        assert!(with("text/event-stream"));
        assert!(with("Text/Event-Stream; charset=utf-8"));
        assert!(!with("application/json"));
        assert!(!with("text/event-streams"));
        assert!(!is_event_stream(&http::HeaderMap::new()));
    }
}
