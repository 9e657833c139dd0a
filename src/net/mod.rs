//! The edge: sockets, the kernel's ICMP error queue and timestamps, the
//! clock, name resolution, the neighbour table. Converts OS values into
//! domain types at the boundary; everything above it is pure.

pub mod clock;
pub mod due;
pub mod errno;
pub mod fdwait;
pub mod kernel;
pub mod metrics;
pub mod mmsg;
pub mod neigh;
pub mod node;
pub mod nts;
pub mod probe;
pub mod resolve;
pub mod serve;
pub mod udp;
pub mod watch;
