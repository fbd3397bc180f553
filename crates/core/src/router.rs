//! Which route a request selects.
//!
//! The route table is data ([`ROUTES`]): a pattern and the methods it
//! serves. Matching a path that exists with the wrong method gives 405 with
//! the methods that would work (`Allow`), a path that does not exist gives 404.
//! `HEAD` is accepted wherever `GET` is.
//!
//! Each route also declares who may call it ([`Auth`]): the pipeline
//! authenticates once, before the handler runs, and hands it the
//! [`crate::auth::Principal`]; no handler authenticates by itself. Which scope
//! an operation needs is decided where the operation is parsed (a REST read
//! needs the table store's read scope, a signed URL for PUT needs
//! `objects:write`, ...), from that principal.

use crate::error::ApiError;
use crate::sql::Store;

/// Every route the Worker serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteId {
    /// `GET /v1/health`: liveness, no auth.
    Health,
    /// `GET /v1/status`: each store checked for real.
    Status,
    /// `GET /v1/openapi.json`: the API's OpenAPI document, no auth.
    OpenApi,
    /// `POST /v1/{d1,pg}/query`: one SQL statement.
    SqlQuery(Store),
    /// `POST /v1/{d1,pg}/batch`: SQL statements run atomically.
    SqlBatch(Store),
    /// `/v1/rest/{table}`: PostgREST-style CRUD on the table's store.
    Rest,
    /// `/v1/rest/rpc/{function}`: a Postgres function.
    RestRpc,
    /// `GET /v1/objects`: one page of the bucket's keys.
    ObjectList,
    /// `/v1/objects/{*key}`: one object (GET, HEAD, PUT, DELETE) and its
    /// multipart uploads (POST and S3-like query parameters).
    Object,
    /// `POST /v1/signed-urls`: a URL for one method on one key.
    SignedUrls,
    /// `/v1/signed/objects/{*key}`: an object through a signed URL.
    SignedObject,
    /// `/s3`, `/s3/{bucket}`, `/s3/{bucket}/{*key}`: the S3-compatible API
    /// (`crate::s3`); the SigV4 signature is the credential.
    S3,
    /// `GET /v1/admin/placement`: every REST table's store and state.
    AdminPlacement,
    /// `PUT /v1/admin/placement/{table}`: change a table's store or state;
    /// `DELETE`: drop its redundant run-time row.
    AdminPlacementTable,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone: no credential is read.
    Public,
    /// A valid API key or JWT (`401` without one); the operation decides
    /// the scope it needs from the principal.
    Credential,
    /// The URL itself is the credential (a signed URL, checked by the route;
    /// for `/s3`, the request's AWS SigV4 signature).
    SignedUrl,
}

/// One row of the route table.
#[derive(Debug)]
pub struct RouteDef {
    /// The route.
    pub id: RouteId,
    /// Who may call it.
    pub auth: Auth,
    /// Path pattern: literal segments, `{name}` for one segment, `{*name}` for the rest.
    pub pattern: &'static str,
    /// Methods served (`HEAD` is implied by `GET`).
    pub methods: &'static [&'static str],
}

/// The methods of the S3 routes (the operation is chosen by the method and
/// the query, as S3 does).
const S3_METHODS: &[&str] = &["GET", "PUT", "POST", "DELETE"];

