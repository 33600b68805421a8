//! A channel for programs that embed the crate and produce VFS events themselves.

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{Chunk, EventSource};
use crate::error::{Error, Result};
use crate::event::VfsEvent;

/// The sending half: clone it freely; the source ends when every sender is dropped.
#[derive(Debug, Clone)]
pub struct VfsSender(mpsc::Sender<VfsEvent>);

impl VfsSender {
    /// Sends one event, waiting while the channel is full.
    pub async fn send(&self, event: VfsEvent) -> Result<()> {
        self.0.send(event).await.map_err(|_| Error::Closed)
    }

    /// Sends one event from synchronous code, waiting while the channel is full. Not for async contexts.
    pub fn blocking_send(&self, event: VfsEvent) -> Result<()> {
        self.0.blocking_send(event).map_err(|_| Error::Closed)
    }
}

/// The receiving half, an [`EventSource`]: each chunk is what has arrived, up to `max_events`.
#[derive(Debug)]
pub struct ChannelSource {
    rx: mpsc::Receiver<VfsEvent>,
    max_events: usize,
}

/// A channel source holding up to `capacity` events in flight.
pub fn channel(capacity: usize) -> (VfsSender, ChannelSource) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (
        VfsSender(tx),
        ChannelSource {
            rx,
            max_events: capacity.max(1),
        },
    )
}

#[async_trait]
impl EventSource for ChannelSource {
    async fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        let Some(first) = self.rx.recv().await else {
            return Ok(None);
        };
        let mut events = vec![first];
        while events.len() < self.max_events {
            match self.rx.try_recv() {
                Ok(e) => events.push(e),
                Err(_) => break,
            }
        }
        Ok(Some(Chunk {
            batch_id: None,
            events,
            problems: Vec::new(),
        }))
    }

    async fn ack(&mut self) -> Result<()> {
        Ok(())
    }

    async fn drain(&mut self) -> Result<Option<Chunk>> {
        let mut events = Vec::new();
        while events.len() < self.max_events {
            match self.rx.try_recv() {
                Ok(e) => events.push(e),
                Err(_) => break,
            }
        }
        Ok((!events.is_empty()).then(|| Chunk {
            batch_id: None,
            events,
            problems: Vec::new(),
        }))
    }
}
