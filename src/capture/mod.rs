//! Capture analysis: pcap/pcapng frames → decoded NTP and ICMP packets →
//! conversations → verdicts, with the probe's cause ids.
//!
//! - [`decode`]: link layers and IP/UDP/ICMP, any bytes in, no panic;
//! - [`track`]: streaming conversations, memory bounded by open ones;
//! - [`judge`]: a conversation → its verdict (pure);
//! - [`view`]: the server view — per client host and per server;
//! - [`pcapng`], [`pcapfile`]: ntpdiag's own file readers;
//! - [`source`]: libpcap live and offline, `-w` saving; a large file read
//!   on several threads ([`par`]), each tracking its share of the client hosts.

pub mod decode;
pub mod judge;
pub mod par;
pub mod pcapfile;
pub mod pcapng;
pub mod reasm;
pub mod source;
pub mod track;
pub mod view;
