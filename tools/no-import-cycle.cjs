'use strict';
/**
 * ESLint rule `parley/no-import-cycle`: a file may not import (through relative imports, at any
 * depth) something that imports it back. Nx's module-boundaries rule sees cycles between projects
 * only; this one sees them between the files of one project, where a circle makes load order
 * matter and the pieces impossible to read one at a time. Type-only imports are left out: they
 * vanish when compiled.
 */
const { existsSync, readFileSync } = require('node:fs');
const { dirname, join, relative } = require('node:path');

/** Relative imports that load code: `import … from './x'`, `export … from './x'`, `import './x'` — not `import type`. */
const IMPORT = /^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/gm;

function resolveFrom(file, specifier) {
  const base = join(dirname(file), specifier);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts'), base])
    if (candidate.endsWith('.ts') && existsSync(candidate)) return candidate;
  return null;
}

function importsOf(file, text) {
  const found = [];
  for (const match of text.matchAll(IMPORT)) {
    const target = resolveFrom(file, match[1]);
    if (target) found.push(target);
  }
  return found;
}

/** A path of imports from `start` back to `start`, or null. */
function cycleThrough(start, startText) {
  const seen = new Set([start]);
  const stack = importsOf(start, startText).map((next) => [next, [start, next]]);
  while (stack.length) {
    const [file, path] = stack.pop();
    let text;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const next of importsOf(file, text)) {
      if (next === start) return [...path, start];
      if (!seen.has(next)) {
        seen.add(next);
        stack.push([next, [...path, next]]);
      }
    }
  }
  return null;
}

module.exports = {
  meta: {
    type: 'problem',
    docs: { description: 'Forbids relative imports that lead back to the importing file' },
    schema: [],
  },
  create(context) {
    return {
      Program(node) {
        const file = context.filename;
        const cycle = cycleThrough(file, context.sourceCode.text);
        if (cycle)
          context.report({
            node,
            message: `Import cycle: ${cycle.map((f) => relative(dirname(file), f) || '.').join(' → ')}. Move what both need into a file of its own.`,
          });
      },
    };
  },
};
