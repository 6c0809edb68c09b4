//! The served network behind a lock, with the caches that keep paging through a
//! million documents cheap: the matching positions of each (route, filter, sort)
//! and id/equality indexes, all dropped whenever the network changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use serde_json::Value;

use crate::collection::IdIndex;
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

/// A route's ObjectIds as numbers, ascending, each with its position.
type ObjectIds = Arc<Vec<(u128, u32)>>;

/// Positions of the documents holding each string value of one path.
type EqualityIndex = HashMap<String, Vec<u32>>;

#[derive(Default)]
struct Cache {
    /// (route, filter, sort) to the matching positions.
    queries: HashMap<(String, String, String), Arc<Vec<u32>>>,
    ids: HashMap<String, Arc<IdIndex>>,
    /// Route to its ObjectIds, ascending, with their positions; `None`
    /// when not every document has one.
    object_ids: HashMap<String, Option<ObjectIds>>,
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
        self.object_ids.retain(|route, _| !gone(route));
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
    pub(crate) fn new(mut network: Network) -> Self {
        network.compact();
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
        // Stale once `f` ran: dropped first, so it has their memory.
        *self.cache() = Cache::default();
        let out = f(&mut net);
        net.compact();
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
        net.compact();
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
        // A walk of the ids, what every re-sync asks: sorted by the ids kept
        // beside the documents, as a real server answers from its index.
        if filter.is_none()
            && sort
                .as_ref()
                .is_some_and(|s| query::by_id_ascending(s.value))
            && let Some(positions) = docs.positions_by_id()
        {
            return self.keep(key, positions);
        }
        // A range of ids sorted by id, either way (how a client reads a
        // large kind by ranges): cut from the ids in order, as a real
        // server answers from its index.
        if let Some(descending) = sort.as_ref().and_then(|s| query::by_id_only(s.value))
            && let Some(range) = filter
                .as_ref()
                .and_then(|f| query::object_id_range(f.value))
            && let Some(ids) = self.object_ids(net, route)
        {
            let start = ids.partition_point(|(n, _)| n < range.start());
            let end = ids.partition_point(|(n, _)| n <= range.end());
            let mut positions: Vec<u32> = ids[start..end.max(start)]
                .iter()
                .map(|(_, at)| *at)
                .collect();
            if descending {
                positions.reverse();
            }
            return self.keep(key, positions);
        }
        // Only the fields the filter and the sort read are parsed.
        let mut wanted = filter
            .as_ref()
            .map(|f| query::filter_fields(f.value))
            .unwrap_or_default();
        for k in sort
            .as_ref()
            .map(|s| query::sort_fields(s.value))
            .unwrap_or_default()
        {
            if !wanted.contains(&k) {
                wanted.push(k);
            }
        }
        let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
        // Elements asked for by id (a re-sync reads those its walk found
        // missing): looked up by the index of ids, each still checked by
        // the filter below, and not cached (each list is asked once).
        let by_id = filter
            .as_ref()
            .and_then(|f| query::ids_in(f.value))
            .map(|ids| {
                let mut at: Vec<u32> = ids
                    .into_iter()
                    .filter_map(|id| self.position_of(net, route, id))
                    .map(|at| at as u32)
                    .collect();
                at.sort_unstable();
                at.dedup();
                at
            });
        let asked_by_id = by_id.is_some();
        let indexed = by_id.or_else(|| {
            let (path, value) = query::single_equality(filter.as_ref()?.value)?;
            let index = self.equality_index(net, route, path)?;
            Some(index.get(value).cloned().unwrap_or_default())
        });
        let candidates: Box<dyn Iterator<Item = u32>> = match indexed {
            Some(found) => Box::new(found.into_iter()),
            None => Box::new(0..docs.len() as u32),
        };
        // What changed since an instant: tested on the instants kept
        // beside the documents, as a real server answers from its index.
        let bound = filter.as_ref().and_then(|f| query::updated_bound(f.value));
        let mut positions: Vec<u32> = Vec::new();
        let mut keyed: Vec<(Vec<Option<Value>>, u32)> = Vec::new();
        for i in candidates {
            let tested = bound.and_then(|bound| {
                let kept = docs.kept_updated(i as usize)?;
                Some(query::within_bound(kept, bound))
            });
            if tested == Some(false) {
                continue;
            }
            // Read only when the filter or the sort still needs the fields.
            let doc =
                (sort.is_some() || tested.is_none()).then(|| docs.fields(i as usize, &wanted));
            if let (None, Some(f), Some(doc)) = (tested, &filter, &doc)
                && !query::matches(f.value, doc)
            {
                continue;
            }
            match (&sort, &doc) {
                (Some(s), Some(doc)) => keyed.push((query::sort_values(doc, s.value), i)),
                _ => positions.push(i),
            }
        }
        if let Some(s) = &sort {
            keyed.sort_by(|a, b| query::compare_values(&a.0, &b.0, s.value));
            positions = keyed.into_iter().map(|(_, i)| i).collect();
        }
        if asked_by_id {
            return Selection::Some(Arc::new(positions));
        }
        self.keep(key, positions)
    }

    /// Caches a query's selection.
    fn keep(&self, key: (String, String, String), positions: Vec<u32>) -> Selection {
        let positions = Arc::new(positions);
        let mut cache = self.cache();
        if cache.queries.len() >= MAX_CACHED_QUERIES {
            cache.queries.clear();
        }
        cache.queries.insert(key, positions.clone());
        Selection::Some(positions)
    }

    /// `route`'s ObjectIds, ascending, with their positions (see `Cache`).
    fn object_ids(&self, net: &Network, route: &str) -> Option<ObjectIds> {
        if let Some(ids) = self.cache().object_ids.get(route) {
            return ids.clone();
        }
        let ids = net.collection(route).object_ids_sorted().map(Arc::new);
        self.cache()
            .object_ids
            .insert(route.to_owned(), ids.clone());
        ids
    }

    /// Where the document with this `id` (or `_id`) sits in `route`.
    pub(crate) fn position_of(&self, net: &Network, route: &str, id: &str) -> Option<usize> {
        if let Some(index) = self.cache().ids.get(route) {
            return index.get(id);
        }
        let index = net.collection(route).id_index();
        let found = index.get(id);
        self.cache().ids.insert(route.to_owned(), Arc::new(index));
        found
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
        let fields = query::path_fields(path);
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        let docs = net.collection(route);
        for i in 0..docs.len() {
            let doc = docs.fields(i, &fields);
            let i = i as u32;
            for v in query::lookup(&doc, path) {
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
