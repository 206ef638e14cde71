// `npm run parley` (and the other scripts that run the compiled code) build first only when a
// source changed since the last build: the build leaves dist/.build-stamp (tools/build-assets.mjs),
// and any file under the sources newer than it means a build. A CLI command starts in a moment
// instead of waiting for the compiler to find that nothing changed.
const { execFileSync } = require('node:child_process');
const { existsSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const SOURCES = [
  'apps',
  'libs',
  'bench/src',
  'chaos/src',
  'package-lock.json',
  'tsconfig.base.json',
  'tsconfig.build.json',
  'tools/build-assets.mjs',
];
const STAMP = 'dist/.build-stamp';

/** The newest modification time of any file under `paths` (relative to `root`), 0 when there are none. */
function newestSource(root, paths = SOURCES) {
  let newest = 0;
  const visit = (path) => {
    let stat;
    try {
      stat = statSync(path);
    } catch {
      return; // gone since it was listed
    }
    // a directory's own time moves when a file in it is added, renamed or deleted
    newest = Math.max(newest, stat.mtimeMs);
    if (!stat.isDirectory()) return;
    for (const entry of readdirSync(path)) if (entry !== 'node_modules' && entry !== 'dist') visit(join(path, entry));
  };
  for (const path of paths) visit(join(root, path));
  return newest;
}

/** Whether the compiled code under `root` is older than its sources (or was never built). */
function needsBuild(root) {
  const stamp = join(root, STAMP);
  return !existsSync(stamp) || newestSource(root) > statSync(stamp).mtimeMs;
}

if (require.main === module) {
  const root = join(__dirname, '..');
  if (needsBuild(root)) execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
}

module.exports = { needsBuild, newestSource, STAMP };
