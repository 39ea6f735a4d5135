//! The health endpoints' OpenAPI 3.1 document (feature `openapi`): the paths as this layer
//! serves them (prefix, custom paths, the component path, groups), every body's schema, each
//! status code described, and an example per state. Written once in `openapi.json` beside this
//! file — the bodies are made by several renderers, some without a Rust type to derive a
//! schema from — and kept true by `tests/openapi.rs`, which validates every answer a real
//! server gives against it. Given to applications as utoipa's `OpenApi`, so they merge it into
//! their own document in one call.

use serde_json::{Map, Value};

use super::layer::{HealthLayer, Settings};

/// The document's schemas, responses and examples, and one path item per endpoint
/// (`x-path-templates`, by endpoint name) to place at the paths the layer serves.
const TEMPLATE: &str = include_str!("openapi.json");

/// The endpoints the document describes, by name in the endpoint table.
const DESCRIBED: [&str; 12] = [
    "live",
    "ready",
    "detail",
    "startup",
    "history",
    "incidents",
    "info",
    "reliability",
    "metrics",
    "dashboard",
    "fleet",
    "openapi",
];

impl HealthLayer {
    /// The OpenAPI 3.1 document of the endpoints this layer serves, at their paths (prefix,
    /// custom paths, the component path, groups), with every body's schema, each status code
    /// described and an example per state: `GET /health/live`, readiness, `/health` (in full,
    /// components only, status only, and `application/health+json`), `/health/{component}`,
    /// groups, the startup probe, history, incidents, `/health/info`, the reliability report,
    /// `/metrics`, the dashboard, `/health/fleet` (with a fleet) and the document's own path (`/health/openapi.json` by default,
    /// [`openapi_path`](Self::openapi_path)), which answers it to clients the detail policy
    /// shows details.
    ///
    /// Merge it into the application's own document (utoipa 6):
    ///
    /// ```
    /// use tower_vitals::{HealthChecker, HealthLayer};
    /// use utoipa::openapi::{InfoBuilder, OpenApiBuilder};
    ///
    /// let layer = HealthLayer::new(HealthChecker::builder().build()?).prefix("/internal")?;
    /// let api = OpenApiBuilder::new()
    ///     .info(InfoBuilder::new().title("orders").version("2.4.1").build())
    ///     .build()
    ///     .merge_from(layer.openapi());
    /// assert!(api.paths.paths.contains_key("/internal/health/ready"));
    /// # Ok::<(), tower_vitals::ConfigError>(())
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "openapi")))]
    pub fn openapi(&self) -> utoipa::openapi::OpenApi {
        document(&self.settings)
    }
}

/// The document for `settings`, as utoipa's type.
pub(crate) fn document(settings: &Settings) -> utoipa::openapi::OpenApi {
    serde_json::from_value(document_json(settings)).expect("the document fits utoipa's types")
}

/// The document for `settings`, as JSON.
pub(crate) fn document_json(settings: &Settings) -> Value {
    let mut document: Value = serde_json::from_str(TEMPLATE).expect("the template is JSON");
    let root = document.as_object_mut().expect("the template is an object");
    let Some(Value::Object(templates)) = root.remove("x-path-templates") else {
        unreachable!("the template has x-path-templates");
    };
    let mut paths = Map::new();
    for name in DESCRIBED {
        if let Some(path) = settings.paths.path_of(name) {
            paths.insert(path.to_owned(), templates[name].clone());
        }
    }
    if let Some(detail) = settings.paths.path_of("detail").filter(|path| *path != "/") {
        paths.insert(
            format!("{detail}/{{component}}"),
            templates["component"].clone(),
        );
    }
    for (group, path) in &settings.groups {
        let mut item = templates["group"].clone();
        let get = &mut item["get"];
        get["summary"] = format!("The health group `{}`", group.name).into();
        get["operationId"] = format!("health_group_{}", operation_id(&group.name)).into();
        paths.insert(path.clone(), item);
    }
    root.insert("paths".to_owned(), Value::Object(paths));
    document
}

/// `name` as an operation id's tail: letters, digits and `_`.
fn operation_id(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::HealthChecker;

    #[test]
    fn utoipa_keeps_every_part_of_the_document() {
        let layer = HealthLayer::new(HealthChecker::builder().build().unwrap());
        let json = document_json(&layer.settings);
        let through_utoipa = serde_json::to_value(document(&layer.settings)).unwrap();
        let mut differences = Vec::new();
        differ("", &json, &through_utoipa, &mut differences);
        assert!(differences.is_empty(), "{differences:#?}");
    }

    /// Where `a` and `b` differ, by JSON pointer.
    fn differ(at: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                    let (x, y) = (a.get(key), b.get(key));
                    match (x, y) {
                        (Some(x), Some(y)) => differ(&format!("{at}/{key}"), x, y, out),
                        _ => out.push(format!("{at}/{key}: {x:?} / {y:?}")),
                    }
                }
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    differ(&format!("{at}/{i}"), x, y, out);
                }
            }
            (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => {}
            _ if a == b => {}
            _ => out.push(format!("{at}: {a} / {b}")),
        }
    }

    #[test]
    fn paths_follow_the_layer() {
        let layer = HealthLayer::new(HealthChecker::builder().build().unwrap())
            .prefix("/internal")
            .unwrap()
            .ready_path("/readyz")
            .unwrap();
        let json = document_json(&layer.settings);
        let paths: Vec<&String> = json["paths"].as_object().unwrap().keys().collect();
        for path in [
            "/internal/health/live",
            "/internal/readyz",
            "/internal/health",
            "/internal/health/{component}",
            "/internal/health/openapi.json",
        ] {
            assert!(paths.iter().any(|p| *p == path), "{path} in {paths:?}");
        }
        assert!(
            !paths.iter().any(|p| p.contains("startup")),
            "off by default"
        );
    }
}
