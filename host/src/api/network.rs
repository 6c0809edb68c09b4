//! The synchronised network: projects, boxes, splitters and their ports,
//! and the free ports near a customer.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ApiError, OrStatus, Params, PathParam, Shared, blocking};
use crate::component::bindings::types::ElementKind;
use crate::store::Db;
use crate::store::elements::{self, Select, ShownBox};
use crate::store::integrations::{self, Integration};
use crate::store::network::{self, distance_m};
use crate::store::projects;

pub const DEFAULT_RADIUS_M: f64 = 500.0;
pub const MAX_RADIUS_M: f64 = 5000.0;

pub async fn projects(State(state): State<Shared>) -> Result<Response, ApiError> {
    blocking(&state, |_, conn| {
        Ok(axum::Json(projects::list(conn)?).into_response())
    })
    .await
}

/// The integrations a query looks at: the one named, or every one that
/// feeds a project (those whose elements are kept up to date).
fn scope(conn: &Db, name: Option<&str>) -> Result<Vec<Integration>, ApiError> {
    if let Some(name) = name {
        return Ok(vec![
            integrations::get(conn, name).or_status(StatusCode::NOT_FOUND)?,
        ]);
    }
    Ok(integrations::list(conn)?
        .into_iter()
        .filter(Integration::feeds_a_project)
        .collect())
}

fn with_integration(mut element: Value, integration: &Integration) -> Value {
    element["integration"] = json!(integration.name);
    element
}

/// `minLng,minLat,maxLng,maxLat`, as map libraries give a view's bounds.
/// A west edge east of the east one crosses the antimeridian, as in
/// GeoJSON (RFC 7946, 5.2); the latitudes may come in either order. Every
/// four numbers in range then name a box, as the OpenAPI document (which
/// cannot compare two items) says they do.
struct Bbox {
    min_lng: f64,
    min_lat: f64,
    max_lng: f64,
    max_lat: f64,
}

impl Bbox {
    fn parse(text: &str) -> Result<Bbox, ApiError> {
        let refused = |why: &str| {
            ApiError::bad_request(format!(
                "bbox {text:?} {why}: give minLng,minLat,maxLng,maxLat in degrees, e.g. -48.56,-27.60,-48.54,-27.58"
            ))
        };
        let numbers: Vec<f64> = text
            .split(',')
            .map(|n| n.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| refused("holds something that is not a number"))?;
        let [min_lng, min_lat, max_lng, max_lat] = numbers[..] else {
            return Err(refused("does not have four numbers"));
        };
        let lng_ok = |v: f64| v.is_finite() && (-180.0..=180.0).contains(&v);
        let lat_ok = |v: f64| v.is_finite() && (-90.0..=90.0).contains(&v);
        if !(lng_ok(min_lng) && lng_ok(max_lng) && lat_ok(min_lat) && lat_ok(max_lat)) {
            return Err(refused(
                "is out of range (longitude -180 to 180, latitude -90 to 90)",
            ));
        }
        Ok(Bbox {
            min_lng,
            min_lat: min_lat.min(max_lat),
            max_lng,
            max_lat: min_lat.max(max_lat),
        })
    }

