//! A record of a collection (e.g. the email manager's `mailSettings`): read, update, count, and the confirmed
//! delivery to it.

use serde_json::{Map, Value};

use super::{DeliveryError, FieldMap, Method, NocoBaseClient, RecordKey, Values, invalid};

impl NocoBaseClient {
    /// `<collection>:update` of the record `key` with `values` (body = the values; the key in the query string).
    /// NocoBase ignores fields the collection does not have. An empty answer means no record matched.
    pub async fn update_record(
        &self,
        collection: &str,
        key: &RecordKey,
        values: &[(&str, &str)],
    ) -> Result<(), DeliveryError> {
        let body: Map<String, Value> = values
            .iter()
            .map(|(field, value)| ((*field).to_owned(), Value::String((*value).to_owned())))
            .collect();
        let data = self
            .call(
                Method::Post,
                collection,
                "update",
                &key_query(key),
                Some(&Value::Object(body)),
            )
            .await?;
        match data.get("data") {
            Some(Value::Array(updated)) if updated.is_empty() => {
                Err(DeliveryError::RecordNotFound {
                    collection: collection.to_owned(),
                })
            }
            Some(Value::Array(_)) => Ok(()),
            _ => Err(invalid(
                collection,
                "update",
                "data is not an array of records",
            )),
        }
    }

    /// `<collection>:get` of the record `key` (with a filter: the first match).
    pub async fn get_record(
        &self,
        collection: &str,
        key: &RecordKey,
    ) -> Result<Map<String, Value>, DeliveryError> {
        let data = self
            .call(Method::Get, collection, "get", &key_query(key), None)
            .await?;
        match data.get("data") {
            Some(Value::Object(record)) => Ok(record.clone()),
            Some(Value::Null) => Err(DeliveryError::RecordNotFound {
                collection: collection.to_owned(),
            }),
            _ => Err(invalid(collection, "get", "data is not a record")),
        }
    }

    /// How many records of `collection` match `filter` (`<collection>:list`, `meta.count`).
    pub async fn count_records(
        &self,
        collection: &str,
        filter: &Value,
    ) -> Result<u64, DeliveryError> {
        let query = [("filter", filter.to_string()), ("pageSize", "1".to_owned())];
        let data = self
            .call(Method::Get, collection, "list", &query, None)
            .await?;
        data.pointer("/meta/count")
            .and_then(Value::as_u64)
            .ok_or_else(|| invalid(collection, "list", "no meta.count"))
    }

    /// Delivers to a record of a collection (e.g. the email manager's `mailSettings`), confirmed: reads the record
    /// first (every mapped field must exist: NocoBase would silently ignore an unknown one), updates the mapped
    /// fields, reads the record back and compares every mapped field. A `Filter` key must match exactly one record.
    pub async fn deliver_record(
        &self,
        collection: &str,
        key: &RecordKey,
        fields: &FieldMap,
        values: &Values,
    ) -> Result<(), DeliveryError> {
        let mut writes: Vec<(&str, &str)> =
            vec![(&fields.client_secret, values.client_secret.expose())];
        if let Some(f) = &fields.client_id {
            writes.push((f, &values.client_id));
        }
        if let Some(f) = &fields.tenant_id {
            writes.push((f, &values.tenant_id));
        }

        if let RecordKey::Filter(filter) = key {
            match self.count_records(collection, filter).await? {
                0 => {
                    return Err(DeliveryError::RecordNotFound {
                        collection: collection.to_owned(),
                    });
                }
                1 => {}
                n => {
                    return Err(DeliveryError::AmbiguousRecord {
                        collection: collection.to_owned(),
                        matches: n,
                    });
                }
            }
        }
        let before = self.get_record(collection, key).await?;
        if let Some((field, _)) = writes.iter().find(|(f, _)| !before.contains_key(*f)) {
            return Err(DeliveryError::FieldMissing {
                collection: collection.to_owned(),
                field: (*field).to_owned(),
            });
        }

        self.update_record(collection, key, &writes).await?;

        let after = self.get_record(collection, key).await?;
        for (field, value) in &writes {
            match after.get(*field) {
                None => {
                    return Err(DeliveryError::FieldMissing {
                        collection: collection.to_owned(),
                        field: (*field).to_owned(),
                    });
                }
                Some(Value::String(read)) if read == value => {}
                Some(_) => {
                    return Err(DeliveryError::Mismatch {
                        target: collection.to_owned(),
                        field: (*field).to_owned(),
                    });
                }
            }
        }
        Ok(())
    }
}

fn key_query(key: &RecordKey) -> Vec<(&'static str, String)> {
    match key {
        RecordKey::FilterByTk(tk) => vec![("filterByTk", tk.clone())],
        RecordKey::Filter(filter) => vec![("filter", filter.to_string())],
    }
}
