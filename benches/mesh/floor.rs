//! The floor: a bare breadth-first search over the dataset -> job -> dataset adjacency,
//! built straight from the NDJSON with no Tributary code. Integer ids, compressed
//! adjacency (CSR) and a visited stamp per node: what a traversal costs when nothing else
//! (names, locks, answer objects, transport) is paid for.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;

#[derive(Deserialize)]
struct EventLine<'a> {
    #[serde(rename = "eventType", borrow, default)]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    job: NameRef<'a>,
    #[serde(borrow, default)]
    inputs: Vec<NameRef<'a>>,
    #[serde(borrow, default)]
    outputs: Vec<NameRef<'a>>,
}

/// A dataset or job reference; every other field (facets) is skipped by serde.
#[derive(Deserialize)]
struct NameRef<'a> {
    #[serde(borrow)]
    namespace: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
}

/// A job's edges while reading: from its COMPLETE events when it has any (what the peers
/// keep: the current job version), else from every event of the job. With gen_mesh data
/// (one run per job, or identical repeated runs; START names a subset of COMPLETE) this is
/// also exactly Tributary's rule (union over the settled run's events).
#[derive(Default)]
struct JobEdges {
    completed: bool,
    inputs: Vec<u32>,
    outputs: Vec<u32>,
}

/// Compressed sparse rows: the neighbours of node `i` are `targets[offsets[i]..offsets[i + 1]]`.
pub struct Csr {
    offsets: Vec<u32>,
    targets: Vec<u32>,
}

impl Csr {
    fn build(n_nodes: usize, pairs: &[(u32, u32)]) -> Self {
        let mut offsets = vec![0u32; n_nodes + 1];
        for &(from, _) in pairs {
            offsets[from as usize + 1] += 1;
        }
        for i in 0..n_nodes {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut targets = vec![0u32; pairs.len()];
        for &(from, to) in pairs {
            targets[fill[from as usize] as usize] = to;
            fill[from as usize] += 1;
        }
        Self { offsets, targets }
    }

    #[inline]
    fn neighbours(&self, node: u32) -> &[u32] {
        &self.targets[self.offsets[node as usize] as usize..self.offsets[node as usize + 1] as usize]
    }
}

pub struct FloorGraph {
    /// Dataset id -> (namespace, name).
    pub dataset_names: Vec<(Box<str>, Box<str>)>,
    dataset_ids: HashMap<Box<str>, u32>,
    pub n_jobs: usize,
    pub n_io_edges: usize,
    pub n_events: u64,
    /// Dataset -> jobs reading it, job -> datasets it writes (downstream);
    /// dataset -> jobs writing it, job -> datasets it reads (upstream).
    readers: Csr,
    job_outputs: Csr,
    producers: Csr,
    job_inputs: Csr,
}

fn key(namespace: &str, name: &str) -> String {
    let mut key = String::with_capacity(namespace.len() + name.len() + 1);
    key.push_str(namespace);
    key.push('\0');
    key.push_str(name);
    key
}

impl FloorGraph {
    /// Streams the file once (line by line: the 1M file is 8.7 GB).
    pub fn from_ndjson(path: &Path) -> anyhow::Result<Self> {
        let file = std::fs::File::open(path)?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut dataset_ids: HashMap<Box<str>, u32> = HashMap::new();
        let mut dataset_names: Vec<(Box<str>, Box<str>)> = Vec::new();
        let mut job_ids: HashMap<Box<str>, u32> = HashMap::new();
        let mut jobs: Vec<JobEdges> = Vec::new();
        let mut line = Vec::with_capacity(1 << 16);
        let mut n_events = 0u64;
        let mut intern = |namespace: &str, name: &str| -> u32 {
            let key = key(namespace, name);
            if let Some(&id) = dataset_ids.get(key.as_str()) {
                return id;
            }
            let id = dataset_names.len() as u32;
            dataset_names.push((namespace.into(), name.into()));
            dataset_ids.insert(key.into_boxed_str(), id);
            id
        };
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let event: EventLine<'_> = serde_json::from_slice(&line)?;
            n_events += 1;
            let job_key = key(&event.job.namespace, &event.job.name);
            let job_id = match job_ids.get(job_key.as_str()) {
                Some(&id) => id,
                None => {
                    let id = jobs.len() as u32;
                    jobs.push(JobEdges::default());
                    job_ids.insert(job_key.into_boxed_str(), id);
                    id
                }
            };
            let inputs: Vec<u32> = event.inputs.iter().map(|d| intern(&d.namespace, &d.name)).collect();
            let outputs: Vec<u32> = event.outputs.iter().map(|d| intern(&d.namespace, &d.name)).collect();
            let complete = event.event_type.as_deref() == Some("COMPLETE");
            let edges = &mut jobs[job_id as usize];
            if complete && !edges.completed {
                // The first COMPLETE replaces whatever unsettled events said.
                *edges = JobEdges { completed: true, ..JobEdges::default() };
            }
            if complete || !edges.completed {
                edges.inputs.extend(inputs);
                edges.outputs.extend(outputs);
            }
        }
        let mut reads: Vec<(u32, u32)> = Vec::new(); // (dataset, job)
        let mut writes: Vec<(u32, u32)> = Vec::new(); // (job, dataset)
        for (job, edges) in jobs.iter_mut().enumerate() {
            for list in [&mut edges.inputs, &mut edges.outputs] {
                list.sort_unstable();
                list.dedup();
            }
            reads.extend(edges.inputs.iter().map(|&d| (d, job as u32)));
            writes.extend(edges.outputs.iter().map(|&d| (job as u32, d)));
        }
        let n_datasets = dataset_names.len();
        let flip = |pairs: &[(u32, u32)]| -> Vec<(u32, u32)> { pairs.iter().map(|&(a, b)| (b, a)).collect() };
        Ok(Self {
            readers: Csr::build(n_datasets, &reads),
            job_outputs: Csr::build(jobs.len(), &writes),
            producers: Csr::build(n_datasets, &flip(&writes)),
            job_inputs: Csr::build(jobs.len(), &flip(&reads)),
            n_io_edges: reads.len() + writes.len(),
            n_jobs: jobs.len(),
            n_events,
            dataset_names,
            dataset_ids,
        })
    }

