// Entry point of the NocoBase image built by tests/node/nocobase-image.sh (no shell in that image, so this is Node).
//
// What `nocobase start --launch-mode=node` does (tests/nocobase/nocobase.sh runs that on the host), minus the CLI's
// shell: the CLI starts the server through `execa(..., {shell: true})`, and the image has no /bin/sh. So this file
//   1. seeds the writable data directory (NOCOBASE_DATA, default /data: the pod's emptyDir) from the installed
//      template in /template (db.sqlite + storage/ right after `nocobase install`, see tests/nocobase/install.sh)
//      when it holds no database yet: a fresh pod starts in seconds instead of running `nocobase install`;
//   2. sets the environment as the CLI would (its own initEnv + generateAppDir, NocoBase 2.2.15's cli-v1), with
//      SQLite in the data directory;
//   3. runs the server (`<APP_PACKAGE_ROOT>/lib/index.js start`) as its child, forwards SIGTERM/SIGINT (as PID 1 it
//      would otherwise ignore them) and exits with the server's status.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');

const app = '/app';
const template = '/template';
const data = process.env.NOCOBASE_DATA || '/data';

const db = path.join(data, 'db.sqlite');
if (!fs.existsSync(db)) {
  const t0 = Date.now();
  fs.cpSync(path.join(template, 'storage'), path.join(data, 'storage'), { recursive: true });
  // Copied under a temporary name and renamed: a crash mid-copy never leaves a truncated database behind.
  fs.copyFileSync(path.join(template, 'db.sqlite'), `${db}.tmp`);
  fs.renameSync(`${db}.tmp`, db);
  console.log(`entrypoint: seeded ${data} from ${template} in ${Date.now() - t0} ms`);
}

// The container's settings win; these are the image's defaults. APP_KEY has no default on purpose.
const defaults = {
  APP_ENV: 'production',
  APP_PORT: '13000',
  APP_HOST: '0.0.0.0',
  DB_DIALECT: 'sqlite',
  DB_STORAGE: db,
  STORAGE_PATH: path.join(data, 'storage'),
};
for (const [key, value] of Object.entries(defaults)) {
  if (!process.env[key]) process.env[key] = value;
}
if (!process.env.APP_KEY) {
  console.error('entrypoint: APP_KEY is not set (NocoBase signs its tokens with it)');
  process.exit(2);
}

process.chdir(app);
const cli = require(path.join(app, 'node_modules/@nocobase/cli-v1/src/util'));
cli.initEnv(); // NODE_OPTIONS=--preserve-symlinks, NODE_PATH, plugin/upload paths under STORAGE_PATH, ...
cli.generateAppDir(); // APP_PACKAGE_ROOT; renders dist/client/index.html (the one file the image lets 65532 write)

const server = spawn(
  process.execPath,
  [path.join(process.env.APP_PACKAGE_ROOT, 'lib/index.js'), 'start', ...process.argv.slice(2)],
  { stdio: 'inherit', env: process.env },
);
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.kill(signal));
}
server.on('exit', (code, signal) => {
  process.exit(code ?? 128 + (os.constants.signals[signal] || 0));
});
