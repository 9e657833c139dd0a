//! Link delay, jitter and loss, in the lab's switch. Frames a node sends
//! into a link are held in the hub namespace, between the two nodes'
//! interfaces: the bridge hands them to iptables (br_netfilter), a mangle
//! FORWARD rule per bridge port (`-m physdev --physdev-in`) sends them to an
//! NFQUEUE, and this process gives each its verdict when its delay is over
//! (ACCEPT), or at once for a lost one (DROP). The kernel holds a queued
//! frame until its verdict, so delaying the verdict delays the frame;
//! jitter may reorder, as netem's does.
//!
//! Why not `tc netem` on the node's interface: its delay comes before the
//! sender's kernel transmit timestamp (taken as the frame leaves the veth),
//! so a daemon stamping in the kernel would not see it, and one-way delay
//! would vanish from its measurements. On the wire, between the two
//! stamps, it is seen as a real link's is. (Nor does every kernel have
//! netem.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, RngExt};

use super::topology::{NetemValues, Topology};
use crate::net::due::DueQueue;

/// The hub's bridge ports with a delay, jitter or loss: one per node and
/// link, for what the node sends into the link (its `egress` for that link,
/// else the link's). The port of node `ni` on link `li` is `n{ni}l{li}`.
pub fn ports(topo: &Topology) -> Vec<(String, NetemValues)> {
    let mut v = vec![];
    for (ni, node) in topo.node.iter().enumerate() {
        for (li, link) in topo.link.iter().enumerate() {
            if !node.addresses.contains_key(&link.name) {
                continue;
            }
            let values = match node.egress.get(&link.name) {
                Some(e) => e.values(),
                None => link.netem().values(),
            };
            if let Ok(x) = values
                && !x.is_none()
            {
                v.push((format!("n{ni}l{li}"), x));
            }
        }
    }
    v
}

/// When a packet seen at `now` leaves, or `None` if it is lost.
pub fn schedule(v: &NetemValues, now: Instant, rng: &mut impl Rng) -> Option<Instant> {
    if v.loss > 0.0 && rng.random::<f64>() * 100.0 < v.loss {
        return None;
    }
    let d = v.delay.as_secs_f64();
    let j = v.jitter.as_secs_f64();
    let jittered = if j > 0.0 {
        d + rng.random_range(-j..=j)
    } else {
        d
    };
    Some(now + Duration::from_secs_f64(jittered.max(0.0)))
}

fn rule(tool: &str, op: &str, port: &str, queue: u16) -> std::io::Result<()> {
    let q = queue.to_string();
    let st = std::process::Command::new(tool)
        .args([
            "-w",
            "-t",
            "mangle",
            op,
            "FORWARD",
            "-m",
            "physdev",
            "--physdev-in",
            port,
            "-j",
            "NFQUEUE",
            "--queue-num",
            &q,
        ])
        .stdin(std::process::Stdio::null())
        .status()?;
    if st.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{tool} {op} FORWARD --physdev-in {port}: {st}"
        )))
    }
}

/// Shapes the hub's `ifaces` (bridge ports) until `stop`; `ready` is called
/// once the rules are in. Runs in the hub namespace.
pub fn run(
    ifaces: &[(String, NetemValues)],
    stop: &AtomicBool,
    ready: impl FnOnce(),
) -> anyhow::Result<()> {
    // The crate keeps its netlink socket to itself: it is the socket that
    // opening the queue added, and waiting on it means no busy loop.
    let before = crate::net::fdwait::open_sockets();
    let mut q = nfq::Queue::open()?;
    let fd = crate::net::fdwait::open_sockets()
        .into_iter()
        .find(|f| !before.contains(f));
    for (i, _) in ifaces.iter().enumerate() {
        q.bind(i as u16)?;
        // Only the verdict matters: copy no more than the headers.
        q.set_copy_range(i as u16, 64)?;
        q.set_queue_max_len(i as u16, 4096)?;
    }
    q.set_nonblocking(true);
    for (i, (iface, _)) in ifaces.iter().enumerate() {
        rule("iptables", "-A", iface, i as u16)?;
        rule("ip6tables", "-A", iface, i as u16)?;
    }
    ready();
    let mut held: DueQueue<nfq::Message> = DueQueue::default();
    let mut rng = rand::rng();
    while !stop.load(Ordering::Relaxed) {
        // Everything waiting, then every verdict that is due.
        loop {
            match q.recv() {
                Ok(mut msg) => {
                    let now = Instant::now();
                    let v = ifaces
                        .get(msg.get_queue_num() as usize)
                        .map_or(NetemValues::default(), |(_, v)| *v);
                    match schedule(&v, now, &mut rng) {
                        Some(due) => held.push(due, msg),
                        None => {
                            msg.set_verdict(nfq::Verdict::Drop);
                            let _ = q.verdict(msg);
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        let now = Instant::now();
        while let Some(mut msg) = held.pop_due(now) {
            msg.set_verdict(nfq::Verdict::Accept);
            let _ = q.verdict(msg);
        }
        // Until the next packet or the next release (200 ms at most, to
        // look at the stop flag).
        let wait = held.next_due().map_or(Duration::from_millis(200), |d| {
            d.saturating_duration_since(Instant::now())
        });
        match fd {
            Some(fd) => {
                crate::net::fdwait::readable(fd, wait)?;
            }
            None => std::thread::sleep(wait.min(Duration::from_micros(50))),
        }
    }
    // Let what is held go, and take the rules out.
    while let Some(mut msg) = held.pop() {
        msg.set_verdict(nfq::Verdict::Accept);
        let _ = q.verdict(msg);
    }
    for (i, (iface, _)) in ifaces.iter().enumerate() {
        let _ = rule("iptables", "-D", iface, i as u16);
        let _ = rule("ip6tables", "-D", iface, i as u16);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn delay_jitter_and_loss_are_what_was_asked() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let v = NetemValues {
            delay: Duration::from_millis(40),
            jitter: Duration::from_millis(5),
            loss: 10.0,
        };
        let now = Instant::now();
        let mut lost = 0;
        let mut sum = 0.0;
        let n = 10_000;
        for _ in 0..n {
            match schedule(&v, now, &mut rng) {
                None => lost += 1,
                Some(t) => {
                    let d = (t - now).as_secs_f64();
                    assert!((0.035..=0.045).contains(&d), "{d}");
                    sum += d;
                }
            }
        }
        assert!((800..1200).contains(&lost), "{lost} of {n} lost at 10%");
        let mean = sum / (n - lost) as f64;
        assert!((mean - 0.040).abs() < 0.0005, "{mean}");
        assert_eq!(
            schedule(&NetemValues::default(), now, &mut rng),
            Some(now),
            "no delay"
        );
    }
}
