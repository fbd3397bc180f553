//! Request bodies: one query, or a batch of queries run in one transaction.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One statement with its parameters: `{"query": "...", "params": [...], "arrayMode": bool}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRequest {
    /// Exactly one SQL statement, with `$1`, `$2`, ... placeholders.
    pub query: String,
    /// One JSON value per placeholder, encoded with [`crate::neon::json_to_pg_text`]. A missing
    /// or `null` field means no parameters.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub params: Vec<Value>,
    /// Overrides the `Neon-Array-Mode` header for this query's rows.
    #[serde(rename = "arrayMode", default, skip_serializing_if = "Option::is_none")]
    pub array_mode: Option<bool>,
}

impl QueryRequest {
    /// A query with parameters and no row-shape override.
    pub fn new(query: impl Into<String>, params: Vec<Value>) -> QueryRequest {
        QueryRequest {
            query: query.into(),
            params,
            array_mode: None,
        }
    }
}

/// Several queries run in order in ONE transaction: `{"queries": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRequest {
    /// The statements, in execution order. An empty list is valid (and returns no results).
    pub queries: Vec<QueryRequest>,
}

/// A request body of either shape.
///
/// Deserialisation looks at the keys rather than trying the shapes in turn, so a malformed body
/// gets a precise message (`missing field query`, `invalid type ...`) instead of serde's
/// "did not match any variant". A body with a `query` key is a single query, as in the proxy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, try_from = "RawBody")]
pub enum RequestBody {
    /// `{"query": ...}`.
    Single(QueryRequest),
    /// `{"queries": [...]}`.
    Batch(BatchRequest),
}

impl RequestBody {
    /// Parses a request body. The `Content-Type` header is deliberately not consulted: the
    /// proxy always reads the body as JSON.
    pub fn from_slice(body: &[u8]) -> Result<RequestBody, serde_json::Error> {
        serde_json::from_slice(body)
    }
}

/// Every key either shape may carry; decides the shape in `TryFrom`.
#[derive(Deserialize)]
struct RawBody {
    query: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    params: Vec<Value>,
    #[serde(rename = "arrayMode", default)]
    array_mode: Option<bool>,
    queries: Option<Vec<QueryRequest>>,
}

impl TryFrom<RawBody> for RequestBody {
    type Error = String;

    fn try_from(raw: RawBody) -> Result<RequestBody, String> {
        match (raw.query, raw.queries) {
            (Some(query), _) => Ok(RequestBody::Single(QueryRequest {
                query,
                params: raw.params,
                array_mode: raw.array_mode,
            })),
            (None, Some(queries)) => Ok(RequestBody::Batch(BatchRequest { queries })),
            (None, None) => Err("missing field `query`".to_owned()),
        }
    }
}

fn null_as_empty<'de, D>(deserializer: D) -> Result<Vec<Value>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<Vec<Value>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn single_query_with_and_without_optional_fields() {
        let body =
            RequestBody::from_slice(br#"{"query":"select $1","params":[1,"a",null]}"#).unwrap();
        assert_eq!(
            body,
            RequestBody::Single(QueryRequest::new(
                "select $1",
                vec![json!(1), json!("a"), Value::Null]
            ))
        );
        let body = RequestBody::from_slice(br#"{"query":"select 1","arrayMode":true}"#).unwrap();
        match body {
            RequestBody::Single(q) => {
                assert!(q.params.is_empty());
                assert_eq!(q.array_mode, Some(true));
            }
            other => panic!("expected single, got {other:?}"),
        }
        let body = RequestBody::from_slice(br#"{"query":"select 1","params":null}"#).unwrap();
        assert!(matches!(body, RequestBody::Single(q) if q.params.is_empty()));
    }

    #[test]
    fn batch_including_empty() {
        let body = RequestBody::from_slice(
            br#"{"queries":[{"query":"select 1"},{"query":"select $1","params":[2],"arrayMode":false}]}"#,
        )
        .unwrap();
        let RequestBody::Batch(batch) = body else {
            panic!("expected batch")
        };
        assert_eq!(batch.queries.len(), 2);
        assert_eq!(batch.queries[1].params, vec![json!(2)]);
        assert_eq!(batch.queries[1].array_mode, Some(false));

        let empty = RequestBody::from_slice(br#"{"queries":[]}"#).unwrap();
        assert_eq!(empty, RequestBody::Batch(BatchRequest { queries: vec![] }));
    }

    #[test]
    fn malformed_bodies_are_errors_with_useful_messages() {
        let err = RequestBody::from_slice(b"{}").unwrap_err();
        assert!(err.to_string().contains("missing field `query`"), "{err}");
        assert!(RequestBody::from_slice(b"not json").is_err());
        assert!(RequestBody::from_slice(b"[]").is_err());
        assert!(RequestBody::from_slice(br#"{"query":1}"#).is_err());
        assert!(RequestBody::from_slice(br#"{"queries":[{"params":[]}]}"#).is_err());
        assert!(RequestBody::from_slice(br#"{"query":"x","params":{"a":1}}"#).is_err());
    }

    #[test]
    fn serialises_to_the_wire_shapes() {
        let single = RequestBody::Single(QueryRequest::new("select 1", vec![]));
        assert_eq!(
            serde_json::to_value(&single).unwrap(),
            json!({"query": "select 1", "params": []})
        );
        let batch = RequestBody::Batch(BatchRequest {
            queries: vec![QueryRequest {
                query: "select 2".into(),
                params: vec![json!(true)],
                array_mode: Some(true),
            }],
        });
        let text = serde_json::to_string(&batch).unwrap();
        assert_eq!(
            text,
            r#"{"queries":[{"query":"select 2","params":[true],"arrayMode":true}]}"#
        );
        assert_eq!(RequestBody::from_slice(text.as_bytes()).unwrap(), batch);
    }
}
