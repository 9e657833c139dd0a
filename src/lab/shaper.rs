//! Link delay, jitter and loss where the kernel has no `netem` qdisc: the
//! node's packets leaving an interface go to an NFQUEUE (iptables mangle
//! POSTROUTING, IPv4 and IPv6), and this process gives each its verdict
//! when its delay is over (ACCEPT), or at once for a lost one (DROP). The
//! kernel holds a queued packet until its verdict, so delaying the verdict
//! delays the packet, as netem does (jitter may reorder, as netem's does).
//!
//! `lab up` uses `tc netem` when the kernel has it, and this otherwise.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, RngExt};

use super::topology::{NetemValues, NodeSpec, Topology};

/// Interfaces of `node` with a delay, jitter or loss, with their values.
pub fn shaped(topo: &Topology, node: &NodeSpec) -> Vec<(String, NetemValues)> {
    node.addresses
        .keys()
        .filter_map(|link| {
            let v = match node.egress.get(link) {
                Some(e) => e.values(),
                None => topo.link.iter().find(|l| &l.name == link)?.netem.values(),
            }
            .ok()?;
            (!v.is_none()).then(|| (link.clone(), v))
        })
        .collect()
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

struct Held {
    due: Instant,
    seq: u64,
    msg: nfq::Message,
}

impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        (self.due, self.seq) == (o.due, o.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(o.due, o.seq))
    }
}

fn rule(tool: &str, op: &str, iface: &str, queue: u16) -> std::io::Result<()> {
    let q = queue.to_string();
    let st = std::process::Command::new(tool)
        .args([
            "-w",
            "-t",
            "mangle",
            op,
            "POSTROUTING",
            "-o",
            iface,
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
            "{tool} {op} POSTROUTING -o {iface}: {st}"
        )))
    }
}

/// Shapes `ifaces` until `stop`; `ready` is called once the rules are in.
pub fn run(
    ifaces: &[(String, NetemValues)],
    stop: &AtomicBool,
    ready: impl FnOnce(),
) -> anyhow::Result<()> {
    let mut q = nfq::Queue::open()?;
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
    let mut held: BinaryHeap<Reverse<Held>> = BinaryHeap::new();
    let mut rng = rand::rng();
    let mut seq = 0u64;
    let mut idle = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        // Everything waiting, then every verdict that is due.
        loop {
            match q.recv() {
                Ok(mut msg) => {
                    let now = Instant::now();
                    idle = now;
                    let v = ifaces
                        .get(msg.get_queue_num() as usize)
                        .map_or(NetemValues::default(), |(_, v)| *v);
                    match schedule(&v, now, &mut rng) {
                        Some(due) => {
                            seq += 1;
                            held.push(Reverse(Held { due, seq, msg }));
                        }
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
        while held.peek().is_some_and(|Reverse(h)| h.due <= now) {
            if let Some(Reverse(mut h)) = held.pop() {
                h.msg.set_verdict(nfq::Verdict::Accept);
                let _ = q.verdict(h.msg);
            }
        }
        // The queue's socket is not exposed to poll: sleep in short steps
        // while packets are about, longer when idle.
        let step = if !held.is_empty() || idle.elapsed() < Duration::from_millis(200) {
            Duration::from_micros(50)
        } else {
            Duration::from_micros(500)
        };
        let until_due = held.peek().map_or(step, |Reverse(h)| {
            h.due.saturating_duration_since(Instant::now())
        });
        std::thread::sleep(step.min(until_due).max(Duration::from_micros(20)));
    }
    // Let what is held go, and take the rules out.
    while let Some(Reverse(mut h)) = held.pop() {
        h.msg.set_verdict(nfq::Verdict::Accept);
        let _ = q.verdict(h.msg);
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
