// Copies each package's Lua scripts next to its compiled wrappers (tsc copies only .ts output).
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function copyLua(from, to) {
  for (const name of readdirSync(from)) {
    const source = join(from, name);
    if (statSync(source).isDirectory()) copyLua(source, join(to, name));
    else if (name.endsWith('.lua')) cpSync(source, join(to, name));
  }
}

for (const pkg of readdirSync('packages')) {
  try {
    copyLua(join('packages', pkg, 'src'), join('packages', pkg, 'dist'));
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
}