    pub fn n_datasets(&self) -> usize {
        self.dataset_names.len()
    }

    pub fn dataset(&self, namespace: &str, name: &str) -> Option<u32> {
        self.dataset_ids.get(key(namespace, name).as_str()).copied()
    }
}

/// Reusable visited stamps, so a query does not clear arrays the size of the graph.
pub struct Bfs {
    dataset_seen: Vec<u32>,
    job_seen: Vec<u32>,
    stamp: u32,
    frontier: Vec<u32>,
    next: Vec<u32>,
}

impl Bfs {
    pub fn new(graph: &FloorGraph) -> Self {
        Self {
            dataset_seen: vec![0; graph.n_datasets()],
            job_seen: vec![0; graph.n_jobs],
            stamp: 0,
            frontier: Vec::new(),
            next: Vec::new(),
        }
    }

    /// Datasets within `depth` job hops of `start` (excluded), in BFS order, into `found`.
    pub fn run(&mut self, graph: &FloorGraph, start: u32, downstream: bool, depth: u32, found: &mut Vec<u32>) {
        let (to_jobs, from_jobs) =
            if downstream { (&graph.readers, &graph.job_outputs) } else { (&graph.producers, &graph.job_inputs) };
        self.stamp += 1;
        let stamp = self.stamp;
        found.clear();
        self.frontier.clear();
        self.frontier.push(start);
        self.dataset_seen[start as usize] = stamp;
        for _hop in 0..depth {
            if self.frontier.is_empty() {
                break;
            }
            self.next.clear();
            for &dataset in &self.frontier {
                for &job in to_jobs.neighbours(dataset) {
                    if self.job_seen[job as usize] == stamp {
                        continue;
                    }
                    self.job_seen[job as usize] = stamp;
                    for &reached in from_jobs.neighbours(job) {
                        if self.dataset_seen[reached as usize] != stamp {
                            self.dataset_seen[reached as usize] = stamp;
                            self.next.push(reached);
                        }
                    }
                }
            }
            found.extend_from_slice(&self.next);
            std::mem::swap(&mut self.frontier, &mut self.next);
        }
    }
}
