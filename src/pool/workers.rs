//! `Workers`: the seam between the search loop and wherever children train. The loop submits
//! jobs and receives messages; whether local threads or `nas worker` processes on other
//! machines (through the Redis broker) do the work is decided once, when the search starts.

use super::broker::Broker;
use super::pool::{Job, Pool, PoolMessage};
use crate::error::Result;
use crate::space::TableRow;

/// A table candidate to look up: on a broker, table lookups are jobs like training is.
#[derive(Clone, Debug, PartialEq)]
pub struct Lookup {
    pub id: u64,
    pub decisions: Vec<usize>,
    /// The successive-halving rung whose column to read as well, if any.
    pub rung: Option<usize>,
    pub column: Option<String>,
}

/// The answer to a [`Lookup`].
#[derive(Clone, Debug, PartialEq)]
pub struct Looked {
    pub id: u64,
    pub rung: Option<usize>,
    pub row: Option<TableRow>,
    pub value: Option<f64>,
    /// The search was stopped before a worker answered.
    pub stopped: bool,
}

/// Where the children of a search train.
// One value per search: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Workers {
    /// Threads of this process.
    Local(Pool),
    /// Jobs queued in Redis for `nas worker` processes (and this process's own workers).
    Broker(Broker),
}

impl Workers {
    /// Queues a training job; its `Done` comes later from [`Workers::recv`].
    pub fn submit(&self, job: Job) -> Result<()> {
        match self {
            Workers::Local(pool) => pool.submit(job),
            Workers::Broker(broker) => broker.submit(job),
        }
    }

    /// Queues a table lookup; its `Looked` comes later. Local searches look tables up inline.
    pub fn lookup(&self, lookup: Lookup) -> Result<()> {
        match self {
            Workers::Local(_) => Err(crate::Error::invalid(
                "pool",
                "local workers do not answer table lookups",
            )),
            Workers::Broker(broker) => broker.lookup(lookup),
        }
    }

    /// The next message, blocking; `None` once nothing more can come.
    pub fn recv(&self) -> Option<PoolMessage> {
        match self {
            Workers::Local(pool) => pool.recv(),
            Workers::Broker(broker) => broker.recv(),
        }
    }

    /// Whether table lookups go through the workers (a broker) rather than inline.
    pub fn looks_up(&self) -> bool {
        matches!(self, Workers::Broker(_))
    }

    /// Ends the workers; `finished` tells a broker that the run needs its queue no more.
    pub fn close(self, finished: bool) {
        match self {
            Workers::Local(pool) => pool.shutdown(),
            Workers::Broker(broker) => broker.close(finished),
        }
    }
}
