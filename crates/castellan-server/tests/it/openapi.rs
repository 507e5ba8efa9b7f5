//! `/openapi.json` describes every JSON API (clients, under the project key too, secret
//! rotation, API keys, a person's connected apps and sessions, registration), and each documented path
//! answers as documented: without a token, and with the admin client's token on ids that do
//! not exist, every answer's status is one the document lists for that operation.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use castellan_testkit::TestApp;
use reqwest::Method;
use serde_json::Value;

/// Every (method, path template, documented statuses) of the document.
fn operations(doc: &Value) -> Vec<(Method, String, Vec<String>)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(m) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            let statuses = op["responses"]
                .as_object()
                .map(|r| r.keys().cloned().collect())
                .unwrap_or_default();
            out.push((m, path.clone(), statuses));
        }
    }
    out
}

#[tokio::test]
async fn every_documented_path_answers_as_documented() {
    let app = TestApp::spawn().await;
    let doc = app.get_json("/openapi.json").await;
    let ops = operations(&doc);
    for path in [
        "/api-clients",
        "/api-clients/{id}",
        "/api-clients/{id}/rotate-secret",
        "/{projectKey}/api-clients",
        "/{projectKey}/api-clients/{id}",
        "/{projectKey}/api-clients/{id}/rotate-secret",
        "/api-keys",
        "/api-keys/{id}",
        "/api-keys/{id}/rotate",
        "/account/connected-apps",
        "/account/connected-apps/{consent_id}",
        "/account/sessions",
        "/account/sessions/{id}",
        "/audit-events",
        "/organizations/{org}/members/{user}",
        "/oauth/register",
    ] {
        assert!(
            ops.iter().any(|(_, p, _)| p == path),
            "{path} is not documented"
        );
    }
    // Every `{name}` of a path template is a declared path parameter of each of its
    // operations (a client generating requests from the document needs it).
    for (path, item) in doc["paths"].as_object().unwrap() {
        let names: Vec<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect();
        let methods = [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ];
        let shared: Vec<&str> = item["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        for (method, op) in item
            .as_object()
            .unwrap()
            .iter()
            .filter(|(m, _)| methods.contains(&m.as_str()))
        {
            let mut declared: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            declared.extend(&shared);
            for name in &names {
                assert!(
                    declared.contains(name),
                    "{method} {path}: path parameter {name} is not declared"
                );
            }
        }
    }
    let admin = app.admin_token().await;
    let project = app.state.config.project_key.clone();
    for (method, template, statuses) in &ops {
        let path = template
            .replace("{projectKey}", &project)
            .replace("{id}", "no-such-id")
            .replace("{consent_id}", "no-such-id")
            .replace("{client_id}", "no-such-id")
            .replace("{org}", "no-such-org")
            .replace("{user}", "no-such-user");
        for token in [None, Some(admin.as_str())] {
            let mut req = app.http.request(method.clone(), app.url(&path));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if *method == Method::POST || *method == Method::PUT {
                req = req.header("content-type", "application/json").body("{}");
            }
            let status = req.send().await.unwrap().status();
            assert!(
                statuses.iter().any(|s| s == status.as_str()),
                "{method} {template} ({}): {status} is not documented ({statuses:?})",
                if token.is_some() {
                    "admin token"
                } else {
                    "no token"
                }
            );
        }
    }
}
