//! Where the processing loop hands what it makes: output events, dead letters, and the barrier a
//! snapshot waits behind. The service's sink is the [`Publisher`](super::Publisher); the
//! processor's unit tests use one that records, so batch handling is tested without a broker.

use std::future::Future;
use std::pin::Pin;

use rdkafka::message::OwnedHeaders;

use crate::engine::OutputEvent;

/// The processing loop's way out.
pub trait OutputSink {
    /// Takes the output events of `outputs` in order, leaving it empty (its capacity kept).
    fn outputs(
        &mut self,
        outputs: &mut Vec<OutputEvent>,
    ) -> impl Future<Output = anyhow::Result<()>>;

    /// Takes one dead letter: the input message unchanged, with headers saying why.
    fn dead_letter(
        &mut self,
        payload: &[u8],
        key: Option<&[u8]>,
        headers: OwnedHeaders,
    ) -> impl Future<Output = anyhow::Result<()>>;

    /// The deliveries of everything taken so far, to wait for their acknowledgements.
    fn deliveries(&mut self) -> impl Future<Output = anyhow::Result<DeliveriesSoFar>>;
}

/// The acknowledgements of everything a sink was handed before [`OutputSink::deliveries`]: a
/// snapshot counts only once they are all in.
pub struct DeliveriesSoFar(Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>);

impl DeliveriesSoFar {
    /// Deliveries that are in once `acknowledged` finishes (an error: one was not delivered).
    pub fn new(acknowledged: impl Future<Output = anyhow::Result<()>> + Send + 'static) -> Self {
        DeliveriesSoFar(Box::pin(acknowledged))
    }

    /// Nothing to wait for: every output so far is acknowledged already.
    pub fn acknowledged_already() -> DeliveriesSoFar {
        DeliveriesSoFar::new(async { Ok(()) })
    }

    /// Waits until every one of those outputs is acknowledged by the broker.
    pub async fn acknowledged(self) -> anyhow::Result<()> {
        self.0.await
    }
}
