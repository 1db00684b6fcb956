//! NocoBase variables ("Variables and secrets"): upsert, list, and the confirmed delivery to them.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    DeliveryError, Method, NocoBaseClient, REFRESH_TIMEOUT, Values, VariableInfo, VariableNames,
    VariableType, invalid,
};
use crate::auth::SecretText;

impl NocoBaseClient {
    /// Creates or updates the secret variable `name` (`environmentVariables:updateOrCreate?filterKeys[]=name`, one
    /// object: an array body silently skips new names). Returns NocoBase's "restart needed" flag (`meta.updated`,
    /// set once an existing variable changes; [`Self::refresh_app`] clears it).
    pub async fn upsert_secret_variable(
        &self,
        name: &str,
        value: &SecretText,
    ) -> Result<bool, DeliveryError> {
        self.upsert_variable(name, VariableType::Secret, value.expose())
            .await?;
        Ok(self.list_variables(&[name]).await?.1)
    }

    /// The variable `name` as NocoBase lists it (a secret's value is never returned), `None` if absent.
    pub async fn variable(&self, name: &str) -> Result<Option<VariableInfo>, DeliveryError> {
        let (vars, _) = self.list_variables(&[name]).await?;
        Ok(vars.into_iter().find(|v| v.name == name))
    }

    /// `app:refresh`: NocoBase reloads itself in-process (plugins re-read variables). It answers at once and is
    /// unavailable (503) for a moment afterwards; [`Self::deliver_variables`] waits for it.
    pub async fn refresh_app(&self) -> Result<(), DeliveryError> {
        self.call(
            Method::Post,
            "app",
            "refresh",
            &[],
            Some(&Value::Object(Map::new())),
        )
        .await
        .map(drop)
    }

    /// Delivers to NocoBase variables, confirmed: upserts the client ID and tenant ID as plain variables and the
    /// client secret as a secret variable, reads them back (plain values compared, the secret's presence and type
    /// checked), and when NocoBase then flags a restart as needed, refreshes the app and waits until it serves the
    /// variables again with the flag cleared. Ok only when all of that is confirmed.
    pub async fn deliver_variables(
        &self,
        names: &VariableNames,
        values: &Values,
    ) -> Result<(), DeliveryError> {
        self.upsert_variable(&names.client_id, VariableType::Default, &values.client_id)
            .await?;
        if let Some(tenant) = &names.tenant_id {
            self.upsert_variable(tenant, VariableType::Default, &values.tenant_id)
                .await?;
        }
        self.upsert_variable(
            &names.client_secret,
            VariableType::Secret,
            values.client_secret.expose(),
        )
        .await?;

        let mut expected: Vec<(&str, VariableType, Option<&str>)> = vec![
            (
                &names.client_id,
                VariableType::Default,
                Some(&values.client_id),
            ),
            (&names.client_secret, VariableType::Secret, None),
        ];
        if let Some(tenant) = &names.tenant_id {
            expected.push((tenant, VariableType::Default, Some(&values.tenant_id)));
        }
        let wanted: Vec<&str> = expected.iter().map(|(n, ..)| *n).collect();
        let (vars, restart_needed) = self.list_variables(&wanted).await?;
        confirm_variables(&vars, &expected)?;
        if !restart_needed {
            return Ok(());
        }

        self.refresh_app().await?;
        let deadline = tokio::time::Instant::now() + REFRESH_TIMEOUT;
        // NocoBase answers app:refresh before it restarts: give it a moment to begin, then wait for it.
        tokio::time::sleep(Duration::from_millis(500)).await;
        loop {
            match self.list_variables(&wanted).await {
                Ok((vars, false)) => return confirm_variables(&vars, &expected),
                Ok((_, true)) => {}
                Err(e) if e.is_transient() => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(DeliveryError::Mismatch {
                    target: "environmentVariables".into(),
                    field: "restart still flagged as needed after app:refresh".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn upsert_variable(
        &self,
        name: &str,
        type_: VariableType,
        value: &str,
    ) -> Result<(), DeliveryError> {
        // One object, never an array: NocoBase answers 200 to an array and silently skips names it does not have.
        let body = serde_json::json!({ "name": name, "type": type_.as_str(), "value": value });
        let query = [("filterKeys[]", "name".to_owned())];
        let data = self
            .call(
                Method::Post,
                "environmentVariables",
                "updateOrCreate",
                &query,
                Some(&body),
            )
            .await?;
        // Created: data is the record; updated: data is the list of updated records.
        match data.get("data") {
            Some(Value::Object(_)) => Ok(()),
            Some(Value::Array(updated)) if !updated.is_empty() => Ok(()),
            _ => Err(invalid(
                "environmentVariables",
                "updateOrCreate",
                "no record in data",
            )),
        }
    }

    /// The variables named `names` and NocoBase's "restart needed" flag.
    async fn list_variables(
        &self,
        names: &[&str],
    ) -> Result<(Vec<VariableInfo>, bool), DeliveryError> {
        let filter = serde_json::json!({ "name": { "$in": names } });
        let query = [
            ("filter", filter.to_string()),
            ("paginate", "false".to_owned()),
        ];
        let data = self
            .call(Method::Get, "environmentVariables", "list", &query, None)
            .await?;
        let list: VariableList = serde_json::from_value(data)
            .map_err(|_| invalid("environmentVariables", "list", "not a list of variables"))?;
        Ok((list.data, list.meta.updated))
    }
}

/// NocoBase's answer to `environmentVariables:list`.
#[derive(Debug, Deserialize)]
pub(super) struct VariableList {
    pub(super) data: Vec<VariableInfo>,
    #[serde(default)]
    pub(super) meta: VariableListMeta,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct VariableListMeta {
    /// NocoBase's "variables changed since the app (re)started": its UI then asks for a restart.
    #[serde(default)]
    pub(super) updated: bool,
}

pub(super) fn confirm_variables(
    vars: &[VariableInfo],
    expected: &[(&str, VariableType, Option<&str>)],
) -> Result<(), DeliveryError> {
    for (name, type_, value) in expected {
        let Some(found) = vars.iter().find(|v| v.name == *name) else {
            return Err(DeliveryError::Mismatch {
                target: format!("variable {name}"),
                field: "missing after write".into(),
            });
        };
        if found.type_ != *type_ {
            return Err(DeliveryError::Mismatch {
                target: format!("variable {name}"),
                field: format!(
                    "type {} instead of {}",
                    found.type_.as_str(),
                    type_.as_str()
                ),
            });
        }
        if let Some(v) = value
            && found.value.as_deref() != Some(*v)
        {
            return Err(DeliveryError::Mismatch {
                target: format!("variable {name}"),
                field: "value".into(),
            });
        }
    }
    Ok(())
}