/// The route table, also used to check the API documentation covers every route.
pub const ROUTES: &[RouteDef] = &[
    RouteDef {
        id: RouteId::Health,
        auth: Auth::Public,
        pattern: "/v1/health",
        methods: &["GET"],
    },
    RouteDef {
        id: RouteId::Status,
        auth: Auth::Credential,
        pattern: "/v1/status",
        methods: &["GET"],
    },
    RouteDef {
        id: RouteId::OpenApi,
        auth: Auth::Public,
        pattern: "/v1/openapi.json",
        methods: &["GET"],
    },
    RouteDef {
        id: RouteId::SqlQuery(Store::D1),
        auth: Auth::Credential,
        pattern: "/v1/d1/query",
        methods: &["POST"],
    },
    RouteDef {
        id: RouteId::SqlBatch(Store::D1),
        auth: Auth::Credential,
        pattern: "/v1/d1/batch",
        methods: &["POST"],
    },
    RouteDef {
        id: RouteId::SqlQuery(Store::Pg),
        auth: Auth::Credential,
        pattern: "/v1/pg/query",
        methods: &["POST"],
    },
    RouteDef {
        id: RouteId::SqlBatch(Store::Pg),
        auth: Auth::Credential,
        pattern: "/v1/pg/batch",
        methods: &["POST"],
    },
    RouteDef {
        id: RouteId::Rest,
        auth: Auth::Credential,
        pattern: "/v1/rest/{table}",
        methods: &["GET", "POST", "PATCH", "DELETE"],
    },
    RouteDef {
        id: RouteId::RestRpc,
        auth: Auth::Credential,
        pattern: "/v1/rest/rpc/{function}",
        methods: &["GET", "POST"],
    },
    RouteDef {
        id: RouteId::ObjectList,
        auth: Auth::Credential,
        pattern: "/v1/objects",
        methods: &["GET"],
    },
    // The bare prefix is an object route too, so an empty key is a clear
    // 400 rather than a 404.
    RouteDef {
        id: RouteId::Object,
        auth: Auth::Credential,
        pattern: "/v1/objects/",
        methods: &["GET", "PUT", "DELETE", "POST"],
    },
    RouteDef {
        id: RouteId::Object,
        auth: Auth::Credential,
        pattern: "/v1/objects/{*key}",
        methods: &["GET", "PUT", "DELETE", "POST"],
    },
    RouteDef {
        id: RouteId::SignedUrls,
        auth: Auth::Credential,
        pattern: "/v1/signed-urls",
        methods: &["POST"],
    },
    RouteDef {
        id: RouteId::SignedObject,
        auth: Auth::SignedUrl,
        pattern: "/v1/signed/objects/{*key}",
        methods: &["GET", "PUT", "OPTIONS"],
    },
    RouteDef {
        id: RouteId::AdminPlacement,
        auth: Auth::Credential,
        pattern: "/v1/admin/placement",
        methods: &["GET"],
    },
    RouteDef {
        id: RouteId::AdminPlacementTable,
        auth: Auth::Credential,
        pattern: "/v1/admin/placement/{table}",
        methods: &["PUT", "DELETE"],
    },
    // The S3-compatible API: the service (ListBuckets), the bucket, its
    // objects. The route checks the SigV4 signature itself.
    RouteDef {
        id: RouteId::S3,
        auth: Auth::SignedUrl,
        pattern: "/s3",
        methods: S3_METHODS,
    },
    RouteDef {
        id: RouteId::S3,
        auth: Auth::SignedUrl,
        pattern: "/s3/",
        methods: S3_METHODS,
    },
    RouteDef {
        id: RouteId::S3,
        auth: Auth::SignedUrl,
        pattern: "/s3/{bucket}",
        methods: S3_METHODS,
    },
    RouteDef {
        id: RouteId::S3,
        auth: Auth::SignedUrl,
        pattern: "/s3/{bucket}/",
        methods: S3_METHODS,
    },
    RouteDef {
        id: RouteId::S3,
        auth: Auth::SignedUrl,
        pattern: "/s3/{bucket}/{*key}",
        methods: S3_METHODS,
    },
];

/// A matched route with its path parameters (raw, still percent-encoded:
/// each route decodes exactly once, with its own rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// Which route.
    pub id: RouteId,
    /// Who may call it.
    pub auth: Auth,
    /// The route's pattern, used as the route name in logs.
    pub pattern: &'static str,
    /// `(name, raw value)` for each `{name}` / `{*name}` in the pattern.
    pub params: Vec<(&'static str, String)>,
}

