#!/usr/bin/env python3
"""Provisions a fresh test NocoBase over its HTTP API (called by nocobase.sh on an instance's first start).

    provision.py URL DIR

Signs in as root and creates, writing each API key to a file in DIR (mode 600):
  api-key            root's API key
  api-key-variables  a role with only the `pm.environment-variables` snippet (what the operator's variables delivery
                     needs, nothing else)
  api-key-mailsettings  a role with only view + update on collection mailSettings, fields clientId, clientSecret,
                     tenantId (what the operator's record delivery needs, nothing else)
  api-key-none       a role with no snippets and no collection permissions (403 everywhere that checks ACL)
  record-id          collection `mailSettings` (string fields clientId, clientSecret, tenantId, provider), one record
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

ROOT_ACCOUNT = {"account": "admin@nocobase.com", "password": "admin123"}
MAIL_FIELDS = ["clientId", "clientSecret", "tenantId", "provider"]


def call(base, path, body=None, token=None, headers=None):
    req = urllib.request.Request(base + "/api/" + path, method="POST")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    data = json.dumps(body if body is not None else {}).encode()
    try:
        with urllib.request.urlopen(req, data, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, None


def must(base, path, body=None, token=None, headers=None):
    status, payload = call(base, path, body, token, headers)
    if status != 200:
        sys.exit(f"provision: POST /api/{path.split('?')[0]} answered {status}")
    return payload


def wait_ready(base, timeout=60.0):
    time.sleep(0.5)  # app:refresh answers before the restart begins
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/api/__health_check", timeout=5) as resp:
                if resp.status == 200:
                    status, _ = call(base, "auth:signIn", ROOT_ACCOUNT, headers={"X-Authenticator": "basic"})
                    if status == 200:
                        return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    sys.exit("provision: NocoBase not ready after app:refresh")


def write_secret(directory, name, text):
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def main():
    base, directory = sys.argv[1].rstrip("/"), sys.argv[2]
    token = must(base, "auth:signIn", ROOT_ACCOUNT, headers={"X-Authenticator": "basic"})["data"]["token"]

    # The collection of the email manager's shape, and its one record.
    fields = [{"name": f, "type": "string", "interface": "input"} for f in MAIL_FIELDS]
    must(base, "collections:create", {"name": "mailSettings", "title": "Mail settings (test)", "fields": fields}, token)
    values = {"provider": "outlook", "clientId": "", "clientSecret": "", "tenantId": ""}
    record_id = must(base, "mailSettings:create", values, token)["data"]["id"]
    with open(os.path.join(directory, "record-id"), "w") as f:
        f.write(str(record_id))

    roles = {
        "entramail_variables": ["pm.environment-variables"],
        "entramail_mailsettings": [],
        "entramail_none": [],
    }
    for name, snippets in roles.items():
        must(base, "roles:create", {"name": name, "title": name, "snippets": snippets}, token)
        # apiKeys:create only hands out roles the signed-in user has.
        must(base, f"users/1/roles:add?filterByTk={name}", {}, token)
    # view + update of mailSettings, limited to the fields a delivery writes. (`fields: []` on view would show the
    # record without any of its fields.)
    mapped = ["clientId", "clientSecret", "tenantId"]
    resource = {
        "dataSourceKey": "main",
        "name": "mailSettings",
        "usingActionsConfig": True,
        "actions": [{"name": "view", "fields": mapped}, {"name": "update", "fields": mapped}],
    }
    must(base, "roles/entramail_mailsettings/dataSourceResources:create", resource, token)
    # Until the app reloads, a key of a new role gets 401 ROLE_NOT_FOUND_FOR_USER; app:refresh restarts the app in
    # process (503 for a second or two), then sign in again.
    must(base, "app:refresh", {}, token)
    wait_ready(base)
    token = must(base, "auth:signIn", ROOT_ACCOUNT, headers={"X-Authenticator": "basic"})["data"]["token"]

    keys = {
        "api-key": "root",
        "api-key-variables": "entramail_variables",
        "api-key-mailsettings": "entramail_mailsettings",
        "api-key-none": "entramail_none",
    }
    for file, role in keys.items():
        body = {"name": f"entramail-tests-{role}", "role": {"name": role}, "expiresIn": "never"}
        write_secret(directory, file, must(base, "apiKeys:create", body, token)["data"]["token"])

    # The keys work as intended.
    def key(file):
        with open(os.path.join(directory, file)) as f:
            return f.read()

    def expect(file, path, body, want):
        status, _ = call(base, path, body, key(file))
        if status != want:
            sys.exit(f"provision: {file} on {path.split('?')[0]} answered {status}, expected {want}")

    # The probe variable stays: deleting (or updating) a variable sets NocoBase's "restart needed" flag, which tests
    # observe; creating one does not.
    probe = {"name": "ENTRAMAIL_TESTBED_PROBE", "type": "default", "value": "probe"}
    expect("api-key-variables", "environmentVariables:updateOrCreate?filterKeys[]=name", probe, 200)
    expect("api-key-none", "environmentVariables:updateOrCreate?filterKeys[]=name", probe, 403)
    expect("api-key-mailsettings", "environmentVariables:updateOrCreate?filterKeys[]=name", probe, 403)
    expect("api-key", f"mailSettings:get?filterByTk={record_id}", {}, 200)
    expect("api-key-mailsettings", f"mailSettings:get?filterByTk={record_id}", {}, 200)
    expect("api-key-variables", f"mailSettings:get?filterByTk={record_id}", {}, 403)
    expect("api-key-none", f"mailSettings:get?filterByTk={record_id}", {}, 403)

if __name__ == "__main__":
    main()
