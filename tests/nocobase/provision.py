#!/usr/bin/env python3
"""Provisions a fresh test NocoBase over its HTTP API (called by nocobase.sh on an instance's first start).

    provision.py URL DIR

Signs in as root and creates, writing each API key to a file in DIR (mode 600):
  api-key            root's API key
  api-key-variables  a role with only the `pm.environment-variables` snippet (what the operator's variables delivery
                     needs, nothing else)
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

    roles = {
        "entramail_variables": ["pm.environment-variables"],
        "entramail_none": [],
    }
    for name, snippets in roles.items():
        must(base, "roles:create", {"name": name, "title": name, "snippets": snippets}, token)
        # apiKeys:create only hands out roles the signed-in user has.
        must(base, f"users/1/roles:add?filterByTk={name}", {}, token)
    # Until the app reloads, a key of a new role gets 401 ROLE_NOT_FOUND_FOR_USER; app:refresh restarts the app in
    # process (503 for a second or two), then sign in again.
    must(base, "app:refresh", {}, token)
    wait_ready(base)
    token = must(base, "auth:signIn", ROOT_ACCOUNT, headers={"X-Authenticator": "basic"})["data"]["token"]

    keys = {"api-key": "root", "api-key-variables": "entramail_variables", "api-key-none": "entramail_none"}
    for file, role in keys.items():
        body = {"name": f"entramail-tests-{role}", "role": {"name": role}, "expiresIn": "never"}
        write_secret(directory, file, must(base, "apiKeys:create", body, token)["data"]["token"])

    fields = [{"name": f, "type": "string", "interface": "input"} for f in MAIL_FIELDS]
    must(base, "collections:create", {"name": "mailSettings", "title": "Mail settings (test)", "fields": fields}, token)
    record = must(base, "mailSettings:create", {"provider": "outlook", "clientId": "", "clientSecret": "", "tenantId": ""}, token)
    with open(os.path.join(directory, "record-id"), "w") as f:
        f.write(str(record["data"]["id"]))

    # The keys work as intended: least privilege can write variables, no-permission gets 403, root reads the record.
    def key(file):
        with open(os.path.join(directory, file)) as f:
            return f.read()

    probe = {"name": "ENTRAMAIL_TESTBED_PROBE", "type": "default", "value": "probe"}
    status, _ = call(base, "environmentVariables:updateOrCreate?filterKeys[]=name", probe, key("api-key-variables"))
    if status != 200:
        sys.exit(f"provision: variables key could not write a variable ({status})")
    # The probe variable stays: deleting (or updating) a variable sets NocoBase's "restart needed" flag, which tests
    # observe; creating one does not.
    status, _ = call(base, "environmentVariables:updateOrCreate?filterKeys[]=name", probe, key("api-key-none"))
    if status != 403:
        sys.exit(f"provision: no-permission key wrote a variable ({status}, expected 403)")
    status, _ = call(base, f"mailSettings:get?filterByTk={record['data']['id']}", {}, key("api-key"))
    if status != 200:
        sys.exit(f"provision: root key could not read mailSettings ({status})")


if __name__ == "__main__":
    main()
