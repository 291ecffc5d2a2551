//! The response side of authorization-aware discovery: the answer to an allowed `tools/list`,
//! `prompts/list`, `resources/list` or `resources/templates/list` keeps only what the caller
//! may use ([`mcp_authz_core::list_filter`]), whether the inner service answers in JSON or as
//! an event stream (MCP Streamable HTTP: each event's data is one JSON-RPC message). A
//! `tools/list` answer is also where the guard learns which tool arguments are mirrored into
//! `Mcp-Param-*` headers ([`mcp_authz_core::param_headers`]), before it is filtered.
//!
//! A JSON answer is read whole (at most [`MAX_LIST_BYTES`]) and sent filtered; an event stream
//! is parsed event by event (`sse-stream`) and each event's data filtered as it passes, so
//! progress notifications before the result still stream. Any other answer passes untouched.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt, TryStreamExt};
use http_body::{Body, Frame};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Either, Limited, StreamBody};
use mcp_authz_core::list_filter::{EventData, ListFilter, ListRequests, UNFILTERABLE};
use mcp_authz_core::Principal;
use mcp_authz_driver::ListAnswer;
use sse_stream::{SseBody, SseStream};

/// An error of a response body, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The largest JSON list answer the filter reads (a bigger one ends with a body error).
pub const MAX_LIST_BYTES: usize = 16 * 1024 * 1024;

/// The inner service's response body: as it was, or filtered (see the module docs).
pub type ListedBody<B> = Either<B, UnsyncBoxBody<Bytes, BoxError>>;

/// Where the `Mcp-Param-*` declarations of a `tools/list` answer go (the authorizer's store).
pub(crate) type Learner = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// What the filter needs once the request is gone: the policy (in the guard), where the
/// declarations are learned, the principal and the list request.
pub(crate) struct ListContext {
    pub(crate) guard: Arc<mcp_authz_core::Guard>,
    pub(crate) learner: Learner,
    /// `None` for a request served without a token (lists show the public tools).
    pub(crate) principal: Option<Arc<Principal>>,
    pub(crate) lists: ListRequests,
}

impl ListContext {
    fn filter(&self) -> ListFilter<'_> {
        let policy = self.guard.scope_policy();
        match &self.principal {
            Some(p) => ListFilter::new(policy, p, &self.lists),
            None => ListFilter::anonymous(policy, &self.lists),
        }
    }

    /// Learns the tools' declarations from one message, when the request asks for it.
    fn learn(&self, message: &[u8]) {
        if self.lists.learns_tools() {
            (self.learner)(message);
        }
    }

    fn event_data(&self, data: &str) -> EventData {
        self.learn(data.as_bytes());
        self.filter().filter_event_data(data)
    }
}

/// A body error as a `std::error::Error` (what `sse-stream` reads bodies with).
#[derive(Debug)]
struct BodyError(BoxError);

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for BodyError {}

