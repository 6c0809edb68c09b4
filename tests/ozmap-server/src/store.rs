//! The served network behind a lock, with the caches that keep paging through a
//! million documents cheap: the matching positions of each (route, filter, sort)
//! and id/equality indexes, all dropped whenever the network changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use serde_json::Value;

use crate::network::Network;
use crate::query::{self, Filter, SortKey};

/// Beyond this many cached queries the cache starts over: a client paging with
/// ever-new filters (one per client code, say) must not grow memory unboundedly.
const MAX_CACHED_QUERIES: usize = 64;
const MAX_EQUALITY_INDEXES: usize = 16;
/// An equality index costs about ten scans to build: only lookups that keep
/// coming (a client per code, say) between two changes are worth one.
const SCANS_BEFORE_INDEX: usize = 3;

pub(crate) struct Store {
    network: RwLock<Network>,
    cache: Mutex<Cache>,
}

/// Positions of the documents holding each string value of one path.
type EqualityIndex = HashMap<String, Vec<u32>>;

#[derive(Default)]
struct Cache {
    /// (route, filter, sort) to the matching positions.
    queries: HashMap<(String, String, String), Arc<Vec<u32>>>,
    ids: HashMap<String, Arc<HashMap<String, u32>>>,
    /// (route, dotted path) to its index.
    equals: HashMap<(String, String), Arc<EqualityIndex>>,
    equality_scans: HashMap<(String, String), usize>,
}

impl Cache {
    /// Forgets what was cached about these routes.
    fn forget(&mut self, routes: &[&str]) {
        let gone = |route: &str| routes.contains(&route);
        self.queries.retain(|(route, _, _), _| !gone(route));
        self.ids.retain(|route, _| !gone(route));
        self.equals.retain(|(route, _), _| !gone(route));
        self.equality_scans.retain(|(route, _), _| !gone(route));
    }
}

/// The positions, in collection order or sorted, of the documents a list answers.
pub(crate) enum Selection {
    All(usize),
    Some(Arc<Vec<u32>>),
}

impl Selection {
    pub(crate) fn len(&self) -> usize {
        match self {
            Selection::All(n) => *n,
            Selection::Some(v) => v.len(),
        }
    }

    pub(crate) fn position(&self, i: usize) -> usize {
        match self {
            Selection::All(_) => i,
            Selection::Some(v) => v[i] as usize,
        }
    }
}

/// A filter or sort with the canonical text that keys the cache.
pub(crate) struct Keyed<'a, T: ?Sized> {
    pub(crate) value: &'a T,
    pub(crate) key: String,
}

impl Store {
    pub(crate) fn new(network: Network) -> Self {
        Store {
            network: RwLock::new(network),
            cache: Mutex::new(Cache::default()),
        }
    }

