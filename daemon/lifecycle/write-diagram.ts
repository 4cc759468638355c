// `npm run diagram`: writes daemon/lifecycle/states.dot from TRANSITIONS (states.ts) and the
// Mermaid copy between the markers in README.md. test/unit/lifecycle.test.ts fails when either
// is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { diagram, mermaid } from './states.ts';

const dot = new URL('./states.dot', import.meta.url);
const readme = new URL('../../README.md', import.meta.url);
writeFileSync(dot, diagram());
const text = readFileSync(readme, 'utf8');
const start = '<!-- lifecycle diagram: npm run diagram -->';
const end = '<!-- end of lifecycle diagram -->';
const a = text.indexOf(start);
const b = text.indexOf(end);
if (a < 0 || b < a) throw new Error(`README.md lacks the markers ${start} … ${end}`);
writeFileSync(readme, `${text.slice(0, a + start.length)}\n\`\`\`mermaid\n${mermaid()}\n\`\`\`\n${text.slice(b)}`);