/// `body` with its list results filtered when `ctx` holds a list request and the answer is JSON
/// or an event stream (`Content-Length` is removed then: the length changes). A successful
/// answer the filter cannot read (another type, a content coding, JSON that does not parse)
/// becomes a JSON-RPC error; an event that does not parse is dropped.
pub(crate) fn filtered<B>(
    status: http::StatusCode,
    headers: &mut http::HeaderMap,
    body: B,
    ctx: Option<ListContext>,
) -> ListedBody<B>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let Some(ctx) = ctx.filter(|c| !c.lists.is_empty()) else {
        return Either::Left(body);
    };
    let ctx = Arc::new(ctx);
    if !ctx.lists.filters() {
        return learned(headers, body, ctx);
    }
    let boxed = match ListAnswer::of(headers) {
        ListAnswer::Json => {
            let read = async move {
                let bytes = Limited::new(body, MAX_LIST_BYTES)
                    .collect()
                    .await?
                    .to_bytes();
                ctx.learn(&bytes);
                let out = ctx.filter().filter_json(&bytes).into_bytes(&bytes);
                Ok::<_, BoxError>(Frame::data(Bytes::from(out)))
            };
            StreamBody::new(futures_util::stream::once(read)).boxed_unsync()
        }
        ListAnswer::EventStream => {
            let events = SseStream::new(body.map_err(|e| BodyError(e.into())))
                .try_filter_map(move |mut event| {
                    let out = match event.data.as_deref().map(|d| ctx.event_data(d)) {
                        None | Some(EventData::Keep) => Some(event),
                        Some(EventData::Replace(text)) => {
                            event.data = Some(text);
                            Some(event)
                        }
                        Some(EventData::Drop) => None,
                    };
                    std::future::ready(Ok(out))
                })
                .map(|r| r.map_err(|e| -> BoxError { e.to_string().into() }));
            SseBody::new(events).boxed_unsync()
        }
        // Neither JSON nor an event stream, or coded: what it lists cannot be known.
        ListAnswer::Unreadable if status.is_success() => {
            headers.remove(http::header::CONTENT_ENCODING);
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            http_body_util::Full::new(Bytes::from_static(UNFILTERABLE))
                .map_err(|never| match never {})
                .boxed_unsync()
        }
        ListAnswer::Unreadable => return Either::Left(body),
    };
    headers.remove(http::header::CONTENT_LENGTH);
    Either::Right(boxed)
}

/// `body` passed on as it is (its length too), its `tools/list` declarations learned on the way
/// (a list answer that is only learned from, not filtered): the data is copied aside, at most
/// [`MAX_LIST_BYTES`] of it, and read when the body ends. An answer that is neither JSON nor an
/// event stream passes without a copy.
fn learned<B>(headers: &http::HeaderMap, body: B, ctx: Arc<ListContext>) -> ListedBody<B>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let events = match ListAnswer::of(headers) {
        ListAnswer::Json => false,
        ListAnswer::EventStream => true,
        ListAnswer::Unreadable => return Either::Left(body),
    };
    let learning = Learning {
        body,
        seen: Some(Vec::new()),
        events,
        ctx,
    };
    Either::Right(learning.boxed_unsync())
}

pin_project_lite::pin_project! {
    /// A list answer passed on frame by frame, a copy of its data kept to learn from at its end.
    struct Learning<B> {
        #[pin]
        body: B,
        // `None` once the answer outgrew `MAX_LIST_BYTES` or failed: nothing is learned.
        seen: Option<Vec<u8>>,
        events: bool,
        ctx: Arc<ListContext>,
    }
}

impl<B> Body for Learning<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        use std::task::Poll;
        let mut this = self.project();
        match this.body.as_mut().poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(seen), Some(data)) = (this.seen.as_mut(), frame.data_ref()) {
                    match seen.len() + data.len() <= MAX_LIST_BYTES {
                        true => seen.extend_from_slice(data),
                        false => *this.seen = None,
                    }
                }
                // A body of known length may not be polled past its last frame.
                if this.body.is_end_stream() {
                    if let Some(seen) = this.seen.take() {
                        learn_answer(this.ctx, *this.events, seen);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                *this.seen = None;
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                if let Some(seen) = this.seen.take() {
                    learn_answer(this.ctx, *this.events, seen);
                }
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Learns from a whole answer: its JSON, or each event's data (the events parsed by
/// `sse-stream` from memory, which completes at once).
fn learn_answer(ctx: &ListContext, events: bool, seen: Vec<u8>) {
    if !events {
        ctx.learn(&seen);
        return;
    }
    let full = http_body_util::Full::new(Bytes::from(seen));
    let parsed = SseStream::new(full).try_collect::<Vec<_>>().now_or_never();
    for event in parsed.and_then(Result::ok).unwrap_or_default() {
        if let Some(data) = event.data.as_deref() {
            ctx.learn(data.as_bytes());
        }
    }
}
