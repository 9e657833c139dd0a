//! The edge: sockets, the kernel's ICMP error queue and timestamps, the
//! clock, name resolution, the neighbour table, TLS. Converts OS values into
//! domain types at the boundary and judges nothing; everything below it is
//! pure.
//!
//! - [`probe`]: runs the engine's probe session over a socket;
//! - [`serve`]: the server loop (batched I/O in [`mmsg`], rate limits and
//!   faults from the engine's profile);
//! - [`watch`]: runs the client engine over one socket per association;
//!   [`metrics`] serves its state to Prometheus;
//! - [`nts`]: NTS-KE over TLS and NTS-protected NTP, client and server;
//! - [`udp`], [`fdwait`], [`due`]: sockets with IP_RECVERR, waiting, timers;
//! - [`clock`], [`kernel`]: this host's clock and the kernel's view of it;
//! - [`resolve`], [`neigh`], [`node`], [`errno`]: names, the neighbour
//!   table, this machine's identity, errno → domain errors.

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