    fn holds(&self, element: &Value) -> bool {
        match (element["lng"].as_f64(), element["lat"].as_f64()) {
            (Some(lng), Some(lat)) => {
                let lng_in = if self.min_lng <= self.max_lng {
                    (self.min_lng..=self.max_lng).contains(&lng)
                } else {
                    lng >= self.min_lng || lng <= self.max_lng
                };
                lng_in && (self.min_lat..=self.max_lat).contains(&lat)
            }
            _ => false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoxQuery {
    /// The platform's project id.
    project: Option<String>,
    bbox: Option<String>,
    /// A part of the name, in any case.
    name: Option<String>,
    integration: Option<String>,
}

pub async fn boxes(
    State(state): State<Shared>,
    Params(query): Params<BoxQuery>,
) -> Result<Response, ApiError> {
    let bbox = query.bbox.as_deref().map(Bbox::parse).transpose()?;
    let name = query.name.as_deref().map(str::to_lowercase);
    blocking(&state, move |_, conn| {
        let mut found = Vec::new();
        for integration in scope(conn, query.integration.as_deref())? {
            for element in elements::list(conn, &integration.id, ElementKind::Box)? {
                let keep = query
                    .project
                    .as_deref()
                    .is_none_or(|p| element["project"] == p)
                    && bbox.as_ref().is_none_or(|b| b.holds(&element))
                    && name.as_deref().is_none_or(|n| {
                        element["name"]
                            .as_str()
                            .is_some_and(|s| s.to_lowercase().contains(n))
                    });
                if keep {
                    found.push(with_integration(element, &integration));
                }
            }
        }
        Ok(axum::Json(found).into_response())
    })
    .await
}

/// The integrations holding a current element of `kind` with this id,
/// those that feed a project first.
fn holders(conn: &Db, kind: ElementKind, id: &str) -> Result<Vec<Integration>, ApiError> {
    Ok(elements::holders(conn, kind, id)?
        .iter()
        .map(|n| integrations::get(conn, n))
        .collect::<anyhow::Result<_>>()?)
}

/// Each locally bound port of the integration: its service and state.
fn bound_ports(
    conn: &Db,
    integration: &Integration,
) -> Result<HashMap<(String, u64), Value>, ApiError> {
    Ok(crate::store::bindings::bound_ports(conn, &integration.id)?
        .into_iter()
        .map(|b| {
            (
                (b.splitter, b.port),
                json!({ "service": b.service, "state": b.state, "reason": b.reason }),
            )
        })
        .collect())
}

/// A splitter's ports with the local binding of each (null when none): the
/// platform's state says who is connected there, the binding who mapsync
/// is about to put there.
fn with_bindings(mut splitter: Value, bound: &HashMap<(String, u64), Value>) -> Value {
    let id = splitter["id"].as_str().unwrap_or_default().to_string();
    if let Some(ports) = splitter["ports"].as_array_mut() {
        for port in ports {
            let number = port["port"].as_u64().unwrap_or(0);
            port["binding"] = bound
                .get(&(id.clone(), number))
                .cloned()
                .unwrap_or(Value::Null);
        }
    }
    splitter
}

pub async fn one_box(
    State(state): State<Shared>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    blocking(&state, move |_, conn| {
        let not_found = || {
            ApiError::not_found(format!(
                "no synchronised box has id {}",
                crate::text::echo(&id)
            ))
        };
        let Some(integration) = holders(conn, ElementKind::Box, &id)?.into_iter().next() else {
            return Err(not_found());
        };
        let wanted = [id.clone()];
        let found = elements::select(
            conn,
            &integration.id,
            ElementKind::Box,
            Select::Ids(&wanted),
        )?
        .into_iter()
        .next()
        .ok_or_else(not_found)?;
        let bound = bound_ports(conn, &integration)?;
        let splitters: Vec<Value> = elements::select(
            conn,
            &integration.id,
            ElementKind::Splitter,
            Select::InBoxes(&wanted),
        )?
        .into_iter()
        .map(|s| with_bindings(s, &bound))
        .collect();
        let mut answer = with_integration(found, &integration);
        answer["splitters"] = json!(splitters);
        Ok(axum::Json(answer).into_response())
    })
    .await
}

pub async fn splitter_ports(
    State(state): State<Shared>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    blocking(&state, move |_, conn| {
        let not_found = || {
            ApiError::not_found(format!(
                "no synchronised splitter has id {}",
                crate::text::echo(&id)
            ))
        };
        let Some(integration) = holders(conn, ElementKind::Splitter, &id)?
            .into_iter()
            .next()
        else {
            return Err(not_found());
        };
        let splitter = elements::select(
            conn,
            &integration.id,
            ElementKind::Splitter,
            Select::Ids(std::slice::from_ref(&id)),
        )?
        .into_iter()
        .next()
        .ok_or_else(not_found)?;
        let splitter = with_bindings(splitter, &bound_ports(conn, &integration)?);
        Ok(axum::Json(splitter["ports"].clone()).into_response())
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreeQuery {
    lat: f64,
    lng: f64,
    /// Metres.
    radius: Option<f64>,
    integration: Option<String>,
}

/// A box of `/ports/free`: the box as shown (`GET /boxes`), its
/// integration, its distance and its free ports. Its keys are those the
/// answer always had, in `serde_json`'s order (sorted), written straight
/// from here rather than through a `Value` per box and port.
#[derive(Serialize)]
struct Near {
    box_type: Value,
    distance_m: f64,
    free_ports: Vec<FreeShown>,
    hierarchy_level: Value,
    id: Value,
    implanted: Value,
    integration: String,
    invalid: Option<String>,
    kind: &'static str,
    lat: Value,
    lng: Value,
    name: Value,
    pole: Value,
    project: Value,
}

#[derive(Serialize)]
struct FreeShown {
    port: u64,
    splitter: String,
}

pub async fn free_ports(
    State(state): State<Shared>,
    Params(query): Params<FreeQuery>,
) -> Result<Response, ApiError> {
    if !(query.lat.is_finite() && (-90.0..=90.0).contains(&query.lat)) {
        return Err(ApiError::bad_request(format!(
            "lat {} is out of range: give -90 to 90",
            query.lat
        )));
    }
    if !(query.lng.is_finite() && (-180.0..=180.0).contains(&query.lng)) {
        return Err(ApiError::bad_request(format!(
            "lng {} is out of range: give -180 to 180",
            query.lng
        )));
    }
    let radius = query.radius.unwrap_or(DEFAULT_RADIUS_M);
    if !(radius.is_finite() && radius > 0.0 && radius <= MAX_RADIUS_M) {
        return Err(ApiError::bad_request(format!(
            "radius {radius} is out of range: give more than 0 and at most {MAX_RADIUS_M} metres (default {DEFAULT_RADIUS_M})"
        )));
    }
    blocking(&state, move |_, conn| {
        let area = network::Area::around(query.lat, query.lng, radius);
        let mut near = Vec::new();
        for integration in scope(conn, query.integration.as_deref())? {
            // Boxes in the radius's bounding box, by the spatial index, with
            // the ports they offer (free on the platform, not bound here);
            // then those within the radius that offer one, in id order, as
            // ties keep it.
            let mut free: HashMap<String, Vec<FreeShown>> = HashMap::new();
            let mut boxes: Vec<(f64, String)> = Vec::new();
            for b in network::boxes_in(conn, &integration.id, &area)? {
                let d = distance_m(query.lat, query.lng, b.lat, b.lng);
                if d > radius || b.free.is_empty() {
                    continue;
                }
                let ports = b
                    .free
                    .into_iter()
                    .map(|(splitter, port)| FreeShown { port, splitter });
                free.insert(b.id.clone(), ports.collect());
                boxes.push((d, b.id));
            }
            if boxes.is_empty() {
                continue;
            }
            let offering: Vec<String> = boxes.iter().map(|(_, id)| id.clone()).collect();
            let mut shown: HashMap<String, ShownBox> =
                elements::shown_boxes(conn, &integration.id, &offering)?
                    .into_iter()
                    .collect();
            for (distance, id) in boxes {
                let (Some(b), Some(free_ports)) = (shown.remove(&id), free.remove(&id)) else {
                    continue;
                };
                let near_box = Near {
                    box_type: b.box_type,
                    distance_m: (distance * 10.0).round() / 10.0,
                    free_ports,
                    hierarchy_level: b.hierarchy_level,
                    id: b.id,
                    implanted: b.implanted,
                    integration: integration.name.clone(),
                    invalid: b.invalid,
                    kind: b.kind,
                    lat: b.lat,
                    lng: b.lng,
                    name: b.name,
                    pole: b.pole,
                    project: b.project,
                };
                near.push((distance, near_box));
            }
        }
        near.sort_by(|a, b| a.0.total_cmp(&b.0));
        let near: Vec<Near> = near.into_iter().map(|(_, b)| b).collect();
        Ok(axum::Json(near).into_response())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Near` reads as the text the answer had when each box was a `Value`.
    #[test]
    fn a_near_box_reads_as_before() {
        let near = Near {
            box_type: json!("CTO"),
            distance_m: 12.3,
            free_ports: vec![
                FreeShown {
                    port: 2,
                    splitter: "s1".into(),
                },
                FreeShown {
                    port: 5,
                    splitter: "s1".into(),
                },
            ],
            hierarchy_level: json!(3),
            id: json!("b1"),
            implanted: json!(true),
            integration: "isp".into(),
            invalid: None,
            kind: "box",
            lat: json!(-27.59),
            lng: json!(-48.54),
            name: json!("CTO 1"),
            pole: Value::Null,
            project: json!("pr"),
        };
        let mut before = json!({
            "id": "b1", "kind": "box", "name": "CTO 1", "project": "pr", "pole": null,
            "lat": -27.59, "lng": -48.54, "hierarchy_level": 3, "implanted": true,
            "box_type": "CTO", "invalid": null,
        });
        before["integration"] = json!("isp");
        before["distance_m"] = json!(12.3);
        before["free_ports"] =
            json!([{ "splitter": "s1", "port": 2 }, { "splitter": "s1", "port": 5 }]);
        assert_eq!(
            serde_json::to_string(&near).unwrap(),
            serde_json::to_string(&before).unwrap()
        );
    }

    #[test]
    fn haversine_distances() {
        assert_eq!(distance_m(-27.59, -48.54, -27.59, -48.54), 0.0);
        // One thousandth of a degree of latitude is about 111 m.
        let d = distance_m(-27.590, -48.54, -27.591, -48.54);
        assert!((d - 111.2).abs() < 0.5, "{d}");
        // A degree of longitude on the equator: 2πR/360.
        let d = distance_m(0.0, 0.0, 0.0, 1.0);
        assert!((d - 111_195.1).abs() < 0.5, "{d}");
    }

    #[test]
    fn bbox_parsing() {
        let b = Bbox::parse("-48.56,-27.60,-48.54,-27.58").unwrap();
        assert!(b.holds(&json!({ "lng": -48.55, "lat": -27.59 })));
        assert!(!b.holds(&json!({ "lng": -48.50, "lat": -27.59 })));
        assert!(!b.holds(&json!({ "lng": null, "lat": -27.59 })));
        for bad in [
            "",
            "1,2,3",
            "a,b,c,d",
            "0,0,0,100",
            "1,2,3,4,5",
            "inf,0,1,1",
        ] {
            assert!(Bbox::parse(bad).is_err(), "{bad}");
        }
        // Across the antimeridian: from 170 east to 170 west.
        let b = Bbox::parse("170,-10,-170,10").unwrap();
        assert!(b.holds(&json!({ "lng": 175.0, "lat": 0.0 })));
        assert!(b.holds(&json!({ "lng": -175.0, "lat": 0.0 })));
        assert!(!b.holds(&json!({ "lng": 0.0, "lat": 0.0 })));
        // Latitudes in either order name the same box.
        let b = Bbox::parse("-48.56,-27.58,-48.54,-27.60").unwrap();
        assert!(b.holds(&json!({ "lng": -48.55, "lat": -27.59 })));
    }
}
