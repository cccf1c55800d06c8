//! The engine's event stream as the port's [`EventStream`](drydock_core::ports::EventStream).

use std::pin::Pin;
use std::task::{Context, Poll};

use bollard::models::EventMessage;
use drydock_core::ports::{RuntimeError, RuntimeEvent};
use futures_core::Stream;

use crate::convert;
use crate::error::{Call, is_transport};

/// bollard's event stream, boxed.
pub(crate) type EngineEvents =
    Pin<Box<dyn Stream<Item = Result<EventMessage, bollard::errors::Error>> + Send>>;

/// Maps engine events, skips those the port has no use for, and ends after the first error
/// (the connection is gone: the watcher subscribes again).
pub(crate) struct Events {
    inner: Option<EngineEvents>,
    call: Call<'static>,
}

impl Events {
    pub(crate) fn new(inner: EngineEvents, call: Call<'static>) -> Self {
        Self {
            inner: Some(inner),
            call,
        }
    }
}

impl Stream for Events {
    type Item = Result<RuntimeEvent, RuntimeError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let Some(inner) = self.inner.as_mut() else {
                return Poll::Ready(None);
            };
            match inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.inner = None;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Ok(message))) => {
                    if let Some(event) = convert::event(message) {
                        return Poll::Ready(Some(Ok(event)));
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    self.inner = None;
                    let error = if is_transport(&error) {
                        RuntimeError::Unavailable {
                            reason: format!("event stream interrupted: {error}"),
                        }
                    } else {
                        self.call.error(error)
                    };
                    return Poll::Ready(Some(Err(error)));
                }
            }
        }
    }
}
