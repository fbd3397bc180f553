//! Which store serves a table: the var `REST_TABLES`.
//!
//! `{"todos": "d1", "orders": "pg", "*": "pg"}` — listed tables go to their
//! store; `"*"` names the store for any other table that exists there;
//! without `"*"` only listed tables are exposed. Moving a table between
//! stores is a change of this setting; its URL stays the same.

use crate::error::ApiError;
use crate::sql::Store;
use std::collections::BTreeMap;

/// The parsed `REST_TABLES`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    tables: BTreeMap<String, Store>,
    default: Option<Store>,
}

fn store(name: &str) -> Option<Store> {
    match name {
        "d1" => Some(Store::D1),
        "pg" => Some(Store::Pg),
        _ => None,
    }
}

impl Placement {
    /// Parses the JSON object; errors name the setting, not its value.
    pub fn parse(json: Option<&str>) -> Result<Placement, ApiError> {
        let Some(json) = json.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(Placement::default());
        };
        let raw: BTreeMap<String, String> = serde_json::from_str(json).map_err(|_| {
            ApiError::config(
                "REST_TABLES",
                "is not a JSON object of table name to \"d1\" or \"pg\"",
            )
        })?;
        let mut p = Placement::default();
        for (table, name) in raw {
            let s = store(&name).ok_or_else(|| {
                ApiError::config(
                    "REST_TABLES",
                    "maps a table to something other than \"d1\" or \"pg\"",
                )
            })?;
            if table == "*" {
                p.default = Some(s);
            } else {
                p.tables.insert(table, s);
            }
        }
        Ok(p)
    }

    /// The store a table is configured for (existence is checked against the
    /// store's schema by the caller); `None` means not exposed.
    pub fn store_for(&self, table: &str) -> Option<Store> {
        self.tables.get(table).copied().or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_tables_then_the_default() {
        let p = Placement::parse(Some(r#"{"todos": "d1", "orders": "pg", "*": "pg"}"#)).unwrap();
        assert_eq!(p.store_for("todos"), Some(Store::D1));
        assert_eq!(p.store_for("orders"), Some(Store::Pg));
        assert_eq!(p.store_for("other"), Some(Store::Pg));
        let p = Placement::parse(Some(r#"{"todos": "d1"}"#)).unwrap();
        assert_eq!(p.store_for("other"), None);
        assert_eq!(Placement::parse(None).unwrap().store_for("x"), None);
    }

    #[test]
    fn bad_settings_name_the_setting() {
        for bad in ["[]", "{\"a\": \"mysql\"}", "{\"a\": 1}", "nope"] {
            let e = Placement::parse(Some(bad)).unwrap_err();
            assert!(e.message.contains("REST_TABLES"), "{bad}");
            assert_eq!(e.status(), 500);
        }
    }
}