    /// Runs `f` over the network; a panic elsewhere (a failing test inside
    /// `with_network`) must not wedge the server, hence the poison recovery.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Network) -> R) -> R {
        let net = self.network.read().unwrap_or_else(PoisonError::into_inner);
        f(&net)
    }

    /// Runs `f` over the network to change it, then forgets every cached answer.
    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut Network) -> R) -> R {
        let mut net = self.network.write().unwrap_or_else(PoisonError::into_inner);
        let out = f(&mut net);
        *self.cache() = Cache::default();
        out
    }

    /// Like [`Store::write`] for a change confined to `routes`, which are the
    /// only ones forgotten; when `f` answers `Err` (which it does only before
    /// touching the network) nothing is.
    pub(crate) fn write_if_ok<T, E>(
        &self,
        routes: &[&str],
        f: impl FnOnce(&mut Network) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut net = self.network.write().unwrap_or_else(PoisonError::into_inner);
        let out = f(&mut net);
        if out.is_ok() {
            self.cache().forget(routes);
        }
        out
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The documents of `route` that pass `filter`, in `sort` order (stable, so
    /// ties keep insertion order). Call with the network from [`Store::read`].
    pub(crate) fn select(
        &self,
        net: &Network,
        route: &str,
        filter: Option<Keyed<'_, Filter>>,
        sort: Option<Keyed<'_, [SortKey]>>,
    ) -> Selection {
        let docs = net.collection(route);
        if filter.is_none() && sort.is_none() {
            return Selection::All(docs.len());
        }
        let key = (
            route.to_owned(),
            filter.as_ref().map(|f| f.key.clone()).unwrap_or_default(),
            sort.as_ref().map(|s| s.key.clone()).unwrap_or_default(),
        );
        if let Some(hit) = self.cache().queries.get(&key) {
            return Selection::Some(hit.clone());
        }
        let mut positions: Vec<u32> = match &filter {
            None => (0..docs.len() as u32).collect(),
            Some(f) => match query::single_equality(f.value)
                .and_then(|(path, value)| Some((self.equality_index(net, route, path)?, value)))
            {
                Some((index, value)) => index.get(value).cloned().unwrap_or_default(),
                None => (0..docs.len() as u32)
                    .filter(|&i| query::matches(f.value, &docs[i as usize]))
                    .collect(),
            },
        };
        if let Some(s) = &sort {
            let mut keyed: Vec<(Vec<Option<&Value>>, u32)> = positions
                .iter()
                .map(|&i| (query::sort_values(&docs[i as usize], s.value), i))
                .collect();
            keyed.sort_by(|a, b| query::compare_values(&a.0, &b.0, s.value));
            positions = keyed.into_iter().map(|(_, i)| i).collect();
        }
        let positions = Arc::new(positions);
        let mut cache = self.cache();
        if cache.queries.len() >= MAX_CACHED_QUERIES {
            cache.queries.clear();
        }
        cache.queries.insert(key, positions.clone());
        Selection::Some(positions)
    }

    /// Where the document with this `id` (or `_id`) sits in `route`.
    pub(crate) fn position_of(&self, net: &Network, route: &str, id: &str) -> Option<usize> {
        if let Some(index) = self.cache().ids.get(route) {
            return index.get(id).map(|&i| i as usize);
        }
        let mut index = HashMap::new();
        for (i, doc) in net.collection(route).iter().enumerate() {
            for key in ["id", "_id"] {
                if let Some(v) = doc.get(key).and_then(Value::as_str) {
                    index.entry(v.to_owned()).or_insert(i as u32);
                }
            }
        }
        let found = index.get(id).map(|&i| i as usize);
        self.cache().ids.insert(route.to_owned(), Arc::new(index));
        found
    }

    /// The document of `route` with this id.
    pub(crate) fn get<'n>(&self, net: &'n Network, route: &str, id: &str) -> Option<&'n Value> {
        net.collection(route).get(self.position_of(net, route, id)?)
    }

    /// The index of `path`'s string values in `route`, once lookups by that
    /// path have come often enough; `None` means scan instead.
    fn equality_index(
        &self,
        net: &Network,
        route: &str,
        path: &[String],
    ) -> Option<Arc<EqualityIndex>> {
        let key = (route.to_owned(), path.join("."));
        {
            let mut cache = self.cache();
            if let Some(index) = cache.equals.get(&key) {
                return Some(index.clone());
            }
            let scans = cache.equality_scans.entry(key.clone()).or_default();
            *scans += 1;
            if *scans <= SCANS_BEFORE_INDEX {
                return None;
            }
        }
        let mut index = EqualityIndex::new();
        for (i, doc) in net.collection(route).iter().enumerate() {
            let i = i as u32;
            for v in query::lookup(doc, path) {
                let strings: Vec<&str> = match v {
                    Value::String(s) => vec![s],
                    Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                    _ => continue,
                };
                for s in strings {
                    let slot = index.entry(s.to_owned()).or_default();
                    if slot.last() != Some(&i) {
                        slot.push(i);
                    }
                }
            }
        }
        let index = Arc::new(index);
        let mut cache = self.cache();
        if cache.equals.len() >= MAX_EQUALITY_INDEXES {
            cache.equals.clear();
        }
        cache.equals.insert(key, index.clone());
        Some(index)
    }
}