impl Matched {
    /// The raw value of a path parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Finds the route for `method` and `path` (path without query string).
pub fn route(method: &str, path: &str) -> Result<Matched, ApiError> {
    route_in(ROUTES, method, path)
}

fn route_in(table: &[RouteDef], method: &str, path: &str) -> Result<Matched, ApiError> {
    let mut allowed: Vec<&str> = Vec::new();
    for def in table {
        let Some(params) = match_pattern(def.pattern, path) else {
            continue;
        };
        let serves =
            |m: &str| def.methods.contains(&m) || (m == "HEAD" && def.methods.contains(&"GET"));
        if serves(method) {
            return Ok(Matched {
                id: def.id,
                auth: def.auth,
                pattern: def.pattern,
                params,
            });
        }
        for m in def.methods {
            if !allowed.contains(m) {
                allowed.push(m);
            }
            if *m == "GET" && !allowed.contains(&"HEAD") {
                allowed.push("HEAD");
            }
        }
    }
    if allowed.is_empty() {
        Err(ApiError::not_found())
    } else {
        Err(ApiError::method_not_allowed(&allowed))
    }
}

fn match_pattern(pattern: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let mut params = Vec::new();
    let mut rest = path.strip_prefix('/')?;
    let mut segments = pattern.trim_start_matches('/').split('/').peekable();
    while let Some(seg) = segments.next() {
        if let Some(name) = seg.strip_prefix("{*").and_then(|s| s.strip_suffix('}')) {
            // A tail parameter takes everything left, slashes included.
            if rest.is_empty() {
                return None;
            }
            params.push((name, rest.to_string()));
            return segments.peek().is_none().then_some(params);
        }
        let (head, tail) = match rest.split_once('/') {
            Some((h, t)) => (h, Some(t)),
            None => (rest, None),
        };
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if head.is_empty() {
                return None;
            }
            params.push((name, head.to_string()));
        } else if seg != head {
            return None;
        }
        match (tail, segments.peek().is_some()) {
            (Some(t), true) => rest = t,
            (None, false) => return Some(params),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_static_routes_and_head() {
        assert_eq!(route("GET", "/v1/health").unwrap().id, RouteId::Health);
        assert_eq!(route("HEAD", "/v1/status").unwrap().id, RouteId::Status);
    }

    #[test]
    fn unknown_path_is_404_and_wrong_method_405_with_allow() {
        assert_eq!(route("GET", "/v1/nope").unwrap_err().status(), 404);
        assert_eq!(route("GET", "/v1/health/").unwrap_err().status(), 404);
        assert_eq!(route("GET", "").unwrap_err().status(), 404);
        let e = route("POST", "/v1/health").unwrap_err();
        assert_eq!(e.status(), 405);
        assert_eq!(e.headers, vec![("Allow", "GET, HEAD".to_string())]);
    }

    const TABLE: &[RouteDef] = &[
        RouteDef {
            id: RouteId::Health,
            auth: Auth::Public,
            pattern: "/v1/items/{id}",
            methods: &["GET", "DELETE"],
        },
        RouteDef {
            id: RouteId::Status,
            auth: Auth::Credential,
            pattern: "/v1/files/{*key}",
            methods: &["PUT"],
        },
    ];

    #[test]
    fn every_route_declares_who_may_call_it() {
        for def in ROUTES {
            let expected = match def.id {
                RouteId::Health | RouteId::OpenApi => Auth::Public,
                RouteId::SignedObject | RouteId::S3 => Auth::SignedUrl,
                _ => Auth::Credential,
            };
            assert_eq!(def.auth, expected, "{}", def.pattern);
        }
        assert_eq!(route("GET", "/v1/rest/t").unwrap().auth, Auth::Credential);
    }

    #[test]
    fn captures_segments_and_tails() {
        let m = route_in(TABLE, "DELETE", "/v1/items/42").unwrap();
        assert_eq!(m.param("id"), Some("42"));
        let m = route_in(TABLE, "PUT", "/v1/files/a/b/../c%20d").unwrap();
        assert_eq!(m.param("key"), Some("a/b/../c%20d"));
        assert_eq!(
            route_in(TABLE, "GET", "/v1/items/").unwrap_err().status(),
            404
        );
        assert_eq!(
            route_in(TABLE, "PUT", "/v1/files/").unwrap_err().status(),
            404
        );
        assert_eq!(
            route_in(TABLE, "GET", "/v1/items/1/2")
                .unwrap_err()
                .status(),
            404
        );
        let e = route_in(TABLE, "PUT", "/v1/items/1").unwrap_err();
        assert_eq!(e.headers, vec![("Allow", "GET, HEAD, DELETE".to_string())]);
    }
}
